/* bsonutil.h - small libbson helpers used across modules. */
#ifndef SUBSETTER_BSONUTIL_H
#define SUBSETTER_BSONUTIL_H

#include <stdbool.h>
#include <stdint.h>

#include <bson/bson.h>

/* Points *out (read-only, borrowed from b) at the document or array stored under key.
 * False when key is absent or holds something else. */
bool sub_bson_get_doc(const bson_t *b, const char *key, bson_t *out);

/* The string under key, borrowed from b; NULL when absent or not a string. */
const char *sub_bson_get_str(const bson_t *b, const char *key);

/* Array keys "0", "1", ...: an array builder that counts for the caller. */
typedef struct {
    bson_t *arr;
    uint32_t n;
    char buf[16];
} sub_bson_array_t;

/* The key of the next element; borrowed until the next call. Never pass the call itself
 * to a BSON_APPEND_* macro: they evaluate the key twice (once for strlen), which would
 * skip a key. Use the bson_append_*(..., key, -1, ...) functions or a variable. */
const char *sub_bson_array_next_key(sub_bson_array_t *a);

#endif
