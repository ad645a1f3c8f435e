/* job.c - loading and validating a job file (see job.h). */
#include "subsetter/job.h"

#include <stdlib.h>
#include <string.h>

#include "subsetter/splits.h"
#include "subsetter/strutil.h"
#include "subsetter/yaml_doc.h"

typedef struct {
    const sub_yaml_doc_t *doc;
    const char *section; /* for messages: "subset" in "subset.name" */
    const sub_yaml_node_t *map;
    sub_error_t *err;
} sec_t;

static const char *const top_keys[] = {"settings", "source", "label", "subset",
                                       "fetch",    "export", "stats", NULL};

static bool in_list(const char *s, const char *const *list)
{
    for (; *list; list++)
        if (strcmp(s, *list) == 0)
            return true;
    return false;
}

static char *list_text(const char *const *list)
{
    sub_buf_t b = SUB_BUF_INIT;
    for (const char *const *p = list; *p; p++)
        sub_buf_appendf(&b, NULL, "%s%s", p == list ? "" : ", ", *p);
    return sub_buf_take(&b);
}

/* Unknown keys are errors, at the key. */
static bool check_keys(const sub_yaml_doc_t *doc, const sub_yaml_node_t *map, const char *what,
                       const char *const *allowed, sub_error_t *err)
{
    for (size_t i = 0; map && i < map->len; i++)
        if (!in_list(map->keys[i]->scalar, allowed)) {
            char *known = list_text(allowed);
            sub_yaml_error(doc, map->keys[i], err, "%s: unknown key '%s' (known: %s)", what,
                           map->keys[i]->scalar, known);
            free(known);
            return false;
        }
    return true;
}

/* A section: a mapping of known keys, or absent. */
static bool open_section(const sub_yaml_doc_t *doc, const char *name, const char *const *keys,
                         sec_t *s, sub_error_t *err)
{
    *s = (sec_t){doc, name, sub_yaml_map_get(doc->root, name), err};
    if (s->map && s->map->kind != SUB_YAML_MAPPING)
        return sub_yaml_error(doc, s->map, err, "%s: expected a mapping", name);
    return check_keys(doc, s->map, name, keys, err);
}

/* A required key that is absent: reported at its section (the mapping that lacks it). */
static bool missing(const sec_t *s, const char *what)
{
    return sub_yaml_error(s->doc, s->map ? s->map : s->doc->root, s->err, "%s: required", what);
}

static const sub_yaml_node_t *field(const sec_t *s, const char *key, char **what)
{
    *what = sub_xasprintf("%s.%s", s->section, key);
    return sub_yaml_map_get(s->map, key);
}

/* ${NAME} and ${NAME:-default} from the environment, as docker compose expands them, so
 * one job file serves a laptop and a container (paths, URLs). $$ is a literal $. An unset
 * NAME without a default is an error: an empty path would be a surprise. */
static bool expand(const sub_yaml_doc_t *doc, const sub_yaml_node_t *n, const char *what,
                   const char *in, char **out, sub_error_t *err)
{
    sub_buf_t b = SUB_BUF_INIT;
    bool ok = true;
    for (const char *p = in; ok && *p;) {
        const char *end = p[0] == '$' && p[1] == '{' ? strchr(p, '}') : NULL;
        if (p[0] == '$' && p[1] == '$') {
            ok = sub_buf_appendc(&b, '$', err);
            p += 2;
            continue;
        }
        if (!end) {
            ok = sub_buf_appendc(&b, *p++, err);
            continue;
        }
        char *name = sub_xstrndup(p + 2, (size_t)(end - p - 2));
        char *dflt = strstr(name, ":-");
        if (dflt)
            *dflt = '\0', dflt += 2;
        const char *v = getenv(name);
        if ((!v || !*v) && dflt)
            v = dflt;
        if (!v)
            ok = sub_yaml_error(doc, n, err, "%s: ${%s} is not set (give a default: ${%s:-...})",
                                what, name, name);
        else
            ok = sub_buf_appendf(&b, err, "%s", v);
        free(name);
        p = end + 1;
    }
    if (ok)
        *out = sub_buf_take(&b);
    sub_buf_release(&b);
    return ok;
}

static bool get_str(const sec_t *s, const char *key, bool required, char **out)
{
    char *what;
    const sub_yaml_node_t *n = field(s, key, &what);
    const char *v = NULL;
    bool ok = n || !required || missing(s, what);
    ok = ok && (!n || sub_yaml_get_string(s->doc, n, what, &v, s->err));
    if (ok && v)
        ok = expand(s->doc, n, what, v, out, s->err);
    if (ok && n && !**out)
        ok = sub_yaml_error(s->doc, n, s->err, "%s: must not be empty", what);
    free(what);
    return ok;
}

static bool get_enum(const sec_t *s, const char *key, const char *const *values, char **out)
{
    char *what;
    const sub_yaml_node_t *n = field(s, key, &what);
    bool ok = get_str(s, key, false, out);
    if (ok && *out && !in_list(*out, values)) {
        char *known = list_text(values);
        ok = sub_yaml_error(s->doc, n, s->err, "%s: expected one of %s, got '%s'", what, known,
                            *out);
        free(known);
    }
    free(what);
    return ok;
}

static bool get_int(const sec_t *s, const char *key, bool required, int64_t min, int64_t max,
                    int64_t *out, bool *present)
{
    char *what;
    const sub_yaml_node_t *n = field(s, key, &what);
    bool ok = n || !required || missing(s, what);
    ok = ok && (!n || sub_yaml_get_int64(s->doc, n, what, min, max, out, s->err));
    if (present)
        *present = n != NULL;
    free(what);
    return ok;
}

static bool get_bool(const sec_t *s, const char *key, bool def, bool *out)
{
    char *what;
    const sub_yaml_node_t *n = field(s, key, &what);
    *out = def;
    bool ok = !n || sub_yaml_get_bool(s->doc, n, what, out, s->err);
    free(what);
    return ok;
}

/* A sequence of non-empty strings; values (may be NULL) lists the allowed ones. */
static bool get_list(const sec_t *s, const char *key, const char *const *values, size_t max,
                     char ***out, size_t *n_out)
{
    char *what;
    const sub_yaml_node_t *n = field(s, key, &what);
    bool ok = true;
    *n_out = 0;
    if (n && (n->kind != SUB_YAML_SEQUENCE || n->len == 0 || n->len > max))
        ok = sub_yaml_error(s->doc, n, s->err, "%s: expected a list of 1 to %zu values", what, max);
    if (ok && n)
        *out = sub_xmalloc(n->len * sizeof **out);
    for (size_t i = 0; ok && n && i < n->len; i++) {
        const char *v;
        ok = sub_yaml_get_string(s->doc, n->values[i], what, &v, s->err);
        if (ok && (!*v || (values && !in_list(v, values))))
            ok = sub_yaml_error(s->doc, n->values[i], s->err, "%s: '%s' is not allowed here", what,
                                v);
        if (ok)
            (*out)[(*n_out)++] = sub_xstrdup(v);
    }
    free(what);
    return ok;
}

/* ---- sections ---- */

static bool load_source(const sub_yaml_doc_t *doc, sub_job_t *j, sub_error_t *err)
{
    static const char *const keys[] = {"kind", "url", "splits", "dataset", "max_bad_share", NULL};
    static const char *const kinds[] = {"openimages", NULL};
    static const char *const splits[] = {"train", "validation", "test", NULL};
    sec_t s;
    char *kind = NULL, **list = NULL;
    size_t n = 0;
    bool ok = open_section(doc, "source", keys, &s, err) && get_enum(&s, "kind", kinds, &kind) &&
              get_str(&s, "url", false, &j->source_url) &&
              get_list(&s, "splits", splits, 3, &list, &n) &&
              get_str(&s, "dataset", false, &j->source_dataset) &&
              get_str(&s, "max_bad_share", false, &j->max_bad_share);
    if (ok && n) {
        sub_buf_t b = SUB_BUF_INIT;
        for (size_t i = 0; i < n; i++)
            sub_buf_appendf(&b, NULL, "%s%s", i ? "," : "", list[i]);
        j->source_splits = sub_buf_take(&b);
    }
    for (size_t i = 0; i < n; i++)
        free(list[i]);
    free(list);
    free(kind);
    if (ok && !j->source_dataset)
        j->source_dataset = sub_xstrdup("open-images-v7-full");
    return ok;
}

static bool load_label(const sub_yaml_doc_t *doc, sub_error_t *err)
{
    const sub_yaml_node_t *n = sub_yaml_map_get(doc->root, "label");
    const char *rule;
    if (!n)
        return true;
    if (!sub_yaml_get_string(doc, n, "label", &rule, err))
        return false;
    return strcmp(rule, "single") == 0 ||
           sub_yaml_error(doc, n, err, "label: the only rule is 'single', got '%s'", rule);
}

static bool load_subset(const sub_yaml_doc_t *doc, sub_job_t *j, sub_error_t *err)
{
    static const char *const keys[] = {"name",    "num_classes",  "samples_per_class", "seed",
                                       "classes", "classes_file", "allow_augment",     NULL};
    sec_t s;
    bool has_seed = false;
    bool ok = open_section(doc, "subset", keys, &s, err);
    if (ok && !s.map)
        return sub_yaml_error(doc, doc->root, err, "subset: missing (name, num_classes, seed)");
    ok = ok && get_str(&s, "name", true, &j->name) &&
         get_int(&s, "num_classes", true, 1, 100000, &j->num_classes, NULL) &&
         get_int(&s, "samples_per_class", false, 1, INT32_MAX, &j->samples_per_class, NULL) &&
         get_int(&s, "seed", false, INT64_MIN, INT64_MAX, &j->seed, &has_seed) &&
         get_list(&s, "classes", NULL, 100000, &j->classes, &j->nclasses) &&
         get_str(&s, "classes_file", false, &j->classes_file) &&
         get_bool(&s, "allow_augment", false, &j->allow_augment);
    if (ok && j->classes && j->classes_file)
        ok = sub_yaml_error(doc, sub_yaml_map_get(s.map, "classes_file"), err,
                            "subset: give classes or classes_file, not both");
    if (ok && !has_seed && !j->classes && !j->classes_file)
        ok = sub_yaml_error(doc, s.map, err,
                            "subset.seed: required to draw the classes (or give classes)");
    return ok;
}

static bool load_fetch(const sub_yaml_doc_t *doc, sub_job_t *j, sub_error_t *err)
{
    static const char *const keys[] = {"enabled",  "base_url", "concurrency",  "per_host",
                                       "fallback", "backfill", "max_attempts", NULL};
    static const char *const fallbacks[] = {"original", "none", NULL};
    sec_t s;
    return open_section(doc, "fetch", keys, &s, err) && get_bool(&s, "enabled", true, &j->fetch) &&
           get_str(&s, "base_url", false, &j->base_url) &&
           get_int(&s, "concurrency", false, 1, 1024, &j->concurrency, NULL) &&
           get_int(&s, "per_host", false, 1, 1024, &j->per_host, NULL) &&
           get_enum(&s, "fallback", fallbacks, &j->fallback) &&
           get_bool(&s, "backfill", true, &j->backfill) &&
           get_int(&s, "max_attempts", false, 1, 100, &j->max_attempts, NULL);
}

/* export.splits: three numbers, checked as --splits would check them. */
static bool get_splits(const sec_t *s, sub_job_t *j)
{
    char *what;
    const sub_yaml_node_t *n = field(s, "splits", &what);
    bool ok = true;
    if (n && (n->kind != SUB_YAML_SEQUENCE || n->len != 3))
        ok = sub_yaml_error(s->doc, n, s->err, "%s: expected [train, val, test] fractions", what);
    sub_buf_t b = SUB_BUF_INIT;
    for (size_t i = 0; ok && n && i < 3; i++) {
        double d;
        ok = sub_yaml_get_double(s->doc, n->values[i], what, &d, s->err) &&
             sub_buf_appendf(&b, s->err, "%s%s", i ? "," : "", n->values[i]->scalar);
    }
    sub_split_fractions_t f;
    sub_error_t e;
    if (ok && n && !sub_splits_parse(b.data, &f, &e))
        ok = sub_yaml_error(s->doc, n, s->err, "%s: %s", what, e.msg);
    if (ok && n)
        j->export_splits = sub_buf_take(&b);
    sub_buf_release(&b);
    free(what);
    return ok;
}

static bool load_export(const sub_yaml_doc_t *doc, sub_job_t *j, sub_error_t *err)
{
    static const char *const keys[] = {"dir", "formats", "mode", "splits", "seed", NULL};
    static const char *const formats[] = {"imagefolder", "manifest", "npz", NULL};
    static const char *const modes[] = {"copy", "hardlink", "symlink", NULL};
    sec_t s;
    char **list = NULL;
    size_t n = 0;
    bool ok = open_section(doc, "export", keys, &s, err);
    if (!ok || !s.map)
        return ok;
    ok = get_str(&s, "dir", true, &j->export_dir) &&
         get_list(&s, "formats", formats, SUB_JOB_MAX_FORMATS, &list, &n) &&
         get_enum(&s, "mode", modes, &j->export_mode) && get_splits(&s, j) &&
         get_int(&s, "seed", false, INT64_MIN, INT64_MAX, &j->split_seed, &j->has_split_seed);
    for (size_t i = 0; i < n; i++) {
        bool dup = false;
        for (size_t k = 0; k < j->nformats; k++)
            dup = dup || strcmp(j->formats[k], list[i]) == 0;
        if (ok && dup)
            ok = sub_yaml_error(doc, sub_yaml_map_get(s.map, "formats"), err,
                                "export.formats: '%s' is listed twice", list[i]);
        if (!dup)
            j->formats[j->nformats++] = list[i];
        else
            free(list[i]);
    }
    free(list);
    if (ok && j->nformats == 0)
        j->formats[j->nformats++] = sub_xstrdup("imagefolder");
    return ok;
}

static bool load_stats(const sub_yaml_doc_t *doc, sub_job_t *j, sub_error_t *err)
{
    static const char *const keys[] = {"enabled", "resize", "mode", "file", NULL};
    static const char *const modes[] = {"exact", "fast", NULL};
    sec_t s;
    char *mode = NULL;
    j->resize = 224;
    bool ok = open_section(doc, "stats", keys, &s, err) &&
              get_bool(&s, "enabled", s.map != NULL, &j->stats) &&
              get_int(&s, "resize", false, 1, 4096, &j->resize, NULL) &&
              get_enum(&s, "mode", modes, &mode) && get_str(&s, "file", false, &j->stats_file);
    j->stats_fast = mode && strcmp(mode, "fast") == 0;
    free(mode);
    if (ok && j->stats && !j->stats_file) {
        if (!j->export_dir)
            return sub_yaml_error(doc, s.map, err, "stats.file: required without export.dir");
        j->stats_file = sub_path_join(j->export_dir, "stats.json");
    }
    return ok;
}

bool sub_job_load(const char *path, sub_job_t *job, sub_error_t *err)
{
    sub_yaml_doc_t doc;
    memset(job, 0, sizeof *job);
    job->path = sub_xstrdup(path);
    bool ok = sub_yaml_load_file(path, &doc, err);
    if (ok && (!doc.root || doc.root->kind != SUB_YAML_MAPPING))
        ok = sub_error_set(err, SUB_E_CONFIG, 0, "%s: a job file is a mapping of keys to values",
                           path);
    ok = ok && check_keys(&doc, doc.root, "job", top_keys, err) && load_source(&doc, job, err) &&
         load_label(&doc, err) && load_subset(&doc, job, err) && load_fetch(&doc, job, err) &&
         load_export(&doc, job, err) && load_stats(&doc, job, err);
    sub_yaml_doc_release(&doc);
    return ok;
}

void sub_job_release(sub_job_t *j)
{
    char **strings[] = {&j->path,          &j->source_url, &j->source_splits, &j->source_dataset,
                        &j->max_bad_share, &j->name,       &j->classes_file,  &j->base_url,
                        &j->fallback,      &j->export_dir, &j->export_mode,   &j->export_splits,
                        &j->stats_file};
    for (size_t i = 0; i < sizeof strings / sizeof *strings; i++)
        free(*strings[i]);
    for (size_t i = 0; i < j->nclasses; i++)
        free(j->classes[i]);
    free(j->classes);
    for (size_t i = 0; i < j->nformats; i++)
        free(j->formats[i]);
    memset(j, 0, sizeof *j);
}
