#define SUB_LOG_DOMAIN "export"
/* export_imagefolder.c - the export plan (safe folders, FiftyOne's file names) and the
 * ImageClassificationDirectoryTree it is written as. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "subsetter/bsonutil.h"
#include "subsetter/export.h"
#include "subsetter/fo_dataset.h"
#include "subsetter/log.h"
#include "subsetter/source.h"

/* ---- a string -> int64 hash map (open addressing, owned keys) ---- */

typedef struct {
    char **keys;
    int64_t *vals;
    size_t cap, len;
} strmap_t;

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static void strmap_grow(strmap_t *m);

/* The value slot of key, inserted as 0 when absent. Borrowed until the next call. */
static int64_t *strmap_slot(strmap_t *m, const char *key)
{
    if (2 * (m->len + 1) > m->cap)
        strmap_grow(m);
    size_t i = (size_t)fnv1a(key) & (m->cap - 1);
    while (m->keys[i] && strcmp(m->keys[i], key) != 0)
        i = (i + 1) & (m->cap - 1);
    if (!m->keys[i]) {
        m->keys[i] = sub_xstrdup(key);
        m->vals[i] = 0;
        m->len++;
    }
    return &m->vals[i];
}

static bool strmap_has(const strmap_t *m, const char *key)
{
    if (!m->cap)
        return false;
    size_t i = (size_t)fnv1a(key) & (m->cap - 1);
    while (m->keys[i]) {
        if (strcmp(m->keys[i], key) == 0)
            return true;
        i = (i + 1) & (m->cap - 1);
    }
    return false;
}

static void strmap_grow(strmap_t *m)
{
    strmap_t n = {.cap = m->cap ? m->cap * 2 : 64};
    n.keys = calloc(n.cap, sizeof *n.keys);
    n.vals = calloc(n.cap, sizeof *n.vals);
    if (!n.keys || !n.vals)
        abort();
    for (size_t i = 0; i < m->cap; i++)
        if (m->keys[i]) {
            *strmap_slot(&n, m->keys[i]) = m->vals[i];
            free(m->keys[i]);
        }
    free(m->keys);
    free(m->vals);
    *m = n;
}

static void strmap_release(strmap_t *m)
{
    for (size_t i = 0; i < m->cap; i++)
        free(m->keys[i]);
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof *m);
}

/* ---- safe names ---- */

static bool is_reserved_device(const char *s)
{
    static const char *const names[] = {"CON", "PRN", "AUX", "NUL"};
    size_t n = strcspn(s, ".");
    while (n > 0 && s[n - 1] == ' ')
        n--;
    for (size_t i = 0; i < 4; i++)
        if (n == 3 && strncasecmp(s, names[i], 3) == 0)
            return true;
    return n == 4 && (strncasecmp(s, "COM", 3) == 0 || strncasecmp(s, "LPT", 3) == 0) &&
           s[3] >= '0' && s[3] <= '9';
}

/* Length of s cut to at most max bytes without splitting a UTF-8 sequence. */
static size_t utf8_cut(const char *s, size_t len, size_t max)
{
    if (len <= max)
        return len;
    size_t n = max;
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--;
    return n;
}

char *sub_export_safe_name(const char *label)
{
    size_t len = label ? strlen(label) : 0;
    len = utf8_cut(label ? label : "", len, SUB_EXPORT_NAME_MAX);
    char *s = sub_xmalloc(len + 2);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)label[i];
        s[i] = (c < 0x20 || c == 0x7F || strchr("/\\<>:\"|?*", c)) ? '_' : (char)c;
    }
    while (len > 0 && (s[len - 1] == '.' || s[len - 1] == ' '))
        len--;
    s[len] = '\0';
    if (len == 0) {
        s[0] = '_';
        s[1] = '\0';
    } else if (is_reserved_device(s)) {
        memmove(s + 1, s, len + 1);
        s[0] = '_';
    }
    return s;
}

static char *ascii_lower(const char *s)
{
    char *l = sub_xstrdup(s);
    for (char *p = l; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    return l;
}

/* ---- the plan ---- */

typedef struct {
    sub_export_plan_t *plan;
    strmap_t by_label; /* label -> class index + 1 */
    strmap_t folders;  /* lower-cased folder -> taken */
    strmap_t counts;   /* "<class>/<name>" -> FiftyOne's per-(label, filename) count */
    strmap_t taken;    /* "<class>/<name>" -> taken */
    int64_t unlabeled; /* class index + 1 of the unlabeled samples, 0 until seen */
    bool with_meta;    /* keep each sample's document */
} planner_t;

static size_t add_class(planner_t *p, const char *label, char *folder)
{
    sub_export_plan_t *pl = p->plan;
    if (pl->nclasses == pl->classes_cap) {
        pl->classes_cap = pl->classes_cap ? 2 * pl->classes_cap : 16;
        pl->classes = sub_xrealloc(pl->classes, pl->classes_cap * sizeof *pl->classes);
    }
    sub_export_class_t *c = &pl->classes[pl->nclasses];
    c->label = label ? sub_xstrdup(label) : NULL;
    c->folder = folder;
    c->count = 0;
    c->y = c->original = -1;
    c->label_id = NULL;
    return pl->nclasses++;
}

/* A folder for label not taken yet (case-insensitively): the safe name, then "-2", ... */
static char *unique_folder(planner_t *p, const char *label)
{
    char *base = sub_export_safe_name(label);
    char *name = sub_xstrdup(base);
    for (int k = 2;; k++) {
        char *lower = ascii_lower(name);
        bool free_name = !strmap_has(&p->folders, lower);
        if (free_name)
            *strmap_slot(&p->folders, lower) = 1;
        free(lower);
        if (free_name)
            break;
        free(name);
        name = sub_xasprintf("%s-%d", base, k);
    }
    free(base);
    return name;
}

static size_t class_of(planner_t *p, const char *label)
{
    if (!label) {
        if (!p->unlabeled)
            p->unlabeled = (int64_t)add_class(p, NULL, sub_xstrdup(SUB_EXPORT_UNLABELED)) + 1;
        return (size_t)p->unlabeled - 1;
    }
    int64_t *slot = strmap_slot(&p->by_label, label);
    if (!*slot) {
        char *folder = unique_folder(p, label);
        *slot = (int64_t)add_class(p, label, folder) + 1;
    }
    return (size_t)*slot - 1;
}

/* Python's os.path.splitext: the extension starts at the last dot not leading the name. */
static size_t ext_start(const char *name)
{
    const char *dot = strrchr(name, '.');
    const char *p = name;
    while (*p == '.')
        p++;
    return dot && dot >= p ? (size_t)(dot - name) : strlen(name);
}

/* FiftyOne's name for the count-th file called base in a class: "name-<count>.ext" from
 * the second on; a name already given in the class (a source file literally called
 * "name-2.ext") moves on to the next count, so no file is ever written twice. */
static char *file_name(planner_t *p, size_t cls, const char *base)
{
    char *key = sub_xasprintf("%zu/%s", cls, base);
    int64_t *count = strmap_slot(&p->counts, key);
    free(key);
    size_t e = ext_start(base);
    for (;;) {
        int64_t n = ++*count;
        char *name = n == 1 ? sub_xstrdup(base)
                            : sub_xasprintf("%.*s-%lld%s", (int)e, base, (long long)n, base + e);
        char *tk = sub_xasprintf("%zu/%s", cls, name);
        bool taken = strmap_has(&p->taken, tk);
        if (!taken)
            *strmap_slot(&p->taken, tk) = 1;
        free(tk);
        if (!taken)
            return name;
        free(name); /* count points into p->counts, which only `taken` changed */
    }
}

static const char *doc_label(const bson_t *doc)
{
    bson_iter_t it, sub;
    if (bson_iter_init(&it, doc) && bson_iter_find_descendant(&it, "ground_truth.label", &sub) &&
        BSON_ITER_HOLDS_UTF8(&sub))
        return bson_iter_utf8(&sub, NULL);
    return NULL;
}

/* metadata.<key> as an integer (FiftyOne's ImageMetadata), -1 when absent. */
static int64_t meta_size(const bson_t *doc, const char *key)
{
    bson_iter_t it, sub;
    char path[32];
    snprintf(path, sizeof path, "metadata.%s", key);
    if (bson_iter_init(&it, doc) && bson_iter_find_descendant(&it, path, &sub) &&
        BSON_ITER_HOLDS_NUMBER(&sub))
        return bson_iter_as_int64(&sub);
    return -1;
}

static void plan_add(planner_t *p, const bson_t *doc)
{
    sub_export_plan_t *pl = p->plan;
    bson_iter_t it;
    const char *src = sub_bson_get_str(doc, "filepath");
    if (pl->n == pl->cap) {
        pl->cap = pl->cap ? 2 * pl->cap : 256;
        pl->items = sub_xrealloc(pl->items, pl->cap * sizeof *pl->items);
    }
    sub_export_item_t *item = &pl->items[pl->n++];
    memset(item, 0, sizeof *item);
    if (bson_iter_init_find(&it, doc, "_id") && BSON_ITER_HOLDS_OID(&it))
        bson_oid_to_string(bson_iter_oid(&it), item->id);
    item->src = sub_xstrdup(src ? src : "");
    item->cls = class_of(p, doc_label(doc));
    pl->classes[item->cls].count++;
    const char *slash = strrchr(item->src, '/');
    char *base = sub_export_safe_name(slash ? slash + 1 : item->src);
    char *name = file_name(p, item->cls, base);
    item->rel = sub_xasprintf("%s/%s", pl->classes[item->cls].folder, name);
    const char *image_id = sub_bson_get_str(doc, "open_images_id");
    item->image_id = image_id && *image_id ? sub_xstrdup(image_id) : NULL;
    item->width = meta_size(doc, "width");
    item->height = meta_size(doc, "height");
    item->size_bytes = meta_size(doc, "size_bytes");
    item->meta = p->with_meta ? bson_copy(doc) : NULL;
    free(name);
    free(base);
}

bool sub_export_plan_build(sub_db_t *db, const char *dataset, bool with_meta,
                           sub_export_plan_t *plan, sub_error_t *err)
{
    sub_fo_dataset_t ds = {0};
    planner_t p = {.plan = plan, .with_meta = with_meta};
    const bson_t *doc;
    bson_error_t be;
    memset(plan, 0, sizeof *plan);
    bson_t ds_doc;
    if (!sub_fo_dataset_open(db, dataset, &ds, &ds_doc, err)) {
        bson_destroy(&ds_doc);
        return false;
    }
    /* The unlabeled folder and the files at the top of DIR are never a label's folder. */
    static const char *const reserved[] = {SUB_EXPORT_UNLABELED, "labels.json", "labels.csv",
                                           "manifest.csv", "manifest.jsonl"};
    for (size_t i = 0; i < sizeof reserved / sizeof *reserved; i++)
        *strmap_slot(&p.folders, reserved[i]) = 1;
    mongoc_collection_t *coll = mongoc_database_get_collection(db->db, ds.sample_collection);
    bson_t *opts =
        BCON_NEW("sort", "{", "_id", BCON_INT32(1), "}", "projection", "{", "filepath",
                 BCON_BOOL(true), "ground_truth.label", BCON_BOOL(true), "open_images_id",
                 BCON_BOOL(true), "original_url", BCON_BOOL(true), "license", BCON_BOOL(true),
                 "author", BCON_BOOL(true), "metadata", BCON_BOOL(true), "}");
    bson_t filter = BSON_INITIALIZER;
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(coll, &filter, opts, NULL);
    while (mongoc_cursor_next(cur, &doc))
        plan_add(&p, doc);
    bool ok = !mongoc_cursor_error(cur, &be) || sub_db_error(&be, "read the samples", err);
    mongoc_cursor_destroy(cur);
    bson_destroy(opts);
    mongoc_collection_destroy(coll);
    strmap_release(&p.by_label);
    strmap_release(&p.folders);
    strmap_release(&p.counts);
    strmap_release(&p.taken);
    if (ok)
        sub_export_plan_order(plan, &ds_doc);
    bson_destroy(&ds_doc);
    sub_fo_dataset_release(&ds);
    return ok;
}

void sub_export_plan_release(sub_export_plan_t *plan)
{
    for (size_t i = 0; i < plan->n; i++) {
        free(plan->items[i].src);
        free(plan->items[i].rel);
        free(plan->items[i].image_id);
        if (plan->items[i].meta)
            bson_destroy(plan->items[i].meta);
    }
    for (size_t i = 0; i < plan->nclasses; i++) {
        free(plan->classes[i].label);
        free(plan->classes[i].folder);
        free(plan->classes[i].label_id);
    }
    free(plan->items);
    free(plan->classes);
    free(plan->by_y);
    memset(plan, 0, sizeof *plan);
}

/* ---- files ---- */

void sub_export_note_missing(sub_export_result_t *r, const char *path)
{
    r->missing++;
    if (r->n_missing_paths < SUB_EXPORT_MISSING_SHOWN)
        r->missing_paths[r->n_missing_paths++] = sub_xstrdup(path);
}

void sub_export_result_release(sub_export_result_t *r)
{
    for (size_t i = 0; i < r->n_missing_paths; i++)
        free(r->missing_paths[i]);
    memset(r, 0, sizeof *r);
}

static bool io_error(sub_error_t *err, const char *what, const char *path)
{
    return sub_error_set(err, SUB_E_IO, errno, "%s %s: %s", what, path, strerror(errno));
}

/* Copies the open fd `in` to the new file tmp, fsynced. */
static bool copy_fd(int in, const char *tmp, sub_error_t *err)
{
    static char buf[1 << 20];
    int out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out < 0)
        return io_error(err, "create", tmp);
    bool ok = true;
    for (;;) {
        ssize_t n = read(in, buf, sizeof buf);
        if (n == 0)
            break;
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            ok = io_error(err, "read the source of", tmp);
            break;
        }
        for (ssize_t off = 0; ok && off < n;) {
            ssize_t w = write(out, buf + off, (size_t)(n - off));
            if (w < 0 && errno != EINTR)
                ok = io_error(err, "write", tmp);
            off += w > 0 ? w : 0;
        }
        if (!ok)
            break;
    }
    if (ok && fsync(out) != 0)
        ok = io_error(err, "fsync", tmp);
    if (close(out) != 0 && ok)
        ok = io_error(err, "close", tmp);
    return ok;
}

bool sub_export_write_file(const char *path, const char *data, size_t len, sub_error_t *err)
{
    struct stat st;
    if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && (size_t)st.st_size == len) {
        FILE *f = fopen(path, "rb");
        char *old = sub_xmalloc(len + 1);
        bool same = f && fread(old, 1, len, f) == len && memcmp(old, data, len) == 0;
        free(old);
        if (f)
            fclose(f);
        if (same)
            return true;
    }
    char *tmp = sub_xasprintf("%s.export-part", path);
    FILE *f = fopen(tmp, "wb");
    bool ok = f && fwrite(data, 1, len, f) == len;
    ok = (f && fflush(f) == 0 && fsync(fileno(f)) == 0 && ok) ? true : io_error(err, "write", tmp);
    if (f && fclose(f) != 0 && ok)
        ok = io_error(err, "close", tmp);
    if (ok && rename(tmp, path) != 0)
        ok = io_error(err, "rename to", path);
    if (!ok)
        unlink(tmp);
    free(tmp);
    return ok;
}

bool sub_export_write_json(const char *path, const bson_t *doc, sub_error_t *err)
{
    size_t len;
    char *json = bson_as_relaxed_extended_json(doc, &len);
    char *text = sub_xasprintf("%s\n", json);
    bool ok = sub_export_write_file(path, text, len + 1, err);
    bson_free(json);
    free(text);
    return ok;
}

/* True when dest already is what mode would make of src (*same), false on an error. */
static bool in_place(const char *src, const struct stat *ss, const char *dest,
                     sub_export_mode_t mode, bool *same, sub_error_t *err)
{
    struct stat ds;
    *same = false;
    if (lstat(dest, &ds) != 0)
        return errno == ENOENT || io_error(err, "stat", dest);
    if (S_ISDIR(ds.st_mode))
        return sub_error_set(err, SUB_E_IO, 0, "%s is a directory", dest);
    if (mode == SUB_EXPORT_SYMLINK) {
        char target[PATH_MAX];
        ssize_t n = S_ISLNK(ds.st_mode) ? readlink(dest, target, sizeof target - 1) : -1;
        if (n > 0) {
            target[n] = '\0';
            *same = strcmp(target, src) == 0;
        }
        return true;
    }
    if (mode == SUB_EXPORT_HARDLINK) {
        *same = S_ISREG(ds.st_mode) && ds.st_dev == ss->st_dev && ds.st_ino == ss->st_ino;
        return true;
    }
    if (!S_ISREG(ds.st_mode) || ds.st_size != ss->st_size)
        return true;
    char a[65], b[65];
    int64_t sa, sb;
    if (!sub_source_hash_file(src, NULL, a, &sa, err) ||
        !sub_source_hash_file(dest, NULL, b, &sb, err))
        return false;
    *same = sa == sb && strcmp(a, b) == 0;
    return true;
}

/* Makes dest (through dest.export-part and a rename) what mode makes of src. */
static bool place(const char *src, int fd, const char *dest, sub_export_mode_t mode,
                  sub_error_t *err)
{
    char *tmp = sub_xasprintf("%s.export-part", dest);
    bool ok = true;
    if (unlink(tmp) != 0 && errno != ENOENT)
        ok = io_error(err, "remove", tmp);
    if (ok && mode == SUB_EXPORT_COPY)
        ok = copy_fd(fd, tmp, err);
    else if (ok && mode == SUB_EXPORT_HARDLINK && link(src, tmp) != 0)
        ok = sub_error_set(err, SUB_E_IO, errno, "hardlink %s to %s: %s%s", src, tmp,
                           strerror(errno),
                           errno == EXDEV ? " (another file system: use --mode copy)" : "");
    else if (ok && mode == SUB_EXPORT_SYMLINK && symlink(src, tmp) != 0)
        ok = io_error(err, "symlink", tmp);
    if (ok && rename(tmp, dest) != 0)
        ok = io_error(err, "rename to", dest);
    if (!ok)
        unlink(tmp);
    free(tmp);
    return ok;
}

/* Removes dest.export-part left by a run interrupted while replacing a finished dest. */
static bool drop_stale_part(const char *dest, sub_error_t *err)
{
    char *tmp = sub_xasprintf("%s.export-part", dest);
    bool ok = unlink(tmp) == 0 || errno == ENOENT || io_error(err, "remove", tmp);
    free(tmp);
    return ok;
}

/* Creates out/folder and checks that it resolves to exactly <realpath(out)>/<folder>: no
 * name from the data and no planted symlink leads outside DIR. */
static bool class_dir(const char *out_real, const char *folder, char **dir, sub_error_t *err)
{
    char real[PATH_MAX];
    *dir = sub_path_join(out_real, folder);
    if (strchr(folder, '/') || strcmp(folder, ".") == 0 || strcmp(folder, "..") == 0)
        return sub_error_set(err, SUB_E_INTERNAL, 0, "unsafe folder name '%s'", folder);
    if (mkdir(*dir, 0755) != 0 && errno != EEXIST)
        return io_error(err, "create", *dir);
    if (!realpath(*dir, real))
        return io_error(err, "resolve", *dir);
    if (strcmp(real, *dir) != 0)
        return sub_error_set(err, SUB_E_IO, 0, "%s resolves to %s, outside the export", *dir, real);
    return true;
}

static bool export_item(const sub_export_item_t *it, const char *dir, sub_export_mode_t mode,
                        sub_export_result_t *r, sub_error_t *err)
{
    struct stat ss;
    bool same = false, ok = true;
    char *src = sub_fo_normalize_path(it->src);
    int fd = open(src, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &ss) != 0 || !S_ISREG(ss.st_mode)) {
        SUB_LOG(SUB_LOG_DEBUG, "%s: media missing", src);
        sub_export_note_missing(r, src);
    } else {
        const char *name = strrchr(it->rel, '/') + 1;
        char *dest = sub_path_join(dir, name);
        ok = in_place(src, &ss, dest, mode, &same, err) &&
             (same ? drop_stale_part(dest, err) : place(src, fd, dest, mode, err));
        if (ok)
            *(same ? &r->skipped_existing : &r->exported) += 1;
        free(dest);
    }
    if (fd >= 0)
        close(fd);
    free(src);
    return ok;
}

bool sub_export_imagefolder(const sub_export_plan_t *plan, const char *out, sub_export_mode_t mode,
                            sub_progress_t *progress, sub_export_result_t *r, sub_error_t *err)
{
    char out_real[PATH_MAX];
    if (!sub_mkdir_p(out, err))
        return false;
    if (!realpath(out, out_real))
        return io_error(err, "resolve", out);
    char **dirs = calloc(plan->nclasses ? plan->nclasses : 1, sizeof *dirs);
    bool ok = dirs != NULL;
    for (size_t i = 0; ok && i < plan->nclasses; i++)
        ok = class_dir(out_real, plan->classes[i].folder, &dirs[i], err);
    for (size_t i = 0; ok && i < plan->n; i++) {
        ok = export_item(&plan->items[i], dirs[plan->items[i].cls], mode, r, err);
        if (progress)
            sub_progress_update(progress, 0, i + 1);
    }
    r->samples = (int64_t)plan->n;
    for (size_t i = 0; dirs && i < plan->nclasses; i++)
        free(dirs[i]);
    free(dirs);
    return ok;
}

/* ---- labels.json, labels.csv ---- */

bool sub_export_write_labels(const sub_export_plan_t *plan, const char *dataset, const char *out,
                             sub_error_t *err)
{
    bson_t doc = BSON_INITIALIZER, map, arr, c;
    sub_bson_array_t keys = {.arr = &arr};
    sub_buf_t csv = SUB_BUF_INIT;
    BSON_APPEND_UTF8(&doc, "dataset", dataset);
    BSON_APPEND_DOCUMENT_BEGIN(&doc, "labels", &map);
    for (size_t i = 0; i < plan->nclasses; i++)
        if (plan->classes[i].label)
            bson_append_utf8(&map, plan->classes[i].label, -1, plan->classes[i].folder, -1);
    bson_append_document_end(&doc, &map);
    BSON_APPEND_ARRAY_BEGIN(&doc, "classes", &arr);
    bool ok = sub_buf_appendf(&csv, err, "label,folder,count\r\n");
    for (size_t i = 0; i < plan->nclasses; i++) {
        const sub_export_class_t *k = &plan->classes[i];
        bson_append_document_begin(&arr, sub_bson_array_next_key(&keys), -1, &c);
        if (k->label)
            BSON_APPEND_UTF8(&c, "label", k->label);
        else
            BSON_APPEND_NULL(&c, "label");
        BSON_APPEND_UTF8(&c, "folder", k->folder);
        BSON_APPEND_INT64(&c, "count", k->count);
        bson_append_document_end(&arr, &c);
        ok = ok && sub_export_csv_field(&csv, k->label, err) && sub_buf_appendc(&csv, ',', err) &&
             sub_export_csv_field(&csv, k->folder, err) &&
             sub_buf_appendf(&csv, err, ",%lld\r\n", (long long)k->count);
    }
    bson_append_array_end(&doc, &arr);
    char *jpath = sub_path_join(out, "labels.json"), *cpath = sub_path_join(out, "labels.csv");
    ok = ok && sub_export_write_json(jpath, &doc, err) &&
         sub_export_write_file(cpath, csv.data ? csv.data : "", csv.len, err);
    free(jpath);
    free(cpath);
    bson_destroy(&doc);
    sub_buf_release(&csv);
    return ok;
}

bool sub_export_csv_field(sub_buf_t *b, const char *s, sub_error_t *err)
{
    if (!s)
        return true;
    size_t n = strlen(s);
    bool quote = strpbrk(s, ",\"\r\n") != NULL || (n && (s[0] == ' ' || s[n - 1] == ' '));
    if (!quote)
        return sub_buf_append(b, s, n, err);
    bool ok = sub_buf_appendc(b, '"', err);
    for (const char *p = s; ok && *p; p++)
        ok = (*p != '"' || sub_buf_appendc(b, '"', err)) && sub_buf_appendc(b, *p, err);
    return ok && sub_buf_appendc(b, '"', err);
}
