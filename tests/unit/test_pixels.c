/* test_pixels.c - sub_pixels_*: what can be proved without Pillow. Pillow's own values are
 * compared in tests/integration/test_pixels.py; here: the plumbing against TurboJPEG
 * itself, resize invariants (identity, constants, rows resized alone when only the width
 * changes), values worked out by hand from Resample.c, torchvision's sizes and crop offsets
 * (round half to even), the crop window against a crop of the whole resize, the choice of
 * DCT scale, and refusals. Every JPEG is made here with tjCompress2. */
#include <turbojpeg.h>

#include "check.h"
#include "subsetter/image.h"
#include "subsetter/pixels.h"
#include "subsetter/strutil.h"

/* ---- Building blocks ---- */

typedef sub_test_blob_t blob_t;

/* A fixed pseudo-random sequence (splitmix64), so failures reproduce. */
static uint64_t next_rand(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* A w x h RGB image of pseudo-random bytes. */
static sub_rgb_t random_image(int w, int h, uint64_t seed)
{
    sub_rgb_t img = {sub_xmalloc((size_t)w * (size_t)h * 3), w, h, (size_t)w * (size_t)h * 3};
    for (size_t i = 0; i < (size_t)w * (size_t)h * 3; i++)
        img.px[i] = (uint8_t)next_rand(&seed);
    return img;
}

static sub_rgb_t constant_image(int w, int h, uint8_t r, uint8_t g, uint8_t b)
{
    sub_rgb_t img = {sub_xmalloc((size_t)w * (size_t)h * 3), w, h, (size_t)w * (size_t)h * 3};
    for (size_t i = 0; i < (size_t)w * (size_t)h; i++) {
        img.px[3 * i] = r;
        img.px[3 * i + 1] = g;
        img.px[3 * i + 2] = b;
    }
    return img;
}

static const uint8_t *pixel(const sub_rgb_t *img, int x, int y)
{
    return img->px + ((size_t)y * (size_t)img->w + (size_t)x) * 3;
}

/* TurboJPEG's own full-size decode of a JPEG in pixel format pf (caller frees). */
static uint8_t *tj_decode(const blob_t *b, int pf, int *w, int *h)
{
    int subsamp, cs;
    tjhandle tj = tjInitDecompress();
    CHECK(tj != NULL);
    CHECK(tjDecompressHeader3(tj, b->p, b->n, w, h, &subsamp, &cs) == 0);
    uint8_t *px = sub_xmalloc((size_t)*w * (size_t)*h * (size_t)tjPixelSize[pf]);
    CHECK(tjDecompress2(tj, b->p, b->n, px, *w, 0, *h, pf, 0) == 0);
    tjDestroy(tj);
    return px;
}

static void check_same_image(const sub_rgb_t *a, const sub_rgb_t *b)
{
    CHECK_EQ(a->w, b->w);
    CHECK_EQ(a->h, b->h);
    CHECK(memcmp(a->px, b->px, (size_t)a->w * (size_t)a->h * 3) == 0);
}

/* ---- Decoding ---- */

static void test_decode_rgb_is_turbojpeg(void)
{
    static const int samps[] = {TJSAMP_420, TJSAMP_422, TJSAMP_444};
    for (size_t i = 0; i < sizeof samps / sizeof samps[0]; i++) {
        blob_t b = sub_test_make_jpeg(333, 517, TJPF_RGB, samps[i], 90);
        int w, h;
        uint8_t *want = tj_decode(&b, TJPF_RGB, &w, &h);
        sub_rgb_t img = {0};
        sub_error_t err = {0};
        CHECK_OK(sub_pixels_decode_rgb(b.p, b.n, 0, 0, &img, &err), &err);
        CHECK_EQ(img.w, 333);
        CHECK_EQ(img.h, 517);
        CHECK(memcmp(img.px, want, (size_t)w * (size_t)h * 3) == 0);
        sub_rgb_release(&img);
        free(want);
        free(b.p);
    }
}

/* A result passed back in is reused when large enough, grown when not, and a failed
 * decode into it leaves it empty; every decode is still the same pixels. */
static void test_decode_reuses_its_buffer(void)
{
    blob_t big = sub_test_make_jpeg(300, 200, TJPF_RGB, TJSAMP_420, 90);
    blob_t small = sub_test_make_jpeg(64, 48, TJPF_RGB, TJSAMP_444, 90);
    int w, h;
    uint8_t *want = tj_decode(&small, TJPF_RGB, &w, &h);
    sub_rgb_t img = {0};
    sub_error_t err = {0};
    CHECK_OK(sub_pixels_decode_rgb(big.p, big.n, 0, 0, &img, &err), &err);
    uint8_t *first = img.px;
    size_t cap = img.cap;
    CHECK(cap >= (size_t)300 * 200 * 3);
    CHECK_OK(sub_pixels_decode_rgb(small.p, small.n, 0, 0, &img, &err), &err);
    CHECK(img.px == first);
    CHECK_EQ(img.cap, cap);
    CHECK_EQ(img.w, 64);
    CHECK_EQ(img.h, 48);
    CHECK(memcmp(img.px, want, (size_t)w * (size_t)h * 3) == 0);
    CHECK_OK(sub_pixels_decode_rgb(big.p, big.n, 0, 0, &img, &err), &err);
    CHECK(img.px == first);
    CHECK_FAILS(sub_pixels_decode_rgb(big.p, big.n / 2, 0, 0, &img, &err), &err, SUB_E_INPUT);
    CHECK(img.px == NULL);
    CHECK_EQ(img.cap, 0);
    /* and the thread's decompressor works again after the failure */
    CHECK_OK(sub_pixels_decode_rgb(small.p, small.n, 0, 0, &img, &err), &err);
    CHECK(memcmp(img.px, want, (size_t)w * (size_t)h * 3) == 0);
    sub_rgb_release(&img);
    free(want);
    free(big.p);
    free(small.p);
}

static void test_decode_gray_replicates(void)
{
    blob_t b = sub_test_make_jpeg(97, 45, TJPF_GRAY, TJSAMP_GRAY, 85);
    int w, h;
    uint8_t *gray = tj_decode(&b, TJPF_GRAY, &w, &h);
    sub_rgb_t img = {0};
    sub_error_t err = {0};

    CHECK_OK(sub_pixels_decode_rgb(b.p, b.n, 0, 0, &img, &err), &err);
    CHECK_EQ(img.w, 97);
    CHECK_EQ(img.h, 45);
    for (size_t i = 0; i < (size_t)w * (size_t)h; i++) {
        CHECK_EQ(img.px[3 * i], gray[i]);
        CHECK_EQ(img.px[3 * i + 1], gray[i]);
        CHECK_EQ(img.px[3 * i + 2], gray[i]);
    }
    sub_rgb_release(&img);
    free(gray);
    free(b.p);
}

/* Pillow's steps, written out separately: unpack "CMYK;I" (each byte inverted), then
 * Convert.c's cmyk2rgb with MULDIV255. */
static uint8_t pillow_cmyk_channel(uint8_t stored, uint8_t stored_k)
{
    int c = 255 - stored, k = 255 - stored_k;
    int nk = 255 - k;
    int tmp = c * nk + 128;
    int v = nk - (((tmp >> 8) + tmp) >> 8);
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

static void test_decode_cmyk_as_pillow(void)
{
    /* TurboJPEG writes CMYK as YCCK with an Adobe marker, as Photoshop does. */
    blob_t b = sub_test_make_jpeg(64, 40, TJPF_CMYK, TJSAMP_444, 92);
    int w, h;
    uint8_t *cmyk = tj_decode(&b, TJPF_CMYK, &w, &h);
    sub_rgb_t img = {0};
    sub_error_t err = {0};

    CHECK_OK(sub_pixels_decode_rgb(b.p, b.n, 0, 0, &img, &err), &err);
    CHECK_EQ(img.w, 64);
    CHECK_EQ(img.h, 40);
    for (size_t i = 0; i < (size_t)w * (size_t)h; i++)
        for (int c = 0; c < 3; c++)
            CHECK_EQ(img.px[3 * i + (size_t)c],
                     pillow_cmyk_channel(cmyk[4 * i + (size_t)c], cmyk[4 * i + 3]));
    /* The extremes of the formula. */
    CHECK_EQ(pillow_cmyk_channel(0, 0), 0);
    CHECK_EQ(pillow_cmyk_channel(255, 255), 255);
    CHECK_EQ(pillow_cmyk_channel(0, 255), 0);
    sub_rgb_release(&img);
    free(cmyk);
    free(b.p);
}

static void check_fast(const blob_t *b, int min_w, int min_h, int want_w, int want_h)
{
    sub_rgb_t img = {0};
    sub_error_t err = {0};

    CHECK_OK(sub_pixels_decode_rgb(b->p, b->n, min_w, min_h, &img, &err), &err);
    if (img.w != want_w || img.h != want_h)
        fprintf(stderr, "min %dx%d: got %dx%d, want %dx%d\n", min_w, min_h, img.w, img.h, want_w,
                want_h);
    CHECK_EQ(img.w, want_w);
    CHECK_EQ(img.h, want_h);
    sub_rgb_release(&img);
}

static void test_decode_fast_scale(void)
{
    blob_t b = sub_test_make_jpeg(1024, 768, TJPF_RGB, TJSAMP_420, 80);
    blob_t odd = sub_test_make_jpeg(333, 517, TJPF_RGB, TJSAMP_420, 80);

    check_fast(&b, 0, 0, 1024, 768);       /* full size */
    check_fast(&b, 224, 224, 512, 384);    /* 1/2: 1/4 would leave 192 rows; no 3/8 */
    check_fast(&b, 100, 90, 128, 96);      /* 1/8 */
    check_fast(&b, 224, 0, 256, 192);      /* only the width constrained: 1/4 */
    check_fast(&b, 0, 600, 1024, 768);     /* 1/1: 1/2 would leave 384 rows; no 7/8 */
    check_fast(&b, 0, 384, 512, 384);      /* 1/2 exactly */
    check_fast(&b, 1024, 768, 1024, 768);  /* exactly the size: 1/1 */
    check_fast(&b, 2000, 2000, 1024, 768); /* never upscaled in the IDCT */
    check_fast(&odd, 40, 60, 42, 65);      /* 1/8, TJSCALED rounds up: 41.6, 64.6 */
    free(b.p);
    free(odd.p);
}

static void check_refused(const uint8_t *p, size_t n, int cause)
{
    static uint8_t stale[3];
    sub_rgb_t img = {stale, 7, 7, 0}; /* whatever was there is overwritten */
    sub_error_t err = {0};

    CHECK_FAILS(sub_pixels_decode_rgb(p, n, 0, 0, &img, &err), &err, SUB_E_INPUT);
    CHECK_EQ(err.cause, cause);
    CHECK(img.px == NULL);
    CHECK_EQ(img.w, 0);
    CHECK_EQ(img.h, 0);
}

static void test_decode_refuses_non_jpeg(void)
{
    static const uint8_t png[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13,
                                  'I',  'H', 'D', 'R', 0,    0,    0,    1,    0, 0, 0, 1};
    static const char html[] = "<html><body>not found</body></html>";

    check_refused(NULL, 0, SUB_IMAGE_E_NOT_IMAGE);
    check_refused((const uint8_t *)"", 0, SUB_IMAGE_E_NOT_IMAGE);
    check_refused(png, sizeof png, SUB_IMAGE_E_NOT_IMAGE);
    check_refused((const uint8_t *)html, sizeof html - 1, SUB_IMAGE_E_NOT_IMAGE);
}

static void test_decode_refuses_corrupt(void)
{
    blob_t b = sub_test_make_jpeg(300, 200, TJPF_RGB, TJSAMP_420, 90);

    /* Cut inside the entropy-coded data: "Premature end of JPEG file", a warning. */
    check_refused(b.p, b.n / 2, SUB_IMAGE_E_CORRUPT);
    check_refused(b.p, b.n - 2, SUB_IMAGE_E_CORRUPT); /* no EOI */
    /* Cut inside the headers. */
    check_refused(b.p, 40, SUB_IMAGE_E_CORRUPT);
    check_refused(b.p, 3, SUB_IMAGE_E_CORRUPT);
    /* A frame of width 0. */
    for (size_t i = 2; i + 9 < b.n; i++) {
        if (b.p[i] == 0xFF && b.p[i + 1] == 0xC0) {
            b.p[i + 7] = 0;
            b.p[i + 8] = 0;
            break;
        }
    }
    check_refused(b.p, b.n, SUB_IMAGE_E_CORRUPT);
    free(b.p);
}

static void test_release_twice(void)
{
    sub_rgb_t img = random_image(3, 3, 1);

    sub_rgb_release(&img);
    sub_rgb_release(&img);
    sub_rgb_release(NULL);
    CHECK(img.px == NULL);
}

/* ---- Resize ---- */

static void test_resize_same_size_is_copy(void)
{
    sub_rgb_t in = random_image(37, 23, 7), out = {0};
    sub_error_t err = {0};

    CHECK_OK(sub_pixels_resize(&in, 37, 23, &out, &err), &err);
    CHECK(out.px != in.px);
    check_same_image(&in, &out);
    sub_rgb_release(&in);
    sub_rgb_release(&out);
}

static void test_resize_constant_stays_constant(void)
{
    static const int sizes[][2] = {{17, 9}, {250, 131}, {100, 30}, {40, 60},
                                   {1, 1},  {1, 200},   {300, 1},  {99, 61}};
    sub_rgb_t in = constant_image(100, 60, 255, 0, 77);

    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        sub_rgb_t out = {0};
        sub_error_t err = {0};
        CHECK_OK(sub_pixels_resize(&in, sizes[i][0], sizes[i][1], &out, &err), &err);
        for (int y = 0; y < out.h; y++)
            for (int x = 0; x < out.w; x++) {
                const uint8_t *p = pixel(&out, x, y);
                CHECK_EQ(p[0], 255);
                CHECK_EQ(p[1], 0);
                CHECK_EQ(p[2], 77);
            }
        sub_rgb_release(&out);
    }
    sub_rgb_release(&in);
}

static void test_resize_upscale_1x1(void)
{
    sub_rgb_t in = constant_image(1, 1, 12, 200, 255), out = {0};
    sub_error_t err = {0};

    CHECK_OK(sub_pixels_resize(&in, 256, 256, &out, &err), &err);
    for (int i = 0; i < 256 * 256; i++) {
        CHECK_EQ(out.px[3 * i], 12);
        CHECK_EQ(out.px[3 * i + 1], 200);
        CHECK_EQ(out.px[3 * i + 2], 255);
    }
    sub_rgb_release(&in);
    sub_rgb_release(&out);
}

/* Worked out from Resample.c by hand. Downscale [0, 255] to one pixel: center 1, support 2,
 * both taps weigh 0.75 before normalizing, so 1 << 21 each: (2^21 + 255 * 2^21) >> 22 =
 * 128. Upscale [0, 255] to 4: centers 0.25 (one tap), 0.75 (weights 0.75, 0.25: 64.25),
 * 1.25 (0.25, 0.75: 191.75), 1.75 (one tap). */
static void test_resize_by_hand(void)
{
    sub_rgb_t in = constant_image(2, 1, 0, 0, 0), out = {0};
    sub_error_t err = {0};
    static const uint8_t up[4] = {0, 64, 191, 255};

    in.px[3] = in.px[4] = in.px[5] = 255;
    CHECK_OK(sub_pixels_resize(&in, 1, 1, &out, &err), &err);
    CHECK_EQ(out.px[0], 128);
    sub_rgb_release(&out);
    CHECK_OK(sub_pixels_resize(&in, 4, 1, &out, &err), &err);
    for (int i = 0; i < 4; i++)
        CHECK_EQ(out.px[3 * i + 1], up[i]);
    sub_rgb_release(&out);
    sub_rgb_release(&in);
}

/* When only the width changes there is no vertical pass: every row is resized alone. */
static void test_resize_width_only_is_per_row(void)
{
    sub_rgb_t in = random_image(211, 5, 3), out = {0};
    sub_error_t err = {0};

    CHECK_OK(sub_pixels_resize(&in, 64, 5, &out, &err), &err);
    for (int y = 0; y < 5; y++) {
        sub_rgb_t row = {in.px + (size_t)y * 211 * 3, 211, 1, 0}, r = {0};
        CHECK_OK(sub_pixels_resize(&row, 64, 1, &r, &err), &err);
        CHECK(memcmp(r.px, pixel(&out, 0, y), 64 * 3) == 0);
        sub_rgb_release(&r);
    }
    sub_rgb_release(&in);
    sub_rgb_release(&out);
}

/* The AVX2 passes (when the CPU has them) against the portable ones, on sizes that put the
 * last pixels of a buffer under the 8-byte reads: tiny, thin, tall, wide, both orders. */
static void test_resize_simd_is_portable(void)
{
    static const int cases[][4] = {
        {1, 1, 5, 3},        {2, 1, 1, 1},        {3, 2, 1, 7},    {7, 1, 2, 1},
        {1, 9, 1, 2},        {64, 48, 17, 13},    {64, 48, 5, 47}, {33, 97, 31, 8},
        {97, 33, 8, 31},     {300, 4, 7, 3},      {4, 300, 3, 7},  {255, 255, 254, 1},
        {20, 500, 224, 224}, {500, 20, 224, 224}, {1024, 7, 3, 3}, {13, 13, 200, 200},
        {2, 50, 1, 7},       {1, 50, 3, 20},      {3, 9, 2, 9},    {5, 8, 4, 8},
        {2, 1000, 1, 999},
    };
    uint64_t seed = 99;

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sub_rgb_t in = random_image(cases[i][0], cases[i][1], seed++), a = {0}, b = {0};
        sub_error_t err = {0};
        CHECK(unsetenv("SUBSETTER_PIXELS_PORTABLE") == 0);
        CHECK_OK(sub_pixels_resize(&in, cases[i][2], cases[i][3], &a, &err), &err);
        CHECK(setenv("SUBSETTER_PIXELS_PORTABLE", "1", 1) == 0);
        CHECK_OK(sub_pixels_resize(&in, cases[i][2], cases[i][3], &b, &err), &err);
        CHECK(unsetenv("SUBSETTER_PIXELS_PORTABLE") == 0);
        check_same_image(&a, &b);
        sub_rgb_release(&in);
        sub_rgb_release(&a);
        sub_rgb_release(&b);
    }
}

static void test_resize_refuses_bad_size(void)
{
    sub_rgb_t in = random_image(4, 4, 5), out = {0}, empty = {0};
    sub_error_t err = {0};

    CHECK_FAILS(sub_pixels_resize(&in, 0, 4, &out, &err), &err, SUB_E_INTERNAL);
    CHECK_FAILS(sub_pixels_resize(&in, 4, -1, &out, &err), &err, SUB_E_INTERNAL);
    CHECK_FAILS(sub_pixels_resize(&empty, 4, 4, &out, &err), &err, SUB_E_INTERNAL);
    CHECK(out.px == NULL);
    sub_rgb_release(&in);
}

/* ---- torchvision's Resize(256) + CenterCrop(224) ---- */

static void check_size(int w, int h, int want_w, int want_h)
{
    int ow, oh;
    sub_error_t err = {0};

    CHECK_OK(sub_pixels_short_side_size(w, h, 256, &ow, &oh, &err), &err);
    CHECK_EQ(ow, want_w);
    CHECK_EQ(oh, want_h);
}

static void test_short_side_sizes(void)
{
    int ow, oh;
    sub_error_t err = {0};

    check_size(300, 400, 256, 341);   /* portrait: 341.33 */
    check_size(1024, 768, 341, 256);  /* landscape */
    check_size(500, 500, 256, 256);   /* square */
    check_size(256, 999, 256, 999);   /* already there */
    check_size(1, 1, 256, 256);       /* upscaled */
    check_size(333, 517, 256, 397);   /* 397.45 */
    check_size(512, 1024, 256, 512);  /* exact */
    check_size(3, 1000, 256, 85333);  /* 85333.33 */
    check_size(5000, 20, 64000, 256); /* wide */
    check_size(768, 1023, 256, 341);  /* exactly 341 */
    check_size(7, 10, 256, 365);      /* 365.714... */
    CHECK_FAILS(sub_pixels_short_side_size(1, 1 << 30, 256, &ow, &oh, &err), &err, SUB_E_INPUT);
    CHECK_FAILS(sub_pixels_short_side_size(0, 5, 256, &ow, &oh, &err), &err, SUB_E_INTERNAL);
}

/* An image whose pixels say where they are: (x, y, x + y), each mod 256. */
static sub_rgb_t coordinate_image(int w, int h)
{
    sub_rgb_t img = {sub_xmalloc((size_t)w * (size_t)h * 3), w, h, (size_t)w * (size_t)h * 3};
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            uint8_t *p = img.px + ((size_t)y * (size_t)w + (size_t)x) * 3;
            p[0] = (uint8_t)x;
            p[1] = (uint8_t)y;
            p[2] = (uint8_t)(x + y);
        }
    return img;
}

/* With the short side at 256 already, Resize is a no-op and the crop is a plain copy from
 * (left, top), so the offsets show. */
static void check_crop_offset(int w, int h, int left, int top)
{
    sub_rgb_t in = coordinate_image(w, h);
    uint8_t *dst = sub_xmalloc(224 * 224 * 3);
    sub_error_t err = {0};

    CHECK_OK(sub_pixels_resize_crop(&in, 256, 224, dst, &err), &err);
    for (int y = 0; y < 224; y += 37)
        for (int x = 0; x < 224; x += 29)
            CHECK(memcmp(dst + ((size_t)y * 224 + (size_t)x) * 3, pixel(&in, left + x, top + y),
                         3) == 0);
    CHECK(memcmp(dst + (223 * 224 + 223) * 3, pixel(&in, left + 223, top + 223), 3) == 0);
    sub_rgb_release(&in);
    free(dst);
}

static void test_crop_offsets(void)
{
    check_crop_offset(256, 256, 16, 16);
    check_crop_offset(256, 481, 16, 128); /* 257 / 2 = 128.5: to even 128 */
    check_crop_offset(256, 483, 16, 130); /* 129.5: to even 130 */
    check_crop_offset(256, 257, 16, 16);  /* 16.5: 16 */
    check_crop_offset(259, 256, 18, 16);  /* 17.5: 18 */
    check_crop_offset(300, 256, 38, 16);  /* even difference */
}

/* The window computed alone equals the crop of the whole resize. */
static void check_window(int w, int h, uint64_t seed)
{
    sub_rgb_t in = random_image(w, h, seed), full = {0};
    uint8_t *dst = sub_xmalloc(224 * 224 * 3);
    sub_error_t err = {0};
    int rw, rh;

    CHECK_OK(sub_pixels_short_side_size(w, h, 256, &rw, &rh, &err), &err);
    CHECK_OK(sub_pixels_resize(&in, rw, rh, &full, &err), &err);
    CHECK_OK(sub_pixels_resize_crop(&in, 256, 224, dst, &err), &err);
    int left = (rw - 224) / 2, top = (rh - 224) / 2;
    /* round half to even, for the sizes used below */
    if ((rw - 224) % 2 && left % 2)
        left++;
    if ((rh - 224) % 2 && top % 2)
        top++;
    for (int y = 0; y < 224; y++)
        CHECK(memcmp(dst + (size_t)y * 224 * 3, pixel(&full, left, top + y), 224 * 3) == 0);
    sub_rgb_release(&in);
    sub_rgb_release(&full);
    free(dst);
}

static void test_crop_window_is_crop_of_resize(void)
{
    check_window(300, 200, 11); /* 384 x 256 */
    check_window(333, 517, 12); /* 256 x 397: top 86.5 -> 86 */
    check_window(100, 150, 13); /* upscaled: 256 x 384 */
    check_window(1000, 257, 14);
    check_window(255, 255, 15);
    check_window(300, 1000, 16); /* 256 x 853: the vertical pass first */
    check_window(1000, 300, 17);
}

static void test_crop_refuses_bad_args(void)
{
    sub_rgb_t in = random_image(300, 300, 9);
    uint8_t dst[16];
    sub_error_t err = {0};

    CHECK_FAILS(sub_pixels_resize_crop(&in, 256, 257, dst, &err), &err, SUB_E_INTERNAL);
    CHECK_FAILS(sub_pixels_resize_crop(&in, 256, 0, dst, &err), &err, SUB_E_INTERNAL);
    sub_rgb_release(&in);
}

static const sub_test_t tests[] = {
    {"decode_rgb_is_turbojpeg", test_decode_rgb_is_turbojpeg},
    {"decode_reuses_its_buffer", test_decode_reuses_its_buffer},
    {"decode_gray_replicates", test_decode_gray_replicates},
    {"decode_cmyk_as_pillow", test_decode_cmyk_as_pillow},
    {"decode_fast_scale", test_decode_fast_scale},
    {"decode_refuses_non_jpeg", test_decode_refuses_non_jpeg},
    {"decode_refuses_corrupt", test_decode_refuses_corrupt},
    {"release_twice", test_release_twice},
    {"resize_same_size_is_copy", test_resize_same_size_is_copy},
    {"resize_constant_stays_constant", test_resize_constant_stays_constant},
    {"resize_upscale_1x1", test_resize_upscale_1x1},
    {"resize_by_hand", test_resize_by_hand},
    {"resize_width_only_is_per_row", test_resize_width_only_is_per_row},
    {"resize_simd_is_portable", test_resize_simd_is_portable},
    {"resize_refuses_bad_size", test_resize_refuses_bad_size},
    {"short_side_sizes", test_short_side_sizes},
    {"crop_offsets", test_crop_offsets},
    {"crop_window_is_crop_of_resize", test_crop_window_is_crop_of_resize},
    {"crop_refuses_bad_args", test_crop_refuses_bad_args},
    {NULL, NULL},
};

int main(int argc, char **argv)
{
    return sub_test_main(argc, argv, tests);
}
