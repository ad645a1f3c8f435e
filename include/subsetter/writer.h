/* writer.h - background threads that write batches of documents, so parsing and
 * building the next batch overlaps with the server storing the previous ones.
 *
 * Each of n threads has its own connection and writes whole batches, each as one
 * unordered bulk operation, so n batches can be in flight at once. In insert mode, documents are
 * inserted; any that already exist (duplicate _id, from a run that was killed after writing but
 * before recording its checkpoint) are replaced instead, so the result is the same in both modes.
 * In upsert mode every document is a replace-one upsert by _id.
 *
 * `on_written` is called once per batch, in submission order, only when that batch and
 * every earlier one are acknowledged, on a writer thread with that thread's connection:
 * the place to record a checkpoint, which therefore never runs ahead of the data. Memory
 * is bounded by (2 + 2n) batches: two queued, n being written, n waiting for an earlier
 * one to finish.
 */
#ifndef SUBSETTER_WRITER_H
#define SUBSETTER_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <bson/bson.h>

#include "subsetter/db.h"
#include "subsetter/error.h"

typedef struct {
    bson_t **docs;
    size_t len, cap;
    uint64_t tag; /* the caller's position after this batch (e.g. rows consumed) */
    void *counts; /* the caller's counters as of this batch, copied (may be NULL) */
    size_t counts_bytes;
    uint64_t seq; /* set by sub_writer_submit */
} sub_batch_t;

typedef struct {
    uint64_t inserted, upserted, matched, modified, batches;
} sub_writer_stats_t;

typedef bool (*sub_writer_done_fn)(void *ctx, sub_db_t *conn, const sub_batch_t *batch,
                                   sub_error_t *err);

typedef struct sub_writer sub_writer_t;

#define SUB_WRITER_MAX_THREADS 8

/* Starts nthreads (1 to SUB_WRITER_MAX_THREADS) threads, each on its own clone of db's
 * connection. Keeps a reference to nothing of db. */
bool sub_writer_start(const sub_db_t *db, const char *collection, bool upsert, int nthreads,
                      sub_writer_done_fn on_written, void *ctx, sub_writer_t **out,
                      sub_error_t *err);

/* A new empty batch for up to cap documents (the caller fills docs[len++]). */
sub_batch_t *sub_batch_new(size_t cap);
void sub_batch_free(sub_batch_t *b);

/* Hands the batch to the writer (it takes ownership), waiting while two are queued.
 * False, with the writer's error, once the writer has failed. */
bool sub_writer_submit(sub_writer_t *w, sub_batch_t *b, sub_error_t *err);

/* Waits for every submitted batch, stops the thread and frees the writer. Returns the
 * first error, if any. *stats may be NULL. */
bool sub_writer_finish(sub_writer_t *w, sub_writer_stats_t *stats, sub_error_t *err);

#endif
