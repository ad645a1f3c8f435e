#define SUB_LOG_DOMAIN "config"
#include "subsetter/config.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "subsetter/dotenv.h"
#include "subsetter/log.h"
#include "subsetter/uri.h"
#include "subsetter/yaml_doc.h"

static void put(sub_config_t *cfg, sub_setting_id_t id, const char *value, char *origin)
{
    free(cfg->value[id]);
    free(cfg->origin[id]);
    cfg->value[id] = value ? sub_xstrdup(value) : NULL;
    cfg->origin[id] = origin;
}

bool sub_version_parse(const char *s, int out[3])
{
    out[0] = out[1] = out[2] = 0;
    if (!s)
        return false;
    const char *p = s;
    for (int i = 0; i < 3; i++) {
        if (*p < '0' || *p > '9')
            return false;
        char *end;
        long v = strtol(p, &end, 10);
        if (v > 100000)
            return false;
        out[i] = (int)v;
        p = end;
        if (*p != '.')
            break;
        p++;
    }
    return *p == '\0' || *p == '-' || *p == '+';
}

int sub_version_cmp(const char *a, const char *b)
{
    int va[3], vb[3];
    bool oka = sub_version_parse(a, va), okb = sub_version_parse(b, vb);
    if (!oka || !okb)
        return (int)oka - (int)okb;
    for (int i = 0; i < 3; i++)
        if (va[i] != vb[i])
            return va[i] < vb[i] ? -1 : 1;
    return 0;
}

/* MongoDB's rules for database names on Linux, checked here so the error names the
 * setting rather than surfacing later as a server error. */
static bool check_db_name(const char *v, const char *origin, sub_error_t *err)
{
    size_t n = strlen(v);
    if (n == 0 || n > 63)
        return sub_error_set(err, SUB_E_CONFIG, 0,
                             "FIFTYONE_DATABASE_NAME (%s): must be 1 to 63 characters", origin);
    if (strpbrk(v, "/\\. \"$") != NULL)
        return sub_error_set(err, SUB_E_CONFIG, 0,
                             "FIFTYONE_DATABASE_NAME (%s): '%s' contains one of / \\ . space \" $",
                             origin, v);
    return true;
}

bool sub_config_check_value(sub_setting_id_t id, const char *value, const char *origin,
                            sub_error_t *err)
{
    const sub_setting_t *s = &sub_settings[id];
    int64_t n;
    sub_log_level_t level;
    int ver[3];

    if (id == SUB_SET_DATABASE_NAME)
        return check_db_name(value, origin, err);
    switch (s->type) {
    case SUB_TYPE_INT:
        if (!sub_parse_int64(value, 1, INT32_MAX, &n))
            return sub_error_set(err, SUB_E_CONFIG, 0,
                                 "%s (%s): expected a positive integer, got '%s'", s->env, origin,
                                 value);
        return true;
    case SUB_TYPE_LEVEL:
        if (!sub_log_level_parse(value, &level))
            return sub_error_set(err, SUB_E_CONFIG, 0,
                                 "%s (%s): expected error, warn, info or debug, got '%s'", s->env,
                                 origin, value);
        return true;
    case SUB_TYPE_VERSION:
        if (!sub_version_parse(value, ver))
            return sub_error_set(err, SUB_E_CONFIG, 0,
                                 "%s (%s): expected a version like 4.4 or 1.11.0, got '%s'", s->env,
                                 origin, value);
        return true;
    case SUB_TYPE_PATH:
    case SUB_TYPE_STRING:
        if (!*value && id != SUB_SET_DATABASE_URI)
            return sub_error_set(err, SUB_E_CONFIG, 0, "%s (%s): must not be empty", s->env,
                                 origin);
        return true;
    }
    return true;
}

/* The `settings:` mapping of a job file. Other top-level keys belong to the job itself
 * and are validated by the job loader; here only `settings` is read. */
static bool load_yaml_layer(const char *path, sub_config_t *cfg, sub_error_t *err)
{
    sub_yaml_doc_t doc = {0};
    bool ok = false;
    if (!sub_yaml_load_file(path, &doc, err))
        goto out;
    if (doc.root && doc.root->kind != SUB_YAML_MAPPING) {
        sub_yaml_error(&doc, doc.root, err, "a job file is a mapping of keys to values");
        goto out;
    }
    const sub_yaml_node_t *settings = sub_yaml_map_get(doc.root, "settings");
    if (settings && settings->kind != SUB_YAML_MAPPING) {
        sub_yaml_error(&doc, settings, err, "settings: expected a mapping");
        goto out;
    }
    for (size_t i = 0; settings && i < settings->len; i++) {
        const sub_yaml_node_t *k = settings->keys[i], *v = settings->values[i];
        sub_setting_id_t id;
        const char *text;
        if (!sub_setting_by_yaml(k->scalar, &id)) {
            sub_yaml_error(&doc, k, err, "settings: unknown key '%s'", k->scalar);
            goto out;
        }
        char *what = sub_xasprintf("settings.%s", k->scalar);
        bool got = sub_yaml_get_string(&doc, v, what, &text, err);
        free(what);
        if (!got)
            goto out;
        put(cfg, id, text, sub_xasprintf("%s:%u:%u", path, v->line, v->column));
    }
    ok = true;
out:
    sub_yaml_doc_release(&doc);
    return ok;
}

static bool load_dotenv_layer(const sub_config_inputs_t *in, sub_config_t *cfg, sub_error_t *err)
{
    const char *path = in->env_file ? in->env_file : getenv("SUBSETTER_ENV_FILE");
    bool required = path != NULL;
    sub_kvlist_t kv = SUB_KVLIST_INIT;
    bool ok = false;

    cfg->env_file = sub_xstrdup(path ? path : ".env");
    if (!sub_dotenv_parse_file(cfg->env_file, required, &kv, err))
        goto out;
    struct stat st;
    cfg->env_file_found = stat(cfg->env_file, &st) == 0 && S_ISREG(st.st_mode);
    for (size_t i = 0; i < kv.len; i++) {
        sub_setting_id_t id;
        /* A .env is shared with FiftyOne and other tools: keys that are not ours are
         * theirs, not mistakes. */
        if (!sub_setting_by_env(kv.items[i].key, &id))
            continue;
        put(cfg, id, kv.items[i].value, sub_xasprintf("%s:%u", cfg->env_file, kv.items[i].line));
    }
    ok = true;
out:
    sub_kvlist_release(&kv);
    return ok;
}

static void load_env_layer(sub_config_t *cfg)
{
    for (int i = 0; i < SUB_SET__COUNT; i++) {
        const char *v = getenv(sub_settings[i].env);
        if (v)
            put(cfg, (sub_setting_id_t)i, v, sub_xasprintf("env %s", sub_settings[i].env));
    }
}

static void load_flag_layer(const sub_config_inputs_t *in, sub_config_t *cfg)
{
    for (size_t i = 0; i < in->flags.len; i++) {
        sub_setting_id_t id;
        const sub_setting_t *s = sub_setting_by_env(in->flags.items[i].key, &id);
        if (s)
            put(cfg, id, in->flags.items[i].value, sub_xasprintf("--%s", s->flag));
    }
}

/* An empty FIFTYONE_DATABASE_URI means "unset", as in FiftyOne (`database_uri=None`). */
static bool finish(sub_config_t *cfg, sub_error_t *err)
{
    char *uri = cfg->value[SUB_SET_DATABASE_URI];
    if (uri && !*uri)
        put(cfg, SUB_SET_DATABASE_URI, NULL, sub_xstrdup("empty, so unset"));
    if (cfg->value[SUB_SET_DATABASE_URI]) {
        sub_uri_register_secrets(cfg->value[SUB_SET_DATABASE_URI]);
        if (!sub_uri_check_userinfo(cfg->value[SUB_SET_DATABASE_URI],
                                    cfg->origin[SUB_SET_DATABASE_URI], err))
            return false;
    }
    for (int i = 0; i < SUB_SET__COUNT; i++) {
        if (!cfg->value[i])
            continue;
        if (!sub_config_check_value((sub_setting_id_t)i, cfg->value[i], cfg->origin[i], err))
            return false;
        if (sub_settings[i].type == SUB_TYPE_PATH) {
            char *expanded = sub_path_expand_home(cfg->value[i]);
            free(cfg->value[i]);
            cfg->value[i] = expanded;
        }
    }
    return true;
}

bool sub_config_load(const sub_config_inputs_t *in, sub_config_t *cfg, sub_error_t *err)
{
    memset(cfg, 0, sizeof *cfg);
    for (int i = 0; i < SUB_SET__COUNT; i++)
        put(cfg, (sub_setting_id_t)i, sub_settings[i].def, sub_xstrdup("default"));
    if (in->job_file) {
        cfg->job_file = sub_xstrdup(in->job_file);
        if (!load_yaml_layer(in->job_file, cfg, err))
            return false;
    }
    if (!load_dotenv_layer(in, cfg, err))
        return false;
    load_env_layer(cfg);
    load_flag_layer(in, cfg);
    return finish(cfg, err);
}

void sub_config_release(sub_config_t *cfg)
{
    for (int i = 0; i < SUB_SET__COUNT; i++) {
        free(cfg->value[i]);
        free(cfg->origin[i]);
    }
    free(cfg->env_file);
    free(cfg->job_file);
    memset(cfg, 0, sizeof *cfg);
}

const char *sub_config_get(const sub_config_t *cfg, sub_setting_id_t id)
{
    return cfg->value[id];
}

const char *sub_config_origin(const sub_config_t *cfg, sub_setting_id_t id)
{
    return cfg->origin[id];
}

int64_t sub_config_int(const sub_config_t *cfg, sub_setting_id_t id)
{
    int64_t n = 0;
    if (cfg->value[id])
        sub_parse_int64(cfg->value[id], INT64_MIN, INT64_MAX, &n);
    return n;
}
