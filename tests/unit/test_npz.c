/* test_npz.c - the .npz writer: CRC-32, .npy headers, the ZIP layout (ZIP64 included, by
 * lowered limits), byte counts, the part file and write errors. numpy itself reads the
 * archives in tests/integration/test_npz.py. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../service/npz_int.h"
#include "check.h"
#include "subsetter/strutil.h"

/* ---- helpers ---- */

/* The CRC one bit at a time, as the standard defines it. */
static uint32_t crc_bitwise(const unsigned char *p, size_t len)
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < len; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ 0xEDB88320u : c >> 1;
    }
    return ~c;
}

static void pseudo_random(unsigned char *p, size_t len, uint32_t seed)
{
    for (size_t i = 0; i < len; i++) {
        seed = seed * 1664525u + 1013904223u;
        p[i] = (unsigned char)(seed >> 24);
    }
}

static uint32_t get16(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}

static uint32_t get32(const unsigned char *p)
{
    return get16(p) | get16(p + 2) << 16;
}

static uint64_t get64(const unsigned char *p)
{
    return get32(p) | (uint64_t)get32(p + 4) << 32;
}

static unsigned char *slurp(const char *path, size_t *len)
{
    sub_buf_t b = SUB_BUF_INIT;
    sub_error_t err;
    CHECK_OK(sub_buf_read_file(&b, path, &err), &err);
    *len = b.len;
    return (unsigned char *)sub_buf_take(&b);
}

static bool exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

/* The ZIP64 extra field's values in order, from the extra fields at p. */
static const unsigned char *zip64_field(const unsigned char *p, size_t len)
{
    for (size_t at = 0; at + 4 <= len; at += 4 + get16(p + at + 2))
        if (get16(p + at) == 1)
            return p + at + 4;
    return NULL;
}

typedef struct {
    size_t members;
    bool zip64_end;   /* the archive has the ZIP64 end records */
    size_t zip64_ext; /* central entries with a ZIP64 extra field */
} layout_t;

/* Reads the central directory entry at *at, checks it against its local header and data,
 * and moves *at past it. */
static void check_entry(const unsigned char *a, size_t len, size_t *at, layout_t *out)
{
    const unsigned char *c = a + *at;
    CHECK_EQ(get32(c), 0x02014b50u);
    uint32_t crc = get32(c + 16), nlen = get16(c + 28), xlen = get16(c + 30);
    uint64_t size = get32(c + 24), csize = get32(c + 20), off = get32(c + 42);
    const unsigned char *x = zip64_field(c + 46 + nlen, xlen);
    CHECK(x != NULL || (size != 0xFFFFFFFFu && off != 0xFFFFFFFFu));
    if (size == 0xFFFFFFFFu) {
        size = get64(x);
        csize = get64(x + 8);
        x += 16;
    }
    if (off == 0xFFFFFFFFu)
        off = get64(x);
    out->zip64_ext += x != NULL;
    CHECK_EQ(csize, size);
    CHECK_EQ(get16(c + 12), 0);      /* 00:00 */
    CHECK_EQ(get16(c + 14), 0x0021); /* 1980-01-01 */
    const unsigned char *l = a + off;
    CHECK_EQ(get32(l), 0x04034b50u);
    CHECK_EQ(get16(l + 26), nlen);
    CHECK(memcmp(l + 30, c + 46, nlen) == 0);
    CHECK_EQ(get32(l + 14), crc);
    const unsigned char *data = l + 30 + nlen + get16(l + 28);
    CHECK((size_t)(data - a) + size <= len);
    CHECK_EQ(crc_bitwise(data, (size_t)size), crc);
    CHECK(memcmp(data, "\x93NUMPY\x01\x00", 8) == 0);
    *at += 46 + nlen + xlen + get16(c + 32);
}

/* Walks the archive at path as a ZIP reader does, from its end records. */
static layout_t check_archive(const char *path)
{
    size_t len;
    layout_t out = {0};
    unsigned char *a = slurp(path, &len);
    CHECK(len >= 22);
    const unsigned char *e = a + len - 22;
    CHECK_EQ(get32(e), 0x06054b50u);
    uint64_t count = get16(e + 10), cd_size = get32(e + 12), cd_off = get32(e + 16);
    if (len >= 22 + 20 && get32(e - 20) == 0x07064b50u) {
        const unsigned char *e64 = a + get64(e - 20 + 8);
        CHECK_EQ(get32(e64), 0x06064b50u);
        CHECK_EQ((size_t)(e64 - a), len - 22 - 20 - 56);
        count = get64(e64 + 32);
        cd_size = get64(e64 + 40);
        cd_off = get64(e64 + 48);
        out.zip64_end = true;
    }
    size_t at = (size_t)cd_off;
    for (uint64_t i = 0; i < count; i++, out.members++)
        check_entry(a, len, &at, &out);
    CHECK_EQ(at, cd_off + cd_size);
    free(a);
    return out;
}

/* An archive of deterministic members: "a" |u1 (n,), "b" <i4 (3, 2), "c" <U5 (). */
static void write_sample(const char *path, uint64_t n, size_t chunk, uint64_t limit,
                         uint64_t count_limit)
{
    sub_error_t err;
    sub_npz_t *z;
    const uint64_t shape_a[] = {n}, shape_b[] = {3, 2};
    unsigned char *data = sub_xmalloc(n ? n : 1);
    pseudo_random(data, n, 7);
    CHECK_OK(sub_npz_open(path, &z, &err), &err);
    sub_npz_set_zip64_limits(z, limit, count_limit);
    CHECK_OK(sub_npz_begin(z, "a", "|u1", shape_a, 1, &err), &err);
    for (size_t off = 0; off < n; off += chunk) {
        size_t len = n - off < chunk ? n - off : chunk;
        CHECK_OK(sub_npz_write(z, data + off, len, &err), &err);
    }
    CHECK_OK(sub_npz_end(z, &err), &err);
    const int32_t b[] = {0, -1, 2, -3, 4, 0x7FFFFFFF};
    CHECK_OK(sub_npz_begin(z, "b", "<i4", shape_b, 2, &err), &err);
    CHECK_OK(sub_npz_write(z, b, sizeof b, &err), &err);
    CHECK_OK(sub_npz_end(z, &err), &err);
    const uint32_t c[] = {'h', 0xE9, 0x1F600, 0, 0};
    CHECK_OK(sub_npz_begin(z, "c", "<U5", NULL, 0, &err), &err);
    CHECK_OK(sub_npz_write(z, c, sizeof c, &err), &err);
    CHECK_OK(sub_npz_end(z, &err), &err);
    CHECK_OK(sub_npz_close(z, &err), &err);
    free(data);
}

/* ---- cases ---- */

static void test_crc_vectors(void)
{
    CHECK_EQ(sub_npz_crc32(0, "", 0), 0);
    CHECK_EQ(sub_npz_crc32(0, "123456789", 9), 0xCBF43926u);
    CHECK_EQ(sub_npz_crc32(0, "a", 1), 0xE8B7BE43u);
    CHECK_EQ(sub_npz_crc32(0, "The quick brown fox jumps over the lazy dog", 43), 0x414FA339u);
    CHECK_EQ(sub_npz_crc32(sub_npz_crc32(0, "12345", 5), "6789", 4), 0xCBF43926u);
}

/* Every alignment and length around the 8-byte loop, and pieces fed one after another. */
static void test_crc_slicing(void)
{
    enum { N = 70000 };
    unsigned char *buf = sub_xmalloc(N);
    pseudo_random(buf, N, 1);
    for (size_t start = 0; start < 9; start++)
        for (size_t len = 0; len < 40; len++)
            CHECK_EQ(sub_npz_crc32(0, buf + start, len), crc_bitwise(buf + start, len));
    uint32_t whole = crc_bitwise(buf, N), c = 0;
    for (size_t off = 0, k = 1; off < N; off += k, k = k * 3 % 4099 + 1)
        c = sub_npz_crc32(c, buf + off, off + k > N ? N - off : k);
    CHECK_EQ(c, whole);
    CHECK_EQ(sub_npz_crc32(0, buf, N), whole);
    free(buf);
}

static void test_itemsize(void)
{
    static const struct {
        const char *descr;
        uint64_t size;
    } cases[] = {
        {"|u1", 1},   {"|i1", 1}, {"|b1", 1},  {"<i4", 4},          {"<i8", 8},   {">i2", 2},
        {"<u8", 8},   {"<f4", 4}, {"<f8", 8},  {"<f2", 2},          {"<c16", 16}, {"<U12", 48},
        {">U1", 4},   {"|S5", 5}, {"<u1", 0},  {"|i4", 0},          {"u1", 0},    {"<U0", 0},
        {"<U012", 0}, {"<x4", 0}, {"", 0},     {"<i3", 0},          {"|f4", 0},   {"<b1", 0},
        {"<U", 0},    {"|S0", 0}, {"<U1x", 0}, {"<U1234567890", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        if (sub_npz_itemsize(cases[i].descr) != cases[i].size)
            fprintf(stderr, "descr '%s'\n", cases[i].descr);
        CHECK_EQ(sub_npz_itemsize(cases[i].descr), cases[i].size);
    }
    CHECK_EQ(sub_npz_itemsize(NULL), 0);
}

static void check_header(const char *descr, const uint64_t *shape, int ndim, const char *dict)
{
    char h[SUB_NPZ_HEADER_MAX];
    size_t len = sub_npz_npy_header(descr, shape, ndim, h);
    CHECK_EQ(len % 64, 0);
    CHECK(memcmp(h, "\x93NUMPY\x01\x00", 8) == 0);
    CHECK_EQ(get16((const unsigned char *)h + 8), len - 10);
    CHECK_EQ(h[len - 1], '\n');
    size_t dlen = strlen(dict);
    CHECK(memcmp(h + 10, dict, dlen) == 0);
    for (size_t i = 10 + dlen; i < len - 1; i++)
        CHECK_EQ(h[i], ' ');
}

/* The dicts and lengths numpy 2.4's format._write_array_header writes (checked there). */
static void test_npy_header(void)
{
    char h[SUB_NPZ_HEADER_MAX];
    const uint64_t img[] = {2, 224, 224, 3}, five[] = {5}, none[] = {0}, wide[] = {12345678901};
    const uint64_t eight[] = {UINT64_MAX, 1, 2, 3, 4, 5, 6, 7};
    const uint64_t exact[] = {7, 99999999, 99999999, 99999999, 99999999};
    const uint64_t widest[] = {UINT64_MAX, UINT64_MAX, UINT64_MAX, UINT64_MAX,
                               UINT64_MAX, UINT64_MAX, UINT64_MAX, UINT64_MAX};
    check_header("|u1", img, 4,
                 "{'descr': '|u1', 'fortran_order': False, 'shape': (2, 224, 224, 3), }");
    CHECK_EQ(sub_npz_npy_header("|u1", img, 4, h), 128);
    check_header("<i4", five, 1, "{'descr': '<i4', 'fortran_order': False, 'shape': (5,), }");
    CHECK_EQ(sub_npz_npy_header("<i4", five, 1, h), 128);
    check_header("<f8", NULL, 0, "{'descr': '<f8', 'fortran_order': False, 'shape': (), }");
    CHECK_EQ(sub_npz_npy_header("<f8", NULL, 0, h), 128);
    check_header("<U12", none, 1, "{'descr': '<U12', 'fortran_order': False, 'shape': (0,), }");
    CHECK_EQ(sub_npz_npy_header("<U12", none, 1, h), 128);
    check_header("<i8", wide, 1,
                 "{'descr': '<i8', 'fortran_order': False, 'shape': (12345678901,), }");
    CHECK_EQ(sub_npz_npy_header("<i8", wide, 1, h), 128);
    check_header("|b1", eight, 8,
                 "{'descr': '|b1', 'fortran_order': False, 'shape': (18446744073709551615, 1, 2, "
                 "3, 4, 5, 6, 7), }");
    CHECK_EQ(sub_npz_npy_header("|b1", eight, 8, h), 128);
    /* The dict and shape[0]'s room end on a multiple of 64: a whole 64 spaces follow. */
    check_header("<U12", exact, 5,
                 "{'descr': '<U12', 'fortran_order': False, 'shape': (7, 99999999, 99999999, "
                 "99999999, 99999999), }");
    CHECK_EQ(sub_npz_npy_header("<U12", exact, 5, h), 192);
    check_header("<i8", widest, 8,
                 "{'descr': '<i8', 'fortran_order': False, 'shape': (18446744073709551615, "
                 "18446744073709551615, 18446744073709551615, 18446744073709551615, "
                 "18446744073709551615, 18446744073709551615, 18446744073709551615, "
                 "18446744073709551615), }");
    CHECK_EQ(sub_npz_npy_header("<i8", widest, 8, h), 256);
}

static void test_layout(void)
{
    char *dir = sub_test_tmpdir(), *path = sub_path_join(dir, "x.npz");
    write_sample(path, 1000, 333, UINT64_MAX, UINT64_MAX);
    layout_t l = check_archive(path);
    CHECK_EQ(l.members, 3);
    CHECK(!l.zip64_end);
    CHECK_EQ(l.zip64_ext, 0);
    size_t len;
    unsigned char *a = slurp(path, &len);
    CHECK(memcmp(a, "PK\x03\x04\x14\x00\x00\x00\x00\x00", 10) == 0); /* 2.0, no flags, stored */
    CHECK(memcmp(a + 30, "a.npy\x93NUMPY", 11) == 0);
    free(a);
    unlink(path);
    rmdir(dir);
    free(path);
    free(dir);
}

/* Members larger than the buffer, written whole and in pieces: their CRCs are patched in
 * the file rather than the buffer. */
static void test_large_member(void)
{
    char *dir = sub_test_tmpdir(), *path = sub_path_join(dir, "x.npz");
    size_t sizes[][2] = {{3u << 20, 3u << 20}, {(3u << 20) + 5, 65537}, {(1u << 20) - 200, 1}};
    for (size_t i = 0; i < 3; i++) {
        write_sample(path, sizes[i][0], sizes[i][1], UINT64_MAX, UINT64_MAX);
        CHECK_EQ(check_archive(path).members, 3);
    }
    unlink(path);
    rmdir(dir);
    free(path);
    free(dir);
}

/* Lowered limits: member "a" is ZIP64 by size, "b" and "c" by offset, the archive by its
 * directory offset and its count. */
static void test_zip64_forced(void)
{
    char *dir = sub_test_tmpdir(), *path = sub_path_join(dir, "x.npz");
    write_sample(path, 5000, 999, 4000, 3);
    layout_t l = check_archive(path);
    CHECK_EQ(l.members, 3);
    CHECK(l.zip64_end);
    CHECK_EQ(l.zip64_ext, 3);
    size_t len;
    unsigned char *a = slurp(path, &len);
    CHECK_EQ(get16(a + 4), 45);
    CHECK_EQ(get32(a + 18), 0xFFFFFFFFu);
    CHECK_EQ(get16(a + 28), 20);
    CHECK_EQ(get64(a + 30 + 5 + 4), 128 + 5000);
    CHECK_EQ(get16(a + len - 22 + 10), 0xFFFF);
    free(a);
    /* Only the count: the sizes and offsets stay in their own fields. */
    write_sample(path, 10, 10, UINT64_MAX, 2);
    l = check_archive(path);
    CHECK(l.zip64_end);
    CHECK_EQ(l.zip64_ext, 0);
    unlink(path);
    rmdir(dir);
    free(path);
    free(dir);
}

static void test_identical_output(void)
{
    char *dir = sub_test_tmpdir(), *p1 = sub_path_join(dir, "1.npz"),
         *p2 = sub_path_join(dir, "2.npz");
    size_t l1, l2;
    write_sample(p1, 3000, 100, UINT64_MAX, UINT64_MAX);
    sleep(2); /* a clock in the archive would show now */
    write_sample(p2, 3000, 7, UINT64_MAX, UINT64_MAX);
    unsigned char *a = slurp(p1, &l1), *b = slurp(p2, &l2);
    CHECK_EQ(l1, l2);
    CHECK(memcmp(a, b, l1) == 0);
    free(a);
    free(b);
    unlink(p1);
    unlink(p2);
    rmdir(dir);
    free(p1);
    free(p2);
    free(dir);
}

static void test_empty_archive(void)
{
    char *dir = sub_test_tmpdir(), *path = sub_path_join(dir, "x.npz");
    sub_error_t err;
    sub_npz_t *z;
    size_t len;
    CHECK_OK(sub_npz_open(path, &z, &err), &err);
    CHECK_OK(sub_npz_close(z, &err), &err);
    unsigned char *a = slurp(path, &len);
    CHECK_EQ(len, 22);
    CHECK(memcmp(a, "PK\x05\x06", 4) == 0);
    free(a);
    unlink(path);
    rmdir(dir);
    free(path);
    free(dir);
}

/* The archive is path.part until close renames it; a stale part is truncated. */
static void test_close_renames(void)
{
    char *dir = sub_test_tmpdir(), *path = sub_path_join(dir, "x.npz");
    char *part = sub_xasprintf("%s.part", path);
    sub_error_t err;
    sub_npz_t *z;
    uint8_t v = 42;
    free(sub_test_write_file(dir, "x.npz.part", "stale bytes from an interrupted run"));
    CHECK_OK(sub_npz_open(path, &z, &err), &err);
    CHECK_OK(sub_npz_begin(z, "v", "|u1", NULL, 0, &err), &err);
    CHECK_OK(sub_npz_write(z, &v, 1, &err), &err);
    CHECK_OK(sub_npz_end(z, &err), &err);
    CHECK(exists(part));
    CHECK(!exists(path));
    CHECK_OK(sub_npz_close(z, &err), &err);
    CHECK(!exists(part));
    CHECK_EQ(check_archive(path).members, 1);
    unlink(path);
    rmdir(dir);
    free(part);
    free(path);
    free(dir);
}

static void test_abort_removes_part(void)
{
    char *dir = sub_test_tmpdir(), *path = sub_path_join(dir, "x.npz");
    char *part = sub_xasprintf("%s.part", path);
    sub_error_t err;
    sub_npz_t *z;
    const uint64_t shape[] = {4};
    CHECK_OK(sub_npz_open(path, &z, &err), &err);
    CHECK_OK(sub_npz_begin(z, "v", "|u1", shape, 1, &err), &err);
    CHECK_OK(sub_npz_write(z, "ab", 2, &err), &err);
    CHECK(exists(part));
    sub_npz_abort(z);
    sub_npz_abort(NULL);
    CHECK(!exists(part));
    CHECK(!exists(path));
    CHECK_EQ(rmdir(dir), 0); /* nothing else left behind */
    free(part);
    free(path);
    free(dir);
}

/* Too few bytes fail at end, too many at write; the archive is then broken for good and
 * close removes the part file. */
static void test_byte_count(void)
{
    char *dir = sub_test_tmpdir(), *path = sub_path_join(dir, "x.npz");
    sub_error_t err;
    sub_npz_t *z;
    const uint64_t shape[] = {2, 3};
    CHECK_OK(sub_npz_open(path, &z, &err), &err);
    CHECK_OK(sub_npz_begin(z, "short", "<i4", shape, 2, &err), &err);
    CHECK_OK(sub_npz_write(z, "0123456789012345678901", 22, &err), &err);
    CHECK_FAILS(sub_npz_end(z, &err), &err, SUB_E_INTERNAL);
    CHECK_CONTAINS(err.msg, "short.npy: 22 bytes of data, its shape holds 24");
    CHECK_FAILS(sub_npz_begin(z, "next", "<i4", shape, 2, &err), &err, SUB_E_INTERNAL);
    CHECK_CONTAINS(err.msg, "short.npy");
    CHECK_FAILS(sub_npz_close(z, &err), &err, SUB_E_INTERNAL);
    CHECK(!exists(path));
    CHECK_OK(sub_npz_open(path, &z, &err), &err);
    CHECK_OK(sub_npz_begin(z, "long", "<i4", shape, 2, &err), &err);
    CHECK_OK(sub_npz_write(z, "01234567890123456789", 20, &err), &err);
    CHECK_FAILS(sub_npz_write(z, "01234", 5, &err), &err, SUB_E_INTERNAL);
    CHECK_CONTAINS(err.msg, "long.npy: more data than its shape holds (24 bytes)");
    CHECK_FAILS(sub_npz_end(z, &err), &err, SUB_E_INTERNAL);
    sub_npz_abort(z);
    CHECK_EQ(rmdir(dir), 0);
    free(path);
    free(dir);
}

/* Calls out of order or with bad arguments fail before writing anything, and the
 * archive stays usable. */
static void test_misuse(void)
{
    char *dir = sub_test_tmpdir(), *path = sub_path_join(dir, "x.npz");
    sub_error_t err;
    sub_npz_t *z;
    const uint64_t shape[SUB_NPZ_MAX_DIMS + 1] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    const uint64_t huge[] = {UINT64_MAX / 2, 3};
    CHECK_OK(sub_npz_open(path, &z, &err), &err);
    CHECK_FAILS(sub_npz_write(z, "x", 1, &err), &err, SUB_E_INTERNAL);
    CHECK_FAILS(sub_npz_end(z, &err), &err, SUB_E_INTERNAL);
    CHECK_FAILS(sub_npz_begin(z, "a", "<u1", shape, 1, &err), &err, SUB_E_INTERNAL);
    CHECK_CONTAINS(err.msg, "unsupported dtype '<u1'");
    CHECK_FAILS(sub_npz_begin(z, "a", "|u1", shape, SUB_NPZ_MAX_DIMS + 1, &err), &err,
                SUB_E_INTERNAL);
    CHECK_FAILS(sub_npz_begin(z, "a", "|u1", shape, -1, &err), &err, SUB_E_INTERNAL);
    CHECK_FAILS(sub_npz_begin(z, "", "|u1", shape, 1, &err), &err, SUB_E_INTERNAL);
    CHECK_FAILS(sub_npz_begin(z, "a", "<i8", huge, 2, &err), &err, SUB_E_INTERNAL);
    CHECK_CONTAINS(err.msg, "too large");
    CHECK_OK(sub_npz_begin(z, "a", "|u1", shape, SUB_NPZ_MAX_DIMS, &err), &err);
    CHECK_FAILS(sub_npz_begin(z, "b", "|u1", shape, 1, &err), &err, SUB_E_INTERNAL);
    CHECK_CONTAINS(err.msg, "a.npy has not ended");
    CHECK_OK(sub_npz_write(z, "x", 1, &err), &err);
    CHECK_OK(sub_npz_end(z, &err), &err);
    CHECK_FAILS(sub_npz_begin(z, "a", "|u1", shape, 1, &err), &err, SUB_E_INTERNAL);
    CHECK_CONTAINS(err.msg, "member a twice");
    CHECK_OK(sub_npz_begin(z, "\xc3\xa9t\xc3\xa9", "|u1", shape, 1, &err), &err);
    CHECK_OK(sub_npz_write(z, "y", 1, &err), &err);
    CHECK_FAILS(sub_npz_close(z, &err), &err, SUB_E_INTERNAL); /* still open: nothing kept */
    CHECK(!exists(path));
    CHECK_EQ(rmdir(dir), 0);
    free(path);
    free(dir);
}

/* Many members: the name table grows, and duplicates are still found. */
static void test_many_members(void)
{
    char *dir = sub_test_tmpdir(), *path = sub_path_join(dir, "x.npz");
    sub_error_t err;
    sub_npz_t *z;
    char name[32];
    CHECK_OK(sub_npz_open(path, &z, &err), &err);
    for (int i = 0; i < 3000; i++) {
        snprintf(name, sizeof name, "m%d", i);
        CHECK_OK(sub_npz_begin(z, name, "|u1", NULL, 0, &err), &err);
        CHECK_OK(sub_npz_write(z, name, 1, &err), &err);
        CHECK_OK(sub_npz_end(z, &err), &err);
    }
    CHECK_FAILS(sub_npz_begin(z, "m1234", "|u1", NULL, 0, &err), &err, SUB_E_INTERNAL);
    CHECK_OK(sub_npz_close(z, &err), &err);
    CHECK_EQ(check_archive(path).members, 3000);
    unlink(path);
    rmdir(dir);
    free(path);
    free(dir);
}

/* A full disk: the part file is a link to /dev/full, whose writes fail with ENOSPC. */
static void test_disk_full(void)
{
    char *dir = sub_test_tmpdir(), *path = sub_path_join(dir, "x.npz");
    char *part = sub_xasprintf("%s.part", path);
    sub_error_t err;
    sub_npz_t *z;
    const uint64_t shape[] = {3u << 20};
    unsigned char *data = calloc(1, 3u << 20);
    CHECK_EQ(symlink("/dev/full", part), 0);
    CHECK_OK(sub_npz_open(path, &z, &err), &err);
    CHECK_OK(sub_npz_begin(z, "big", "|u1", shape, 1, &err), &err);
    CHECK_FAILS(sub_npz_write(z, data, 3u << 20, &err), &err, SUB_E_IO);
    CHECK_EQ(err.cause, ENOSPC);
    CHECK_CONTAINS(err.msg, part);
    CHECK_CONTAINS(err.msg, strerror(ENOSPC));
    CHECK_FAILS(sub_npz_end(z, &err), &err, SUB_E_IO); /* the same error, again */
    CHECK_EQ(err.cause, ENOSPC);
    sub_npz_abort(z);
    CHECK(!exists(part));
    /* A small archive meets the full disk when close flushes it. */
    const uint64_t small[] = {1000};
    CHECK_EQ(symlink("/dev/full", part), 0);
    CHECK_OK(sub_npz_open(path, &z, &err), &err);
    CHECK_OK(sub_npz_begin(z, "small", "|u1", small, 1, &err), &err);
    CHECK_OK(sub_npz_write(z, data, 1000, &err), &err);
    CHECK_OK(sub_npz_end(z, &err), &err);
    CHECK_FAILS(sub_npz_close(z, &err), &err, SUB_E_IO);
    CHECK_EQ(err.cause, ENOSPC);
    CHECK_CONTAINS(err.msg, "write ");
    CHECK_CONTAINS(err.msg, part);
    CHECK(!exists(part));
    CHECK(!exists(path));
    CHECK_EQ(rmdir(dir), 0);
    free(data);
    free(part);
    free(path);
    free(dir);
}

/* path is a directory: the rename fails, naming both, and the part file goes. */
static void test_rename_fails(void)
{
    char *dir = sub_test_tmpdir(), *path = sub_path_join(dir, "x.npz");
    char *part = sub_xasprintf("%s.part", path);
    sub_error_t err;
    sub_npz_t *z;
    CHECK_EQ(mkdir(path, 0755), 0);
    free(sub_test_write_file(path, "keep", "a file that keeps the directory non-empty"));
    CHECK_OK(sub_npz_open(path, &z, &err), &err);
    CHECK_FAILS(sub_npz_close(z, &err), &err, SUB_E_IO);
    CHECK_CONTAINS(err.msg, "rename");
    CHECK_CONTAINS(err.msg, part);
    CHECK(!exists(part));
    char *keep = sub_path_join(path, "keep");
    unlink(keep);
    rmdir(path);
    rmdir(dir);
    free(keep);
    free(part);
    free(path);
    free(dir);
}

static void test_open_fails(void)
{
    sub_error_t err;
    sub_npz_t *z = (sub_npz_t *)&err;
    CHECK_FAILS(sub_npz_open("/nonexistent-dir/x.npz", &z, &err), &err, SUB_E_IO);
    CHECK(z == NULL);
    CHECK_EQ(err.cause, ENOENT);
    CHECK_CONTAINS(err.msg, "create /nonexistent-dir/x.npz.part: ");
}

static const sub_test_t tests[] = {
    {"crc_vectors", test_crc_vectors},
    {"crc_slicing", test_crc_slicing},
    {"itemsize", test_itemsize},
    {"npy_header", test_npy_header},
    {"layout", test_layout},
    {"large_member", test_large_member},
    {"zip64_forced", test_zip64_forced},
    {"identical_output", test_identical_output},
    {"empty_archive", test_empty_archive},
    {"close_renames", test_close_renames},
    {"abort_removes_part", test_abort_removes_part},
    {"byte_count", test_byte_count},
    {"misuse", test_misuse},
    {"many_members", test_many_members},
    {"disk_full", test_disk_full},
    {"rename_fails", test_rename_fails},
    {"open_fails", test_open_fails},
    {NULL, NULL},
};

int main(int argc, char **argv)
{
    return sub_test_main(argc, argv, tests);
}
