/* config.h - the effective settings, resolved from five layers.
 *
 * Precedence, highest first: command-line flags, the process environment, the .env file,
 * the job YAML's `settings:` section, the defaults of settings.h. Each resolved value
 * remembers where it came from ("--database-name", "env FIFTYONE_DATABASE_NAME",
 * ".env:3", "jobs/x.yaml:4:18", "default"), and errors name that place.
 *
 * The .env file is `--env-file PATH`, else $SUBSETTER_ENV_FILE, else ./.env (optional).
 */
#ifndef SUBSETTER_CONFIG_H
#define SUBSETTER_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "subsetter/error.h"
#include "subsetter/settings.h"
#include "subsetter/strutil.h"

typedef struct {
    char *value[SUB_SET__COUNT];  /* resolved; paths have "~" expanded; NULL when unset */
    char *origin[SUB_SET__COUNT]; /* where it came from, for messages and `subsetter config` */
    char *env_file;               /* the .env path consulted (NULL: none) */
    bool env_file_found;
    char *job_file; /* NULL: none */
} sub_config_t;

typedef struct {
    sub_kvlist_t flags;   /* env name -> value, from the command line */
    const char *env_file; /* --env-file, or NULL */
    const char *job_file; /* --job / run JOB.yaml, or NULL */
} sub_config_inputs_t;

/* Resolves every setting and validates it (types, ranges, database name rules). A password
 * in FIFTYONE_DATABASE_URI is registered as a log secret as soon as it is read. On failure
 * *cfg holds what was resolved so far; release it either way. */
bool sub_config_load(const sub_config_inputs_t *in, sub_config_t *cfg, sub_error_t *err);

void sub_config_release(sub_config_t *cfg);

/* Borrowed until sub_config_release; NULL when unset. */
const char *sub_config_get(const sub_config_t *cfg, sub_setting_id_t id);
const char *sub_config_origin(const sub_config_t *cfg, sub_setting_id_t id);

/* An INT setting (validated at load, so this cannot fail). */
int64_t sub_config_int(const sub_config_t *cfg, sub_setting_id_t id);

/* Validates one value of a setting's type; used at load and by tests. */
bool sub_config_check_value(sub_setting_id_t id, const char *value, const char *origin,
                            sub_error_t *err);

/* "4.4" -> {4,4,0}. Accepts 1 to 3 dot-separated numbers, with any "-suffix" ignored. */
bool sub_version_parse(const char *s, int out[3]);
/* <0, 0, >0 like strcmp; unparsable versions sort first. */
int sub_version_cmp(const char *a, const char *b);

#endif
