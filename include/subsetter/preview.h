/* preview.h - `subsetter preview`: a subset at a glance, as a contact sheet (JPEG) and a
 * bar chart of its class counts (SVG). Everything here works without a database.
 *
 * Contact sheet: one row per class, up to `cols` thumbnails per row, each a thumb x thumb
 * square SUB_PREVIEW_MARGIN px apart on a dark grey background (SUB_PREVIEW_BG). A
 * thumbnail is the image decoded with libjpeg-turbo's DCT scaling (the smallest 1/2, 1/4
 * or 1/8 keeping both sides at least thumb), its shorter side resized to thumb (Pillow's
 * antialiased bilinear) and its centre cropped to thumb x thumb (torchvision's offsets;
 * sub_pixels_resize_crop). A cell whose image is missing or undecodable is a mid-grey
 * square (SUB_PREVIEW_PLACEHOLDER) crossed by its two diagonals, 3 px wide
 * (SUB_PREVIEW_CROSS). The sheet holds no text: the row order is the class order given
 * alongside (preview.json).
 *
 * Class counts: an SVG 1.1 horizontal bar chart, one SUB_PREVIEW_SVG_ROW px row per class
 * in the given order: the label (right-aligned, XML-escaped), a bar whose width is
 * SUB_PREVIEW_SVG_BAR_MAX * count / max(counts), and the count after it. Elements carry
 * classes for tools: text.title, text.label, rect.bar, text.count.
 */
#ifndef SUBSETTER_PREVIEW_H
#define SUBSETTER_PREVIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "subsetter/error.h"
#include "subsetter/pixels.h"
#include "subsetter/strutil.h"

#define SUB_PREVIEW_MARGIN      4   /* px around and between cells */
#define SUB_PREVIEW_MAX_ROWS    200 /* classes on one sheet at most */
#define SUB_PREVIEW_MAX_SIDE    65535
#define SUB_PREVIEW_MAX_PIXELS  (64L * 1024 * 1024) /* 192 MiB of RGB */
#define SUB_PREVIEW_BG          32                  /* background grey level */
#define SUB_PREVIEW_PLACEHOLDER 128                 /* a missing image's cell */
#define SUB_PREVIEW_CROSS       208                 /* its diagonals */
#define SUB_PREVIEW_QUALITY     90

#define SUB_PREVIEW_SVG_ROW     18  /* px per class */
#define SUB_PREVIEW_SVG_BAR_MAX 600 /* px of the longest bar */

typedef struct {
    int rows, cols; /* classes, thumbnails per class */
    int thumb;      /* side of a cell */
    int margin;     /* px around and between cells */
} sub_preview_grid_t;

/* The most rows a sheet of cols cells of thumb px may have: SUB_PREVIEW_MAX_ROWS, fewer
 * when the sheet would pass SUB_PREVIEW_MAX_SIDE px high (TurboJPEG's limit) or
 * SUB_PREVIEW_MAX_PIXELS; at least 1. */
int sub_preview_max_rows(int cols, int thumb, int margin);

/* The sheet's size: margin + n * (thumb + margin) on each axis. */
void sub_preview_sheet_size(const sub_preview_grid_t *g, int *w, int *h);

/* The top-left pixel of cell (row, col). */
void sub_preview_cell_origin(const sub_preview_grid_t *g, int row, int col, int *x, int *y);

/* A new sheet for g, all background (allocated here; SUB_E_INTERNAL for a grid of no
 * cells or one past SUB_PREVIEW_MAX_SIDE). *sheet is empty on failure. */
bool sub_preview_sheet_init(const sub_preview_grid_t *g, sub_rgb_t *sheet, sub_error_t *err);

/* Copies a thumb x thumb RGB square (rows of thumb * 3 bytes) into cell (row, col).
 * Distinct cells are disjoint: they may be filled from several threads at once. */
void sub_preview_sheet_put(sub_rgb_t *sheet, const sub_preview_grid_t *g, int row, int col,
                           const uint8_t *thumb);

/* Draws the placeholder of a missing image in cell (row, col). */
void sub_preview_sheet_placeholder(sub_rgb_t *sheet, const sub_preview_grid_t *g, int row, int col);

typedef enum {
    SUB_PREVIEW_CELL_EMPTY,   /* background: the class has fewer samples */
    SUB_PREVIEW_CELL_THUMB,   /* thumbs[i] */
    SUB_PREVIEW_CELL_MISSING, /* the placeholder */
} sub_preview_cell_t;

/* The sheet from already-decoded thumbnails: cell i = row * cols + col is cells[i], its
 * pixels thumbs[i] (thumb x thumb RGB) when that is SUB_PREVIEW_CELL_THUMB. */
bool sub_preview_sheet(const sub_preview_grid_t *g, const sub_preview_cell_t *cells,
                       const uint8_t *const *thumbs, sub_rgb_t *out, sub_error_t *err);

/* One thumbnail (see above) of the JPEG buf[0..len) into dst[0 .. thumb * thumb * 3).
 * scratch holds the decoded pixels and is reused call to call (sub_rgb_release it at the
 * end). Fails as sub_pixels_decode_rgb does. Thread-safe with one scratch per thread. */
bool sub_preview_thumb(const uint8_t *buf, size_t len, int thumb, sub_rgb_t *scratch, uint8_t *dst,
                       sub_error_t *err);

/* Appends img as a baseline JPEG (TurboJPEG, 4:2:0) of the given quality to out. */
bool sub_preview_jpeg(const sub_rgb_t *img, int quality, sub_buf_t *out, sub_error_t *err);

/* Appends s as XML character data or attribute value: & < > " ' escaped, UTF-8 kept;
 * what XML 1.0 cannot hold (control characters but tab, LF and CR; U+FFFE, U+FFFF;
 * invalid UTF-8) becomes U+FFFD, so the output is always well-formed. */
bool sub_preview_xml_escape(sub_buf_t *out, const char *s, sub_error_t *err);

/* Appends the class-count chart (a whole SVG document) to out: a title, then one row
 * per class in the given order. */
bool sub_preview_svg(const char *title, const char *const *labels, const int64_t *counts, size_t n,
                     sub_buf_t *out, sub_error_t *err);

#endif
