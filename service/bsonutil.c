#define SUB_LOG_DOMAIN "bson"
#include "subsetter/bsonutil.h"

bool sub_bson_get_doc(const bson_t *b, const char *key, bson_t *out)
{
    bson_iter_t it;
    const uint8_t *data;
    uint32_t len;
    if (!bson_iter_init_find(&it, b, key))
        return false;
    if (BSON_ITER_HOLDS_DOCUMENT(&it))
        bson_iter_document(&it, &len, &data);
    else if (BSON_ITER_HOLDS_ARRAY(&it))
        bson_iter_array(&it, &len, &data);
    else
        return false;
    return bson_init_static(out, data, len);
}

const char *sub_bson_get_str(const bson_t *b, const char *key)
{
    bson_iter_t it;
    if (bson_iter_init_find(&it, b, key) && BSON_ITER_HOLDS_UTF8(&it))
        return bson_iter_utf8(&it, NULL);
    return NULL;
}

const char *sub_bson_array_next_key(sub_bson_array_t *a)
{
    const char *key;
    bson_uint32_to_string(a->n++, &key, a->buf, sizeof a->buf);
    return key;
}
