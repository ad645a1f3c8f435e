/* survey.h - single-label class counts, and how balanced a K-class subset can be.
 *
 * One aggregation counts the samples per ground_truth.label (the label stage must have
 * run). For K classes the largest balanced size is the K-th largest count, exactly the
 * reference generator's sample_count_for_num_classes(); the classes eligible at that size
 * are those with at least that many samples (more than K when counts tie).
 */
#ifndef SUBSETTER_SURVEY_H
#define SUBSETTER_SURVEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "subsetter/db.h"
#include "subsetter/error.h"

typedef struct {
    char *label;
    int64_t count;
} sub_class_count_t;

typedef struct {
    sub_class_count_t *items; /* count descending, then label by code point */
    size_t len;
} sub_class_counts_t;

/* Counts the single-label samples of each class of the dataset's sample collection. */
bool sub_survey_counts(sub_db_t *db, const char *sample_collection, sub_class_counts_t *out,
                       sub_error_t *err);
void sub_class_counts_release(sub_class_counts_t *c);

/* The K-th largest count, or -1 when there are fewer than K classes. */
int64_t sub_survey_balanced(const sub_class_counts_t *c, size_t k);

/* How many classes have at least n samples. */
size_t sub_survey_eligible(const sub_class_counts_t *c, int64_t n);

/* The count of a class, or -1 when it has no single-label sample. */
int64_t sub_survey_count_of(const sub_class_counts_t *c, const char *label);

#endif
