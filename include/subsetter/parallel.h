#ifndef SUBSETTER_PARALLEL_H
#define SUBSETTER_PARALLEL_H
/* Running independent server-side commands on several connections at once.
 *
 * mongod runs each command on one core; a stage made of independent commands (the halves
 * of an update, one aggregation per class) finishes sooner when they are sent on several
 * connections. */
#include <stdbool.h>
#include <stddef.h>

#include "subsetter/db.h"
#include "subsetter/error.h"

/* Does item i of a job on the connection `conn` (a clone owned by the calling thread). */
typedef bool (*sub_parallel_fn)(sub_db_t *conn, void *job, size_t i, sub_error_t *err);

/* Runs fn for i = 0..n-1 on up to `threads` cloned connections, each thread taking the
 * next undone item. After the first failure no further item starts; that failure is
 * returned in err. The calling thread waits for all of them. */
bool sub_parallel_run(const sub_db_t *db, unsigned threads, size_t n, sub_parallel_fn fn, void *job,
                      sub_error_t *err);

#endif
