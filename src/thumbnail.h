/* thumbnail.h - one source image in, one or more thumbnails out. The only
 * module that includes GraphicsMagick. No threads of its own; thumbnail_make()
 * may run on many threads at once. No logging: errors come back to the caller. */
#pragma once

#include <stddef.h>

typedef struct ThumbnailTarget {
        const char *path;               /* final name; its directory must exist */
        unsigned width, height;         /* fit inside, keep the aspect ratio, never upscale */
} ThumbnailTarget;

/* Starts GraphicsMagick. Call once from the main thread before any worker
 * starts. Returns 0 or -EIO. */
int thumbnail_init(const char *argv0);

/* Stops GraphicsMagick. Call after every worker has been joined. */
void thumbnail_shutdown(void);

/* Decodes src once and writes every target in src's own format, each to a
 * hidden temporary in the target's directory renamed into place, so a
 * reader never sees a partial thumbnail. The decoder is chosen from the
 * file's magic bytes, never from its name.
 *
 * Returns 0, or:
 *   -ENOENT, -EACCES, ...  src cannot be opened (errno from open(2));
 *   -EMEDIUMTYPE           src is not an allowed image format;
 *   -EBADMSG               src is corrupt or truncated;
 *   -EIO / -ENOSPC / ...   a thumbnail could not be written;
 *   -ENOMEM.
 * On failure *reterr_reason (caller owns it, may be NULL on -ENOMEM) says why,
 * and no file is left at a target path or as a temporary. */
int thumbnail_make(const char *src, const ThumbnailTarget *targets, size_t n_targets, char **reterr_reason);
