/* source.h - the input files of an ingest ("sources"): found in a local directory or
 * downloaded from an http(s) base into the cache, with their size and sha256.
 *
 * A source is named by a base and the official relative path under it, such as
 * "v5/class-descriptions-boxable.csv" under "https://storage.googleapis.com/openimages/".
 * A local base is read in place. A remote base is downloaded once into
 *     <cache_dir>/sources/<host>[_<port>]/<path of the URL>
 * (the port only when the URL names one other than the scheme's default), and revalidated
 * with one HEAD request on later runs.
 *
 * Next to a downloaded file <f> the cache keeps:
 *   <f>.part       the body received so far; resumed with a Range request when possible
 *   <f>.part.meta  the validators (ETag, Last-Modified, size) of the version in <f>.part
 *   <f>.meta       the validators, size, mtime and sha256 of the complete <f>
 *   <f>.lock       flock()ed while a process works on <f>, so two fetches of one file
 *                  wait for each other instead of writing the same .part
 * A .meta is a few "key value" text lines; a file whose .meta is missing or does not match
 * its size and mtime is not trusted and is downloaded again.
 *
 * Failures: SUB_E_CONFIG for a bad base or relative path, SUB_E_TLS when the server's
 * certificate is not trusted, SUB_E_IO for everything else (HTTP status, network, local
 * files), with a message naming the request and the cause:
 *     "GET http://127.0.0.1:5/v5/x.csv: HTTP 404"
 * Transient failures (connection refused or reset, timeouts, a body cut short, HTTP 408,
 * 429 and 5xx) are retried with exponential backoff and jitter, waiting at least the
 * server's Retry-After (capped at retry_max_ms); a retry that follows an attempt which
 * moved the download forward by 8 MiB or more is free. Other statuses fail at once. A
 * failure after the last attempt says so: "GET <url>: HTTP 503 (gave up after 5 attempts)".
 *
 * TLS certificates are always verified. The CA bundle is libcurl's default unless the
 * environment names one: CURL_CA_BUNDLE, else SSL_CERT_FILE (a file), and SSL_CERT_DIR (a
 * directory), as the curl tool does; the library itself reads none of them.
 *
 * curl_global_init() must have been called (main() does it; tests call it themselves).
 * Each call uses its own easy handle, so calls from several threads are fine.
 */
#ifndef SUBSETTER_SOURCE_H
#define SUBSETTER_SOURCE_H

#include <stdbool.h>
#include <stdint.h>

#include "subsetter/db.h"
#include "subsetter/error.h"

#define SUB_SOURCE_DEFAULT_BASE "https://storage.googleapis.com/openimages/"

/* Called with the bytes of the file obtained so far (a resumed prefix included) and its
 * full size (-1 when unknown); at most about four times a second, and once at the end. */
typedef void (*sub_source_progress_fn)(void *ctx, int64_t done, int64_t total);

/* Options of a fetch. A zero field takes the default shown; NULL options are all defaults. */
typedef struct {
    int max_attempts;           /* requests per step (HEAD or GET), the first included: 5 */
    int64_t retry_base_ms;      /* first backoff delay, doubled each retry, with jitter: 1000 */
    int64_t retry_max_ms;       /* cap on one delay; a longer Retry-After is cut to it: 60000 */
    int64_t connect_timeout_ms; /* 30000 */
    int64_t low_speed_bytes;    /* a transfer slower than this many bytes/s ... : 1024 */
    int64_t low_speed_secs;     /* ... for this many seconds is aborted and retried: 60 */
    int64_t max_size;           /* refuse a file larger than this; 0: no limit */
    bool no_revalidate;         /* trust a complete cached copy without asking the server */
    sub_source_progress_fn progress; /* NULL: no progress reports */
    void *progress_ctx;
} sub_source_opts_t;

/* What a fetch found. Filled by sub_source_fetch() and sub_source_download(); release it
 * with sub_source_release() on every path. */
typedef struct {
    char *url;            /* the full URL, or the absolute path when the base is a directory */
    char *path;           /* the local file to read: the file itself or the cached copy */
    int64_t size;         /* bytes */
    char sha256[65];      /* lowercase hex; "" until known */
    char *etag;           /* remote only, NULL when the server sent none */
    char *last_modified;  /* remote only, NULL when the server sent none */
    bool remote;          /* path is a copy in the cache */
    bool downloaded;      /* this call received body bytes */
    int64_t transferred;  /* body bytes this call received (0 when the cache was current) */
    int64_t resumed_from; /* offset the completing GET resumed from; 0 when it began at 0 */
    int requests;         /* HEAD and GET requests this call made, retries included */
} sub_source_t;

/* Obtains base/rel. base: NULL for SUB_SOURCE_DEFAULT_BASE, an http(s) URL, or a
 * directory (absolute, relative to the working directory, or a file:// URL). rel: a
 * relative path of non-empty segments, without "." or "..", backslashes or control
 * characters. cache_dir: the root of the download cache (unused for a directory base).
 * A local file is hashed in place (out->path is the file itself; a missing one fails with
 * "source file <path> not found (base <dir>)"). A remote file is downloaded or revalidated
 * as sub_source_download() says. On failure *out holds what was known (url and path once
 * base and rel were accepted) and must still be released. */
bool sub_source_fetch(const char *base, const char *rel, const char *cache_dir,
                      const sub_source_opts_t *opts, sub_source_t *out, sub_error_t *err);

/* Makes path a current copy of url (http, https or file; redirects to http(s) only, 5 at
 * most). A complete copy with a matching <path>.meta is revalidated with a HEAD: when the
 * server reports the same ETag (else Last-Modified, else size) nothing is transferred and
 * the sha256 comes from the .meta. Otherwise the body goes to <path>.part, hashed while it
 * streams, and resumes from the .part's size with Range and If-Range when the .part's
 * validators still match the server's (a 200, or a 206 of another version, starts over).
 * Nothing is created before a response body arrives. A complete body (its size equal to
 * Content-Length or the Content-Range total when the server sent one) is fsynced and
 * renamed to path. A write that fails (say ENOSPC: "write <path>.part: no space left on
 * device") fails the call at once and leaves the .part for a later run to resume. The
 * parent directory of path must exist. *out as for sub_source_fetch(). */
bool sub_source_download(const char *url, const char *path, const sub_source_opts_t *opts,
                         sub_source_t *out, sub_error_t *err);

/* Where base/rel lives, without touching the network or the file: *url is the URL (rel
 * percent-encoded) or the absolute local path, *path the file to read (the same path, or
 * the cache location of a URL). Both are the caller's to free; NULL on failure. Fails with
 * SUB_E_CONFIG for an unsupported base, a URL with credentials, query or fragment, a base
 * path or rel that could leave the cache directory, or a remote base without cache_dir. */
bool sub_source_locate(const char *base, const char *rel, const char *cache_dir, char **url,
                       char **path, sub_error_t *err);

/* The sha256 (lowercase hex) and size of a regular file, read in 1 MiB blocks; of opts
 * (NULL allowed) only the progress callback is used. */
bool sub_source_hash_file(const char *path, const sub_source_opts_t *opts, char hex[65],
                          int64_t *size, sub_error_t *err);

/* Frees what *s owns and zeroes it; NULL-safe and idempotent. */
void sub_source_release(sub_source_t *s);

/* The upsert sub_source_record() sends: filter {url, dataset} and an update that $sets
 * path, size, sha256 (when known), etag, last_modified, kind, split and state, $unsets
 * error unless state is "failed", and $currentDate's updated_at. dataset, kind and split
 * may be NULL (stored as null; kind then omitted). filter and update are initialized here
 * and the caller destroys them. */
void sub_source_record_doc(const sub_source_t *s, const char *dataset, const char *kind,
                           const char *split, const char *state, bson_t *filter, bson_t *update);

/* Creates or updates the document of s in subsetter.sources (unique on {url, dataset}).
 * state is one of pending, downloading, downloaded, ingesting, done, failed. */
bool sub_source_record(sub_db_t *db, const sub_source_t *s, const char *dataset, const char *kind,
                       const char *split, const char *state, sub_error_t *err);

/* Marks {url, dataset} failed with message (an err->msg), creating the document if
 * needed. */
bool sub_source_record_error(sub_db_t *db, const char *url, const char *dataset,
                             const char *message, sub_error_t *err);

#endif
