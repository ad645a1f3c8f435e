/* pixels_main.c - pixels_cli: sub_pixels_* on a file, for tests/integration/test_pixels.py
 * and for timing (not installed).
 *
 *   pixels_cli rgb IN OUT               decode (Image.open(IN).convert("RGB"))
 *   pixels_cli fast MINW MINH IN OUT    DCT-scaled decode to at least MINW x MINH
 *   pixels_cli resize W H IN OUT        decode, then resize((W, H), BILINEAR)
 *   pixels_cli npz IN OUT               decode, then Resize(256) + CenterCrop(224)
 *   pixels_cli crop SIDE CROP IN OUT    decode, then Resize(SIDE) + CenterCrop(CROP)
 *   pixels_cli bench THREADS N CMD ARGS... IN
 *                                       runs CMD (rgb, fast, resize, npz, crop; no OUT) N
 *                                       times on each of THREADS threads, file read once
 *
 * A command writes the raw RGB bytes (rows of w * 3, no header) to OUT and prints one JSON
 * line, {"w": W, "h": H}; bench prints {"threads", "images", "seconds",
 * "ms_per_image_per_thread", "images_per_second"}. On failure: the error on stderr,
 * "pixels_cli: CODE: message", and exit 1 (2 for a usage error).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "subsetter/pixels.h"
#include "subsetter/strutil.h"

#define MAX_THREADS 64

typedef struct {
    const char *cmd;
    int a, b; /* the command's two numbers, if it has them */
} op_t;

typedef struct {
    const op_t *op;
    const uint8_t *buf;
    size_t len;
    int n;
    bool ok;
    sub_error_t err;
} worker_t;

static int usage(void)
{
    fprintf(stderr, "usage: pixels_cli rgb|npz IN OUT\n"
                    "       pixels_cli fast MINW MINH IN OUT\n"
                    "       pixels_cli resize W H IN OUT\n"
                    "       pixels_cli crop SIDE CROP IN OUT\n"
                    "       pixels_cli bench THREADS N CMD [A B] IN\n");
    return 2;
}

/* How many numbers a command takes; -1 for an unknown command. */
static int command_args(const char *cmd)
{
    if (strcmp(cmd, "rgb") == 0 || strcmp(cmd, "npz") == 0)
        return 0;
    if (strcmp(cmd, "fast") == 0 || strcmp(cmd, "resize") == 0 || strcmp(cmd, "crop") == 0)
        return 2;
    return -1;
}

static bool parse_int(const char *s, int min, int *out)
{
    int64_t v;

    if (!sub_parse_int64(s, min, 1 << 30, &v)) {
        fprintf(stderr, "pixels_cli: '%s' is not a number >= %d\n", s, min);
        return false;
    }
    *out = (int)v;
    return true;
}

/* The op's result into *img (the npz and crop results as crop x crop images). */
static bool run_op(const op_t *op, const uint8_t *buf, size_t len, sub_rgb_t *img, sub_error_t *err)
{
    sub_rgb_t full = {0};
    bool fast = strcmp(op->cmd, "fast") == 0;
    bool ok = sub_pixels_decode_rgb(buf, len, fast ? op->a : 0, fast ? op->b : 0, &full, err);

    if (!ok || strcmp(op->cmd, "rgb") == 0 || fast) {
        *img = full;
        return ok;
    }
    if (strcmp(op->cmd, "resize") == 0) {
        ok = sub_pixels_resize(&full, op->a, op->b, img, err);
    } else {
        int side = strcmp(op->cmd, "npz") == 0 ? 256 : op->a;
        int crop = strcmp(op->cmd, "npz") == 0 ? 224 : op->b;
        img->cap = (size_t)crop * (size_t)crop * 3;
        img->px = sub_xmalloc(img->cap);
        img->w = img->h = crop;
        ok = sub_pixels_resize_crop(&full, side, crop, img->px, err);
        if (!ok)
            sub_rgb_release(img);
    }
    sub_rgb_release(&full);
    return ok;
}

static bool write_all(const char *path, const sub_rgb_t *img, sub_error_t *err)
{
    size_t n = (size_t)img->w * (size_t)img->h * 3;
    FILE *f = fopen(path, "wb");

    if (!f)
        return sub_error_set(err, SUB_E_IO, errno, "open %s: %s", path, strerror(errno));
    bool ok = fwrite(img->px, 1, n, f) == n;
    if (fclose(f) != 0)
        ok = false;
    return ok ? true : sub_error_set(err, SUB_E_IO, errno, "write %s: %s", path, strerror(errno));
}

static void *bench_worker(void *arg)
{
    worker_t *w = arg;

    w->ok = true;
    for (int i = 0; i < w->n && w->ok; i++) {
        sub_rgb_t img = {0};
        w->ok = run_op(w->op, w->buf, w->len, &img, &w->err);
        sub_rgb_release(&img);
    }
    return NULL;
}

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int fail(const sub_error_t *err)
{
    fprintf(stderr, "pixels_cli: %s: %s\n", sub_code_name(err->code), err->msg);
    return 1;
}

static int bench(int threads, int n, const op_t *op, const char *in)
{
    sub_buf_t b = {0};
    sub_error_t err = {0};
    worker_t w[MAX_THREADS];
    pthread_t tid[MAX_THREADS];

    if (!sub_buf_read_file(&b, in, &err))
        return fail(&err);
    double t0 = now();
    for (int i = 0; i < threads; i++) {
        w[i] = (worker_t){op, (const uint8_t *)b.data, b.len, n, false, {0}};
        if (pthread_create(&tid[i], NULL, bench_worker, &w[i]) != 0) {
            fprintf(stderr, "pixels_cli: pthread_create failed\n");
            exit(1);
        }
    }
    int status = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(tid[i], NULL);
        if (!w[i].ok)
            status = fail(&w[i].err);
    }
    double s = now() - t0;
    sub_buf_release(&b);
    if (status == 0)
        printf("{\"threads\": %d, \"images\": %d, \"seconds\": %.6f, "
               "\"ms_per_image_per_thread\": %.4f, \"images_per_second\": %.2f}\n",
               threads, threads * n, s, s * 1000.0 / n, threads * n / s);
    return status;
}

/* Parses "CMD [A B]" at argv[i]; *used gets how many arguments that took. */
static bool parse_op(int argc, char **argv, int i, op_t *op, int *used)
{
    int nargs = i < argc ? command_args(argv[i]) : -1;

    if (nargs < 0 || i + nargs >= argc)
        return false;
    op->cmd = argv[i];
    op->a = op->b = 0;
    int min = strcmp(op->cmd, "fast") == 0 ? 0 : 1;
    if (nargs == 2 &&
        (!parse_int(argv[i + 1], min, &op->a) || !parse_int(argv[i + 2], min, &op->b)))
        return false;
    *used = 1 + nargs;
    return true;
}

int main(int argc, char **argv)
{
    op_t op;
    int used, threads, n;

    if (argc >= 2 && strcmp(argv[1], "bench") == 0) {
        if (argc < 6 || !parse_int(argv[2], 1, &threads) || threads > MAX_THREADS ||
            !parse_int(argv[3], 1, &n) || !parse_op(argc, argv, 4, &op, &used) ||
            4 + used != argc - 1)
            return usage();
        return bench(threads, n, &op, argv[argc - 1]);
    }
    if (!parse_op(argc, argv, 1, &op, &used) || 1 + used != argc - 2)
        return usage();
    sub_buf_t b = {0};
    sub_rgb_t img = {0};
    sub_error_t err = {0};
    bool ok = sub_buf_read_file(&b, argv[argc - 2], &err) &&
              run_op(&op, (const uint8_t *)b.data, b.len, &img, &err) &&
              write_all(argv[argc - 1], &img, &err);
    if (ok)
        printf("{\"w\": %d, \"h\": %d}\n", img.w, img.h);
    sub_rgb_release(&img);
    sub_buf_release(&b);
    return ok ? 0 : fail(&err);
}
