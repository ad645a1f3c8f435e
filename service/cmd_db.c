#define SUB_LOG_DOMAIN "db"
/* cmd_db.c - `subsetter db start|stop|status|uri`: the embedded local mongod. */
#include <stdio.h>
#include <string.h>

#include "subsetter/cli.h"
#include "subsetter/mongod.h"

const char sub_db_usage[] =
    "usage: subsetter db start|stop|status|uri [--json]\n\n"
    "The embedded default: with no FIFTYONE_DATABASE_URI, subsetter runs one local mongod\n"
    "per SUBSETTER_HOME, bound to 127.0.0.1 on a free port, data under\n"
    "SUBSETTER_HOME/var/lib/mongo. Every command starts it when needed or reuses the\n"
    "running one; concurrent processes share it.\n\n"
    "  start    start it, or report the running one\n"
    "  stop     stop it (SIGTERM, SIGKILL after 30 s); exits 0 also when none runs\n"
    "  status   say whether it runs; exits 0 when it does, 12 when it does not\n"
    "  uri      print its URI, for mongosh, pymongo or FIFTYONE_DATABASE_URI; exits 12\n"
    "           when it does not run\n";

static void print_info(const sub_cmd_ctx_t *ctx, const sub_mongod_info_t *info, bool running,
                       const char *action)
{
    if (ctx->json) {
        bson_t doc = BSON_INITIALIZER;
        BSON_APPEND_BOOL(&doc, "ok", true);
        BSON_APPEND_BOOL(&doc, "running", running);
        BSON_APPEND_UTF8(&doc, "action", action);
        if (running) {
            BSON_APPEND_INT32(&doc, "pid", info->pid);
            BSON_APPEND_INT32(&doc, "port", info->port);
            BSON_APPEND_UTF8(&doc, "uri", info->uri);
        }
        BSON_APPEND_UTF8(&doc, "dbpath", info->dbpath ? info->dbpath : "");
        BSON_APPEND_UTF8(&doc, "logpath", info->logpath ? info->logpath : "");
        sub_cli_print_json(&doc);
        bson_destroy(&doc);
        return;
    }
    if (running)
        printf("mongod %s: pid %d, %s\n  data %s\n  log  %s\n", action, info->pid, info->uri,
               info->dbpath, info->logpath);
    else if (info->dbpath)
        printf("mongod %s (data %s)\n", action, info->dbpath);
    else
        printf("mongod %s\n", action);
}

static int db_start(sub_cmd_ctx_t *ctx, sub_mongod_info_t *info, sub_error_t *err)
{
    bool started;
    if (!sub_mongod_ensure(&ctx->cfg, info, &started, err))
        return sub_cli_fail(ctx, err);
    print_info(ctx, info, true, started ? "started" : "already running");
    return 0;
}

static int db_stop(sub_cmd_ctx_t *ctx, sub_mongod_info_t *info, sub_error_t *err)
{
    bool was_running;
    if (!sub_mongod_stop(&ctx->cfg, &was_running, err))
        return sub_cli_fail(ctx, err);
    print_info(ctx, info, false, was_running ? "stopped" : "was not running");
    return 0;
}

static int db_status(sub_cmd_ctx_t *ctx, sub_mongod_info_t *info, sub_error_t *err, bool uri)
{
    bool running;
    if (!sub_mongod_status(&ctx->cfg, info, &running, err))
        return sub_cli_fail(ctx, err);
    if (!running && uri) {
        sub_error_set(err, SUB_E_NOT_RUNNING, 0,
                      "the embedded mongod is not running (start it with `subsetter db start`)");
        return sub_cli_fail(ctx, err);
    }
    if (uri && !ctx->json)
        printf("%s\n", info->uri);
    else
        print_info(ctx, info, running, running ? "running" : "not running");
    return running ? 0 : sub_code_exit(SUB_E_NOT_RUNNING);
}

int sub_cmd_db(sub_cmd_ctx_t *ctx)
{
    sub_error_t err = {0};
    sub_mongod_info_t info = {0};
    int rc;
    const char *action = ctx->argc == 1 ? ctx->argv[0] : "";

    if (sub_config_get(&ctx->cfg, SUB_SET_DATABASE_URI))
        fprintf(stderr,
                "subsetter db: note: FIFTYONE_DATABASE_URI is set (%s), so other commands "
                "use that server, not this one\n",
                sub_config_origin(&ctx->cfg, SUB_SET_DATABASE_URI));
    if (strcmp(action, "start") == 0)
        rc = db_start(ctx, &info, &err);
    else if (strcmp(action, "stop") == 0)
        rc = db_stop(ctx, &info, &err);
    else if (strcmp(action, "status") == 0)
        rc = db_status(ctx, &info, &err, false);
    else if (strcmp(action, "uri") == 0)
        rc = db_status(ctx, &info, &err, true);
    else {
        sub_error_set(&err, SUB_E_USAGE, 0, "expected start, stop, status or uri%s%s",
                      ctx->argc ? ", got " : "", ctx->argc ? ctx->argv[0] : "");
        rc = sub_cli_fail(ctx, &err);
    }
    sub_mongod_info_release(&info);
    return rc;
}
