#define SUB_LOG_DOMAIN "preview"
/* cmd_preview.c - `subsetter preview`: a subset at a glance: a contact sheet (JPEG), its
 * class counts as a bar chart (SVG) and what is where (JSON). The drawing is preview.c's. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "subsetter/bsonutil.h"
#include "subsetter/cli.h"
#include "subsetter/export.h"
#include "subsetter/fo_dataset.h"
#include "subsetter/log.h"
#include "subsetter/parallel.h"
#include "subsetter/preview.h"
#include "subsetter/progress.h"
#include "subsetter/runs.h"
#include "subsetter/strutil.h"

const char sub_preview_usage[] =
    "usage: subsetter preview --dataset D --out DIR [--per-class 8] [--thumb 128] [--json]\n\n"
    "A subset at a glance, written to DIR (created when absent):\n"
    "  contact_sheet.jpg  one row per class in the subset's class order (y of the NPZ\n"
    "                     export), its first --per-class samples in _id order as\n"
    "                     --thumb px squares (shorter side resized to --thumb, centre\n"
    "                     cropped) on a dark grey ground; a missing or undecodable image\n"
    "                     is a grey square crossed by its diagonals. At most 200 rows\n"
    "                     (fewer for very large thumbnails). No text: the rows are\n"
    "                     named in preview.json\n"
    "  class_counts.svg   samples per class as a bar chart: every class, same order\n"
    "  preview.json       dataset, contact_sheet, class_counts_svg, thumb, per_class,\n"
    "                     rows: [{row, label, count, shown, missing}], failures\n\n"
    "  --per-class  thumbnails per row, 1..32 (default 8)\n"
    "  --thumb      side of a thumbnail in px, 16..512 (default 128)\n\n"
    "Thumbnails are decoded on every CPU with libjpeg-turbo's DCT scaling (fast, not\n"
    "Pillow's exact pixels). Exit 16 when some could not be shown; the files are still\n"
    "written.\n";

const sub_option_t sub_preview_options[] = {
    {"dataset", true}, {"out", true}, {"per-class", true}, {"thumb", true}, {NULL, false}};

typedef struct {
    const char *dataset, *out;
    int per_class, thumb;
} opts_t;

static int parse_opts(sub_cmd_ctx_t *ctx, opts_t *o)
{
    const char *per_class = sub_kvlist_get(&ctx->opts, "per-class");
    const char *thumb = sub_kvlist_get(&ctx->opts, "thumb");
    int64_t pc = 8, th = 128;
    memset(o, 0, sizeof *o);
    int rc;
    if ((rc = sub_cli_require(ctx, "dataset", &o->dataset)) >= 0 ||
        (rc = sub_cli_require(ctx, "out", &o->out)) >= 0)
        return rc;
    if (per_class && !sub_parse_int64(per_class, 1, 32, &pc))
        return sub_cli_usage(ctx, "--per-class: expected an integer in 1..32, got '%s'", per_class);
    if (thumb && !sub_parse_int64(thumb, 16, 512, &th))
        return sub_cli_usage(ctx, "--thumb: expected an integer in 16..512, got '%s'", thumb);
    if (ctx->argc)
        return sub_cli_usage(ctx, "unexpected argument '%s'", ctx->argv[0]);
    o->per_class = (int)pc;
    o->thumb = (int)th;
    return -1;
}

/* One cell of the sheet and the sample shown there. */
typedef struct {
    size_t item; /* plan index */
    int row, col;
    char *path;   /* normalized filepath */
    char *reason; /* why it could not be shown; NULL when it was */
} cell_t;

typedef struct {
    sub_preview_grid_t g;
    size_t nclasses;  /* labeled classes: every one is in the chart */
    int64_t samples;  /* their samples */
    int64_t *shown;   /* per sheet row */
    int64_t *missing; /* per sheet row */
    int64_t total_shown, total_missing;
    cell_t *cells;
    size_t ncells;
    char *dir, *sheet_path, *svg_path, *json_path;
    double seconds;
} result_t;

static void result_release(result_t *r)
{
    for (size_t i = 0; i < r->ncells; i++) {
        free(r->cells[i].path);
        free(r->cells[i].reason);
    }
    free(r->cells);
    free(r->shown);
    free(r->missing);
    free(r->dir);
    free(r->sheet_path);
    free(r->svg_path);
    free(r->json_path);
    memset(r, 0, sizeof *r);
}

/* The cells: the first cols samples of each sheet row's class, in plan (_id) order. */
static void plan_cells(const sub_export_plan_t *plan, result_t *r)
{
    int64_t *taken = sub_xmalloc((size_t)r->g.rows * sizeof *taken);
    memset(taken, 0, (size_t)r->g.rows * sizeof *taken);
    r->cells = sub_xmalloc(((size_t)r->g.rows * (size_t)r->g.cols + 1) * sizeof *r->cells);
    for (size_t i = 0; i < plan->n; i++) {
        int64_t y = plan->classes[plan->items[i].cls].y;
        if (y < 0 || y >= r->g.rows || taken[y] >= r->g.cols)
            continue;
        r->cells[r->ncells++] = (cell_t){.item = i, .row = (int)y, .col = (int)taken[y]++};
    }
    free(taken);
}

typedef struct {
    const sub_export_plan_t *plan;
    result_t *r;
    sub_rgb_t *sheet;
    sub_buf_t bufs[SUB_POOL_MAX_THREADS];  /* file bytes, reused */
    sub_rgb_t imgs[SUB_POOL_MAX_THREADS];  /* decoded pixels, reused */
    uint8_t *thumbs[SUB_POOL_MAX_THREADS]; /* one thumbnail */
} draw_job_t;

/* Draws cell i: its thumbnail, or the placeholder (noting why). Never fails the pool. */
static bool draw_cell(void *job, size_t i, unsigned worker, sub_error_t *unused)
{
    (void)unused;
    draw_job_t *j = job;
    cell_t *c = &j->r->cells[i];
    int t = j->r->g.thumb;
    sub_error_t err = {0};
    if (!j->thumbs[worker])
        j->thumbs[worker] = sub_xmalloc((size_t)t * (size_t)t * 3);
    c->path = sub_fo_normalize_path(j->plan->items[c->item].src);
    bool ok = sub_buf_read_file(&j->bufs[worker], c->path, &err) &&
              sub_preview_thumb((const uint8_t *)j->bufs[worker].data, j->bufs[worker].len, t,
                                &j->imgs[worker], j->thumbs[worker], &err);
    if (ok) {
        sub_preview_sheet_put(j->sheet, &j->r->g, c->row, c->col, j->thumbs[worker]);
    } else {
        sub_preview_sheet_placeholder(j->sheet, &j->r->g, c->row, c->col);
        c->reason = err.code == SUB_E_IO && err.cause == ENOENT ? sub_xstrdup("missing media file")
                                                                : sub_xstrdup(err.msg);
    }
    return true;
}

static bool draw_sheet(const sub_export_plan_t *plan, result_t *r, sub_rgb_t *sheet,
                       sub_error_t *err)
{
    draw_job_t j = {.plan = plan, .r = r, .sheet = sheet};
    bool ok = sub_preview_sheet_init(&r->g, sheet, err) &&
              sub_pool_run(sub_cpu_count(), r->ncells, draw_cell, &j, err);
    for (size_t t = 0; t < SUB_POOL_MAX_THREADS; t++) {
        sub_buf_release(&j.bufs[t]);
        sub_rgb_release(&j.imgs[t]);
        free(j.thumbs[t]);
    }
    for (size_t i = 0; ok && i < r->ncells; i++) {
        const cell_t *c = &r->cells[i];
        if (c->reason) {
            r->missing[c->row]++;
            r->total_missing++;
        } else {
            r->shown[c->row]++;
            r->total_shown++;
        }
    }
    return ok;
}

static bool write_svg(const sub_export_plan_t *plan, const opts_t *o, const result_t *r,
                      sub_error_t *err)
{
    const char **labels = sub_xmalloc((r->nclasses + 1) * sizeof *labels);
    int64_t *counts = sub_xmalloc((r->nclasses + 1) * sizeof *counts);
    for (size_t y = 0; y < r->nclasses; y++) {
        labels[y] = plan->classes[plan->by_y[y]].label;
        counts[y] = plan->classes[plan->by_y[y]].count;
    }
    char *title = sub_xasprintf("%s: %lld samples, %zu classes", o->dataset, (long long)r->samples,
                                r->nclasses);
    sub_buf_t b = SUB_BUF_INIT;
    bool ok = sub_preview_svg(title, labels, counts, r->nclasses, &b, err) &&
              sub_export_write_file(r->svg_path, b.data, b.len, err);
    sub_buf_release(&b);
    free(title);
    free(labels);
    free(counts);
    return ok;
}

static void append_rows(bson_t *doc, const sub_export_plan_t *plan, const result_t *r)
{
    bson_t arr;
    sub_bson_array_t keys = {.arr = &arr};
    BSON_APPEND_ARRAY_BEGIN(doc, "rows", &arr);
    for (size_t y = 0; y < r->nclasses; y++) {
        const sub_export_class_t *c = &plan->classes[plan->by_y[y]];
        bool on_sheet = y < (size_t)r->g.rows;
        bson_t row;
        bson_append_document_begin(&arr, sub_bson_array_next_key(&keys), -1, &row);
        if (on_sheet)
            BSON_APPEND_INT64(&row, "row", (int64_t)y);
        else
            BSON_APPEND_NULL(&row, "row"); /* not on the sheet: past its last row */
        BSON_APPEND_UTF8(&row, "label", c->label);
        BSON_APPEND_INT64(&row, "count", c->count);
        BSON_APPEND_INT64(&row, "shown", on_sheet ? r->shown[y] : 0);
        BSON_APPEND_INT64(&row, "missing", on_sheet ? r->missing[y] : 0);
        bson_append_document_end(&arr, &row);
    }
    bson_append_array_end(doc, &arr);
}

static void append_failures(bson_t *doc, const result_t *r)
{
    bson_t arr;
    sub_bson_array_t keys = {.arr = &arr};
    size_t listed = 0;
    BSON_APPEND_ARRAY_BEGIN(doc, "failures", &arr);
    for (size_t i = 0; i < r->ncells && listed < SUB_EXPORT_MISSING_SHOWN; i++) {
        if (!r->cells[i].reason)
            continue;
        bson_t f;
        bson_append_document_begin(&arr, sub_bson_array_next_key(&keys), -1, &f);
        BSON_APPEND_UTF8(&f, "path", r->cells[i].path);
        BSON_APPEND_UTF8(&f, "reason", r->cells[i].reason);
        bson_append_document_end(&arr, &f);
        listed++;
    }
    bson_append_array_end(doc, &arr);
}

/* preview.json's document (also what --json prints, with "ok"). */
static void build_doc(const sub_export_plan_t *plan, const opts_t *o, const result_t *r,
                      bson_t *doc)
{
    BSON_APPEND_UTF8(doc, "dataset", o->dataset);
    BSON_APPEND_UTF8(doc, "contact_sheet", r->sheet_path);
    BSON_APPEND_UTF8(doc, "class_counts_svg", r->svg_path);
    BSON_APPEND_UTF8(doc, "preview_json", r->json_path);
    BSON_APPEND_INT32(doc, "thumb", o->thumb);
    BSON_APPEND_INT32(doc, "per_class", o->per_class);
    BSON_APPEND_INT64(doc, "samples", r->samples);
    BSON_APPEND_INT64(doc, "classes", (int64_t)r->nclasses);
    BSON_APPEND_INT32(doc, "sheet_rows", r->g.rows);
    BSON_APPEND_BOOL(doc, "cut", (size_t)r->g.rows < r->nclasses);
    BSON_APPEND_INT64(doc, "shown", r->total_shown);
    BSON_APPEND_INT64(doc, "missing", r->total_missing);
    append_rows(doc, plan, r);
    append_failures(doc, r);
}

/* Draws and writes the three files, filling doc. Thumbnails that could not be shown are
 * reported as SUB_E_INCOMPLETE after everything is written. */
static bool make_preview(const sub_export_plan_t *plan, const opts_t *o, result_t *r, bson_t *doc,
                         sub_error_t *err)
{
    double start = sub_now();
    r->nclasses = plan->nlabels;
    for (size_t y = 0; y < plan->nlabels; y++)
        r->samples += plan->classes[plan->by_y[y]].count;
    if (r->nclasses == 0)
        return sub_error_set(err, SUB_E_INPUT, 0, "dataset %s has no labeled samples", o->dataset);
    int max_rows = sub_preview_max_rows(o->per_class, o->thumb, SUB_PREVIEW_MARGIN);
    r->g =
        (sub_preview_grid_t){.rows = r->nclasses < (size_t)max_rows ? (int)r->nclasses : max_rows,
                             .cols = o->per_class,
                             .thumb = o->thumb,
                             .margin = SUB_PREVIEW_MARGIN};
    if ((size_t)r->g.rows < r->nclasses)
        SUB_LOG(SUB_LOG_WARN, "%zu classes: the contact sheet shows the first %d", r->nclasses,
                r->g.rows);
    r->shown = sub_xmalloc((size_t)r->g.rows * sizeof *r->shown);
    r->missing = sub_xmalloc((size_t)r->g.rows * sizeof *r->missing);
    memset(r->shown, 0, (size_t)r->g.rows * sizeof *r->shown);
    memset(r->missing, 0, (size_t)r->g.rows * sizeof *r->missing);
    r->dir = sub_fo_normalize_path(o->out);
    r->sheet_path = sub_path_join(r->dir, "contact_sheet.jpg");
    r->svg_path = sub_path_join(r->dir, "class_counts.svg");
    r->json_path = sub_path_join(r->dir, "preview.json");
    plan_cells(plan, r);

    sub_rgb_t sheet = {0};
    sub_buf_t jpg = SUB_BUF_INIT;
    bool ok = sub_mkdir_p(r->dir, err) && draw_sheet(plan, r, &sheet, err) &&
              sub_preview_jpeg(&sheet, SUB_PREVIEW_QUALITY, &jpg, err) &&
              sub_export_write_file(r->sheet_path, jpg.data, jpg.len, err) &&
              write_svg(plan, o, r, err);
    sub_rgb_release(&sheet);
    sub_buf_release(&jpg);
    r->seconds = sub_now() - start;
    if (ok) {
        build_doc(plan, o, r, doc);
        ok = sub_export_write_json(r->json_path, doc, err);
    }
    if (ok && r->total_missing) {
        const cell_t *first = r->cells;
        while (!first->reason)
            first++;
        ok = sub_error_set(err, SUB_E_INCOMPLETE, 0,
                           "%lld of %zu thumbnails could not be shown (first: %s: %s)",
                           (long long)r->total_missing, r->ncells, first->path, first->reason);
    }
    return ok;
}

static void summary(const opts_t *o, const result_t *r)
{
    printf("preview of %s: %s, %s, %s (%zu classes", o->dataset, r->sheet_path, r->svg_path,
           r->json_path, r->nclasses);
    if ((size_t)r->g.rows < r->nclasses)
        printf(", the first %d on the sheet", r->g.rows);
    printf(", %lld thumbnails, %lld missing)\n", (long long)r->total_shown,
           (long long)r->total_missing);
}

static void params_doc(const opts_t *o, bson_t *p)
{
    BSON_APPEND_UTF8(p, "dataset", o->dataset);
    BSON_APPEND_UTF8(p, "out", o->out);
    BSON_APPEND_INT32(p, "per_class", o->per_class);
    BSON_APPEND_INT32(p, "thumb", o->thumb);
}

static void counts_doc(const result_t *r, bson_t *c)
{
    BSON_APPEND_INT64(c, "samples", r->samples);
    BSON_APPEND_INT64(c, "classes", (int64_t)r->nclasses);
    BSON_APPEND_INT32(c, "sheet_rows", r->g.rows);
    BSON_APPEND_INT64(c, "shown", r->total_shown);
    BSON_APPEND_INT64(c, "missing", r->total_missing);
    BSON_APPEND_DOUBLE(c, "seconds", r->seconds);
}

int sub_cmd_preview(sub_cmd_ctx_t *ctx)
{
    opts_t o;
    int rc = parse_opts(ctx, &o);
    if (rc >= 0)
        return rc;
    sub_error_t err = {0};
    sub_db_t db = {0};
    sub_run_t run;
    sub_export_plan_t plan = {0};
    result_t r = {0};
    bson_t params = BSON_INITIALIZER, counts = BSON_INITIALIZER, doc = BSON_INITIALIZER;
    params_doc(&o, &params);
    bool began = sub_cmd_begin(ctx, &db, "preview", o.dataset, &params, &run, &err);
    bool ok = began && sub_export_plan_build(&db, o.dataset, false, &plan, &err) &&
              make_preview(&plan, &o, &r, &doc, &err);
    bool complete = ok || err.code == SUB_E_INCOMPLETE; /* the files are written */
    counts_doc(&r, &counts);
    /* end_own_json prints the error line; the JSON document follows */
    rc = sub_cmd_end_own_json(ctx, &db, &run, began, ok, &counts, &err);
    if (ctx->json) {
        bson_t e = BSON_INITIALIZER;
        bson_t *out = complete ? &doc : &e;
        if (ok)
            BSON_APPEND_BOOL(out, "ok", true);
        else
            sub_cli_append_error(out, &err);
        sub_cli_print_json(out);
        bson_destroy(&e);
    } else if (complete) {
        summary(&o, &r);
    }
    result_release(&r);
    sub_export_plan_release(&plan);
    bson_destroy(&params);
    bson_destroy(&counts);
    bson_destroy(&doc);
    return rc;
}
