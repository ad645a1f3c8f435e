/* progress.h - progress for long stages: a bar on a terminal, a log line per interval
 * otherwise (CI logs, docker logs), nothing with --json on a pipe.
 *
 * The bar shows bytes and rows done, the rate and the ETA:
 *   ingest train  [########............]  41%  262.1/638.0 MB  1.14 M rows  96.3 MB/s  ETA 4s
 */
#ifndef SUBSETTER_PROGRESS_H
#define SUBSETTER_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>

typedef struct {
    char what[64];
    int64_t total_bytes; /* 0 when unknown */
    int64_t total_items; /* item mode (sub_progress_init_items): rows are items of `unit` */
    const char *unit;    /* NULL: byte mode */
    int64_t done_bytes;
    uint64_t rows;
    double start, last; /* monotonic seconds */
    double interval;    /* seconds between log lines when not on a terminal */
    bool tty;
    bool quiet;
    bool drawn;
} sub_progress_t;

/* Draws on stderr: a bar redrawn 10 times a second on a terminal, otherwise a log line
 * every interval_ms. quiet: print nothing (-q, --json). */
void sub_progress_init(sub_progress_t *p, const char *what, int64_t total_bytes, bool quiet,
                       int64_t interval_ms);
/* The same for work counted in items (images, samples), shown as done/total, items per
 * second and the ETA:
 *   stats  [########............]  41%  1107/2700 images  312.4/s  ETA 5s */
void sub_progress_init_items(sub_progress_t *p, const char *what, int64_t total_items,
                             const char *unit, bool quiet, int64_t interval_ms);
void sub_progress_update(sub_progress_t *p, int64_t done_bytes, uint64_t rows);
/* Draws the final state and ends the line. */
void sub_progress_done(sub_progress_t *p);

/* Monotonic clock in seconds. */
double sub_now(void);

#endif
