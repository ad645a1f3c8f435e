/* test_labelsort.c - label rows grouped by image, whatever the input order: the sorted
 * fast path, the on-disk merge of many runs, sequential and random lookups, cleanup. */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "subsetter/labelsort.h"

/* splitmix64: a fixed pseudo-random sequence, so failures reproduce. */
static uint64_t next_rand(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static sub_label_rec_t rec(uint64_t image, uint32_t row)
{
    sub_label_rec_t r;
    memset(&r, 0, sizeof r);
    r.image = image;
    r.row = row;
    /* Payload derived from the row, so a record moved with the wrong payload shows. */
    r.confidence = (double)row / 1024.0;
    r.cls = (uint16_t)(row * 7u + 3u);
    r.source = (uint8_t)(row % 5u);
    return r;
}

static int rec_cmp(const void *a, const void *b)
{
    const sub_label_rec_t *x = a, *y = b;
    if (x->image != y->image)
        return x->image < y->image ? -1 : 1;
    return x->row < y->row ? -1 : x->row > y->row;
}

static void check_rec_eq(const sub_label_rec_t *got, const sub_label_rec_t *want, uint64_t image,
                         size_t k)
{
    if (got->image != want->image || got->row != want->row || got->confidence != want->confidence ||
        got->cls != want->cls || got->source != want->source) {
        fprintf(stderr,
                "image %016" PRIx64 " record %zu: got {image %016" PRIx64 ", row %" PRIu32
                ", conf %.17g, cls %u, source %u}, want {image %016" PRIx64 ", row %" PRIu32
                ", conf %.17g, cls %u, source %u}\n",
                image, k, got->image, got->row, got->confidence, (unsigned)got->cls,
                (unsigned)got->source, want->image, want->row, want->confidence,
                (unsigned)want->cls, (unsigned)want->source);
        abort();
    }
}

/* The records of `image` in the sorted array `want` (n of them). */
static const sub_label_rec_t *expected_group(const sub_label_rec_t *want, size_t n, uint64_t image,
                                             size_t *count)
{
    size_t i = 0;
    while (i < n && want[i].image < image)
        i++;
    size_t j = i;
    while (j < n && want[j].image == image)
        j++;
    *count = j - i;
    return want + i;
}

/* find(image) returns exactly the records of `image` in `want`, in row order. */
static void check_find(sub_labelsort_t *s, const sub_label_rec_t *want, size_t n, uint64_t image)
{
    const sub_label_rec_t *got = NULL;
    size_t got_n = 12345, want_n;
    const sub_label_rec_t *exp = expected_group(want, n, image, &want_n);
    sub_labelsort_find(s, image, &got, &got_n);
    if (got_n != want_n) {
        fprintf(stderr, "find(%016" PRIx64 "): %zu records, want %zu\n", image, got_n, want_n);
        abort();
    }
    for (size_t k = 0; k < want_n; k++)
        check_rec_eq(&got[k], &exp[k], image, k);
}

static size_t count_files(const char *dir)
{
    DIR *d = opendir(dir);
    size_t n = 0;
    struct dirent *e;
    CHECK(d != NULL);
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}

static void remove_files(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[4096];
    CHECK(d != NULL);
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        CHECK(unlink(path) == 0);
    }
    closedir(d);
}

static char *spill_dir(char **base)
{
    *base = sub_test_tmpdir();
    size_t n = strlen(*base) + 32;
    char *dir = malloc(n);
    CHECK(dir != NULL);
    snprintf(dir, n, "%s/work/labels", *base); /* not there yet: created by _new */
    return dir;
}

static void cleanup(char *base, char *dir)
{
    rmdir(dir);
    size_t n = strlen(base) + 8;
    char *work = malloc(n);
    CHECK(work != NULL);
    snprintf(work, n, "%s/work", base);
    rmdir(work);
    rmdir(base);
    free(work);
    free(dir);
    free(base);
}

/* Distinct ids, sorted, from `want` (sorted); returns how many. */
static size_t distinct_images(const sub_label_rec_t *want, size_t n, uint64_t *ids)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (k == 0 || ids[k - 1] != want[i].image)
            ids[k++] = want[i].image;
    return k;
}

static void shuffle(uint64_t *a, size_t n, uint64_t seed)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)(next_rand(&seed) % i);
        uint64_t t = a[i - 1];
        a[i - 1] = a[j];
        a[j] = t;
    }
}

/* Sorted input: no merge, each image's records in row order, misses are empty. */
static void test_sorted_input(void)
{
    static const uint64_t images[] = {0,
                                      3,
                                      3,
                                      5,
                                      9,
                                      9,
                                      9,
                                      12,
                                      12,
                                      0x0001eeaf4aed83f9ull,
                                      0x0001eeaf4aed83f9ull,
                                      0x0001eeaf4aed83faull,
                                      UINT64_MAX - 1,
                                      UINT64_MAX,
                                      UINT64_MAX,
                                      UINT64_MAX};
    enum { N = sizeof images / sizeof *images };
    char *base, *dir = spill_dir(&base);
    sub_error_t err;
    sub_labelsort_t *s;
    sub_label_rec_t want[N];
    CHECK_OK(sub_labelsort_new(dir, 7, &s, &err), &err); /* 16 records: 3 runs */
    for (size_t i = 0; i < N; i++) {
        want[i] = rec(images[i], (uint32_t)(10 + 3 * i));
        CHECK_OK(sub_labelsort_add(s, &want[i], &err), &err);
    }
    CHECK_OK(sub_labelsort_finish(s, &err), &err);
    CHECK(sub_labelsort_was_sorted(s));
    CHECK_EQ(sub_labelsort_count(s), N);
    CHECK_EQ(sub_labelsort_matched(s), 0);

    /* Sequential, with misses in between (and before the first, after the last). */
    static const uint64_t queries[] = {0,
                                       1,
                                       3,
                                       4,
                                       5,
                                       9,
                                       10,
                                       12,
                                       13,
                                       0x0001eeaf4aed83f9ull,
                                       0x0001eeaf4aed83faull,
                                       0x0001eeaf4aed83fbull,
                                       UINT64_MAX - 1,
                                       UINT64_MAX};
    for (size_t q = 0; q < sizeof queries / sizeof *queries; q++)
        check_find(s, want, N, queries[q]);
    CHECK_EQ(sub_labelsort_matched(s), N);

    /* Spot checks with literal values: image 9 has rows 22, 25, 28 in that order. */
    const sub_label_rec_t *first;
    size_t n;
    sub_labelsort_find(s, 9, &first, &n); /* a step back: the random path */
    CHECK_EQ(n, 3);
    CHECK_EQ(first[0].row, 22);
    CHECK_EQ(first[1].row, 25);
    CHECK_EQ(first[2].row, 28);
    CHECK_DBL_EQ(first[2].confidence, 28.0 / 1024.0);
    CHECK_EQ(first[2].cls, 199);
    CHECK_EQ(first[2].source, 3);
    sub_labelsort_find(s, 2, &first, &n);
    CHECK_EQ(n, 0);

    CHECK_GT(count_files(dir), 0);
    sub_labelsort_free(s);
    CHECK_EQ(count_files(dir), 0);
    cleanup(base, dir);
}

/* Random records (ids from a small set, rows increasing) against a qsort of the same data:
 * sequential finds, then random-order finds on the same structure. */
static void run_unsorted(size_t n_recs, size_t buffer, size_t n_ids, uint64_t seed)
{
    char *base, *dir = spill_dir(&base);
    sub_error_t err;
    sub_labelsort_t *s;
    uint64_t *pool = malloc(n_ids * sizeof *pool);
    sub_label_rec_t *want = malloc(n_recs * sizeof *want);
    uint64_t *ids = malloc(n_recs * sizeof *ids);
    CHECK(pool && want && ids);
    pool[0] = 0; /* the edge ids are in the pool */
    pool[1] = UINT64_MAX;
    for (size_t i = 2; i < n_ids; i++)
        pool[i] = next_rand(&seed) | 1; /* odd: id + 1 is never in the pool */
    CHECK_OK(sub_labelsort_new(dir, buffer, &s, &err), &err);
    for (size_t i = 0; i < n_recs; i++) {
        want[i] = rec(pool[next_rand(&seed) % n_ids], (uint32_t)(i + 1));
        CHECK_OK(sub_labelsort_add(s, &want[i], &err), &err);
    }
    CHECK_OK(sub_labelsort_finish(s, &err), &err);
    CHECK(!sub_labelsort_was_sorted(s));
    CHECK_EQ(sub_labelsort_count(s), n_recs);
    qsort(want, n_recs, sizeof *want, rec_cmp);
    size_t k = distinct_images(want, n_recs, ids);

    /* Sequential: every image, with a miss (id + 1, or 2 after 0) after each. */
    for (size_t i = 0; i < k; i++) {
        check_find(s, want, n_recs, ids[i]);
        if (ids[i] != UINT64_MAX)
            check_find(s, want, n_recs, ids[i] + (ids[i] == 0 ? 2 : 1));
    }
    CHECK_EQ(sub_labelsort_matched(s), n_recs);

    /* Random order, misses mixed in. */
    shuffle(ids, k, seed);
    for (size_t i = 0; i < k; i++) {
        check_find(s, want, n_recs, ids[i]);
        if (ids[i] != UINT64_MAX && i % 3 == 0)
            check_find(s, want, n_recs, ids[i] + (ids[i] == 0 ? 2 : 1));
    }

    CHECK_GT(count_files(dir), 0);
    sub_labelsort_free(s);
    CHECK_EQ(count_files(dir), 0);
    cleanup(base, dir);
    free(pool);
    free(want);
    free(ids);
}

/* buffer_records 7: 500 records make 72 runs, far more runs than buffer slots. */
static void test_merge_many_runs(void)
{
    run_unsorted(500, 7, 23, 7);
}

/* Fewer runs than buffer slots (1000 records, buffer 64: 16 runs). */
static void test_merge_few_runs(void)
{
    run_unsorted(1000, 64, 40, 11);
}

/* One run: sorted in memory, was_sorted still false. */
static void test_unsorted_one_run(void)
{
    run_unsorted(50, 0, 9, 13);
}

/* Random-order finds from the start (sorted input, no merge): a step back to an earlier
 * image, then forward to one between it and the furthest image seen, must still find it. */
static void test_random_finds(void)
{
    enum { N = 60 };
    char *base, *dir = spill_dir(&base);
    sub_error_t err;
    sub_labelsort_t *s;
    sub_label_rec_t want[N];
    CHECK_OK(sub_labelsort_new(dir, 0, &s, &err), &err);
    for (size_t i = 0; i < N; i++) { /* images 10, 20, ..., 200, three rows each */
        want[i] = rec(10 * (i / 3 + 1), (uint32_t)i);
        CHECK_OK(sub_labelsort_add(s, &want[i], &err), &err);
    }
    CHECK_OK(sub_labelsort_finish(s, &err), &err);
    CHECK(sub_labelsort_was_sorted(s));

    const sub_label_rec_t *first;
    size_t n;
    sub_labelsort_find(s, 150, &first, &n);
    CHECK_EQ(n, 3);
    CHECK_EQ(first[0].row, 42);
    sub_labelsort_find(s, 50, &first, &n); /* back */
    CHECK_EQ(n, 3);
    CHECK_EQ(first[0].row, 12);
    sub_labelsort_find(s, 60, &first, &n); /* forward again, still before 150 */
    CHECK_EQ(n, 3);
    CHECK_EQ(first[0].row, 15);
    sub_labelsort_find(s, 160, &first, &n);
    CHECK_EQ(n, 3);
    CHECK_EQ(first[0].row, 45);

    /* Then every image in a shuffled order, with misses. */
    uint64_t ids[N / 3];
    for (size_t i = 0; i < N / 3; i++)
        ids[i] = 10 * (i + 1);
    shuffle(ids, N / 3, 99);
    for (size_t i = 0; i < N / 3; i++) {
        check_find(s, want, N, ids[i]);
        check_find(s, want, N, ids[i] - 5);
    }
    sub_labelsort_free(s);
    CHECK_EQ(count_files(dir), 0);
    cleanup(base, dir);
}

/* matched counts the records handed out; misses add nothing. Non-decreasing ids only,
 * so this case does not depend on the random-access path. */
static void test_matched(void)
{
    enum { N = 40 };
    char *base, *dir = spill_dir(&base);
    sub_error_t err;
    sub_labelsort_t *s;
    CHECK_OK(sub_labelsort_new(dir, 16, &s, &err), &err);
    for (uint32_t i = 0; i < N; i++) { /* images 1..8, five rows each, unsorted: 3 runs */
        sub_label_rec_t r = rec((uint64_t)(i * 3 % 8) + 1, i);
        CHECK_OK(sub_labelsort_add(s, &r, &err), &err);
    }
    CHECK_OK(sub_labelsort_finish(s, &err), &err);
    CHECK(!sub_labelsort_was_sorted(s));
    const sub_label_rec_t *first;
    size_t n;
    CHECK_EQ(sub_labelsort_matched(s), 0);
    sub_labelsort_find(s, 0, &first, &n);
    CHECK_EQ(n, 0);
    CHECK_EQ(sub_labelsort_matched(s), 0);
    sub_labelsort_find(s, 1, &first, &n);
    CHECK_EQ(n, 5);
    CHECK_EQ(first[0].row, 0); /* image 1: i = 0, 8, 16, 24, 32 */
    CHECK_EQ(first[4].row, 32);
    CHECK_EQ(sub_labelsort_matched(s), 5);
    sub_labelsort_find(s, 3, &first, &n); /* skips image 2 */
    CHECK_EQ(n, 5);
    CHECK_EQ(first[0].row, 6); /* image 3: i * 3 % 8 == 2 at i = 6 */
    CHECK_EQ(sub_labelsort_matched(s), 10);
    sub_labelsort_find(s, 8, &first, &n);
    CHECK_EQ(n, 5);
    CHECK_EQ(first[0].row, 5); /* image 8: i * 3 % 8 == 7 at i = 5 */
    CHECK_EQ(first[4].row, 37);
    CHECK_EQ(sub_labelsort_matched(s), 15);
    sub_labelsort_find(s, 100, &first, &n);
    CHECK_EQ(n, 0);
    CHECK_EQ(sub_labelsort_matched(s), 15);
    CHECK_EQ(sub_labelsort_count(s), N);
    sub_labelsort_free(s);
    CHECK_EQ(count_files(dir), 0);
    cleanup(base, dir);
}

static void test_empty_input(void)
{
    char *base, *dir = spill_dir(&base);
    sub_error_t err;
    sub_labelsort_t *s;
    CHECK_OK(sub_labelsort_new(dir, 7, &s, &err), &err);
    CHECK_OK(sub_labelsort_finish(s, &err), &err);
    CHECK(sub_labelsort_was_sorted(s));
    CHECK_EQ(sub_labelsort_count(s), 0);
    const sub_label_rec_t *first = (const sub_label_rec_t *)1;
    size_t n = 99;
    sub_labelsort_find(s, 0, &first, &n);
    CHECK_EQ(n, 0);
    sub_labelsort_find(s, 0x0001eeaf4aed83f9ull, &first, &n);
    CHECK_EQ(n, 0);
    sub_labelsort_find(s, UINT64_MAX, &first, &n);
    CHECK_EQ(n, 0);
    CHECK_EQ(sub_labelsort_matched(s), 0);
    sub_labelsort_free(s);
    CHECK_EQ(count_files(dir), 0);
    cleanup(base, dir);

    sub_labelsort_free(NULL);
}

/* The spill directory cannot be created: an I/O error, nothing returned. */
static void test_bad_dir(void)
{
    char *base = sub_test_tmpdir();
    char *file = sub_test_write_file(base, "plain", "x");
    size_t n = strlen(file) + 16;
    char *dir = malloc(n);
    CHECK(dir != NULL);
    snprintf(dir, n, "%s/sub", file); /* under a regular file */
    sub_error_t err;
    sub_labelsort_t *s = (sub_labelsort_t *)1;
    CHECK_FAILS(sub_labelsort_new(dir, 7, &s, &err), &err, SUB_E_IO);
    CHECK(s == NULL);
    unlink(file);
    rmdir(base);
    free(dir);
    free(file);
    free(base);
}

/* 2.5 M records with a 1 Mi-record buffer: 3 runs merged, and sequential finds cross the
 * page-release step; random finds afterwards still read the released pages correctly. */
static void test_large(void)
{
    enum { PAIRS = 625000 }; /* images 0 .. 2 * PAIRS - 1, two rows each */
    const size_t total = (size_t)PAIRS * 4;
    char *base, *dir = spill_dir(&base);
    sub_error_t err;
    sub_labelsort_t *s;
    CHECK_OK(sub_labelsort_new(dir, 1u << 20, &s, &err), &err);
    uint32_t row = 0;
    /* Order: image 2p+1, 2p, 2p+1, 2p - a small disorder in every pair of images. */
    for (uint64_t p = 0; p < PAIRS; p++) {
        uint64_t order[4] = {2 * p + 1, 2 * p, 2 * p + 1, 2 * p};
        for (int j = 0; j < 4; j++) {
            sub_label_rec_t r = rec(order[j] * 16, row++);
            CHECK_OK(sub_labelsort_add(s, &r, &err), &err);
        }
    }
    CHECK_OK(sub_labelsort_finish(s, &err), &err);
    CHECK(!sub_labelsort_was_sorted(s));
    CHECK_EQ(sub_labelsort_count(s), total);
    /* 60 MB on disk: unlink it now (the mapping stays valid), so that a failing check
     * below does not leave it in TMPDIR. The other cases check the cleanup itself. */
    CHECK_GT(count_files(dir), 0);
    remove_files(dir);
    const sub_label_rec_t *first;
    size_t n;
    for (uint64_t img = 0; img < 2 * PAIRS; img++) {
        uint64_t p = img / 2;
        uint32_t r0 = (uint32_t)(4 * p + (img % 2 ? 0 : 1)); /* rows of this image */
        sub_labelsort_find(s, img * 16, &first, &n);
        if (n != 2 || first[0].row != r0 || first[1].row != r0 + 2 || first[0].image != img * 16 ||
            first[1].confidence != (double)(r0 + 2) / 1024.0) {
            fprintf(stderr,
                    "image %" PRIu64 ": n %zu rows %" PRIu32 ",%" PRIu32 " want %" PRIu32
                    ",%" PRIu32 "\n",
                    img, n, n ? first[0].row : 0, n > 1 ? first[1].row : 0, r0, r0 + 2);
            abort();
        }
        sub_labelsort_find(s, img * 16 + 1, &first, &n);
        CHECK_EQ(n, 0);
    }
    CHECK_EQ(sub_labelsort_matched(s), total);
    uint64_t seed = 5;
    for (int q = 0; q < 2000; q++) {
        uint64_t img = next_rand(&seed) % (2 * PAIRS);
        uint32_t r0 = (uint32_t)(4 * (img / 2) + (img % 2 ? 0 : 1));
        sub_labelsort_find(s, img * 16, &first, &n);
        CHECK_EQ(n, 2);
        CHECK_EQ(first[0].row, r0);
        CHECK_EQ(first[1].row, r0 + 2);
    }
    sub_labelsort_free(s);
    CHECK_EQ(count_files(dir), 0);
    cleanup(base, dir);
}

static const sub_test_t tests[] = {
    {"sorted_input", test_sorted_input},
    {"merge_many_runs", test_merge_many_runs},
    {"merge_few_runs", test_merge_few_runs},
    {"unsorted_one_run", test_unsorted_one_run},
    {"random_finds", test_random_finds},
    {"matched", test_matched},
    {"empty_input", test_empty_input},
    {"bad_dir", test_bad_dir},
    {"large", test_large},
    {NULL, NULL},
};

int main(int argc, char **argv)
{
    return sub_test_main(argc, argv, tests);
}
