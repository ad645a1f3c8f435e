/* cli.h - command-line parsing, dispatch, and what every command shares.
 *
 * `subsetter [options] <command> [args]`: options may stand before or after the command.
 * Every setting of settings.h has a flag (`--database-uri URI`, `--database-name=NAME`);
 * plus --env-file, --job, --json, -q/--quiet, -v/--verbose, -h/--help, --version.
 * A command returns the process exit code; errors are printed once, by sub_cli_fail().
 */
#ifndef SUBSETTER_CLI_H
#define SUBSETTER_CLI_H

#include <stdbool.h>

#include <bson/bson.h>

#include "subsetter/config.h"
#include "subsetter/db.h"
#include "subsetter/error.h"
#include "subsetter/runs.h"
#include "subsetter/strutil.h"

typedef struct {
    const char *command; /* "doctor", "db", ... */
    sub_config_t cfg;
    bool json;  /* machine-readable output on stdout */
    bool quiet; /* -q: no progress output */
    int argc;   /* the command's own positional arguments */
    char **argv;
    sub_kvlist_t opts; /* the command's own options: name (no "--") -> value, "" for flags */
} sub_cmd_ctx_t;

/* A command's own option; it must come after the command name. */
typedef struct {
    const char *name; /* without the leading "--" */
    bool takes_value;
} sub_option_t;

typedef struct {
    const char *name;
    int (*run)(sub_cmd_ctx_t *ctx);
    const char *summary;         /* one line for `subsetter --help` */
    const char *usage;           /* the full text of `subsetter <name> --help` */
    const sub_option_t *options; /* ends with a NULL name; NULL for none */
} sub_command_t;

/* Parses argv, loads the configuration, runs the command; returns the exit code. */
int sub_cli_main(int argc, char **argv);

/* Prints err ("subsetter <command>: <message>", plus a JSON error object on stdout with
 * --json) and returns its exit code. */
int sub_cli_fail(const sub_cmd_ctx_t *ctx, const sub_error_t *err);

/* Prints only the error line ("subsetter <command>: <message>") on stderr and returns the
 * exit code: for a command whose --json object already holds the error. */
int sub_cli_error_exit(const sub_cmd_ctx_t *ctx, const sub_error_t *err);

/* Appends "ok": false and "error": {code, exit, message} to doc: the one shape of a
 * failure in --json output. */
void sub_cli_append_error(bson_t *doc, const sub_error_t *err);

/* Prints doc as relaxed extended JSON on one line of stdout. */
void sub_cli_print_json(const bson_t *doc);

/* Commands, one file each. */
int sub_cmd_doctor(sub_cmd_ctx_t *ctx);
int sub_cmd_db(sub_cmd_ctx_t *ctx);
int sub_cmd_schema(sub_cmd_ctx_t *ctx);
int sub_cmd_config(sub_cmd_ctx_t *ctx);
int sub_cmd_ingest(sub_cmd_ctx_t *ctx);
int sub_cmd_label(sub_cmd_ctx_t *ctx);
int sub_cmd_survey(sub_cmd_ctx_t *ctx);
int sub_cmd_sample(sub_cmd_ctx_t *ctx);
int sub_cmd_fetch(sub_cmd_ctx_t *ctx);
int sub_cmd_export(sub_cmd_ctx_t *ctx);
int sub_cmd_stats(sub_cmd_ctx_t *ctx);
int sub_cmd_preview(sub_cmd_ctx_t *ctx);
int sub_cmd_run(sub_cmd_ctx_t *ctx);

extern const char sub_doctor_usage[];
extern const char sub_db_usage[];
extern const char sub_schema_usage[];
extern const char sub_config_usage[];
extern const char sub_ingest_usage[];
extern const sub_option_t sub_ingest_options[];
extern const char sub_label_usage[];
extern const sub_option_t sub_label_options[];
extern const char sub_survey_usage[];
extern const sub_option_t sub_survey_options[];
extern const char sub_sample_usage[];
extern const sub_option_t sub_sample_options[];
extern const char sub_fetch_usage[];
extern const sub_option_t sub_fetch_options[];
extern const char sub_export_usage[];
extern const sub_option_t sub_export_options[];
extern const char sub_stats_usage[];
extern const sub_option_t sub_stats_options[];
extern const char sub_preview_usage[];
extern const sub_option_t sub_preview_options[];
extern const char sub_run_usage[];
extern const sub_option_t sub_run_options[];

/* What every stage command does first: open the database, apply the schemas, begin the
 * run document. */
bool sub_cmd_begin(sub_cmd_ctx_t *ctx, sub_db_t *db, const char *stage, const char *dataset,
                   const bson_t *params, sub_run_t *run, sub_error_t *err);
/* Ends the run document (a failure to record it is only logged), closes the database and
 * returns the exit code, printing err on failure. */
int sub_cmd_end(sub_cmd_ctx_t *ctx, sub_db_t *db, const sub_run_t *run, bool began, bool ok,
                const bson_t *counts, const sub_error_t *err);
/* The same for a command that prints one --json object holding both its counts and, on
 * failure, the error (sub_cli_append_error): the error goes to stderr only. */
int sub_cmd_end_own_json(sub_cmd_ctx_t *ctx, sub_db_t *db, const sub_run_t *run, bool began,
                         bool ok, const bson_t *counts, const sub_error_t *err);

/* Points *value at the required option --name: -1 when it is there and not empty, else the
 * exit code of the usage error it printed (the parse_opts convention: -1 goes on). */
int sub_cli_require(const sub_cmd_ctx_t *ctx, const char *name, const char **value);

/* A usage error for the command (exit 2), e.g. for a bad option value. */
int sub_cli_usage(const sub_cmd_ctx_t *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
