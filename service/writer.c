#define SUB_LOG_DOMAIN "writer"
#include "subsetter/writer.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "subsetter/bsonutil.h"
#include "subsetter/log.h"
#include "subsetter/strutil.h"

#define QUEUE_LEN            2
#define SERVER_DUPLICATE_KEY 11000
/* Batches between the one due for reporting and the newest started: may_start() keeps
 * it under 2n, so the ring of written-but-unreported batches never wraps. */
#define RING (2 * SUB_WRITER_MAX_THREADS + 1)

typedef struct {
    struct sub_writer *w;
    pthread_t thread;
    sub_db_t conn;
    mongoc_collection_t *coll;
    bool started;
} worker_t;

struct sub_writer {
    pthread_mutex_t mu; /* guards everything below but `report` */
    pthread_cond_t cv;
    sub_batch_t *queue[QUEUE_LEN];
    size_t head, count;
    uint64_t next_seq;       /* given to the next submitted batch */
    uint64_t next_report;    /* the batch whose on_written is due */
    sub_batch_t *done[RING]; /* written, waiting for an earlier batch */
    bool closing;
    bool failed;
    sub_error_t error;
    pthread_mutex_t report; /* one reporter at a time, so reports stay in order */
    bool upsert;
    sub_writer_done_fn on_written;
    void *ctx;
    sub_writer_stats_t stats;
    worker_t workers[SUB_WRITER_MAX_THREADS];
    int nworkers;
};

sub_batch_t *sub_batch_new(size_t cap)
{
    sub_batch_t *b = calloc(1, sizeof *b);
    if (!b)
        abort();
    b->cap = cap;
    b->docs = sub_xmalloc(cap * sizeof *b->docs);
    return b;
}

void sub_batch_free(sub_batch_t *b)
{
    if (!b)
        return;
    for (size_t i = 0; i < b->len; i++)
        bson_destroy(b->docs[i]);
    free(b->docs);
    free(b->counts);
    free(b);
}

static int64_t reply_int(const bson_t *reply, const char *key)
{
    bson_iter_t it;
    return bson_iter_init_find(&it, reply, key) ? bson_iter_as_int64(&it) : 0;
}

static bool run_bulk(worker_t *k, sub_batch_t *b, bool upsert, const bool *only, bson_t *reply,
                     bson_error_t *be)
{
    /* The documents are built by the service from validated input (UTF-8 checked when
     * the rows are read), so libmongoc's per-document key and UTF-8 walk is redundant;
     * it was most of the writer threads' CPU. */
    bson_t *opts = BCON_NEW("ordered", BCON_BOOL(false));
    bson_t *rep = BCON_NEW("upsert", BCON_BOOL(true), "validate", BCON_BOOL(false));
    bson_t *ins = BCON_NEW("validate", BCON_BOOL(false));
    mongoc_bulk_operation_t *bulk =
        mongoc_collection_create_bulk_operation_with_opts(k->coll, opts);
    for (size_t i = 0; i < b->len; i++) {
        if (only && !only[i])
            continue;
        if (upsert) {
            bson_iter_t it;
            bson_t sel = BSON_INITIALIZER;
            bson_iter_init_find(&it, b->docs[i], "_id");
            bson_append_iter(&sel, "_id", 3, &it);
            mongoc_bulk_operation_replace_one_with_opts(bulk, &sel, b->docs[i], rep, NULL);
            bson_destroy(&sel);
        } else {
            mongoc_bulk_operation_insert_with_opts(bulk, b->docs[i], ins, NULL);
        }
    }
    bool ok = mongoc_bulk_operation_execute(bulk, reply, be) != 0;
    mongoc_bulk_operation_destroy(bulk);
    bson_destroy(opts);
    bson_destroy(rep);
    bson_destroy(ins);
    return ok;
}

/* Marks the documents an insert refused as duplicates; false if any error was another. */
static bool duplicates_only(const bson_t *reply, size_t n, bool *dup)
{
    bson_t errors, e;
    bson_iter_t it;
    if (!sub_bson_get_doc(reply, "writeErrors", &errors) || !bson_iter_init(&it, &errors))
        return false;
    memset(dup, 0, n * sizeof *dup);
    while (bson_iter_next(&it)) {
        if (!sub_bson_get_doc(&errors, bson_iter_key(&it), &e) ||
            reply_int(&e, "code") != SERVER_DUPLICATE_KEY)
            return false;
        int64_t idx = reply_int(&e, "index");
        if (idx < 0 || (size_t)idx >= n)
            return false;
        dup[idx] = true;
    }
    return true;
}

static void add_stats(sub_writer_t *w, const bson_t *reply, bool counts_inserts)
{
    pthread_mutex_lock(&w->mu);
    if (counts_inserts) {
        w->stats.inserted += (uint64_t)reply_int(reply, "nInserted");
        w->stats.upserted += (uint64_t)reply_int(reply, "nUpserted");
    }
    w->stats.matched += (uint64_t)reply_int(reply, "nMatched");
    w->stats.modified += (uint64_t)reply_int(reply, "nModified");
    pthread_mutex_unlock(&w->mu);
}

static bool write_batch(worker_t *k, sub_batch_t *b, sub_error_t *err)
{
    sub_writer_t *w = k->w;
    bson_t reply;
    bson_error_t be;
    bool ok = run_bulk(k, b, w->upsert, NULL, &reply, &be);
    add_stats(w, &reply, true);
    if (!ok && !w->upsert) {
        bool *dup = sub_xmalloc(b->len * sizeof *dup);
        if (duplicates_only(&reply, b->len, dup)) {
            bson_destroy(&reply);
            ok = run_bulk(k, b, true, dup, &reply, &be);
            add_stats(w, &reply, false);
        }
        free(dup);
    }
    if (!ok)
        sub_db_error(&be, "bulk write", err);
    bson_destroy(&reply);
    return ok;
}

static void fail(sub_writer_t *w, const sub_error_t *e)
{
    pthread_mutex_lock(&w->mu);
    if (!w->failed) {
        w->failed = true;
        w->error = *e;
    }
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

/* Whether the next queued batch may start: one thread stalled on a batch must not let
 * the others run ahead without bound, since every batch after it waits to be reported. */
static bool may_start(const sub_writer_t *w)
{
    return w->count > 0 && w->queue[w->head]->seq < w->next_report + 2 * (uint64_t)w->nworkers;
}

static sub_batch_t *next_batch(sub_writer_t *w)
{
    pthread_mutex_lock(&w->mu);
    while (!may_start(w) && !(w->closing && w->count == 0))
        pthread_cond_wait(&w->cv, &w->mu);
    sub_batch_t *b = NULL;
    if (w->count) {
        b = w->queue[w->head];
        w->head = (w->head + 1) % QUEUE_LEN;
        w->count--;
        pthread_cond_broadcast(&w->cv);
    }
    pthread_mutex_unlock(&w->mu);
    return b;
}

/* Takes the batch due for reporting if it is written, else NULL. */
static sub_batch_t *take_due(sub_writer_t *w)
{
    pthread_mutex_lock(&w->mu);
    sub_batch_t **slot = &w->done[w->next_report % RING];
    sub_batch_t *b = *slot && (*slot)->seq == w->next_report ? *slot : NULL;
    if (b) {
        *slot = NULL;
        w->next_report++;
        w->stats.batches++;
        pthread_cond_broadcast(&w->cv); /* may_start() may now hold */
    }
    pthread_mutex_unlock(&w->mu);
    return b;
}

/* Reports every batch that is due, in order; whichever thread finishes the missing
 * batch does the reporting, with its own connection. */
static void report_due(worker_t *k)
{
    sub_writer_t *w = k->w;
    sub_batch_t *b;
    pthread_mutex_lock(&w->report);
    while ((b = take_due(w)) != NULL) {
        sub_error_t e = {0};
        bool failed;
        pthread_mutex_lock(&w->mu);
        failed = w->failed;
        pthread_mutex_unlock(&w->mu);
        if (!failed && w->on_written && !w->on_written(w->ctx, &k->conn, b, &e))
            fail(w, &e);
        sub_batch_free(b);
    }
    pthread_mutex_unlock(&w->report);
}

static void *writer_main(void *arg)
{
    worker_t *k = arg;
    sub_writer_t *w = k->w;
    sub_batch_t *b;
    while ((b = next_batch(w)) != NULL) {
        sub_error_t e = {0};
        pthread_mutex_lock(&w->mu);
        bool skip = w->failed;
        pthread_mutex_unlock(&w->mu);
        if (!skip && !write_batch(k, b, &e))
            fail(w, &e);
        pthread_mutex_lock(&w->mu);
        w->done[b->seq % RING] = b;
        pthread_mutex_unlock(&w->mu);
        report_due(k);
    }
    return NULL;
}

static bool start_worker(sub_writer_t *w, worker_t *k, const sub_db_t *db, const char *collection,
                         sub_error_t *err)
{
    k->w = w;
    if (!sub_db_clone(db, &k->conn, err))
        return false;
    k->coll = mongoc_database_get_collection(k->conn.db, collection);
    if (pthread_create(&k->thread, NULL, writer_main, k) != 0)
        return sub_error_set(err, SUB_E_INTERNAL, 0, "cannot start a writer thread");
    k->started = true;
    return true;
}

static void stop_workers(sub_writer_t *w)
{
    pthread_mutex_lock(&w->mu);
    w->closing = true;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    for (int i = 0; i < w->nworkers; i++) {
        worker_t *k = &w->workers[i];
        if (k->started)
            pthread_join(k->thread, NULL);
        if (k->coll)
            mongoc_collection_destroy(k->coll);
        sub_db_close(&k->conn);
    }
    for (size_t i = 0; i < RING; i++)
        sub_batch_free(w->done[i]); /* left unreported only after a failure */
    pthread_mutex_destroy(&w->mu);
    pthread_mutex_destroy(&w->report);
    pthread_cond_destroy(&w->cv);
}

bool sub_writer_start(const sub_db_t *db, const char *collection, bool upsert, int nthreads,
                      sub_writer_done_fn on_written, void *ctx, sub_writer_t **out,
                      sub_error_t *err)
{
    sub_writer_t *w = calloc(1, sizeof *w);
    if (!w)
        abort();
    w->upsert = upsert;
    w->on_written = on_written;
    w->ctx = ctx;
    w->nworkers = nthreads < 1                        ? 1
                  : nthreads > SUB_WRITER_MAX_THREADS ? SUB_WRITER_MAX_THREADS
                                                      : nthreads;
    pthread_mutex_init(&w->mu, NULL);
    pthread_mutex_init(&w->report, NULL);
    pthread_cond_init(&w->cv, NULL);
    bool ok = true;
    for (int i = 0; ok && i < w->nworkers; i++)
        ok = start_worker(w, &w->workers[i], db, collection, err);
    if (!ok) {
        stop_workers(w);
        free(w);
        return false;
    }
    *out = w;
    return true;
}

bool sub_writer_submit(sub_writer_t *w, sub_batch_t *b, sub_error_t *err)
{
    pthread_mutex_lock(&w->mu);
    while (w->count == QUEUE_LEN && !w->failed)
        pthread_cond_wait(&w->cv, &w->mu);
    bool failed = w->failed;
    if (!failed) {
        b->seq = w->next_seq++;
        w->queue[(w->head + w->count) % QUEUE_LEN] = b;
        w->count++;
        pthread_cond_broadcast(&w->cv);
    } else if (err) {
        *err = w->error;
    }
    pthread_mutex_unlock(&w->mu);
    if (failed)
        sub_batch_free(b);
    return !failed;
}

bool sub_writer_finish(sub_writer_t *w, sub_writer_stats_t *stats, sub_error_t *err)
{
    stop_workers(w);
    bool ok = !w->failed;
    if (!ok && err)
        *err = w->error;
    if (stats)
        *stats = w->stats;
    free(w);
    return ok;
}
