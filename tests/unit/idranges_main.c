/* idranges_main.c - idranges_cli: sub_idranges_run() over a collection, for
 * tests/integration/test_idranges.py (not installed).
 *
 *   idranges_cli COLLECTION MIN_SIZE [DELAY_MS]
 *
 * Connects as subsetter does (FIFTYONE_DATABASE_URI, FIFTYONE_DATABASE_NAME) and prints
 * one JSON line per range the two sides took: {"side": 0|1, "lo": "<hex>"|null, "hi":
 * "<hex>"|null, "count": <documents in it, counted by the side's own connection>}, after
 * sleeping DELAY_MS in each range (a slow range: the sides then surely overlap). On
 * failure prints "idranges_cli: [CODE] message" on stderr and exits 1 (2 for a usage
 * error of the driver itself).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "subsetter/config.h"
#include "subsetter/db.h"
#include "subsetter/idranges.h"

static pthread_mutex_t out_mu = PTHREAD_MUTEX_INITIALIZER;
static long delay_ms;

static void print_bound(const sub_id_bound_t *b)
{
    char hex[25];
    if (!b->set) {
        fputs("null", stdout);
        return;
    }
    bson_oid_to_string(&b->id, hex);
    printf("\"%s\"", hex);
}

static bool on_range(mongoc_collection_t *coll, const sub_id_bound_t *lo, const sub_id_bound_t *hi,
                     unsigned side, void *ctx, sub_error_t *err)
{
    (void)ctx;
    struct timespec pause = {delay_ms / 1000, (delay_ms % 1000) * 1000000L};
    nanosleep(&pause, NULL);
    bson_t filter = BSON_INITIALIZER;
    bson_error_t be;
    sub_id_range_append(&filter, lo, hi);
    int64_t n = mongoc_collection_count_documents(coll, &filter, NULL, NULL, NULL, &be);
    bson_destroy(&filter);
    if (n < 0)
        return sub_db_error(&be, "count a range", err);
    pthread_mutex_lock(&out_mu);
    printf("{\"side\": %u, \"lo\": ", side);
    print_bound(lo);
    fputs(", \"hi\": ", stdout);
    print_bound(hi);
    printf(", \"count\": %lld}\n", (long long)n);
    fflush(stdout);
    pthread_mutex_unlock(&out_mu);
    return true;
}

/* A whole decimal number >= lo, or -1. */
static long long number(const char *s, long long lo)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    return end != s && !*end && errno == 0 && v >= lo ? v : -1;
}

int main(int argc, char **argv)
{
    long long min_size = argc >= 3 ? number(argv[2], 1) : -1;
    long long delay = argc == 4 ? number(argv[3], 0) : 0;
    if ((argc != 3 && argc != 4) || min_size < 0 || delay < 0) {
        fprintf(stderr, "usage: idranges_cli COLLECTION MIN_SIZE [DELAY_MS]\n");
        return 2;
    }
    delay_ms = (long)delay;
    sub_db_global_init();
    sub_config_t cfg = {0};
    sub_config_inputs_t in = {0};
    sub_db_t db = {0};
    sub_error_t err = {0};
    bool ok = sub_config_load(&in, &cfg, &err) && sub_db_open(&cfg, &db, &err) &&
              sub_idranges_run(&db, argv[1], min_size, on_range, NULL, &err);
    if (!ok)
        fprintf(stderr, "idranges_cli: [%s] %s\n", sub_code_name(err.code), err.msg);
    sub_db_close(&db);
    sub_config_release(&cfg);
    sub_db_global_cleanup();
    return ok ? 0 : 1;
}
