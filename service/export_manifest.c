#define SUB_LOG_DOMAIN "export"
/* export_manifest.c - `--format manifest`: manifest.csv and manifest.jsonl, one row per
 * sample in the plan's order (_id), with the path the sample has in the imagefolder tree. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "subsetter/bsonutil.h"
#include "subsetter/export.h"
#include "subsetter/fo_dataset.h"
#include "subsetter/image.h"
#include "subsetter/log.h"
#include "subsetter/source.h"

typedef struct {
    const char *image_id, *label, *rel, *url, *license, *author;
    char sha256[65];             /* "" when the media file is missing */
    int64_t width, height, size; /* -1 when unknown */
} row_t;

static void fill_row(const sub_export_plan_t *plan, const sub_export_item_t *it, row_t *r,
                     sub_export_result_t *res)
{
    const bson_t *d = it->meta;
    int64_t size = -1;
    r->image_id = sub_export_image_id(it);
    r->label = plan->classes[it->cls].label;
    r->rel = it->rel;
    r->url = sub_bson_get_str(d, "original_url");
    r->license = sub_bson_get_str(d, "license");
    r->author = sub_bson_get_str(d, "author");
    r->width = it->width;
    r->height = it->height;
    r->size = it->size_bytes;
    char *src = sub_fo_normalize_path(it->src);
    if (!sub_source_hash_file(src, NULL, r->sha256, &size, NULL)) {
        r->sha256[0] = '\0';
        sub_export_note_missing(res, src);
    } else {
        if (r->size < 0)
            r->size = size;
        sub_image_info_t info; /* the header's size when the metadata lacks it */
        if ((r->width < 0 || r->height < 0) && sub_image_probe_file(src, &info, NULL)) {
            r->width = info.oriented_width;
            r->height = info.oriented_height;
        }
    }
    free(src);
}

static bool csv_int(sub_buf_t *b, int64_t v, sub_error_t *err)
{
    return v < 0 || sub_buf_appendf(b, err, "%lld", (long long)v);
}

static bool csv_row(sub_buf_t *b, const row_t *r, sub_error_t *err)
{
    return sub_export_csv_field(b, r->image_id, err) && sub_buf_appendc(b, ',', err) &&
           sub_export_csv_field(b, r->label, err) && sub_buf_appendc(b, ',', err) &&
           sub_export_csv_field(b, r->rel, err) && sub_buf_appendc(b, ',', err) &&
           sub_export_csv_field(b, r->sha256, err) && sub_buf_appendc(b, ',', err) &&
           csv_int(b, r->width, err) && sub_buf_appendc(b, ',', err) &&
           csv_int(b, r->height, err) && sub_buf_appendc(b, ',', err) && csv_int(b, r->size, err) &&
           sub_buf_appendc(b, ',', err) && sub_export_csv_field(b, r->url, err) &&
           sub_buf_appendc(b, ',', err) && sub_export_csv_field(b, r->license, err) &&
           sub_buf_appendc(b, ',', err) && sub_export_csv_field(b, r->author, err) &&
           sub_buf_append(b, "\r\n", 2, err);
}

static void json_str(bson_t *d, const char *key, const char *v)
{
    if (v && *v)
        bson_append_utf8(d, key, -1, v, -1);
    else
        bson_append_null(d, key, -1);
}

static void json_int(bson_t *d, const char *key, int64_t v)
{
    if (v >= 0)
        bson_append_int64(d, key, -1, v);
    else
        bson_append_null(d, key, -1);
}

static bool jsonl_row(sub_buf_t *b, const row_t *r, sub_error_t *err)
{
    bson_t d = BSON_INITIALIZER;
    json_str(&d, "image_id", r->image_id);
    json_str(&d, "label", r->label);
    json_str(&d, "path", r->rel);
    json_str(&d, "sha256", r->sha256);
    json_int(&d, "width", r->width);
    json_int(&d, "height", r->height);
    json_int(&d, "size", r->size);
    json_str(&d, "source_url", r->url);
    json_str(&d, "license", r->license);
    json_str(&d, "author", r->author);
    char *s = bson_as_relaxed_extended_json(&d, NULL);
    bool ok = sub_buf_appendf(b, err, "%s\n", s);
    bson_free(s);
    bson_destroy(&d);
    return ok;
}

bool sub_export_manifest(const sub_export_plan_t *plan, const char *out, sub_progress_t *progress,
                         sub_export_result_t *r, sub_error_t *err)
{
    sub_buf_t csv = SUB_BUF_INIT, jsonl = SUB_BUF_INIT;
    if (!sub_mkdir_p(out, err))
        return false;
    bool ok = sub_buf_appendf(&csv, err,
                              "image_id,label,path,sha256,width,height,size,"
                              "source_url,license,author\r\n");
    for (size_t i = 0; ok && i < plan->n; i++) {
        row_t row = {0};
        fill_row(plan, &plan->items[i], &row, r);
        ok = csv_row(&csv, &row, err) && jsonl_row(&jsonl, &row, err);
        if (row.sha256[0])
            r->exported++;
        if (progress)
            sub_progress_update(progress, 0, i + 1);
    }
    r->samples = (int64_t)plan->n;
    char *cpath = sub_path_join(out, "manifest.csv"), *jpath = sub_path_join(out, "manifest.jsonl");
    ok = ok && sub_export_write_file(cpath, csv.data, csv.len, err) &&
         sub_export_write_file(jpath, jsonl.data ? jsonl.data : "", jsonl.len, err);
    free(cpath);
    free(jpath);
    sub_buf_release(&csv);
    sub_buf_release(&jsonl);
    return ok;
}
