#define SUB_LOG_DOMAIN "openimages"
#include "subsetter/openimages.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "subsetter/bsonutil.h"
#include "subsetter/csv.h"
#include "subsetter/log.h"
#include "subsetter/pyrandom.h"
#include "subsetter/strutil.h"

/* The hierarchy file is ~90 KB; anything near this is not a hierarchy. */
#define MAX_HIERARCHY_BYTES (16 << 20)

static const char *const split_names[] = {"train", "validation", "test"};
static const char *const images_paths[] = {
    "2018_04/train/train-images-boxable-with-rotation.csv",
    "2018_04/validation/validation-images-with-rotation.csv",
    "2018_04/test/test-images-with-rotation.csv",
};
static const char *const labels_paths[] = {
    "v5/train-annotations-human-imagelabels-boxable.csv",
    "v5/validation-annotations-human-imagelabels-boxable.csv",
    "v5/test-annotations-human-imagelabels-boxable.csv",
};

const char *sub_oi_split_name(sub_oi_split_t split)
{
    return split_names[split];
}

bool sub_oi_split_parse(const char *name, sub_oi_split_t *out)
{
    for (int i = 0; i < SUB_OI__SPLITS; i++) {
        if (strcmp(name, split_names[i]) == 0) {
            *out = (sub_oi_split_t)i;
            return true;
        }
    }
    return false;
}

const char *sub_oi_images_path(sub_oi_split_t split)
{
    return images_paths[split];
}

const char *sub_oi_labels_path(sub_oi_split_t split)
{
    return labels_paths[split];
}

/* FNV-1a: MIDs are short, and the table is built once. */
static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

long sub_oi_classes_find(const sub_oi_classes_t *c, const char *mid, size_t len)
{
    if (!c->nslots)
        return -1;
    for (size_t i = hash_bytes(mid, len) & (c->nslots - 1);; i = (i + 1) & (c->nslots - 1)) {
        uint32_t slot = c->slots[i];
        if (!slot)
            return -1;
        const char *m = c->mid[slot - 1];
        if (strlen(m) == len && memcmp(m, mid, len) == 0)
            return (long)slot - 1;
    }
}

static bool index_classes(sub_oi_classes_t *c, const char *path, sub_error_t *err)
{
    c->nslots = 16;
    while (c->nslots < c->len * 2)
        c->nslots *= 2;
    c->slots = calloc(c->nslots, sizeof *c->slots);
    if (!c->slots)
        abort();
    for (size_t k = 0; k < c->len; k++) {
        size_t n = strlen(c->mid[k]);
        if (sub_oi_classes_find(c, c->mid[k], n) >= 0)
            return sub_error_set(err, SUB_E_CONFIG, 0, "%s: MID %s is listed twice", path,
                                 c->mid[k]);
        size_t i = hash_bytes(c->mid[k], n) & (c->nslots - 1);
        while (c->slots[i])
            i = (i + 1) & (c->nslots - 1);
        c->slots[i] = (uint32_t)k + 1;
    }
    return true;
}

bool sub_oi_classes_load(const char *path, sub_oi_classes_t *out, sub_error_t *err)
{
    sub_csv_t *csv = NULL;
    sub_csv_record_t rec;
    sub_csv_status_t st;
    size_t cap = 0;
    memset(out, 0, sizeof *out);
    if (!sub_csv_open_path(path, NULL, &csv, err))
        return false;
    while ((st = sub_csv_next(csv, &rec, err)) == SUB_CSV_OK) {
        if (rec.nfields != 2) {
            sub_error_set(err, SUB_E_CONFIG, 0, "%s:%llu: expected MID,DisplayName, got %zu fields",
                          path, (unsigned long long)rec.line, rec.nfields);
            st = SUB_CSV_BAD;
            break;
        }
        if (!bson_utf8_validate(rec.field[0], rec.len[0], false) ||
            !bson_utf8_validate(rec.field[1], rec.len[1], false)) {
            sub_error_set(err, SUB_E_INPUT, 0, "%s:%llu: not valid UTF-8", path,
                          (unsigned long long)rec.line);
            st = SUB_CSV_BAD;
            break;
        }
        if (rec.number == 1 && strcmp(rec.field[0], "LabelName") == 0 &&
            strcmp(rec.field[1], "DisplayName") == 0)
            continue; /* the v7 files have a header row, the v5 file has none */
        if (out->len == cap) {
            cap = cap ? cap * 2 : 1024;
            out->mid = sub_xrealloc(out->mid, cap * sizeof *out->mid);
            out->name = sub_xrealloc(out->name, cap * sizeof *out->name);
        }
        out->mid[out->len] = sub_xstrdup(rec.field[0]);
        out->name[out->len] = sub_xstrdup(rec.field[1]);
        out->len++;
    }
    sub_csv_free(csv);
    if (st == SUB_CSV_BAD || st == SUB_CSV_FAIL)
        return false;
    if (out->len == 0)
        return sub_error_set(err, SUB_E_CONFIG, 0, "%s: no classes", path);
    return index_classes(out, path, err);
}

void sub_oi_classes_release(sub_oi_classes_t *c)
{
    for (size_t i = 0; i < c->len; i++) {
        free(c->mid[i]);
        free(c->name[i]);
    }
    free(c->mid);
    free(c->name);
    free(c->slots);
    memset(c, 0, sizeof *c);
}

static int cmp_str_ptr(const void *a, const void *b)
{
    /* strcmp compares bytes, and UTF-8 byte order is code point order, as Python sorts. */
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void sub_oi_classes_to_bson(const sub_oi_classes_t *c, bson_t *classes_map, bson_t *sorted_names)
{
    char **names = sub_xmalloc((c->len ? c->len : 1) * sizeof *names);
    sub_bson_array_t keys = {.arr = sorted_names};
    for (size_t i = 0; i < c->len; i++) {
        BSON_APPEND_UTF8(classes_map, c->mid[i], c->name[i]);
        names[i] = c->name[i];
    }
    qsort(names, c->len, sizeof *names, cmp_str_ptr);
    for (size_t i = 0; i < c->len; i++)
        bson_append_utf8(sorted_names, sub_bson_array_next_key(&keys), -1, names[i], -1);
    free(names);
}

static void rename_node(const bson_t *in, const sub_oi_classes_t *c, bson_t *out, size_t *unknown);

static void rename_list(const bson_t *in, const sub_oi_classes_t *c, bson_t *out, size_t *unknown)
{
    bson_iter_t it;
    sub_bson_array_t keys = {.arr = out};
    bson_iter_init(&it, in);
    while (bson_iter_next(&it)) {
        bson_t child, renamed;
        if (!sub_bson_get_doc(in, bson_iter_key(&it), &child)) {
            bson_append_iter(out, sub_bson_array_next_key(&keys), -1, &it);
            continue;
        }
        bson_append_document_begin(out, sub_bson_array_next_key(&keys), -1, &renamed);
        rename_node(&child, c, &renamed, unknown);
        bson_append_document_end(out, &renamed);
    }
}

static void rename_node(const bson_t *in, const sub_oi_classes_t *c, bson_t *out, size_t *unknown)
{
    bson_iter_t it;
    bson_iter_init(&it, in);
    while (bson_iter_next(&it)) {
        const char *key = bson_iter_key(&it);
        bson_t list, renamed;
        if (strcmp(key, "LabelName") == 0 && BSON_ITER_HOLDS_UTF8(&it)) {
            uint32_t n;
            const char *mid = bson_iter_utf8(&it, &n);
            long k = sub_oi_classes_find(c, mid, n);
            if (k >= 0)
                BSON_APPEND_UTF8(out, key, c->name[k]);
            else if (strcmp(mid, SUB_OI_ROOT_MID) == 0)
                BSON_APPEND_UTF8(out, key, "Entity");
            else {
                BSON_APPEND_UTF8(out, key, mid);
                (*unknown)++;
            }
        } else if ((strcmp(key, "Subcategory") == 0 || strcmp(key, "Part") == 0) &&
                   BSON_ITER_HOLDS_ARRAY(&it) && sub_bson_get_doc(in, key, &list)) {
            BSON_APPEND_ARRAY_BEGIN(out, key, &renamed);
            rename_list(&list, c, &renamed, unknown);
            bson_append_array_end(out, &renamed);
        } else {
            bson_append_iter(out, key, -1, &it);
        }
    }
}

bool sub_oi_hierarchy_load(const char *path, const sub_oi_classes_t *c, bson_t *out,
                           size_t *unknown, sub_error_t *err)
{
    FILE *f = fopen(path, "rb");
    *unknown = 0;
    if (!f)
        return sub_error_set(err, SUB_E_IO, errno, "open %s: %s", path, strerror(errno));
    char *text = sub_xmalloc(MAX_HIERARCHY_BYTES + 1);
    size_t n = fread(text, 1, MAX_HIERARCHY_BYTES + 1, f);
    fclose(f);
    if (n > MAX_HIERARCHY_BYTES) {
        free(text);
        return sub_error_set(err, SUB_E_CONFIG, 0, "%s: larger than %d bytes", path,
                             MAX_HIERARCHY_BYTES);
    }
    bson_error_t be;
    bson_t *doc = bson_new_from_json((const uint8_t *)text, (ssize_t)n, &be);
    free(text);
    if (!doc)
        return sub_error_set(err, SUB_E_CONFIG, 0, "%s: not a JSON object: %s", path, be.message);
    rename_node(doc, c, out, unknown);
    bson_destroy(doc);
    return true;
}

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

bool sub_oi_parse_image_id(const char *s, size_t len, uint64_t *out)
{
    uint64_t v = 0;
    if (len != 16)
        return false;
    for (size_t i = 0; i < 16; i++) {
        int h = hexval(s[i]);
        if (h < 0)
            return false;
        v = (v << 4) | (uint64_t)h;
    }
    *out = v;
    return true;
}

bool sub_oi_parse_float(const char *s, size_t len, double *out)
{
    char buf[64];
    if (len == 0 || len >= sizeof buf)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!strchr("0123456789.eE+-", s[i]))
            return false; /* no "nan", "inf", hex floats or spaces */
    memcpy(buf, s, len);
    buf[len] = '\0';
    char *end;
    errno = 0;
    double v = strtod(buf, &end);
    if (*end || errno == ERANGE || !isfinite(v))
        return false;
    *out = v;
    return true;
}

void sub_oi_sample_oid(int64_t created_at_ms, sub_oi_split_t split, uint64_t image, bson_oid_t *oid)
{
    uint32_t ts = (uint32_t)(created_at_ms / 1000) + (uint32_t)split;
    for (int i = 0; i < 4; i++)
        oid->bytes[i] = (uint8_t)(ts >> (24 - 8 * i));
    for (int i = 0; i < 8; i++)
        oid->bytes[4 + i] = (uint8_t)(image >> (56 - 8 * i));
}

/* Label ids: the sample's timestamp, then the ImageID mixed with the label's position by
 * a multiplication with an odd constant, which is a bijection for a given position: ids
 * are deterministic, and two labels collide only by 64-bit chance. */
static void label_oid(const sub_oi_doc_ctx_t *ctx, uint64_t image, size_t index, bson_oid_t *oid)
{
    sub_oi_sample_oid(ctx->created_at_ms, ctx->split,
                      image ^ ((uint64_t)(index + 1) * 0x9E3779B97F4A7C15ull), oid);
}

/* FiftyOne leaves None-valued fields out of sample documents; so does the ingest. */
static void append_opt_str(bson_t *doc, const char *key, const char *v)
{
    if (v)
        BSON_APPEND_UTF8(doc, key, v);
}

static void append_labels(bson_t *doc, const char *key, const sub_oi_doc_ctx_t *ctx, uint64_t image,
                          const sub_label_rec_t *labels, size_t n, bool positive, size_t *count)
{
    bson_t cls, arr, one, tags;
    sub_bson_array_t keys = {.arr = &arr};
    if (n == 0)
        return; /* no label rows: FiftyOne's importer sets no label, and omits the field */
    BSON_APPEND_DOCUMENT_BEGIN(doc, key, &cls);
    BSON_APPEND_UTF8(&cls, "_cls", "Classifications");
    BSON_APPEND_ARRAY_BEGIN(&cls, "classifications", &arr);
    for (size_t i = 0; i < n; i++) {
        if ((labels[i].confidence > 0.1) != positive)
            continue;
        bson_oid_t id;
        label_oid(ctx, image, i, &id);
        bson_append_document_begin(&arr, sub_bson_array_next_key(&keys), -1, &one);
        BSON_APPEND_OID(&one, "_id", &id);
        BSON_APPEND_UTF8(&one, "_cls", "Classification");
        BSON_APPEND_ARRAY_BEGIN(&one, "tags", &tags);
        bson_append_array_end(&one, &tags);
        BSON_APPEND_UTF8(&one, "label", ctx->classes->name[labels[i].cls]);
        BSON_APPEND_DOUBLE(&one, "confidence", labels[i].confidence);
        bson_append_document_end(&arr, &one);
        (*count)++;
    }
    bson_append_array_end(&cls, &arr);
    bson_append_document_end(doc, &cls);
}

static void append_source_fields(bson_t *doc, const sub_oi_image_t *img)
{
    append_opt_str(doc, "original_url", img->original_url);
    append_opt_str(doc, "original_landing_url", img->landing_url);
    append_opt_str(doc, "original_md5", img->original_md5);
    if (img->has_size)
        BSON_APPEND_INT64(doc, "original_size", img->original_size);
    if (img->has_rotation)
        BSON_APPEND_DOUBLE(doc, "rotation", img->rotation);
    append_opt_str(doc, "license", img->license);
    append_opt_str(doc, "author", img->author);
    append_opt_str(doc, "author_profile_url", img->author_profile_url);
    append_opt_str(doc, "title", img->title);
    append_opt_str(doc, "thumbnail_url", img->thumbnail_url);
}

void sub_oi_build_sample(const sub_oi_doc_ctx_t *ctx, uint64_t image, const sub_oi_image_t *img,
                         const sub_label_rec_t *labels, size_t n_labels, bson_t *doc, size_t *pos,
                         size_t *neg)
{
    char path[4096];
    bson_oid_t id;
    bson_t tags;
    const char *split = sub_oi_split_name(ctx->split);
    snprintf(path, sizeof path, "%s/open-images-v7/%s/data/%s.jpg", ctx->media_root, split,
             img->image_id);
    sub_oi_sample_oid(ctx->created_at_ms, ctx->split, image, &id);
    /* Key order as FiftyOne writes samples (reference-dumps/sample-docs.oi_importer.json),
     * with metadata null until the fetch stage fills it. */
    BSON_APPEND_OID(doc, "_id", &id);
    BSON_APPEND_UTF8(doc, "filepath", path);
    BSON_APPEND_ARRAY_BEGIN(doc, "tags", &tags);
    BSON_APPEND_UTF8(&tags, "0", split);
    bson_append_array_end(doc, &tags);
    BSON_APPEND_NULL(doc, "metadata");
    BSON_APPEND_UTF8(doc, "_media_type", "image");
    BSON_APPEND_DOUBLE(doc, "_rand", sub_fiftyone_rand(path));
    *pos = *neg = 0;
    append_labels(doc, "positive_labels", ctx, image, labels, n_labels, true, pos);
    append_labels(doc, "negative_labels", ctx, image, labels, n_labels, false, neg);
    BSON_APPEND_UTF8(doc, "open_images_id", img->image_id);
    append_source_fields(doc, img);
    BSON_APPEND_OID(doc, "_dataset_id", ctx->dataset_id);
    BSON_APPEND_DATE_TIME(doc, "created_at", ctx->created_at_ms);
    BSON_APPEND_DATE_TIME(doc, "last_modified_at", ctx->created_at_ms);
}
