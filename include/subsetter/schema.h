/* schema.h - the service's own collections, as declared in the JSON files of
 * sql-free-schemas/.
 *
 * Each JSON file names one collection and holds its $jsonSchema validator, validation
 * level and action, and index specifications. The files are compiled into the binary
 * (cmake/embed.cmake). Applying them is idempotent: a missing collection is created with
 * its validator, a differing validator is replaced with collMod, missing indexes are
 * created; when everything is in place nothing is written at all. That last point is what
 * lets a user with only `readWrite` run the service: collMod (role dbAdmin) is needed only
 * when a new release changes a validator.
 */
#ifndef SUBSETTER_SCHEMA_H
#define SUBSETTER_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>

#include <bson/bson.h>

#include "subsetter/db.h"
#include "subsetter/error.h"

typedef struct {
    const char *name; /* file name, e.g. "runs.json" */
    const char *json; /* its text */
} sub_schema_file_t;

/* Generated; ends with {NULL, NULL}. */
extern const sub_schema_file_t sub_schema_files[];

typedef struct {
    char *collection;
    char *file;
    /* filled by sub_schema_status and sub_schema_apply (state after the call) */
    bool exists;
    bool validator_ok;
    char *missing_indexes; /* comma-separated index names, NULL when none */
    /* filled by sub_schema_apply: what it changed */
    bool created;
    bool validator_updated;
    int indexes_created;
} sub_schema_result_t;

typedef struct {
    sub_schema_result_t *items;
    size_t len;
} sub_schema_report_t;

/* Parses one schema file and checks its shape (collection, validator, indexes).
 * *spec is initialized on every path; the caller destroys it. */
bool sub_schema_parse(const sub_schema_file_t *f, bson_t *spec, sub_error_t *err);

/* Creates or updates collections, validators and indexes. */
bool sub_schema_apply(sub_db_t *db, sub_schema_report_t *rep, sub_error_t *err);

/* Reports what is in place without writing anything. */
bool sub_schema_status(sub_db_t *db, sub_schema_report_t *rep, sub_error_t *err);

/* True when every collection exists with our validator and all its indexes. */
bool sub_schema_report_ok(const sub_schema_report_t *rep);

void sub_schema_report_release(sub_schema_report_t *rep);

#endif
