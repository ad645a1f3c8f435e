/* http_fetch_main.c - test_http_fetch_cli: runs the sub_http_fetch engine on jobs read as
 * JSON lines, for tests/integration/test_http_fetch.py (not installed).
 *
 *   test_http_fetch_cli [options] < jobs.jsonl
 *     --concurrency N  --per-host N  --connect-timeout-ms N  --low-speed-bytes N
 *     --low-speed-secs N  --timeout-ms N  --max-redirects N  --max-bytes N
 *     --cancel-after-ms N   sub_http_fetch_cancel_all() once N ms have passed
 *
 * A job line: {"id": 1, "target": "/abs/a.jpg", "urls": ["http://...", {"url": "http://...",
 * "md5": "<base64>"}]}. Each finished job prints one JSON line on stdout:
 *   {"id", "outcome", "reason", "status", "retry_after", "bytes", "url", "url_index",
 *    "target", "message", "metadata" (FiftyOne's ImageMetadata, on success only)}
 * Exits 0, or 2 for a usage error or a job line that cannot be read.
 * SUBSETTER_LOG_LEVEL sets the log level.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <bson/bson.h>
#include <curl/curl.h>

#include "subsetter/http_fetch.h"
#include "subsetter/log.h"
#include "subsetter/strutil.h"

typedef struct {
    sub_http_fetch_opts_t o;
    int64_t cancel_after_ms; /* -1: never */
} args_t;

static bool parse_args(int argc, char **argv, args_t *a)
{
    int64_t total = 0, per_host = 0, redirects = 0;
    const struct {
        const char *name;
        int64_t *dst;
    } opts[] = {
        {"--concurrency", &total},
        {"--per-host", &per_host},
        {"--connect-timeout-ms", &a->o.connect_timeout_ms},
        {"--low-speed-bytes", &a->o.low_speed_bytes},
        {"--low-speed-secs", &a->o.low_speed_secs},
        {"--timeout-ms", &a->o.timeout_ms},
        {"--max-redirects", &redirects},
        {"--max-bytes", &a->o.max_bytes},
        {"--cancel-after-ms", &a->cancel_after_ms},
    };
    memset(a, 0, sizeof *a);
    a->cancel_after_ms = -1;
    for (int i = 1; i < argc; i++) {
        size_t k = 0;
        while (k < sizeof opts / sizeof opts[0] && strcmp(argv[i], opts[k].name) != 0)
            k++;
        if (k == sizeof opts / sizeof opts[0] || i + 1 >= argc ||
            !sub_parse_int64(argv[++i], -1, INT32_MAX, opts[k].dst)) {
            fprintf(stderr, "usage: test_http_fetch_cli [--OPTION N]... < jobs.jsonl\n");
            return false;
        }
    }
    a->o.max_total = (int)total;
    a->o.max_per_host = (int)per_host;
    a->o.max_redirects = (int)redirects;
    return true;
}

static void on_done(void *ctx, const sub_http_result_t *r)
{
    (void)ctx;
    bson_t b = BSON_INITIALIZER, meta;
    BSON_APPEND_INT64(&b, "id", (int64_t)r->id);
    BSON_APPEND_UTF8(&b, "outcome", sub_http_outcome_name(r->outcome));
    BSON_APPEND_UTF8(&b, "reason", r->reason);
    BSON_APPEND_INT64(&b, "status", r->status);
    BSON_APPEND_INT64(&b, "retry_after", r->retry_after);
    BSON_APPEND_INT64(&b, "bytes", r->bytes);
    if (r->url)
        BSON_APPEND_UTF8(&b, "url", r->url);
    else
        BSON_APPEND_NULL(&b, "url");
    BSON_APPEND_INT64(&b, "url_index", (int64_t)r->url_index);
    BSON_APPEND_UTF8(&b, "target", r->target);
    BSON_APPEND_UTF8(&b, "message", r->message);
    if (r->outcome == SUB_HTTP_OK) {
        BSON_APPEND_DOCUMENT_BEGIN(&b, "metadata", &meta);
        sub_image_metadata_bson(&r->info, r->bytes, r->target, &meta);
        bson_append_document_end(&b, &meta);
    }
    char *json = bson_as_relaxed_extended_json(&b, NULL);
    printf("%s\n", json);
    fflush(stdout);
    bson_free(json);
    bson_destroy(&b);
}

/* Fills urls[] (at most max) from the "urls" array of a job document; strings borrowed. */
static size_t read_urls(const bson_t *doc, sub_http_url_t *urls, size_t max)
{
    bson_iter_t it, arr, sub;
    size_t n = 0;
    if (!bson_iter_init_find(&it, doc, "urls") || !BSON_ITER_HOLDS_ARRAY(&it) ||
        !bson_iter_recurse(&it, &arr))
        return 0;
    while (n < max && bson_iter_next(&arr)) {
        sub_http_url_t u = {NULL, NULL};
        if (BSON_ITER_HOLDS_UTF8(&arr)) {
            u.url = bson_iter_utf8(&arr, NULL);
        } else if (BSON_ITER_HOLDS_DOCUMENT(&arr) && bson_iter_recurse(&arr, &sub)) {
            while (bson_iter_next(&sub)) {
                if (strcmp(bson_iter_key(&sub), "url") == 0 && BSON_ITER_HOLDS_UTF8(&sub))
                    u.url = bson_iter_utf8(&sub, NULL);
                if (strcmp(bson_iter_key(&sub), "md5") == 0 && BSON_ITER_HOLDS_UTF8(&sub))
                    u.md5 = bson_iter_utf8(&sub, NULL);
            }
        }
        urls[n++] = u;
    }
    return n;
}

static bool add_line(sub_http_fetch_t *f, const char *line, size_t len, sub_error_t *err)
{
    bson_t doc;
    bson_error_t berr;
    bson_iter_t it;
    sub_http_url_t urls[8];
    sub_http_job_t job = {0};
    if (!bson_init_from_json(&doc, line, (ssize_t)len, &berr))
        return sub_error_set(err, SUB_E_USAGE, 0, "bad job line: %s", berr.message);
    if (bson_iter_init_find(&it, &doc, "id") && BSON_ITER_HOLDS_NUMBER(&it))
        job.id = (uint64_t)bson_iter_as_int64(&it);
    if (bson_iter_init_find(&it, &doc, "target") && BSON_ITER_HOLDS_UTF8(&it))
        job.target = bson_iter_utf8(&it, NULL);
    job.urls = urls;
    job.n_urls = read_urls(&doc, urls, 8);
    bool ok = sub_http_fetch_add(f, &job, err);
    bson_destroy(&doc);
    return ok;
}

static bool read_jobs(sub_http_fetch_t *f, sub_error_t *err)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    bool ok = true;
    while (ok && (n = getline(&line, &cap, stdin)) >= 0) {
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        if (n > 0)
            ok = add_line(f, line, (size_t)n, err);
    }
    free(line);
    return ok;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool drive(sub_http_fetch_t *f, int64_t cancel_after_ms, sub_error_t *err)
{
    int64_t start = now_ms();
    while (sub_http_fetch_pending(f) > 0) {
        if (!sub_http_fetch_run(f, 50, err))
            return false;
        if (cancel_after_ms >= 0 && now_ms() - start >= cancel_after_ms)
            sub_http_fetch_cancel_all(f);
    }
    return true;
}

int main(int argc, char **argv)
{
    args_t a;
    sub_error_t err = {0};
    sub_log_level_t lvl;
    const char *env = getenv("SUBSETTER_LOG_LEVEL");
    if (env && sub_log_level_parse(env, &lvl))
        sub_log_threshold = lvl;
    if (!parse_args(argc, argv, &a))
        return 2;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    sub_http_fetch_t *f = sub_http_fetch_new(&a.o, on_done, NULL, &err);
    int rc = 0;
    if (!f || !read_jobs(f, &err) || !drive(f, a.cancel_after_ms, &err)) {
        fprintf(stderr, "test_http_fetch_cli: %s\n", err.msg);
        rc = err.code == SUB_E_USAGE || err.code == SUB_E_CONFIG ? 2 : 1;
    }
    sub_http_fetch_free(f);
    curl_global_cleanup();
    return rc;
}
