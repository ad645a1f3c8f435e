/* csv.h - a streaming RFC 4180 reader for files too large to hold in memory.
 *
 * The reader pulls bytes through a caller-supplied read callback (a file, a decompressor,
 * an HTTP body spooled to disk) into one fixed buffer and yields one record at a time.
 * Memory is bounded whatever the input size: about buffer_bytes + 2 * max_record_bytes,
 * plus 16 bytes per field of the record with the most fields.
 *
 * Accepted (what Python's csv module writes with the default dialect):
 *   - fields separated by ',', records ended by LF, CRLF or a lone CR (universal newlines,
 *     as Python's csv reads a file opened with newline=''), the last record with or
 *     without a line end; a CR right before EOF is a line end too, so it never ends up in
 *     the last field
 *   - quoted fields: "" inside quotes is one quote; commas, CR and LF inside quotes are
 *     data, kept byte for byte (a CRLF inside a title stays CRLF)
 *   - empty fields (`a,,b`, `a,`, `""`), rows where every field is quoted
 *   - bytes are passed through untouched: UTF-8 (or anything else but NUL) is not checked
 *   - a UTF-8 BOM at the very start of the input (offset 0) is skipped, nowhere else
 *   - empty lines (no byte between two line ends) yield no record and take no record
 *     number; csv.reader yields [] for them and csv.DictReader skips them. A line holding
 *     only blanks is a record with one field.
 *
 * Rejected: each returns SUB_CSV_BAD for one record, which the caller counts and skips:
 *   - a quote inside an unquoted field (`ab"c`)
 *   - anything but a comma or a line end after a closing quote (`"ab"c`, `"ab" ,`)
 *   - a quoted field still open at end of input
 *   - a record longer than max_record_bytes (its line end not included): fields are
 *     bounded by the same cap
 *   - a NUL byte anywhere in a record (a sign of a binary or UTF-16 file)
 * Python's csv (strict=False) accepts the first two silently, which hides broken writers.
 *
 * Resynchronization after a bad record, so that one stray quote cannot swallow the file:
 *   - an error found outside quotes (stray quote, NUL, record too long while in an
 *     unquoted field): input is skipped up to and including the next line end, with
 *     quotes ignored, and parsing resumes there
 *   - an error tied to a quoted field (still open at EOF or at the size cap, a NUL inside
 *     it, text after its closing quote): parsing rewinds to that field's opening quote,
 *     skips to the first line end after it (quotes ignored), and resumes there. The lines
 *     the field swallowed are parsed again as records: if the quote was stray they are the
 *     good rows that follow; if it was a real multi-line field they come out as short or
 *     bad rows, which a caller checking the column count rejects
 * Either way the bad record is reported at the line where the record starts, the skip is
 * done before SUB_CSV_BAD returns, and parsing goes on past the end of a line at or after
 * the record's start, so it always progresses.
 *
 * Lines are physical lines counted as Python counts them: LF, CRLF and a lone CR each end
 * one, inside quoted fields too. The first line is 1 (or opts.start_line).
 *
 * Ownership: sub_csv_new() copies `origin`; the callback context stays the caller's. A
 * record's field pointers and its arrays point into the reader and stay valid until the
 * next sub_csv_next() or sub_csv_free() on it. Fields are NUL-terminated copies, so they
 * can be passed to C string functions (a field never holds a NUL byte: that is a bad
 * record). One reader belongs to one thread at a time.
 */
#ifndef SUBSETTER_CSV_H
#define SUBSETTER_CSV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "subsetter/error.h"

#define SUB_CSV_DEFAULT_MAX_RECORD (1024 * 1024)
#define SUB_CSV_DEFAULT_BUFFER     (1024 * 1024)

/* Reads up to cap bytes into buf: returns how many (> 0), 0 at end of input, or < 0 with
 * errno set on a failure. It is not called again after it returned 0 or < 0. */
typedef long (*sub_csv_read_fn)(void *ctx, char *buf, size_t cap);

typedef struct {
    size_t max_record_bytes; /* 0: SUB_CSV_DEFAULT_MAX_RECORD */
    size_t buffer_bytes;     /* room for each read; 0: SUB_CSV_DEFAULT_BUFFER */
    /* Resuming: the input starts at this byte offset of the file (a record's `offset`),
     * whose line is start_line (0 means 1) and before which start_number records were
     * read, so that numbers, lines and offsets continue. sub_csv_open_path() seeks there.
     * The BOM is looked for only when start_offset is 0. */
    uint64_t start_offset;
    uint64_t start_line;
    uint64_t start_number;
} sub_csv_opts_t;

typedef struct sub_csv sub_csv_t;

/* Why a record was bad (SUB_CSV_BAD_NONE for good ones): lets a caller count by kind. */
typedef enum {
    SUB_CSV_BAD_NONE,
    SUB_CSV_BAD_QUOTE,        /* quote inside an unquoted field */
    SUB_CSV_BAD_AFTER_QUOTE,  /* text after a closing quote */
    SUB_CSV_BAD_UNTERMINATED, /* quoted field still open at end of input */
    SUB_CSV_BAD_TOO_LONG,     /* record over max_record_bytes */
    SUB_CSV_BAD_NUL,          /* NUL byte */
} sub_csv_bad_t;

typedef struct {
    size_t nfields;           /* >= 1 for a good record, 0 for a bad one */
    const char *const *field; /* field[i]: NUL-terminated, decoded (quotes removed) */
    const size_t *len;        /* len[i]: bytes in field[i], the NUL not counted */
    uint64_t line;            /* physical line where the record starts, 1-based */
    uint64_t number;          /* record number, 1-based, bad records included */
    uint64_t offset;          /* byte offset of the record's first byte in the input */
    sub_csv_bad_t bad;
} sub_csv_record_t;

typedef enum {
    SUB_CSV_OK,   /* *rec holds a record */
    SUB_CSV_END,  /* end of input; returned again by later calls. *rec is left as it was */
    SUB_CSV_BAD,  /* *rec holds a bad record's line, number, offset and reason; err->msg
                     is "origin:line: why" (code SUB_E_CONFIG). Call again to go on. */
    SUB_CSV_FAIL, /* the read callback failed: err is SUB_E_IO with its errno as cause,
                     rec->nfields is 0 and the rest of *rec as it was. Returned (only once
                     the records before the failure are) again by later calls, without
                     calling the callback again. */
} sub_csv_status_t;

/* A reader over fn(ctx, ...). `origin` names the input in messages ("labels.csv"). opts
 * may be NULL for the defaults. Never returns NULL: allocation failure aborts. */
sub_csv_t *sub_csv_new(const char *origin, sub_csv_read_fn fn, void *ctx,
                       const sub_csv_opts_t *opts);

/* A reader over a file read with read(2); the file is closed by sub_csv_free(). Fails
 * with SUB_E_IO when the file cannot be opened or seeked to opts->start_offset. */
bool sub_csv_open_path(const char *path, const sub_csv_opts_t *opts, sub_csv_t **out,
                       sub_error_t *err);

/* The next record, see sub_csv_status_t. err may be NULL. */
sub_csv_status_t sub_csv_next(sub_csv_t *c, sub_csv_record_t *rec, sub_error_t *err);

/* Offset in the input (start_offset included) of the first byte not yet parsed. It never
 * goes back. After SUB_CSV_OK or SUB_CSV_BAD it is where the line after the record starts
 * (a bad record's line is skipped before the call returns), so that this offset, with
 * sub_csv_line() and the record's number, is a checkpoint: a reader made with them as
 * start_offset, start_line and start_number returns the same records from there on.
 * Also what a progress bar shows. */
uint64_t sub_csv_bytes_consumed(const sub_csv_t *c);

/* The physical line of the byte at sub_csv_bytes_consumed(). */
uint64_t sub_csv_line(const sub_csv_t *c);

/* The index of the first field of `header` equal to `name` (bytes compared exactly), or
 * -1. Look up every column right after reading the header: its fields die with the next
 * sub_csv_next(). */
long sub_csv_header_index(const sub_csv_record_t *header, const char *name);

/* Frees the reader (and closes its file if sub_csv_open_path made it). NULL is ignored. */
void sub_csv_free(sub_csv_t *c);

#endif
