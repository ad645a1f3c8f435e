#define SUB_LOG_DOMAIN "stats"
/* stats.c - mean/std of a subset's images on every core, and its average size. */
#include "subsetter/stats.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "subsetter/image.h"
#include "subsetter/log.h"
#include "subsetter/parallel.h"
#include "subsetter/pixels.h"
#include "subsetter/progress.h"
#include "subsetter/strutil.h"

/* Per-channel mean and unbiased std of an image, from integer sums: with s = sum(x) and
 * q = sum(x^2) over n pixels, var = (n q - s^2) / (n (n - 1)), exact in 64 bits for any
 * image up to 4096 x 4096. */
static void moments(const sub_rgb_t *img, double mean[3], double std[3])
{
    uint64_t s[3] = {0, 0, 0}, q[3] = {0, 0, 0};
    size_t n = (size_t)img->w * (size_t)img->h;
    const uint8_t *p = img->px;
    for (size_t i = 0; i < n; i++, p += 3)
        for (int c = 0; c < 3; c++) {
            s[c] += p[c];
            q[c] += (uint64_t)p[c] * p[c];
        }
    for (int c = 0; c < 3; c++) {
        mean[c] = (double)s[c] / (double)n / 255.0;
        if (n < 2) {
            std[c] = NAN; /* numpy's std(ddof=1) of one value */
            continue;
        }
        uint64_t num = (uint64_t)n * q[c] - s[c] * s[c];
        std[c] = sqrt((double)num / ((double)n * (double)(n - 1))) / 255.0;
    }
}

/* The pixel buffers of one thread, reused from image to image. */
typedef struct {
    sub_rgb_t full, small;
} scratch_t;

static bool measure_image(const uint8_t *buf, size_t len, int resize, sub_stats_mode_t mode,
                          scratch_t *sc, double mean[3], double std[3], sub_error_t *err)
{
    int min = mode == SUB_STATS_FAST ? resize : 0;
    bool ok = sub_pixels_decode_rgb(buf, len, min, min, &sc->full, err) &&
              sub_pixels_resize(&sc->full, resize, resize, &sc->small, err);
    if (ok)
        moments(&sc->small, mean, std);
    return ok;
}

bool sub_stats_image(const uint8_t *buf, size_t len, int resize, sub_stats_mode_t mode,
                     double mean[3], double std[3], sub_error_t *err)
{
    scratch_t sc = {0};
    bool ok = measure_image(buf, len, resize, mode, &sc, mean, std, err);
    sub_rgb_release(&sc.full);
    sub_rgb_release(&sc.small);
    return ok;
}

/* ---- the images on every core ---------------------------------------------------------- */

typedef struct {
    double mean[3], std[3];
    char *reason; /* NULL when measured */
} image_result_t;

typedef struct {
    const char *const *paths;
    const sub_stats_opts_t *o;
    image_result_t *results;
    sub_buf_t bufs[SUB_POOL_MAX_THREADS];    /* one file buffer per worker, reused */
    scratch_t scratch[SUB_POOL_MAX_THREADS]; /* and its pixel buffers */
    pthread_mutex_t lock;                    /* guards progress and done */
    sub_progress_t progress;
    uint64_t done;
} job_t;

static bool measure(void *arg, size_t i, unsigned worker, sub_error_t *err)
{
    job_t *j = arg;
    sub_buf_t *b = &j->bufs[worker];
    image_result_t *r = &j->results[i];
    sub_error_t e = {0};
    (void)err; /* an image that fails is recorded, never fatal */
    if (!sub_buf_read_file(b, j->paths[i], &e) ||
        !measure_image((const uint8_t *)b->data, b->len, j->o->resize, j->o->mode,
                       &j->scratch[worker], r->mean, r->std, &e))
        r->reason = sub_xstrdup(e.msg);
    pthread_mutex_lock(&j->lock);
    sub_progress_update(&j->progress, 0, ++j->done);
    pthread_mutex_unlock(&j->lock);
    return true;
}

static void note_failure(sub_stats_result_t *r, const char *path, const char *reason)
{
    r->failed++;
    if (r->nfailures < SUB_STATS_FAILURES_SHOWN) {
        r->failures[r->nfailures].path = sub_xstrdup(path);
        r->failures[r->nfailures].reason = sub_xstrdup(reason);
        r->nfailures++;
    }
}

/* Averages in the plan's order: the same figures whatever the threads did first. */
static void average(const job_t *j, size_t n, sub_stats_result_t *r)
{
    double mean[3] = {0, 0, 0}, std[3] = {0, 0, 0};
    for (size_t i = 0; i < n; i++) {
        const image_result_t *x = &j->results[i];
        if (x->reason) {
            note_failure(r, j->paths[i], x->reason);
            continue;
        }
        r->measured++;
        for (int c = 0; c < 3; c++) {
            mean[c] += x->mean[c];
            std[c] += x->std[c];
        }
    }
    for (int c = 0; c < 3; c++) {
        r->mean[c] = r->measured ? mean[c] / (double)r->measured : NAN;
        r->std[c] = r->measured ? std[c] / (double)r->measured : NAN;
    }
}

/* ---- sizes ------------------------------------------------------------------------------ */

static void average_size(const char *const *paths, const int64_t *width, const int64_t *height,
                         size_t n, sub_stats_result_t *r)
{
    double sw = 0, sh = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t w = width ? width[i] : -1, h = height ? height[i] : -1;
        sub_image_info_t info; /* the header's oriented size, as FiftyOne's metadata */
        if (w <= 0 || h <= 0) {
            if (!sub_image_probe_file(paths[i], &info, NULL))
                continue;
            w = info.oriented_width;
            h = info.oriented_height;
        }
        sw += (double)w;
        sh += (double)h;
        r->sized++;
    }
    r->avg_width = r->sized ? sw / (double)r->sized : NAN;
    r->avg_height = r->sized ? sh / (double)r->sized : NAN;
}

bool sub_stats_compute(const char *const *paths, const int64_t *width, const int64_t *height,
                       size_t n, const sub_stats_opts_t *o, sub_stats_result_t *r, sub_error_t *err)
{
    job_t j = {.paths = paths, .o = o};
    double t0 = sub_now();
    memset(r, 0, sizeof *r);
    r->samples = (int64_t)n;
    if (o->resize < 1 || o->resize > 4096)
        return sub_error_set(err, SUB_E_USAGE, 0, "resize %d is not within 1..4096", o->resize);
    j.results = calloc(n ? n : 1, sizeof *j.results);
    if (!j.results)
        return sub_error_set(err, SUB_E_INTERNAL, ENOMEM, "no memory for %zu results", n);
    pthread_mutex_init(&j.lock, NULL);
    sub_progress_init_items(&j.progress, "stats", (int64_t)n, "images", o->quiet,
                            o->progress_interval_ms);
    bool ok = sub_pool_run(o->threads ? o->threads : sub_cpu_count(), n, measure, &j, err);
    sub_progress_done(&j.progress);
    if (ok) {
        average(&j, n, r);
        average_size(paths, width, height, n, r);
    }
    for (size_t i = 0; i < n; i++)
        free(j.results[i].reason);
    for (size_t t = 0; t < SUB_POOL_MAX_THREADS; t++) {
        sub_buf_release(&j.bufs[t]);
        sub_rgb_release(&j.scratch[t].full);
        sub_rgb_release(&j.scratch[t].small);
    }
    free(j.results);
    pthread_mutex_destroy(&j.lock);
    r->seconds = sub_now() - t0;
    return ok;
}

void sub_stats_result_release(sub_stats_result_t *r)
{
    for (size_t i = 0; i < r->nfailures; i++) {
        free(r->failures[i].path);
        free(r->failures[i].reason);
    }
    r->nfailures = 0;
}
