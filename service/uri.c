#define SUB_LOG_DOMAIN "uri"
#include "subsetter/uri.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "subsetter/log.h"
#include "subsetter/strutil.h"

/* Finds the password span of "scheme://user:password@hosts/...": [*start, *end). The
 * userinfo ends at the LAST '@' before the path, because an unescaped '@' in a password is
 * a common mistake and must still be hidden. Returns false when there is no password. */
static bool password_span(const char *uri, const char **start, const char **end)
{
    const char *p = strstr(uri, "://");
    if (!p)
        return false;
    p += 3;
    const char *stop = p + strcspn(p, "/?");
    const char *at = NULL;
    for (const char *q = p; q < stop; q++)
        if (*q == '@')
            at = q;
    if (!at) {
        /* A '/' or '?' inside the password hides the '@' from the search above. */
        at = strrchr(p, '@');
        if (!at)
            return false;
    }
    const char *colon = memchr(p, ':', (size_t)(at - p));
    if (!colon)
        return false;
    *start = colon + 1;
    *end = at;
    return true;
}

char *sub_uri_redact(const char *uri)
{
    const char *s, *e;
    if (!uri)
        return sub_xstrdup("(none)");
    if (!password_span(uri, &s, &e))
        return sub_xstrdup(uri);
    return sub_xasprintf("%.*s***%s", (int)(s - uri), uri, e);
}

bool sub_uri_check_userinfo(const char *uri, const char *origin, sub_error_t *err)
{
    const char *p = strstr(uri, "://");
    if (!p)
        return true; /* libmongoc says what is wrong with the scheme */
    p += 3;
    const char *query = strchr(p, '?');
    const char *last_at = NULL;
    for (const char *q = p; *q && (!query || q < query); q++)
        if (*q == '@')
            last_at = q;
    if (!last_at)
        return true;
    const char *first_at = memchr(p, '@', (size_t)(last_at - p) + 1);
    if (first_at != last_at)
        return sub_error_set(err, SUB_E_CONFIG, 0,
                             "FIFTYONE_DATABASE_URI (%s): the user name or password contains an "
                             "unescaped '@'; write it as %%40 (and ':' as %%3A, '/' as %%2F)",
                             origin);
    return true;
}

static int hexval(int c)
{
    if (isdigit(c))
        return c - '0';
    c = tolower(c);
    return (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
}

void sub_uri_register_secrets(const char *uri)
{
    const char *s, *e;
    if (!uri || !password_span(uri, &s, &e) || s == e)
        return;
    char *raw = sub_xstrndup(s, (size_t)(e - s));
    char *dec = sub_xstrdup(raw);
    char *w = dec;
    for (const char *r = raw; *r; r++) {
        int hi, lo;
        if (r[0] == '%' && (hi = hexval((unsigned char)r[1])) >= 0 &&
            (lo = hexval((unsigned char)r[2])) >= 0) {
            *w++ = (char)(hi * 16 + lo);
            r += 2;
        } else {
            *w++ = *r;
        }
    }
    *w = '\0';
    sub_log_add_secret(raw);
    sub_log_add_secret(dec);
    free(raw);
    free(dec);
}
