/* label.h - `subsetter label single`: ground_truth for every single-label sample.
 *
 Updates with an aggregation pipeline, run by the server: a sample whose
 * positive_labels hold exactly one Classification gets ground_truth = a Classification
 * with that label and confidence, tags [] and an ObjectId of its own; every other sample
 * loses any ground_truth label it had. Only samples whose ground_truth changes are
 * written (and get last_modified_at = now), so a second run writes nothing. Two passes:
 * the samples labeled before (SUB_LABEL_INDEX holds exactly them) are corrected where
 * their positive labels changed, then the single-label samples without a ground_truth
 * label get one, in _id ranges on two connections (idranges.h). (A ground_truth without a label on
 a sample
 * that is not single-label is not label's doing and is left alone.)
 *
 * The ground_truth _id is derived from the sample's: the same 4-byte timestamp, then the
 * two 4-byte halves of the rest swapped. It is new (no other label or sample of the
 * dataset has it, bar a 2^-64 coincidence) and the same on every run, which keeps the
 * stage idempotent. (The reference generator reuses the positive label's id instead.)
 */
#ifndef SUBSETTER_LABEL_H
#define SUBSETTER_LABEL_H

#include <stdbool.h>
#include <stdint.h>

#include "subsetter/db.h"
#include "subsetter/error.h"

typedef struct {
    int64_t samples;      /* in the dataset */
    int64_t single_label; /* with ground_truth after the run */
    int64_t modified;     /* written by this run */
    double seconds;
} sub_label_result_t;

/* Labels the dataset's samples and declares ground_truth in its sample_fields. Creates
 * the index SUB_LABEL_INDEX if the dataset lacks it. */
bool sub_label_single(sub_db_t *db, const char *dataset, const char *fiftyone_version,
                      sub_label_result_t *res, sub_error_t *err);

/* The index of the class counts and the per-class selection: {ground_truth.label: 1,
 * _rand: 1, _id: 1}, partial (only samples with a ground_truth label). Survey's counts
 * read it alone, and sample's take order (a function of _rand) is computed from it
 * without reading a document; being partial, it costs nothing while a dataset is
 * ingested, so the ingest creates it with the sample collection and label only adds the
 * keys of the samples it labels (building it after labeling took 2 s per 1.9 M samples).
 * Creates it on a sample collection (idempotent). */
#define SUB_LABEL_INDEX "ground_truth.label_1__rand_1__id_1"
bool sub_label_create_index(sub_db_t *db, const char *sample_collection, sub_error_t *err);

#endif
