#define SUB_LOG_DOMAIN "progress"
#include "subsetter/progress.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "subsetter/log.h"

#define TTY_INTERVAL 0.1

double sub_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void sub_progress_init(sub_progress_t *p, const char *what, int64_t total_bytes, bool quiet,
                       int64_t interval_ms)
{
    memset(p, 0, sizeof *p);
    snprintf(p->what, sizeof p->what, "%s", what);
    p->total_bytes = total_bytes;
    p->start = p->last = sub_now();
    p->tty = isatty(STDERR_FILENO);
    p->quiet = quiet;
    p->interval = p->tty ? TTY_INTERVAL : (double)interval_ms / 1000.0;
}

void sub_progress_init_items(sub_progress_t *p, const char *what, int64_t total_items,
                             const char *unit, bool quiet, int64_t interval_ms)
{
    sub_progress_init(p, what, 0, quiet, interval_ms);
    p->total_items = total_items;
    p->unit = unit;
}

/* Item mode: done/total items, the rate and the ETA. */
static void draw_items(sub_progress_t *p, bool final)
{
    double elapsed = sub_now() - p->start;
    double rate = elapsed > 0 ? (double)p->rows / elapsed : 0;
    double frac = p->total_items > 0 ? (double)p->rows / (double)p->total_items : 0;
    char left[32] = "ETA ?", bar[21];
    if (rate > 0 && p->total_items > 0)
        snprintf(left, sizeof left, "ETA %.0fs", ((double)p->total_items - (double)p->rows) / rate);
    frac = frac > 1 ? 1 : frac;
    for (int i = 0; i < 20; i++)
        bar[i] = i < (int)(frac * 20) ? '#' : '.';
    bar[20] = '\0';
    if (p->tty) {
        fprintf(stderr, "\r%-16s [%s] %3.0f%%  %llu/%lld %s  %.1f/s  %s\033[K%s", p->what, bar,
                frac * 100, (unsigned long long)p->rows, (long long)p->total_items, p->unit, rate,
                final ? "" : left, final ? "\n" : "");
        p->drawn = !final;
    } else {
        SUB_LOG(SUB_LOG_INFO, "%s: %.0f%% %llu/%lld %s, %.1f/s, %s", p->what, frac * 100,
                (unsigned long long)p->rows, (long long)p->total_items, p->unit, rate,
                final ? "done" : left);
    }
}

static void human_rate(char *out, size_t n, double bytes_per_s)
{
    snprintf(out, n, "%.1f MB/s", bytes_per_s / 1e6);
}

static void eta(char *out, size_t n, const sub_progress_t *p, double elapsed)
{
    if (p->total_bytes <= 0 || p->done_bytes <= 0 || elapsed <= 0) {
        snprintf(out, n, "ETA ?");
        return;
    }
    double left = (double)(p->total_bytes - p->done_bytes) / ((double)p->done_bytes / elapsed);
    snprintf(out, n, "ETA %.0fs", left < 0 ? 0 : left);
}

static void draw(sub_progress_t *p, bool final)
{
    if (p->unit) {
        draw_items(p, final);
        return;
    }
    double elapsed = sub_now() - p->start;
    char rate[32], left[32], bar[21];
    human_rate(rate, sizeof rate, elapsed > 0 ? (double)p->done_bytes / elapsed : 0);
    eta(left, sizeof left, p, elapsed);
    double frac = p->total_bytes > 0 ? (double)p->done_bytes / (double)p->total_bytes : 0;
    if (frac > 1)
        frac = 1;
    for (int i = 0; i < 20; i++)
        bar[i] = i < (int)(frac * 20) ? '#' : '.';
    bar[20] = '\0';
    if (p->tty) {
        fprintf(stderr, "\r%-16s [%s] %3.0f%%  %.1f/%.1f MB  %.2f M rows  %s  %s\033[K%s", p->what,
                bar, frac * 100, (double)p->done_bytes / 1e6, (double)p->total_bytes / 1e6,
                (double)p->rows / 1e6, rate, final ? "" : left, final ? "\n" : "");
        p->drawn = !final;
    } else {
        SUB_LOG(SUB_LOG_INFO, "%s: %.0f%% %.1f/%.1f MB, %llu rows, %s, %s", p->what, frac * 100,
                (double)p->done_bytes / 1e6, (double)p->total_bytes / 1e6,
                (unsigned long long)p->rows, rate, final ? "done" : left);
    }
}

void sub_progress_update(sub_progress_t *p, int64_t done_bytes, uint64_t rows)
{
    p->done_bytes = done_bytes;
    p->rows = rows;
    if (p->quiet)
        return;
    double now = sub_now();
    if (now - p->last < p->interval)
        return;
    p->last = now;
    draw(p, false);
}

void sub_progress_done(sub_progress_t *p)
{
    if (!p->quiet && (p->tty || p->rows))
        draw(p, true);
}
