/* thumbnail.h - one source image in, one or more thumbnails out. The only
 * module that includes GraphicsMagick. No threads of its own; thumbnail_make()
 * may run on many threads at once. No logging: errors come back to the caller. */
#pragma once

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "image-format.h"
#include "memory-budget.h"

/* What becomes of a source's embedded ICC profile (config key color). */
typedef enum ThumbnailColour {
        THUMBNAIL_COLOUR_SRGB,          /* pixels converted from it to sRGB, the profile dropped */
        THUMBNAIL_COLOUR_KEEP,          /* pixels left as they are, the profile kept (even with strip) */
} ThumbnailColour;

typedef struct ThumbnailOptions {
        unsigned formats;               /* THUMBNAIL_* bits: what may be decoded */
        uint64_t max_file_size;         /* bytes; larger files are refused unread */
        uint64_t max_pixels;            /* width x height from the header */
        unsigned max_width, max_height;
        uint64_t max_memory;            /* bytes of pixels, all decodes together (process-wide) */
        uint64_t timeout_usec;          /* a decode running longer is abandoned; 0: none */
        bool strip;                     /* drop metadata (EXIF, ICC, comments) */
        ThumbnailColour colour;         /* the ICC profile: converted to sRGB (0) or kept */
        unsigned output_format;         /* THUMBNAIL_JPEG, _PNG or _WEBP; 0: the source's */
        unsigned quality;               /* 1-100, for JPEG and WebP */
        uint32_t background;            /* 0xRRGGBB: alpha is flattened on it when written as JPEG;
                                         * the margins of THUMBNAIL_PAD */
        unsigned file_mode;             /* of the thumbnails written; 0: 0644 */
        const char *thumb_uri;          /* set: write the freedesktop.org text chunks Thumb::URI (this),
                                         * ::MTime and ::Size (these two), ::Mimetype and ::Image::* */
        long long thumb_mtime;
        unsigned long long thumb_size;
        bool embedded_previews;         /* a JPEG's EXIF thumbnail stands in for the decode when it is
                                         * at least as large as every target and of the same shape */
        MemoryBudget *budget;           /* set: each decode reserves its estimate from it first */
        const atomic_bool *cancel;      /* set: a wait for the budget, or for libraw's process, gives up
                                         * when it becomes true */
        int (*finish)(int fd, void *userdata); /* set: called on each thumbnail's temporary, written and
                                         * still open, before it is renamed into place; <0 fails it */
        void *finish_userdata;
        const char **pixels_from;       /* set: on success, where the pixels came from is stored there (a
                                         * static string): "decode", "exif-thumbnail", "heif-thumbnail",
                                         * "heif-primary", "raw-preview" or "jpeg-dc-scan" */
} ThumbnailOptions;

/* The most targets thumbnail_make() takes at once. */
#define THUMBNAIL_TARGETS_MAX 8

/* How a thumbnail meets its WIDTHxHEIGHT. */
typedef enum ThumbnailMode {
        THUMBNAIL_FIT,                  /* inside it, aspect ratio kept, never upscaled */
        THUMBNAIL_FILL,                 /* exactly it: scaled to cover it, cropped around the centre */
        THUMBNAIL_PAD,                  /* exactly it: fitted, centred on the background colour */
} ThumbnailMode;

typedef struct ThumbnailTarget {
        int dirfd;                      /* folder to write into; borrowed */
        const char *name;               /* file name in it */
        unsigned width, height;
        ThumbnailMode mode;
} ThumbnailTarget;

/* Starts GraphicsMagick: one thread per decode, no disk pixel cache; and
 * the cache of colour transforms (colour.h). Call once from the main thread
 * before any worker starts. Returns 0, -EIO or -ENOMEM. */
int thumbnail_init(const char *argv0);

/* Sets GraphicsMagick's process-wide pixel, width, height, memory and map
 * limits from opts, so that what the header check lets through is bounded
 * while decoding too. Thread-safe. Returns 0 or -EIO. */
int thumbnail_set_limits(const ThumbnailOptions *opts);

/* Returns the memory decodes keep for the next one to the system: call when
 * the work runs out. Thread-safe. */
void thumbnail_release_memory(void);

/* Stops GraphicsMagick and frees the colour transforms. Call after every
 * worker has been joined. */
void thumbnail_shutdown(void);

/* A freedesktop.org failure marker: a 1x1 transparent PNG carrying
 * Thumb::URI and Thumb::MTime from opts, written atomically as name in
 * dirfd. Returns 0 or -errno, with *reterr_reason set (caller frees). */
int thumbnail_write_failure_marker(int dirfd, const char *name, const ThumbnailOptions *opts, char **reterr_reason);

/* What thumbnail_make() would find before decoding src (an open file): its format name
 * (from the magic bytes) and size (from the header), and whether the
 * allow-list and limits let it through. Returns 0 or the errors of
 * thumbnail_make() up to the decode; *ret_format may be set on failure. */
int thumbnail_probe(int src, const ThumbnailOptions *opts, const char **ret_format, unsigned long *ret_width,
                    unsigned long *ret_height, char **reterr_reason);

/* Decodes src, a file open for reading (the caller's; read through a
 * duplicate, so its offset does not matter), once and writes every target in opts->output_format (or src's
 * own format), each to a
 * hidden temporary in its folder renamed into place (openat/renameat, never
 * through a symlink), so a reader never sees a partial thumbnail. The decoder
 * is chosen from the file's magic bytes, never from its name, and only from
 * opts->formats; only the first frame is read.
 *
 * Returns 0, or:
 *   -EMEDIUMTYPE           not an allowed image format (or not a regular file);
 *   -EFBIG                 over a size limit (file size, pixels, width, height), or its
 *                          decode alone needs more than the whole memory budget;
 *   -ENODATA               truncated: the file ends before the image does;
 *   -EBADMSG               otherwise corrupt;
 *   -ETIMEDOUT             the decode ran past opts->timeout_usec;
 *   -ECANCELED             *opts->cancel became true while it waited for the budget or
 *                          for libraw's process (which is then stopped);
 *   -EIO, -ENOSPC, ...     a thumbnail could not be written;
 *   -ENOMEM.
 * On failure *reterr_reason (caller owns it; NULL on -ENOMEM) says why; each
 * target is either written completely or not at all, and no temporary is
 * left behind. On success *reterr_reason is NULL, or a warning (caller
 * owns it): the thumbnails were made, but not quite as asked (an embedded
 * ICC profile that could not be used: its pixels are left unconverted). */
int thumbnail_make(int src, const ThumbnailTarget *targets, size_t n_targets, const ThumbnailOptions *opts,
                   char **reterr_reason);   /* n_targets: 1 to THUMBNAIL_TARGETS_MAX */
