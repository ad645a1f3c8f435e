#define SUB_LOG_DOMAIN "runs"
#include "subsetter/runs.h"

#include <time.h>
#include <unistd.h>

#include "subsetter/progress.h"
#include "subsetter/version.h"

#define RUNS "subsetter.runs"

static bool update(sub_db_t *db, const sub_run_t *run, bson_t *set, sub_error_t *err)
{
    mongoc_collection_t *coll = mongoc_database_get_collection(db->db, RUNS);
    bson_t *filter = BCON_NEW("_id", BCON_OID(&run->id));
    bson_t update = BSON_INITIALIZER;
    bson_error_t be;
    BSON_APPEND_DOCUMENT(&update, "$set", set);
    bson_t *now = BCON_NEW("updated_at", BCON_BOOL(true));
    BSON_APPEND_DOCUMENT(&update, "$currentDate", now);
    bool ok = mongoc_collection_update_one(coll, filter, &update, NULL, NULL, &be);
    if (!ok)
        sub_db_error(&be, "update the run document", err);
    bson_destroy(now);
    bson_destroy(&update);
    bson_destroy(filter);
    mongoc_collection_destroy(coll);
    return ok;
}

bool sub_run_begin(sub_db_t *db, const char *stage, const char *dataset, const bson_t *params,
                   sub_run_t *run, sub_error_t *err)
{
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    bson_oid_init(&run->id, NULL);
    run->started = sub_now();
    int64_t now_ms = (int64_t)bson_oid_get_time_t(&run->id) * 1000;
    bson_t doc = BSON_INITIALIZER, empty = BSON_INITIALIZER;
    BSON_APPEND_OID(&doc, "_id", &run->id);
    BSON_APPEND_UTF8(&doc, "stage", stage);
    BSON_APPEND_UTF8(&doc, "state", "running");
    if (dataset)
        BSON_APPEND_UTF8(&doc, "dataset", dataset);
    else
        BSON_APPEND_NULL(&doc, "dataset");
    BSON_APPEND_DOCUMENT(&doc, "params", params ? params : &empty);
    BSON_APPEND_DOCUMENT(&doc, "counts", &empty);
    BSON_APPEND_DATE_TIME(&doc, "started_at", now_ms);
    BSON_APPEND_DATE_TIME(&doc, "updated_at", now_ms);
    BSON_APPEND_NULL(&doc, "finished_at");
    BSON_APPEND_UTF8(&doc, "host", host);
    BSON_APPEND_INT32(&doc, "pid", (int32_t)getpid());
    BSON_APPEND_UTF8(&doc, "version", SUBSETTER_VERSION);
    BSON_APPEND_NULL(&doc, "error");
    mongoc_collection_t *coll = mongoc_database_get_collection(db->db, RUNS);
    bson_error_t be;
    bool ok = mongoc_collection_insert_one(coll, &doc, NULL, NULL, &be);
    if (!ok)
        sub_db_error(&be, "insert the run document", err);
    mongoc_collection_destroy(coll);
    bson_destroy(&doc);
    return ok;
}

bool sub_run_progress(sub_db_t *db, const sub_run_t *run, const bson_t *counts, sub_error_t *err)
{
    bson_t set = BSON_INITIALIZER;
    BSON_APPEND_DOCUMENT(&set, "counts", counts);
    bool ok = update(db, run, &set, err);
    bson_destroy(&set);
    return ok;
}

bool sub_run_end(sub_db_t *db, const sub_run_t *run, const char *state, const bson_t *counts,
                 const sub_error_t *failure, sub_error_t *err)
{
    bson_t set = BSON_INITIALIZER, e;
    BSON_APPEND_UTF8(&set, "state", state);
    if (counts)
        BSON_APPEND_DOCUMENT(&set, "counts", counts);
    BSON_APPEND_DATE_TIME(&set, "finished_at", (int64_t)time(NULL) * 1000);
    BSON_APPEND_DOUBLE(&set, "seconds", sub_now() - run->started);
    if (failure) {
        BSON_APPEND_DOCUMENT_BEGIN(&set, "error", &e);
        BSON_APPEND_UTF8(&e, "code", sub_code_name(failure->code));
        BSON_APPEND_UTF8(&e, "message", failure->msg);
        bson_append_document_end(&set, &e);
    }
    bool ok = update(db, run, &set, err);
    bson_destroy(&set);
    return ok;
}
