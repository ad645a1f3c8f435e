/* test_fo_dataset.c - FiftyOne's slugs, normalized paths, and field declarations compared
 * with what FiftyOne itself stored (tests/fiftyone/reference-dumps). */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "subsetter/bsonutil.h"
#include "subsetter/fo_dataset.h"

/* ---- slugs ---------------------------------------------------------------------------- */

static void check_slug(const char *name, const char *want)
{
    char *got = sub_fo_slug(name);
    if (want == NULL ? got != NULL : (got == NULL || strcmp(got, want) != 0)) {
        fprintf(stderr, "sub_fo_slug(\"%s\") = %s%s%s, want %s%s%s\n", name, got ? "\"" : "",
                got ? got : "NULL", got ? "\"" : "", want ? "\"" : "", want ? want : "NULL",
                want ? "\"" : "");
        abort();
    }
    free(got);
}

static void test_slug(void)
{
    /* The examples of FiftyOne's to_slug docstring. */
    check_slug("coco_2017", "coco-2017");
    check_slug("cat.DOG", "cat-dog");
    check_slug("Brian's #$&@ (Awesome?) Dataset!", "brians-awesome-dataset");
    check_slug("c+o+c+o 2-0-1-7", "c-o-c-o-2-0-1-7");
    check_slug("---name----", "name");
    check_slug("Brian's #$&@ [awesome?] dataset!", "brians-awesome-dataset");
    check_slug("sPaM     aNd  EgGs", "spam-and-eggs");
    check_slug("open-images-v7-full", "open-images-v7-full");
    check_slug("open-images-v7-validation-200", "open-images-v7-validation-200");
    check_slug("a+b", "a-b");
    check_slug("a \t\n\r\v\fb", "a-b"); /* whitespace, run collapsed */
    check_slug("a_-_.+b", "a-b");
    check_slug("  -Lead and trail-  ", "lead-and-trail");
    check_slug("ABC123xyz", "abc123xyz");
    check_slug("a/b\\c:d", "abcd"); /* dropped, not replaced */
    /* Non-ASCII letters are dropped (UTF-8 bytes, none is [A-Za-z0-9]). */
    check_slug("caf\xc3\xa9 \xc3\x9c"
               "ber",
               "caf-ber");
    check_slug("\xe6\x97\xa5\xe6\x9c\xac-data", "data");
    /* Empty results. */
    check_slug("---", NULL);
    check_slug("", NULL);
    check_slug("   ", NULL);
    check_slug("!?#", NULL);
    check_slug("\xc3\xa9\xc3\xa9", NULL);

    char name[128];
    memset(name, 'a', 100);
    name[100] = '\0';
    check_slug(name, name); /* 100 characters: the limit */
    memset(name, 'a', 101);
    name[101] = '\0';
    check_slug(name, NULL); /* 101 */
    memset(name, 'A', 101);
    check_slug(name, NULL);
}

/* FiftyOne's to_slug also refuses a NAME longer than 100 characters, whatever its slug
 * (fiftyone/core/utils.py; ../shared/reference/fiftyone-storage.md section 2.4: "The name
 * and the slug must both be 1-100 characters"). */
static void test_slug_long_name(void)
{
    char name[128];
    memset(name, 'a', 99);
    memcpy(name + 99, "!!", 3); /* 101 characters, slug "a" x 99 */
    check_slug(name, NULL);
    memset(name, 'a', 100);
    memcpy(name + 100, "-", 2); /* 101 characters, slug "a" x 100 */
    check_slug(name, NULL);
}

/* ---- paths ---------------------------------------------------------------------------- */

static void check_norm(const char *path, const char *want)
{
    char *got = sub_fo_normalize_path(path);
    if (!got || strcmp(got, want) != 0) {
        fprintf(stderr, "sub_fo_normalize_path(\"%s\") = \"%s\", want \"%s\"\n", path,
                got ? got : "(null)", want);
        abort();
    }
    free(got);
}

static void test_normalize_path(void)
{
    /* Values printed by Python's posixpath.normpath. */
    check_norm("/a//b/./c/../d/", "/a/b/d");
    check_norm("/home/user//fiftyone/./open-images-v7/../x/", "/home/user/fiftyone/x");
    check_norm("/", "/");
    check_norm("/..", "/");
    check_norm("/../..//a/..", "/");
    check_norm("/./", "/");
    check_norm("/a/b/../../..", "/");
    check_norm("//a", "//a"); /* exactly two leading slashes are kept */
    check_norm("//a//b/", "//a/b");
    check_norm("//", "//");
    check_norm("//..", "//");
    check_norm("///a", "/a");
    check_norm("////a/./b", "/a/b");
    check_norm("/a/...", "/a/...");
    check_norm("/a/.b/..c", "/a/.b/..c");

    setenv("HOME", "/home/u", 1);
    check_norm("~/x", "/home/u/x");
    check_norm("~", "/home/u");
    check_norm("~/fiftyone//a/../b/", "/home/u/fiftyone/b");
    setenv("HOME", "/home/u/", 1);
    check_norm("~/x", "/home/u/x");
    check_norm("/x/~/y", "/x/~/y"); /* ~ only at the start */

    /* Relative paths are joined to the working directory. */
    char *dir = sub_test_tmpdir();
    char real[PATH_MAX], want[PATH_MAX + 64];
    CHECK(chdir(dir) == 0);
    CHECK(realpath(dir, real) != NULL); /* getcwd() resolves symlinks, as os.getcwd() does */
    snprintf(want, sizeof want, "%s/y", real);
    check_norm("x/../y", want);
    check_norm("./y/", want);
    check_norm("y", want);
    check_norm(".//y/.", want);
    check_norm("", real);
    check_norm(".", real);
    snprintf(want, sizeof want, "%s/~x", real);
    check_norm("~x", want); /* not "~" or "~/": relative (no ~user lookup) */
    char *up = strrchr(real, '/');
    CHECK(up != NULL);
    *up = '\0';
    check_norm("..", *real ? real : "/");
    CHECK(chdir("/") == 0);
    check_norm("a/b", "/a/b");
    check_norm("..", "/");
    rmdir(dir);
    free(dir);
}

/* HOME is "/" (a daemon account) or empty: Python's expanduser strips the trailing "/" of
 * the home, so "~/x" is "/x" - never "//x", which normpath would keep. */
static void test_normalize_root_home(void)
{
    setenv("HOME", "/", 1);
    check_norm("~", "/");
    check_norm("~/x", "/x");
    check_norm("~/fiftyone/open-images-v7", "/fiftyone/open-images-v7");
    setenv("HOME", "", 1);
    check_norm("~/x", "/x");
}

/* ---- field declarations --------------------------------------------------------------- */

/* FiftyOne 1.11's own datasets document (relaxed extended JSON). */
static bson_t *load_dump(void)
{
    const char *src = getenv("SUB_TEST_SOURCE_DIR");
    if (!src || !*src) {
        fprintf(stderr, "SUB_TEST_SOURCE_DIR is not set (ctest sets it to the source tree)\n");
        abort();
    }
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/tests/fiftyone/reference-dumps/datasets-doc.oi_importer.json",
             src);
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        abort();
    }
    static char text[1 << 20];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    CHECK(n > 0 && n < sizeof text - 1);
    bson_error_t be;
    bson_t *doc = bson_new_from_json((const uint8_t *)text, (ssize_t)n, &be);
    if (!doc) {
        fprintf(stderr, "%s: %s\n", path, be.message);
        abort();
    }
    return doc;
}

/* The element of the dump's sample_fields whose name is `name`, borrowed from dump. */
static void dump_field(const bson_t *dump, const char *name, bson_t *out)
{
    bson_t fields, f;
    bson_iter_t it;
    CHECK(sub_bson_get_doc(dump, "sample_fields", &fields));
    CHECK(bson_iter_init(&it, &fields));
    while (bson_iter_next(&it)) {
        const char *n;
        /* A static bson_t points into itself: init *out in place, never copy one. */
        if (sub_bson_get_doc(&fields, bson_iter_key(&it), &f) &&
            (n = sub_bson_get_str(&f, "name")) && strcmp(n, name) == 0) {
            CHECK(sub_bson_get_doc(&fields, bson_iter_key(&it), out));
            return;
        }
    }
    fprintf(stderr, "no sample field %s in the dump\n", name);
    abort();
}

static bool fail_at(const char *path, const char *what, const bson_t *got, const bson_t *want)
{
    char *g = bson_as_relaxed_extended_json(got, NULL);
    char *w = bson_as_relaxed_extended_json(want, NULL);
    fprintf(stderr, "at %s: %s\n got: %s\nwant: %s\n", path, what, g, w);
    bson_free(g);
    bson_free(w);
    return false;
}

/* got and want have the same keys in the same order and the same values, recursively;
 * a "created_at" only needs the same type (date or null), and a date of ours must be ts. */
static bool compare(const bson_t *got, const bson_t *want, const char *path, int64_t ts)
{
    bson_iter_t g, w;
    char sub[512], msg[640];
    CHECK(bson_iter_init(&g, got));
    CHECK(bson_iter_init(&w, want));
    for (;;) {
        bool gn = bson_iter_next(&g), wn = bson_iter_next(&w);
        if (!gn || !wn) {
            if (gn != wn) {
                snprintf(msg, sizeof msg, "%s key %s", gn ? "extra" : "missing",
                         gn ? bson_iter_key(&g) : bson_iter_key(&w));
                return fail_at(path, msg, got, want);
            }
            return true;
        }
        const char *key = bson_iter_key(&w);
        snprintf(sub, sizeof sub, "%s.%s", path, key);
        if (strcmp(bson_iter_key(&g), key) != 0) {
            snprintf(msg, sizeof msg, "key %s where %s is expected", bson_iter_key(&g), key);
            return fail_at(path, msg, got, want);
        }
        bson_type_t gt = bson_iter_type(&g), wt = bson_iter_type(&w);
        if (gt != wt) {
            snprintf(msg, sizeof msg, "%s: type 0x%02x, want 0x%02x", key, (unsigned)gt,
                     (unsigned)wt);
            return fail_at(path, msg, got, want);
        }
        bool same = true;
        switch (wt) {
        case BSON_TYPE_DOCUMENT:
        case BSON_TYPE_ARRAY: {
            const uint8_t *gd, *wd;
            uint32_t gl, wl;
            bson_t gs, ws;
            if (wt == BSON_TYPE_DOCUMENT) {
                bson_iter_document(&g, &gl, &gd);
                bson_iter_document(&w, &wl, &wd);
            } else {
                bson_iter_array(&g, &gl, &gd);
                bson_iter_array(&w, &wl, &wd);
            }
            CHECK(bson_init_static(&gs, gd, gl));
            CHECK(bson_init_static(&ws, wd, wl));
            same = compare(&gs, &ws, sub, ts);
            if (!same)
                return false;
            break;
        }
        case BSON_TYPE_UTF8:
            same = strcmp(bson_iter_utf8(&g, NULL), bson_iter_utf8(&w, NULL)) == 0;
            break;
        case BSON_TYPE_BOOL:
            same = bson_iter_bool(&g) == bson_iter_bool(&w);
            break;
        case BSON_TYPE_NULL:
            break;
        case BSON_TYPE_INT32:
            same = bson_iter_int32(&g) == bson_iter_int32(&w);
            break;
        case BSON_TYPE_INT64:
            same = bson_iter_int64(&g) == bson_iter_int64(&w);
            break;
        case BSON_TYPE_DOUBLE:
            same = bson_iter_double(&g) == bson_iter_double(&w);
            break;
        case BSON_TYPE_OID:
            same = bson_oid_equal(bson_iter_oid(&g), bson_iter_oid(&w));
            break;
        case BSON_TYPE_DATE_TIME:
            if (strcmp(key, "created_at") == 0)
                same = bson_iter_date_time(&g) == ts; /* ours; FiftyOne's is its own time */
            else
                same = bson_iter_date_time(&g) == bson_iter_date_time(&w);
            break;
        default:
            snprintf(msg, sizeof msg, "%s: unexpected type 0x%02x in the dump", key, (unsigned)wt);
            return fail_at(path, msg, got, want);
        }
        if (!same) {
            snprintf(msg, sizeof msg, "%s: different value", key);
            return fail_at(path, msg, got, want);
        }
    }
}

#define TS 1795911118788 /* 2026-11-29T00:11:58.788Z */

/* Declares f with sub_fo_append_field and compares it with the dump's field `dump_name`. */
static void check_field(const bson_t *dump, const sub_fo_field_t *f, const char *dump_name)
{
    bson_t arr = BSON_INITIALIZER, got, want;
    bson_iter_t it;
    sub_fo_append_field(&arr, "0", f, TS);
    CHECK(bson_iter_init(&it, &arr));
    CHECK(bson_iter_next(&it));
    CHECK_STR_EQ(bson_iter_key(&it), "0");
    CHECK(BSON_ITER_HOLDS_DOCUMENT(&it));
    CHECK(!bson_iter_next(&it)); /* exactly one element appended */
    CHECK(sub_bson_get_doc(&arr, "0", &got));
    dump_field(dump, dump_name, &want);
    char path[128];
    snprintf(path, sizeof path, "sample_fields[%s]", dump_name);
    CHECK(compare(&got, &want, path, TS));
    bson_destroy(&arr);
}

static void test_append_field(void)
{
    bson_t *dump = load_dump();
    static const sub_fo_field_t fields[] = {
        {"positive_labels", SUB_FO_CLASSIFICATIONS, false, NULL},
        {"negative_labels", SUB_FO_CLASSIFICATIONS, false, NULL},
        {"metadata", SUB_FO_IMAGE_METADATA, false, NULL},
        {"tags", SUB_FO_STRING_LIST, false, NULL},
        {"filepath", SUB_FO_STRING, false, NULL},
        {"_media_type", SUB_FO_STRING, false, NULL},
        {"id", SUB_FO_OBJECTID, false, NULL},
        {"_dataset_id", SUB_FO_OBJECTID, false, NULL},
        {"created_at", SUB_FO_DATETIME, true, NULL},
        {"last_modified_at", SUB_FO_DATETIME, true, NULL},
        {"_rand", SUB_FO_FLOAT, false, NULL},
    };
    for (size_t i = 0; i < sizeof fields / sizeof *fields; i++)
        check_field(dump, &fields[i], fields[i].name);
    bson_destroy(dump);
}

/* The compare itself catches differences (so the test above is not vacuous). */
static void test_append_field_detects(void)
{
    bson_t *dump = load_dump();
    bson_t arr = BSON_INITIALIZER, got, want;
    sub_fo_field_t f = {"positive_labels", SUB_FO_CLASSIFICATIONS, false, NULL};
    sub_fo_append_field(&arr, "0", &f, TS);
    CHECK(sub_bson_get_doc(&arr, "0", &got));
    dump_field(dump, "negative_labels", &want);
    /* Only name and db_field differ: compare must see it (its report is expected below). */
    fprintf(stderr, "an expected difference follows:\n");
    CHECK(!compare(&got, &want, "positive_labels vs negative_labels", TS));
    /* Our created_at dates must be the time we passed. */
    bson_t arr2 = BSON_INITIALIZER, one;
    sub_fo_append_field(&arr2, "0", &f, TS);
    CHECK(sub_bson_get_doc(&arr2, "0", &one));
    dump_field(dump, "positive_labels", &want);
    CHECK(compare(&one, &want, "positive_labels", TS));
    CHECK(!compare(&one, &want, "positive_labels, other ts", TS + 1)); /* dates are ours */
    bson_destroy(&arr2);
    bson_destroy(&arr);
    bson_destroy(dump);
}

/* Every default field against FiftyOne's declaration of the same name; read_only and
 * description come from the table. */
static void test_default_fields(void)
{
    bson_t *dump = load_dump();
    CHECK_EQ(sub_fo_default_fields_len, 9);
    static const char *const names[] = {"id",          "filepath",   "tags",
                                        "metadata",    "created_at", "last_modified_at",
                                        "_media_type", "_rand",      "_dataset_id"};
    for (size_t i = 0; i < sub_fo_default_fields_len; i++) {
        CHECK_STR_EQ(sub_fo_default_fields[i].name, names[i]);
        check_field(dump, &sub_fo_default_fields[i], sub_fo_default_fields[i].name);
    }
    bson_destroy(dump);
}

/* A description and read_only are written where FiftyOne keeps them; other keys as usual. */
static void test_append_field_description(void)
{
    bson_t arr = BSON_INITIALIZER, got;
    sub_fo_field_t f = {"open_images_id", SUB_FO_STRING, true, "the Open Images ImageID"};
    sub_fo_append_field(&arr, "5", &f, TS);
    CHECK(sub_bson_get_doc(&arr, "5", &got));
    bson_t *want = bson_new_from_json(
        (const uint8_t *)"{\"name\": \"open_images_id\","
                         " \"ftype\": \"fiftyone.core.fields.StringField\","
                         " \"embedded_doc_type\": null, \"subfield\": null, \"fields\": [],"
                         " \"db_field\": \"open_images_id\","
                         " \"description\": \"the Open Images ImageID\", \"info\": null,"
                         " \"read_only\": true, \"schema\": null,"
                         " \"created_at\": {\"$date\": \"2026-11-29T00:11:58.788Z\"}}",
        -1, NULL);
    CHECK(want != NULL);
    CHECK(compare(&got, want, "open_images_id", TS));
    CHECK(bson_equal(&got, want)); /* the date too, byte for byte */
    bson_destroy(want);
    bson_destroy(&arr);
}

static const sub_test_t tests[] = {
    {"slug", test_slug},
    {"slug_long_name", test_slug_long_name},
    {"normalize_path", test_normalize_path},
    {"normalize_root_home", test_normalize_root_home},
    {"append_field", test_append_field},
    {"append_field_detects", test_append_field_detects},
    {"default_fields", test_default_fields},
    {"append_field_description", test_append_field_description},
    {NULL, NULL},
};

int main(int argc, char **argv)
{
    return sub_test_main(argc, argv, tests);
}
