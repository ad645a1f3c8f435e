/* test_u64set.c - the set of seen ImageIDs: duplicates, growth, and the edge keys. */
#include "check.h"
#include "subsetter/u64set.h"

/* A fixed pseudo-random sequence (splitmix64), so failures reproduce. */
static uint64_t next_rand(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void test_add_duplicate(void)
{
    sub_u64set_t s = {0};
    CHECK(sub_u64set_add(&s, 42));
    CHECK(!sub_u64set_add(&s, 42));
    CHECK(sub_u64set_add(&s, 43));
    CHECK(sub_u64set_add(&s, 0x0001eeaf4aed83f9ull));
    CHECK(!sub_u64set_add(&s, 0x0001eeaf4aed83f9ull));
    CHECK(!sub_u64set_add(&s, 43));
    CHECK(!sub_u64set_add(&s, 42));
    CHECK_EQ(s.len, 3);
    sub_u64set_release(&s);
    CHECK(s.slots == NULL);
    CHECK_EQ(s.len, 0);
    CHECK_EQ(s.cap, 0);
    /* A released set is empty and usable again. */
    CHECK(sub_u64set_add(&s, 42));
    CHECK(!sub_u64set_add(&s, 42));
    CHECK_EQ(s.len, 1);
    sub_u64set_release(&s);
}

static void test_growth(void)
{
    enum { N = 100000 };
    sub_u64set_t s = {0};
    uint64_t st = 1;
    /* Sequential keys and random keys interleaved: many resizes (1024 -> 512 Ki slots). */
    for (uint64_t i = 0; i < N; i++) {
        uint64_t key = (i % 2) ? next_rand(&st) : i;
        if (!sub_u64set_add(&s, key)) {
            fprintf(stderr, "key %" PRIu64 " (#%" PRIu64 ") reported as a duplicate\n", key, i);
            abort();
        }
    }
    CHECK_EQ(s.len, N);
    CHECK_GT(s.cap, 2 * (size_t)N - 1); /* load factor at most 1/2 */
    CHECK_EQ(s.cap & (s.cap - 1), 0);   /* a power of two */
    /* Every key survived the rehashes. */
    st = 1;
    for (uint64_t i = 0; i < N; i++) {
        uint64_t key = (i % 2) ? next_rand(&st) : i;
        if (sub_u64set_add(&s, key)) {
            fprintf(stderr, "key %" PRIu64 " (#%" PRIu64 ") was lost\n", key, i);
            abort();
        }
    }
    CHECK_EQ(s.len, N);
    /* Keys never added are still new. */
    CHECK(sub_u64set_add(&s, (uint64_t)N * 2 + 1));
    CHECK(sub_u64set_add(&s, (uint64_t)N * 2 + 3));
    CHECK_EQ(s.len, N + 2);
    sub_u64set_release(&s);
}

static void test_edge_keys(void)
{
    sub_u64set_t s = {0};
    /* 0 is stored as 1 (0 marks an empty slot); UINT64_MAX is kept outside the table. */
    CHECK(sub_u64set_add(&s, 0));
    CHECK(!sub_u64set_add(&s, 0));
    CHECK(sub_u64set_add(&s, 1));
    CHECK(!sub_u64set_add(&s, 1));
    CHECK(sub_u64set_add(&s, UINT64_MAX));
    CHECK(!sub_u64set_add(&s, UINT64_MAX));
    CHECK(sub_u64set_add(&s, UINT64_MAX - 1));
    CHECK(!sub_u64set_add(&s, UINT64_MAX - 1));
    CHECK(!sub_u64set_add(&s, UINT64_MAX));
    CHECK(!sub_u64set_add(&s, 0));
    CHECK(s.has_max);
    CHECK_EQ(s.len, 3); /* 0, 1, UINT64_MAX - 1 */
    sub_u64set_release(&s);
    CHECK(!s.has_max);
    CHECK(sub_u64set_add(&s, UINT64_MAX)); /* forgotten by release */

    /* UINT64_MAX first, on an empty set: nothing allocated, and 0 still new. */
    sub_u64set_release(&s);
    CHECK(sub_u64set_add(&s, UINT64_MAX));
    CHECK(sub_u64set_add(&s, 0));
    CHECK(!sub_u64set_add(&s, 0));
    CHECK(!sub_u64set_add(&s, UINT64_MAX));
    sub_u64set_release(&s);
}

static const sub_test_t tests[] = {
    {"add_duplicate", test_add_duplicate},
    {"growth", test_growth},
    {"edge_keys", test_edge_keys},
    {NULL, NULL},
};

int main(int argc, char **argv)
{
    return sub_test_main(argc, argv, tests);
}
