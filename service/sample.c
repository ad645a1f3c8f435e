#define SUB_LOG_DOMAIN "sample"
#include "subsetter/sample.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "subsetter/bsonutil.h"
#include "subsetter/fetch_tasks.h"
#include "subsetter/fo_dataset.h"
#include "subsetter/label.h"
#include "subsetter/log.h"
#include "subsetter/parallel.h"
#include "subsetter/progress.h"
#include "subsetter/pyrandom.h"
#include "subsetter/strutil.h"
#include "subsetter/survey.h"

/* Class lists are short; a file bigger than this is not one. */
#define MAX_CLASS_FILE (4 << 20)

/* ---- class lists -------------------------------------------------------------------- */

static void push_name(char ***names, size_t *n, const char *s, size_t len)
{
    while (len && (s[0] == ' ' || s[0] == '\t')) {
        s++;
        len--;
    }
    while (len && strchr(" \t\r\n", s[len - 1]))
        len--;
    if (!len)
        return;
    *names = sub_xrealloc(*names, (*n + 1) * sizeof **names);
    (*names)[(*n)++] = sub_xstrndup(s, len);
}

static bool names_from_json(const char *text, size_t len, const char *path, char ***names,
                            size_t *n, sub_error_t *err)
{
    bson_error_t be;
    bson_t *doc = NULL, classes;
    bson_iter_t it;
    /* A top-level array is wrapped so libbson, which parses documents, can read it. */
    char *wrapped = text[0] == '[' ? sub_xasprintf("{\"classes\": %.*s}", (int)len, text) : NULL;
    doc = bson_new_from_json((const uint8_t *)(wrapped ? wrapped : text),
                             (ssize_t)(wrapped ? strlen(wrapped) : len), &be);
    free(wrapped);
    if (!doc)
        return sub_error_set(err, SUB_E_CONFIG, 0, "%s: %s", path, be.message);
    bool ok = sub_bson_get_doc(doc, "classes", &classes) && bson_iter_init(&it, &classes);
    while (ok && bson_iter_next(&it)) {
        bool array = BSON_ITER_HOLDS_UTF8(&it); /* a list of names, or {name: count} */
        const char *name = array ? bson_iter_utf8(&it, NULL) : bson_iter_key(&it);
        push_name(names, n, name, strlen(name));
    }
    bson_destroy(doc);
    return ok ||
           sub_error_set(err, SUB_E_CONFIG, 0,
                         "%s: expected {\"classes\": {name: count, ...}} or [name, ...]", path);
}

static bool names_from_file(const char *path, char ***names, size_t *n, sub_error_t *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return sub_error_set(err, SUB_E_CONFIG, errno, "%s: %s", path, strerror(errno));
    char *text = sub_xmalloc(MAX_CLASS_FILE + 1);
    size_t len = fread(text, 1, MAX_CLASS_FILE + 1, f);
    fclose(f);
    text[len > MAX_CLASS_FILE ? MAX_CLASS_FILE : len] = '\0';
    bool ok = true;
    size_t start = strspn(text, " \t\r\n");
    if (len > MAX_CLASS_FILE)
        ok = sub_error_set(err, SUB_E_CONFIG, 0, "%s: larger than %d bytes", path, MAX_CLASS_FILE);
    else if (text[start] == '{' || text[start] == '[')
        ok = names_from_json(text + start, len - start, path, names, n, err);
    else
        for (char *line = text, *nl; line && *line; line = nl ? nl + 1 : NULL) {
            nl = strchr(line, '\n');
            size_t l = nl ? (size_t)(nl - line) : strlen(line);
            if (line[strspn(line, " \t")] != '#')
                push_name(names, n, line, l);
        }
    free(text);
    return ok;
}

bool sub_sample_parse_classes(const char *spec, char ***names, size_t *n, sub_error_t *err)
{
    struct stat st;
    *names = NULL;
    *n = 0;
    bool ok =
        stat(spec, &st) == 0 && S_ISREG(st.st_mode) ? names_from_file(spec, names, n, err) : true;
    if (ok && *n == 0 && !(stat(spec, &st) == 0))
        for (const char *p = spec, *c; p; p = c ? c + 1 : NULL) {
            c = strchr(p, ',');
            push_name(names, n, p, c ? (size_t)(c - p) : strlen(p));
        }
    for (size_t i = 0; ok && i < *n; i++)
        for (size_t j = i + 1; j < *n; j++)
            if (strcmp((*names)[i], (*names)[j]) == 0)
                ok = sub_error_set(err, SUB_E_CONFIG, 0, "class '%s' is listed twice", (*names)[i]);
    if (ok && *n == 0)
        ok = sub_error_set(err, SUB_E_CONFIG, 0, "--classes %s: no class names", spec);
    return ok;
}

void sub_sample_free_names(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* ---- choosing the classes and N --------------------------------------------------- */

/* Settles N (per_class, feasible, num_augments) for the chosen size and classes. */
static bool settle_size(const sub_sample_opts_t *o, int64_t feasible, sub_sample_result_t *r,
                        sub_error_t *err)
{
    int64_t want = o->samples_per_class ? o->samples_per_class : feasible;
    r->feasible = feasible;
    if (feasible <= 0)
        return sub_error_set(err, SUB_E_INFEASIBLE, 0, "no single-label samples for these classes");
    if (want <= feasible) {
        r->per_class = want;
        return true;
    }
    if (!o->allow_augment)
        return sub_error_set(err, SUB_E_INFEASIBLE, 0,
                             "%lld samples per class asked, but %zu classes allow at most %lld; "
                             "ask for at most %lld, or add --allow-augment to take %lld and "
                             "record the augmentation factor",
                             (long long)want, r->nclasses ? r->nclasses : o->num_classes,
                             (long long)feasible, (long long)feasible, (long long)feasible);
    r->per_class = feasible;
    r->num_augments = (want + feasible - 1) / feasible - 1; /* ceil(N / feasible) - 1 */
    return true;
}

static bool choose_listed(const sub_sample_opts_t *o, const sub_class_counts_t *counts,
                          sub_sample_result_t *r, sub_error_t *err)
{
    if (!sub_sample_parse_classes(o->classes, &r->classes, &r->nclasses, err))
        return false;
    if (o->num_classes && o->num_classes != r->nclasses)
        return sub_error_set(err, SUB_E_CONFIG, 0, "--num-classes %zu but --classes names %zu",
                             o->num_classes, r->nclasses);
    int64_t feasible = INT64_MAX;
    for (size_t i = 0; i < r->nclasses; i++) {
        int64_t c = sub_survey_count_of(counts, r->classes[i]);
        if (c < 0)
            return sub_error_set(err, SUB_E_INFEASIBLE, 0,
                                 "class '%s' has no single-label sample in %s", r->classes[i],
                                 o->dataset);
        feasible = c < feasible ? c : feasible;
    }
    return settle_size(o, feasible, r, err);
}

/* A seeded draw of K among the eligible classes, as random.Random(seed).sample(). */
static bool choose_drawn(const sub_sample_opts_t *o, const sub_class_counts_t *counts,
                         sub_sample_result_t *r, sub_error_t *err)
{
    size_t k = o->num_classes;
    int64_t feasible = sub_survey_balanced(counts, k);
    if (feasible < 0)
        return sub_error_set(err, SUB_E_INFEASIBLE, 0,
                             "%zu classes asked, but only %zu classes have single-label samples", k,
                             counts->len);
    if (!settle_size(o, feasible, r, err))
        return false;
    r->eligible = sub_survey_eligible(counts, r->per_class);
    size_t *pick = sub_xmalloc(k * sizeof *pick);
    sub_pyrandom_t rng;
    sub_pyrandom_seed_int(&rng, o->seed);
    bool ok = sub_pyrandom_sample(&rng, r->eligible, k, pick);
    if (ok) {
        r->classes = sub_xmalloc(k * sizeof *r->classes);
        for (size_t i = 0; i < k; i++)
            r->classes[i] = sub_xstrdup(counts->items[pick[i]].label);
        r->nclasses = k;
    }
    free(pick);
    return ok || sub_error_set(err, SUB_E_INTERNAL, 0, "class draw failed");
}

/* ---- the new dataset ------------------------------------------------------------------ */

static void params_doc(const sub_sample_opts_t *o, const sub_sample_result_t *r, bson_t *p)
{
    bson_t arr;
    sub_bson_array_t keys = {.arr = &arr};
    BSON_APPEND_UTF8(p, "source_dataset", o->dataset);
    BSON_APPEND_INT64(p, "num_classes", (int64_t)r->nclasses);
    BSON_APPEND_INT64(p, "samples_per_class", r->per_class);
    BSON_APPEND_INT64(p, "requested_samples_per_class", o->samples_per_class);
    BSON_APPEND_INT64(p, "seed", o->seed);
    BSON_APPEND_INT64(p, "take_multiplier", r->take_multiplier);
    BSON_APPEND_INT64(p, "num_augments", r->num_augments);
    BSON_APPEND_ARRAY_BEGIN(p, "classes", &arr);
    for (size_t i = 0; i < r->nclasses; i++)
        bson_append_utf8(&arr, sub_bson_array_next_key(&keys), -1, r->classes[i], -1);
    bson_append_array_end(p, &arr);
}

/* An existing subset is reused only when it was made with the same parameters. */
static bool check_existing(sub_db_t *db, const sub_sample_opts_t *o, const bson_t *want,
                           bool *exists, sub_error_t *err)
{
    sub_fo_dataset_t ds;
    bson_t doc, info, have;
    sub_error_t e;
    *exists = sub_fo_dataset_open(db, o->name, &ds, &doc, &e);
    sub_fo_dataset_release(&ds);
    if (!*exists) {
        bson_destroy(&doc);
        return e.code == SUB_E_NOT_FOUND || (err && (*err = e, false));
    }
    bool same = sub_bson_get_doc(&doc, "info", &info) &&
                sub_bson_get_doc(&info, "subsetter_sample", &have) && bson_equal(&have, want);
    bson_destroy(&doc);
    if (same || o->overwrite)
        return true;
    return sub_error_set(err, SUB_E_CONFIG, 0,
                         "dataset '%s' exists and was not made by this sample command with "
                         "these parameters; choose another --name, or --overwrite it",
                         o->name);
}

/* The subset declares the source's fields and keeps its info, plus how it was made. */
static bool create_subset(sub_db_t *db, const sub_sample_opts_t *o, const bson_t *src,
                          const bson_t *params, sub_fo_dataset_t *ds, sub_error_t *err)
{
    bson_t info = BSON_INITIALIZER, src_info, classes, fields, update = BSON_INITIALIZER, set;
    bson_iter_t it;
    if (sub_bson_get_doc(src, "info", &src_info) && bson_iter_init(&it, &src_info))
        while (bson_iter_next(&it))
            if (strcmp(bson_iter_key(&it), "subsetter_sample") != 0)
                bson_append_iter(&info, NULL, 0, &it);
    BSON_APPEND_DOCUMENT(&info, "subsetter_sample", params);
    bool has_classes = sub_bson_get_doc(src, "default_classes", &classes);
    bool ok = sub_fo_dataset_ensure(db, o->name, o->fiftyone_version, NULL, 0, &info,
                                    has_classes ? &classes : NULL, ds, err);
    if (ok && sub_bson_get_doc(src, "sample_fields", &fields)) {
        mongoc_collection_t *coll = mongoc_database_get_collection(db->db, "datasets");
        bson_t *filter = BCON_NEW("_id", BCON_OID(&ds->id));
        bson_error_t be;
        BSON_APPEND_DOCUMENT_BEGIN(&update, "$set", &set);
        BSON_APPEND_ARRAY(&set, "sample_fields", &fields);
        bson_append_document_end(&update, &set);
        ok = mongoc_collection_update_one(coll, filter, &update, NULL, NULL, &be) ||
             sub_db_error(&be, "declare the subset's fields", err);
        bson_destroy(filter);
        mongoc_collection_destroy(coll);
    }
    bson_destroy(&info);
    bson_destroy(&update);
    return ok;
}

/* ---- selection ------------------------------------------------------------------------- */

/* The chosen samples go to the subset in batches of this many _ids (an $in of 10,000
 * ObjectIds is about 150 KB of command, far below the 16 MB limit). */
#define COPY_BATCH 10000

/* Copies the samples whose _ids are in `ids` (a BSON array) into the subset: the server
 * reads them by _id and writes them with the subset's _dataset_id. The subset is new or
 * was emptied, so $merge may insert (whenMatched "fail" makes it batch plain inserts; an
 * upsert per document took 60 % more server time); a sample already there is an error. */
static bool copy_ids(mongoc_collection_t *src, const bson_t *ids, const sub_fo_dataset_t *into,
                     sub_error_t *err)
{
    bson_t *pipeline = BCON_NEW(
        "pipeline", "[", "{", "$match", "{", "_id", "{", "$in", BCON_ARRAY(ids), "}", "}", "}", "{",
        "$set", "{", "_dataset_id", BCON_OID(&into->id), "}", "}", "{", "$merge", "{", "into",
        BCON_UTF8(into->sample_collection), "on", BCON_UTF8("_id"), "whenMatched",
        BCON_UTF8("fail"), "whenNotMatched", BCON_UTF8("insert"), "}", "}", "]");
    mongoc_cursor_t *c = mongoc_collection_aggregate(src, MONGOC_QUERY_NONE, pipeline, NULL, NULL);
    const bson_t *doc;
    bson_error_t be;
    while (mongoc_cursor_next(c, &doc))
        ; /* $merge returns no documents; iterating runs the pipeline */
    bool ok = !mongoc_cursor_error(c, &be) || sub_db_error(&be, "copy the samples", err);
    mongoc_cursor_destroy(c);
    bson_destroy(pipeline);
    return ok;
}

/* FiftyOne's match(F("ground_truth.label") == c).take(n, seed) of one class, computed
 * from SUB_LABEL_INDEX alone: label, _rand and _id are its keys, so the take order is
 * found without reading a document (reading every sample of the class to keep n of them
 * was half of the stage's time). Only the n chosen _ids come back. */
static mongoc_cursor_t *take_ids(mongoc_collection_t *src, const char *label, int64_t n,
                                 int64_t mult)
{
    bson_t *pipeline = BCON_NEW(
        "pipeline", "[", "{", "$match", "{", "ground_truth.label", BCON_UTF8(label), "}", "}", "{",
        "$project", "{", "_id", BCON_INT32(1), "_rand", BCON_INT32(1), "}", "}", "{", "$set", "{",
        "_rand_take", "{", "$mod", "[", BCON_INT64(mult), BCON_UTF8("$_rand"), "]", "}", "}", "}",
        "{", "$sort", "{", "_rand_take", BCON_INT32(1), "}", "}", "{", "$limit", BCON_INT64(n), "}",
        "{", "$project", "{", "_id", BCON_INT32(1), "}", "}", "]");
    bson_t *opts = BCON_NEW("allowDiskUse", BCON_BOOL(true));
    mongoc_cursor_t *c = mongoc_collection_aggregate(src, MONGOC_QUERY_NONE, pipeline, opts, NULL);
    bson_destroy(pipeline);
    bson_destroy(opts);
    return c;
}

/* One class into the subset: its take(n, seed), then the copy of those samples. */
static bool copy_class(mongoc_collection_t *src, const char *label, int64_t n, int64_t mult,
                       const sub_fo_dataset_t *into, sub_error_t *err)
{
    mongoc_cursor_t *c = take_ids(src, label, n, mult);
    const bson_t *doc;
    bson_t ids = BSON_INITIALIZER;
    sub_bson_array_t keys = {.arr = &ids};
    bson_iter_t it;
    bson_error_t be;
    bool ok = true;
    while (ok && mongoc_cursor_next(c, &doc)) {
        if (bson_iter_init_find(&it, doc, "_id"))
            bson_append_iter(&ids, sub_bson_array_next_key(&keys), -1, &it);
        if (keys.n == COPY_BATCH) {
            ok = copy_ids(src, &ids, into, err);
            bson_reinit(&ids);
            keys.n = 0;
        }
    }
    if (ok && mongoc_cursor_error(c, &be))
        ok = sub_db_error(&be, "select the samples", err);
    if (ok && keys.n > 0)
        ok = copy_ids(src, &ids, into, err);
    if (!ok)
        sub_error_prefix(err, "class '%s'", label);
    mongoc_cursor_destroy(c);
    bson_destroy(&ids);
    return ok;
}

static bool clear_subset(sub_db_t *db, const sub_fo_dataset_t *ds, sub_error_t *err)
{
    mongoc_collection_t *coll = mongoc_database_get_collection(db->db, ds->sample_collection);
    bson_t empty = BSON_INITIALIZER;
    bson_error_t be;
    bool ok = mongoc_collection_delete_many(coll, &empty, NULL, NULL, &be) ||
              sub_db_error(&be, "empty the subset", err);
    mongoc_collection_destroy(coll);
    return ok;
}

/* One aggregation per class, sent on two connections at once. */
typedef struct {
    const sub_fo_dataset_t *src, *dst;
    const sub_sample_result_t *r;
} selection_t;

static bool select_class(sub_db_t *conn, void *job, size_t i, sub_error_t *err)
{
    const selection_t *s = job;
    mongoc_collection_t *from = mongoc_database_get_collection(conn->db, s->src->sample_collection);
    bool ok =
        copy_class(from, s->r->classes[i], s->r->per_class, s->r->take_multiplier, s->dst, err);
    mongoc_collection_destroy(from);
    return ok;
}

static bool select_samples(sub_db_t *db, const sub_fo_dataset_t *src, const sub_fo_dataset_t *dst,
                           sub_sample_result_t *r, sub_error_t *err)
{
    selection_t job = {src, dst, r};
    bool ok = sub_parallel_run(db, 2, r->nclasses, select_class, &job, err);
    if (ok) {
        mongoc_collection_t *to = mongoc_database_get_collection(db->db, dst->sample_collection);
        bson_t empty = BSON_INITIALIZER;
        bson_error_t be;
        r->samples = mongoc_collection_count_documents(to, &empty, NULL, NULL, NULL, &be);
        ok = r->samples >= 0 || sub_db_error(&be, "count the subset", err);
        mongoc_collection_destroy(to);
    }
    return ok;
}

static int64_t count_where(sub_db_t *db, const char *collection, const bson_t *filter,
                           sub_error_t *err)
{
    mongoc_collection_t *c = mongoc_database_get_collection(db->db, collection);
    bson_error_t be;
    int64_t n = mongoc_collection_count_documents(c, filter, NULL, NULL, NULL, &be);
    if (n < 0)
        sub_db_error(&be, "count", err);
    mongoc_collection_destroy(c);
    return n;
}

/* A subset made before with the same parameters is left as it is once it is complete, or
 * once fetch has worked on it (its backfill replaces dead samples: selecting again would
 * bring them back). One that is short and that fetch never touched (a sample stage that
 * was interrupted) is emptied and selected again. */
static bool keep_existing(sub_db_t *db, const sub_fo_dataset_t *dst, sub_sample_result_t *r,
                          sub_error_t *err)
{
    bson_t all = BSON_INITIALIZER;
    bson_t *mine = BCON_NEW("dataset", BCON_UTF8(dst->name));
    int64_t have = count_where(db, dst->sample_collection, &all, err);
    int64_t tasks = have < 0 ? -1 : count_where(db, SUB_FETCH_TASKS, mine, err);
    bson_destroy(mine);
    if (have < 0 || tasks < 0)
        return false;
    r->kept = have == (int64_t)r->nclasses * r->per_class || tasks > 0;
    if (r->kept)
        r->samples = have;
    return true;
}

static bool make_subset(sub_db_t *db, const sub_sample_opts_t *o, const sub_fo_dataset_t *src,
                        const bson_t *src_doc, sub_sample_result_t *r, sub_error_t *err)
{
    bson_t params = BSON_INITIALIZER;
    sub_fo_dataset_t dst = {0};
    bool exists = false;
    params_doc(o, r, &params);
    bool ok = check_existing(db, o, &params, &exists, err) &&
              create_subset(db, o, src_doc, &params, &dst, err) &&
              (!exists || o->overwrite || keep_existing(db, &dst, r, err));
    if (ok && !r->kept)
        ok = (!exists || clear_subset(db, &dst, err)) &&
             sub_label_create_index(db, dst.sample_collection, err) &&
             select_samples(db, src, &dst, r, err) && sub_fo_dataset_touch(db, &dst, err);
    if (ok)
        bson_oid_to_string(&dst.id, r->dataset_id);
    sub_fo_dataset_release(&dst);
    bson_destroy(&params);
    return ok;
}

bool sub_sample_run(sub_db_t *db, const sub_sample_opts_t *o, sub_sample_result_t *r,
                    sub_error_t *err)
{
    sub_fo_dataset_t src = {0};
    sub_class_counts_t counts = {0};
    bson_t src_doc;
    double start = sub_now();
    memset(r, 0, sizeof *r);
    if (strcmp(o->name, o->dataset) == 0)
        return sub_error_set(err, SUB_E_CONFIG, 0,
                             "--name %s is the source dataset itself; a subset needs a new name",
                             o->name);
    r->take_multiplier = sub_fiftyone_take_multiplier(o->seed);
    bool ok = sub_fo_dataset_open(db, o->dataset, &src, &src_doc, err) &&
              sub_survey_counts(db, src.sample_collection, &counts, err);
    if (ok && counts.len == 0)
        ok = sub_error_set(err, SUB_E_INFEASIBLE, 0,
                           "%s has no single-label samples: run `subsetter label single` first",
                           o->dataset);
    if (ok)
        ok = o->classes ? choose_listed(o, &counts, r, err) : choose_drawn(o, &counts, r, err);
    ok = ok && make_subset(db, o, &src, &src_doc, r, err);
    /* Every class had at least N samples when the counts were taken: a shortfall means
     * the source changed meanwhile (a concurrent label or ingest). */
    if (ok && !r->kept && r->samples != (int64_t)r->nclasses * r->per_class)
        ok = sub_error_set(err, SUB_E_INFEASIBLE, 0,
                           "%s holds %lld samples, not %zu x %lld: did %s change during the run?",
                           o->name, (long long)r->samples, r->nclasses, (long long)r->per_class,
                           o->dataset);
    bson_destroy(&src_doc);
    sub_class_counts_release(&counts);
    sub_fo_dataset_release(&src);
    r->seconds = sub_now() - start;
    return ok;
}

void sub_sample_result_release(sub_sample_result_t *r)
{
    sub_sample_free_names(r->classes, r->nclasses);
    r->classes = NULL;
    r->nclasses = 0;
}
