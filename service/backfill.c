#define SUB_LOG_DOMAIN "backfill"
#include "subsetter/backfill.h"

#include <stdlib.h>
#include <string.h>

#include "subsetter/bsonutil.h"
#include "subsetter/fetch_tasks.h"
#include "subsetter/fo_dataset.h"
#include "subsetter/log.h"
#include "subsetter/strutil.h"

#define SERVER_DUPLICATE_KEY 11000
/* Candidates fetched per attempt: more than one, since another worker may win some. */
#define CANDIDATES 8

bool sub_backfill_open(sub_db_t *db, const char *dataset, sub_backfill_t *b, sub_error_t *err)
{
    sub_fo_dataset_t ds = {0}, src = {0};
    bson_t doc, info, spec;
    bson_iter_t it;
    memset(b, 0, sizeof *b);
    bool ok = sub_fo_dataset_open(db, dataset, &ds, &doc, err);
    const char *source = NULL;
    if (ok && sub_bson_get_doc(&doc, "info", &info) &&
        sub_bson_get_doc(&info, "subsetter_sample", &spec) &&
        (source = sub_bson_get_str(&spec, "source_dataset")) &&
        bson_iter_init_find(&it, &spec, "take_multiplier")) {
        b->take_multiplier = bson_iter_as_int64(&it);
        ok = sub_fo_dataset_open(db, source, &src, NULL, err);
        if (ok) {
            b->enabled = true;
            b->subset_collection = sub_xstrdup(ds.sample_collection);
            b->source_collection = sub_xstrdup(src.sample_collection);
            bson_oid_copy(&ds.id, &b->subset_id);
        }
    }
    bson_destroy(&doc);
    sub_fo_dataset_release(&ds);
    sub_fo_dataset_release(&src);
    return ok;
}

void sub_backfill_release(sub_backfill_t *b)
{
    free(b->subset_collection);
    free(b->source_collection);
    memset(b, 0, sizeof *b);
}

/* The class in take order, minus samples in the subset and samples whose fetch failed:
 * the first CANDIDATES of what is left. */
static bson_t *candidates_pipeline(const sub_backfill_t *b, const char *dataset, const char *label)
{
    return BCON_NEW(
        "pipeline", "[", "{", "$match", "{", "ground_truth.label", BCON_UTF8(label), "}", "}", "{",
        "$set", "{", "_rand_take", "{", "$mod", "[", BCON_INT64(b->take_multiplier),
        BCON_UTF8("$_rand"), "]", "}", "}", "}", "{", "$sort", "{", "_rand_take", BCON_INT32(1),
        "}", "}", "{", "$project", "{", "_id", BCON_INT32(1), "}", "}", "{", "$lookup", "{", "from",
        BCON_UTF8(b->subset_collection), "localField", BCON_UTF8("_id"), "foreignField",
        BCON_UTF8("_id"), "as", BCON_UTF8("in_subset"), "}", "}", "{", "$match", "{", "in_subset",
        "{", "$size", BCON_INT32(0), "}", "}", "}", "{", "$lookup", "{", "from",
        BCON_UTF8(SUB_FETCH_TASKS), "let", "{", "sid", BCON_UTF8("$_id"), "}", "pipeline", "[", "{",
        "$match", "{", "$expr", "{", "$and", "[", "{", "$eq", "[", BCON_UTF8("$dataset"),
        BCON_UTF8(dataset), "]", "}", "{", "$eq", "[", BCON_UTF8("$sample_id"), BCON_UTF8("$$sid"),
        "]", "}", "{", "$eq", "[", BCON_UTF8("$state"), BCON_UTF8("failed"), "]", "}", "]", "}",
        "}", "}", "]", "as", BCON_UTF8("failed"), "}", "}", "{", "$match", "{", "failed", "{",
        "$size", BCON_INT32(0), "}", "}", "}", "{", "$limit", BCON_INT32(CANDIDATES), "}", "]");
}

/* Copies one source sample into the subset; *taken is false when it is already there
 * (another worker won it). */
static bool try_insert(sub_db_t *db, const sub_backfill_t *b, const bson_oid_t *cand, bool *taken,
                       sub_error_t *err)
{
    mongoc_collection_t *src = mongoc_database_get_collection(db->db, b->source_collection);
    bson_t *pipeline =
        BCON_NEW("pipeline", "[", "{", "$match", "{", "_id", BCON_OID(cand), "}", "}", "{", "$set",
                 "{", "_dataset_id", BCON_OID(&b->subset_id), "}", "}", "{", "$merge", "{", "into",
                 BCON_UTF8(b->subset_collection), "on", BCON_UTF8("_id"), "whenMatched",
                 BCON_UTF8("fail"), "whenNotMatched", BCON_UTF8("insert"), "}", "}", "]");
    mongoc_cursor_t *c = mongoc_collection_aggregate(src, MONGOC_QUERY_NONE, pipeline, NULL, NULL);
    const bson_t *doc;
    bson_error_t be;
    while (mongoc_cursor_next(c, &doc))
        ;
    bool failed = mongoc_cursor_error(c, &be);
    *taken = !failed;
    bool ok = !failed || be.code == SERVER_DUPLICATE_KEY || sub_db_error(&be, "backfill", err);
    mongoc_cursor_destroy(c);
    bson_destroy(pipeline);
    mongoc_collection_destroy(src);
    return ok;
}

static bool remove_gone(sub_db_t *db, const sub_backfill_t *b, const bson_oid_t *gone,
                        sub_error_t *err)
{
    mongoc_collection_t *subset = mongoc_database_get_collection(db->db, b->subset_collection);
    bson_t *q = BCON_NEW("_id", BCON_OID(gone));
    bson_error_t be;
    bool ok = mongoc_collection_delete_one(subset, q, NULL, NULL, &be) ||
              sub_db_error(&be, "remove the failed sample", err);
    bson_destroy(q);
    mongoc_collection_destroy(subset);
    return ok;
}

static bool record_replacement(sub_db_t *db, const char *dataset, const bson_oid_t *gone,
                               const bson_oid_t *by, sub_error_t *err)
{
    mongoc_collection_t *tasks = mongoc_database_get_collection(db->db, SUB_FETCH_TASKS);
    bson_t *q = BCON_NEW("dataset", BCON_UTF8(dataset), "sample_id", BCON_OID(gone));
    bson_t *u = BCON_NEW("$set", "{", "replaced_by", BCON_OID(by), "}");
    bson_error_t be;
    bool ok = mongoc_collection_update_one(tasks, q, u, NULL, NULL, &be) ||
              sub_db_error(&be, "record the replacement", err);
    bson_destroy(q);
    bson_destroy(u);
    mongoc_collection_destroy(tasks);
    return ok;
}

/* One round: the current best candidates, tried in order. */
static bool try_round(sub_db_t *db, const sub_backfill_t *b, const char *dataset, const char *label,
                      bool *found, bool *exhausted, bson_oid_t *out, sub_error_t *err)
{
    mongoc_collection_t *src = mongoc_database_get_collection(db->db, b->source_collection);
    bson_t *pipeline = candidates_pipeline(b, dataset, label);
    bson_t *opts = BCON_NEW("allowDiskUse", BCON_BOOL(true));
    mongoc_cursor_t *c = mongoc_collection_aggregate(src, MONGOC_QUERY_NONE, pipeline, opts, NULL);
    const bson_t *doc;
    bson_error_t be;
    bson_iter_t it;
    bool ok = true;
    int seen = 0;
    bson_oid_t cands[CANDIDATES];
    while (mongoc_cursor_next(c, &doc))
        if (seen < CANDIDATES && bson_iter_init_find(&it, doc, "_id") && BSON_ITER_HOLDS_OID(&it))
            bson_oid_copy(bson_iter_oid(&it), &cands[seen++]);
    if (mongoc_cursor_error(c, &be))
        ok = sub_db_error(&be, "find backfill candidates", err);
    mongoc_cursor_destroy(c);
    bson_destroy(pipeline);
    bson_destroy(opts);
    mongoc_collection_destroy(src);
    *exhausted = ok && seen == 0;
    for (int i = 0; ok && !*found && i < seen; i++) {
        ok = try_insert(db, b, &cands[i], found, err);
        if (*found)
            bson_oid_copy(&cands[i], out);
    }
    return ok;
}

bool sub_backfill_replace(sub_db_t *db, const sub_backfill_t *b, const char *dataset,
                          const bson_oid_t *gone, const char *label, bool *found,
                          bson_oid_t *replacement, sub_error_t *err)
{
    bool exhausted = false;
    *found = false;
    if (!b->enabled || !label)
        return true;
    bool ok = remove_gone(db, b, gone, err);
    while (ok && !*found && !exhausted)
        ok = try_round(db, b, dataset, label, found, &exhausted, replacement, err);
    if (ok && *found)
        ok = record_replacement(db, dataset, gone, replacement, err);
    if (ok && !*found)
        SUB_LOG(SUB_LOG_WARN, "%s: no candidate left for class '%s'; the subset is one short",
                dataset, label);
    return ok;
}
