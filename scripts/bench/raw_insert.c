/* raw_insert - the "raw ceiling" of scripts/bench/ingest: the same documents, pre-built,
 * inserted by a minimal unordered-bulk loop. libmongoc/libbson only.
 *
 *   raw_insert dump URI DB COLLECTION FILE
 *       writes every document of DB.COLLECTION to FILE as concatenated BSON (the format of
 *       bsondump / mongodump), in natural order; prints {"docs", "bytes", "seconds"}.
 *   raw_insert load URI DB COLLECTION FILE BATCH
 *       reads FILE with bson_reader_new_from_file and inserts every document with unordered
 *       bulk inserts of BATCH documents (default write concern, the driver's default insert
 *       validation: what subsetter's writer does); prints
 *       {"docs", "batches", "bytes", "seconds", "docs_per_s"}. The time covers reading the
 *       file (from the page cache, after the dump) and the inserts, nothing else.
 *
 * Exit 0 on success, 1 on a driver or server error, 2 on a usage error.
 * Build: cc -O2 raw_insert.c $(pkg-config --cflags --libs libmongoc-1.0), or the CMake
 * target bench_raw_insert. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mongoc/mongoc.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int usage(void)
{
    fprintf(stderr, "usage: raw_insert dump URI DB COLLECTION FILE\n"
                    "       raw_insert load URI DB COLLECTION FILE BATCH\n");
    return 2;
}

static mongoc_client_t *connect_or_die(const char *uri_string)
{
    bson_error_t be;
    mongoc_uri_t *uri = mongoc_uri_new_with_error(uri_string, &be);
    if (!uri) {
        fprintf(stderr, "raw_insert: bad URI: %s\n", be.message);
        return NULL;
    }
    mongoc_client_t *client = mongoc_client_new_from_uri(uri);
    mongoc_uri_destroy(uri);
    if (!client) {
        fprintf(stderr, "raw_insert: cannot create a client\n");
        return NULL;
    }
    mongoc_client_set_appname(client, "bench-raw-insert");
    mongoc_client_set_error_api(client, MONGOC_ERROR_API_VERSION_2);
    return client;
}

static int dump(mongoc_collection_t *coll, const char *file)
{
    FILE *f = fopen(file, "wb");
    if (!f) {
        fprintf(stderr, "raw_insert: %s: %s\n", file, strerror(errno));
        return 1;
    }
    double t0 = now_s();
    bson_t filter = BSON_INITIALIZER;
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(coll, &filter, NULL, NULL);
    const bson_t *doc;
    uint64_t docs = 0, bytes = 0;
    int rc = 0;
    while (mongoc_cursor_next(cur, &doc)) {
        if (fwrite(bson_get_data(doc), 1, doc->len, f) != doc->len) {
            fprintf(stderr, "raw_insert: write %s: %s\n", file, strerror(errno));
            rc = 1;
            break;
        }
        docs++;
        bytes += doc->len;
    }
    bson_error_t be;
    if (!rc && mongoc_cursor_error(cur, &be)) {
        fprintf(stderr, "raw_insert: find: %s\n", be.message);
        rc = 1;
    }
    mongoc_cursor_destroy(cur);
    bson_destroy(&filter);
    if (fclose(f) != 0 && !rc) {
        fprintf(stderr, "raw_insert: close %s: %s\n", file, strerror(errno));
        rc = 1;
    }
    if (!rc)
        printf("{\"docs\": %" PRIu64 ", \"bytes\": %" PRIu64 ", \"seconds\": %.6f}\n", docs, bytes,
               now_s() - t0);
    return rc;
}

static bool flush(mongoc_bulk_operation_t **bulk, uint64_t *batches)
{
    bson_t reply;
    bson_error_t be;
    bool ok = mongoc_bulk_operation_execute(*bulk, &reply, &be) != 0;
    if (!ok) {
        char *json = bson_as_relaxed_extended_json(&reply, NULL);
        fprintf(stderr, "raw_insert: bulk insert: %.500s\nreply: %.500s\n", be.message,
                json ? json : "");
        bson_free(json);
    }
    bson_destroy(&reply);
    mongoc_bulk_operation_destroy(*bulk);
    *bulk = NULL;
    (*batches)++;
    return ok;
}

static int load(mongoc_collection_t *coll, const char *file, long batch)
{
    bson_error_t be;
    bson_t *opts = BCON_NEW("ordered", BCON_BOOL(false));
    double t0 = now_s();
    bson_reader_t *reader = bson_reader_new_from_file(file, &be);
    if (!reader) {
        fprintf(stderr, "raw_insert: %s: %s\n", file, be.message);
        bson_destroy(opts);
        return 1;
    }
    const bson_t *doc;
    bool eof = false, ok = true;
    uint64_t docs = 0, bytes = 0, batches = 0;
    long in_batch = 0;
    mongoc_bulk_operation_t *bulk = NULL;
    while (ok && (doc = bson_reader_read(reader, &eof)) != NULL) {
        if (!bulk)
            bulk = mongoc_collection_create_bulk_operation_with_opts(coll, opts);
        if (!mongoc_bulk_operation_insert_with_opts(bulk, doc, NULL, &be)) {
            fprintf(stderr, "raw_insert: document %" PRIu64 ": %s\n", docs, be.message);
            ok = false;
            break;
        }
        docs++;
        bytes += doc->len;
        if (++in_batch == batch) {
            ok = flush(&bulk, &batches);
            in_batch = 0;
        }
    }
    if (ok && !eof) {
        fprintf(stderr, "raw_insert: %s: corrupt BSON after %" PRIu64 " documents\n", file, docs);
        ok = false;
    }
    if (ok && bulk)
        ok = flush(&bulk, &batches);
    double secs = now_s() - t0;
    if (bulk)
        mongoc_bulk_operation_destroy(bulk);
    bson_reader_destroy(reader);
    bson_destroy(opts);
    if (!ok)
        return 1;
    printf("{\"docs\": %" PRIu64 ", \"batches\": %" PRIu64 ", \"bytes\": %" PRIu64
           ", \"seconds\": %.6f, \"docs_per_s\": %.1f}\n",
           docs, batches, bytes, secs, secs > 0 ? (double)docs / secs : 0.0);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage();
    bool is_dump = strcmp(argv[1], "dump") == 0, is_load = strcmp(argv[1], "load") == 0;
    if (!(is_dump && argc == 6) && !(is_load && argc == 7))
        return usage();
    long batch = 0;
    if (is_load) {
        char *end;
        batch = strtol(argv[6], &end, 10);
        if (*end || batch < 1 || batch > 100000) {
            fprintf(stderr, "raw_insert: BATCH must be 1..100000, got '%s'\n", argv[6]);
            return 2;
        }
    }
    mongoc_init();
    mongoc_client_t *client = connect_or_die(argv[2]);
    int rc = 1;
    if (client) {
        mongoc_collection_t *coll = mongoc_client_get_collection(client, argv[3], argv[4]);
        rc = is_dump ? dump(coll, argv[5]) : load(coll, argv[5], batch);
        mongoc_collection_destroy(coll);
        mongoc_client_destroy(client);
    }
    mongoc_cleanup();
    return rc;
}
