/* splits.c - train/val/test sizes as scikit-learn's stratified train_test_split gives them,
 * members by CPython's random.shuffle (the contract is in splits.h). */
#include "subsetter/splits.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "subsetter/pyrandom.h"
#include "subsetter/strutil.h"

/* A fraction longer than this is not one anybody typed. */
#define MAX_FRACTION_LEN 64
/* The "needs" search of an error message gives up after this many counts. */
#define MAX_NEED_STEPS 2000

/* ---- --splits ----------------------------------------------------------------------- */

/* One fraction: a plain decimal number and nothing else. strtod alone would also take
 * leading blanks, a sign, "nan", "inf" and hex floats. */
static bool parse_fraction(const char *tok, size_t len, double *out)
{
    char buf[MAX_FRACTION_LEN + 1];
    if (len == 0 || len > MAX_FRACTION_LEN)
        return false;
    memcpy(buf, tok, len);
    buf[len] = '\0';
    if (strspn(buf, "0123456789.eE+-") != len || !(isdigit((unsigned char)buf[0]) || buf[0] == '.'))
        return false;
    char *end;
    errno = 0;
    *out = strtod(buf, &end);
    return end == buf + len && errno == 0 && isfinite(*out) && *out > 0 && *out < 1;
}

bool sub_splits_parse(const char *spec, sub_split_fractions_t *out, sub_error_t *err)
{
    double v[3];
    const char *p = spec;
    for (size_t k = 0; k < 3; k++) {
        size_t len = strcspn(p, ",");
        if (!parse_fraction(p, len, &v[k]) || p[len] != (k < 2 ? ',' : '\0'))
            return sub_error_set(err, SUB_E_USAGE, 0,
                                 "--splits %s: want train,val,test as three fractions in (0, 1), "
                                 "like 0.7,0.1,0.2",
                                 spec);
        p += len + 1;
    }
    double sum = v[0] + v[1] + v[2];
    if (fabs(sum - 1.0) > 1e-9)
        return sub_error_set(err, SUB_E_USAGE, 0, "--splits %s: the fractions sum to %.17g, not 1",
                             spec, sum);
    *out = (sub_split_fractions_t){.train = v[0], .val = v[1], .test = v[2]};
    return true;
}

/* ---- sizes -------------------------------------------------------------------------- */

/* The totals of the two train_test_split calls. */
typedef struct {
    int64_t test, rest; /* first call: test off the whole; rest = train + val */
    int64_t val, train; /* second call: val off the rest */
} totals_t;

/* _validate_shuffle_split for a float test_size: n_test = ceil(test_size * n_samples),
 * the product in double as Python takes it, and the train part is the rest. */
static int64_t ceil_part(double frac, int64_t n)
{
    double d = ceil(frac * (double)n);
    return d < 0 ? 0 : d > (double)n ? n : (int64_t)d;
}

static void split_totals(const sub_split_fractions_t *f, int64_t n, totals_t *t)
{
    t->test = ceil_part(f->test, n);
    t->rest = n - t->test;
    /* The reference's second call (open_images_v7_100/dataset.py): test_size =
     * val / (train + val), in double, as Python computes it. With 0.7/0.1/0.2 that is
     * 0.1 / 0.7999999999999999 = 0.12500000000000003, so 48 items give 7 to val, not 6:
     * reproduced on purpose, since the reference's splits are the ones to match. */
    t->val = ceil_part(f->val / (f->train + f->val), t->rest);
    t->train = t->rest - t->val;
}

/* How a group of classes with equal remainders is ordered when only its first ones get one
 * more: shuffled by the generator (the real run), or, for the "needs" search of an error
 * message, with the target class first (favor) or last. */
typedef struct {
    sub_pyrandom_t *rng;
    size_t target;
    bool favor;
} ties_t;

typedef struct {
    double rem;
    size_t rank;
} remainder_t;

/* Largest remainder first; equal ones in rank order, so a tied group starts in rank order. */
static int by_remainder(const void *a, const void *b)
{
    const remainder_t *x = a, *y = b;
    if (x->rem != y->rem)
        return x->rem > y->rem ? -1 : 1;
    return (x->rank > y->rank) - (x->rank < y->rank);
}

static void swap_rem(remainder_t *a, remainder_t *b)
{
    remainder_t t = *a;
    *a = *b;
    *b = t;
}

/* scikit-learn draws from a tied group with numpy's generator (rng.choice), which we do not
 * reproduce; Python's random.shuffle of the group's ranks is our documented stand-in. */
static void break_tie(remainder_t *g, size_t n, const ties_t *ties)
{
    if (!ties->rng) {
        for (size_t i = 0; i < n; i++)
            if (g[i].rank == ties->target) {
                swap_rem(&g[i], &g[ties->favor ? 0 : n - 1]);
                break;
            }
        return;
    }
    size_t *ranks = sub_xmalloc(n * sizeof *ranks);
    for (size_t i = 0; i < n; i++)
        ranks[i] = g[i].rank;
    sub_pyrandom_shuffle_indices(ties->rng, ranks, n);
    for (size_t i = 0; i < n; i++)
        g[i].rank = ranks[i];
    free(ranks);
}

/* sklearn.utils.extmath._approximate_mode(counts, draws): out[c] = floor(continuous[c]) with
 * continuous = counts / counts.sum() * draws in numpy's double arithmetic, then one more to
 * the classes with the largest remainders, a whole group of equal ones at a time, until the
 * draws are given out. rem is scratch for k entries. */
static void approximate_mode(const int64_t *counts, size_t k, int64_t draws, const ties_t *ties,
                             remainder_t *rem, int64_t *out)
{
    int64_t total = 0, floors = 0;
    for (size_t c = 0; c < k; c++)
        total += counts[c];
    for (size_t c = 0; c < k; c++) {
        double cont = total ? (double)counts[c] / (double)total * (double)draws : 0.0;
        double fl = floor(cont);
        out[c] = (int64_t)fl;
        floors += out[c];
        rem[c] = (remainder_t){cont - fl, c};
    }
    int64_t need = draws - floors;
    if (need <= 0)
        return;
    qsort(rem, k, sizeof *rem, by_remainder);
    for (size_t i = 0, g; i < k && need > 0; i = g) {
        for (g = i; g < k && rem[g].rem == rem[i].rem; g++)
            ;
        size_t add = (uint64_t)need < g - i ? (size_t)need : g - i;
        if (add < g - i)
            break_tie(rem + i, g - i, ties);
        for (size_t j = i; j < i + add; j++)
            out[rem[j].rank]++;
        need -= (int64_t)add;
    }
}

/* The working state of one assignment; every per-class array is indexed by rank. */
typedef struct {
    size_t n, k;           /* items, classes */
    size_t *cls_of;        /* rank -> class index */
    int64_t *count;        /* items of the class */
    size_t *start;         /* where its items begin in member */
    size_t *member;        /* item indices grouped by class, in item order, then shuffled */
    int64_t *rest, *train; /* train + val, and train, per class */
    remainder_t *rem;
} plan_t;

/* StratifiedShuffleSplit._iter_indices shares out each call's train part with
 * _approximate_mode, and its test part is the rest of each class (its own
 * _approximate_mode(class_counts - n_i, n_test) gives back exactly class_counts - n_i, as
 * they sum to n_test). So test_c = count_c - rest_c and val_c = rest_c - train_c. */
static void allocate(plan_t *p, const totals_t *t, const ties_t *first, const ties_t *second)
{
    approximate_mode(p->count, p->k, t->rest, first, p->rem, p->rest);
    approximate_mode(p->rest, p->k, t->train, second, p->rem, p->train);
}

static void class_sizes(const plan_t *p, size_t r, int64_t sz[3])
{
    sz[SUB_SPLIT_TRAIN] = p->train[r];
    sz[SUB_SPLIT_VAL] = p->rest[r] - p->train[r];
    sz[SUB_SPLIT_TEST] = p->count[r] - p->rest[r];
}

static bool in_every_split(const plan_t *p, size_t r)
{
    int64_t sz[3];
    class_sizes(p, r, sz);
    return sz[0] > 0 && sz[1] > 0 && sz[2] > 0;
}

/* ---- the error of a class too small ------------------------------------------------- */

/* The smallest count that would give class r an item in every split however the ties fall,
 * the other classes as they are (0 if none within MAX_NEED_STEPS): what its error says it
 * needs. Clobbers the allocation, which is not used after an error. */
static int64_t count_needed(plan_t *p, size_t r, const sub_split_fractions_t *f)
{
    int64_t have = p->count[r], found = 0;
    for (int64_t m = have + 1; m <= have + MAX_NEED_STEPS && !found; m++) {
        totals_t t;
        p->count[r] = m;
        split_totals(f, (int64_t)p->n - have + m, &t);
        bool ok = true;
        for (int way = 0; ok && way < 4; way++) {
            ties_t first = {NULL, r, way & 1}, second = {NULL, r, (way & 2) != 0};
            allocate(p, &t, &first, &second);
            ok = in_every_split(p, r);
        }
        found = ok ? m : 0;
    }
    p->count[r] = have;
    return found;
}

static bool too_small(plan_t *p, size_t r, const totals_t *t, const char *const *class_names,
                      const sub_split_fractions_t *f, sub_error_t *err)
{
    int64_t sz[3];
    class_sizes(p, r, sz);
    size_t c = p->cls_of[r];
    char *name = class_names && class_names[c] ? sub_xasprintf("'%s'", class_names[c])
                                               : sub_xasprintf("%zu", c);
    int64_t need = count_needed(p, r, f);
    char *needs =
        need ? sub_xasprintf("needs %lld", (long long)need)
             : sub_xasprintf("needs more than %lld", (long long)p->count[r] + MAX_NEED_STEPS);
    sub_error_set(err, SUB_E_INFEASIBLE, 0,
                  "class %s has %lld item%s but %s to get one in each of train, val and test "
                  "(of %zu items split %lld/%lld/%lld train/val/test, it would get "
                  "%lld/%lld/%lld)",
                  name, (long long)p->count[r], p->count[r] == 1 ? "" : "s", needs, p->n,
                  (long long)t->train, (long long)t->val, (long long)t->test, (long long)sz[0],
                  (long long)sz[1], (long long)sz[2]);
    free(name);
    free(needs);
    return false;
}

/* ---- membership --------------------------------------------------------------------- */

/* Ranks the classes by first appearance (those without items last, in index order). */
static bool rank_classes(plan_t *p, const size_t *cls, size_t nclasses, size_t *rank_of,
                         sub_error_t *err)
{
    for (size_t c = 0; c < nclasses; c++)
        rank_of[c] = SIZE_MAX;
    for (size_t i = 0; i < p->n; i++) {
        if (cls[i] >= nclasses)
            return sub_error_set(err, SUB_E_INTERNAL, 0, "splits: item %zu has class %zu of %zu", i,
                                 cls[i], nclasses);
        if (rank_of[cls[i]] == SIZE_MAX)
            p->cls_of[rank_of[cls[i]] = p->k++] = cls[i];
    }
    for (size_t c = 0; c < nclasses; c++)
        if (rank_of[c] == SIZE_MAX)
            p->cls_of[rank_of[c] = p->k++] = c;
    return true;
}

/* Groups the item indices by rank, each class's in item order. */
static void group_items(plan_t *p, const size_t *cls, const size_t *rank_of)
{
    for (size_t i = 0; i < p->n; i++)
        p->count[rank_of[cls[i]]]++;
    for (size_t r = 0, at = 0; r < p->k; at += (size_t)p->count[r++])
        p->start[r] = at;
    for (size_t i = 0; i < p->n; i++)
        p->member[p->start[rank_of[cls[i]]]++] = i;
    for (size_t r = 0; r < p->k; r++)
        p->start[r] -= (size_t)p->count[r];
}

static void plan_init(plan_t *p, size_t n, size_t nclasses)
{
    *p = (plan_t){.n = n};
    p->cls_of = sub_xmalloc(nclasses * sizeof *p->cls_of);
    p->count = sub_xmalloc(nclasses * sizeof *p->count);
    memset(p->count, 0, nclasses * sizeof *p->count);
    p->start = sub_xmalloc(nclasses * sizeof *p->start);
    p->member = sub_xmalloc(n * sizeof *p->member);
    p->rest = sub_xmalloc(nclasses * sizeof *p->rest);
    p->train = sub_xmalloc(nclasses * sizeof *p->train);
    p->rem = sub_xmalloc(nclasses * sizeof *p->rem);
}

static void plan_free(plan_t *p)
{
    free(p->cls_of);
    free(p->count);
    free(p->start);
    free(p->member);
    free(p->rest);
    free(p->train);
    free(p->rem);
}

/* In each class the first shuffled items go to test, the next to val, the rest to train. */
static sub_split_t split_of(int64_t j, const int64_t sz[3])
{
    if (j < sz[SUB_SPLIT_TEST])
        return SUB_SPLIT_TEST;
    return j < sz[SUB_SPLIT_TEST] + sz[SUB_SPLIT_VAL] ? SUB_SPLIT_VAL : SUB_SPLIT_TRAIN;
}

static void write_out(const plan_t *p, sub_split_t *out)
{
    for (size_t r = 0; r < p->k; r++) {
        int64_t sz[3];
        class_sizes(p, r, sz);
        for (int64_t j = 0; j < p->count[r]; j++)
            out[p->member[p->start[r] + (size_t)j]] = split_of(j, sz);
    }
}

bool sub_splits_assign(const size_t *cls, size_t n, size_t nclasses, const char *const *class_names,
                       const sub_split_fractions_t *f, int64_t seed, sub_split_t *out,
                       sub_error_t *err)
{
    size_t big = n > nclasses ? n : nclasses;
    if (big > SIZE_MAX / sizeof(remainder_t) || (uint64_t)n > (uint64_t)INT64_MAX)
        return sub_error_set(err, SUB_E_INTERNAL, 0, "splits: %zu items, %zu classes: too many", n,
                             nclasses);
    plan_t p;
    plan_init(&p, n, nclasses);
    size_t *rank_of = sub_xmalloc(nclasses * sizeof *rank_of);
    bool ok = rank_classes(&p, cls, nclasses, rank_of, err);
    if (ok)
        group_items(&p, cls, rank_of);
    free(rank_of);
    /* The draws, in order: each class's items shuffled (rank order), then the tie of the
     * first call, then that of the second. */
    sub_pyrandom_t rng;
    sub_pyrandom_seed_int(&rng, seed);
    for (size_t r = 0; r < p.k && ok; r++)
        sub_pyrandom_shuffle_indices(&rng, p.member + p.start[r], (size_t)p.count[r]);
    totals_t t;
    split_totals(f, (int64_t)n, &t);
    ties_t ties = {.rng = &rng};
    if (ok)
        allocate(&p, &t, &ties, &ties);
    for (size_t r = 0; r < p.k && ok; r++)
        if (!in_every_split(&p, r))
            ok = too_small(&p, r, &t, class_names, f, err);
    if (ok)
        write_out(&p, out);
    plan_free(&p);
    return ok;
}
