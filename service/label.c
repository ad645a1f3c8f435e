#define SUB_LOG_DOMAIN "label"
#include "subsetter/label.h"

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

/* Only samples whose ground_truth would change: keeps a second run from writing. */
static void build_filter(bson_t *filter)
{
    bson_t expr, ne, cur, args;
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

static bool update_samples(mongoc_collection_t *coll, int64_t *modified, sub_error_t *err)
{
    bson_t filter = BSON_INITIALIZER, pipeline = BSON_INITIALIZER, reply;
    bson_error_t be;
    bson_iter_t it;
    build_filter(&filter);
    build_update(&pipeline);
    bool ok = mongoc_collection_update_many(coll, &filter, &pipeline, NULL, &reply, &be);
    if (!ok)
        sub_db_error(&be, "set ground_truth", err);
    else if (bson_iter_init_find(&it, &reply, "modifiedCount"))
        *modified = bson_iter_as_int64(&it);
    bson_destroy(&filter);
    bson_destroy(&pipeline);
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
    ok = ok && update_samples(coll, &res->modified, err);
    if (ok) {
        bson_t *q = BCON_NEW("ground_truth.label", "{", "$exists", BCON_BOOL(true), "}");
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
