/* export_npz.c - `--format npz`: the imagenet-subset layout, written as a stream.
 *
 * Per split (train, val, test): X_<split> uint8 (N, 224, 224, 3), y_<split> int32 (N,),
 * <split>_id fixed-width unicode (N,) holding the image ids. Images are transformed a batch
 * at a time on every core (torchvision's Resize(256) + CenterCrop(224) on Pillow's RGB
 * conversion, see pixels.h) and appended to the archive in plan order, so memory holds
 * one batch whatever N is. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "subsetter/export.h"
#include "subsetter/fo_dataset.h"
#include "subsetter/npz.h"
#include "subsetter/parallel.h"
#include "subsetter/pixels.h"
#include "subsetter/progress.h"
#include "subsetter/strutil.h"

#define SIDE      256
#define CROP      224
#define IMG_BYTES ((size_t)CROP * CROP * 3)
#define BATCH     64

typedef struct {
    const sub_export_plan_t *plan;
    const size_t *items; /* this batch's plan indices */
    uint8_t *slots;      /* BATCH images */
    sub_buf_t bufs[SUB_POOL_MAX_THREADS];
    sub_rgb_t imgs[SUB_POOL_MAX_THREADS]; /* decoded pixels, reused image to image */
} batch_t;

/* One image into its slot of the batch. */
static bool transform(void *job, size_t i, unsigned worker, sub_error_t *err)
{
    batch_t *b = job;
    char *path = sub_fo_normalize_path(b->plan->items[b->items[i]].src);
    sub_rgb_t img = {0};
    bool ok = sub_buf_read_file(&b->bufs[worker], path, err) &&
              sub_pixels_decode_rgb((const uint8_t *)b->bufs[worker].data, b->bufs[worker].len, 0,
                                    0, &img, err) &&
              sub_pixels_resize_crop(&img, SIDE, CROP, b->slots + i * IMG_BYTES, err);
    if (!ok)
        sub_error_prefix(err, "%s", path);
    sub_rgb_release(&img);
    free(path);
    return ok;
}

typedef struct {
    sub_npz_t *z;
    batch_t batch;
    const sub_export_npz_opts_t *o;
    uint64_t done;
} writer_t;

static bool write_images(writer_t *w, const sub_export_split_list_t *l, const char *split,
                         sub_error_t *err)
{
    uint64_t shape[4] = {l->n, CROP, CROP, 3};
    char *name = sub_xasprintf("X_%s", split);
    bool ok = sub_npz_begin(w->z, name, "|u1", shape, 4, err);
    for (size_t k = 0; ok && k < l->n; k += BATCH) {
        size_t m = l->n - k < BATCH ? l->n - k : BATCH;
        w->batch.items = l->items + k;
        ok = sub_pool_run(w->o->threads ? w->o->threads : sub_cpu_count(), m, transform, &w->batch,
                          err) &&
             sub_npz_write(w->z, w->batch.slots, m * IMG_BYTES, err);
        w->done += m;
        if (w->o->progress)
            sub_progress_update(w->o->progress, 0, w->done);
    }
    free(name);
    return ok && sub_npz_end(w->z, err);
}

static bool write_labels(writer_t *w, const sub_export_plan_t *plan,
                         const sub_export_split_list_t *l, const char *split, sub_error_t *err)
{
    uint64_t shape[1] = {l->n};
    char *name = sub_xasprintf("y_%s", split);
    bool ok = sub_npz_begin(w->z, name, "<i4", shape, 1, err);
    for (size_t k = 0; ok && k < l->n; k++) {
        int64_t y = plan->classes[plan->items[l->items[k]].cls].y;
        uint8_t le[4] = {(uint8_t)y, (uint8_t)(y >> 8), (uint8_t)(y >> 16), (uint8_t)(y >> 24)};
        ok = sub_npz_write(w->z, le, sizeof le, err);
    }
    free(name);
    return ok && sub_npz_end(w->z, err);
}

/* numpy's '<U<width>': UTF-32LE code points, NUL-padded to width. */
static bool write_ids(writer_t *w, const sub_export_plan_t *plan, const sub_export_split_list_t *l,
                      const char *split, size_t width, sub_error_t *err)
{
    uint64_t shape[1] = {l->n};
    char *name = sub_xasprintf("%s_id", split), descr[32];
    uint8_t *row = sub_xmalloc(width * 4);
    snprintf(descr, sizeof descr, "<U%zu", width);
    bool ok = sub_npz_begin(w->z, name, descr, shape, 1, err);
    for (size_t k = 0; ok && k < l->n; k++) {
        const unsigned char *p =
            (const unsigned char *)sub_export_image_id(&plan->items[l->items[k]]);
        memset(row, 0, width * 4);
        for (size_t j = 0; *p && j < width; j++) {
            uint32_t c = 0xFFFD; /* BSON strings are valid UTF-8; this is only a guard */
            size_t len = sub_utf8_decode(p, &c);
            p += len ? len : 1;
            row[4 * j] = (uint8_t)c;
            row[4 * j + 1] = (uint8_t)(c >> 8);
            row[4 * j + 2] = (uint8_t)(c >> 16);
        }
        ok = sub_npz_write(w->z, row, width * 4, err);
    }
    free(row);
    free(name);
    return ok && sub_npz_end(w->z, err);
}

static size_t id_width(const sub_export_plan_t *plan, const sub_export_splits_t *s)
{
    size_t width = 1;
    for (int k = 0; k < 3; k++)
        for (size_t i = 0; i < s->part[k].n; i++) {
            size_t n = sub_utf8_count(sub_export_image_id(&plan->items[s->part[k].items[i]]));
            width = n > width ? n : width;
        }
    return width;
}

/* subset_label,original_label,label_id,human_label: one row per class, by y. */
static bool write_metadata(const sub_export_plan_t *plan, const char *path, sub_error_t *err)
{
    sub_buf_t b = SUB_BUF_INIT;
    bool ok = sub_buf_appendf(&b, err, "subset_label,original_label,label_id,human_label\r\n");
    for (size_t y = 0; ok && y < plan->nlabels; y++) {
        const sub_export_class_t *c = &plan->classes[plan->by_y[y]];
        ok = sub_buf_appendf(&b, err, "%zu,", y) &&
             (c->original < 0 || sub_buf_appendf(&b, err, "%lld", (long long)c->original)) &&
             sub_buf_appendc(&b, ',', err) && sub_export_csv_field(&b, c->label_id, err) &&
             sub_buf_appendc(&b, ',', err) && sub_export_csv_field(&b, c->label, err) &&
             sub_buf_append(&b, "\r\n", 2, err);
    }
    ok = ok && sub_export_write_file(path, b.data, b.len, err);
    sub_buf_release(&b);
    return ok;
}

static bool write_archive(writer_t *w, const sub_export_plan_t *plan, const sub_export_splits_t *s,
                          sub_error_t *err)
{
    size_t width = id_width(plan, s);
    bool ok = true;
    for (int k = 0; ok && k < 3; k++) {
        const char *name = sub_export_split_names[k];
        ok = write_images(w, &s->part[k], name, err) &&
             write_labels(w, plan, &s->part[k], name, err) &&
             write_ids(w, plan, &s->part[k], name, width, err);
    }
    return ok;
}

bool sub_export_npz(const sub_export_plan_t *plan, const sub_export_splits_t *s,
                    const char *dataset, const char *out, const sub_export_npz_opts_t *o,
                    sub_export_result_t *r, sub_error_t *err)
{
    writer_t w = {.o = o, .batch = {.plan = plan}};
    char *base = sub_export_safe_name(dataset);
    char *npz_name = sub_xasprintf("%s_cls.npz", base);
    char *meta_name = sub_xasprintf("%s_cls_metadata.csv", base);
    char *npz = sub_path_join(out, npz_name), *meta = sub_path_join(out, meta_name);
    size_t total = s->part[0].n + s->part[1].n + s->part[2].n;
    bool ok = sub_mkdir_p(out, err) && sub_npz_open(npz, &w.z, err);
    if (ok) {
        w.batch.slots = sub_xmalloc(BATCH * IMG_BYTES);
        ok = write_archive(&w, plan, s, err);
        ok = ok ? sub_npz_close(w.z, err) : (sub_npz_abort(w.z), false);
    }
    ok = ok && write_metadata(plan, meta, err);
    if (ok)
        r->exported += (int64_t)total;
    for (size_t t = 0; t < SUB_POOL_MAX_THREADS; t++) {
        sub_buf_release(&w.batch.bufs[t]);
        sub_rgb_release(&w.batch.imgs[t]);
    }
    free(w.batch.slots);
    free(npz);
    free(meta);
    free(npz_name);
    free(meta_name);
    free(base);
    return ok;
}
