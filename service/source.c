#define SUB_LOG_DOMAIN "source"
/* source.c - where a source lives (a local directory or the cache path of a URL), local
 * files, sha256, and the subsetter.sources documents. Downloads are download.c's. */
#include "subsetter/source.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "source_int.h"
#include "subsetter/log.h"
#include "subsetter/strutil.h"

#define HASH_BLOCK (1 << 20)

/* ------------------------------------------------------------------------------------- */
/* Small helpers                                                                          */
/* ------------------------------------------------------------------------------------- */

/* "what path: no space left on device": strerror with our lowercase first letter. */
bool sub_source_sys_error(sub_error_t *err, int e, const char *what, const char *path)
{
    char text[128];
    if (strerror_r(e, text, sizeof text) != 0)
        snprintf(text, sizeof text, "error %d", e);
    text[0] = (char)tolower((unsigned char)text[0]);
    return sub_error_set(err, SUB_E_IO, e, "%s %s: %s", what, path, text);
}

int64_t sub_source_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool is_http(const char *s)
{
    return strncasecmp(s, "http://", 7) == 0 || strncasecmp(s, "https://", 8) == 0;
}

/* ------------------------------------------------------------------------------------- */
/* Where a source lives                                                                   */
/* ------------------------------------------------------------------------------------- */

/* A relative path that stays under the directory it is joined to: non-empty segments,
 * none "." or "..", no leading "/", no backslash and no control character. */
static bool check_rel(const char *what, const char *rel, sub_error_t *err)
{
    if (!rel || !*rel)
        return sub_error_set(err, SUB_E_CONFIG, 0, "%s is empty", what);
    if (rel[0] == '/')
        return sub_error_set(err, SUB_E_CONFIG, 0, "%s '%s' is absolute; want a relative path",
                             what, rel);
    for (const unsigned char *p = (const unsigned char *)rel; *p; p++)
        if (*p == '\\' || *p < 0x20 || *p == 0x7f)
            return sub_error_set(err, SUB_E_CONFIG, 0,
                                 "%s '%s' contains a backslash or a control character", what, rel);
    for (const char *seg = rel;;) {
        size_t n = strcspn(seg, "/");
        if (n == 0 || (n == 1 && seg[0] == '.') || (n == 2 && seg[0] == '.' && seg[1] == '.'))
            return sub_error_set(err, SUB_E_CONFIG, 0,
                                 "%s '%s' has an empty, \".\" or \"..\" segment", what, rel);
        if (!seg[n])
            return true;
        seg += n + 1;
    }
}

/* rel with every byte outside [A-Za-z0-9-._~/] percent-encoded. Caller frees. */
static char *escape_rel(const char *rel)
{
    static const char hex[] = "0123456789ABCDEF";
    char *out = sub_xmalloc(strlen(rel) * 3 + 1), *o = out;
    for (const unsigned char *p = (const unsigned char *)rel; *p; p++) {
        if (isalnum(*p) || strchr("-._~/", *p)) {
            *o++ = (char)*p;
        } else {
            *o++ = '%';
            *o++ = hex[*p >> 4];
            *o++ = hex[*p & 15];
        }
    }
    *o = '\0';
    return out;
}

/* The directory a local base names, absolute, without trailing slashes. Caller frees. */
static bool local_dir(const char *base, char **dir, sub_error_t *err)
{
    char *p = NULL;
    if (strncasecmp(base, "file:", 5) == 0) {
        CURLU *u = curl_url();
        CURLUcode uc = curl_url_set(u, CURLUPART_URL, base, 0);
        if (!uc)
            uc = curl_url_get(u, CURLUPART_PATH, &p, CURLU_URLDECODE);
        curl_url_cleanup(u);
        if (uc)
            return sub_error_set(err, SUB_E_CONFIG, (int)uc, "source base '%s': %s", base,
                                 curl_url_strerror(uc));
        *dir = sub_xstrdup(p);
        curl_free(p);
    } else if (strstr(base, "://")) {
        return sub_error_set(err, SUB_E_CONFIG, 0,
                             "source base '%s': unsupported scheme (want http://, https://, "
                             "file:// or a directory)",
                             base);
    } else if (base[0] == '/') {
        *dir = sub_xstrdup(base);
    } else {
        char cwd[4096];
        if (!getcwd(cwd, sizeof cwd))
            return sub_source_sys_error(err, errno, "getcwd for source base", base);
        while (base[0] == '.' && base[1] == '/')
            base += 2;
        *dir = strcmp(base, ".") == 0 ? sub_xstrdup(cwd) : sub_path_join(cwd, base);
    }
    size_t n = strlen(*dir);
    while (n > 1 && (*dir)[n - 1] == '/')
        (*dir)[--n] = '\0';
    return true;
}

/* "<host>[_<port>]", lowercase, and the decoded base path without outer slashes. */
static bool remote_parts(CURLU *u, const char *base, char **hostdir, char **bpath, char **rawpath,
                         sub_error_t *err)
{
    char *user = NULL, *query = NULL, *frag = NULL, *host = NULL, *port = NULL, *dec = NULL;
    bool ok = false;
    if (!curl_url_get(u, CURLUPART_USER, &user, 0) ||
        !curl_url_get(u, CURLUPART_QUERY, &query, 0) ||
        !curl_url_get(u, CURLUPART_FRAGMENT, &frag, 0)) {
        sub_error_set(err, SUB_E_CONFIG, 0,
                      "source base '%s': credentials, a query or a fragment are not supported",
                      base);
        goto out;
    }
    CURLUcode uc = curl_url_get(u, CURLUPART_HOST, &host, 0);
    if (!uc)
        uc = curl_url_get(u, CURLUPART_PATH, rawpath, 0);
    if (!uc)
        uc = curl_url_get(u, CURLUPART_PATH, &dec, CURLU_URLDECODE);
    if (uc) {
        sub_error_set(err, SUB_E_CONFIG, (int)uc, "source base '%s': %s", base,
                      curl_url_strerror(uc));
        goto out;
    }
    for (char *c = host; *c; c++)
        *c = (char)tolower((unsigned char)*c);
    if (!*host || strcmp(host, ".") == 0 || strcmp(host, "..") == 0 || strchr(host, '/')) {
        sub_error_set(err, SUB_E_CONFIG, 0, "source base '%s': unusable host name", base);
        goto out;
    }
    bool has_port = !curl_url_get(u, CURLUPART_PORT, &port, CURLU_NO_DEFAULT_PORT);
    /* one spelling per URL, as it is a key in subsetter.sources */
    curl_url_set(u, CURLUPART_HOST, host, 0);
    if (!has_port)
        curl_url_set(u, CURLUPART_PORT, NULL, 0);
    *hostdir = has_port ? sub_xasprintf("%s_%s", host, port) : sub_xstrdup(host);
    const char *b = dec;
    while (*b == '/')
        b++;
    size_t n = strlen(b);
    while (n && b[n - 1] == '/')
        n--;
    *bpath = sub_xstrndup(b, n);
    ok = !n || check_rel("source base path", *bpath, err);
out:
    curl_free(user);
    curl_free(query);
    curl_free(frag);
    curl_free(host);
    curl_free(port);
    curl_free(dec);
    return ok;
}

static bool locate_remote(const char *base, const char *rel, const char *cache_dir, char **url,
                          char **path, sub_error_t *err)
{
    if (!cache_dir || !*cache_dir)
        return sub_error_set(err, SUB_E_CONFIG, 0,
                             "source base '%s': no cache directory to download into", base);
    CURLU *u = curl_url();
    char *hostdir = NULL, *bpath = NULL, *rawpath = NULL, *esc = NULL, *full = NULL;
    char *newpath = NULL, *dir = NULL;
    bool ok = false;
    CURLUcode uc = curl_url_set(u, CURLUPART_URL, base, 0);
    if (uc) {
        sub_error_set(err, SUB_E_CONFIG, (int)uc, "source base '%s': %s", base,
                      curl_url_strerror(uc));
        goto out;
    }
    if (!remote_parts(u, base, &hostdir, &bpath, &rawpath, err))
        goto out;
    esc = escape_rel(rel);
    size_t n = strlen(rawpath);
    newpath = sub_xasprintf("%s%s%s", rawpath, n && rawpath[n - 1] == '/' ? "" : "/", esc);
    uc = curl_url_set(u, CURLUPART_PATH, newpath, 0);
    if (!uc)
        uc = curl_url_get(u, CURLUPART_URL, &full, 0);
    if (uc) {
        sub_error_set(err, SUB_E_CONFIG, (int)uc, "source '%s' under '%s': %s", rel, base,
                      curl_url_strerror(uc));
        goto out;
    }
    dir = sub_xasprintf("sources/%s%s%s/%s", hostdir, *bpath ? "/" : "", bpath, rel);
    *url = sub_xstrdup(full);
    *path = sub_path_join(cache_dir, dir);
    ok = true;
out:
    curl_url_cleanup(u);
    curl_free(rawpath);
    curl_free(full);
    free(hostdir);
    free(bpath);
    free(esc);
    free(newpath);
    free(dir);
    return ok;
}

bool sub_source_locate(const char *base, const char *rel, const char *cache_dir, char **url,
                       char **path, sub_error_t *err)
{
    *url = *path = NULL;
    if (!base)
        base = SUB_SOURCE_DEFAULT_BASE;
    if (!*base)
        return sub_error_set(err, SUB_E_CONFIG, 0, "source base is empty");
    if (!check_rel("source path", rel, err))
        return false;
    if (is_http(base))
        return locate_remote(base, rel, cache_dir, url, path, err);
    char *dir = NULL;
    if (!local_dir(base, &dir, err))
        return false;
    *path = sub_path_join(dir, rel);
    *url = sub_xstrdup(*path);
    free(dir);
    return true;
}

/* ------------------------------------------------------------------------------------- */
/* sha256                                                                                 */
/* ------------------------------------------------------------------------------------- */

bool sub_source_sha256_begin(EVP_MD_CTX **md, sub_error_t *err)
{
    if (!*md)
        *md = EVP_MD_CTX_new();
    if (!*md || EVP_DigestInit_ex(*md, EVP_sha256(), NULL) != 1)
        return sub_error_set(err, SUB_E_INTERNAL, 0, "sha256: EVP_DigestInit_ex failed");
    return true;
}

bool sub_source_sha256_end(EVP_MD_CTX *md, char hex[65], sub_error_t *err)
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (EVP_DigestFinal_ex(md, d, &n) != 1 || n != 32)
        return sub_error_set(err, SUB_E_INTERNAL, 0, "sha256: EVP_DigestFinal_ex failed");
    for (unsigned i = 0; i < n; i++)
        snprintf(hex + 2 * i, 3, "%02x", d[i]);
    return true;
}

/* Feeds bytes [0, end) of fd to md, reading 1 MiB at a time; *done counts them. */
bool sub_source_hash_fd(int fd, const char *path, int64_t end, EVP_MD_CTX *md,
                        const sub_source_opts_t *o, int64_t *done, sub_error_t *err)
{
    unsigned char *buf = sub_xmalloc(HASH_BLOCK);
    int64_t last = sub_source_now_ms();
    bool ok = true;
    *done = 0;
    while (ok && *done < end) {
        size_t want = end - *done > HASH_BLOCK ? HASH_BLOCK : (size_t)(end - *done);
        ssize_t n = pread(fd, buf, want, (off_t)*done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            ok = n < 0 ? sub_source_sys_error(err, errno, "read", path)
                       : sub_error_set(err, SUB_E_IO, 0,
                                       "read %s: file shrank to %" PRId64 " bytes", path, *done);
            break;
        }
        EVP_DigestUpdate(md, buf, (size_t)n);
        *done += n;
        if (o && o->progress && sub_source_now_ms() - last >= SUB_SOURCE_PROGRESS_EVERY_MS) {
            last = sub_source_now_ms();
            o->progress(o->progress_ctx, *done, end);
        }
    }
    free(buf);
    return ok;
}

bool sub_source_hash_file(const char *path, const sub_source_opts_t *opts, char hex[65],
                          int64_t *size, sub_error_t *err)
{
    EVP_MD_CTX *md = NULL;
    bool ok = false;
    struct stat st;
    hex[0] = '\0';
    *size = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return sub_source_sys_error(err, errno, "open", path);
    if (fstat(fd, &st) != 0) {
        sub_source_sys_error(err, errno, "stat", path);
        goto out;
    }
    posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    if (!sub_source_sha256_begin(&md, err) ||
        !sub_source_hash_fd(fd, path, st.st_size, md, opts, size, err) ||
        !sub_source_sha256_end(md, hex, err))
        goto out;
    if (opts && opts->progress)
        opts->progress(opts->progress_ctx, *size, *size);
    ok = true;
out:
    EVP_MD_CTX_free(md);
    close(fd);
    return ok;
}

/* ------------------------------------------------------------------------------------- */
/* Fetch: local or remote                                                                 */
/* ------------------------------------------------------------------------------------- */

static bool fetch_local(const char *base, const sub_source_opts_t *o, sub_source_t *out,
                        sub_error_t *err)
{
    struct stat st;
    if (stat(out->path, &st) != 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            return sub_error_set(err, SUB_E_IO, errno, "source file %s not found (base %s)",
                                 out->path, base);
        return sub_source_sys_error(err, errno, "stat", out->path);
    }
    if (!S_ISREG(st.st_mode))
        return sub_error_set(err, SUB_E_IO, 0, "source file %s is not a regular file", out->path);
    int64_t t0 = sub_source_now_ms();
    if (!sub_source_hash_file(out->path, o, out->sha256, &out->size, err))
        return false;
    double secs = (double)(sub_source_now_ms() - t0) / 1000, mib = (double)out->size / (1 << 20);
    SUB_LOG(SUB_LOG_DEBUG, "sha256 %s: %.1f MiB in %.2f s (%.0f MiB/s)", out->path, mib, secs,
            secs > 0 ? mib / secs : 0.0);
    return true;
}

static bool parent_dir(const char *path, sub_error_t *err)
{
    const char *slash = strrchr(path, '/');
    if (!slash || slash == path)
        return true;
    char *dir = sub_xstrndup(path, (size_t)(slash - path));
    bool ok = sub_mkdir_p(dir, err);
    free(dir);
    return ok;
}

bool sub_source_fetch(const char *base, const char *rel, const char *cache_dir,
                      const sub_source_opts_t *opts, sub_source_t *out, sub_error_t *err)
{
    char *url = NULL, *path = NULL;
    bool ok = false;
    memset(out, 0, sizeof *out);
    if (!base)
        base = SUB_SOURCE_DEFAULT_BASE;
    if (!sub_source_locate(base, rel, cache_dir, &url, &path, err))
        return false;
    if (is_http(base)) {
        ok = parent_dir(path, err) && sub_source_download(url, path, opts, out, err);
    } else {
        out->url = url;
        out->path = path;
        url = path = NULL;
        ok = fetch_local(base, opts, out, err);
    }
    if (!out->url) {
        out->url = url;
        out->path = path;
        url = path = NULL;
    }
    free(url);
    free(path);
    return ok;
}

void sub_source_release(sub_source_t *s)
{
    if (!s)
        return;
    free(s->url);
    free(s->path);
    free(s->etag);
    free(s->last_modified);
    memset(s, 0, sizeof *s);
}

/* ------------------------------------------------------------------------------------- */
/* subsetter.sources                                                                      */
/* ------------------------------------------------------------------------------------- */

static void append_str_or_null(bson_t *b, const char *key, const char *v)
{
    if (v)
        BSON_APPEND_UTF8(b, key, v);
    else
        BSON_APPEND_NULL(b, key);
}

void sub_source_record_doc(const sub_source_t *s, const char *dataset, const char *kind,
                           const char *split, const char *state, bson_t *filter, bson_t *update)
{
    bson_t set, child;
    bson_init(filter);
    BSON_APPEND_UTF8(filter, "url", s->url);
    append_str_or_null(filter, "dataset", dataset);
    bson_init(update);
    BSON_APPEND_DOCUMENT_BEGIN(update, "$set", &set);
    if (s->path)
        BSON_APPEND_UTF8(&set, "path", s->path);
    if (s->sha256[0]) {
        BSON_APPEND_INT64(&set, "size", s->size);
        BSON_APPEND_UTF8(&set, "sha256", s->sha256);
    }
    append_str_or_null(&set, "etag", s->etag);
    append_str_or_null(&set, "last_modified", s->last_modified);
    if (kind)
        BSON_APPEND_UTF8(&set, "kind", kind);
    append_str_or_null(&set, "split", split);
    BSON_APPEND_UTF8(&set, "state", state);
    bson_append_document_end(update, &set);
    if (strcmp(state, "failed") != 0) {
        BSON_APPEND_DOCUMENT_BEGIN(update, "$unset", &child);
        BSON_APPEND_UTF8(&child, "error", "");
        bson_append_document_end(update, &child);
    }
    BSON_APPEND_DOCUMENT_BEGIN(update, "$currentDate", &child);
    BSON_APPEND_BOOL(&child, "updated_at", true);
    bson_append_document_end(update, &child);
}

static bool upsert(sub_db_t *db, const bson_t *filter, const bson_t *update, const char *url,
                   sub_error_t *err)
{
    mongoc_collection_t *coll = mongoc_database_get_collection(db->db, "subsetter.sources");
    bson_t *opts = BCON_NEW("upsert", BCON_BOOL(true));
    bson_error_t be;
    bool ok = mongoc_collection_update_one(coll, filter, update, opts, NULL, &be);
    if (!ok) {
        char *what = sub_xasprintf("record source %s in subsetter.sources", url);
        sub_db_error(&be, what, err);
        free(what);
    }
    bson_destroy(opts);
    mongoc_collection_destroy(coll);
    return ok;
}

bool sub_source_record(sub_db_t *db, const sub_source_t *s, const char *dataset, const char *kind,
                       const char *split, const char *state, sub_error_t *err)
{
    bson_t filter, update;
    sub_source_record_doc(s, dataset, kind, split, state, &filter, &update);
    bool ok = upsert(db, &filter, &update, s->url, err);
    bson_destroy(&filter);
    bson_destroy(&update);
    return ok;
}

bool sub_source_record_error(sub_db_t *db, const char *url, const char *dataset,
                             const char *message, sub_error_t *err)
{
    bson_t filter = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&filter, "url", url);
    append_str_or_null(&filter, "dataset", dataset);
    bson_t *update =
        BCON_NEW("$set", "{", "state", BCON_UTF8("failed"), "error", BCON_UTF8(message), "}",
                 "$currentDate", "{", "updated_at", BCON_BOOL(true), "}");
    bool ok = upsert(db, &filter, update, url, err);
    bson_destroy(&filter);
    bson_destroy(update);
    return ok;
}
