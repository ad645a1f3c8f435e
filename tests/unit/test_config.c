/* test_config.c - the five configuration layers, their origins, and value checks. */
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "subsetter/config.h"
#include "subsetter/log.h"

static void clear_env(void)
{
    for (int i = 0; i < SUB_SET__COUNT; i++)
        unsetenv(sub_settings[i].env);
    unsetenv("SUBSETTER_ENV_FILE");
}

/* A temp dir holding job.yaml and .env that both set the database name, made the cwd. */
static char *layered_dir(void)
{
    char *dir = sub_test_tmpdir();
    free(sub_test_write_file(dir, "job.yaml",
                             "settings:\n  database_name: from_yaml\n  log_level: debug\n"
                             "  server_selection_timeout_ms: 1234\n"));
    free(sub_test_write_file(dir, ".env",
                             "# shared with FiftyOne\nexport FIFTYONE_DATABASE_NAME=from_dotenv\n"
                             "FIFTYONE_DATASET_ZOO_DIR='~/zoo'\nOTHER_TOOL_SETTING=x\n"));
    if (chdir(dir) != 0)
        abort();
    return dir;
}

static void load(sub_config_inputs_t *in, sub_config_t *cfg)
{
    sub_error_t err;
    CHECK_OK(sub_config_load(in, cfg, &err), &err);
}

static void test_precedence(void)
{
    clear_env();
    setenv("HOME", "/home/u", 1);
    char *dir = layered_dir();
    sub_config_inputs_t in = {.flags = SUB_KVLIST_INIT, .job_file = "job.yaml"};
    sub_config_t cfg;

    load(&in, &cfg); /* yaml < .env */
    CHECK_STR_EQ(sub_config_get(&cfg, SUB_SET_DATABASE_NAME), "from_dotenv");
    CHECK_STR_EQ(sub_config_origin(&cfg, SUB_SET_DATABASE_NAME), ".env:2");
    CHECK_STR_EQ(sub_config_get(&cfg, SUB_SET_LOG_LEVEL), "debug");
    CHECK_STR_EQ(sub_config_origin(&cfg, SUB_SET_LOG_LEVEL), "job.yaml:3:14");
    CHECK_EQ(sub_config_int(&cfg, SUB_SET_SERVER_SELECTION_TIMEOUT_MS), 1234);
    CHECK_STR_EQ(sub_config_get(&cfg, SUB_SET_MEDIA_ROOT), "/home/u/zoo"); /* ~ expanded */
    CHECK_STR_EQ(sub_config_get(&cfg, SUB_SET_HOME), "/home/u/.subsetter");
    CHECK_STR_EQ(sub_config_origin(&cfg, SUB_SET_HOME), "default");
    CHECK(sub_config_get(&cfg, SUB_SET_DATABASE_URI) == NULL);
    sub_config_release(&cfg);

    setenv("FIFTYONE_DATABASE_NAME", "from_env", 1); /* .env < environment */
    load(&in, &cfg);
    CHECK_STR_EQ(sub_config_get(&cfg, SUB_SET_DATABASE_NAME), "from_env");
    CHECK_STR_EQ(sub_config_origin(&cfg, SUB_SET_DATABASE_NAME), "env FIFTYONE_DATABASE_NAME");
    sub_config_release(&cfg);

    sub_kvlist_set(&in.flags, "FIFTYONE_DATABASE_NAME", "from_flag", 0); /* env < flag */
    load(&in, &cfg);
    CHECK_STR_EQ(sub_config_get(&cfg, SUB_SET_DATABASE_NAME), "from_flag");
    CHECK_STR_EQ(sub_config_origin(&cfg, SUB_SET_DATABASE_NAME), "--database-name");
    sub_config_release(&cfg);
    sub_kvlist_release(&in.flags);
    clear_env();
    free(dir);
}

static void test_defaults(void)
{
    clear_env();
    char *dir = sub_test_tmpdir();
    if (chdir(dir) != 0)
        abort();
    sub_config_inputs_t in = {.flags = SUB_KVLIST_INIT};
    sub_config_t cfg;
    load(&in, &cfg);
    CHECK_STR_EQ(sub_config_get(&cfg, SUB_SET_DATABASE_NAME), "fiftyone");
    CHECK_STR_EQ(sub_config_get(&cfg, SUB_SET_FIFTYONE_VERSION), "1.11.0");
    CHECK_STR_EQ(sub_config_get(&cfg, SUB_SET_MIN_SERVER_VERSION), "4.4");
    CHECK_EQ(sub_config_int(&cfg, SUB_SET_SERVER_SELECTION_TIMEOUT_MS), 10000);
    CHECK(!cfg.env_file_found);
    sub_config_release(&cfg);
    free(dir);
}

static void test_empty_uri_is_unset(void)
{
    clear_env();
    char *dir = sub_test_tmpdir();
    if (chdir(dir) != 0)
        abort();
    setenv("FIFTYONE_DATABASE_URI", "", 1);
    sub_config_inputs_t in = {.flags = SUB_KVLIST_INIT};
    sub_config_t cfg;
    load(&in, &cfg);
    CHECK(sub_config_get(&cfg, SUB_SET_DATABASE_URI) == NULL);
    sub_config_release(&cfg);
    clear_env();
    free(dir);
}

static void test_uri_password_is_secret(void)
{
    clear_env();
    char *dir = sub_test_tmpdir();
    if (chdir(dir) != 0)
        abort();
    setenv("FIFTYONE_DATABASE_URI", "mongodb://bob:hunter2%21@db.example:27017/?authSource=admin",
           1);
    sub_config_inputs_t in = {.flags = SUB_KVLIST_INIT};
    sub_config_t cfg;
    load(&in, &cfg);
    sub_error_t err;
    sub_error_set(&err, SUB_E_AUTH, 0, "raw hunter2%%21, decoded hunter2!");
    CHECK_STR_EQ(err.msg, "raw ***, decoded ***");
    sub_config_release(&cfg);
    sub_log_clear_secrets();
    clear_env();
    free(dir);
}

static void test_bad_values(void)
{
    sub_error_t err;
    CHECK_FAILS(sub_config_check_value(SUB_SET_SERVER_SELECTION_TIMEOUT_MS, "abc", "env X", &err),
                &err, SUB_E_CONFIG);
    CHECK_CONTAINS(err.msg, "SUBSETTER_SERVER_SELECTION_TIMEOUT_MS (env X)");
    CHECK_FAILS(sub_config_check_value(SUB_SET_SERVER_SELECTION_TIMEOUT_MS, "0", "o", &err), &err,
                SUB_E_CONFIG);
    CHECK_FAILS(sub_config_check_value(SUB_SET_LOG_LEVEL, "loud", "o", &err), &err, SUB_E_CONFIG);
    CHECK_FAILS(sub_config_check_value(SUB_SET_MIN_SERVER_VERSION, "v4", "o", &err), &err,
                SUB_E_CONFIG);
    CHECK_FAILS(sub_config_check_value(SUB_SET_DATABASE_NAME, "a.b", "o", &err), &err,
                SUB_E_CONFIG);
    CHECK_FAILS(sub_config_check_value(SUB_SET_DATABASE_NAME, "", "o", &err), &err, SUB_E_CONFIG);
    CHECK_FAILS(sub_config_check_value(
                    SUB_SET_DATABASE_NAME,
                    "a123456789012345678901234567890123456789012345678901234567890123", "o", &err),
                &err, SUB_E_CONFIG);
    CHECK_OK(sub_config_check_value(SUB_SET_DATABASE_NAME, "fiftyone-test_1", "o", &err), &err);
    CHECK_FAILS(sub_config_check_value(SUB_SET_MEDIA_ROOT, "", "o", &err), &err, SUB_E_CONFIG);
}

static void test_bad_layers(void)
{
    clear_env();
    char *dir = sub_test_tmpdir();
    if (chdir(dir) != 0)
        abort();
    sub_config_inputs_t in = {.flags = SUB_KVLIST_INIT, .job_file = "job.yaml"};
    sub_config_t cfg;
    sub_error_t err;

    free(sub_test_write_file(dir, "job.yaml", "settings:\n  no_such_setting: 1\n"));
    CHECK_FAILS(sub_config_load(&in, &cfg, &err), &err, SUB_E_CONFIG);
    CHECK_STR_EQ(err.msg, "job.yaml:2:3: settings: unknown key 'no_such_setting'");
    sub_config_release(&cfg);

    free(sub_test_write_file(dir, "job.yaml", "settings:\n  log_level: [a]\n"));
    CHECK_FAILS(sub_config_load(&in, &cfg, &err), &err, SUB_E_CONFIG);
    CHECK_CONTAINS(err.msg, "job.yaml:2:14: settings.log_level");
    sub_config_release(&cfg);

    free(sub_test_write_file(dir, "job.yaml", "settings:\n  log_level: loud\n"));
    CHECK_FAILS(sub_config_load(&in, &cfg, &err), &err, SUB_E_CONFIG);
    CHECK_CONTAINS(err.msg, "SUBSETTER_LOG_LEVEL (job.yaml:2:14)");
    sub_config_release(&cfg);

    in.job_file = NULL;
    in.env_file = "missing.env"; /* named explicitly, so it must exist */
    CHECK_FAILS(sub_config_load(&in, &cfg, &err), &err, SUB_E_CONFIG);
    CHECK_CONTAINS(err.msg, "missing.env");
    sub_config_release(&cfg);
    free(dir);
}

static void test_versions(void)
{
    int v[3];
    CHECK(sub_version_parse("6.0.5", v));
    CHECK_EQ(v[0], 6);
    CHECK_EQ(v[2], 5);
    CHECK(sub_version_parse("4.4", v));
    CHECK(sub_version_parse("7.0.2-rc1", v));
    CHECK(!sub_version_parse("x.1", v));
    CHECK(!sub_version_parse("", v));
    CHECK_LT(sub_version_cmp("4.2.24", "4.4"), 0);
    CHECK_EQ(sub_version_cmp("4.4.0", "4.4"), 0);
    CHECK_GT(sub_version_cmp("6.0.5", "4.4"), 0);
    CHECK_GT(sub_version_cmp("10.0", "9.9.9"), 0);
}

static const sub_test_t tests[] = {
    {"precedence", test_precedence},
    {"defaults", test_defaults},
    {"empty_uri_is_unset", test_empty_uri_is_unset},
    {"uri_password_is_secret", test_uri_password_is_secret},
    {"bad_values", test_bad_values},
    {"bad_layers", test_bad_layers},
    {"versions", test_versions},
    {NULL, NULL},
};

int main(int argc, char **argv)
{
    return sub_test_main(argc, argv, tests);
}
