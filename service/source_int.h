/* source_int.h - what service/source.c lends service/download.c; not part of the API.
 *
 * source.c owns hashing; the download engine needs it too, because it hashes a .part it
 * resumes and then streams the new bytes into the same digest, so that a complete download
 * never has to be read again. The API of both files is include/subsetter/source.h.
 */
#ifndef SUBSETTER_SOURCE_INT_H
#define SUBSETTER_SOURCE_INT_H

#include <openssl/evp.h>
#include <stdbool.h>
#include <stdint.h>

#include "subsetter/error.h"
#include "subsetter/source.h"

/* The least time between two calls of a progress callback, but for the last one. */
#define SUB_SOURCE_PROGRESS_EVERY_MS 250

/* Sets *err to SUB_E_IO, cause e, "<what> <path>: <strerror(e)>" with the strerror text's
 * first letter lowercased ("write x.part: no space left on device"); returns false. */
bool sub_source_sys_error(sub_error_t *err, int e, const char *what, const char *path);

/* CLOCK_MONOTONIC in milliseconds: for intervals only. */
int64_t sub_source_now_ms(void);

/* Starts *md as a sha256, creating it when *md is NULL; the caller frees it with
 * EVP_MD_CTX_free() either way. */
bool sub_source_sha256_begin(EVP_MD_CTX **md, sub_error_t *err);

/* Finishes md into 64 lowercase hex digits and a NUL. */
bool sub_source_sha256_end(EVP_MD_CTX *md, char hex[65], sub_error_t *err);

/* Feeds bytes [0, end) of fd to md, 1 MiB at a time, and sets *done to the bytes fed (on
 * failure too). A file shorter than end fails. Of o (NULL allowed) only the progress
 * callback is used; path only names the file in errors. */
bool sub_source_hash_fd(int fd, const char *path, int64_t end, EVP_MD_CTX *md,
                        const sub_source_opts_t *o, int64_t *done, sub_error_t *err);

#endif
