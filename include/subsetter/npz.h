/* npz.h - writing a NumPy .npz archive as a stream.
 *
 * An .npz is a ZIP archive of .npy members (numpy.lib.format version 1.0; 2.0 when a
 * header would exceed 65535 bytes), stored uncompressed as np.savez writes it. Members are
 * written one after another; a member's shape is declared when it begins, so its data can
 * be appended in pieces without ever holding the whole array: memory does not grow with
 * the array. The archive is written to "<path>.part" and renamed to path by
 * sub_npz_close(), so path never holds a partial archive. ZIP64 records are used when a
 * member or the archive passes 4 GiB (numpy.load reads them).
 */
#ifndef SUBSETTER_NPZ_H
#define SUBSETTER_NPZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "subsetter/error.h"

typedef struct sub_npz sub_npz_t;

#define SUB_NPZ_MAX_DIMS 8

/* Creates "<path>.part" (truncating an old one). */
bool sub_npz_open(const char *path, sub_npz_t **out, sub_error_t *err);

/* Begins member "<name>.npy" holding an array of dtype descr ("|u1", "<i4", "<i8", "<f4",
 * "<f8", "|b1", or "<U<n>" for fixed-width strings) and the given C-order shape (ndim 0..
 * SUB_NPZ_MAX_DIMS). Exactly prod(shape) * itemsize bytes must follow. Also taken: b1,
 * i and u of 1, 2, 4 or 8 bytes, f2, c8, c16, S<n>, either byte order, each spelled as
 * numpy spells it ("|u1", never "<u1"). A bad descr, shape or name, or a name used
 * before, fails with SUB_E_INTERNAL and leaves z usable. */
bool sub_npz_begin(sub_npz_t *z, const char *name, const char *descr, const uint64_t *shape,
                   int ndim, sub_error_t *err);

/* Appends data to the current member. */
bool sub_npz_write(sub_npz_t *z, const void *data, size_t len, sub_error_t *err);

/* Ends the current member; fails (SUB_E_INTERNAL) when its byte count differs from its
 * shape's. After that, or any write error (SUB_E_IO, naming the part file), the archive
 * is broken: every later call returns the same error. */
bool sub_npz_end(sub_npz_t *z, sub_error_t *err);

/* Writes the central directory, flushes, fsyncs and renames "<path>.part" to path, then
 * frees z. On failure the part file is removed and z freed. */
bool sub_npz_close(sub_npz_t *z, sub_error_t *err);

/* Frees z and removes the part file (an interrupted or failed export). NULL is fine. */
void sub_npz_abort(sub_npz_t *z);

#endif
