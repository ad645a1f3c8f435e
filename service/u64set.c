#define SUB_LOG_DOMAIN "u64set"
#include "subsetter/u64set.h"

#include <stdlib.h>
#include <string.h>

#include "subsetter/strutil.h"

/* A murmur3 finalizer: ImageIDs are random already, but other keys may not be. */
static size_t mix(uint64_t k, size_t mask)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    return (size_t)k & mask;
}

static void insert_slot(uint64_t *slots, size_t cap, uint64_t stored)
{
    size_t i = mix(stored, cap - 1);
    while (slots[i])
        i = (i + 1) & (cap - 1);
    slots[i] = stored;
}

static void grow(sub_u64set_t *s)
{
    size_t cap = s->cap ? s->cap * 2 : 1024;
    uint64_t *slots = calloc(cap, sizeof *slots);
    if (!slots)
        abort();
    for (size_t i = 0; i < s->cap; i++)
        if (s->slots[i])
            insert_slot(slots, cap, s->slots[i]);
    free(s->slots);
    s->slots = slots;
    s->cap = cap;
}

bool sub_u64set_add(sub_u64set_t *s, uint64_t key)
{
    if (key == UINT64_MAX) {
        bool was = s->has_max;
        s->has_max = true;
        return !was;
    }
    uint64_t stored = key + 1;
    if ((s->len + 1) * 2 > s->cap) /* load factor 1/2 keeps probes short */
        grow(s);
    size_t i = mix(stored, s->cap - 1);
    for (; s->slots[i]; i = (i + 1) & (s->cap - 1))
        if (s->slots[i] == stored)
            return false;
    s->slots[i] = stored;
    s->len++;
    return true;
}

void sub_u64set_release(sub_u64set_t *s)
{
    free(s->slots);
    memset(s, 0, sizeof *s);
}
