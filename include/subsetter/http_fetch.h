/* http_fetch.h - the download engine of the fetch stage: many image files at once over one
 * libcurl multi handle, each checked and renamed into place, each finished job reported
 * once with an outcome the caller can act on (keep, retry later, give up).
 *
 * The engine is single-threaded and driven by the caller: sub_http_fetch_add() queues jobs,
 * sub_http_fetch_run() moves transfers forward and calls on_done() from inside itself. It
 * knows nothing of MongoDB, leases or backoff: a TRANSIENT result carries the server's
 * Retry-After, and re-adding the job later is the caller's business.
 *
 * Connections: one multi handle (keep-alive, HTTP/2 over TLS where the server offers it,
 * multiplexed), reused easy handles, a total and a per-host limit on transfers in flight
 * (the engine's own accounting, so a queued transfer never burns its timeouts waiting for
 * a connection). TLS peers are always verified; the CA bundle is libcurl's default unless
 * CURL_CA_BUNDLE, else SSL_CERT_FILE (a file), and SSL_CERT_DIR (a directory) name one.
 * URLs may be http, https or file (tests); redirects go to http(s) only.
 *
 * Files: the body streams into "<dir>/.<basename>.part-<random>" (O_EXCL, 0644) next to
 * the target, is fsynced, verified with sub_image_verify() and sub_image_claims() against
 * the target's extension, checked against the URL's MD5 when one is given, and renamed to
 * the target. A partial or refused file never appears at the target, and the temporary
 * file is removed on every failure path. Missing parent directories are created (0755).
 *
 * curl_global_init() must have been called before sub_http_fetch_new().
 */
#ifndef SUB_HTTP_FETCH_H
#define SUB_HTTP_FETCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "subsetter/error.h"
#include "subsetter/image.h"

typedef struct sub_http_fetch sub_http_fetch_t;

typedef enum {
    SUB_HTTP_OK = 0,        /* the file is at the target and verified */
    SUB_HTTP_TRANSIENT = 1, /* may work later: retry after retry_after (or a backoff) */
    SUB_HTTP_PERMANENT = 2, /* every URL of the job failed for good */
} sub_http_outcome_t;

/* Options. A zero field takes the default shown; NULL options are all defaults. */
typedef struct {
    int max_total;              /* transfers in flight, all hosts: 16 */
    int max_per_host;           /* transfers (and connections) in flight per host: 4 */
    int64_t connect_timeout_ms; /* 30000 */
    int64_t low_speed_bytes;    /* a transfer slower than this many bytes/s ... : 1024 */
    int64_t low_speed_secs;     /* ... for this many seconds fails as "timeout": 30 */
    int64_t timeout_ms;         /* whole transfer, redirects included; 0: no limit */
    int max_redirects;          /* 5; a negative value follows none */
    int64_t max_bytes;          /* per file: SUB_IMAGE_DEFAULT_MAX_BYTES */
    uint64_t max_pixels;        /* per image: SUB_IMAGE_DEFAULT_MAX_PIXELS */
} sub_http_fetch_opts_t;

/* One URL of a job. md5 is the base64 of the 16-byte MD5 digest ("yB8FlOmTLa6xt6RGmALG4A==",
 * Open Images' OriginalMD5), or NULL when the source gives none for this URL. */
typedef struct {
    const char *url;
    const char *md5;
} sub_http_url_t;

/* A job: URLs tried in order (the primary, then fallbacks) for one target file. */
typedef struct {
    uint64_t id;                /* the caller's, handed back in the result */
    void *ptr;                  /* the caller's, handed back in the result */
    const sub_http_url_t *urls; /* n_urls >= 1 */
    size_t n_urls;
    const char *target; /* absolute path; its extension names the expected type */
} sub_http_job_t;

/* What became of a job, given to on_done(). Pointers are borrowed for the call only. */
typedef struct {
    uint64_t id;
    void *ptr;
    const char *target;
    sub_http_outcome_t outcome;
    /* A stable short code: "ok", "present" (already at the target, nothing requested),
     * "http_<status>", "timeout", "connect" (refused, unreachable, DNS), "reset" (closed or
     * reset mid-request), "truncated" (body shorter than its Content-Length), "not_image"
     * (no known image, or damaged), "placeholder" (a redirect to s.yimg.com or a
     * photo_unavailable path, or a PNG/GIF body for a JPEG target), "type_mismatch",
     * "md5_mismatch", "too_large", "redirects" (too many), "not_found" (file:// missing),
     * "tls", "bad_url", "io" (local file system), "network" (another libcurl failure),
     * "cancelled". */
    const char *reason;
    long status;           /* HTTP status of the last response, 0 if none (file://) */
    int64_t retry_after;   /* seconds the server asked to wait (Retry-After), -1 if none */
    int64_t bytes;         /* size of the accepted file, else body bytes received */
    const char *url;       /* the URL tried last: on OK the one that delivered the file
                            * (NULL for "present" and for jobs cancelled before starting) */
    size_t url_index;      /* its index in the job's URLs */
    sub_image_info_t info; /* of the accepted file; zeroed otherwise */
    const char *message;   /* "GET <url>: HTTP 404", "" on OK */
} sub_http_result_t;

/* Called once per finished job, from inside sub_http_fetch_run() or
 * sub_http_fetch_cancel_all(). It may call sub_http_fetch_add() (to re-add a job, say),
 * but not sub_http_fetch_run(), _cancel_all() or _free(). */
typedef void (*sub_http_done_fn)(void *ctx, const sub_http_result_t *r);

/* A new engine. opts is copied; on_done and ctx are kept for the engine's life. Fails with
 * SUB_E_CONFIG for out-of-range options and SUB_E_INTERNAL when libcurl cannot start. */
sub_http_fetch_t *sub_http_fetch_new(const sub_http_fetch_opts_t *opts, sub_http_done_fn on_done,
                                     void *ctx, sub_error_t *err);

/* Queues a job; everything it points to is copied. Fails with SUB_E_CONFIG (and queues
 * nothing) when it has no URL, a NULL or empty URL, or a target that is not absolute,
 * ends in '/', or contains "/../" or "/./". Nothing is checked or requested until
 * sub_http_fetch_run(). */
bool sub_http_fetch_add(sub_http_fetch_t *f, const sub_http_job_t *job, sub_error_t *err);

/* Jobs added and not yet reported (queued and in flight). */
size_t sub_http_fetch_pending(const sub_http_fetch_t *f);

/* Runs transfers and reports finished jobs until none is pending, or until about
 * timeout_ms have passed (a negative timeout: no limit). A job whose target already holds
 * a file that verifies and claims its extension finishes OK ("present") without a request.
 * A PERMANENT failure of one URL moves on to the job's next URL; a TRANSIENT one, or the
 * last URL's PERMANENT one, is reported. Returns false (SUB_E_INTERNAL) only when libcurl's
 * multi interface itself fails; jobs are then still pending. */
bool sub_http_fetch_run(sub_http_fetch_t *f, int timeout_ms, sub_error_t *err);

/* Aborts every transfer in flight and drops every queued job: their temporary files are
 * removed and each is reported TRANSIENT "cancelled". For SIGTERM: call it from the loop
 * that drives sub_http_fetch_run() (not from a signal handler). */
void sub_http_fetch_cancel_all(sub_http_fetch_t *f);

/* Cancels what is pending (as sub_http_fetch_cancel_all(), reporting it) and frees the
 * engine. NULL is a no-op. */
void sub_http_fetch_free(sub_http_fetch_t *f);

/* "ok", "transient", "permanent". Static. */
const char *sub_http_outcome_name(sub_http_outcome_t o);

#endif
