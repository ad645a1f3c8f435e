/* strutil.h - small string helpers: a growing buffer with a hard cap, a key/value list,
 * path joining and a strict integer parser.
 *
 * Allocation failure aborts (sub_xmalloc): the service cannot do anything useful without
 * memory, and checking every small allocation would bury the logic (redis's zmalloc rule).
 */
#ifndef SUBSETTER_STRUTIL_H
#define SUBSETTER_STRUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "subsetter/error.h"

void *sub_xmalloc(size_t n);
void *sub_xrealloc(void *p, size_t n);
char *sub_xstrdup(const char *s);
char *sub_xstrndup(const char *s, size_t n);
/* printf into a new string; the caller frees it. */
char *sub_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A growing byte buffer, always NUL-terminated when data != NULL.
 * `limit` (0 = none) caps len: an append that would go over it fails and leaves the
 * buffer as it was, so no input can make the service grow without bound. */
typedef struct {
    char *data;
    size_t len;
    size_t cap;
    size_t limit;
} sub_buf_t;

#define SUB_BUF_INIT  \
    {                 \
        NULL, 0, 0, 0 \
    }

/* Appends n bytes. Fails with SUB_E_INTERNAL "too large" when limit would be exceeded. */
bool sub_buf_append(sub_buf_t *b, const void *data, size_t n, sub_error_t *err);
bool sub_buf_appendc(sub_buf_t *b, char c, sub_error_t *err);
bool sub_buf_appendf(sub_buf_t *b, sub_error_t *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The strict UTF-8 sequence at s (Python's decoder: no overlong forms, no surrogates,
 * nothing past U+10FFFF): its length, with its code point in *cp; 0 when s does not start
 * with one (a truncated sequence included). A NUL is a sequence of length 1. */
size_t sub_utf8_decode(const unsigned char *s, uint32_t *cp);
/* The number of code points of UTF-8 text (its lead bytes). */
size_t sub_utf8_count(const char *s);

/* Replaces b's content with the whole file at path (b's memory is reused, so a loop over
 * files allocates only for the largest). Fails with SUB_E_IO naming the path (cause errno:
 * ENOENT for a missing file), or SUB_E_INTERNAL past b->limit. */
bool sub_buf_read_file(sub_buf_t *b, const char *path, sub_error_t *err);
/* Gives the buffer's string to the caller (never NULL) and resets the buffer. */
char *sub_buf_take(sub_buf_t *b);
void sub_buf_release(sub_buf_t *b);

/* An ordered list of owned key/value strings; later sets of a key replace earlier ones. */
typedef struct {
    char *key;
    char *value;
    unsigned line; /* where it was defined, 0 if unknown */
} sub_kv_t;

typedef struct {
    sub_kv_t *items;
    size_t len;
    size_t cap;
} sub_kvlist_t;

#define SUB_KVLIST_INIT \
    {                   \
        NULL, 0, 0      \
    }

void sub_kvlist_set(sub_kvlist_t *l, const char *key, const char *value, unsigned line);
/* Borrowed until the list changes; NULL when absent. */
const sub_kv_t *sub_kvlist_find(const sub_kvlist_t *l, const char *key);
const char *sub_kvlist_get(const sub_kvlist_t *l, const char *key);
void sub_kvlist_release(sub_kvlist_t *l);

/* "a" + "/" + "b", without doubling the slash. Caller frees. */
char *sub_path_join(const char *a, const char *b);

/* Expands a leading "~" or "~/" with $HOME. Caller frees. */
char *sub_path_expand_home(const char *path);

/* Creates dir and its parents (mode 0700 for new ones). */
bool sub_mkdir_p(const char *dir, sub_error_t *err);

/* Whole-string integer parse with range check; false on junk, overflow or out of range. */
bool sub_parse_int64(const char *s, int64_t min, int64_t max, int64_t *out);

/* Parses true/false/yes/no/on/off/1/0 (case-insensitive). */
bool sub_parse_bool(const char *s, bool *out);

bool sub_str_starts_with(const char *s, const char *prefix);

#endif
