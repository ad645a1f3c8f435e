#ifndef SUBSETTER_PARALLEL_H
#define SUBSETTER_PARALLEL_H
/* Running independent pieces of work on several threads at once.
 *
 * sub_pool_run() is the plain pool: images decoded on both cores, for instance.
 * sub_parallel_run() gives each thread its own database connection: mongod runs each
 * command on one core, so a stage made of independent commands (the ranges of an update,
 * one aggregation per class) finishes sooner when they are sent on several connections. */
#include <stdbool.h>
#include <stddef.h>

#include "subsetter/db.h"
#include "subsetter/error.h"

#define SUB_POOL_MAX_THREADS 16

/* Does item i of a job on worker `worker` (0 .. threads-1; one thread per worker, so
 * per-worker state indexed by it needs no lock). */
typedef bool (*sub_pool_fn)(void *job, size_t i, unsigned worker, sub_error_t *err);

/* Runs fn for i = 0..n-1 on up to `threads` threads (at most SUB_POOL_MAX_THREADS), each
 * taking the next undone item, so items start in order. After the first failure no
 * further item starts; that failure is returned in err. Returns when all are done. */
bool sub_pool_run(unsigned threads, size_t n, sub_pool_fn fn, void *job, sub_error_t *err);

/* Does item i of a job on the connection `conn` (a clone owned by the calling thread). */
typedef bool (*sub_parallel_fn)(sub_db_t *conn, void *job, size_t i, sub_error_t *err);

/* sub_pool_run() where each thread has its own clone of db. */
bool sub_parallel_run(const sub_db_t *db, unsigned threads, size_t n, sub_parallel_fn fn, void *job,
                      sub_error_t *err);

/* The number of online CPUs, at least 1. */
unsigned sub_cpu_count(void);

#endif
