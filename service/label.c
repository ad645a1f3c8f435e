#define SUB_LOG_DOMAIN "label"
#include "subsetter/label.h"

#include <pthread.h>

#include "subsetter/fo_dataset.h"
#include "subsetter/log.h"
#include "subsetter/progress.h"
#include "subsetter/strutil.h"

static const sub_fo_field_t ground_truth_field = {
    "ground_truth", SUB_FO_CLASSIFICATION, false,
    "the one positive label of a single-label sample"};

/* {$ifNull: ["$positive_labels.classifications", []]} */
static void append_positives(bson_t *b, const char *key)
{
    bson_t e, args, empty;
    BSON_APPEND_DOCUMENT_BEGIN(b, key, &e);
    BSON_APPEND_ARRAY_BEGIN(&e, "$ifNull", &args);
    BSON_APPEND_UTF8(&args, "0", "$positive_labels.classifications");
    BSON_APPEND_ARRAY_BEGIN(&args, "1", &empty);
    bson_append_array_end(&args, &empty);
    bson_append_array_end(&e, &args);
    bson_append_document_end(b, &e);
}

/* The ground_truth Classification of a single-label sample, its _id derived from the
 * sample's ($$hex, the sample _id as hex): timestamp, then the two halves swapped. */
static bson_t *classification_expr(void)
{
    return BCON_NEW("_id", "{", "$toObjectId", "{", "$concat", "[", "{", "$substrBytes", "[",
                    BCON_UTF8("$$hex"), BCON_INT32(0), BCON_INT32(8), "]", "}", "{", "$substrBytes",
                    "[", BCON_UTF8("$$hex"), BCON_INT32(16), BCON_INT32(8), "]", "}", "{",
                    "$substrBytes", "[", BCON_UTF8("$$hex"), BCON_INT32(8), BCON_INT32(8), "]", "}",
                    "]", "}", "}", "_cls", BCON_UTF8("Classification"), "tags", "[", "]", "label",
                    "{", "$arrayElemAt", "[", BCON_UTF8("$$pos.label"), BCON_INT32(0), "]", "}",
                    "confidence", "{", "$arrayElemAt", "[", BCON_UTF8("$$pos.confidence"),
                    BCON_INT32(0), "]", "}");
}

/* {$let: {vars: {pos: <positives>, hex: {$toString: "$_id"}}, in: {$cond: [
 *   {$eq: [{$size: "$$pos"}, 1]}, <Classification>, <otherwise>]}}}
 * `otherwise` is "$$REMOVE" in the update (the field goes) and null in the filter. */
static void append_desired(bson_t *b, const char *key, const char *otherwise_remove)
{
    bson_t outer, let, vars, in, cond, eq, size;
    bson_t *gt = classification_expr();
    BSON_APPEND_DOCUMENT_BEGIN(b, key, &outer);
    BSON_APPEND_DOCUMENT_BEGIN(&outer, "$let", &let);
    BSON_APPEND_DOCUMENT_BEGIN(&let, "vars", &vars);
    append_positives(&vars, "pos");
    BSON_APPEND_DOCUMENT_BEGIN(&vars, "hex", &in);
    BSON_APPEND_UTF8(&in, "$toString", "$_id");
    bson_append_document_end(&vars, &in);
    bson_append_document_end(&let, &vars);
    BSON_APPEND_DOCUMENT_BEGIN(&let, "in", &in);
    BSON_APPEND_ARRAY_BEGIN(&in, "$cond", &cond);
    BSON_APPEND_DOCUMENT_BEGIN(&cond, "0", &eq);
    BSON_APPEND_ARRAY_BEGIN(&eq, "$eq", &size);
    bson_t sz;
    BSON_APPEND_DOCUMENT_BEGIN(&size, "0", &sz);
    BSON_APPEND_UTF8(&sz, "$size", "$$pos");
    bson_append_document_end(&size, &sz);
    BSON_APPEND_INT32(&size, "1", 1);
    bson_append_array_end(&eq, &size);
    bson_append_document_end(&cond, &eq);
    BSON_APPEND_DOCUMENT(&cond, "1", gt);
    if (otherwise_remove)
        BSON_APPEND_UTF8(&cond, "2", otherwise_remove);
    else
        BSON_APPEND_NULL(&cond, "2");
    bson_append_array_end(&in, &cond);
    bson_append_document_end(&let, &in);
    bson_append_document_end(&outer, &let);
    bson_append_document_end(b, &outer);
    bson_destroy(gt);
}

/* Single-label samples whose ground_truth is missing or differs: only they are written,
 * so a second run writes nothing. The plain $size predicate lets the server skip the
 * expression on every other sample. */
static void build_set_filter(bson_t *filter)
{
    bson_t expr, ne, cur, args, size;
    BSON_APPEND_DOCUMENT_BEGIN(filter, "positive_labels.classifications", &size);
    BSON_APPEND_INT32(&size, "$size", 1);
    bson_append_document_end(filter, &size);
    BSON_APPEND_DOCUMENT_BEGIN(filter, "$expr", &expr);
    BSON_APPEND_ARRAY_BEGIN(&expr, "$ne", &ne);
    BSON_APPEND_DOCUMENT_BEGIN(&ne, "0", &cur);
    BSON_APPEND_ARRAY_BEGIN(&cur, "$ifNull", &args);
    BSON_APPEND_UTF8(&args, "0", "$ground_truth");
    BSON_APPEND_NULL(&args, "1");
    bson_append_array_end(&cur, &args);
    bson_append_document_end(&ne, &cur);
    append_desired(&ne, "1", NULL);
    bson_append_array_end(&expr, &ne);
    bson_append_document_end(filter, &expr);
}

static void build_update(bson_t *pipeline)
{
    bson_t stage, set;
    BSON_APPEND_DOCUMENT_BEGIN(pipeline, "0", &stage);
    BSON_APPEND_DOCUMENT_BEGIN(&stage, "$set", &set);
    append_desired(&set, "ground_truth", "$$REMOVE");
    BSON_APPEND_UTF8(&set, "last_modified_at", "$$NOW");
    bson_append_document_end(&stage, &set);
    bson_append_document_end(pipeline, &stage);
}

bool sub_label_create_index(sub_db_t *db, const char *coll, sub_error_t *err)
{
    bson_t *cmd = BCON_NEW("createIndexes", BCON_UTF8(coll), "indexes", "[", "{", "key", "{",
                           "ground_truth.label", BCON_INT32(1), "}", "name",
                           BCON_UTF8("ground_truth.label_1"), "}", "]");
    bson_t reply;
    bool ok = sub_db_command(db, false, cmd, &reply, err);
    bson_destroy(cmd);
    bson_destroy(&reply);
    return ok;
}

static int64_t modified_count(const bson_t *reply)
{
    bson_iter_t it;
    return bson_iter_init_find(&it, reply, "modifiedCount") ? bson_iter_as_int64(&it) : 0;
}

/* Sets ground_truth where it is due among the samples with _rand in [lo, hi) (with
 * lo >= hi: among those without a numeric _rand). */
static bool set_range(mongoc_collection_t *coll, double lo, double hi, int64_t *modified,
                      sub_error_t *err)
{
    bson_t filter = BSON_INITIALIZER, pipeline = BSON_INITIALIZER, reply, range;
    bson_error_t be;
    BSON_APPEND_DOCUMENT_BEGIN(&filter, "_rand", &range);
    if (lo < hi) {
        BSON_APPEND_DOUBLE(&range, "$gte", lo);
        BSON_APPEND_DOUBLE(&range, "$lt", hi);
    } else { /* samples without a numeric _rand, which no range holds */
        bson_t not ;
        BSON_APPEND_DOCUMENT_BEGIN(&range, "$not", &not );
        BSON_APPEND_UTF8(&not, "$type", "number");
        bson_append_document_end(&range, &not );
    }
    bson_append_document_end(&filter, &range);
    build_set_filter(&filter);
    build_update(&pipeline);
    bool ok = mongoc_collection_update_many(coll, &filter, &pipeline, NULL, &reply, &be) ||
              sub_db_error(&be, "set ground_truth", err);
    *modified = ok ? modified_count(&reply) : 0;
    bson_destroy(&filter);
    bson_destroy(&pipeline);
    bson_destroy(&reply);
    return ok;
}

typedef struct {
    sub_db_t conn;
    const char *collection;
    double lo, hi;
    int64_t modified;
    bool ok;
    sub_error_t err;
} part_t;

static void *set_part(void *arg)
{
    part_t *p = arg;
    mongoc_collection_t *coll = mongoc_database_get_collection(p->conn.db, p->collection);
    p->ok = set_range(coll, p->lo, p->hi, &p->modified, &p->err);
    mongoc_collection_destroy(coll);
    return NULL;
}

/* The server runs one update on one core. _rand is uniform in [0.999, 1) in every
 * FiftyOne dataset, so two _rand ranges split the samples in halves that two connections
 * update at once. */
static bool set_ground_truth(sub_db_t *db, const char *collection, int64_t *modified,
                             sub_error_t *err)
{
    static const double bounds[] = {0.0, 0.9995, 2.0};
    part_t parts[2] = {{.collection = collection}, {.collection = collection}};
    pthread_t threads[2];
    bool started[2] = {false, false}, ok = true;
    for (int i = 0; i < 2 && ok; i++) {
        parts[i].lo = bounds[i];
        parts[i].hi = bounds[i + 1];
        ok = sub_db_clone(db, &parts[i].conn, err);
        started[i] = ok && pthread_create(&threads[i], NULL, set_part, &parts[i]) == 0;
        if (ok && !started[i])
            ok = sub_error_set(err, SUB_E_INTERNAL, 0, "cannot start an update thread");
    }
    *modified = 0;
    for (int i = 0; i < 2; i++) {
        if (started[i]) {
            pthread_join(threads[i], NULL);
            *modified += parts[i].modified;
            if (ok && !parts[i].ok) {
                ok = false;
                if (err)
                    *err = parts[i].err;
            }
        }
        sub_db_close(&parts[i].conn);
    }
    return ok;
}

/* ground_truth set where it is due, then removed from samples that no longer have exactly
 * one positive label. */
static bool update_samples(sub_db_t *db, mongoc_collection_t *coll, const char *collection,
                           int64_t *modified, sub_error_t *err)
{
    bson_t reply;
    bson_error_t be;
    int64_t odd = 0;
    if (!set_ground_truth(db, collection, modified, err) || !set_range(coll, 1, 0, &odd, err))
        return false;
    *modified += odd;
    bson_t *stale = BCON_NEW("ground_truth", "{", "$exists", BCON_BOOL(true), "}",
                             "positive_labels.classifications", "{", "$not", "{", "$size",
                             BCON_INT32(1), "}", "}");
    bson_t *unset = BCON_NEW("$unset", "{", "ground_truth", BCON_UTF8(""), "}", "$currentDate", "{",
                             "last_modified_at", BCON_BOOL(true), "}");
    bool ok = mongoc_collection_update_many(coll, stale, unset, NULL, &reply, &be) ||
              sub_db_error(&be, "remove stale ground_truth", err);
    *modified += ok ? modified_count(&reply) : 0;
    bson_destroy(stale);
    bson_destroy(unset);
    bson_destroy(&reply);
    return ok;
}

bool sub_label_single(sub_db_t *db, const char *dataset, const char *fiftyone_version,
                      sub_label_result_t *res, sub_error_t *err)
{
    sub_fo_dataset_t ds = {0};
    double start = sub_now();
    bson_error_t be;
    memset(res, 0, sizeof *res);
    bool ok = sub_fo_dataset_open(db, dataset, &ds, NULL, err);
    sub_fo_dataset_release(&ds);
    ok = ok &&
         sub_fo_dataset_ensure(db, dataset, fiftyone_version, &ground_truth_field, 1, NULL, NULL,
                               &ds, err) &&
         sub_label_create_index(db, ds.sample_collection, err);
    mongoc_collection_t *coll =
        ok ? mongoc_database_get_collection(db->db, ds.sample_collection) : NULL;
    ok = ok && update_samples(db, coll, ds.sample_collection, &res->modified, err);
    if (ok) {
        /* $type, not $exists: the index holds null keys for samples without the field, so
         * only $type is answered from the index alone. */
        bson_t *q = BCON_NEW("ground_truth.label", "{", "$type", BCON_UTF8("string"), "}");
        res->samples = mongoc_collection_estimated_document_count(coll, NULL, NULL, NULL, &be);
        res->single_label = mongoc_collection_count_documents(coll, q, NULL, NULL, NULL, &be);
        bson_destroy(q);
        if (res->samples < 0 || res->single_label < 0)
            ok = sub_db_error(&be, "count samples", err);
    }
    if (ok && res->modified > 0)
        ok = sub_fo_dataset_touch(db, &ds, err);
    if (coll)
        mongoc_collection_destroy(coll);
    sub_fo_dataset_release(&ds);
    res->seconds = sub_now() - start;
    return ok;
}
