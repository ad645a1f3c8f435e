#define SUB_LOG_DOMAIN "download"
/* download.c - the engine behind sub_source_download(): one URL into one cache file over
 * libcurl, with a HEAD to revalidate a complete copy, a GET that streams into <f>.part and
 * resumes it with Range/If-Range, retries with backoff, the .meta sidecars that say which
 * version a file holds, and the .lock that keeps two processes off one .part. Where a file
 * belongs in the cache, and hashing, are source.c's (see source_int.h). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "source_int.h"
#include "subsetter/curlutil.h"
#include "subsetter/log.h"
#include "subsetter/source.h"
#include "subsetter/strutil.h"
#include "subsetter/version.h"

/* A retry after an attempt that moved the download forward by this much does not count
 * against max_attempts: a long transfer over a flaky link should finish, and the
 * high-water mark it must pass keeps the loop finite. */
#define PROGRESS_CREDIT (8 << 20)
/* How often a server may swap the file under a resumed download before we give up. */
#define MAX_RESTARTS 3

/* ------------------------------------------------------------------------------------- */
/* Waiting between attempts, and the options                                              */
/* ------------------------------------------------------------------------------------- */

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static uint64_t next_rand(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static uint64_t rand_seed(const void *salt)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t s = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^ (uint64_t)getpid() ^
                 (uint64_t)(uintptr_t)salt;
    return s ? s : 0x9e3779b97f4a7c15u;
}

static sub_source_opts_t resolve_opts(const sub_source_opts_t *in)
{
    sub_source_opts_t o = {0};
    if (in)
        o = *in;
    if (o.max_attempts <= 0)
        o.max_attempts = 5;
    if (o.retry_base_ms <= 0)
        o.retry_base_ms = 1000;
    if (o.retry_max_ms <= 0)
        o.retry_max_ms = 60000;
    if (o.connect_timeout_ms <= 0)
        o.connect_timeout_ms = 30000;
    if (o.low_speed_bytes <= 0)
        o.low_speed_bytes = 1024;
    if (o.low_speed_secs <= 0)
        o.low_speed_secs = 60;
    return o;
}

/* ------------------------------------------------------------------------------------- */
/* Sidecar .meta files                                                                    */
/* ------------------------------------------------------------------------------------- */

/* The version of a remote file (validators) and, for a complete copy, what it holds. */
typedef struct {
    char *etag;
    char *last_modified;
    int64_t filetime; /* seconds since the epoch, -1 unknown (file:// has only this) */
    int64_t total;    /* the remote size, -1 unknown */
    int64_t size;     /* complete copies: bytes on disk, else -1 */
    int64_t mtime_ns; /* complete copies: mtime of the copy, else -1 */
    char sha256[65];  /* complete copies */
} meta_t;

static void meta_init(meta_t *m)
{
    memset(m, 0, sizeof *m);
    m->filetime = m->total = m->size = m->mtime_ns = -1;
}

static void meta_clear(meta_t *m)
{
    free(m->etag);
    free(m->last_modified);
    meta_init(m);
}

static bool has_validator(const meta_t *m)
{
    return m->etag || m->last_modified || m->filetime >= 0;
}

/* The same version of the remote file: equal sizes when both are known, then the strongest
 * validator both sides have decides. Without one, `need_validator` says whether the sizes
 * alone are enough. */
static bool same_version(const meta_t *a, const meta_t *b, bool need_validator)
{
    if (a->total >= 0 && b->total >= 0 && a->total != b->total)
        return false;
    if (a->etag && b->etag)
        return strcmp(a->etag, b->etag) == 0;
    if (a->last_modified && b->last_modified)
        return strcmp(a->last_modified, b->last_modified) == 0;
    if (a->filetime >= 0 && b->filetime >= 0)
        return a->filetime == b->filetime;
    return !need_validator && a->total >= 0 && b->total >= 0;
}

/* A .meta cut short or edited by hand must not pass for a hash of the copy. */
static bool is_sha256_hex(const char *s)
{
    size_t n = strspn(s, "0123456789abcdef");
    return n == 64 && s[n] == '\0';
}

static void meta_set(meta_t *m, const char *key, const char *v)
{
    int64_t n;
    if (strcmp(key, "etag") == 0 && *v && !m->etag)
        m->etag = sub_xstrdup(v);
    else if (strcmp(key, "last_modified") == 0 && *v && !m->last_modified)
        m->last_modified = sub_xstrdup(v);
    else if (strcmp(key, "sha256") == 0 && is_sha256_hex(v))
        memcpy(m->sha256, v, 65);
    else if (sub_parse_int64(v, -1, INT64_MAX, &n)) {
        if (strcmp(key, "filetime") == 0)
            m->filetime = n;
        else if (strcmp(key, "total") == 0)
            m->total = n;
        else if (strcmp(key, "size") == 0)
            m->size = n;
        else if (strcmp(key, "mtime_ns") == 0)
            m->mtime_ns = n;
    }
}

/* False when the file is missing or unreadable: the copy it describes is then untrusted. */
static bool meta_load(const char *file, meta_t *m)
{
    meta_init(m);
    FILE *f = fopen(file, "re");
    if (!f)
        return false;
    char line[1024];
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        char *sp = strchr(line, ' ');
        if (!sp)
            continue;
        *sp = '\0';
        meta_set(m, line, sp + 1);
    }
    bool ok = !ferror(f);
    fclose(f);
    return ok;
}

/* Writes file atomically (file.tmp, then rename). */
static bool meta_save(const char *file, const meta_t *m, const char *url, sub_error_t *err)
{
    char *tmp = sub_xasprintf("%s.tmp", file);
    bool ok = false;
    FILE *f = fopen(tmp, "we");
    if (!f) {
        sub_source_sys_error(err, errno, "create", tmp);
        goto out;
    }
    fprintf(f, "url %s\n", url);
    if (m->etag)
        fprintf(f, "etag %s\n", m->etag);
    if (m->last_modified)
        fprintf(f, "last_modified %s\n", m->last_modified);
    fprintf(f, "filetime %" PRId64 "\ntotal %" PRId64 "\n", m->filetime, m->total);
    if (m->sha256[0])
        fprintf(f, "size %" PRId64 "\nmtime_ns %" PRId64 "\nsha256 %s\n", m->size, m->mtime_ns,
                m->sha256);
    if (fflush(f) != 0 || ferror(f)) {
        sub_source_sys_error(err, errno, "write", tmp);
        fclose(f);
        goto out;
    }
    if (fclose(f) != 0) {
        sub_source_sys_error(err, errno, "write", tmp);
        goto out;
    }
    if (rename(tmp, file) != 0) {
        sub_source_sys_error(err, errno, "rename to", file);
        goto out;
    }
    ok = true;
out:
    if (!ok)
        unlink(tmp);
    free(tmp);
    return ok;
}

static int64_t mtime_ns(const struct stat *st)
{
    return (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
}

/* ------------------------------------------------------------------------------------- */
/* One download                                                                           */
/* ------------------------------------------------------------------------------------- */

typedef enum {
    STEP_DONE,      /* the request did its job */
    STEP_UNCHANGED, /* 304: the cached copy is current */
    STEP_RETRY,     /* transient failure */
    STEP_RESTART,   /* the .part is of no use: start over at once */
    STEP_FAIL       /* permanent failure */
} step_t;

typedef struct {
    CURL *h;
    const char *url;
    const char *path;
    char *part, *part_meta, *meta, *lock;
    sub_source_opts_t o;
    sub_source_t *out;
    bool is_file; /* file:// : no status, no headers, mtime as the validator */
    char errbuf[CURL_ERROR_SIZE];
    int lock_fd;
    /* the partial body */
    bool part_checked; /* check_part() ran */
    int fd;            /* the .part, -1 until there is one */
    EVP_MD_CTX *md;    /* sha256 of the .part's first `offset` bytes */
    int64_t offset;    /* bytes in the .part */
    int64_t high;      /* highest offset reached (see PROGRESS_CREDIT) */
    meta_t part_v;     /* the version the .part holds, valid when offset > 0 */
    meta_t cached;     /* the complete copy's .meta */
    bool have_cached;
    meta_t head;  /* what the HEAD reported */
    bool head_ok; /* the server answered the HEAD (no 405/501) */
    /* the request in flight */
    int64_t req_from; /* Range start of the request, 0 for the whole body */
    bool body;        /* the response's body has begun */
    bool discard;     /* the response is not a 200/206: its body is not the file */
    bool restart;     /* the response is of another version than the .part */
    int64_t total;    /* the file's full size per the response, -1 unknown */
    int64_t retry_after_ms;
    bool failed; /* a callback failed: werr says why */
    sub_error_t werr;
    int64_t last_progress;
} xfer_t;

static void report(xfer_t *x, bool last)
{
    if (!x->o.progress)
        return;
    int64_t t = sub_source_now_ms();
    if (!last && t - x->last_progress < SUB_SOURCE_PROGRESS_EVERY_MS)
        return;
    x->last_progress = t;
    x->o.progress(x->o.progress_ctx, x->offset, x->total);
}

/* The value of a header of the last response, or NULL. Caller frees. */
static char *header_dup(CURL *h, const char *name)
{
    struct curl_header *hd = NULL;
    if (curl_easy_header(h, name, 0, CURLH_HEADER, -1, &hd) != CURLHE_OK || !hd->value[0] ||
        strpbrk(hd->value, "\r\n"))
        return NULL;
    return sub_xstrdup(hd->value);
}

static void response_meta(xfer_t *x, meta_t *m)
{
    curl_off_t ft = -1;
    meta_init(m);
    if (!x->is_file) {
        m->etag = header_dup(x->h, "ETag");
        m->last_modified = header_dup(x->h, "Last-Modified");
    }
    if (curl_easy_getinfo(x->h, CURLINFO_FILETIME_T, &ft) == CURLE_OK)
        m->filetime = ft;
}

static int64_t content_length(CURL *h)
{
    curl_off_t cl = -1;
    if (curl_easy_getinfo(h, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl) != CURLE_OK)
        return -1;
    return cl;
}

/* "bytes FROM-TO/TOTAL" (TOTAL may be "*"). */
static bool content_range(CURL *h, int64_t *from, int64_t *total)
{
    char *v = header_dup(h, "Content-Range");
    long long a = -1, b = -1;
    char t[32] = "";
    bool ok = v && sscanf(v, "bytes %lld-%lld/%31s", &a, &b, t) == 3 && a >= 0 && b >= a;
    *from = a;
    *total = -1;
    if (ok && strcmp(t, "*") != 0)
        ok = sub_parse_int64(t, b + 1, INT64_MAX, total);
    free(v);
    return ok;
}

static long response_code(CURL *h)
{
    long code = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    return code;
}

/* Inside a callback: stop the transfer because of a local failure (x->werr says which). */
static bool callback_fail(xfer_t *x)
{
    x->failed = true;
    return false;
}

/* Inside a callback: stop the transfer because the server sent another version. */
static bool callback_restart(xfer_t *x)
{
    x->restart = true;
    return false;
}

/* The .part, empty, for a body from byte 0. */
static bool reset_part(xfer_t *x, sub_error_t *err)
{
    struct stat st;
    if (x->fd < 0)
        x->fd = open(x->part, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (x->fd < 0)
        return sub_source_sys_error(err, errno, "create", x->part);
    if (fstat(x->fd, &st) != 0)
        return sub_source_sys_error(err, errno, "stat", x->part);
    if (st.st_size > 0 && ftruncate(x->fd, 0) != 0)
        return sub_source_sys_error(err, errno, "truncate", x->part);
    x->offset = 0;
    meta_clear(&x->part_v);
    return sub_source_sha256_begin(&x->md, err);
}

/* A body that continues the .part: the range asked for, of the version the .part holds. */
static bool resumed_body(xfer_t *x, meta_t *v, long status)
{
    int64_t from = x->offset;
    if (x->is_file)
        v->total = x->offset + content_length(x->h);
    else if (status != 206 || !content_range(x->h, &from, &v->total))
        return callback_restart(x);
    if (from != x->offset || !same_version(&x->part_v, v, true))
        return callback_restart(x);
    return true;
}

/* A body from byte 0 (the server may have ignored our Range): it replaces the .part, and
 * its validators go to the .part.meta before the first byte is written. */
static bool whole_body(xfer_t *x, meta_t *v, long status)
{
    if (status == 206) /* a range we did not ask for */
        return callback_restart(x);
    if (!reset_part(x, &x->werr))
        return callback_fail(x);
    x->req_from = 0;
    v->total = content_length(x->h);
    if (x->o.max_size && v->total > x->o.max_size) {
        sub_error_set(&x->werr, SUB_E_IO, 0,
                      "GET %s: %" PRId64 " bytes, over the limit of %" PRId64, x->url, v->total,
                      x->o.max_size);
        return callback_fail(x);
    }
    x->part_v = *v;
    meta_init(v);
    return meta_save(x->part_meta, &x->part_v, x->url, &x->werr) || callback_fail(x);
}

/* Called on the first byte of a body, or after an empty one: decides what the body is. */
static bool begin_body(xfer_t *x)
{
    x->body = true;
    long status = response_code(x->h);
    if (!x->is_file && status != 200 && status != 206) {
        x->discard = true; /* an error page */
        return true;
    }
    meta_t v;
    response_meta(x, &v);
    bool resumed = x->req_from > 0 && (x->is_file || status == 206);
    bool ok = resumed ? resumed_body(x, &v, status) : whole_body(x, &v, status);
    x->total = resumed ? v.total : x->part_v.total;
    meta_clear(&v);
    return ok;
}

static bool append(xfer_t *x, const char *data, size_t len)
{
    if (x->o.max_size && x->offset + (int64_t)len > x->o.max_size) {
        sub_error_set(&x->werr, SUB_E_IO, 0, "GET %s: body over the limit of %" PRId64 " bytes",
                      x->url, x->o.max_size);
        return callback_fail(x);
    }
    for (size_t done = 0; done < len;) {
        ssize_t n = pwrite(x->fd, data + done, len - done, (off_t)(x->offset + (int64_t)done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            sub_source_sys_error(&x->werr, errno, "write", x->part);
            return callback_fail(x);
        }
        done += (size_t)n;
    }
    EVP_DigestUpdate(x->md, data, len);
    x->offset += (int64_t)len;
    x->out->transferred += (int64_t)len;
    report(x, false);
    return true;
}

static size_t write_cb(char *data, size_t size, size_t n, void *ctx)
{
    xfer_t *x = ctx;
    size_t len = size * n;
    if (!x->body && !begin_body(x))
        return 0;
    if (x->discard)
        return len;
    return append(x, data, len) ? len : 0;
}

/* Options every request shares. Peer and host verification stay at libcurl's default: on. */
static void setup(xfer_t *x)
{
    CURL *h = x->h;
    curl_easy_reset(h);
    x->errbuf[0] = '\0';
    x->body = x->discard = x->restart = x->failed = false;
    x->total = -1;
    x->retry_after_ms = 0;
    curl_easy_setopt(h, CURLOPT_URL, x->url);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, x->errbuf);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https,file");
    curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(h, CURLOPT_MAXREDIRS, 5L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_FILETIME, 1L);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)x->o.connect_timeout_ms);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, (long)x->o.low_speed_bytes);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, (long)x->o.low_speed_secs);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "subsetter/" SUBSETTER_VERSION);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
    sub_curl_ca_from_env(h);
}

static bool transient_curl(CURLcode rc)
{
    switch (rc) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_PARTIAL_FILE:
    case CURLE_GOT_NOTHING:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
        return true;
    default:
        return false;
    }
}

static step_t curl_step(xfer_t *x, const char *method, CURLcode rc, sub_error_t *err)
{
    const char *why = x->errbuf[0] ? x->errbuf : curl_easy_strerror(rc);
    sub_code_t code = SUB_E_IO;
    if (rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CACERT_BADFILE ||
        rc == CURLE_SSL_CERTPROBLEM)
        code = SUB_E_TLS;
    sub_error_set(err, code, (int)rc, "%s %s: %s", method, x->url, why);
    return transient_curl(rc) ? STEP_RETRY : STEP_FAIL;
}

/* 408, 429 and 5xx are worth another try; any other status is final. */
static step_t http_step(xfer_t *x, const char *method, long status, sub_error_t *err)
{
    curl_off_t after = 0;
    sub_error_set(err, SUB_E_IO, (int)status, "%s %s: HTTP %ld", method, x->url, status);
    if (status != 408 && status != 429 && (status < 500 || status > 599))
        return STEP_FAIL;
    if (curl_easy_getinfo(x->h, CURLINFO_RETRY_AFTER, &after) == CURLE_OK && after > 0)
        x->retry_after_ms = (int64_t)after * 1000;
    return STEP_RETRY;
}

static step_t head_once(xfer_t *x, sub_error_t *err)
{
    setup(x);
    curl_easy_setopt(x->h, CURLOPT_NOBODY, 1L);
    CURLcode rc = curl_easy_perform(x->h);
    x->out->requests++;
    if (rc != CURLE_OK)
        return curl_step(x, "HEAD", rc, err);
    long status = response_code(x->h);
    x->head_ok = !(status == 405 || status == 501);
    if (!x->head_ok)
        return STEP_DONE; /* no HEAD here: a conditional GET revalidates instead */
    if (!x->is_file && status != 200)
        return http_step(x, "HEAD", status, err);
    meta_clear(&x->head);
    response_meta(x, &x->head);
    x->head.total = content_length(x->h);
    return STEP_DONE;
}

/* Before the first GET: an existing .part is kept (and hashed) only when its .meta names a
 * version we can ask for again with If-Range. Nothing is created until a body arrives. */
static bool check_part(xfer_t *x, sub_error_t *err)
{
    struct stat st;
    x->part_checked = true;
    if (!sub_source_sha256_begin(&x->md, err))
        return false;
    x->fd = open(x->part, O_RDWR | O_CLOEXEC);
    if (x->fd < 0)
        return errno == ENOENT || sub_source_sys_error(err, errno, "open", x->part);
    if (fstat(x->fd, &st) != 0)
        return sub_source_sys_error(err, errno, "stat", x->part);
    int64_t size = st.st_size;
    if (size > 0 && meta_load(x->part_meta, &x->part_v) && has_validator(&x->part_v) &&
        (x->part_v.total < 0 || size < x->part_v.total)) {
        if (!sub_source_hash_fd(x->fd, x->part, size, x->md, NULL, &x->offset, err))
            return false;
        x->high = x->offset;
        return true;
    }
    meta_clear(&x->part_v);
    return true;
}

/* Request headers: If-Range on a resumed GET, or the cached copy's validators on a fresh
 * one (a 304 then means the copy is current). */
static struct curl_slist *get_headers(xfer_t *x)
{
    struct curl_slist *l = NULL;
    char *h = NULL;
    if (x->offset > 0) {
        const char *e = x->part_v.etag;
        if (e && strncmp(e, "W/", 2) != 0)
            h = sub_xasprintf("If-Range: %s", e);
        else if (x->part_v.last_modified)
            h = sub_xasprintf("If-Range: %s", x->part_v.last_modified);
    } else if (x->have_cached && x->cached.etag) {
        h = sub_xasprintf("If-None-Match: %s", x->cached.etag);
    } else if (x->have_cached && x->cached.last_modified) {
        h = sub_xasprintf("If-Modified-Since: %s", x->cached.last_modified);
    }
    if (h)
        l = curl_slist_append(l, h);
    free(h);
    return l;
}

/* What a callback decided: a local failure, or another version of the file. */
static step_t callback_step(xfer_t *x, sub_error_t *err)
{
    if (x->failed) {
        if (err)
            *err = x->werr;
        return STEP_FAIL;
    }
    return reset_part(x, err) ? STEP_RESTART : STEP_FAIL;
}

static step_t get_result(xfer_t *x, CURLcode rc, sub_error_t *err)
{
    if (x->failed || x->restart)
        return callback_step(x, err);
    if (rc != CURLE_OK)
        return curl_step(x, "GET", rc, err);
    long status = response_code(x->h);
    if (status == 304 && x->have_cached)
        return STEP_UNCHANGED;
    if (status == 416) /* the .part is no prefix of this version */
        return reset_part(x, err) ? STEP_RESTART : STEP_FAIL;
    if (!x->is_file && status != 200 && status != 206)
        return http_step(x, "GET", status, err);
    if (!x->body && x->req_from > 0) /* file:// at the end already: nothing to check it by */
        return reset_part(x, err) ? STEP_RESTART : STEP_FAIL;
    if (!x->body && !begin_body(x)) /* an empty file */
        return callback_step(x, err);
    if (x->total >= 0 && x->offset != x->total) {
        sub_error_set(err, SUB_E_IO, 0, "GET %s: got %" PRId64 " of %" PRId64 " bytes", x->url,
                      x->offset, x->total);
        return x->offset < x->total ? STEP_RETRY : STEP_FAIL;
    }
    return STEP_DONE;
}

static step_t get_once(xfer_t *x, sub_error_t *err)
{
    if (!x->part_checked && !check_part(x, err))
        return STEP_FAIL;
    if (x->offset > 0 && !has_validator(&x->part_v) && !reset_part(x, err))
        return STEP_FAIL; /* a Range without If-Range could splice two versions */
    setup(x);
    char range[32];
    x->req_from = x->offset;
    if (x->offset > 0) {
        snprintf(range, sizeof range, "%" PRId64 "-", x->offset);
        curl_easy_setopt(x->h, CURLOPT_RANGE, range);
    }
    struct curl_slist *hdrs = get_headers(x);
    curl_easy_setopt(x->h, CURLOPT_HTTPHEADER, hdrs);
    CURLcode rc = curl_easy_perform(x->h);
    x->out->requests++;
    curl_easy_setopt(x->h, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(hdrs);
    step_t s = get_result(x, rc, err);
    if (s == STEP_RESTART)
        SUB_LOG(SUB_LOG_INFO, "GET %s: the server has another version than %s; starting over",
                x->url, x->part);
    return s;
}

static int64_t backoff_ms(const sub_source_opts_t *o, int attempt, int64_t retry_after_ms,
                          uint64_t *rng)
{
    int64_t d = o->retry_base_ms;
    for (int i = 1; i < attempt && d < o->retry_max_ms; i++)
        d *= 2;
    if (d > o->retry_max_ms)
        d = o->retry_max_ms;
    /* Half fixed, half random: workers that failed together do not retry together. */
    d = d / 2 + (int64_t)(next_rand(rng) % (uint64_t)(d / 2 + 1));
    if (retry_after_ms > d)
        d = retry_after_ms < o->retry_max_ms ? retry_after_ms : o->retry_max_ms;
    return d;
}

/* Runs a HEAD or a GET until it succeeds, fails for good or runs out of attempts. */
static step_t with_retries(xfer_t *x, bool head, sub_error_t *err)
{
    uint64_t rng = rand_seed(x);
    int restarts = 0, failures = 0;
    for (;;) {
        sub_error_t e = {0};
        step_t s = head ? head_once(x, &e) : get_once(x, &e);
        if (s == STEP_RESTART && ++restarts > MAX_RESTARTS) {
            sub_error_set(&e, SUB_E_IO, 0, "GET %s: the file changed %d times during the download",
                          x->url, MAX_RESTARTS);
            s = STEP_FAIL;
        }
        if (s == STEP_FAIL && err)
            *err = e;
        if (s != STEP_RETRY && s != STEP_RESTART)
            return s;
        if (s == STEP_RESTART)
            continue;
        if (x->offset >= x->high + PROGRESS_CREDIT)
            x->high = x->offset;
        else if (++failures >= x->o.max_attempts) {
            sub_error_set(err, e.code, e.cause, "%s (gave up after %d attempt%s)", e.msg, failures,
                          failures == 1 ? "" : "s");
            return STEP_FAIL;
        }
        int64_t d = backoff_ms(&x->o, failures, x->retry_after_ms, &rng);
        SUB_LOG(SUB_LOG_WARN, "%s; retrying in %.1f s", e.msg, (double)d / 1000);
        sleep_ms(d);
    }
}

/* The complete copy and its .meta agree: size, mtime and a sha256 on record. */
static bool load_cached(xfer_t *x)
{
    struct stat st;
    x->have_cached = meta_load(x->meta, &x->cached) && x->cached.sha256[0] &&
                     stat(x->path, &st) == 0 && S_ISREG(st.st_mode) &&
                     st.st_size == x->cached.size && mtime_ns(&st) == x->cached.mtime_ns;
    return x->have_cached;
}

static void fill_out(xfer_t *x, const meta_t *m)
{
    sub_source_t *out = x->out;
    out->size = m->size;
    memcpy(out->sha256, m->sha256, sizeof out->sha256);
    free(out->etag);
    free(out->last_modified);
    out->etag = m->etag ? sub_xstrdup(m->etag) : NULL;
    out->last_modified = m->last_modified ? sub_xstrdup(m->last_modified) : NULL;
    out->downloaded = out->transferred > 0;
}

/* The .part is complete: fsync it, move it into place and record its .meta. The old .meta
 * goes first, so a crash in between leaves a copy that is not trusted, never a wrong one. */
static bool finish(xfer_t *x, sub_error_t *err)
{
    struct stat st;
    if (fsync(x->fd) != 0)
        return sub_source_sys_error(err, errno, "fsync", x->part);
    if (!sub_source_sha256_end(x->md, x->part_v.sha256, err))
        return false;
    if (unlink(x->meta) != 0 && errno != ENOENT)
        return sub_source_sys_error(err, errno, "remove", x->meta);
    if (rename(x->part, x->path) != 0)
        return sub_source_sys_error(err, errno, "rename to", x->path);
    if (stat(x->path, &st) != 0)
        return sub_source_sys_error(err, errno, "stat", x->path);
    x->part_v.size = st.st_size;
    x->part_v.mtime_ns = mtime_ns(&st);
    if (x->part_v.total < 0)
        x->part_v.total = st.st_size;
    if (!meta_save(x->meta, &x->part_v, x->url, err))
        return false;
    unlink(x->part_meta);
    fill_out(x, &x->part_v);
    x->out->resumed_from = x->req_from;
    x->total = st.st_size;
    report(x, true);
    return true;
}

static bool lock_path(xfer_t *x, sub_error_t *err)
{
    x->lock_fd = open(x->lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (x->lock_fd < 0)
        return sub_source_sys_error(err, errno, "open", x->lock);
    if (flock(x->lock_fd, LOCK_EX | LOCK_NB) == 0)
        return true;
    SUB_LOG(SUB_LOG_INFO, "%s: another process is fetching it; waiting", x->path);
    while (flock(x->lock_fd, LOCK_EX) != 0)
        if (errno != EINTR)
            return sub_source_sys_error(err, errno, "lock", x->lock);
    return true;
}

static void xfer_init(xfer_t *x, const char *url, const char *path, const sub_source_opts_t *o,
                      sub_source_t *out)
{
    memset(x, 0, sizeof *x);
    x->url = url;
    x->path = path;
    x->o = resolve_opts(o);
    x->out = out;
    x->is_file = strncasecmp(url, "file:", 5) == 0;
    x->part = sub_xasprintf("%s.part", path);
    x->part_meta = sub_xasprintf("%s.part.meta", path);
    x->meta = sub_xasprintf("%s.meta", path);
    x->lock = sub_xasprintf("%s.lock", path);
    x->fd = x->lock_fd = -1;
    x->total = -1;
    meta_init(&x->part_v);
    meta_init(&x->cached);
    meta_init(&x->head);
}

static void xfer_release(xfer_t *x)
{
    if (x->h)
        curl_easy_cleanup(x->h);
    EVP_MD_CTX_free(x->md);
    if (x->fd >= 0)
        close(x->fd);
    if (x->lock_fd >= 0)
        close(x->lock_fd); /* releases the flock; the file stays, as removing it would race */
    meta_clear(&x->part_v);
    meta_clear(&x->cached);
    meta_clear(&x->head);
    free(x->part);
    free(x->part_meta);
    free(x->meta);
    free(x->lock);
}

/* A current cached copy: HEAD says so (or we were told to trust it). */
static bool cache_is_current(xfer_t *x, bool *current, sub_error_t *err)
{
    *current = false;
    if (!load_cached(x))
        return true;
    if (!x->o.no_revalidate) {
        if (with_retries(x, true, err) == STEP_FAIL)
            return false;
        if (!x->head_ok || !same_version(&x->cached, &x->head, false))
            return true;
    }
    *current = true;
    return true;
}

bool sub_source_download(const char *url, const char *path, const sub_source_opts_t *opts,
                         sub_source_t *out, sub_error_t *err)
{
    xfer_t x;
    bool ok = false, current = false;
    memset(out, 0, sizeof *out);
    out->url = sub_xstrdup(url);
    out->path = sub_xstrdup(path);
    out->remote = true;
    xfer_init(&x, out->url, out->path, opts, out);
    if (!lock_path(&x, err))
        goto out;
    x.h = curl_easy_init();
    if (!x.h) {
        sub_error_set(err, SUB_E_INTERNAL, 0, "curl_easy_init failed");
        goto out;
    }
    if (!cache_is_current(&x, &current, err))
        goto out;
    step_t s = current ? STEP_UNCHANGED : with_retries(&x, false, err);
    if (s == STEP_FAIL)
        goto out;
    if (s == STEP_UNCHANGED) {
        fill_out(&x, &x.cached);
        ok = true;
        goto out;
    }
    ok = finish(&x, err);
    if (ok)
        SUB_LOG(SUB_LOG_INFO, "GET %s: %" PRId64 " bytes%s into %s", url, out->transferred,
                out->resumed_from ? " (resumed)" : "", path);
out:
    xfer_release(&x);
    return ok;
}
