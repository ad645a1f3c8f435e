/* stats.h - the subset's pixel statistics, as the reference generator defines them.
 *
 * For every image: decoded and converted to RGB as Pillow's convert("RGB") does, resized
 * to R x R (default 224) with Pillow's antialiased bilinear filter (torchvision's Resize on
 * a PIL image), then per channel the mean and the unbiased (n - 1) standard deviation of
 * the pixel values scaled to [0, 1] (ToTensor's /255). The subset's mean and std are the
 * averages of those per-image values over the images, summed in the plan's order so the
 * result does not depend on the number of threads.
 *
 * Exact mode decodes at full size, so it computes what Pillow + numpy compute; the
 * per-image sums are integers, and the only rounding is in the final divisions. Fast mode
 * lets libjpeg-turbo scale down inside the IDCT (sub_pixels_decode_rgb with min R x R)
 * before the same resize: several times faster, and slightly different (see the README).
 *
 * avg_width / avg_height are the means of the samples' metadata.width / .height, the
 * oriented size FiftyOne stores (EXIF orientations 5-8 swap them); a sample without
 * metadata is probed from its file header with the same rule.
 */
#ifndef SUBSETTER_STATS_H
#define SUBSETTER_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "subsetter/error.h"

typedef enum { SUB_STATS_EXACT, SUB_STATS_FAST } sub_stats_mode_t;

#define SUB_STATS_FAILURES_SHOWN 100

typedef struct {
    int resize; /* R, 1..4096 */
    sub_stats_mode_t mode;
    unsigned threads; /* 0: one per CPU */
    bool quiet;       /* no progress output */
    int64_t progress_interval_ms;
} sub_stats_opts_t;

typedef struct {
    char *path;   /* the media file */
    char *reason; /* why it was left out */
} sub_stats_failure_t;

typedef struct {
    int64_t samples;  /* in the plan */
    int64_t measured; /* images in mean/std */
    int64_t failed;   /* images left out: missing, not a JPEG, undecodable */
    double mean[3], std[3];
    int64_t sized; /* samples whose size is known (avg_width/avg_height) */
    double avg_width, avg_height;
    sub_stats_failure_t failures[SUB_STATS_FAILURES_SHOWN]; /* the first ones, owned */
    size_t nfailures;
    double seconds;
} sub_stats_result_t;

/* One image's per-channel mean and unbiased std (scaled to [0, 1]) from its encoded
 * bytes. Fails with SUB_E_INPUT for data that is not a decodable JPEG. */
bool sub_stats_image(const uint8_t *buf, size_t len, int resize, sub_stats_mode_t mode,
                     double mean[3], double std[3], sub_error_t *err);

/* The statistics of the images of paths[0..n) (normalized local paths); width and height
 * (may be NULL; -1 for unknown entries) are the samples' metadata sizes. Images that fail
 * are counted and listed in r, not fatal. */
bool sub_stats_compute(const char *const *paths, const int64_t *width, const int64_t *height,
                       size_t n, const sub_stats_opts_t *o, sub_stats_result_t *r,
                       sub_error_t *err);

void sub_stats_result_release(sub_stats_result_t *r);

#endif
