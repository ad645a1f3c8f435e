#define SUB_LOG_DOMAIN "config"
/* cmd_config.c - `subsetter config`: the effective settings and where each came from. */
#include <stdio.h>
#include <stdlib.h>

#include "subsetter/cli.h"
#include "subsetter/strutil.h"
#include "subsetter/uri.h"

const char sub_config_usage[] =
    "usage: subsetter config [--json]\n\n"
    "Prints every setting with its effective value and where that value came from: a flag,\n"
    "the environment, a line of the .env file, a line:column of the job file, or the\n"
    "default. Passwords in FIFTYONE_DATABASE_URI are shown as ***.\n";

/* The value as it may be shown: URIs redacted. Caller frees. */
static char *shown(const sub_config_t *cfg, int i)
{
    const char *v = sub_config_get(cfg, (sub_setting_id_t)i);
    if (!v)
        return NULL;
    return sub_settings[i].secret ? sub_uri_redact(v) : sub_xstrdup(v);
}

int sub_cmd_config(sub_cmd_ctx_t *ctx)
{
    if (ctx->argc > 0) {
        sub_error_t err;
        sub_error_set(&err, SUB_E_USAGE, 0, "unexpected argument '%s'", ctx->argv[0]);
        return sub_cli_fail(ctx, &err);
    }
    bson_t doc = BSON_INITIALIZER, settings, one;
    BSON_APPEND_DOCUMENT_BEGIN(&doc, "settings", &settings);
    for (int i = 0; i < SUB_SET__COUNT; i++) {
        char *v = shown(&ctx->cfg, i);
        const char *origin = sub_config_origin(&ctx->cfg, (sub_setting_id_t)i);
        if (ctx->json) {
            BSON_APPEND_DOCUMENT_BEGIN(&settings, sub_settings[i].env, &one);
            if (v)
                BSON_APPEND_UTF8(&one, "value", v);
            else
                BSON_APPEND_NULL(&one, "value");
            BSON_APPEND_UTF8(&one, "origin", origin);
            bson_append_document_end(&settings, &one);
        } else {
            printf("%-40s %-40s (%s)\n", sub_settings[i].env, v ? v : "(unset)", origin);
        }
        free(v);
    }
    bson_append_document_end(&doc, &settings);
    if (ctx->json) {
        BSON_APPEND_UTF8(&doc, "env_file", ctx->cfg.env_file ? ctx->cfg.env_file : "");
        BSON_APPEND_BOOL(&doc, "env_file_found", ctx->cfg.env_file_found);
        sub_cli_print_json(&doc);
    } else {
        printf("\n.env file: %s (%s)\n", ctx->cfg.env_file,
               ctx->cfg.env_file_found ? "read" : "not found");
    }
    bson_destroy(&doc);
    return 0;
}
