#define SUB_LOG_DOMAIN "fo_dataset"
#include "subsetter/fo_dataset.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "subsetter/bsonutil.h"
#include "subsetter/log.h"
#include "subsetter/strutil.h"

#define F_PREFIX "fiftyone.core.fields."

const sub_fo_field_t sub_fo_default_fields[] = {
    {"id", SUB_FO_OBJECTID, false, NULL},
    {"filepath", SUB_FO_STRING, false, NULL},
    {"tags", SUB_FO_STRING_LIST, false, NULL},
    {"metadata", SUB_FO_IMAGE_METADATA, false, NULL},
    {"created_at", SUB_FO_DATETIME, true, NULL},
    {"last_modified_at", SUB_FO_DATETIME, true, NULL},
    {"_media_type", SUB_FO_STRING, false, NULL},
    {"_rand", SUB_FO_FLOAT, false, NULL},
    {"_dataset_id", SUB_FO_OBJECTID, false, NULL},
};
const size_t sub_fo_default_fields_len =
    sizeof sub_fo_default_fields / sizeof *sub_fo_default_fields;

/* One SampleFieldDocument: the common keys, then `fields` filled by the caller. */
typedef struct {
    const char *name;
    const char *ftype;
    const char *embedded;
    const char *subfield;
    bool read_only;
    const char *description;
} decl_t;

static void append_null_or_str(bson_t *b, const char *key, const char *v)
{
    if (v)
        BSON_APPEND_UTF8(b, key, v);
    else
        BSON_APPEND_NULL(b, key);
}

static void open_decl(bson_t *parent, const char *key, const decl_t *d, bson_t *doc, bson_t *fields)
{
    BSON_APPEND_DOCUMENT_BEGIN(parent, key, doc);
    BSON_APPEND_UTF8(doc, "name", d->name);
    BSON_APPEND_UTF8(doc, "ftype", d->ftype);
    append_null_or_str(doc, "embedded_doc_type", d->embedded);
    append_null_or_str(doc, "subfield", d->subfield);
    BSON_APPEND_ARRAY_BEGIN(doc, "fields", fields);
}

/* created_at_ms < 0: null, as FiftyOne leaves it on the fields of labels in a list. */
static void close_decl(bson_t *parent, const decl_t *d, bson_t *doc, bson_t *fields,
                       int64_t created_at_ms)
{
    bson_append_array_end(doc, fields);
    BSON_APPEND_UTF8(doc, "db_field", strcmp(d->name, "id") == 0 ? "_id" : d->name);
    append_null_or_str(doc, "description", d->description);
    BSON_APPEND_NULL(doc, "info");
    BSON_APPEND_BOOL(doc, "read_only", d->read_only);
    BSON_APPEND_NULL(doc, "schema");
    if (created_at_ms >= 0)
        BSON_APPEND_DATE_TIME(doc, "created_at", created_at_ms);
    else
        BSON_APPEND_NULL(doc, "created_at");
    bson_append_document_end(parent, doc);
}

static void leaf(bson_t *arr, sub_bson_array_t *keys, const char *name, const char *ftype,
                 const char *subfield, int64_t ts)
{
    decl_t d = {name, ftype, NULL, subfield, false, NULL};
    bson_t doc, fields;
    open_decl(arr, sub_bson_array_next_key(keys), &d, &doc, &fields);
    close_decl(arr, &d, &doc, &fields, ts);
}

/* Classification's fields in mongoengine creation order: id, tags, label, confidence,
 * logits. */
static void classification_fields(bson_t *arr, int64_t ts)
{
    sub_bson_array_t k = {.arr = arr};
    leaf(arr, &k, "id", F_PREFIX "ObjectIdField", NULL, ts);
    leaf(arr, &k, "tags", F_PREFIX "ListField", F_PREFIX "StringField", ts);
    leaf(arr, &k, "label", F_PREFIX "StringField", NULL, ts);
    leaf(arr, &k, "confidence", F_PREFIX "FloatField", NULL, ts);
    leaf(arr, &k, "logits", F_PREFIX "VectorField", NULL, ts);
}

static void classifications_fields(bson_t *arr, int64_t ts)
{
    sub_bson_array_t k = {.arr = arr};
    decl_t d = {"classifications",
                F_PREFIX "ListField",
                "fiftyone.core.labels.Classification",
                F_PREFIX "EmbeddedDocumentField",
                false,
                NULL};
    bson_t doc, fields;
    open_decl(arr, sub_bson_array_next_key(&k), &d, &doc, &fields);
    classification_fields(&fields, -1);
    close_decl(arr, &d, &doc, &fields, ts);
    leaf(arr, &k, "logits", F_PREFIX "VectorField", NULL, ts);
}

static void image_metadata_fields(bson_t *arr, int64_t ts)
{
    sub_bson_array_t k = {.arr = arr};
    leaf(arr, &k, "size_bytes", F_PREFIX "IntField", NULL, ts);
    leaf(arr, &k, "mime_type", F_PREFIX "StringField", NULL, ts);
    leaf(arr, &k, "width", F_PREFIX "IntField", NULL, ts);
    leaf(arr, &k, "height", F_PREFIX "IntField", NULL, ts);
    leaf(arr, &k, "num_channels", F_PREFIX "IntField", NULL, ts);
}

void sub_fo_append_field(bson_t *arr, const char *key, const sub_fo_field_t *f,
                         int64_t created_at_ms)
{
    static const char *const scalar[] = {
        [SUB_FO_STRING] = F_PREFIX "StringField",     [SUB_FO_INT] = F_PREFIX "IntField",
        [SUB_FO_FLOAT] = F_PREFIX "FloatField",       [SUB_FO_BOOL] = F_PREFIX "BooleanField",
        [SUB_FO_DATETIME] = F_PREFIX "DateTimeField", [SUB_FO_OBJECTID] = F_PREFIX "ObjectIdField",
    };
    decl_t d = {f->name, NULL, NULL, NULL, f->read_only, f->description};
    bson_t doc, fields;
    switch (f->kind) {
    case SUB_FO_STRING_LIST:
        d.ftype = F_PREFIX "ListField";
        d.subfield = F_PREFIX "StringField";
        break;
    case SUB_FO_CLASSIFICATION:
        d.ftype = F_PREFIX "EmbeddedDocumentField";
        d.embedded = "fiftyone.core.labels.Classification";
        break;
    case SUB_FO_CLASSIFICATIONS:
        d.ftype = F_PREFIX "EmbeddedDocumentField";
        d.embedded = "fiftyone.core.labels.Classifications";
        break;
    case SUB_FO_IMAGE_METADATA:
        d.ftype = F_PREFIX "EmbeddedDocumentField";
        d.embedded = "fiftyone.core.metadata.ImageMetadata";
        break;
    default:
        d.ftype = scalar[f->kind];
    }
    open_decl(arr, key, &d, &doc, &fields);
    if (f->kind == SUB_FO_CLASSIFICATION)
        classification_fields(&fields, created_at_ms);
    else if (f->kind == SUB_FO_CLASSIFICATIONS)
        classifications_fields(&fields, created_at_ms);
    else if (f->kind == SUB_FO_IMAGE_METADATA)
        image_metadata_fields(&fields, created_at_ms);
    close_decl(arr, &d, &doc, &fields, created_at_ms);
}

char *sub_fo_slug(const char *name)
{
    sub_buf_t b = SUB_BUF_INIT;
    size_t chars = 0;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        chars += (*p & 0xC0) != 0x80; /* code points, as Python's len() counts */
    if (chars == 0 || chars > 100)
        return NULL;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
        char c = 0;
        if (isalnum(*p) && *p < 128)
            c = (char)tolower(*p);
        else if (isspace(*p) || strchr("+_.-", *p))
            c = '-';
        if (!c || (c == '-' && (b.len == 0 || b.data[b.len - 1] == '-')))
            continue;
        sub_buf_appendc(&b, c, NULL);
    }
    while (b.len && b.data[b.len - 1] == '-')
        b.data[--b.len] = '\0';
    if (b.len == 0 || b.len > 100) {
        sub_buf_release(&b);
        return NULL;
    }
    return sub_buf_take(&b);
}

static bool field_declared(const bson_t *fields, const char *name)
{
    bson_iter_t it;
    if (!bson_iter_init(&it, fields))
        return false;
    while (bson_iter_next(&it)) {
        bson_t f;
        const char *n;
        if (sub_bson_get_doc(fields, bson_iter_key(&it), &f) &&
            (n = sub_bson_get_str(&f, "name")) && strcmp(n, name) == 0)
            return true;
    }
    return false;
}

static void append_app_config(bson_t *doc)
{
    bson_t app, media;
    BSON_APPEND_DOCUMENT_BEGIN(doc, "app_config", &app);
    BSON_APPEND_INT32(&app, "dynamic_groups_target_frame_rate", 30);
    BSON_APPEND_UTF8(&app, "grid_media_field", "filepath");
    BSON_APPEND_BOOL(&app, "media_fallback", false);
    BSON_APPEND_ARRAY_BEGIN(&app, "media_fields", &media);
    BSON_APPEND_UTF8(&media, "0", "filepath");
    bson_append_array_end(&app, &media);
    BSON_APPEND_UTF8(&app, "modal_media_field", "filepath");
    BSON_APPEND_DOCUMENT_BEGIN(&app, "plugins", &media);
    bson_append_document_end(&app, &media);
    bson_append_document_end(doc, &app);
}

static void append_empty(bson_t *doc, const char *key, bool array)
{
    bson_t e;
    if (array) {
        BSON_APPEND_ARRAY_BEGIN(doc, key, &e);
        bson_append_array_end(doc, &e);
    } else {
        BSON_APPEND_DOCUMENT_BEGIN(doc, key, &e);
        bson_append_document_end(doc, &e);
    }
}

/* The whole document of a new dataset, keys in the order FiftyOne 1.11 writes them
 * (tests/fiftyone/reference-dumps/datasets-doc.oi_importer.json). */
static void build_new_dataset(const sub_fo_dataset_t *ds, const char *slug, const char *version,
                              const sub_fo_field_t *extra, size_t n_extra, const bson_t *info,
                              const bson_t *classes, bson_t *doc)
{
    bson_t fields;
    sub_bson_array_t keys = {.arr = &fields};
    BSON_APPEND_OID(doc, "_id", &ds->id);
    BSON_APPEND_UTF8(doc, "name", ds->name);
    BSON_APPEND_UTF8(doc, "slug", slug);
    BSON_APPEND_UTF8(doc, "version", version);
    BSON_APPEND_DATE_TIME(doc, "created_at", ds->created_at_ms);
    BSON_APPEND_DATE_TIME(doc, "last_modified_at", ds->created_at_ms);
    BSON_APPEND_NULL(doc, "last_deletion_at");
    BSON_APPEND_NULL(doc, "last_loaded_at");
    BSON_APPEND_UTF8(doc, "sample_collection_name", ds->sample_collection);
    BSON_APPEND_BOOL(doc, "persistent", true);
    append_empty(doc, "group_media_types", false);
    append_empty(doc, "tags", true);
    if (info)
        BSON_APPEND_DOCUMENT(doc, "info", info);
    else
        append_empty(doc, "info", false);
    append_app_config(doc);
    append_empty(doc, "classes", false);
    if (classes)
        BSON_APPEND_ARRAY(doc, "default_classes", classes);
    else
        append_empty(doc, "default_classes", true);
    append_empty(doc, "mask_targets", false);
    append_empty(doc, "default_mask_targets", false);
    append_empty(doc, "skeletons", false);
    BSON_APPEND_ARRAY_BEGIN(doc, "sample_fields", &fields);
    for (size_t i = 0; i < sub_fo_default_fields_len; i++)
        sub_fo_append_field(&fields, sub_bson_array_next_key(&keys), &sub_fo_default_fields[i],
                            ds->created_at_ms);
    for (size_t i = 0; i < n_extra; i++)
        sub_fo_append_field(&fields, sub_bson_array_next_key(&keys), &extra[i], ds->created_at_ms);
    bson_append_array_end(doc, &fields);
    append_empty(doc, "frame_fields", true);
    append_empty(doc, "saved_views", true);
    append_empty(doc, "workspaces", true);
    append_empty(doc, "annotation_runs", false);
    append_empty(doc, "brain_methods", false);
    append_empty(doc, "evaluations", false);
    append_empty(doc, "runs", false);
    BSON_APPEND_UTF8(doc, "media_type", "image");
}

/* FiftyOne's own indexes on `datasets` (created on its first connection): the same specs,
 * so neither side ever meets an IndexOptionsConflict. */
static bool ensure_datasets_indexes(sub_db_t *db, sub_error_t *err)
{
    bson_t *cmd =
        BCON_NEW("createIndexes", BCON_UTF8("datasets"), "indexes", "[", "{", "key", "{", "name",
                 BCON_INT32(1), "}", "name", BCON_UTF8("name_1"), "unique", BCON_BOOL(true), "}",
                 "{", "key", "{", "sample_collection_name", BCON_INT32(1), "}", "name",
                 BCON_UTF8("sample_collection_name_1"), "unique", BCON_BOOL(true), "}", "]");
    bson_t reply;
    bool ok = sub_db_command(db, false, cmd, &reply, err);
    bson_destroy(cmd);
    bson_destroy(&reply);
    return ok;
}

static bool create_sample_collection(sub_db_t *db, const sub_fo_dataset_t *ds, sub_error_t *err)
{
    bson_t *cmd = BCON_NEW(
        "createIndexes", BCON_UTF8(ds->sample_collection), "indexes", "[", "{", "key", "{",
        "filepath", BCON_INT32(1), "}", "name", BCON_UTF8("filepath_1"), "}", "{", "key", "{",
        "created_at", BCON_INT32(1), "}", "name", BCON_UTF8("created_at_1"), "}", "{", "key", "{",
        "last_modified_at", BCON_INT32(1), "}", "name", BCON_UTF8("last_modified_at_1"), "}", "]");
    bson_t reply;
    bool ok = sub_db_command(db, false, cmd, &reply, err);
    bson_destroy(cmd);
    bson_destroy(&reply);
    return ok;
}

static bool load_existing(const bson_t *doc, sub_fo_dataset_t *out)
{
    bson_iter_t it;
    const char *coll = sub_bson_get_str(doc, "sample_collection_name");
    if (!coll || !bson_iter_init_find(&it, doc, "_id") || !BSON_ITER_HOLDS_OID(&it))
        return false;
    bson_oid_copy(bson_iter_oid(&it), &out->id);
    out->sample_collection = sub_xstrdup(coll);
    out->created_at_ms = 0;
    if (bson_iter_init_find(&it, doc, "created_at") && BSON_ITER_HOLDS_DATE_TIME(&it))
        out->created_at_ms = bson_iter_date_time(&it);
    return true;
}

/* Declares the fields of `extra` that an existing dataset lacks, and refreshes info and
 * default_classes. */
static bool update_existing(sub_db_t *db, mongoc_collection_t *coll, const bson_t *doc,
                            const sub_fo_dataset_t *ds, const sub_fo_field_t *extra, size_t n_extra,
                            const bson_t *info, const bson_t *classes, sub_error_t *err)
{
    bson_t fields, update = BSON_INITIALIZER, set, push, each;
    bson_error_t be;
    if (!sub_bson_get_doc(doc, "sample_fields", &fields))
        bson_init(&fields);
    BSON_APPEND_DOCUMENT_BEGIN(&update, "$set", &set);
    if (info) {
        bson_iter_t it;
        bson_iter_init(&it, info);
        while (bson_iter_next(&it)) {
            char *key = sub_xasprintf("info.%s", bson_iter_key(&it));
            bson_append_iter(&set, key, -1, &it);
            free(key);
        }
    }
    if (classes)
        BSON_APPEND_ARRAY(&set, "default_classes", classes);
    bson_append_document_end(&update, &set);
    BSON_APPEND_DOCUMENT_BEGIN(&update, "$push", &push);
    BSON_APPEND_DOCUMENT_BEGIN(&push, "sample_fields", &set);
    BSON_APPEND_ARRAY_BEGIN(&set, "$each", &each);
    sub_bson_array_t keys = {.arr = &each};
    for (size_t i = 0; i < n_extra; i++)
        if (!field_declared(&fields, extra[i].name))
            sub_fo_append_field(&each, sub_bson_array_next_key(&keys), &extra[i],
                                ds->created_at_ms);
    bson_append_array_end(&set, &each);
    bson_append_document_end(&push, &set);
    bson_append_document_end(&update, &push);

    bson_t *filter = BCON_NEW("_id", BCON_OID(&ds->id));
    bool ok = mongoc_collection_update_one(coll, filter, &update, NULL, NULL, &be);
    if (!ok)
        sub_db_error(&be, "update the datasets document", err);
    bson_destroy(filter);
    bson_destroy(&update);
    (void)db;
    return ok;
}

bool sub_fo_dataset_ensure(sub_db_t *db, const char *name, const char *fiftyone_version,
                           const sub_fo_field_t *extra, size_t n_extra, const bson_t *info,
                           const bson_t *default_classes, sub_fo_dataset_t *out, sub_error_t *err)
{
    memset(out, 0, sizeof *out);
    char *slug = sub_fo_slug(name);
    if (!slug)
        return sub_error_set(err, SUB_E_CONFIG, 0,
                             "dataset name '%s': FiftyOne needs 1 to 100 characters of which "
                             "some are letters or digits",
                             name);
    out->name = sub_xstrdup(name);
    if (!ensure_datasets_indexes(db, err)) {
        free(slug);
        return false;
    }
    mongoc_collection_t *coll = mongoc_database_get_collection(db->db, "datasets");
    bson_t *filter = BCON_NEW("name", BCON_UTF8(name));
    const bson_t *found = NULL;
    bson_error_t be;
    bool ok = false;
    mongoc_cursor_t *c = mongoc_collection_find_with_opts(coll, filter, NULL, NULL);
    if (mongoc_cursor_next(c, &found)) {
        if (!load_existing(found, out)) {
            sub_error_set(err, SUB_E_DB, 0,
                          "datasets document '%s' has no _id or "
                          "sample_collection_name",
                          name);
            goto out;
        }
        ok = update_existing(db, coll, found, out, extra, n_extra, info, default_classes, err);
    } else if (mongoc_cursor_error(c, &be)) {
        sub_db_error(&be, "find the datasets document", err);
    } else {
        bson_t doc = BSON_INITIALIZER;
        bson_oid_init(&out->id, NULL);
        char hex[25];
        bson_oid_to_string(&out->id, hex);
        out->sample_collection = sub_xasprintf("samples.%s", hex);
        out->created_at_ms = (int64_t)bson_oid_get_time_t(&out->id) * 1000;
        out->created = true;
        build_new_dataset(out, slug, fiftyone_version, extra, n_extra, info, default_classes, &doc);
        ok = mongoc_collection_insert_one(coll, &doc, NULL, NULL, &be);
        if (!ok)
            sub_db_error(&be, "insert the datasets document", err);
        bson_destroy(&doc);
    }
    if (ok)
        ok = create_sample_collection(db, out, err);
out:
    mongoc_cursor_destroy(c);
    bson_destroy(filter);
    mongoc_collection_destroy(coll);
    free(slug);
    return ok;
}

bool sub_fo_dataset_open(sub_db_t *db, const char *name, sub_fo_dataset_t *out, bson_t *doc,
                         sub_error_t *err)
{
    mongoc_collection_t *coll = mongoc_database_get_collection(db->db, "datasets");
    bson_t *filter = BCON_NEW("name", BCON_UTF8(name));
    mongoc_cursor_t *c = mongoc_collection_find_with_opts(coll, filter, NULL, NULL);
    const bson_t *found;
    bson_error_t be;
    bool ok = false;
    memset(out, 0, sizeof *out);
    if (doc)
        bson_init(doc);
    if (mongoc_cursor_next(c, &found)) {
        out->name = sub_xstrdup(name);
        ok = load_existing(found, out) ||
             sub_error_set(err, SUB_E_DB, 0,
                           "datasets document '%s' has no _id or sample_collection_name", name);
        if (ok && doc)
            bson_concat(doc, found);
    } else if (mongoc_cursor_error(c, &be)) {
        sub_db_error(&be, "find the datasets document", err);
    } else {
        sub_error_set(err, SUB_E_NOT_FOUND, 0, "no dataset named '%s' in database %s", name,
                      db->db_name);
    }
    mongoc_cursor_destroy(c);
    bson_destroy(filter);
    mongoc_collection_destroy(coll);
    return ok;
}

bool sub_fo_dataset_touch(sub_db_t *db, const sub_fo_dataset_t *ds, sub_error_t *err)
{
    mongoc_collection_t *coll = mongoc_database_get_collection(db->db, "datasets");
    bson_t *filter = BCON_NEW("_id", BCON_OID(&ds->id));
    bson_t *update = BCON_NEW("$currentDate", "{", "last_modified_at", BCON_BOOL(true), "}");
    bson_error_t be;
    bool ok = mongoc_collection_update_one(coll, filter, update, NULL, NULL, &be);
    if (!ok)
        sub_db_error(&be, "update the datasets document", err);
    bson_destroy(filter);
    bson_destroy(update);
    mongoc_collection_destroy(coll);
    return ok;
}

void sub_fo_dataset_release(sub_fo_dataset_t *ds)
{
    free(ds->name);
    free(ds->sample_collection);
    memset(ds, 0, sizeof *ds);
}

/* posixpath.normpath: collapse "//", drop ".", resolve ".." lexically; POSIX keeps
 * exactly two leading slashes, and so does Python. */
static char *normpath(const char *path)
{
    size_t n = strlen(path);
    int initial = path[0] == '/' ? (path[1] == '/' && path[2] != '/' ? 2 : 1) : 0;
    char **parts = sub_xmalloc((n + 1) * sizeof *parts);
    size_t np = 0;
    char *copy = sub_xstrdup(path), *save = NULL;
    for (char *c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
        if (strcmp(c, ".") == 0)
            continue;
        if (strcmp(c, "..") == 0 && (np == 0 ? initial != 0 : strcmp(parts[np - 1], "..") != 0)) {
            if (np)
                np--;
            continue;
        }
        parts[np++] = c;
    }
    sub_buf_t b = SUB_BUF_INIT;
    sub_buf_append(&b, "//", (size_t)initial, NULL);
    for (size_t i = 0; i < np; i++)
        sub_buf_appendf(&b, NULL, "%s%s", i ? "/" : "", parts[i]);
    if (b.len == 0)
        sub_buf_appendc(&b, '.', NULL);
    free(parts);
    free(copy);
    return sub_buf_take(&b);
}

char *sub_fo_normalize_path(const char *path)
{
    char *expanded = sub_path_expand_home(path);
    char *joined;
    if (expanded[0] == '/') {
        joined = expanded;
    } else {
        char cwd[4096];
        joined = sub_path_join(getcwd(cwd, sizeof cwd) ? cwd : "/", expanded);
        free(expanded);
    }
    char *norm = normpath(joined);
    free(joined);
    return norm;
}
