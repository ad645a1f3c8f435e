/* u64set.h - a set of 64-bit keys (open addressing, linear probing), for "have we seen
 * this ImageID in this split". 16 bytes per key at the load limit: 1.74 M train images
 * take ~32 MiB. */
#ifndef SUBSETTER_U64SET_H
#define SUBSETTER_U64SET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint64_t *slots; /* key + 1; 0 = empty (so key UINT64_MAX is kept apart in has_max) */
    size_t cap, len;
    bool has_max;
} sub_u64set_t;

/* Adds key; returns false when it was already there. */
bool sub_u64set_add(sub_u64set_t *s, uint64_t key);
void sub_u64set_release(sub_u64set_t *s);

#endif
