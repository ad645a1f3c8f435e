/* npz_int.h - what service/npz.c lends its tests; not part of the API.
 *
 * The ZIP64 records an archive needs past 4 GiB or 65535 members cannot be tested by
 * writing that much, so a writer's limits can be lowered: a tiny archive then takes the
 * very code a huge one does. The CRC and the .npy header are exposed to be checked
 * against known values. The API is include/subsetter/npz.h.
 */
#ifndef SUBSETTER_NPZ_INT_H
#define SUBSETTER_NPZ_INT_H

#include <stddef.h>
#include <stdint.h>

#include "subsetter/npz.h"

/* A size or offset at or above this needs ZIP64; so does a member count at or above the
 * count limit (both are the sentinels of the 32- and 16-bit fields). */
#define SUB_NPZ_ZIP64_SIZE  0xFFFFFFFFu
#define SUB_NPZ_ZIP64_COUNT 0xFFFFu

/* Room for any .npy header sub_npz_npy_header() makes (SUB_NPZ_MAX_DIMS dimensions). */
#define SUB_NPZ_HEADER_MAX 512

/* Lowers z's ZIP64 limits; call it before the first member. A limit above the default is
 * taken as the default. */
void sub_npz_set_zip64_limits(sub_npz_t *z, uint64_t size, uint64_t count);

/* zlib's crc32(): the CRC-32 of ZIP (reflected 0xEDB88320) of data, continuing crc (0 to
 * start). */
uint32_t sub_npz_crc32(uint32_t crc, const void *data, size_t len);

/* The size of one element of descr ("|u1" 1, "<U12" 48), 0 when descr is not one this
 * writer supports (see sub_npz_begin). */
uint64_t sub_npz_itemsize(const char *descr);

/* The .npy header numpy.lib.format.write_array writes for a C-order array of descr and
 * shape: magic, version 1.0, length, dict, padding to a multiple of 64 bytes. Returns its
 * length; descr must be supported. */
size_t sub_npz_npy_header(const char *descr, const uint64_t *shape, int ndim,
                          char out[SUB_NPZ_HEADER_MAX]);

#endif
