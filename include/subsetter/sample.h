/* sample.h - a balanced, reproducible subset as a new FiftyOne dataset.
 *
 * Classes: an explicit list, or a seeded draw among the eligible classes (those with at
 * least N single-label samples) taken in a documented order - count descending, then
 * name by code point - with Python's random.Random(seed).sample(eligible, K), computed by
 * pyrandom.c. Within a class, FiftyOne's take(N, seed) order exactly: R =
 * random.Random(seed).randint(10**7, 10**10), samples sorted by {$mod: [R, "$_rand"]}.
 * Since _rand depends only on the filepath, the same files, media root, classes and seed
 * select the same samples on any machine, whatever the insertion order.
 *
 * The samples are copied server-side: one aggregation per class ending in $merge into the
 * new dataset's collection, with _dataset_id set to the new dataset; documents never pass
 * through C. Sample _ids are kept, so a re-run replaces the same documents.
 */
#ifndef SUBSETTER_SAMPLE_H
#define SUBSETTER_SAMPLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "subsetter/db.h"
#include "subsetter/error.h"

typedef struct {
    const char *dataset;       /* the labeled source dataset */
    const char *name;          /* the subset to create */
    size_t num_classes;        /* K; 0 with an explicit list means its length */
    int64_t samples_per_class; /* N; 0: the largest balanced size */
    int64_t seed;
    const char *classes; /* a file (JSON or one name per line) or a comma list; NULL */
    bool allow_augment;  /* N above the feasible size: take the feasible size */
    bool overwrite;      /* replace a subset made with other parameters */
    const char *fiftyone_version;
} sub_sample_opts_t;

typedef struct {
    char **classes; /* in the order they were chosen */
    size_t nclasses;
    int64_t per_class;    /* samples taken per class */
    int64_t feasible;     /* the largest balanced size for these classes */
    int64_t num_augments; /* ceil(N / feasible) - 1 with --allow-augment, else 0 */
    int64_t take_multiplier;
    size_t eligible; /* classes eligible for the draw (0 with an explicit list) */
    int64_t samples; /* in the new dataset */
    bool kept;       /* the subset existed with these parameters and was left as it was */
    char dataset_id[25];
    double seconds;
} sub_sample_result_t;

bool sub_sample_run(sub_db_t *db, const sub_sample_opts_t *o, sub_sample_result_t *res,
                    sub_error_t *err);
void sub_sample_result_release(sub_sample_result_t *res);

/* Reads a class list: a JSON file (the published {"classes": {name: count}} files, or an
 * array of names), a text file (one name per line; blank lines and # comments skipped),
 * or else a comma-separated list. Caller frees with sub_sample_free_names. */
bool sub_sample_parse_classes(const char *spec, char ***names, size_t *n, sub_error_t *err);
void sub_sample_free_names(char **names, size_t n);

#endif
