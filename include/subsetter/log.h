/* log.h - one line per event on stderr: "ts level domain message".
 *
 * Each .c file defines SUB_LOG_DOMAIN before including this header (mongo-c's
 * MONGOC_LOG_DOMAIN pattern). SUB_LOG checks the level before evaluating its arguments.
 *
 * Secrets: any string registered with sub_log_add_secret() (a database password, for
 * instance) is replaced by "***" in every log line and in every sub_error_t message, so a
 * driver message that happens to echo it cannot leak it.
 */
#ifndef SUBSETTER_LOG_H
#define SUBSETTER_LOG_H

#include <stdbool.h>
#include <stddef.h>

#ifndef SUB_LOG_DOMAIN
#define SUB_LOG_DOMAIN "subsetter"
#endif

typedef enum {
    SUB_LOG_ERROR = 0,
    SUB_LOG_WARN = 1,
    SUB_LOG_INFO = 2,
    SUB_LOG_DEBUG = 3,
} sub_log_level_t;

extern sub_log_level_t sub_log_threshold;

#define SUB_LOG(level, ...)                                      \
    do {                                                         \
        if ((level) <= sub_log_threshold)                        \
            sub_log_write((level), SUB_LOG_DOMAIN, __VA_ARGS__); \
    } while (0)

void sub_log_write(sub_log_level_t level, const char *domain, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Parses "error", "warn", "info", "debug"; returns false on anything else. */
bool sub_log_level_parse(const char *s, sub_log_level_t *out);

/* Registers a string that must never be printed. Copies it. Empty strings are ignored. */
void sub_log_add_secret(const char *secret);

/* Forgets every registered secret (tests). */
void sub_log_clear_secrets(void);

/* Replaces, in place, every registered secret in buf (a NUL-terminated string that fits in
 * size bytes) by "***". */
void sub_log_scrub(char *buf, size_t size);

/* Routes libmongoc's own log messages through sub_log_write (domain "mongoc"). */
void sub_log_install_mongoc_handler(void);

#endif
