/* test_image.c - sub_image_*: types by magic bytes, PIL's sizes and bands, EXIF orientation,
 * and verify's refusal of truncated and damaged files. Every image is made here: JPEGs by
 * TurboJPEG (tjCompress2, tjTransform), PNG/GIF/WebP/BMP byte by byte. */
#include <bson/bson.h>
#include <turbojpeg.h>

#include "check.h"
#include "subsetter/image.h"
#include "subsetter/strutil.h"

/* ---- Building blocks ---- */

typedef sub_test_blob_t blob_t;

/* The allocation of a blob holding n bytes: room for a NUL, doubled as it grows. */
static size_t cap_for(size_t n)
{
    size_t c = 16;
    while (c < n + 1)
        c *= 2;
    return c;
}

static void put(blob_t *b, const void *d, size_t n)
{
    if (!b->p || cap_for(b->n + n) > cap_for(b->n))
        b->p = sub_xrealloc(b->p, cap_for(b->n + n));
    if (n)
        memcpy(b->p + b->n, d, n);
    b->n += n;
}

static void put8(blob_t *b, unsigned v)
{
    uint8_t c = (uint8_t)v;
    put(b, &c, 1);
}

static void put16(blob_t *b, unsigned v, bool little)
{
    put8(b, little ? v : v >> 8);
    put8(b, little ? v >> 8 : v);
}

static void put32(blob_t *b, uint32_t v, bool little)
{
    put16(b, little ? v & 0xFFFF : v >> 16, little);
    put16(b, little ? v >> 16 : v & 0xFFFF, little);
}

static void puts_(blob_t *b, const char *s)
{
    put(b, s, strlen(s));
}

static blob_t copy_of(const uint8_t *p, size_t n)
{
    blob_t b = {NULL, 0};
    put(&b, p, n);
    return b;
}

static void blob_free(blob_t *b)
{
    free(b->p);
    b->p = NULL;
    b->n = 0;
}

/* A fixed pseudo-random sequence (splitmix64), so failures reproduce. */
static uint64_t next_rand(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static blob_t make_rgb_jpeg(int w, int h)
{
    return sub_test_make_jpeg(w, h, TJPF_RGB, TJSAMP_420, 85);
}

/* The same image, losslessly rewritten as progressive. */
static blob_t to_progressive(const blob_t *in)
{
    tjhandle tj = tjInitTransform();
    CHECK(tj != NULL);
    unsigned char *out = NULL;
    unsigned long n = 0;
    tjtransform xf;
    memset(&xf, 0, sizeof xf);
    xf.op = TJXOP_NONE;
    xf.options = TJXOPT_PROGRESSIVE;
    if (tjTransform(tj, in->p, in->n, 1, &out, &n, &xf, 0) != 0) {
        fprintf(stderr, "tjTransform: %s\n", tjGetErrorStr2(tj));
        abort();
    }
    blob_t b = copy_of(out, n);
    tjFree(out);
    tjDestroy(tj);
    return b;
}

/* jpg with one APP1 segment holding payload spliced in right after SOI. */
static blob_t with_app1(const blob_t *jpg, const blob_t *payload)
{
    blob_t b = {NULL, 0};
    put(&b, jpg->p, 2);
    put8(&b, 0xFF);
    put8(&b, 0xE1);
    put16(&b, (unsigned)payload->n + 2, false);
    put(&b, payload->p, payload->n);
    put(&b, jpg->p + 2, jpg->n - 2);
    return b;
}

/* "Exif\0\0" + a TIFF block whose IFD0 has a Make entry and, unless orientation < 0, an
 * Orientation entry of the given type and count. */
static blob_t exif_block(bool little, int orientation, unsigned type, uint32_t count)
{
    blob_t b = {NULL, 0};
    put(&b, "Exif\0\0", 6);
    puts_(&b, little ? "II" : "MM");
    put16(&b, 42, little);
    put32(&b, 8, little);
    put16(&b, orientation < 0 ? 1 : 2, little);
    put16(&b, 0x010F, little); /* Make, ASCII, 4 bytes inline */
    put16(&b, 2, little);
    put32(&b, 4, little);
    puts_(&b, "abc");
    put8(&b, 0);
    if (orientation >= 0) {
        put16(&b, 0x0112, little);
        put16(&b, type, little);
        put32(&b, count, little);
        if (type == 4) {
            put32(&b, (uint32_t)orientation, little);
        } else if (type == 1) {
            put8(&b, (unsigned)orientation);
            put8(&b, 0);
            put16(&b, 0, little);
        } else {
            put16(&b, (unsigned)orientation, little);
            put16(&b, 0, little);
        }
    }
    put32(&b, 0, little); /* no IFD1 */
    return b;
}

static blob_t jpeg_with_exif(const blob_t *jpg, bool little, int orientation)
{
    blob_t ex = exif_block(little, orientation, 3, 1);
    blob_t out = with_app1(jpg, &ex);
    blob_free(&ex);
    return out;
}

static sub_image_info_t probe_ok(const blob_t *b)
{
    sub_image_info_t info;
    sub_error_t err = {0};
    CHECK_OK(sub_image_probe(b->p, b->n, &info, &err), &err);
    return info;
}

static sub_image_info_t verify_ok(const blob_t *b)
{
    sub_image_info_t info;
    sub_error_t err = {0};
    CHECK_OK(sub_image_verify(b->p, b->n, NULL, &info, &err), &err);
    return info;
}

static void check_zeroed(const sub_image_info_t *info)
{
    CHECK_EQ(info->type, SUB_IMAGE_NONE);
    CHECK(info->mime_type == NULL);
    CHECK(info->mode == NULL);
    CHECK_EQ(info->width, 0);
    CHECK_EQ(info->num_channels, 0);
    CHECK_EQ(info->orientation, 1);
}

static void verify_fails(const uint8_t *p, size_t n, sub_image_cause_t cause)
{
    sub_image_info_t info;
    sub_error_t err = {0};
    if (sub_image_verify(p, n, NULL, &info, &err)) {
        fprintf(stderr, "verify of %zu bytes succeeded\n", n);
        abort();
    }
    CHECK_STR_EQ(sub_code_name(err.code), "INPUT");
    CHECK_EQ(err.cause, cause);
    check_zeroed(&info);
}

/* ---- JPEG: types, modes, subsampling ---- */

static void test_jpeg_rgb_420(void)
{
    blob_t j = make_rgb_jpeg(64, 48);
    sub_image_info_t info = verify_ok(&j);
    CHECK_EQ(info.type, SUB_IMAGE_JPEG);
    CHECK_STR_EQ(info.mime_type, "image/jpeg");
    CHECK_STR_EQ(info.mode, "RGB");
    CHECK_EQ(info.width, 64);
    CHECK_EQ(info.height, 48);
    CHECK_EQ(info.num_channels, 3);
    CHECK_EQ(info.orientation, 1);
    CHECK_EQ(info.oriented_width, 64);
    CHECK_EQ(info.oriented_height, 48);
    CHECK_EQ(info.jpeg_subsamp, TJSAMP_420);
    CHECK_EQ(info.jpeg_colorspace, TJCS_YCbCr);
    CHECK(!info.progressive);
    blob_free(&j);
}

static void test_jpeg_rgb_444(void)
{
    blob_t j = sub_test_make_jpeg(33, 17, TJPF_BGRX, TJSAMP_444, 85); /* odd sizes, 4-byte pixels */
    sub_image_info_t info = verify_ok(&j);
    CHECK_EQ(info.width, 33);
    CHECK_EQ(info.height, 17);
    CHECK_EQ(info.num_channels, 3);
    CHECK_EQ(info.jpeg_subsamp, TJSAMP_444);
    blob_free(&j);
}

static void test_jpeg_gray(void)
{
    blob_t j = sub_test_make_jpeg(40, 30, TJPF_GRAY, TJSAMP_GRAY, 85);
    sub_image_info_t info = verify_ok(&j);
    CHECK_STR_EQ(info.mode, "L");
    CHECK_EQ(info.num_channels, 1);
    CHECK_EQ(info.jpeg_colorspace, TJCS_GRAY);
    CHECK_EQ(info.jpeg_subsamp, TJSAMP_GRAY);
    blob_free(&j);
}

static void test_jpeg_cmyk(void)
{
    blob_t j = sub_test_make_jpeg(24, 16, TJPF_CMYK, TJSAMP_444, 85);
    sub_image_info_t info = verify_ok(&j);
    CHECK_STR_EQ(info.mode, "CMYK");
    CHECK_EQ(info.num_channels, 4);
    CHECK(info.jpeg_colorspace == TJCS_YCCK || info.jpeg_colorspace == TJCS_CMYK);
    blob_free(&j);
}

/* Sampling factors TurboJPEG 2.x has no TJSAMP_ for (Y 4x2: 4:1:0): PIL opens such files,
 * and so does probe, with jpeg_subsamp -1. */
static void test_jpeg_unnamed_subsampling(void)
{
    blob_t j = make_rgb_jpeg(64, 48);
    size_t i = 2;
    while (i + 12 < j.n && !(j.p[i] == 0xFF && j.p[i + 1] == 0xC0))
        i++;
    CHECK_EQ(j.p[i + 11], 0x22); /* Y: 2x2, as 4:2:0 */
    j.p[i + 11] = 0x42;
    sub_image_info_t info = probe_ok(&j);
    CHECK_EQ(info.jpeg_subsamp, -1);
    CHECK_EQ(info.jpeg_colorspace, TJCS_YCbCr);
    CHECK_EQ(info.width, 64);
    CHECK_EQ(info.num_channels, 3);
    blob_free(&j);
}

static void test_jpeg_progressive(void)
{
    blob_t base = make_rgb_jpeg(120, 90);
    blob_t j = to_progressive(&base);
    CHECK(!probe_ok(&base).progressive);
    sub_image_info_t info = verify_ok(&j);
    CHECK(info.progressive);
    CHECK_EQ(info.width, 120);
    CHECK_EQ(info.height, 90);
    CHECK_EQ(info.num_channels, 3);
    /* Every strict prefix of a progressive file fails too. */
    for (size_t cut = 1; cut < j.n; cut += 1 + cut / 16)
        verify_fails(j.p, cut, cut < 3 ? SUB_IMAGE_E_NOT_IMAGE : SUB_IMAGE_E_CORRUPT);
    verify_fails(j.p, j.n - 1, SUB_IMAGE_E_CORRUPT);
    blob_free(&base);
    blob_free(&j);
}

/* ---- EXIF ---- */

static void check_orientation(bool little)
{
    static const int cases[] = {1, 3, 6, 8, 2, 4, 5, 7};
    blob_t base = make_rgb_jpeg(40, 30);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int o = cases[i];
        blob_t j = jpeg_with_exif(&base, little, o);
        sub_image_info_t info = verify_ok(&j);
        bool swap = o >= 5;
        CHECK_EQ(info.orientation, o);
        CHECK_EQ(info.width, 40); /* stored size: PIL's img.size */
        CHECK_EQ(info.height, 30);
        CHECK_EQ(info.oriented_width, swap ? 30 : 40);
        CHECK_EQ(info.oriented_height, swap ? 40 : 30);
        blob_free(&j);
    }
    blob_free(&base);
}

static void test_exif_orientation_le(void)
{
    check_orientation(true);
}

static void test_exif_orientation_be(void)
{
    check_orientation(false);
}

/* LONG and BYTE entries are read; a count other than 1, another type, or an out-of-range
 * value count as no orientation. */
static void test_exif_entry_types(void)
{
    static const struct {
        unsigned type;
        uint32_t count;
        int value, want;
    } cases[] = {
        {4, 1, 6, 6}, {1, 1, 8, 8}, {3, 2, 6, 1},     {7, 1, 6, 1},
        {3, 1, 0, 1}, {3, 1, 9, 1}, {4, 1, 70000, 1},
    };
    blob_t base = make_rgb_jpeg(16, 8);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        for (int little = 0; little < 2; little++) {
            blob_t ex = exif_block(little, cases[i].value, cases[i].type, cases[i].count);
            blob_t j = with_app1(&base, &ex);
            CHECK_EQ(probe_ok(&j).orientation, cases[i].want);
            blob_free(&ex);
            blob_free(&j);
        }
    }
    /* No Orientation entry at all. */
    blob_t j = jpeg_with_exif(&base, true, -1);
    CHECK_EQ(probe_ok(&j).orientation, 1);
    blob_free(&j);
    blob_free(&base);
}

static void probe_with_payload(const blob_t *base, const uint8_t *p, size_t n, int want)
{
    blob_t pl = copy_of(p, n);
    blob_t j = with_app1(base, &pl);
    sub_image_info_t info = probe_ok(&j);
    if (want)
        CHECK_EQ(info.orientation, want);
    CHECK(info.orientation >= 1 && info.orientation <= 8);
    CHECK_EQ(info.width, 16);
    blob_free(&pl);
    blob_free(&j);
}

static void test_exif_garbage(void)
{
    blob_t base = make_rgb_jpeg(16, 8);
    static const struct {
        const char *bytes;
        size_t n;
    } fixed[] = {
        {"Exif\0\0", 6},
        {"Exif\0\0XX\x2a\0\x08\0\0\0", 14},                     /* no byte order */
        {"Exif\0\0II\x2b\0\x08\0\0\0", 14},                     /* not 42 */
        {"Exif\0\0II\x2a\0\xf0\xff\xff\xff\x01\0", 16},         /* IFD0 far outside */
        {"Exif\0\0MM\0\x2a\0\0\0\x07\0", 15},                   /* count cut off */
        {"Exif\0\0II\x2a\0\x08\0\0\0\xff\xff\x12\x01\x03", 19}, /* 65535 entries, 1 partial */
        {"Exif\0\0II\x2a\0\x08\0\0\0\x01\0\x12\x01\x03\0\x01\0\0\0\x06", 25}, /* entry cut */
    };
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        probe_with_payload(&base, (const uint8_t *)fixed[i].bytes, fixed[i].n, 1);

    /* Random TIFF blocks, with a valid header half of the time. */
    uint64_t st = 7;
    uint8_t buf[96];
    for (int round = 0; round < 3000; round++) {
        size_t n = 6 + next_rand(&st) % (sizeof buf - 6);
        for (size_t i = 0; i < n; i++)
            buf[i] = (uint8_t)next_rand(&st);
        memcpy(buf, "Exif\0\0", 6);
        if (round % 2 && n >= 14) {
            bool little = round % 4 == 1;
            uint8_t ifd = (uint8_t)(next_rand(&st) % 24);
            memcpy(buf + 6, little ? "II\x2a\0" : "MM\0\x2a", 4);
            memset(buf + 10, 0, 4);
            buf[little ? 10 : 13] = ifd;
        }
        probe_with_payload(&base, buf, n, 0);
    }
    blob_free(&base);
}

/* An EXIF block cut at every length (the APP1 length says so): never an error, and the
 * entry counts only once it is whole. */
static void test_exif_truncated(void)
{
    blob_t base = make_rgb_jpeg(16, 8);
    for (int little = 0; little < 2; little++) {
        blob_t ex = exif_block(little, 6, 3, 1);
        for (size_t cut = 0; cut <= ex.n; cut++) {
            blob_t pl = copy_of(ex.p, cut);
            blob_t j = with_app1(&base, &pl);
            sub_image_info_t info = probe_ok(&j);
            /* The entry ends 4 bytes (the next-IFD offset) before the block does. */
            CHECK_EQ(info.orientation, cut >= ex.n - 4 ? 6 : 1);
            blob_free(&pl);
            blob_free(&j);
        }
        blob_free(&ex);
    }
    blob_free(&base);
}

/* Only the first Exif APP1 counts; an XMP APP1 before it does not hide it. */
static void test_exif_first_app1(void)
{
    blob_t base = make_rgb_jpeg(40, 30);
    blob_t ex6 = exif_block(true, 6, 3, 1), ex_none = exif_block(false, -1, 3, 1);
    blob_t second = with_app1(&base, &ex6);
    blob_t j = with_app1(&second, &ex_none); /* ex_none first, then ex6 */
    CHECK_EQ(probe_ok(&j).orientation, 1);

    blob_t xmp = {NULL, 0};
    put(&xmp, "http://ns.adobe.com/xap/1.0/", 29);
    puts_(&xmp, "<x:xmpmeta><rdf:Description/></x:xmpmeta>");
    blob_t k = with_app1(&second, &xmp); /* XMP first, then ex6 */
    CHECK_EQ(probe_ok(&k).orientation, 6);
    CHECK_EQ(probe_ok(&k).oriented_width, 30);

    blob_free(&base);
    blob_free(&ex6);
    blob_free(&ex_none);
    blob_free(&second);
    blob_free(&j);
    blob_free(&xmp);
    blob_free(&k);
}

/* PIL's getexif() falls back to XMP's tiff:Orientation when EXIF has none. */
static void test_xmp_orientation(void)
{
    static const struct {
        const char *xmp;
        int exif, want;
    } cases[] = {
        {"<rdf:Description tiff:Orientation=\"6\"/>", -2, 6},
        {"<tiff:Orientation>8</tiff:Orientation>", -2, 8},
        {"tiff:Orientation tiff:Orientation=\"5\"", -2, 5},
        {"<rdf:Description tiff:Orientation=\"6\"/>", -1, 6}, /* EXIF without the tag */
        {"<rdf:Description tiff:Orientation=\"6\"/>", 3, 3},  /* EXIF wins */
        {"<rdf:Description tiff:Orientation=\"6\"/>", 0, 1},  /* even when invalid */
        {"tiff:Orientation=6", -2, 1},
        {"tiff:Orientation=\"", -2, 1},
        {"tiff:Orientat", -2, 1},
    };
    blob_t base = make_rgb_jpeg(40, 30);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        blob_t xmp = {NULL, 0};
        put(&xmp, "http://ns.adobe.com/xap/1.0/", 29);
        puts_(&xmp, cases[i].xmp);
        blob_t j = with_app1(&base, &xmp);
        if (cases[i].exif != -2) {
            blob_t ex = exif_block(true, cases[i].exif, 3, 1);
            blob_t k = with_app1(&j, &ex);
            blob_free(&j);
            j = k;
            blob_free(&ex);
        }
        CHECK_EQ(probe_ok(&j).orientation, cases[i].want);
        blob_free(&xmp);
        blob_free(&j);
    }
    blob_free(&base);
}

/* ---- JPEG damage ---- */

static void test_jpeg_truncated(void)
{
    blob_t j = make_rgb_jpeg(256, 192);
    size_t cuts[] = {j.n - 1, j.n - 2, j.n - 100, j.n * 3 / 4, j.n / 2, j.n / 3,
                     700,     300,     100,       20,          4,       3};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++)
        verify_fails(j.p, cuts[i], SUB_IMAGE_E_CORRUPT);
    /* The header is whole in a prefix past the scan header: probe still reads it. */
    sub_image_info_t info;
    sub_error_t err = {0};
    CHECK_OK(sub_image_probe(j.p, j.n / 2, &info, &err), &err);
    CHECK_EQ(info.width, 256);
    CHECK_FAILS(sub_image_verify(j.p, j.n / 2, NULL, &info, &err), &err, SUB_E_INPUT);
    CHECK_CONTAINS(err.msg, "Premature end of JPEG file");
    /* Cut inside the headers: probe fails as well. */
    CHECK_FAILS(sub_image_probe(j.p, 20, &info, &err), &err, SUB_E_INPUT);
    CHECK_EQ(err.cause, SUB_IMAGE_E_CORRUPT);
    CHECK_CONTAINS(err.msg, "jpeg header: ");
    check_zeroed(&info);
    blob_free(&j);
}

static void test_jpeg_corrupt_middle(void)
{
    blob_t j = make_rgb_jpeg(256, 192);
    blob_t d = {NULL, 0};
    for (size_t at = j.n / 4; at < j.n * 3 / 4; at += j.n / 16) {
        for (int pattern = 0; pattern < 4; pattern++) {
            blob_free(&d);
            d = copy_of(j.p, j.n);
            if (pattern == 0) {
                memset(d.p + at, 0xFF, 16);
            } else {
                d.p[at] = 0xFF;
                d.p[at + 1] = pattern == 1 ? 0xD9 : pattern == 2 ? 0xC4 : 0xD3;
            }
            probe_ok(&d); /* the headers are intact */
            verify_fails(d.p, d.n, SUB_IMAGE_E_CORRUPT);
        }
    }
    /* Extraneous bytes before a marker: PIL opens it and so does probe (a warning), but a
     * decoder warning fails verify. */
    blob_free(&d);
    size_t after_app0 = 4 + ((size_t)j.p[4] << 8 | j.p[5]);
    put(&d, j.p, after_app0);
    put8(&d, 0);
    put(&d, j.p + after_app0, j.n - after_app0);
    sub_image_info_t info = probe_ok(&d);
    CHECK_EQ(info.width, 256);
    sub_error_t err = {0};
    CHECK_FAILS(sub_image_verify(d.p, d.n, NULL, &info, &err), &err, SUB_E_INPUT);
    CHECK_CONTAINS(err.msg, "extraneous bytes");
    blob_free(&d);
    blob_free(&j);
}

/* Random single-byte changes anywhere: whatever the result, no crash and no stray read. */
static void test_jpeg_random_damage(void)
{
    blob_t base = make_rgb_jpeg(48, 40);
    blob_t ex = exif_block(false, 6, 3, 1);
    blob_t j = with_app1(&base, &ex);
    blob_t prog = to_progressive(&j);
    uint64_t st = 11;
    const blob_t *srcs[] = {&j, &prog};
    for (int s = 0; s < 2; s++) {
        for (int round = 0; round < 400; round++) {
            blob_t d = copy_of(srcs[s]->p, srcs[s]->n);
            for (int k = 0; k < 1 + round % 4; k++)
                d.p[next_rand(&st) % d.n] = (uint8_t)next_rand(&st);
            sub_image_info_t info;
            sub_error_t err = {0};
            if (sub_image_verify(d.p, d.n, NULL, &info, &err)) {
                CHECK(info.width > 0 && info.height > 0);
                CHECK(info.orientation >= 1 && info.orientation <= 8);
            } else {
                check_zeroed(&info);
                CHECK(err.msg[0] != '\0');
            }
            blob_free(&d);
        }
    }
    blob_free(&base);
    blob_free(&ex);
    blob_free(&j);
    blob_free(&prog);
}

/* ---- Not images ---- */

static void test_not_images(void)
{
    sub_image_info_t info;
    sub_error_t err = {0};
    CHECK_FAILS(sub_image_probe((const uint8_t *)"", 0, &info, &err), &err, SUB_E_INPUT);
    CHECK_EQ(err.cause, SUB_IMAGE_E_NOT_IMAGE);
    CHECK_STR_EQ(err.msg, "not an image: empty");
    check_zeroed(&info);
    CHECK_FAILS(sub_image_probe(NULL, 0, &info, &err), &err, SUB_E_INPUT);
    CHECK_FAILS(sub_image_verify(NULL, 0, NULL, &info, &err), &err, SUB_E_INPUT);
    CHECK_EQ(err.cause, SUB_IMAGE_E_NOT_IMAGE);

    const char *html = "<!DOCTYPE html><html><body>These aren't the droids</body></html>";
    CHECK_FAILS(sub_image_probe((const uint8_t *)html, strlen(html), &info, &err), &err,
                SUB_E_INPUT);
    CHECK_STR_EQ(err.msg, "not an image: starts with 3c 21 44 4f");
    CHECK_FAILS(sub_image_probe((const uint8_t *)"\xff\xd8", 2, &info, &err), &err, SUB_E_INPUT);
    CHECK_STR_EQ(err.msg, "not an image: starts with ff d8 00 00");
    CHECK_FAILS(sub_image_probe((const uint8_t *)"BM is a text", 12, &info, &err), &err,
                SUB_E_INPUT);
    CHECK_EQ(err.cause, SUB_IMAGE_E_NOT_IMAGE);

    uint64_t st = 3;
    for (int round = 0; round < 2000; round++) {
        size_t n = 1 + next_rand(&st) % 200;
        uint8_t *p = sub_xmalloc(n);
        for (size_t i = 0; i < n; i++)
            p[i] = (uint8_t)next_rand(&st);
        if (round % 5 == 0 && n >= 3)
            memcpy(p, "\xff\xd8\xff", 3); /* a JPEG signature before noise */
        bool ok = sub_image_verify(p, n, NULL, &info, &err);
        CHECK(!ok);
        CHECK_EQ(err.code, SUB_E_INPUT);
        free(p);
    }
}

/* ---- PNG ---- */

static uint32_t ref_crc32(const uint8_t *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1)));
    }
    return ~c;
}

static void png_chunk(blob_t *b, const char *type, const uint8_t *data, size_t n)
{
    put32(b, (uint32_t)n, false);
    size_t at = b->n;
    put(b, type, 4);
    put(b, data, n);
    put32(b, ref_crc32(b->p + at, n + 4), false);
}

/* A real PNG: scanlines with filter 0 in one stored (uncompressed) deflate block. */
static blob_t make_png(uint32_t w, uint32_t h, unsigned depth, unsigned ctype)
{
    static const unsigned samples[] = {1, 0, 3, 1, 2, 0, 4};
    blob_t b = {NULL, 0}, ihdr = {NULL, 0}, raw = {NULL, 0}, z = {NULL, 0};
    put(&b, "\x89PNG\r\n\x1a\n", 8);
    put32(&ihdr, w, false);
    put32(&ihdr, h, false);
    put8(&ihdr, depth);
    put8(&ihdr, ctype);
    put8(&ihdr, 0);
    put8(&ihdr, 0);
    put8(&ihdr, 0);
    png_chunk(&b, "IHDR", ihdr.p, ihdr.n);
    if (ctype == 3)
        png_chunk(&b, "PLTE", (const uint8_t *)"\x00\x00\x00\xff\x00\x00\x00\xff\x00", 9);
    size_t row = (w * samples[ctype] * depth + 7) / 8;
    for (uint32_t y = 0; y < h; y++) {
        put8(&raw, 0);
        for (size_t x = 0; x < row; x++)
            put8(&raw, (unsigned)(x + y) & (ctype == 3 ? 0 : 0xFF));
    }
    uint32_t a = 1, s2 = 0;
    for (size_t i = 0; i < raw.n; i++) {
        a = (a + raw.p[i]) % 65521;
        s2 = (s2 + a) % 65521;
    }
    put8(&z, 0x78);
    put8(&z, 0x01);
    for (size_t at = 0; at < raw.n; at += 65535) {
        size_t n = raw.n - at < 65535 ? raw.n - at : 65535;
        put8(&z, at + n == raw.n); /* BFINAL, stored */
        put16(&z, (unsigned)n, true);
        put16(&z, (unsigned)~n & 0xFFFF, true);
        put(&z, raw.p + at, n);
    }
    put32(&z, s2 << 16 | a, false);
    png_chunk(&b, "IDAT", z.p, z.n);
    png_chunk(&b, "IEND", NULL, 0);
    blob_free(&ihdr);
    blob_free(&raw);
    blob_free(&z);
    return b;
}

static void test_png_modes(void)
{
    static const struct {
        unsigned depth, ctype;
        const char *mode;
        int channels;
    } cases[] = {
        {8, 0, "L", 1},    {1, 0, "1", 1},     {4, 0, "L", 1},   {16, 0, "I;16", 1},
        {8, 4, "LA", 2},   {16, 4, "RGBA", 4}, {8, 2, "RGB", 3}, {16, 2, "RGB", 3},
        {8, 6, "RGBA", 4}, {16, 6, "RGBA", 4}, {8, 3, "P", 1},   {1, 3, "P", 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        blob_t p = make_png(7, 5, cases[i].depth, cases[i].ctype);
        sub_image_info_t info = verify_ok(&p);
        CHECK_EQ(info.type, SUB_IMAGE_PNG);
        CHECK_STR_EQ(info.mime_type, "image/png");
        CHECK_STR_EQ(info.mode, cases[i].mode);
        CHECK_EQ(info.num_channels, cases[i].channels);
        CHECK_EQ(info.width, 7);
        CHECK_EQ(info.height, 5);
        CHECK_EQ(info.oriented_width, 7);
        CHECK_EQ(info.jpeg_subsamp, -1);
        CHECK(!info.progressive);
        blob_free(&p);
    }
    /* Combinations PNG does not allow. */
    blob_t bad = make_png(7, 5, 8, 5);
    sub_image_info_t info;
    sub_error_t err = {0};
    CHECK_FAILS(sub_image_probe(bad.p, bad.n, &info, &err), &err, SUB_E_INPUT);
    CHECK_STR_EQ(err.msg, "png: bit depth 8 with color type 5");
    blob_free(&bad);
    bad = make_png(0, 5, 8, 2);
    CHECK_FAILS(sub_image_probe(bad.p, bad.n, &info, &err), &err, SUB_E_INPUT);
    CHECK_STR_EQ(err.msg, "png: bad size 0x5");
    blob_free(&bad);
}

static void test_png_damage(void)
{
    blob_t p = make_png(9, 4, 8, 2);
    for (size_t cut = 1; cut < p.n; cut++)
        verify_fails(p.p, cut, cut < 8 ? SUB_IMAGE_E_NOT_IMAGE : SUB_IMAGE_E_CORRUPT);

    /* A flipped bit in any chunk's type, data or CRC. */
    for (size_t at = 12; at < p.n; at++) {
        blob_t d = copy_of(p.p, p.n);
        d.p[at] ^= 0x04;
        sub_image_info_t info;
        sub_error_t err = {0};
        CHECK(!sub_image_verify(d.p, d.n, NULL, &info, &err));
        blob_free(&d);
    }

    /* Trailing bytes after IEND are ignored. */
    blob_t t = copy_of(p.p, p.n);
    put(&t, "junk", 4);
    verify_ok(&t);
    blob_free(&t);

    /* IHDR then IEND: no image data. */
    blob_t n = copy_of(p.p, 33);
    png_chunk(&n, "IEND", NULL, 0);
    sub_image_info_t info;
    sub_error_t err = {0};
    CHECK_FAILS(sub_image_verify(n.p, n.n, NULL, &info, &err), &err, SUB_E_INPUT);
    CHECK_STR_EQ(err.msg, "png: no IDAT chunk");
    blob_free(&n);

    /* A chunk length past the end of the file. */
    blob_t l = copy_of(p.p, p.n);
    l.p[33] = 0x7F;
    CHECK_FAILS(sub_image_verify(l.p, l.n, NULL, &info, &err), &err, SUB_E_INPUT);
    CHECK_CONTAINS(err.msg, "png: truncated in chunk IDAT");
    blob_free(&l);
    blob_free(&p);
}

/* Flickr's "photo unavailable" answer is a PNG: saved under the image's .jpg name it must
 * be refused by the fetch stage. */
static void test_png_named_jpg(void)
{
    blob_t p = make_png(500, 374, 8, 3);
    sub_image_info_t info = verify_ok(&p);
    CHECK(!sub_image_claims("train/0d72ff3e2601d71c.jpg", &info));
    CHECK(sub_image_claims("train/0d72ff3e2601d71c.png", &info));
    blob_free(&p);
}

/* ---- GIF ---- */

/* The classic 1x1 GIF with a two-color palette. */
static const char GIF1[] = "GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00"
                           ",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02\x44\x01\x00;";

static blob_t gif1(void)
{
    return copy_of((const uint8_t *)GIF1, sizeof GIF1 - 1);
}

static void test_gif(void)
{
    blob_t g = gif1();
    sub_image_info_t info = verify_ok(&g);
    CHECK_EQ(info.type, SUB_IMAGE_GIF);
    CHECK_STR_EQ(info.mime_type, "image/gif");
    CHECK_STR_EQ(info.mode, "P");
    CHECK_EQ(info.num_channels, 1);
    CHECK_EQ(info.width, 1);
    CHECK_EQ(info.height, 1);
    for (size_t cut = 1; cut < g.n - 1; cut++)
        verify_fails(g.p, cut, cut < 6 ? SUB_IMAGE_E_NOT_IMAGE : SUB_IMAGE_E_CORRUPT);
    /* Without the trailer but with the image whole: PIL reads it, and so does verify. */
    blob_t no_trailer = copy_of(g.p, g.n - 1);
    verify_ok(&no_trailer);
    blob_free(&no_trailer);

    /* A palette of its own indices' grays is no palette: PIL says L. */
    g.p[13] = g.p[14] = g.p[15] = 0;
    g.p[16] = g.p[17] = g.p[18] = 1;
    CHECK_STR_EQ(probe_ok(&g).mode, "L");

    /* Frame 0 beyond the logical screen grows the size; extensions and junk before it are
     * skipped as PIL skips them. */
    blob_t big = {NULL, 0};
    put(&big, GIF1, 19);
    put(&big, "\x21\xf9\x04\x01\x00\x00\x00\x00", 8); /* graphic control extension */
    put(&big,
        "\x21\xfe\x03"
        "abc\x02"
        "de\x00",
        9); /* comment, two sub-blocks */
    put8(&big, 0x00);
    put(&big, ",\x02\x00\x03\x00\x05\x00\x04\x00\x40\x02\x02\x44\x01\x00;", 16);
    info = verify_ok(&big);
    CHECK_EQ(info.width, 7);
    CHECK_EQ(info.height, 7);
    CHECK(info.progressive); /* interlaced */

    /* No image at all: PIL cannot open it. */
    blob_t none = copy_of((const uint8_t *)GIF1, 19);
    put8(&none, ';');
    sub_error_t err = {0};
    CHECK_FAILS(sub_image_probe(none.p, none.n, &info, &err), &err, SUB_E_INPUT);
    CHECK_STR_EQ(err.msg, "gif: no complete image descriptor");
    blob_free(&g);
    blob_free(&big);
    blob_free(&none);
}

/* ---- WebP ---- */

static blob_t riff(const blob_t *chunks)
{
    blob_t b = {NULL, 0};
    puts_(&b, "RIFF");
    put32(&b, (uint32_t)(4 + chunks->n), true);
    puts_(&b, "WEBP");
    put(&b, chunks->p, chunks->n);
    return b;
}

static void riff_chunk(blob_t *b, const char *fourcc, const blob_t *data)
{
    puts_(b, fourcc);
    put32(b, (uint32_t)data->n, true);
    put(b, data->p, data->n);
    if (data->n & 1)
        put8(b, 0);
}

static blob_t vp8l(uint32_t w, uint32_t h, bool alpha)
{
    blob_t d = {NULL, 0};
    put8(&d, 0x2F);
    put32(&d, (w - 1) | (h - 1) << 14 | (uint32_t)alpha << 28, true);
    put(&d, "\x00\x11\x22", 3);
    return d;
}

static void test_webp(void)
{
    for (int alpha = 0; alpha < 2; alpha++) {
        blob_t d = vp8l(300, 200, alpha), c = {NULL, 0};
        riff_chunk(&c, "VP8L", &d);
        blob_t w = riff(&c);
        sub_image_info_t info = verify_ok(&w);
        CHECK_EQ(info.type, SUB_IMAGE_WEBP);
        CHECK_STR_EQ(info.mime_type, "image/webp");
        CHECK_EQ(info.width, 300);
        CHECK_EQ(info.height, 200);
        CHECK_STR_EQ(info.mode, alpha ? "RGBA" : "RGB");
        CHECK_EQ(info.num_channels, alpha ? 4 : 3);
        for (size_t cut = 1; cut < w.n; cut++)
            verify_fails(w.p, cut, cut < 12 ? SUB_IMAGE_E_NOT_IMAGE : SUB_IMAGE_E_CORRUPT);
        blob_free(&d);
        blob_free(&c);
        blob_free(&w);
    }

    /* Extended: the canvas size and the alpha flag of VP8X. */
    blob_t x = {NULL, 0}, img = vp8l(5, 6, false), c = {NULL, 0};
    put(&x, "\x10\x00\x00\x00", 4);
    put(&x, "\x2b\x01\x00\xc7\x00\x00", 6); /* 300 x 200 */
    riff_chunk(&c, "VP8X", &x);
    riff_chunk(&c, "VP8L", &img);
    blob_t w = riff(&c);
    sub_image_info_t info = verify_ok(&w);
    CHECK_EQ(info.width, 300);
    CHECK_EQ(info.height, 200);
    CHECK_STR_EQ(info.mode, "RGBA");
    blob_free(&x);
    blob_free(&img);
    blob_free(&c);
    blob_free(&w);

    /* Lossy: frame tag, start code, 14-bit sizes (scale bits ignored). */
    blob_t lossy = {NULL, 0}, c2 = {NULL, 0};
    put(&lossy, "\x50\x02\x00\x9d\x01\x2a", 6);
    put16(&lossy, 640 | 0x4000, true);
    put16(&lossy, 480, true);
    put(&lossy, "\x00\x00", 2);
    riff_chunk(&c2, "VP8 ", &lossy);
    blob_t w2 = riff(&c2);
    info = verify_ok(&w2);
    CHECK_EQ(info.width, 640);
    CHECK_EQ(info.height, 480);
    CHECK_STR_EQ(info.mode, "RGB");

    /* A metadata-only RIFF. */
    blob_t meta = {NULL, 0}, c3 = {NULL, 0};
    riff_chunk(&c3, "VP8X", &(blob_t){(uint8_t *)"\x10\x00\x00\x00\x01\x00\x00\x01\x00\x00", 10});
    put(&meta, "abc", 3);
    riff_chunk(&c3, "EXIF", &meta);
    blob_t w3 = riff(&c3);
    sub_error_t err = {0};
    CHECK_FAILS(sub_image_verify(w3.p, w3.n, NULL, &info, &err), &err, SUB_E_INPUT);
    CHECK_STR_EQ(err.msg, "webp: no image data");
    blob_free(&lossy);
    blob_free(&c2);
    blob_free(&w2);
    blob_free(&meta);
    blob_free(&c3);
    blob_free(&w3);
}

/* ---- BMP ---- */

static blob_t make_bmp(int32_t w, int32_t h, unsigned bits, uint32_t hsize, uint32_t comp,
                       const blob_t *extra /* masks or palette, after the header */)
{
    uint32_t ah = (uint32_t)(h < 0 ? -h : h);
    size_t stride = (((size_t)w * bits + 31) / 32) * 4;
    uint32_t off = 14 + hsize + (uint32_t)(extra ? extra->n : 0);
    blob_t b = {NULL, 0};
    puts_(&b, "BM");
    put32(&b, off + (uint32_t)(stride * ah), true);
    put32(&b, 0, true);
    put32(&b, off, true);
    put32(&b, hsize, true);
    put32(&b, (uint32_t)w, true);
    put32(&b, (uint32_t)h, true);
    put16(&b, 1, true);
    put16(&b, bits, true);
    put32(&b, comp, true);
    put32(&b, (uint32_t)(stride * ah), true);
    put32(&b, 2835, true);
    put32(&b, 2835, true);
    put32(&b, 0, true);
    put32(&b, 0, true);
    while (b.n < 14 + hsize)
        put8(&b, 0);
    if (extra)
        put(&b, extra->p, extra->n);
    for (size_t i = 0; i < stride * ah; i++)
        put8(&b, (unsigned)i);
    return b;
}

static void test_bmp(void)
{
    blob_t b = make_bmp(3, 2, 24, 40, 0, NULL);
    sub_image_info_t info = verify_ok(&b);
    CHECK_EQ(info.type, SUB_IMAGE_BMP);
    CHECK_STR_EQ(info.mime_type, "image/bmp");
    CHECK_STR_EQ(info.mode, "RGB");
    CHECK_EQ(info.num_channels, 3);
    CHECK_EQ(info.width, 3);
    CHECK_EQ(info.height, 2);
    for (size_t cut = 1; cut < b.n; cut++)
        verify_fails(b.p, cut, cut < 18 ? SUB_IMAGE_E_NOT_IMAGE : SUB_IMAGE_E_CORRUPT);
    blob_free(&b);

    /* Top-down rows (negative height); 32 bits without masks is RGB, as PIL reads it. */
    b = make_bmp(4, -3, 32, 40, 0, NULL);
    info = verify_ok(&b);
    CHECK_EQ(info.height, 3);
    CHECK_STR_EQ(info.mode, "RGB");
    blob_free(&b);

    /* 32 bits with an alpha mask in a V4 header: RGBA. */
    b = make_bmp(4, 3, 32, 108, 3, NULL);
    const uint32_t m[4] = {0xFF0000, 0xFF00, 0xFF, 0xFF000000};
    for (int i = 0; i < 4; i++)
        for (int k = 0; k < 4; k++)
            b.p[54 + 4 * i + k] = (uint8_t)(m[i] >> (8 * k));
    info = verify_ok(&b);
    CHECK_STR_EQ(info.mode, "RGBA");
    CHECK_EQ(info.num_channels, 4);
    blob_free(&b);

    /* 8 bits with a gray palette is L, with colors P, two entries black/white is 1. */
    blob_t pal = {NULL, 0};
    for (unsigned i = 0; i < 256; i++)
        put32(&pal, i * 0x010101u, true);
    b = make_bmp(5, 2, 8, 40, 0, &pal);
    CHECK_STR_EQ(verify_ok(&b).mode, "L");
    CHECK_EQ(verify_ok(&b).num_channels, 1);
    blob_free(&b);
    pal.p[4 * 7] = 9;
    b = make_bmp(5, 2, 8, 40, 0, &pal);
    CHECK_STR_EQ(verify_ok(&b).mode, "P");
    blob_free(&b);
    blob_free(&pal);
    put32(&pal, 0, true);
    put32(&pal, 0xFFFFFF, true);
    b = make_bmp(9, 2, 1, 40, 0, &pal);
    b.p[46] = 2; /* colors used */
    CHECK_STR_EQ(verify_ok(&b).mode, "1");
    blob_free(&b);
    blob_free(&pal);

    /* Depths and compressions PIL does not open. */
    sub_error_t err = {0};
    b = make_bmp(3, 2, 2, 40, 0, NULL);
    CHECK_FAILS(sub_image_probe(b.p, b.n, &info, &err), &err, SUB_E_INPUT);
    CHECK_STR_EQ(err.msg, "bmp: unsupported pixel depth 2");
    blob_free(&b);
    b = make_bmp(3, 2, 24, 40, 4, NULL);
    CHECK_FAILS(sub_image_probe(b.p, b.n, &info, &err), &err, SUB_E_INPUT);
    CHECK_STR_EQ(err.msg, "bmp: unsupported compression 4");
    blob_free(&b);
}

/* ---- Limits ---- */

static void test_pixel_limit(void)
{
    blob_t j = make_rgb_jpeg(100, 80);
    blob_t p = make_png(100, 80, 8, 0);
    sub_image_limits_t lim = {.max_pixels = 8000};
    sub_image_info_t info;
    sub_error_t err = {0};
    CHECK_OK(sub_image_verify(j.p, j.n, &lim, &info, &err), &err);
    CHECK_OK(sub_image_verify(p.p, p.n, &lim, &info, &err), &err);
    lim.max_pixels = 7999;
    CHECK_FAILS(sub_image_verify(j.p, j.n, &lim, &info, &err), &err, SUB_E_INPUT);
    CHECK_EQ(err.cause, SUB_IMAGE_E_TOO_LARGE);
    CHECK_STR_EQ(err.msg, "jpeg of 100x80 (8000 pixels) is over the limit of 7999");
    check_zeroed(&info);
    CHECK_FAILS(sub_image_verify(p.p, p.n, &lim, &info, &err), &err, SUB_E_INPUT);
    CHECK_EQ(err.cause, SUB_IMAGE_E_TOO_LARGE);

    /* A header claiming 65500 x 65500 is refused before any decoding; probe still reads
     * it (it allocates nothing for pixels). */
    blob_t big = copy_of(j.p, j.n);
    for (size_t i = 2; i + 9 < big.n; i++) {
        if (big.p[i] == 0xFF && big.p[i + 1] == 0xC0) {
            big.p[i + 5] = big.p[i + 7] = 0xFF;
            big.p[i + 6] = big.p[i + 8] = 0xDC;
            break;
        }
    }
    CHECK_EQ(probe_ok(&big).width, 65500);
    CHECK_FAILS(sub_image_verify(big.p, big.n, NULL, &info, &err), &err, SUB_E_INPUT);
    CHECK_EQ(err.cause, SUB_IMAGE_E_TOO_LARGE);
    CHECK_CONTAINS(err.msg, "over the limit of 89478485");
    blob_free(&big);
    blob_free(&j);
    blob_free(&p);
}

static void test_byte_limit(void)
{
    blob_t j = make_rgb_jpeg(64, 64);
    sub_image_limits_t lim = {.max_bytes = j.n};
    sub_image_info_t info;
    sub_error_t err = {0};
    CHECK_OK(sub_image_verify(j.p, j.n, &lim, &info, &err), &err);
    lim.max_bytes = j.n - 1;
    CHECK_FAILS(sub_image_verify(j.p, j.n, &lim, &info, &err), &err, SUB_E_INPUT);
    CHECK_EQ(err.cause, SUB_IMAGE_E_TOO_LARGE);
    CHECK_CONTAINS(err.msg, "bytes is over the limit of");
    blob_free(&j);
}

/* ---- Names ---- */

static void test_mime_for_path(void)
{
    static const struct {
        const char *path, *mime;
    } cases[] = {
        {"a.jpg", "image/jpeg"},
        {"/x/y/0001eeaf4aed83f9.JPG", "image/jpeg"},
        {"a.jpeg", "image/jpeg"},
        {"a.jpe", "image/jpeg"},
        {"a.jfif", "image/jpeg"},
        {"a.png", "image/png"},
        {"a.gif", "image/gif"},
        {"a.webp", "image/webp"},
        {"a.bmp", "image/bmp"},
        {"a.tiff", "image/tiff"},
        {"a.jpg.gz", "image/jpeg"}, /* type of the content; the encoding is gzip */
        {"a.JPG.GZ", NULL},         /* encodings are case-sensitive in mimetypes */
        {"a/.b.png", "image/png"},
        {".jpg", NULL}, /* a dot file has no extension */
        {"..jpg", NULL},
        {"dir.jpg/file", NULL},
        {"a.", NULL},
        {"a", NULL},
        {"a.txt", NULL},
        {"", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *got = sub_image_mime_for_path(cases[i].path);
        if (cases[i].mime)
            CHECK_STR_EQ(got, cases[i].mime);
        else if (got) {
            fprintf(stderr, "%s: want NULL, got %s\n", cases[i].path, got);
            abort();
        }
    }
    CHECK(sub_image_mime_for_path(NULL) == NULL);
}

static void test_claims(void)
{
    blob_t j = make_rgb_jpeg(8, 8);
    sub_image_info_t info = probe_ok(&j), none;
    memset(&none, 0, sizeof none);
    const char *yes[] = {"a.jpg", "b/c.JPEG", ".jpg", "jpg", "JPE", "x.jfif"};
    const char *no[] = {"a.png",
                        "a",
                        "a.",
                        "a.jpg.gz",
                        ".jpg.gz",
                        "dir.jpg/file",
                        "",
                        "a.gif",
                        "png",
                        "jpgjpgjpgjpgjpgjpgjpgjpgjpgjpgjpgjpgjpgjpgjpgjpgjpgjpgjpgjpg"
                        "jpgjpgjpg"};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
        CHECK(sub_image_claims(yes[i], &info));
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
        if (sub_image_claims(no[i], &info)) {
            fprintf(stderr, "claims(\"%s\") is true\n", no[i]);
            abort();
        }
    CHECK(!sub_image_claims(NULL, &info));
    CHECK(!sub_image_claims("a.jpg", NULL));
    CHECK(!sub_image_claims("a.jpg", &none));
    blob_free(&j);
}

/* ---- FiftyOne's ImageMetadata ---- */

static const char *mime_of(const bson_t *b)
{
    bson_iter_t it;
    CHECK(bson_iter_init_find(&it, b, "mime_type") && BSON_ITER_HOLDS_UTF8(&it));
    return bson_iter_utf8(&it, NULL);
}

static void check_json(const bson_t *b, const char *want)
{
    char *got = bson_as_canonical_extended_json(b, NULL);
    CHECK_STR_EQ(got, want);
    bson_free(got);
}

static void test_metadata_bson(void)
{
    blob_t base = make_rgb_jpeg(40, 30);
    blob_t j = jpeg_with_exif(&base, true, 6);
    sub_image_info_t info = probe_ok(&j);
    bson_t b = BSON_INITIALIZER;
    sub_image_metadata_bson(&info, 132441, "/data/0001eeaf4aed83f9.jpg", &b);
    check_json(&b, "{ \"_cls\" : \"ImageMetadata\", \"size_bytes\" : { \"$numberInt\" : "
                   "\"132441\" }, \"mime_type\" : \"image/jpeg\", \"width\" : { \"$numberInt\" "
                   ": \"30\" }, \"height\" : { \"$numberInt\" : \"40\" }, \"num_channels\" : { "
                   "\"$numberInt\" : \"3\" } }");
    bson_destroy(&b);

    /* As a subdocument; a size past int32 is int64, as pymongo stores it. */
    bson_t doc = BSON_INITIALIZER, md;
    BSON_APPEND_DOCUMENT_BEGIN(&doc, "metadata", &md);
    sub_image_metadata_bson(&info, 5000000000, NULL, &md);
    bson_append_document_end(&doc, &md);
    check_json(&doc, "{ \"metadata\" : { \"_cls\" : \"ImageMetadata\", \"size_bytes\" : { "
                     "\"$numberLong\" : \"5000000000\" }, \"mime_type\" : \"image/jpeg\", "
                     "\"width\" : { \"$numberInt\" : \"30\" }, \"height\" : { \"$numberInt\" : "
                     "\"40\" }, \"num_channels\" : { \"$numberInt\" : \"3\" } } }");
    bson_destroy(&doc);

    /* The extension decides, as in FiftyOne: a PNG named .jpg is "image/jpeg" there. */
    blob_t p = make_png(3, 2, 8, 6);
    sub_image_info_t pi = probe_ok(&p);
    bson_t c = BSON_INITIALIZER;
    sub_image_metadata_bson(&pi, 99, "x.jpg", &c);
    CHECK_STR_EQ(mime_of(&c), "image/jpeg");
    bson_reinit(&c);
    sub_image_metadata_bson(&pi, 99, "x.bin", &c);
    CHECK_STR_EQ(mime_of(&c), "application/octet-stream");
    bson_destroy(&c);
    blob_free(&p);
    blob_free(&base);
    blob_free(&j);
}

/* The header of a file on disk: what sub_image_probe() says of its bytes; a missing file
 * is an I/O error naming it. */
static void test_probe_file(void)
{
    char *dir = sub_test_tmpdir();
    char *path = sub_path_join(dir, "a.jpg"), *none = sub_path_join(dir, "none.jpg");
    blob_t j = sub_test_make_jpeg(37, 21, TJPF_RGB, TJSAMP_420, 85);
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    CHECK_EQ(fwrite(j.p, 1, j.n, f), j.n);
    fclose(f);
    sub_image_info_t info, want;
    sub_error_t err = {0};
    CHECK_OK(sub_image_probe(j.p, j.n, &want, &err), &err);
    CHECK_OK(sub_image_probe_file(path, &info, &err), &err);
    CHECK_EQ(info.width, 37);
    CHECK_EQ(info.oriented_height, want.oriented_height);
    CHECK_EQ(info.type, SUB_IMAGE_JPEG);
    CHECK_FAILS(sub_image_probe_file(none, &info, &err), &err, SUB_E_IO);
    CHECK_CONTAINS(err.msg, none);
    CHECK_EQ(info.type, SUB_IMAGE_NONE);
    free(j.p);
    free(path);
    free(none);
    free(dir);
}

static const sub_test_t tests[] = {
    {"probe_file", test_probe_file},
    {"jpeg_rgb_420", test_jpeg_rgb_420},
    {"jpeg_rgb_444", test_jpeg_rgb_444},
    {"jpeg_gray", test_jpeg_gray},
    {"jpeg_cmyk", test_jpeg_cmyk},
    {"jpeg_unnamed_subsampling", test_jpeg_unnamed_subsampling},
    {"jpeg_progressive", test_jpeg_progressive},
    {"exif_orientation_le", test_exif_orientation_le},
    {"exif_orientation_be", test_exif_orientation_be},
    {"exif_entry_types", test_exif_entry_types},
    {"exif_garbage", test_exif_garbage},
    {"exif_truncated", test_exif_truncated},
    {"exif_first_app1", test_exif_first_app1},
    {"xmp_orientation", test_xmp_orientation},
    {"jpeg_truncated", test_jpeg_truncated},
    {"jpeg_corrupt_middle", test_jpeg_corrupt_middle},
    {"jpeg_random_damage", test_jpeg_random_damage},
    {"not_images", test_not_images},
    {"png_modes", test_png_modes},
    {"png_damage", test_png_damage},
    {"png_named_jpg", test_png_named_jpg},
    {"gif", test_gif},
    {"webp", test_webp},
    {"bmp", test_bmp},
    {"pixel_limit", test_pixel_limit},
    {"byte_limit", test_byte_limit},
    {"mime_for_path", test_mime_for_path},
    {"claims", test_claims},
    {"metadata_bson", test_metadata_bson},
    {NULL, NULL},
};

int main(int argc, char **argv)
{
    return sub_test_main(argc, argv, tests);
}
