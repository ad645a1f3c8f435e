#define SUB_LOG_DOMAIN "yaml_doc"
#include "subsetter/yaml_doc.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <yaml.h>

#include "subsetter/strutil.h"

/* How much of a scalar an error message quotes. */
#define QUOTE_MAX 60

typedef struct {
    yaml_parser_t parser;
    const char *origin;
    const unsigned char *input; /* for positions of reader errors, which have no mark */
    size_t input_len;
    sub_error_t *err;
} loader_t;

static bool parse_node(loader_t *ld, yaml_event_t *ev, unsigned depth, sub_yaml_node_t **out);

static void node_free(sub_yaml_node_t *n)
{
    if (!n)
        return;
    for (size_t i = 0; i < n->len; i++) {
        if (n->keys)
            node_free(n->keys[i]);
        node_free(n->values[i]);
    }
    free(n->keys);
    free(n->values);
    free(n->scalar);
    free(n);
}

static sub_yaml_node_t *node_new(sub_yaml_kind_t kind, const yaml_mark_t *mark)
{
    sub_yaml_node_t *n = sub_xmalloc(sizeof *n);
    memset(n, 0, sizeof *n);
    n->kind = kind;
    n->line = (unsigned)mark->line + 1;
    n->column = (unsigned)mark->column + 1;
    return n;
}

/* Appends to a collection. The capacity is implied by len: the arrays are full exactly
 * when len is 0 or a power of two, and then double, so the node needs no capacity field. */
static void node_push(sub_yaml_node_t *n, sub_yaml_node_t *key, sub_yaml_node_t *value)
{
    if ((n->len & (n->len - 1)) == 0) {
        size_t cap = n->len ? n->len * 2 : 1;
        n->values = sub_xrealloc(n->values, cap * sizeof *n->values);
        if (n->kind == SUB_YAML_MAPPING)
            n->keys = sub_xrealloc(n->keys, cap * sizeof *n->keys);
    }
    if (n->kind == SUB_YAML_MAPPING)
        n->keys[n->len] = key;
    n->values[n->len++] = value;
}

static bool error_at(loader_t *ld, const yaml_mark_t *m, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static bool error_at(loader_t *ld, const yaml_mark_t *m, const char *fmt, ...)
{
    char msg[SUB_ERROR_MSG_SIZE];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return sub_error_set(ld->err, SUB_E_CONFIG, 0, "%s:%zu:%zu: %s", ld->origin, m->line + 1,
                         m->column + 1, msg);
}

/* Reader errors (bad UTF-8, control characters) carry a byte offset instead of a mark. */
static yaml_mark_t mark_of_offset(const loader_t *ld, size_t off)
{
    yaml_mark_t m = {off, 0, 0};
    for (size_t i = 0; i < off && i < ld->input_len; i++) {
        if (ld->input[i] == '\n') {
            m.line++;
            m.column = 0;
        } else if ((ld->input[i] & 0xc0) != 0x80) { /* columns count characters */
            m.column++;
        }
    }
    return m;
}

static bool syntax_error(loader_t *ld)
{
    yaml_parser_t *p = &ld->parser;
    if (p->error == YAML_MEMORY_ERROR)
        return sub_error_set(ld->err, SUB_E_INTERNAL, ENOMEM, "%s: out of memory", ld->origin);
    yaml_mark_t m = p->problem_mark;
    if (p->error == YAML_READER_ERROR)
        m = mark_of_offset(ld, p->problem_offset);
    const char *problem = p->problem ? p->problem : "syntax error";
    if (p->context)
        return error_at(ld, &m, "%s (%s)", problem, p->context);
    return error_at(ld, &m, "%s", problem);
}

/* The next event; on failure the error is set and there is nothing to delete. */
static bool next_event(loader_t *ld, yaml_event_t *ev)
{
    if (yaml_parser_parse(&ld->parser, ev))
        return true;
    return syntax_error(ld);
}

/* Anchors, aliases and tags are refused where they appear. */
static bool check_plain_node(loader_t *ld, const yaml_event_t *ev)
{
    const yaml_char_t *anchor = NULL, *tag = NULL;
    switch (ev->type) {
    case YAML_ALIAS_EVENT:
        return error_at(ld, &ev->start_mark, "aliases are not supported (*%s)",
                        (const char *)ev->data.alias.anchor);
    case YAML_SCALAR_EVENT:
        anchor = ev->data.scalar.anchor;
        tag = ev->data.scalar.tag;
        break;
    case YAML_MAPPING_START_EVENT:
        anchor = ev->data.mapping_start.anchor;
        tag = ev->data.mapping_start.tag;
        break;
    case YAML_SEQUENCE_START_EVENT:
        anchor = ev->data.sequence_start.anchor;
        tag = ev->data.sequence_start.tag;
        break;
    default:
        return error_at(ld, &ev->start_mark, "unexpected YAML event %d", (int)ev->type);
    }
    if (anchor)
        return error_at(ld, &ev->start_mark, "anchors are not supported (&%s)",
                        (const char *)anchor);
    if (tag)
        return error_at(ld, &ev->start_mark, "tags are not supported (%s)", (const char *)tag);
    return true;
}

static bool parse_scalar(loader_t *ld, const yaml_event_t *ev, sub_yaml_node_t **out)
{
    const char *v = (const char *)ev->data.scalar.value;
    size_t len = ev->data.scalar.length;
    /* "\0" in a double-quoted scalar would silently cut the C string short. */
    if (memchr(v, '\0', len))
        return error_at(ld, &ev->start_mark, "NUL character in a scalar");
    sub_yaml_node_t *n = node_new(SUB_YAML_SCALAR, &ev->start_mark);
    n->scalar = sub_xstrndup(v, len);
    /* Quoted and block (| >) scalars are strings in YAML: never a number or a bool. */
    n->quoted = ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE;
    *out = n;
    return true;
}

/* Duplicate-key detection in O(1) per key: an open-addressing table of key indexes + 1
 * (0 = empty), rebuilt at double size when half full. A flat list scan would make a large
 * mapping quadratic. */
typedef struct {
    size_t *slots;
    size_t cap; /* a power of two */
} keyset_t;

static size_t key_hash(const char *s)
{
    size_t h = 14695981039346656037ULL & SIZE_MAX; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * (size_t)1099511628211ULL;
    return h;
}

static size_t *keyset_slot(const keyset_t *ks, const sub_yaml_node_t *map, const char *key)
{
    size_t i = key_hash(key) & (ks->cap - 1);
    while (ks->slots[i] && strcmp(map->keys[ks->slots[i] - 1]->scalar, key) != 0)
        i = (i + 1) & (ks->cap - 1);
    return &ks->slots[i];
}

/* Records map->keys[idx]; returns the index of an earlier equal key, or SIZE_MAX. */
static size_t keyset_add(keyset_t *ks, const sub_yaml_node_t *map, size_t idx)
{
    if ((idx + 1) * 2 > ks->cap) {
        free(ks->slots);
        ks->cap = ks->cap ? ks->cap * 2 : 16;
        ks->slots = sub_xmalloc(ks->cap * sizeof *ks->slots);
        memset(ks->slots, 0, ks->cap * sizeof *ks->slots);
        for (size_t i = 0; i < idx; i++)
            *keyset_slot(ks, map, map->keys[i]->scalar) = i + 1;
    }
    size_t *slot = keyset_slot(ks, map, map->keys[idx]->scalar);
    if (*slot)
        return *slot - 1;
    *slot = idx + 1;
    return SIZE_MAX;
}

/* One key: a scalar, without anchor or tag (duplicates are the caller's check). */
static bool parse_key(loader_t *ld, yaml_event_t *ev, sub_yaml_node_t **key)
{
    if (ev->type == YAML_MAPPING_START_EVENT || ev->type == YAML_SEQUENCE_START_EVENT)
        return error_at(ld, &ev->start_mark, "mapping keys must be scalars");
    if (!check_plain_node(ld, ev))
        return false;
    return parse_scalar(ld, ev, key);
}

static bool parse_mapping(loader_t *ld, sub_yaml_node_t *map, unsigned depth)
{
    keyset_t ks = {NULL, 0};
    bool ok = false;
    for (;;) {
        yaml_event_t ev;
        sub_yaml_node_t *key = NULL, *value = NULL;
        if (!next_event(ld, &ev))
            goto out;
        if (ev.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&ev);
            break;
        }
        bool got = parse_key(ld, &ev, &key);
        yaml_event_delete(&ev);
        if (!got)
            goto out;
        node_push(map, key, NULL);
        size_t first = keyset_add(&ks, map, map->len - 1);
        if (first != SIZE_MAX) {
            sub_error_set(ld->err, SUB_E_CONFIG, 0,
                          "%s:%u:%u: duplicate key '%s' (first at line %u)", ld->origin, key->line,
                          key->column, key->scalar, map->keys[first]->line);
            goto out;
        }
        if (!next_event(ld, &ev))
            goto out;
        got = parse_node(ld, &ev, depth, &value);
        yaml_event_delete(&ev);
        map->values[map->len - 1] = value;
        if (!got)
            goto out;
    }
    ok = true;
out:
    free(ks.slots);
    return ok;
}

static bool parse_sequence(loader_t *ld, sub_yaml_node_t *seq, unsigned depth)
{
    for (;;) {
        yaml_event_t ev;
        sub_yaml_node_t *item = NULL;
        if (!next_event(ld, &ev))
            return false;
        if (ev.type == YAML_SEQUENCE_END_EVENT) {
            yaml_event_delete(&ev);
            return true;
        }
        bool got = parse_node(ld, &ev, depth, &item);
        yaml_event_delete(&ev);
        if (item) /* even a partial one, so that the tree frees it */
            node_push(seq, NULL, item);
        if (!got)
            return false;
    }
}

/* Builds the node that starts with *ev (which the caller deletes). On failure *out may
 * hold a partial tree, which the caller frees all the same. */
static bool parse_node(loader_t *ld, yaml_event_t *ev, unsigned depth, sub_yaml_node_t **out)
{
    *out = NULL;
    if (!check_plain_node(ld, ev))
        return false;
    if (ev->type == YAML_SCALAR_EVENT)
        return parse_scalar(ld, ev, out);
    /* The limit also bounds this recursion. */
    if (depth >= SUB_YAML_MAX_DEPTH)
        return error_at(ld, &ev->start_mark, "nested deeper than %d levels", SUB_YAML_MAX_DEPTH);
    bool is_map = ev->type == YAML_MAPPING_START_EVENT;
    *out = node_new(is_map ? SUB_YAML_MAPPING : SUB_YAML_SEQUENCE, &ev->start_mark);
    return is_map ? parse_mapping(ld, *out, depth + 1) : parse_sequence(ld, *out, depth + 1);
}

/* Expects the next event to be of the given type (the stream's frame). */
static bool expect(loader_t *ld, yaml_event_type_t type, yaml_event_t *ev)
{
    if (!next_event(ld, ev))
        return false;
    if (ev->type == type)
        return true;
    error_at(ld, &ev->start_mark, "unexpected YAML event %d", (int)ev->type);
    yaml_event_delete(ev);
    return false;
}

/* The one document of the stream; *root stays NULL for an empty stream. */
static bool parse_document(loader_t *ld, sub_yaml_node_t **root)
{
    yaml_event_t ev;
    if (!next_event(ld, &ev))
        return false;
    if (ev.type == YAML_STREAM_END_EVENT) {
        yaml_event_delete(&ev);
        return true;
    }
    yaml_event_delete(&ev); /* DOCUMENT_START: the parser allows nothing else here */
    if (!next_event(ld, &ev))
        return false;
    bool ok = parse_node(ld, &ev, 0, root);
    yaml_event_delete(&ev);
    if (!ok || !expect(ld, YAML_DOCUMENT_END_EVENT, &ev))
        return false;
    yaml_event_delete(&ev);
    if (!next_event(ld, &ev))
        return false;
    if (ev.type == YAML_DOCUMENT_START_EVENT)
        ok = error_at(ld, &ev.start_mark, "more than one document ('---'): one job per file");
    yaml_event_delete(&ev);
    return ok;
}

/* A lone "---" gives an empty plain scalar: that document is empty too. */
static bool is_empty_scalar(const sub_yaml_node_t *n)
{
    return n && n->kind == SUB_YAML_SCALAR && !n->quoted && n->scalar[0] == '\0';
}

bool sub_yaml_load_string(const char *text, size_t len, const char *origin, sub_yaml_doc_t *doc,
                          sub_error_t *err)
{
    doc->path = sub_xstrdup(origin);
    doc->root = NULL;
    if (len > SUB_YAML_MAX_BYTES)
        return sub_error_set(err, SUB_E_CONFIG, 0, "%s: larger than %d bytes", origin,
                             SUB_YAML_MAX_BYTES);
    loader_t ld = {
        .origin = origin, .input = (const unsigned char *)text, .input_len = len, .err = err};
    if (!yaml_parser_initialize(&ld.parser))
        return sub_error_set(err, SUB_E_INTERNAL, ENOMEM, "%s: out of memory", origin);
    yaml_parser_set_input_string(&ld.parser, ld.input, len);
    yaml_event_t ev;
    bool ok = expect(&ld, YAML_STREAM_START_EVENT, &ev);
    if (ok) {
        yaml_event_delete(&ev);
        ok = parse_document(&ld, &doc->root);
    }
    yaml_parser_delete(&ld.parser);
    if (!ok || is_empty_scalar(doc->root)) {
        node_free(doc->root);
        doc->root = NULL;
    }
    return ok;
}

/* Reads a whole file of at most SUB_YAML_MAX_BYTES into *buf (caller frees). */
static bool read_file(const char *path, char **buf, size_t *len, sub_error_t *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        int e = errno;
        return sub_error_set(err, e == ENOENT ? SUB_E_CONFIG : SUB_E_IO, e, "%s: %s", path,
                             strerror(e));
    }
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
        fclose(f);
        return sub_error_set(err, SUB_E_CONFIG, EISDIR, "%s: is a directory", path);
    }
    /* One read of one byte more than the cap tells "too large" apart from "just fits". */
    *buf = sub_xmalloc((size_t)SUB_YAML_MAX_BYTES + 1);
    *len = fread(*buf, 1, (size_t)SUB_YAML_MAX_BYTES + 1, f);
    int e = ferror(f) ? errno : 0;
    fclose(f);
    if (e) {
        free(*buf);
        *buf = NULL;
        return sub_error_set(err, SUB_E_IO, e, "%s: %s", path, strerror(e));
    }
    return true;
}

bool sub_yaml_load_file(const char *path, sub_yaml_doc_t *doc, sub_error_t *err)
{
    char *buf = NULL;
    size_t len = 0;
    if (!read_file(path, &buf, &len, err)) {
        doc->path = sub_xstrdup(path);
        doc->root = NULL;
        return false;
    }
    bool ok = sub_yaml_load_string(buf, len, path, doc, err);
    free(buf);
    return ok;
}

void sub_yaml_doc_release(sub_yaml_doc_t *doc)
{
    if (!doc)
        return;
    node_free(doc->root);
    free(doc->path);
    doc->root = NULL;
    doc->path = NULL;
}

const sub_yaml_node_t *sub_yaml_map_get(const sub_yaml_node_t *map, const char *key)
{
    if (!map || map->kind != SUB_YAML_MAPPING)
        return NULL;
    for (size_t i = 0; i < map->len; i++)
        if (strcmp(map->keys[i]->scalar, key) == 0)
            return map->values[i];
    return NULL;
}

bool sub_yaml_error(const sub_yaml_doc_t *doc, const sub_yaml_node_t *n, sub_error_t *err,
                    const char *fmt, ...)
{
    char msg[SUB_ERROR_MSG_SIZE];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const char *path = doc && doc->path ? doc->path : NULL;
    if (path && n)
        return sub_error_set(err, SUB_E_CONFIG, 0, "%s:%u:%u: %s", path, n->line, n->column, msg);
    if (n) /* no document at hand: the caller prefixes the path */
        return sub_error_set(err, SUB_E_CONFIG, 0, "%u:%u: %s", n->line, n->column, msg);
    if (path)
        return sub_error_set(err, SUB_E_CONFIG, 0, "%s: %s", path, msg);
    return sub_error_set(err, SUB_E_CONFIG, 0, "%s", msg);
}

/* What a node is, for "expected X, got Y": the scalar's text (escaped, cut at QUOTE_MAX
 * bytes on a character boundary), "a mapping", "nothing"... Caller frees. */
static char *describe(const sub_yaml_node_t *n)
{
    if (!n)
        return sub_xstrdup("nothing");
    if (n->kind != SUB_YAML_SCALAR)
        return sub_xstrdup(n->kind == SUB_YAML_MAPPING ? "a mapping" : "a sequence");
    if (!n->quoted && !n->scalar[0])
        return sub_xstrdup("an empty value");
    sub_buf_t b = SUB_BUF_INIT;
    sub_buf_appendf(&b, NULL, "%s\"", n->quoted ? "the quoted string " : "");
    const unsigned char *s = (const unsigned char *)n->scalar;
    size_t i = 0;
    for (; s[i] && (i < QUOTE_MAX || (s[i] & 0xc0) == 0x80); i++) {
        if (s[i] == '"' || s[i] == '\\')
            sub_buf_appendf(&b, NULL, "\\%c", s[i]);
        else if (s[i] < 0x20 || s[i] == 0x7f)
            sub_buf_appendf(&b, NULL, "\\x%02x", s[i]);
        else
            sub_buf_appendc(&b, (char)s[i], NULL);
    }
    sub_buf_appendf(&b, NULL, "%s\"", s[i] ? "..." : "");
    return sub_buf_take(&b);
}

static bool type_error(const sub_yaml_doc_t *doc, const sub_yaml_node_t *n, const char *what,
                       const char *expected, sub_error_t *err)
{
    char *got = describe(n);
    sub_yaml_error(doc, n, err, "%s: expected %s, got %s", what, expected, got);
    free(got);
    return false;
}

/* The text of a plain (unquoted) scalar, or NULL: numbers and bools must not be quoted. */
static const char *plain_text(const sub_yaml_node_t *n)
{
    return n && n->kind == SUB_YAML_SCALAR && !n->quoted ? n->scalar : NULL;
}

static size_t count_digits(const char *s)
{
    size_t n = 0;
    while (s[n] >= '0' && s[n] <= '9')
        n++;
    return n;
}

/* YAML 1.1 (PyYAML) reads 010 as octal 8 and YAML 1.2 as 10: refuse the ambiguity. */
static bool leading_zero(const char *digits, size_t n)
{
    return n > 1 && digits[0] == '0';
}

bool sub_yaml_get_string(const sub_yaml_doc_t *doc, const sub_yaml_node_t *n, const char *what,
                         const char **out, sub_error_t *err)
{
    if (!n || n->kind != SUB_YAML_SCALAR)
        return type_error(doc, n, what, "a string", err);
    *out = n->scalar;
    return true;
}

bool sub_yaml_get_int64(const sub_yaml_doc_t *doc, const sub_yaml_node_t *n, const char *what,
                        int64_t min, int64_t max, int64_t *out, sub_error_t *err)
{
    const char *s = plain_text(n);
    if (!s)
        return type_error(doc, n, what, "an integer", err);
    const char *d = s + (*s == '-' || *s == '+');
    size_t nd = count_digits(d);
    if (nd == 0 || d[nd] != '\0')
        return type_error(doc, n, what, "an integer", err);
    if (leading_zero(d, nd))
        return type_error(doc, n, what, "an integer without leading zeros", err);
    if (!sub_parse_int64(s, min, max, out)) {
        char expected[128];
        snprintf(expected, sizeof expected, "an integer from %" PRId64 " to %" PRId64, min, max);
        return type_error(doc, n, what, expected, err);
    }
    return true;
}

bool sub_yaml_get_bool(const sub_yaml_doc_t *doc, const sub_yaml_node_t *n, const char *what,
                       bool *out, sub_error_t *err)
{
    static const char *const words[] = {"true", "false", "yes", "no", "on", "off"};
    const char *s = plain_text(n);
    for (size_t i = 0; s && i < sizeof words / sizeof *words; i++) {
        if (strcasecmp(s, words[i]) == 0) {
            *out = i % 2 == 0;
            return true;
        }
    }
    return type_error(doc, n, what, "true or false", err);
}

/* [-+]? (digits [. digits?] | . digits) ([eE] [-+]? digits)?: what strtod takes, minus
 * hex, inf and nan. */
static bool is_decimal_number(const char *s)
{
    s += *s == '-' || *s == '+';
    size_t whole = count_digits(s), frac = 0;
    if (leading_zero(s, whole))
        return false;
    s += whole;
    if (*s == '.') {
        frac = count_digits(s + 1);
        s += 1 + frac;
    }
    if (whole + frac == 0)
        return false;
    if (*s == 'e' || *s == 'E') {
        s++;
        s += *s == '-' || *s == '+';
        size_t exp = count_digits(s);
        if (exp == 0)
            return false;
        s += exp;
    }
    return *s == '\0';
}

bool sub_yaml_get_double(const sub_yaml_doc_t *doc, const sub_yaml_node_t *n, const char *what,
                         double *out, sub_error_t *err)
{
    const char *s = plain_text(n);
    if (!s || !is_decimal_number(s))
        return type_error(doc, n, what, "a number", err);
    errno = 0;
    double v = strtod(s, NULL);
    /* ERANGE also flags underflow, which gives a usable (tiny or zero) value. */
    if (!isfinite(v))
        return type_error(doc, n, what, "a finite number", err);
    *out = v;
    return true;
}
