#define SUB_LOG_DOMAIN "schema"
#include "subsetter/schema.h"

#include <stdlib.h>
#include <string.h>

#include "subsetter/bsonutil.h"
#include "subsetter/log.h"
#include "subsetter/strutil.h"

/* Server error codes (src/mongo/base/error_codes.yml). */
#define SERVER_UNAUTHORIZED     13
#define SERVER_NAMESPACE_EXISTS 48

bool sub_schema_parse(const sub_schema_file_t *f, bson_t *spec, sub_error_t *err)
{
    bson_error_t be;
    bson_t v, idx;
    bson_iter_t it;
    bson_t *parsed = bson_new_from_json((const uint8_t *)f->json, -1, &be);
    if (!parsed) {
        bson_init(spec);
        return sub_error_set(err, SUB_E_CONFIG, 0, "sql-free-schemas/%s: %s", f->name, be.message);
    }
    bson_copy_to(parsed, spec);
    bson_destroy(parsed);
    if (!sub_bson_get_str(spec, "collection") ||
        !sub_str_starts_with(sub_bson_get_str(spec, "collection"), "subsetter."))
        return sub_error_set(err, SUB_E_CONFIG, 0,
                             "sql-free-schemas/%s: \"collection\" must name a subsetter.* "
                             "collection",
                             f->name);
    if (!sub_bson_get_doc(spec, "validator", &v) || !sub_bson_get_str(spec, "validationLevel") ||
        !sub_bson_get_str(spec, "validationAction"))
        return sub_error_set(err, SUB_E_CONFIG, 0,
                             "sql-free-schemas/%s: needs validator, validationLevel and "
                             "validationAction",
                             f->name);
    if (!sub_bson_get_doc(spec, "indexes", &idx) || !bson_iter_init(&it, &idx))
        return sub_error_set(err, SUB_E_CONFIG, 0, "sql-free-schemas/%s: needs an indexes array",
                             f->name);
    while (bson_iter_next(&it)) {
        bson_t one, key;
        if (!BSON_ITER_HOLDS_DOCUMENT(&it) || !sub_bson_get_doc(&idx, bson_iter_key(&it), &one) ||
            !sub_bson_get_str(&one, "name") || !sub_bson_get_doc(&one, "key", &key))
            return sub_error_set(err, SUB_E_CONFIG, 0,
                                 "sql-free-schemas/%s: index %s needs a name and a key", f->name,
                                 bson_iter_key(&it));
    }
    return true;
}

/* Validator, level and action as the server reports them, compared byte for byte with
 * ours: the server stores the validator document exactly as it was given. */
static bool validator_matches(const bson_t *info, const bson_t *spec)
{
    bson_t opts, have, want;
    if (!sub_bson_get_doc(info, "options", &opts) || !sub_bson_get_doc(&opts, "validator", &have) ||
        !sub_bson_get_doc(spec, "validator", &want))
        return false;
    const char *lvl = sub_bson_get_str(&opts, "validationLevel");
    const char *act = sub_bson_get_str(&opts, "validationAction");
    return bson_equal(&have, &want) && lvl && act &&
           strcmp(lvl, sub_bson_get_str(spec, "validationLevel")) == 0 &&
           strcmp(act, sub_bson_get_str(spec, "validationAction")) == 0;
}

/* Fills exists and validator_ok from listCollections. */
static bool collection_status(sub_db_t *db, const bson_t *spec, sub_schema_result_t *r,
                              sub_error_t *err)
{
    bson_t opts = BSON_INITIALIZER, filter;
    bson_error_t be;
    const bson_t *doc;
    BSON_APPEND_DOCUMENT_BEGIN(&opts, "filter", &filter);
    BSON_APPEND_UTF8(&filter, "name", r->collection);
    bson_append_document_end(&opts, &filter);
    mongoc_cursor_t *c = mongoc_database_find_collections_with_opts(db->db, &opts);
    r->exists = r->validator_ok = false;
    while (mongoc_cursor_next(c, &doc)) {
        r->exists = true;
        r->validator_ok = validator_matches(doc, spec);
    }
    bool ok = !mongoc_cursor_error(c, &be);
    if (!ok)
        sub_db_error(&be, "listCollections", err);
    mongoc_cursor_destroy(c);
    bson_destroy(&opts);
    return ok;
}

static bool index_present(bson_t *const *have_list, size_t n, const bson_t *want)
{
    bson_t want_key, have_key;
    sub_bson_get_doc(want, "key", &want_key);
    for (size_t i = 0; i < n; i++) {
        const char *name = sub_bson_get_str(have_list[i], "name");
        if (name && strcmp(name, sub_bson_get_str(want, "name")) == 0 &&
            sub_bson_get_doc(have_list[i], "key", &have_key) && bson_equal(&have_key, &want_key))
            return true;
    }
    return false;
}

/* Fills missing_indexes: spec indexes absent by name or with another key. */
static bool index_status(sub_db_t *db, const bson_t *spec, sub_schema_result_t *r, sub_error_t *err)
{
    free(r->missing_indexes);
    r->missing_indexes = NULL;
    if (!r->exists) {
        r->missing_indexes = sub_xstrdup("(collection missing)");
        return true;
    }
    mongoc_collection_t *coll = mongoc_database_get_collection(db->db, r->collection);
    mongoc_cursor_t *c = mongoc_collection_find_indexes_with_opts(coll, NULL);
    /* Pointers, not an array of bson_t: a heap bson_t points into itself and cannot move. */
    bson_t **have = NULL;
    size_t n = 0;
    const bson_t *doc;
    bson_error_t be;
    while (mongoc_cursor_next(c, &doc)) {
        have = sub_xrealloc(have, (n + 1) * sizeof *have);
        have[n++] = bson_copy(doc);
    }
    bool ok = !mongoc_cursor_error(c, &be);
    if (!ok)
        sub_db_error(&be, "listIndexes", err);

    bson_t idx;
    bson_iter_t it;
    sub_buf_t missing = SUB_BUF_INIT;
    sub_bson_get_doc(spec, "indexes", &idx);
    bson_iter_init(&it, &idx);
    while (ok && bson_iter_next(&it)) {
        bson_t want;
        sub_bson_get_doc(&idx, bson_iter_key(&it), &want);
        if (!index_present(have, n, &want))
            sub_buf_appendf(&missing, NULL, "%s%s", missing.len ? "," : "",
                            sub_bson_get_str(&want, "name"));
    }
    if (missing.len)
        r->missing_indexes = sub_buf_take(&missing);
    sub_buf_release(&missing);
    for (size_t i = 0; i < n; i++)
        bson_destroy(have[i]);
    free(have);
    mongoc_cursor_destroy(c);
    mongoc_collection_destroy(coll);
    return ok;
}

static void append_validation(bson_t *cmd, const bson_t *spec)
{
    bson_t v;
    sub_bson_get_doc(spec, "validator", &v);
    BSON_APPEND_DOCUMENT(cmd, "validator", &v);
    BSON_APPEND_UTF8(cmd, "validationLevel", sub_bson_get_str(spec, "validationLevel"));
    BSON_APPEND_UTF8(cmd, "validationAction", sub_bson_get_str(spec, "validationAction"));
}

static bool create_collection(sub_db_t *db, const bson_t *spec, sub_schema_result_t *r,
                              sub_error_t *err)
{
    bson_t cmd = BSON_INITIALIZER, reply;
    sub_error_t e2;
    BSON_APPEND_UTF8(&cmd, "create", r->collection);
    append_validation(&cmd, spec);
    bool ok = sub_db_command(db, false, &cmd, &reply, &e2);
    bson_destroy(&cmd);
    bson_destroy(&reply);
    if (ok) {
        r->created = true;
        SUB_LOG(SUB_LOG_INFO, "created %s with the validator of %s", r->collection, r->file);
        return true;
    }
    /* Another process created it between our check and our create: compare again. */
    if (e2.cause % 100000 == SERVER_NAMESPACE_EXISTS)
        return collection_status(db, spec, r, err);
    if (err)
        *err = e2;
    return false;
}

static bool update_validator(sub_db_t *db, const bson_t *spec, sub_schema_result_t *r,
                             sub_error_t *err)
{
    bson_t cmd = BSON_INITIALIZER, reply;
    BSON_APPEND_UTF8(&cmd, "collMod", r->collection);
    append_validation(&cmd, spec);
    bool ok = sub_db_command(db, false, &cmd, &reply, err);
    bson_destroy(&cmd);
    bson_destroy(&reply);
    if (!ok) {
        if (err && err->code == SUB_E_PRIVILEGE)
            return sub_error_set(err, SUB_E_PRIVILEGE, SERVER_UNAUTHORIZED,
                                 "%s: its validator differs from sql-free-schemas/%s and this "
                                 "user may not change it (action collMod, role dbAdmin on %s); "
                                 "ask an administrator to run `subsetter schema apply`",
                                 r->collection, r->file, db->db_name);
        return false;
    }
    r->validator_updated = true;
    SUB_LOG(SUB_LOG_INFO, "updated the validator of %s from %s", r->collection, r->file);
    return true;
}

static bool create_indexes(sub_db_t *db, const bson_t *spec, sub_schema_result_t *r,
                           sub_error_t *err)
{
    bson_t cmd = BSON_INITIALIZER, reply, idx;
    bson_iter_t it;
    sub_bson_get_doc(spec, "indexes", &idx);
    BSON_APPEND_UTF8(&cmd, "createIndexes", r->collection);
    BSON_APPEND_ARRAY(&cmd, "indexes", &idx);
    bool ok = sub_db_command(db, false, &cmd, &reply, err);
    if (ok && bson_iter_init_find(&it, &reply, "numIndexesAfter")) {
        int after = bson_iter_as_int64(&it) > INT32_MAX ? 0 : (int)bson_iter_as_int64(&it);
        if (bson_iter_init_find(&it, &reply, "numIndexesBefore"))
            r->indexes_created = after - (int)bson_iter_as_int64(&it);
    }
    if (!ok)
        sub_error_prefix(err, "%s: indexes of sql-free-schemas/%s", r->collection, r->file);
    bson_destroy(&cmd);
    bson_destroy(&reply);
    return ok;
}

static bool for_each_schema(sub_db_t *db, sub_schema_report_t *rep, bool apply, sub_error_t *err)
{
    size_t n = 0;
    while (sub_schema_files[n].name)
        n++;
    rep->items = calloc(n ? n : 1, sizeof *rep->items);
    if (!rep->items)
        abort();
    bool ok = true;
    for (size_t i = 0; i < n && ok; i++) {
        bson_t spec;
        sub_schema_result_t *r = &rep->items[rep->len++];
        ok = sub_schema_parse(&sub_schema_files[i], &spec, err);
        if (ok) {
            r->collection = sub_xstrdup(sub_bson_get_str(&spec, "collection"));
            r->file = sub_xstrdup(sub_schema_files[i].name);
            ok = collection_status(db, &spec, r, err);
        }
        if (ok && apply && !r->exists)
            ok = create_collection(db, &spec, r, err) && collection_status(db, &spec, r, err);
        if (ok && apply && !r->validator_ok)
            ok = update_validator(db, &spec, r, err) && collection_status(db, &spec, r, err);
        if (ok)
            ok = index_status(db, &spec, r, err);
        if (ok && apply && r->missing_indexes)
            ok = create_indexes(db, &spec, r, err) && index_status(db, &spec, r, err);
        bson_destroy(&spec);
    }
    return ok;
}

bool sub_schema_apply(sub_db_t *db, sub_schema_report_t *rep, sub_error_t *err)
{
    return for_each_schema(db, rep, true, err);
}

bool sub_schema_status(sub_db_t *db, sub_schema_report_t *rep, sub_error_t *err)
{
    return for_each_schema(db, rep, false, err);
}

bool sub_schema_report_ok(const sub_schema_report_t *rep)
{
    for (size_t i = 0; i < rep->len; i++)
        if (!rep->items[i].exists || !rep->items[i].validator_ok || rep->items[i].missing_indexes)
            return false;
    return true;
}

void sub_schema_report_release(sub_schema_report_t *rep)
{
    for (size_t i = 0; i < rep->len; i++) {
        free(rep->items[i].collection);
        free(rep->items[i].file);
        free(rep->items[i].missing_indexes);
    }
    free(rep->items);
    rep->items = NULL;
    rep->len = 0;
}
