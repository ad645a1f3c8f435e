/* test_export.c - safe folder names, CSV fields and write-if-changed of the exporter. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "subsetter/export.h"

static void check_safe(const char *label, const char *want)
{
    char *s = sub_export_safe_name(label);
    CHECK_STR_EQ(s, want);
    free(s);
}

static void test_safe_name(void)
{
    check_safe("Cat", "Cat");
    check_safe("../x", ".._x");
    check_safe("a/b\\c", "a_b_c");
    check_safe("..", "_");
    check_safe(".", "_");
    check_safe("", "_");
    check_safe(NULL, "_");
    check_safe("trail. .", "trail");
    check_safe("tab\there\x01\x7f", "tab_here__");
    check_safe("a<b>c:d\"e|f?g*h", "a_b_c_d_e_f_g_h");
    check_safe("con", "_con");
    check_safe("CON.txt", "_CON.txt");
    check_safe("nul ", "_nul");
    check_safe("Com1", "_Com1");
    check_safe("lpt9.x", "_lpt9.x");
    check_safe("com10", "com10");
    check_safe("console", "console");
    check_safe("Tennis racket (toy)", "Tennis racket (toy)");
}

static void test_safe_name_utf8_cut(void)
{
    char label[401];
    for (int i = 0; i < 200; i++)
        memcpy(label + 2 * i, "\xc3\xa9", 2); /* 200 x "é": 400 bytes */
    label[400] = '\0';
    char *s = sub_export_safe_name(label);
    CHECK_EQ((int64_t)strlen(s), 200);
    free(s);
    label[0] = 'x'; /* "x" + 199 "é": byte 200 is inside a character, the cut moves back */
    memmove(label + 1, label + 2, 399);
    s = sub_export_safe_name(label);
    CHECK_EQ((int64_t)strlen(s), 199);
    CHECK(((unsigned char)s[198] & 0xC0) == 0x80);
    free(s);
}

static void check_csv(const char *in, const char *want)
{
    sub_buf_t b = SUB_BUF_INIT;
    sub_error_t err;
    CHECK_OK(sub_export_csv_field(&b, in, &err), &err);
    CHECK_STR_EQ(b.data ? b.data : "", want);
    sub_buf_release(&b);
}

static void test_csv_field(void)
{
    check_csv("plain", "plain");
    check_csv(NULL, "");
    check_csv("a,b", "\"a,b\"");
    check_csv("say \"hi\"", "\"say \"\"hi\"\"\"");
    check_csv("two\r\nlines", "\"two\r\nlines\"");
    check_csv(" lead", "\" lead\"");
}

static void test_write_file_unchanged(void)
{
    char dir[] = "/tmp/test_export.XXXXXX";
    sub_error_t err;
    struct stat a, b;
    CHECK(mkdtemp(dir) != NULL);
    char *path = sub_path_join(dir, "f.txt");
    CHECK_OK(sub_export_write_file(path, "hello", 5, &err), &err);
    CHECK(stat(path, &a) == 0);
    CHECK_OK(sub_export_write_file(path, "hello", 5, &err), &err);
    CHECK(stat(path, &b) == 0);
    CHECK_EQ((int64_t)a.st_ino, (int64_t)b.st_ino); /* not replaced */
    CHECK_OK(sub_export_write_file(path, "hullo", 5, &err), &err);
    CHECK(stat(path, &b) == 0);
    CHECK_NE((int64_t)a.st_ino, (int64_t)b.st_ino);
    unlink(path);
    rmdir(dir);
    free(path);
}

static const sub_test_t tests[] = {
    {"safe_name", test_safe_name},
    {"safe_name_utf8_cut", test_safe_name_utf8_cut},
    {"csv_field", test_csv_field},
    {"write_file_unchanged", test_write_file_unchanged},
    {NULL, NULL},
};

int main(int argc, char **argv)
{
    return sub_test_main(argc, argv, tests);
}
