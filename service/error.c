#define SUB_LOG_DOMAIN "error"
#include "subsetter/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "subsetter/log.h"

bool sub_error_set(sub_error_t *err, sub_code_t code, int cause, const char *fmt, ...)
{
    if (!err)
        return false;
    err->code = code;
    err->cause = cause;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    sub_log_scrub(err->msg, sizeof err->msg);
    return false;
}

bool sub_error_prefix(sub_error_t *err, const char *fmt, ...)
{
    if (!err)
        return false;
    char head[SUB_ERROR_MSG_SIZE];
    char old[SUB_ERROR_MSG_SIZE];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(head, sizeof head, fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    /* A long chain of context may not fit: keep its head, which says what failed. */
    if (snprintf(err->msg, sizeof err->msg, "%s: %s", head, old) >= (int)sizeof err->msg)
        err->msg[sizeof err->msg - 1] = '\0';
    sub_log_scrub(err->msg, sizeof err->msg);
    return false;
}

void sub_error_clear(sub_error_t *err)
{
    if (!err)
        return;
    err->code = SUB_E_OK;
    err->cause = 0;
    err->msg[0] = '\0';
}

const char *sub_code_name(sub_code_t code)
{
    switch (code) {
#define SUB_X(name, exit_code, msg) \
    case SUB_E_##name:              \
        return #name;
        SUB_ERROR_MAP(SUB_X)
#undef SUB_X
    default:
        return "UNKNOWN";
    }
}

const char *sub_code_description(sub_code_t code)
{
    switch (code) {
#define SUB_X(name, exit_code, msg) \
    case SUB_E_##name:              \
        return msg;
        SUB_ERROR_MAP(SUB_X)
#undef SUB_X
    default:
        return "unknown error";
    }
}

int sub_code_exit(sub_code_t code)
{
    switch (code) {
#define SUB_X(name, exit_code, msg) \
    case SUB_E_##name:              \
        return exit_code;
        SUB_ERROR_MAP(SUB_X)
#undef SUB_X
    default:
        return 1;
    }
}
