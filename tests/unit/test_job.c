/* test_job.c - job files: what a valid one holds, ${VAR} expansion, and every kind of
 * error naming file:line:column. */
#include <stdlib.h>

#include "check.h"
#include "subsetter/job.h"
#include "subsetter/strutil.h"

static const char *load(const char *text, sub_job_t *job, sub_error_t *err, bool *ok)
{
    static char *path;
    free(path);
    char *dir = sub_test_tmpdir();
    path = sub_test_write_file(dir, "job.yaml", text);
    free(dir);
    *ok = sub_job_load(path, job, err);
    return path;
}

static void test_full_job(void)
{
    sub_job_t j;
    sub_error_t err = {0};
    bool ok;
    load("source:\n  kind: openimages\n  url: /data/oi\n  splits: [train, test]\n"
         "label: single\n"
         "subset:\n  name: s100\n  num_classes: 100\n  samples_per_class: 345\n  seed: 42\n"
         "  classes: [\"Cat\", \"Kitchen, dining\"]\n  allow_augment: yes\n"
         "fetch:\n  concurrency: 16\n  fallback: original\n  backfill: false\n"
         "export:\n  dir: out\n  formats: [npz, imagefolder]\n  splits: [0.7, 0.1, 0.2]\n"
         "  seed: 7\n"
         "stats:\n  resize: 128\n  mode: fast\n",
         &j, &err, &ok);
    CHECK_OK(ok, &err);
    CHECK_STR_EQ(j.source_url, "/data/oi");
    CHECK_STR_EQ(j.source_splits, "train,test");
    CHECK_STR_EQ(j.source_dataset, "open-images-v7-full");
    CHECK_STR_EQ(j.name, "s100");
    CHECK_EQ(j.num_classes, 100);
    CHECK_EQ(j.samples_per_class, 345);
    CHECK_EQ(j.seed, 42);
    CHECK_EQ(j.nclasses, 2);
    CHECK_STR_EQ(j.classes[1], "Kitchen, dining");
    CHECK(j.allow_augment && j.fetch && !j.backfill);
    CHECK_EQ(j.concurrency, 16);
    CHECK_EQ(j.nformats, 2);
    CHECK_STR_EQ(j.formats[0], "npz");
    CHECK_STR_EQ(j.export_splits, "0.7,0.1,0.2");
    CHECK(j.has_split_seed);
    CHECK_EQ(j.split_seed, 7);
    CHECK(j.stats && j.stats_fast);
    CHECK_EQ(j.resize, 128);
    CHECK_STR_EQ(j.stats_file, "out/stats.json");
    sub_job_release(&j);
}

static void test_defaults(void)
{
    sub_job_t j;
    sub_error_t err = {0};
    bool ok;
    load("subset:\n  name: x\n  num_classes: 3\n  seed: 1\n", &j, &err, &ok);
    CHECK_OK(ok, &err);
    CHECK(j.fetch && j.backfill && !j.stats && !j.export_dir);
    CHECK(j.source_url == NULL && j.source_splits == NULL);
    CHECK_EQ(j.samples_per_class, 0);
    sub_job_release(&j);
}

static void test_environment(void)
{
    sub_job_t j;
    sub_error_t err = {0};
    bool ok;
    setenv("SUB_TEST_JOB_DIR", "/mnt/x", 1);
    unsetenv("SUB_TEST_JOB_UNSET");
    load("subset:\n  name: ${SUB_TEST_JOB_DIR}-$$1\n  num_classes: 3\n  seed: 1\n"
         "export:\n  dir: ${SUB_TEST_JOB_UNSET:-exports}/${SUB_TEST_JOB_DIR:-no}\n",
         &j, &err, &ok);
    CHECK_OK(ok, &err);
    CHECK_STR_EQ(j.name, "/mnt/x-$1");
    CHECK_STR_EQ(j.export_dir, "exports//mnt/x");
    sub_job_release(&j);
    const char *path = load(
        "subset:\n  name: x\n  num_classes: 3\n  seed: 1\nfetch:\n  base_url: a${SUB_TEST_JOB_UNSET}\n",
        &j, &err, &ok);
    CHECK_FAILS(ok, &err, SUB_E_CONFIG);
    char *where = sub_xasprintf("%s:6:13:", path);
    CHECK_CONTAINS(err.msg, where);
    CHECK_CONTAINS(err.msg, "SUB_TEST_JOB_UNSET");
    free(where);
    sub_job_release(&j);
}

/* Each bad file fails with SUB_E_CONFIG at the given line:column with the given words. */
static void check_bad(const char *text, const char *at, const char *words)
{
    sub_job_t j;
    sub_error_t err = {0};
    bool ok;
    const char *path = load(text, &j, &err, &ok);
    CHECK_FAILS(ok, &err, SUB_E_CONFIG);
    if (at) {
        char *where = sub_xasprintf("%s:%s:", path, at);
        CHECK_CONTAINS(err.msg, where);
        free(where);
    }
    CHECK_CONTAINS(err.msg, words);
    sub_job_release(&j);
}

static void test_errors(void)
{
    const char *subset = "subset:\n  name: x\n  num_classes: 3\n  seed: 1\n";
    check_bad("- a\n- b\n", NULL, "mapping");
    check_bad("colour: red\n", "1:1", "unknown key 'colour'");
    check_bad("subset:\n  name: x\n  num_classes: many\n  seed: 1\n", "3:16", "integer");
    check_bad("subset:\n  name: x\n  num_classes: 0\n  seed: 1\n", "3:16", "num_classes");
    check_bad("subset:\n  num_classes: 3\n  seed: 1\n", "2:3", "subset.name: required");
    check_bad("subset:\n  name: x\n  num_classes: 3\n", "2:3", "subset.seed");
    check_bad("subset: [1]\n", "1:9", "mapping");
    check_bad("label: multi\n", "1:8", "single");
    char *t = sub_xasprintf("%sfetch:\n  fallback: flickr\n", subset);
    check_bad(t, "6:13", "original, none");
    free(t);
    t = sub_xasprintf("%sexport:\n  dir: o\n  formats: [npz, npz]\n", subset);
    check_bad(t, "7:12", "twice");
    free(t);
    t = sub_xasprintf("%sexport:\n  dir: o\n  splits: [0.5, 0.5]\n", subset);
    check_bad(t, "7:11", "[train, val, test]");
    free(t);
    t = sub_xasprintf("%sexport:\n  dir: o\n  splits: [0.5, 0.5, 0.5]\n", subset);
    check_bad(t, "7:11", "sum");
    free(t);
    t = sub_xasprintf("%sexport:\n  formats: [npz]\n", subset);
    check_bad(t, "6:3", "export.dir: required");
    free(t);
    t = sub_xasprintf("%sstats:\n  resize: 224\n", subset);
    check_bad(t, "6:3", "stats.file");
    free(t);
    t = sub_xasprintf("subset:\n  name: x\n  num_classes: 3\n  classes: [a]\n  classes_file: f\n");
    check_bad(t, "5:17", "not both");
    free(t);
}

static const sub_test_t tests[] = {
    {"full_job", test_full_job},
    {"defaults", test_defaults},
    {"environment", test_environment},
    {"errors", test_errors},
    {NULL, NULL},
};

int main(int argc, char **argv)
{
    return sub_test_main(argc, argv, tests);
}
