/* fo_dataset.h - FiftyOne's documents, written from C.
 *
 * A FiftyOne dataset is one document in `datasets` plus a sample collection named by its
 * `sample_collection_name` ("samples.<dataset _id hex>"). These functions build both the
 * way FiftyOne 1.11 itself writes them (../shared/reference/fiftyone-storage.md sections 2
 * and 3): persistent, with `version`, a complete `sample_fields` declaration, `_cls` on
 * every embedded label, ObjectId label ids. Fields are declared from a table of
 * sub_fo_field_t so a stage can add its own (the ingest's source fields, label's
 * ground_truth) without repeating the nested FiftyOne shapes.
 */
#ifndef SUBSETTER_FO_DATASET_H
#define SUBSETTER_FO_DATASET_H

#include <stdbool.h>
#include <stdint.h>

#include <bson/bson.h>

#include "subsetter/db.h"
#include "subsetter/error.h"

/* The kinds of field a stage declares; each expands to FiftyOne's nested declaration. */
typedef enum {
    SUB_FO_STRING,
    SUB_FO_INT,
    SUB_FO_FLOAT,
    SUB_FO_BOOL,
    SUB_FO_DATETIME,
    SUB_FO_OBJECTID,
    SUB_FO_STRING_LIST,
    SUB_FO_CLASSIFICATION,
    SUB_FO_CLASSIFICATIONS,
    SUB_FO_IMAGE_METADATA,
} sub_fo_kind_t;

typedef struct {
    const char *name;
    sub_fo_kind_t kind;
    bool read_only;
    const char *description; /* shown in the App; NULL for none */
} sub_fo_field_t;

/* FiftyOne's default sample fields of an image dataset, in its own order. */
extern const sub_fo_field_t sub_fo_default_fields[];
extern const size_t sub_fo_default_fields_len;

typedef struct {
    bson_oid_t id;
    char *name;
    char *sample_collection; /* "samples.<id hex>" */
    int64_t created_at_ms;   /* the dataset's created_at, ms since the epoch */
    bool created;            /* this call created the document */
} sub_fo_dataset_t;

/* FiftyOne's to_slug(): lower-case [a-z0-9], whitespace and "+_.-" become "-", other
 * characters dropped, runs of "-" collapsed, leading/trailing "-" stripped. Caller frees.
 * Returns NULL when the name or the slug is empty or longer than 100 characters. */
char *sub_fo_slug(const char *name);

/* Appends FiftyOne's SampleFieldDocument for f to the array `arr` under `key`. */
void sub_fo_append_field(bson_t *arr, const char *key, const sub_fo_field_t *f,
                         int64_t created_at_ms);

/* Finds the dataset by name or creates it (persistent, media_type image, version
 * SUBSETTER_FIFTYONE_VERSION, FiftyOne's default fields plus `extra`), and its sample
 * collection. An existing dataset keeps its _id, sample collection and created_at; fields
 * of `extra` it lacks are added to sample_fields. `info` (may be NULL) is merged into
 * the document's info; `default_classes` (may be NULL) replaces default_classes. */
bool sub_fo_dataset_ensure(sub_db_t *db, const char *name, const char *fiftyone_version,
                           const sub_fo_field_t *extra, size_t n_extra, const bson_t *info,
                           const bson_t *default_classes, sub_fo_dataset_t *out, sub_error_t *err);

/* Finds an existing dataset by name: SUB_E_NOT_FOUND when there is none. When doc is not
 * NULL it receives a copy of the datasets document (the caller destroys it; initialized
 * on every path). */
bool sub_fo_dataset_open(sub_db_t *db, const char *name, sub_fo_dataset_t *out, bson_t *doc,
                         sub_error_t *err);

/* Sets the dataset's last_modified_at to now. */
bool sub_fo_dataset_touch(sub_db_t *db, const sub_fo_dataset_t *ds, sub_error_t *err);

void sub_fo_dataset_release(sub_fo_dataset_t *ds);

/* posixpath.normpath(os.path.join(cwd, os.path.expanduser(path))), as FiftyOne's
 * fos.normalize_path does for local paths, so sample filepaths (and their _rand) equal
 * what FiftyOne would store. Caller frees. */
char *sub_fo_normalize_path(const char *path);

#endif
