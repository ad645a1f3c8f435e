/* openimages.h - the Open Images V7 files FiftyOne's zoo reads for
 * label_types="classifications", and how their rows become FiftyOne samples.
 *
 * Files (paths relative to the source base, as on storage.googleapis.com/openimages/):
 *   v5/class-descriptions-boxable.csv                  MID,DisplayName (no header)
 *   2018_04/bbox_labels_600_hierarchy.json             the class hierarchy
 *   2018_04/<split>/<split>-images[-boxable]-with-rotation.csv   one row per image
 *   v5/<split>-annotations-human-imagelabels-boxable.csv        ImageID,Source,LabelName,Confidence
 * Semantics follow fiftyone/utils/openimages.py: labels named by the boxable class list,
 * Confidence > 0.1 is positive, an image without label rows has no positive/negative
 * labels (null), rows of one image keep their file order.
 */
#ifndef SUBSETTER_OPENIMAGES_H
#define SUBSETTER_OPENIMAGES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <bson/bson.h>

#include "subsetter/error.h"
#include "subsetter/labelsort.h"

typedef enum { SUB_OI_TRAIN, SUB_OI_VALIDATION, SUB_OI_TEST, SUB_OI__SPLITS } sub_oi_split_t;

#define SUB_OI_DEFAULT_BASE    "https://storage.googleapis.com/openimages/"
#define SUB_OI_CLASSES_PATH    "v5/class-descriptions-boxable.csv"
#define SUB_OI_HIERARCHY_PATH  "2018_04/bbox_labels_600_hierarchy.json"
#define SUB_OI_DEFAULT_DATASET "open-images-v7-full"
/* The hierarchy's root is not in the class file; FiftyOne names it "Entity". */
#define SUB_OI_ROOT_MID "/m/0bl9f"

const char *sub_oi_split_name(sub_oi_split_t split);
bool sub_oi_split_parse(const char *name, sub_oi_split_t *out);
const char *sub_oi_images_path(sub_oi_split_t split);
const char *sub_oi_labels_path(sub_oi_split_t split);

/* The boxable classes: MID -> display name, with an open-addressing index by MID. */
typedef struct {
    char **mid;
    char **name;
    size_t len;
    uint32_t *slots; /* index + 1, 0 = empty */
    size_t nslots;
} sub_oi_classes_t;

/* Reads the class file. A first row "LabelName,DisplayName" (the v7 variant) is skipped;
 * a MID listed twice is an error. */
bool sub_oi_classes_load(const char *path, sub_oi_classes_t *out, sub_error_t *err);
/* The index of a MID, or -1. */
long sub_oi_classes_find(const sub_oi_classes_t *c, const char *mid, size_t len);
void sub_oi_classes_release(sub_oi_classes_t *c);

/* info.classes_map ({MID: name}, file order) and default_classes (names sorted by code
 * point, duplicates kept: Python's sorted(classes_map.values())). */
void sub_oi_classes_to_bson(const sub_oi_classes_t *c, bson_t *classes_map, bson_t *sorted_names);

/* Reads the hierarchy JSON and renames every LabelName to its display name ("Entity" for
 * the root), keeping the key order, as fiftyone's _rename_subcategories does. A MID not
 * in the class list keeps its MID and is counted in *unknown. */
bool sub_oi_hierarchy_load(const char *path, const sub_oi_classes_t *c, bson_t *out,
                           size_t *unknown, sub_error_t *err);

/* "0001eeaf4aed83f9" -> number. False unless exactly 16 hex digits (either case). */
bool sub_oi_parse_image_id(const char *s, size_t len, uint64_t *out);

/* Python float() of a Confidence string, restricted to what the files contain: decimal
 * numbers with optional exponent. False on anything else (empty, nan, inf, junk). */
bool sub_oi_parse_float(const char *s, size_t len, double *out);

/* Fields of one image row, borrowed from the CSV record. Empty optional fields are NULL. */
typedef struct {
    const char *image_id;
    const char *original_url;
    const char *landing_url;
    const char *license;
    const char *author_profile_url;
    const char *author;
    const char *title;
    const char *original_md5;
    const char *thumbnail_url;
    bool has_size;
    int64_t original_size;
    bool has_rotation;
    double rotation;
} sub_oi_image_t;

/* What a sample document needs besides the row. */
typedef struct {
    const bson_oid_t *dataset_id;
    int64_t created_at_ms;
    const char *media_root; /* normalized, absolute */
    sub_oi_split_t split;
    const sub_oi_classes_t *classes;
} sub_oi_doc_ctx_t;

/* Builds the sample document of one image with its label rows (may be none) into *doc
 * (initialized by the caller). Counts positives and negatives into *pos and *neg. */
void sub_oi_build_sample(const sub_oi_doc_ctx_t *ctx, uint64_t image, const sub_oi_image_t *img,
                         const sub_label_rec_t *labels, size_t n_labels, bson_t *doc, size_t *pos,
                         size_t *neg);

/* The sample's deterministic _id: the dataset's creation second plus the split's number
 * (train 0, validation 1, test 2), then the ImageID. Re-runs produce the same ids, so
 * writes are idempotent upserts. The split in the timestamp makes _id order the order the
 * ingest writes the samples in (split by split, each sorted by ImageID), so a walk along
 * the _id index reads and writes the collection's pages in their order on disk, as the
 * label stage's _id ranges do (with the ImageID alone, the three splits interleave along
 * the index and the first update after an ingest cost about 40 % more server CPU). */
void sub_oi_sample_oid(int64_t created_at_ms, sub_oi_split_t split, uint64_t image,
                       bson_oid_t *oid);

#endif
