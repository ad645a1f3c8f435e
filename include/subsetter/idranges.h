#ifndef SUBSETTER_IDRANGES_H
#define SUBSETTER_IDRANGES_H
/* idranges.h - one pass over a collection, in _id ranges, by two connections that work
 * from both ends of the _id index toward each other.
 *
 * mongod runs one command on one core. To use two, a pass is cut into _id ranges as it
 * goes: connection 0 takes ranges upward from the first _id, connection 1 downward from
 * the last, each range reaching a number of _ids further along the index (a skip: about
 * 0.17 s per million _ids, every _id walked once in all), a quarter of those not taken
 * yet and at least SUB_IDRANGES_MIN, and the two stop where they meet. So both finish
 * within one small range of each other, however the work is spread along the collection
 * (cut once at the median _id, the half with more single-label samples finished 0.4 s
 * after the other at full scale), and neither waits for a median before it starts.
 *
 * Ranges are [lo, hi) with either side possibly open; together they hold every _id of
 * the collection once. The _ids must be ObjectIds, as FiftyOne's sample ids are: a range
 * bounded by an ObjectId matches no _id of another BSON type. */
#include <stdbool.h>
#include <stdint.h>

#include <mongoc/mongoc.h>

#include "subsetter/db.h"
#include "subsetter/error.h"

#define SUB_IDRANGES_MIN 20000

/* One side of a range: an _id, or none (the range is open on that side). */
typedef struct {
    bson_oid_t id;
    bool set;
} sub_id_bound_t;

/* Appends {_id: {$gte: lo, $lt: hi}} (or the sides that are set) to filter. */
void sub_id_range_append(bson_t *filter, const sub_id_bound_t *lo, const sub_id_bound_t *hi);

/* Works on the range [lo, hi) of coll (the calling connection's), as connection `side`. */
typedef bool (*sub_idrange_fn)(mongoc_collection_t *coll, const sub_id_bound_t *lo,
                               const sub_id_bound_t *hi, unsigned side, void *ctx,
                               sub_error_t *err);

/* Calls fn on ranges covering every _id of `collection` once, on two clones of db, ranges
 * at least `min_size` _ids long (the last ones may be shorter). After a failure no
 * further range starts; the first failure is returned. */
bool sub_idranges_run(const sub_db_t *db, const char *collection, int64_t min_size,
                      sub_idrange_fn fn, void *ctx, sub_error_t *err);

#endif
