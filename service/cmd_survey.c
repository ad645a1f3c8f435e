#define SUB_LOG_DOMAIN "survey"
/* cmd_survey.c - `subsetter survey`: the class-count table. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "subsetter/bsonutil.h"
#include "subsetter/cli.h"
#include "subsetter/fo_dataset.h"
#include "subsetter/progress.h"
#include "subsetter/runs.h"
#include "subsetter/survey.h"

const char sub_survey_usage[] =
    "usage: subsetter survey [--dataset NAME] [--num-classes 10,20,...] [--json|--csv]\n\n"
    "For each K, the largest number of samples per class a balanced K-class subset of the\n"
    "single-label samples can have (the K-th largest class count), and how many classes\n"
    "have at least that many. Needs `subsetter label single` first. Default K: 10, 20,\n"
    "..., 100; default dataset: open-images-v7-full.\n";

const sub_option_t sub_survey_options[] = {
    {"dataset", true}, {"num-classes", true}, {"csv", false}, {NULL, false}};

static bool parse_ks(const char *list, size_t *ks, size_t *n)
{
    char *copy = sub_xstrdup(list), *save = NULL;
    bool ok = true;
    *n = 0;
    for (char *t = strtok_r(copy, ",", &save); ok && t; t = strtok_r(NULL, ",", &save)) {
        int64_t k;
        ok = *n < 1000 && sub_parse_int64(t, 1, 100000, &k);
        if (ok)
            ks[(*n)++] = (size_t)k;
    }
    free(copy);
    return ok && *n > 0;
}

static void print_table(const sub_cmd_ctx_t *ctx, const sub_class_counts_t *c, const size_t *ks,
                        size_t nk, bson_t *rows)
{
    bool csv = sub_kvlist_get(&ctx->opts, "csv") != NULL;
    sub_bson_array_t keys = {.arr = rows};
    if (!ctx->json)
        printf(csv ? "num_classes,samples_per_class,eligible_classes\n"
                   : "# Classes | Samples per Class | Eligible classes\n"
                     "--------- | ----------------- | ----------------\n");
    for (size_t i = 0; i < nk; i++) {
        int64_t n = sub_survey_balanced(c, ks[i]);
        size_t eligible = n < 0 ? 0 : sub_survey_eligible(c, n);
        bson_t row;
        bson_append_document_begin(rows, sub_bson_array_next_key(&keys), -1, &row);
        BSON_APPEND_INT64(&row, "num_classes", (int64_t)ks[i]);
        if (n < 0)
            BSON_APPEND_NULL(&row, "samples_per_class");
        else
            BSON_APPEND_INT64(&row, "samples_per_class", n);
        BSON_APPEND_INT64(&row, "eligible_classes", (int64_t)eligible);
        bson_append_document_end(rows, &row);
        if (ctx->json)
            continue;
        char num[32] = "-";
        if (n >= 0)
            snprintf(num, sizeof num, "%lld", (long long)n);
        if (csv)
            printf("%zu,%s,%zu\n", ks[i], n < 0 ? "" : num, eligible);
        else
            printf("%9zu | %17s | %16zu\n", ks[i], num, eligible);
    }
}

int sub_cmd_survey(sub_cmd_ctx_t *ctx)
{
    const char *dataset = sub_kvlist_get(&ctx->opts, "dataset");
    const char *klist = sub_kvlist_get(&ctx->opts, "num-classes");
    size_t ks[1000], nk = 0;
    sub_error_t err = {0};
    sub_db_t db = {0};
    sub_run_t run;
    sub_fo_dataset_t ds = {0};
    sub_class_counts_t counts = {0};
    if (!dataset)
        dataset = "open-images-v7-full";
    if (!parse_ks(klist ? klist : "10,20,30,40,50,60,70,80,90,100", ks, &nk))
        return sub_cli_usage(ctx, "--num-classes: expected a comma list of positive integers");
    if (ctx->argc)
        return sub_cli_usage(ctx, "unexpected argument '%s'", ctx->argv[0]);
    bson_t params = BSON_INITIALIZER, rows = BSON_INITIALIZER, res = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&params, "num_classes", klist ? klist : "10..100");
    double start = sub_now();
    bool began = sub_cmd_begin(ctx, &db, "survey", dataset, &params, &run, &err);
    bool ok = began && sub_fo_dataset_open(&db, dataset, &ds, NULL, &err) &&
              sub_survey_counts(&db, ds.sample_collection, &counts, &err);
    if (ok && !ctx->json && !sub_kvlist_get(&ctx->opts, "csv"))
        printf("dataset %s: %zu classes with single-label samples\n\n", dataset, counts.len);
    if (ok)
        print_table(ctx, &counts, ks, nk, &rows);
    BSON_APPEND_INT64(&res, "classes", (int64_t)counts.len);
    BSON_APPEND_ARRAY(&res, "table", &rows);
    int rc = sub_cmd_end(ctx, &db, &run, began, ok, &res, &err);
    if (ok && ctx->json) {
        bson_t doc = BSON_INITIALIZER, cc;
        BSON_APPEND_BOOL(&doc, "ok", true);
        BSON_APPEND_UTF8(&doc, "dataset", dataset);
        BSON_APPEND_INT64(&doc, "classes", (int64_t)counts.len);
        BSON_APPEND_ARRAY(&doc, "table", &rows);
        BSON_APPEND_DOCUMENT_BEGIN(&doc, "class_counts", &cc);
        for (size_t i = 0; i < counts.len; i++)
            BSON_APPEND_INT64(&cc, counts.items[i].label, counts.items[i].count);
        bson_append_document_end(&doc, &cc);
        BSON_APPEND_DOUBLE(&doc, "seconds", sub_now() - start);
        sub_cli_print_json(&doc);
        bson_destroy(&doc);
    }
    sub_class_counts_release(&counts);
    sub_fo_dataset_release(&ds);
    bson_destroy(&params);
    bson_destroy(&rows);
    bson_destroy(&res);
    return rc;
}
