#define SUB_LOG_DOMAIN "http_fetch"
/* http_fetch.c - the fetch stage's download engine (see http_fetch.h): jobs wait in a
 * "check" queue (is the file already there?), then in one queue per host; transfers run on
 * one curl multi handle; a finished transfer is classified, its file verified and renamed
 * into place, and the job reported or moved on to its next URL. */
#include "subsetter/http_fetch.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "subsetter/curlutil.h"
#include "subsetter/log.h"
#include "subsetter/strutil.h"
#include "subsetter/version.h"

/* Present-checks per turn of the run loop, so transfers in flight are not starved. */
#define CHECKS_PER_TURN 32
/* Longest single wait in curl_multi_poll(): the deadline is looked at this often. */
#define POLL_SLICE_MS 1000

typedef struct host host_t;
typedef struct job job_t;

struct job {
    job_t *next; /* in a check or host queue */
    sub_http_fetch_t *eng;
    uint64_t id;
    void *ptr;
    sub_http_url_t *urls;
    size_t n_urls;
    size_t idx; /* the URL being tried */
    char *target;
    host_t *host; /* of urls[idx], set when queued for a transfer */
    /* the transfer in flight */
    CURL *h;
    char *tmp;
    int fd;
    int64_t bytes;
    EVP_MD_CTX *md; /* when urls[idx].md5 is set */
    bool started;   /* urls[idx] has been requested */
    bool body, discard, failed;
    char errbuf[CURL_ERROR_SIZE];
    /* the verdict */
    sub_http_outcome_t outcome;
    const char *reason;
    char reason_buf[24];
    long status;
    int64_t retry_after;
    sub_image_info_t info;
    char msg[SUB_ERROR_MSG_SIZE];
};

struct host {
    char *key; /* "scheme://host:port" */
    int active;
    job_t *head, *tail;
};

struct sub_http_fetch {
    sub_http_fetch_opts_t o;
    sub_http_done_fn on_done;
    void *ctx;
    CURLM *multi;
    CURL **idle; /* easy handles kept for reuse, at most o.max_total */
    int n_idle;
    job_t **active; /* transfers in flight, o.max_total slots */
    int n_active;
    host_t **hosts;
    size_t n_hosts, rr; /* rr: the host to serve first next time */
    job_t *check_head, *check_tail;
    size_t pending;
    uint64_t rng;
};

/* ------------------------------------------------------------------------------------- */
/* Options, queues, hosts                                                                 */
/* ------------------------------------------------------------------------------------- */

static sub_http_fetch_opts_t resolve_opts(const sub_http_fetch_opts_t *in)
{
    sub_http_fetch_opts_t o = {0};
    if (in)
        o = *in;
    o.max_total = o.max_total > 0 ? o.max_total : 16;
    o.max_per_host = o.max_per_host > 0 ? o.max_per_host : 4;
    o.connect_timeout_ms = o.connect_timeout_ms > 0 ? o.connect_timeout_ms : 30000;
    o.low_speed_bytes = o.low_speed_bytes > 0 ? o.low_speed_bytes : 1024;
    o.low_speed_secs = o.low_speed_secs > 0 ? o.low_speed_secs : 30;
    o.max_redirects = o.max_redirects == 0 ? 5 : o.max_redirects < 0 ? 0 : o.max_redirects;
    o.max_bytes = o.max_bytes > 0 ? o.max_bytes : (int64_t)SUB_IMAGE_DEFAULT_MAX_BYTES;
    o.max_pixels = o.max_pixels > 0 ? o.max_pixels : SUB_IMAGE_DEFAULT_MAX_PIXELS;
    return o;
}

static bool check_opts(const sub_http_fetch_opts_t *o, sub_error_t *err)
{
    if (o->max_total > 4096 || o->max_per_host > 4096)
        return sub_error_set(err, SUB_E_CONFIG, 0, "http fetch: concurrency over 4096");
    if (o->timeout_ms < 0 || (uint64_t)o->max_bytes > SIZE_MAX / 2)
        return sub_error_set(err, SUB_E_CONFIG, 0, "http fetch: bad timeout or size limit");
    return true;
}

static void queue_push(job_t **head, job_t **tail, job_t *j)
{
    j->next = NULL;
    if (*tail)
        (*tail)->next = j;
    else
        *head = j;
    *tail = j;
}

static job_t *queue_pop(job_t **head, job_t **tail)
{
    job_t *j = *head;
    if (j) {
        *head = j->next;
        if (!*head)
            *tail = NULL;
        j->next = NULL;
    }
    return j;
}

/* "scheme://host:port" of a URL, or the URL itself when libcurl cannot parse it (the
 * transfer then fails with "bad_url"). Caller frees. */
static char *host_key(const char *url)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *hostname = NULL, *port = NULL, *key = NULL;
    if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK) {
        curl_url_get(u, CURLUPART_HOST, &hostname, 0);
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT);
        key = sub_xasprintf("%s://%s:%s", scheme, hostname ? hostname : "", port ? port : "");
    }
    curl_free(scheme);
    curl_free(hostname);
    curl_free(port);
    curl_url_cleanup(u);
    return key ? key : sub_xstrdup(url);
}

static host_t *host_get(sub_http_fetch_t *f, const char *url)
{
    char *key = host_key(url);
    for (size_t i = 0; i < f->n_hosts; i++) {
        if (strcmp(f->hosts[i]->key, key) == 0) {
            free(key);
            return f->hosts[i];
        }
    }
    host_t *h = sub_xmalloc(sizeof *h);
    memset(h, 0, sizeof *h);
    h->key = key;
    f->hosts = sub_xrealloc(f->hosts, (f->n_hosts + 1) * sizeof *f->hosts);
    f->hosts[f->n_hosts++] = h;
    return h;
}

/* Queues j for a transfer of its current URL. */
static void enqueue_transfer(sub_http_fetch_t *f, job_t *j)
{
    j->host = host_get(f, j->urls[j->idx].url);
    queue_push(&j->host->head, &j->host->tail, j);
}

/* ------------------------------------------------------------------------------------- */
/* Jobs                                                                                   */
/* ------------------------------------------------------------------------------------- */

/* Absolute, not a directory, and no "." or ".." segment. */
static bool target_ok(const char *t)
{
    size_t n = strlen(t);
    if (n < 2 || t[0] != '/' || t[n - 1] == '/' || strstr(t, "/../") || strstr(t, "/./"))
        return false;
    return !(n >= 3 && strcmp(t + n - 3, "/..") == 0) && !(strcmp(t + n - 2, "/.") == 0);
}

static bool job_ok(const sub_http_job_t *job, sub_error_t *err)
{
    if (!job->urls || job->n_urls == 0)
        return sub_error_set(err, SUB_E_CONFIG, 0, "http fetch job %" PRIu64 ": no URL", job->id);
    for (size_t i = 0; i < job->n_urls; i++)
        if (!job->urls[i].url || !job->urls[i].url[0])
            return sub_error_set(err, SUB_E_CONFIG, 0, "http fetch job %" PRIu64 ": empty URL",
                                 job->id);
    if (!job->target || !target_ok(job->target))
        return sub_error_set(err, SUB_E_CONFIG, 0,
                             "http fetch job %" PRIu64 ": target %s is not a clean absolute path",
                             job->id, job->target ? job->target : "(null)");
    return true;
}

static job_t *job_new(sub_http_fetch_t *f, const sub_http_job_t *in)
{
    job_t *j = sub_xmalloc(sizeof *j);
    memset(j, 0, sizeof *j);
    j->eng = f;
    j->id = in->id;
    j->ptr = in->ptr;
    j->n_urls = in->n_urls;
    j->urls = sub_xmalloc(in->n_urls * sizeof *j->urls);
    for (size_t i = 0; i < in->n_urls; i++) {
        j->urls[i].url = sub_xstrdup(in->urls[i].url);
        j->urls[i].md5 = in->urls[i].md5 ? sub_xstrdup(in->urls[i].md5) : NULL;
    }
    j->target = sub_xstrdup(in->target);
    j->fd = -1;
    j->retry_after = -1;
    return j;
}

static void job_free(job_t *j)
{
    if (!j)
        return;
    for (size_t i = 0; i < j->n_urls; i++) {
        free((char *)j->urls[i].url);
        free((char *)j->urls[i].md5);
    }
    free(j->urls);
    free(j->target);
    free(j->tmp);
    EVP_MD_CTX_free(j->md);
    free(j);
}

/* Records the verdict of the current attempt. */
static void job_verdict(job_t *j, sub_http_outcome_t outcome, const char *reason, const char *fmt,
                        ...) __attribute__((format(printf, 4, 5)));

static void job_verdict(job_t *j, sub_http_outcome_t outcome, const char *reason, const char *fmt,
                        ...)
{
    va_list ap;
    j->outcome = outcome;
    j->reason = reason;
    va_start(ap, fmt);
    vsnprintf(j->msg, sizeof j->msg, fmt, ap);
    va_end(ap);
    sub_log_scrub(j->msg, sizeof j->msg);
}

/* Inside a libcurl callback: stop the transfer with this verdict. */
#define CALLBACK_FAIL(j, outcome, reason, ...)              \
    do {                                                    \
        job_verdict((j), (outcome), (reason), __VA_ARGS__); \
        (j)->failed = true;                                 \
        return 0;                                           \
    } while (0)

/* Hands the job's verdict to the caller and frees the job. */
static void report(sub_http_fetch_t *f, job_t *j)
{
    sub_http_result_t r = {
        .id = j->id,
        .ptr = j->ptr,
        .target = j->target,
        .outcome = j->outcome,
        .reason = j->reason ? j->reason : "network",
        .status = j->status,
        .retry_after = j->retry_after,
        .bytes = j->bytes,
        .url = j->started ? j->urls[j->idx].url : NULL,
        .url_index = j->idx,
        .info = j->info,
        .message = j->msg,
    };
    f->pending--;
    f->on_done(f->ctx, &r);
    job_free(j);
}

/* ------------------------------------------------------------------------------------- */
/* Local files                                                                            */
/* ------------------------------------------------------------------------------------- */

/* Creates the parent directories of path (0755 for new ones). */
static bool make_parents(const char *path, char *msg, size_t size)
{
    char *p = sub_xstrdup(path);
    bool ok = true;
    for (char *s = strchr(p + 1, '/'); s && ok; s = strchr(s + 1, '/')) {
        *s = '\0';
        if (mkdir(p, 0755) != 0 && errno != EEXIST) {
            snprintf(msg, size, "mkdir %s: %s", p, strerror(errno));
            ok = false;
        }
        *s = '/';
    }
    free(p);
    return ok;
}

static uint64_t next_rand(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* "<dir>/.<basename>.part-<random>", created with O_EXCL, in j->tmp and j->fd. */
static bool tmp_open(sub_http_fetch_t *f, job_t *j)
{
    const char *slash = strrchr(j->target, '/');
    int dlen = (int)(slash - j->target);
    char why[SUB_ERROR_MSG_SIZE];
    if (!make_parents(j->target, why, sizeof why)) {
        job_verdict(j, SUB_HTTP_TRANSIENT, "io", "%s", why);
        return false;
    }
    for (int tries = 0; tries < 16; tries++) {
        free(j->tmp);
        j->tmp = sub_xasprintf("%.*s/.%s.part-%08" PRIx64, dlen, j->target, slash + 1,
                               next_rand(&f->rng) & 0xffffffffu);
        j->fd = open(j->tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (j->fd >= 0 || errno != EEXIST)
            break;
    }
    if (j->fd >= 0)
        return true;
    job_verdict(j, SUB_HTTP_TRANSIENT, "io", "create %s: %s", j->tmp, strerror(errno));
    free(j->tmp);
    j->tmp = NULL;
    return false;
}

/* Closes the temporary file and, unless it was renamed into place, removes it. */
static void tmp_discard(job_t *j)
{
    if (j->fd >= 0)
        close(j->fd);
    j->fd = -1;
    if (j->tmp)
        unlink(j->tmp);
    free(j->tmp);
    j->tmp = NULL;
}

static bool write_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return false;
        data += n;
        len -= (size_t)n;
    }
    return true;
}

/* Why sub_image_verify() or sub_image_claims() refused a file, as a verdict. */
static void refuse_image(job_t *j, const sub_error_t *e, const char *url)
{
    if (e) {
        bool big = e->cause == SUB_IMAGE_E_TOO_LARGE;
        job_verdict(j, SUB_HTTP_PERMANENT, big ? "too_large" : "not_image", "GET %s: %s", url,
                    e->msg);
        return;
    }
    const char *want = sub_image_mime_for_path(j->target);
    bool jpeg = want && strcmp(want, "image/jpeg") == 0;
    bool ph = jpeg && (j->info.type == SUB_IMAGE_PNG || j->info.type == SUB_IMAGE_GIF);
    job_verdict(j, SUB_HTTP_PERMANENT, ph ? "placeholder" : "type_mismatch",
                "GET %s: a %s image, but %s claims %s", url, sub_image_type_name(j->info.type),
                j->target, want ? want : "no image type");
    memset(&j->info, 0, sizeof j->info);
}

/* Verifies the open file fd of the given size as an image that j->target's name claims;
 * fills j->info. On failure *e says why (NULL when only the claim failed). */
static bool verify_fd(const sub_http_fetch_t *f, job_t *j, int fd, int64_t size,
                      const sub_error_t **why, sub_error_t *e)
{
    sub_image_limits_t lim = {.max_pixels = f->o.max_pixels, .max_bytes = (size_t)f->o.max_bytes};
    *why = e;
    if (size > f->o.max_bytes)
        return sub_error_set(e, SUB_E_INPUT, SUB_IMAGE_E_TOO_LARGE,
                             "%" PRId64 " bytes, over the limit of %" PRId64, size, f->o.max_bytes);
    if (size == 0)
        return sub_error_set(e, SUB_E_INPUT, SUB_IMAGE_E_NOT_IMAGE, "not an image: empty body");
    void *map = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED)
        return sub_error_set(e, SUB_E_IO, errno, "mmap: %s", strerror(errno));
    bool ok = sub_image_verify(map, (size_t)size, &lim, &j->info, e);
    munmap(map, (size_t)size);
    if (ok && !sub_image_claims(j->target, &j->info)) {
        *why = NULL;
        return false;
    }
    return ok;
}

/* The target holds a file that verifies: the job is done without a request. */
static bool already_present(const sub_http_fetch_t *f, job_t *j)
{
    struct stat st;
    const sub_error_t *why;
    sub_error_t e = {0};
    int fd = open(j->target, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    bool ok = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
              verify_fd(f, j, fd, (int64_t)st.st_size, &why, &e);
    close(fd);
    if (!ok) {
        memset(&j->info, 0, sizeof j->info);
        SUB_LOG(SUB_LOG_DEBUG, "%s exists but does not verify; downloading it again", j->target);
        return false;
    }
    j->bytes = (int64_t)st.st_size;
    job_verdict(j, SUB_HTTP_OK, "present", "%s", "");
    return true;
}

/* ------------------------------------------------------------------------------------- */
/* libcurl callbacks                                                                      */
/* ------------------------------------------------------------------------------------- */

static bool is_file_url(const char *url)
{
    return strncasecmp(url, "file:", 5) == 0;
}

/* A URL (absolute or relative) that Flickr uses for "this photo is no longer available". */
static bool is_placeholder_url(const char *u)
{
    if (strstr(u, "photo_unavailable"))
        return true;
    const char *h = strstr(u, "://");
    if (!h)
        return false;
    h += 3;
    size_t n = strcspn(h, "/:?#\r\n ");
    return n == 10 && strncasecmp(h, "s.yimg.com", 10) == 0;
}

/* Refuses a redirect to a placeholder before it is followed. */
static size_t header_cb(char *data, size_t size, size_t n, void *ctx)
{
    job_t *j = ctx;
    size_t len = size * n;
    long status = 0;
    if (len < 9 || strncasecmp(data, "location:", 9) != 0)
        return len;
    curl_easy_getinfo(j->h, CURLINFO_RESPONSE_CODE, &status);
    char *loc = sub_xstrndup(data + 9, len - 9);
    bool ph = status >= 300 && status < 400 && is_placeholder_url(loc);
    free(loc);
    if (ph) {
        j->status = status;
        CALLBACK_FAIL(j, SUB_HTTP_PERMANENT, "placeholder", "GET %s: redirected to a placeholder",
                      j->urls[j->idx].url);
    }
    return len;
}

/* On the first body byte: decide whether the body is the file, and open the temp file. */
static bool begin_body(sub_http_fetch_t *f, job_t *j)
{
    const char *url = j->urls[j->idx].url, *eff = NULL;
    long status = 0;
    curl_off_t cl = -1;
    j->body = true;
    curl_easy_getinfo(j->h, CURLINFO_RESPONSE_CODE, &status);
    if (!is_file_url(url) && status != 200) {
        j->discard = true; /* an error page: classified by its status when done */
        return true;
    }
    curl_easy_getinfo(j->h, CURLINFO_EFFECTIVE_URL, &eff);
    if (eff && strcmp(eff, url) != 0 && is_placeholder_url(eff)) {
        job_verdict(j, SUB_HTTP_PERMANENT, "placeholder", "GET %s: redirected to %s", url, eff);
        return false;
    }
    curl_easy_getinfo(j->h, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
    if (cl > f->o.max_bytes) {
        job_verdict(j, SUB_HTTP_PERMANENT, "too_large",
                    "GET %s: %" PRId64 " bytes, over the limit of %" PRId64, url, (int64_t)cl,
                    f->o.max_bytes);
        return false;
    }
    if (j->urls[j->idx].md5 &&
        (!(j->md = EVP_MD_CTX_new()) || !EVP_DigestInit_ex(j->md, EVP_md5(), NULL))) {
        job_verdict(j, SUB_HTTP_TRANSIENT, "io", "GET %s: cannot start an MD5 digest", url);
        return false;
    }
    return tmp_open(f, j);
}

static size_t write_cb(char *data, size_t size, size_t n, void *ctx)
{
    job_t *j = ctx;
    sub_http_fetch_t *f = j->eng;
    size_t len = size * n;
    if (!j->body && !begin_body(f, j)) {
        j->failed = true;
        return 0;
    }
    if (j->discard)
        return len;
    if (j->bytes + (int64_t)len > f->o.max_bytes)
        CALLBACK_FAIL(j, SUB_HTTP_PERMANENT, "too_large", "GET %s: body over the limit of %" PRId64,
                      j->urls[j->idx].url, f->o.max_bytes);
    if (!write_all(j->fd, data, len))
        CALLBACK_FAIL(j, SUB_HTTP_TRANSIENT, "io", "write %s: %s", j->tmp, strerror(errno));
    if (j->md)
        EVP_DigestUpdate(j->md, data, len);
    j->bytes += (int64_t)len;
    return len;
}

/* ------------------------------------------------------------------------------------- */
/* Easy handles                                                                           */
/* ------------------------------------------------------------------------------------- */

static CURL *easy_get(sub_http_fetch_t *f)
{
    if (f->n_idle > 0) {
        CURL *h = f->idle[--f->n_idle];
        curl_easy_reset(h);
        return h;
    }
    return curl_easy_init();
}

static void easy_put(sub_http_fetch_t *f, CURL *h)
{
    if (!h)
        return;
    if (f->n_idle < f->o.max_total)
        f->idle[f->n_idle++] = h;
    else
        curl_easy_cleanup(h);
}

/* Every option of a transfer. Peer and host verification stay at libcurl's default: on.
 * The job is the callbacks' context and CURLOPT_PRIVATE. A size cap is not passed as
 * CURLOPT_MAXFILESIZE: it would also apply to error pages; begin_body() and write_cb()
 * check it on the bodies that count. */
static void easy_setup(sub_http_fetch_t *f, job_t *j)
{
    CURL *h = j->h;
    curl_easy_setopt(h, CURLOPT_URL, j->urls[j->idx].url);
    curl_easy_setopt(h, CURLOPT_PRIVATE, (char *)j);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, j->errbuf);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https,file");
    curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, f->o.max_redirects > 0 ? 1L : 0L);
    curl_easy_setopt(h, CURLOPT_MAXREDIRS, (long)f->o.max_redirects);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    curl_easy_setopt(h, CURLOPT_PIPEWAIT, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)f->o.connect_timeout_ms);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, (long)f->o.low_speed_bytes);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, (long)f->o.low_speed_secs);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)f->o.timeout_ms);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "subsetter/" SUBSETTER_VERSION);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, j);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, j);
    sub_curl_ca_from_env(h);
}

/* Clears what one attempt left in the job, for the next URL. */
static void attempt_reset(job_t *j)
{
    EVP_MD_CTX_free(j->md);
    j->md = NULL;
    j->bytes = 0;
    j->body = j->discard = j->failed = false;
    j->errbuf[0] = '\0';
    j->status = 0;
    j->retry_after = -1;
    j->reason = NULL;
    j->msg[0] = '\0';
    memset(&j->info, 0, sizeof j->info);
}

static bool start_transfer(sub_http_fetch_t *f, job_t *j)
{
    attempt_reset(j);
    j->h = easy_get(f);
    if (!j->h) {
        job_verdict(j, SUB_HTTP_TRANSIENT, "network", "GET %s: curl_easy_init failed",
                    j->urls[j->idx].url);
        return false;
    }
    easy_setup(f, j);
    CURLMcode mc = curl_multi_add_handle(f->multi, j->h);
    if (mc != CURLM_OK) {
        job_verdict(j, SUB_HTTP_TRANSIENT, "network", "GET %s: %s", j->urls[j->idx].url,
                    curl_multi_strerror(mc));
        easy_put(f, j->h);
        j->h = NULL;
        return false;
    }
    f->active[f->n_active++] = j;
    j->host->active++;
    j->started = true;
    return true;
}

/* Takes j off the multi handle and the active list; its easy handle goes back to the pool. */
static void stop_transfer(sub_http_fetch_t *f, job_t *j)
{
    for (int i = 0; i < f->n_active; i++) {
        if (f->active[i] == j) {
            f->active[i] = f->active[--f->n_active];
            break;
        }
    }
    j->host->active--;
    curl_multi_remove_handle(f->multi, j->h);
    easy_put(f, j->h);
    j->h = NULL;
}

/* ------------------------------------------------------------------------------------- */
/* Classifying a finished transfer                                                        */
/* ------------------------------------------------------------------------------------- */

/* libcurl failures that are not "network" (transient). */
static const struct {
    CURLcode rc;
    sub_http_outcome_t outcome;
    const char *reason;
} curl_reasons[] = {
    {CURLE_OPERATION_TIMEDOUT, SUB_HTTP_TRANSIENT, "timeout"},
    {CURLE_COULDNT_CONNECT, SUB_HTTP_TRANSIENT, "connect"},
    {CURLE_COULDNT_RESOLVE_HOST, SUB_HTTP_TRANSIENT, "connect"},
    {CURLE_SEND_ERROR, SUB_HTTP_TRANSIENT, "reset"},
    {CURLE_RECV_ERROR, SUB_HTTP_TRANSIENT, "reset"},
    {CURLE_GOT_NOTHING, SUB_HTTP_TRANSIENT, "reset"},
    {CURLE_PARTIAL_FILE, SUB_HTTP_TRANSIENT, "truncated"},
    {CURLE_SSL_CONNECT_ERROR, SUB_HTTP_TRANSIENT, "tls"},
    {CURLE_PEER_FAILED_VERIFICATION, SUB_HTTP_PERMANENT, "tls"},
    {CURLE_SSL_CACERT_BADFILE, SUB_HTTP_PERMANENT, "tls"},
    {CURLE_FILESIZE_EXCEEDED, SUB_HTTP_PERMANENT, "too_large"},
    {CURLE_TOO_MANY_REDIRECTS, SUB_HTTP_PERMANENT, "redirects"},
    {CURLE_FILE_COULDNT_READ_FILE, SUB_HTTP_PERMANENT, "not_found"},
    {CURLE_UNSUPPORTED_PROTOCOL, SUB_HTTP_PERMANENT, "bad_url"},
    {CURLE_URL_MALFORMAT, SUB_HTTP_PERMANENT, "bad_url"},
};

static void classify_curl(job_t *j, CURLcode rc)
{
    const char *why = j->errbuf[0] ? j->errbuf : curl_easy_strerror(rc);
    sub_http_outcome_t o = SUB_HTTP_TRANSIENT;
    const char *r = "network";
    for (size_t i = 0; i < sizeof curl_reasons / sizeof curl_reasons[0]; i++) {
        if (curl_reasons[i].rc == rc) {
            o = curl_reasons[i].outcome;
            r = curl_reasons[i].reason;
        }
    }
    job_verdict(j, o, r, "GET %s: %s", j->urls[j->idx].url, why);
}

/* 408, 429 and 5xx may pass; any other status but 200 is final. */
static void classify_status(job_t *j)
{
    long s = j->status;
    bool transient = s == 408 || s == 429 || (s >= 500 && s <= 599);
    snprintf(j->reason_buf, sizeof j->reason_buf, "http_%ld", s);
    job_verdict(j, transient ? SUB_HTTP_TRANSIENT : SUB_HTTP_PERMANENT, j->reason_buf,
                "GET %s: HTTP %ld", j->urls[j->idx].url, s);
}

static void read_response(job_t *j)
{
    curl_off_t after = -1;
    struct curl_header *hd = NULL;
    if (j->status == 0)
        curl_easy_getinfo(j->h, CURLINFO_RESPONSE_CODE, &j->status);
    if (curl_easy_header(j->h, "Retry-After", 0, CURLH_HEADER, -1, &hd) == CURLHE_OK &&
        curl_easy_getinfo(j->h, CURLINFO_RETRY_AFTER, &after) == CURLE_OK && after >= 0)
        j->retry_after = (int64_t)after;
}

/* Room for the base64 of any digest EVP can produce, and its NUL. */
#define B64_DIGEST_SIZE (4 * ((EVP_MAX_MD_SIZE + 2) / 3) + 1)

/* The MD5 of the body equals the URL's expected one; got receives the base64 of it. */
static bool md5_matches(job_t *j, char got[B64_DIGEST_SIZE])
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    got[0] = '\0';
    if (!EVP_DigestFinal_ex(j->md, d, &n))
        return false;
    EVP_EncodeBlock((unsigned char *)got, d, (int)n);
    return strcmp(got, j->urls[j->idx].md5) == 0;
}

/* The body is complete: fsync, verify, check the MD5, rename into place. */
static void accept_file(sub_http_fetch_t *f, job_t *j)
{
    const char *url = j->urls[j->idx].url;
    const sub_error_t *why = NULL;
    sub_error_t e = {0};
    char got[B64_DIGEST_SIZE];
    if (j->fd < 0) /* an empty body: the temp file was never opened */
        return job_verdict(j, SUB_HTTP_PERMANENT, "not_image", "GET %s: empty body", url);
    if (fsync(j->fd) != 0)
        return job_verdict(j, SUB_HTTP_TRANSIENT, "io", "fsync %s: %s", j->tmp, strerror(errno));
    if (!verify_fd(f, j, j->fd, j->bytes, &why, &e))
        return refuse_image(j, why, url);
    if (j->md && !md5_matches(j, got))
        return job_verdict(j, SUB_HTTP_PERMANENT, "md5_mismatch", "GET %s: MD5 %s, expected %s",
                           url, got, j->urls[j->idx].md5);
    if (rename(j->tmp, j->target) != 0)
        return job_verdict(j, SUB_HTTP_TRANSIENT, "io", "rename %s to %s: %s", j->tmp, j->target,
                           strerror(errno));
    free(j->tmp); /* renamed: nothing to remove */
    j->tmp = NULL;
    job_verdict(j, SUB_HTTP_OK, "ok", "%s", "");
}

/* Classifies a finished transfer into j's verdict. */
static void judge(sub_http_fetch_t *f, job_t *j, CURLcode rc)
{
    read_response(j);
    if (j->failed)
        return; /* a callback already gave the verdict */
    if (rc != CURLE_OK)
        return classify_curl(j, rc);
    if (!is_file_url(j->urls[j->idx].url) && j->status != 200)
        return classify_status(j);
    accept_file(f, j);
    if (j->outcome != SUB_HTTP_OK)
        memset(&j->info, 0, sizeof j->info);
}

/* After a verdict: report the job, or try its next URL. */
static void conclude(sub_http_fetch_t *f, job_t *j)
{
    tmp_discard(j);
    if (j->outcome == SUB_HTTP_PERMANENT && j->idx + 1 < j->n_urls) {
        SUB_LOG(SUB_LOG_DEBUG, "%s; trying the next URL", j->msg);
        j->idx++;
        j->started = false;
        enqueue_transfer(f, j);
        return;
    }
    report(f, j);
}

static void drain_done(sub_http_fetch_t *f)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(f->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        job_t *j = NULL;
        CURLcode rc = m->data.result;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&j);
        if (!j)
            continue;
        judge(f, j, rc);
        stop_transfer(f, j);
        conclude(f, j);
    }
}

/* ------------------------------------------------------------------------------------- */
/* Scheduling                                                                             */
/* ------------------------------------------------------------------------------------- */

/* New jobs: done at once when the file is there, else queued for their host. Returns
 * whether jobs remain to be checked. */
static bool run_checks(sub_http_fetch_t *f)
{
    for (int i = 0; i < CHECKS_PER_TURN; i++) {
        job_t *j = queue_pop(&f->check_head, &f->check_tail);
        if (!j)
            return false;
        if (already_present(f, j))
            report(f, j);
        else
            enqueue_transfer(f, j);
    }
    return f->check_head != NULL;
}

/* Starts queued transfers, serving hosts round-robin, within both limits. */
static void start_ready(sub_http_fetch_t *f)
{
    bool started = true;
    while (started && f->n_active < f->o.max_total) {
        started = false;
        for (size_t k = 0; k < f->n_hosts && f->n_active < f->o.max_total; k++) {
            host_t *h = f->hosts[(f->rr + k) % f->n_hosts];
            if (!h->head || h->active >= f->o.max_per_host)
                continue;
            job_t *j = queue_pop(&h->head, &h->tail);
            if (start_transfer(f, j))
                started = true;
            else
                report(f, j);
        }
        f->rr = f->n_hosts ? (f->rr + 1) % f->n_hosts : 0;
    }
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------------------------------- */
/* Public                                                                                 */
/* ------------------------------------------------------------------------------------- */

static bool multi_setup(sub_http_fetch_t *f, sub_error_t *err)
{
    f->multi = curl_multi_init();
    if (!f->multi)
        return sub_error_set(err, SUB_E_INTERNAL, 0, "curl_multi_init failed");
    curl_multi_setopt(f->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
    curl_multi_setopt(f->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)f->o.max_per_host);
    curl_multi_setopt(f->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)f->o.max_total);
    curl_multi_setopt(f->multi, CURLMOPT_MAXCONNECTS, (long)f->o.max_total);
    return true;
}

sub_http_fetch_t *sub_http_fetch_new(const sub_http_fetch_opts_t *opts, sub_http_done_fn on_done,
                                     void *ctx, sub_error_t *err)
{
    sub_http_fetch_opts_t o = resolve_opts(opts);
    if (!on_done) {
        sub_error_set(err, SUB_E_CONFIG, 0, "http fetch: no on_done callback");
        return NULL;
    }
    if (!check_opts(&o, err))
        return NULL;
    sub_http_fetch_t *f = sub_xmalloc(sizeof *f);
    memset(f, 0, sizeof *f);
    f->o = o;
    f->on_done = on_done;
    f->ctx = ctx;
    f->idle = sub_xmalloc((size_t)o.max_total * sizeof *f->idle);
    f->active = sub_xmalloc((size_t)o.max_total * sizeof *f->active);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    f->rng = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^ ((uint64_t)getpid() << 40) ^
             (uint64_t)(uintptr_t)f;
    f->rng = f->rng ? f->rng : 0x9e3779b97f4a7c15u;
    if (!multi_setup(f, err)) {
        sub_http_fetch_free(f);
        return NULL;
    }
    return f;
}

bool sub_http_fetch_add(sub_http_fetch_t *f, const sub_http_job_t *job, sub_error_t *err)
{
    if (!job_ok(job, err))
        return false;
    job_t *j = job_new(f, job);
    queue_push(&f->check_head, &f->check_tail, j);
    f->pending++;
    return true;
}

size_t sub_http_fetch_pending(const sub_http_fetch_t *f)
{
    return f->pending;
}

bool sub_http_fetch_run(sub_http_fetch_t *f, int timeout_ms, sub_error_t *err)
{
    int64_t deadline = now_ms() + timeout_ms;
    for (;;) {
        bool more_checks = run_checks(f);
        start_ready(f);
        int running = 0;
        CURLMcode mc = curl_multi_perform(f->multi, &running);
        if (mc != CURLM_OK)
            return sub_error_set(err, SUB_E_INTERNAL, (int)mc, "curl_multi_perform: %s",
                                 curl_multi_strerror(mc));
        drain_done(f);
        if (f->pending == 0)
            return true;
        int64_t left = timeout_ms < 0 ? POLL_SLICE_MS : deadline - now_ms();
        if (left <= 0)
            return true;
        if (more_checks || f->check_head)
            continue;
        int wait = (int)(left < POLL_SLICE_MS ? left : POLL_SLICE_MS);
        mc = curl_multi_poll(f->multi, NULL, 0, wait, NULL);
        if (mc != CURLM_OK)
            return sub_error_set(err, SUB_E_INTERNAL, (int)mc, "curl_multi_poll: %s",
                                 curl_multi_strerror(mc));
    }
}

static void cancel_verdict(job_t *j)
{
    job_verdict(j, SUB_HTTP_TRANSIENT, "cancelled", "%s: cancelled", j->target);
    memset(&j->info, 0, sizeof j->info);
}

/* Moves every pending job to one list: transfers stopped, temporary files removed. */
static job_t *take_all(sub_http_fetch_t *f)
{
    job_t *head = NULL, *tail = NULL, *j;
    while (f->n_active > 0) {
        j = f->active[f->n_active - 1];
        read_response(j);
        stop_transfer(f, j);
        tmp_discard(j);
        queue_push(&head, &tail, j);
    }
    while ((j = queue_pop(&f->check_head, &f->check_tail)))
        queue_push(&head, &tail, j);
    for (size_t i = 0; i < f->n_hosts; i++)
        while ((j = queue_pop(&f->hosts[i]->head, &f->hosts[i]->tail)))
            queue_push(&head, &tail, j);
    return head;
}

void sub_http_fetch_cancel_all(sub_http_fetch_t *f)
{
    job_t *j = take_all(f), *next;
    for (; j; j = next) {
        next = j->next;
        cancel_verdict(j);
        report(f, j);
    }
}

void sub_http_fetch_free(sub_http_fetch_t *f)
{
    if (!f)
        return;
    sub_http_fetch_cancel_all(f);
    for (job_t *j = take_all(f), *next; j; j = next) { /* added by callbacks meanwhile */
        next = j->next;
        job_free(j);
    }
    while (f->n_idle > 0)
        curl_easy_cleanup(f->idle[--f->n_idle]);
    if (f->multi)
        curl_multi_cleanup(f->multi);
    for (size_t i = 0; i < f->n_hosts; i++) {
        free(f->hosts[i]->key);
        free(f->hosts[i]);
    }
    free(f->hosts);
    free(f->idle);
    free(f->active);
    free(f);
}

const char *sub_http_outcome_name(sub_http_outcome_t o)
{
    switch (o) {
    case SUB_HTTP_OK:
        return "ok";
    case SUB_HTTP_TRANSIENT:
        return "transient";
    case SUB_HTTP_PERMANENT:
        return "permanent";
    }
    return "unknown";
}
