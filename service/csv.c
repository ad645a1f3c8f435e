#define SUB_LOG_DOMAIN "csv"
#include "subsetter/csv.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "subsetter/strutil.h"

#if defined(__SSE2__) && !defined(SUB_CSV_NO_SIMD)
#include <emmintrin.h>
#define SUB_CSV_SSE2 1
#endif

/* How it works. The input goes through one buffer; the parser is a state machine that
 * can stop at any byte (when the buffer runs dry) and go on after a refill, so reads of any
 * size work. Field bytes are copied, unquoted, into an arena that is reused for every
 * record: one memcpy per run of plain bytes, found 16 bytes at a time.
 *
 * The raw bytes of the current record stay in the buffer until it ends, so that a bad
 * quoted field can be rewound to its opening quote (see csv.h). The parser never looks
 * more than max_record + 1 bytes into a record (parse_end), so the buffer holds at most
 * that much of it plus room to read, and the arena, which gets at most one byte per raw
 * byte looked at plus one NUL, never has to grow. */

/* Bytes after the buffer that a 16-byte load starting before its end may touch. */
#define PAD 16

typedef enum {
    S_LINE,     /* at the start of a line: a record or an empty line */
    S_FIELD,    /* at the start of a field */
    S_UNQUOTED, /* inside an unquoted field */
    S_QUOTED,   /* inside a quoted field */
    S_QUOTE,    /* after a quote inside a quoted field: half of "" or the closing one */
    S_SKIP,     /* after a bad record: discarding bytes up to the next line end */
} state_t;

struct sub_csv {
    char *origin;
    sub_csv_read_fn fn;
    void *ctx;
    int fd; /* the file sub_csv_open_path opened, else -1 */

    /* buf[keep, len) is input not yet discarded and buf[pos] the next byte to parse. */
    char *buf;
    size_t cap; /* max_record + 1 + bufsz (+ PAD allocated) */
    size_t bufsz;
    size_t max_record;
    size_t keep, pos, len;
    uint64_t base; /* input offset of buf[0] */
    bool eof;
    int io_errno; /* a read failure, sticky; 0 if none */
    bool bom_checked;

    state_t state;
    uint64_t line;   /* line of buf[pos] */
    uint64_t number; /* records returned */

    /* The record being parsed. In S_LINE, rec_start == keep == pos. */
    size_t rec_start; /* buf index */
    uint64_t rec_line;
    size_t quote_pos; /* buf index of the current quoted field's opening quote */
    uint64_t quote_line;
    char *arena; /* max_record + PAD bytes, see above */
    size_t used;
    size_t field_start; /* arena index of the current field's first byte */
    const char **fptr;
    size_t *flen;
    size_t nf, fcap;
};

/* ---- scanning ---- */

enum { C_COMMA = 1, C_QUOTE = 2, C_EOL = 4, C_NUL = 8 };
#define SET_UNQUOTED (C_COMMA | C_QUOTE | C_EOL | C_NUL)
#define SET_QUOTED   (C_QUOTE | C_EOL | C_NUL)

#ifdef SUB_CSV_SSE2
static inline __m128i eq(__m128i v, char ch)
{
    return _mm_cmpeq_epi8(v, _mm_set1_epi8(ch));
}

/* Index of the first byte of p[0, n) in `set` (CR and LF are always in it), or n. May
 * read up to 15 bytes past p + n: the buffer is padded for that. */
static inline size_t scan(const char *p, size_t n, unsigned set)
{
    for (size_t i = 0; i < n; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
        __m128i m = _mm_or_si128(eq(v, '\r'), eq(v, '\n'));
        if (set & C_COMMA)
            m = _mm_or_si128(m, eq(v, ','));
        if (set & C_QUOTE)
            m = _mm_or_si128(m, eq(v, '"'));
        if (set & C_NUL)
            m = _mm_or_si128(m, _mm_cmpeq_epi8(v, _mm_setzero_si128()));
        unsigned bits = (unsigned)_mm_movemask_epi8(m);
        if (bits) {
            size_t k = i + (size_t)__builtin_ctz(bits);
            return k < n ? k : n; /* a hit in the padding is no hit */
        }
    }
    return n;
}
#else
static const unsigned char k_class[256] = {
    [','] = C_COMMA, ['"'] = C_QUOTE, ['\r'] = C_EOL, ['\n'] = C_EOL, [0] = C_NUL,
};

static inline size_t scan(const char *p, size_t n, unsigned set)
{
    set |= C_EOL;
    size_t i = 0;
    while (i < n && !(k_class[(unsigned char)p[i]] & set))
        i++;
    return i;
}
#endif

/* ---- input ---- */

/* Moves the kept bytes to the front of the buffer, making room to read. */
static void compact(sub_csv_t *c)
{
    size_t k = c->keep;
    memmove(c->buf, c->buf + k, c->len - k);
    c->len -= k;
    c->pos -= k;
    /* Both are below keep only when stale (no record, or not in quotes), and then unused. */
    c->rec_start = c->rec_start >= k ? c->rec_start - k : 0;
    c->quote_pos = c->quote_pos >= k ? c->quote_pos - k : 0;
    c->keep = 0;
    c->base += k;
}

/* Reads more input after buf[len). False on a read failure, which stays: the callback is
 * not called again. At end of input sets eof and returns true. */
static bool refill(sub_csv_t *c)
{
    if (c->io_errno)
        return false;
    /* Compacting costs a memmove of the partial record: do it only when the room left
     * is small, so that reads stay large whatever the callback returns per call. */
    if (c->keep > 0 && c->cap - c->len < (c->bufsz + 1) / 2)
        compact(c);
    size_t room = c->cap - c->len;
    if (room == 0) { /* cannot happen: parse_end bounds what is kept */
        c->io_errno = ENOBUFS;
        return false;
    }
    errno = 0;
    long n = c->fn(c->ctx, c->buf + c->len, room);
    if (n < 0 || (size_t)n > room) {
        c->io_errno = n < 0 && errno ? errno : EIO;
        return false;
    }
    if (n == 0)
        c->eof = true;
    c->len += (size_t)n;
    return true;
}

/* The BOM counts only as the input's first bytes, so wait for three of them. A read
 * failure is left for the parser to report once it has used the bytes read before it. */
static void skip_bom(sub_csv_t *c)
{
    c->bom_checked = true;
    if (c->base != 0)
        return;
    while (c->len < 3 && !c->eof && refill(c))
        ;
    if (c->len >= 3 && memcmp(c->buf, "\xEF\xBB\xBF", 3) == 0)
        c->pos = c->keep = c->rec_start = 3;
}

/* After a CR line end: a LF right after it belongs to it. Reads one byte ahead if needed;
 * a read failure here is reported by the next call. */
static void eat_lf(sub_csv_t *c)
{
    c->keep = c->pos;
    if (c->pos == c->len && !c->eof && !refill(c))
        return;
    if (c->pos < c->len && c->buf[c->pos] == '\n')
        c->pos++;
}

/* Where parsing must stop for now: the end of the input read so far, or the byte after
 * the largest record allowed, reaching which without a line end makes it too long. */
static size_t parse_end(const sub_csv_t *c)
{
    if (c->state == S_SKIP)
        return c->len;
    size_t limit = c->rec_start + c->max_record + 1;
    return c->len < limit ? c->len : limit;
}

/* ---- records ---- */

static void begin_line(sub_csv_t *c)
{
    c->state = S_LINE;
    c->rec_start = c->keep = c->pos;
}

/* Discards bytes up to and including the next line end (quotes are not special). */
static void step_skip(sub_csv_t *c, size_t end)
{
    c->pos += scan(c->buf + c->pos, end - c->pos, 0);
    c->keep = c->pos;
    if (c->pos == end)
        return;
    char ch = c->buf[c->pos];
    c->pos++;
    c->line++;
    if (ch == '\r')
        eat_lf(c);
    begin_line(c);
}

/* Skips to the next line start now rather than in the next call, so that after a BAD,
 * as after an OK, the reader stands at a line start: bytes_consumed() and sub_csv_line()
 * are then a point to resume from. A read failure stops it; the next call reports it. */
static void skip_line(sub_csv_t *c)
{
    while (c->state == S_SKIP) {
        if (c->pos == c->len) {
            if (c->eof || !refill(c))
                return;
            continue;
        }
        step_skip(c, c->len);
    }
}

static void grow_fields(sub_csv_t *c)
{
    c->fcap = c->fcap ? 2 * c->fcap : 64;
    c->fptr = sub_xrealloc(c->fptr, c->fcap * sizeof *c->fptr);
    c->flen = sub_xrealloc(c->flen, c->fcap * sizeof *c->flen);
}

static void end_field(sub_csv_t *c)
{
    if (c->nf == c->fcap)
        grow_fields(c);
    c->arena[c->used] = '\0';
    c->fptr[c->nf] = c->arena + c->field_start;
    c->flen[c->nf] = c->used - c->field_start;
    c->nf++;
    c->used++;
    c->field_start = c->used; /* the next field, if any, starts here */
}

static void describe(const sub_csv_t *c, sub_csv_record_t *rec, size_t nfields)
{
    rec->nfields = nfields;
    rec->field = c->fptr;
    rec->len = c->flen;
    rec->line = c->rec_line;
    rec->number = c->number;
    rec->offset = c->base + c->rec_start;
    rec->bad = SUB_CSV_BAD_NONE;
}

/* The record's last field has ended; `cr`: its line end was a CR, maybe half of a CRLF. */
static sub_csv_status_t end_record(sub_csv_t *c, sub_csv_record_t *rec, bool cr)
{
    c->number++;
    describe(c, rec, c->nf);
    if (cr)
        eat_lf(c);
    begin_line(c);
    return SUB_CSV_OK;
}

static const char *bad_reason(sub_csv_bad_t why)
{
    switch (why) {
    case SUB_CSV_BAD_QUOTE:
        return "quote inside an unquoted field";
    case SUB_CSV_BAD_AFTER_QUOTE:
        return "text after the closing quote";
    case SUB_CSV_BAD_UNTERMINATED:
        return "quoted field still open at end of input";
    case SUB_CSV_BAD_NUL:
        return "NUL byte";
    default:
        return "record too long";
    }
}

static void bad_message(const sub_csv_t *c, sub_csv_bad_t why, sub_error_t *err)
{
    if (!err)
        return;
    /* The record's line leads; where the problem is, when elsewhere, follows. */
    char where[64] = "";
    uint64_t at = why == SUB_CSV_BAD_UNTERMINATED ? c->quote_line : c->line;
    if (at != c->rec_line)
        snprintf(where, sizeof where, " (%s line %" PRIu64 ")",
                 why == SUB_CSV_BAD_UNTERMINATED ? "opened on" : "on", at);
    if (why == SUB_CSV_BAD_TOO_LONG)
        sub_error_set(err, SUB_E_CONFIG, 0, "%s:%" PRIu64 ": record longer than %zu bytes",
                      c->origin, c->rec_line, c->max_record);
    else
        sub_error_set(err, SUB_E_CONFIG, 0, "%s:%" PRIu64 ": field %zu: %s%s", c->origin,
                      c->rec_line, c->nf + 1, bad_reason(why), where);
}

/* Reports the record as bad and resynchronizes as csv.h describes. */
static sub_csv_status_t bad(sub_csv_t *c, sub_csv_record_t *rec, sub_error_t *err,
                            sub_csv_bad_t why)
{
    c->number++;
    describe(c, rec, 0);
    rec->bad = why;
    bad_message(c, why, err);
    if (c->state == S_QUOTED || c->state == S_QUOTE) {
        c->pos = c->quote_pos;
        c->line = c->quote_line;
    }
    c->keep = c->pos;
    c->state = S_SKIP;
    skip_line(c);
    return SUB_CSV_BAD;
}

static sub_csv_status_t io_failed(const sub_csv_t *c, sub_csv_record_t *rec, sub_error_t *err)
{
    rec->nfields = 0;
    rec->bad = SUB_CSV_BAD_NONE;
    sub_error_set(err, SUB_E_IO, c->io_errno, "read %s at byte %" PRIu64 ": %s", c->origin,
                  c->base + c->len, strerror(c->io_errno));
    return SUB_CSV_FAIL;
}

static sub_csv_status_t at_eof(sub_csv_t *c, sub_csv_record_t *rec, sub_error_t *err)
{
    switch (c->state) {
    case S_LINE:
    case S_SKIP:
        return SUB_CSV_END;
    case S_QUOTED:
        return bad(c, rec, err, SUB_CSV_BAD_UNTERMINATED);
    default: /* S_FIELD after a comma, S_UNQUOTED, S_QUOTE after the closing quote */
        end_field(c);
        return end_record(c, rec, false);
    }
}

/* ---- states: each consumes what it can of buf[pos, end) and says what is next ---- */

typedef enum { GO_ON, DONE_OK, DONE_BAD } step_t;

static step_t step_line(sub_csv_t *c)
{
    char ch = c->buf[c->pos];
    if (ch == '\n' || ch == '\r') { /* an empty line: no record */
        c->pos++;
        c->line++;
        if (ch == '\r')
            eat_lf(c);
        begin_line(c);
        return GO_ON;
    }
    c->rec_line = c->line;
    c->nf = 0;
    c->used = c->field_start = 0;
    c->state = S_FIELD;
    return GO_ON;
}

static void step_field(sub_csv_t *c)
{
    if (c->buf[c->pos] == '"') {
        c->quote_pos = c->pos;
        c->quote_line = c->line;
        c->pos++;
        c->state = S_QUOTED;
    } else {
        c->state = S_UNQUOTED;
    }
}

/* Copies the run of n plain bytes at pos into the current field. */
static inline void take(sub_csv_t *c, size_t n)
{
    memcpy(c->arena + c->used, c->buf + c->pos, n);
    c->used += n;
    c->pos += n;
}

/* A comma or line end at pos ends the field (the caller checked it is one). */
static step_t field_end(sub_csv_t *c, char ch, bool *cr)
{
    end_field(c);
    c->pos++;
    if (ch == ',') {
        c->state = S_FIELD;
        return GO_ON;
    }
    c->line++;
    *cr = ch == '\r';
    return DONE_OK;
}

static step_t step_unquoted(sub_csv_t *c, size_t end, bool *cr, sub_csv_bad_t *why)
{
    take(c, scan(c->buf + c->pos, end - c->pos, SET_UNQUOTED));
    if (c->pos == end)
        return GO_ON;
    char ch = c->buf[c->pos];
    if (ch == '"' || ch == '\0') {
        *why = ch == '"' ? SUB_CSV_BAD_QUOTE : SUB_CSV_BAD_NUL;
        return DONE_BAD;
    }
    return field_end(c, ch, cr);
}

static step_t step_quoted(sub_csv_t *c, size_t end, sub_csv_bad_t *why)
{
    take(c, scan(c->buf + c->pos, end - c->pos, SET_QUOTED));
    if (c->pos == end)
        return GO_ON;
    char ch = c->buf[c->pos];
    if (ch == '"') {
        c->pos++;
        c->state = S_QUOTE;
        return GO_ON;
    }
    if (ch == '\0') {
        *why = SUB_CSV_BAD_NUL;
        return DONE_BAD;
    }
    /* A line end inside quotes is data. The LF of a CRLF is not a second line; the CR
     * before it is still in the buffer, as the whole record is. */
    if (ch == '\r' || c->buf[c->pos - 1] != '\r')
        c->line++;
    take(c, 1);
    return GO_ON;
}

static step_t step_quote(sub_csv_t *c, bool *cr, sub_csv_bad_t *why)
{
    char ch = c->buf[c->pos];
    if (ch == '"') { /* "" is a quote */
        take(c, 1);
        c->state = S_QUOTED;
        return GO_ON;
    }
    if (ch == ',' || ch == '\n' || ch == '\r')
        return field_end(c, ch, cr);
    *why = ch == '\0' ? SUB_CSV_BAD_NUL : SUB_CSV_BAD_AFTER_QUOTE;
    return DONE_BAD;
}

sub_csv_status_t sub_csv_next(sub_csv_t *c, sub_csv_record_t *rec, sub_error_t *err)
{
    if (!c->bom_checked)
        skip_bom(c);
    for (;;) {
        size_t end = parse_end(c);
        if (c->pos == end) {
            if (c->state != S_SKIP && end == c->rec_start + c->max_record + 1)
                return bad(c, rec, err, SUB_CSV_BAD_TOO_LONG);
            if (c->eof)
                return at_eof(c, rec, err);
            if (!refill(c))
                return io_failed(c, rec, err);
            continue;
        }
        step_t s = GO_ON;
        bool cr = false;
        sub_csv_bad_t why = SUB_CSV_BAD_NONE;
        switch (c->state) {
        case S_LINE:
            s = step_line(c);
            break;
        case S_FIELD:
            step_field(c);
            break;
        case S_UNQUOTED:
            s = step_unquoted(c, end, &cr, &why);
            break;
        case S_QUOTED:
            s = step_quoted(c, end, &why);
            break;
        case S_QUOTE:
            s = step_quote(c, &cr, &why);
            break;
        case S_SKIP:
            step_skip(c, end);
            break;
        }
        if (s == DONE_OK)
            return end_record(c, rec, cr);
        if (s == DONE_BAD)
            return bad(c, rec, err, why);
    }
}

/* ---- life cycle ---- */

sub_csv_t *sub_csv_new(const char *origin, sub_csv_read_fn fn, void *ctx,
                       const sub_csv_opts_t *opts)
{
    sub_csv_opts_t o = {0};
    if (opts)
        o = *opts;
    /* A quarter of the address space keeps every sum below from overflowing. */
    size_t most = SIZE_MAX / 4;
    sub_csv_t *c = sub_xmalloc(sizeof *c);
    memset(c, 0, sizeof *c);
    c->origin = sub_xstrdup(origin ? origin : "csv");
    c->fn = fn;
    c->ctx = ctx;
    c->fd = -1;
    c->max_record = o.max_record_bytes ? o.max_record_bytes : SUB_CSV_DEFAULT_MAX_RECORD;
    c->max_record = c->max_record < most ? c->max_record : most;
    c->bufsz = o.buffer_bytes ? o.buffer_bytes : SUB_CSV_DEFAULT_BUFFER;
    c->bufsz = c->bufsz < most ? c->bufsz : most;
    c->cap = c->max_record + 1 + c->bufsz;
    /* Zeroed so that the vector loads past len read defined bytes. */
    c->buf = sub_xmalloc(c->cap + PAD);
    memset(c->buf, 0, c->cap + PAD);
    c->arena = sub_xmalloc(c->max_record + PAD);
    c->base = o.start_offset;
    c->line = o.start_line ? o.start_line : 1;
    c->number = o.start_number;
    c->state = S_LINE;
    return c;
}

static long fd_read(void *ctx, char *buf, size_t cap)
{
    const sub_csv_t *c = ctx;
    size_t want = cap < ((size_t)1 << 30) ? cap : ((size_t)1 << 30);
    for (;;) {
        ssize_t n = read(c->fd, buf, want);
        if (n >= 0 || errno != EINTR)
            return (long)n;
    }
}

bool sub_csv_open_path(const char *path, const sub_csv_opts_t *opts, sub_csv_t **out,
                       sub_error_t *err)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return sub_error_set(err, SUB_E_IO, errno, "open %s: %s", path, strerror(errno));
    uint64_t start = opts ? opts->start_offset : 0;
    if (start > 0 && lseek(fd, (off_t)start, SEEK_SET) < 0) {
        int e = errno;
        close(fd);
        return sub_error_set(err, SUB_E_IO, e, "seek %s to byte %" PRIu64 ": %s", path, start,
                             strerror(e));
    }
    /* A hint for the kernel's read-ahead; a failure changes nothing else. */
    (void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    sub_csv_t *c = sub_csv_new(path, fd_read, NULL, opts);
    c->ctx = c;
    c->fd = fd;
    *out = c;
    return true;
}

uint64_t sub_csv_bytes_consumed(const sub_csv_t *c)
{
    return c->base + c->pos;
}

uint64_t sub_csv_line(const sub_csv_t *c)
{
    return c->line;
}

long sub_csv_header_index(const sub_csv_record_t *header, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < header->nfields; i++)
        if (header->len[i] == n && memcmp(header->field[i], name, n) == 0)
            return (long)i;
    return -1;
}

void sub_csv_free(sub_csv_t *c)
{
    if (!c)
        return;
    if (c->fd >= 0)
        close(c->fd);
    free(c->fptr);
    free(c->flen);
    free(c->arena);
    free(c->buf);
    free(c->origin);
    free(c);
}
