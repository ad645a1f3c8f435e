#define SUB_LOG_DOMAIN "label"
/* cmd_label.c - `subsetter label single`. */
#include <stdio.h>
#include <string.h>

#include "subsetter/cli.h"
#include "subsetter/label.h"
#include "subsetter/runs.h"

const char sub_label_usage[] =
    "usage: subsetter label single [--dataset NAME] [--json]\n\n"
    "Gives every sample with exactly one positive label a ground_truth Classification\n"
    "holding that label (its own ObjectId, the label, the confidence, no tags), and removes\n"
    "ground_truth from every other sample. Runs inside MongoDB as one update with an\n"
    "aggregation pipeline; a second run changes nothing. Default dataset:\n"
    "open-images-v7-full.\n";

const sub_option_t sub_label_options[] = {{"dataset", true}, {NULL, false}};

int sub_cmd_label(sub_cmd_ctx_t *ctx)
{
    const char *dataset = sub_kvlist_get(&ctx->opts, "dataset");
    sub_error_t err = {0};
    sub_db_t db = {0};
    sub_run_t run;
    sub_label_result_t res = {0};
    if (ctx->argc != 1 || strcmp(ctx->argv[0], "single") != 0)
        return sub_cli_usage(ctx, "expected the rule 'single'");
    if (!dataset)
        dataset = "open-images-v7-full";
    bson_t params = BSON_INITIALIZER, counts = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&params, "rule", "single");
    bool began = sub_cmd_begin(ctx, &db, "label", dataset, &params, &run, &err);
    bool ok =
        began && sub_label_single(&db, dataset, sub_config_get(&ctx->cfg, SUB_SET_FIFTYONE_VERSION),
                                  &res, &err);
    BSON_APPEND_INT64(&counts, "samples", res.samples);
    BSON_APPEND_INT64(&counts, "single_label", res.single_label);
    BSON_APPEND_INT64(&counts, "modified", res.modified);
    int rc = sub_cmd_end(ctx, &db, &run, began, ok, &counts, &err);
    if (ok && ctx->json) {
        bson_t doc = BSON_INITIALIZER;
        BSON_APPEND_BOOL(&doc, "ok", true);
        BSON_APPEND_UTF8(&doc, "dataset", dataset);
        BSON_APPEND_DOCUMENT(&doc, "counts", &counts);
        BSON_APPEND_DOUBLE(&doc, "seconds", res.seconds);
        sub_cli_print_json(&doc);
        bson_destroy(&doc);
    } else if (ok) {
        printf("dataset %s: %lld samples, %lld single-label (with ground_truth), %lld written "
               "by this run, %.1f s\n",
               dataset, (long long)res.samples, (long long)res.single_label,
               (long long)res.modified, res.seconds);
    }
    bson_destroy(&params);
    bson_destroy(&counts);
    return rc;
}
