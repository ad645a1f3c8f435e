#define SUB_LOG_DOMAIN "dotenv"
#include "subsetter/dotenv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "subsetter/strutil.h"

/* The parser mirrors python-dotenv's parser.py regex by regex (named in the comments), so
 * that a difference in behavior can be traced to one function. The text is first
 * normalized as Python's text-mode open() does (BOM dropped, CRLF and CR read as LF), so
 * '\n' is the only line break below. */

typedef struct {
    const char *p; /* cursor */
    unsigned line; /* line of the cursor, 1-based */
    const char *origin;
    /* This text's keys so far, for ${NAME}. A bare KEY is stored with value "" and line 0:
     * python-dotenv gives it None, which expands to "" without taking the default. */
    sub_kvlist_t scope;
} reader_t;

/* Length of the UTF-8 sequence at p if it is a character Python's str.isspace() accepts
 * (the `\s` of python-dotenv's regexes), '\n' excepted; 0 otherwise. */
static size_t blank_len(const char *p)
{
    const unsigned char *u = (const unsigned char *)p;
    if (u[0] == ' ' || u[0] == '\t' || u[0] == '\v' || u[0] == '\f' ||
        (u[0] >= 0x1c && u[0] <= 0x1f))
        return 1;
    if (u[0] == 0xc2 && (u[1] == 0x85 || u[1] == 0xa0)) /* NEL, NO-BREAK SPACE */
        return 2;
    if (u[0] == 0xe1 && u[1] == 0x9a && u[2] == 0x80) /* U+1680 */
        return 3;
    if (u[0] == 0xe3 && u[1] == 0x80 && u[2] == 0x80) /* U+3000 */
        return 3;
    /* U+2000-200A, U+2028, U+2029, U+202F */
    if (u[0] == 0xe2 && u[1] == 0x80 &&
        (u[2] <= 0x8a || u[2] == 0xa8 || u[2] == 0xa9 || u[2] == 0xaf))
        return 3;
    if (u[0] == 0xe2 && u[1] == 0x81 && u[2] == 0x9f) /* U+205F */
        return 3;
    return 0;
}

static void advance(reader_t *r, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (r->p[i] == '\n')
            r->line++;
    r->p += n;
}

/* `[^\S\r\n]*` */
static void skip_blanks(reader_t *r)
{
    size_t n;
    while ((n = blank_len(r->p)) > 0)
        r->p += n;
}

/* `\s*` (_multiline_whitespace) */
static void skip_spaces(reader_t *r)
{
    for (;;) {
        size_t n = *r->p == '\n' ? 1 : blank_len(r->p);
        if (n == 0)
            return;
        advance(r, n);
    }
}

static bool fail(const reader_t *r, unsigned line, sub_error_t *err, const char *why,
                 const char *key)
{
    if (key)
        return sub_error_set(err, SUB_E_CONFIG, 0, "%s:%u: %s '%s'", r->origin, line, why, key);
    return sub_error_set(err, SUB_E_CONFIG, 0, "%s:%u: %s", r->origin, line, why);
}

/* `(?:export[^\S\r\n]+)?`: "export" alone is a key named export. */
static void skip_export(reader_t *r)
{
    if (strncmp(r->p, "export", 6) != 0 || blank_len(r->p + 6) == 0)
        return;
    r->p += 6;
    skip_blanks(r);
}

/* _single_quoted_key `'([^']+)'` or _unquoted_key `([^=\#\s]+)`. */
static bool parse_key(reader_t *r, unsigned line, char **key, sub_error_t *err)
{
    const char *s = r->p;
    if (*s == '\'') {
        const char *end = strchr(s + 1, '\'');
        if (!end)
            return fail(r, line, err, "unterminated quoted key", NULL);
        if (end == s + 1)
            return fail(r, line, err, "empty quoted key", NULL);
        *key = sub_xstrndup(s + 1, (size_t)(end - s - 1));
        advance(r, (size_t)(end + 1 - s));
        return true;
    }
    const char *e = s;
    while (*e && *e != '=' && *e != '#' && *e != '\n' && blank_len(e) == 0)
        e++;
    if (e == s)
        return fail(r, line, err, *s == '=' ? "missing key before '='" : "missing key", NULL);
    *key = sub_xstrndup(s, (size_t)(e - s));
    r->p = e;
    return true;
}

/* The escapes codecs "unicode-escape" decodes for python-dotenv's _double_quote_escapes. */
static int escape_char(char c, bool dquote)
{
    if (c == '\\' || c == '\'')
        return c;
    if (!dquote)
        return -1;
    static const char from[] = "\"abfnrtv";
    static const char to[] = "\"\a\b\f\n\r\t\v";
    const char *f = strchr(from, c);
    return c && f ? to[f - from] : -1;
}

/* _single_quoted_value / _double_quoted_value `Q((?:\\.|[^Q\\])*)Q` (may span lines),
 * decoded. Any other backslash pair is kept as written, as python-dotenv keeps it. */
static bool parse_quoted(reader_t *r, unsigned line, const char *key, char **value,
                         sub_error_t *err)
{
    char q = *r->p;
    sub_buf_t b = SUB_BUF_INIT;
    const char *s = r->p + 1;
    while (*s && *s != q) {
        int c = s[0] == '\\' && s[1] ? escape_char(s[1], q == '"') : -1;
        if (c >= 0) {
            sub_buf_appendc(&b, (char)c, NULL);
            s += 2;
            continue;
        }
        size_t n = s[0] == '\\' && s[1] ? 2 : 1;
        sub_buf_append(&b, s, n, NULL);
        s += n;
    }
    if (!*s) {
        sub_buf_release(&b);
        return fail(r, line, err,
                    q == '"' ? "unterminated double-quoted value for"
                             : "unterminated single-quoted value for",
                    key);
    }
    advance(r, (size_t)(s + 1 - r->p));
    *value = sub_buf_take(&b);
    return true;
}

/* _unquoted_value `[^\r\n]*`, then re.sub(r"\s+#.*", "", part).rstrip(): a '#' starts a
 * comment only after whitespace, so `KEY=a#b` keeps "a#b". */
static char *parse_unquoted(reader_t *r)
{
    const char *s = r->p, *end = r->p;
    bool after_blank = false;
    while (*s && *s != '\n') {
        size_t n = blank_len(s);
        if (n) {
            after_blank = true;
            s += n;
            continue;
        }
        if (*s == '#' && after_blank)
            break;
        after_blank = false;
        end = ++s;
    }
    char *v = sub_xstrndup(r->p, (size_t)(end - r->p));
    while (*r->p && *r->p != '\n')
        r->p++;
    return v;
}

/* _comment then _end_of_line: only blanks and a '#' comment may follow a value. */
static bool finish_line(reader_t *r, unsigned line, const char *key, bool has_value,
                        sub_error_t *err)
{
    skip_blanks(r);
    if (*r->p == '#')
        r->p += strcspn(r->p, "\n");
    if (*r->p == '\n') {
        advance(r, 1);
        return true;
    }
    if (!*r->p)
        return true;
    return fail(r, line, err,
                has_value ? "unexpected text after the closing quote of" : "expected '=' after",
                key);
}

/* Where ${name} is looked up: the environment first, then this text's earlier keys, as
 * load_dotenv(override=False) does. NULL when neither has it. */
static const char *lookup(const reader_t *r, const char *name)
{
    if (*name && !strchr(name, '=')) {
        const char *v = getenv(name);
        if (v)
            return v;
    }
    return sub_kvlist_get(&r->scope, name);
}

/* python-dotenv's _posix_variable `\$\{([^\}:]*)(?::-([^\}]*))?\}`, applied with finditer:
 * no $NAME form, no nesting, no escape; a default is used only when the name is undefined
 * (an empty value stays empty, unlike the shell's ${X:-d}). The result is capped at
 * SUB_DOTENV_MAX_BYTES so that values referring to each other cannot grow without bound. */
static bool expand(const reader_t *r, unsigned line, const char *key, const char *s, char **out,
                   sub_error_t *err)
{
    sub_buf_t b = SUB_BUF_INIT;
    b.limit = SUB_DOTENV_MAX_BYTES;
    bool ok = true;
    const char *lit = s;
    for (const char *q = s; *q && ok; q++) {
        if (q[0] != '$' || q[1] != '{')
            continue;
        const char *name = q + 2, *def = NULL;
        const char *close = name + strcspn(name, "}:");
        size_t name_len = (size_t)(close - name);
        if (*close == ':' && close[1] == '-') {
            def = close + 2;
            close = def + strcspn(def, "}");
        }
        if (*close != '}')
            continue;
        char *n = sub_xstrndup(name, name_len);
        const char *v = lookup(r, n);
        free(n);
        size_t vlen = v ? strlen(v) : def ? (size_t)(close - def) : 0;
        ok = sub_buf_append(&b, lit, (size_t)(q - lit), NULL) &&
             sub_buf_append(&b, v ? v : def, vlen, NULL);
        lit = close + 1;
        q = close;
    }
    if (ok)
        ok = sub_buf_append(&b, lit, strlen(lit), NULL);
    if (!ok) {
        sub_buf_release(&b);
        return sub_error_set(err, SUB_E_CONFIG, 0,
                             "%s:%u: value of '%s' is over %d bytes once ${...} are expanded",
                             r->origin, line, key, SUB_DOTENV_MAX_BYTES);
    }
    *out = sub_buf_take(&b);
    return true;
}

static void kvlist_remove(sub_kvlist_t *l, const char *key)
{
    const sub_kv_t *kv = sub_kvlist_find(l, key);
    if (!kv)
        return;
    size_t i = (size_t)(kv - l->items);
    free(l->items[i].key);
    free(l->items[i].value);
    memmove(&l->items[i], &l->items[i + 1], (l->len - i - 1) * sizeof *l->items);
    l->len--;
}

/* A bare KEY: python-dotenv records None, which load_dotenv() does not set, so a value
 * this text gave KEY on an earlier line is dropped too. */
static void set_bare(reader_t *r, const char *key, sub_kvlist_t *out)
{
    const sub_kv_t *prev = sub_kvlist_find(&r->scope, key);
    if (prev && prev->line != 0)
        kvlist_remove(out, key);
    sub_kvlist_set(&r->scope, key, "", 0);
}

/* The value after "=" and its blanks (_equal_sign); `had_blank`: "KEY= #x" is empty. */
static bool parse_value(reader_t *r, unsigned line, const char *key, bool had_blank, char **raw,
                        sub_error_t *err)
{
    if (*r->p == '\'' || *r->p == '"')
        return parse_quoted(r, line, key, raw, err);
    if (had_blank && *r->p == '#')
        *raw = sub_xstrdup("");
    else
        *raw = parse_unquoted(r);
    return true;
}

/* One statement (python-dotenv's parse_binding). At the end of the text it does nothing. */
static bool parse_statement(reader_t *r, sub_kvlist_t *out, sub_error_t *err)
{
    char *key = NULL, *raw = NULL, *value = NULL;
    bool ok = false;
    skip_spaces(r);
    unsigned line = r->line;
    if (!*r->p)
        return true;
    skip_export(r);
    if (*r->p == '#')
        return finish_line(r, line, NULL, false, err);
    if (!parse_key(r, line, &key, err))
        goto out;
    skip_blanks(r);
    bool has_value = *r->p == '=';
    if (has_value) {
        r->p++;
        const char *before = r->p;
        skip_blanks(r);
        if (!parse_value(r, line, key, r->p != before, &raw, err))
            goto out;
    }
    if (!finish_line(r, line, key, has_value, err))
        goto out;
    if (!has_value) {
        set_bare(r, key, out);
    } else {
        if (!expand(r, line, key, raw, &value, err))
            goto out;
        sub_kvlist_set(&r->scope, key, value, line);
        sub_kvlist_set(out, key, value, line);
    }
    ok = true;
out:
    free(key);
    free(raw);
    free(value);
    return ok;
}

/* Python's text-mode open(): drops a leading BOM, reads "\r\n" and "\r" as "\n". */
static char *normalize(const char *text, size_t n)
{
    if (n >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0) {
        text += 3;
        n -= 3;
    }
    char *s = sub_xmalloc(n + 1), *d = s;
    for (size_t i = 0; i < n; i++) {
        if (text[i] != '\r') {
            *d++ = text[i];
            continue;
        }
        *d++ = '\n';
        if (i + 1 < n && text[i + 1] == '\n')
            i++;
    }
    *d = '\0';
    return s;
}

/* The file is read as UTF-8, as dotenv_values() reads it (where Python would raise). */
static bool check_utf8(const char *s, const char *origin, sub_error_t *err)
{
    unsigned line = 1;
    while (*s) {
        uint32_t cp;
        size_t n = sub_utf8_decode((const unsigned char *)s, &cp);
        if (n == 0)
            return sub_error_set(err, SUB_E_CONFIG, 0, "%s:%u: invalid UTF-8", origin, line);
        line += *s == '\n';
        s += n;
    }
    return true;
}

static bool parse_text(const char *text, size_t n, const char *origin, sub_kvlist_t *out,
                       sub_error_t *err)
{
    if (n > SUB_DOTENV_MAX_BYTES)
        return sub_error_set(err, SUB_E_CONFIG, 0, "%s: larger than %d bytes", origin,
                             SUB_DOTENV_MAX_BYTES);
    char *s = normalize(text, n);
    reader_t r = {s, 1, origin, SUB_KVLIST_INIT};
    bool ok = check_utf8(s, origin, err);
    while (ok && *r.p)
        ok = parse_statement(&r, out, err);
    sub_kvlist_release(&r.scope);
    free(s);
    return ok;
}

bool sub_dotenv_parse_string(const char *text, const char *origin, sub_kvlist_t *out,
                             sub_error_t *err)
{
    return parse_text(text, strlen(text), origin, out, err);
}

/* Opens path for reading; *missing is set when it does not exist or is a directory (a
 * virtualenv named .env is common; python-dotenv skips anything but a file or a FIFO). */
static FILE *open_env(const char *path, bool *missing, sub_error_t *err)
{
    *missing = false;
    FILE *f = fopen(path, "rb");
    struct stat st;
    if (f && fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
        fclose(f);
        *missing = true;
        sub_error_set(err, SUB_E_CONFIG, EISDIR, "%s: is a directory", path);
        return NULL;
    }
    if (!f) {
        int e = errno;
        *missing = e == ENOENT || e == ENOTDIR;
        sub_error_set(err, *missing ? SUB_E_CONFIG : SUB_E_IO, e, "%s: %s", path, strerror(e));
    }
    return f;
}

bool sub_dotenv_parse_file(const char *path, bool required, sub_kvlist_t *out, sub_error_t *err)
{
    sub_error_t local;
    bool missing;
    FILE *f = open_env(path, &missing, err ? err : &local);
    if (!f) {
        if (missing && !required) {
            sub_error_clear(err);
            return true;
        }
        return false;
    }
    /* One read of one byte more than the cap tells "too large" apart from "just fits". */
    char *buf = sub_xmalloc((size_t)SUB_DOTENV_MAX_BYTES + 2);
    size_t n = fread(buf, 1, (size_t)SUB_DOTENV_MAX_BYTES + 1, f);
    int e = ferror(f) ? errno : 0;
    fclose(f);
    bool ok = false;
    buf[n] = '\0';
    if (e)
        sub_error_set(err, SUB_E_IO, e, "%s: %s", path, strerror(e));
    else if (memchr(buf, '\0', n))
        sub_error_set(err, SUB_E_CONFIG, 0, "%s: contains a NUL byte", path);
    else
        ok = parse_text(buf, n, path, out, err);
    free(buf);
    return ok;
}
