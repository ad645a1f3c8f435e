/* test_splits.c - --splits parsing, split sizes as scikit-learn 1.9.1 gives them (values
 * printed by train_test_split), membership as splits.h's Python restatement gives it, and
 * the errors of a class too small. tests/integration/test_splits.py runs sklearn itself. */
#include "check.h"
#include "subsetter/splits.h"

static const sub_split_fractions_t F_721 = {0.7, 0.1, 0.2};

static void test_parse_accepts(void)
{
    sub_error_t err = {0};
    sub_split_fractions_t f;
    CHECK_OK(sub_splits_parse("0.7,0.1,0.2", &f, &err), &err);
    CHECK_DBL_EQ(f.train, 0.7);
    CHECK_DBL_EQ(f.val, 0.1);
    CHECK_DBL_EQ(f.test, 0.2);
    CHECK_OK(sub_splits_parse(".5,.25,.25", &f, &err), &err);
    CHECK_DBL_EQ(f.val, 0.25);
    CHECK_OK(sub_splits_parse("5e-1,2.5E-1,0.25", &f, &err), &err);
    CHECK_DBL_EQ(f.train, 0.5);
    /* Within 1e-9 of 1 is close enough. */
    CHECK_OK(sub_splits_parse("0.7,0.1,0.2000000005", &f, &err), &err);
    CHECK_DBL_EQ(f.test, 0.2000000005);
}

static void test_parse_rejects(void)
{
    static const char *const bad[] = {
        "",
        "0.7",
        "0.7,0.1",
        "0.7,0.1,0.2,0",
        "0.7,0.1,0.2,",
        "0.7,,0.3",
        ",0.7,0.3",
        "0.7,0.1,0.2x",
        "0.7, 0.1,0.2",
        " 0.7,0.1,0.2",
        "0.7,0.1,0.2 ",
        "+0.7,0.1,0.2",
        "-0.1,0.6,0.5",
        "nan,0.5,0.5",
        "0.5,nan,0.5",
        "inf,0.5,0.5",
        "0x0.8p0,0.25,0.25",
        "1,0,0",
        "0.5,0.5,0",
        "1.0,0.0,0.0",
        "0.7,0.1,0.3",
        "0.7,0.1,0.1",
        "0.7,0.1,0.200000002",
        "1e-400,0.5,0.5",
        "0.7;0.1;0.2",
        "a,b,c",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        sub_error_t err = {0};
        sub_split_fractions_t f;
        CHECK_FAILS(sub_splits_parse(bad[i], &f, &err), &err, SUB_E_USAGE);
        CHECK_CONTAINS(err.msg, "--splits");
    }
}

/* Counts per class and split of an assignment. */
static void tally(const size_t *cls, size_t n, const sub_split_t *out, size_t (*per)[3])
{
    for (size_t i = 0; i < n; i++)
        per[cls[i]][out[i]]++;
}

/* n items of k classes, class i % k: interleaved, first appearance in index order. */
static size_t *interleaved(size_t n, size_t k)
{
    size_t *cls = malloc(n * sizeof *cls);
    for (size_t i = 0; i < n; i++)
        cls[i] = i % k;
    return cls;
}

/* 3 classes x 100, 0.7/0.1/0.2: sklearn gives 209/31/60, not 210/30/60, for the
 * reference's test_size 0.1 / (0.7 + 0.1), which is 0.12500000000000003 in double: ceil(240 x
 * that) is 31. Test is 20 a class; the val counts 11/10/10 in some order (a tie sklearn
 * breaks at random). */
static void test_sizes_balanced(void)
{
    size_t *cls = interleaved(300, 3), per[3][3] = {{0}};
    sub_split_t out[300];
    sub_error_t err = {0};
    CHECK_OK(sub_splits_assign(cls, 300, 3, NULL, &F_721, 42, out, &err), &err);
    tally(cls, 300, out, per);
    size_t val = 0, train = 0;
    for (size_t c = 0; c < 3; c++) {
        CHECK_EQ(per[c][SUB_SPLIT_TEST], 20);
        CHECK(per[c][SUB_SPLIT_VAL] == 10 || per[c][SUB_SPLIT_VAL] == 11);
        CHECK_EQ(per[c][SUB_SPLIT_VAL] + per[c][SUB_SPLIT_TRAIN], 80);
        val += per[c][SUB_SPLIT_VAL];
        train += per[c][SUB_SPLIT_TRAIN];
    }
    CHECK_EQ(val, 31);
    CHECK_EQ(train, 209);
    free(cls);
}

/* Classes of 50/30/20 (no ties): sklearn 1.9.1 gives train 34/21/14, val 6/3/2, test
 * 10/6/4 whatever its random_state (test_size 0.2, then 0.1 / (0.7 + 0.1)). */
static void test_sizes_unbalanced(void)
{
    size_t cls[100], per[3][3] = {{0}};
    for (size_t i = 0; i < 100; i++)
        cls[i] = i % 10 < 5 ? 0 : i % 10 < 8 ? 1 : 2;
    sub_split_t out[100];
    sub_error_t err = {0};
    CHECK_OK(sub_splits_assign(cls, 100, 3, NULL, &F_721, 7, out, &err), &err);
    tally(cls, 100, out, per);
    static const size_t want[3][3] = {{34, 6, 10}, {21, 3, 6}, {14, 2, 4}};
    for (size_t c = 0; c < 3; c++)
        for (size_t s = 0; s < 3; s++)
            CHECK_EQ(per[c][s], want[c][s]);
}

/* A class of 2 cannot be in three splits: the error names it and says what it needs. */
static void test_small_class_fails(void)
{
    size_t cls[202];
    for (size_t i = 0; i < 200; i++)
        cls[i] = i % 2;
    cls[200] = cls[201] = 2;
    static const char *const names[] = {"cat", "dog", "rare"};
    sub_split_t out[202];
    sub_error_t err = {0};
    CHECK_FAILS(sub_splits_assign(cls, 202, 3, names, &F_721, 1, out, &err), &err,
                SUB_E_INFEASIBLE);
    CHECK_CONTAINS(err.msg, "class 'rare' has 2 items but needs ");
    CHECK_CONTAINS(err.msg, "of 202 items split 140/21/41 train/val/test, it would get 1/0/1");
}

/* A class with no items, named by its index when there are no names. */
static void test_empty_class_fails(void)
{
    size_t *cls = interleaved(60, 2);
    sub_split_t out[60];
    sub_error_t err = {0};
    CHECK_FAILS(sub_splits_assign(cls, 60, 3, NULL, &F_721, 1, out, &err), &err, SUB_E_INFEASIBLE);
    CHECK_CONTAINS(err.msg, "class 2 has 0 items but needs ");
    free(cls);
}

static void test_bad_class_index(void)
{
    size_t cls[3] = {0, 1, 5};
    sub_split_t out[3];
    sub_error_t err = {0};
    CHECK_FAILS(sub_splits_assign(cls, 3, 2, NULL, &F_721, 1, out, &err), &err, SUB_E_INTERNAL);
}

static void test_nothing(void)
{
    sub_error_t err = {0};
    CHECK_OK(sub_splits_assign(NULL, 0, 0, NULL, &F_721, 1, NULL, &err), &err);
}

static void test_deterministic(void)
{
    size_t *cls = interleaved(300, 3);
    sub_split_t a[300], b[300];
    sub_error_t err = {0};
    CHECK_OK(sub_splits_assign(cls, 300, 3, NULL, &F_721, 1, a, &err), &err);
    CHECK_OK(sub_splits_assign(cls, 300, 3, NULL, &F_721, 1, b, &err), &err);
    CHECK(memcmp(a, b, sizeof a) == 0);
    CHECK_OK(sub_splits_assign(cls, 300, 3, NULL, &F_721, 2, b, &err), &err);
    CHECK(memcmp(a, b, sizeof a) != 0);
    /* Random(-1) is Random(1), as in Python. */
    CHECK_OK(sub_splits_assign(cls, 300, 3, NULL, &F_721, -1, b, &err), &err);
    CHECK(memcmp(a, b, sizeof a) == 0);
    free(cls);
}

/* Classes of 20..100 items, many seeds and fractions: every class in every split, and the
 * totals the same whatever the seed. */
static void test_every_class_every_split(void)
{
    static const size_t sizes[] = {20, 25, 33, 40, 57, 100};
    static const sub_split_fractions_t fs[] = {{0.7, 0.1, 0.2}, {0.8, 0.1, 0.1}, {0.6, 0.2, 0.2}};
    size_t cls[275], n = 0;
    for (size_t c = 0; c < 6; c++)
        for (size_t j = 0; j < sizes[c]; j++)
            cls[n++] = c;
    for (size_t i = 0; i < n; i++) { /* mix them, deterministically */
        size_t j = (i * 7919) % n, t = cls[i];
        cls[i] = cls[j];
        cls[j] = t;
    }
    for (size_t fi = 0; fi < 3; fi++) {
        size_t first[3] = {0};
        for (int64_t seed = 0; seed < 50; seed++) {
            size_t per[6][3] = {{0}}, tot[3] = {0};
            sub_split_t out[275];
            sub_error_t err = {0};
            CHECK_OK(sub_splits_assign(cls, n, 6, NULL, &fs[fi], seed, out, &err), &err);
            tally(cls, n, out, per);
            for (size_t c = 0; c < 6; c++)
                for (size_t s = 0; s < 3; s++) {
                    CHECK_GT(per[c][s], 0);
                    tot[s] += per[c][s];
                }
            for (size_t s = 0; s < 3; s++) {
                if (seed == 0)
                    first[s] = tot[s];
                CHECK_EQ(tot[s], first[s]);
            }
        }
    }
}

/* Membership: what the reference_split() of tests/integration/test_splits.py (splits.h in
 * Python, random.Random only) printed for these items, seed 7, 0.6/0.2/0.2 (t train, v val, s
 * test). */
static void test_python_vector(void)
{
    static const char labels[] = "aabcbacabcabbcaacbcbabcacbaccbabcaab";
    static const char want[] = "ttvttttsssvttvtttsstvsttttvvttsvttst";
    size_t n = sizeof labels - 1, cls[sizeof labels];
    for (size_t i = 0; i < n; i++)
        cls[i] = (size_t)(labels[i] - 'a');
    sub_split_fractions_t f = {0.6, 0.2, 0.2};
    sub_split_t out[sizeof labels];
    sub_error_t err = {0};
    CHECK_OK(sub_splits_assign(cls, n, 3, NULL, &f, 7, out, &err), &err);
    for (size_t i = 0; i < n; i++)
        CHECK_EQ(out[i], want[i] == 't'   ? SUB_SPLIT_TRAIN
                         : want[i] == 'v' ? SUB_SPLIT_VAL
                                          : SUB_SPLIT_TEST);
}

static const sub_test_t tests[] = {
    {"parse_accepts", test_parse_accepts},
    {"parse_rejects", test_parse_rejects},
    {"sizes_balanced", test_sizes_balanced},
    {"sizes_unbalanced", test_sizes_unbalanced},
    {"small_class_fails", test_small_class_fails},
    {"empty_class_fails", test_empty_class_fails},
    {"bad_class_index", test_bad_class_index},
    {"nothing", test_nothing},
    {"deterministic", test_deterministic},
    {"every_class_every_split", test_every_class_every_split},
    {"python_vector", test_python_vector},
    {NULL, NULL},
};

int main(int argc, char **argv)
{
    return sub_test_main(argc, argv, tests);
}
