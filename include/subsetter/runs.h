/* runs.h - one document per stage run in subsetter.runs (sql-free-schemas/runs.json):
 * parameters, state, counts, timings and the error, written as the run goes, so a crashed
 * run can be inspected and counts shown to users come from the database. */
#ifndef SUBSETTER_RUNS_H
#define SUBSETTER_RUNS_H

#include <stdbool.h>

#include <bson/bson.h>

#include "subsetter/db.h"
#include "subsetter/error.h"

typedef struct {
    bson_oid_t id;
    double started; /* monotonic seconds */
} sub_run_t;

/* Inserts {stage, state: "running", dataset, params, started_at, host, pid, version}. */
bool sub_run_begin(sub_db_t *db, const char *stage, const char *dataset, const bson_t *params,
                   sub_run_t *run, sub_error_t *err);

/* Sets counts and updated_at. */
bool sub_run_progress(sub_db_t *db, const sub_run_t *run, const bson_t *counts, sub_error_t *err);

/* Sets state ("done", "failed" or "interrupted"), counts, finished_at, seconds and, when
 * failure is not NULL, error {code, message}. */
bool sub_run_end(sub_db_t *db, const sub_run_t *run, const char *state, const bson_t *counts,
                 const sub_error_t *failure, sub_error_t *err);

#endif
