/* settings.h - every setting the service reads, in one table.
 *
 * A setting has an environment name (also its .env name), a command-line flag, a key in
 * the `settings:` section of a job YAML file, a default and a one-line description. The
 * README's configuration table, `subsetter config` and `--help` are all derived from this
 * table, so they cannot drift apart.
 *
 * The FIFTYONE_* names are FiftyOne's own, so one .env serves both tools.
 */
#ifndef SUBSETTER_SETTINGS_H
#define SUBSETTER_SETTINGS_H

#include <stdbool.h>

typedef enum {
    SUB_TYPE_STRING,
    SUB_TYPE_INT,
    SUB_TYPE_PATH,
    SUB_TYPE_LEVEL,
    SUB_TYPE_VERSION
} sub_type_t;

/* X(id, env name, flag, yaml key, type, default (NULL = unset), secret, description) */
#define SUB_SETTINGS_MAP(X)                                                                        \
    X(DATABASE_URI, "FIFTYONE_DATABASE_URI", "database-uri", "database_uri", SUB_TYPE_STRING,      \
      NULL, true,                                                                                  \
      "MongoDB URI (mongodb:// or mongodb+srv://, TLS and authSource options honored); "           \
      "unset: the embedded local mongod")                                                          \
    X(DATABASE_NAME, "FIFTYONE_DATABASE_NAME", "database-name", "database_name", SUB_TYPE_STRING,  \
      "fiftyone", false, "database holding the FiftyOne and subsetter collections")                \
    X(MEDIA_ROOT, "FIFTYONE_DATASET_ZOO_DIR", "media-root", "dataset_zoo_dir", SUB_TYPE_PATH,      \
      "~/fiftyone", false, "media root, laid out as FiftyOne's dataset zoo")                       \
    X(HOME, "SUBSETTER_HOME", "home", "home", SUB_TYPE_PATH, "~/.subsetter", false,                \
      "state of the embedded mongod: data in var/lib/mongo, lock and pid in var/run")              \
    X(MONGOD, "SUBSETTER_MONGOD", "mongod", "mongod", SUB_TYPE_PATH, NULL, false,                  \
      "mongod binary for the embedded default; unset: PATH, then the copy scripts/setup installs") \
    X(CACHE_DIR, "SUBSETTER_CACHE_DIR", "cache-dir", "cache_dir", SUB_TYPE_PATH,                   \
      "~/.cache/subsetter", false,                                                                 \
      "downloaded source files (sources/), ingest scratch files (work/) and the pinned mongod")    \
    X(SERVER_SELECTION_TIMEOUT_MS, "SUBSETTER_SERVER_SELECTION_TIMEOUT_MS",                        \
      "server-selection-timeout-ms", "server_selection_timeout_ms", SUB_TYPE_INT, "10000", false,  \
      "how long to wait for a usable server before giving up (ms); a "                             \
      "serverSelectionTimeoutMS in the URI wins over the default but not over this setting")       \
    X(MIN_SERVER_VERSION, "SUBSETTER_MIN_SERVER_VERSION", "min-server-version",                    \
      "min_server_version", SUB_TYPE_VERSION, "4.4", false,                                        \
      "oldest MongoDB server accepted (FiftyOne's own minimum is 4.4)")                            \
    X(FIFTYONE_VERSION, "SUBSETTER_FIFTYONE_VERSION", "fiftyone-version", "fiftyone_version",      \
      SUB_TYPE_VERSION, "1.11.0", false,                                                           \
      "FiftyOne version written into dataset documents (never newer than your FiftyOne)")          \
    X(PROGRESS_INTERVAL_MS, "SUBSETTER_PROGRESS_INTERVAL_MS", "progress-interval-ms",              \
      "progress_interval_ms", SUB_TYPE_INT, "10000", false,                                        \
      "milliseconds between progress log lines when stderr is not a terminal")                     \
    X(LOG_LEVEL, "SUBSETTER_LOG_LEVEL", "log-level", "log_level", SUB_TYPE_LEVEL, "info", false,   \
      "error, warn, info or debug")

typedef enum {
#define SUB_X(id, env, flag, yaml, type, def, secret, desc) SUB_SET_##id,
    SUB_SETTINGS_MAP(SUB_X)
#undef SUB_X
        SUB_SET__COUNT
} sub_setting_id_t;

typedef struct {
    const char *env;
    const char *flag; /* without the leading "--" */
    const char *yaml;
    sub_type_t type;
    const char *def;
    bool secret; /* shown redacted by `subsetter config` */
    const char *description;
} sub_setting_t;

extern const sub_setting_t sub_settings[SUB_SET__COUNT];

/* The setting with this env name, flag or yaml key; NULL if none. */
const sub_setting_t *sub_setting_by_env(const char *env, sub_setting_id_t *id);
const sub_setting_t *sub_setting_by_flag(const char *flag, sub_setting_id_t *id);
const sub_setting_t *sub_setting_by_yaml(const char *key, sub_setting_id_t *id);

#endif
