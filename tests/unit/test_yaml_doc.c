/* test_yaml_doc.c - the YAML tree: positions, refusals, and the typed getters' messages. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "subsetter/strutil.h"
#include "subsetter/yaml_doc.h"

static void load_ok(const char *text, sub_yaml_doc_t *doc)
{
    sub_error_t err = {0};
    CHECK_OK(sub_yaml_load_string(text, strlen(text), "j.yaml", doc, &err), &err);
}

/* Loading text must fail with exactly msg; the document is left empty but valid. */
static void load_fails(const char *text, const char *msg)
{
    sub_yaml_doc_t doc;
    sub_error_t err = {0};
    CHECK_FAILS(sub_yaml_load_string(text, strlen(text), "j.yaml", &doc, &err), &err, SUB_E_CONFIG);
    CHECK_STR_EQ(err.msg, msg);
    CHECK(doc.root == NULL);
    sub_yaml_doc_release(&doc);
}

static void check_node(const sub_yaml_node_t *n, sub_yaml_kind_t kind, unsigned line,
                       unsigned column)
{
    CHECK(n != NULL);
    CHECK_EQ(n->kind, kind);
    CHECK_EQ(n->line, line);
    CHECK_EQ(n->column, column);
}

static void check_scalar(const sub_yaml_node_t *n, const char *text, unsigned line, unsigned column)
{
    check_node(n, SUB_YAML_SCALAR, line, column);
    CHECK_STR_EQ(n->scalar, text);
}

static void test_positions(void)
{
    sub_yaml_doc_t doc;
    load_ok("# job\n"
            "name: demo\n"
            "settings:\n"
            "  port: 8080\n"
            "  tags: [a, {k: v}]\n"
            "steps:\n"
            "  - first\n"
            "  -   second: 2\n"
            "      third: \"3\"\n",
            &doc);
    CHECK_STR_EQ(doc.path, "j.yaml");
    const sub_yaml_node_t *root = doc.root;
    check_node(root, SUB_YAML_MAPPING, 2, 1);
    CHECK_EQ(root->len, 3);
    check_scalar(root->keys[0], "name", 2, 1);
    check_scalar(root->values[0], "demo", 2, 7);
    check_scalar(root->keys[1], "settings", 3, 1);
    const sub_yaml_node_t *settings = sub_yaml_map_get(root, "settings");
    check_node(settings, SUB_YAML_MAPPING, 4, 3);
    check_scalar(settings->keys[0], "port", 4, 3);
    check_scalar(sub_yaml_map_get(settings, "port"), "8080", 4, 9);
    const sub_yaml_node_t *tags = sub_yaml_map_get(settings, "tags");
    check_node(tags, SUB_YAML_SEQUENCE, 5, 9);
    CHECK_EQ(tags->len, 2);
    CHECK(tags->keys == NULL);
    check_scalar(tags->values[0], "a", 5, 10);
    check_node(tags->values[1], SUB_YAML_MAPPING, 5, 13);
    check_scalar(tags->values[1]->keys[0], "k", 5, 14);
    check_scalar(sub_yaml_map_get(tags->values[1], "k"), "v", 5, 17);
    const sub_yaml_node_t *steps = sub_yaml_map_get(root, "steps");
    check_node(steps, SUB_YAML_SEQUENCE, 7, 3);
    CHECK_EQ(steps->len, 2);
    check_scalar(steps->values[0], "first", 7, 5);
    check_node(steps->values[1], SUB_YAML_MAPPING, 8, 7);
    check_scalar(steps->values[1]->keys[1], "third", 9, 7);
    check_scalar(sub_yaml_map_get(steps->values[1], "third"), "3", 9, 14);
    sub_yaml_doc_release(&doc);
    CHECK(doc.root == NULL && doc.path == NULL);
}

static void test_scalar_styles(void)
{
    sub_yaml_doc_t doc;
    load_ok("plain: 10\ndq: \"10\"\nsq: '10'\nlit: |\n  a\n  b\nfold: >\n  c\n  d\nnull:\n"
            "utf8: h\xc3\xa9 \xe6\x97\xa5\n",
            &doc);
    const sub_yaml_node_t *r = doc.root;
    CHECK(!sub_yaml_map_get(r, "plain")->quoted);
    CHECK(sub_yaml_map_get(r, "dq")->quoted);
    CHECK(sub_yaml_map_get(r, "sq")->quoted);
    CHECK_STR_EQ(sub_yaml_map_get(r, "lit")->scalar, "a\nb\n");
    CHECK(sub_yaml_map_get(r, "lit")->quoted);
    CHECK_STR_EQ(sub_yaml_map_get(r, "fold")->scalar, "c d\n");
    CHECK(sub_yaml_map_get(r, "fold")->quoted);
    check_scalar(sub_yaml_map_get(r, "null"), "", 10, 6); /* never NULL for a scalar */
    CHECK(!sub_yaml_map_get(r, "null")->quoted);
    CHECK_STR_EQ(sub_yaml_map_get(r, "utf8")->scalar, "h\xc3\xa9 \xe6\x97\xa5");
    sub_yaml_doc_release(&doc);
}

static void test_map_get(void)
{
    sub_yaml_doc_t doc;
    load_ok("a: 1\nb: [x]\n", &doc);
    CHECK_STR_EQ(sub_yaml_map_get(doc.root, "a")->scalar, "1");
    CHECK(sub_yaml_map_get(doc.root, "c") == NULL);
    CHECK(sub_yaml_map_get(sub_yaml_map_get(doc.root, "b"), "x") == NULL); /* a sequence */
    CHECK(sub_yaml_map_get(sub_yaml_map_get(doc.root, "a"), "1") == NULL); /* a scalar */
    CHECK(sub_yaml_map_get(NULL, "a") == NULL);
    sub_yaml_doc_release(&doc);
}

static void test_empty_document(void)
{
    static const char *const empty[] = {"", "\n\n", "# only a comment\n", "---\n", "--- \n...\n"};
    for (size_t i = 0; i < sizeof empty / sizeof *empty; i++) {
        sub_yaml_doc_t doc;
        load_ok(empty[i], &doc);
        CHECK(doc.root == NULL);
        CHECK_STR_EQ(doc.path, "j.yaml");
        sub_yaml_doc_release(&doc);
    }
    /* A quoted empty string or ~ is a document, not an empty one. */
    sub_yaml_doc_t doc;
    load_ok("''\n", &doc);
    check_scalar(doc.root, "", 1, 1);
    sub_yaml_doc_release(&doc);
    load_ok("~\n", &doc);
    check_scalar(doc.root, "~", 1, 1);
    sub_yaml_doc_release(&doc);
}

static void test_syntax_error(void)
{
    load_fails("a: [1, 2\n",
               "j.yaml:2:1: did not find expected ',' or ']' (while parsing a flow sequence)");
    load_fails("a: b: c\n", "j.yaml:1:5: mapping values are not allowed in this context");
    load_fails("a: 1\nb: \"open\n",
               "j.yaml:3:1: found unexpected end of stream (while scanning a quoted scalar)");
    load_fails("- a\nb: 1\n",
               "j.yaml:2:1: did not find expected '-' indicator (while parsing a block "
               "collection)");
}

static void test_tabs_indentation(void)
{
    load_fails("a:\n\tb: 1\n", "j.yaml:2:1: found character that cannot start any token "
                               "(while scanning for the next token)");
    load_fails("a:\n  b: 1\n\tc: 2\n", "j.yaml:3:1: found a tab character that violates "
                                       "indentation (while scanning a plain scalar)");
    load_fails("a: 1\n b: 2\n", "j.yaml:2:3: mapping values are not allowed in this context");
}

static void test_reader_error(void)
{
    /* libyaml gives these an offset, not a line: the position is computed from it, in
     * characters ("é" is one column). */
    load_fails("x: 1\nab: \xc3\xa9\xff\n", "j.yaml:2:6: invalid leading UTF-8 octet");
    load_fails("x: \x01\n", "j.yaml:1:4: control characters are not allowed");
}

static void test_duplicate_key(void)
{
    load_fails("a: 1\nb: 2\na: 3\n", "j.yaml:3:1: duplicate key 'a' (first at line 1)");
    load_fails("top:\n  x: 1\n  y: 2\n  x: 3\n", "j.yaml:4:3: duplicate key 'x' (first at line 2)");
    load_fails("m: {k: 1, k: 2}\n", "j.yaml:1:11: duplicate key 'k' (first at line 1)");
    load_fails("a: 1\n'a': 2\n", "j.yaml:2:1: duplicate key 'a' (first at line 1)");
    /* Same keys in different mappings are fine. */
    sub_yaml_doc_t doc;
    load_ok("a: {x: 1}\nb: {x: 2}\n", &doc);
    sub_yaml_doc_release(&doc);
}

/* Enough keys to grow the duplicate table several times. */
static void test_duplicate_key_large(void)
{
    sub_buf_t b = SUB_BUF_INIT;
    for (int i = 0; i < 3000; i++)
        sub_buf_appendf(&b, NULL, "key%d: %d\n", i, i);
    sub_yaml_doc_t doc;
    load_ok(b.data, &doc);
    CHECK_EQ(doc.root->len, 3000);
    CHECK_STR_EQ(sub_yaml_map_get(doc.root, "key2999")->scalar, "2999");
    sub_yaml_doc_release(&doc);
    sub_buf_appendf(&b, NULL, "key1234: again\n");
    load_fails(b.data, "j.yaml:3001:1: duplicate key 'key1234' (first at line 1235)");
    sub_buf_release(&b);
}

static void test_non_scalar_key(void)
{
    load_fails("? [a]\n: 1\n", "j.yaml:1:3: mapping keys must be scalars");
    load_fails("{{a: 1}: 2}\n", "j.yaml:1:2: mapping keys must be scalars");
}

static void test_alias_refused(void)
{
    load_fails("a: 1\nb: [1, *x]\n", "j.yaml:2:8: aliases are not supported (*x)");
    load_fails("base: &b 1\n", "j.yaml:1:7: anchors are not supported (&b)");
    load_fails("base: &b {a: 1}\nc: *b\n", "j.yaml:1:7: anchors are not supported (&b)");
    load_fails("- &s [1]\n", "j.yaml:1:3: anchors are not supported (&s)");
}

static void test_tag_refused(void)
{
    load_fails("a: !!str 1\n", "j.yaml:1:4: tags are not supported (tag:yaml.org,2002:str)");
    load_fails("a: !custom {x: 1}\n", "j.yaml:1:4: tags are not supported (!custom)");
    load_fails("! x\n", "j.yaml:1:1: tags are not supported (!)");
}

static void test_multi_doc_refused(void)
{
    load_fails("a: 1\n---\nb: 2\n", "j.yaml:2:1: more than one document ('---'): one job per file");
    load_fails("---\na: 1\n...\n---\n",
               "j.yaml:4:1: more than one document ('---'): one job per file");
}

static void test_nul_in_scalar(void)
{
    load_fails("a: \"x\\0y\"\n", "j.yaml:1:4: NUL character in a scalar");
}

static void test_depth_limit(void)
{
    char text[2 * SUB_YAML_MAX_DEPTH + 8];
    sub_yaml_doc_t doc;
    memset(text, '[', SUB_YAML_MAX_DEPTH);
    memset(text + SUB_YAML_MAX_DEPTH, ']', SUB_YAML_MAX_DEPTH);
    text[2 * SUB_YAML_MAX_DEPTH] = '\0';
    load_ok(text, &doc);
    check_node(doc.root, SUB_YAML_SEQUENCE, 1, 1);
    sub_yaml_doc_release(&doc);
    memset(text, '[', SUB_YAML_MAX_DEPTH + 1);
    memset(text + SUB_YAML_MAX_DEPTH + 1, ']', SUB_YAML_MAX_DEPTH + 1);
    text[2 * SUB_YAML_MAX_DEPTH + 2] = '\0';
    load_fails(text, "j.yaml:1:65: nested deeper than 64 levels");
}

static void test_oversize(void)
{
    char *text = sub_xmalloc((size_t)SUB_YAML_MAX_BYTES + 2);
    memset(text, '#', (size_t)SUB_YAML_MAX_BYTES + 1);
    text[SUB_YAML_MAX_BYTES + 1] = '\0';
    sub_yaml_doc_t doc;
    sub_error_t err = {0};
    CHECK_FAILS(sub_yaml_load_string(text, SUB_YAML_MAX_BYTES + 1, "big.yaml", &doc, &err), &err,
                SUB_E_CONFIG);
    CHECK_STR_EQ(err.msg, "big.yaml: larger than 1048576 bytes");
    sub_yaml_doc_release(&doc);
    /* Exactly the cap is fine (a comment: an empty document). */
    CHECK_OK(sub_yaml_load_string(text, SUB_YAML_MAX_BYTES, "big.yaml", &doc, &err), &err);
    CHECK(doc.root == NULL);
    sub_yaml_doc_release(&doc);
    free(text);
}

static void test_load_file(void)
{
    char *dir = sub_test_tmpdir();
    char *path = sub_test_write_file(dir, "job.yaml", "settings:\n  port: abc\n");
    sub_yaml_doc_t doc;
    sub_error_t err = {0};
    CHECK_OK(sub_yaml_load_file(path, &doc, &err), &err);
    CHECK_STR_EQ(doc.path, path);
    const sub_yaml_node_t *port = sub_yaml_map_get(sub_yaml_map_get(doc.root, "settings"), "port");
    int64_t v = 0;
    CHECK(!sub_yaml_get_int64(&doc, port, "settings.port", 1, 65535, &v, &err));
    char *want = sub_xasprintf("%s:2:9: settings.port: expected an integer, got \"abc\"", path);
    CHECK_STR_EQ(err.msg, want);
    sub_yaml_doc_release(&doc);
    free(want);
    /* Syntax errors name the file too. */
    char *bad = sub_test_write_file(dir, "bad.yaml", "a: [\n");
    CHECK_FAILS(sub_yaml_load_file(bad, &doc, &err), &err, SUB_E_CONFIG);
    want = sub_xasprintf("%s:2:1: did not find expected node content (while parsing a flow node)",
                         bad);
    CHECK_STR_EQ(err.msg, want);
    sub_yaml_doc_release(&doc);
    unlink(bad);
    unlink(path);
    rmdir(dir);
    free(want);
    free(bad);
    free(path);
    free(dir);
}

static void test_load_file_errors(void)
{
    char *dir = sub_test_tmpdir();
    char *missing = sub_path_join(dir, "none.yaml");
    sub_yaml_doc_t doc;
    sub_error_t err = {0};
    CHECK_FAILS(sub_yaml_load_file(missing, &doc, &err), &err, SUB_E_CONFIG);
    char *want = sub_xasprintf("%s: No such file or directory", missing);
    CHECK_STR_EQ(err.msg, want);
    CHECK(doc.root == NULL);
    sub_yaml_doc_release(&doc);
    free(want);
    CHECK_FAILS(sub_yaml_load_file(dir, &doc, &err), &err, SUB_E_CONFIG);
    want = sub_xasprintf("%s: is a directory", dir);
    CHECK_STR_EQ(err.msg, want);
    sub_yaml_doc_release(&doc);
    free(want);
    /* One byte over the cap, on disk. */
    char *text = sub_xmalloc((size_t)SUB_YAML_MAX_BYTES + 2);
    memset(text, '#', (size_t)SUB_YAML_MAX_BYTES + 1);
    text[SUB_YAML_MAX_BYTES + 1] = '\0';
    char *big = sub_test_write_file(dir, "big.yaml", text);
    CHECK_FAILS(sub_yaml_load_file(big, &doc, &err), &err, SUB_E_CONFIG);
    want = sub_xasprintf("%s: larger than 1048576 bytes", big);
    CHECK_STR_EQ(err.msg, want);
    sub_yaml_doc_release(&doc);
    unlink(big);
    rmdir(dir);
    free(want);
    free(big);
    free(text);
    free(missing);
    free(dir);
}

/* Runs a getter (call, using d_ and n_) on the value of `key` in text's root mapping; it
 * must fail with the message `want`. */
#define GETTER_FAILS(text, key, call, want)                         \
    do {                                                            \
        sub_yaml_doc_t d_;                                          \
        sub_error_t e_ = {0};                                       \
        load_ok(text, &d_);                                         \
        const sub_yaml_node_t *n_ = sub_yaml_map_get(d_.root, key); \
        (void)n_;                                                   \
        CHECK_FAILS(call, &e_, SUB_E_CONFIG);                       \
        CHECK_STR_EQ(e_.msg, want);                                 \
        sub_yaml_doc_release(&d_);                                  \
    } while (0)

static void test_get_string(void)
{
    sub_yaml_doc_t doc;
    sub_error_t err = {0};
    const char *s = NULL;
    load_ok("a: plain\nb: \"quoted\"\nc:\nd: 12\n", &doc);
    CHECK_OK(sub_yaml_get_string(&doc, sub_yaml_map_get(doc.root, "a"), "a", &s, &err), &err);
    CHECK_STR_EQ(s, "plain");
    CHECK_OK(sub_yaml_get_string(&doc, sub_yaml_map_get(doc.root, "b"), "b", &s, &err), &err);
    CHECK_STR_EQ(s, "quoted");
    CHECK_OK(sub_yaml_get_string(&doc, sub_yaml_map_get(doc.root, "c"), "c", &s, &err), &err);
    CHECK_STR_EQ(s, "");
    CHECK_OK(sub_yaml_get_string(&doc, sub_yaml_map_get(doc.root, "d"), "d", &s, &err), &err);
    CHECK_STR_EQ(s, "12");
    sub_yaml_doc_release(&doc);
    const char *out;
    GETTER_FAILS("x:\n  y: 1\n", "x", sub_yaml_get_string(&d_, n_, "job.x", &out, &e_),
                 "j.yaml:2:3: job.x: expected a string, got a mapping");
    GETTER_FAILS("x: [1]\n", "x", sub_yaml_get_string(&d_, n_, "job.x", &out, &e_),
                 "j.yaml:1:4: job.x: expected a string, got a sequence");
    GETTER_FAILS("x: 1\n", "nope", sub_yaml_get_string(&d_, n_, "job.nope", &out, &e_),
                 "j.yaml: job.nope: expected a string, got nothing");
}

static void test_get_int64(void)
{
    sub_yaml_doc_t doc;
    sub_error_t err = {0};
    int64_t v = 0;
    load_ok("a: 42\nb: -7\nc: +3\nd: 0\ne: 9223372036854775807\nf: -9223372036854775808\n"
            "g: -0\n",
            &doc);
    const sub_yaml_node_t *r = doc.root;
    CHECK_OK(sub_yaml_get_int64(&doc, sub_yaml_map_get(r, "a"), "a", 42, 42, &v, &err), &err);
    CHECK_EQ(v, 42);
    CHECK_OK(sub_yaml_get_int64(&doc, sub_yaml_map_get(r, "b"), "b", -10, 10, &v, &err), &err);
    CHECK_EQ(v, -7);
    CHECK_OK(sub_yaml_get_int64(&doc, sub_yaml_map_get(r, "c"), "c", 0, 10, &v, &err), &err);
    CHECK_EQ(v, 3);
    CHECK_OK(sub_yaml_get_int64(&doc, sub_yaml_map_get(r, "d"), "d", 0, 0, &v, &err), &err);
    CHECK_EQ(v, 0);
    CHECK_OK(
        sub_yaml_get_int64(&doc, sub_yaml_map_get(r, "e"), "e", INT64_MIN, INT64_MAX, &v, &err),
        &err);
    CHECK_EQ(v, INT64_MAX);
    CHECK_OK(
        sub_yaml_get_int64(&doc, sub_yaml_map_get(r, "f"), "f", INT64_MIN, INT64_MAX, &v, &err),
        &err);
    CHECK_EQ(v, INT64_MIN);
    CHECK_OK(sub_yaml_get_int64(&doc, sub_yaml_map_get(r, "g"), "g", 0, 1, &v, &err), &err);
    CHECK_EQ(v, 0);
    sub_yaml_doc_release(&doc);

#define INT_FAILS(text, msg) \
    GETTER_FAILS(text, "port", sub_yaml_get_int64(&d_, n_, "settings.port", 1, 65535, &v, &e_), msg)
    INT_FAILS("port: abc\n", "j.yaml:1:7: settings.port: expected an integer, got \"abc\"");
    INT_FAILS("port: \"10\"\n",
              "j.yaml:1:7: settings.port: expected an integer, got the quoted string \"10\"");
    INT_FAILS("port: '10'\n",
              "j.yaml:1:7: settings.port: expected an integer, got the quoted string \"10\"");
    INT_FAILS("port: 1.5\n", "j.yaml:1:7: settings.port: expected an integer, got \"1.5\"");
    INT_FAILS("port: 0x10\n", "j.yaml:1:7: settings.port: expected an integer, got \"0x10\"");
    INT_FAILS("port: 1_000\n", "j.yaml:1:7: settings.port: expected an integer, got \"1_000\"");
    INT_FAILS("port: +\n", "j.yaml:1:7: settings.port: expected an integer, got \"+\"");
    INT_FAILS("port:\n", "j.yaml:1:6: settings.port: expected an integer, got an empty value");
    INT_FAILS("port: 010\n", "j.yaml:1:7: settings.port: expected an integer without leading "
                             "zeros, got \"010\"");
    INT_FAILS("port: 0\n", "j.yaml:1:7: settings.port: expected an integer from 1 to 65535, "
                           "got \"0\"");
    INT_FAILS("port: 65536\n", "j.yaml:1:7: settings.port: expected an integer from 1 to 65535, "
                               "got \"65536\"");
    INT_FAILS("port: 99999999999999999999\n",
              "j.yaml:1:7: settings.port: expected an integer from 1 to 65535, got "
              "\"99999999999999999999\"");
    INT_FAILS("port: [1]\n", "j.yaml:1:7: settings.port: expected an integer, got a sequence");
    INT_FAILS("other: 1\n", "j.yaml: settings.port: expected an integer, got nothing");
#undef INT_FAILS
}

static void test_get_bool(void)
{
    static const char *const yes[] = {"true", "True", "TRUE", "yes", "Yes", "on", "ON"};
    static const char *const no[] = {"false", "False", "no", "NO", "off", "Off"};
    for (size_t i = 0; i < sizeof yes / sizeof *yes + sizeof no / sizeof *no; i++) {
        bool is_yes = i < sizeof yes / sizeof *yes;
        const char *word = is_yes ? yes[i] : no[i - sizeof yes / sizeof *yes];
        char *text = sub_xasprintf("flag: %s\n", word);
        sub_yaml_doc_t doc;
        sub_error_t err = {0};
        bool v = !is_yes;
        load_ok(text, &doc);
        CHECK_OK(sub_yaml_get_bool(&doc, sub_yaml_map_get(doc.root, "flag"), "flag", &v, &err),
                 &err);
        CHECK_EQ(v, is_yes);
        sub_yaml_doc_release(&doc);
        free(text);
    }
    bool v;
#define BOOL_FAILS(text, msg) \
    GETTER_FAILS(text, "dry_run", sub_yaml_get_bool(&d_, n_, "dry_run", &v, &e_), msg)
    BOOL_FAILS("dry_run: 1\n", "j.yaml:1:10: dry_run: expected true or false, got \"1\"");
    BOOL_FAILS("dry_run: y\n", "j.yaml:1:10: dry_run: expected true or false, got \"y\"");
    BOOL_FAILS("dry_run: truee\n", "j.yaml:1:10: dry_run: expected true or false, got \"truee\"");
    BOOL_FAILS("dry_run: \"true\"\n",
               "j.yaml:1:10: dry_run: expected true or false, got the quoted string \"true\"");
    BOOL_FAILS("dry_run: {a: 1}\n", "j.yaml:1:10: dry_run: expected true or false, got a mapping");
#undef BOOL_FAILS
}

static void test_get_double(void)
{
    static const struct {
        const char *text;
        double want;
    } ok[] = {{"1.5", 1.5},    {"-2", -2.0},         {"+3", 3.0},    {".5", 0.5}, {"5.", 5.0},
              {"1e3", 1000.0}, {"-1.5E-3", -0.0015}, {"0.25", 0.25}, {"0", 0.0},  {"1e-400", 0.0}};
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        char *text = sub_xasprintf("ratio: %s\n", ok[i].text);
        sub_yaml_doc_t doc;
        sub_error_t err = {0};
        double v = -1;
        load_ok(text, &doc);
        CHECK_OK(sub_yaml_get_double(&doc, sub_yaml_map_get(doc.root, "ratio"), "ratio", &v, &err),
                 &err);
        CHECK_DBL_EQ(v, ok[i].want);
        sub_yaml_doc_release(&doc);
        free(text);
    }
    double v;
#define DBL_FAILS(text, msg) \
    GETTER_FAILS(text, "ratio", sub_yaml_get_double(&d_, n_, "split.ratio", &v, &e_), msg)
    DBL_FAILS("ratio: nan\n", "j.yaml:1:8: split.ratio: expected a number, got \"nan\"");
    DBL_FAILS("ratio: inf\n", "j.yaml:1:8: split.ratio: expected a number, got \"inf\"");
    DBL_FAILS("ratio: .inf\n", "j.yaml:1:8: split.ratio: expected a number, got \".inf\"");
    DBL_FAILS("ratio: -.NaN\n", "j.yaml:1:8: split.ratio: expected a number, got \"-.NaN\"");
    DBL_FAILS("ratio: 0x1p3\n", "j.yaml:1:8: split.ratio: expected a number, got \"0x1p3\"");
    DBL_FAILS("ratio: 1e\n", "j.yaml:1:8: split.ratio: expected a number, got \"1e\"");
    DBL_FAILS("ratio: .\n", "j.yaml:1:8: split.ratio: expected a number, got \".\"");
    DBL_FAILS("ratio: 1,5\n", "j.yaml:1:8: split.ratio: expected a number, got \"1,5\"");
    DBL_FAILS("ratio: 010\n", "j.yaml:1:8: split.ratio: expected a number, got \"010\"");
    DBL_FAILS("ratio: 1e999\n", "j.yaml:1:8: split.ratio: expected a finite number, got \"1e999\"");
    DBL_FAILS("ratio: \"0.5\"\n",
              "j.yaml:1:8: split.ratio: expected a number, got the quoted string \"0.5\"");
    DBL_FAILS("ratio: [0.5]\n", "j.yaml:1:8: split.ratio: expected a number, got a sequence");
#undef DBL_FAILS
}

/* What "got ..." quotes: escaped, and cut on a character boundary. */
static void test_error_quoting(void)
{
    int64_t v;
    GETTER_FAILS("n: \"a\\\"b\\\\c\\td\\ne\"\n", "n",
                 sub_yaml_get_int64(&d_, n_, "n", 0, 1, &v, &e_),
                 "j.yaml:1:4: n: expected an integer, got the quoted string "
                 "\"a\\\"b\\\\c\\x09d\\x0ae\"");
    /* 59 ASCII bytes, then "é" across bytes 60-61: kept whole, then "...". */
    GETTER_FAILS("n: xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\xc3\xa9tail\n",
                 "n", sub_yaml_get_int64(&d_, n_, "n", 0, 1, &v, &e_),
                 "j.yaml:1:4: n: expected an integer, got "
                 "\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\xc3\xa9...\"");
}

static void test_yaml_error(void)
{
    sub_yaml_doc_t doc;
    sub_error_t err = {0};
    load_ok("a:\n  b: 1\n", &doc);
    const sub_yaml_node_t *b = sub_yaml_map_get(sub_yaml_map_get(doc.root, "a"), "b");
    CHECK_FAILS(sub_yaml_error(&doc, b, &err, "%s must be %d", "b", 2), &err, SUB_E_CONFIG);
    CHECK_STR_EQ(err.msg, "j.yaml:2:6: b must be 2");
    CHECK_FAILS(sub_yaml_error(&doc, NULL, &err, "no %s", "steps"), &err, SUB_E_CONFIG);
    CHECK_STR_EQ(err.msg, "j.yaml: no steps");
    CHECK(!sub_yaml_error(&doc, b, NULL, "ignored")); /* NULL err is allowed */
    sub_yaml_doc_release(&doc);
}

sub_test_t tests[] = {
    {"positions", test_positions},
    {"scalar_styles", test_scalar_styles},
    {"map_get", test_map_get},
    {"empty_document", test_empty_document},
    {"syntax_error", test_syntax_error},
    {"tabs_indentation", test_tabs_indentation},
    {"reader_error", test_reader_error},
    {"duplicate_key", test_duplicate_key},
    {"duplicate_key_large", test_duplicate_key_large},
    {"non_scalar_key", test_non_scalar_key},
    {"alias_refused", test_alias_refused},
    {"tag_refused", test_tag_refused},
    {"multi_doc_refused", test_multi_doc_refused},
    {"nul_in_scalar", test_nul_in_scalar},
    {"depth_limit", test_depth_limit},
    {"oversize", test_oversize},
    {"load_file", test_load_file},
    {"load_file_errors", test_load_file_errors},
    {"get_string", test_get_string},
    {"get_int64", test_get_int64},
    {"get_bool", test_get_bool},
    {"get_double", test_get_double},
    {"error_quoting", test_error_quoting},
    {"yaml_error", test_yaml_error},
    {NULL, NULL},
};

int main(int argc, char **argv)
{
    return sub_test_main(argc, argv, tests);
}
