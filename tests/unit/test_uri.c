/* test_uri.c - passwords never leave through a URI. */
#include "check.h"
#include "subsetter/log.h"
#include "subsetter/uri.h"

static void redacts(const char *in, const char *want)
{
    char *got = sub_uri_redact(in);
    CHECK_STR_EQ(got, want);
    free(got);
}

static void test_redact(void)
{
    redacts("mongodb://127.0.0.1:27017/", "mongodb://127.0.0.1:27017/");
    redacts("mongodb://user@h/?authMechanism=MONGODB-X509",
            "mongodb://user@h/?authMechanism=MONGODB-X509");
    redacts("mongodb://u:pw@h1,h2:27018/?replicaSet=rs0&authSource=admin",
            "mongodb://u:***@h1,h2:27018/?replicaSet=rs0&authSource=admin");
    redacts("mongodb+srv://u:pw@cluster0.example.net/db?tls=true",
            "mongodb+srv://u:***@cluster0.example.net/db?tls=true");
    /* Unescaped '@' and '/' in a password are user mistakes; still hidden. */
    redacts("mongodb://u:p@ss@h/", "mongodb://u:***@h/");
    redacts("mongodb://u:p/ss@h/x", "mongodb://u:***@h/x");
    redacts("mongodb://u:@h/", "mongodb://u:***@h/");
    char *none = sub_uri_redact(NULL);
    CHECK_STR_EQ(none, "(none)");
    free(none);
}

static void test_register_secrets(void)
{
    sub_uri_register_secrets("mongodb://u:p%40ss%3Aw@h/");
    char buf[128] = "p%40ss%3Aw and p@ss:w";
    sub_log_scrub(buf, sizeof buf);
    CHECK_STR_EQ(buf, "*** and ***");
    sub_log_clear_secrets();
    sub_uri_register_secrets("mongodb://h/"); /* no password: nothing registered */
    char keep[32] = "mongodb://h/";
    sub_log_scrub(keep, sizeof keep);
    CHECK_STR_EQ(keep, "mongodb://h/");
}

static const sub_test_t tests[] = {
    {"redact", test_redact},
    {"register_secrets", test_register_secrets},
    {NULL, NULL},
};

int main(int argc, char **argv)
{
    return sub_test_main(argc, argv, tests);
}
