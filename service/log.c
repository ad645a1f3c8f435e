#define SUB_LOG_DOMAIN "log"
#include "subsetter/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <mongoc/mongoc.h>

sub_log_level_t sub_log_threshold = SUB_LOG_INFO;

/* A handful of secrets at most: the password of the URI, perhaps a proxy password. */
#define MAX_SECRETS 8
static char *secrets[MAX_SECRETS];
static size_t n_secrets;

static const char *level_names[] = {"error", "warn", "info", "debug"};

void sub_log_add_secret(const char *secret)
{
    if (!secret || !*secret || n_secrets == MAX_SECRETS)
        return;
    for (size_t i = 0; i < n_secrets; i++)
        if (strcmp(secrets[i], secret) == 0)
            return;
    secrets[n_secrets] = strdup(secret);
    if (secrets[n_secrets])
        n_secrets++;
}

void sub_log_clear_secrets(void)
{
    for (size_t i = 0; i < n_secrets; i++)
        free(secrets[i]);
    n_secrets = 0;
}

static char *find_ci(char *hay, const char *needle, size_t n)
{
    for (; *hay; hay++)
        if (strncasecmp(hay, needle, n) == 0)
            return hay;
    return NULL;
}

/* Case-insensitive: libmongoc lowercases host names, and a mistyped URI can turn part of
 * a password into one. */
static void scrub_one(char *buf, size_t size, const char *secret)
{
    static const char mask[] = "***";
    size_t slen = strlen(secret);
    char *hit;
    char *from = buf;
    while ((hit = find_ci(from, secret, slen)) != NULL) {
        size_t tail = strlen(hit + slen);
        size_t need = (size_t)(hit - buf) + 3 + tail + 1;
        if (need > size)
            tail -= need - size; /* truncate rather than overflow; the mask always fits */
        memmove(hit + 3, hit + slen, tail);
        hit[3 + tail] = '\0';
        memcpy(hit, mask, 3);
        from = hit + 3;
    }
}

void sub_log_scrub(char *buf, size_t size)
{
    for (size_t i = 0; i < n_secrets; i++)
        scrub_one(buf, size, secrets[i]);
}

bool sub_log_level_parse(const char *s, sub_log_level_t *out)
{
    for (size_t i = 0; i < sizeof level_names / sizeof level_names[0]; i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (sub_log_level_t)i;
            return true;
        }
    }
    return false;
}

void sub_log_write(sub_log_level_t level, const char *domain, const char *fmt, ...)
{
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    sub_log_scrub(line, sizeof line);

    char ts[32];
    struct timespec now;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    fprintf(stderr, "%s.%03ldZ %-5s %s %s\n", ts, now.tv_nsec / 1000000L, level_names[level],
            domain, line);
}

static void mongoc_handler(mongoc_log_level_t level, const char *domain, const char *message,
                           void *data)
{
    (void)data;
    (void)domain;
    sub_log_level_t ours;
    switch (level) {
    case MONGOC_LOG_LEVEL_ERROR:
    case MONGOC_LOG_LEVEL_CRITICAL:
        ours = SUB_LOG_ERROR;
        break;
    case MONGOC_LOG_LEVEL_WARNING:
        ours = SUB_LOG_WARN;
        break;
    case MONGOC_LOG_LEVEL_MESSAGE:
    case MONGOC_LOG_LEVEL_INFO:
        ours = SUB_LOG_INFO;
        break;
    default:
        return; /* debug and trace: far too chatty for our debug level */
    }
    if (ours <= sub_log_threshold)
        sub_log_write(ours, "mongoc", "%s", message);
}

void sub_log_install_mongoc_handler(void)
{
    mongoc_log_set_handler(mongoc_handler, NULL);
}
