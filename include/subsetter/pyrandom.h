/* pyrandom.h - CPython's `random.Random`, bit for bit, for the parts FiftyOne relies on.
 *
 * Contract: for the same seed, every function here returns exactly what CPython 3 (checked
 * against 3.11) returns: the same integers and the same IEEE doubles, bit for bit. The
 * generator is CPython's MT19937 (Modules/_randommodule.c) and the methods are the ones of
 * Lib/random.py that use it (`_randbelow_with_getrandbits`, `randrange`, `randint`,
 * `shuffle`, `sample`). Seeding follows `Random.seed(a, version=2)`:
 *   - str / bytes: a = int.from_bytes(b + sha512(b).digest(), "big"), b = the UTF-8 bytes;
 *   - int: abs(a);
 * then `random_seed()` feeds |a| to init_by_array() as little-endian 32-bit words.
 *
 * FiftyOne uses this for `_rand` (sub_fiftyone_rand) and for the multiplier of `take(n,
 * seed)` (sub_fiftyone_take_multiplier); see ../shared/reference/fiftyone-storage.md 3.2
 * and 5.2. The double arithmetic must not be contracted into FMAs: the project compiles
 * with -ffp-contract=off.
 *
 * Preconditions that Python reports with a ValueError (randbelow(0), randint(a, b) with
 * b < a, getrandbits(k) with k > 64) are programming errors here: the call logs and aborts.
 * A sub_pyrandom_t is plain data (no heap), one per thread; the functions that take no
 * sub_pyrandom_t are thread-safe.
 */
#ifndef SUBSETTER_PYRANDOM_H
#define SUBSETTER_PYRANDOM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SUB_PYRANDOM_N 624

/* The state of CPython's RandomObject: the MT19937 words and the next word to temper
 * (SUB_PYRANDOM_N: twist before the next output). */
typedef struct {
    uint32_t mt[SUB_PYRANDOM_N];
    int index;
} sub_pyrandom_t;

/* Random(bytes(data[0:len])), which is also Random(s) for the str s whose UTF-8 is data. */
void sub_pyrandom_seed_bytes(sub_pyrandom_t *r, const void *data, size_t len);
/* Random(s) for a str s given as UTF-8 (NUL-terminated). */
void sub_pyrandom_seed_str(sub_pyrandom_t *r, const char *utf8);
/* Random(seed) for an int seed; negative seeds use abs(seed), as CPython does. */
void sub_pyrandom_seed_int(sub_pyrandom_t *r, int64_t seed);
/* Random(seed) for an int seed in [0, 2**64). */
void sub_pyrandom_seed_uint(sub_pyrandom_t *r, uint64_t seed);

/* The next 32-bit output: getrandbits(32). */
uint32_t sub_pyrandom_uint32(sub_pyrandom_t *r);
/* random(): a double in [0, 1) with 53 random bits. */
double sub_pyrandom_random(sub_pyrandom_t *r);
/* getrandbits(k) for 0 <= k <= 64 (k == 0 returns 0 and draws nothing, like Python). */
uint64_t sub_pyrandom_getrandbits(sub_pyrandom_t *r, int k);
/* _randbelow(n): uniform in [0, n), n >= 1. */
uint64_t sub_pyrandom_randbelow(sub_pyrandom_t *r, uint64_t n);
/* randrange(start, stop): uniform in [start, stop), start < stop. */
int64_t sub_pyrandom_randrange(sub_pyrandom_t *r, int64_t start, int64_t stop);
/* randint(a, b): uniform in [a, b], a <= b (the whole int64 range included). */
int64_t sub_pyrandom_randint(sub_pyrandom_t *r, int64_t a, int64_t b);
/* shuffle(x) applied to idx[0:n] in place. With idx = 0..n-1 on entry, idx[i] is the
 * element of the original list that Python's shuffle puts at position i, so any array can
 * be permuted the same way. */
void sub_pyrandom_shuffle_indices(sub_pyrandom_t *r, size_t *idx, size_t n);
/* sample(range(n), k) into out[0:k] (both of CPython's algorithms, chosen as it chooses).
 * Returns false, drawing nothing, when k > n (Python's ValueError) or on allocation
 * failure. */
bool sub_pyrandom_sample(sub_pyrandom_t *r, size_t n, size_t k, size_t *out);

/* FiftyOne's _generate_rand(filepath): Random(filepath).random() * 0.001 + 0.999, in
 * [0.999, 1). filepath is the UTF-8 of the normalized absolute path. About 5 KiB of stack
 * and no allocation by this code, whatever the length (OpenSSL 3's EVP_Digest still
 * allocates and frees its context internally). */
double sub_fiftyone_rand(const char *filepath);
/* The same for a path given by length (it may contain NUL bytes). */
double sub_fiftyone_rand_bytes(const void *path, size_t len);
/* The multiplier of FiftyOne's take(n, seed): Random(seed).randint(10**7, 10**10). */
int64_t sub_fiftyone_take_multiplier(int64_t seed);
/* The same for a str seed (UTF-8). */
int64_t sub_fiftyone_take_multiplier_str(const char *seed);

#endif
