#define SUB_LOG_DOMAIN "label"
#include "subsetter/label.h"

#include "subsetter/fo_dataset.h"
#include "subsetter/idranges.h"
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

/* {$let: {vars: {pos: <positives>, hex: {$toString: "$_id"}}, in: <in>}}, with <in> either
 * the Classification (samples known to have one positive label) or {$cond: [{$eq: [{$size:
 * "$$pos"}, 1]}, <Classification>, "$$REMOVE"]}: the field goes from a sample that no
 * longer has exactly one positive label. */
static void append_desired(bson_t *b, const char *key, bool known_single)
{
    bson_t outer, let, vars, in, cond, eq, size, sz;
    bson_t *gt = classification_expr();
    BSON_APPEND_DOCUMENT_BEGIN(b, key, &outer);
    BSON_APPEND_DOCUMENT_BEGIN(&outer, "$let", &let);
    BSON_APPEND_DOCUMENT_BEGIN(&let, "vars", &vars);
    if (known_single)
        BSON_APPEND_UTF8(&vars, "pos", "$positive_labels.classifications");
    else
        append_positives(&vars, "pos");
    BSON_APPEND_DOCUMENT_BEGIN(&vars, "hex", &in);
    BSON_APPEND_UTF8(&in, "$toString", "$_id");
    bson_append_document_end(&vars, &in);
    bson_append_document_end(&let, &vars);
    if (known_single) {
        BSON_APPEND_DOCUMENT(&let, "in", gt);
    } else {
        BSON_APPEND_DOCUMENT_BEGIN(&let, "in", &in);
        BSON_APPEND_ARRAY_BEGIN(&in, "$cond", &cond);
        BSON_APPEND_DOCUMENT_BEGIN(&cond, "0", &eq);
        BSON_APPEND_ARRAY_BEGIN(&eq, "$eq", &size);
        BSON_APPEND_DOCUMENT_BEGIN(&size, "0", &sz);
        BSON_APPEND_UTF8(&sz, "$size", "$$pos");
        bson_append_document_end(&size, &sz);
        BSON_APPEND_INT32(&size, "1", 1);
        bson_append_array_end(&eq, &size);
        bson_append_document_end(&cond, &eq);
        BSON_APPEND_DOCUMENT(&cond, "1", gt);
        BSON_APPEND_UTF8(&cond, "2", "$$REMOVE");
        bson_append_array_end(&in, &cond);
        bson_append_document_end(&let, &in);
    }
    bson_append_document_end(&outer, &let);
    bson_append_document_end(b, &outer);
    bson_destroy(gt);
}

/* {$first: <path>} */
static void append_first(bson_t *b, const char *key, const char *path)
{
    bson_t d;
    BSON_APPEND_DOCUMENT_BEGIN(b, key, &d);
    BSON_APPEND_UTF8(&d, "$first", path);
    bson_append_document_end(b, &d);
}

/* {$ne: [<field>, {$first: <positive path>}]} */
static void append_differs(bson_t *b, const char *key, const char *field, const char *positive)
{
    bson_t d, args;
    BSON_APPEND_DOCUMENT_BEGIN(b, key, &d);
    BSON_APPEND_ARRAY_BEGIN(&d, "$ne", &args);
    BSON_APPEND_UTF8(&args, "0", field);
    append_first(&args, "1", positive);
    bson_append_array_end(&d, &args);
    bson_append_document_end(b, &d);
}

/* The samples that already have a ground_truth label (SUB_LABEL_INDEX holds exactly
 * them) and must change: no longer exactly one positive label (the field goes), or
 * another label or confidence than their positive one.
 *   {ground_truth.label: {$exists: true}, $or: [
 *      {positive_labels.classifications: {$not: {$size: 1}}},
 *      {$expr: {$or: [<label differs>, <confidence differs>]}}]} */
static void build_relabel_filter(bson_t *filter)
{
    bson_t f, any, branch, notsize, size, expr, differ;
    BSON_APPEND_DOCUMENT_BEGIN(filter, "ground_truth.label", &f);
    BSON_APPEND_BOOL(&f, "$exists", true);
    bson_append_document_end(filter, &f);
    BSON_APPEND_ARRAY_BEGIN(filter, "$or", &any);
    BSON_APPEND_DOCUMENT_BEGIN(&any, "0", &branch);
    BSON_APPEND_DOCUMENT_BEGIN(&branch, "positive_labels.classifications", &notsize);
    BSON_APPEND_DOCUMENT_BEGIN(&notsize, "$not", &size);
    BSON_APPEND_INT32(&size, "$size", 1);
    bson_append_document_end(&notsize, &size);
    bson_append_document_end(&branch, &notsize);
    bson_append_document_end(&any, &branch);
    BSON_APPEND_DOCUMENT_BEGIN(&any, "1", &branch);
    BSON_APPEND_DOCUMENT_BEGIN(&branch, "$expr", &expr);
    BSON_APPEND_ARRAY_BEGIN(&expr, "$or", &differ);
    append_differs(&differ, "0", "$ground_truth.label", "$positive_labels.classifications.label");
    append_differs(&differ, "1", "$ground_truth.confidence",
                   "$positive_labels.classifications.confidence");
    bson_append_array_end(&expr, &differ);
    bson_append_document_end(&branch, &expr);
    bson_append_document_end(&any, &branch);
    bson_append_array_end(filter, &any);
}

/* The single-label samples without a ground_truth label (all of them on a first run):
 *   {positive_labels.classifications: {$size: 1}, ground_truth.label: {$exists: false}}
 * Only plain predicates: the server checks $size first (it orders an $and's predicates
 * by kind), so the other four fifths of the samples cost one array-size test each. An
 * $or or an $expr at this level would be evaluated on every sample (measured: 15 % more
 * server CPU for the whole update). */
static void build_new_filter(bson_t *filter)
{
    bson_t size, missing;
    BSON_APPEND_DOCUMENT_BEGIN(filter, "positive_labels.classifications", &size);
    BSON_APPEND_INT32(&size, "$size", 1);
    bson_append_document_end(filter, &size);
    BSON_APPEND_DOCUMENT_BEGIN(filter, "ground_truth.label", &missing);
    BSON_APPEND_BOOL(&missing, "$exists", false);
    bson_append_document_end(filter, &missing);
}

static void build_update(bson_t *pipeline, bool known_single)
{
    bson_t stage, set;
    BSON_APPEND_DOCUMENT_BEGIN(pipeline, "0", &stage);
    BSON_APPEND_DOCUMENT_BEGIN(&stage, "$set", &set);
    append_desired(&set, "ground_truth", known_single);
    BSON_APPEND_UTF8(&set, "last_modified_at", "$$NOW");
    bson_append_document_end(&stage, &set);
    bson_append_document_end(pipeline, &stage);
}

bool sub_label_create_index(sub_db_t *db, const char *coll, sub_error_t *err)
{
    bson_t *cmd =
        BCON_NEW("createIndexes", BCON_UTF8(coll), "indexes", "[", "{", "key", "{",
                 "ground_truth.label", BCON_INT32(1), "_rand", BCON_INT32(1), "_id", BCON_INT32(1),
                 "}", "name", BCON_UTF8(SUB_LABEL_INDEX), "partialFilterExpression", "{",
                 "ground_truth.label", "{", "$exists", BCON_BOOL(true), "}", "}", "}", "]");
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

/* Gives ground_truth to the single-label samples without one among lo <= _id < hi (a
 * range of sub_idranges_run(); ctx: the int64_t modified count of each side). */
static bool set_range(mongoc_collection_t *coll, const sub_id_bound_t *lo, const sub_id_bound_t *hi,
                      unsigned side, void *ctx, sub_error_t *err)
{
    int64_t *modified = ctx;
    bson_t filter = BSON_INITIALIZER, pipeline = BSON_INITIALIZER, reply;
    bson_error_t be;
    sub_id_range_append(&filter, lo, hi);
    build_new_filter(&filter);
    build_update(&pipeline, true);
    bool ok = mongoc_collection_update_many(coll, &filter, &pipeline, NULL, &reply, &be) ||
              sub_db_error(&be, "set ground_truth", err);
    if (ok)
        modified[side] += modified_count(&reply);
    bson_destroy(&filter);
    bson_destroy(&pipeline);
    bson_destroy(&reply);
    return ok;
}

/* Pass one: the samples labeled before whose ground_truth must change or go, found
 * through SUB_LABEL_INDEX (on a first run it is empty and this costs nothing). It runs
 * before pass two, which adds the keys of the samples it labels. */
static bool relabel(mongoc_collection_t *coll, int64_t *modified, sub_error_t *err)
{
    bson_t filter = BSON_INITIALIZER, pipeline = BSON_INITIALIZER, reply;
    bson_t *opts = BCON_NEW("hint", BCON_UTF8(SUB_LABEL_INDEX));
    bson_error_t be;
    build_relabel_filter(&filter);
    build_update(&pipeline, false);
    bool ok = mongoc_collection_update_many(coll, &filter, &pipeline, opts, &reply, &be) ||
              sub_db_error(&be, "update ground_truth", err);
    *modified = ok ? modified_count(&reply) : 0;
    bson_destroy(opts);
    bson_destroy(&filter);
    bson_destroy(&pipeline);
    bson_destroy(&reply);
    return ok;
}

/* The samples with a string ground_truth label, counted from the index alone. */
static bool count_labeled(mongoc_collection_t *coll, int64_t *n, sub_error_t *err)
{
    bson_t *q = BCON_NEW("ground_truth.label", "{", "$gte", BCON_UTF8(""), "}");
    bson_error_t be;
    *n = mongoc_collection_count_documents(coll, q, NULL, NULL, NULL, &be);
    bson_destroy(q);
    return *n >= 0 || sub_db_error(&be, "count the labeled samples", err);
}

/* Pass two: the single-label samples without a ground_truth. The server runs one update
 * on one core, so two connections label _id ranges from both ends of the _id index
 * (idranges.h). An _id range is walked along the _id index, which for ingested samples is
 * also their order on disk (openimages.h: sub_oi_sample_oid): each range reads and writes
 * only its own pages, where two _rand ranges would each scan the whole collection
 * (measured: 30 % slower).
 * The labeled samples are counted between the passes, not after them: pass two only gives
 * labels to samples that had none, so the total is that count plus what it writes, and on
 * a first run the index is still empty there (counting its 380,000 keys after the passes
 * took 0.2 s of a 7.5 s run). */
static bool set_ground_truth(sub_db_t *db, mongoc_collection_t *coll, const char *collection,
                             sub_label_result_t *res, sub_error_t *err)
{
    int64_t changed = 0, labeled = 0, added[2] = {0, 0};
    bool ok = relabel(coll, &changed, err) && count_labeled(coll, &labeled, err) &&
              sub_idranges_run(db, collection, SUB_IDRANGES_MIN, set_range, added, err);
    res->modified = changed + added[0] + added[1];
    res->single_label = labeled + added[0] + added[1];
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
    ok = ok && set_ground_truth(db, coll, ds.sample_collection, res, err);
    if (ok) {
        res->samples = mongoc_collection_estimated_document_count(coll, NULL, NULL, NULL, &be);
        if (res->samples < 0)
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
