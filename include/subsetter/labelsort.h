/* labelsort.h - label rows in ImageID order, with memory bounded whatever the input order.
 *
 * The ingest joins each image of the image list with its label rows. Label rows arrive
 * as compact records (24 bytes, not CSV text) in file order. They are buffered up to a
 * fixed number of records; a full buffer is sorted by (image, row) and appended to one
 * spill file as a run. When the whole input came sorted - the official files are - the
 * spill file is already in order; otherwise its runs are merged into a second file with
 * a k-way merge. The result is mapped read-only and searched by image: sequential access
 * (a sorted image list) walks it forward and drops the pages behind, so resident memory
 * stays at the buffer size; random access (an unsorted image list) binary-searches it.
 *
 * The row number keeps rows of one image in file order, as FiftyOne's importer keeps them.
 */
#ifndef SUBSETTER_LABELSORT_H
#define SUBSETTER_LABELSORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "subsetter/error.h"

typedef struct {
    uint64_t image;    /* the 16-hex-digit ImageID as a number */
    double confidence; /* as float(row["Confidence"]) */
    uint32_t row;      /* record number in the label file, for stable order */
    uint16_t cls;      /* index into the class table */
    uint8_t source;    /* interned Source string */
    uint8_t pad;
} sub_label_rec_t;

typedef struct sub_labelsort sub_labelsort_t;

/* Spill files go to dir (created if needed) and are deleted by sub_labelsort_free.
 * buffer_records bounds memory: buffer_records * 24 bytes (0: 4 Mi records, 96 MiB). */
bool sub_labelsort_new(const char *dir, size_t buffer_records, sub_labelsort_t **out,
                       sub_error_t *err);

bool sub_labelsort_add(sub_labelsort_t *s, const sub_label_rec_t *rec, sub_error_t *err);

/* Ends the input: merges if needed and maps the sorted records. */
bool sub_labelsort_finish(sub_labelsort_t *s, sub_error_t *err);

/* Whether the input arrived sorted (no merge was needed). */
bool sub_labelsort_was_sorted(const sub_labelsort_t *s);

/* The records of one image, in row order: *first points into the mapping (valid until
 * sub_labelsort_free) and *n is how many (0 when none). Calls with non-decreasing image
 * ids are O(1) amortized. Each record is returned at most once per image, and
 * sub_labelsort_matched() counts the records handed out. */
void sub_labelsort_find(sub_labelsort_t *s, uint64_t image, const sub_label_rec_t **first,
                        size_t *n);

uint64_t sub_labelsort_count(const sub_labelsort_t *s);
uint64_t sub_labelsort_matched(const sub_labelsort_t *s);

void sub_labelsort_free(sub_labelsort_t *s);

#endif
