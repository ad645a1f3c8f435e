#define SUB_LOG_DOMAIN "fetch"
#include "subsetter/fetch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "subsetter/backfill.h"
#include "subsetter/fetch_tasks.h"
#include "subsetter/fo_dataset.h"
#include "subsetter/http_fetch.h"
#include "subsetter/image.h"
#include "subsetter/log.h"
#include "subsetter/progress.h"
#include "subsetter/strutil.h"

/* How long the loop waits for transfers between bookkeeping rounds. */
#define RUN_SLICE_MS 200
/* Nothing to claim but tasks of other workers or waiting out a backoff: look again. */
#define IDLE_SLEEP_MS 500

typedef struct {
    sub_fetch_task_t task; /* owned copy */
    sub_http_url_t *urls;
} job_t;

/* Failures by reason code, for the progress line and the summary. */
#define MAX_REASONS 24

typedef struct {
    char code[24];
    int64_t n;
} reason_count_t;

typedef struct {
    sub_db_t *db;
    const sub_fetch_opts_t *o;
    reason_count_t reasons[MAX_REASONS];
    size_t nreasons;
    double started, last_progress;
    bool tty;
    char *owner;
    sub_fo_dataset_t ds;
    sub_backfill_t bf;
    const char *base;
    sub_http_fetch_t *eng;
    sub_fetch_result_t *res;
    sub_error_t err;
    bool fatal;
} fetch_t;

static void count_reason(fetch_t *f, const char *code)
{
    for (size_t i = 0; i < f->nreasons; i++)
        if (strcmp(f->reasons[i].code, code) == 0) {
            f->reasons[i].n++;
            return;
        }
    if (f->nreasons < MAX_REASONS) {
        snprintf(f->reasons[f->nreasons].code, sizeof f->reasons[0].code, "%s", code);
        f->reasons[f->nreasons++].n = 1;
    }
}

/* "files 1234/34500, 345.2 MB, 56.1 files/s, ETA 9m12s, failures: http_404 12 timeout 3":
 * redrawn on a terminal, a log line per interval otherwise. */
static void progress(fetch_t *f, bool final)
{
    double now = sub_now(), dt = now - f->started;
    double interval = f->tty ? 0.2 : (double)f->o->progress_interval_ms / 1000.0;
    if (f->o->quiet || (!final && now - f->last_progress < interval))
        return;
    f->last_progress = now;
    const sub_fetch_result_t *r = f->res;
    double rate = dt > 0 ? (double)r->done / dt : 0;
    int64_t left = r->tasks - r->done - r->failed;
    char fails[256] = "";
    size_t used = 0;
    for (size_t i = 0; i < f->nreasons && used < sizeof fails - 40; i++)
        used += (size_t)snprintf(fails + used, sizeof fails - used, " %s %lld", f->reasons[i].code,
                                 (long long)f->reasons[i].n);
    char line[512];
    snprintf(line, sizeof line, "fetch %s: files %lld/%lld, %.1f MB, %.1f files/s, ETA %.0fs%s%s",
             f->o->dataset, (long long)r->done, (long long)r->tasks, (double)r->bytes / 1e6, rate,
             rate > 0 && left > 0 ? (double)left / rate : 0.0, *fails ? ", failures:" : "", fails);
    if (f->tty)
        fprintf(stderr, "\r%s\033[K%s", line, final ? "\n" : "");
    else
        SUB_LOG(SUB_LOG_INFO, "%s", line);
}

static bool stopping(const fetch_t *f)
{
    return f->o->stop && *f->o->stop;
}

/* Exponential backoff with full jitter, or the server's Retry-After when longer. */
static int64_t retry_delay(const fetch_t *f, int attempts, int64_t retry_after)
{
    int64_t base = f->o->retry_base_ms << (attempts < 10 ? attempts : 10);
    int64_t delay = base / 2 + (int64_t)(rand() % (int)(base / 2 + 1));
    return retry_after > 0 && retry_after * 1000 > delay ? retry_after * 1000 : delay;
}

static bool set_metadata(fetch_t *f, const bson_oid_t *sample, const char *path,
                         const sub_image_info_t *info, int64_t bytes)
{
    mongoc_collection_t *coll = mongoc_database_get_collection(f->db->db, f->ds.sample_collection);
    bson_t meta = BSON_INITIALIZER, update = BSON_INITIALIZER, set;
    bson_t *filter = BCON_NEW("_id", BCON_OID(sample));
    bson_error_t be;
    sub_image_metadata_bson(info, bytes, path, &meta);
    BSON_APPEND_DOCUMENT_BEGIN(&update, "$set", &set);
    BSON_APPEND_DOCUMENT(&set, "metadata", &meta);
    bson_append_document_end(&update, &set);
    bson_t *now = BCON_NEW("last_modified_at", BCON_BOOL(true));
    BSON_APPEND_DOCUMENT(&update, "$currentDate", now);
    bool ok = mongoc_collection_update_one(coll, filter, &update, NULL, NULL, &be) ||
              sub_db_error(&be, "set the sample's metadata", &f->err);
    bson_destroy(now);
    bson_destroy(filter);
    bson_destroy(&update);
    bson_destroy(&meta);
    mongoc_collection_destroy(coll);
    return ok;
}

static bool record_ok(fetch_t *f, job_t *j, const sub_http_result_t *r)
{
    bool held = false;
    bool present = strcmp(r->reason, "present") == 0;
    if (!set_metadata(f, &j->task.sample_id, r->target, &r->info, r->bytes) ||
        !sub_fetch_task_done(f->db, &j->task.id, f->owner, r->bytes, &held, &f->err))
        return false;
    if (!held)
        SUB_LOG(SUB_LOG_WARN, "%s: the lease expired before the result came in", r->target);
    f->res->done++;
    f->res->present += present;
    f->res->bytes += r->bytes;
    return true;
}

static bool record_permanent(fetch_t *f, job_t *j, const char *code, const char *msg, long status)
{
    bool found = false;
    bson_oid_t repl;
    if (!sub_fetch_task_fail(f->db, &j->task.id, f->owner, true, code, msg, (int)status, 0,
                             &f->err))
        return false;
    f->res->failed++;
    count_reason(f, code);
    SUB_LOG(SUB_LOG_DEBUG, "%s: failed for good: %s", j->task.filepath, msg);
    if (!f->o->backfill || !f->bf.enabled)
        return true;
    if (!sub_backfill_replace(f->db, &f->bf, f->o->dataset, &j->task.sample_id, j->task.label,
                              &found, &repl, &f->err))
        return false;
    f->res->replaced += found;
    f->res->short_by += !found;
    return !found || sub_fetch_task_add(f->db, f->o->dataset, f->ds.sample_collection, &repl,
                                        f->base, f->o->with_original, &f->err);
}

static bool record_transient(fetch_t *f, job_t *j, const sub_http_result_t *r)
{
    if (j->task.attempts + 1 >= f->o->max_attempts) {
        char *msg =
            sub_xasprintf("%s (gave up after %d attempts)", r->message, j->task.attempts + 1);
        bool ok = record_permanent(f, j, r->reason, msg, r->status);
        free(msg);
        return ok;
    }
    f->res->retried++;
    count_reason(f, r->reason);
    return sub_fetch_task_fail(f->db, &j->task.id, f->owner, false, r->reason, r->message,
                               (int)r->status, retry_delay(f, j->task.attempts, r->retry_after),
                               &f->err);
}

static void job_destroy(job_t *j)
{
    free(j->urls);
    free(j->task.filepath);
    free(j->task.label);
    free(j->task.original_url);
    free(j->task.original_md5);
    for (size_t i = 0; i < j->task.nurls; i++)
        free(j->task.urls[i]);
    free(j->task.urls);
    free(j);
}

static void on_done(void *ctx, const sub_http_result_t *r)
{
    fetch_t *f = ctx;
    job_t *j = r->ptr;
    bool ok = true;
    if (strcmp(r->reason, "cancelled") == 0)
        ; /* released with the other leases */
    else if (r->outcome == SUB_HTTP_OK)
        ok = record_ok(f, j, r);
    else if (r->outcome == SUB_HTTP_TRANSIENT)
        ok = record_transient(f, j, r);
    else
        ok = record_permanent(f, j, r->reason, r->message, r->status);
    if (!ok)
        f->fatal = true;
    job_destroy(j);
}

/* Hands one claimed task to the engine; the job takes over the task's strings. */
static bool add_job(fetch_t *f, sub_fetch_task_t *t)
{
    job_t *j = calloc(1, sizeof *j);
    if (!j)
        abort();
    j->task = *t;
    memset(t, 0, sizeof *t);
    j->urls = calloc(j->task.nurls ? j->task.nurls : 1, sizeof *j->urls);
    for (size_t i = 0; i < j->task.nurls; i++) {
        j->urls[i].url = j->task.urls[i];
        if (j->task.original_url && strcmp(j->task.urls[i], j->task.original_url) == 0)
            j->urls[i].md5 = j->task.original_md5;
    }
    sub_http_job_t job = {
        .ptr = j, .urls = j->urls, .n_urls = j->task.nurls, .target = j->task.filepath};
    if (sub_http_fetch_add(f->eng, &job, &f->err))
        return true;
    job_destroy(j);
    return false;
}

/* Claims enough tasks to keep the engine busy; *claimed tells how many came. */
static bool refill(fetch_t *f, size_t *claimed)
{
    size_t want = (size_t)f->o->concurrency * 2, have = sub_http_fetch_pending(f->eng);
    sub_fetch_task_t *tasks = NULL;
    size_t n = 0;
    *claimed = 0;
    if (have >= want || stopping(f))
        return true;
    bool ok = sub_fetch_claim(f->db, f->o->dataset, f->owner, want - have, f->o->lease_ms, &tasks,
                              &n, &f->err);
    for (size_t i = 0; ok && i < n; i++)
        ok = add_job(f, &tasks[i]);
    sub_fetch_tasks_free(tasks, n);
    *claimed = n;
    return ok;
}

/* True when nothing is left to do for anyone: no pending or leased task. */
static bool finished(fetch_t *f, bool *done)
{
    sub_fetch_counts_t c;
    if (!sub_fetch_counts(f->db, f->o->dataset, &c, &f->err))
        return false;
    *done = c.pending == 0 && c.leased == 0;
    return true;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static bool loop(fetch_t *f)
{
    double last_renew = sub_now();
    bool ok = true, done = false;
    while (ok && !f->fatal && !stopping(f) && !done) {
        size_t claimed = 0;
        ok = refill(f, &claimed) && sub_http_fetch_run(f->eng, RUN_SLICE_MS, &f->err);
        if (ok && sub_now() - last_renew > (double)f->o->lease_ms / 3000.0) {
            ok = sub_fetch_renew(f->db, f->owner, f->o->lease_ms, &f->err);
            last_renew = sub_now();
        }
        progress(f, false);
        if (ok && claimed == 0 && sub_http_fetch_pending(f->eng) == 0) {
            ok = finished(f, &done);
            if (ok && !done)
                sleep_ms(IDLE_SLEEP_MS);
        }
    }
    return ok && !f->fatal;
}

static bool finish(fetch_t *f, bool ok)
{
    sub_fetch_counts_t c;
    f->res->interrupted = stopping(f);
    if (f->eng)
        sub_http_fetch_cancel_all(f->eng);
    sub_error_t e;
    if (!sub_fetch_release(f->db, f->owner, &e))
        SUB_LOG(SUB_LOG_WARN, "could not release the leases: %s", e.msg);
    if (sub_fetch_counts(f->db, f->o->dataset, &c, &e))
        f->res->remaining = c.pending + c.leased + c.failed - c.replaced;
    return ok;
}

static bool start(fetch_t *f, sub_error_t *err)
{
    sub_http_fetch_opts_t eo = {.max_total = f->o->concurrency, .max_per_host = f->o->per_host};
    f->owner = sub_fetch_owner_id();
    f->base = f->o->base_url ? f->o->base_url : SUB_FETCH_DEFAULT_BASE;
    if (!sub_fo_dataset_open(f->db, f->o->dataset, &f->ds, NULL, err) ||
        !sub_backfill_open(f->db, f->o->dataset, &f->bf, err) ||
        !sub_fetch_tasks_sync(f->db, f->o->dataset, f->ds.sample_collection, f->base,
                              f->o->with_original, &f->res->tasks, err))
        return false;
    f->eng = sub_http_fetch_new(&eo, on_done, f, err);
    return f->eng != NULL;
}

bool sub_fetch_run(sub_db_t *db, const sub_fetch_opts_t *o, sub_fetch_result_t *res,
                   sub_error_t *err)
{
    fetch_t f = {.db = db, .o = o, .res = res};
    double t0 = sub_now();
    memset(res, 0, sizeof *res);
    srand((unsigned)time(NULL) ^ (unsigned)(uintptr_t)&f);
    bool ok = start(&f, err);
    f.started = f.last_progress = sub_now();
    f.tty = isatty(STDERR_FILENO);
    if (ok) {
        ok = finish(&f, loop(&f));
        progress(&f, true);
        if (!ok && err)
            *err = f.err;
    }
    sub_http_fetch_free(f.eng);
    sub_backfill_release(&f.bf);
    sub_fo_dataset_release(&f.ds);
    free(f.owner);
    res->seconds = sub_now() - t0;
    for (size_t i = 0; i < f.nreasons && i < sizeof res->reasons / sizeof res->reasons[0]; i++) {
        memcpy(res->reasons[i].code, f.reasons[i].code, sizeof res->reasons[i].code);
        res->reasons[i].n = f.reasons[i].n;
        res->nreasons = i + 1;
    }
    return ok;
}
