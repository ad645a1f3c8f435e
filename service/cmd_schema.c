#define SUB_LOG_DOMAIN "schema"
/* cmd_schema.c - `subsetter schema apply|status`. */
#include <stdio.h>
#include <string.h>

#include "subsetter/bsonutil.h"
#include "subsetter/cli.h"
#include "subsetter/db.h"
#include "subsetter/schema.h"

const char sub_schema_usage[] =
    "usage: subsetter schema apply|status [--json]\n\n"
    "The service's own collections (subsetter.runs, subsetter.sources,\n"
    "subsetter.fetch_tasks) carry the $jsonSchema validators and indexes declared in\n"
    "sql-free-schemas/. Every stage applies them when it starts; these commands do it alone.\n\n"
    "  apply    create what is missing, replace a validator that differs (collMod);\n"
    "           a second run changes nothing\n"
    "  status   report what is in place, writing nothing; exits 3 when something is not\n";

static void report_json(const sub_schema_report_t *rep, bool apply)
{
    bson_t doc = BSON_INITIALIZER, arr, one;
    sub_bson_array_t keys = {.arr = &arr};
    bool changed = false;
    BSON_APPEND_BOOL(&doc, "ok", true);
    BSON_APPEND_BOOL(&doc, "in_place", sub_schema_report_ok(rep));
    BSON_APPEND_ARRAY_BEGIN(&doc, "collections", &arr);
    for (size_t i = 0; i < rep->len; i++) {
        const sub_schema_result_t *r = &rep->items[i];
        bson_append_document_begin(&arr, sub_bson_array_next_key(&keys), -1, &one);
        BSON_APPEND_UTF8(&one, "name", r->collection);
        BSON_APPEND_UTF8(&one, "file", r->file);
        BSON_APPEND_BOOL(&one, "exists", r->exists);
        BSON_APPEND_BOOL(&one, "validator_ok", r->validator_ok);
        if (r->missing_indexes)
            BSON_APPEND_UTF8(&one, "missing_indexes", r->missing_indexes);
        if (apply) {
            BSON_APPEND_BOOL(&one, "created", r->created);
            BSON_APPEND_BOOL(&one, "validator_updated", r->validator_updated);
            BSON_APPEND_INT32(&one, "indexes_created", r->indexes_created);
        }
        bson_append_document_end(&arr, &one);
        changed |= r->created || r->validator_updated || r->indexes_created > 0;
    }
    bson_append_array_end(&doc, &arr);
    if (apply)
        BSON_APPEND_BOOL(&doc, "changed", changed);
    sub_cli_print_json(&doc);
    bson_destroy(&doc);
}

static void report_text(const sub_schema_report_t *rep, bool apply)
{
    for (size_t i = 0; i < rep->len; i++) {
        const sub_schema_result_t *r = &rep->items[i];
        printf("%-24s %s", r->collection,
               !r->exists           ? "missing"
               : !r->validator_ok   ? "validator differs"
               : r->missing_indexes ? "indexes missing"
                                    : "in place");
        if (r->missing_indexes && r->exists)
            printf(" (%s)", r->missing_indexes);
        if (apply)
            printf("%s%s, %d index%s created", r->created ? ", created" : "",
                   r->validator_updated ? ", validator updated" : "", r->indexes_created,
                   r->indexes_created == 1 ? "" : "es");
        printf("  [sql-free-schemas/%s]\n", r->file);
    }
}

int sub_cmd_schema(sub_cmd_ctx_t *ctx)
{
    sub_error_t err = {0};
    sub_db_t db = {0};
    sub_schema_report_t rep = {0};
    const char *action = ctx->argc == 1 ? ctx->argv[0] : "";
    bool apply = strcmp(action, "apply") == 0;
    int rc = 0;

    if (!apply && strcmp(action, "status") != 0) {
        sub_error_set(&err, SUB_E_USAGE, 0, "expected apply or status");
        return sub_cli_fail(ctx, &err);
    }
    if (!sub_db_open(&ctx->cfg, &db, &err))
        return sub_cli_fail(ctx, &err);
    bool ok = apply ? sub_schema_apply(&db, &rep, &err) : sub_schema_status(&db, &rep, &err);
    if (!ok)
        rc = sub_cli_fail(ctx, &err);
    else if (ctx->json)
        report_json(&rep, apply);
    else
        report_text(&rep, apply);
    if (ok && !sub_schema_report_ok(&rep))
        rc = sub_code_exit(SUB_E_CONFIG);
    sub_schema_report_release(&rep);
    sub_db_close(&db);
    return rc;
}
