#define SUB_LOG_DOMAIN "strutil"
#include "subsetter/strutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

static void oom(size_t n)
{
    fprintf(stderr, "subsetter: out of memory allocating %zu bytes\n", n);
    abort();
}

void *sub_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        oom(n);
    return p;
}

void *sub_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        oom(n);
    return q;
}

char *sub_xstrdup(const char *s)
{
    return sub_xstrndup(s, strlen(s));
}

char *sub_xstrndup(const char *s, size_t n)
{
    char *p = sub_xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *sub_xasprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        oom(0);
    char *p = sub_xmalloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

static bool buf_reserve(sub_buf_t *b, size_t extra, sub_error_t *err)
{
    size_t need = b->len + extra + 1;
    if (b->limit && b->len + extra > b->limit)
        return sub_error_set(err, SUB_E_INTERNAL, 0, "buffer over its limit of %zu bytes",
                             b->limit);
    if (need <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap *= 2; /* geometric growth: appends stay amortized O(1) */
    b->data = sub_xrealloc(b->data, cap);
    b->cap = cap;
    return true;
}

bool sub_buf_append(sub_buf_t *b, const void *data, size_t n, sub_error_t *err)
{
    if (!buf_reserve(b, n, err))
        return false;
    if (n)
        memcpy(b->data + b->len, data, n);
    b->len += n;
    b->data[b->len] = '\0';
    return true;
}

size_t sub_utf8_decode(const unsigned char *s, uint32_t *cp)
{
    unsigned c = s[0];
    size_t n;
    uint32_t v, min;
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c >= 0xC2 && c <= 0xDF)
        n = 2, v = c & 0x1F, min = 0x80;
    else if (c >= 0xE0 && c <= 0xEF)
        n = 3, v = c & 0x0F, min = 0x800;
    else if (c >= 0xF0 && c <= 0xF4)
        n = 4, v = c & 0x07, min = 0x10000;
    else
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        v = (v << 6) | (s[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
        return 0;
    *cp = v;
    return n;
}

size_t sub_utf8_count(const char *s)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        n += (*p & 0xC0) != 0x80;
    return n;
}

bool sub_buf_read_file(sub_buf_t *b, const char *path, sub_error_t *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    b->len = 0;
    if (fd < 0 || fstat(fd, &st) != 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return sub_error_set(err, SUB_E_IO, e, "open %s: %s", path, strerror(e));
    }
    bool ok = buf_reserve(b, st.st_size > 0 ? (size_t)st.st_size : 0, err);
    while (ok) {
        if (b->len == b->cap - 1) /* the file grew: room for more */
            ok = buf_reserve(b, b->cap, err);
        ssize_t n = ok ? read(fd, b->data + b->len, b->cap - 1 - b->len) : 0;
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            ok = sub_error_set(err, SUB_E_IO, errno, "read %s: %s", path, strerror(errno));
        if (n <= 0)
            break;
        b->len += (size_t)n;
    }
    close(fd);
    if (b->data)
        b->data[b->len] = '\0';
    return ok;
}

bool sub_buf_appendc(sub_buf_t *b, char c, sub_error_t *err)
{
    return sub_buf_append(b, &c, 1, err);
}

bool sub_buf_appendf(sub_buf_t *b, sub_error_t *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return sub_error_set(err, SUB_E_INTERNAL, 0, "format error");
    if (!buf_reserve(b, (size_t)n, err))
        return false;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return true;
}

char *sub_buf_take(sub_buf_t *b)
{
    char *s = b->data ? b->data : sub_xstrdup("");
    b->data = NULL;
    b->len = b->cap = 0;
    return s;
}

void sub_buf_release(sub_buf_t *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

void sub_kvlist_set(sub_kvlist_t *l, const char *key, const char *value, unsigned line)
{
    for (size_t i = 0; i < l->len; i++) {
        if (strcmp(l->items[i].key, key) == 0) {
            free(l->items[i].value);
            l->items[i].value = sub_xstrdup(value);
            l->items[i].line = line;
            return;
        }
    }
    if (l->len == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->items = sub_xrealloc(l->items, l->cap * sizeof *l->items);
    }
    l->items[l->len].key = sub_xstrdup(key);
    l->items[l->len].value = sub_xstrdup(value);
    l->items[l->len].line = line;
    l->len++;
}

const sub_kv_t *sub_kvlist_find(const sub_kvlist_t *l, const char *key)
{
    for (size_t i = 0; i < l->len; i++)
        if (strcmp(l->items[i].key, key) == 0)
            return &l->items[i];
    return NULL;
}

const char *sub_kvlist_get(const sub_kvlist_t *l, const char *key)
{
    const sub_kv_t *kv = sub_kvlist_find(l, key);
    return kv ? kv->value : NULL;
}

void sub_kvlist_release(sub_kvlist_t *l)
{
    for (size_t i = 0; i < l->len; i++) {
        free(l->items[i].key);
        free(l->items[i].value);
    }
    free(l->items);
    l->items = NULL;
    l->len = l->cap = 0;
}

char *sub_path_join(const char *a, const char *b)
{
    size_t la = strlen(a);
    while (la > 1 && a[la - 1] == '/')
        la--;
    while (*b == '/')
        b++;
    if (la == 1 && a[0] == '/')
        la = 0; /* "/" + "x" is "/x", not "//x" */
    return sub_xasprintf("%.*s/%s", (int)la, a, b);
}

char *sub_path_expand_home(const char *path)
{
    if (path[0] != '~' || (path[1] != '\0' && path[1] != '/'))
        return sub_xstrdup(path);
    /* As Python's expanduser: HOME without its trailing slashes, "/" when nothing is left,
     * so "~/x" never becomes "//x". */
    const char *home = getenv("HOME");
    size_t n = home ? strlen(home) : 0;
    while (n > 0 && home[n - 1] == '/')
        n--;
    if (n == 0)
        return sub_xasprintf("/%s", path[1] == '/' ? path + 2 : path + 1);
    return sub_xasprintf("%.*s%s", (int)n, home, path + 1);
}

bool sub_mkdir_p(const char *dir, sub_error_t *err)
{
    char *p = sub_xstrdup(dir);
    bool ok = true;
    for (char *s = p + 1;; s++) {
        char c = *s;
        if (c != '/' && c != '\0')
            continue;
        *s = '\0';
        if (mkdir(p, 0700) != 0 && errno != EEXIST) {
            ok = sub_error_set(err, SUB_E_IO, errno, "mkdir %s: %s", p, strerror(errno));
            break;
        }
        *s = c;
        if (c == '\0')
            break;
    }
    struct stat st;
    if (ok && (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)))
        ok = sub_error_set(err, SUB_E_IO, ENOTDIR, "%s: not a directory", dir);
    free(p);
    return ok;
}

bool sub_parse_int64(const char *s, int64_t min, int64_t max, int64_t *out)
{
    if (!s || !*s)
        return false;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return false;
    *out = (int64_t)v;
    return true;
}

bool sub_parse_bool(const char *s, bool *out)
{
    static const char *yes[] = {"true", "yes", "on", "1"};
    static const char *no[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = true;
            return true;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = false;
            return true;
        }
    }
    return false;
}

bool sub_str_starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}
