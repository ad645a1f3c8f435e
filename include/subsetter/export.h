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
#include "subsetter/progress.h"
#include "subsetter/splits.h"
#include "subsetter/strutil.h"

typedef enum { SUB_EXPORT_IMAGEFOLDER, SUB_EXPORT_MANIFEST, SUB_EXPORT_NPZ } sub_export_format_t;
typedef enum { SUB_EXPORT_COPY, SUB_EXPORT_HARDLINK, SUB_EXPORT_SYMLINK } sub_export_mode_t;

#define SUB_EXPORT_UNLABELED     "_unlabeled"
#define SUB_EXPORT_NAME_MAX      200 /* bytes of a safe folder name before any "-N" suffix */
#define SUB_EXPORT_MISSING_SHOWN 5

typedef struct {
    const char *dataset;
    const char *out; /* created when absent */
    sub_export_format_t format;
    sub_export_mode_t mode;
    const char *splits; /* --splits, NULL when not given */
    int64_t seed;       /* --seed, default 42 */
} sub_export_opts_t;

/* One label's folder; label NULL for the unlabeled samples. */
typedef struct {
    char *label;
    char *folder;
    int64_t count;
    int64_t y;        /* class index of the NPZ and split files (-1 for the unlabeled) */
    int64_t original; /* index in the dataset's default_classes, -1 if not there */
    char *label_id;   /* the source's id of the label (Open Images' MID), or NULL */
} sub_export_class_t;

/* One sample of the plan. */
typedef struct {
    char id[25];           /* the sample _id, hex */
    char *src;             /* filepath */
    char *rel;             /* "<folder>/<name>" */
    char *image_id;        /* open_images_id, else NULL (sub_export_image_id) */
    int64_t width, height; /* metadata.width/height (oriented), -1 when unknown */
    int64_t size_bytes;    /* metadata.size_bytes, -1 when unknown */
    size_t cls;            /* index into classes */
    bson_t *meta;          /* the projected sample document (owned), with_meta only */
} sub_export_item_t;

typedef struct {
    sub_export_item_t *items;
    size_t n, cap;
    sub_export_class_t *classes;
    size_t nclasses, classes_cap;
    size_t *by_y; /* by_y[y] = index into classes, y = 0 .. nlabels-1 */
    size_t nlabels;
} sub_export_plan_t;

typedef struct {
    int64_t samples, exported, skipped_existing, missing;
    int64_t unlabeled;  /* left out of the NPZ and the split files: no ground_truth */
    int64_t split_n[3]; /* train, val, test sizes when splits were made */
    bool split;
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

/* Reads the dataset's samples in _id order and places each one (see above), then numbers
 * the labels (sub_export_plan_order). with_meta keeps each sample's projected document
 * (about 2 KB a sample, for the manifest); without it an item costs a few hundred bytes. */
bool sub_export_plan_build(sub_db_t *db, const char *dataset, bool with_meta,
                           sub_export_plan_t *plan, sub_error_t *err);
void sub_export_plan_release(sub_export_plan_t *plan);

/* Numbers the plan's labels: y follows the class list the subset was sampled with
 * (datasets.info.subsetter_sample.classes, the order of --classes or of the seeded draw, as
 * the reference numbers classes by their line in its list); labels not in it follow in
 * sorted (byte) order. Also fills original (index in default_classes) and label_id (the
 * key of info.classes_map that maps to the label). ds_doc may be NULL. */
void sub_export_plan_order(sub_export_plan_t *plan, const bson_t *ds_doc);

/* Creates out and writes the tree (for mode) plus labels.json and labels.csv. Files that
 * are already in place are left untouched (copy: same size and sha256; hardlink: same
 * inode; symlink: same target); the others are written to a temporary name and renamed.
 * A sample whose media file is missing is counted in r, not fatal. */
bool sub_export_imagefolder(const sub_export_plan_t *plan, const char *out, sub_export_mode_t mode,
                            sub_progress_t *progress, sub_export_result_t *r, sub_error_t *err);

/* (progress, here and below: samples done are reported to it; NULL for none.) */

/* Writes out/labels.json and out/labels.csv (only when their content changed). */
bool sub_export_write_labels(const sub_export_plan_t *plan, const char *dataset, const char *out,
                             sub_error_t *err);

/* Writes out/manifest.csv and out/manifest.jsonl: one row per sample, media hashed. */
bool sub_export_manifest(const sub_export_plan_t *plan, const char *out, sub_progress_t *progress,
                         sub_export_result_t *r, sub_error_t *err);

/* ---- splits and NPZ ---- */

/* The plan items of one split, in plan order. */
typedef struct {
    size_t *items;
    size_t n;
} sub_export_split_list_t;

typedef struct {
    sub_export_split_list_t part[3]; /* indexed by sub_split_t */
} sub_export_splits_t;

extern const char *const sub_export_split_names[3]; /* "train", "val", "test" */

/* The image id of a row: the sample's open_images_id, else its _id. Borrowed from it. */
const char *sub_export_image_id(const sub_export_item_t *it);

/* Splits the plan's items that have a label and whose usable[i] is true (NULL: all) with
 * sub_splits_assign(), classes numbered by y. */
bool sub_export_splits(const sub_export_plan_t *plan, const bool *usable,
                       const sub_split_fractions_t *f, int64_t seed, sub_export_splits_t *out,
                       sub_error_t *err);
/* Writes out/splits/{train,val,test}.csv: image_id,label,y,path (CRLF, RFC 4180). */
bool sub_export_write_splits(const sub_export_plan_t *plan, const sub_export_splits_t *s,
                             const char *out, sub_error_t *err);
void sub_export_splits_release(sub_export_splits_t *s);

/* Which items have their media file (stat), noting the others in r as missing. The
 * caller frees the array. */
bool *sub_export_present(const sub_export_plan_t *plan, sub_export_result_t *r);

typedef struct {
    sub_progress_t *progress; /* may be NULL */
    unsigned threads;         /* 0: one per CPU */
} sub_export_npz_opts_t;

/* Writes out/<dataset>_cls.npz (X_/y_/<split>_id for train, val and test) and
 * out/<dataset>_cls_metadata.csv as the imagenet-subset layout does (see the README). An
 * image that cannot be decoded fails the export (SUB_E_INPUT naming it) and leaves no
 * archive behind. */
bool sub_export_npz(const sub_export_plan_t *plan, const sub_export_splits_t *s,
                    const char *dataset, const char *out, const sub_export_npz_opts_t *o,
                    sub_export_result_t *r, sub_error_t *err);

/* Writes data to path through path.export-part and a rename, unless path already holds
 * exactly data. */
bool sub_export_write_file(const char *path, const char *data, size_t len, sub_error_t *err);

/* Writes doc as relaxed extended JSON and a newline, as sub_export_write_file() does. */
bool sub_export_write_json(const char *path, const bson_t *doc, sub_error_t *err);

/* Appends s as one RFC 4180 field (quoted when it holds a comma, quote, CR or LF, or
 * starts or ends with a space); NULL appends nothing. */
bool sub_export_csv_field(sub_buf_t *b, const char *s, sub_error_t *err);

/* Counts a missing media file in r. */
void sub_export_note_missing(sub_export_result_t *r, const char *path);

void sub_export_result_release(sub_export_result_t *r);

#endif
