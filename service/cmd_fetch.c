#define SUB_LOG_DOMAIN "fetch"
/* cmd_fetch.c - `subsetter fetch`. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "subsetter/cli.h"
#include "subsetter/fetch.h"
#include "subsetter/fetch_tasks.h"

const char sub_fetch_usage[] =
    "usage: subsetter fetch --dataset NAME [--concurrency N] [--per-host N] [--base-url URL]\n"
    "                       [--fallback original] [--no-backfill] [--max-attempts N]\n"
    "                       [--lease-seconds S] [--json]\n\n"
    "Downloads the media of the dataset's samples, and only those, to their filepath:\n"
    "<base-url><split>/<ImageID>.jpg (default https://open-images-dataset.s3.amazonaws.com/),\n"
    "then the Flickr original with --fallback original. Each file is written under a\n"
    "temporary name, checked (it decodes as the image type its name claims, within size\n"
    "limits) and renamed into place; the sample's metadata becomes FiftyOne's ImageMetadata.\n"
    "Transient failures are retried with exponential backoff (or Retry-After); permanent ones\n"
    "fail the task, and in a subset made by `subsetter sample` the sample is replaced by the\n"
    "next candidate of its class in the same seeded order (--no-backfill: the subset stays\n"
    "short). Work is shared through leases in subsetter.fetch_tasks: run as many workers as\n"
    "you like, on any hosts. SIGTERM or Ctrl-C stops cleanly: no partial file is left and\n"
    "the leases are released.\n\n"
    "  --concurrency N      transfers in flight (default 16)\n"
    "  --per-host N         transfers in flight per host (default 4)\n"
    "  --max-attempts N     transient failures before a task fails for good (default 5)\n"
    "  --lease-seconds S    lease length, renewed every S/3 (default 300)\n\n"
    "Exit 0 when every task of the dataset is done, 16 when media are missing.\n";

const sub_option_t sub_fetch_options[] = {
    {"dataset", true},      {"concurrency", true},   {"per-host", true},
    {"base-url", true},     {"fallback", true},      {"no-backfill", false},
    {"max-attempts", true}, {"lease-seconds", true}, {NULL, false}};

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static int int_opt(sub_cmd_ctx_t *ctx, const char *name, int64_t min, int64_t max, int64_t *v)
{
    const char *s = sub_kvlist_get(&ctx->opts, name);
    if (s && !sub_parse_int64(s, min, max, v))
        return sub_cli_usage(ctx, "--%s: expected %lld to %lld, got '%s'", name, (long long)min,
                             (long long)max, s);
    return -1;
}

static int parse_opts(sub_cmd_ctx_t *ctx, sub_fetch_opts_t *o)
{
    int64_t conc = 16, host = 4, attempts = 5, lease = 300;
    int rc;
    const char *fb = sub_kvlist_get(&ctx->opts, "fallback");
    memset(o, 0, sizeof *o);
    o->base_url = sub_kvlist_get(&ctx->opts, "base-url");
    o->backfill = sub_kvlist_get(&ctx->opts, "no-backfill") == NULL;
    if ((rc = sub_cli_require(ctx, "dataset", &o->dataset)) >= 0)
        return rc;
    if (fb && strcmp(fb, "original") != 0)
        return sub_cli_usage(ctx, "--fallback: the only fallback is 'original'");
    o->with_original = fb != NULL;
    if ((rc = int_opt(ctx, "concurrency", 1, 256, &conc)) >= 0 ||
        (rc = int_opt(ctx, "per-host", 1, 64, &host)) >= 0 ||
        (rc = int_opt(ctx, "max-attempts", 1, 100, &attempts)) >= 0 ||
        (rc = int_opt(ctx, "lease-seconds", 5, 86400, &lease)) >= 0)
        return rc;
    o->concurrency = (int)conc;
    o->per_host = (int)host;
    o->max_attempts = (int)attempts;
    o->lease_ms = lease * 1000;
    o->retry_base_ms = 1000;
    o->quiet = ctx->quiet || ctx->json;
    o->progress_interval_ms = sub_config_int(&ctx->cfg, SUB_SET_PROGRESS_INTERVAL_MS);
    o->stop = &stop_requested;
    return -1;
}

static void counts_doc(const sub_fetch_result_t *r, bson_t *c)
{
    BSON_APPEND_INT64(c, "tasks", r->tasks);
    BSON_APPEND_INT64(c, "done", r->done);
    BSON_APPEND_INT64(c, "present", r->present);
    BSON_APPEND_INT64(c, "retried", r->retried);
    BSON_APPEND_INT64(c, "failed", r->failed);
    BSON_APPEND_INT64(c, "replaced", r->replaced);
    BSON_APPEND_INT64(c, "short_by", r->short_by);
    BSON_APPEND_INT64(c, "bytes", r->bytes);
    BSON_APPEND_INT64(c, "remaining", r->remaining);
    BSON_APPEND_BOOL(c, "interrupted", r->interrupted);
    bson_t reasons;
    BSON_APPEND_DOCUMENT_BEGIN(c, "failures_by_reason", &reasons);
    for (size_t i = 0; i < r->nreasons; i++)
        BSON_APPEND_INT64(&reasons, r->reasons[i].code, r->reasons[i].n);
    bson_append_document_end(c, &reasons);
}

int sub_cmd_fetch(sub_cmd_ctx_t *ctx)
{
    sub_fetch_opts_t o;
    sub_fetch_result_t r = {0};
    sub_error_t err = {0};
    sub_db_t db = {0};
    sub_run_t run;
    int rc = parse_opts(ctx, &o);
    if (rc >= 0)
        return rc;
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    bson_t params = BSON_INITIALIZER, counts = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&params, "base_url", o.base_url ? o.base_url : SUB_FETCH_DEFAULT_BASE);
    BSON_APPEND_BOOL(&params, "fallback_original", o.with_original);
    BSON_APPEND_BOOL(&params, "backfill", o.backfill);
    BSON_APPEND_INT32(&params, "concurrency", o.concurrency);
    bool began = sub_cmd_begin(ctx, &db, "fetch", o.dataset, &params, &run, &err);
    bool ok = began && sub_fetch_run(&db, &o, &r, &err);
    if (ok && (r.remaining > 0 || r.short_by > 0 || r.interrupted))
        ok = sub_error_set(&err, SUB_E_INCOMPLETE, 0, "%s: %lld tasks not done%s%s", o.dataset,
                           (long long)r.remaining,
                           r.short_by ? ", and classes short of candidates" : "",
                           r.interrupted ? " (interrupted)" : "");
    counts_doc(&r, &counts);
    /* One JSON object either way: the counts matter most when media are missing. */
    rc = sub_cmd_end_own_json(ctx, &db, &run, began, ok, &counts, &err);
    if (ctx->json) {
        bson_t doc = BSON_INITIALIZER;
        if (!ok)
            sub_cli_append_error(&doc, &err);
        BSON_APPEND_BOOL(&doc, "complete", ok);
        BSON_APPEND_UTF8(&doc, "dataset", o.dataset);
        BSON_APPEND_DOCUMENT(&doc, "counts", &counts);
        BSON_APPEND_DOUBLE(&doc, "seconds", r.seconds);
        sub_cli_print_json(&doc);
        bson_destroy(&doc);
    } else {
        printf("dataset %s: %lld tasks, %lld fetched (%lld already present), %lld retried, "
               "%lld failed (%lld replaced), %lld not done, %.1f MB, %.1f s\n",
               o.dataset, (long long)r.tasks, (long long)r.done, (long long)r.present,
               (long long)r.retried, (long long)r.failed, (long long)r.replaced,
               (long long)r.remaining, (double)r.bytes / 1e6, r.seconds);
    }
    bson_destroy(&params);
    bson_destroy(&counts);
    return rc;
}
