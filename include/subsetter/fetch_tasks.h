/* fetch_tasks.h - the fetch stage's work list in subsetter.fetch_tasks, shared through
 * leases by any number of worker processes on any number of hosts.
 *
 * One task per sample of a dataset (unique on {dataset, sample_id}), created server-side
 * from the samples with $merge. A worker claims a batch atomically: it picks candidate
 * ids, then one updateMany sets state "leased", its owner, a claim token and an expiry
 * only on the candidates still claimable, and it reads back the ones carrying its token,
 * so no task is ever held by two workers. Leases are renewed while the work goes on; a
 * worker killed with kill -9 stops renewing, its leases expire and others take the tasks
 * over. States: pending -> leased -> done | failed, and leased -> pending (a transient
 * failure, with next_attempt_at, or a release on SIGTERM).
 */
#ifndef SUBSETTER_FETCH_TASKS_H
#define SUBSETTER_FETCH_TASKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <bson/bson.h>

#include "subsetter/db.h"
#include "subsetter/error.h"

#define SUB_FETCH_TASKS        "subsetter.fetch_tasks"
#define SUB_FETCH_DEFAULT_BASE "https://open-images-dataset.s3.amazonaws.com/"

typedef struct {
    bson_oid_t id;
    bson_oid_t sample_id;
    char *filepath;
    char *label; /* NULL for samples without ground_truth */
    char **urls; /* tried in order */
    size_t nurls;
    char *original_url; /* with --fallback original: that URL and its */
    char *original_md5; /* OriginalMD5 (base64), else NULL */
    int32_t attempts;
} sub_fetch_task_t;

typedef struct {
    int64_t pending, leased, done, failed;
    int64_t replaced; /* failed tasks whose sample was backfilled (no longer missing) */
} sub_fetch_counts_t;

/* Creates the missing tasks of every sample of the dataset (existing ones are kept):
 * URLs <base><split>/<open_images_id>.jpg, then the sample's original_url when
 * with_original is set. Runs as one aggregation ending in $merge. *created receives how
 * many tasks there are now in total for the dataset. */
bool sub_fetch_tasks_sync(sub_db_t *db, const char *dataset, const char *sample_collection,
                          const char *base_url, bool with_original, int64_t *total,
                          sub_error_t *err);

/* The same for one sample (a backfilled replacement). */
bool sub_fetch_task_add(sub_db_t *db, const char *dataset, const char *sample_collection,
                        const bson_oid_t *sample, const char *base_url, bool with_original,
                        sub_error_t *err);

/* Claims up to n tasks for owner (pending ones whose next_attempt_at has come, and
 * leased ones whose lease expired), with a lease of lease_ms. *tasks is an array the
 * caller frees with sub_fetch_tasks_free. */
bool sub_fetch_claim(sub_db_t *db, const char *dataset, const char *owner, size_t n,
                     int64_t lease_ms, sub_fetch_task_t **tasks, size_t *ntasks, sub_error_t *err);
void sub_fetch_tasks_free(sub_fetch_task_t *tasks, size_t n);

/* Extends every lease the owner holds by lease_ms from now. */
bool sub_fetch_renew(sub_db_t *db, const char *owner, int64_t lease_ms, sub_error_t *err);

/* Gives back every task the owner holds (state pending, no owner). */
bool sub_fetch_release(sub_db_t *db, const char *owner, sub_error_t *err);

/* Marks a task done (bytes written) - only if the owner still holds it. *held tells. */
bool sub_fetch_task_done(sub_db_t *db, const bson_oid_t *task, const char *owner, int64_t bytes,
                         bool *held, sub_error_t *err);

/* Records a failure: permanent ones end in "failed"; transient ones go back to "pending"
 * with next_attempt_at = now + retry_ms. attempts is incremented either way. */
bool sub_fetch_task_fail(sub_db_t *db, const bson_oid_t *task, const char *owner, bool permanent,
                         const char *code, const char *message, int http_status, int64_t retry_ms,
                         sub_error_t *err);

bool sub_fetch_counts(sub_db_t *db, const char *dataset, sub_fetch_counts_t *c, sub_error_t *err);

/* A worker id unique across hosts and processes: "<host>:<pid>:<random hex>". Caller
 * frees. */
char *sub_fetch_owner_id(void);

#endif
