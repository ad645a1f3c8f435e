/* npz_main.c - npz_cli: writes an .npz of deterministic arrays with sub_npz_*, for
 * tests/integration/test_npz.py (not installed).
 *
 *   npz_cli [OPTIONS] OUT.npz [NAME:DESCR:SHAPE:PATTERN]...
 *
 * SHAPE is the dimensions joined by "x" ("3x224x224x3"), empty for a 0-d array. PATTERN:
 *   zeros  every byte 0
 *   bytes  byte k of the data is (7k + (k >> 11)) mod 256
 *   count  element i is i: integers modulo 2^bits, floats and complex numbers exactly,
 *          booleans i % 2, "S" the decimal digits of i, "U" the digits then "é😀" (cut to
 *          the width)
 * Options:
 *   --chunk N        feed the data in pieces of N bytes (default: 1, 3, 7, 4093, 65537,
 *                    1048573, 3145739 bytes, in turn)
 *   --zip64-limit N  sizes and offsets from N bytes on take ZIP64 records
 *   --count-limit N  so does a member count from N on
 *   --many N         then N more members "m<i>", each the int32 scalar i
 *   --abort          sub_npz_abort() instead of sub_npz_close()
 * Exits 0, or with the exit code of the error (printed on stderr; 2 for a usage error).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../service/npz_int.h"
#include "subsetter/strutil.h"

typedef enum { PAT_ZEROS, PAT_BYTES, PAT_COUNT } pattern_t;

typedef struct {
    char name[256], descr[16];
    uint64_t shape[SUB_NPZ_MAX_DIMS];
    int ndim;
    pattern_t pattern;
    uint64_t itemsize;
} spec_t;

static const size_t default_chunks[] = {1, 3, 7, 4093, 65537, 1048573, 3145739};
#define NCHUNKS (sizeof default_chunks / sizeof *default_chunks)

static bool usage(const char *what, const char *arg)
{
    fprintf(stderr, "npz_cli: %s: %s\n", what, arg);
    return false;
}

/* "3x224x224x3" or "" into s. */
static bool parse_shape(const char *text, spec_t *s)
{
    int64_t v;
    char buf[256];
    s->ndim = 0;
    if (!*text)
        return true;
    snprintf(buf, sizeof buf, "%s", text);
    for (char *save = NULL, *tok = strtok_r(buf, "x", &save); tok;
         tok = strtok_r(NULL, "x", &save)) {
        if (s->ndim == SUB_NPZ_MAX_DIMS || !sub_parse_int64(tok, 0, INT64_MAX, &v))
            return usage("bad shape", text);
        s->shape[s->ndim++] = (uint64_t)v;
    }
    return true;
}

static bool parse_spec(const char *arg, spec_t *s)
{
    char buf[512], *save = NULL;
    snprintf(buf, sizeof buf, "%s", arg);
    char *name = strtok_r(buf, ":", &save), *descr = strtok_r(NULL, ":", &save);
    char *rest = descr ? descr + strlen(descr) + 1 : NULL;
    char *colon = rest ? strchr(rest, ':') : NULL;
    if (!name || !descr || !colon)
        return usage("want NAME:DESCR:SHAPE:PATTERN", arg);
    *colon = '\0';
    snprintf(s->name, sizeof s->name, "%s", name);
    snprintf(s->descr, sizeof s->descr, "%s", descr);
    s->itemsize = sub_npz_itemsize(descr);
    const char *pat = colon + 1;
    s->pattern = strcmp(pat, "zeros") == 0   ? PAT_ZEROS
                 : strcmp(pat, "bytes") == 0 ? PAT_BYTES
                                             : PAT_COUNT;
    if (s->pattern == PAT_COUNT && strcmp(pat, "count") != 0)
        return usage("unknown pattern", pat);
    if (s->pattern == PAT_COUNT && strcmp(descr + 1, "f2") == 0)
        return usage("no count pattern for", descr);
    return parse_shape(rest, s);
}

/* v as n bytes in the descr's byte order. */
static void put_uint(unsigned char *out, uint64_t v, size_t n, bool big_endian)
{
    for (size_t i = 0; i < n; i++)
        out[big_endian ? n - 1 - i : i] = (unsigned char)(v >> (8 * i));
}

static void count_string(const spec_t *s, uint64_t i, unsigned char *out, bool big)
{
    char digits[24];
    int len = snprintf(digits, sizeof digits, "%" PRIu64, i);
    if (s->descr[1] == 'S') {
        memcpy(out, digits, (size_t)len < s->itemsize ? (size_t)len : s->itemsize);
        return;
    }
    uint32_t cps[26];
    for (int k = 0; k < len; k++)
        cps[k] = (uint32_t)digits[k];
    cps[len] = 0xE9;
    cps[len + 1] = 0x1F600;
    for (uint64_t k = 0; k < s->itemsize / 4 && k < (uint64_t)len + 2; k++)
        put_uint(out + 4 * k, cps[k], 4, big);
}

/* Element i of the count pattern. */
static void count_element(const spec_t *s, uint64_t i, unsigned char *out)
{
    bool big = s->descr[0] == '>';
    size_t n = (size_t)s->itemsize;
    memset(out, 0, n);
    switch (s->descr[1]) {
    case 'b':
        out[0] = (unsigned char)(i % 2);
        break;
    case 'i':
    case 'u':
        put_uint(out, i, n, big);
        break;
    case 'f':
    case 'c': {
        double d = (double)i;
        float f = (float)i;
        uint64_t bits = 0;
        size_t part = s->descr[1] == 'c' ? n / 2 : n;
        if (part == 4)
            memcpy(&bits, &f, 4);
        else
            memcpy(&bits, &d, 8);
        put_uint(out, bits, part, big);
        break;
    }
    default:
        count_string(s, i, out, big);
    }
}

/* Bytes [off, off + len) of s's data. */
static void fill(const spec_t *s, uint64_t off, unsigned char *out, size_t len, unsigned char *elem)
{
    if (s->pattern == PAT_ZEROS) {
        memset(out, 0, len);
        return;
    }
    if (s->pattern == PAT_BYTES) {
        for (size_t j = 0; j < len; j++)
            out[j] = (unsigned char)(((off + j) * 7 + ((off + j) >> 11)) & 0xFF);
        return;
    }
    uint64_t have = UINT64_MAX;
    for (size_t j = 0; j < len; j++) {
        uint64_t e = (off + j) / s->itemsize;
        if (e != have)
            count_element(s, have = e, elem);
        out[j] = elem[(off + j) % s->itemsize];
    }
}

static bool write_spec(sub_npz_t *z, const spec_t *s, size_t chunk, sub_error_t *err)
{
    uint64_t total = s->itemsize;
    for (int i = 0; i < s->ndim; i++)
        total *= s->shape[i];
    size_t cap = chunk ? chunk : default_chunks[NCHUNKS - 1];
    unsigned char *buf = sub_xmalloc(cap), *elem = sub_xmalloc(s->itemsize ? s->itemsize : 1);
    bool ok = sub_npz_begin(z, s->name, s->descr, s->shape, s->ndim, err);
    for (uint64_t off = 0, k = 0; ok && off < total; k++) {
        size_t len = chunk ? chunk : default_chunks[k % NCHUNKS];
        len = total - off < len ? (size_t)(total - off) : len;
        fill(s, off, buf, len, elem);
        ok = sub_npz_write(z, buf, len, err);
        off += len;
    }
    free(buf);
    free(elem);
    return ok && sub_npz_end(z, err);
}

static bool write_many(sub_npz_t *z, int64_t n, sub_error_t *err)
{
    bool ok = true;
    for (int64_t i = 0; ok && i < n; i++) {
        char name[32];
        unsigned char v[4];
        snprintf(name, sizeof name, "m%" PRId64, i);
        put_uint(v, (uint64_t)i, 4, false);
        ok = sub_npz_begin(z, name, "<i4", NULL, 0, err) && sub_npz_write(z, v, 4, err) &&
             sub_npz_end(z, err);
    }
    return ok;
}

typedef struct {
    int64_t chunk, zip64_limit, count_limit, many;
    bool abort;
} opts_t;

static bool parse_opt(char **argv, int *i, int argc, opts_t *o)
{
    static const char *const names[] = {"--chunk", "--zip64-limit", "--count-limit", "--many"};
    int64_t *vals[] = {&o->chunk, &o->zip64_limit, &o->count_limit, &o->many};
    if (strcmp(argv[*i], "--abort") == 0)
        return o->abort = true;
    for (int k = 0; k < 4; k++)
        if (strcmp(argv[*i], names[k]) == 0) {
            if (*i + 1 >= argc || !sub_parse_int64(argv[*i + 1], 0, INT64_MAX, vals[k]))
                return usage("wants a number", names[k]);
            ++*i;
            return true;
        }
    return usage("unknown option", argv[*i]);
}

int main(int argc, char **argv)
{
    opts_t o = {.zip64_limit = -1, .count_limit = -1};
    sub_error_t err = {0};
    sub_npz_t *z = NULL;
    int i = 1;
    for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++)
        if (!parse_opt(argv, &i, argc, &o))
            return 2;
    if (i >= argc)
        return usage("usage", "npz_cli [OPTIONS] OUT.npz [NAME:DESCR:SHAPE:PATTERN]..."), 2;
    spec_t *specs = calloc((size_t)argc, sizeof *specs);
    int nspecs = 0;
    for (int k = i + 1; k < argc; k++)
        if (!parse_spec(argv[k], &specs[nspecs++]))
            return 2;
    bool ok = sub_npz_open(argv[i], &z, &err);
    if (ok && (o.zip64_limit >= 0 || o.count_limit >= 0))
        sub_npz_set_zip64_limits(z, o.zip64_limit >= 0 ? (uint64_t)o.zip64_limit : UINT64_MAX,
                                 o.count_limit >= 0 ? (uint64_t)o.count_limit : UINT64_MAX);
    for (int k = 0; ok && k < nspecs; k++)
        ok = write_spec(z, &specs[k], (size_t)o.chunk, &err);
    ok = ok && write_many(z, o.many, &err);
    if (ok && o.abort)
        sub_npz_abort(z);
    else if (z)
        ok = ok ? sub_npz_close(z, &err) : (sub_npz_abort(z), false);
    free(specs);
    if (ok)
        return 0;
    fprintf(stderr, "npz_cli: %s: %s\n", sub_code_name(err.code), err.msg);
    return sub_code_exit(err.code);
}
