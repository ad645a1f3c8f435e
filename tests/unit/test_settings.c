/* test_settings.c - the settings table is consistent: names unique, lookups work. */
#include "check.h"
#include "subsetter/dotenv.h"
#include "subsetter/settings.h"

static void test_unique_names(void)
{
    for (int a = 0; a < SUB_SET__COUNT; a++) {
        CHECK(sub_settings[a].env && sub_settings[a].flag && sub_settings[a].yaml);
        CHECK(sub_settings[a].description && *sub_settings[a].description);
        for (int b = a + 1; b < SUB_SET__COUNT; b++) {
            CHECK(strcmp(sub_settings[a].env, sub_settings[b].env) != 0);
            CHECK(strcmp(sub_settings[a].flag, sub_settings[b].flag) != 0);
            CHECK(strcmp(sub_settings[a].yaml, sub_settings[b].yaml) != 0);
        }
    }
}

static void test_lookups(void)
{
    sub_setting_id_t id;
    CHECK(sub_setting_by_env("FIFTYONE_DATABASE_URI", &id));
    CHECK_EQ(id, SUB_SET_DATABASE_URI);
    CHECK(sub_setting_by_flag("media-root", &id));
    CHECK_EQ(id, SUB_SET_MEDIA_ROOT);
    CHECK_STR_EQ(sub_settings[id].env, "FIFTYONE_DATASET_ZOO_DIR");
    CHECK(sub_setting_by_yaml("database_name", &id));
    CHECK_EQ(id, SUB_SET_DATABASE_NAME);
    CHECK(sub_setting_by_env("NOPE", NULL) == NULL);
    /* FiftyOne's names and defaults, so one .env serves both tools. */
    CHECK_STR_EQ(sub_settings[SUB_SET_DATABASE_NAME].def, "fiftyone");
    CHECK_STR_EQ(sub_settings[SUB_SET_MEDIA_ROOT].def, "~/fiftyone");
    CHECK(sub_settings[SUB_SET_DATABASE_URI].secret);
}

static char *read_source_file(const char *name)
{
    const char *root = getenv("SUB_TEST_SOURCE_DIR");
    CHECK(root != NULL);
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", root, name);
    FILE *f = fopen(path, "rb");
    CHECK(f != NULL);
    char *text = calloc(1, 1 << 20);
    CHECK(text != NULL);
    size_t n = fread(text, 1, (1 << 20) - 1, f);
    CHECK(n > 0);
    fclose(f);
    return text;
}

/* .env.example and the README's configuration table name every setting, and
 * .env.example itself parses as a .env file. */
static void test_documented_everywhere(void)
{
    char *example = read_source_file(".env.example");
    char *readme = read_source_file("README.md");
    for (int i = 0; i < SUB_SET__COUNT; i++) {
        char row[128];
        snprintf(row, sizeof row, "| `%s` | `--%s` |", sub_settings[i].env, sub_settings[i].flag);
        CHECK_CONTAINS(example, sub_settings[i].env);
        CHECK_CONTAINS(readme, row);
    }
    sub_kvlist_t kv = SUB_KVLIST_INIT;
    sub_error_t err;
    CHECK_OK(sub_dotenv_parse_string(example, ".env.example", &kv, &err), &err);
    CHECK_STR_EQ(sub_kvlist_get(&kv, "FIFTYONE_DATABASE_NAME"), "fiftyone");
    sub_kvlist_release(&kv);
    free(example);
    free(readme);
}

static const sub_test_t tests[] = {
    {"documented_everywhere", test_documented_everywhere},
    {"unique_names", test_unique_names},
    {"lookups", test_lookups},
    {NULL, NULL},
};

int main(int argc, char **argv)
{
    return sub_test_main(argc, argv, tests);
}
