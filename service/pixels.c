#define SUB_LOG_DOMAIN "pixels"
/* pixels.c - JPEG to RGB and the bilinear resize, bit for bit as Pillow 13 does them.
 *
 * The references are Pillow's src/libImaging/{JpegDecode,Unpack,Convert,Resample}.c and
 * src/PIL/{JpegImagePlugin,Image}.py, and torchvision's transforms/functional.py. Every
 * floating-point step of Resample.c's coefficients is repeated here in the same order (the
 * build has -ffp-contract=off), so the fixed-point weights are the same integers; the
 * passes themselves are integer sums, which any loop order reproduces exactly.
 */
#include "subsetter/pixels.h"

#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <turbojpeg.h>

#include "subsetter/image.h"

/* Pillow raises DecompressionBombError above twice Image.MAX_IMAGE_PIXELS; so does this,
 * from the header, before any pixel is allocated. */
#define MAX_PIXELS (2 * (uint64_t)SUB_IMAGE_DEFAULT_MAX_PIXELS)

/* Resample.c: 8 bits of result, 2 of headroom, the rest fraction. */
#define PRECISION_BITS (32 - 8 - 2)
#define HALF           (1 << (PRECISION_BITS - 1))

void sub_rgb_release(sub_rgb_t *img)
{
    if (!img)
        return;
    if (img->cap)
        free(img->px);
    img->px = NULL;
    img->w = img->h = 0;
    img->cap = 0;
}

/* w x h x channels bytes, or SIZE_MAX when that does not fit in a size_t. */
static size_t image_bytes(int w, int h, int channels)
{
    size_t n = (size_t)w * (size_t)channels;
    return (size_t)h > SIZE_MAX / n ? SIZE_MAX : n * (size_t)h;
}

/* Room for w x h x channels bytes at img->px, reusing the block img holds when it is
 * large enough: decoding image after image into one sub_rgb_t allocates once. */
static bool alloc_pixels(sub_rgb_t *img, int w, int h, int channels, sub_error_t *err)
{
    size_t n = image_bytes(w, h, channels);

    if (!img->cap || img->cap < n) {
        sub_rgb_release(img);
        img->px = n == SIZE_MAX ? NULL : malloc(n);
        if (!img->px)
            return sub_error_set(err, SUB_E_INTERNAL, 0, "%dx%d image: out of memory (%zu bytes)",
                                 w, h, n);
        img->cap = n;
    }
    img->w = w;
    img->h = h;
    return true;
}

/* ---- Decoding ---- */

/* The smallest DCT scale among 1/8, 1/4 and 1/2 that keeps the image at least min_w x
 * min_h; 1/1 when none does, or when neither side is constrained (a minimum of 0 or less). */
static tjscalingfactor pick_scale(int w, int h, int min_w, int min_h)
{
    tjscalingfactor best = {1, 1};
    int n = 0;
    const tjscalingfactor *sf = tjGetScalingFactors(&n);

    if (min_w <= 0 && min_h <= 0)
        return best;
    for (int i = 0; sf && i < n; i++) {
        if (sf[i].num > sf[i].denom) /* upscaling in the IDCT: never wanted */
            continue;
        /* Only 1/2, 1/4 and 1/8 have SIMD code in libjpeg-turbo: 3/8 or 5/8 decode slower
         * than 1/2 (measured 1.76 vs 1.57 ms on a 1024x768 image) despite fewer pixels. */
        if (sf[i].num != sf[i].denom && (sf[i].num != 1 || sf[i].denom % 2 != 0))
            continue;
        if (TJSCALED(w, sf[i]) < min_w || TJSCALED(h, sf[i]) < min_h)
            continue;
        if ((long)sf[i].num * best.denom < (long)best.num * sf[i].denom)
            best = sf[i];
    }
    return best;
}

/* Pillow reads every 4-component JPEG as "CMYK;I" (JpegImagePlugin: "assume adobe
 * conventions", whether or not the file has an Adobe marker), so each stored byte s
 * becomes 255 - s; Convert.c's cmyk2rgb then gives nk - MULDIV255(c, nk) with nk = 255 - k.
 * With the inversion folded in: out = s_k - MULDIV255(255 - s, s_k), never outside
 * 0..255. In place: pixel i's 3 bytes never reach pixel i + 1's 4 before they are read. */
static void cmyk_to_rgb(uint8_t *px, size_t pixels)
{
    const uint8_t *in = px;
    uint8_t *out = px;

    for (size_t i = 0; i < pixels; i++, in += 4, out += 3) {
        int c = in[0], m = in[1], y = in[2], nk = in[3];
        int t0 = (255 - c) * nk + 128, t1 = (255 - m) * nk + 128, t2 = (255 - y) * nk + 128;
        out[0] = (uint8_t)(nk - (((t0 >> 8) + t0) >> 8));
        out[1] = (uint8_t)(nk - (((t1 >> 8) + t1) >> 8));
        out[2] = (uint8_t)(nk - (((t2 >> 8) + t2) >> 8));
    }
}

typedef struct {
    int w, h, cs;
} jpeg_header_t;

/* The frame size and colorspace. A header that TurboJPEG reads with a warning still counts
 * (PIL opens those files too); the decode decides. */
static bool read_header(tjhandle tj, const uint8_t *buf, size_t len, jpeg_header_t *hd,
                        sub_error_t *err)
{
    int subsamp = -1, rc;

    hd->w = hd->h = 0;
    hd->cs = -1;
    rc = tjDecompressHeader3(tj, buf, (unsigned long)len, &hd->w, &hd->h, &subsamp, &hd->cs);
    if (hd->w <= 0 || hd->h <= 0 || hd->cs < 0)
        return sub_error_set(err, SUB_E_INPUT, SUB_IMAGE_E_CORRUPT, "jpeg header: %s",
                             rc != 0 ? tjGetErrorStr2(tj) : "no frame (tables only, or cut short)");
    if ((uint64_t)hd->w * (uint64_t)hd->h > MAX_PIXELS)
        return sub_error_set(err, SUB_E_INPUT, SUB_IMAGE_E_TOO_LARGE,
                             "jpeg of %dx%d is over the limit of %" PRIu64 " pixels", hd->w, hd->h,
                             MAX_PIXELS);
    return true;
}

/* One TurboJPEG decompressor per thread, kept between images (creating one costs about as
 * much as decoding a small image); destroyed with its thread, or after a failed decode so
 * that no state of a damaged file is carried over. */
static pthread_key_t tj_key;
static pthread_once_t tj_once = PTHREAD_ONCE_INIT;

static void tj_free(void *handle)
{
    tjDestroy(handle);
}

static void tj_key_init(void)
{
    pthread_key_create(&tj_key, tj_free);
}

static tjhandle thread_decompressor(void)
{
    pthread_once(&tj_once, tj_key_init);
    tjhandle tj = pthread_getspecific(tj_key);
    if (!tj && (tj = tjInitDecompress()) != NULL)
        pthread_setspecific(tj_key, tj);
    return tj;
}

static void drop_decompressor(tjhandle tj)
{
    pthread_setspecific(tj_key, NULL);
    tjDestroy(tj);
}

bool sub_pixels_decode_rgb(const uint8_t *buf, size_t len, int min_w, int min_h, sub_rgb_t *out,
                           sub_error_t *err)
{
    tjhandle tj = NULL;
    jpeg_header_t hd;
    tjscalingfactor sf;
    bool cmyk, ok = false;
    int w, h;
    sub_image_type_t type = sub_image_detect(buf, len);

    if (!out->cap)
        out->px = NULL;
    out->w = out->h = 0;
    if (type != SUB_IMAGE_JPEG)
        return sub_error_set(err, SUB_E_INPUT, SUB_IMAGE_E_NOT_IMAGE, "not a JPEG (%s)",
                             type == SUB_IMAGE_NONE ? "unknown data" : sub_image_type_name(type));
    tj = thread_decompressor();
    if (!tj) {
        sub_error_set(err, SUB_E_INTERNAL, 0, "tjInitDecompress: %s", tjGetErrorStr2(NULL));
        goto out;
    }
    if (!read_header(tj, buf, len, &hd, err))
        goto out;
    /* Gray and RGB come out as RGB from libjpeg itself (gray replicated, as Pillow's L to RGB
     * does); CMYK and YCCK only as CMYK, converted below. */
    cmyk = hd.cs == TJCS_CMYK || hd.cs == TJCS_YCCK;
    sf = pick_scale(hd.w, hd.h, min_w, min_h);
    w = TJSCALED(hd.w, sf);
    h = TJSCALED(hd.h, sf);
    if (!alloc_pixels(out, w, h, cmyk ? 4 : 3, err))
        goto out;
    if (tjDecompress2(tj, buf, (unsigned long)len, out->px, w, 0, h, cmyk ? TJPF_CMYK : TJPF_RGB,
                      TJFLAG_STOPONWARNING | TJFLAG_LIMITSCANS) != 0) {
        sub_error_set(err, SUB_E_INPUT, SUB_IMAGE_E_CORRUPT, "jpeg decode: %s", tjGetErrorStr2(tj));
        goto out;
    }
    if (cmyk)
        cmyk_to_rgb(out->px, (size_t)w * (size_t)h); /* in place; the block stays as large */
    ok = true;
out:
    if (!ok)
        sub_rgb_release(out);
    if (!ok && tj)
        drop_decompressor(tj);
    return ok;
}

/* ---- Pillow's resampling ---- */

/* The weights of one axis, for the outputs [first, first + n) of out_size (a window of the
 * full result: each output's weights depend only on its own index). */
typedef struct {
    int n;
    int ksize;   /* weights per output: the row stride of k */
    int *lo;     /* first input index of each output */
    int *taps;   /* how many inputs from there */
    int32_t *k;  /* fixed-point weights, zero past taps */
    int32_t *k8; /* for the AVX2 horizontal pass, or NULL: per output, per pair of taps t,
                  * t + 1: {k[t] x 3, k[t + 1] x 3, 0, 0}, the weights of 8 bytes of RGB */
    int pairs;   /* (ksize + 1) / 2: the groups of 8 per output in k8 */
    double *pre; /* scratch: one output's weights in double */
    void *mem;   /* the one allocation holding all of the above */
} coeffs_t;

static double bilinear_filter(double x)
{
    if (x < 0.0)
        x = -x;
    if (x < 1.0)
        return 1.0 - x;
    return 0.0;
}

static void coeffs_release(coeffs_t *c)
{
    free(c->mem);
    memset(c, 0, sizeof *c);
}

static bool coeffs_alloc(coeffs_t *c, int n, int ksize, bool with_k8, sub_error_t *err)
{
    int pairs = (ksize + 1) / 2;
    size_t nk = (size_t)n * (size_t)ksize, nk8 = with_k8 ? (size_t)n * (size_t)pairs * 8 : 0;
    size_t bytes =
        (size_t)ksize * sizeof(double) + (nk8 + nk) * sizeof(int32_t) + (size_t)n * 2 * sizeof(int);

    memset(c, 0, sizeof *c);
    if (nk / (size_t)ksize != (size_t)n || nk > SIZE_MAX / 64)
        return sub_error_set(err, SUB_E_INTERNAL, 0, "resize: %d x %d weights overflow", n, ksize);
    c->mem = malloc(bytes);
    if (!c->mem)
        return sub_error_set(err, SUB_E_INTERNAL, 0, "resize: out of memory (%zu bytes)", bytes);
    /* doubles first, so every part is aligned for its type */
    c->pre = c->mem;
    c->k8 = with_k8 ? (int32_t *)(c->pre + ksize) : NULL;
    c->k = (int32_t *)(c->pre + ksize) + nk8;
    c->lo = (int *)(c->k + nk);
    c->taps = c->lo + n;
    c->n = n;
    c->ksize = ksize;
    c->pairs = pairs;
    return true;
}

static void coeffs_fill_k8(coeffs_t *c)
{
    for (int i = 0; i < c->n; i++) {
        const int32_t *k = c->k + (size_t)i * (size_t)c->ksize;
        int32_t *g = c->k8 + (size_t)i * (size_t)c->pairs * 8;
        for (int j = 0; j < c->pairs; j++, g += 8) {
            int32_t k0 = k[2 * j], k1 = 2 * j + 1 < c->ksize ? k[2 * j + 1] : 0;
            g[0] = g[1] = g[2] = k0;
            g[3] = g[4] = g[5] = k1;
            g[6] = g[7] = 0;
        }
    }
}

/* One output's weights: precompute_coeffs() and normalize_coeffs_8bpc() of Resample.c,
 * step for step. */
static void coeffs_one(coeffs_t *c, int i, double center, double support, double inv_filterscale,
                       int in_size)
{
    double ww = 0.0;
    int x, xmin, xmax;
    int32_t *k = c->k + (size_t)i * (size_t)c->ksize;

    xmin = (int)(center - support + 0.5);
    if (xmin < 0)
        xmin = 0;
    xmax = (int)(center + support + 0.5);
    if (xmax > in_size)
        xmax = in_size;
    xmax -= xmin;
    for (x = 0; x < xmax; x++) {
        double w = bilinear_filter((x + xmin - center + 0.5) * inv_filterscale);
        c->pre[x] = w;
        ww += w;
    }
    for (x = 0; x < xmax; x++) {
        if (ww != 0.0)
            c->pre[x] /= ww;
        k[x] = c->pre[x] < 0 ? (int)(-0.5 + c->pre[x] * (1 << PRECISION_BITS))
                             : (int)(0.5 + c->pre[x] * (1 << PRECISION_BITS));
    }
    for (; x < c->ksize; x++)
        k[x] = 0;
    c->lo[i] = xmin;
    c->taps[i] = xmax;
}

/* The weights of outputs [first, first + n) of a resize from in_size to out_size. */
static bool coeffs_make(int in_size, int out_size, int first, int n, bool with_k8, coeffs_t *c,
                        sub_error_t *err)
{
    /* Pillow's box is float[4] (0, 0, w, h) and scale is (double)(box[2] - box[0]) / size. */
    float in0 = 0.0f, in1 = (float)in_size;
    double scale = (double)(in1 - in0) / out_size;
    double filterscale = scale < 1.0 ? 1.0 : scale;
    double support = 1.0 * filterscale; /* the bilinear filter's support is 1 */
    double ksize_d = ceil(support) * 2 + 1;

    if (ksize_d > INT_MAX / 2)
        return sub_error_set(err, SUB_E_INPUT, 0, "resize %d to %d: too many weights", in_size,
                             out_size);
    if (!coeffs_alloc(c, n, (int)ksize_d, with_k8, err))
        return false;
    double inv_filterscale = 1.0 / filterscale;
    for (int i = 0; i < n; i++) {
        double center = in0 + (first + i + 0.5) * scale;
        coeffs_one(c, i, center, support, inv_filterscale, in_size);
    }
    if (with_k8)
        coeffs_fill_k8(c);
    return true;
}

static inline uint8_t clip8(int32_t ss)
{
    int32_t v = ss >> PRECISION_BITS;
    return v < 0 ? 0 : v > 255 ? 255 : (uint8_t)v;
}

/* Pixels addressed by image coordinates: (x, y) is at px + (y - y0) * stride + (x - x0) * 3,
 * so a pass reads the source image and an intermediate (a band of it) alike. end is the
 * end of the buffer: the AVX2 pass reads 8 bytes at a time, up to 5 past a pixel it uses. */
typedef struct {
    const uint8_t *px, *end;
    size_t stride;
    int x0, y0;
} plane_t;

static const uint8_t *plane_at(const plane_t *pl, int x, int y)
{
    return pl->px + (size_t)(y - pl->y0) * pl->stride + (size_t)(x - pl->x0) * 3;
}

static inline void store_rgb(uint8_t *o, int32_t r, int32_t g, int32_t b)
{
    o[0] = clip8(r);
    o[1] = clip8(g);
    o[2] = clip8(b);
}

/* Output pixel i of a row: Resample.c's loop, with any loop order being exact (integer
 * sums). */
static inline void pixel_horizontal(const uint8_t *p, const coeffs_t *c, int i, uint8_t *o)
{
    const int32_t *k = c->k + (size_t)i * (size_t)c->ksize;
    int32_t s0 = HALF, s1 = HALF, s2 = HALF;

    for (int t = 0, taps = c->taps[i]; t < taps; t++, p += 3) {
        s0 += p[0] * k[t];
        s1 += p[1] * k[t];
        s2 += p[2] * k[t];
    }
    store_rgb(o, s0, s1, s2);
}

static void row_horizontal(const uint8_t *line, int x0, const coeffs_t *c, uint8_t *o)
{
    for (int i = 0; i < c->n; i++)
        pixel_horizontal(line + (size_t)(c->lo[i] - x0) * 3, c, i, o + 3 * i);
}

/* The vertical pass over columns [x, x + cols) of src: output row i (of c->n) into
 * dst + i * dst_stride. acc holds cols * 3 sums. Simple enough for the compiler to
 * vectorize. */
static inline void pass_vertical_body(const plane_t *src, int x, int cols, const coeffs_t *c,
                                      uint8_t *dst, size_t dst_stride, int32_t *acc)
{
    size_t bytes = (size_t)cols * 3;

    for (int i = 0; i < c->n; i++) {
        const int32_t *k = c->k + (size_t)i * (size_t)c->ksize;
        uint8_t *o = dst + (size_t)i * dst_stride;
        for (size_t b = 0; b < bytes; b++)
            acc[b] = HALF;
        for (int t = 0; t < c->taps[i]; t++) {
            const uint8_t *line = plane_at(src, x, c->lo[i] + t);
            int32_t kt = k[t];
            for (size_t b = 0; b < bytes; b++)
                acc[b] += line[b] * kt;
        }
        for (size_t b = 0; b < bytes; b++)
            o[b] = clip8(acc[b]);
    }
}

static void pass_vertical_plain(const plane_t *src, int x, int cols, const coeffs_t *c,
                                uint8_t *dst, size_t dst_stride, int32_t *acc)
{
    pass_vertical_body(src, x, cols, c, dst, dst_stride, acc);
}

#if defined(__GNUC__) && defined(__x86_64__)
/* x86-64 promises SSE2 only, whose 32-bit multiplies are slow; CPUs with AVX2 (nearly all
 * since 2013) get these instead, chosen at run time. */
#define HAVE_AVX2_PASSES 1
#include <immintrin.h>

__attribute__((target("avx2"))) static void pass_vertical_avx2(const plane_t *src, int x, int cols,
                                                               const coeffs_t *c, uint8_t *dst,
                                                               size_t dst_stride, int32_t *acc)
{
    pass_vertical_body(src, x, cols, c, dst, dst_stride, acc);
}

/* The AVX2 horizontal pass reads 8 bytes (two taps of RGB and 2 bytes more) per step and
 * weighs them with c->k8, whose unused lanes are 0; so a read goes up to 5 bytes past the
 * last pixel of the taps. Lanes 0-2 plus 3-5 are then the sums. */

/* acc's lanes 0-2 plus 3-5, shifted and saturated to bytes (as clip8) into o[0..2]. */
__attribute__((target("avx2"))) static inline void store_avx2(uint8_t *o, __m256i acc)
{
    acc = _mm256_add_epi32(
        acc, _mm256_permutevar8x32_epi32(acc, _mm256_setr_epi32(3, 4, 5, 7, 7, 7, 7, 7)));
    __m128i v = _mm_srai_epi32(_mm256_castsi256_si128(acc), PRECISION_BITS);
    v = _mm_packus_epi16(_mm_packs_epi32(v, v), v);
    uint32_t rgb = (uint32_t)_mm_cvtsi128_si32(v);
    memcpy(o, &rgb, 3);
}

__attribute__((target("avx2"))) static inline __m256i taps_avx2(const uint8_t *p, __m256i w)
{
    return _mm256_mullo_epi32(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)p)), w);
}

/* One row; pixels whose reads would pass end take the portable loop. */
__attribute__((target("avx2"))) static void
row_horizontal_avx2(const uint8_t *line, const uint8_t *end, int x0, const coeffs_t *c, uint8_t *o)
{
    for (int i = 0; i < c->n; i++) {
        const uint8_t *p = line + (size_t)(c->lo[i] - x0) * 3;
        int pairs = (c->taps[i] + 1) / 2;
        if ((size_t)(end - p) < (size_t)6 * (size_t)(pairs - 1) + 8) {
            pixel_horizontal(p, c, i, o + 3 * i);
            continue;
        }
        const int32_t *k8 = c->k8 + (size_t)i * (size_t)c->pairs * 8;
        __m256i acc = _mm256_setr_epi32(HALF, HALF, HALF, 0, 0, 0, 0, 0);
        for (int j = 0; j < pairs; j++)
            acc = _mm256_add_epi32(
                acc, taps_avx2(p + 6 * j, _mm256_loadu_si256((const __m256i *)(k8 + 8 * j))));
        store_avx2(o + 3 * i, acc);
    }
}

/* Four rows, line + r * stride, sharing each load of the weights (twice as fast as one row
 * at a time). The caller checks that all the reads are in the buffer. */
__attribute__((target("avx2"))) static void rows4_horizontal_avx2(const uint8_t *line,
                                                                  size_t stride, int x0,
                                                                  const coeffs_t *c, uint8_t *o,
                                                                  size_t o_stride)
{
    for (int i = 0; i < c->n; i++) {
        const uint8_t *p = line + (size_t)(c->lo[i] - x0) * 3;
        const int32_t *k8 = c->k8 + (size_t)i * (size_t)c->pairs * 8;
        __m256i a0 = _mm256_setr_epi32(HALF, HALF, HALF, 0, 0, 0, 0, 0), a1 = a0, a2 = a0, a3 = a0;
        for (int j = 0, pairs = (c->taps[i] + 1) / 2; j < pairs; j++, p += 6) {
            __m256i w = _mm256_loadu_si256((const __m256i *)(k8 + 8 * j));
            a0 = _mm256_add_epi32(a0, taps_avx2(p, w));
            a1 = _mm256_add_epi32(a1, taps_avx2(p + stride, w));
            a2 = _mm256_add_epi32(a2, taps_avx2(p + 2 * stride, w));
            a3 = _mm256_add_epi32(a3, taps_avx2(p + 3 * stride, w));
        }
        store_avx2(o + 3 * i, a0);
        store_avx2(o + o_stride + 3 * i, a1);
        store_avx2(o + 2 * o_stride + 3 * i, a2);
        store_avx2(o + 3 * o_stride + 3 * i, a3);
    }
}
#endif

/* SUBSETTER_PIXELS_PORTABLE (any value) turns the AVX2 passes off: the tests run both. */
static bool have_avx2(void)
{
#ifdef HAVE_AVX2_PASSES
    return __builtin_cpu_supports("avx2") && !getenv("SUBSETTER_PIXELS_PORTABLE");
#else
    return false;
#endif
}

/* The horizontal pass over rows [y, y + rows) of src: row r into dst + r * dst_stride, c->n
 * pixels. */
static void pass_horizontal(const plane_t *src, int y, int rows, const coeffs_t *c, uint8_t *dst,
                            size_t dst_stride)
{
    for (int r = 0; r < rows; r++) {
        const uint8_t *line = plane_at(src, src->x0, y + r);
        uint8_t *o = dst + (size_t)r * dst_stride;
#ifdef HAVE_AVX2_PASSES
        if (c->k8) {
            /* Four whole rows and 8 bytes more in the buffer: every read is safe. */
            if (r + 3 < rows && (size_t)(src->end - line) >= 4 * src->stride + 8) {
                rows4_horizontal_avx2(line, src->stride, src->x0, c, o, dst_stride);
                r += 3;
                continue;
            }
            row_horizontal_avx2(line, src->end, src->x0, c, o);
            continue;
        }
#endif
        row_horizontal(line, src->x0, c, o);
    }
}

static void pass_vertical(const plane_t *src, int x, int cols, const coeffs_t *c, uint8_t *dst,
                          size_t dst_stride, int32_t *acc)
{
#ifdef HAVE_AVX2_PASSES
    if (have_avx2()) {
        pass_vertical_avx2(src, x, cols, c, dst, dst_stride, acc);
        return;
    }
#endif
    pass_vertical_plain(src, x, cols, c, dst, dst_stride, acc);
}

/* A window of a resize, as coordinates: the result is w x h, and the window its columns
 * [x0, x0 + cw) and rows [y0, y0 + ch). */
typedef struct {
    int w, h, x0, y0, cw, ch;
} window_t;

static void copy_window(const sub_rgb_t *in, const window_t *win, uint8_t *dst)
{
    size_t row = (size_t)win->cw * 3;

    for (int y = 0; y < win->ch; y++)
        memcpy(dst + (size_t)y * row,
               in->px + ((size_t)(win->y0 + y) * (size_t)in->w + (size_t)win->x0) * 3, row);
}

/* Which pass runs first matters, since the intermediate is rounded to 8 bits. Pillow 13's
 * ImagingResampleInner (PR #9549, "if height is scaled down significantly more than width,
 * resize vertically first"; read from the shipped _imaging binary, and confirmed on 584
 * random sizes where the two orders differ) goes vertical first when the height loses
 * more than twice as many pixels as the width: in_h - h > 0 and in_h - h > 2 (in_w - w). */
static bool vertical_first(int in_w, int in_h, int w, int h)
{
    return in_h - h > 0 && in_h - h > 2 * (in_w - w);
}

/* Spare bytes after an intermediate, so the AVX2 pass never has to fall back on it. They
 * are zeroed: what they hold is weighed 0, but valgrind would call it uninitialized. */
#define SLACK 8

/* The scratch of a two-pass resize: cols * 3 sums, then an intermediate of mid bytes and
 * SLACK more. */
static bool scratch_alloc(int cols, size_t mid, int32_t **acc, uint8_t **buf, sub_error_t *err)
{
    size_t acc_bytes = (size_t)cols * 3 * sizeof(int32_t);

    *acc = NULL;
    *buf = NULL;
    if (mid > SIZE_MAX - acc_bytes - SLACK || !(*acc = malloc(acc_bytes + mid + SLACK)))
        return sub_error_set(err, SUB_E_INTERNAL, 0, "resize: out of memory (%zu + %zu bytes)",
                             acc_bytes, mid);
    *buf = (uint8_t *)*acc + acc_bytes;
    memset(*buf + mid, 0, SLACK);
    return true;
}

/* ImagingResampleInner's passes, restricted to a window of the result: each pass covers only
 * what the window needs (the first pass only the source rows, or columns, that the second
 * pass's weights reach), through an 8-bit intermediate. A pass whose size does not change
 * is skipped, as Pillow skips it. dst gets cw x ch pixels, rows of cw * 3 bytes. */
static bool resample_window(const sub_rgb_t *in, const window_t *win, uint8_t *dst,
                            sub_error_t *err)
{
    bool need_h = win->w != in->w, need_v = win->h != in->h, ok = false;
    coeffs_t ch = {0}, cv = {0};
    int32_t *acc = NULL;
    uint8_t *mid = NULL;
    size_t out_stride = (size_t)win->cw * 3;
    plane_t src = {in->px, in->px + image_bytes(in->w, in->h, 3), (size_t)in->w * 3, 0, 0}, band;
    bool avx2 = have_avx2();

    if (!need_h && !need_v) {
        copy_window(in, win, dst);
        return true;
    }
    if ((need_h && !coeffs_make(in->w, win->w, win->x0, win->cw, avx2, &ch, err)) ||
        (need_v && !coeffs_make(in->h, win->h, win->y0, win->ch, false, &cv, err)))
        goto out;
    if (!need_v) {
        pass_horizontal(&src, win->y0, win->ch, &ch, dst, out_stride);
    } else if (!need_h) {
        if (!scratch_alloc(win->cw, 0, &acc, &mid, err))
            goto out;
        pass_vertical(&src, win->x0, win->cw, &cv, dst, out_stride, acc);
    } else if (vertical_first(in->w, in->h, win->w, win->h)) {
        int x0 = ch.lo[0], x1 = ch.lo[ch.n - 1] + ch.taps[ch.n - 1];
        size_t stride = (size_t)(x1 - x0) * 3, bytes = stride * (size_t)win->ch;
        if (!scratch_alloc(x1 - x0, bytes, &acc, &mid, err))
            goto out;
        band = (plane_t){mid, mid + bytes + SLACK, stride, x0, win->y0};
        pass_vertical(&src, x0, x1 - x0, &cv, mid, band.stride, acc);
        pass_horizontal(&band, win->y0, win->ch, &ch, dst, out_stride);
    } else {
        int y0 = cv.lo[0], y1 = cv.lo[cv.n - 1] + cv.taps[cv.n - 1];
        size_t bytes = out_stride * (size_t)(y1 - y0);
        if (!scratch_alloc(win->cw, bytes, &acc, &mid, err))
            goto out;
        band = (plane_t){mid, mid + bytes + SLACK, out_stride, win->x0, y0};
        pass_horizontal(&src, y0, y1 - y0, &ch, mid, out_stride);
        pass_vertical(&band, win->x0, win->cw, &cv, dst, out_stride, acc);
    }
    ok = true;
out:
    free(acc);
    coeffs_release(&ch);
    coeffs_release(&cv);
    return ok;
}

static bool check_image(const sub_rgb_t *in, sub_error_t *err)
{
    if (!in || !in->px || in->w < 1 || in->h < 1)
        return sub_error_set(err, SUB_E_INTERNAL, 0, "resize: no image");
    return true;
}

bool sub_pixels_resize(const sub_rgb_t *in, int w, int h, sub_rgb_t *out, sub_error_t *err)
{
    window_t win = {w, h, 0, 0, w, h};

    if (!out->cap)
        out->px = NULL;
    out->w = out->h = 0;
    if (!check_image(in, err))
        return false;
    if (w < 1 || h < 1)
        return sub_error_set(err, SUB_E_INTERNAL, 0,
                             "resize to %dx%d: height and width must be > 0", w, h);
    if (!alloc_pixels(out, w, h, 3, err))
        return false;
    if (!resample_window(in, &win, out->px, err)) {
        sub_rgb_release(out);
        return false;
    }
    return true;
}

/* ---- torchvision's Resize(size) + CenterCrop(crop) ---- */

bool sub_pixels_short_side_size(int w, int h, int short_side, int *out_w, int *out_h,
                                sub_error_t *err)
{
    int shorter = w <= h ? w : h, longer = w <= h ? h : w;

    *out_w = *out_h = 0;
    if (w < 1 || h < 1 || short_side < 1)
        return sub_error_set(err, SUB_E_INTERNAL, 0, "resize %dx%d to short side %d: bad size", w,
                             h, short_side);
    /* int(size * long / short): an exact product, then Python's true division, which for
     * operands below 2^53 is one correctly rounded double division, as here. */
    double new_long = (double)((int64_t)short_side * longer) / (double)shorter;
    if (new_long >= (double)INT_MAX + 1.0)
        return sub_error_set(err, SUB_E_INPUT, SUB_IMAGE_E_TOO_LARGE,
                             "resize %dx%d to short side %d: the long side would be %.0f", w, h,
                             short_side, new_long);
    *out_w = w <= h ? short_side : (int)new_long;
    *out_h = w <= h ? (int)new_long : short_side;
    return true;
}

/* int(round((size - crop) / 2.0)) with Python's round half to even, in integers: an odd
 * difference d lands on d / 2 + 0.5, which goes to the even one of its neighbours. */
static int center_offset(int size, int crop)
{
    int d = size - crop, q = d / 2;

    return d % 2 == 0 || q % 2 == 0 ? q : q + 1;
}

bool sub_pixels_resize_crop(const sub_rgb_t *in, int short_side, int crop, uint8_t *dst,
                            sub_error_t *err)
{
    window_t win;

    if (!check_image(in, err))
        return false;
    if (crop < 1 || crop > short_side)
        return sub_error_set(err, SUB_E_INTERNAL, 0, "center crop %d of short side %d", crop,
                             short_side);
    if (!sub_pixels_short_side_size(in->w, in->h, short_side, &win.w, &win.h, err))
        return false;
    win.cw = win.ch = crop;
    win.x0 = center_offset(win.w, crop);
    win.y0 = center_offset(win.h, crop);
    return resample_window(in, &win, dst, err);
}
