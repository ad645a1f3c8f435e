#define SUB_LOG_DOMAIN "cli"
#include "subsetter/cli.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <mongoc/mongoc.h>
#include <yaml.h>

#include "subsetter/log.h"
#include "subsetter/schema.h"
#include "subsetter/settings.h"
#include "subsetter/strutil.h"
#include "subsetter/version.h"

static const sub_command_t commands[] = {
    {"run", sub_cmd_run, "run a job file's stages in order, skipping what is done", sub_run_usage,
     sub_run_options},
    {"doctor", sub_cmd_doctor, "check the connection, privileges, schemas and FiftyOne datasets",
     sub_doctor_usage, NULL},
    {"ingest", sub_cmd_ingest, "load source metadata into a FiftyOne dataset in MongoDB",
     sub_ingest_usage, sub_ingest_options},
    {"label", sub_cmd_label, "give single-label samples their ground_truth (server-side)",
     sub_label_usage, sub_label_options},
    {"survey", sub_cmd_survey, "how many samples per class a balanced K-class subset can have",
     sub_survey_usage, sub_survey_options},
    {"sample", sub_cmd_sample, "create a balanced, reproducible subset as a new dataset",
     sub_sample_usage, sub_sample_options},
    {"fetch", sub_cmd_fetch,
     "download the media of a dataset's samples (leases, retries, backfill)", sub_fetch_usage,
     sub_fetch_options},
    {"export", sub_cmd_export, "export a dataset as an ImageFolder tree or a manifest",
     sub_export_usage, sub_export_options},
    {"stats", sub_cmd_stats, "a subset's mean/std, average size and class counts as JSON",
     sub_stats_usage, sub_stats_options},
    {"preview", sub_cmd_preview, "a subset at a glance: contact sheet (JPEG), class counts (SVG)",
     sub_preview_usage, sub_preview_options},
    {"db", sub_cmd_db, "start, stop or inspect the embedded local mongod", sub_db_usage, NULL},
    {"schema", sub_cmd_schema, "apply or check the validators and indexes of sql-free-schemas/",
     sub_schema_usage, NULL},
    {"config", sub_cmd_config, "show the effective settings and where each one came from",
     sub_config_usage, NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

typedef struct {
    bool help, version, json, quiet, verbose;
    const char *env_file;
    const char *job;
    sub_kvlist_t flags; /* env name -> value */
    const char *command;
    const sub_command_t *cmd; /* once the command name is known */
    sub_kvlist_t opts;        /* the command's own options */
    char **rest;
    int nrest;
} args_t;

static void print_help(FILE *out)
{
    fprintf(out, "usage: subsetter [options] <command> [args]\n\n"
                 "Builds balanced, single-label image-classification subsets of large public\n"
                 "collections, with MongoDB in FiftyOne's schema as the working store.\n\n"
                 "commands:\n");
    for (const sub_command_t *c = commands; c->name; c++)
        fprintf(out, "  %-10s %s\n", c->name, c->summary);
    fprintf(out, "  %-10s %s\n", "help", "show this text, or a command's (`help doctor`)");
    fprintf(out, "  %-10s %s\n", "version", "print the version and the library versions");
    fprintf(out,
            "\noptions (before or after the command):\n"
            "  -h, --help          help for subsetter or the command\n"
            "  --version           print the version\n"
            "  --json              machine-readable output on stdout\n"
            "  -q, --quiet         log errors only\n"
            "  -v, --verbose       log debug messages\n"
            "  --env-file PATH     .env file to read (default ./.env, or $SUBSETTER_ENV_FILE)\n"
            "  --job PATH          job YAML whose `settings:` section supplies defaults\n");
    for (int i = 0; i < SUB_SET__COUNT; i++)
        fprintf(out, "  --%s=VALUE\n      %s: %s%s%s%s\n", sub_settings[i].flag,
                sub_settings[i].env, sub_settings[i].description,
                sub_settings[i].def ? " (default " : "",
                sub_settings[i].def ? sub_settings[i].def : "", sub_settings[i].def ? ")" : "");
    fprintf(out, "\nPrecedence: flags, then environment, then .env, then the job file, then "
                 "defaults.\n\nexit codes:\n");
    for (int c = 0; c < SUB_E__COUNT; c++)
        fprintf(out, "  %3d  %s\n", sub_code_exit((sub_code_t)c),
                sub_code_description((sub_code_t)c));
}

static const sub_command_t *find_command(const char *name)
{
    for (const sub_command_t *c = commands; c->name; c++)
        if (strcmp(c->name, name) == 0)
            return c;
    return NULL;
}

static int usage_error(const char *what, const char *arg)
{
    fprintf(stderr, "subsetter: %s '%s'\n(see `subsetter --help`)\n", what, arg);
    return sub_code_exit(SUB_E_USAGE);
}

/* "--name=value" or "--name value": returns the value and advances *i, or NULL. */
static const char *option_value(int argc, char **argv, int *i, const char *eq)
{
    if (eq)
        return eq + 1;
    if (*i + 1 >= argc)
        return NULL;
    return argv[++*i];
}

static bool take_valued(args_t *a, int argc, char **argv, int *i, int *rc)
{
    const char *arg = argv[*i] + 2;
    const char *eq = strchr(arg, '=');
    size_t n = eq ? (size_t)(eq - arg) : strlen(arg);
    char name[64];
    if (n >= sizeof name)
        return false;
    memcpy(name, arg, n);
    name[n] = '\0';

    const sub_setting_t *s = sub_setting_by_flag(name, NULL);
    bool is_env = strcmp(name, "env-file") == 0, is_job = strcmp(name, "job") == 0;
    if (!s && !is_env && !is_job)
        return false;
    const char *v = option_value(argc, argv, i, eq);
    if (!v) {
        *rc = usage_error("this option needs a value:", argv[*i]);
        return true;
    }
    if (is_env)
        a->env_file = v;
    else if (is_job)
        a->job = v;
    else
        sub_kvlist_set(&a->flags, s->env, v, 0);
    return true;
}

/* A command's own option (after the command name). Returns false if it is not one. */
static bool take_command_option(args_t *a, int argc, char **argv, int *i, int *rc)
{
    if (!a->cmd || !a->cmd->options)
        return false;
    const char *arg = argv[*i] + 2;
    const char *eq = strchr(arg, '=');
    size_t n = eq ? (size_t)(eq - arg) : strlen(arg);
    for (const sub_option_t *o = a->cmd->options; o->name; o++) {
        if (strlen(o->name) != n || strncmp(o->name, arg, n) != 0)
            continue;
        const char *v = "";
        if (o->takes_value && !(v = option_value(argc, argv, i, eq)))
            *rc = usage_error("this option needs a value:", argv[*i]);
        else if (!o->takes_value && eq)
            *rc = usage_error("this option takes no value:", argv[*i]);
        else
            sub_kvlist_set(&a->opts, o->name, v, 0);
        return true;
    }
    return false;
}

/* Returns -1 when parsing succeeded, else the exit code. */
static int parse_args(int argc, char **argv, args_t *a)
{
    bool dashdash = false;
    a->rest = sub_xmalloc((size_t)argc * sizeof *a->rest);
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        int rc = -1;
        if (dashdash || arg[0] != '-' || strcmp(arg, "-") == 0) {
            if (!a->command) {
                a->command = arg;
                a->cmd = find_command(arg);
            } else
                a->rest[a->nrest++] = argv[i];
        } else if (strcmp(arg, "--") == 0) {
            dashdash = true;
        } else if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            a->help = true;
        } else if (strcmp(arg, "--version") == 0) {
            a->version = true;
        } else if (strcmp(arg, "--json") == 0) {
            a->json = true;
        } else if (strcmp(arg, "-q") == 0 || strcmp(arg, "--quiet") == 0) {
            a->quiet = true;
        } else if (strcmp(arg, "-v") == 0 || strcmp(arg, "--verbose") == 0) {
            a->verbose = true;
        } else if (sub_str_starts_with(arg, "--") &&
                   (take_valued(a, argc, argv, &i, &rc) ||
                    take_command_option(a, argc, argv, &i, &rc))) {
            if (rc >= 0)
                return rc;
        } else {
            return usage_error("unknown option", arg);
        }
    }
    return -1;
}

static int print_version(void)
{
    printf("subsetter %s\n", SUBSETTER_VERSION);
    printf("libmongoc %s, libbson %s, libcurl %s, libyaml %s\n", mongoc_get_version(),
           bson_get_version(), curl_version_info(CURLVERSION_NOW)->version,
           yaml_get_version_string());
    return 0;
}

static void set_log_level(const args_t *a, const sub_config_t *cfg)
{
    sub_log_level_t level = SUB_LOG_INFO;
    sub_log_level_parse(sub_config_get(cfg, SUB_SET_LOG_LEVEL), &level);
    if (a->quiet)
        level = SUB_LOG_ERROR;
    if (a->verbose)
        level = SUB_LOG_DEBUG;
    sub_log_threshold = level;
}

static int dispatch(args_t *a)
{
    if (a->version || (a->command && strcmp(a->command, "version") == 0))
        return print_version();
    if (!a->command) {
        print_help(a->help ? stdout : stderr);
        return a->help ? 0 : sub_code_exit(SUB_E_USAGE);
    }
    if (strcmp(a->command, "help") == 0) {
        const sub_command_t *c = a->nrest ? find_command(a->rest[0]) : NULL;
        if (a->nrest && !c)
            return usage_error("no command named", a->rest[0]);
        if (c)
            fputs(c->usage, stdout);
        else
            print_help(stdout);
        return 0;
    }
    const sub_command_t *c = find_command(a->command);
    if (!c)
        return usage_error("no command named", a->command);
    if (a->help) {
        fputs(c->usage, stdout);
        return 0;
    }

    sub_cmd_ctx_t ctx = {.command = c->name,
                         .json = a->json,
                         .quiet = a->quiet,
                         .argc = a->nrest,
                         .argv = a->rest,
                         .opts = a->opts};
    /* `run JOB.yaml`: the job's settings apply to the run, as --job JOB.yaml would */
    const char *job = a->job;
    if (!job && strcmp(c->name, "run") == 0 && a->nrest == 1)
        job = a->rest[0];
    sub_config_inputs_t in = {.flags = a->flags, .env_file = a->env_file, .job_file = job};
    sub_error_t err = {0};
    int rc;
    if (!sub_config_load(&in, &ctx.cfg, &err))
        rc = sub_cli_fail(&ctx, &err);
    else {
        set_log_level(a, &ctx.cfg);
        rc = c->run(&ctx);
    }
    sub_config_release(&ctx.cfg);
    return rc;
}

int sub_cli_main(int argc, char **argv)
{
    args_t a = {.flags = SUB_KVLIST_INIT, .opts = SUB_KVLIST_INIT};
    int rc = parse_args(argc, argv, &a);
    if (rc < 0)
        rc = dispatch(&a);
    sub_kvlist_release(&a.flags);
    sub_kvlist_release(&a.opts);
    free(a.rest);
    return rc;
}

void sub_cli_print_json(const bson_t *doc)
{
    char *s = bson_as_relaxed_extended_json(doc, NULL);
    printf("%s\n", s);
    bson_free(s);
    fflush(stdout);
}

int sub_cli_usage(const sub_cmd_ctx_t *ctx, const char *fmt, ...)
{
    sub_error_t err;
    char msg[SUB_ERROR_MSG_SIZE];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    sub_error_set(&err, SUB_E_USAGE, 0, "%s (see `subsetter %s --help`)", msg, ctx->command);
    return sub_cli_fail(ctx, &err);
}

int sub_cli_require(const sub_cmd_ctx_t *ctx, const char *name, const char **value)
{
    *value = sub_kvlist_get(&ctx->opts, name);
    return *value && **value ? -1 : sub_cli_usage(ctx, "--%s is required", name);
}

void sub_cli_append_error(bson_t *doc, const sub_error_t *err)
{
    bson_t e;
    BSON_APPEND_BOOL(doc, "ok", false);
    BSON_APPEND_DOCUMENT_BEGIN(doc, "error", &e);
    BSON_APPEND_UTF8(&e, "code", sub_code_name(err->code));
    BSON_APPEND_INT32(&e, "exit", sub_code_exit(err->code));
    BSON_APPEND_UTF8(&e, "message", err->msg);
    bson_append_document_end(doc, &e);
}

int sub_cli_error_exit(const sub_cmd_ctx_t *ctx, const sub_error_t *err)
{
    fprintf(stderr, "subsetter %s: %s\n", ctx->command ? ctx->command : "", err->msg);
    return sub_code_exit(err->code);
}

/* Opens the database, applies the schemas and begins a run document: what every stage
 * command does first. */
bool sub_cmd_begin(sub_cmd_ctx_t *ctx, sub_db_t *db, const char *stage, const char *dataset,
                   const bson_t *params, sub_run_t *run, sub_error_t *err)
{
    sub_schema_report_t rep = {0};
    bool ok = sub_db_open(&ctx->cfg, db, err);
    ok = ok && sub_schema_apply(db, &rep, err) &&
         sub_run_begin(db, stage, dataset, params, run, err);
    sub_schema_report_release(&rep);
    return ok;
}

/* Ends the run document (a failure to record it is only logged) and closes the database. */
static void end_run(sub_db_t *db, const sub_run_t *run, bool began, bool ok, const bson_t *counts,
                    const sub_error_t *err)
{
    sub_error_t rec;
    if (began && !sub_run_end(db, run, ok ? "done" : "failed", counts, ok ? NULL : err, &rec))
        SUB_LOG(SUB_LOG_WARN, "could not record the run: %s", rec.msg);
    sub_db_close(db);
}

int sub_cmd_end(sub_cmd_ctx_t *ctx, sub_db_t *db, const sub_run_t *run, bool began, bool ok,
                const bson_t *counts, const sub_error_t *err)
{
    end_run(db, run, began, ok, counts, err);
    return ok ? 0 : sub_cli_fail(ctx, err);
}

int sub_cmd_end_own_json(sub_cmd_ctx_t *ctx, sub_db_t *db, const sub_run_t *run, bool began,
                         bool ok, const bson_t *counts, const sub_error_t *err)
{
    end_run(db, run, began, ok, counts, err);
    return ok ? 0 : sub_cli_error_exit(ctx, err);
}

int sub_cli_fail(const sub_cmd_ctx_t *ctx, const sub_error_t *err)
{
    int rc = sub_cli_error_exit(ctx, err);
    if (ctx->json) {
        bson_t doc = BSON_INITIALIZER;
        sub_cli_append_error(&doc, err);
        sub_cli_print_json(&doc);
        bson_destroy(&doc);
    }
    return rc;
}
