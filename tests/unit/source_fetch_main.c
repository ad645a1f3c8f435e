/* source_fetch_main.c - test_source_fetch_cli: one sub_source_fetch() from the command line,
 * for tests/integration/test_source_fetch.py (not installed).
 *
 *   test_source_fetch_cli [options] BASE REL CACHE_DIR
 *     --max-attempts N  --retry-base-ms N  --retry-max-ms N  --connect-timeout-ms N
 *     --low-speed-bytes N  --low-speed-secs N  --max-size N  --no-revalidate
 *     --progress                  print "progress DONE TOTAL" lines on stderr
 *     --record URI DB DATASET KIND SPLIT STATE
 *                                 then upsert the result into DB.subsetter.sources
 *                                 (sub_source_record, or sub_source_record_error on failure)
 *
 * Prints one JSON object on stdout: the sub_source_t fields with "ok": true, or "ok": false
 * with "code" and "message" (and the fields known so far); exits with the error's exit code
 * (0 on success, 2 for a usage error). SUBSETTER_LOG_LEVEL sets the log level.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "subsetter/config.h"
#include "subsetter/db.h"
#include "subsetter/log.h"
#include "subsetter/source.h"
#include "subsetter/strutil.h"

typedef struct {
    const char *uri, *db, *dataset, *kind, *split, *state;
} record_args_t;

static void json_str(const char *key, const char *v, const char *sep)
{
    printf("\"%s\": ", key);
    if (!v) {
        printf("null%s", sep);
        return;
    }
    putchar('"');
    for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
        if (*p == '"' || *p == '\\')
            printf("\\%c", *p);
        else if (*p < 0x20)
            printf("\\u%04x", *p);
        else
            putchar(*p);
    }
    printf("\"%s", sep);
}

static void print_result(const sub_source_t *s, const sub_error_t *err, bool ok, double secs,
                         const char *recorded)
{
    printf("{\"ok\": %s, ", ok ? "true" : "false");
    if (!ok) {
        json_str("code", sub_code_name(err->code), ", ");
        json_str("message", err->msg, ", ");
    }
    json_str("url", s->url, ", ");
    json_str("path", s->path, ", ");
    printf("\"size\": %" PRId64 ", ", s->size);
    json_str("sha256", s->sha256, ", ");
    json_str("etag", s->etag, ", ");
    json_str("last_modified", s->last_modified, ", ");
    printf("\"remote\": %s, \"downloaded\": %s, ", s->remote ? "true" : "false",
           s->downloaded ? "true" : "false");
    printf("\"transferred\": %" PRId64 ", \"resumed_from\": %" PRId64 ", \"requests\": %d, ",
           s->transferred, s->resumed_from, s->requests);
    json_str("recorded", recorded, ", ");
    printf("\"seconds\": %.3f}\n", secs);
}

static void on_progress(void *ctx, int64_t done, int64_t total)
{
    (void)ctx;
    fprintf(stderr, "progress %" PRId64 " %" PRId64 "\n", done, total);
}

static bool record(const record_args_t *r, const sub_source_t *s, bool fetched,
                   const sub_error_t *fetch_err, sub_error_t *err)
{
    sub_config_inputs_t in = {.flags = SUB_KVLIST_INIT};
    sub_config_t cfg = {0};
    sub_db_t db = {0};
    sub_kvlist_set(&in.flags, "FIFTYONE_DATABASE_URI", r->uri, 0);
    sub_kvlist_set(&in.flags, "FIFTYONE_DATABASE_NAME", r->db, 0);
    bool ok = sub_config_load(&in, &cfg, err) && sub_db_open(&cfg, &db, err);
    if (ok && fetched)
        ok = sub_source_record(&db, s, r->dataset, r->kind, r->split, r->state, err);
    else if (ok)
        ok = sub_source_record_error(&db, s->url, r->dataset, fetch_err->msg, err);
    sub_db_close(&db);
    sub_config_release(&cfg);
    sub_kvlist_release(&in.flags);
    return ok;
}

static bool opt_int(const char *name, const char *v, int64_t *out)
{
    if (v && sub_parse_int64(v, 0, INT64_MAX, out))
        return true;
    fprintf(stderr, "test_source_fetch_cli: %s wants a number\n", name);
    return false;
}

/* Parses the options into o and r; returns the index of BASE, or -1. */
static int parse_args(int argc, char **argv, sub_source_opts_t *o, record_args_t *r)
{
    int64_t attempts = 0;
    const struct {
        const char *name;
        int64_t *field;
    } ints[] = {
        {"--max-attempts", &attempts},
        {"--retry-base-ms", &o->retry_base_ms},
        {"--retry-max-ms", &o->retry_max_ms},
        {"--connect-timeout-ms", &o->connect_timeout_ms},
        {"--low-speed-bytes", &o->low_speed_bytes},
        {"--low-speed-secs", &o->low_speed_secs},
        {"--max-size", &o->max_size},
    };
    size_t n_ints = sizeof ints / sizeof *ints;
    int i = 1;
    for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
        size_t k = 0;
        while (k < n_ints && strcmp(argv[i], ints[k].name) != 0)
            k++;
        if (k < n_ints) {
            if (!opt_int(argv[i], i + 1 < argc ? argv[i + 1] : NULL, ints[k].field))
                return -1;
            i++;
        } else if (strcmp(argv[i], "--no-revalidate") == 0) {
            o->no_revalidate = true;
        } else if (strcmp(argv[i], "--progress") == 0) {
            o->progress = on_progress;
        } else if (strcmp(argv[i], "--record") == 0 && i + 6 < argc) {
            *r = (record_args_t){argv[i + 1], argv[i + 2], argv[i + 3],
                                 argv[i + 4], argv[i + 5], argv[i + 6]};
            i += 6;
        } else {
            fprintf(stderr, "test_source_fetch_cli: unknown option %s\n", argv[i]);
            return -1;
        }
    }
    o->max_attempts = attempts > 1000 ? 1000 : (int)attempts;
    return argc - i == 3 ? i : -1;
}

int main(int argc, char **argv)
{
    sub_source_opts_t o = {0};
    record_args_t r = {0};
    int first = parse_args(argc, argv, &o, &r);
    if (first < 0) {
        fprintf(stderr, "usage: test_source_fetch_cli [options] BASE REL CACHE_DIR\n");
        return 2;
    }
    const char *level = getenv("SUBSETTER_LOG_LEVEL");
    if (level)
        sub_log_level_parse(level, &sub_log_threshold);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    sub_db_global_init();

    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    sub_source_t s;
    sub_error_t err = {0}, rerr = {0};
    bool ok = sub_source_fetch(argv[first], argv[first + 1], argv[first + 2], &o, &s, &err);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    const char *recorded = NULL;
    if (r.uri && s.url)
        recorded = record(&r, &s, ok, &err, &rerr) ? "yes" : rerr.msg;
    print_result(&s, &err, ok, secs, recorded);
    sub_source_release(&s);

    sub_db_global_cleanup();
    curl_global_cleanup();
    if (!ok)
        return sub_code_exit(err.code);
    return r.uri && strcmp(recorded ? recorded : "", "yes") != 0 ? sub_code_exit(rerr.code) : 0;
}
