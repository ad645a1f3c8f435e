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

struct sub_writer {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    sub_batch_t *queue[QUEUE_LEN];
    size_t head, count;
    bool closing;
    bool failed;
    sub_error_t error;
    sub_db_t conn;
    mongoc_collection_t *coll;
    bool upsert;
    sub_writer_done_fn on_written;
    void *ctx;
    sub_writer_stats_t stats;
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

static bool run_bulk(sub_writer_t *w, sub_batch_t *b, bool upsert, const bool *only, bson_t *reply,
                     bson_error_t *be)
{
    bson_t *opts = BCON_NEW("ordered", BCON_BOOL(false));
    bson_t *rep = BCON_NEW("upsert", BCON_BOOL(true));
    mongoc_bulk_operation_t *bulk =
        mongoc_collection_create_bulk_operation_with_opts(w->coll, opts);
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
            mongoc_bulk_operation_insert_with_opts(bulk, b->docs[i], NULL, NULL);
        }
    }
    bool ok = mongoc_bulk_operation_execute(bulk, reply, be) != 0;
    mongoc_bulk_operation_destroy(bulk);
    bson_destroy(opts);
    bson_destroy(rep);
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

static bool write_batch(sub_writer_t *w, sub_batch_t *b, sub_error_t *err)
{
    bson_t reply;
    bson_error_t be;
    bool ok = run_bulk(w, b, w->upsert, NULL, &reply, &be);
    w->stats.inserted += (uint64_t)reply_int(&reply, "nInserted");
    w->stats.upserted += (uint64_t)reply_int(&reply, "nUpserted");
    w->stats.matched += (uint64_t)reply_int(&reply, "nMatched");
    w->stats.modified += (uint64_t)reply_int(&reply, "nModified");
    if (!ok && !w->upsert) {
        bool *dup = sub_xmalloc(b->len * sizeof *dup);
        if (duplicates_only(&reply, b->len, dup)) {
            bson_destroy(&reply);
            ok = run_bulk(w, b, true, dup, &reply, &be);
            w->stats.matched += (uint64_t)reply_int(&reply, "nMatched");
            w->stats.modified += (uint64_t)reply_int(&reply, "nModified");
        }
        free(dup);
    }
    if (!ok)
        sub_db_error(&be, "bulk write", err);
    bson_destroy(&reply);
    w->stats.batches++;
    return ok && (!w->on_written || w->on_written(w->ctx, &w->conn, b, err));
}

static sub_batch_t *next_batch(sub_writer_t *w)
{
    pthread_mutex_lock(&w->mu);
    while (w->count == 0 && !w->closing)
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

static void *writer_main(void *arg)
{
    sub_writer_t *w = arg;
    sub_batch_t *b;
    while ((b = next_batch(w)) != NULL) {
        sub_error_t e = {0};
        bool ok = w->failed || write_batch(w, b, &e);
        sub_batch_free(b);
        if (!ok) {
            pthread_mutex_lock(&w->mu);
            w->failed = true;
            w->error = e;
            pthread_cond_broadcast(&w->cv);
            pthread_mutex_unlock(&w->mu);
        }
    }
    return NULL;
}

bool sub_writer_start(const sub_db_t *db, const char *collection, bool upsert,
                      sub_writer_done_fn on_written, void *ctx, sub_writer_t **out,
                      sub_error_t *err)
{
    sub_writer_t *w = calloc(1, sizeof *w);
    if (!w)
        abort();
    if (!sub_db_clone(db, &w->conn, err)) {
        free(w);
        return false;
    }
    w->coll = mongoc_database_get_collection(w->conn.db, collection);
    w->upsert = upsert;
    w->on_written = on_written;
    w->ctx = ctx;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    if (pthread_create(&w->thread, NULL, writer_main, w) != 0) {
        mongoc_collection_destroy(w->coll);
        sub_db_close(&w->conn);
        free(w);
        return sub_error_set(err, SUB_E_INTERNAL, 0, "cannot start the writer thread");
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
    pthread_mutex_lock(&w->mu);
    w->closing = true;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    bool ok = !w->failed;
    if (!ok && err)
        *err = w->error;
    if (stats)
        *stats = w->stats;
    mongoc_collection_destroy(w->coll);
    sub_db_close(&w->conn);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    free(w);
    return ok;
}
