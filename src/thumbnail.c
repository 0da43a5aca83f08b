/* thumbnail.c - the GraphicsMagick pipeline: sniff -> read at reduced size ->
 * orient -> resize -> strip -> encode -> write a temporary -> rename.
 *
 * GraphicsMagick is given an open FILE* and an explicit coder, and encodes to
 * memory; all file-system access is ours. So a file's name is never parsed
 * by GraphicsMagick (which would treat "msl:x", "@list" or "a[1]" as
 * instructions), and the coder is one from our allow-list. */
#include "build-config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <magick/api.h>

#include "macro.h"
#include "thumbnail.h"

#define JPEG_QUALITY 85

typedef struct Magic {
        const char *coder;
        size_t offset;
        const char *bytes;
        size_t len;
} Magic;

/* What a file starts with decides its coder. RIFF....WEBP needs two checks. */
static const Magic magics[] = {
        { "JPEG", 0, "\xff\xd8\xff", 3 },
        { "PNG", 0, "\x89PNG\r\n\x1a\n", 8 },
        { "GIF", 0, "GIF87a", 6 },
        { "GIF", 0, "GIF89a", 6 },
        { "WEBP", 8, "WEBP", 4 },
        { "TIFF", 0, "II*\0", 4 },
        { "TIFF", 0, "MM\0*", 4 },
        { "TIFF", 0, "II+\0", 4 },
        { "TIFF", 0, "MM\0+", 4 },
        { "BMP", 0, "BM", 2 },
};

static const char *sniff(const unsigned char *head, size_t len) {
        for (size_t i = 0; i < ELEMENTSOF(magics); i++) {
                const Magic *m = &magics[i];

                if (len < m->offset + m->len || memcmp(head + m->offset, m->bytes, m->len) != 0)
                        continue;
                if (strcmp(m->coder, "WEBP") == 0 && memcmp(head, "RIFF", 4) != 0)
                        continue;
                return m->coder;
        }
        return NULL;
}

static int reason(char **reterr_reason, const char *format, ...) __attribute__((format(printf, 2, 3)));
static int reason(char **reterr_reason, const char *format, ...) {
        va_list ap;

        va_start(ap, format);
        if (vasprintf(reterr_reason, format, ap) < 0)
                *reterr_reason = NULL;
        va_end(ap);
        return 0;
}

#define SOURCE_NAME "thumbwatch-source"

static void exception_reason(const ExceptionInfo *ex, char **reterr_reason) {
        /* The description is often just the file name we gave, which says nothing. */
        bool describe = ex->description && strcmp(ex->description, SOURCE_NAME) != 0;

        (void) reason(reterr_reason, "%s%s%s%s", ex->reason ? ex->reason : "unknown error", describe ? " (" : "",
                      describe ? ex->description : "", describe ? ")" : "");
}

int thumbnail_init(const char *argv0) {
        /* Signals are the daemon's business: GraphicsMagick must not install handlers. */
        InitializeMagickEx(argv0, MAGICK_OPT_NO_SIGNAL_HANDER, NULL);
        /* One thread per decode: N workers use N cores without oversubscription. */
        if (!SetMagickResourceLimit(ThreadsResource, 1))
                return -EIO;
        return 0;
}

/* OpenMP's thread count is per thread: the limit set in thumbnail_init()
 * holds for the main thread only, and every worker would start a team of its
 * own for each decode. Set it once on each thread that decodes. */
static void limit_threads(void) {
        static __thread bool limited;

        if (!limited) {
                (void) SetMagickResourceLimit(ThreadsResource, 1);
                limited = true;
        }
}

void thumbnail_shutdown(void) {
        DestroyMagick();
}

/* Fits w x h inside max_w x max_h keeping the aspect ratio, never upscaling,
 * rounding to the nearest pixel and never to zero. */
static void fit(unsigned long w, unsigned long h, unsigned max_w, unsigned max_h, unsigned long *ret_w,
                unsigned long *ret_h) {
        if (w <= max_w && h <= max_h) {
                *ret_w = w;
                *ret_h = h;
                return;
        }
        if (w * max_h >= h * max_w) {   /* width is the limit */
                *ret_w = max_w;
                *ret_h = (h * max_w + w / 2) / w;
        } else {
                *ret_h = max_h;
                *ret_w = (w * max_h + h / 2) / h;
        }
        if (*ret_w == 0)
                *ret_w = 1;
        if (*ret_h == 0)
                *ret_h = 1;
}

static int write_all(int fd, const unsigned char *p, size_t len) {
        while (len > 0) {
                ssize_t n = write(fd, p, len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p += n;
                len -= (size_t) n;
        }
        return 0;
}

/* Writes data to a hidden temporary next to path and renames it into place. */
static int write_atomically(const char *path, const void *data, size_t len, char **reterr_reason) {
        _cleanup_free_ char *tmp = NULL;
        const char *slash = strrchr(path, '/');
        int fd, r;

        if (!slash)
                return -EINVAL;
        /* ".name.XXXXXX": a dot-file that our own scanner and watcher ignore. */
        if (asprintf(&tmp, "%.*s/.%s.XXXXXX", (int) (slash - path), path, slash + 1) < 0)
                return -ENOMEM;
        fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0) {
                r = -errno;
                (void) reason(reterr_reason, "cannot create a temporary in the output folder: %s", strerror(-r));
                return r;
        }
        r = write_all(fd, data, len);
        if (r >= 0 && fchmod(fd, 0644) < 0)
                r = -errno;
        if (close(fd) < 0 && r >= 0)
                r = -errno;
        if (r >= 0 && rename(tmp, path) < 0)
                r = -errno;
        if (r < 0) {
                (void) unlink(tmp);
                (void) reason(reterr_reason, "cannot write '%s': %s", path, strerror(-r));
        }
        return r;
}

static int open_source(const char *src, const char **ret_coder, FILE **ret_file, char **reterr_reason) {
        unsigned char head[16];
        struct stat st;
        const char *coder;
        ssize_t n;
        FILE *f;
        int fd, r;

        /* O_NONBLOCK: a FIFO planted in a drop folder must not hang a worker. */
        fd = open(src, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
        if (fd < 0) {
                r = -errno;
                (void) reason(reterr_reason, "cannot open: %s", strerror(-r));
                return r;
        }
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
                (void) close(fd);
                (void) reason(reterr_reason, "not a regular file");
                return -EMEDIUMTYPE;
        }
        n = pread(fd, head, sizeof head, 0);
        if (n < 0) {
                r = -errno;
                (void) close(fd);
                (void) reason(reterr_reason, "cannot read: %s", strerror(-r));
                return r;
        }
        coder = sniff(head, (size_t) n);
        if (!coder) {
                (void) close(fd);
                (void) reason(reterr_reason, n == 0 ? "empty file" : "not an allowed image format");
                return n == 0 ? -EBADMSG : -EMEDIUMTYPE;
        }
        f = fdopen(fd, "rb");
        if (!f) {
                (void) close(fd);
                return -ENOMEM;
        }
        *ret_coder = coder;
        *ret_file = f;
        return 0;
}

static ImageInfo *source_info(FILE *f, const char *coder) {
        ImageInfo *info = CloneImageInfo(NULL);

        if (!info)
                return NULL;
        info->file = f;
        info->subimage = 0;             /* the first frame only */
        info->subrange = 1;
        (void) snprintf(info->magick, sizeof info->magick, "%s", coder);
        (void) snprintf(info->filename, sizeof info->filename, "%s:" SOURCE_NAME, coder);
        return info;
}

/* Reads the header only: dimensions and orientation, no pixels. */
static Image *ping_source(FILE *f, const char *coder, ExceptionInfo *ex) {
        ImageInfo *info = source_info(f, coder);
        Image *image;

        if (!info)
                return NULL;
        image = PingImage(info, ex);
        info->file = NULL;              /* ours to close */
        DestroyImageInfo(info);
        return image;
}

/* hint_w x hint_h: 0x0 for a full decode. */
static Image *read_source(FILE *f, const char *coder, unsigned long hint_w, unsigned long hint_h, ExceptionInfo *ex) {
        ImageInfo *info = source_info(f, coder);
        Image *image;

        if (!info)
                return NULL;
        if (hint_w > 0 && hint_h > 0) {
                char size[64];

                (void) snprintf(size, sizeof size, "%lux%lu", hint_w, hint_h);
                (void) CloneString(&info->size, size);
        }
        image = ReadImage(info, ex);
        info->file = NULL;              /* ours to close */
        DestroyImageInfo(info);
        return image;
}

static int encode_and_write(Image *thumb, const char *coder, const char *path, char **reterr_reason) {
        ExceptionInfo ex;
        ImageInfo *info;
        size_t len = 0;
        void *blob;
        int r;

        info = CloneImageInfo(NULL);
        if (!info)
                return -ENOMEM;
        info->quality = JPEG_QUALITY;
        (void) snprintf(info->magick, sizeof info->magick, "%s", coder);
        (void) snprintf(thumb->magick, sizeof thumb->magick, "%s", coder);
        GetExceptionInfo(&ex);
        blob = ImageToBlob(info, thumb, &len, &ex);
        if (!blob || len == 0) {
                exception_reason(&ex, reterr_reason);
                r = -EIO;
        } else
                r = write_atomically(path, blob, len, reterr_reason);
        MagickFree(blob);
        DestroyExceptionInfo(&ex);
        DestroyImageInfo(info);
        return r;
}

/* The size hint for the decoder: twice the largest thumbnail, as it will be
 * fitted to this image, so that libjpeg can decode at 1/2, 1/4 or 1/8 scale
 * and the resize still has enough pixels. 0x0 (a full decode) when that would
 * not shrink the image: GraphicsMagick's JPEG reader upscales to a hint that
 * is larger than the image. */
static void size_hint(const Image *header, const ThumbnailTarget *targets, size_t n_targets,
                      unsigned long *ret_w, unsigned long *ret_h) {
        /* Orientations 5-8 swap the axes: fit the box the way the pixels are stored. */
        bool transposed = header->orientation >= LeftTopOrientation;
        unsigned long w = 0, h = 0;

        for (size_t i = 0; i < n_targets; i++) {
                unsigned long fw, fh;

                fit(header->columns, header->rows, transposed ? targets[i].height : targets[i].width,
                    transposed ? targets[i].width : targets[i].height, &fw, &fh);
                w = fw > w ? fw : w;
                h = fh > h ? fh : h;
        }
        if (2 * w < header->columns && 2 * h < header->rows) {
                *ret_w = 2 * w;
                *ret_h = 2 * h;
        } else
                *ret_w = *ret_h = 0;
}

int thumbnail_make(const char *src, const ThumbnailTarget *targets, size_t n_targets, char **reterr_reason) {
        unsigned long hint_w, hint_h;
        Image *image = NULL;
        const char *coder = NULL;
        ExceptionInfo ex;
        FILE *f = NULL;
        int r;

        *reterr_reason = NULL;
        limit_threads();
        r = open_source(src, &coder, &f, reterr_reason);
        if (r < 0)
                return r;

        GetExceptionInfo(&ex);
        image = ping_source(f, coder, &ex);
        if (!image || ex.severity >= ErrorException || image->columns == 0 || image->rows == 0) {
                exception_reason(&ex, reterr_reason);
                (void) fclose(f);
                r = -EBADMSG;
                goto out;
        }
        size_hint(image, targets, n_targets, &hint_w, &hint_h);
        DestroyImageList(image);
        image = NULL;
        rewind(f);

        image = read_source(f, coder, hint_w, hint_h, &ex);
        (void) fclose(f);
        /* A corrupt-image warning means pixels are missing (a truncated file
         * decodes with a grey bottom): no thumbnail is better than a wrong one. */
        if (!image || ex.severity >= CorruptImageWarning) {
                exception_reason(&ex, reterr_reason);
                r = -EBADMSG;
                goto out;
        }

        if (image->orientation > TopLeftOrientation) {
                Image *oriented = AutoOrientImage(image, image->orientation, &ex);
                if (!oriented) {
                        exception_reason(&ex, reterr_reason);
                        r = -EBADMSG;
                        goto out;
                }
                DestroyImage(image);
                image = oriented;
        }

        for (size_t i = 0; i < n_targets; i++) {
                unsigned long w, h;
                Image *thumb;

                fit(image->columns, image->rows, targets[i].width, targets[i].height, &w, &h);
                if (w == image->columns && h == image->rows)
                        thumb = CloneImage(image, 0, 0, MagickTrue, &ex);
                else
                        thumb = ResizeImage(image, w, h, LanczosFilter, 1.0, &ex);
                if (!thumb) {
                        exception_reason(&ex, reterr_reason);
                        r = ex.severity == ResourceLimitError ? -ENOMEM : -EBADMSG;
                        goto out;
                }
                (void) StripImage(thumb);
                /* 16 bits a channel is wasted on a thumbnail. */
                if (thumb->depth > 8)
                        (void) SetImageDepth(thumb, 8);
                r = encode_and_write(thumb, coder, targets[i].path, reterr_reason);
                DestroyImage(thumb);
                if (r < 0)
                        goto out;
        }
        r = 0;
out:
        if (image)
                DestroyImageList(image);
        DestroyExceptionInfo(&ex);
        return r;
}
