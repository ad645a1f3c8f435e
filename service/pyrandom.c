#define SUB_LOG_DOMAIN "pyrandom"
#include "subsetter/pyrandom.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "subsetter/log.h"

/* MT19937's parameters, named as in CPython's Modules/_randommodule.c. */
#define N          SUB_PYRANDOM_N
#define M          397
#define MATRIX_A   0x9908b0dfU
#define UPPER_MASK 0x80000000U
#define LOWER_MASK 0x7fffffffU

/* The key words are produced this many at a time, on the stack (see seed_be). */
#define KEY_CHUNK N

static void die(const char *what)
{
    SUB_LOG(SUB_LOG_ERROR, "%s", what);
    abort();
}

/* ---- The state that every seeding starts from, and SHA-512 ---------------------------- */

/* init_by_array() always starts with init_genrand(19650218): the same 624 words every
 * time, so they are computed once and copied. */
static uint32_t genrand_19650218[N];
/* EVP_MD_fetch once: an implicit fetch by name on every digest (what SHA512() does in
 * OpenSSL 3) doubles the cost of a short digest. EVP_Digest still creates and frees a
 * context per call; only the deprecated SHA512_Init() API would avoid that (~70 ns of the
 * ~2.4 us a _rand costs, not worth a deprecated API). */
static EVP_MD *sha512_md;
static pthread_once_t init_once = PTHREAD_ONCE_INIT;

/* CPython's init_genrand(). */
static void init_genrand(uint32_t mt[N], uint32_t s)
{
    mt[0] = s;
    for (uint32_t i = 1; i < N; i++)
        mt[i] = 1812433253U * (mt[i - 1] ^ (mt[i - 1] >> 30)) + i;
}

static void init_statics(void)
{
    init_genrand(genrand_19650218, 19650218U);
    sha512_md = EVP_MD_fetch(NULL, "SHA512", NULL);
}

static void sha512(const void *data, size_t len, unsigned char out[64])
{
    pthread_once(&init_once, init_statics);
    unsigned int out_len = 0;
    if (!sha512_md || !EVP_Digest(data, len, out, &out_len, sha512_md, NULL) || out_len != 64)
        die("SHA-512 is not available from OpenSSL");
}

/* ---- Seeding: Random.seed() and CPython's random_seed() / init_by_array() ------------- */

/* A non-negative integer given by its big-endian bytes, hi[] then lo[]: for a str or bytes
 * seed that is int.from_bytes(b + sha512(b).digest(), "big") without the concatenation. */
typedef struct {
    const unsigned char *hi;
    size_t hi_len;
    const unsigned char *lo;
    size_t lo_len;
} be_int_t;

/* Byte `pos` counted from the least significant end (0 = the last byte); 0 above the top. */
static inline uint32_t be_byte(const be_int_t *v, size_t pos)
{
    if (pos < v->lo_len)
        return v->lo[v->lo_len - 1 - pos];
    pos -= v->lo_len;
    return pos < v->hi_len ? v->hi[v->hi_len - 1 - pos] : 0;
}

/* random_seed(): keyused = max(1, ceil(bit_length / 32)), i.e. the number of 32-bit words
 * left once the leading zero bytes are dropped. */
static size_t be_key_words(const be_int_t *v)
{
    size_t total = v->hi_len + v->lo_len, zeros = 0;
    while (zeros < total && be_byte(v, total - 1 - zeros) == 0)
        zeros++;
    size_t used = (total - zeros + 3) / 4;
    return used ? used : 1;
}

/* Words j0 .. j0+n-1 of the key: _PyLong_AsByteArray(little_endian) read as uint32_t[],
 * so word 0 holds the least significant 32 bits. */
static void be_words(const be_int_t *v, size_t j0, size_t n, uint32_t *out)
{
    for (size_t j = 0; j < n; j++) {
        size_t pos = 4 * (j0 + j);
        out[j] = be_byte(v, pos) | be_byte(v, pos + 1) << 8 | be_byte(v, pos + 2) << 16 |
                 be_byte(v, pos + 3) << 24;
    }
}

/* The first loop of CPython's init_by_array() for key words j0 .. j0+n-1; *ip is its `i`.
 * The previous word is carried in a register: each step depends on the one before, and a
 * reload from mt[] would put a store-to-load round trip on that chain. After a wrap,
 * mt[0] = mt[N - 1] is that same word. */
static void mix_key(uint32_t mt[N], size_t *ip, const uint32_t *key, size_t n, size_t j0)
{
    size_t i = *ip;
    uint32_t prev = mt[i - 1];
    for (size_t t = 0; t < n; t++) {
        prev = (mt[i] ^ ((prev ^ (prev >> 30)) * 1664525U)) + key[t] + (uint32_t)(j0 + t);
        mt[i] = prev;
        if (++i >= N) {
            mt[0] = prev;
            i = 1;
        }
    }
    *ip = i;
}

/* CPython's init_by_array(mt, key, keyused) with the key read from v. It runs
 * max(N, keyused) steps over the key, cycling j when the key is short; a short key is
 * materialized once on the stack, a long one (keyused > N, so each word is used exactly
 * once, in order) is produced chunk by chunk. Either way nothing is allocated, whatever
 * the length of the seed. */
static void seed_be(sub_pyrandom_t *r, const be_int_t *v)
{
    uint32_t key[KEY_CHUNK];
    uint32_t *mt = r->mt;
    size_t keyused = be_key_words(v), i = 1;

    pthread_once(&init_once, init_statics);
    memcpy(mt, genrand_19650218, sizeof genrand_19650218);
    if (keyused <= N) {
        be_words(v, 0, keyused, key);
        for (size_t done = 0; done < N;) {
            size_t n = N - done < keyused ? N - done : keyused;
            mix_key(mt, &i, key, n, 0);
            done += n;
        }
    } else {
        for (size_t j0 = 0; j0 < keyused; j0 += KEY_CHUNK) {
            size_t n = keyused - j0 < KEY_CHUNK ? keyused - j0 : KEY_CHUNK;
            be_words(v, j0, n, key);
            mix_key(mt, &i, key, n, j0);
        }
    }
    /* The second loop, the previous word carried as in mix_key(). */
    uint32_t prev = mt[i - 1];
    for (size_t k = N - 1; k; k--) {
        prev = (mt[i] ^ ((prev ^ (prev >> 30)) * 1566083941U)) - (uint32_t)i;
        mt[i] = prev;
        if (++i >= N) {
            mt[0] = prev;
            i = 1;
        }
    }
    mt[0] = 0x80000000U; /* MSB is 1; assuring non-zero initial array */
    r->index = N;        /* init_genrand() leaves mti = N: the first output twists */
}

/* Random.seed(a) for str/bytes, version 2. */
void sub_pyrandom_seed_bytes(sub_pyrandom_t *r, const void *data, size_t len)
{
    unsigned char digest[64];
    sha512(data, len, digest);
    be_int_t v = {data, len, digest, sizeof digest};
    seed_be(r, &v);
}

void sub_pyrandom_seed_str(sub_pyrandom_t *r, const char *utf8)
{
    sub_pyrandom_seed_bytes(r, utf8, strlen(utf8));
}

/* random_seed() with an int: the key is abs(n). */
void sub_pyrandom_seed_uint(sub_pyrandom_t *r, uint64_t seed)
{
    unsigned char be[8];
    for (int b = 0; b < 8; b++)
        be[b] = (unsigned char)(seed >> (56 - 8 * b));
    be_int_t v = {NULL, 0, be, sizeof be};
    seed_be(r, &v);
}

void sub_pyrandom_seed_int(sub_pyrandom_t *r, int64_t seed)
{
    /* abs() in unsigned arithmetic, so INT64_MIN gives 2**63. */
    uint64_t u = (uint64_t)seed;
    sub_pyrandom_seed_uint(r, seed < 0 ? 0 - u : u);
}

/* ---- Outputs: genrand_uint32(), random_random(), getrandbits() ------------------------ */

/* One word of MT19937's twist (the body of the loops in genrand_uint32()). */
static inline uint32_t twist(uint32_t cur, uint32_t next, uint32_t far)
{
    uint32_t y = (cur & UPPER_MASK) | (next & LOWER_MASK);
    return far ^ (y >> 1) ^ ((y & 1U) ? MATRIX_A : 0U);
}

static inline uint32_t temper(uint32_t y)
{
    y ^= (y >> 11);
    y ^= (y << 7) & 0x9d2c5680U;
    y ^= (y << 15) & 0xefc60000U;
    y ^= (y >> 18);
    return y;
}

/* CPython's genrand_uint32(). */
uint32_t sub_pyrandom_uint32(sub_pyrandom_t *r)
{
    uint32_t *mt = r->mt;
    if (r->index >= N) {
        int kk;
        for (kk = 0; kk < N - M; kk++)
            mt[kk] = twist(mt[kk], mt[kk + 1], mt[kk + M]);
        for (; kk < N - 1; kk++)
            mt[kk] = twist(mt[kk], mt[kk + 1], mt[kk + (M - N)]);
        mt[N - 1] = twist(mt[N - 1], mt[0], mt[M - 1]);
        r->index = 0;
    }
    return temper(mt[r->index++]);
}

/* random_random(): genrand_res53 of the MT reference code. */
static inline double res53(uint32_t a, uint32_t b)
{
    a >>= 5;
    b >>= 6;
    return (a * 67108864.0 + b) * (1.0 / 9007199254740992.0);
}

double sub_pyrandom_random(sub_pyrandom_t *r)
{
    uint32_t a = sub_pyrandom_uint32(r);
    uint32_t b = sub_pyrandom_uint32(r);
    return res53(a, b);
}

/* _random_Random_getrandbits_impl(): k <= 32 takes the top k bits of one word; above, the
 * words fill the integer from its least significant end and the last one keeps its top
 * k % 32 bits. */
uint64_t sub_pyrandom_getrandbits(sub_pyrandom_t *r, int k)
{
    if (k < 0 || k > 64)
        die("getrandbits: k out of [0, 64]");
    if (k == 0)
        return 0;
    if (k <= 32)
        return sub_pyrandom_uint32(r) >> (32 - k);
    uint64_t lo = sub_pyrandom_uint32(r);
    uint32_t hi = sub_pyrandom_uint32(r);
    if (k < 64)
        hi >>= (64 - k);
    return (uint64_t)hi << 32 | lo;
}

/* ---- Lib/random.py ------------------------------------------------------------------- */

static int bit_length(uint64_t n)
{
    int k = 0;
    while (n) {
        k++;
        n >>= 1;
    }
    return k;
}

/* _randbelow_with_getrandbits(n): k = n.bit_length(), redraw getrandbits(k) until < n. */
uint64_t sub_pyrandom_randbelow(sub_pyrandom_t *r, uint64_t n)
{
    if (n == 0)
        die("randbelow(0)");
    int k = bit_length(n);
    uint64_t v = sub_pyrandom_getrandbits(r, k);
    while (v >= n)
        v = sub_pyrandom_getrandbits(r, k);
    return v;
}

/* _randbelow(2**64), the width of randint(INT64_MIN, INT64_MAX): k = 65, so each draw is
 * getrandbits(65), three words, the third one's top bit as bit 64; redraw while it is set. */
static uint64_t randbelow_2_64(sub_pyrandom_t *r)
{
    for (;;) {
        uint64_t v = sub_pyrandom_getrandbits(r, 64);
        if ((sub_pyrandom_uint32(r) >> 31) == 0)
            return v;
    }
}

/* randrange(start, stop) with step 1: istart + _randbelow(width). The sum is computed in
 * uint64_t (modulo 2**64) and lands in [start, stop), so it converts back exactly. */
int64_t sub_pyrandom_randrange(sub_pyrandom_t *r, int64_t start, int64_t stop)
{
    if (stop <= start)
        die("randrange: empty range");
    uint64_t width = (uint64_t)stop - (uint64_t)start;
    return (int64_t)((uint64_t)start + sub_pyrandom_randbelow(r, width));
}

/* randint(a, b) = randrange(a, b + 1), in Python's unbounded ints: width b - a + 1 may be
 * 2**64 here. */
int64_t sub_pyrandom_randint(sub_pyrandom_t *r, int64_t a, int64_t b)
{
    if (b < a)
        die("randint: b < a");
    uint64_t width = (uint64_t)b - (uint64_t)a + 1;
    uint64_t off = width ? sub_pyrandom_randbelow(r, width) : randbelow_2_64(r);
    return (int64_t)((uint64_t)a + off);
}

/* shuffle(x): for i in reversed(range(1, len(x))): j = _randbelow(i + 1); swap x[i], x[j]. */
void sub_pyrandom_shuffle_indices(sub_pyrandom_t *r, size_t *idx, size_t n)
{
    for (size_t i = n > 0 ? n - 1 : 0; i >= 1; i--) {
        size_t j = (size_t)sub_pyrandom_randbelow(r, (uint64_t)i + 1);
        size_t t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
}

/* sample()'s choice of algorithm: the pool when n <= setsize, where
 *     setsize = 21 + (4 ** ceil(log(k * 3, 4)) if k > 5 else 0).
 * Python computes the exponent in floating point; 3k is never a power of 4 (4**c % 3 == 1),
 * so the exact exponent is the smallest c with 4**c > 3k. The two agree while the double
 * log(3k)/log(4) is further from an integer than its rounding error: with CPython 3.11 on
 * glibc the first k where they differ is 375299968947542 (just below 4**25 / 3), and
 * scripts/gen-rand-vectors.py checks every boundary below it with the running Python. Such
 * a k needs a 3 PB output array, so the integer form (no libm) is exact in practice. */
static bool sample_uses_pool(size_t n, size_t k)
{
    uint64_t setsize = 21;
    if (k > 5) {
        uint64_t three_k = (uint64_t)k * 3, pow4 = 1;
        int c = 0;
        while (c < 32 && pow4 <= three_k) {
            pow4 *= 4;
            c++;
        }
        if (c == 32) /* 4**32 > any size_t n */
            return true;
        setsize += pow4;
    }
    return (uint64_t)n <= setsize;
}

/* A set of size_t for sample()'s "selected": open addressing, membership only, so its
 * layout cannot change the result. */
typedef struct {
    size_t *slots; /* value + 1; 0 = empty */
    size_t mask;
} idxset_t;

static bool idxset_add_new(idxset_t *s, size_t v)
{
    /* Fibonacci hashing spreads consecutive indices over the table. */
    uint64_t x = (uint64_t)v * 0x9E3779B97F4A7C15ULL;
    size_t h = (size_t)(x ^ (x >> 32)) & s->mask;
    while (s->slots[h]) {
        if (s->slots[h] == v + 1)
            return false;
        h = (h + 1) & s->mask;
    }
    s->slots[h] = v + 1;
    return true;
}

/* Random.sample(range(n), k) of Lib/random.py (no counts). */
bool sub_pyrandom_sample(sub_pyrandom_t *r, size_t n, size_t k, size_t *out)
{
    if (k > n || k > SIZE_MAX / 4)
        return false;
    if (sample_uses_pool(n, k)) {
        /* pool = list(population); result[i] = pool[j]; pool[j] = pool[n - i - 1] */
        size_t *pool = malloc((n ? n : 1) * sizeof *pool);
        if (!pool)
            return false;
        for (size_t i = 0; i < n; i++)
            pool[i] = i;
        for (size_t i = 0; i < k; i++) {
            size_t j = (size_t)sub_pyrandom_randbelow(r, (uint64_t)(n - i));
            out[i] = pool[j];
            pool[j] = pool[n - i - 1];
        }
        free(pool);
        return true;
    }
    /* j = randbelow(n) until j not in selected; selected.add(j) */
    idxset_t s;
    size_t cap = 16;
    while (cap < 2 * k)
        cap *= 2;
    s.slots = calloc(cap, sizeof *s.slots);
    if (!s.slots)
        return false;
    s.mask = cap - 1;
    for (size_t i = 0; i < k; i++) {
        size_t j = (size_t)sub_pyrandom_randbelow(r, n);
        while (!idxset_add_new(&s, j))
            j = (size_t)sub_pyrandom_randbelow(r, n);
        out[i] = j;
    }
    free(s.slots);
    return true;
}

/* ---- FiftyOne ------------------------------------------------------------------------ */

/* fiftyone/core/odm/sample.py _generate_rand(): _random.seed(filepath);
 * return _random.random() * 0.001 + 0.999. random() right after seeding reads the first two
 * outputs, and genrand_uint32()'s twist makes output t from the seeded words t, t+1 and
 * t+M only: two words are twisted instead of 624. */
double sub_fiftyone_rand_bytes(const void *path, size_t len)
{
    sub_pyrandom_t r;
    sub_pyrandom_seed_bytes(&r, path, len);
    uint32_t a = temper(twist(r.mt[0], r.mt[1], r.mt[M]));
    uint32_t b = temper(twist(r.mt[1], r.mt[2], r.mt[M + 1]));
    /* Exactly Python's expression: a product rounded, then a sum rounded (no FMA). */
    return res53(a, b) * 0.001 + 0.999;
}

double sub_fiftyone_rand(const char *filepath)
{
    return sub_fiftyone_rand_bytes(filepath, strlen(filepath));
}

/* fiftyone/core/stages.py Take: _get_rng(seed).randint(int(1e7), int(1e10)). */
int64_t sub_fiftyone_take_multiplier(int64_t seed)
{
    sub_pyrandom_t r;
    sub_pyrandom_seed_int(&r, seed);
    return sub_pyrandom_randint(&r, 10000000, 10000000000);
}

int64_t sub_fiftyone_take_multiplier_str(const char *seed)
{
    sub_pyrandom_t r;
    sub_pyrandom_seed_str(&r, seed);
    return sub_pyrandom_randint(&r, 10000000, 10000000000);
}
