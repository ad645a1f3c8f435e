/* backfill.h - keeping a sampled subset balanced when an image is gone for good.
 *
 * A subset made by `subsetter sample` records its source dataset, seed and take
 * multiplier in info.subsetter_sample. When one of its samples fails permanently, the
 * sample leaves the subset and the next candidate of its class in the same seeded order
 * (FiftyOne's take order over the source, skipping samples already in the subset and
 * samples whose fetch already failed) takes its place. The result is the first N live
 * samples of each class in take order: deterministic for a given set of dead links,
 * whatever order the failures arrive in. The replacement is inserted (not merged) under
 * its own _id, so two workers racing for the same candidate cannot both win it; the loser
 * moves on to the next one.
 */
#ifndef SUBSETTER_BACKFILL_H
#define SUBSETTER_BACKFILL_H

#include <stdbool.h>
#include <stdint.h>

#include <bson/bson.h>

#include "subsetter/db.h"
#include "subsetter/error.h"

typedef struct {
    char *subset_collection;
    bson_oid_t subset_id;
    char *source_collection;
    int64_t take_multiplier;
    bool enabled; /* the dataset was made by `subsetter sample` */
} sub_backfill_t;

/* Reads the subset's info.subsetter_sample; enabled stays false for other datasets. */
bool sub_backfill_open(sub_db_t *db, const char *dataset, sub_backfill_t *b, sub_error_t *err);
void sub_backfill_release(sub_backfill_t *b);

/* Replaces failed sample `gone` (class `label`) of dataset `dataset`: removes it from the
 * subset and inserts the next live candidate. *found is false when the class has no
 * candidate left (the subset stays short by one); *replacement is set otherwise. */
bool sub_backfill_replace(sub_db_t *db, const sub_backfill_t *b, const char *dataset,
                          const bson_oid_t *gone, const char *label, bool *found,
                          bson_oid_t *replacement, sub_error_t *err);

#endif
