#include "subsetter/parallel.h"

#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

typedef struct {
    size_t n;
    sub_pool_fn fn;
    void *job;
    atomic_size_t next;
    atomic_bool failed;
    pthread_mutex_t lock; /* guards err */
    sub_error_t err;
} pool_t;

typedef struct {
    pool_t *pool;
    unsigned index;
} worker_t;

static void record_failure(pool_t *p, const sub_error_t *err)
{
    pthread_mutex_lock(&p->lock);
    if (!atomic_exchange(&p->failed, true))
        p->err = *err;
    pthread_mutex_unlock(&p->lock);
}

static void *work(void *arg)
{
    worker_t *w = arg;
    pool_t *p = w->pool;
    sub_error_t err = {0};
    for (;;) {
        size_t i = atomic_fetch_add(&p->next, 1);
        if (i >= p->n || atomic_load(&p->failed))
            break;
        if (!p->fn(p->job, i, w->index, &err)) {
            record_failure(p, &err);
            break;
        }
    }
    return NULL;
}

bool sub_pool_run(unsigned threads, size_t n, sub_pool_fn fn, void *job, sub_error_t *err)
{
    pool_t p = {.n = n, .fn = fn, .job = job};
    pthread_t tids[SUB_POOL_MAX_THREADS];
    worker_t workers[SUB_POOL_MAX_THREADS];
    unsigned started = 0;
    if (threads > SUB_POOL_MAX_THREADS)
        threads = SUB_POOL_MAX_THREADS;
    if (threads > n)
        threads = (unsigned)n;
    atomic_init(&p.next, 0);
    atomic_init(&p.failed, false);
    pthread_mutex_init(&p.lock, NULL);
    for (; started < threads; started++) {
        workers[started] = (worker_t){&p, started};
        if (pthread_create(&tids[started], NULL, work, &workers[started]) != 0)
            break;
    }
    if (started == 0 && threads > 0) { /* no thread at all: do the work here */
        worker_t self = {&p, 0};
        work(&self);
    }
    for (unsigned t = 0; t < started; t++)
        pthread_join(tids[t], NULL);
    pthread_mutex_destroy(&p.lock);
    if (p.failed && err)
        *err = p.err;
    return !p.failed;
}

typedef struct {
    sub_db_t conns[SUB_POOL_MAX_THREADS];
    sub_parallel_fn fn;
    void *job;
} db_job_t;

static bool on_conn(void *job, size_t i, unsigned worker, sub_error_t *err)
{
    db_job_t *j = job;
    return j->fn(&j->conns[worker], j->job, i, err);
}

bool sub_parallel_run(const sub_db_t *db, unsigned threads, size_t n, sub_parallel_fn fn, void *job,
                      sub_error_t *err)
{
    db_job_t j = {.fn = fn, .job = job};
    bool ok = true;
    if (threads > SUB_POOL_MAX_THREADS)
        threads = SUB_POOL_MAX_THREADS;
    if (threads > n)
        threads = (unsigned)n;
    for (unsigned t = 0; ok && t < threads; t++)
        ok = sub_db_clone(db, &j.conns[t], err);
    ok = ok && sub_pool_run(threads, n, on_conn, &j, err);
    for (unsigned t = 0; t < threads; t++)
        sub_db_close(&j.conns[t]);
    return ok;
}

unsigned sub_cpu_count(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > SUB_POOL_MAX_THREADS ? SUB_POOL_MAX_THREADS : (unsigned)n;
}
