/* splits_main.c - splits_cli: sub_splits_assign() on labels read from stdin, for
 * tests/integration/test_splits.py (not installed).
 *
 *   splits_cli --splits TRAIN,VAL,TEST --seed N < labels
 *
 * stdin holds one class label per line, the items in order; classes are numbered in order
 * of first appearance, and the labels name them in errors. Prints "train", "val" or
 * "test" per item, one a line. On failure prints "splits_cli: [CODE] message" on stderr
 * and exits 1 (2 for a usage error of the driver itself).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "subsetter/splits.h"
#include "subsetter/strutil.h"

typedef struct {
    char **names; /* distinct labels, by class index */
    size_t nclasses;
    size_t *cls; /* class of each item */
    size_t n;
} labels_t;

/* Class index of a label, adding it when new. A linear search: the tests use a few hundred
 * classes at most. */
static size_t class_of(labels_t *l, const char *label)
{
    for (size_t c = 0; c < l->nclasses; c++)
        if (strcmp(l->names[c], label) == 0)
            return c;
    l->names = sub_xrealloc(l->names, (l->nclasses + 1) * sizeof *l->names);
    l->names[l->nclasses] = sub_xstrdup(label);
    return l->nclasses++;
}

static void read_labels(FILE *f, labels_t *l)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, f)) >= 0) {
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        l->cls = sub_xrealloc(l->cls, (l->n + 1) * sizeof *l->cls);
        l->cls[l->n++] = class_of(l, line);
    }
    free(line);
}

static void free_labels(labels_t *l)
{
    for (size_t c = 0; c < l->nclasses; c++)
        free(l->names[c]);
    free(l->names);
    free(l->cls);
}

static int usage(void)
{
    fprintf(stderr, "usage: splits_cli --splits TRAIN,VAL,TEST --seed N < labels\n");
    return 2;
}

int main(int argc, char **argv)
{
    static const char *const split_names[] = {"train", "val", "test"};
    const char *spec = NULL, *seed_arg = NULL;
    int64_t seed;

    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--splits") == 0)
            spec = argv[i + 1];
        else if (strcmp(argv[i], "--seed") == 0)
            seed_arg = argv[i + 1];
    }
    if (argc != 5 || !spec || !seed_arg || !sub_parse_int64(seed_arg, INT64_MIN, INT64_MAX, &seed))
        return usage();

    labels_t l = {0};
    sub_split_fractions_t f;
    sub_error_t err = {0};
    read_labels(stdin, &l);
    sub_split_t *out = sub_xmalloc(l.n * sizeof *out);
    bool ok = sub_splits_parse(spec, &f, &err) &&
              sub_splits_assign(l.cls, l.n, l.nclasses, (const char *const *)l.names, &f, seed, out,
                                &err);
    if (ok)
        for (size_t i = 0; i < l.n; i++)
            puts(split_names[out[i]]);
    else
        fprintf(stderr, "splits_cli: [%s] %s\n", sub_code_name(err.code), err.msg);
    free(out);
    free_labels(&l);
    return ok ? 0 : 1;
}
