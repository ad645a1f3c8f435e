#define SUB_LOG_DOMAIN "fetch_tasks"
#include "subsetter/fetch_tasks.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "subsetter/bsonutil.h"
#include "subsetter/log.h"
#include "subsetter/strutil.h"

/* Lease expiries are compared across hosts, so clocks are assumed within a few seconds
 * of each other; leases are minutes long and renewed at a third of their length. */
static int64_t now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

char *sub_fetch_owner_id(void)
{
    char host[128] = "";
    unsigned char rnd[6];
    gethostname(host, sizeof host - 1);
    if (RAND_bytes(rnd, sizeof rnd) != 1)
        memset(rnd, 0, sizeof rnd);
    return sub_xasprintf("%s:%d:%02x%02x%02x%02x%02x%02x", host, (int)getpid(), rnd[0], rnd[1],
                         rnd[2], rnd[3], rnd[4], rnd[5]);
}

static mongoc_collection_t *tasks_coll(sub_db_t *db)
{
    return mongoc_database_get_collection(db->db, SUB_FETCH_TASKS);
}

/* ---- creating tasks ------------------------------------------------------------------ */

/* [<base><split>/<id>.jpg, $original_url?] without the entries that are not strings. */
static void append_urls(bson_t *b, const char *base, bool with_original)
{
    bson_t *urls = BCON_NEW("$filter", "{", "input", "[", "{", "$concat", "[", BCON_UTF8(base), "{",
                            "$arrayElemAt", "[", BCON_UTF8("$tags"), BCON_INT32(0), "]", "}",
                            BCON_UTF8("/"), BCON_UTF8("$open_images_id"), BCON_UTF8(".jpg"), "]",
                            "}", BCON_UTF8(with_original ? "$original_url" : "$__no_field__"), "]",
                            "cond", "{", "$eq", "[", "{", "$type", BCON_UTF8("$$this"), "}",
                            BCON_UTF8("string"), "]", "}", "}");
    BSON_APPEND_DOCUMENT(b, "urls", urls);
    bson_destroy(urls);
}

static bson_t *sync_pipeline(const char *dataset, const char *base, bool with_original,
                             const bson_oid_t *only)
{
    bson_t *p = bson_new(), stage, inner, project;
    BSON_APPEND_DOCUMENT_BEGIN(p, "0", &stage);
    BSON_APPEND_DOCUMENT_BEGIN(&stage, "$match", &inner);
    if (only)
        BSON_APPEND_OID(&inner, "_id", only);
    bson_t *types = BCON_NEW("$type", BCON_UTF8("string"));
    BSON_APPEND_DOCUMENT(&inner, "open_images_id", types);
    BSON_APPEND_DOCUMENT(&inner, "tags.0", types);
    BSON_APPEND_DOCUMENT(&inner, "filepath", types);
    bson_destroy(types);
    bson_append_document_end(&stage, &inner);
    bson_append_document_end(p, &stage);
    BSON_APPEND_DOCUMENT_BEGIN(p, "1", &stage);
    BSON_APPEND_DOCUMENT_BEGIN(&stage, "$project", &project);
    BSON_APPEND_INT32(&project, "_id", 0);
    bson_t *lit = BCON_NEW("$literal", BCON_UTF8(dataset));
    BSON_APPEND_DOCUMENT(&project, "dataset", lit);
    bson_destroy(lit);
    BSON_APPEND_UTF8(&project, "sample_id", "$_id");
    BSON_APPEND_UTF8(&project, "label", "$ground_truth.label");
    BSON_APPEND_INT32(&project, "filepath", 1);
    append_urls(&project, base, with_original);
    if (with_original) {
        /* OriginalMD5 describes the Flickr original, so it checks that URL only. */
        BSON_APPEND_UTF8(&project, "original_url", "$original_url");
        BSON_APPEND_UTF8(&project, "original_md5", "$original_md5");
    }
    lit = BCON_NEW("$literal", BCON_UTF8("pending"));
    BSON_APPEND_DOCUMENT(&project, "state", lit);
    bson_destroy(lit);
    lit = BCON_NEW("$literal", BCON_INT32(0));
    BSON_APPEND_DOCUMENT(&project, "attempts", lit);
    bson_destroy(lit);
    BSON_APPEND_UTF8(&project, "updated_at", "$$NOW");
    bson_append_document_end(&stage, &project);
    bson_append_document_end(p, &stage);
    /* An existing task keeps its state, attempts and lease; one not done yet takes the URLs
     * of this run's --base-url (a mirror that moved, or a run resumed against another
     * server), so it is not retried against an address nobody serves any more. */
    bson_t *merge =
        BCON_NEW("$merge", "{", "into", BCON_UTF8(SUB_FETCH_TASKS), "on", "[", BCON_UTF8("dataset"),
                 BCON_UTF8("sample_id"), "]", "whenMatched", "[", "{", "$set", "{", "urls", "{",
                 "$cond", "[", "{", "$in", "[", BCON_UTF8("$state"), "[", BCON_UTF8("pending"),
                 BCON_UTF8("leased"), "]", "]", "}", BCON_UTF8("$$new.urls"), BCON_UTF8("$urls"),
                 "]", "}", "}", "}", "]", "whenNotMatched", BCON_UTF8("insert"), "}");
    BSON_APPEND_DOCUMENT(p, "2", merge);
    bson_destroy(merge);
    return p;
}

static bool run_sync(sub_db_t *db, const char *dataset, const char *sample_collection,
                     const char *base_url, bool with_original, const bson_oid_t *only,
                     sub_error_t *err)
{
    mongoc_collection_t *samples = mongoc_database_get_collection(db->db, sample_collection);
    bson_t *pipeline = sync_pipeline(dataset, base_url, with_original, only);
    mongoc_cursor_t *c =
        mongoc_collection_aggregate(samples, MONGOC_QUERY_NONE, pipeline, NULL, NULL);
    const bson_t *doc;
    bson_error_t be;
    while (mongoc_cursor_next(c, &doc))
        ; /* $merge returns nothing; iterating runs it */
    bool ok = !mongoc_cursor_error(c, &be) || sub_db_error(&be, "create the fetch tasks", err);
    mongoc_cursor_destroy(c);
    bson_destroy(pipeline);
    mongoc_collection_destroy(samples);
    return ok;
}

bool sub_fetch_tasks_sync(sub_db_t *db, const char *dataset, const char *sample_collection,
                          const char *base_url, bool with_original, int64_t *total,
                          sub_error_t *err)
{
    bson_error_t be;
    if (!run_sync(db, dataset, sample_collection, base_url, with_original, NULL, err))
        return false;
    mongoc_collection_t *tasks = tasks_coll(db);
    bson_t *q = BCON_NEW("dataset", BCON_UTF8(dataset));
    *total = mongoc_collection_count_documents(tasks, q, NULL, NULL, NULL, &be);
    bool ok = *total >= 0 || sub_db_error(&be, "count the fetch tasks", err);
    bson_destroy(q);
    mongoc_collection_destroy(tasks);
    return ok;
}

bool sub_fetch_task_add(sub_db_t *db, const char *dataset, const char *sample_collection,
                        const bson_oid_t *sample, const char *base_url, bool with_original,
                        sub_error_t *err)
{
    return run_sync(db, dataset, sample_collection, base_url, with_original, sample, err);
}

/* ---- leases -------------------------------------------------------------------------- */

/* Tasks of the dataset a worker may take at time `now`. */
static bson_t *claimable(const char *dataset, int64_t now)
{
    return BCON_NEW("dataset", BCON_UTF8(dataset), "$or", "[", "{", "state", BCON_UTF8("pending"),
                    "$or", "[", "{", "next_attempt_at", BCON_NULL, "}", "{", "next_attempt_at", "{",
                    "$lte", BCON_DATE_TIME(now), "}", "}", "]", "}", "{", "state",
                    BCON_UTF8("leased"), "lease_expires_at", "{", "$lt", BCON_DATE_TIME(now), "}",
                    "}", "]");
}

static bool candidate_ids(mongoc_collection_t *coll, const bson_t *filter, size_t n, bson_t *ids,
                          sub_error_t *err)
{
    bson_t *opts =
        BCON_NEW("projection", "{", "_id", BCON_INT32(1), "}", "limit", BCON_INT64((int64_t)n));
    mongoc_cursor_t *c = mongoc_collection_find_with_opts(coll, filter, opts, NULL);
    const bson_t *doc;
    bson_error_t be;
    bson_iter_t it;
    sub_bson_array_t keys = {.arr = ids};
    while (mongoc_cursor_next(c, &doc))
        if (bson_iter_init_find(&it, doc, "_id"))
            bson_append_iter(ids, sub_bson_array_next_key(&keys), -1, &it);
    bool ok = !mongoc_cursor_error(c, &be) || sub_db_error(&be, "find claimable tasks", err);
    mongoc_cursor_destroy(c);
    bson_destroy(opts);
    return ok;
}

static bool take_leases(mongoc_collection_t *coll, const char *dataset, const bson_t *ids,
                        int64_t now, const char *owner, const char *token, int64_t lease_ms,
                        sub_error_t *err)
{
    bson_t *filter = claimable(dataset, now), in;
    BSON_APPEND_DOCUMENT_BEGIN(filter, "_id", &in);
    BSON_APPEND_ARRAY(&in, "$in", ids);
    bson_append_document_end(filter, &in);
    bson_t *update = BCON_NEW("$set", "{", "state", BCON_UTF8("leased"), "lease_owner",
                              BCON_UTF8(owner), "lease_token", BCON_UTF8(token), "lease_expires_at",
                              BCON_DATE_TIME(now + lease_ms), "}", "$currentDate", "{",
                              "updated_at", BCON_BOOL(true), "}");
    bson_error_t be;
    bool ok = mongoc_collection_update_many(coll, filter, update, NULL, NULL, &be) ||
              sub_db_error(&be, "lease fetch tasks", err);
    bson_destroy(filter);
    bson_destroy(update);
    return ok;
}

static char *dup_str(const bson_t *doc, const char *key)
{
    const char *s = sub_bson_get_str(doc, key);
    return s ? sub_xstrdup(s) : NULL;
}

static void task_from_bson(const bson_t *doc, sub_fetch_task_t *t)
{
    bson_iter_t it;
    bson_t urls;
    memset(t, 0, sizeof *t);
    if (bson_iter_init_find(&it, doc, "_id") && BSON_ITER_HOLDS_OID(&it))
        bson_oid_copy(bson_iter_oid(&it), &t->id);
    if (bson_iter_init_find(&it, doc, "sample_id") && BSON_ITER_HOLDS_OID(&it))
        bson_oid_copy(bson_iter_oid(&it), &t->sample_id);
    if (bson_iter_init_find(&it, doc, "attempts"))
        t->attempts = (int32_t)bson_iter_as_int64(&it);
    t->filepath = dup_str(doc, "filepath");
    t->label = dup_str(doc, "label");
    t->original_url = dup_str(doc, "original_url");
    t->original_md5 = dup_str(doc, "original_md5");
    if (sub_bson_get_doc(doc, "urls", &urls) && bson_iter_init(&it, &urls))
        while (bson_iter_next(&it))
            if (BSON_ITER_HOLDS_UTF8(&it)) {
                t->urls = sub_xrealloc(t->urls, (t->nurls + 1) * sizeof *t->urls);
                t->urls[t->nurls++] = sub_xstrdup(bson_iter_utf8(&it, NULL));
            }
}

static bool read_claimed(mongoc_collection_t *coll, const char *token, sub_fetch_task_t **tasks,
                         size_t *n, sub_error_t *err)
{
    bson_t *filter = BCON_NEW("lease_token", BCON_UTF8(token));
    mongoc_cursor_t *c = mongoc_collection_find_with_opts(coll, filter, NULL, NULL);
    const bson_t *doc;
    bson_error_t be;
    while (mongoc_cursor_next(c, &doc)) {
        *tasks = sub_xrealloc(*tasks, (*n + 1) * sizeof **tasks);
        task_from_bson(doc, &(*tasks)[(*n)++]);
    }
    bool ok = !mongoc_cursor_error(c, &be) || sub_db_error(&be, "read leased tasks", err);
    mongoc_cursor_destroy(c);
    bson_destroy(filter);
    return ok;
}

bool sub_fetch_claim(sub_db_t *db, const char *dataset, const char *owner, size_t n,
                     int64_t lease_ms, sub_fetch_task_t **tasks, size_t *ntasks, sub_error_t *err)
{
    static unsigned long counter;
    int64_t now = now_ms();
    char *token = sub_xasprintf("%s:%lu", owner, ++counter);
    mongoc_collection_t *coll = tasks_coll(db);
    bson_t *filter = claimable(dataset, now), ids = BSON_INITIALIZER;
    *tasks = NULL;
    *ntasks = 0;
    bool ok =
        candidate_ids(coll, filter, n, &ids, err) &&
        (bson_empty(&ids) || (take_leases(coll, dataset, &ids, now, owner, token, lease_ms, err) &&
                              read_claimed(coll, token, tasks, ntasks, err)));
    bson_destroy(filter);
    bson_destroy(&ids);
    mongoc_collection_destroy(coll);
    free(token);
    return ok;
}

void sub_fetch_tasks_free(sub_fetch_task_t *tasks, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(tasks[i].filepath);
        free(tasks[i].label);
        free(tasks[i].original_url);
        free(tasks[i].original_md5);
        for (size_t j = 0; j < tasks[i].nurls; j++)
            free(tasks[i].urls[j]);
        free(tasks[i].urls);
    }
    free(tasks);
}

static bool update_many(sub_db_t *db, bson_t *filter, bson_t *update, const char *what,
                        int64_t *matched, sub_error_t *err)
{
    mongoc_collection_t *coll = tasks_coll(db);
    bson_t reply;
    bson_error_t be;
    bson_iter_t it;
    bool ok = mongoc_collection_update_many(coll, filter, update, NULL, &reply, &be) ||
              sub_db_error(&be, what, err);
    if (ok && matched && bson_iter_init_find(&it, &reply, "matchedCount"))
        *matched = bson_iter_as_int64(&it);
    bson_destroy(&reply);
    bson_destroy(filter);
    bson_destroy(update);
    mongoc_collection_destroy(coll);
    return ok;
}

bool sub_fetch_renew(sub_db_t *db, const char *owner, int64_t lease_ms, sub_error_t *err)
{
    return update_many(
        db, BCON_NEW("lease_owner", BCON_UTF8(owner), "state", BCON_UTF8("leased")),
        BCON_NEW("$set", "{", "lease_expires_at", BCON_DATE_TIME(now_ms() + lease_ms), "}"),
        "renew leases", NULL, err);
}

bool sub_fetch_release(sub_db_t *db, const char *owner, sub_error_t *err)
{
    return update_many(db, BCON_NEW("lease_owner", BCON_UTF8(owner), "state", BCON_UTF8("leased")),
                       BCON_NEW("$set", "{", "state", BCON_UTF8("pending"), "lease_owner",
                                BCON_NULL, "lease_expires_at", BCON_NULL, "}", "$unset", "{",
                                "lease_token", BCON_UTF8(""), "}", "$currentDate", "{",
                                "updated_at", BCON_BOOL(true), "}"),
                       "release leases", NULL, err);
}

/* The filter of a task the owner still holds. */
static bson_t *held_by(const bson_oid_t *task, const char *owner)
{
    return BCON_NEW("_id", BCON_OID(task), "lease_owner", BCON_UTF8(owner), "state",
                    BCON_UTF8("leased"));
}

bool sub_fetch_task_done(sub_db_t *db, const bson_oid_t *task, const char *owner, int64_t bytes,
                         bool *held, sub_error_t *err)
{
    int64_t matched = 0;
    bool ok = update_many(
        db, held_by(task, owner),
        BCON_NEW("$set", "{", "state", BCON_UTF8("done"), "bytes", BCON_INT64(bytes), "lease_owner",
                 BCON_NULL, "lease_expires_at", BCON_NULL, "last_error", BCON_NULL, "}", "$unset",
                 "{", "lease_token", BCON_UTF8(""), "}", "$inc", "{", "attempts", BCON_INT32(1),
                 "}", "$currentDate", "{", "updated_at", BCON_BOOL(true), "}"),
        "record a finished task", &matched, err);
    *held = matched == 1;
    return ok;
}

bool sub_fetch_task_fail(sub_db_t *db, const bson_oid_t *task, const char *owner, bool permanent,
                         const char *code, const char *message, int http_status, int64_t retry_ms,
                         sub_error_t *err)
{
    bson_t *update = BCON_NEW(
        "$set", "{", "state", BCON_UTF8(permanent ? "failed" : "pending"), "lease_owner", BCON_NULL,
        "lease_expires_at", BCON_NULL, "next_attempt_at",
        BCON_DATE_TIME(now_ms() + (permanent ? 0 : retry_ms)), "last_error", "{", "code",
        BCON_UTF8(code), "message", BCON_UTF8(message), "http_status", BCON_INT32(http_status), "}",
        "}", "$unset", "{", "lease_token", BCON_UTF8(""), "}", "$inc", "{", "attempts",
        BCON_INT32(1), "}", "$currentDate", "{", "updated_at", BCON_BOOL(true), "}");
    return update_many(db, held_by(task, owner), update, "record a failed task", NULL, err);
}

bool sub_fetch_counts(sub_db_t *db, const char *dataset, sub_fetch_counts_t *c, sub_error_t *err)
{
    mongoc_collection_t *coll = tasks_coll(db);
    bson_t *pipeline = BCON_NEW("pipeline", "[", "{", "$match", "{", "dataset", BCON_UTF8(dataset),
                                "}", "}", "{", "$group", "{", "_id", BCON_UTF8("$state"), "n", "{",
                                "$sum", BCON_INT32(1), "}", "}", "}", "]");
    mongoc_cursor_t *cur =
        mongoc_collection_aggregate(coll, MONGOC_QUERY_NONE, pipeline, NULL, NULL);
    const bson_t *doc;
    bson_error_t be;
    memset(c, 0, sizeof *c);
    while (mongoc_cursor_next(cur, &doc)) {
        const char *state = sub_bson_get_str(doc, "_id");
        bson_iter_t it;
        int64_t n = bson_iter_init_find(&it, doc, "n") ? bson_iter_as_int64(&it) : 0;
        if (!state)
            continue;
        if (strcmp(state, "pending") == 0)
            c->pending = n;
        else if (strcmp(state, "leased") == 0)
            c->leased = n;
        else if (strcmp(state, "done") == 0)
            c->done = n;
        else if (strcmp(state, "failed") == 0)
            c->failed = n;
    }
    bool ok = !mongoc_cursor_error(cur, &be) || sub_db_error(&be, "count fetch tasks", err);
    if (ok) {
        bson_t *q = BCON_NEW("dataset", BCON_UTF8(dataset), "state", BCON_UTF8("failed"),
                             "replaced_by", "{", "$type", BCON_UTF8("objectId"), "}");
        c->replaced = mongoc_collection_count_documents(coll, q, NULL, NULL, NULL, &be);
        ok = c->replaced >= 0 || sub_db_error(&be, "count fetch tasks", err);
        bson_destroy(q);
    }
    mongoc_cursor_destroy(cur);
    bson_destroy(pipeline);
    mongoc_collection_destroy(coll);
    return ok;
}
