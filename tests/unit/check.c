/* check.c - file helpers shared by the unit tests. */
#include "check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <turbojpeg.h>

char *sub_test_tmpdir(void)
{
    const char *base = getenv("TMPDIR");
    char tmpl[4096];
    snprintf(tmpl, sizeof tmpl, "%s/subsetter-test-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(tmpl)) {
        perror("mkdtemp");
        abort();
    }
    return strdup(tmpl);
}

char *sub_test_write_file(const char *dir, const char *name, const char *text)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *path = malloc(n);
    if (!path)
        abort();
    snprintf(path, n, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) {
        perror(path);
        abort();
    }
    fputs(text, f);
    fclose(f);
    return path;
}

sub_test_blob_t sub_test_make_jpeg(int w, int h, int pf, int subsamp, int quality)
{
    size_t ps = (size_t)tjPixelSize[pf];
    uint8_t *px = malloc((size_t)w * (size_t)h * ps);
    if (!px)
        abort();
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (size_t c = 0; c < ps; c++)
                px[((size_t)y * (size_t)w + (size_t)x) * ps + c] =
                    (uint8_t)((x * (int)(c + 1) + y * 3) ^ ((x * y) >> 4));
    tjhandle tj = tjInitCompress();
    unsigned char *jpg = NULL;
    unsigned long n = 0;
    if (!tj || tjCompress2(tj, px, w, 0, h, pf, &jpg, &n, subsamp, quality, 0) != 0) {
        fprintf(stderr, "tjCompress2: %s\n", tjGetErrorStr2(tj));
        abort();
    }
    sub_test_blob_t b = {malloc(n), n};
    if (!b.p)
        abort();
    memcpy(b.p, jpg, n);
    tjFree(jpg);
    tjDestroy(tj);
    free(px);
    return b;
}
