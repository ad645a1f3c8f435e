/* test_http_fetch.c - the download engine over file:// URLs: what lands at the target, what
 * is refused and why, and that no partial or temporary file is ever left behind. HTTP
 * behaviour (statuses, resets, redirects) is in tests/integration/test_http_fetch.py. */
#include <dirent.h>
#include <openssl/evp.h>
#include <sys/stat.h>

#include <curl/curl.h>
#include <turbojpeg.h>

#include "check.h"
#include "subsetter/http_fetch.h"
#include "subsetter/strutil.h"

/* ---- Building blocks ---- */

typedef sub_test_blob_t blob_t;

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t crc32_of(const uint8_t *p, size_t n)
{
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
    }
    return c ^ 0xffffffffu;
}

/* Appends a PNG chunk (length, type, data, CRC) at out[*len]. */
static void png_chunk(uint8_t *out, size_t *len, const char *type, const uint8_t *data, size_t n)
{
    put_be32(out + *len, (uint32_t)n);
    memcpy(out + *len + 4, type, 4);
    if (n)
        memcpy(out + *len + 8, data, n);
    put_be32(out + *len + 8 + n, crc32_of(out + *len + 4, n + 4));
    *len += 12 + n;
}

/* A valid 1x1 grayscale PNG (a stored zlib block for its one scanline). */
static blob_t make_png(void)
{
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    uint8_t ihdr[13] = {0, 0, 0, 1, 0, 0, 0, 1, 8, 0, 0, 0, 0};
    /* zlib: header, one final stored block of 2 bytes (filter 0, pixel 0x80), adler32 */
    uint8_t idat[] = {0x78, 0x01, 0x01, 0x02, 0x00, 0xfd, 0xff, 0x00, 0x80, 0x00, 0x82, 0x00, 0x81};
    blob_t b = {sub_xmalloc(128), 0};
    memcpy(b.p, sig, 8);
    b.n = 8;
    png_chunk(b.p, &b.n, "IHDR", ihdr, sizeof ihdr);
    png_chunk(b.p, &b.n, "IDAT", idat, sizeof idat);
    png_chunk(b.p, &b.n, "IEND", NULL, 0);
    return b;
}

static void write_blob(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (n)
        CHECK_EQ(fwrite(p, 1, n, f), n);
    CHECK_EQ(fclose(f), 0);
}

/* Writes the blob to dir/name and returns its file:// URL (caller frees). */
static char *serve(const char *dir, const char *name, blob_t b)
{
    char *path = sub_path_join(dir, name);
    write_blob(path, b.p, b.n);
    char *url = sub_xasprintf("file://%s", path);
    free(path);
    return url;
}

static int64_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (int64_t)st.st_size : -1;
}

/* Entries of dir whose name contains ".part-". */
static int temp_files_in(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    if (!d)
        return 0;
    for (struct dirent *e; (e = readdir(d));)
        n += strstr(e->d_name, ".part-") != NULL;
    closedir(d);
    return n;
}

static char *md5_b64(blob_t b)
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    char out[64];
    CHECK(EVP_Digest(b.p, b.n, d, &n, EVP_md5(), NULL));
    EVP_EncodeBlock((unsigned char *)out, d, (int)n);
    return sub_xstrdup(out);
}

/* ---- Running jobs ---- */

typedef struct {
    uint64_t id;
    sub_http_outcome_t outcome;
    char reason[32];
    char url[1024];
    size_t url_index;
    int64_t bytes;
    sub_image_info_t info;
    char message[SUB_ERROR_MSG_SIZE];
} got_t;

typedef struct {
    got_t r[64];
    int n;
} results_t;

static void on_done(void *ctx, const sub_http_result_t *r)
{
    results_t *rs = ctx;
    CHECK_LT(rs->n, 64);
    got_t *g = &rs->r[rs->n++];
    g->id = r->id;
    g->outcome = r->outcome;
    snprintf(g->reason, sizeof g->reason, "%s", r->reason);
    snprintf(g->url, sizeof g->url, "%s", r->url ? r->url : "");
    g->url_index = r->url_index;
    g->bytes = r->bytes;
    g->info = r->info;
    snprintf(g->message, sizeof g->message, "%s", r->message);
    fprintf(stderr, "job %" PRIu64 ": %s %s %s\n", r->id, sub_http_outcome_name(r->outcome),
            r->reason, r->message);
}

/* Runs one job with up to three URLs (NULL-terminated, md5 per URL) to completion. */
static got_t run_one(const sub_http_fetch_opts_t *o, const char *target, const char *url0,
                     const char *md5_0, const char *url1)
{
    results_t rs = {.n = 0};
    sub_error_t err = {0};
    curl_global_init(CURL_GLOBAL_DEFAULT);
    sub_http_fetch_t *f = sub_http_fetch_new(o, on_done, &rs, &err);
    CHECK_OK(f != NULL, &err);
    sub_http_url_t urls[2] = {{url0, md5_0}, {url1, NULL}};
    sub_http_job_t job = {.id = 7, .urls = urls, .n_urls = url1 ? 2 : 1, .target = target};
    CHECK_OK(sub_http_fetch_add(f, &job, &err), &err);
    CHECK_EQ(sub_http_fetch_pending(f), 1);
    CHECK_OK(sub_http_fetch_run(f, 30000, &err), &err);
    CHECK_EQ(sub_http_fetch_pending(f), 0);
    sub_http_fetch_free(f);
    curl_global_cleanup();
    CHECK_EQ(rs.n, 1);
    CHECK_EQ(rs.r[0].id, 7);
    return rs.r[0];
}

/* A refused job: this outcome and reason, nothing at the target, no temporary file. */
static void check_refused(got_t g, sub_http_outcome_t outcome, const char *reason,
                          const char *target, const char *dir)
{
    CHECK_EQ(g.outcome, outcome);
    CHECK_STR_EQ(g.reason, reason);
    CHECK_EQ(file_size(target), -1);
    CHECK_EQ(temp_files_in(dir), 0);
    CHECK_EQ(g.info.type, SUB_IMAGE_NONE);
}

/* ---- Cases ---- */

static void test_valid_jpeg_lands(void)
{
    char *src = sub_test_tmpdir(), *dst = sub_test_tmpdir();
    blob_t jpg = sub_test_make_jpeg(64, 48, TJPF_RGB, TJSAMP_420, 85);
    char *url = serve(src, "a.jpg", jpg);
    char *dir = sub_path_join(dst, "train/ab"); /* missing: created */
    char *target = sub_path_join(dir, "a.jpg");
    got_t g = run_one(NULL, target, url, NULL, NULL);
    CHECK_EQ(g.outcome, SUB_HTTP_OK);
    CHECK_STR_EQ(g.reason, "ok");
    CHECK_STR_EQ(g.url, url);
    CHECK_EQ(g.bytes, (int64_t)jpg.n);
    CHECK_EQ(file_size(target), (int64_t)jpg.n);
    CHECK_EQ(g.info.type, SUB_IMAGE_JPEG);
    CHECK_EQ(g.info.width, 64);
    CHECK_EQ(g.info.height, 48);
    CHECK_EQ(temp_files_in(dir), 0);
    struct stat st;
    CHECK_EQ(stat(target, &st), 0);
    CHECK_EQ(st.st_mode & 0777, 0644);
    free(url), free(dir), free(target), free(jpg.p), free(src), free(dst);
}

static void test_already_present(void)
{
    char *src = sub_test_tmpdir(), *dst = sub_test_tmpdir();
    blob_t jpg = sub_test_make_jpeg(32, 32, TJPF_RGB, TJSAMP_420, 85);
    char *url = serve(src, "a.jpg", jpg);
    char *target = sub_path_join(dst, "a.jpg");
    CHECK_EQ(run_one(NULL, target, url, NULL, NULL).outcome, SUB_HTTP_OK);
    /* The source is gone: only a job that makes no request can succeed. */
    char *missing = sub_xasprintf("file://%s/gone.jpg", src);
    got_t g = run_one(NULL, target, missing, NULL, NULL);
    CHECK_EQ(g.outcome, SUB_HTTP_OK);
    CHECK_STR_EQ(g.reason, "present");
    CHECK_STR_EQ(g.url, "");
    CHECK_EQ(g.bytes, (int64_t)jpg.n);
    CHECK_EQ(g.info.width, 32);
    free(url), free(missing), free(target), free(jpg.p), free(src), free(dst);
}

static void test_invalid_existing_replaced(void)
{
    char *src = sub_test_tmpdir(), *dst = sub_test_tmpdir();
    blob_t jpg = sub_test_make_jpeg(16, 16, TJPF_RGB, TJSAMP_420, 85);
    char *url = serve(src, "a.jpg", jpg);
    char *target = sub_path_join(dst, "a.jpg");
    write_blob(target, jpg.p, jpg.n / 2); /* a partial file left by some other tool */
    got_t g = run_one(NULL, target, url, NULL, NULL);
    CHECK_EQ(g.outcome, SUB_HTTP_OK);
    CHECK_STR_EQ(g.reason, "ok");
    CHECK_EQ(file_size(target), (int64_t)jpg.n);
    free(url), free(target), free(jpg.p), free(src), free(dst);
}

static void test_truncated_jpeg(void)
{
    char *src = sub_test_tmpdir(), *dst = sub_test_tmpdir();
    blob_t jpg = sub_test_make_jpeg(64, 64, TJPF_RGB, TJSAMP_420, 85);
    jpg.n = jpg.n * 2 / 3;
    char *url = serve(src, "a.jpg", jpg);
    char *target = sub_path_join(dst, "a.jpg");
    got_t g = run_one(NULL, target, url, NULL, NULL);
    check_refused(g, SUB_HTTP_PERMANENT, "not_image", target, dst);
    CHECK_CONTAINS(g.message, url);
    free(url), free(target), free(jpg.p), free(src), free(dst);
}

static void test_html_is_not_image(void)
{
    char *src = sub_test_tmpdir(), *dst = sub_test_tmpdir();
    const char *html = "<!doctype html><html><body>gone</body></html>\n";
    blob_t b = {(uint8_t *)sub_xstrdup(html), strlen(html)};
    char *url = serve(src, "a.jpg", b);
    char *target = sub_path_join(dst, "a.jpg");
    got_t g = run_one(NULL, target, url, NULL, NULL);
    check_refused(g, SUB_HTTP_PERMANENT, "not_image", target, dst);
    free(url), free(target), free(b.p), free(src), free(dst);
}

static void test_empty_file(void)
{
    char *src = sub_test_tmpdir(), *dst = sub_test_tmpdir();
    blob_t b = {NULL, 0};
    char *url = serve(src, "a.jpg", b);
    char *target = sub_path_join(dst, "a.jpg");
    got_t g = run_one(NULL, target, url, NULL, NULL);
    check_refused(g, SUB_HTTP_PERMANENT, "not_image", target, dst);
    free(url), free(target), free(src), free(dst);
}

static void test_size_cap(void)
{
    char *src = sub_test_tmpdir(), *dst = sub_test_tmpdir();
    blob_t jpg = sub_test_make_jpeg(256, 256, TJPF_RGB, TJSAMP_420, 85);
    char *url = serve(src, "a.jpg", jpg);
    char *target = sub_path_join(dst, "a.jpg");
    sub_http_fetch_opts_t o = {.max_bytes = (int64_t)jpg.n - 1};
    got_t g = run_one(&o, target, url, NULL, NULL);
    check_refused(g, SUB_HTTP_PERMANENT, "too_large", target, dst);
    o.max_bytes = (int64_t)jpg.n; /* exactly at the cap passes */
    CHECK_EQ(run_one(&o, target, url, NULL, NULL).outcome, SUB_HTTP_OK);
    free(url), free(target), free(jpg.p), free(src), free(dst);
}

static void test_png_as_jpg_is_placeholder(void)
{
    char *src = sub_test_tmpdir(), *dst = sub_test_tmpdir();
    blob_t png = make_png();
    char *url = serve(src, "a.jpg", png);
    char *target = sub_path_join(dst, "a.jpg");
    got_t g = run_one(NULL, target, url, NULL, NULL);
    check_refused(g, SUB_HTTP_PERMANENT, "placeholder", target, dst);
    /* The same bytes are fine where a PNG is expected. */
    char *png_target = sub_path_join(dst, "a.png");
    g = run_one(NULL, png_target, url, NULL, NULL);
    CHECK_EQ(g.outcome, SUB_HTTP_OK);
    CHECK_EQ(g.info.type, SUB_IMAGE_PNG);
    free(url), free(target), free(png_target), free(png.p), free(src), free(dst);
}

static void test_jpeg_as_png_is_type_mismatch(void)
{
    char *src = sub_test_tmpdir(), *dst = sub_test_tmpdir();
    blob_t jpg = sub_test_make_jpeg(8, 8, TJPF_RGB, TJSAMP_420, 85);
    char *url = serve(src, "a.jpg", jpg);
    char *target = sub_path_join(dst, "a.png");
    got_t g = run_one(NULL, target, url, NULL, NULL);
    check_refused(g, SUB_HTTP_PERMANENT, "type_mismatch", target, dst);
    free(url), free(target), free(jpg.p), free(src), free(dst);
}

static void test_missing_file(void)
{
    char *src = sub_test_tmpdir(), *dst = sub_test_tmpdir();
    char *url = sub_xasprintf("file://%s/nope.jpg", src);
    char *target = sub_path_join(dst, "a.jpg");
    got_t g = run_one(NULL, target, url, NULL, NULL);
    check_refused(g, SUB_HTTP_PERMANENT, "not_found", target, dst);
    CHECK_STR_EQ(g.url, url);
    free(url), free(target), free(src), free(dst);
}

static void test_fallback_used(void)
{
    char *src = sub_test_tmpdir(), *dst = sub_test_tmpdir();
    blob_t jpg = sub_test_make_jpeg(40, 30, TJPF_RGB, TJSAMP_420, 85);
    char *bad = sub_xasprintf("file://%s/nope.jpg", src);
    char *good = serve(src, "b.jpg", jpg);
    char *target = sub_path_join(dst, "a.jpg");
    got_t g = run_one(NULL, target, bad, NULL, good);
    CHECK_EQ(g.outcome, SUB_HTTP_OK);
    CHECK_EQ(g.url_index, 1);
    CHECK_STR_EQ(g.url, good);
    CHECK_EQ(file_size(target), (int64_t)jpg.n);
    free(bad), free(good), free(target), free(jpg.p), free(src), free(dst);
}

static void test_all_urls_fail(void)
{
    char *src = sub_test_tmpdir(), *dst = sub_test_tmpdir();
    blob_t png = make_png();
    char *bad = sub_xasprintf("file://%s/nope.jpg", src);
    char *ph = serve(src, "ph.jpg", png);
    char *target = sub_path_join(dst, "a.jpg");
    got_t g = run_one(NULL, target, bad, NULL, ph);
    check_refused(g, SUB_HTTP_PERMANENT, "placeholder", target, dst);
    CHECK_EQ(g.url_index, 1);
    free(bad), free(ph), free(target), free(png.p), free(src), free(dst);
}

static void test_md5_match(void)
{
    char *src = sub_test_tmpdir(), *dst = sub_test_tmpdir();
    blob_t jpg = sub_test_make_jpeg(20, 20, TJPF_RGB, TJSAMP_420, 85);
    char *url = serve(src, "a.jpg", jpg);
    char *md5 = md5_b64(jpg);
    char *target = sub_path_join(dst, "a.jpg");
    got_t g = run_one(NULL, target, url, md5, NULL);
    CHECK_EQ(g.outcome, SUB_HTTP_OK);
    CHECK_EQ(file_size(target), (int64_t)jpg.n);
    free(url), free(md5), free(target), free(jpg.p), free(src), free(dst);
}

static void test_md5_mismatch(void)
{
    char *src = sub_test_tmpdir(), *dst = sub_test_tmpdir();
    blob_t jpg = sub_test_make_jpeg(20, 20, TJPF_RGB, TJSAMP_420, 85);
    char *url = serve(src, "a.jpg", jpg);
    char *target = sub_path_join(dst, "a.jpg");
    got_t g = run_one(NULL, target, url, "yB8FlOmTLa6xt6RGmALG4A==", NULL);
    check_refused(g, SUB_HTTP_PERMANENT, "md5_mismatch", target, dst);
    CHECK_CONTAINS(g.message, "yB8FlOmTLa6xt6RGmALG4A==");
    /* The MD5 belongs to its URL: a fallback without one is accepted. */
    g = run_one(NULL, target, url, "yB8FlOmTLa6xt6RGmALG4A==", url);
    CHECK_EQ(g.outcome, SUB_HTTP_OK);
    CHECK_EQ(g.url_index, 1);
    free(url), free(target), free(jpg.p), free(src), free(dst);
}

static void test_bad_jobs_refused(void)
{
    results_t rs = {.n = 0};
    sub_error_t err = {0};
    curl_global_init(CURL_GLOBAL_DEFAULT);
    sub_http_fetch_t *f = sub_http_fetch_new(NULL, on_done, &rs, &err);
    CHECK_OK(f != NULL, &err);
    sub_http_url_t u = {"file:///x.jpg", NULL};
    const char *bad[] = {"/a/../b.jpg", "a/b.jpg", "/a/./b.jpg", "/a/b/", "/a/..", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        sub_http_job_t job = {.urls = &u, .n_urls = 1, .target = bad[i]};
        CHECK_FAILS(sub_http_fetch_add(f, &job, &err), &err, SUB_E_CONFIG);
    }
    sub_http_job_t none = {.urls = &u, .n_urls = 0, .target = "/tmp/a.jpg"};
    CHECK_FAILS(sub_http_fetch_add(f, &none, &err), &err, SUB_E_CONFIG);
    CHECK_EQ(sub_http_fetch_pending(f), 0);
    sub_http_fetch_free(f);
    curl_global_cleanup();
    CHECK_EQ(rs.n, 0);
}

static void test_many_jobs(void)
{
    char *src = sub_test_tmpdir(), *dst = sub_test_tmpdir();
    results_t rs = {.n = 0};
    sub_error_t err = {0};
    curl_global_init(CURL_GLOBAL_DEFAULT);
    sub_http_fetch_opts_t o = {.max_total = 4, .max_per_host = 2};
    sub_http_fetch_t *f = sub_http_fetch_new(&o, on_done, &rs, &err);
    CHECK_OK(f != NULL, &err);
    for (int i = 0; i < 40; i++) {
        blob_t jpg = sub_test_make_jpeg(8 + i, 8, TJPF_RGB, TJSAMP_420, 85);
        char name[32], tname[48];
        snprintf(name, sizeof name, "%d.jpg", i);
        snprintf(tname, sizeof tname, "d%d/%d.jpg", i % 3, i);
        char *url = serve(src, name, jpg);
        char *target = sub_path_join(dst, tname);
        sub_http_url_t u = {url, NULL};
        sub_http_job_t job = {.id = (uint64_t)i, .urls = &u, .n_urls = 1, .target = target};
        CHECK_OK(sub_http_fetch_add(f, &job, &err), &err);
        free(url), free(target), free(jpg.p);
    }
    CHECK_EQ(sub_http_fetch_pending(f), 40);
    CHECK_OK(sub_http_fetch_run(f, 30000, &err), &err);
    CHECK_EQ(rs.n, 40);
    for (int i = 0; i < 40; i++) {
        CHECK_EQ(rs.r[i].outcome, SUB_HTTP_OK);
        CHECK_EQ(rs.r[i].info.width, 8 + (int)rs.r[i].id);
    }
    sub_http_fetch_free(f);
    curl_global_cleanup();
    free(src), free(dst);
}

static void test_cancel_all(void)
{
    char *src = sub_test_tmpdir(), *dst = sub_test_tmpdir();
    results_t rs = {.n = 0};
    sub_error_t err = {0};
    curl_global_init(CURL_GLOBAL_DEFAULT);
    sub_http_fetch_t *f = sub_http_fetch_new(NULL, on_done, &rs, &err);
    CHECK_OK(f != NULL, &err);
    blob_t jpg = sub_test_make_jpeg(8, 8, TJPF_RGB, TJSAMP_420, 85);
    char *url = serve(src, "a.jpg", jpg);
    char *target = sub_path_join(dst, "a.jpg");
    sub_http_url_t u = {url, NULL};
    sub_http_job_t job = {.id = 1, .urls = &u, .n_urls = 1, .target = target};
    CHECK_OK(sub_http_fetch_add(f, &job, &err), &err);
    job.id = 2;
    CHECK_OK(sub_http_fetch_add(f, &job, &err), &err);
    sub_http_fetch_cancel_all(f);
    CHECK_EQ(rs.n, 2);
    CHECK_EQ(rs.r[0].outcome, SUB_HTTP_TRANSIENT);
    CHECK_STR_EQ(rs.r[0].reason, "cancelled");
    CHECK_STR_EQ(rs.r[1].reason, "cancelled");
    CHECK_EQ(sub_http_fetch_pending(f), 0);
    CHECK_OK(sub_http_fetch_run(f, 1000, &err), &err); /* nothing left to do */
    CHECK_EQ(rs.n, 2);
    CHECK_EQ(file_size(target), -1);
    sub_http_fetch_free(f);
    curl_global_cleanup();
    free(url), free(target), free(jpg.p), free(src), free(dst);
}

/* A job re-added from the callback runs in the same sub_http_fetch_run(). */
typedef struct {
    sub_http_fetch_t *f;
    char *good;
    const char *target;
    results_t rs;
} readd_t;

static void on_done_readd(void *ctx, const sub_http_result_t *r)
{
    readd_t *c = ctx;
    on_done(&c->rs, r);
    if (r->outcome == SUB_HTTP_OK)
        return;
    sub_http_url_t u = {c->good, NULL};
    sub_http_job_t job = {.id = r->id + 1, .urls = &u, .n_urls = 1, .target = c->target};
    sub_error_t err = {0};
    CHECK_OK(sub_http_fetch_add(c->f, &job, &err), &err);
}

static void test_readd_from_callback(void)
{
    char *src = sub_test_tmpdir(), *dst = sub_test_tmpdir();
    readd_t c = {.rs.n = 0};
    sub_error_t err = {0};
    curl_global_init(CURL_GLOBAL_DEFAULT);
    c.f = sub_http_fetch_new(NULL, on_done_readd, &c, &err);
    CHECK_OK(c.f != NULL, &err);
    blob_t jpg = sub_test_make_jpeg(8, 8, TJPF_RGB, TJSAMP_420, 85);
    c.good = serve(src, "a.jpg", jpg);
    char *bad = sub_xasprintf("file://%s/nope.jpg", src);
    char *target = sub_path_join(dst, "a.jpg");
    c.target = target;
    sub_http_url_t u = {bad, NULL};
    sub_http_job_t job = {.id = 1, .urls = &u, .n_urls = 1, .target = target};
    CHECK_OK(sub_http_fetch_add(c.f, &job, &err), &err);
    CHECK_OK(sub_http_fetch_run(c.f, 30000, &err), &err);
    CHECK_EQ(c.rs.n, 2);
    CHECK_STR_EQ(c.rs.r[0].reason, "not_found");
    CHECK_EQ(c.rs.r[1].id, 2);
    CHECK_EQ(c.rs.r[1].outcome, SUB_HTTP_OK);
    sub_http_fetch_free(c.f);
    curl_global_cleanup();
    free(c.good), free(bad), free(target), free(jpg.p), free(src), free(dst);
}

static const sub_test_t tests[] = {
    {"valid_jpeg_lands", test_valid_jpeg_lands},
    {"already_present", test_already_present},
    {"invalid_existing_replaced", test_invalid_existing_replaced},
    {"truncated_jpeg", test_truncated_jpeg},
    {"html_is_not_image", test_html_is_not_image},
    {"empty_file", test_empty_file},
    {"size_cap", test_size_cap},
    {"png_as_jpg_is_placeholder", test_png_as_jpg_is_placeholder},
    {"jpeg_as_png_is_type_mismatch", test_jpeg_as_png_is_type_mismatch},
    {"missing_file", test_missing_file},
    {"fallback_used", test_fallback_used},
    {"all_urls_fail", test_all_urls_fail},
    {"md5_match", test_md5_match},
    {"md5_mismatch", test_md5_mismatch},
    {"bad_jobs_refused", test_bad_jobs_refused},
    {"many_jobs", test_many_jobs},
    {"cancel_all", test_cancel_all},
    {"readd_from_callback", test_readd_from_callback},
    {NULL, NULL},
};

int main(int argc, char **argv)
{
    return sub_test_main(argc, argv, tests);
}
