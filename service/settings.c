#define SUB_LOG_DOMAIN "settings"
#include "subsetter/settings.h"

#include <stddef.h>
#include <string.h>

const sub_setting_t sub_settings[SUB_SET__COUNT] = {
#define SUB_X(id, env, flag, yaml, type, def, secret, desc) \
    [SUB_SET_##id] = {env, flag, yaml, type, def, secret, desc},
    SUB_SETTINGS_MAP(SUB_X)
#undef SUB_X
};

static const sub_setting_t *find(const char *name, size_t offset, sub_setting_id_t *id)
{
    for (int i = 0; i < SUB_SET__COUNT; i++) {
        const char *field = *(const char *const *)((const char *)&sub_settings[i] + offset);
        if (strcmp(field, name) == 0) {
            if (id)
                *id = (sub_setting_id_t)i;
            return &sub_settings[i];
        }
    }
    return NULL;
}

const sub_setting_t *sub_setting_by_env(const char *env, sub_setting_id_t *id)
{
    return find(env, offsetof(sub_setting_t, env), id);
}

const sub_setting_t *sub_setting_by_flag(const char *flag, sub_setting_id_t *id)
{
    return find(flag, offsetof(sub_setting_t, flag), id);
}

const sub_setting_t *sub_setting_by_yaml(const char *key, sub_setting_id_t *id)
{
    return find(key, offsetof(sub_setting_t, yaml), id);
}
