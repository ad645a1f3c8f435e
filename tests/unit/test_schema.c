/* test_schema.c - the compiled-in sql-free-schemas files parse and have the right shape.
 * Applying them to a real server is tested in tests/integration/test_schema.py. */
#include "check.h"
#include "subsetter/bsonutil.h"
#include "subsetter/schema.h"

static void test_embedded_files_parse(void)
{
    const char *want[] = {"subsetter.fetch_tasks", "subsetter.runs", "subsetter.sources"};
    size_t n = 0;
    for (const sub_schema_file_t *f = sub_schema_files; f->name; f++, n++) {
        bson_t spec;
        sub_error_t err;
        CHECK_OK(sub_schema_parse(f, &spec, &err), &err);
        CHECK(n < 3);
        CHECK_STR_EQ(sub_bson_get_str(&spec, "collection"), want[n]);
        bson_t v, js;
        CHECK(sub_bson_get_doc(&spec, "validator", &v));
        CHECK(sub_bson_get_doc(&v, "$jsonSchema", &js));
        bson_destroy(&spec);
    }
    CHECK_EQ(n, 3);
}

static void test_bad_files(void)
{
    bson_t spec;
    sub_error_t err;
    sub_schema_file_t broken = {"broken.json", "{\"collection\": "};
    CHECK_FAILS(sub_schema_parse(&broken, &spec, &err), &err, SUB_E_CONFIG);
    CHECK_CONTAINS(err.msg, "sql-free-schemas/broken.json");
    bson_destroy(&spec);

    sub_schema_file_t foreign = {"x.json", "{\"collection\": \"samples.x\"}"};
    CHECK_FAILS(sub_schema_parse(&foreign, &spec, &err), &err, SUB_E_CONFIG);
    CHECK_CONTAINS(err.msg, "subsetter.*");
    bson_destroy(&spec);

    sub_schema_file_t noindex = {
        "y.json", "{\"collection\": \"subsetter.y\", \"validator\": {}, \"validationLevel\": "
                  "\"strict\", \"validationAction\": \"error\", \"indexes\": [{\"name\": \"a\"}]}"};
    CHECK_FAILS(sub_schema_parse(&noindex, &spec, &err), &err, SUB_E_CONFIG);
    CHECK_CONTAINS(err.msg, "needs a name and a key");
    bson_destroy(&spec);
}

static const sub_test_t tests[] = {
    {"embedded_files_parse", test_embedded_files_parse},
    {"bad_files", test_bad_files},
    {NULL, NULL},
};

int main(int argc, char **argv)
{
    return sub_test_main(argc, argv, tests);
}
