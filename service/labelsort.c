#define SUB_LOG_DOMAIN "labelsort"
#include "subsetter/labelsort.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "subsetter/log.h"
#include "subsetter/strutil.h"

/* 4 Mi records = 96 MiB: the real train label file (9 M rows) then needs three runs. */
#define DEFAULT_BUFFER_RECORDS (4u << 20)
/* Pages behind the cursor are released in steps of this many records (~24 MiB). */
#define RELEASE_STEP (1u << 20)

typedef struct {
    uint64_t first; /* index of the run's first record in the spill file */
    uint64_t count;
} run_t;

struct sub_labelsort {
    char *spill_path;
    char *merged_path;
    int fd;
    sub_label_rec_t *buf;
    size_t cap, len;
    bool buf_sorted;
    bool sorted; /* every record so far came in order */
    uint64_t last_image;
    run_t *runs;
    size_t nruns;
    uint64_t total;
    const sub_label_rec_t *map;
    size_t map_bytes;
    uint64_t cursor;     /* next unread record in sequential mode */
    uint64_t released;   /* records before this index were madvise'd away */
    uint64_t last_query; /* image of the previous find */
    uint64_t matched;
};

static int rec_cmp(const void *a, const void *b)
{
    const sub_label_rec_t *x = a, *y = b;
    if (x->image != y->image)
        return x->image < y->image ? -1 : 1;
    return x->row < y->row ? -1 : x->row > y->row;
}

static bool rec_less(const sub_label_rec_t *x, const sub_label_rec_t *y)
{
    return rec_cmp(x, y) < 0;
}

static bool write_all(int fd, const void *data, size_t n, const char *path, sub_error_t *err)
{
    const char *p = data;
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return sub_error_set(err, SUB_E_IO, errno, "write %s: %s", path, strerror(errno));
        p += w;
        n -= (size_t)w;
    }
    return true;
}

bool sub_labelsort_new(const char *dir, size_t buffer_records, sub_labelsort_t **out,
                       sub_error_t *err)
{
    *out = NULL;
    if (!sub_mkdir_p(dir, err))
        return false;
    sub_labelsort_t *s = calloc(1, sizeof *s);
    if (!s)
        abort();
    s->fd = -1;
    s->cap = buffer_records ? buffer_records : DEFAULT_BUFFER_RECORDS;
    s->buf = sub_xmalloc(s->cap * sizeof *s->buf);
    s->buf_sorted = s->sorted = true;
    s->spill_path = sub_xasprintf("%s/labels-%d-%p.spill", dir, (int)getpid(), (void *)s);
    s->merged_path = sub_xasprintf("%s/labels-%d-%p.sorted", dir, (int)getpid(), (void *)s);
    s->fd = open(s->spill_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (s->fd < 0) {
        sub_error_set(err, SUB_E_IO, errno, "create %s: %s", s->spill_path, strerror(errno));
        sub_labelsort_free(s);
        return false;
    }
    *out = s;
    return true;
}

static bool flush_run(sub_labelsort_t *s, sub_error_t *err)
{
    if (s->len == 0)
        return true;
    if (!s->buf_sorted)
        qsort(s->buf, s->len, sizeof *s->buf, rec_cmp);
    if (!write_all(s->fd, s->buf, s->len * sizeof *s->buf, s->spill_path, err))
        return false;
    s->runs = sub_xrealloc(s->runs, (s->nruns + 1) * sizeof *s->runs);
    s->runs[s->nruns++] = (run_t){s->total - s->len, s->len};
    s->len = 0;
    s->buf_sorted = true;
    return true;
}

bool sub_labelsort_add(sub_labelsort_t *s, const sub_label_rec_t *rec, sub_error_t *err)
{
    if (s->total && rec->image < s->last_image) {
        s->sorted = false;
        if (s->len)
            s->buf_sorted = s->buf_sorted && !rec_less(rec, &s->buf[s->len - 1]);
    }
    s->last_image = rec->image;
    s->buf[s->len++] = *rec;
    s->total++;
    return s->len < s->cap || flush_run(s, err);
}

/* A buffered reader over one run of the spill file. */
typedef struct {
    uint64_t next, end; /* record indexes in the file */
    sub_label_rec_t *buf;
    size_t pos, len, cap;
} cursor_t;

static bool cursor_fill(cursor_t *c, int fd, const char *path, sub_error_t *err)
{
    size_t want = c->end - c->next < c->cap ? (size_t)(c->end - c->next) : c->cap;
    ssize_t r = pread(fd, c->buf, want * sizeof *c->buf, (off_t)(c->next * sizeof *c->buf));
    if (r < 0 || (size_t)r != want * sizeof *c->buf)
        return sub_error_set(err, SUB_E_IO, errno, "read %s: %s", path,
                             r < 0 ? strerror(errno) : "short read");
    c->next += want;
    c->pos = 0;
    c->len = want;
    return true;
}

/* k-way merge of the runs into merged_path: k is small (total / buffer), so a linear scan
 * for the smallest head is as fast as a heap and simpler. */
static bool merge_runs(sub_labelsort_t *s, sub_error_t *err)
{
    int out = open(s->merged_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (out < 0)
        return sub_error_set(err, SUB_E_IO, errno, "create %s: %s", s->merged_path,
                             strerror(errno));
    size_t k = s->nruns;
    if (s->cap < (k + 1) * 64) {
        /* Each run and the output get at least 64 records: with a tiny buffer and many
         * runs the buffer grows, which only tests and absurd settings reach. */
        s->cap = (k + 1) * 64;
        s->buf = sub_xrealloc(s->buf, s->cap * sizeof *s->buf);
    }
    size_t per = s->cap / (k + 1);
    cursor_t *cur = calloc(k, sizeof *cur);
    sub_label_rec_t *outbuf = s->buf + per * k; /* the rest of the big buffer */
    size_t outcap = s->cap - per * k, outlen = 0;
    bool ok = cur != NULL;
    for (size_t i = 0; ok && i < k; i++) {
        cur[i] = (cursor_t){
            s->runs[i].first, s->runs[i].first + s->runs[i].count, s->buf + per * i, 0, 0, per};
        ok = cursor_fill(&cur[i], s->fd, s->spill_path, err);
    }
    while (ok) {
        size_t best = k;
        for (size_t i = 0; i < k; i++)
            if (cur[i].pos < cur[i].len &&
                (best == k || rec_less(&cur[i].buf[cur[i].pos], &cur[best].buf[cur[best].pos])))
                best = i;
        if (best == k)
            break;
        outbuf[outlen++] = cur[best].buf[cur[best].pos++];
        if (outlen == outcap) {
            ok = write_all(out, outbuf, outlen * sizeof *outbuf, s->merged_path, err);
            outlen = 0;
        }
        if (ok && cur[best].pos == cur[best].len && cur[best].next < cur[best].end)
            ok = cursor_fill(&cur[best], s->fd, s->spill_path, err);
    }
    if (ok)
        ok = write_all(out, outbuf, outlen * sizeof *outbuf, s->merged_path, err);
    free(cur);
    close(out);
    if (!ok)
        return false;
    close(s->fd);
    unlink(s->spill_path);
    s->fd = open(s->merged_path, O_RDONLY | O_CLOEXEC);
    if (s->fd < 0)
        return sub_error_set(err, SUB_E_IO, errno, "open %s: %s", s->merged_path, strerror(errno));
    return true;
}

bool sub_labelsort_finish(sub_labelsort_t *s, sub_error_t *err)
{
    if (!flush_run(s, err))
        return false;
    if (!s->sorted && s->nruns > 1 && !merge_runs(s, err))
        return false;
    free(s->buf); /* the mapping replaces it */
    s->buf = NULL;
    s->map_bytes = (size_t)s->total * sizeof(sub_label_rec_t);
    if (s->total == 0)
        return true;
    void *m = mmap(NULL, s->map_bytes, PROT_READ, MAP_PRIVATE, s->fd, 0);
    if (m == MAP_FAILED)
        return sub_error_set(err, SUB_E_IO, errno, "mmap sorted labels: %s", strerror(errno));
    madvise(m, s->map_bytes, MADV_SEQUENTIAL);
    s->map = m;
    return true;
}

bool sub_labelsort_was_sorted(const sub_labelsort_t *s)
{
    return s->sorted;
}

static uint64_t lower_bound(const sub_label_rec_t *a, uint64_t lo, uint64_t hi, uint64_t image)
{
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        if (a[mid].image < image)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Releases the pages of records already passed in sequential mode. */
static void release_behind(sub_labelsort_t *s)
{
    long page = sysconf(_SC_PAGESIZE);
    uint64_t upto = s->cursor - s->cursor % RELEASE_STEP;
    if (upto <= s->released + RELEASE_STEP || page <= 0)
        return;
    size_t from = (size_t)(s->released * sizeof *s->map) / (size_t)page * (size_t)page;
    size_t to = (size_t)(upto * sizeof *s->map) / (size_t)page * (size_t)page;
    if (to > from)
        madvise((char *)s->map + from, to - from, MADV_DONTNEED);
    s->released = upto;
}

void sub_labelsort_find(sub_labelsort_t *s, uint64_t image, const sub_label_rec_t **first,
                        size_t *n)
{
    *first = NULL;
    *n = 0;
    if (!s->map)
        return;
    uint64_t at;
    if (image >= s->last_query) {
        /* Gallop forward from the cursor, then bisect: O(1) for consecutive images. */
        uint64_t lo = s->cursor, step = 1, hi = lo;
        while (hi < s->total && s->map[hi].image < image) {
            lo = hi;
            hi = hi + step < s->total ? hi + step : s->total;
            step *= 2;
        }
        at = lower_bound(s->map, lo, hi, image);
    } else {
        at = lower_bound(s->map, 0, s->total, image);
    }
    uint64_t end = at;
    while (end < s->total && s->map[end].image == image)
        end++;
    bool forward = image >= s->last_query;
    s->cursor = end; /* also after a step back: the next gallop starts from here */
    if (forward)
        release_behind(s);
    s->last_query = image;
    *first = s->map + at;
    *n = (size_t)(end - at);
    s->matched += end - at;
}

uint64_t sub_labelsort_count(const sub_labelsort_t *s)
{
    return s->total;
}

uint64_t sub_labelsort_matched(const sub_labelsort_t *s)
{
    return s->matched;
}

void sub_labelsort_free(sub_labelsort_t *s)
{
    if (!s)
        return;
    if (s->map)
        munmap((void *)s->map, s->map_bytes);
    if (s->fd >= 0)
        close(s->fd);
    unlink(s->spill_path);
    unlink(s->merged_path);
    free(s->spill_path);
    free(s->merged_path);
    free(s->buf);
    free(s->runs);
    free(s);
}
