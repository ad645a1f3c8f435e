/* error.h - one error type for the whole service, and the exit codes it maps to.
 *
 * Every fallible function returns bool and takes `sub_error_t *err` last (NULL allowed),
 * in the style of libbson's bson_error_t. The code names a category that the command
 * driver turns into a process exit code; the message says what failed and why, lowercase,
 * no trailing period ("connect 127.0.0.1:27017: connection refused").
 *
 * The table below is the single source of the exit codes documented in the README and in
 * `subsetter --help`: add a code here and both follow.
 */
#ifndef SUBSETTER_ERROR_H
#define SUBSETTER_ERROR_H

#include <stdbool.h>

/* X(name, exit_code, short description) */
#define SUB_ERROR_MAP(X)                                                                  \
    X(OK, 0, "success")                                                                   \
    X(INTERNAL, 1, "internal error")                                                      \
    X(USAGE, 2, "usage error: unknown command, option or argument")                       \
    X(CONFIG, 3, "configuration error: bad setting, .env or job file")                    \
    X(UNREACHABLE, 4, "database unreachable: no server answered in time")                 \
    X(AUTH, 5, "authentication failed")                                                   \
    X(TLS, 6, "TLS failure: handshake or certificate not trusted")                        \
    X(SERVER_VERSION, 7, "server too old or unsupported")                                 \
    X(PRIVILEGE, 8, "the database user lacks a privilege the service needs")              \
    X(DB, 9, "a database command failed")                                                 \
    X(IO, 10, "local file system error")                                                  \
    X(MONGOD, 11, "the embedded mongod could not be found or started")                    \
    X(NOT_RUNNING, 12, "the embedded mongod is not running")                              \
    X(INPUT, 13, "bad input: a source file is unusable or has too many bad rows")         \
    X(INFEASIBLE, 14, "the data cannot satisfy the request (too few classes or samples)") \
    X(NOT_FOUND, 15, "no such dataset")                                                   \
    X(INCOMPLETE, 16, "the dataset's media are incomplete: some failed or were interrupted")

typedef enum {
#define SUB_X(name, code, msg) SUB_E_##name,
    SUB_ERROR_MAP(SUB_X)
#undef SUB_X
        SUB_E__COUNT
} sub_code_t;

#define SUB_ERROR_MSG_SIZE 512

typedef struct {
    sub_code_t code;
    int cause;                    /* errno, bson domain/code, CURLcode... 0 if none */
    char msg[SUB_ERROR_MSG_SIZE]; /* "what failed: why" */
} sub_error_t;

/* Fills *err (if not NULL) and returns false, so callers can `return sub_error_set(...)`.
 * The message is scrubbed of registered secrets (see log.h) before it is stored. */
bool sub_error_set(sub_error_t *err, sub_code_t code, int cause, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Prepends "what: " to an existing message, keeping its code: context added on the way up. */
bool sub_error_prefix(sub_error_t *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

void sub_error_clear(sub_error_t *err);

/* "UNREACHABLE", "AUTH", ... Borrowed, static storage. */
const char *sub_code_name(sub_code_t code);

/* The one-line description from the table. Borrowed, static storage. */
const char *sub_code_description(sub_code_t code);

/* The process exit code for an error code. */
int sub_code_exit(sub_code_t code);

#endif
