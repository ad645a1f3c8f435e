/* check.h - the unit-test harness: checks that print both values, one process per case.
 *
 * A test file defines `static void test_x(void)` functions, lists them in a
 * `sub_test_t tests[]` table ending with {NULL, NULL}, and ends with
 *     int main(int argc, char **argv) { return sub_test_main(argc, argv, tests); }
 * ctest runs `test_<module> <case>` for each case (see sub_add_test in CMakeLists.txt),
 * so a crash or an abort() fails exactly one case.
 */
#ifndef SUBSETTER_TEST_CHECK_H
#define SUBSETTER_TEST_CHECK_H

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "subsetter/error.h"

#define SUB_CHECK_BASE(a, op, b, type, fmt)                                                  \
    do {                                                                                     \
        type a_ = (type)(a), b_ = (type)(b);                                                 \
        if (!(a_ op b_)) {                                                                   \
            fprintf(stderr, "%s:%d: CHECK %s %s %s failed (" fmt " vs " fmt ")\n", __FILE__, \
                    __LINE__, #a, #op, #b, a_, b_);                                          \
            abort();                                                                         \
        }                                                                                    \
    } while (0)

#define CHECK_EQ(a, b)     SUB_CHECK_BASE(a, ==, b, int64_t, "%" PRId64)
#define CHECK_NE(a, b)     SUB_CHECK_BASE(a, !=, b, int64_t, "%" PRId64)
#define CHECK_LT(a, b)     SUB_CHECK_BASE(a, <, b, int64_t, "%" PRId64)
#define CHECK_GT(a, b)     SUB_CHECK_BASE(a, >, b, int64_t, "%" PRId64)
#define CHECK_DBL_EQ(a, b) SUB_CHECK_BASE(a, ==, b, double, "%.17g")

#define CHECK(cond)                                                                 \
    do {                                                                            \
        if (!(cond)) {                                                              \
            fprintf(stderr, "%s:%d: CHECK %s failed\n", __FILE__, __LINE__, #cond); \
            abort();                                                                \
        }                                                                           \
    } while (0)

#define CHECK_STR_EQ(a, b)                                                                 \
    do {                                                                                   \
        const char *a_ = (a), *b_ = (b);                                                   \
        if (!a_ || !b_ || strcmp(a_, b_) != 0) {                                           \
            fprintf(stderr, "%s:%d: CHECK %s == %s failed (\"%s\" vs \"%s\")\n", __FILE__, \
                    __LINE__, #a, #b, a_ ? a_ : "(null)", b_ ? b_ : "(null)");             \
            abort();                                                                       \
        }                                                                                  \
    } while (0)

/* The string a contains the string b. */
#define CHECK_CONTAINS(a, b)                                                                    \
    do {                                                                                        \
        const char *a_ = (a), *b_ = (b);                                                        \
        if (!a_ || !b_ || !strstr(a_, b_)) {                                                    \
            fprintf(stderr, "%s:%d: CHECK \"%s\" contains \"%s\" failed\n", __FILE__, __LINE__, \
                    a_ ? a_ : "(null)", b_ ? b_ : "(null)");                                    \
            abort();                                                                            \
        }                                                                                       \
    } while (0)

/* A call returning bool with a sub_error_t: prints the error message on failure. */
#define CHECK_OK(call, errp)                                                                   \
    do {                                                                                       \
        if (!(call)) {                                                                         \
            fprintf(stderr, "%s:%d: CHECK_OK %s failed: [%s] %s\n", __FILE__, __LINE__, #call, \
                    sub_code_name((errp)->code), (errp)->msg);                                 \
            abort();                                                                           \
        }                                                                                      \
    } while (0)

/* A call that must fail with the given code. */
#define CHECK_FAILS(call, errp, want_code)                                                        \
    do {                                                                                          \
        if ((call)) {                                                                             \
            fprintf(stderr, "%s:%d: CHECK_FAILS %s succeeded\n", __FILE__, __LINE__, #call);      \
            abort();                                                                              \
        }                                                                                         \
        if ((errp)->code != (want_code)) {                                                        \
            fprintf(stderr, "%s:%d: CHECK_FAILS %s: code %s, want %s (%s)\n", __FILE__, __LINE__, \
                    #call, sub_code_name((errp)->code), sub_code_name(want_code), (errp)->msg);   \
            abort();                                                                              \
        }                                                                                         \
    } while (0)

typedef struct {
    const char *name;
    void (*fn)(void);
} sub_test_t;

static inline int sub_test_main(int argc, char **argv, const sub_test_t *tests)
{
    if (argc < 2) {
        /* No case named: run them all in this process (handy under a debugger). */
        for (const sub_test_t *t = tests; t->name; t++) {
            fprintf(stderr, "== %s\n", t->name);
            t->fn();
        }
        return 0;
    }
    for (const sub_test_t *t = tests; t->name; t++) {
        if (strcmp(t->name, argv[1]) == 0) {
            t->fn();
            return 0;
        }
    }
    fprintf(stderr, "no test case named '%s'\n", argv[1]);
    return 2;
}

/* A fresh temporary directory for this case (mkdtemp under $TMPDIR or /tmp). The caller
 * owns the returned string. */
char *sub_test_tmpdir(void);

/* Writes text to dir/name and returns the joined path (caller frees). */
char *sub_test_write_file(const char *dir, const char *name, const char *text);

/* Bytes owned by a test (free p). */
typedef struct {
    uint8_t *p;
    size_t n;
} sub_test_blob_t;

/* A w x h JPEG made by TurboJPEG from a fixed textured pattern, in pixel format pf
 * (TJPF_*), chroma subsampling subsamp (TJSAMP_*) and quality 1..100. */
sub_test_blob_t sub_test_make_jpeg(int w, int h, int pf, int subsamp, int quality);

#endif
