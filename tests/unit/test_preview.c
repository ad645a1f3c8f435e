/* test_preview.c - the drawing of `subsetter preview`: the class-count SVG (escaping of
 * hostile labels, bar widths, geometry), the contact sheet (size, background, placeholder
 * pixels, thumbnails in place, row limits), thumbnails from a JPEG, and the sheet's JPEG
 * read back by TurboJPEG. */
#include <stdlib.h>
#include <string.h>

#include <turbojpeg.h>

#include "check.h"
#include "subsetter/preview.h"
#include "subsetter/strutil.h"

/* ---- helpers ---- */

static char *svg_of(const char *title, const char *const *labels, const int64_t *counts, size_t n)
{
    sub_buf_t b = SUB_BUF_INIT;
    sub_error_t err = {0};
    CHECK_OK(sub_preview_svg(title, labels, counts, n, &b, &err), &err);
    return sub_buf_take(&b);
}

static char *escaped(const char *s)
{
    sub_buf_t b = SUB_BUF_INIT;
    sub_error_t err = {0};
    CHECK_OK(sub_preview_xml_escape(&b, s, &err), &err);
    return sub_buf_take(&b);
}

static void check_escape(const char *in, const char *want)
{
    char *got = escaped(in);
    CHECK_STR_EQ(got, want);
    free(got);
}

/* The value of attribute `name` of the k-th element starting with `tag` (e.g.
 * "<rect class=\"bar\""), as a double; aborts when absent. */
static double attr(const char *svg, const char *tag, size_t k, const char *name)
{
    const char *p = svg;
    for (size_t i = 0; i <= k; i++) {
        p = strstr(p, tag);
        CHECK(p != NULL);
        if (i < k)
            p += strlen(tag);
    }
    const char *end = strchr(p, '>');
    char key[64];
    snprintf(key, sizeof key, " %s=\"", name);
    const char *v = strstr(p, key);
    CHECK(v != NULL && v < end);
    return strtod(v + strlen(key), NULL);
}

static size_t occurrences(const char *s, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(s, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

static const uint8_t *px(const sub_rgb_t *img, int x, int y)
{
    return img->px + ((size_t)y * (size_t)img->w + (size_t)x) * 3;
}

static void check_grey(const sub_rgb_t *img, int x, int y, int level)
{
    const uint8_t *p = px(img, x, y);
    if (p[0] != level || p[1] != level || p[2] != level) {
        fprintf(stderr, "pixel (%d, %d) is %d,%d,%d, want grey %d\n", x, y, p[0], p[1], p[2],
                level);
        abort();
    }
}

/* A w x h JPEG of one colour. */
static sub_buf_t solid_jpeg(int w, int h, uint8_t r, uint8_t g, uint8_t b)
{
    sub_rgb_t img = {sub_xmalloc((size_t)w * (size_t)h * 3), w, h, (size_t)w * (size_t)h * 3};
    for (size_t i = 0; i < (size_t)w * (size_t)h; i++) {
        img.px[3 * i] = r;
        img.px[3 * i + 1] = g;
        img.px[3 * i + 2] = b;
    }
    sub_buf_t out = SUB_BUF_INIT;
    sub_error_t err = {0};
    CHECK_OK(sub_preview_jpeg(&img, 95, &out, &err), &err);
    sub_rgb_release(&img);
    return out;
}

/* ---- the SVG ---- */

static void test_xml_escape(void)
{
    check_escape("<script>alert('x')</script>",
                 "&lt;script&gt;alert(&apos;x&apos;)&lt;/script&gt;");
    check_escape("Tom & Jerry", "Tom &amp; Jerry");
    check_escape("say \"hi\"", "say &quot;hi&quot;");
    check_escape("&amp;", "&amp;amp;");
    /* UTF-8 is kept as it is */
    check_escape("Caf\xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC \xF0\x9F\x90\x88",
                 "Caf\xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC \xF0\x9F\x90\x88");
    check_escape("tab\tnl\ncr\r", "tab\tnl\ncr\r");
    check_escape("", "");
}

static void test_xml_escape_replaces_what_xml_cannot_hold(void)
{
#define FFFD "\xEF\xBF\xBD"
    check_escape("a\001b\037c", "a" FFFD "b" FFFD "c");    /* control characters */
    check_escape("cut \xC3", "cut " FFFD);                 /* truncated sequence */
    check_escape("\xC3(", FFFD "(");                       /* bad continuation: ( kept */
    check_escape("\xC0\xAF", FFFD FFFD);                   /* overlong '/' */
    check_escape("\xED\xA0\x80", FFFD FFFD FFFD);          /* a surrogate */
    check_escape("\xEF\xBF\xBE", FFFD FFFD FFFD);          /* U+FFFE */
    check_escape("\xF4\x90\x80\x80", FFFD FFFD FFFD FFFD); /* past U+10FFFF */
    check_escape("\xFF<", FFFD "&lt;");
#undef FFFD
}

static void test_svg_escapes_hostile_labels(void)
{
    const char *labels[] = {"<script>alert(1)</script>", "Tom & Jerry", "\"quoted\" 'single'",
                            "Caf\xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC", "ctl\x07x"};
    int64_t counts[] = {5, 4, 3, 2, 1};
    char *svg = svg_of("<b>&ds</b>: 15 samples, 5 classes", labels, counts, 5);
    CHECK(strstr(svg, "<script") == NULL);
    CHECK(strstr(svg, "<b>") == NULL);
    CHECK_CONTAINS(svg, ">&lt;script&gt;alert(1)&lt;/script&gt;</text>");
    CHECK_CONTAINS(svg, ">Tom &amp; Jerry</text>");
    CHECK_CONTAINS(svg, ">&quot;quoted&quot; &apos;single&apos;</text>");
    CHECK_CONTAINS(svg, ">Caf\xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC</text>");
    CHECK_CONTAINS(svg, ">ctl\xEF\xBF\xBDx</text>");
    CHECK_CONTAINS(svg, "<title>&lt;b&gt;&amp;ds&lt;/b&gt;: 15 samples, 5 classes</title>");
    CHECK_CONTAINS(svg, ">&lt;b&gt;&amp;ds&lt;/b&gt;: 15 samples, 5 classes</text>");
    /* no raw & outside an entity: every & starts one of the five */
    for (const char *p = strchr(svg, '&'); p; p = strchr(p + 1, '&'))
        CHECK(strncmp(p, "&amp;", 5) == 0 || strncmp(p, "&lt;", 4) == 0 ||
              strncmp(p, "&gt;", 4) == 0 || strncmp(p, "&quot;", 6) == 0 ||
              strncmp(p, "&apos;", 6) == 0);
    free(svg);
}

static void test_svg_bar_widths_are_proportional(void)
{
    const char *labels[] = {"a", "b", "c", "d", "e"};
    int64_t counts[] = {345, 69, 345, 1, 0};
    char *svg = svg_of("t", labels, counts, 5);
    double want[] = {600.0, 120.0, 600.0, 600.0 / 345.0, 0.0};
    for (size_t i = 0; i < 5; i++) {
        double w = attr(svg, "<rect class=\"bar\"", i, "width");
        CHECK(w >= want[i] - 0.05 && w <= want[i] + 0.05);
        /* the count follows its bar */
        double x = attr(svg, "<text class=\"count\"", i, "x");
        CHECK(x > attr(svg, "<rect class=\"bar\"", i, "x") + w);
    }
    CHECK_CONTAINS(svg, ">345</text>");
    CHECK_CONTAINS(svg, ">69</text>");
    CHECK_CONTAINS(svg, ">0</text>");
    /* every bar starts at the same x */
    CHECK_DBL_EQ(attr(svg, "<rect class=\"bar\"", 0, "x"),
                 attr(svg, "<rect class=\"bar\"", 4, "x"));
    free(svg);
}

static void test_svg_geometry_for_100_classes(void)
{
    enum { N = 100 };
    char *names[N];
    const char *labels[N];
    int64_t counts[N];
    for (size_t i = 0; i < N; i++) {
        names[i] = sub_xasprintf("class number %zu", i);
        labels[i] = names[i];
        counts[i] = (int64_t)(i + 1) * 3;
    }
    char *svg = svg_of("open-images-v7-100: 15150 samples, 100 classes", labels, counts, N);
    CHECK(sub_str_starts_with(svg, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg "));
    CHECK_CONTAINS(svg, "xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\"");
    CHECK_CONTAINS(svg, "font-family=\"sans-serif\"");
    CHECK_EQ(strcmp(svg + strlen(svg) - 7, "</svg>\n"), 0);
    CHECK_EQ(occurrences(svg, "<text class=\"label\""), N);
    CHECK_EQ(occurrences(svg, "<rect class=\"bar\""), N);
    CHECK_EQ(occurrences(svg, "<text class=\"count\""), N);
    /* one row of SUB_PREVIEW_SVG_ROW px per class, in the given order */
    double y0 = attr(svg, "<rect class=\"bar\"", 0, "y");
    for (size_t i = 1; i < N; i++)
        CHECK_DBL_EQ(attr(svg, "<rect class=\"bar\"", i, "y") - y0,
                     (double)i * SUB_PREVIEW_SVG_ROW);
    double h = attr(svg, "<svg ", 0, "height");
    CHECK(h >= y0 + N * SUB_PREVIEW_SVG_ROW && h <= y0 + N * SUB_PREVIEW_SVG_ROW + 40);
    /* the widest bar and its count fit */
    CHECK_DBL_EQ(attr(svg, "<rect class=\"bar\"", N - 1, "width"), SUB_PREVIEW_SVG_BAR_MAX);
    CHECK(attr(svg, "<svg ", 0, "width") > attr(svg, "<text class=\"count\"", N - 1, "x") + 21);
    char *first = strstr(svg, ">class number 0</text>"), *last = strstr(svg, ">class number 99<");
    CHECK(first && last && first < last);
    free(svg);
    for (size_t i = 0; i < N; i++)
        free(names[i]);
}

static void test_svg_of_no_classes(void)
{
    char *svg = svg_of("empty: 0 samples, 0 classes", NULL, NULL, 0);
    CHECK_CONTAINS(svg, "<title>empty: 0 samples, 0 classes</title>");
    CHECK_EQ(occurrences(svg, "<rect class=\"bar\""), 0);
    CHECK_CONTAINS(svg, "</svg>\n");
    free(svg);
}

/* ---- the contact sheet ---- */

static void test_sheet_size(void)
{
    sub_preview_grid_t g = {.rows = 3, .cols = 8, .thumb = 128, .margin = SUB_PREVIEW_MARGIN};
    int w, h, x, y;
    sub_preview_sheet_size(&g, &w, &h);
    CHECK_EQ(w, SUB_PREVIEW_MARGIN + 8 * (128 + SUB_PREVIEW_MARGIN));
    CHECK_EQ(h, SUB_PREVIEW_MARGIN + 3 * (128 + SUB_PREVIEW_MARGIN));
    sub_preview_cell_origin(&g, 2, 7, &x, &y);
    CHECK_EQ(x, w - SUB_PREVIEW_MARGIN - 128);
    CHECK_EQ(y, h - SUB_PREVIEW_MARGIN - 128);

    sub_rgb_t sheet;
    sub_error_t err = {0};
    CHECK_OK(sub_preview_sheet_init(&g, &sheet, &err), &err);
    CHECK_EQ(sheet.w, w);
    CHECK_EQ(sheet.h, h);
    for (int i = 0; i < w * h; i++)
        check_grey(&sheet, i % w, i / w, SUB_PREVIEW_BG);
    sub_rgb_release(&sheet);
}

static void test_sheet_cells(void)
{
    enum { T = 32, ROWS = 2, COLS = 3 };
    sub_preview_grid_t g = {.rows = ROWS, .cols = COLS, .thumb = T, .margin = SUB_PREVIEW_MARGIN};
    uint8_t thumb[T * T * 3];
    for (int i = 0; i < T * T; i++) { /* a gradient: position shows in the pixels */
        thumb[3 * i] = (uint8_t)(i % T * 8);
        thumb[3 * i + 1] = (uint8_t)(i / T * 8);
        thumb[3 * i + 2] = 77;
    }
    sub_preview_cell_t cells[ROWS * COLS] = {SUB_PREVIEW_CELL_THUMB, SUB_PREVIEW_CELL_MISSING,
                                             SUB_PREVIEW_CELL_EMPTY, SUB_PREVIEW_CELL_MISSING,
                                             SUB_PREVIEW_CELL_THUMB, SUB_PREVIEW_CELL_EMPTY};
    const uint8_t *thumbs[ROWS * COLS] = {thumb, NULL, NULL, NULL, thumb, NULL};
    sub_rgb_t sheet;
    sub_error_t err = {0};
    CHECK_OK(sub_preview_sheet(&g, cells, thumbs, &sheet, &err), &err);
    int w, h;
    sub_preview_sheet_size(&g, &w, &h);
    CHECK_EQ(sheet.w, w);
    CHECK_EQ(sheet.h, h);
    for (int r = 0; r < ROWS; r++)
        for (int c = 0; c < COLS; c++) {
            int x0, y0;
            sub_preview_cell_origin(&g, r, c, &x0, &y0);
            sub_preview_cell_t kind = cells[r * COLS + c];
            for (int y = 0; y < T; y++)
                for (int x = 0; x < T; x++) {
                    if (kind == SUB_PREVIEW_CELL_THUMB) {
                        CHECK_EQ(memcmp(px(&sheet, x0 + x, y0 + y), thumb + (y * T + x) * 3, 3), 0);
                    } else if (kind == SUB_PREVIEW_CELL_MISSING) {
                        /* mid grey crossed by its diagonals, 3 px wide */
                        int d1 = abs(x - y), d2 = abs(x + y - (T - 1));
                        check_grey(&sheet, x0 + x, y0 + y,
                                   d1 <= 1 || d2 <= 1 ? SUB_PREVIEW_CROSS
                                                      : SUB_PREVIEW_PLACEHOLDER);
                    } else {
                        check_grey(&sheet, x0 + x, y0 + y, SUB_PREVIEW_BG);
                    }
                }
            /* the margin around each cell is background */
            check_grey(&sheet, x0 - 1, y0 - 1, SUB_PREVIEW_BG);
            check_grey(&sheet, x0 + T, y0 + T, SUB_PREVIEW_BG);
        }
    /* the placeholder by hand: centre and corners on the cross, the middle of an edge not */
    int x0, y0;
    sub_preview_cell_origin(&g, 0, 1, &x0, &y0);
    check_grey(&sheet, x0, y0, SUB_PREVIEW_CROSS);
    check_grey(&sheet, x0 + T - 1, y0, SUB_PREVIEW_CROSS);
    check_grey(&sheet, x0 + T / 2, y0 + T / 2, SUB_PREVIEW_CROSS);
    check_grey(&sheet, x0 + T / 2, y0, SUB_PREVIEW_PLACEHOLDER);
    check_grey(&sheet, x0, y0 + T / 2, SUB_PREVIEW_PLACEHOLDER);
    sub_rgb_release(&sheet);
}

static void test_sheet_row_limits(void)
{
    CHECK_EQ(sub_preview_max_rows(8, 128, SUB_PREVIEW_MARGIN), SUB_PREVIEW_MAX_ROWS);
    /* 65535 px high at most: (65535 - 4) / 516 rows of 512 px */
    CHECK_EQ(sub_preview_max_rows(1, 512, SUB_PREVIEW_MARGIN), 126);
    /* 64 Mpx at most: 32 x 512 px is 16516 px wide, 4063 px high at most */
    CHECK_EQ(sub_preview_max_rows(32, 512, SUB_PREVIEW_MARGIN), 7);
    for (int t = 16; t <= 512; t *= 2)
        for (int c = 1; c <= 32; c *= 2) {
            int rows = sub_preview_max_rows(c, t, SUB_PREVIEW_MARGIN), w, h;
            sub_preview_grid_t g = {rows, c, t, SUB_PREVIEW_MARGIN};
            sub_preview_sheet_size(&g, &w, &h);
            CHECK(rows >= 1 && rows <= SUB_PREVIEW_MAX_ROWS);
            CHECK(h <= SUB_PREVIEW_MAX_SIDE && (int64_t)w * h <= SUB_PREVIEW_MAX_PIXELS);
        }
    sub_preview_grid_t big = {200, 1, 512, SUB_PREVIEW_MARGIN}, none = {0, 8, 128, 4};
    sub_rgb_t sheet;
    sub_error_t err = {0};
    CHECK_FAILS(sub_preview_sheet_init(&big, &sheet, &err), &err, SUB_E_INTERNAL);
    CHECK(sheet.px == NULL);
    CHECK_FAILS(sub_preview_sheet_init(&none, &sheet, &err), &err, SUB_E_INTERNAL);
}

/* ---- thumbnails and the JPEG ---- */

static void test_thumb_of_a_jpeg(void)
{
    sub_buf_t jpg = solid_jpeg(640, 300, 200, 40, 90);
    enum { T = 64 };
    uint8_t dst[T * T * 3];
    sub_rgb_t scratch = {0};
    sub_error_t err = {0};
    CHECK_OK(sub_preview_thumb((const uint8_t *)jpg.data, jpg.len, T, &scratch, dst, &err), &err);
    /* DCT-scaled: 1/4 keeps both sides >= 64 (160 x 75) */
    CHECK_EQ(scratch.w, 160);
    CHECK_EQ(scratch.h, 75);
    for (int i = 0; i < T * T; i++) {
        CHECK(abs(dst[3 * i] - 200) <= 4);
        CHECK(abs(dst[3 * i + 1] - 40) <= 4);
        CHECK(abs(dst[3 * i + 2] - 90) <= 4);
    }
    /* a smaller image than the thumbnail is scaled up */
    sub_buf_t small = solid_jpeg(20, 40, 10, 10, 250);
    CHECK_OK(sub_preview_thumb((const uint8_t *)small.data, small.len, T, &scratch, dst, &err),
             &err);
    CHECK(abs(dst[2] - 250) <= 4);
    /* not a JPEG, a truncated one: refused */
    CHECK_FAILS(sub_preview_thumb((const uint8_t *)"GIF89a....", 10, T, &scratch, dst, &err), &err,
                SUB_E_INPUT);
    CHECK_EQ(scratch.w, 0);
    CHECK_FAILS(sub_preview_thumb((const uint8_t *)jpg.data, jpg.len / 2, T, &scratch, dst, &err),
                &err, SUB_E_INPUT);
    sub_rgb_release(&scratch);
    sub_buf_release(&jpg);
    sub_buf_release(&small);
}

static void test_jpeg_decodes_back(void)
{
    enum { T = 48, ROWS = 3, COLS = 5 };
    sub_preview_grid_t g = {ROWS, COLS, T, SUB_PREVIEW_MARGIN};
    sub_preview_cell_t cells[ROWS * COLS];
    const uint8_t *thumbs[ROWS * COLS];
    uint8_t red[T * T * 3];
    for (int i = 0; i < T * T; i++) {
        red[3 * i] = 220;
        red[3 * i + 1] = 20;
        red[3 * i + 2] = 20;
    }
    for (int i = 0; i < ROWS * COLS; i++) {
        cells[i] = i == 7    ? SUB_PREVIEW_CELL_MISSING
                   : i == 14 ? SUB_PREVIEW_CELL_EMPTY
                             : SUB_PREVIEW_CELL_THUMB;
        thumbs[i] = red;
    }
    sub_rgb_t sheet;
    sub_buf_t jpg = SUB_BUF_INIT;
    sub_error_t err = {0};
    CHECK_OK(sub_preview_sheet(&g, cells, thumbs, &sheet, &err), &err);
    CHECK_OK(sub_preview_jpeg(&sheet, SUB_PREVIEW_QUALITY, &jpg, &err), &err);

    tjhandle tj = tjInitDecompress();
    CHECK(tj != NULL);
    int w = 0, h = 0, ss = -1, cs = -1;
    CHECK_EQ(tjDecompressHeader3(tj, (unsigned char *)jpg.data, jpg.len, &w, &h, &ss, &cs), 0);
    CHECK_EQ(w, sheet.w);
    CHECK_EQ(h, sheet.h);
    CHECK_EQ(ss, TJSAMP_420);
    sub_rgb_t back = {sub_xmalloc((size_t)w * (size_t)h * 3), w, h, (size_t)w * (size_t)h * 3};
    CHECK_EQ(tjDecompress2(tj, (unsigned char *)jpg.data, jpg.len, back.px, w, 0, h, TJPF_RGB, 0),
             0);
    tjDestroy(tj);
    /* the middle of a thumbnail, of the placeholder (off its cross), of an empty cell */
    int x0, y0;
    sub_preview_cell_origin(&g, 0, 0, &x0, &y0);
    const uint8_t *p = px(&back, x0 + T / 2, y0 + T / 2);
    CHECK(abs(p[0] - 220) <= 8 && abs(p[1] - 20) <= 8 && abs(p[2] - 20) <= 8);
    sub_preview_cell_origin(&g, 7 / COLS, 7 % COLS, &x0, &y0);
    p = px(&back, x0 + T / 2, y0 + T / 8);
    CHECK(abs(p[0] - SUB_PREVIEW_PLACEHOLDER) <= 8 && abs(p[1] - SUB_PREVIEW_PLACEHOLDER) <= 8);
    p = px(&back, x0 + T / 2, y0 + T / 2);
    CHECK(abs(p[0] - SUB_PREVIEW_CROSS) <= 24);
    sub_preview_cell_origin(&g, ROWS - 1, COLS - 1, &x0, &y0);
    p = px(&back, x0 + T / 2, y0 + T / 2);
    CHECK(abs(p[0] - SUB_PREVIEW_BG) <= 4 && abs(p[2] - SUB_PREVIEW_BG) <= 4);
    sub_rgb_release(&back);
    sub_rgb_release(&sheet);
    sub_buf_release(&jpg);
}

static const sub_test_t tests[] = {
    {"xml_escape", test_xml_escape},
    {"xml_escape_replaces_what_xml_cannot_hold", test_xml_escape_replaces_what_xml_cannot_hold},
    {"svg_escapes_hostile_labels", test_svg_escapes_hostile_labels},
    {"svg_bar_widths_are_proportional", test_svg_bar_widths_are_proportional},
    {"svg_geometry_for_100_classes", test_svg_geometry_for_100_classes},
    {"svg_of_no_classes", test_svg_of_no_classes},
    {"sheet_size", test_sheet_size},
    {"sheet_cells", test_sheet_cells},
    {"sheet_row_limits", test_sheet_row_limits},
    {"thumb_of_a_jpeg", test_thumb_of_a_jpeg},
    {"jpeg_decodes_back", test_jpeg_decodes_back},
    {NULL, NULL},
};

int main(int argc, char **argv)
{
    return sub_test_main(argc, argv, tests);
}
