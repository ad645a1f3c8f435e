#define SUB_LOG_DOMAIN "idranges"
#include "subsetter/idranges.h"

#include <pthread.h>

#include "subsetter/parallel.h"

typedef struct {
    const char *collection;
    int64_t min_size;
    sub_idrange_fn fn;
    void *ctx;
    pthread_mutex_t mu;       /* guards everything below */
    sub_id_bound_t low, high; /* not taken yet: low <= _id < high */
    int64_t left;             /* about how many _ids that is */
    bool done;                /* the sides met, or one failed */
} run_t;

void sub_id_range_append(bson_t *filter, const sub_id_bound_t *lo, const sub_id_bound_t *hi)
{
    bson_t range;
    if (!lo->set && !hi->set)
        return;
    BSON_APPEND_DOCUMENT_BEGIN(filter, "_id", &range);
    if (lo->set)
        BSON_APPEND_OID(&range, "$gte", &lo->id);
    if (hi->set)
        BSON_APPEND_OID(&range, "$lt", &hi->id);
    bson_append_document_end(filter, &range);
}

/* The _id `size` places from `from` along the index. Upward: the first _id after the
 * `size` at or above from, so [from, edge) holds size _ids. Downward (from is the lowest
 * _id taken): the size-th _id below from, so [edge, from) holds size. Unset when fewer
 * are left. */
static bool find_edge(mongoc_collection_t *coll, const sub_id_bound_t *from, bool up, int64_t size,
                      sub_id_bound_t *edge, sub_error_t *err)
{
    static const sub_id_bound_t open = {.set = false};
    bson_t filter = BSON_INITIALIZER;
    sub_id_range_append(&filter, up ? from : &open, up ? &open : from);
    bson_t *opts = BCON_NEW("projection", "{", "_id", BCON_INT32(1), "}", "sort", "{", "_id",
                            BCON_INT32(up ? 1 : -1), "}", "skip", BCON_INT64(up ? size : size - 1),
                            "limit", BCON_INT64(1));
    mongoc_cursor_t *c = mongoc_collection_find_with_opts(coll, &filter, opts, NULL);
    const bson_t *doc;
    bson_iter_t it;
    bson_error_t be;
    edge->set = false;
    if (mongoc_cursor_next(c, &doc) && bson_iter_init_find(&it, doc, "_id") &&
        BSON_ITER_HOLDS_OID(&it)) {
        bson_oid_copy(bson_iter_oid(&it), &edge->id);
        edge->set = true;
    }
    bool ok = !mongoc_cursor_error(c, &be) || sub_db_error(&be, "cut the samples into ranges", err);
    mongoc_cursor_destroy(c);
    bson_destroy(opts);
    bson_destroy(&filter);
    return ok;
}

/* Where `side` goes on from, and how far (a quarter of what is left, at least min_size);
 * false once nothing is left. */
static bool next_from(run_t *r, unsigned side, sub_id_bound_t *from, int64_t *size)
{
    pthread_mutex_lock(&r->mu);
    bool more = !r->done;
    *from = side == 0 ? r->low : r->high;
    *size = r->left / 4 > r->min_size ? r->left / 4 : r->min_size;
    pthread_mutex_unlock(&r->mu);
    return more;
}

/* Takes the range from `side`'s frontier to the edge it found, or, when the edge is at
 * or past the other side's frontier (or missing: fewer _ids than asked for), up to that
 * frontier, which is the last range. Only side 0 moves `low` and only side 1 `high`, so
 * a range taken under the lock never overlaps one the other side took. False when the
 * other side took the last range meanwhile. */
static bool claim(run_t *r, unsigned side, const sub_id_bound_t *edge, int64_t size,
                  sub_id_bound_t *lo, sub_id_bound_t *hi)
{
    pthread_mutex_lock(&r->mu);
    bool any = !r->done;
    if (any && side == 0) {
        bool last = !edge->set || (r->high.set && bson_oid_compare(&edge->id, &r->high.id) >= 0);
        *lo = r->low;
        *hi = last ? r->high : *edge;
        r->low = *hi;
        r->done = last;
    } else if (any) {
        bool last = !edge->set || (r->low.set && bson_oid_compare(&edge->id, &r->low.id) <= 0);
        *lo = last ? r->low : *edge;
        *hi = r->high;
        r->high = *lo;
        r->done = last;
    }
    r->left -= size;
    pthread_mutex_unlock(&r->mu);
    return any;
}

static void stop(run_t *r)
{
    pthread_mutex_lock(&r->mu);
    r->done = true;
    pthread_mutex_unlock(&r->mu);
}

static bool empty(const sub_id_bound_t *lo, const sub_id_bound_t *hi)
{
    return lo->set && hi->set && bson_oid_compare(&lo->id, &hi->id) >= 0;
}

static bool work(sub_db_t *conn, void *job, size_t i, sub_error_t *err)
{
    run_t *r = job;
    unsigned side = (unsigned)i;
    mongoc_collection_t *coll = mongoc_database_get_collection(conn->db, r->collection);
    sub_id_bound_t from, edge, lo, hi;
    int64_t size;
    bool ok = true;
    while (ok && next_from(r, side, &from, &size)) {
        ok = find_edge(coll, &from, side == 0, size, &edge, err);
        if (!ok || !claim(r, side, &edge, size, &lo, &hi))
            break;
        if (!empty(&lo, &hi))
            ok = r->fn(coll, &lo, &hi, side, r->ctx, err);
    }
    if (!ok)
        stop(r);
    mongoc_collection_destroy(coll);
    return ok;
}

bool sub_idranges_run(const sub_db_t *db, const char *collection, int64_t min_size,
                      sub_idrange_fn fn, void *ctx, sub_error_t *err)
{
    run_t r = {
        .collection = collection, .min_size = min_size > 0 ? min_size : 1, .fn = fn, .ctx = ctx};
    bson_error_t be;
    mongoc_collection_t *coll = mongoc_database_get_collection(db->db, collection);
    r.left = mongoc_collection_estimated_document_count(coll, NULL, NULL, NULL, &be);
    mongoc_collection_destroy(coll);
    if (r.left < 0)
        return sub_db_error(&be, "count samples", err);
    pthread_mutex_init(&r.mu, NULL);
    bool ok = sub_parallel_run(db, 2, 2, work, &r, err);
    pthread_mutex_destroy(&r.mu);
    return ok;
}
