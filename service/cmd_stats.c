#define SUB_LOG_DOMAIN "stats"
/* cmd_stats.c - `subsetter stats`: the subset's stats JSON (mean/std, average size, class
 * counts) with the reference's keys, plus what makes it reproducible. */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "subsetter/bsonutil.h"
#include "subsetter/cli.h"
#include "subsetter/config.h"
#include "subsetter/export.h"
#include "subsetter/fo_dataset.h"
#include "subsetter/progress.h"
#include "subsetter/runs.h"
#include "subsetter/settings.h"
#include "subsetter/stats.h"
#include "subsetter/strutil.h"
#include "subsetter/version.h"

const char sub_stats_usage[] =
    "usage: subsetter stats --dataset D [--out FILE] [--resize 224] [--exact|--fast] [--json]\n"
    "       subsetter stats --images DIR-or-LIST [--out FILE] [--resize R] [--exact|--fast]\n\n"
    "The subset's statistics as the reference generator defines them: every image converted\n"
    "to RGB and resized to RxR (Pillow's antialiased bilinear, as torchvision's Resize on a\n"
    "PIL image), per channel the mean and the unbiased standard deviation of its values in\n"
    "[0, 1], averaged over the images. avg_width/avg_height come from the samples' metadata\n"
    "(FiftyOne's oriented size). The JSON (to FILE, and on stdout with --json) has the\n"
    "reference's keys args, num_augments, mean, std, avg_width, avg_height, num_samples,\n"
    "classes ({label: count}), and seed, class_list, source files with their sha256,\n"
    "versions, failures.\n\n"
    "  --exact   decode at full size: equals Pillow + numpy (default)\n"
    "  --fast    let libjpeg-turbo scale down while decoding (see the README for its error)\n"
    "  --images  no database: the JPEGs of a directory (recursively, sorted) or of a file\n"
    "            listing one path per line\n\n"
    "Uses every CPU. Images that cannot be read or decoded are left out and listed; the\n"
    "file is still written, and the exit code is 16.\n";

const sub_option_t sub_stats_options[] = {{"dataset", true}, {"images", true}, {"out", true},
                                          {"resize", true},  {"exact", false}, {"fast", false},
                                          {NULL, false}};

typedef struct {
    const char *dataset, *images, *out;
    sub_stats_opts_t stats;
} opts_t;

/* The inputs: normalized paths and the metadata sizes (-1 unknown). */
typedef struct {
    char **paths;
    int64_t *width, *height;
    size_t n, cap;
} inputs_t;

static void inputs_add(inputs_t *in, char *path, int64_t w, int64_t h)
{
    if (in->n == in->cap) {
        in->cap = in->cap ? 2 * in->cap : 256;
        in->paths = sub_xrealloc(in->paths, in->cap * sizeof *in->paths);
        in->width = sub_xrealloc(in->width, in->cap * sizeof *in->width);
        in->height = sub_xrealloc(in->height, in->cap * sizeof *in->height);
    }
    in->paths[in->n] = path;
    in->width[in->n] = w;
    in->height[in->n] = h;
    in->n++;
}

static void inputs_release(inputs_t *in)
{
    for (size_t i = 0; i < in->n; i++)
        free(in->paths[i]);
    free(in->paths);
    free(in->width);
    free(in->height);
    memset(in, 0, sizeof *in);
}

static int parse_opts(sub_cmd_ctx_t *ctx, opts_t *o)
{
    const char *resize = sub_kvlist_get(&ctx->opts, "resize");
    bool fast = sub_kvlist_get(&ctx->opts, "fast") != NULL;
    int64_t r = 224;
    memset(o, 0, sizeof *o);
    o->dataset = sub_kvlist_get(&ctx->opts, "dataset");
    o->images = sub_kvlist_get(&ctx->opts, "images");
    o->out = sub_kvlist_get(&ctx->opts, "out");
    if (!o->dataset == !o->images)
        return sub_cli_usage(ctx, "give either --dataset or --images");
    if (fast && sub_kvlist_get(&ctx->opts, "exact"))
        return sub_cli_usage(ctx, "--exact and --fast exclude each other");
    if (resize && !sub_parse_int64(resize, 1, 4096, &r))
        return sub_cli_usage(ctx, "--resize: expected an integer in 1..4096, got '%s'", resize);
    if (ctx->argc)
        return sub_cli_usage(ctx, "unexpected argument '%s'", ctx->argv[0]);
    o->stats.resize = (int)r;
    o->stats.mode = fast ? SUB_STATS_FAST : SUB_STATS_EXACT;
    o->stats.quiet = ctx->quiet || ctx->json;
    o->stats.progress_interval_ms = sub_config_int(&ctx->cfg, SUB_SET_PROGRESS_INTERVAL_MS);
    return -1;
}

/* ---- inputs without a database ---------------------------------------------------------- */

static bool is_jpeg_name(const char *name)
{
    const char *dot = strrchr(name, '.');
    return dot && (strcasecmp(dot, ".jpg") == 0 || strcasecmp(dot, ".jpeg") == 0 ||
                   strcasecmp(dot, ".jpe") == 0 || strcasecmp(dot, ".jfif") == 0);
}

static bool walk(const char *dir, inputs_t *in, sub_error_t *err)
{
    struct dirent **ents = NULL;
    int n = scandir(dir, &ents, NULL, alphasort);
    if (n < 0)
        return sub_error_set(err, SUB_E_IO, errno, "read directory %s: %s", dir, strerror(errno));
    bool ok = true;
    for (int i = 0; i < n; i++) {
        const char *name = ents[i]->d_name;
        char *path = name[0] == '.' ? NULL : sub_path_join(dir, name);
        struct stat st;
        if (ok && path && stat(path, &st) == 0 && S_ISDIR(st.st_mode))
            ok = walk(path, in, err);
        else if (path && S_ISREG(st.st_mode) && is_jpeg_name(name)) {
            inputs_add(in, path, -1, -1);
            path = NULL;
        }
        free(path);
        free(ents[i]);
    }
    free(ents);
    return ok;
}

static bool read_list(const char *file, inputs_t *in, sub_error_t *err)
{
    sub_buf_t b = SUB_BUF_INIT;
    char *save = NULL;
    if (!sub_buf_read_file(&b, file, err))
        return false;
    for (char *line = b.data ? strtok_r(b.data, "\r\n", &save) : NULL; line;
         line = strtok_r(NULL, "\r\n", &save))
        if (*line)
            inputs_add(in, sub_fo_normalize_path(line), -1, -1);
    sub_buf_release(&b);
    return true;
}

static bool images_inputs(const char *images, inputs_t *in, sub_error_t *err)
{
    struct stat st;
    if (stat(images, &st) != 0)
        return sub_error_set(err, SUB_E_IO, errno, "%s: %s", images, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return read_list(images, in, err);
    char *root = sub_fo_normalize_path(images);
    bool ok = walk(root, in, err);
    free(root);
    return ok; /* in path order: scandir sorts each directory */
}

/* ---- inputs from the dataset ------------------------------------------------------------- */

static void plan_inputs(const sub_export_plan_t *plan, inputs_t *in)
{
    for (size_t i = 0; i < plan->n; i++) {
        const sub_export_item_t *it = &plan->items[i];
        inputs_add(in, sub_fo_normalize_path(it->src), it->width, it->height);
    }
}

/* ---- the stats document ------------------------------------------------------------------ */

static void append_triple(bson_t *doc, const char *key, const double v[3])
{
    bson_t arr;
    BSON_APPEND_ARRAY_BEGIN(doc, key, &arr);
    for (int c = 0; c < 3; c++) {
        char k[2] = {(char)('0' + c), '\0'};
        if (isnan(v[c]))
            bson_append_null(&arr, k, -1);
        else
            bson_append_double(&arr, k, -1, v[c]);
    }
    bson_append_array_end(doc, &arr);
}

static void append_number(bson_t *doc, const char *key, double v)
{
    if (isnan(v))
        BSON_APPEND_NULL(doc, key);
    else
        BSON_APPEND_DOUBLE(doc, key, v);
}

/* The sample parameters the subset was made with (info.subsetter_sample), if any. */
static bool sample_params(const bson_t *ds_doc, bson_t *params)
{
    bson_t info;
    return ds_doc && sub_bson_get_doc(ds_doc, "info", &info) &&
           sub_bson_get_doc(&info, "subsetter_sample", params);
}

static int64_t param_int(const bson_t *p, const char *key, int64_t def)
{
    bson_iter_t it;
    return p && bson_iter_init_find(&it, p, key) && BSON_ITER_HOLDS_NUMBER(&it)
               ? bson_iter_as_int64(&it)
               : def;
}

static void append_args(bson_t *doc, const opts_t *o, const bson_t *p)
{
    bson_t args;
    BSON_APPEND_DOCUMENT_BEGIN(doc, "args", &args);
    if (o->dataset)
        BSON_APPEND_UTF8(&args, "dataset", o->dataset);
    if (p) { /* the reference's names for the sample parameters */
        const char *src = sub_bson_get_str(p, "source_dataset");
        if (src)
            BSON_APPEND_UTF8(&args, "source_dataset", src);
        BSON_APPEND_INT64(&args, "num_classes", param_int(p, "num_classes", 0));
        BSON_APPEND_INT64(&args, "samples_per_class", param_int(p, "samples_per_class", 0));
        BSON_APPEND_INT64(&args, "random_seed", param_int(p, "seed", 0));
    }
    BSON_APPEND_BOOL(&args, "calculate_normalization_constants", true);
    BSON_APPEND_BOOL(&args, "calculate_dataset_resolution", true);
    BSON_APPEND_INT32(&args, "normalization_resize_dim", o->stats.resize);
    BSON_APPEND_UTF8(&args, "mode", o->stats.mode == SUB_STATS_FAST ? "fast" : "exact");
    bson_append_document_end(doc, &args);
}

/* classes: {label: count}, as the reference writes it, in the subset's class order (y of
 * the NPZ export); class_list: the same labels as a list. */
static void append_classes(bson_t *doc, const sub_export_plan_t *plan)
{
    bson_t counts, list;
    sub_bson_array_t keys = {.arr = &list};
    BSON_APPEND_DOCUMENT_BEGIN(doc, "classes", &counts);
    for (size_t y = 0; y < plan->nlabels; y++) {
        const sub_export_class_t *c = &plan->classes[plan->by_y[y]];
        BSON_APPEND_INT64(&counts, c->label, c->count);
    }
    bson_append_document_end(doc, &counts);
    BSON_APPEND_ARRAY_BEGIN(doc, "class_list", &list);
    for (size_t y = 0; y < plan->nlabels; y++)
        bson_append_utf8(&list, sub_bson_array_next_key(&keys), -1,
                         plan->classes[plan->by_y[y]].label, -1);
    bson_append_array_end(doc, &list);
}

/* The source files the full dataset was ingested from, with their checksums. */
static bool append_sources(bson_t *doc, sub_db_t *db, const char *source_dataset, sub_error_t *err)
{
    bson_t arr;
    sub_bson_array_t keys = {.arr = &arr};
    bson_error_t be;
    const bson_t *src;
    BSON_APPEND_ARRAY_BEGIN(doc, "sources", &arr);
    mongoc_collection_t *c = mongoc_database_get_collection(db->db, "subsetter.sources");
    bson_t *filter = BCON_NEW("dataset", BCON_UTF8(source_dataset));
    bson_t *opts = BCON_NEW("sort", "{", "url", BCON_INT32(1), "}", "projection", "{", "_id",
                            BCON_BOOL(false), "url", BCON_BOOL(true), "split", BCON_BOOL(true),
                            "sha256", BCON_BOOL(true), "size", BCON_BOOL(true), "}");
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(c, filter, opts, NULL);
    while (mongoc_cursor_next(cur, &src))
        bson_append_document(&arr, sub_bson_array_next_key(&keys), -1, src);
    bool ok = !mongoc_cursor_error(cur, &be) || sub_db_error(&be, "read subsetter.sources", err);
    mongoc_cursor_destroy(cur);
    bson_destroy(filter);
    bson_destroy(opts);
    mongoc_collection_destroy(c);
    bson_append_array_end(doc, &arr);
    return ok;
}

static void append_failures(bson_t *doc, const sub_stats_result_t *r)
{
    bson_t arr;
    sub_bson_array_t keys = {.arr = &arr};
    BSON_APPEND_INT64(doc, "num_failed", r->failed);
    BSON_APPEND_ARRAY_BEGIN(doc, "failures", &arr);
    for (size_t i = 0; i < r->nfailures; i++) {
        bson_t f;
        bson_append_document_begin(&arr, sub_bson_array_next_key(&keys), -1, &f);
        BSON_APPEND_UTF8(&f, "path", r->failures[i].path);
        BSON_APPEND_UTF8(&f, "reason", r->failures[i].reason);
        bson_append_document_end(&arr, &f);
    }
    bson_append_array_end(doc, &arr);
}

static void append_versions(bson_t *doc, const sub_db_t *db)
{
    bson_t v;
    BSON_APPEND_DOCUMENT_BEGIN(doc, "versions", &v);
    BSON_APPEND_UTF8(&v, "subsetter", SUBSETTER_VERSION);
    if (db && db->server_version[0])
        BSON_APPEND_UTF8(&v, "mongodb", db->server_version);
    bson_append_document_end(doc, &v);
}

typedef struct {
    const opts_t *o;
    sub_db_t *db; /* NULL with --images */
    const sub_export_plan_t *plan;
    const bson_t *ds_doc;
    const sub_stats_result_t *r;
} report_t;

static bool build_doc(const report_t *rp, bson_t *doc, sub_error_t *err)
{
    const sub_stats_result_t *r = rp->r;
    bson_t params;
    const bson_t *p = sample_params(rp->ds_doc, &params) ? &params : NULL;
    append_args(doc, rp->o, p);
    BSON_APPEND_INT64(doc, "num_augments", param_int(p, "num_augments", 0));
    append_triple(doc, "mean", r->mean);
    append_triple(doc, "std", r->std);
    append_number(doc, "avg_width", r->avg_width);
    append_number(doc, "avg_height", r->avg_height);
    BSON_APPEND_INT64(doc, "num_samples", r->samples);
    if (rp->plan)
        append_classes(doc, rp->plan);
    if (p)
        BSON_APPEND_INT64(doc, "seed", param_int(p, "seed", 0));
    BSON_APPEND_UTF8(doc, "mode", rp->o->stats.mode == SUB_STATS_FAST ? "fast" : "exact");
    BSON_APPEND_INT32(doc, "resize", rp->o->stats.resize);
    BSON_APPEND_UTF8(doc, "scale", "[0, 1]: pixel values / 255");
    BSON_APPEND_INT64(doc, "num_measured", r->measured);
    BSON_APPEND_INT64(doc, "num_sized", r->sized);
    append_failures(doc, r);
    append_versions(doc, rp->db);
    const char *src = p ? sub_bson_get_str(p, "source_dataset") : NULL;
    return !rp->db || append_sources(doc, rp->db, src ? src : rp->o->dataset, err);
}

static void summary(const opts_t *o, const sub_stats_result_t *r)
{
    printf("stats of %s (%s, %dx%d): %lld images measured, %lld failed, %.1f s\n"
           "  mean %.6f %.6f %.6f\n  std  %.6f %.6f %.6f\n  avg size %.1f x %.1f\n",
           o->dataset ? o->dataset : o->images, o->stats.mode == SUB_STATS_FAST ? "fast" : "exact",
           o->stats.resize, o->stats.resize, (long long)r->measured, (long long)r->failed,
           r->seconds, r->mean[0], r->mean[1], r->mean[2], r->std[0], r->std[1], r->std[2],
           r->avg_width, r->avg_height);
    if (o->out)
        printf("  written to %s\n", o->out);
    for (size_t i = 0; i < r->nfailures && i < 5; i++)
        printf("  failed: %s: %s\n", r->failures[i].path, r->failures[i].reason);
}

static void params_doc(const opts_t *o, bson_t *p)
{
    BSON_APPEND_UTF8(p, "dataset", o->dataset);
    if (o->out)
        BSON_APPEND_UTF8(p, "out", o->out);
    BSON_APPEND_INT32(p, "resize", o->stats.resize);
    BSON_APPEND_UTF8(p, "mode", o->stats.mode == SUB_STATS_FAST ? "fast" : "exact");
}

static void counts_doc(const sub_stats_result_t *r, bson_t *c)
{
    BSON_APPEND_INT64(c, "samples", r->samples);
    BSON_APPEND_INT64(c, "measured", r->measured);
    BSON_APPEND_INT64(c, "failed", r->failed);
    append_triple(c, "mean", r->mean);
    append_triple(c, "std", r->std);
    BSON_APPEND_DOUBLE(c, "seconds", r->seconds);
}

/* Computes, fills doc, writes it to --out. Some images failing is reported as exit 16
 * after the file is written; doc is complete either way. */
static bool compute(const report_t *rp, inputs_t *in, sub_stats_result_t *r, bson_t *doc,
                    sub_error_t *err)
{
    if (in->n == 0)
        return sub_error_set(err, SUB_E_INPUT, 0, "%s holds no %s",
                             rp->o->images ? rp->o->images : rp->o->dataset,
                             rp->o->images ? "JPEG files" : "samples");
    bool ok = sub_stats_compute((const char *const *)in->paths, in->width, in->height, in->n,
                                &rp->o->stats, r, err) &&
              build_doc(rp, doc, err) &&
              (!rp->o->out || sub_export_write_json(rp->o->out, doc, err));
    if (ok && r->failed)
        ok = sub_error_set(err, SUB_E_INCOMPLETE, 0,
                           "%lld of %lld images could not be measured (first: %s: %s)",
                           (long long)r->failed, (long long)r->samples, r->failures[0].path,
                           r->failures[0].reason);
    return ok;
}

/* stdout: with --json one object, the stats document (with "ok", or with the error when
 * only some images failed) or the error alone; without, the summary when there is one. */
static void print_result(sub_cmd_ctx_t *ctx, const opts_t *o, const sub_stats_result_t *r,
                         bson_t *doc, bool ok, const sub_error_t *err)
{
    bool complete = ok || err->code == SUB_E_INCOMPLETE;
    if (!ctx->json) {
        if (complete)
            summary(o, r);
        return;
    }
    if (!complete)
        bson_reinit(doc);
    if (ok)
        BSON_APPEND_BOOL(doc, "ok", true);
    else
        sub_cli_append_error(doc, err);
    sub_cli_print_json(doc);
}

static int run_images(sub_cmd_ctx_t *ctx, const opts_t *o)
{
    inputs_t in = {0};
    sub_stats_result_t r = {0};
    sub_error_t err = {0};
    report_t rp = {.o = o, .r = &r};
    bson_t doc = BSON_INITIALIZER;
    bool ok = images_inputs(o->images, &in, &err) && compute(&rp, &in, &r, &doc, &err);
    print_result(ctx, o, &r, &doc, ok, &err);
    bson_destroy(&doc);
    sub_stats_result_release(&r);
    inputs_release(&in);
    return ok ? 0 : sub_cli_error_exit(ctx, &err);
}

static int run_dataset(sub_cmd_ctx_t *ctx, const opts_t *o)
{
    inputs_t in = {0};
    sub_stats_result_t r = {0};
    sub_error_t err = {0};
    sub_db_t db = {0};
    sub_run_t run;
    sub_export_plan_t plan = {0};
    sub_fo_dataset_t ds = {0};
    bson_t params = BSON_INITIALIZER, counts = BSON_INITIALIZER, doc = BSON_INITIALIZER, ds_doc;
    params_doc(o, &params);
    bool began = sub_cmd_begin(ctx, &db, "stats", o->dataset, &params, &run, &err);
    bool opened = began && sub_fo_dataset_open(&db, o->dataset, &ds, &ds_doc, &err);
    bool ok = opened && sub_export_plan_build(&db, o->dataset, false, &plan, &err);
    if (ok)
        plan_inputs(&plan, &in);
    report_t rp = {.o = o, .db = &db, .plan = &plan, .ds_doc = opened ? &ds_doc : NULL, .r = &r};
    ok = ok && compute(&rp, &in, &r, &doc, &err);
    counts_doc(&r, &counts);
    print_result(ctx, o, &r, &doc, ok, &err);
    int rc = sub_cmd_end_own_json(ctx, &db, &run, began, ok, &counts, &err);
    if (began) /* open initializes ds_doc whenever it is called */
        bson_destroy(&ds_doc);
    sub_fo_dataset_release(&ds);
    sub_export_plan_release(&plan);
    bson_destroy(&params);
    bson_destroy(&counts);
    bson_destroy(&doc);
    sub_stats_result_release(&r);
    inputs_release(&in);
    return rc;
}

int sub_cmd_stats(sub_cmd_ctx_t *ctx)
{
    opts_t o;
    int rc = parse_opts(ctx, &o);
    if (rc >= 0)
        return rc;
    return o.images ? run_images(ctx, &o) : run_dataset(ctx, &o);
}
