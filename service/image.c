#define SUB_LOG_DOMAIN "image"
#include "subsetter/image.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <turbojpeg.h>

#include "subsetter/strutil.h"

#define CORRUPT(err, ...) sub_error_set((err), SUB_E_INPUT, SUB_IMAGE_E_CORRUPT, __VA_ARGS__)

/* ---- Bounds-free readers: every caller has checked that the bytes are in the buffer. ---- */

static uint32_t be16(const uint8_t *p)
{
    return (uint32_t)p[0] << 8 | p[1];
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint32_t le16(const uint8_t *p)
{
    return (uint32_t)p[1] << 8 | p[0];
}

static uint32_t le24(const uint8_t *p)
{
    return (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

static uint32_t rd16(const uint8_t *p, bool little)
{
    return little ? le16(p) : be16(p);
}

static uint32_t rd32(const uint8_t *p, bool little)
{
    return little ? le32(p) : be32(p);
}

/* ---- Common ---- */

static const char *const MIME[] = {NULL,        "image/jpeg", "image/png",
                                   "image/gif", "image/webp", "image/bmp"};

static void info_reset(sub_image_info_t *out)
{
    memset(out, 0, sizeof *out);
    out->orientation = 1;
    out->jpeg_subsamp = -1;
    out->jpeg_colorspace = -1;
}

/* Width and height as PIL reports them; both must be 1..INT32_MAX. */
static bool set_size(sub_image_info_t *out, const char *what, uint32_t w, uint32_t h,
                     sub_error_t *err)
{
    if (w == 0 || h == 0 || w > INT32_MAX || h > INT32_MAX)
        return CORRUPT(err, "%s: bad size %" PRIu32 "x%" PRIu32, what, w, h);
    out->width = (int)w;
    out->height = (int)h;
    return true;
}

static void set_mode(sub_image_info_t *out, const char *mode, int channels)
{
    out->mode = mode;
    out->num_channels = channels;
}

sub_image_type_t sub_image_detect(const uint8_t *buf, size_t len)
{
    static const uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

    if (!buf)
        return SUB_IMAGE_NONE;
    if (len >= 3 && buf[0] == 0xFF && buf[1] == 0xD8 && buf[2] == 0xFF)
        return SUB_IMAGE_JPEG;
    if (len >= 8 && memcmp(buf, png_sig, 8) == 0)
        return SUB_IMAGE_PNG;
    if (len >= 6 && (memcmp(buf, "GIF87a", 6) == 0 || memcmp(buf, "GIF89a", 6) == 0))
        return SUB_IMAGE_GIF;
    if (len >= 12 && memcmp(buf, "RIFF", 4) == 0 && memcmp(buf + 8, "WEBP", 4) == 0)
        return SUB_IMAGE_WEBP;
    /* "BM" alone is too weak (a text file may start so): the DIB header size must be one
     * PIL knows too. */
    if (len >= 18 && buf[0] == 'B' && buf[1] == 'M') {
        uint32_t hs = le32(buf + 14);
        if (hs == 12 || hs == 40 || hs == 52 || hs == 56 || hs == 64 || hs == 108 || hs == 124)
            return SUB_IMAGE_BMP;
    }
    return SUB_IMAGE_NONE;
}

const char *sub_image_type_name(sub_image_type_t type)
{
    switch (type) {
    case SUB_IMAGE_JPEG:
        return "jpeg";
    case SUB_IMAGE_PNG:
        return "png";
    case SUB_IMAGE_GIF:
        return "gif";
    case SUB_IMAGE_WEBP:
        return "webp";
    case SUB_IMAGE_BMP:
        return "bmp";
    default:
        return "none";
    }
}

/* ---- JPEG: EXIF and XMP orientation ---- */

/* The Orientation entry of IFD0 in a TIFF block (the APP1 payload after "Exif\0\0"):
 * its value; 0 when the entry is there but not one number (PIL then has the tag, so no XMP
 * fallback, and no valid value); -1 when the block is damaged or has no such entry. Entries
 * that run past the block are ignored, as PIL stops at a short read. */
static int exif_orientation(const uint8_t *p, size_t n)
{
    bool little;

    if (n < 8)
        return -1;
    if (p[0] == 'I' && p[1] == 'I')
        little = true;
    else if (p[0] == 'M' && p[1] == 'M')
        little = false;
    else
        return -1;
    if (rd16(p + 2, little) != 42)
        return -1;
    uint32_t ifd = rd32(p + 4, little);
    if (ifd > n || n - ifd < 2)
        return -1;
    uint32_t count = rd16(p + ifd, little);
    size_t pos = (size_t)ifd + 2;
    for (uint32_t i = 0; i < count && n - pos >= 12; i++, pos += 12) {
        if (rd16(p + pos, little) != 0x0112)
            continue;
        uint32_t type = rd16(p + pos + 2, little);
        if (rd32(p + pos + 4, little) != 1)
            return 0;
        if (type == 3) /* SHORT */
            return (int)rd16(p + pos + 8, little);
        if (type == 4) { /* LONG; anything over 8 is as invalid as 9 */
            uint32_t v = rd32(p + pos + 8, little);
            return v > 9 ? 9 : (int)v;
        }
        if (type == 1) /* BYTE */
            return p[pos + 8];
        return 0;
    }
    return -1;
}

/* PIL's fallback when EXIF has no Orientation: re.search(rb'tiff:Orientation(="|>)([0-9])')
 * in the XMP packet. -1 when there is no match. */
static int xmp_orientation(const uint8_t *p, size_t n)
{
    static const char key[] = "tiff:Orientation";
    const size_t k = sizeof key - 1;

    for (size_t i = 0; n >= k && i <= n - k; i++) {
        if (p[i] != 't' || memcmp(p + i, key, k) != 0)
            continue;
        size_t at = i + k;
        if (n - at >= 3 && p[at] == '=' && p[at + 1] == '"' && p[at + 2] >= '0' && p[at + 2] <= '9')
            return p[at + 2] - '0';
        if (n - at >= 2 && p[at] == '>' && p[at + 1] >= '0' && p[at + 1] <= '9')
            return p[at + 1] - '0';
    }
    return -1;
}

typedef struct {
    bool exif_seen;
    int exif;         /* Orientation from the first Exif APP1, -1 if none */
    int xmp;          /* from the last XMP APP1 (PIL keeps the last), -1 if none */
    bool progressive; /* the frame header is SOF2, SOF6, SOF10 or SOF14 */
} jpeg_markers_t;

static void jpeg_segment(uint8_t marker, const uint8_t *p, size_t n, jpeg_markers_t *m)
{
    static const char xmp_ns[] = "http://ns.adobe.com/xap/1.0/"; /* then a NUL */
    const size_t xmp_len = sizeof xmp_ns;                        /* with the NUL */

    if (marker == 0xC2 || marker == 0xC6 || marker == 0xCA || marker == 0xCE)
        m->progressive = true;
    if (marker != 0xE1)
        return;
    if (n >= 6 && memcmp(p, "Exif\0\0", 6) == 0) {
        if (m->exif_seen)
            return;
        m->exif_seen = true;
        p += 6, n -= 6;
        if (n >= 6 && memcmp(p, "Exif\0\0", 6) == 0) /* PIL strips the prefix twice too */
            p += 6, n -= 6;
        m->exif = exif_orientation(p, n);
    } else if (n >= xmp_len && memcmp(p, xmp_ns, xmp_len) == 0) {
        m->xmp = xmp_orientation(p + xmp_len, n - xmp_len);
    }
}

/* Walks the segments before the first scan. Stops quietly at anything malformed: TurboJPEG
 * has already judged the header, and what is past the damage is ignored. */
static void jpeg_markers(const uint8_t *buf, size_t len, jpeg_markers_t *m)
{
    size_t pos = 2;

    m->exif_seen = false;
    m->exif = m->xmp = -1;
    m->progressive = false;
    while (len - pos >= 4 && buf[pos] == 0xFF) {
        uint8_t marker = buf[pos + 1];
        if (marker == 0xFF) { /* fill byte */
            pos++;
            continue;
        }
        if (marker == 0xD9 || marker == 0xDA) /* EOI, SOS */
            return;
        if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) { /* no length */
            pos += 2;
            continue;
        }
        size_t seg = be16(buf + pos + 2);
        if (seg < 2 || seg > len - pos - 2)
            return;
        jpeg_segment(marker, buf + pos + 4, seg - 2, m);
        pos += 2 + seg;
    }
}

static int jpeg_orientation(const jpeg_markers_t *m)
{
    int v = m->exif >= 0 ? m->exif : m->xmp;
    return v >= 1 && v <= 8 ? v : 1;
}

/* ---- JPEG: header and decode ---- */

static bool jpeg_mode(sub_image_info_t *out, int colorspace, sub_error_t *err)
{
    switch (colorspace) {
    case TJCS_GRAY:
        set_mode(out, "L", 1);
        return true;
    case TJCS_RGB:
    case TJCS_YCbCr:
        set_mode(out, "RGB", 3);
        return true;
    case TJCS_CMYK:
    case TJCS_YCCK:
        set_mode(out, "CMYK", 4);
        return true;
    default:
        return CORRUPT(err, "jpeg: unknown colorspace %d", colorspace);
    }
}

static bool probe_jpeg(const uint8_t *buf, size_t len, sub_image_info_t *out, sub_error_t *err)
{
    tjhandle tj = NULL;
    int w = 0, h = 0, subsamp = -1, cs = -1, rc;
    jpeg_markers_t m;
    bool ok = false;

    tj = tjInitDecompress();
    if (!tj) {
        sub_error_set(err, SUB_E_INTERNAL, 0, "tjInitDecompress: %s", tjGetErrorStr2(NULL));
        goto out;
    }
    rc = tjDecompressHeader3(tj, buf, (unsigned long)len, &w, &h, &subsamp, &cs);
    /* Failures that still fill the outputs are kept, as PIL opens those files: a warning
     * ("extraneous bytes before marker"), or a subsampling TurboJPEG 2.x has no name for
     * (4:1:0; jpeg_subsamp stays -1). A fatal error leaves the outputs as they were, and
     * so does a success on a tables-only stream, which is what a file cut inside its
     * headers looks like. */
    if (w <= 0 || h <= 0 || cs < 0) {
        CORRUPT(err, "jpeg header: %s",
                rc != 0 ? tjGetErrorStr2(tj) : "no frame (tables only, or cut short)");
        goto out;
    }
    if (!set_size(out, "jpeg", (uint32_t)w, (uint32_t)h, err) || !jpeg_mode(out, cs, err))
        goto out;
    out->jpeg_subsamp = subsamp;
    out->jpeg_colorspace = cs;
    jpeg_markers(buf, len, &m);
    out->orientation = jpeg_orientation(&m);
    out->progressive = m.progressive;
    ok = true;
out:
    if (tj)
        tjDestroy(tj);
    return ok;
}

static tjscalingfactor eighth_scale(void)
{
    tjscalingfactor one = {1, 1};
    int n = 0;
    const tjscalingfactor *sf = tjGetScalingFactors(&n);

    for (int i = 0; sf && i < n; i++)
        if (sf[i].num == 1 && sf[i].denom == 8)
            return sf[i];
    return one;
}

/* Decodes every scan at 1/8 scale: the entropy decoder still reads each coefficient, so
 * truncation and damage are found as at full scale. Warnings stop the decode and fail. */
static bool verify_jpeg(const uint8_t *buf, size_t len, const sub_image_info_t *info,
                        sub_error_t *err)
{
    tjhandle tj = NULL;
    uint8_t *dst = NULL;
    bool ok = false;
    int pf = TJPF_RGB;

    if (info->jpeg_colorspace == TJCS_GRAY)
        pf = TJPF_GRAY;
    else if (info->jpeg_colorspace == TJCS_CMYK || info->jpeg_colorspace == TJCS_YCCK)
        pf = TJPF_CMYK; /* TurboJPEG converts CMYK/YCCK to nothing else */
    tjscalingfactor sf = eighth_scale();
    int sw = TJSCALED(info->width, sf), sh = TJSCALED(info->height, sf);
    size_t need = (size_t)sw * (size_t)sh * (size_t)tjPixelSize[pf];

    tj = tjInitDecompress();
    if (!tj) {
        sub_error_set(err, SUB_E_INTERNAL, 0, "tjInitDecompress: %s", tjGetErrorStr2(NULL));
        goto out;
    }
    dst = malloc(need);
    if (!dst) {
        sub_error_set(err, SUB_E_INTERNAL, 0, "jpeg decode: out of memory (%zu bytes)", need);
        goto out;
    }
    if (tjDecompress2(tj, buf, (unsigned long)len, dst, sw, 0, sh, pf,
                      TJFLAG_STOPONWARNING | TJFLAG_LIMITSCANS) != 0) {
        CORRUPT(err, "jpeg decode: %s", tjGetErrorStr2(tj));
        goto out;
    }
    ok = true;
out:
    free(dst);
    if (tj)
        tjDestroy(tj);
    return ok;
}

/* ---- PNG ---- */

static bool probe_png(const uint8_t *buf, size_t len, sub_image_info_t *out, sub_error_t *err)
{
    /* PIL's _MODES: (bit depth, color type) -> mode. */
    static const struct {
        uint8_t depth, ctype;
        const char *mode;
        int channels;
    } modes[] = {
        {1, 0, "1", 1},     {2, 0, "L", 1},    {4, 0, "L", 1},     {8, 0, "L", 1},
        {16, 0, "I;16", 1}, {8, 2, "RGB", 3},  {16, 2, "RGB", 3},  {1, 3, "P", 1},
        {2, 3, "P", 1},     {4, 3, "P", 1},    {8, 3, "P", 1},     {8, 4, "LA", 2},
        {16, 4, "RGBA", 4}, {8, 6, "RGBA", 4}, {16, 6, "RGBA", 4},
    };

    if (len < 8 + 8 + 13)
        return CORRUPT(err, "png: truncated before the end of IHDR");
    if (be32(buf + 8) != 13 || memcmp(buf + 12, "IHDR", 4) != 0)
        return CORRUPT(err, "png: first chunk is not IHDR");
    if (!set_size(out, "png", be32(buf + 16), be32(buf + 20), err))
        return false;
    uint8_t depth = buf[24], ctype = buf[25];
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        if (modes[i].depth == depth && modes[i].ctype == ctype) {
            set_mode(out, modes[i].mode, modes[i].channels);
            out->progressive = buf[28] == 1;
            return true;
        }
    }
    return CORRUPT(err, "png: bit depth %d with color type %d", depth, ctype);
}

/* CRC-32 of PNG chunks (ISO 3309, reflected 0xEDB88320), four bits at a time. */
static uint32_t crc32_png(const uint8_t *p, size_t n)
{
    static const uint32_t t[16] = {
        0x00000000, 0x1db71064, 0x3b6e20c8, 0x26d930ac, 0x76dc4190, 0x6b6b51f4,
        0x4db26158, 0x5005713c, 0xedb88320, 0xf00f9344, 0xd6d6a3e8, 0xcb61b38c,
        0x9b64c2b0, 0x86d3d2d4, 0xa00ae278, 0xbdbdf21c,
    };
    uint32_t crc = 0xFFFFFFFFu;

    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        crc = (crc >> 4) ^ t[crc & 15];
        crc = (crc >> 4) ^ t[crc & 15];
    }
    return ~crc;
}

static bool png_chunk_type_ok(const uint8_t *t)
{
    for (int i = 0; i < 4; i++) {
        bool alpha = (t[i] >= 'A' && t[i] <= 'Z') || (t[i] >= 'a' && t[i] <= 'z');
        if (!alpha)
            return false;
    }
    return true;
}

/* Chunks from IHDR to IEND: each within buf, with a letter type and a matching CRC, and
 * at least one IDAT before IEND. Bytes after IEND are ignored, as decoders do. */
static bool verify_png(const uint8_t *buf, size_t len, sub_error_t *err)
{
    size_t pos = 8;
    bool idat = false;

    while (len - pos >= 12) {
        uint32_t n = be32(buf + pos);
        const uint8_t *type = buf + pos + 4;
        if (n > 0x7FFFFFFFu || !png_chunk_type_ok(type))
            return CORRUPT(err, "png: bad chunk header at byte %zu", pos);
        if (n > len - pos - 12)
            return CORRUPT(err, "png: truncated in chunk %.4s at byte %zu", (const char *)type,
                           pos);
        if (crc32_png(type, 4 + (size_t)n) != be32(type + 4 + n))
            return CORRUPT(err, "png: CRC mismatch in chunk %.4s at byte %zu", (const char *)type,
                           pos);
        if (memcmp(type, "IDAT", 4) == 0)
            idat = true;
        if (memcmp(type, "IEND", 4) == 0) {
            if (!idat)
                return CORRUPT(err, "png: no IDAT chunk");
            return true;
        }
        pos += 12 + (size_t)n;
    }
    return CORRUPT(err, "png: truncated (no IEND chunk)");
}

/* ---- GIF ---- */

/* PIL's _is_palette_needed: a palette that maps each index to its own gray is none. */
static bool gif_palette_needed(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i + 2 < n; i += 3) {
        uint8_t idx = (uint8_t)(i / 3);
        if (p[i] != idx || p[i + 1] != idx || p[i + 2] != idx)
            return true;
    }
    return false;
}

/* Skips data sub-blocks from *pos to past their terminator. False when buf ends first. */
static bool gif_skip_blocks(const uint8_t *buf, size_t len, size_t *pos)
{
    size_t p = *pos;

    while (p < len) {
        size_t n = buf[p++];
        if (n == 0) {
            *pos = p;
            return true;
        }
        if (len - p < n)
            break;
        p += n;
    }
    *pos = len;
    return false;
}

typedef struct {
    size_t pos; /* of the first image descriptor's ',' */
    uint32_t width, height;
    bool palette; /* frame 0 has a palette that is needed: mode P, else L */
    bool interlaced;
} gif_frame0_t;

/* The logical screen and the first image descriptor, as PIL's _open and _seek(0) read
 * them: the size grows to hold frame 0, and unknown bytes between blocks are skipped. */
static bool gif_first_frame(const uint8_t *buf, size_t len, gif_frame0_t *f, sub_error_t *err)
{
    if (len < 13)
        return CORRUPT(err, "gif: truncated header");
    f->width = le16(buf + 6);
    f->height = le16(buf + 8);
    size_t pos = 13;
    bool global = false;
    if (buf[10] & 0x80) {
        size_t n = (size_t)3 << ((buf[10] & 7) + 1);
        if (len - pos < n)
            return CORRUPT(err, "gif: truncated global palette");
        global = gif_palette_needed(buf + pos, n);
        pos += n;
    }
    while (pos < len && buf[pos] != ';') {
        if (buf[pos] == '!') {
            pos += 2;
            gif_skip_blocks(buf, len, &pos);
            continue;
        }
        if (buf[pos] != ',') {
            pos++;
            continue;
        }
        if (len - pos < 10)
            break;
        const uint8_t *d = buf + pos + 1;
        uint32_t x1 = le16(d) + le16(d + 4), y1 = le16(d + 2) + le16(d + 6);
        f->pos = pos;
        f->width = x1 > f->width ? x1 : f->width;
        f->height = y1 > f->height ? y1 : f->height;
        f->interlaced = (d[8] & 0x40) != 0;
        f->palette = global;
        if (d[8] & 0x80) {
            size_t n = (size_t)3 << ((d[8] & 7) + 1);
            if (len - pos - 10 < n)
                break;
            f->palette = gif_palette_needed(buf + pos + 10, n);
        }
        return true;
    }
    return CORRUPT(err, "gif: no complete image descriptor");
}

static bool probe_gif(const uint8_t *buf, size_t len, sub_image_info_t *out, sub_error_t *err)
{
    gif_frame0_t f;

    if (!gif_first_frame(buf, len, &f, err) || !set_size(out, "gif", f.width, f.height, err))
        return false;
    set_mode(out, f.palette ? "P" : "L", 1);
    out->progressive = f.interlaced;
    return true;
}

/* Every block from the first image on is complete, up to the trailer or the end of buf:
 * some encoders leave the trailer out, and PIL reads such files. */
static bool verify_gif(const uint8_t *buf, size_t len, sub_error_t *err)
{
    gif_frame0_t f;
    bool whole = true;

    if (!gif_first_frame(buf, len, &f, err))
        return false;
    size_t pos = f.pos;
    while (whole && pos < len && buf[pos] != ';') {
        if (buf[pos] == '!') {
            pos += 2;
            whole = pos <= len && gif_skip_blocks(buf, len, &pos);
        } else if (buf[pos] == ',') {
            /* descriptor, local palette, LZW minimum code size, then data sub-blocks */
            uint8_t flags = len - pos >= 10 ? buf[pos + 9] : 0;
            size_t head = 10 + ((flags & 0x80) ? (size_t)3 << ((flags & 7) + 1) : 0) + 1;
            whole = len - pos > head;
            pos += whole ? head : 0;
            whole = whole && gif_skip_blocks(buf, len, &pos);
        } else {
            return CORRUPT(err, "gif: unexpected byte 0x%02x at %zu", buf[pos], pos);
        }
    }
    if (!whole)
        return CORRUPT(err, "gif: truncated in a block");
    return true;
}

/* ---- WebP ---- */

static bool probe_webp(const uint8_t *buf, size_t len, sub_image_info_t *out, sub_error_t *err)
{
    const uint8_t *d = buf + 20;
    uint32_t w, h;
    bool alpha = false;

    if (len < 25)
        return CORRUPT(err, "webp: truncated header");
    if (memcmp(buf + 12, "VP8 ", 4) == 0) { /* lossy: frame tag, start code, 14-bit sizes */
        if (len < 30 || d[3] != 0x9d || d[4] != 0x01 || d[5] != 0x2a)
            return CORRUPT(err, "webp: bad VP8 frame header");
        w = le16(d + 6) & 0x3FFF;
        h = le16(d + 8) & 0x3FFF;
    } else if (memcmp(buf + 12, "VP8L", 4) == 0) { /* lossless: 0x2f, 14+14 bits, alpha */
        if (d[0] != 0x2F)
            return CORRUPT(err, "webp: bad VP8L signature");
        uint32_t bits = le32(d + 1);
        w = (bits & 0x3FFF) + 1;
        h = ((bits >> 14) & 0x3FFF) + 1;
        alpha = (bits >> 28) & 1;
    } else if (memcmp(buf + 12, "VP8X", 4) == 0) { /* extended: flags, 24-bit canvas */
        if (len < 30)
            return CORRUPT(err, "webp: truncated VP8X chunk");
        alpha = (d[0] & 0x10) != 0;
        w = le24(d + 4) + 1;
        h = le24(d + 7) + 1;
    } else {
        return CORRUPT(err, "webp: unknown first chunk %.4s", (const char *)(buf + 12));
    }
    if (!set_size(out, "webp", w, h, err))
        return false;
    set_mode(out, alpha ? "RGBA" : "RGB", alpha ? 4 : 3);
    return true;
}

/* The RIFF container is complete and holds image data (no libwebp here to decode it). */
static bool verify_webp(const uint8_t *buf, size_t len, sub_error_t *err)
{
    uint32_t riff = le32(buf + 4);
    bool image = false;

    if (riff < 4 || riff > len - 8)
        return CORRUPT(err, "webp: truncated: RIFF holds %" PRIu32 " bytes, file has %zu", riff,
                       len - 8);
    size_t end = 8 + (size_t)riff, pos = 12;
    while (pos < end) {
        if (end - pos < 8)
            return CORRUPT(err, "webp: truncated chunk header at byte %zu", pos);
        uint32_t n = le32(buf + pos + 4);
        if (n > end - pos - 8)
            return CORRUPT(err, "webp: truncated in chunk %.4s at byte %zu",
                           (const char *)(buf + pos), pos);
        if (memcmp(buf + pos, "VP8 ", 4) == 0 || memcmp(buf + pos, "VP8L", 4) == 0 ||
            memcmp(buf + pos, "ANMF", 4) == 0)
            image = true;
        pos += 8 + (size_t)n + (n & 1);
    }
    if (!image)
        return CORRUPT(err, "webp: no image data");
    return true;
}

/* ---- BMP ---- */

typedef struct {
    uint32_t header_size, width, height, bits, compression, colors, offset;
    const char *mode;
    int channels;
} bmp_header_t;

enum { BMP_RAW = 0, BMP_RLE8 = 1, BMP_RLE4 = 2, BMP_BITFIELDS = 3 };

/* PIL's mode for BI_BITFIELDS masks (BmpImagePlugin's SUPPORTED/MASK_MODES). */
static bool bmp_bitfields(const uint8_t *buf, size_t len, bmp_header_t *b, sub_error_t *err)
{
    static const uint32_t rgba32[][5] = {
        /* r, g, b, a masks, has alpha */
        {0xFF0000, 0xFF00, 0xFF, 0x0, 0},        {0xFF000000, 0xFF0000, 0xFF00, 0x0, 0},
        {0xFF000000, 0xFF00, 0xFF, 0x0, 0},      {0xFF000000, 0xFF0000, 0xFF00, 0xFF, 1},
        {0xFF, 0xFF00, 0xFF0000, 0xFF000000, 1}, {0xFF0000, 0xFF00, 0xFF, 0xFF000000, 1},
        {0xFF000000, 0xFF00, 0xFF, 0xFF0000, 1}, {0x0, 0x0, 0x0, 0x0, 1},
    };
    uint32_t m[4] = {0, 0, 0, 0};
    /* The masks follow the 40-byte header, or sit at the same place inside a longer one. */
    size_t at = 14 + 40, nmasks = b->header_size >= 56 ? 4 : 3;

    if (len < at + 4 * nmasks)
        return CORRUPT(err, "bmp: truncated bitfield masks");
    for (size_t i = 0; i < nmasks; i++)
        m[i] = le32(buf + at + 4 * i);
    if (b->bits == 32) {
        for (size_t i = 0; i < sizeof rgba32 / sizeof rgba32[0]; i++) {
            if (memcmp(m, rgba32[i], sizeof m) == 0) {
                b->mode = rgba32[i][4] ? "RGBA" : "RGB";
                b->channels = rgba32[i][4] ? 4 : 3;
                return true;
            }
        }
    } else if ((b->bits == 24 && m[0] == 0xFF0000 && m[1] == 0xFF00 && m[2] == 0xFF) ||
               (b->bits == 16 && m[0] == 0xF800 && m[1] == 0x7E0 && m[2] == 0x1F) ||
               (b->bits == 16 && m[0] == 0x7C00 && m[1] == 0x3E0 && m[2] == 0x1F)) {
        return true;
    }
    return CORRUPT(err, "bmp: unsupported bitfields layout");
}

/* Palette images are "1" or "L" when every entry is the gray of its index (PIL drops the
 * palette then), else "P". A palette cut short is not gray. */
static void bmp_palette_mode(const uint8_t *buf, size_t len, bmp_header_t *b)
{
    size_t pad = b->header_size == 12 ? 3 : 4, at = 14 + (size_t)b->header_size;
    bool gray = true;

    for (uint32_t i = 0; gray && i < b->colors; i++) {
        uint8_t v = (uint8_t)(b->colors == 2 ? (i ? 255 : 0) : i);
        size_t p = at + (size_t)i * pad;
        gray = p <= len && len - p >= 3 && buf[p] == v && buf[p + 1] == v && buf[p + 2] == v;
    }
    b->mode = gray ? (b->colors <= 2 ? "1" : "L") : "P";
}

static bool bmp_parse(const uint8_t *buf, size_t len, bmp_header_t *b, sub_error_t *err)
{
    const uint8_t *h = buf + 18; /* the DIB header after its size field */

    memset(b, 0, sizeof *b);
    b->header_size = le32(buf + 14);
    b->offset = le32(buf + 10);
    if (len - 14 < b->header_size)
        return CORRUPT(err, "bmp: truncated header");
    if (b->header_size == 12) {
        b->width = le16(h);
        b->height = le16(h + 2);
        b->bits = le16(h + 6);
    } else {
        b->width = le32(h);
        b->height = h[7] == 0xFF ? 0u - le32(h + 4) : le32(h + 4); /* negative: top-down */
        b->bits = le16(h + 10);
        b->compression = le32(h + 12);
        b->colors = le32(h + 28);
    }
    if (b->bits == 1 || b->bits == 4 || b->bits == 8) {
        b->mode = "P";
        b->channels = 1;
    } else if (b->bits == 16 || b->bits == 24 || b->bits == 32) {
        b->mode = "RGB";
        b->channels = 3;
    } else {
        return CORRUPT(err, "bmp: unsupported pixel depth %" PRIu32, b->bits);
    }
    if (b->compression == BMP_BITFIELDS) {
        if (b->bits <= 8)
            return CORRUPT(err, "bmp: bitfields with %" PRIu32 " bits per pixel", b->bits);
        if (!bmp_bitfields(buf, len, b, err))
            return false;
    } else if (b->compression != BMP_RAW && b->compression != BMP_RLE8 &&
               b->compression != BMP_RLE4) {
        return CORRUPT(err, "bmp: unsupported compression %" PRIu32, b->compression);
    }
    if (b->bits <= 8) {
        if (b->colors == 0)
            b->colors = 1u << b->bits;
        if (b->colors > 65536)
            return CORRUPT(err, "bmp: palette of %" PRIu32 " colors", b->colors);
        bmp_palette_mode(buf, len, b);
    }
    return true;
}

static bool probe_bmp(const uint8_t *buf, size_t len, sub_image_info_t *out, sub_error_t *err)
{
    bmp_header_t b;

    if (!bmp_parse(buf, len, &b, err) || !set_size(out, "bmp", b.width, b.height, err))
        return false;
    set_mode(out, b.mode, b.channels);
    return true;
}

/* The pixel array (rows padded to 4 bytes) lies within buf; RLE data at least starts. */
static bool verify_bmp(const uint8_t *buf, size_t len, sub_error_t *err)
{
    bmp_header_t b;

    if (!bmp_parse(buf, len, &b, err))
        return false;
    if (b.offset >= len)
        return CORRUPT(err, "bmp: pixel data offset %" PRIu32 " past the end", b.offset);
    if (b.compression == BMP_RLE8 || b.compression == BMP_RLE4)
        return true;
    uint64_t stride = (((uint64_t)b.width * b.bits + 31) >> 3) & ~(uint64_t)3;
    if (stride > (len - b.offset) / b.height) /* stride * height would not fit */
        return CORRUPT(err,
                       "bmp: truncated pixel data (%" PRIu32 " rows of %" PRIu64
                       " bytes, have %zu bytes)",
                       b.height, stride, len - b.offset);
    return true;
}

/* ---- Public ---- */

static bool probe_type(sub_image_type_t type, const uint8_t *buf, size_t len, sub_image_info_t *out,
                       sub_error_t *err)
{
    switch (type) {
    case SUB_IMAGE_JPEG:
        return probe_jpeg(buf, len, out, err);
    case SUB_IMAGE_PNG:
        return probe_png(buf, len, out, err);
    case SUB_IMAGE_GIF:
        return probe_gif(buf, len, out, err);
    case SUB_IMAGE_WEBP:
        return probe_webp(buf, len, out, err);
    case SUB_IMAGE_BMP:
        return probe_bmp(buf, len, out, err);
    default:
        if (len == 0)
            return sub_error_set(err, SUB_E_INPUT, SUB_IMAGE_E_NOT_IMAGE, "not an image: empty");
        return sub_error_set(err, SUB_E_INPUT, SUB_IMAGE_E_NOT_IMAGE,
                             "not an image: starts with %02x %02x %02x %02x", buf[0],
                             len > 1 ? buf[1] : 0, len > 2 ? buf[2] : 0, len > 3 ? buf[3] : 0);
    }
}

bool sub_image_probe(const uint8_t *buf, size_t len, sub_image_info_t *out, sub_error_t *err)
{
    sub_image_type_t type;

    info_reset(out);
    if (!buf)
        len = 0;
    type = sub_image_detect(buf, len);
    if (!probe_type(type, buf, len, out, err)) {
        info_reset(out);
        return false;
    }
    out->type = type;
    out->mime_type = MIME[type];
    bool swap = out->orientation >= 5 && out->orientation <= 8;
    out->oriented_width = swap ? out->height : out->width;
    out->oriented_height = swap ? out->width : out->height;
    return true;
}

static bool verify_type(const uint8_t *buf, size_t len, const sub_image_info_t *info,
                        sub_error_t *err)
{
    switch (info->type) {
    case SUB_IMAGE_JPEG:
        return verify_jpeg(buf, len, info, err);
    case SUB_IMAGE_PNG:
        return verify_png(buf, len, err);
    case SUB_IMAGE_GIF:
        return verify_gif(buf, len, err);
    case SUB_IMAGE_WEBP:
        return verify_webp(buf, len, err);
    case SUB_IMAGE_BMP:
        return verify_bmp(buf, len, err);
    default:
        return sub_error_set(err, SUB_E_INTERNAL, 0, "verify: image type %d", (int)info->type);
    }
}

#define PROBE_FILE_BYTES (1 << 20)

bool sub_image_probe_file(const char *path, sub_image_info_t *out, sub_error_t *err)
{
    FILE *f = fopen(path, "rb");
    memset(out, 0, sizeof *out);
    out->orientation = 1;
    if (!f)
        return sub_error_set(err, SUB_E_IO, errno, "open %s: %s", path, strerror(errno));
    uint8_t *buf = sub_xmalloc(PROBE_FILE_BYTES);
    size_t n = fread(buf, 1, PROBE_FILE_BYTES, f);
    bool ok =
        !ferror(f) || sub_error_set(err, SUB_E_IO, errno, "read %s: %s", path, strerror(errno));
    fclose(f);
    ok = ok && sub_image_probe(buf, n, out, err);
    free(buf);
    return ok;
}

bool sub_image_verify(const uint8_t *buf, size_t len, const sub_image_limits_t *lim,
                      sub_image_info_t *out, sub_error_t *err)
{
    uint64_t max_pixels = lim && lim->max_pixels ? lim->max_pixels : SUB_IMAGE_DEFAULT_MAX_PIXELS;
    size_t max_bytes = lim && lim->max_bytes ? lim->max_bytes : SUB_IMAGE_DEFAULT_MAX_BYTES;
    uint64_t pixels;
    bool ok = false;

    info_reset(out);
    if (len > max_bytes) {
        sub_error_set(err, SUB_E_INPUT, SUB_IMAGE_E_TOO_LARGE,
                      "image of %zu bytes is over the limit of %zu", len, max_bytes);
        goto out;
    }
    if (!sub_image_probe(buf, len, out, err))
        goto out;
    pixels = (uint64_t)out->width * (uint64_t)out->height;
    if (pixels > max_pixels) {
        sub_error_set(err, SUB_E_INPUT, SUB_IMAGE_E_TOO_LARGE,
                      "%s of %dx%d (%" PRIu64 " pixels) is over the limit of %" PRIu64,
                      sub_image_type_name(out->type), out->width, out->height, pixels, max_pixels);
        goto out;
    }
    ok = verify_type(buf, len, out, err);
out:
    if (!ok)
        info_reset(out);
    return ok;
}

/* ---- Names and FiftyOne's metadata ---- */

/* posixpath.splitext: the extension starts at the last dot of the last path component,
 * unless only dots precede it. Returns a pointer into s[0..n), or NULL. */
static const char *splitext(const char *s, size_t n)
{
    size_t start = 0;

    for (size_t i = 0; i < n; i++)
        if (s[i] == '/')
            start = i + 1;
    for (size_t i = n; i > start; i--) {
        if (s[i - 1] != '.')
            continue;
        for (size_t j = start; j < i - 1; j++)
            if (s[j] != '.')
                return s + i - 1;
        return NULL;
    }
    return NULL;
}

/* mimetypes.guess_type's type for an image extension; *encoded says that a compression
 * suffix was skipped on the way (mimetypes' encodings_map, which is case-sensitive). */
static const char *mime_for_name(const char *s, bool *encoded)
{
    static const char *const encodings[] = {".gz", ".Z", ".bz2", ".xz", ".br"};
    static const struct {
        const char *ext, *mime;
    } types[] = {
        {".jpg", "image/jpeg"},  {".jpeg", "image/jpeg"}, {".jpe", "image/jpeg"},
        {".jfif", "image/jpeg"}, {".png", "image/png"},   {".gif", "image/gif"},
        {".webp", "image/webp"}, {".bmp", "image/bmp"},   {".tif", "image/tiff"},
        {".tiff", "image/tiff"},
    };
    size_t n = strlen(s);
    const char *ext = splitext(s, n);

    *encoded = false;
    for (size_t i = 0; ext && i < sizeof encodings / sizeof encodings[0]; i++) {
        if (strcmp(ext, encodings[i]) == 0) {
            *encoded = true;
            ext = splitext(s, (size_t)(ext - s));
            break;
        }
    }
    if (!ext)
        return NULL;
    size_t elen = strcspn(ext + 1, ".") + 1; /* the extension ends at the next dot */
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (strlen(types[i].ext) == elen && strncasecmp(ext, types[i].ext, elen) == 0)
            return types[i].mime;
    return NULL;
}

const char *sub_image_mime_for_path(const char *path)
{
    bool encoded;

    return path ? mime_for_name(path, &encoded) : NULL;
}

bool sub_image_claims(const char *path_or_ext, const sub_image_info_t *info)
{
    char name[64];
    const char *s = path_or_ext;
    bool encoded;

    if (!s || !info || !info->mime_type)
        return false;
    /* ".jpg" and "jpg" are extensions, which posixpath.splitext would not see as such. */
    if (!strchr(s, '/') && (s[0] == '.' || !strchr(s, '.'))) {
        if (snprintf(name, sizeof name, "x%s%s", s[0] == '.' ? "" : ".", s) >= (int)sizeof name)
            return false;
        s = name;
    }
    const char *mime = mime_for_name(s, &encoded);
    return mime && !encoded && strcmp(mime, info->mime_type) == 0;
}

/* pymongo stores a Python int as int32 when it fits, else int64. */
static void append_pyint(bson_t *b, const char *key, int64_t v)
{
    if (v >= INT32_MIN && v <= INT32_MAX)
        bson_append_int32(b, key, -1, (int32_t)v);
    else
        bson_append_int64(b, key, -1, v);
}

void sub_image_metadata_bson(const sub_image_info_t *info, int64_t size_bytes, const char *path,
                             bson_t *out)
{
    const char *mime = path ? sub_image_mime_for_path(path) : info->mime_type;

    if (!mime)
        mime = "application/octet-stream";
    BSON_APPEND_UTF8(out, "_cls", "ImageMetadata");
    append_pyint(out, "size_bytes", size_bytes);
    BSON_APPEND_UTF8(out, "mime_type", mime);
    append_pyint(out, "width", info->oriented_width);
    append_pyint(out, "height", info->oriented_height);
    append_pyint(out, "num_channels", info->num_channels);
}
