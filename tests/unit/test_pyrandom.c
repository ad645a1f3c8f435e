/* test_pyrandom.c - CPython's random.Random, bit for bit: known values, and every vector
 * that scripts/gen-rand-vectors.py wrote with the Python of the build machine (the file
 * named by SUB_TEST_RAND_VECTORS; the "vectors" case fails when it is missing). */
#include <errno.h>

#include "check.h"
#include "subsetter/pyrandom.h"

static uint64_t dbl_bits(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}

/* Values printed by Python 3.11 with %.17g (../shared/reference/fiftyone-storage.md 3.2). */
static void test_known_rand(void)
{
    CHECK_DBL_EQ(
        sub_fiftyone_rand("/home/user/fiftyone/open-images-v7/train/data/0001eeaf4aed83f9.jpg"),
        0.99929461424885346);
    CHECK_DBL_EQ(sub_fiftyone_rand("/tmp/\xc3\xa4/\xc3\x9f.jpg"), 0.99985238375450725);
    CHECK_DBL_EQ(sub_fiftyone_rand("x"), 0.99963078771766389);
    CHECK_EQ(dbl_bits(sub_fiftyone_rand("x")), dbl_bits(0.99963078771766389));
    /* r * 0.001 + 0.999 fused into one FMA gives 0x1.ffac245ee0063p-1 for this path (Python
     * rounds twice): this fails when the build lets the compiler contract. */
    CHECK_DBL_EQ(sub_fiftyone_rand("/fma/3007.jpg"), 0x1.ffac245ee0062p-1);
}

static void test_known_take(void)
{
    CHECK_EQ(sub_fiftyone_take_multiplier(0), 7931731533);
    CHECK_EQ(sub_fiftyone_take_multiplier(1), 9177024629);
    CHECK_EQ(sub_fiftyone_take_multiplier(2), 252886303);
    CHECK_EQ(sub_fiftyone_take_multiplier(3), 9621984893);
    CHECK_EQ(sub_fiftyone_take_multiplier(42), 2756317213);
}

/* sub_fiftyone_rand twists two words instead of 624: it must equal the general path. */
static void test_rand_fast_path(void)
{
    char path[3000];
    for (size_t len = 0; len < sizeof path; len += 37) {
        for (size_t i = 0; i < len; i++)
            path[i] = (char)('a' + (i * 7 + len) % 26);
        sub_pyrandom_t r;
        sub_pyrandom_seed_bytes(&r, path, len);
        double want = sub_pyrandom_random(&r) * 0.001 + 0.999;
        CHECK_EQ(dbl_bits(sub_fiftyone_rand_bytes(path, len)), dbl_bits(want));
    }
}

static void test_seed_forms(void)
{
    sub_pyrandom_t a, b;
    /* Random(-7) == Random(7); Random(-2**63) == Random(2**63). */
    sub_pyrandom_seed_int(&a, -7);
    sub_pyrandom_seed_int(&b, 7);
    CHECK(memcmp(&a, &b, sizeof a) == 0);
    sub_pyrandom_seed_int(&a, INT64_MIN);
    sub_pyrandom_seed_uint(&b, UINT64_C(1) << 63);
    CHECK(memcmp(&a, &b, sizeof a) == 0);
    /* Random(str) == Random(its UTF-8 bytes). */
    sub_pyrandom_seed_str(&a, "caf\xc3\xa9");
    sub_pyrandom_seed_bytes(&b, "caf\xc3\xa9", 5);
    CHECK(memcmp(&a, &b, sizeof a) == 0);
    CHECK_EQ(sub_fiftyone_take_multiplier_str("caf\xc3\xa9"),
             sub_pyrandom_randint(&b, 10000000, 10000000000));
}

/* getrandbits(0) and the shuffle of 0 or 1 element draw nothing, as in Python. */
static void test_no_draws(void)
{
    sub_pyrandom_t a, b;
    sub_pyrandom_seed_int(&a, 5);
    sub_pyrandom_seed_int(&b, 5);
    CHECK_EQ(sub_pyrandom_getrandbits(&a, 0), 0);
    size_t one = 0;
    sub_pyrandom_shuffle_indices(&a, &one, 1);
    sub_pyrandom_shuffle_indices(&a, NULL, 0);
    CHECK(sub_pyrandom_sample(&a, 10, 0, NULL));
    CHECK(!sub_pyrandom_sample(&a, 3, 4, &one));
    CHECK_EQ(sub_pyrandom_uint32(&a), sub_pyrandom_uint32(&b));
}

/* ---- The vector file ------------------------------------------------------------------ */

static size_t lineno;

#define VFAIL(...)                                          \
    do {                                                    \
        fprintf(stderr, "rand vectors line %zu: ", lineno); \
        fprintf(stderr, __VA_ARGS__);                       \
        fprintf(stderr, "\n");                              \
        abort();                                            \
    } while (0)

/* Splits line (modified) at tabs into at most max fields; returns the count. */
static size_t split_tabs(char *line, char **fields, size_t max)
{
    size_t n = 0;
    char *p = line;
    while (n < max) {
        fields[n++] = p;
        char *tab = strchr(p, '\t');
        if (!tab)
            break;
        *tab = '\0';
        p = tab + 1;
    }
    return n;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Decodes hex into a new buffer (caller frees), NUL-terminated; *len = its length. */
static char *unhex(const char *hex, size_t *len)
{
    size_t n = strlen(hex);
    if (n % 2)
        VFAIL("odd hex length");
    char *out = malloc(n / 2 + 1);
    CHECK(out != NULL);
    for (size_t i = 0; i < n / 2; i++) {
        int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            VFAIL("bad hex");
        out[i] = (char)(hi << 4 | lo);
    }
    out[n / 2] = '\0';
    *len = n / 2;
    return out;
}

static int64_t parse_i64(const char *s, const char **end)
{
    char *e;
    errno = 0;
    long long v = strtoll(s, &e, 10);
    if (e == s || errno)
        VFAIL("bad integer '%.30s'", s);
    *end = e;
    return v;
}

static uint64_t parse_u64(const char *s, const char **end)
{
    char *e;
    errno = 0;
    if (*s == '-')
        VFAIL("negative unsigned '%.30s'", s);
    unsigned long long v = strtoull(s, &e, 10);
    if (e == s || errno)
        VFAIL("bad unsigned '%.30s'", s);
    *end = e;
    return v;
}

static int64_t field_i64(const char *s)
{
    const char *e;
    int64_t v = parse_i64(s, &e);
    if (*e)
        VFAIL("trailing text after integer '%.30s'", s);
    return v;
}

static uint64_t field_u64(const char *s)
{
    const char *e;
    uint64_t v = parse_u64(s, &e);
    if (*e)
        VFAIL("trailing text after integer '%.30s'", s);
    return v;
}

/* Reads the next item of a comma-separated list at *p; false at its end. */
static bool next_item(const char **p)
{
    if (**p == '\0')
        return false;
    if (**p == ',')
        (*p)++;
    return true;
}

/* A float.hex() value: strtod reads C99 hex floats exactly. */
static double parse_hexfloat(const char **p)
{
    char *e;
    double d = strtod(*p, &e);
    if (e == *p || (*e && *e != ','))
        VFAIL("bad float '%.30s'", *p);
    *p = e;
    return d;
}

/* A SEED field: "int:<decimal>" or "str:<hex utf-8>". */
static void seed_from_field(sub_pyrandom_t *r, const char *f)
{
    if (strncmp(f, "int:", 4) == 0) {
        if (f[4] == '-')
            sub_pyrandom_seed_int(r, field_i64(f + 4));
        else
            sub_pyrandom_seed_uint(r, field_u64(f + 4));
    } else if (strncmp(f, "str:", 4) == 0) {
        size_t len;
        char *s = unhex(f + 4, &len);
        sub_pyrandom_seed_bytes(r, s, len);
        free(s);
    } else {
        VFAIL("bad seed field '%.30s'", f);
    }
}

static void check_u64(uint64_t got, uint64_t want, const char *what, size_t item)
{
    if (got != want)
        VFAIL("%s item %zu: got %" PRIu64 ", Python %" PRIu64, what, item, got, want);
}

static void check_i64(int64_t got, int64_t want, const char *what, size_t item)
{
    if (got != want)
        VFAIL("%s item %zu: got %" PRId64 ", Python %" PRId64, what, item, got, want);
}

static void check_dbl(double got, double want, const char *what, size_t item)
{
    if (dbl_bits(got) != dbl_bits(want))
        VFAIL("%s item %zu: got %a, Python %a", what, item, got, want);
}

/* Checks one line of the vector file (modified in place) and counts it. */
static void check_line(char *line, size_t *n_checked)
{
    char *f[6];
    size_t nf = split_tabs(line, f, 6);
    const char *tag = f[0], *p;
    sub_pyrandom_t r;
    size_t item = 0;

#define NEED(n)                                             \
    do {                                                    \
        if (nf != (n))                                      \
            VFAIL("%s: %zu fields, want %d", tag, nf, (n)); \
    } while (0)

    if (strcmp(tag, "rand") == 0) {
        NEED(3);
        size_t len;
        char *path = unhex(f[1], &len);
        p = f[2];
        double want = parse_hexfloat(&p);
        check_dbl(sub_fiftyone_rand_bytes(path, len), want, "rand", 0);
        if (strlen(path) == len) /* no NUL inside: the C-string entry point too */
            check_dbl(sub_fiftyone_rand(path), want, "rand (str)", 0);
        free(path);
    } else if (strcmp(tag, "uint32") == 0) {
        NEED(3);
        seed_from_field(&r, f[1]);
        for (p = f[2]; next_item(&p); item++)
            check_u64(sub_pyrandom_uint32(&r), parse_u64(p, &p), "uint32", item);
    } else if (strcmp(tag, "random") == 0) {
        NEED(3);
        seed_from_field(&r, f[1]);
        for (p = f[2]; next_item(&p); item++)
            check_dbl(sub_pyrandom_random(&r), parse_hexfloat(&p), "random", item);
    } else if (strcmp(tag, "getrandbits") == 0) {
        NEED(3);
        seed_from_field(&r, f[1]);
        for (p = f[2]; next_item(&p); item++)
            check_u64(sub_pyrandom_getrandbits(&r, (int)item + 1), parse_u64(p, &p), "getrandbits",
                      item);
        if (item != 64)
            VFAIL("getrandbits: %zu values, want 64", item);
    } else if (strcmp(tag, "randbelow") == 0) {
        NEED(4);
        seed_from_field(&r, f[1]);
        uint64_t n = field_u64(f[2]);
        for (p = f[3]; next_item(&p); item++)
            check_u64(sub_pyrandom_randbelow(&r, n), parse_u64(p, &p), "randbelow", item);
    } else if (strcmp(tag, "randint") == 0 || strcmp(tag, "randrange") == 0) {
        NEED(5);
        bool is_int = tag[4] == 'i';
        seed_from_field(&r, f[1]);
        int64_t a = field_i64(f[2]), b = field_i64(f[3]);
        for (p = f[4]; next_item(&p); item++) {
            int64_t got =
                is_int ? sub_pyrandom_randint(&r, a, b) : sub_pyrandom_randrange(&r, a, b);
            check_i64(got, parse_i64(p, &p), tag, item);
        }
    } else if (strcmp(tag, "shuffle") == 0) {
        NEED(4);
        seed_from_field(&r, f[1]);
        size_t n = (size_t)field_u64(f[2]);
        size_t *idx = malloc((n ? n : 1) * sizeof *idx);
        CHECK(idx != NULL);
        for (size_t i = 0; i < n; i++)
            idx[i] = i;
        sub_pyrandom_shuffle_indices(&r, idx, n);
        for (p = f[3]; next_item(&p); item++) {
            if (item >= n)
                VFAIL("shuffle: more than %zu values", n);
            check_u64(idx[item], parse_u64(p, &p), "shuffle", item);
        }
        if (item != n)
            VFAIL("shuffle: %zu values, want %zu", item, n);
        free(idx);
    } else if (strcmp(tag, "sample") == 0) {
        NEED(5);
        seed_from_field(&r, f[1]);
        size_t n = (size_t)field_u64(f[2]), k = (size_t)field_u64(f[3]);
        size_t *out = malloc((k ? k : 1) * sizeof *out);
        CHECK(out != NULL);
        CHECK(sub_pyrandom_sample(&r, n, k, out));
        for (p = f[4]; next_item(&p); item++) {
            if (item >= k)
                VFAIL("sample: more than %zu values", k);
            check_u64(out[item], parse_u64(p, &p), "sample", item);
        }
        if (item != k)
            VFAIL("sample: %zu values, want %zu", item, k);
        free(out);
    } else if (strcmp(tag, "take") == 0) {
        NEED(3);
        int64_t want = field_i64(f[2]);
        if (strncmp(f[1], "int:", 4) == 0) {
            check_i64(sub_fiftyone_take_multiplier(field_i64(f[1] + 4)), want, "take", 0);
        } else {
            size_t len;
            char *s = unhex(f[1] + 4, &len);
            check_i64(sub_fiftyone_take_multiplier_str(s), want, "take", 0);
            free(s);
        }
    } else {
        VFAIL("unknown tag '%.30s'", tag);
    }
#undef NEED
    (*n_checked)++;
}

static void test_vectors(void)
{
    const char *file = getenv("SUB_TEST_RAND_VECTORS");
    if (!file || !*file) {
        fprintf(stderr, "SUB_TEST_RAND_VECTORS is not set: run "
                        "python3 scripts/gen-rand-vectors.py FILE and point it there\n");
        abort();
    }
    FILE *in = fopen(file, "r");
    if (!in) {
        perror(file);
        abort();
    }
    char *line = NULL;
    size_t cap = 0, checked = 0, n_rand = 0;
    bool ended = false;
    ssize_t got;
    lineno = 0;
    while ((got = getline(&line, &cap, in)) != -1) {
        lineno++;
        if (got > 0 && line[got - 1] == '\n')
            line[--got] = '\0';
        if (ended)
            VFAIL("text after the end line");
        if (strncmp(line, "end\t", 4) == 0) {
            if (field_u64(line + 4) != checked)
                VFAIL("end line counts %s lines, %zu were read", line + 4, checked);
            ended = true;
            continue;
        }
        if (strncmp(line, "rand\t", 5) == 0)
            n_rand++;
        check_line(line, &checked);
    }
    free(line);
    fclose(in);
    if (!ended)
        VFAIL("no end line: the file is truncated");
    /* The generator writes several hundred paths and a few hundred generator vectors. */
    CHECK_GT(n_rand, 300);
    CHECK_GT(checked - n_rand, 300);
    fprintf(stderr, "%zu vectors checked (%zu _rand paths)\n", checked, n_rand);
}

static const sub_test_t tests[] = {
    {"known_rand", test_known_rand},
    {"known_take", test_known_take},
    {"rand_fast_path", test_rand_fast_path},
    {"seed_forms", test_seed_forms},
    {"no_draws", test_no_draws},
    {"vectors", test_vectors},
    {NULL, NULL},
};

int main(int argc, char **argv)
{
    return sub_test_main(argc, argv, tests);
}
