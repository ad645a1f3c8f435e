/* preview.c - the contact sheet and the class-count chart of `subsetter preview` (see
 * preview.h): pixels, JPEG and SVG, no database. */
#include "subsetter/preview.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <turbojpeg.h>

#include "subsetter/strutil.h"

/* ---- the contact sheet ------------------------------------------------------------------ */

int sub_preview_max_rows(int cols, int thumb, int margin)
{
    int64_t cell = (int64_t)thumb + margin, w = margin + (int64_t)cols * cell;
    int64_t rows = SUB_PREVIEW_MAX_ROWS;
    if (cell < 1 || w < 1)
        return 1;
    int64_t by_side = (SUB_PREVIEW_MAX_SIDE - margin) / cell;
    int64_t by_pixels = (SUB_PREVIEW_MAX_PIXELS / w - margin) / cell;
    rows = by_side < rows ? by_side : rows;
    rows = by_pixels < rows ? by_pixels : rows;
    return rows < 1 ? 1 : (int)rows;
}

void sub_preview_sheet_size(const sub_preview_grid_t *g, int *w, int *h)
{
    *w = g->margin + g->cols * (g->thumb + g->margin);
    *h = g->margin + g->rows * (g->thumb + g->margin);
}

void sub_preview_cell_origin(const sub_preview_grid_t *g, int row, int col, int *x, int *y)
{
    *x = g->margin + col * (g->thumb + g->margin);
    *y = g->margin + row * (g->thumb + g->margin);
}

bool sub_preview_sheet_init(const sub_preview_grid_t *g, sub_rgb_t *sheet, sub_error_t *err)
{
    memset(sheet, 0, sizeof *sheet);
    if (g->rows < 1 || g->cols < 1 || g->thumb < 1 || g->margin < 0)
        return sub_error_set(err, SUB_E_INTERNAL, 0, "contact sheet: bad grid %dx%d of %d px",
                             g->rows, g->cols, g->thumb);
    int64_t cell = (int64_t)g->thumb + g->margin;
    int64_t w = g->margin + (int64_t)g->cols * cell, h = g->margin + (int64_t)g->rows * cell;
    if (w > SUB_PREVIEW_MAX_SIDE || h > SUB_PREVIEW_MAX_SIDE)
        return sub_error_set(err, SUB_E_INTERNAL, 0,
                             "contact sheet of %lld x %lld px: over %d px a side", (long long)w,
                             (long long)h, SUB_PREVIEW_MAX_SIDE);
    size_t n = (size_t)w * (size_t)h * 3;
    sheet->px = sub_xmalloc(n);
    memset(sheet->px, SUB_PREVIEW_BG, n);
    sheet->w = (int)w;
    sheet->h = (int)h;
    sheet->cap = n;
    return true;
}

static uint8_t *cell_row(sub_rgb_t *sheet, const sub_preview_grid_t *g, int row, int col, int y)
{
    int x0, y0;
    sub_preview_cell_origin(g, row, col, &x0, &y0);
    return sheet->px + ((size_t)(y0 + y) * (size_t)sheet->w + (size_t)x0) * 3;
}

void sub_preview_sheet_put(sub_rgb_t *sheet, const sub_preview_grid_t *g, int row, int col,
                           const uint8_t *thumb)
{
    size_t stride = (size_t)g->thumb * 3;
    for (int y = 0; y < g->thumb; y++)
        memcpy(cell_row(sheet, g, row, col, y), thumb + (size_t)y * stride, stride);
}

void sub_preview_sheet_placeholder(sub_rgb_t *sheet, const sub_preview_grid_t *g, int row, int col)
{
    int t = g->thumb;
    for (int y = 0; y < t; y++) {
        uint8_t *p = cell_row(sheet, g, row, col, y);
        for (int x = 0; x < t; x++) {
            bool cross = abs(x - y) <= 1 || abs(x + y - (t - 1)) <= 1;
            memset(p + (size_t)x * 3, cross ? SUB_PREVIEW_CROSS : SUB_PREVIEW_PLACEHOLDER, 3);
        }
    }
}

bool sub_preview_sheet(const sub_preview_grid_t *g, const sub_preview_cell_t *cells,
                       const uint8_t *const *thumbs, sub_rgb_t *out, sub_error_t *err)
{
    if (!sub_preview_sheet_init(g, out, err))
        return false;
    for (int r = 0; r < g->rows; r++)
        for (int c = 0; c < g->cols; c++) {
            size_t i = (size_t)r * (size_t)g->cols + (size_t)c;
            if (cells[i] == SUB_PREVIEW_CELL_THUMB && thumbs[i])
                sub_preview_sheet_put(out, g, r, c, thumbs[i]);
            else if (cells[i] != SUB_PREVIEW_CELL_EMPTY)
                sub_preview_sheet_placeholder(out, g, r, c);
        }
    return true;
}

bool sub_preview_thumb(const uint8_t *buf, size_t len, int thumb, sub_rgb_t *scratch, uint8_t *dst,
                       sub_error_t *err)
{
    return sub_pixels_decode_rgb(buf, len, thumb, thumb, scratch, err) &&
           sub_pixels_resize_crop(scratch, thumb, thumb, dst, err);
}

bool sub_preview_jpeg(const sub_rgb_t *img, int quality, sub_buf_t *out, sub_error_t *err)
{
    tjhandle tj = tjInitCompress();
    if (!tj)
        return sub_error_set(err, SUB_E_INTERNAL, 0, "tjInitCompress: %s", tjGetErrorStr2(NULL));
    unsigned char *jpg = NULL;
    unsigned long n = 0;
    bool ok = tjCompress2(tj, img->px, img->w, 0, img->h, TJPF_RGB, &jpg, &n, TJSAMP_420, quality,
                          0) == 0;
    if (!ok)
        sub_error_set(err, SUB_E_INTERNAL, 0, "jpeg encode %dx%d: %s", img->w, img->h,
                      tjGetErrorStr2(tj));
    ok = ok && sub_buf_append(out, jpg, n, err);
    tjFree(jpg);
    tjDestroy(tj);
    return ok;
}

/* ---- the class-count chart -------------------------------------------------------------- */

/* The length of the UTF-8 sequence at s when it is a character XML 1.0 may hold, else 0
 * (control characters but tab, LF, CR; overlong forms; surrogates; U+FFFE, U+FFFF; past
 * U+10FFFF; a truncated sequence, the terminating NUL included). */
static size_t xml_char_len(const unsigned char *s)
{
    uint32_t cp = 0;
    size_t n = sub_utf8_decode(s, &cp);
    bool allowed = cp >= 0x20 || cp == '\t' || cp == '\n' || cp == '\r';
    return n && allowed && cp != 0xFFFE && cp != 0xFFFF ? n : 0;
}

bool sub_preview_xml_escape(sub_buf_t *out, const char *s, sub_error_t *err)
{
    bool ok = true;
    for (const unsigned char *p = (const unsigned char *)s; ok && *p;) {
        const char *esc = *p == '&'    ? "&amp;"
                          : *p == '<'  ? "&lt;"
                          : *p == '>'  ? "&gt;"
                          : *p == '"'  ? "&quot;"
                          : *p == '\'' ? "&apos;"
                                       : NULL;
        size_t n = esc ? 1 : xml_char_len(p);
        if (esc)
            ok = sub_buf_append(out, esc, strlen(esc), err);
        else if (n)
            ok = sub_buf_append(out, p, n, err);
        else /* one byte at a time, so the next valid character is kept */
            ok = sub_buf_append(out, "\xEF\xBF\xBD", 3, err);
        p += n ? n : 1;
    }
    return ok;
}

#define SVG_PAD      8
#define SVG_TOP      40 /* the title's band */
#define SVG_CHAR_W   7  /* px per character at 12 px, a generous sans-serif average */
#define SVG_TITLE_W  9  /* the same at 16 px bold */
#define SVG_LABEL_W  1400
#define SVG_BAR_H    12
#define SVG_BAR_FILL "#4878a8"

bool sub_preview_svg(const char *title, const char *const *labels, const int64_t *counts, size_t n,
                     sub_buf_t *out, sub_error_t *err)
{
    int64_t max = 0;
    size_t longest = 0;
    for (size_t i = 0; i < n; i++) {
        max = counts[i] > max ? counts[i] : max;
        size_t cp = labels[i] ? sub_utf8_count(labels[i]) : 0;
        longest = cp > longest ? cp : longest;
    }
    char digits[32];
    int count_w = SVG_CHAR_W * snprintf(digits, sizeof digits, "%lld", (long long)max);
    int64_t label_w = (int64_t)longest * SVG_CHAR_W;
    label_w = label_w < 40 ? 40 : label_w > SVG_LABEL_W ? SVG_LABEL_W : label_w;
    int64_t bar_x = SVG_PAD + label_w + 8;
    int64_t width = bar_x + SUB_PREVIEW_SVG_BAR_MAX + 6 + count_w + SVG_PAD;
    int64_t title_w = 2 * SVG_PAD + (int64_t)sub_utf8_count(title) * SVG_TITLE_W;
    width = title_w > width ? title_w : width;
    int64_t height = SVG_TOP + (int64_t)n * SUB_PREVIEW_SVG_ROW + SVG_PAD;

    bool ok =
        sub_buf_appendf(out, err,
                        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                        "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"%lld\" "
                        "height=\"%lld\" viewBox=\"0 0 %lld %lld\" font-family=\"sans-serif\" "
                        "font-size=\"12\">\n<title>",
                        (long long)width, (long long)height, (long long)width, (long long)height);
    ok = ok && sub_preview_xml_escape(out, title, err) &&
         sub_buf_appendf(out, err,
                         "</title>\n<rect width=\"%lld\" height=\"%lld\" fill=\"#ffffff\"/>\n"
                         "<text class=\"title\" x=\"%d\" y=\"24\" font-size=\"16\" "
                         "font-weight=\"bold\">",
                         (long long)width, (long long)height, SVG_PAD) &&
         sub_preview_xml_escape(out, title, err) && sub_buf_appendf(out, err, "</text>\n");
    for (size_t i = 0; ok && i < n; i++) {
        int64_t y0 = SVG_TOP + (int64_t)i * SUB_PREVIEW_SVG_ROW, c = counts[i] > 0 ? counts[i] : 0;
        double w = max > 0 ? (double)SUB_PREVIEW_SVG_BAR_MAX * (double)c / (double)max : 0.0;
        if (i % 2 == 1)
            ok = sub_buf_appendf(out, err,
                                 "<rect class=\"stripe\" x=\"0\" y=\"%lld\" width=\"%lld\" "
                                 "height=\"%d\" fill=\"#f2f2f2\"/>\n",
                                 (long long)y0, (long long)width, SUB_PREVIEW_SVG_ROW);
        ok = ok &&
             sub_buf_appendf(out, err,
                             "<text class=\"label\" x=\"%lld\" y=\"%lld\" text-anchor=\"end\">",
                             (long long)(bar_x - 6), (long long)(y0 + 13)) &&
             sub_preview_xml_escape(out, labels[i] ? labels[i] : "", err) &&
             sub_buf_appendf(out, err,
                             "</text><rect class=\"bar\" x=\"%lld\" y=\"%lld\" width=\"%.1f\" "
                             "height=\"%d\" fill=\"%s\"/><text class=\"count\" x=\"%.1f\" "
                             "y=\"%lld\">%lld</text>\n",
                             (long long)bar_x, (long long)(y0 + 3), w, SVG_BAR_H, SVG_BAR_FILL,
                             (double)bar_x + w + 6.0, (long long)(y0 + 13), (long long)counts[i]);
    }
    return ok && sub_buf_appendf(out, err, "</svg>\n");
}
