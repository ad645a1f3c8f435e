/* image_probe_main.c - image_probe: sub_image_probe() or sub_image_verify() on files, for
 * tests/integration/test_image_probe.py (not installed).
 *
 *   image_probe [--verify] [--max-pixels N] [--max-bytes N] FILE...
 *
 * Prints one JSON object per file on stdout, in argument order:
 *   {"path", "ok": true, "type", "mime_type", "mode", "width", "height", "num_channels",
 *    "orientation", "oriented_width", "oriented_height", "jpeg_subsamp", "jpeg_colorspace",
 *    "progressive", "claims", "size_bytes", "metadata": {FiftyOne's ImageMetadata}}
 * or {"path", "ok": false, "code", "cause", "message"}. "claims" is sub_image_claims() of
 * the path. Exits 0 when every file passed, else with the exit code of the last failure
 * (2 for a usage error).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <bson/bson.h>

#include "subsetter/image.h"
#include "subsetter/strutil.h"

/* Files are read whole; nothing the tests make comes near this. */
#define READ_CAP ((size_t)256 * 1024 * 1024)

static void json_str(const char *key, const char *v, const char *sep)
{
    printf("\"%s\": ", key);
    if (!v) {
        printf("null%s", sep);
        return;
    }
    putchar('"');
    for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
        if (*p == '"' || *p == '\\')
            printf("\\%c", *p);
        else if (*p < 0x20 || *p == 0x7F)
            printf("\\u%04x", *p);
        else
            putchar(*p);
    }
    printf("\"%s", sep);
}

static const char *cause_name(int cause)
{
    switch (cause) {
    case SUB_IMAGE_E_NOT_IMAGE:
        return "NOT_IMAGE";
    case SUB_IMAGE_E_CORRUPT:
        return "CORRUPT";
    case SUB_IMAGE_E_TOO_LARGE:
        return "TOO_LARGE";
    default:
        return NULL;
    }
}

/* The whole file into *buf (caller frees). */
static bool read_file(const char *path, uint8_t **buf, size_t *len, sub_error_t *err)
{
    FILE *f = NULL;
    struct stat st;
    bool ok = false;

    *buf = NULL;
    *len = 0;
    f = fopen(path, "rb");
    if (!f || fstat(fileno(f), &st) != 0) {
        sub_error_set(err, SUB_E_IO, errno, "open %s: %s", path, strerror(errno));
        goto out;
    }
    if ((uint64_t)st.st_size > READ_CAP) {
        sub_error_set(err, SUB_E_IO, 0, "%s: larger than %zu bytes", path, READ_CAP);
        goto out;
    }
    *len = (size_t)st.st_size;
    *buf = sub_xmalloc(*len + 1);
    if (fread(*buf, 1, *len, f) != *len) {
        sub_error_set(err, SUB_E_IO, errno, "read %s: short read", path);
        goto out;
    }
    ok = true;
out:
    if (f)
        fclose(f);
    return ok;
}

static void print_info(const char *path, const sub_image_info_t *info, size_t size)
{
    bson_t md = BSON_INITIALIZER;
    sub_image_metadata_bson(info, (int64_t)size, path, &md);
    char *mdjson = bson_as_relaxed_extended_json(&md, NULL);

    printf("{");
    json_str("path", path, ", ");
    printf("\"ok\": true, ");
    json_str("type", sub_image_type_name(info->type), ", ");
    json_str("mime_type", info->mime_type, ", ");
    json_str("mode", info->mode, ", ");
    printf("\"width\": %d, \"height\": %d, \"num_channels\": %d, ", info->width, info->height,
           info->num_channels);
    printf("\"orientation\": %d, \"oriented_width\": %d, \"oriented_height\": %d, ",
           info->orientation, info->oriented_width, info->oriented_height);
    printf("\"jpeg_subsamp\": %d, \"jpeg_colorspace\": %d, ", info->jpeg_subsamp,
           info->jpeg_colorspace);
    printf("\"progressive\": %s, \"claims\": %s, ", info->progressive ? "true" : "false",
           sub_image_claims(path, info) ? "true" : "false");
    printf("\"size_bytes\": %zu, \"metadata\": %s}\n", size, mdjson);
    bson_free(mdjson);
    bson_destroy(&md);
}

static void print_error(const char *path, const sub_error_t *err)
{
    printf("{");
    json_str("path", path, ", ");
    printf("\"ok\": false, ");
    json_str("code", sub_code_name(err->code), ", ");
    json_str("cause", err->code == SUB_E_INPUT ? cause_name(err->cause) : NULL, ", ");
    json_str("message", err->msg, "}\n");
}

static bool opt_size(const char *name, const char *v, int64_t *out)
{
    if (v && sub_parse_int64(v, 1, INT64_MAX, out))
        return true;
    fprintf(stderr, "image_probe: %s wants a positive number\n", name);
    return false;
}

int main(int argc, char **argv)
{
    sub_image_limits_t lim = {0};
    bool verify = false;
    int64_t v;
    int i = 1, status = 0;

    for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
        if (strcmp(argv[i], "--verify") == 0) {
            verify = true;
        } else if (strcmp(argv[i], "--max-pixels") == 0 || strcmp(argv[i], "--max-bytes") == 0) {
            if (!opt_size(argv[i], i + 1 < argc ? argv[i + 1] : NULL, &v))
                return 2;
            if (argv[i][6] == 'p')
                lim.max_pixels = (uint64_t)v;
            else
                lim.max_bytes = (size_t)v;
            i++;
        } else {
            fprintf(stderr, "image_probe: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (i == argc) {
        fprintf(stderr, "usage: image_probe [--verify] [--max-pixels N] [--max-bytes N] "
                        "FILE...\n");
        return 2;
    }
    for (; i < argc; i++) {
        uint8_t *buf = NULL;
        size_t len = 0;
        sub_image_info_t info;
        sub_error_t err = {0};
        bool ok = read_file(argv[i], &buf, &len, &err) &&
                  (verify ? sub_image_verify(buf, len, &lim, &info, &err)
                          : sub_image_probe(buf, len, &info, &err));
        if (ok) {
            print_info(argv[i], &info, len);
        } else {
            print_error(argv[i], &err);
            status = sub_code_exit(err.code);
        }
        free(buf);
    }
    return status;
}
