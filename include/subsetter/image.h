/* image.h - what a downloaded file is: its type by magic bytes, its size and bands the way
 * PIL reports them, its EXIF orientation, whether it decodes, and FiftyOne's ImageMetadata.
 *
 * The fetch stage accepts a file only when sub_image_verify() passes and
 * sub_image_claims() agrees with its name (FiftyOne's mime_type comes from the extension,
 * so a PNG placeholder saved as .jpg would be recorded as "image/jpeg"). The export and
 * stats stages use sub_image_probe(), which reads headers only.
 *
 * Types: JPEG (header by TurboJPEG), PNG, GIF, WebP, BMP (headers parsed here). The numbers
 * are what FiftyOne's compute_metadata stores: width/height are PIL's img.size,
 * num_channels is len(img.getbands()) (L 1, LA 2, RGB 3, RGBA/CMYK 4, P 1), and for JPEGs
 * whose EXIF Orientation is 5-8 the oriented size swaps them.
 *
 * Nothing here keeps a pointer to the caller's buffer; every function is thread-safe (each
 * call creates and destroys its own tjhandle).
 */
#ifndef SUBSETTER_IMAGE_H
#define SUBSETTER_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <bson/bson.h>

#include "subsetter/error.h"

typedef enum {
    SUB_IMAGE_NONE = 0,
    SUB_IMAGE_JPEG,
    SUB_IMAGE_PNG,
    SUB_IMAGE_GIF,
    SUB_IMAGE_WEBP,
    SUB_IMAGE_BMP,
} sub_image_type_t;

/* err->cause when a function here fails with SUB_E_INPUT: why the file was refused, so the
 * fetch stage can count placeholders, damaged downloads and oversized files apart. */
typedef enum {
    SUB_IMAGE_E_NONE = 0,
    SUB_IMAGE_E_NOT_IMAGE, /* no known magic bytes (HTML error page, empty file, ...) */
    SUB_IMAGE_E_CORRUPT,   /* unreadable header, truncated or damaged data, decoder warning */
    SUB_IMAGE_E_TOO_LARGE, /* over sub_image_limits_t.max_bytes or .max_pixels */
} sub_image_cause_t;

/* PIL's Image.MAX_IMAGE_PIXELS: above it PIL warns of a decompression bomb. */
#define SUB_IMAGE_DEFAULT_MAX_PIXELS 89478485u
#define SUB_IMAGE_DEFAULT_MAX_BYTES  (64u * 1024u * 1024u)

/* Limits of sub_image_verify(). A zero field takes its default above. */
typedef struct {
    uint64_t max_pixels; /* width * height, checked before any pixel buffer is allocated */
    size_t max_bytes;    /* encoded size of the file */
} sub_image_limits_t;

/* What a file is. A value struct; the strings are static (never freed, valid forever). */
typedef struct {
    sub_image_type_t type;
    const char *mime_type; /* of the detected type: "image/jpeg", "image/png", ... */
    const char *mode;      /* PIL's mode: "L", "RGB", "CMYK", "P", "LA", "RGBA", "1", "I;16" */
    int width;             /* as stored (PIL's img.size); GIF: screen grown to frame 0 */
    int height;
    int num_channels;    /* len(img.getbands()) */
    int orientation;     /* JPEG EXIF Orientation (0x0112) 1..8; 1 if absent or unreadable */
    int oriented_width;  /* width/height swapped for orientation 5-8, as FiftyOne stores */
    int oriented_height; /* (only JPEGs carry an orientation; other types never swap) */
    int jpeg_subsamp;    /* TJSAMP_* for a JPEG; -1 for other types, or one TurboJPEG 2.x
                          * has no name for (4:1:0), which still decodes */
    int jpeg_colorspace; /* TJCS_* for a JPEG, -1 otherwise */
    bool progressive;    /* JPEG: progressive (SOF2/SOF6/...); PNG/GIF: interlaced */
} sub_image_info_t;

/* The type from the first bytes, without parsing further; SUB_IMAGE_NONE if unknown. */
sub_image_type_t sub_image_detect(const uint8_t *buf, size_t len);

/* "jpeg", "png", "gif", "webp", "bmp", or "none". Static. */
const char *sub_image_type_name(sub_image_type_t type);

/* Reads the headers of buf[0..len) (borrowed; it may be only the start of a file, as long
 * as it holds the headers) and fills *out. Reads nothing outside buf, whatever the bytes.
 * The orientation comes from the first APP1 segment that carries "Exif\0\0" (a damaged
 * EXIF block counts as absent), else from an XMP tiff:Orientation, as PIL's getexif()
 * does. Fails with SUB_E_INPUT (cause SUB_IMAGE_E_NOT_IMAGE: "not an image", or
 * SUB_IMAGE_E_CORRUPT) and SUB_E_INTERNAL when TurboJPEG cannot start. *out is valid on
 * every path: zeroed (type SUB_IMAGE_NONE, orientation 1) on failure. */
bool sub_image_probe(const uint8_t *buf, size_t len, sub_image_info_t *out, sub_error_t *err);

/* sub_image_probe() of the first MiB of the file at path (enough for any header, EXIF
 * included). A file that cannot be opened or read fails with SUB_E_IO naming it. */
bool sub_image_probe_file(const char *path, sub_image_info_t *out, sub_error_t *err);

/* sub_image_probe() of the whole file, then a check that all of it is there and sound:
 *   JPEG: a full decode of the entropy-coded data (TurboJPEG at 1/8 DCT scale, which decodes
 *         every coefficient but needs 1/64 of the pixel memory); any decoder warning, such
 *         as "Premature end of JPEG file", fails it;
 *   PNG:  chunk structure to IEND (IHDR first, lengths within buf, CRCs, an IDAT); the
 *         zlib stream is not inflated;
 *   GIF:  block structure from the first image to the trailer (a file that ends on a block
 *         boundary without one passes: some encoders omit it, and PIL reads those);
 *   WebP: RIFF size and chunk structure, an image chunk (no pixel decode);
 *   BMP:  the pixel array lies within buf.
 * lim may be NULL for the defaults. Over a limit fails with SUB_E_INPUT and cause
 * SUB_IMAGE_E_TOO_LARGE, before any pixel buffer is allocated. *out is filled as by
 * sub_image_probe() on success and zeroed on failure. */
bool sub_image_verify(const uint8_t *buf, size_t len, const sub_image_limits_t *lim,
                      sub_image_info_t *out, sub_error_t *err);

/* The MIME type of a path's extension, as Python's mimetypes.guess_type (Debian's
 * /etc/mime.types included) would give it for image files: ".jpg"/".jpeg"/".jpe"/".jfif"
 * image/jpeg, ".png", ".gif", ".webp", ".bmp", ".tif"/".tiff"; case-insensitive; a trailing
 * compression suffix (".gz", ".bz2", ".xz", ".Z", ".br") is skipped, as Python does. NULL
 * for anything else (non-image extensions are not mapped). Static. */
const char *sub_image_mime_for_path(const char *path);

/* True when the file's name claims the type that was detected: path_or_ext is a path
 * ("a/b.jpg"), an extension (".jpg") or a bare extension ("jpg"). A PNG named .jpg, any
 * unknown or compression extension, or an info that was not probed is a mismatch. */
bool sub_image_claims(const char *path_or_ext, const sub_image_info_t *info);

/* Appends FiftyOne's ImageMetadata fields to out, in this order:
 *   {_cls: "ImageMetadata", size_bytes, mime_type, width, height, num_channels}
 * out is initialized by the caller (bson_init, bson_new or bson_append_document_begin) and
 * stays the caller's to destroy. width/height are the oriented ones. mime_type comes from
 * path's extension (sub_image_mime_for_path(), "application/octet-stream" when unknown,
 * as eta's guess_mime_type), or from the detected type when path is NULL. Integers are
 * int32 when they fit and int64 otherwise, as pymongo encodes Python ints. */
void sub_image_metadata_bson(const sub_image_info_t *info, int64_t size_bytes, const char *path,
                             bson_t *out);

#endif
