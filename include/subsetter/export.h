/* export.h - `subsetter export`: a dataset's samples as FiftyOne's
 * ImageClassificationDirectoryTree (an ImageFolder tree) or as a manifest.
 *
 * Both formats share one plan: the samples in `_id` order (the order FiftyOne's exporter
 * meets them in a dataset sorted by _id), each placed at `<folder>/<name>`, where folder
 * is the label made safe (sub_export_safe_name, then a "-2", "-3" suffix for distinct
 * labels that give the same folder, compared case-insensitively) or `_unlabeled` for a
 * sample without ground_truth, and name is the basename of the sample's filepath with
 * FiftyOne's counter ("name-2.ext", "name-3.ext") on a collision within the folder.
 */
#ifndef SUBSETTER_EXPORT_H
#define SUBSETTER_EXPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <bson/bson.h>

#include "subsetter/db.h"
#include "subsetter/error.h"
#include "subsetter/strutil.h"

typedef enum { SUB_EXPORT_IMAGEFOLDER, SUB_EXPORT_MANIFEST } sub_export_format_t;
typedef enum { SUB_EXPORT_COPY, SUB_EXPORT_HARDLINK, SUB_EXPORT_SYMLINK } sub_export_mode_t;

#define SUB_EXPORT_UNLABELED     "_unlabeled"
#define SUB_EXPORT_NAME_MAX      200 /* bytes of a safe folder name before any "-N" suffix */
#define SUB_EXPORT_MISSING_SHOWN 5

typedef struct {
    const char *dataset;
    const char *out; /* created when absent */
    sub_export_format_t format;
    sub_export_mode_t mode;
} sub_export_opts_t;

/* One label's folder; label NULL for the unlabeled samples. */
typedef struct {
    char *label;
    char *folder;
    int64_t count;
} sub_export_class_t;

/* One sample of the plan. */
typedef struct {
    char id[25];  /* the sample _id, hex */
    char *src;    /* filepath */
    char *rel;    /* "<folder>/<name>" */
    size_t cls;   /* index into classes */
    bson_t *meta; /* the projected sample document (owned) */
} sub_export_item_t;

typedef struct {
    sub_export_item_t *items;
    size_t n, cap;
    sub_export_class_t *classes;
    size_t nclasses, classes_cap;
} sub_export_plan_t;

typedef struct {
    int64_t samples, exported, skipped_existing, missing;
    char *missing_paths[SUB_EXPORT_MISSING_SHOWN]; /* the first few, owned */
    size_t n_missing_paths;
    double seconds;
} sub_export_result_t;

/* The label as a folder name safe on every common file system: "/", "\\", NUL, control
 * characters and Windows' <>:"|?* become "_"; trailing dots and spaces are dropped; cut
 * to SUB_EXPORT_NAME_MAX bytes at a UTF-8 boundary; "", ".", ".." become "_" and a
 * Windows device name (CON, PRN, AUX, NUL, COM0-9, LPT0-9, any case, with or without an
 * extension) gets a leading "_". Never NULL; the caller frees. */
char *sub_export_safe_name(const char *label);

/* Reads the dataset's samples in _id order and places each one (see above). */
bool sub_export_plan_build(sub_db_t *db, const char *dataset, sub_export_plan_t *plan,
                           sub_error_t *err);
void sub_export_plan_release(sub_export_plan_t *plan);

/* Creates out and writes the tree (for mode) plus labels.json and labels.csv. Files that
 * are already in place are left untouched (copy: same size and sha256; hardlink: same
 * inode; symlink: same target); the others are written to a temporary name and renamed.
 * A sample whose media file is missing is counted in r, not fatal. */
bool sub_export_imagefolder(const sub_export_plan_t *plan, const char *out, sub_export_mode_t mode,
                            sub_export_result_t *r, sub_error_t *err);

/* Writes out/labels.json and out/labels.csv (only when their content changed). */
bool sub_export_write_labels(const sub_export_plan_t *plan, const char *dataset, const char *out,
                             sub_error_t *err);

/* Writes out/manifest.csv and out/manifest.jsonl: one row per sample, media hashed. */
bool sub_export_manifest(const sub_export_plan_t *plan, const char *out, sub_export_result_t *r,
                         sub_error_t *err);

/* Writes data to path through path.export-part and a rename, unless path already holds
 * exactly data. */
bool sub_export_write_file(const char *path, const char *data, size_t len, sub_error_t *err);

/* Appends s as one RFC 4180 field (quoted when it holds a comma, quote, CR or LF, or
 * starts or ends with a space); NULL appends nothing. */
bool sub_export_csv_field(sub_buf_t *b, const char *s, sub_error_t *err);

/* Counts a missing media file in r. */
void sub_export_note_missing(sub_export_result_t *r, const char *path);

void sub_export_result_release(sub_export_result_t *r);

#endif
