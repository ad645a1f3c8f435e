/* npz.c - a streaming writer of NumPy .npz archives: a ZIP of stored .npy members, as
 * np.savez writes it.
 *
 * A member's size is known when it begins (its shape), so its local header is written
 * then with the right sizes and a zero CRC; the CRC is computed as the data streams by and
 * patched in at the end, which is what Python's zipfile does on a seekable file. No data
 * descriptors, so every reader can use the local headers. The archive carries a fixed
 * date (1980-01-01 00:00): the same arrays give the same bytes.
 */
#include "subsetter/npz.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "npz_int.h"

/* Writes go to the file in pieces of this size; data is checksummed in smaller ones. */
#define BUF_SIZE  ((size_t)1 << 20)
#define CRC_PIECE ((size_t)64 << 10)

#define SIG_LOCAL    0x04034b50u
#define SIG_CENTRAL  0x02014b50u
#define SIG_END      0x06054b50u
#define SIG_END64    0x06064b50u
#define SIG_LOCATOR  0x07064b50u
#define LOCAL_LEN    30
#define CENTRAL_LEN  46
#define END_LEN      22
#define END64_LEN    56
#define LOCATOR_LEN  20
#define CRC_AT       14 /* of the CRC-32 in a local header */
#define VERSION      20 /* 2.0: stored members */
#define VERSION64    45 /* 4.5: ZIP64 records */
#define MADE_BY_UNIX (3u << 8)
#define FLAG_UTF8    0x0800u /* the name is UTF-8 (set, as zipfile does, for non-ASCII) */
#define DOS_DATE     0x0021u /* 1980-01-01 */
#define DOS_TIME     0u
#define FILE_ATTR    (0100644u << 16) /* a regular file, rw-r--r-- */

/* "\x93NUMPY", version 1.0; headers longer than 65535 bytes would need 2.0, but
 * SUB_NPZ_MAX_DIMS dimensions and a short descr keep them under SUB_NPZ_HEADER_MAX. */
#define NPY_MAGIC         "\x93NUMPY\x01\x00"
#define NPY_PREFIX_LEN    10 /* magic, version, 16-bit header length */
#define NPY_ALIGN         64 /* numpy's ARRAY_ALIGN */
#define NPY_GROWTH_DIGITS 21 /* numpy's GROWTH_AXIS_MAX_DIGITS: room to grow shape[0] */

typedef struct {
    char *name;      /* "<name>.npy" */
    uint64_t offset; /* of the local header */
    uint64_t size;   /* the .npy header and data */
    uint32_t crc;
    bool size64;   /* the sizes are in ZIP64 extra fields */
    bool offset64; /* the offset is in the central ZIP64 extra field */
} member_t;

struct sub_npz {
    char *path, *part;
    int fd;
    unsigned char *buf;
    size_t buf_len;
    uint64_t flushed; /* bytes in the file; the buffer holds the ones after them */
    member_t *members;
    size_t n, cap;
    uint32_t *slots; /* names: open addressing, member index + 1, 0 for empty */
    size_t nslots;
    bool in_member;      /* members[n - 1] has begun and not ended */
    uint64_t written;    /* of the current member, its .npy header included */
    uint64_t header_len; /* of the current member's .npy header */
    uint32_t crc;
    uint64_t size_limit, count_limit;
    sub_error_t failed; /* once the archive is broken, every call returns this */
};

/* ---- CRC-32, slicing by 8 ---- */

static uint32_t crc_table[8][256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1)));
        crc_table[0][i] = c;
    }
    /* crc_table[t][i]: the CRC of byte i followed by t zero bytes. */
    for (int t = 1; t < 8; t++)
        for (int i = 0; i < 256; i++) {
            uint32_t c = crc_table[t - 1][i];
            crc_table[t][i] = (c >> 8) ^ crc_table[0][c & 0xFF];
        }
}

/* A little-endian load whatever the alignment; one instruction on x86 and arm64. */
static uint32_t load32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

uint32_t sub_npz_crc32(uint32_t crc, const void *data, size_t len)
{
    const unsigned char *p = data;
    uint32_t(*t)[256] = crc_table;
    uint32_t c = ~crc;
    pthread_once(&crc_once, crc_init);
    for (; len >= 8; p += 8, len -= 8) {
        uint32_t a = c ^ load32(p), b = load32(p + 4);
        c = t[7][a & 0xFF] ^ t[6][(a >> 8) & 0xFF] ^ t[5][(a >> 16) & 0xFF] ^ t[4][a >> 24] ^
            t[3][b & 0xFF] ^ t[2][(b >> 8) & 0xFF] ^ t[1][(b >> 16) & 0xFF] ^ t[0][b >> 24];
    }
    for (; len > 0; len--)
        c = t[0][(c ^ *p++) & 0xFF] ^ (c >> 8);
    return ~c;
}

/* ---- .npy headers ---- */

/* "12" of "<U12": 1 to 9 digits without a leading zero, else 0. */
static uint64_t descr_count(const char *s)
{
    uint64_t n = 0;
    size_t len = strspn(s, "0123456789");
    if (len == 0 || len > 9 || s[len] != '\0' || s[0] == '0')
        return 0;
    for (size_t i = 0; i < len; i++)
        n = n * 10 + (uint64_t)(s[i] - '0');
    return n;
}

/* Only numpy's own spelling of a descr is accepted ("|u1", never "<u1"), so a header is
 * byte for byte what np.save writes. */
uint64_t sub_npz_itemsize(const char *descr)
{
    if (!descr || !descr[0] || !strchr("<>|", descr[0]) || !descr[1])
        return 0;
    char order = descr[0], kind = descr[1];
    uint64_t n = descr_count(descr + 2);
    bool one_byte = order == '|';
    switch (kind) {
    case 'b':
        return one_byte && n == 1 ? 1 : 0;
    case 'i':
    case 'u':
        return (n == 1 || n == 2 || n == 4 || n == 8) && one_byte == (n == 1) ? n : 0;
    case 'f':
        return (n == 2 || n == 4 || n == 8) && !one_byte ? n : 0;
    case 'c':
        return (n == 8 || n == 16) && !one_byte ? n : 0;
    case 'S':
        return one_byte ? n : 0;
    case 'U':
        return !one_byte ? 4 * n : 0;
    default:
        return 0;
    }
}

/* Python's repr of the shape tuple: "()", "(5,)", "(2, 3)". */
static int shape_repr(char *out, size_t cap, const uint64_t *shape, int ndim)
{
    int len = snprintf(out, cap, "(");
    for (int i = 0; i < ndim; i++)
        len += snprintf(out + len, cap - (size_t)len, "%s%" PRIu64, i ? ", " : "", shape[i]);
    return len + snprintf(out + len, cap - (size_t)len, "%s)", ndim == 1 ? "," : "");
}

/* numpy's _write_array_header and _wrap_header: the dict with its keys sorted, spaces so
 * that shape[0] can grow to NPY_GROWTH_DIGITS digits in place, then spaces and a newline
 * up to the next multiple of NPY_ALIGN, counting the prefix (always at least one space). */
size_t sub_npz_npy_header(const char *descr, const uint64_t *shape, int ndim,
                          char out[SUB_NPZ_HEADER_MAX])
{
    char dims[SUB_NPZ_MAX_DIMS * 22 + 4], first[24];
    shape_repr(dims, sizeof dims, shape, ndim);
    size_t len = NPY_PREFIX_LEN;
    len += (size_t)snprintf(out + len, SUB_NPZ_HEADER_MAX - len,
                            "{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr, dims);
    int digits = ndim > 0 ? snprintf(first, sizeof first, "%" PRIu64, shape[0]) : 0;
    size_t grow = ndim > 0 ? (size_t)(NPY_GROWTH_DIGITS - digits) : 0;
    size_t pad = NPY_ALIGN - (len + grow + 1) % NPY_ALIGN;
    memset(out + len, ' ', grow + pad);
    len += grow + pad;
    out[len++] = '\n';
    memcpy(out, NPY_MAGIC, 8);
    out[8] = (char)((len - NPY_PREFIX_LEN) & 0xFF);
    out[9] = (char)((len - NPY_PREFIX_LEN) >> 8);
    return len;
}

/* ---- errors ---- */

/* Makes z's error err's too; returns false. */
static bool failed(const sub_npz_t *z, sub_error_t *err)
{
    if (err)
        *err = z->failed;
    return false;
}

/* A system call on the part file failed: the archive is broken from now on. */
static bool io_fail(sub_npz_t *z, const char *what, sub_error_t *err)
{
    int e = errno;
    sub_error_set(&z->failed, SUB_E_IO, e, "%s %s: %s", what, z->part, strerror(e));
    return failed(z, err);
}

static bool no_memory(const char *path, sub_error_t *err)
{
    return sub_error_set(err, SUB_E_INTERNAL, ENOMEM, "npz %s: out of memory", path);
}

/* ---- writing ---- */

static void put16(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
}

static void put32(unsigned char *p, uint32_t v)
{
    put16(p, v & 0xFFFF);
    put16(p + 2, v >> 16);
}

static void put64(unsigned char *p, uint64_t v)
{
    put32(p, (uint32_t)v);
    put32(p + 4, (uint32_t)(v >> 32));
}

/* Like write(2) but for all of data: short writes and EINTR go round again. */
static bool write_all(sub_npz_t *z, const unsigned char *data, size_t len, sub_error_t *err)
{
    while (len > 0) {
        ssize_t w = write(z->fd, data, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w == 0)
            errno = ENOSPC; /* what a file that takes nothing means */
        if (w <= 0)
            return io_fail(z, "write", err);
        data += w;
        len -= (size_t)w;
        z->flushed += (uint64_t)w;
    }
    return true;
}

static bool flush(sub_npz_t *z, sub_error_t *err)
{
    size_t len = z->buf_len;
    z->buf_len = 0;
    return write_all(z, z->buf, len, err);
}

/* Appends data to the archive. Every write(2) is of a full buffer, big pieces included:
 * 10 MB writes straight from the caller's memory took the kernel several times the system
 * time of 1 MiB writes from one buffer that stays in the cache. */
static bool put(sub_npz_t *z, const void *data, size_t len, sub_error_t *err)
{
    const unsigned char *p = data;
    while (len > 0) {
        if (z->buf_len == BUF_SIZE && !flush(z, err))
            return false;
        size_t n = BUF_SIZE - z->buf_len < len ? BUF_SIZE - z->buf_len : len;
        memcpy(z->buf + z->buf_len, p, n);
        z->buf_len += n;
        p += n;
        len -= n;
    }
    return true;
}

/* Overwrites bytes already put at offset at: in the buffer, the file, or both. */
static bool patch(sub_npz_t *z, uint64_t at, const unsigned char *data, size_t len,
                  sub_error_t *err)
{
    size_t in_file = at < z->flushed ? (size_t)(z->flushed - at < len ? z->flushed - at : len) : 0;
    for (size_t done = 0; done < in_file;) {
        ssize_t w = pwrite(z->fd, data + done, in_file - done, (off_t)(at + done));
        if (w < 0 && errno == EINTR)
            continue;
        if (w == 0)
            errno = ENOSPC;
        if (w <= 0)
            return io_fail(z, "write", err);
        done += (size_t)w;
    }
    if (in_file < len)
        memcpy(z->buf + (at + in_file - z->flushed), data + in_file, len - in_file);
    return true;
}

/* ---- the archive ---- */

static void npz_free(sub_npz_t *z)
{
    for (size_t i = 0; i < z->n; i++)
        free(z->members[i].name);
    free(z->members);
    free(z->slots);
    free(z->buf);
    free(z->path);
    free(z->part);
    free(z);
}

void sub_npz_set_zip64_limits(sub_npz_t *z, uint64_t size, uint64_t count)
{
    z->size_limit = size < SUB_NPZ_ZIP64_SIZE ? size : SUB_NPZ_ZIP64_SIZE;
    z->count_limit = count < SUB_NPZ_ZIP64_COUNT ? count : SUB_NPZ_ZIP64_COUNT;
}

bool sub_npz_open(const char *path, sub_npz_t **out, sub_error_t *err)
{
    sub_npz_t *z = calloc(1, sizeof *z);
    *out = NULL;
    if (!z)
        return no_memory(path, err);
    z->fd = -1;
    sub_npz_set_zip64_limits(z, SUB_NPZ_ZIP64_SIZE, SUB_NPZ_ZIP64_COUNT);
    z->path = strdup(path);
    z->part = malloc(strlen(path) + sizeof ".part");
    z->buf = malloc(BUF_SIZE);
    if (!z->path || !z->part || !z->buf) {
        npz_free(z);
        return no_memory(path, err);
    }
    snprintf(z->part, strlen(path) + sizeof ".part", "%s.part", path);
    z->fd = open(z->part, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (z->fd < 0) {
        bool ok = io_fail(z, "create", err);
        npz_free(z);
        return ok;
    }
    *out = z;
    return true;
}

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

/* The slot of name: the one holding it or the empty one where it would go. */
static uint32_t *name_slot(const sub_npz_t *z, const char *name)
{
    size_t i = (size_t)fnv1a(name) & (z->nslots - 1);
    while (z->slots[i] && strcmp(z->members[z->slots[i] - 1].name, name) != 0)
        i = (i + 1) & (z->nslots - 1);
    return &z->slots[i];
}

/* Room for member n: its record and a name slot at most half full. */
static bool grow(sub_npz_t *z, sub_error_t *err)
{
    if (z->n == z->cap) {
        size_t cap = z->cap ? 2 * z->cap : 16;
        member_t *m = realloc(z->members, cap * sizeof *m);
        if (!m)
            return no_memory(z->path, err);
        z->members = m;
        z->cap = cap;
    }
    if (2 * (z->n + 1) <= z->nslots)
        return true;
    uint32_t *old = z->slots;
    size_t old_n = z->nslots;
    z->nslots = old_n ? 2 * old_n : 64;
    z->slots = calloc(z->nslots, sizeof *z->slots);
    if (!z->slots) {
        z->slots = old;
        z->nslots = old_n;
        return no_memory(z->path, err);
    }
    for (size_t i = 0; i < old_n; i++)
        if (old[i])
            *name_slot(z, z->members[old[i] - 1].name) = old[i];
    free(old);
    return true;
}

/* The version a reader needs to extract m. */
static uint32_t version_of(const member_t *m)
{
    return m->size64 || m->offset64 ? VERSION64 : VERSION;
}

/* The general purpose flags of m: only whether its name is UTF-8. */
static uint32_t flags_of(const member_t *m)
{
    for (const unsigned char *p = (const unsigned char *)m->name; *p; p++)
        if (*p >= 0x80)
            return FLAG_UTF8;
    return 0;
}

/* The ZIP64 extra field holding n 64-bit values; its length. */
static size_t zip64_extra(unsigned char *out, const uint64_t *v, int n)
{
    put16(out, 1);
    put16(out + 2, (uint32_t)(8 * n));
    for (int i = 0; i < n; i++)
        put64(out + 4 + 8 * i, v[i]);
    return 4 + 8 * (size_t)n;
}

/* The local header of m, its CRC zero until sub_npz_end patches it. */
static bool put_local(sub_npz_t *z, const member_t *m, sub_error_t *err)
{
    unsigned char h[LOCAL_LEN + 20];
    size_t name_len = strlen(m->name), extra = 0;
    uint32_t size32 = m->size64 ? 0xFFFFFFFFu : (uint32_t)m->size;
    put32(h, SIG_LOCAL);
    put16(h + 4, version_of(m));
    put16(h + 6, flags_of(m));
    put16(h + 8, 0); /* stored */
    put16(h + 10, DOS_TIME);
    put16(h + 12, DOS_DATE);
    put32(h + CRC_AT, 0);
    put32(h + 18, size32);
    put32(h + 22, size32);
    put16(h + 26, (uint32_t)name_len);
    if (m->size64)
        extra = zip64_extra(h + LOCAL_LEN, (const uint64_t[]){m->size, m->size}, 2);
    put16(h + 28, (uint32_t)extra);
    return put(z, h, LOCAL_LEN, err) && put(z, m->name, name_len, err) &&
           put(z, h + LOCAL_LEN, extra, err);
}

/* The data bytes of the array, or false when they would not fit in a file. */
static bool data_size(uint64_t itemsize, const uint64_t *shape, int ndim, uint64_t *out)
{
    uint64_t n = itemsize;
    for (int i = 0; i < ndim; i++)
        if (__builtin_mul_overflow(n, shape[i], &n))
            return false;
    *out = n;
    return n <= (uint64_t)INT64_MAX / 2;
}

/* What sub_npz_begin refuses before anything is written (z stays usable). */
static bool check_begin(const sub_npz_t *z, const char *name, const char *descr,
                        const uint64_t *shape, int ndim, uint64_t *bytes, sub_error_t *err)
{
    if (z->failed.code != SUB_E_OK)
        return failed(z, err);
    if (z->in_member)
        return sub_error_set(err, SUB_E_INTERNAL, 0, "npz %s: member %s has not ended", z->path,
                             z->members[z->n - 1].name);
    if (!name || !*name || strlen(name) > 0xFFFF - 4)
        return sub_error_set(err, SUB_E_INTERNAL, 0,
                             "npz %s: a member name must have 1 to %d bytes", z->path, 0xFFFF - 4);
    if (ndim < 0 || ndim > SUB_NPZ_MAX_DIMS || (ndim > 0 && !shape))
        return sub_error_set(err, SUB_E_INTERNAL, 0, "npz %s: member %s: %d dimensions", z->path,
                             name, ndim);
    uint64_t itemsize = sub_npz_itemsize(descr);
    if (!itemsize)
        return sub_error_set(err, SUB_E_INTERNAL, 0, "npz %s: member %s: unsupported dtype '%s'",
                             z->path, name, descr ? descr : "(null)");
    if (!data_size(itemsize, shape, ndim, bytes))
        return sub_error_set(err, SUB_E_INTERNAL, 0, "npz %s: member %s: the array is too large",
                             z->path, name);
    return true;
}

/* Records member "<name>.npy" as z->members[z->n]; fails on a name already used. */
static bool add_member(sub_npz_t *z, const char *name, sub_error_t *err)
{
    if (!grow(z, err))
        return false;
    member_t *m = &z->members[z->n];
    memset(m, 0, sizeof *m);
    m->name = malloc(strlen(name) + sizeof ".npy");
    if (!m->name)
        return no_memory(z->path, err);
    snprintf(m->name, strlen(name) + sizeof ".npy", "%s.npy", name);
    uint32_t *slot = name_slot(z, m->name);
    if (*slot) {
        free(m->name);
        return sub_error_set(err, SUB_E_INTERNAL, 0, "npz %s: member %s twice", z->path, name);
    }
    *slot = (uint32_t)++z->n;
    return true;
}

bool sub_npz_begin(sub_npz_t *z, const char *name, const char *descr, const uint64_t *shape,
                   int ndim, sub_error_t *err)
{
    char header[SUB_NPZ_HEADER_MAX];
    uint64_t bytes = 0;
    if (!check_begin(z, name, descr, shape, ndim, &bytes, err) || !add_member(z, name, err))
        return false;
    size_t header_len = sub_npz_npy_header(descr, shape, ndim, header);
    member_t *m = &z->members[z->n - 1];
    m->offset = z->flushed + z->buf_len;
    m->size = header_len + bytes;
    m->size64 = m->size >= z->size_limit;
    m->offset64 = m->offset >= z->size_limit;
    z->in_member = true;
    z->written = z->header_len = header_len;
    z->crc = sub_npz_crc32(0, header, header_len);
    return put_local(z, m, err) && put(z, header, header_len, err);
}

bool sub_npz_write(sub_npz_t *z, const void *data, size_t len, sub_error_t *err)
{
    if (z->failed.code != SUB_E_OK)
        return failed(z, err);
    if (!z->in_member)
        return sub_error_set(err, SUB_E_INTERNAL, 0, "npz %s: write outside a member", z->path);
    const member_t *m = &z->members[z->n - 1];
    if (len > m->size - z->written) {
        sub_error_set(&z->failed, SUB_E_INTERNAL, 0,
                      "npz %s: member %s: more data than its shape holds (%" PRIu64 " bytes)",
                      z->path, m->name, m->size - z->header_len);
        return failed(z, err);
    }
    /* The copy reads each piece right after the CRC brought it into the cache. */
    z->written += len;
    for (const unsigned char *p = data; len > 0;) {
        size_t n = len < CRC_PIECE ? len : CRC_PIECE;
        z->crc = sub_npz_crc32(z->crc, p, n);
        if (!put(z, p, n, err))
            return false;
        p += n;
        len -= n;
    }
    return true;
}

bool sub_npz_end(sub_npz_t *z, sub_error_t *err)
{
    if (z->failed.code != SUB_E_OK)
        return failed(z, err);
    if (!z->in_member)
        return sub_error_set(err, SUB_E_INTERNAL, 0, "npz %s: end outside a member", z->path);
    member_t *m = &z->members[z->n - 1];
    if (z->written != m->size) {
        sub_error_set(&z->failed, SUB_E_INTERNAL, 0,
                      "npz %s: member %s: %" PRIu64 " bytes of data, its shape holds %" PRIu64,
                      z->path, m->name, z->written - z->header_len, m->size - z->header_len);
        return failed(z, err);
    }
    unsigned char crc[4];
    put32(crc, z->crc);
    m->crc = z->crc;
    z->in_member = false;
    return patch(z, m->offset + CRC_AT, crc, sizeof crc, err);
}

/* m's central directory header: the values too large for their fields go to ZIP64. */
static bool put_central(sub_npz_t *z, const member_t *m, sub_error_t *err)
{
    unsigned char h[CENTRAL_LEN + 28];
    uint64_t big[3];
    int nbig = 0;
    size_t name_len = strlen(m->name), extra = 0;
    if (m->size64) {
        big[nbig++] = m->size;
        big[nbig++] = m->size;
    }
    if (m->offset64)
        big[nbig++] = m->offset;
    if (nbig)
        extra = zip64_extra(h + CENTRAL_LEN, big, nbig);
    put32(h, SIG_CENTRAL);
    put16(h + 4, MADE_BY_UNIX | version_of(m));
    put16(h + 6, version_of(m));
    put16(h + 8, flags_of(m));
    put16(h + 10, 0); /* stored */
    put16(h + 12, DOS_TIME);
    put16(h + 14, DOS_DATE);
    put32(h + 16, m->crc);
    put32(h + 20, m->size64 ? 0xFFFFFFFFu : (uint32_t)m->size);
    put32(h + 24, m->size64 ? 0xFFFFFFFFu : (uint32_t)m->size);
    put16(h + 28, (uint32_t)name_len);
    put16(h + 30, (uint32_t)extra);
    memset(h + 32, 0, 6); /* comment length, disk, internal attributes */
    put32(h + 38, FILE_ATTR);
    put32(h + 42, m->offset64 ? 0xFFFFFFFFu : (uint32_t)m->offset);
    return put(z, h, CENTRAL_LEN, err) && put(z, m->name, name_len, err) &&
           put(z, h + CENTRAL_LEN, extra, err);
}

/* The ZIP64 end of central directory record and its locator, at offset at. */
static bool put_end64(sub_npz_t *z, uint64_t cd_offset, uint64_t cd_size, uint64_t at,
                      sub_error_t *err)
{
    unsigned char h[END64_LEN + LOCATOR_LEN];
    put32(h, SIG_END64);
    put64(h + 4, END64_LEN - 12); /* the size of the rest of the record */
    put16(h + 12, MADE_BY_UNIX | VERSION64);
    put16(h + 14, VERSION64);
    put32(h + 16, 0); /* this disk */
    put32(h + 20, 0); /* the disk of the central directory */
    put64(h + 24, z->n);
    put64(h + 32, z->n);
    put64(h + 40, cd_size);
    put64(h + 48, cd_offset);
    put32(h + END64_LEN, SIG_LOCATOR);
    put32(h + END64_LEN + 4, 0);
    put64(h + END64_LEN + 8, at);
    put32(h + END64_LEN + 16, 1); /* disks in all */
    return put(z, h, sizeof h, err);
}

/* The central directory and the end records. */
static bool put_directory(sub_npz_t *z, sub_error_t *err)
{
    uint64_t cd_offset = z->flushed + z->buf_len;
    for (size_t i = 0; i < z->n; i++)
        if (!put_central(z, &z->members[i], err))
            return false;
    uint64_t end = z->flushed + z->buf_len, cd_size = end - cd_offset;
    bool count64 = z->n >= z->count_limit, size64 = cd_size >= z->size_limit,
         offset64 = cd_offset >= z->size_limit;
    if ((count64 || size64 || offset64) && !put_end64(z, cd_offset, cd_size, end, err))
        return false;
    unsigned char h[END_LEN];
    uint32_t count = count64 ? 0xFFFFu : (uint32_t)z->n;
    put32(h, SIG_END);
    put32(h + 4, 0); /* this disk, the disk of the central directory */
    put16(h + 8, count);
    put16(h + 10, count);
    put32(h + 12, size64 ? 0xFFFFFFFFu : (uint32_t)cd_size);
    put32(h + 16, offset64 ? 0xFFFFFFFFu : (uint32_t)cd_offset);
    put16(h + 20, 0); /* comment length */
    return put(z, h, sizeof h, err);
}

/* Everything sub_npz_close does but freeing z. */
static bool finish(sub_npz_t *z, sub_error_t *err)
{
    if (z->failed.code != SUB_E_OK)
        return failed(z, err);
    if (z->in_member)
        return sub_error_set(err, SUB_E_INTERNAL, 0, "npz %s: member %s has not ended", z->path,
                             z->members[z->n - 1].name);
    if (!put_directory(z, err) || !flush(z, err))
        return false;
    if (fsync(z->fd) != 0)
        return io_fail(z, "fsync", err);
    int fd = z->fd;
    z->fd = -1;
    if (close(fd) != 0)
        return io_fail(z, "close", err);
    if (rename(z->part, z->path) != 0) {
        int e = errno;
        return sub_error_set(err, SUB_E_IO, e, "rename %s to %s: %s", z->part, z->path,
                             strerror(e));
    }
    return true;
}

bool sub_npz_close(sub_npz_t *z, sub_error_t *err)
{
    if (!finish(z, err)) {
        sub_npz_abort(z);
        return false;
    }
    npz_free(z);
    return true;
}

void sub_npz_abort(sub_npz_t *z)
{
    if (!z)
        return;
    if (z->fd >= 0)
        close(z->fd);
    unlink(z->part);
    npz_free(z);
}
