/* test_openimages.c - Open Images parsing (ImageIDs, Confidence, the class list, the
 * hierarchy) and the sample documents built from one image and its label rows. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "subsetter/bsonutil.h"
#include "subsetter/openimages.h"

/* Fails with both documents as JSON when they differ (bytes, so key order counts). */
static void check_bson_eq(const bson_t *got, const bson_t *want, int line)
{
    if (!bson_equal(got, want)) {
        char *g = bson_as_relaxed_extended_json(got, NULL);
        char *w = bson_as_relaxed_extended_json(want, NULL);
        fprintf(stderr, "%s:%d: documents differ\n got: %s\nwant: %s\n", __FILE__, line, g, w);
        bson_free(g);
        bson_free(w);
        abort();
    }
}

static bson_t *json(const char *text)
{
    bson_error_t be;
    bson_t *b = bson_new_from_json((const uint8_t *)text, -1, &be);
    if (!b) {
        fprintf(stderr, "bad test JSON: %s\n%s\n", be.message, text);
        abort();
    }
    return b;
}

/* The top-level keys of doc, comma-separated, into buf. */
static const char *keys_of(const bson_t *doc, char *buf, size_t cap)
{
    bson_iter_t it;
    size_t n = 0;
    buf[0] = '\0';
    CHECK(bson_iter_init(&it, doc));
    while (bson_iter_next(&it)) {
        int w = snprintf(buf + n, cap - n, "%s%s", n ? "," : "", bson_iter_key(&it));
        CHECK(w > 0 && (size_t)w < cap - n);
        n += (size_t)w;
    }
    return buf;
}

static bool has_key(const bson_t *doc, const char *key)
{
    bson_iter_t it;
    return bson_iter_init_find(&it, doc, key);
}

/* ---- ImageIDs and Confidence ---------------------------------------------------------- */

static bool parse_id(const char *s, uint64_t *out)
{
    return sub_oi_parse_image_id(s, strlen(s), out);
}

static void test_parse_image_id(void)
{
    uint64_t v = 0;
    CHECK(parse_id("0001eeaf4aed83f9", &v));
    CHECK(v == 0x0001eeaf4aed83f9ull);
    v = 0;
    CHECK(parse_id("0001EEAF4AED83F9", &v));
    CHECK(v == 0x0001eeaf4aed83f9ull);
    CHECK(parse_id("0001EeAf4aEd83F9", &v));
    CHECK(v == 0x0001eeaf4aed83f9ull);
    CHECK(parse_id("0000000000000000", &v));
    CHECK(v == 0);
    CHECK(parse_id("ffffffffffffffff", &v));
    CHECK(v == UINT64_MAX);
    CHECK(parse_id("fedcba9876543210", &v));
    CHECK(v == 0xfedcba9876543210ull);

    v = 77;
    CHECK(!parse_id("001eeaf4aed83f9", &v));   /* 15 digits */
    CHECK(!parse_id("00001eeaf4aed83f9", &v)); /* 17 digits */
    CHECK(!parse_id("0001eeaf4aed83g9", &v));  /* 'g' */
    CHECK(!parse_id("0001eeaf4aed83f ", &v));  /* a blank */
    CHECK(!parse_id(" 001eeaf4aed83f9", &v));
    CHECK(!parse_id("0x01eeaf4aed83f9", &v));
    CHECK(!parse_id("-001eeaf4aed83f9", &v));
    CHECK(!parse_id("", &v));
    CHECK(v == 77); /* untouched on failure */
    /* The length is the caller's: 16 digits taken from a longer field. */
    CHECK(sub_oi_parse_image_id("0001eeaf4aed83f9,xyz", 16, &v));
    CHECK(v == 0x0001eeaf4aed83f9ull);
    CHECK(!sub_oi_parse_image_id("0001eeaf4aed83f9", 15, &v));
}

static bool parse_f(const char *s, double *out)
{
    return sub_oi_parse_float(s, strlen(s), out);
}

static void test_parse_float(void)
{
    double d = -1;
    CHECK(parse_f("1", &d));
    CHECK_DBL_EQ(d, 1.0);
    CHECK(parse_f("1.0", &d));
    CHECK_DBL_EQ(d, 1.0);
    CHECK(parse_f("0", &d));
    CHECK_DBL_EQ(d, 0.0);
    CHECK(!signbit(d));
    d = -1;
    CHECK(parse_f("0.0", &d));
    CHECK_DBL_EQ(d, 0.0);
    CHECK(parse_f("0.7", &d));
    CHECK_DBL_EQ(d, 0.7);
    CHECK(parse_f("1e-3", &d));
    CHECK_DBL_EQ(d, 0.001);
    CHECK(parse_f("0.1", &d));
    CHECK_DBL_EQ(d, 0.1);
    CHECK(parse_f("2.5E2", &d));
    CHECK_DBL_EQ(d, 250.0);
    CHECK(parse_f(".5", &d)); /* Python: float(".5") == 0.5 */
    CHECK_DBL_EQ(d, 0.5);

    static const char *const bad[] = {"",   "nan",  "NaN", "inf", "-inf",  "infinity",
                                      " 1", "1 ",   "1,0", "yes", "0x1p3", "1e",
                                      ".",  "1..0", "1e-", "--1", "1-"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        d = 42;
        if (parse_f(bad[i], &d)) {
            fprintf(stderr, "\"%s\" accepted as %.17g\n", bad[i], d);
            abort();
        }
        CHECK_DBL_EQ(d, 42);
    }
    /* The length is the caller's: "0.5" out of "0.5xyz". */
    CHECK(sub_oi_parse_float("0.5xyz", 3, &d));
    CHECK_DBL_EQ(d, 0.5);
    CHECK(sub_oi_parse_float("1,0", 1, &d));
    CHECK_DBL_EQ(d, 1.0);
}

static void test_splits(void)
{
    sub_oi_split_t sp = SUB_OI__SPLITS;
    CHECK_STR_EQ(sub_oi_split_name(SUB_OI_TRAIN), "train");
    CHECK_STR_EQ(sub_oi_split_name(SUB_OI_VALIDATION), "validation");
    CHECK_STR_EQ(sub_oi_split_name(SUB_OI_TEST), "test");
    CHECK(sub_oi_split_parse("train", &sp));
    CHECK_EQ(sp, SUB_OI_TRAIN);
    CHECK(sub_oi_split_parse("validation", &sp));
    CHECK_EQ(sp, SUB_OI_VALIDATION);
    CHECK(sub_oi_split_parse("test", &sp));
    CHECK_EQ(sp, SUB_OI_TEST);
    CHECK(!sub_oi_split_parse("Train", &sp));
    CHECK(!sub_oi_split_parse("val", &sp));
    CHECK(!sub_oi_split_parse("", &sp));
    CHECK(!sub_oi_split_parse("train ", &sp));
    CHECK_EQ(sp, SUB_OI_TEST);

    CHECK_STR_EQ(sub_oi_images_path(SUB_OI_TRAIN),
                 "2018_04/train/train-images-boxable-with-rotation.csv");
    CHECK_STR_EQ(sub_oi_images_path(SUB_OI_VALIDATION),
                 "2018_04/validation/validation-images-with-rotation.csv");
    CHECK_STR_EQ(sub_oi_images_path(SUB_OI_TEST), "2018_04/test/test-images-with-rotation.csv");
    CHECK_STR_EQ(sub_oi_labels_path(SUB_OI_TRAIN),
                 "v5/train-annotations-human-imagelabels-boxable.csv");
    CHECK_STR_EQ(sub_oi_labels_path(SUB_OI_VALIDATION),
                 "v5/validation-annotations-human-imagelabels-boxable.csv");
    CHECK_STR_EQ(sub_oi_labels_path(SUB_OI_TEST),
                 "v5/test-annotations-human-imagelabels-boxable.csv");
    CHECK_STR_EQ(SUB_OI_CLASSES_PATH, "v5/class-descriptions-boxable.csv");
    CHECK_STR_EQ(SUB_OI_HIERARCHY_PATH, "2018_04/bbox_labels_600_hierarchy.json");
}

/* ---- the class list ------------------------------------------------------------------- */

/* The v5 layout (no header), with quoting, duplicate names, non-ASCII names and an empty one.
 * U+00C4, U+00E9, U+FF21 (fullwidth A) and U+1F600: code point order differs from UTF-16
 * order for the last two. */
#define CLASSES_CSV              \
    "/m/01yrx,Cat\n"             \
    "/m/0bt9lr,Dog\n"            \
    "/m/0k4j,Car\n"              \
    "/m/015p6,Bird\n"            \
    "/m/x1,\"Rock, paper\"\n"    \
    "/m/x2,\"Say \"\"hi\"\"\"\n" \
    "/m/x3,apple\n"              \
    "/m/x4,\xc3\x84pfel\n"       \
    "/m/x5,Zebra\n"              \
    "/m/x6,Cat\n"                \
    "/m/x7,\xef\xbc\xa1\n"       \
    "/m/x8,\xf0\x9f\x98\x80\n"   \
    "/m/x9,\xc3\xa9"             \
    "clair\n"                    \
    "/m/x10,\n"

static void load_text(const char *text, sub_oi_classes_t *c)
{
    char *dir = sub_test_tmpdir();
    char *path = sub_test_write_file(dir, "classes.csv", text);
    sub_error_t err;
    CHECK_OK(sub_oi_classes_load(path, c, &err), &err);
    unlink(path);
    rmdir(dir);
    free(path);
    free(dir);
}

/* Loading must fail with SUB_E_CONFIG and a message containing `want`. */
static void load_fails(const char *text, const char *want)
{
    char *dir = sub_test_tmpdir();
    char *path = sub_test_write_file(dir, "classes.csv", text);
    sub_error_t err;
    sub_oi_classes_t c;
    CHECK_FAILS(sub_oi_classes_load(path, &c, &err), &err, SUB_E_CONFIG);
    CHECK_CONTAINS(err.msg, want);
    sub_oi_classes_release(&c);
    unlink(path);
    rmdir(dir);
    free(path);
    free(dir);
}

static long find(const sub_oi_classes_t *c, const char *mid)
{
    return sub_oi_classes_find(c, mid, strlen(mid));
}

static void test_classes_load(void)
{
    sub_oi_classes_t c;
    load_text(CLASSES_CSV, &c);
    CHECK_EQ(c.len, 14);
    CHECK_STR_EQ(c.mid[0], "/m/01yrx");
    CHECK_STR_EQ(c.name[0], "Cat");
    CHECK_STR_EQ(c.mid[4], "/m/x1");
    CHECK_STR_EQ(c.name[4], "Rock, paper");
    CHECK_STR_EQ(c.name[5], "Say \"hi\"");
    CHECK_STR_EQ(c.name[7], "\xc3\x84pfel");
    CHECK_STR_EQ(c.mid[9], "/m/x6");
    CHECK_STR_EQ(c.name[9], "Cat");
    CHECK_STR_EQ(c.mid[13], "/m/x10");
    CHECK_STR_EQ(c.name[13], "");
    sub_oi_classes_release(&c);
    CHECK_EQ(c.len, 0);
    CHECK(c.mid == NULL);

    /* The v7 variant: a header row (here after a BOM, with CRLF line ends) is skipped. */
    load_text("\xef\xbb\xbfLabelName,DisplayName\r\n/m/01yrx,Cat\r\n/m/0bt9lr,Dog\r\n", &c);
    CHECK_EQ(c.len, 2);
    CHECK_STR_EQ(c.mid[0], "/m/01yrx");
    CHECK_STR_EQ(c.name[0], "Cat");
    CHECK_STR_EQ(c.mid[1], "/m/0bt9lr");
    CHECK_STR_EQ(c.name[1], "Dog");
    CHECK_EQ(find(&c, "LabelName"), -1);
    sub_oi_classes_release(&c);
    load_text("LabelName,DisplayName\n/m/0k4j,Car", &c); /* no line end at the end */
    CHECK_EQ(c.len, 1);
    CHECK_STR_EQ(c.mid[0], "/m/0k4j");
    CHECK_STR_EQ(c.name[0], "Car");
    sub_oi_classes_release(&c);

    /* More classes than the first index size. */
    char *big = malloc(3000 * 32);
    CHECK(big != NULL);
    size_t n = 0;
    for (int i = 0; i < 3000; i++)
        n += (size_t)snprintf(big + n, 3000 * 32 - n, "/m/c%d,Class %d\n", i, i);
    load_text(big, &c);
    free(big);
    CHECK_EQ(c.len, 3000);
    for (int i = 0; i < 3000; i++) {
        char mid[32], name[32];
        snprintf(mid, sizeof mid, "/m/c%d", i);
        snprintf(name, sizeof name, "Class %d", i);
        long k = find(&c, mid);
        CHECK_EQ(k, i);
        CHECK_STR_EQ(c.name[k], name);
    }
    CHECK_EQ(find(&c, "/m/c3000"), -1);
    sub_oi_classes_release(&c);
}

static void test_classes_errors(void)
{
    load_fails("/m/01yrx,Cat\n/m/0k4j,Car\n/m/01yrx,Kitten\n", "/m/01yrx");
    load_fails("/m/01yrx,Cat\n/m/0k4j,Car\n/m/0k4j,Car\n", "/m/0k4j");
    load_fails("", "no classes");
    load_fails("LabelName,DisplayName\n", "no classes");
    load_fails("/m/01yrx,Cat\n/m/0k4j,Car,extra\n", ":2:"); /* the line of the bad row */
    load_fails("/m/01yrx\n", ":1:");

    sub_oi_classes_t c;
    sub_error_t err;
    CHECK_FAILS(sub_oi_classes_load("/nonexistent/subsetter/classes.csv", &c, &err), &err,
                SUB_E_IO);
    sub_oi_classes_release(&c);
}

static void test_classes_find(void)
{
    sub_oi_classes_t c;
    load_text(CLASSES_CSV, &c);
    CHECK_EQ(find(&c, "/m/01yrx"), 0);
    CHECK_EQ(find(&c, "/m/0bt9lr"), 1);
    CHECK_EQ(find(&c, "/m/015p6"), 3);
    CHECK_EQ(find(&c, "/m/x6"), 9);
    CHECK_EQ(find(&c, "/m/x10"), 13);
    CHECK_EQ(find(&c, "/m/x1"), 4);
    CHECK_EQ(find(&c, "/m/01yr"), -1);   /* a prefix */
    CHECK_EQ(find(&c, "/m/01yrxx"), -1); /* longer */
    CHECK_EQ(find(&c, "/M/01YRX"), -1);  /* case matters */
    CHECK_EQ(find(&c, ""), -1);
    CHECK_EQ(find(&c, "Cat"), -1); /* names are not keys */
    /* The length is the caller's: a MID inside a longer CSV line. */
    CHECK_EQ(sub_oi_classes_find(&c, "/m/0k4j,1.0", 7), 2);
    CHECK_EQ(sub_oi_classes_find(&c, "/m/x10", 5), 4); /* "/m/x1" */
    sub_oi_classes_release(&c);

    sub_oi_classes_t empty;
    memset(&empty, 0, sizeof empty);
    CHECK_EQ(find(&empty, "/m/01yrx"), -1);
}

static void test_classes_to_bson(void)
{
    sub_oi_classes_t c;
    load_text(CLASSES_CSV, &c);
    bson_t map = BSON_INITIALIZER, names = BSON_INITIALIZER;
    sub_oi_classes_to_bson(&c, &map, &names);

    /* classes_map in file order (so bytes, key order included, must match). */
    bson_t *want_map =
        json("{\"/m/01yrx\": \"Cat\", \"/m/0bt9lr\": \"Dog\", \"/m/0k4j\": \"Car\","
             " \"/m/015p6\": \"Bird\", \"/m/x1\": \"Rock, paper\","
             " \"/m/x2\": \"Say \\\"hi\\\"\", \"/m/x3\": \"apple\","
             " \"/m/x4\": \"\xc3\x84pfel\", \"/m/x5\": \"Zebra\", \"/m/x6\": \"Cat\","
             " \"/m/x7\": \"\xef\xbc\xa1\", \"/m/x8\": \"\xf0\x9f\x98\x80\","
             " \"/m/x9\": \"\xc3\xa9"
             "clair\", \"/m/x10\": \"\"}");
    check_bson_eq(&map, want_map, __LINE__);

    /* Python: sorted(classes_map.values()) on these names printed exactly this list. */
    static const char *const want_sorted[] = {
        "",
        "Bird",
        "Car",
        "Cat",
        "Cat",
        "Dog",
        "Rock, paper",
        "Say \"hi\"",
        "Zebra",
        "apple",
        "\xc3\x84pfel",
        "\xc3\xa9"
        "clair",
        "\xef\xbc\xa1",
        "\xf0\x9f\x98\x80",
    };
    enum { NS = sizeof want_sorted / sizeof *want_sorted };
    bson_iter_t it;
    size_t i = 0;
    CHECK(bson_iter_init(&it, &names));
    while (bson_iter_next(&it)) {
        char key[24];
        snprintf(key, sizeof key, "%zu", i);
        CHECK_STR_EQ(bson_iter_key(&it), key);
        CHECK(BSON_ITER_HOLDS_UTF8(&it));
        CHECK(i < NS);
        CHECK_STR_EQ(bson_iter_utf8(&it, NULL), want_sorted[i]);
        i++;
    }
    CHECK_EQ(i, NS);
    bson_destroy(want_map);
    bson_destroy(&map);
    bson_destroy(&names);
    /* The caller's classes are left in file order. */
    CHECK_STR_EQ(c.name[0], "Cat");
    CHECK_STR_EQ(c.name[13], "");
    sub_oi_classes_release(&c);
}

/* ---- the hierarchy -------------------------------------------------------------------- */

static void test_hierarchy(void)
{
    sub_oi_classes_t c;
    load_text(CLASSES_CSV, &c);
    char *dir = sub_test_tmpdir();
    /* Subcategory and Part both walked, at any depth; other keys copied as they are, in
     * their order (LabelName is not always first); an unknown MID is kept and counted. */
    char *path = sub_test_write_file(
        dir, "hierarchy.json",
        "{\"LabelName\": \"/m/0bl9f\", \"Subcategory\": [\n"
        "  {\"LabelName\": \"/m/01yrx\", \"Part\": [{\"LabelName\": \"/m/0k4j\"}]},\n"
        "  {\"LabelName\": \"/m/0bt9lr\", \"Subcategory\": [\n"
        "     {\"Note\": \"first\", \"LabelName\": \"/m/unknown1\", \"Extra\": 5},\n"
        "     {\"LabelName\": \"/m/x1\", \"Part\": [{\"LabelName\": \"/m/x9\",\n"
        "                                          \"Subcategory\": [{\"LabelName\": \"/m/x8\"}]}]}\n"
        "  ]},\n"
        "  {\"LabelName\": \"/m/015p6\", \"Other\": {\"LabelName\": \"/m/01yrx\"}}\n"
        "], \"Version\": \"2018_04\"}\n");
    bson_t out = BSON_INITIALIZER;
    size_t unknown = 99;
    sub_error_t err;
    CHECK_OK(sub_oi_hierarchy_load(path, &c, &out, &unknown, &err), &err);
    CHECK_EQ(unknown, 1);
    bson_t *want =
        json("{\"LabelName\": \"Entity\", \"Subcategory\": ["
             "  {\"LabelName\": \"Cat\", \"Part\": [{\"LabelName\": \"Car\"}]},"
             "  {\"LabelName\": \"Dog\", \"Subcategory\": ["
             "     {\"Note\": \"first\", \"LabelName\": \"/m/unknown1\", \"Extra\": 5},"
             "     {\"LabelName\": \"Rock, paper\", \"Part\": [{\"LabelName\": \"\xc3\xa9"
             "clair\","
             "          \"Subcategory\": [{\"LabelName\": \"\xf0\x9f\x98\x80\"}]}]}"
             "  ]},"
             "  {\"LabelName\": \"Bird\", \"Other\": {\"LabelName\": \"/m/01yrx\"}}"
             "], \"Version\": \"2018_04\"}");
    check_bson_eq(&out, want, __LINE__);
    bson_destroy(want);
    bson_destroy(&out);
    unlink(path);
    free(path);

    /* Two unknown MIDs (one of them twice) and the root renamed at the top only. */
    path = sub_test_write_file(dir, "h2.json",
                               "{\"LabelName\": \"/m/0bl9f\", \"Subcategory\": ["
                               "{\"LabelName\": \"/m/zz1\"}, {\"LabelName\": \"/m/zz2\"},"
                               "{\"LabelName\": \"/m/zz1\"}]}");
    bson_init(&out);
    CHECK_OK(sub_oi_hierarchy_load(path, &c, &out, &unknown, &err), &err);
    CHECK_EQ(unknown, 3);
    want = json("{\"LabelName\": \"Entity\", \"Subcategory\": [{\"LabelName\": \"/m/zz1\"},"
                " {\"LabelName\": \"/m/zz2\"}, {\"LabelName\": \"/m/zz1\"}]}");
    check_bson_eq(&out, want, __LINE__);
    bson_destroy(want);
    bson_destroy(&out);
    unlink(path);
    free(path);

    /* Not JSON: a configuration error naming the file. */
    path = sub_test_write_file(dir, "bad.json", "LabelName,DisplayName\n/m/01yrx,Cat\n");
    bson_init(&out);
    CHECK_FAILS(sub_oi_hierarchy_load(path, &c, &out, &unknown, &err), &err, SUB_E_CONFIG);
    CHECK_CONTAINS(err.msg, "bad.json");
    bson_destroy(&out);
    unlink(path);
    free(path);
    path = sub_test_write_file(dir, "cut.json", "{\"LabelName\": \"/m/0bl9f\", \"Subcategory\": [");
    bson_init(&out);
    CHECK_FAILS(sub_oi_hierarchy_load(path, &c, &out, &unknown, &err), &err, SUB_E_CONFIG);
    bson_destroy(&out);
    unlink(path);
    free(path);

    /* A missing file: an I/O error. */
    bson_init(&out);
    CHECK_FAILS(sub_oi_hierarchy_load("/nonexistent/subsetter/h.json", &c, &out, &unknown, &err),
                &err, SUB_E_IO);
    bson_destroy(&out);
    rmdir(dir);
    free(dir);
    sub_oi_classes_release(&c);
}

/* ---- sample documents ----------------------------------------------------------------- */

static void test_sample_oid(void)
{
    bson_oid_t oid;
    char hex[25];
    /* 2026-11-29T00:11:58.788Z: 1795911118 s = 0x6b0b6dce. */
    sub_oi_sample_oid(1795911118788, SUB_OI_TRAIN, 0x0001eeaf4aed83f9ull, &oid);
    bson_oid_to_string(&oid, hex);
    CHECK_STR_EQ(hex, "6b0b6dce0001eeaf4aed83f9");
    static const uint8_t want[12] = {0x6b, 0x0b, 0x6d, 0xce, 0x00, 0x01,
                                     0xee, 0xaf, 0x4a, 0xed, 0x83, 0xf9};
    CHECK(memcmp(oid.bytes, want, 12) == 0);
    sub_oi_sample_oid(999, SUB_OI_TRAIN, UINT64_MAX, &oid); /* under a second: timestamp 0 */
    bson_oid_to_string(&oid, hex);
    CHECK_STR_EQ(hex, "00000000ffffffffffffffff");
    sub_oi_sample_oid(4294967295000, SUB_OI_TRAIN, 0x0102030405060708ull,
                      &oid); /* the last 32-bit second */
    bson_oid_to_string(&oid, hex);
    CHECK_STR_EQ(hex, "ffffffff0102030405060708");
    sub_oi_sample_oid(1700000000123, SUB_OI_TRAIN, 0, &oid);
    bson_oid_to_string(&oid, hex);
    CHECK_STR_EQ(hex, "6553f1000000000000000000");
    /* the split's number is added to the second: ids sort split by split, in the order
     * the ingest writes them, whatever the ImageIDs */
    sub_oi_sample_oid(1795911118788, SUB_OI_VALIDATION, 0x0001eeaf4aed83f9ull, &oid);
    bson_oid_to_string(&oid, hex);
    CHECK_STR_EQ(hex, "6b0b6dcf0001eeaf4aed83f9");
    sub_oi_sample_oid(1795911118788, SUB_OI_TEST, 0, &oid);
    bson_oid_to_string(&oid, hex);
    CHECK_STR_EQ(hex, "6b0b6dd00000000000000000");
    bson_oid_t last_train;
    sub_oi_sample_oid(1795911118788, SUB_OI_TRAIN, UINT64_MAX, &last_train);
    CHECK(bson_oid_compare(&last_train, &oid) < 0);
}

#define CREATED_MS 1795911118788

typedef struct {
    sub_oi_classes_t classes;
    bson_oid_t dataset_id;
    sub_oi_doc_ctx_t ctx;
} fixture_t;

static void fixture_init(fixture_t *f, sub_oi_split_t split)
{
    load_text(CLASSES_CSV, &f->classes);
    bson_oid_init_from_string(&f->dataset_id, "6b0b6dce23dc6dfda1a4e470");
    f->ctx =
        (sub_oi_doc_ctx_t){&f->dataset_id, CREATED_MS, "/home/user/fiftyone", split, &f->classes};
}

static sub_label_rec_t label(const fixture_t *f, const char *mid, double conf, uint32_t row)
{
    sub_label_rec_t r;
    memset(&r, 0, sizeof r);
    long k = find(&f->classes, mid);
    CHECK(k >= 0);
    r.image = 0x0001eeaf4aed83f9ull;
    r.confidence = conf;
    r.row = row;
    r.cls = (uint16_t)k;
    return r;
}

static sub_oi_image_t bare_image(void)
{
    sub_oi_image_t img;
    memset(&img, 0, sizeof img);
    img.image_id = "0001eeaf4aed83f9";
    return img;
}

/* The keys every sample starts and ends with, and their values. */
static void check_common(const fixture_t *f, const bson_t *doc, const char *split)
{
    bson_iter_t it;
    char hex[25], keys[1024], path[256];
    static const char head[] = "_id,filepath,tags,metadata,_media_type,_rand,";
    static const char tail[] = ",_dataset_id,created_at,last_modified_at";
    keys_of(doc, keys, sizeof keys);
    size_t n = strlen(keys);
    if (strncmp(keys, head, sizeof head - 1) != 0 || n < sizeof head + sizeof tail ||
        strcmp(keys + n - (sizeof tail - 1), tail) != 0) {
        fprintf(stderr, "key order: %s\n", keys);
        abort();
    }
    CHECK(bson_iter_init_find(&it, doc, "_id"));
    CHECK(BSON_ITER_HOLDS_OID(&it));
    bson_oid_to_string(bson_iter_oid(&it), hex);
    sub_oi_split_t sp = SUB_OI_TRAIN;
    CHECK(sub_oi_split_parse(split, &sp));
    static const char *const want_id[] = {"6b0b6dce0001eeaf4aed83f9", "6b0b6dcf0001eeaf4aed83f9",
                                          "6b0b6dd00001eeaf4aed83f9"};
    CHECK_STR_EQ(hex, want_id[sp]);

    snprintf(path, sizeof path, "/home/user/fiftyone/open-images-v7/%s/data/0001eeaf4aed83f9.jpg",
             split);
    CHECK(bson_iter_init_find(&it, doc, "filepath"));
    CHECK(BSON_ITER_HOLDS_UTF8(&it));
    CHECK_STR_EQ(bson_iter_utf8(&it, NULL), path);

    bson_t tags;
    CHECK(bson_iter_init_find(&it, doc, "tags"));
    CHECK(BSON_ITER_HOLDS_ARRAY(&it));
    char want_tags[64];
    snprintf(want_tags, sizeof want_tags, "{\"0\": \"%s\"}", split);
    bson_t *wt = json(want_tags);
    {
        const uint8_t *data;
        uint32_t len;
        bson_iter_array(&it, &len, &data);
        CHECK(bson_init_static(&tags, data, len));
    }
    check_bson_eq(&tags, wt, __LINE__);
    bson_destroy(wt);

    CHECK(bson_iter_init_find(&it, doc, "metadata"));
    CHECK(BSON_ITER_HOLDS_NULL(&it));
    CHECK(bson_iter_init_find(&it, doc, "_media_type"));
    CHECK(BSON_ITER_HOLDS_UTF8(&it));
    CHECK_STR_EQ(bson_iter_utf8(&it, NULL), "image");
    CHECK(bson_iter_init_find(&it, doc, "_rand"));
    CHECK(BSON_ITER_HOLDS_DOUBLE(&it));
    if (strcmp(split, "train") == 0) /* Python's value for this filepath */
        CHECK_DBL_EQ(bson_iter_double(&it), 0.99929461424885346);
    CHECK(bson_iter_double(&it) >= 0.999 && bson_iter_double(&it) < 1.0);
    CHECK(bson_iter_init_find(&it, doc, "open_images_id"));
    CHECK_STR_EQ(bson_iter_utf8(&it, NULL), "0001eeaf4aed83f9");

    CHECK(bson_iter_init_find(&it, doc, "_dataset_id"));
    CHECK(BSON_ITER_HOLDS_OID(&it));
    CHECK(bson_oid_equal(bson_iter_oid(&it), &f->dataset_id));
    CHECK(bson_iter_init_find(&it, doc, "created_at"));
    CHECK(BSON_ITER_HOLDS_DATE_TIME(&it));
    CHECK_EQ(bson_iter_date_time(&it), CREATED_MS);
    CHECK(bson_iter_init_find(&it, doc, "last_modified_at"));
    CHECK(BSON_ITER_HOLDS_DATE_TIME(&it));
    CHECK_EQ(bson_iter_date_time(&it), CREATED_MS);
}

static void test_sample_no_labels(void)
{
    fixture_t f;
    fixture_init(&f, SUB_OI_TRAIN);
    sub_oi_image_t img = bare_image();
    bson_t doc = BSON_INITIALIZER;
    size_t pos = 9, neg = 9;
    sub_oi_build_sample(&f.ctx, 0x0001eeaf4aed83f9ull, &img, NULL, 0, &doc, &pos, &neg);
    check_common(&f, &doc, "train");
    CHECK(!has_key(&doc, "positive_labels"));
    CHECK(!has_key(&doc, "negative_labels"));
    CHECK_EQ(pos, 0);
    CHECK_EQ(neg, 0);
    char keys[1024];
    /* No optional source field set: none written. */
    CHECK_STR_EQ(keys_of(&doc, keys, sizeof keys),
                 "_id,filepath,tags,metadata,_media_type,_rand,open_images_id,_dataset_id,"
                 "created_at,last_modified_at");
    bson_destroy(&doc);
    sub_oi_classes_release(&f.classes);
}

/* One classification: keys _id, _cls, tags, label, confidence, with these values. */
static void check_label(const bson_t *cls, const char *label, double conf, bson_oid_t *id_out)
{
    bson_iter_t it;
    char keys[256];
    CHECK_STR_EQ(keys_of(cls, keys, sizeof keys), "_id,_cls,tags,label,confidence");
    CHECK(bson_iter_init_find(&it, cls, "_id"));
    CHECK(BSON_ITER_HOLDS_OID(&it));
    bson_oid_copy(bson_iter_oid(&it), id_out);
    CHECK(bson_iter_init_find(&it, cls, "_cls"));
    CHECK_STR_EQ(bson_iter_utf8(&it, NULL), "Classification");
    CHECK(bson_iter_init_find(&it, cls, "tags"));
    CHECK(BSON_ITER_HOLDS_ARRAY(&it));
    const uint8_t *data;
    uint32_t len;
    bson_iter_array(&it, &len, &data);
    CHECK_EQ(len, 5); /* an empty array */
    CHECK(bson_iter_init_find(&it, cls, "label"));
    CHECK(BSON_ITER_HOLDS_UTF8(&it));
    CHECK_STR_EQ(bson_iter_utf8(&it, NULL), label);
    CHECK(bson_iter_init_find(&it, cls, "confidence"));
    CHECK(BSON_ITER_HOLDS_DOUBLE(&it));
    CHECK_DBL_EQ(bson_iter_double(&it), conf);
}

/* doc[key] is {_cls: "Classifications", classifications: [...]} with n labels as given;
 * their ids are appended to ids[*nids]. */
static void check_labels(const bson_t *doc, const char *key, size_t n, const char *const *labels,
                         const double *confs, bson_oid_t *ids, size_t *nids)
{
    bson_t field, arr, one;
    char keys[256];
    CHECK(sub_bson_get_doc(doc, key, &field));
    CHECK_STR_EQ(keys_of(&field, keys, sizeof keys), "_cls,classifications");
    bson_iter_t it;
    CHECK(bson_iter_init_find(&it, &field, "_cls"));
    CHECK_STR_EQ(bson_iter_utf8(&it, NULL), "Classifications");
    CHECK(bson_iter_init_find(&it, &field, "classifications"));
    CHECK(BSON_ITER_HOLDS_ARRAY(&it));
    CHECK(sub_bson_get_doc(&field, "classifications", &arr));
    CHECK_EQ(bson_count_keys(&arr), n);
    for (size_t i = 0; i < n; i++) {
        char k[24];
        snprintf(k, sizeof k, "%zu", i);
        CHECK(sub_bson_get_doc(&arr, k, &one));
        check_label(&one, labels[i], confs[i], &ids[(*nids)++]);
    }
}

static void check_distinct(const bson_oid_t *ids, size_t n)
{
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            if (bson_oid_equal(&ids[i], &ids[j])) {
                char hex[25];
                bson_oid_to_string(&ids[i], hex);
                fprintf(stderr, "ids %zu and %zu are both %s\n", i, j, hex);
                abort();
            }
}

/* Rows in file order; > 0.1 is positive, 0.1 itself negative. */
static void test_sample_labels(void)
{
    fixture_t f;
    fixture_init(&f, SUB_OI_TRAIN);
    const double above = nextafter(0.1, 1.0), below = nextafter(0.1, 0.0);
    sub_label_rec_t rows[6] = {
        label(&f, "/m/01yrx", 1.0, 10),  label(&f, "/m/0k4j", 0.0, 11),
        label(&f, "/m/0bt9lr", 0.1, 12), label(&f, "/m/015p6", 0.7, 13),
        label(&f, "/m/x5", above, 14),   label(&f, "/m/x3", below, 15),
    };
    sub_oi_image_t img = bare_image();
    bson_t doc = BSON_INITIALIZER;
    size_t pos = 0, neg = 0;
    sub_oi_build_sample(&f.ctx, 0x0001eeaf4aed83f9ull, &img, rows, 6, &doc, &pos, &neg);
    check_common(&f, &doc, "train");
    CHECK_EQ(pos, 3);
    CHECK_EQ(neg, 3);
    char keys[1024];
    CHECK_STR_EQ(keys_of(&doc, keys, sizeof keys),
                 "_id,filepath,tags,metadata,_media_type,_rand,positive_labels,negative_labels,"
                 "open_images_id,_dataset_id,created_at,last_modified_at");

    bson_oid_t ids[16];
    size_t nids = 0;
    static const char *const pos_names[] = {"Cat", "Bird", "Zebra"};
    static const char *const neg_names[] = {"Car", "Dog", "apple"};
    const double pos_conf[] = {1.0, 0.7, above}, neg_conf[] = {0.0, 0.1, below};
    check_labels(&doc, "positive_labels", 3, pos_names, pos_conf, ids, &nids);
    check_labels(&doc, "negative_labels", 3, neg_names, neg_conf, ids, &nids);
    bson_iter_t it;
    CHECK(bson_iter_init_find(&it, &doc, "_id"));
    bson_oid_copy(bson_iter_oid(&it), &ids[nids++]);
    check_distinct(ids, nids);

    /* Deterministic: the same inputs give the same bytes, label ids included. */
    bson_t again = BSON_INITIALIZER;
    size_t pos2 = 0, neg2 = 0;
    sub_oi_build_sample(&f.ctx, 0x0001eeaf4aed83f9ull, &img, rows, 6, &again, &pos2, &neg2);
    check_bson_eq(&again, &doc, __LINE__);
    CHECK_EQ(pos2, 3);
    CHECK_EQ(neg2, 3);
    bson_destroy(&again);

    /* Another image of the same dataset: other label ids. */
    bson_t other = BSON_INITIALIZER;
    sub_oi_image_t img2 = bare_image();
    img2.image_id = "0001eeaf4aed83fa";
    sub_oi_build_sample(&f.ctx, 0x0001eeaf4aed83faull, &img2, rows, 6, &other, &pos2, &neg2);
    bson_oid_t ids2[8];
    size_t nids2 = 0;
    check_labels(&other, "positive_labels", 3, pos_names, pos_conf, ids2, &nids2);
    check_labels(&other, "negative_labels", 3, neg_names, neg_conf, ids2, &nids2);
    CHECK_EQ(nids2, 6);
    for (size_t i = 0; i < nids2; i++)
        ids[nids++] = ids2[i];
    check_distinct(ids, nids);
    bson_destroy(&other);
    bson_destroy(&doc);
    sub_oi_classes_release(&f.classes);
}

/* Only one side has rows: the other list is present and empty. */
static void test_sample_one_side(void)
{
    fixture_t f;
    fixture_init(&f, SUB_OI_VALIDATION);
    sub_oi_image_t img = bare_image();
    bson_oid_t ids[4];
    size_t nids = 0, pos = 9, neg = 9;

    sub_label_rec_t only_pos[2] = {label(&f, "/m/0bt9lr", 1.0, 1), label(&f, "/m/015p6", 1.0, 2)};
    bson_t doc = BSON_INITIALIZER;
    sub_oi_build_sample(&f.ctx, 0x0001eeaf4aed83f9ull, &img, only_pos, 2, &doc, &pos, &neg);
    check_common(&f, &doc, "validation");
    CHECK_EQ(pos, 2);
    CHECK_EQ(neg, 0);
    static const char *const dog_bird[] = {"Dog", "Bird"};
    static const double ones[] = {1.0, 1.0};
    check_labels(&doc, "positive_labels", 2, dog_bird, ones, ids, &nids);
    check_labels(&doc, "negative_labels", 0, NULL, NULL, ids, &nids);
    bson_t *want = json("{\"_cls\": \"Classifications\", \"classifications\": []}");
    bson_t neg_doc;
    CHECK(sub_bson_get_doc(&doc, "negative_labels", &neg_doc));
    check_bson_eq(&neg_doc, want, __LINE__);
    bson_destroy(&doc);

    sub_label_rec_t only_neg[1] = {label(&f, "/m/x4", 0.0, 7)};
    bson_init(&doc);
    sub_oi_build_sample(&f.ctx, 0x0001eeaf4aed83f9ull, &img, only_neg, 1, &doc, &pos, &neg);
    check_common(&f, &doc, "validation");
    CHECK_EQ(pos, 0);
    CHECK_EQ(neg, 1);
    CHECK(sub_bson_get_doc(&doc, "positive_labels", &neg_doc));
    check_bson_eq(&neg_doc, want, __LINE__);
    static const char *const apfel[] = {"\xc3\x84pfel"};
    static const double zero[] = {0.0};
    check_labels(&doc, "negative_labels", 1, apfel, zero, ids, &nids);
    bson_destroy(want);
    bson_destroy(&doc);
    sub_oi_classes_release(&f.classes);
}

/* Optional source fields: omitted when NULL, present when set, with their types. */
static void test_sample_source_fields(void)
{
    fixture_t f;
    fixture_init(&f, SUB_OI_TEST);
    sub_oi_image_t img = bare_image();
    img.original_url = "https://farm3.staticflickr.com/1/x_o.jpg";
    img.landing_url = "https://www.flickr.com/photos/u/1";
    img.license = "https://creativecommons.org/licenses/by/2.0/";
    img.author_profile_url = "https://www.flickr.com/people/u/";
    img.author = "Some \"One\"";
    img.title = "A, title";
    img.original_md5 = "6cTlkmGcGdqi7f7ZkpQm+g==";
    img.thumbnail_url = "https://c1.staticflickr.com/1/x_z.jpg";
    img.has_size = true;
    img.original_size = 3000000000; /* past 32 bits */
    img.has_rotation = true;
    img.rotation = 90.0;
    bson_t doc = BSON_INITIALIZER;
    size_t pos, neg;
    sub_oi_build_sample(&f.ctx, 0x0001eeaf4aed83f9ull, &img, NULL, 0, &doc, &pos, &neg);
    check_common(&f, &doc, "test");
    CHECK(!has_key(&doc, "positive_labels"));
    CHECK(!has_key(&doc, "negative_labels"));
    static const struct {
        const char *key, *value;
    } strs[] = {
        {"original_url", "https://farm3.staticflickr.com/1/x_o.jpg"},
        {"original_landing_url", "https://www.flickr.com/photos/u/1"},
        {"license", "https://creativecommons.org/licenses/by/2.0/"},
        {"author_profile_url", "https://www.flickr.com/people/u/"},
        {"author", "Some \"One\""},
        {"title", "A, title"},
        {"original_md5", "6cTlkmGcGdqi7f7ZkpQm+g=="},
        {"thumbnail_url", "https://c1.staticflickr.com/1/x_z.jpg"},
    };
    bson_iter_t it;
    for (size_t i = 0; i < sizeof strs / sizeof *strs; i++) {
        if (!bson_iter_init_find(&it, &doc, strs[i].key)) {
            fprintf(stderr, "no %s\n", strs[i].key);
            abort();
        }
        CHECK(BSON_ITER_HOLDS_UTF8(&it));
        CHECK_STR_EQ(bson_iter_utf8(&it, NULL), strs[i].value);
    }
    CHECK(bson_iter_init_find(&it, &doc, "original_size"));
    CHECK(BSON_ITER_HOLDS_INT64(&it));
    CHECK_EQ(bson_iter_int64(&it), 3000000000);
    CHECK(bson_iter_init_find(&it, &doc, "rotation"));
    CHECK(BSON_ITER_HOLDS_DOUBLE(&it));
    CHECK_DBL_EQ(bson_iter_double(&it), 90.0);
    CHECK_EQ(bson_count_keys(&doc), 10 + 10); /* the 10 of a bare sample + 10 source fields */
    bson_destroy(&doc);

    /* Size 0 and rotation 0 are values, not absence. */
    img = bare_image();
    img.has_size = true;
    img.original_size = 0;
    img.has_rotation = true;
    img.rotation = 0.0;
    img.title = "";
    bson_init(&doc);
    sub_oi_build_sample(&f.ctx, 0x0001eeaf4aed83f9ull, &img, NULL, 0, &doc, &pos, &neg);
    check_common(&f, &doc, "test");
    CHECK(bson_iter_init_find(&it, &doc, "original_size"));
    CHECK(BSON_ITER_HOLDS_INT64(&it));
    CHECK_EQ(bson_iter_int64(&it), 0);
    CHECK(bson_iter_init_find(&it, &doc, "rotation"));
    CHECK(BSON_ITER_HOLDS_DOUBLE(&it));
    CHECK_DBL_EQ(bson_iter_double(&it), 0.0);
    CHECK(bson_iter_init_find(&it, &doc, "title"));
    CHECK_STR_EQ(bson_iter_utf8(&it, NULL), "");
    CHECK(!has_key(&doc, "original_url"));
    CHECK(!has_key(&doc, "original_landing_url"));
    CHECK(!has_key(&doc, "license"));
    CHECK(!has_key(&doc, "author"));
    CHECK(!has_key(&doc, "author_profile_url"));
    CHECK(!has_key(&doc, "original_md5"));
    CHECK(!has_key(&doc, "thumbnail_url"));
    CHECK_EQ(bson_count_keys(&doc), 10 + 3);
    bson_destroy(&doc);
    sub_oi_classes_release(&f.classes);
}

static const sub_test_t tests[] = {
    {"parse_image_id", test_parse_image_id},
    {"parse_float", test_parse_float},
    {"splits", test_splits},
    {"classes_load", test_classes_load},
    {"classes_errors", test_classes_errors},
    {"classes_find", test_classes_find},
    {"classes_to_bson", test_classes_to_bson},
    {"hierarchy", test_hierarchy},
    {"sample_oid", test_sample_oid},
    {"sample_no_labels", test_sample_no_labels},
    {"sample_labels", test_sample_labels},
    {"sample_one_side", test_sample_one_side},
    {"sample_source_fields", test_sample_source_fields},
    {NULL, NULL},
};

int main(int argc, char **argv)
{
    return sub_test_main(argc, argv, tests);
}
