#define SUB_LOG_DOMAIN "export"
/* cmd_export.c - `subsetter export`: a dataset as an ImageFolder tree or a manifest. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "subsetter/bsonutil.h"
#include "subsetter/cli.h"
#include "subsetter/config.h"
#include "subsetter/export.h"
#include "subsetter/progress.h"
#include "subsetter/runs.h"
#include "subsetter/settings.h"

const char sub_export_usage[] =
    "usage: subsetter export --dataset D --format imagefolder|manifest|npz --out DIR\n"
    "                        [--mode copy|hardlink|symlink] [--splits 0.7,0.1,0.2]\n"
    "                        [--seed 42] [--json]\n\n"
    "  imagefolder  FiftyOne's ImageClassificationDirectoryTree: DIR/<label>/<basename> from\n"
    "               ground_truth.label, samples without one in DIR/_unlabeled; samples are\n"
    "               met in _id order, the 2nd, 3rd... file of a name in a class becomes\n"
    "               name-2.ext, name-3.ext. Labels are made safe folder names (the mapping\n"
    "               is in DIR/labels.json and DIR/labels.csv). Files already in place are\n"
    "               kept, so a second run changes nothing and an interrupted one resumes.\n"
    "  manifest     DIR/manifest.csv (RFC 4180) and DIR/manifest.jsonl: image_id, label,\n"
    "               path (in the imagefolder layout), sha256, width, height, size,\n"
    "               source_url, license, author\n"
    "  npz          DIR/<dataset>_cls.npz in the imagenet-subset layout: X_<split> uint8\n"
    "               (N,224,224,3) (RGB, shorter side resized to 256 with Pillow's bilinear\n"
    "               filter, centre crop 224), y_<split> int32, <split>_id (image ids), for\n"
    "               train, val and test; DIR/<dataset>_cls_metadata.csv (subset_label,\n"
    "               original_label, label_id, human_label). Written as a stream.\n"
    "  --mode       copy (default), hardlink or symlink (imagefolder only)\n"
    "  --splits     train,val,test fractions: DIR/splits/{train,val,test}.csv, stratified\n"
    "               as scikit-learn's train_test_split sizes them (npz: default\n"
    "               0.7,0.1,0.2)\n"
    "  --seed       the split's seed (default 42)\n\n"
    "Exit 16 when some samples' media files are missing (they are counted and listed).\n";

const sub_option_t sub_export_options[] = {{"dataset", true}, {"format", true}, {"out", true},
                                           {"mode", true},    {"splits", true}, {"seed", true},
                                           {NULL, false}};

static int parse_opts(sub_cmd_ctx_t *ctx, sub_export_opts_t *o)
{
    const char *f = sub_kvlist_get(&ctx->opts, "format");
    const char *m = sub_kvlist_get(&ctx->opts, "mode");
    memset(o, 0, sizeof *o);
    int rc;
    if ((rc = sub_cli_require(ctx, "dataset", &o->dataset)) >= 0 ||
        (rc = sub_cli_require(ctx, "out", &o->out)) >= 0)
        return rc;
    const char *seed = sub_kvlist_get(&ctx->opts, "seed");
    if (!f)
        return sub_cli_usage(ctx, "--format is required (imagefolder, manifest or npz)");
    if (strcmp(f, "imagefolder") == 0)
        o->format = SUB_EXPORT_IMAGEFOLDER;
    else if (strcmp(f, "manifest") == 0)
        o->format = SUB_EXPORT_MANIFEST;
    else if (strcmp(f, "npz") == 0)
        o->format = SUB_EXPORT_NPZ;
    else
        return sub_cli_usage(ctx, "--format: expected imagefolder, manifest or npz, got '%s'", f);
    o->splits = sub_kvlist_get(&ctx->opts, "splits");
    o->seed = 42;
    if (seed && !sub_parse_int64(seed, INT64_MIN, INT64_MAX, &o->seed))
        return sub_cli_usage(ctx, "--seed: expected an integer, got '%s'", seed);
    sub_split_fractions_t fr;
    sub_error_t e;
    if (o->splits && !sub_splits_parse(o->splits, &fr, &e))
        return sub_cli_usage(ctx, "--splits: %s", e.msg);
    if (!m || strcmp(m, "copy") == 0)
        o->mode = SUB_EXPORT_COPY;
    else if (strcmp(m, "hardlink") == 0)
        o->mode = SUB_EXPORT_HARDLINK;
    else if (strcmp(m, "symlink") == 0)
        o->mode = SUB_EXPORT_SYMLINK;
    else
        return sub_cli_usage(ctx, "--mode: expected copy, hardlink or symlink, got '%s'", m);
    return -1;
}

static const char *format_name(const sub_export_opts_t *o)
{
    static const char *const names[] = {"imagefolder", "manifest", "npz"};
    return names[o->format];
}

static const char *mode_name(const sub_export_opts_t *o)
{
    static const char *const names[] = {"copy", "hardlink", "symlink"};
    return names[o->mode];
}

static void params_doc(const sub_export_opts_t *o, bson_t *p)
{
    BSON_APPEND_UTF8(p, "dataset", o->dataset);
    BSON_APPEND_UTF8(p, "format", format_name(o));
    BSON_APPEND_UTF8(p, "out", o->out);
    BSON_APPEND_UTF8(p, "mode", mode_name(o));
    if (o->splits)
        BSON_APPEND_UTF8(p, "splits", o->splits);
    BSON_APPEND_INT64(p, "seed", o->seed);
}

static void counts_doc(const sub_export_plan_t *plan, const sub_export_result_t *r, bson_t *c)
{
    bson_t arr, labels;
    sub_bson_array_t keys = {.arr = &arr};
    BSON_APPEND_INT64(c, "samples", r->samples);
    BSON_APPEND_INT64(c, "exported", r->exported);
    BSON_APPEND_INT64(c, "skipped_existing", r->skipped_existing);
    BSON_APPEND_INT64(c, "missing", r->missing);
    BSON_APPEND_INT64(c, "unlabeled", r->unlabeled);
    if (r->split) {
        bson_t sp;
        BSON_APPEND_DOCUMENT_BEGIN(c, "splits", &sp);
        for (int k = 0; k < 3; k++)
            BSON_APPEND_INT64(&sp, sub_export_split_names[k], r->split_n[k]);
        bson_append_document_end(c, &sp);
    }
    BSON_APPEND_ARRAY_BEGIN(c, "missing_paths", &arr);
    for (size_t i = 0; i < r->n_missing_paths; i++)
        bson_append_utf8(&arr, sub_bson_array_next_key(&keys), -1, r->missing_paths[i], -1);
    bson_append_array_end(c, &arr);
    /* A list, not a document keyed by label: labels may hold "." or start with "$". */
    keys.n = 0;
    BSON_APPEND_ARRAY_BEGIN(c, "per_label", &labels);
    keys.arr = &labels;
    for (size_t i = 0; i < plan->nclasses; i++) {
        bson_t e;
        bson_append_document_begin(&labels, sub_bson_array_next_key(&keys), -1, &e);
        if (plan->classes[i].label)
            BSON_APPEND_UTF8(&e, "label", plan->classes[i].label);
        else
            BSON_APPEND_NULL(&e, "label");
        BSON_APPEND_UTF8(&e, "folder", plan->classes[i].folder);
        BSON_APPEND_INT64(&e, "count", plan->classes[i].count);
        bson_append_document_end(&labels, &e);
    }
    bson_append_array_end(c, &labels);
}

static void summary(const sub_export_opts_t *o, const sub_export_result_t *r)
{
    printf("export %s (%s, %s) to %s: %lld samples, %lld written, %lld already in place, "
           "%lld missing, %.1f s\n",
           o->dataset, format_name(o), mode_name(o), o->out, (long long)r->samples,
           (long long)r->exported, (long long)r->skipped_existing, (long long)r->missing,
           r->seconds);
    if (r->split)
        printf("  splits: %lld train, %lld val, %lld test (%s/splits/)%s\n",
               (long long)r->split_n[0], (long long)r->split_n[1], (long long)r->split_n[2], o->out,
               r->unlabeled ? "; samples without a label left out" : "");
    for (size_t i = 0; i < r->n_missing_paths; i++)
        printf("  missing: %s\n", r->missing_paths[i]);
}

static void start_progress(const sub_cmd_ctx_t *ctx, const char *what, int64_t total,
                           sub_progress_t *p)
{
    sub_progress_init_items(p, what, total, "samples", ctx->quiet || ctx->json,
                            sub_config_int(&ctx->cfg, SUB_SET_PROGRESS_INTERVAL_MS));
}

/* The split lists (and, for npz, the archive) of the labelled samples whose media exist. */
static bool run_splits(const sub_cmd_ctx_t *ctx, const sub_export_opts_t *o,
                       const sub_export_plan_t *plan, sub_export_result_t *r, sub_error_t *err)
{
    sub_split_fractions_t f;
    sub_export_splits_t s = {0};
    sub_export_result_t scratch = {0};
    bool npz = o->format == SUB_EXPORT_NPZ;
    /* The other formats have noted the missing files already. */
    bool *present = sub_export_present(plan, npz ? r : &scratch);
    for (size_t i = 0; i < plan->n; i++)
        r->unlabeled += plan->classes[plan->items[i].cls].y < 0;
    bool ok = sub_splits_parse(o->splits ? o->splits : "0.7,0.1,0.2", &f, err) &&
              sub_export_splits(plan, present, &f, o->seed, &s, err) &&
              sub_export_write_splits(plan, &s, o->out, err);
    for (int k = 0; ok && k < 3; k++)
        r->split_n[k] = (int64_t)s.part[k].n;
    r->split = ok;
    if (ok && npz) {
        sub_progress_t p;
        sub_export_npz_opts_t no = {.progress = &p};
        start_progress(ctx, "export npz", (int64_t)(s.part[0].n + s.part[1].n + s.part[2].n), &p);
        ok = sub_export_npz(plan, &s, o->dataset, o->out, &no, r, err);
        sub_progress_done(&p);
    }
    free(present);
    sub_export_result_release(&scratch);
    sub_export_splits_release(&s);
    return ok;
}

static bool run_export(const sub_cmd_ctx_t *ctx, sub_db_t *db, const sub_export_opts_t *o,
                       sub_export_plan_t *plan, sub_export_result_t *r, sub_error_t *err)
{
    if (!sub_export_plan_build(db, o->dataset, o->format == SUB_EXPORT_MANIFEST, plan, err))
        return false;
    r->samples = (int64_t)plan->n;
    bool ok = true;
    sub_progress_t p;
    if (o->format != SUB_EXPORT_NPZ)
        start_progress(ctx, o->format == SUB_EXPORT_MANIFEST ? "export manifest" : "export",
                       (int64_t)plan->n, &p);
    if (o->format == SUB_EXPORT_MANIFEST)
        ok = sub_export_manifest(plan, o->out, &p, r, err);
    else if (o->format == SUB_EXPORT_IMAGEFOLDER)
        ok = sub_export_imagefolder(plan, o->out, o->mode, &p, r, err) &&
             sub_export_write_labels(plan, o->dataset, o->out, err);
    if (o->format != SUB_EXPORT_NPZ)
        sub_progress_done(&p);
    if (ok && (o->splits || o->format == SUB_EXPORT_NPZ))
        ok = sub_mkdir_p(o->out, err) && run_splits(ctx, o, plan, r, err);
    return ok;
}

int sub_cmd_export(sub_cmd_ctx_t *ctx)
{
    sub_export_opts_t o;
    sub_export_plan_t plan = {0};
    sub_export_result_t r = {0};
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
    double t0 = sub_now();
    bool began = sub_cmd_begin(ctx, &db, "export", o.dataset, &params, &run, &err);
    bool ok = began && run_export(ctx, &db, &o, &plan, &r, &err);
    r.seconds = sub_now() - t0;
    if (ok && r.missing)
        ok = sub_error_set(&err, SUB_E_INCOMPLETE, 0,
                           "%s: %lld of %lld samples have no media file (first: %s)", o.dataset,
                           (long long)r.missing, (long long)r.samples, r.missing_paths[0]);
    counts_doc(&plan, &r, &counts);
    /* One JSON object either way: the counts matter most when media are missing. */
    rc = sub_cmd_end_own_json(ctx, &db, &run, began, ok, &counts, &err);
    if (ctx->json) {
        bson_t doc = BSON_INITIALIZER;
        if (!ok)
            sub_cli_append_error(&doc, &err);
        else
            BSON_APPEND_BOOL(&doc, "ok", true);
        BSON_APPEND_BOOL(&doc, "complete", ok);
        BSON_APPEND_UTF8(&doc, "dataset", o.dataset);
        BSON_APPEND_UTF8(&doc, "format", format_name(&o));
        BSON_APPEND_UTF8(&doc, "mode", mode_name(&o));
        BSON_APPEND_UTF8(&doc, "out", o.out);
        BSON_APPEND_DOCUMENT(&doc, "counts", &counts);
        BSON_APPEND_DOUBLE(&doc, "seconds", r.seconds);
        sub_cli_print_json(&doc);
        bson_destroy(&doc);
    } else if (!ctx->json && (ok || r.missing))
        summary(&o, &r);
    sub_export_plan_release(&plan);
    sub_export_result_release(&r);
    bson_destroy(&params);
    bson_destroy(&counts);
    return rc;
}
