#include "subsetter/parallel.h"

#include <pthread.h>
#include <stdatomic.h>

#define MAX_THREADS 16

typedef struct {
    const sub_db_t *db;
    size_t n;
    sub_parallel_fn fn;
    void *job;
    atomic_size_t next;
    atomic_bool failed;
    pthread_mutex_t lock; /* guards err */
    sub_error_t err;
} shared_t;

static void record_failure(shared_t *s, const sub_error_t *err)
{
    pthread_mutex_lock(&s->lock);
    if (!atomic_exchange(&s->failed, true))
        s->err = *err;
    pthread_mutex_unlock(&s->lock);
}

static void *worker(void *arg)
{
    shared_t *s = arg;
    sub_db_t conn = {0};
    sub_error_t err = {0};
    if (!sub_db_clone(s->db, &conn, &err)) {
        record_failure(s, &err);
        return NULL;
    }
    for (;;) {
        size_t i = atomic_fetch_add(&s->next, 1);
        if (i >= s->n || atomic_load(&s->failed))
            break;
        if (!s->fn(&conn, s->job, i, &err)) {
            record_failure(s, &err);
            break;
        }
    }
    sub_db_close(&conn);
    return NULL;
}

bool sub_parallel_run(const sub_db_t *db, unsigned threads, size_t n, sub_parallel_fn fn, void *job,
                      sub_error_t *err)
{
    shared_t s = {.db = db, .n = n, .fn = fn, .job = job};
    pthread_t tids[MAX_THREADS];
    unsigned started = 0;
    if (threads > MAX_THREADS)
        threads = MAX_THREADS;
    if (threads > n)
        threads = (unsigned)n;
    atomic_init(&s.next, 0);
    atomic_init(&s.failed, false);
    pthread_mutex_init(&s.lock, NULL);
    while (started < threads && pthread_create(&tids[started], NULL, worker, &s) == 0)
        started++;
    if (started == 0 && threads > 0) {
        sub_error_t e = {0};
        sub_error_set(&e, SUB_E_INTERNAL, 0, "cannot start a worker thread");
        record_failure(&s, &e);
    }
    for (unsigned t = 0; t < started; t++)
        pthread_join(tids[t], NULL);
    pthread_mutex_destroy(&s.lock);
    if (s.failed && err)
        *err = s.err;
    return !s.failed;
}
