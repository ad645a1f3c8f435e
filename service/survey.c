#define SUB_LOG_DOMAIN "survey"
#include "subsetter/survey.h"

#include <stdlib.h>
#include <string.h>

#include "subsetter/bsonutil.h"
#include "subsetter/strutil.h"

static int by_count_then_label(const void *a, const void *b)
{
    const sub_class_count_t *x = a, *y = b;
    if (x->count != y->count)
        return x->count > y->count ? -1 : 1;
    return strcmp(x->label, y->label); /* UTF-8 byte order is code point order */
}

bool sub_survey_counts(sub_db_t *db, const char *sample_collection, sub_class_counts_t *out,
                       sub_error_t *err)
{
    mongoc_collection_t *coll = mongoc_database_get_collection(db->db, sample_collection);
    /* $gte "": every string (a range of the index, 30 % cheaper than the same set as
     * {$type: "string"}, which the server also checks key by key) */
    bson_t *pipeline = BCON_NEW("pipeline", "[", "{", "$match", "{", "ground_truth.label", "{",
                                "$gte", BCON_UTF8(""), "}", "}", "}", "{", "$group", "{", "_id",
                                BCON_UTF8("$ground_truth.label"), "n", "{", "$sum", BCON_INT32(1),
                                "}", "}", "}", "]");
    mongoc_cursor_t *c = mongoc_collection_aggregate(coll, MONGOC_QUERY_NONE, pipeline, NULL, NULL);
    const bson_t *doc;
    bson_error_t be;
    size_t cap = 0;
    memset(out, 0, sizeof *out);
    while (mongoc_cursor_next(c, &doc)) {
        bson_iter_t it;
        const char *label = sub_bson_get_str(doc, "_id");
        if (!label || !bson_iter_init_find(&it, doc, "n"))
            continue;
        if (out->len == cap) {
            cap = cap ? cap * 2 : 256;
            out->items = sub_xrealloc(out->items, cap * sizeof *out->items);
        }
        out->items[out->len].label = sub_xstrdup(label);
        out->items[out->len++].count = bson_iter_as_int64(&it);
    }
    bool ok = !mongoc_cursor_error(c, &be) || sub_db_error(&be, "count classes", err);
    if (ok && out->len)
        qsort(out->items, out->len, sizeof *out->items, by_count_then_label);
    mongoc_cursor_destroy(c);
    bson_destroy(pipeline);
    mongoc_collection_destroy(coll);
    return ok;
}

void sub_class_counts_release(sub_class_counts_t *c)
{
    for (size_t i = 0; i < c->len; i++)
        free(c->items[i].label);
    free(c->items);
    memset(c, 0, sizeof *c);
}

int64_t sub_survey_balanced(const sub_class_counts_t *c, size_t k)
{
    return k >= 1 && k <= c->len ? c->items[k - 1].count : -1;
}

size_t sub_survey_eligible(const sub_class_counts_t *c, int64_t n)
{
    size_t k = 0;
    while (k < c->len && c->items[k].count >= n)
        k++;
    return k;
}

int64_t sub_survey_count_of(const sub_class_counts_t *c, const char *label)
{
    for (size_t i = 0; i < c->len; i++)
        if (strcmp(c->items[i].label, label) == 0)
            return c->items[i].count;
    return -1;
}
