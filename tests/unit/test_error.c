/* test_error.c - the error table, messages and secret scrubbing. */
#include "check.h"
#include "subsetter/error.h"
#include "subsetter/log.h"

static void test_codes_and_exits(void)
{
    /* The documented exit codes: changing one is a breaking change for scripts. */
    CHECK_EQ(sub_code_exit(SUB_E_OK), 0);
    CHECK_EQ(sub_code_exit(SUB_E_USAGE), 2);
    CHECK_EQ(sub_code_exit(SUB_E_CONFIG), 3);
    CHECK_EQ(sub_code_exit(SUB_E_UNREACHABLE), 4);
    CHECK_EQ(sub_code_exit(SUB_E_AUTH), 5);
    CHECK_EQ(sub_code_exit(SUB_E_TLS), 6);
    CHECK_EQ(sub_code_exit(SUB_E_SERVER_VERSION), 7);
    CHECK_EQ(sub_code_exit(SUB_E_PRIVILEGE), 8);
    CHECK_EQ(sub_code_exit(SUB_E_NOT_RUNNING), 12);
    CHECK_STR_EQ(sub_code_name(SUB_E_TLS), "TLS");
    CHECK_CONTAINS(sub_code_description(SUB_E_AUTH), "authentication");
    /* Every code has a distinct exit status. */
    for (int a = 0; a < SUB_E__COUNT; a++)
        for (int b = a + 1; b < SUB_E__COUNT; b++)
            CHECK_NE(sub_code_exit((sub_code_t)a), sub_code_exit((sub_code_t)b));
}

static void test_set_and_prefix(void)
{
    sub_error_t err;
    CHECK(!sub_error_set(&err, SUB_E_IO, 28, "write %s: %s", "/x", "No space left on device"));
    CHECK_EQ(err.code, SUB_E_IO);
    CHECK_EQ(err.cause, 28);
    CHECK_STR_EQ(err.msg, "write /x: No space left on device");
    CHECK(!sub_error_prefix(&err, "export %d", 3));
    CHECK_STR_EQ(err.msg, "export 3: write /x: No space left on device");
    CHECK_EQ(err.code, SUB_E_IO);
    CHECK(!sub_error_set(NULL, SUB_E_IO, 0, "ignored"));
}

static void test_scrub_secrets(void)
{
    sub_error_t err;
    sub_log_add_secret("s3cr3t!");
    sub_error_set(&err, SUB_E_AUTH, 0, "auth as bob:%s failed, %s again", "s3cr3t!", "s3cr3t!");
    CHECK_STR_EQ(err.msg, "auth as bob:*** failed, *** again");
    char buf[16] = "xs3cr3t!s3cr3t!";
    sub_log_scrub(buf, sizeof buf);
    CHECK_STR_EQ(buf, "x******");
    sub_log_clear_secrets();
    sub_error_set(&err, SUB_E_AUTH, 0, "%s", "s3cr3t!");
    CHECK_STR_EQ(err.msg, "s3cr3t!");
}

static const sub_test_t tests[] = {
    {"codes_and_exits", test_codes_and_exits},
    {"set_and_prefix", test_set_and_prefix},
    {"scrub_secrets", test_scrub_secrets},
    {NULL, NULL},
};

int main(int argc, char **argv)
{
    return sub_test_main(argc, argv, tests);
}
