/* test_source.c - locating sources, hashing, and downloads through libcurl with file://
 * URLs (no network, no server). HTTP statuses, retries and ranges against a real server
 * are in tests/integration/test_source_fetch.py. */
#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>

#include "check.h"
#include "subsetter/source.h"
#include "subsetter/strutil.h"

#define ABC_SHA256 "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define BIG        (3 * (1 << 20) + 12345) /* more than one 1 MiB block, not a multiple */

static void write_bytes(const char *path, const unsigned char *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    CHECK_EQ(fwrite(data, 1, n, f), n);
    CHECK_EQ(fclose(f), 0);
}

/* n bytes of a pattern that differs with seed; caller frees. */
static unsigned char *pattern(size_t n, unsigned seed)
{
    unsigned char *p = sub_xmalloc(n);
    uint32_t x = 2463534242u ^ seed;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        p[i] = (unsigned char)x;
    }
    return p;
}

static void sha256_hex(const unsigned char *data, size_t n, char hex[65])
{
    unsigned char d[32];
    unsigned int len = 0;
    CHECK_EQ(EVP_Digest(data, n, d, &len, EVP_sha256(), NULL), 1);
    for (unsigned i = 0; i < len; i++)
        snprintf(hex + 2 * i, 3, "%02x", d[i]);
}

static bool exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

static char *with_suffix(const char *path, const char *suffix)
{
    return sub_xasprintf("%s%s", path, suffix);
}

/* A source file of BIG pattern bytes with a given mtime; returns its sha256. */
static void make_source(const char *path, unsigned seed, time_t mtime, char hex[65])
{
    unsigned char *data = pattern(BIG, seed);
    write_bytes(path, data, BIG);
    sha256_hex(data, BIG, hex);
    free(data);
    struct timespec ts[2] = {{mtime, 0}, {mtime, 0}};
    CHECK_EQ(utimensat(AT_FDCWD, path, ts, 0), 0);
}

static void check_locate(const char *base, const char *rel, const char *cache, const char *want_url,
                         const char *want_path)
{
    char *url = NULL, *path = NULL;
    sub_error_t err;
    CHECK_OK(sub_source_locate(base, rel, cache, &url, &path, &err), &err);
    CHECK_STR_EQ(url, want_url);
    CHECK_STR_EQ(path, want_path);
    free(url);
    free(path);
}

static void check_rejected(const char *base, const char *rel, const char *want_msg)
{
    char *url = NULL, *path = NULL;
    sub_error_t err;
    CHECK_FAILS(sub_source_locate(base, rel, "/cache", &url, &path, &err), &err, SUB_E_CONFIG);
    CHECK(url == NULL && path == NULL);
    CHECK_CONTAINS(err.msg, want_msg);
}

static void test_cache_path_mapping(void)
{
    check_locate("http://127.0.0.1:8080/", "v5/x.csv", "/c", "http://127.0.0.1:8080/v5/x.csv",
                 "/c/sources/127.0.0.1_8080/v5/x.csv");
    check_locate("http://127.0.0.1:8080", "v5/x.csv", "/c/", "http://127.0.0.1:8080/v5/x.csv",
                 "/c/sources/127.0.0.1_8080/v5/x.csv");
    check_locate(NULL, "v5/class-descriptions-boxable.csv", "/c",
                 "https://storage.googleapis.com/openimages/v5/class-descriptions-boxable.csv",
                 "/c/sources/storage.googleapis.com/openimages/v5/class-descriptions-boxable.csv");
    check_locate("https://storage.googleapis.com/openimages/",
                 "2018_04/train/train-images-boxable-with-rotation.csv", "/c",
                 "https://storage.googleapis.com/openimages/2018_04/train/"
                 "train-images-boxable-with-rotation.csv",
                 "/c/sources/storage.googleapis.com/openimages/2018_04/train/"
                 "train-images-boxable-with-rotation.csv");
    /* the scheme's default port is no port; the host is lowercased; rel is escaped in the URL
     * and kept as is on disk */
    check_locate("HTTPS://Mirror.EXAMPLE.org:443/a/b", "x y/%2e%2e.csv", "/c",
                 "https://mirror.example.org/a/b/x%20y/%252e%252e.csv",
                 "/c/sources/mirror.example.org/a/b/x y/%2e%2e.csv");
    check_locate("http://[::1]:9000/m/", "v5/x.csv", "/c", "http://[::1]:9000/m/v5/x.csv",
                 "/c/sources/[::1]_9000/m/v5/x.csv");
}

static void test_path_escape_rejected(void)
{
    const char *bad[] = {"../x", "/etc/passwd", "a/../../b", "a\\b",  "..\\x", "",
                         "a//b", "./a",         "a/.",       "a/",    "a/..",  "a\001b",
                         "a\nb", "..",          ".",         "x/../y"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        fprintf(stderr, "rel '%s'\n", bad[i]);
        check_rejected("/data", bad[i], "source path");
        check_rejected("http://127.0.0.1:1/", bad[i], "source path");
    }
    check_rejected("http://h/a/%2e%2e/%2e%2e/etc/", "x.csv", "source base");
    check_rejected("http://h/a%2f..%2f..%2fb/", "x.csv", "source base path");
    check_rejected("http://h/a%5cb/", "x.csv", "source base path");
    check_rejected("http://h/a%00b/", "x.csv", "source base");
    check_rejected("http://user:pw@h/", "x.csv", "credentials");
    check_rejected("http://h/?q=1", "x.csv", "query");
    check_rejected("http://h/#frag", "x.csv", "fragment");
    check_rejected("ftp://h/", "x.csv", "unsupported scheme");
    check_rejected("", "x.csv", "source base is empty");
    char *url = NULL, *path = NULL;
    sub_error_t err;
    CHECK_FAILS(sub_source_locate("http://h/", "x.csv", NULL, &url, &path, &err), &err,
                SUB_E_CONFIG);
    CHECK_CONTAINS(err.msg, "no cache directory");
}

/* A data directory <tmp>/data with v5/x.csv = "abc"; chdir(tmp). Returns the real tmp. */
static char *data_dir(void)
{
    char *tmp = sub_test_tmpdir();
    CHECK_EQ(chdir(tmp), 0);
    char cwd[4096];
    CHECK(getcwd(cwd, sizeof cwd) != NULL);
    free(tmp);
    CHECK_EQ(mkdir("data", 0700), 0);
    CHECK_EQ(mkdir("data/v5", 0700), 0);
    write_bytes("data/v5/x.csv", (const unsigned char *)"abc", 3);
    return sub_xstrdup(cwd);
}

static void check_local(const char *base, const char *want_path)
{
    sub_source_t s;
    sub_error_t err;
    CHECK_OK(sub_source_fetch(base, "v5/x.csv", NULL, NULL, &s, &err), &err);
    CHECK_STR_EQ(s.url, want_path);
    CHECK_STR_EQ(s.path, want_path);
    CHECK_EQ(s.size, 3);
    CHECK_STR_EQ(s.sha256, ABC_SHA256);
    CHECK(!s.remote && !s.downloaded && s.etag == NULL && s.last_modified == NULL);
    CHECK_EQ(s.requests, 0);
    sub_source_release(&s);
    sub_source_release(&s); /* idempotent */
}

static void test_local_dir_base(void)
{
    char *root = data_dir();
    char *want = sub_xasprintf("%s/data/v5/x.csv", root);
    char *abs = sub_xasprintf("%s/data/", root);
    char *file_url = sub_xasprintf("file://%s/data", root);
    char *file_localhost = sub_xasprintf("file://localhost%s/data/", root);
    check_local("data", want);
    check_local("./data/", want);
    check_local(abs, want);
    check_local(file_url, want);
    check_local(file_localhost, want);
    free(want);
    free(abs);
    free(file_url);
    free(file_localhost);
    free(root);
}

static void test_missing_local_file(void)
{
    char *root = data_dir();
    char *base = sub_xasprintf("%s/data", root);
    sub_source_t s;
    sub_error_t err;
    CHECK_FAILS(sub_source_fetch(base, "v5/nope.csv", NULL, NULL, &s, &err), &err, SUB_E_IO);
    char *want = sub_xasprintf("source file %s/data/v5/nope.csv not found (base %s)", root, base);
    CHECK_STR_EQ(err.msg, want);
    CHECK(s.url != NULL); /* known, so that a caller can record the failure */
    sub_source_release(&s);
    CHECK_FAILS(sub_source_fetch(base, "v5", NULL, NULL, &s, &err), &err, SUB_E_IO);
    CHECK_CONTAINS(err.msg, "not a regular file");
    sub_source_release(&s);
    CHECK_FAILS(sub_source_fetch(base, "../x", NULL, NULL, &s, &err), &err, SUB_E_CONFIG);
    CHECK(s.url == NULL);
    free(want);
    free(base);
    free(root);
}

typedef struct {
    int calls;
    int64_t done, total;
} progress_t;

static void on_progress(void *ctx, int64_t done, int64_t total)
{
    progress_t *p = ctx;
    CHECK(done >= p->done); /* never goes back within one transfer */
    p->calls++;
    p->done = done;
    p->total = total;
}

static void test_sha256_known(void)
{
    char *tmp = sub_test_tmpdir();
    char *abc = sub_test_write_file(tmp, "abc.txt", "abc");
    char *empty = sub_test_write_file(tmp, "empty.txt", "");
    char hex[65], want[65];
    int64_t size = -1;
    sub_error_t err;
    CHECK_OK(sub_source_hash_file(abc, NULL, hex, &size, &err), &err);
    CHECK_STR_EQ(hex, ABC_SHA256);
    CHECK_EQ(size, 3);
    CHECK_OK(sub_source_hash_file(empty, NULL, hex, &size, &err), &err);
    CHECK_STR_EQ(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    CHECK_EQ(size, 0);

    char *big = sub_path_join(tmp, "big.bin");
    make_source(big, 1, 1700000000, want);
    progress_t p = {0};
    sub_source_opts_t o = {.progress = on_progress, .progress_ctx = &p};
    CHECK_OK(sub_source_hash_file(big, &o, hex, &size, &err), &err);
    CHECK_STR_EQ(hex, want);
    CHECK_EQ(size, BIG);
    CHECK(p.calls >= 1);
    CHECK_EQ(p.done, BIG);
    CHECK_EQ(p.total, BIG);

    char *missing = sub_path_join(tmp, "missing");
    CHECK_FAILS(sub_source_hash_file(missing, NULL, hex, &size, &err), &err, SUB_E_IO);
    CHECK_CONTAINS(err.msg, "missing: no such file or directory");
    free(abc);
    free(empty);
    free(big);
    free(missing);
    free(tmp);
}

/* A file:// source and a cache path for it: <tmp>/src.bin and <tmp>/cache/x.bin. */
typedef struct {
    char *tmp, *src, *url, *dest, *part, *part_meta, *meta;
    char sha[65];
} fixture_t;

static void fixture_init(fixture_t *f)
{
    CHECK_EQ(curl_global_init(CURL_GLOBAL_DEFAULT), CURLE_OK);
    f->tmp = sub_test_tmpdir();
    f->src = sub_path_join(f->tmp, "src.bin");
    f->url = sub_xasprintf("file://%s", f->src);
    char *cache = sub_path_join(f->tmp, "cache");
    CHECK_EQ(mkdir(cache, 0700), 0);
    f->dest = sub_path_join(cache, "x.bin");
    f->part = with_suffix(f->dest, ".part");
    f->part_meta = with_suffix(f->dest, ".part.meta");
    f->meta = with_suffix(f->dest, ".meta");
    free(cache);
    make_source(f->src, 1, 1700000000, f->sha);
}

static void fixture_release(fixture_t *f)
{
    free(f->tmp);
    free(f->src);
    free(f->url);
    free(f->dest);
    free(f->part);
    free(f->part_meta);
    free(f->meta);
    curl_global_cleanup();
}

static void download(fixture_t *f, const sub_source_opts_t *o, sub_source_t *s)
{
    sub_error_t err;
    CHECK_OK(sub_source_download(f->url, f->dest, o, s, &err), &err);
    CHECK_STR_EQ(s->url, f->url);
    CHECK_STR_EQ(s->path, f->dest);
    CHECK(s->remote);
    CHECK_EQ(s->size, BIG);
    char hex[65];
    int64_t size;
    CHECK_OK(sub_source_hash_file(f->dest, NULL, hex, &size, &err), &err);
    CHECK_STR_EQ(hex, s->sha256); /* what was reported is what is on disk */
    CHECK(!exists(f->part) && !exists(f->part_meta));
}

/* Turns the complete copy into an interrupted download of its first `keep` bytes. */
static void interrupt_copy(fixture_t *f, off_t keep)
{
    CHECK_EQ(rename(f->dest, f->part), 0);
    CHECK_EQ(rename(f->meta, f->part_meta), 0);
    CHECK_EQ(truncate(f->part, keep), 0);
}

static void test_file_url_download(void)
{
    fixture_t f;
    fixture_init(&f);
    sub_source_t s;
    progress_t p = {0};
    sub_source_opts_t o = {.progress = on_progress, .progress_ctx = &p};
    download(&f, &o, &s);
    CHECK_STR_EQ(s.sha256, f.sha);
    CHECK(s.downloaded);
    CHECK_EQ(s.transferred, BIG);
    CHECK_EQ(s.resumed_from, 0);
    CHECK_EQ(s.requests, 1);
    CHECK(exists(f.meta));
    CHECK_EQ(p.done, BIG);
    CHECK_EQ(p.total, BIG);
    sub_source_release(&s);

    download(&f, NULL, &s); /* current: one HEAD, nothing transferred */
    CHECK_STR_EQ(s.sha256, f.sha);
    CHECK(!s.downloaded);
    CHECK_EQ(s.transferred, 0);
    CHECK_EQ(s.requests, 1);
    sub_source_release(&s);

    sub_source_opts_t trust = {.no_revalidate = true};
    download(&f, &trust, &s);
    CHECK_EQ(s.requests, 0);
    sub_source_release(&s);

    char sha2[65];
    make_source(f.src, 2, 1700000100, sha2); /* the remote file changes */
    download(&f, NULL, &s);
    CHECK_STR_EQ(s.sha256, sha2);
    CHECK(s.downloaded);
    CHECK_EQ(s.transferred, BIG);
    CHECK_EQ(s.requests, 2); /* HEAD, GET */
    sub_source_release(&s);
    fixture_release(&f);
}

static void test_file_url_resume(void)
{
    fixture_t f;
    fixture_init(&f);
    sub_source_t s;
    download(&f, NULL, &s);
    sub_source_release(&s);
    interrupt_copy(&f, 1 << 20);
    download(&f, NULL, &s);
    CHECK_STR_EQ(s.sha256, f.sha);
    CHECK_EQ(s.resumed_from, 1 << 20);
    CHECK_EQ(s.transferred, BIG - (1 << 20));
    CHECK_EQ(s.requests, 1);
    sub_source_release(&s);

    /* a .part whose .meta is gone cannot be trusted: start over */
    download(&f, NULL, &s);
    sub_source_release(&s);
    interrupt_copy(&f, 1 << 20);
    CHECK_EQ(unlink(f.part_meta), 0);
    CHECK_EQ(unlink(f.meta), -1); /* moved away by interrupt_copy */
    download(&f, NULL, &s);
    CHECK_STR_EQ(s.sha256, f.sha);
    CHECK_EQ(s.resumed_from, 0);
    CHECK_EQ(s.transferred, BIG);
    sub_source_release(&s);
    fixture_release(&f);
}

static void test_file_url_stale_part(void)
{
    fixture_t f;
    fixture_init(&f);
    sub_source_t s;
    download(&f, NULL, &s);
    sub_source_release(&s);
    interrupt_copy(&f, 1 << 20);
    char sha2[65];
    make_source(f.src, 3, 1700000200, sha2); /* same size, another version */
    download(&f, NULL, &s);
    CHECK_STR_EQ(s.sha256, sha2);
    CHECK_EQ(s.resumed_from, 0);
    CHECK_EQ(s.transferred >= BIG, 1);
    CHECK_EQ(s.requests, 2); /* the refused resume, then from zero */
    sub_source_release(&s);
    fixture_release(&f);
}

static void test_file_url_missing(void)
{
    fixture_t f;
    fixture_init(&f);
    CHECK_EQ(unlink(f.src), 0);
    sub_source_t s;
    sub_error_t err;
    sub_source_opts_t o = {.retry_base_ms = 1};
    CHECK_FAILS(sub_source_download(f.url, f.dest, &o, &s, &err), &err, SUB_E_IO);
    char *want = sub_xasprintf("GET %s: ", f.url);
    CHECK_CONTAINS(err.msg, want);
    CHECK_EQ(s.requests, 1);                   /* permanent: no retry */
    CHECK(!exists(f.dest) && !exists(f.part)); /* nothing created for a failed request */
    sub_source_release(&s);
    free(want);
    fixture_release(&f);
}

static void test_max_size(void)
{
    fixture_t f;
    fixture_init(&f);
    sub_source_t s;
    sub_error_t err;
    sub_source_opts_t o = {.max_size = BIG - 1};
    CHECK_FAILS(sub_source_download(f.url, f.dest, &o, &s, &err), &err, SUB_E_IO);
    CHECK_CONTAINS(err.msg, "3158073 bytes, over the limit of 3158072");
    CHECK_EQ(s.transferred, 0);
    CHECK_EQ(s.requests, 1);
    sub_source_release(&s);
    o.max_size = BIG;
    CHECK_OK(sub_source_download(f.url, f.dest, &o, &s, &err), &err);
    CHECK_STR_EQ(s.sha256, f.sha);
    sub_source_release(&s);
    fixture_release(&f);
}

static void test_disk_full(void)
{
    fixture_t f;
    fixture_init(&f);
    CHECK_EQ(access("/dev/full", W_OK), 0);
    CHECK_EQ(symlink("/dev/full", f.part), 0); /* every write to the .part: ENOSPC */
    sub_source_t s;
    sub_error_t err;
    CHECK_FAILS(sub_source_download(f.url, f.dest, NULL, &s, &err), &err, SUB_E_IO);
    char *want = sub_xasprintf("write %s: no space left on device", f.part);
    CHECK_STR_EQ(err.msg, want);
    CHECK_EQ(err.cause, ENOSPC);
    CHECK_EQ(s.requests, 1);
    CHECK(exists(f.part)); /* left for a later run */
    CHECK(!exists(f.dest));
    sub_source_release(&s);
    free(want);
    fixture_release(&f);
}

static void test_record_doc(void)
{
    sub_source_t s = {.url = "http://h/v5/x.csv", .path = "/c/x.csv", .size = 3, .etag = "\"e1\""};
    memcpy(s.sha256, ABC_SHA256, 65);
    bson_t filter, update;
    sub_source_record_doc(&s, "oi", "classes", NULL, "downloaded", &filter, &update);
    char *f = bson_as_canonical_extended_json(&filter, NULL);
    char *u = bson_as_canonical_extended_json(&update, NULL);
    CHECK_STR_EQ(f, "{ \"url\" : \"http://h/v5/x.csv\", \"dataset\" : \"oi\" }");
    CHECK_STR_EQ(u, "{ \"$set\" : { \"path\" : \"/c/x.csv\", \"size\" : { \"$numberLong\" : \"3\" "
                    "}, \"sha256\" : \"" ABC_SHA256 "\", \"etag\" : \"\\\"e1\\\"\", "
                    "\"last_modified\" : null, \"kind\" : \"classes\", \"split\" : null, "
                    "\"state\" : \"downloaded\" }, \"$unset\" : { \"error\" : \"\" }, "
                    "\"$currentDate\" : { \"updated_at\" : true } }");
    bson_free(f);
    bson_free(u);
    bson_destroy(&filter);
    bson_destroy(&update);

    sub_source_t pending = {.url = "/data/v5/x.csv"};
    sub_source_record_doc(&pending, NULL, NULL, "train", "failed", &filter, &update);
    f = bson_as_canonical_extended_json(&filter, NULL);
    u = bson_as_canonical_extended_json(&update, NULL);
    CHECK_STR_EQ(f, "{ \"url\" : \"/data/v5/x.csv\", \"dataset\" : null }");
    CHECK_STR_EQ(u, "{ \"$set\" : { \"etag\" : null, \"last_modified\" : null, \"split\" : "
                    "\"train\", \"state\" : \"failed\" }, \"$currentDate\" : { \"updated_at\" : "
                    "true } }");
    bson_free(f);
    bson_free(u);
    bson_destroy(&filter);
    bson_destroy(&update);
}

static const sub_test_t tests[] = {
    {"cache_path_mapping", test_cache_path_mapping},
    {"path_escape_rejected", test_path_escape_rejected},
    {"local_dir_base", test_local_dir_base},
    {"missing_local_file", test_missing_local_file},
    {"sha256_known", test_sha256_known},
    {"file_url_download", test_file_url_download},
    {"file_url_resume", test_file_url_resume},
    {"file_url_stale_part", test_file_url_stale_part},
    {"file_url_missing", test_file_url_missing},
    {"max_size", test_max_size},
    {"disk_full", test_disk_full},
    {"record_doc", test_record_doc},
    {NULL, NULL},
};

int main(int argc, char **argv)
{
    return sub_test_main(argc, argv, tests);
}
