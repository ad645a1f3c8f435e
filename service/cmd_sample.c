#define SUB_LOG_DOMAIN "sample"
/* cmd_sample.c - `subsetter sample`: a balanced subset as a new FiftyOne dataset. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "subsetter/bsonutil.h"
#include "subsetter/cli.h"
#include "subsetter/runs.h"
#include "subsetter/sample.h"

const char sub_sample_usage[] =
    "usage: subsetter sample --name NAME (--num-classes K | --classes FILE-or-LIST)\n"
    "                        [--samples-per-class N] [--seed S] [--dataset SOURCE]\n"
    "                        [--allow-augment] [--overwrite] [--json]\n\n"
    "Creates the persistent FiftyOne dataset NAME with N single-label samples of each of K\n"
    "classes of SOURCE (default open-images-v7-full; run `subsetter label single` first).\n\n"
    "  --classes FILE-or-LIST  the classes: a published stats JSON ({\"classes\": {...}}), a\n"
    "                          JSON array, a text file (one name per line) or a comma list;\n"
    "                          without it, K classes are drawn with the seed from those with\n"
    "                          at least N samples, ordered by count (descending) then name,\n"
    "                          as Python's random.Random(S).sample(eligible, K)\n"
    "  --samples-per-class N   default: the largest balanced size (the K-th largest count)\n"
    "  --seed S                default 42; within a class the samples are FiftyOne's\n"
    "                          take(N, seed=S), exactly\n"
    "  --allow-augment         when N is more than the classes allow, take the largest\n"
    "                          size and record num_augments = ceil(N / largest) - 1\n"
    "  --overwrite             replace an existing NAME made with other parameters\n\n"
    "Exit 14 when the data cannot satisfy the request; the message gives the largest N.\n";

const sub_option_t sub_sample_options[] = {
    {"name", true}, {"num-classes", true}, {"classes", true},        {"samples-per-class", true},
    {"seed", true}, {"dataset", true},     {"allow-augment", false}, {"overwrite", false},
    {NULL, false}};

static int parse_opts(sub_cmd_ctx_t *ctx, sub_sample_opts_t *o)
{
    const char *v;
    int64_t n;
    memset(o, 0, sizeof *o);
    o->dataset = sub_kvlist_get(&ctx->opts, "dataset");
    if (!o->dataset)
        o->dataset = "open-images-v7-full";
    o->classes = sub_kvlist_get(&ctx->opts, "classes");
    o->allow_augment = sub_kvlist_get(&ctx->opts, "allow-augment") != NULL;
    o->overwrite = sub_kvlist_get(&ctx->opts, "overwrite") != NULL;
    o->seed = 42;
    o->fiftyone_version = sub_config_get(&ctx->cfg, SUB_SET_FIFTYONE_VERSION);
    int rc = sub_cli_require(ctx, "name", &o->name);
    if (rc >= 0)
        return rc;
    if ((v = sub_kvlist_get(&ctx->opts, "num-classes"))) {
        if (!sub_parse_int64(v, 1, 100000, &n))
            return sub_cli_usage(ctx, "--num-classes: expected 1 to 100000, got '%s'", v);
        o->num_classes = (size_t)n;
    }
    if (!o->num_classes && !o->classes)
        return sub_cli_usage(ctx, "give --num-classes or --classes");
    if ((v = sub_kvlist_get(&ctx->opts, "samples-per-class")) &&
        !sub_parse_int64(v, 1, INT64_MAX / 2, &o->samples_per_class))
        return sub_cli_usage(ctx, "--samples-per-class: expected a positive integer, got '%s'", v);
    if ((v = sub_kvlist_get(&ctx->opts, "seed")) &&
        !sub_parse_int64(v, INT64_MIN + 1, INT64_MAX, &o->seed))
        return sub_cli_usage(ctx, "--seed: expected an integer, got '%s'", v);
    return -1;
}

static void counts_doc(const sub_sample_result_t *r, bson_t *c)
{
    bson_t arr;
    sub_bson_array_t keys = {.arr = &arr};
    BSON_APPEND_INT64(c, "num_classes", (int64_t)r->nclasses);
    BSON_APPEND_INT64(c, "samples_per_class", r->per_class);
    BSON_APPEND_INT64(c, "feasible_samples_per_class", r->feasible);
    BSON_APPEND_INT64(c, "num_augments", r->num_augments);
    BSON_APPEND_INT64(c, "eligible_classes", (int64_t)r->eligible);
    BSON_APPEND_INT64(c, "take_multiplier", r->take_multiplier);
    BSON_APPEND_INT64(c, "samples", r->samples);
    BSON_APPEND_ARRAY_BEGIN(c, "classes", &arr);
    for (size_t i = 0; i < r->nclasses; i++)
        bson_append_utf8(&arr, sub_bson_array_next_key(&keys), -1, r->classes[i], -1);
    bson_append_array_end(c, &arr);
}

static void params_doc(const sub_sample_opts_t *o, bson_t *p)
{
    BSON_APPEND_UTF8(p, "dataset", o->dataset);
    BSON_APPEND_UTF8(p, "name", o->name);
    BSON_APPEND_INT64(p, "num_classes", (int64_t)o->num_classes);
    BSON_APPEND_INT64(p, "samples_per_class", o->samples_per_class);
    BSON_APPEND_INT64(p, "seed", o->seed);
    if (o->classes)
        BSON_APPEND_UTF8(p, "classes", o->classes);
    BSON_APPEND_BOOL(p, "allow_augment", o->allow_augment);
}

static void summary(const sub_cmd_ctx_t *ctx, const sub_sample_opts_t *o,
                    const sub_sample_result_t *r, const bson_t *counts)
{
    if (ctx->json) {
        bson_t doc = BSON_INITIALIZER;
        BSON_APPEND_BOOL(&doc, "ok", true);
        BSON_APPEND_UTF8(&doc, "dataset", o->name);
        BSON_APPEND_UTF8(&doc, "dataset_id", r->dataset_id);
        BSON_APPEND_DOCUMENT(&doc, "counts", counts);
        BSON_APPEND_DOUBLE(&doc, "seconds", r->seconds);
        sub_cli_print_json(&doc);
        bson_destroy(&doc);
        return;
    }
    printf("dataset %s (%s): %zu classes x %lld samples = %lld samples, seed %lld%s\n", o->name,
           r->dataset_id, r->nclasses, (long long)r->per_class, (long long)r->samples,
           (long long)o->seed, r->kept ? " (made before with these parameters: kept)" : "");
    if (r->num_augments)
        printf("  %lld samples per class asked, %lld possible: num_augments = %lld\n",
               (long long)o->samples_per_class, (long long)r->feasible, (long long)r->num_augments);
    printf("  %.1f s\n", r->seconds);
}

int sub_cmd_sample(sub_cmd_ctx_t *ctx)
{
    sub_sample_opts_t o;
    sub_sample_result_t r = {0};
    sub_error_t err = {0};
    sub_db_t db = {0};
    sub_run_t run;
    int rc = parse_opts(ctx, &o);
    if (rc >= 0)
        return rc;
    if (ctx->argc)
        return sub_cli_usage(ctx, "unexpected argument '%s'", ctx->argv[0]);
    bson_t params = BSON_INITIALIZER, counts = BSON_INITIALIZER;
    params_doc(&o, &params);
    bool began = sub_cmd_begin(ctx, &db, "sample", o.name, &params, &run, &err);
    bool ok = began && sub_sample_run(&db, &o, &r, &err);
    counts_doc(&r, &counts);
    rc = sub_cmd_end(ctx, &db, &run, began, ok, &counts, &err);
    if (ok)
        summary(ctx, &o, &r, &counts);
    sub_sample_result_release(&r);
    bson_destroy(&params);
    bson_destroy(&counts);
    return rc;
}
