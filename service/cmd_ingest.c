#define SUB_LOG_DOMAIN "ingest"
/* cmd_ingest.c - `subsetter ingest openimages`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "subsetter/cli.h"
#include "subsetter/db.h"
#include "subsetter/ingest.h"
#include "subsetter/log.h"
#include "subsetter/runs.h"
#include "subsetter/schema.h"

const char sub_ingest_usage[] =
    "usage: subsetter ingest openimages [--splits train,validation,test] [--source URL-or-DIR]\n"
    "                                   [--dataset NAME] [--max-bad-share F] [--batch-size N]\n"
    "                                   [--json]\n\n"
    "Loads the Open Images V7 metadata FiftyOne's zoo uses for label_types=\"classifications\"\n"
    "(boxable class names, hierarchy, image lists with rotation, human-verified image-level\n"
    "labels) into the FiftyOne dataset NAME (default open-images-v7-full): one sample per\n"
    "image, tags [split], positive_labels/negative_labels (Confidence > 0.1 is positive),\n"
    "FiftyOne's _rand, and the source fields the fetch stage needs. No image is downloaded.\n\n"
    "  --splits LIST        splits to ingest (default: all three)\n"
    "  --source URL-or-DIR  a mirror or local directory with the official relative paths\n"
    "                       (v5/..., 2018_04/...); default "
    "https://storage.googleapis.com/openimages/\n"
    "  --dataset NAME       the FiftyOne dataset to create or complete\n"
    "  --max-bad-share F    stop when more than this share of a file's rows is bad\n"
    "                       (default 0.01); bad rows below it are skipped and reported\n"
    "  --batch-size N       documents per bulk write (default 1000)\n"
    "  --writers N          bulk writes in flight at once, 1 to 8 (default 2)\n\n"
    "Idempotent: a split whose files are unchanged is skipped; a killed ingest resumes at\n"
    "its last checkpoint. Downloads go to SUBSETTER_CACHE_DIR/sources and resume too.\n"
    "Exit 13 when the input is unusable; see `subsetter --help` for the other codes.\n";

const sub_option_t sub_ingest_options[] = {
    {"splits", true},     {"source", true},  {"dataset", true}, {"max-bad-share", true},
    {"batch-size", true}, {"writers", true}, {NULL, false},
};

static bool parse_splits(const char *list, bool *splits)
{
    char *copy = strdup(list), *save = NULL;
    bool ok = copy != NULL;
    memset(splits, 0, SUB_OI__SPLITS * sizeof *splits);
    for (char *t = strtok_r(copy, ",", &save); ok && t; t = strtok_r(NULL, ",", &save)) {
        sub_oi_split_t sp;
        ok = sub_oi_split_parse(t, &sp);
        if (ok)
            splits[sp] = true;
    }
    free(copy);
    return ok;
}

static int parse_opts(sub_cmd_ctx_t *ctx, sub_ingest_opts_t *o)
{
    const char *v;
    int64_t n;
    memset(o, 0, sizeof *o);
    for (int i = 0; i < SUB_OI__SPLITS; i++)
        o->splits[i] = true;
    o->max_bad_share = 0.01;
    o->batch_size = 1000;
    o->writers = 2;
    o->quiet = ctx->quiet || ctx->json;
    o->progress_interval_ms = sub_config_int(&ctx->cfg, SUB_SET_PROGRESS_INTERVAL_MS);
    o->source = sub_kvlist_get(&ctx->opts, "source");
    o->dataset = sub_kvlist_get(&ctx->opts, "dataset");
    if ((v = sub_kvlist_get(&ctx->opts, "splits")) && !parse_splits(v, o->splits))
        return sub_cli_usage(ctx, "--splits: expected train, validation and/or test, got '%s'", v);
    if ((v = sub_kvlist_get(&ctx->opts, "max-bad-share"))) {
        char *end;
        o->max_bad_share = strtod(v, &end);
        if (*end || !(o->max_bad_share >= 0 && o->max_bad_share <= 1))
            return sub_cli_usage(ctx, "--max-bad-share: expected a number in [0, 1], got '%s'", v);
    }
    if ((v = sub_kvlist_get(&ctx->opts, "writers"))) {
        if (!sub_parse_int64(v, 1, 8, &n))
            return sub_cli_usage(ctx, "--writers: expected 1 to 8, got '%s'", v);
        o->writers = (int)n;
    }
    if ((v = sub_kvlist_get(&ctx->opts, "batch-size"))) {
        if (!sub_parse_int64(v, 1, 100000, &n))
            return sub_cli_usage(ctx, "--batch-size: expected 1 to 100000, got '%s'", v);
        o->batch_size = (size_t)n;
    }
    return -1;
}

static void params_bson(const sub_ingest_opts_t *o, bson_t *p)
{
    bson_t arr;
    char key[4];
    int k = 0;
    BSON_APPEND_UTF8(p, "source", o->source ? o->source : SUB_OI_DEFAULT_BASE);
    BSON_APPEND_ARRAY_BEGIN(p, "splits", &arr);
    for (int i = 0; i < SUB_OI__SPLITS; i++) {
        if (!o->splits[i])
            continue;
        snprintf(key, sizeof key, "%d", k++);
        BSON_APPEND_UTF8(&arr, key, sub_oi_split_name((sub_oi_split_t)i));
    }
    bson_append_array_end(p, &arr);
    BSON_APPEND_DOUBLE(p, "max_bad_share", o->max_bad_share);
    BSON_APPEND_INT64(p, "batch_size", (int64_t)o->batch_size);
    BSON_APPEND_INT32(p, "writers", o->writers);
}

static void summary(const sub_cmd_ctx_t *ctx, const char *name, const sub_ingest_result_t *r,
                    bson_t *counts)
{
    const sub_ingest_counts_t *t = &r->total;
    if (ctx->json) {
        bson_t doc = BSON_INITIALIZER, splits, one;
        BSON_APPEND_BOOL(&doc, "ok", true);
        BSON_APPEND_UTF8(&doc, "dataset", name);
        BSON_APPEND_UTF8(&doc, "dataset_id", r->dataset_id);
        BSON_APPEND_UTF8(&doc, "sample_collection", r->sample_collection);
        BSON_APPEND_DOCUMENT(&doc, "counts", counts);
        BSON_APPEND_DOCUMENT_BEGIN(&doc, "splits", &splits);
        for (int i = 0; i < SUB_OI__SPLITS; i++) {
            BSON_APPEND_DOCUMENT_BEGIN(&splits, sub_oi_split_name((sub_oi_split_t)i), &one);
            sub_ingest_counts_to_bson(&r->split[i], &one);
            bson_append_document_end(&splits, &one);
        }
        bson_append_document_end(&doc, &splits);
        BSON_APPEND_DOUBLE(&doc, "seconds", r->seconds);
        sub_cli_print_json(&doc);
        bson_destroy(&doc);
        return;
    }
    printf("dataset %s (%s, collection %s)\n", name, r->dataset_id, r->sample_collection);
    printf("  images %llu, label rows %llu (%llu positive, %llu negative)\n",
           (unsigned long long)t->images, (unsigned long long)t->label_rows,
           (unsigned long long)t->positives, (unsigned long long)t->negatives);
    printf("  rejected rows %llu, duplicate rows %llu, label rows of unknown images %llu, "
           "images without labels %llu\n",
           (unsigned long long)t->rejected_rows, (unsigned long long)t->duplicate_rows,
           (unsigned long long)t->orphan_label_rows, (unsigned long long)t->images_without_labels);
    printf("  %.1f s%s\n", r->seconds, t->skipped_splits ? " (unchanged splits skipped)" : "");
}

int sub_cmd_ingest(sub_cmd_ctx_t *ctx)
{
    sub_ingest_opts_t o;
    sub_error_t err = {0}, rec_err;
    sub_db_t db;
    sub_run_t run;
    sub_ingest_result_t res;
    int rc = parse_opts(ctx, &o);
    if (rc >= 0)
        return rc;
    if (ctx->argc != 1 || strcmp(ctx->argv[0], "openimages") != 0)
        return sub_cli_usage(ctx, "expected the source kind 'openimages'");
    if (!sub_db_open(&ctx->cfg, &db, &err))
        return sub_cli_fail(ctx, &err);
    const char *name = o.dataset ? o.dataset : SUB_OI_DEFAULT_DATASET;
    bson_t params = BSON_INITIALIZER, counts = BSON_INITIALIZER;
    params_bson(&o, &params);
    sub_schema_report_t rep = {0};
    bool ok = sub_schema_apply(&db, &rep, &err) &&
              sub_run_begin(&db, "ingest", name, &params, &run, &err);
    sub_schema_report_release(&rep);
    bool began = ok;
    ok = ok && sub_ingest_openimages(&db, &ctx->cfg, &o, &res, &err);
    if (began) {
        sub_ingest_counts_to_bson(&res.total, &counts);
        if (!sub_run_end(&db, &run, ok ? "done" : "failed", &counts, ok ? NULL : &err, &rec_err))
            SUB_LOG(SUB_LOG_WARN, "could not record the run: %s", rec_err.msg);
    }
    rc = ok ? 0 : sub_cli_fail(ctx, &err);
    if (ok)
        summary(ctx, name, &res, &counts);
    bson_destroy(&params);
    bson_destroy(&counts);
    sub_db_close(&db);
    return rc;
}
