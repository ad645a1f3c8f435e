/* splits.h - stratified train/val/test assignment, as the reference generator does it
 * with scikit-learn: train_test_split(stratify=y) twice, first the test part off the whole,
 * then the val part off the rest.
 *
 * Sizes, exactly as scikit-learn 1.9 computes them. Totals (_validate_shuffle_split in
 * sklearn/model_selection/_split.py, float test_size; products and quotient in double):
 *   n_test = ceil(test * n);                         n_rest  = n - n_test;
 *   n_val  = ceil(val / (train + val) * n_rest);     n_train = n_rest - n_val.
 * (The second call's test_size is the reference's own expression, val / (train + val),
 * double rounding included: 0.7 + 0.1 is 0.7999999999999999, so 3 x 100 items split
 * 209/31/60, as the reference's train_test_split calls split them.)
 * Per class (StratifiedShuffleSplit._iter_indices): each call shares out its *train* side
 * with _approximate_mode (sklearn/utils/extmath.py), and its test side is what is left of
 * each class (the second _approximate_mode there, on class_counts - n_i, gives exactly
 * that back). _approximate_mode(counts, k): floor(count_c / sum(counts) * k) each (numpy's
 * double arithmetic), then one more to the classes with the largest remainders, a whole
 * group of equal remainders at a time, until k is reached. So, per class c:
 *   rest_c  = mode(count, n_rest)_c,    test_c = count_c - rest_c;
 *   train_c = mode(rest, n_train)_c,    val_c  = rest_c - train_c.
 * Where only part of a group of equal remainders gets one more, scikit-learn picks with
 * numpy's generator (rng.choice), which is not reproduced: the group's classes, in rank
 * order (below), are put through random.shuffle with the generator below and the first
 * ones get it. Per-class counts differ from scikit-learn's only there; totals never do.
 *
 * Membership: classes are ranked by first appearance among the items (classes without
 * items after them, in index order); items are taken in the order given (the export
 * plan's, sample _id order). One generator, random.Random(seed), seeded once, draws in this
 * order: random.shuffle of each class's list of item indices, class by class in rank
 * order; then the shuffle of the first call's partly served tie group, if any; then the
 * second call's. In each class the first test_c shuffled items go to test, the next val_c
 * to val, the rest to train. So a split is reproducible from Python with nothing but the
 * standard library, and the same seed gives the same files.
 *
 * Every class in 0..nclasses-1 must get at least one item in every split: a class too small
 * for that (or without items) fails with SUB_E_INFEASIBLE naming it, with its count, the
 * count it would need (the others as they are, however ties fall) and the split sizes.
 */
#ifndef SUBSETTER_SPLITS_H
#define SUBSETTER_SPLITS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "subsetter/error.h"

typedef enum { SUB_SPLIT_TRAIN = 0, SUB_SPLIT_VAL = 1, SUB_SPLIT_TEST = 2 } sub_split_t;

typedef struct {
    double train, val, test; /* each > 0, sum 1 within 1e-9 */
} sub_split_fractions_t;

/* Parses "0.7,0.1,0.2" (three fractions, each in (0, 1), summing to 1 within 1e-9) into
 * the doubles Python's float() gives. Plain decimals only: no blanks, sign, nan, inf or hex
 * (SUB_E_USAGE). */
bool sub_splits_parse(const char *spec, sub_split_fractions_t *out, sub_error_t *err);

/* Assigns out[i] for items i = 0..n-1 of class cls[i] (< nclasses; else SUB_E_INTERNAL).
 * class_names (may be NULL, else nclasses of them) name a class in errors. */
bool sub_splits_assign(const size_t *cls, size_t n, size_t nclasses, const char *const *class_names,
                       const sub_split_fractions_t *f, int64_t seed, sub_split_t *out,
                       sub_error_t *err);

#endif
