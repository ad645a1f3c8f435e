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
#include "subsetter/error.h"

typedef struct {
    const char *command; /* "doctor", "db", ... */
    sub_config_t cfg;
    bool json; /* machine-readable output on stdout */
    int argc;  /* the command's own arguments (options removed) */
    char **argv;
} sub_cmd_ctx_t;

typedef struct {
    const char *name;
    int (*run)(sub_cmd_ctx_t *ctx);
    const char *summary; /* one line for `subsetter --help` */
    const char *usage;   /* the full text of `subsetter <name> --help` */
} sub_command_t;

/* Parses argv, loads the configuration, runs the command; returns the exit code. */
int sub_cli_main(int argc, char **argv);

/* Prints err ("subsetter <command>: <message>", plus a JSON error object on stdout with
 * --json) and returns its exit code. */
int sub_cli_fail(const sub_cmd_ctx_t *ctx, const sub_error_t *err);

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

extern const char sub_doctor_usage[];
extern const char sub_db_usage[];
extern const char sub_schema_usage[];
extern const char sub_config_usage[];

#endif
