/* pixels.h - decoded images and the two transforms of the export and stats stages, bit for
 * bit as Pillow 13 does them (tests/integration/test_pixels.py compares every byte).
 *
 *   decode:  Image.open(f).convert("RGB") of a JPEG: libjpeg-turbo's accurate integer IDCT
 *            and fancy upsampling (Pillow's defaults); grayscale replicated to R=G=B; CMYK
 *            (Adobe marker or not: Pillow always reads 4-component JPEGs as inverted
 *            "CMYK;I") converted with Convert.c's cmyk2rgb; EXIF orientation ignored, as
 *            Image.open does. Other types are refused (SUB_E_INPUT). Pillow's libjpeg-turbo
 *            (3.x in the wheels) and Debian's 2.1.5 give the same pixels for these settings.
 *   resize:  Image.resize((w, h), Image.BILINEAR): Pillow's separable triangle filter with
 *            antialiasing (support scaled by the reduction factor), 8-bit fixed-point
 *            coefficients, two passes through an 8-bit intermediate in Pillow 13's order:
 *            horizontal first, unless the height loses more than twice as many pixels as
 *            the width. On x86-64 CPUs with AVX2 the passes use it (same bytes; the
 *            environment variable SUBSETTER_PIXELS_PORTABLE turns that off, for tests).
 *   npz:     torchvision Resize(256) then CenterCrop(224) on the PIL image (shorter side to
 *            256, longer side int(256 * long / short); crop offsets int(round((H - 224) / 2))
 *            with Python's round-half-even, as torchvision's center_crop has it; a 2020
 *            version used int((H - 224 + 1) * 0.5), which rounds .5 up).
 *
 * Fast decoding (sub_pixels_decode_rgb with min_w/min_h > 0) lets libjpeg-turbo scale by
 * 1/2, 1/4 or 1/8 inside the IDCT, the smallest of those that keeps both sides at least
 * min_w x min_h (the other M/8 scales are skipped, see below): faster, and no longer what Pillow
 * computes (the stats stage measures the difference). Entropy decoding, which no scale skips, is
 * most of a decode's time: a 1024x768 4:2:0 JPEG takes about 1.9 ms at 1/1, 1.6 ms at 1/2, 1.8 ms
 * at 3/8 (odd scales have no SIMD IDCT) and 1.3 ms at 1/8. TurboJPEG's FASTDCT and
 * FASTUPSAMPLE flags were tried on top: no measurable gain on 2,000 Open Images-sized JPEGs,
 * and the stats' mean moved by 3e-3 (4e-5 without them), so the fast path keeps the
 * accurate ones.
 *
 * A sub_rgb_t owns its pixels (free with sub_rgb_release). A result passed back in as the
 * output of the next call has its memory reused when large enough (cap), so a loop over
 * images allocates once; a zero-initialized one, or one whose cap is 0, is just written.
 * Every function is thread-safe.
 */
#ifndef SUBSETTER_PIXELS_H
#define SUBSETTER_PIXELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "subsetter/error.h"

/* An 8-bit RGB image, rows of w * 3 bytes, no padding. */
typedef struct {
    uint8_t *px;
    int w, h;
    size_t cap; /* bytes allocated at px by this module; 0: px is not ours (ignored) */
} sub_rgb_t;

void sub_rgb_release(sub_rgb_t *img);

/* Decodes buf[0..len) (a JPEG) into *out as Pillow's convert("RGB") does. With min_w and
 * min_h 0, full size; otherwise the DCT-scaled size described above (a side whose minimum
 * is 0 is not constrained; scales above 1 are never used, so a smaller image stays 1/1).
 * Fails with SUB_E_INPUT naming the reason, err->cause a sub_image_cause_t (image.h):
 * SUB_IMAGE_E_NOT_IMAGE (not a JPEG), SUB_IMAGE_E_CORRUPT (unreadable header, corrupt
 * data, a decoder warning such as a truncated file), SUB_IMAGE_E_TOO_LARGE (over twice
 * SUB_IMAGE_DEFAULT_MAX_PIXELS, where Pillow raises DecompressionBombError; checked before
 * allocating). SUB_E_INTERNAL when the pixels cannot be allocated. *out is valid on every
 * path: empty ({NULL, 0, 0}) on failure. */
bool sub_pixels_decode_rgb(const uint8_t *buf, size_t len, int min_w, int min_h, sub_rgb_t *out,
                           sub_error_t *err);

/* Pillow's resize((w, h), BILINEAR) of in into *out (allocated here; the same size gives a
 * copy). w, h >= 1, else SUB_E_INTERNAL. *out is empty on failure. */
bool sub_pixels_resize(const sub_rgb_t *in, int w, int h, sub_rgb_t *out, sub_error_t *err);

/* torchvision's Resize(short_side) then CenterCrop(crop) of in, written to
 * dst[0 .. crop * crop * 3) (RGB, HWC). 1 <= crop <= short_side, else SUB_E_INTERNAL.
 * Only the cropped window of the resize is computed (each output pixel depends on its own
 * weights only, so the window equals the crop of the whole resize, bit for bit). */
bool sub_pixels_resize_crop(const sub_rgb_t *in, int short_side, int crop, uint8_t *dst,
                            sub_error_t *err);

/* torchvision's Resize(short_side) output size for a w x h image: the shorter side (the
 * width when w == h) becomes short_side, the longer int(short_side * long / short) with
 * Python's float division. Fails with SUB_E_INPUT when the long side would pass INT_MAX
 * (Pillow cannot make it either), SUB_E_INTERNAL for sizes below 1. */
bool sub_pixels_short_side_size(int w, int h, int short_side, int *out_w, int *out_h,
                                sub_error_t *err);

#endif
