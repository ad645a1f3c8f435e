/* ingest.h - `subsetter ingest openimages`: the Open Images V7 metadata of the chosen
 * splits into one FiftyOne dataset, streaming, idempotent and resumable.
 *
 * Per split: the label file is read once into compact records and put in ImageID order
 * (labelsort.h, bounded memory whatever the input order); then the image list is
 * streamed, each image joined with its label rows and turned into a sample document
 * (openimages.h), and the documents go to MongoDB in unordered bulk writes on a second
 * thread (writer.h). After each acknowledged batch the position in the image list and
 * the counts so far are stored in the image list's subsetter.sources document, so a
 * killed ingest resumes at that byte offset; a finished split whose files have not
 * changed (same sha256) is skipped. Sample _ids are derived from the ImageID, so a batch
 * written twice leaves one document.
 */
#ifndef SUBSETTER_INGEST_H
#define SUBSETTER_INGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <bson/bson.h>

#include "subsetter/config.h"
#include "subsetter/db.h"
#include "subsetter/error.h"
#include "subsetter/openimages.h"

typedef struct {
    const char *source;  /* base URL or directory; NULL: SUB_OI_DEFAULT_BASE */
    const char *dataset; /* NULL: SUB_OI_DEFAULT_DATASET */
    bool splits[SUB_OI__SPLITS];
    double max_bad_share;         /* stop when rejected rows exceed this share of the rows read */
    size_t batch_size;            /* documents per bulk write */
    int writers;                  /* bulk writes in flight at once, one connection each */
    bool quiet;                   /* no progress output */
    int64_t progress_interval_ms; /* between log lines when stderr is not a terminal */
} sub_ingest_opts_t;

typedef struct {
    uint64_t images;     /* samples written */
    uint64_t label_rows; /* valid label rows read */
    uint64_t positives, negatives;
    uint64_t rejected_rows;     /* malformed or invalid rows, both files */
    uint64_t duplicate_rows;    /* label rows identical to an earlier one, skipped */
    uint64_t orphan_label_rows; /* valid rows whose image is not in the image list */
    uint64_t images_without_labels;
    uint64_t skipped_splits; /* already complete with the same files */
} sub_ingest_counts_t;

typedef struct {
    sub_ingest_counts_t total;
    sub_ingest_counts_t split[SUB_OI__SPLITS];
    double seconds;
    char dataset_id[25];
    char sample_collection[64];
} sub_ingest_result_t;

bool sub_ingest_openimages(sub_db_t *db, const sub_config_t *cfg, const sub_ingest_opts_t *opts,
                           sub_ingest_result_t *result, sub_error_t *err);

/* The counts as a BSON document (for runs, sources and --json). */
void sub_ingest_counts_to_bson(const sub_ingest_counts_t *c, bson_t *out);

#endif
