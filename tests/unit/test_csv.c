/* test_csv.c - the streaming CSV reader: every case is parsed with reads of many sizes
 * (1 byte, 2, 7, a mixed pattern, 64, all at once) and buffers from one byte up, and must
 * give the same records, so that every state is crossed by a buffer boundary. */
#include <errno.h>
#include <stdarg.h>
#include <unistd.h>

#include "check.h"
#include "subsetter/csv.h"
#include "subsetter/strutil.h"

/* ---- an in-memory input that reads in chunks ---- */

typedef struct {
    const char *data;
    size_t len, pos;
    const size_t *pattern; /* read sizes, cycled; 0 means "all that fits" */
    size_t npattern, call;
    size_t fail_at; /* a read at this position fails with EIO; SIZE_MAX: never */
    int calls_after_fail;
    bool failed;
} src_t;

static long src_read(void *ctx, char *buf, size_t cap)
{
    src_t *s = ctx;
    if (s->failed) {
        s->calls_after_fail++;
        errno = EIO;
        return -1;
    }
    if (s->pos == s->fail_at) {
        s->failed = true;
        errno = EIO;
        return -1;
    }
    size_t n = s->len - s->pos;
    size_t chunk = s->npattern ? s->pattern[s->call++ % s->npattern] : 0;
    if (chunk && n > chunk)
        n = chunk;
    if (n > cap)
        n = cap;
    if (s->fail_at > s->pos && s->fail_at - s->pos < n)
        n = s->fail_at - s->pos;
    memcpy(buf, s->data + s->pos, n);
    s->pos += n;
    return (long)n;
}

static src_t src_of(const char *data, size_t len, const size_t *pattern, size_t npattern)
{
    src_t s = {data, len, 0, pattern, npattern, 0, SIZE_MAX, 0, false};
    return s;
}

/* ---- a textual dump of everything a reader returns ---- */

typedef struct {
    char *s;
    size_t len, cap;
} out_t;

static void out_printf(out_t *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void out_printf(out_t *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (o->len + (size_t)n + 1 > o->cap) {
        o->cap = (o->len + (size_t)n + 1) * 2;
        o->s = realloc(o->s, o->cap);
        CHECK(o->s);
    }
    va_start(ap, fmt);
    vsnprintf(o->s + o->len, o->cap - o->len, fmt, ap);
    va_end(ap);
    o->len += (size_t)n;
}

/* Control bytes and backslashes escaped; UTF-8 as is. */
static void out_field(out_t *o, const char *f, size_t n)
{
    out_printf(o, "[");
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)f[i];
        if (ch == '\n')
            out_printf(o, "\\n");
        else if (ch == '\r')
            out_printf(o, "\\r");
        else if (ch == '\\')
            out_printf(o, "\\\\");
        else if (ch < 0x20)
            out_printf(o, "\\x%02x", ch);
        else
            out_printf(o, "%c", ch);
    }
    out_printf(o, "]");
}

/* Where a reader stood after a record, and how much of the dump was written by then. */
typedef struct {
    uint64_t offset, line, number;
    size_t out_len;
} checkpoint_t;

/* One line per record: "line:number@offset [field]..." or "BAD line:number@offset
 * message", then "FAIL message" if reading failed. Checks the invariants on the way and,
 * when cps is not NULL, notes a checkpoint after each record there (room for one per
 * input byte, plus one). */
static char *dump_cp(sub_csv_t *c, checkpoint_t *cps, size_t *ncps)
{
    out_t o = {NULL, 0, 0};
    out_printf(&o, "%s", "");
    uint64_t consumed = sub_csv_bytes_consumed(c), number = 0;
    for (;;) {
        if (cps && number) {
            checkpoint_t *cp = &cps[(*ncps)++];
            cp->offset = sub_csv_bytes_consumed(c);
            cp->line = sub_csv_line(c);
            cp->number = number;
            cp->out_len = o.len;
        }
        CHECK(sub_csv_bytes_consumed(c) >= consumed); /* never goes back */
        consumed = sub_csv_bytes_consumed(c);
        sub_csv_record_t rec;
        sub_error_t err = {SUB_E_OK, 0, ""};
        sub_csv_status_t st = sub_csv_next(c, &rec, &err);
        if (st == SUB_CSV_END) {
            CHECK_EQ(sub_csv_next(c, &rec, &err), SUB_CSV_END);
            break;
        }
        if (st == SUB_CSV_FAIL) {
            CHECK_EQ(err.code, SUB_E_IO);
            out_printf(&o, "FAIL %s\n", err.msg);
            CHECK_EQ(sub_csv_next(c, &rec, &err), SUB_CSV_FAIL);
            break;
        }
        if (st == SUB_CSV_BAD) {
            CHECK_EQ(err.code, SUB_E_CONFIG);
            CHECK_NE(rec.bad, SUB_CSV_BAD_NONE);
            CHECK_EQ(rec.nfields, 0);
            out_printf(&o, "BAD %" PRIu64 ":%" PRIu64 "@%" PRIu64 " %s\n", rec.line, rec.number,
                       rec.offset, err.msg);
            number = rec.number;
            continue;
        }
        CHECK_EQ(st, SUB_CSV_OK);
        CHECK_EQ(rec.bad, SUB_CSV_BAD_NONE);
        CHECK_GT(rec.nfields, 0);
        out_printf(&o, "%" PRIu64 ":%" PRIu64 "@%" PRIu64 " ", rec.line, rec.number, rec.offset);
        for (size_t i = 0; i < rec.nfields; i++) {
            CHECK_EQ(rec.field[i][rec.len[i]], '\0');
            out_field(&o, rec.field[i], rec.len[i]);
        }
        out_printf(&o, "\n");
        number = rec.number;
    }
    return o.s;
}

static char *dump(sub_csv_t *c)
{
    return dump_cp(c, NULL, NULL);
}

static const size_t k_pat1[] = {1};
static const size_t k_pat2[] = {2};
static const size_t k_pat7[] = {7};
static const size_t k_patmix[] = {1, 2, 3, 5, 8, 13, 1, 1, 4};
static const size_t k_pat64[] = {64};

typedef struct {
    const size_t *p;
    size_t n;
} pattern_t;

static const pattern_t k_patterns[] = {
    {k_pat1, 1}, {k_pat2, 1}, {k_pat7, 1}, {k_patmix, 9}, {k_pat64, 1}, {NULL, 0},
};
#define NPATTERNS (sizeof k_patterns / sizeof k_patterns[0])

/* A reader resumed at any checkpoint of a first one returns the rest of its records. */
static void check_resume(const char *data, size_t len, const sub_csv_opts_t *opts,
                         const pattern_t *pat, const char *want)
{
    checkpoint_t *cps = calloc(len + 2, sizeof *cps);
    CHECK(cps);
    size_t ncps = 0;
    src_t s = src_of(data, len, pat->p, pat->n);
    sub_csv_t *c = sub_csv_new("t.csv", src_read, &s, opts);
    free(dump_cp(c, cps, &ncps));
    sub_csv_free(c);
    for (size_t i = 0; i < ncps; i++) {
        sub_csv_opts_t o = *opts;
        o.start_offset = cps[i].offset;
        o.start_line = cps[i].line;
        o.start_number = cps[i].number;
        s = src_of(data + cps[i].offset, len - cps[i].offset, pat->p, pat->n);
        c = sub_csv_new("t.csv", src_read, &s, &o);
        char *got = dump(c);
        if (strcmp(got, want + cps[i].out_len) != 0)
            fprintf(stderr, "resumed at byte %" PRIu64 ", line %" PRIu64 ":\n", cps[i].offset,
                    cps[i].line);
        CHECK_STR_EQ(got, want + cps[i].out_len);
        free(got);
        sub_csv_free(c);
    }
    free(cps);
}

/* Parses data with every read pattern and several buffer sizes; each dump must be
 * `want`. Unless the case sets its own cap, the cap is also set to the input's size,
 * which makes the buffer so small that it is compacted all along. */
static void check_csv_opts(const char *data, size_t len, const sub_csv_opts_t *base,
                           const char *want)
{
    static const size_t bufs[] = {0, 1, 3, 16};
    for (size_t tight = 0; tight < 2; tight++) {
        for (size_t b = 0; b < sizeof bufs / sizeof bufs[0]; b++) {
            for (size_t p = 0; p < NPATTERNS; p++) {
                sub_csv_opts_t o = {0};
                if (base)
                    o = *base;
                o.buffer_bytes = bufs[b];
                if (tight && !o.max_record_bytes)
                    o.max_record_bytes = len ? len : 1;
                src_t s = src_of(data, len, k_patterns[p].p, k_patterns[p].n);
                sub_csv_t *c = sub_csv_new("t.csv", src_read, &s, &o);
                char *got = dump(c);
                if (strcmp(got, want) != 0)
                    fprintf(stderr, "with buffer %zu, max %zu, read pattern %zu:\n", o.buffer_bytes,
                            o.max_record_bytes, p);
                CHECK_STR_EQ(got, want);
                if (!strstr(want, "FAIL"))
                    CHECK_EQ(sub_csv_bytes_consumed(c), len);
                free(got);
                sub_csv_free(c);
                if ((tight == 0 && b == 0 && p == NPATTERNS - 1) || (tight && b == 1 && p == 0))
                    check_resume(data, len, &o, &k_patterns[p], want);
            }
        }
    }
}

/* A string literal, NUL bytes included. */
#define CHECK_CSV(lit, want)            check_csv_opts(lit, sizeof(lit) - 1, NULL, want)
#define CHECK_CSV_OPTS(lit, opts, want) check_csv_opts(lit, sizeof(lit) - 1, opts, want)

/* ---- well-formed input ---- */

static void test_basic(void)
{
    CHECK_CSV("a,b,c\n1,2,3\n", "1:1@0 [a][b][c]\n"
                                "2:2@6 [1][2][3]\n");
    CHECK_CSV("", "");
    CHECK_CSV("x", "1:1@0 [x]\n");
    CHECK_CSV(" \n", "1:1@0 [ ]\n");
}

/* Rows from Open Images' class-descriptions file, as written by Python's csv. */
static void test_open_images_labels(void)
{
    CHECK_CSV("LabelName,DisplayName\n"
              "/m/02wvth,\"Fiat 500 \"\"topolino\"\"\"\n"
              "/m/03hgsf0,\"Lemon, lime and bitters\"\n"
              "/m/025khl,Sp\xc3\xa4tzle\n",
              "1:1@0 [LabelName][DisplayName]\n"
              "2:2@22 [/m/02wvth][Fiat 500 \"topolino\"]\n"
              "3:3@56 [/m/03hgsf0][Lemon, lime and bitters]\n"
              "4:4@93 [/m/025khl][Sp\xc3\xa4tzle]\n");
}

#define IMAGE_HEADER                                                                       \
    "ImageID,Subset,OriginalURL,OriginalLandingURL,License,AuthorProfileURL,Author,Title," \
    "OriginalSize,OriginalMD5,Thumbnail300KURL,Rotation\r\n"
#define IMAGE_ROW                                                                             \
    "000002b66c9c498e,train,https://farm3.staticflickr.com/5072/5847986542_2f8e4a8b3d_o.jpg," \
    "https://www.flickr.com/photos/ultraneo/5847986542,"                                      \
    "https://creativecommons.org/licenses/by/2.0/,https://www.flickr.com/people/ultraneo/,"   \
    "Ultra Neo,\"Abbey and Kenny, \"\"the twins\"\"\",2276399,4d6Fq+wH5dg4kYW+5dUx+g==,"      \
    "https://c2.staticflickr.com/6/5072/5847986542_2f8e4a8b3d_z.jpg,\r\n"

static void test_open_images_image_list(void)
{
    CHECK_CSV(IMAGE_HEADER IMAGE_ROW IMAGE_ROW,
              "1:1@0 [ImageID][Subset][OriginalURL][OriginalLandingURL][License]"
              "[AuthorProfileURL][Author][Title][OriginalSize][OriginalMD5][Thumbnail300KURL]"
              "[Rotation]\n"
              "2:2@136 [000002b66c9c498e][train]"
              "[https://farm3.staticflickr.com/5072/5847986542_2f8e4a8b3d_o.jpg]"
              "[https://www.flickr.com/photos/ultraneo/5847986542]"
              "[https://creativecommons.org/licenses/by/2.0/]"
              "[https://www.flickr.com/people/ultraneo/][Ultra Neo]"
              "[Abbey and Kenny, \"the twins\"][2276399][4d6Fq+wH5dg4kYW+5dUx+g==]"
              "[https://c2.staticflickr.com/6/5072/5847986542_2f8e4a8b3d_z.jpg][]\n"
              "3:3@499 [000002b66c9c498e][train]"
              "[https://farm3.staticflickr.com/5072/5847986542_2f8e4a8b3d_o.jpg]"
              "[https://www.flickr.com/photos/ultraneo/5847986542]"
              "[https://creativecommons.org/licenses/by/2.0/]"
              "[https://www.flickr.com/people/ultraneo/][Ultra Neo]"
              "[Abbey and Kenny, \"the twins\"][2276399][4d6Fq+wH5dg4kYW+5dUx+g==]"
              "[https://c2.staticflickr.com/6/5072/5847986542_2f8e4a8b3d_z.jpg][]\n");
}

static void test_crlf(void)
{
    CHECK_CSV("a,b\r\nc,d\r\n", "1:1@0 [a][b]\n"
                                "2:2@5 [c][d]\n");
    CHECK_CSV("a,\"b\"\r\nc\nd\r\n", "1:1@0 [a][b]\n"
                                     "2:2@7 [c]\n"
                                     "3:3@9 [d]\n");
}

/* Line ends inside quotes are data, byte for byte, and count as lines. */
static void test_embedded_newline(void)
{
    CHECK_CSV("id,\"line one\nline two\",x\r\n"
              "next,\"a\r\nb\",y\n"
              "last,\"\n\",z\n",
              "1:1@0 [id][line one\\nline two][x]\n"
              "3:2@26 [next][a\\r\\nb][y]\n"
              "5:3@40 [last][\\n][z]\n");
}

static void test_bom(void)
{
    CHECK_CSV("\xef\xbb\xbf"
              "a,b\nc\n",
              "1:1@3 [a][b]\n"
              "2:2@7 [c]\n");
    CHECK_CSV("\xef\xbb\xbf", "");
    CHECK_CSV("\xef\xbb\xbf\n\"q\"", "2:1@4 [q]\n");
    /* Only at the very start; a partial one is data. */
    CHECK_CSV("a\n\xef\xbb\xbf"
              "b\n",
              "1:1@0 [a]\n"
              "2:2@2 [\xef\xbb\xbf"
              "b]\n");
    CHECK_CSV("\xef\xbb", "1:1@0 [\xef\xbb]\n");
    CHECK_CSV("\xef\xbb\n", "1:1@0 [\xef\xbb]\n");
}

static void test_no_trailing_newline(void)
{
    CHECK_CSV("a,b\nc,d", "1:1@0 [a][b]\n"
                          "2:2@4 [c][d]\n");
    CHECK_CSV("a,\"b\"", "1:1@0 [a][b]\n");
    CHECK_CSV("a,", "1:1@0 [a][]\n");
    CHECK_CSV("a,b\r", "1:1@0 [a][b]\n");
    CHECK_CSV("a,\"b\r\"", "1:1@0 [a][b\\r]\n");
    CHECK_CSV("\"\"", "1:1@0 []\n");
}

/* No record for a line without a byte, whatever its line end; blanks make a record. */
static void test_empty_lines(void)
{
    CHECK_CSV("\n\na\n\r\n\nb\r\r\nc", "3:1@2 [a]\n"
                                       "6:2@7 [b]\n"
                                       "8:3@11 [c]\n");
    CHECK_CSV("\n\r\n\r\n", "");
    CHECK_CSV("a\n \n", "1:1@0 [a]\n"
                        "2:2@2 [ ]\n");
}

static void test_empty_fields(void)
{
    CHECK_CSV(",\n,,\n\"\"\n\"\",\"\"\na,,b\na,\"\"\n", "1:1@0 [][]\n"
                                                        "2:2@2 [][][]\n"
                                                        "3:3@5 []\n"
                                                        "4:4@8 [][]\n"
                                                        "5:5@14 [a][][b]\n"
                                                        "6:6@19 [a][]\n");
}

static void test_fully_quoted(void)
{
    CHECK_CSV("\"a\",\"b,c\",\"d\"\"e\",\"\"\"\"\r\n\"1\",\"2\",\"3\",\"4\"\r\n",
              "1:1@0 [a][b,c][d\"e][\"]\n"
              "2:2@23 [1][2][3][4]\n");
}

/* Bytes pass through untouched, valid UTF-8 or not. */
static void test_utf8(void)
{
    CHECK_CSV("Sp\xc3\xa4tzle,\xe2\x82\xac,\"\xf0\x9f\x98\x80,\xc3\xa9\"\n\xff\xfe,\x80\n",
              "1:1@0 [Sp\xc3\xa4tzle][\xe2\x82\xac][\xf0\x9f\x98\x80,\xc3\xa9]\n"
              "2:2@23 [\xff\xfe][\x80]\n");
}

/* A lone CR ends a line, as in Python's csv (universal newlines). */
static void test_lone_cr(void)
{
    CHECK_CSV("a\rb\r\nc\n", "1:1@0 [a]\n"
                             "2:2@2 [b]\n"
                             "3:3@5 [c]\n");
    CHECK_CSV("\"x\ry\",z\rw", "1:1@0 [x\\ry][z]\n"
                               "3:2@8 [w]\n");
    CHECK_CSV("\"x\r\r\ny\"\nw", "1:1@0 [x\\r\\r\\ny]\n"
                                 "4:2@8 [w]\n");
}

static void test_many_fields(void)
{
    /* 5000 fields: the field arrays grow. */
    size_t n = 5000;
    char *data = malloc(2 * n + 1);
    CHECK(data);
    for (size_t i = 0; i < n; i++) {
        data[2 * i] = (char)('a' + i % 26);
        data[2 * i + 1] = i + 1 < n ? ',' : '\n';
    }
    src_t s = src_of(data, 2 * n, k_patmix, 9);
    sub_csv_t *c = sub_csv_new("t.csv", src_read, &s, NULL);
    sub_csv_record_t rec;
    CHECK_EQ(sub_csv_next(c, &rec, NULL), SUB_CSV_OK);
    CHECK_EQ(rec.nfields, n);
    for (size_t i = 0; i < n; i++) {
        CHECK_EQ(rec.len[i], 1);
        CHECK_EQ(rec.field[i][0], 'a' + (int)(i % 26));
    }
    CHECK_EQ(sub_csv_next(c, &rec, NULL), SUB_CSV_END);
    sub_csv_free(c);
    free(data);
}

/* A 300 KB quoted field and a 300 KB plain one, through a small buffer. */
static void test_large_fields(void)
{
    size_t n = 300 * 1000;
    char *data = malloc(2 * n + 16);
    CHECK(data);
    size_t k = 0;
    data[k++] = '"';
    for (size_t i = 0; i < n; i++)
        data[k++] = i % 1000 == 999 ? '\n' : (char)('a' + i % 26);
    data[k++] = '"';
    data[k++] = ',';
    for (size_t i = 0; i < n; i++)
        data[k++] = (char)('A' + i % 26);
    data[k++] = '\n';
    data[k++] = 'z';
    static const size_t pat[] = {4093, 1, 65536};
    for (size_t bufsz = 1; bufsz <= 65536 * 16; bufsz *= 16) {
        sub_csv_opts_t o = {.buffer_bytes = bufsz};
        src_t s = src_of(data, k, pat, 3);
        sub_csv_t *c = sub_csv_new("t.csv", src_read, &s, &o);
        sub_csv_record_t rec;
        CHECK_EQ(sub_csv_next(c, &rec, NULL), SUB_CSV_OK);
        CHECK_EQ(rec.nfields, 2);
        CHECK_EQ(rec.len[0], n);
        CHECK_EQ(rec.len[1], n);
        CHECK(memcmp(rec.field[0], data + 1, n) == 0);
        CHECK(memcmp(rec.field[1], data + n + 3, n) == 0);
        CHECK_EQ(sub_csv_next(c, &rec, NULL), SUB_CSV_OK);
        CHECK_EQ(rec.line, 2 + n / 1000); /* 300 newlines inside, one after */
        CHECK_STR_EQ(rec.field[0], "z");
        CHECK_EQ(sub_csv_next(c, &rec, NULL), SUB_CSV_END);
        sub_csv_free(c);
    }
    free(data);
}

/* ---- malformed input: the bad record, then the right next one ---- */

static void test_bad_quote_in_unquoted(void)
{
    CHECK_CSV("a,b\nc\"d,e\nf,g\n", "1:1@0 [a][b]\n"
                                    "BAD 2:2@4 t.csv:2: field 1: quote inside an unquoted field\n"
                                    "3:3@10 [f][g]\n");
    /* The stray quote does not open a field: the skip ignores quotes. */
    CHECK_CSV("x,ab\",\"c\r\nd\r\n", "BAD 1:1@0 t.csv:1: field 2: quote inside an unquoted field\n"
                                     "2:2@10 [d]\n");
    CHECK_CSV("a\"", "BAD 1:1@0 t.csv:1: field 1: quote inside an unquoted field\n");
}

static void test_bad_after_quote(void)
{
    CHECK_CSV("a,\"b\"c,d\ne\n", "BAD 1:1@0 t.csv:1: field 2: text after the closing quote\n"
                                 "2:2@9 [e]\n");
    CHECK_CSV("\"ab\" ,c\r\ne", "BAD 1:1@0 t.csv:1: field 1: text after the closing quote\n"
                                "2:2@9 [e]\n");
}

/* A stray opening quote runs over lines until some later quote: the lines it swallowed
 * are parsed again. */
static void test_bad_stray_quote_rewinds(void)
{
    CHECK_CSV("1,\"x\n2,y\n3,\"z\",w\n4\n",
              "BAD 1:1@0 t.csv:1: field 2: text after the closing quote (on line 3)\n"
              "2:2@5 [2][y]\n"
              "3:3@9 [3][z][w]\n"
              "4:4@17 [4]\n");
    /* The quoted field opened on the record's second line: rewinding goes there. */
    CHECK_CSV("a,\"m\nn\",\"stray\nb\nc\"x\nd\n",
              "BAD 1:1@0 t.csv:1: field 3: text after the closing quote (on line 4)\n"
              "3:2@15 [b]\n"
              "BAD 4:3@17 t.csv:4: field 1: quote inside an unquoted field\n"
              "5:4@21 [d]\n");
}

static void test_bad_unterminated(void)
{
    CHECK_CSV("a\nb,\"c\nd,e\nf",
              "1:1@0 [a]\n"
              "BAD 2:2@2 t.csv:2: field 2: quoted field still open at end of input\n"
              "3:3@7 [d][e]\n"
              "4:4@11 [f]\n");
    CHECK_CSV("a\n\"b", "1:1@0 [a]\n"
                        "BAD 2:2@2 t.csv:2: field 1: quoted field still open at end of input\n");
    CHECK_CSV("a\n\"b\r\n",
              "1:1@0 [a]\n"
              "BAD 2:2@2 t.csv:2: field 1: quoted field still open at end of input\n");
    CHECK_CSV("\"", "BAD 1:1@0 t.csv:1: field 1: quoted field still open at end of input\n");
    CHECK_CSV("x,\"a\"\"", "BAD 1:1@0 t.csv:1: field 2: quoted field still open at end of input\n");
    /* Opened on a later line of the record than its first. */
    CHECK_CSV("a,\"b\nc\",\"d\ne\n",
              "BAD 1:1@0 t.csv:1: field 3: quoted field still open at end of input (opened on "
              "line 2)\n"
              "3:2@11 [e]\n");
}

static void test_bad_too_long(void)
{
    sub_csv_opts_t o = {.max_record_bytes = 8};
    CHECK_CSV_OPTS("12345678\n123456789\nab\n", &o,
                   "1:1@0 [12345678]\n"
                   "BAD 2:2@9 t.csv:2: record longer than 8 bytes\n"
                   "3:3@19 [ab]\n");
    /* The line end is not counted, CRLF included; nor the quotes' weight on fields. */
    CHECK_CSV_OPTS("1234,678\r\n\"1\",\"\"\"\"\n12345678", &o,
                   "1:1@0 [1234][678]\n"
                   "2:2@10 [1][\"]\n"
                   "3:3@19 [12345678]\n");
    CHECK_CSV_OPTS("123456789", &o, "BAD 1:1@0 t.csv:1: record longer than 8 bytes\n");
    CHECK_CSV_OPTS(",,,,,,,,,,,,\nx", &o,
                   "BAD 1:1@0 t.csv:1: record longer than 8 bytes\n"
                   "2:2@13 [x]\n");
    /* A quoted field over the cap rewinds to the line after its opening quote. */
    CHECK_CSV_OPTS("\"abc\ndefghijk\nxy\n", &o,
                   "BAD 1:1@0 t.csv:1: record longer than 8 bytes\n"
                   "2:2@5 [defghijk]\n"
                   "3:3@14 [xy]\n");
    /* Cap of 1 byte: only one-byte records pass. */
    sub_csv_opts_t one = {.max_record_bytes = 1};
    CHECK_CSV_OPTS("a\nbc\n\r\nd", &one,
                   "1:1@0 [a]\n"
                   "BAD 2:2@2 t.csv:2: record longer than 1 bytes\n"
                   "4:3@7 [d]\n");
}

static void test_bad_nul(void)
{
    CHECK_CSV("a\0b,c\nd\n", "BAD 1:1@0 t.csv:1: field 1: NUL byte\n"
                             "2:2@6 [d]\n");
    CHECK_CSV("\"a\"\0,b\nc\n", "BAD 1:1@0 t.csv:1: field 1: NUL byte\n"
                                "2:2@7 [c]\n");
    CHECK_CSV("x,\0", "BAD 1:1@0 t.csv:1: field 2: NUL byte\n");
    /* Inside a quoted field: rewound; the rest of the field's lines are parsed again. */
    CHECK_CSV("\"a\nb\0c\",d\ne\n", "BAD 1:1@0 t.csv:1: field 1: NUL byte (on line 2)\n"
                                    "BAD 2:2@3 t.csv:2: field 1: NUL byte\n"
                                    "3:3@10 [e]\n");
}

/* ---- read errors ---- */

static char *dump_failing(const char *data, size_t fail_at, const size_t *pat, size_t npat,
                          int *calls_after_fail)
{
    src_t s = src_of(data, strlen(data), pat, npat);
    s.fail_at = fail_at;
    sub_csv_t *c = sub_csv_new("t.csv", src_read, &s, NULL);
    char *got = dump(c);
    sub_csv_free(c);
    *calls_after_fail = s.calls_after_fail;
    return got;
}

static void test_read_error(void)
{
    int after = -1;
    for (size_t p = 0; p < NPATTERNS; p++) {
        char *got = dump_failing("a,b\nc,d\ne,f\n", 8, k_patterns[p].p, k_patterns[p].n, &after);
        CHECK_STR_EQ(got, "1:1@0 [a][b]\n"
                          "2:2@4 [c][d]\n"
                          "FAIL read t.csv at byte 8: Input/output error\n");
        CHECK_EQ(after, 0); /* the failed callback is not called again */
        free(got);
        got = dump_failing("a,b\nc,d\ne,f\n", 6, k_patterns[p].p, k_patterns[p].n, &after);
        CHECK_STR_EQ(got, "1:1@0 [a][b]\n"
                          "FAIL read t.csv at byte 6: Input/output error\n");
        free(got);
        got = dump_failing("a,b\n", 0, k_patterns[p].p, k_patterns[p].n, &after);
        CHECK_STR_EQ(got, "FAIL read t.csv at byte 0: Input/output error\n");
        free(got);
        /* Failing while looking for the LF of a CRLF: the record is whole, the error
         * comes with the next call. */
        got = dump_failing("a\rb", 2, k_patterns[p].p, k_patterns[p].n, &after);
        CHECK_STR_EQ(got, "1:1@0 [a]\n"
                          "FAIL read t.csv at byte 2: Input/output error\n");
        CHECK_EQ(after, 0);
        free(got);
    }
    /* The errno of the callback is the cause. */
    src_t s = src_of("abc", 3, NULL, 0);
    s.fail_at = 1;
    sub_csv_t *c = sub_csv_new("t.csv", src_read, &s, NULL);
    sub_csv_record_t rec;
    sub_error_t err;
    CHECK_EQ(sub_csv_next(c, &rec, &err), SUB_CSV_FAIL);
    CHECK_EQ(err.code, SUB_E_IO);
    CHECK_EQ(err.cause, EIO);
    sub_csv_free(c);
}

/* ---- helpers and files ---- */

static void test_header_index(void)
{
    static const char data[] = IMAGE_HEADER IMAGE_ROW;
    src_t s = src_of(data, sizeof data - 1, NULL, 0);
    sub_csv_t *c = sub_csv_new("t.csv", src_read, &s, NULL);
    sub_csv_record_t rec;
    CHECK_EQ(sub_csv_next(c, &rec, NULL), SUB_CSV_OK);
    CHECK_EQ(sub_csv_header_index(&rec, "ImageID"), 0);
    CHECK_EQ(sub_csv_header_index(&rec, "Title"), 7);
    CHECK_EQ(sub_csv_header_index(&rec, "Rotation"), 11);
    CHECK_EQ(sub_csv_header_index(&rec, "Image"), -1);
    CHECK_EQ(sub_csv_header_index(&rec, "rotation"), -1);
    CHECK_EQ(sub_csv_header_index(&rec, ""), -1);
    long title = sub_csv_header_index(&rec, "Title");
    CHECK_EQ(sub_csv_next(c, &rec, NULL), SUB_CSV_OK);
    CHECK_STR_EQ(rec.field[title], "Abbey and Kenny, \"the twins\"");
    sub_csv_free(c);
}

static void test_open_path(void)
{
    char *dir = sub_test_tmpdir();
    char *path = sub_test_write_file(dir, "l.csv", "\xef\xbb\xbfid,name\n1,\"a\nb\"\n2,c\n");
    sub_csv_t *c = NULL;
    sub_error_t err;
    CHECK_OK(sub_csv_open_path(path, NULL, &c, &err), &err);
    sub_csv_record_t rec;
    CHECK_EQ(sub_csv_next(c, &rec, &err), SUB_CSV_OK);
    CHECK_EQ(sub_csv_bytes_consumed(c), 11);
    CHECK_EQ(sub_csv_next(c, &rec, &err), SUB_CSV_OK);
    CHECK_STR_EQ(rec.field[1], "a\nb");
    CHECK_EQ(sub_csv_bytes_consumed(c), 19);
    CHECK_EQ(sub_csv_next(c, &rec, &err), SUB_CSV_OK);
    uint64_t off = rec.offset, line = rec.line, number = rec.number;
    CHECK_EQ(off, 19);
    CHECK_EQ(line, 4);
    CHECK_EQ(sub_csv_next(c, &rec, &err), SUB_CSV_END);
    CHECK_EQ(sub_csv_bytes_consumed(c), 23);
    sub_csv_free(c);

    /* Resuming at the third record continues its numbering. */
    sub_csv_opts_t o = {.start_offset = off, .start_line = line, .start_number = number - 1};
    CHECK_OK(sub_csv_open_path(path, &o, &c, &err), &err);
    CHECK_EQ(sub_csv_next(c, &rec, &err), SUB_CSV_OK);
    CHECK_EQ(rec.offset, off);
    CHECK_EQ(rec.line, line);
    CHECK_EQ(rec.number, number);
    CHECK_STR_EQ(rec.field[0], "2");
    CHECK_EQ(sub_csv_next(c, &rec, &err), SUB_CSV_END);
    sub_csv_free(c);

    char *missing = sub_path_join(dir, "missing.csv");
    c = (sub_csv_t *)&err; /* must be reset */
    CHECK_FAILS(sub_csv_open_path(missing, NULL, &c, &err), &err, SUB_E_IO);
    CHECK(c == NULL);
    CHECK_EQ(err.cause, ENOENT);
    CHECK_CONTAINS(err.msg, "missing.csv");

    /* A directory opens but does not read. */
    CHECK_OK(sub_csv_open_path(dir, NULL, &c, &err), &err);
    CHECK_EQ(sub_csv_next(c, &rec, &err), SUB_CSV_FAIL);
    CHECK_EQ(err.cause, EISDIR);
    sub_csv_free(c);
    sub_csv_free(NULL);

    remove(path);
    rmdir(dir);
    free(missing);
    free(path);
    free(dir);
}

/* ---- randomized round trip against a writer quoting as Python's csv does ---- */

static uint64_t rng_state;

static uint32_t rnd(uint32_t n)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state % n);
}

static const char *const k_atoms[] = {
    "a",
    "b",
    "Z",
    "0",
    " ",
    "\t",
    ",",
    "\"",
    "\r",
    "\n",
    "\r\n",
    "\xc3\xa4",
    "\xe2\x82\xac",
    "\xf0\x9f\x98\x80",
    "\xef\xbb\xbf",
    "/m/0",
    "\"\"",
};
#define NATOMS (sizeof k_atoms / sizeof k_atoms[0])

typedef struct {
    char *bytes;
    size_t len;
} field_t;

/* QUOTE_MINIMAL: quoted when holding a comma, a quote, CR or LF, or when it is the only
 * field and empty (else the row would be an empty line). */
static void write_field(out_t *o, const field_t *f, bool alone)
{
    bool quote = (alone && f->len == 0) || memchr(f->bytes, ',', f->len) ||
                 memchr(f->bytes, '"', f->len) || memchr(f->bytes, '\r', f->len) ||
                 memchr(f->bytes, '\n', f->len);
    if (quote)
        out_printf(o, "\"");
    for (size_t i = 0; i < f->len; i++) {
        if (f->bytes[i] == '"')
            out_printf(o, "\"");
        out_printf(o, "%c", f->bytes[i]);
    }
    if (quote)
        out_printf(o, "\"");
}

/* Lines before offset `at` of s, counted as the reader counts them. */
static uint64_t lines_before(const char *s, size_t at)
{
    uint64_t n = 1;
    for (size_t i = 0; i < at; i++)
        if (s[i] == '\r' || (s[i] == '\n' && (i == 0 || s[i - 1] != '\r')))
            n++;
    return n;
}

#define RT_ROWS   60
#define RT_FIELDS 6

static void test_roundtrip(void)
{
    rng_state = 0x9e3779b97f4a7c15u;
    static field_t rows[RT_ROWS][RT_FIELDS];
    size_t nf[RT_ROWS];
    size_t offsets[RT_ROWS];
    for (int iter = 0; iter < 300; iter++) {
        out_t o = {NULL, 0, 0};
        out_printf(&o, "%s", "");
        size_t nrows = 1 + rnd(RT_ROWS);
        bool crlf = rnd(2);
        for (size_t r = 0; r < nrows; r++) {
            if (rnd(8) == 0) /* an empty line, skipped by the reader */
                out_printf(&o, crlf ? "\r\n" : "\n");
            nf[r] = 1 + rnd(RT_FIELDS);
            offsets[r] = o.len;
            for (size_t i = 0; i < nf[r]; i++) {
                out_t f = {NULL, 0, 0};
                out_printf(&f, "%s", "");
                size_t atoms = rnd(4) == 0 ? 0 : rnd(12);
                for (size_t a = 0; a < atoms; a++)
                    out_printf(&f, "%s", k_atoms[rnd(NATOMS)]);
                rows[r][i].bytes = f.s;
                rows[r][i].len = f.len;
                if (i)
                    out_printf(&o, ",");
                write_field(&o, &rows[r][i], nf[r] == 1);
            }
            if (r + 1 < nrows || rnd(2))
                out_printf(&o, crlf ? "\r\n" : "\n");
        }
        /* A BOM-like first field would be eaten: parse from a resumed offset instead. */
        sub_csv_opts_t base = {.start_offset = 1000};
        for (size_t p = 0; p < NPATTERNS; p++) {
            sub_csv_opts_t opts = base;
            opts.buffer_bytes = 1 + rnd(64);
            opts.max_record_bytes = p % 2 ? o.len + 1 : 0;
            src_t s = src_of(o.s, o.len, k_patterns[p].p, k_patterns[p].n);
            sub_csv_t *c = sub_csv_new("rt.csv", src_read, &s, &opts);
            for (size_t r = 0; r < nrows; r++) {
                sub_csv_record_t rec;
                sub_error_t err;
                sub_csv_status_t st = sub_csv_next(c, &rec, &err);
                if (st != SUB_CSV_OK)
                    fprintf(stderr, "iter %d row %zu: %s\n", iter, r, err.msg);
                CHECK_EQ(st, SUB_CSV_OK);
                CHECK_EQ(rec.nfields, nf[r]);
                CHECK_EQ(rec.number, r + 1);
                CHECK_EQ(rec.offset, 1000 + offsets[r]);
                CHECK_EQ(rec.line, lines_before(o.s, offsets[r]));
                for (size_t i = 0; i < nf[r]; i++) {
                    CHECK_EQ(rec.len[i], rows[r][i].len);
                    CHECK(memcmp(rec.field[i], rows[r][i].bytes, rec.len[i]) == 0);
                }
            }
            sub_csv_record_t rec;
            CHECK_EQ(sub_csv_next(c, &rec, NULL), SUB_CSV_END);
            CHECK_EQ(sub_csv_bytes_consumed(c), 1000 + o.len);
            sub_csv_free(c);
        }
        for (size_t r = 0; r < nrows; r++)
            for (size_t i = 0; i < nf[r]; i++)
                free(rows[r][i].bytes);
        free(o.s);
    }
}

static const sub_test_t tests[] = {
    {"basic", test_basic},
    {"open_images_labels", test_open_images_labels},
    {"open_images_image_list", test_open_images_image_list},
    {"crlf", test_crlf},
    {"embedded_newline", test_embedded_newline},
    {"bom", test_bom},
    {"no_trailing_newline", test_no_trailing_newline},
    {"empty_lines", test_empty_lines},
    {"empty_fields", test_empty_fields},
    {"fully_quoted", test_fully_quoted},
    {"utf8", test_utf8},
    {"lone_cr", test_lone_cr},
    {"many_fields", test_many_fields},
    {"large_fields", test_large_fields},
    {"bad_quote_in_unquoted", test_bad_quote_in_unquoted},
    {"bad_after_quote", test_bad_after_quote},
    {"bad_stray_quote_rewinds", test_bad_stray_quote_rewinds},
    {"bad_unterminated", test_bad_unterminated},
    {"bad_too_long", test_bad_too_long},
    {"bad_nul", test_bad_nul},
    {"read_error", test_read_error},
    {"header_index", test_header_index},
    {"open_path", test_open_path},
    {"roundtrip", test_roundtrip},
    {NULL, NULL},
};

int main(int argc, char **argv)
{
    return sub_test_main(argc, argv, tests);
}
