/* fetch.h - `subsetter fetch`: the media of one dataset's samples, and only those.
 *
 * A worker syncs the dataset's tasks (fetch_tasks.h), then loops: it claims tasks under a
 * lease, hands them to the libcurl multi engine (http_fetch.h), renews its leases while
 * transfers run, and records each outcome: the file verified and renamed into place, the
 * sample's metadata set to FiftyOne's ImageMetadata, the task done; a transient failure
 * back to pending with a backoff (exponential with jitter, or the server's Retry-After);
 * a permanent one failed, and with backfill the sample replaced (backfill.h). SIGTERM or
 * SIGINT stops claiming, cancels what is in flight (no partial file is left) and releases
 * the leases. Any number of workers can run on the same dataset.
 */
#ifndef SUBSETTER_FETCH_H
#define SUBSETTER_FETCH_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "subsetter/db.h"
#include "subsetter/error.h"

typedef struct {
    const char *dataset;
    const char *base_url; /* NULL: SUB_FETCH_DEFAULT_BASE */
    bool with_original;   /* fall back to the Flickr original URL */
    bool backfill;
    int concurrency; /* transfers in flight */
    int per_host;
    int max_attempts; /* transient failures before a task fails for good */
    int64_t lease_ms;
    int64_t retry_base_ms; /* first backoff; doubled per attempt, with jitter */
    bool quiet;
    int64_t progress_interval_ms;
    volatile sig_atomic_t *stop; /* set by a signal handler; NULL: never */
} sub_fetch_opts_t;

typedef struct {
    int64_t tasks;    /* of the dataset, after the sync */
    int64_t done;     /* by this run */
    int64_t present;  /* already on disk and valid */
    int64_t retried;  /* transient failures rescheduled */
    int64_t failed;   /* permanent failures by this run */
    int64_t replaced; /* of which backfilled */
    int64_t short_by; /* samples the subset lacks for good (no candidate left) */
    int64_t bytes;
    int64_t remaining; /* tasks not done at the end (pending, leased or failed) */
    bool interrupted;
    double seconds;
    struct {
        char code[24]; /* http_404, timeout, not_image, placeholder, ... */
        int64_t n;
    } reasons[24]; /* failures (retried or permanent) by reason */
    size_t nreasons;
} sub_fetch_result_t;

bool sub_fetch_run(sub_db_t *db, const sub_fetch_opts_t *o, sub_fetch_result_t *res,
                   sub_error_t *err);

#endif
