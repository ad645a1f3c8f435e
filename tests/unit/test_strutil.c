/* test_strutil.c - buffers, key/value lists, paths, number parsing. */
#include <errno.h>
#include <sys/stat.h>

#include "check.h"
#include "subsetter/strutil.h"

static void test_buf_limit(void)
{
    sub_buf_t b = SUB_BUF_INIT;
    sub_error_t err;
    b.limit = 10;
    CHECK_OK(sub_buf_append(&b, "12345", 5, &err), &err);
    CHECK_OK(sub_buf_appendf(&b, &err, "%d", 6789), &err);
    CHECK_STR_EQ(b.data, "123456789");
    CHECK_OK(sub_buf_appendc(&b, '0', &err), &err);
    CHECK_FAILS(sub_buf_appendc(&b, 'x', &err), &err, SUB_E_INTERNAL);
    CHECK_EQ(b.len, 10); /* a refused append leaves the buffer as it was */
    CHECK_STR_EQ(b.data, "1234567890");
    char *s = sub_buf_take(&b);
    CHECK_STR_EQ(s, "1234567890");
    CHECK(b.data == NULL);
    free(s);
    s = sub_buf_take(&b);
    CHECK_STR_EQ(s, "");
    free(s);
}

static void test_kvlist(void)
{
    sub_kvlist_t l = SUB_KVLIST_INIT;
    for (int i = 0; i < 40; i++) {
        char k[16];
        snprintf(k, sizeof k, "K%d", i);
        sub_kvlist_set(&l, k, "v", (unsigned)i);
    }
    sub_kvlist_set(&l, "K7", "seven", 99);
    CHECK_EQ(l.len, 40);
    CHECK_STR_EQ(sub_kvlist_get(&l, "K7"), "seven");
    CHECK_EQ(sub_kvlist_find(&l, "K7")->line, 99);
    CHECK(sub_kvlist_get(&l, "nope") == NULL);
    sub_kvlist_release(&l);
    CHECK_EQ(l.len, 0);
}

static void test_path_join(void)
{
    char *p = sub_path_join("/a/b/", "/c");
    CHECK_STR_EQ(p, "/a/b/c");
    free(p);
    p = sub_path_join("/", "x");
    CHECK_STR_EQ(p, "/x");
    free(p);
    setenv("HOME", "/home/u", 1);
    p = sub_path_expand_home("~/fiftyone");
    CHECK_STR_EQ(p, "/home/u/fiftyone");
    free(p);
    p = sub_path_expand_home("~other/x"); /* ~user is not expanded */
    CHECK_STR_EQ(p, "~other/x");
    free(p);
}

static void test_parse_int(void)
{
    int64_t v;
    CHECK(sub_parse_int64("10000", 1, 100000, &v));
    CHECK_EQ(v, 10000);
    CHECK(!sub_parse_int64("0", 1, 10, &v));
    CHECK(!sub_parse_int64("10x", 1, 100, &v));
    CHECK(!sub_parse_int64("", 1, 100, &v));
    CHECK(!sub_parse_int64("99999999999999999999", INT64_MIN, INT64_MAX, &v));
    CHECK(sub_parse_int64("-5", -10, 10, &v));
    CHECK_EQ(v, -5);
}

static void test_parse_bool(void)
{
    bool b;
    CHECK(sub_parse_bool("Yes", &b) && b);
    CHECK(sub_parse_bool("off", &b) && !b);
    CHECK(sub_parse_bool("1", &b) && b);
    CHECK(!sub_parse_bool("maybe", &b));
}

static void test_mkdir_p(void)
{
    char *dir = sub_test_tmpdir();
    char *deep = sub_path_join(dir, "a/b/c");
    sub_error_t err;
    CHECK_OK(sub_mkdir_p(deep, &err), &err);
    CHECK_OK(sub_mkdir_p(deep, &err), &err); /* idempotent */
    struct stat st;
    CHECK_EQ(stat(deep, &st), 0);
    char *file = sub_test_write_file(dir, "f", "x");
    char *under = sub_path_join(file, "sub");
    CHECK_FAILS(sub_mkdir_p(under, &err), &err, SUB_E_IO);
    CHECK_CONTAINS(err.msg, "/f");
    free(under);
    free(file);
    free(deep);
    free(dir);
}

static void write_bytes(const char *path, const char *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    CHECK_EQ(fwrite(data, 1, n, f), n);
    fclose(f);
}

static void test_read_file(void)
{
    char *dir = sub_test_tmpdir();
    char *small = sub_path_join(dir, "small"), *big = sub_path_join(dir, "big");
    char *none = sub_path_join(dir, "none"), *empty = sub_path_join(dir, "empty");
    size_t n = 300000;
    char *data = sub_xmalloc(n);
    for (size_t i = 0; i < n; i++)
        data[i] = (char)(i * 7 + (i >> 9));
    data[10] = '\0'; /* binary: NUL bytes count */
    write_bytes(small, "abc", 3);
    write_bytes(big, data, n);
    write_bytes(empty, "", 0);
    sub_buf_t b = SUB_BUF_INIT;
    sub_error_t err;
    CHECK(sub_buf_read_file(&b, big, &err));
    CHECK_EQ(b.len, n);
    CHECK(memcmp(b.data, data, n) == 0);
    size_t cap = b.cap;
    /* a smaller file reuses the memory, and replaces the content */
    CHECK(sub_buf_read_file(&b, small, &err));
    CHECK_EQ(b.len, 3);
    CHECK_STR_EQ(b.data, "abc");
    CHECK_EQ(b.cap, cap);
    CHECK(sub_buf_read_file(&b, empty, &err));
    CHECK_EQ(b.len, 0);
    CHECK(!sub_buf_read_file(&b, none, &err));
    CHECK_EQ(err.code, SUB_E_IO);
    CHECK_EQ(err.cause, ENOENT);
    CHECK(strstr(err.msg, none) != NULL);
    CHECK(!sub_buf_read_file(&b, dir, &err)); /* a directory cannot be read */
    CHECK_EQ(err.code, SUB_E_IO);
    /* a limit is honoured */
    sub_buf_t lim = {.limit = 1000};
    CHECK(!sub_buf_read_file(&lim, big, &err));
    CHECK_EQ(err.code, SUB_E_INTERNAL);
    sub_buf_release(&lim);
    sub_buf_release(&b);
    free(data);
    free(small);
    free(big);
    free(none);
    free(empty);
    free(dir);
}

/* Strict UTF-8, as Python decodes it: each sequence, and what is refused. */
static void test_utf8(void)
{
    static const struct {
        const char *s;
        size_t len;
        uint32_t cp;
    } cases[] = {
        {"A", 1, 0x41},
        {"", 1, 0},
        {"\xC3\xA9", 2, 0xE9},
        {"\xE3\x81\x8B", 3, 0x304B},
        {"\xF0\x9F\x8D\xA9", 4, 0x1F369},
        {"\xF4\x8F\xBF\xBF", 4, 0x10FFFF},
        {"\xC0\xAF", 0, 0},         /* overlong '/' */
        {"\xE0\x80\xAF", 0, 0},     /* overlong */
        {"\xED\xA0\x80", 0, 0},     /* a surrogate */
        {"\xF4\x90\x80\x80", 0, 0}, /* past U+10FFFF */
        {"\xE3\x81", 0, 0},         /* truncated */
        {"\x80", 0, 0},             /* a lone continuation byte */
        {"\xFF", 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint32_t cp = 0xDEAD;
        size_t n = sub_utf8_decode((const unsigned char *)cases[i].s, &cp);
        CHECK_EQ(n, cases[i].len);
        if (n)
            CHECK_EQ(cp, cases[i].cp);
    }
    CHECK_EQ(sub_utf8_count("a\xC3\xA9\xF0\x9F\x8D\xA9z"), 4);
    CHECK_EQ(sub_utf8_count(""), 0);
}

static const sub_test_t tests[] = {
    {"utf8", test_utf8},
    {"read_file", test_read_file},
    {"buf_limit", test_buf_limit},
    {"kvlist", test_kvlist},
    {"path_join", test_path_join},
    {"parse_int", test_parse_int},
    {"parse_bool", test_parse_bool},
    {"mkdir_p", test_mkdir_p},
    {NULL, NULL},
};

int main(int argc, char **argv)
{
    return sub_test_main(argc, argv, tests);
}
