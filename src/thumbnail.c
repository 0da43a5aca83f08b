/* thumbnail.c - the GraphicsMagick pipeline: sniff -> read at reduced size ->
 * orient -> resize -> to sRGB -> strip -> encode -> write a temporary -> rename.
 *
 * GraphicsMagick is given an open FILE* and an explicit coder, and encodes to
 * memory; all file-system access is ours. HEIC, HEIF and AVIF are decoded by
 * decode-heif (libheif), camera RAWs give their embedded preview through
 * decode-raw (libraw), which the JPEG path reads from memory: GraphicsMagick
 * is never handed either (its RAW coders run dcraw). So a file's name is never parsed
 * by GraphicsMagick (which would treat "msl:x", "@list" or "a[1]" as
 * instructions), and the coder is one from our allow-list. */
#include "build-config.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <malloc.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jpeglib.h>
#include <libexif/exif-data.h>
#include <magick/api.h>
#include <setjmp.h>

#include "colour.h"
#include "decode-jpeg.h"
#ifdef HAVE_HEIF
#include "decode-heif.h"
#endif
#ifdef HAVE_RAW
#include "decode-raw.h"
#endif
#include "image-format.h"
#include "macro.h"
#include "message.h"
#include "naming.h"
#include "thumbnail.h"
#include "time-util.h"

#define JPEG_QUALITY 85

#define SOURCE_NAME "thumbwatch-source"

/* GraphicsMagick's objects in _cleanup_ variables, as macro.h's for ours. */
static inline void image_destroyp(Image **p) {
        if (*p)
                DestroyImageList(*p);
}
#define _cleanup_image_ _cleanup_(image_destroyp)

static inline void image_info_destroyp(ImageInfo **p) {
        if (*p)
                DestroyImageInfo(*p);
}
#define _cleanup_image_info_ _cleanup_(image_info_destroyp)

static void exception_reason(const ExceptionInfo *ex, char **reterr_reason) {
        /* The description is often just the file name we gave, which says nothing. */
        bool describe = ex->description && strcmp(ex->description, SOURCE_NAME) != 0;

        message_put(reterr_reason, "%s%s%s%s", ex->reason ? ex->reason : "unknown error",
                           describe ? " (" : "", describe ? ex->description : "", describe ? ")" : "");
}

/* The decode deadline of the job on this thread (CLOCK_MONOTONIC us), 0:
 * none, and whether it passed. */
static __thread uint64_t deadline;
static __thread bool timed_out;

/* GraphicsMagick calls this as decoding and resizing progress, on the thread
 * doing the work; returning MagickFail abandons the operation. The exception
 * it is given must be left alone: the coders report the abandon themselves,
 * and writing into it from here trips their assertions. */
static MagickPassFail monitor(const char *text, const magick_int64_t quantum, const magick_uint64_t span,
                              ExceptionInfo *exception) {
        (void) text;
        (void) quantum;
        (void) span;
        (void) exception;
        if (deadline == 0 || now_usec() < deadline)
                return MagickPass;
        timed_out = true;
        return MagickFail;
}

/* The transforms from embedded ICC profiles to sRGB, for every thread;
 * made by thumbnail_init(), freed by thumbnail_shutdown(). */
static ColourCache *colour_cache;

int thumbnail_init(const char *argv0) {
        int r;

        /* Signals are the daemon's business: GraphicsMagick must not install handlers. */
        InitializeMagickEx(argv0, MAGICK_OPT_NO_SIGNAL_HANDER, NULL);
        (void) SetMonitorHandler(monitor);
        /* One thread per decode: N workers use N cores without oversubscription.
         * No pixel cache on disk: an image too large for memory fails fast. */
        if (!SetMagickResourceLimit(ThreadsResource, 1) || !SetMagickResourceLimit(DiskResource, 0))
                return -EIO;
#ifdef HAVE_HEIF
        {
                _cleanup_free_ char *reason = NULL;

                if (decode_heif_init(&reason) < 0)
                        return -EIO;
        }
#endif
        /* A decode allocates and zeroes buffers of several MB (a progressive
         * JPEG's coefficients: 12 MB at 2560x1600). Above glibc's mmap
         * threshold each one is fresh memory from the kernel, page-faulted
         * in for every image: 10% of the time of a batch. Keep such buffers
         * in the heap for the next image; thumbnail_release_memory() hands
         * them back when the daemon goes idle. */
        (void) mallopt(M_MMAP_THRESHOLD, 64 << 20);
        (void) mallopt(M_TRIM_THRESHOLD, 128 << 20);
        if (!colour_cache) {
                r = colour_cache_new(COLOUR_CACHE_SIZE, &colour_cache);
                if (r < 0)
                        return r;
        }
        return 0;
}

void thumbnail_release_memory(void) {
        (void) malloc_trim(0);
}

int thumbnail_set_limits(const ThumbnailOptions *opts) {
        if (!SetMagickResourceLimit(PixelsResource, (magick_int64_t) opts->max_pixels) ||
            !SetMagickResourceLimit(WidthResource, opts->max_width) ||
            !SetMagickResourceLimit(HeightResource, opts->max_height))
                return -EIO;
        if (opts->max_memory > 0 && (!SetMagickResourceLimit(MemoryResource, (magick_int64_t) opts->max_memory) ||
                                     !SetMagickResourceLimit(MapResource, (magick_int64_t) opts->max_memory)))
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
        colour_cache = colour_cache_free(colour_cache);
#ifdef HAVE_HEIF
        decode_heif_done();
#endif
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

/* The size w x h is resized to for a box_w x box_h thumbnail in mode: fitted
 * inside (fit, pad), or just covering it (fill, which may upscale). */
static void scaled_size(unsigned long w, unsigned long h, unsigned box_w, unsigned box_h, ThumbnailMode mode,
                        unsigned long *ret_w, unsigned long *ret_h) {
        if (mode != THUMBNAIL_FILL) {
                fit(w, h, box_w, box_h, ret_w, ret_h);
                return;
        }
        if (w * box_h >= h * box_w) {   /* wider than the box: the height decides */
                *ret_h = box_h;
                *ret_w = (w * box_h + h / 2) / h;
        } else {
                *ret_w = box_w;
                *ret_h = (h * box_w + w / 2) / w;
        }
        *ret_w = *ret_w < box_w ? box_w : *ret_w;
        *ret_h = *ret_h < box_h ? box_h : *ret_h;
}

/* The colour of pad's margins and of what a flattened alpha shows, 0xRRGGBB. */
static void set_background(Image *image, uint32_t rgb) {
        image->background_color.red = ScaleCharToQuantum((rgb >> 16) & 0xff);
        image->background_color.green = ScaleCharToQuantum((rgb >> 8) & 0xff);
        image->background_color.blue = ScaleCharToQuantum(rgb & 0xff);
        image->background_color.opacity = OpaqueOpacity;
}

/* thumb cropped (fill) or padded (pad) to exactly box_w x box_h around its
 * centre; thumb is consumed. NULL on failure. */
static Image *frame(Image *consumed, unsigned box_w, unsigned box_h, ThumbnailMode mode, uint32_t background,
                    ExceptionInfo *ex) {
        _cleanup_image_ Image *thumb = consumed, *out = NULL;

        if (mode == THUMBNAIL_FIT || (thumb->columns == box_w && thumb->rows == box_h))
                return TAKE_PTR(thumb);
        if (mode == THUMBNAIL_FILL) {
                RectangleInfo r = { box_w, box_h, (long) (thumb->columns - box_w) / 2,
                                    (long) (thumb->rows - box_h) / 2 };

                out = CropImage(thumb, &r, ex);
                if (out) {
                        out->page.width = out->page.height = 0;
                        out->page.x = out->page.y = 0;
                }
        } else {
                out = CloneImage(thumb, box_w, box_h, MagickTrue, ex);
                if (out) {
                        set_background(out, background);
                        if (!SetImage(out, OpaqueOpacity) ||
                            !CompositeImage(out, OverCompositeOp, thumb, (long) (box_w - thumb->columns) / 2,
                                            (long) (box_h - thumb->rows) / 2))
                                return NULL;
                }
        }
        return TAKE_PTR(out);
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

/* Writes data to a hidden temporary in dirfd, lets opts->finish stamp it,
 * and renames it to name. Never through a symlink: the temporary is created
 * with O_EXCL|O_NOFOLLOW, and renameat() replaces whatever is at name, a
 * planted link included. */
static int write_atomically(int dirfd, const char *name, const void *data, size_t len,
                            const ThumbnailOptions *opts, char **reterr_reason) {
        char tmp[NAME_MAX + 1];
        int fd = -1, r;

        for (int attempt = 0; attempt < 100 && fd < 0; attempt++) {
                unsigned char rnd[NAMING_TEMPORARY_RANDOM];

                if (getrandom(rnd, sizeof rnd, 0) != (ssize_t) sizeof rnd)
                        return -EIO;
                if (naming_temporary(name, rnd, tmp) < 0) {
                        return message_set(reterr_reason, -ENAMETOOLONG,
                                           "the name '%s' leaves no room for its temporary", name);
                }
                fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                            opts->file_mode ? opts->file_mode : 0644);
                if (fd < 0 && errno != EEXIST)
                        break;
        }
        if (fd < 0) {
                r = -errno;
                return message_set(reterr_reason, r, "cannot create a temporary in the output folder: %s",
                                   strerror(-r));
        }
        r = write_all(fd, data, len);
        if (r >= 0 && opts->finish)
                r = opts->finish(fd, opts->finish_userdata);
        if (close(fd) < 0 && r >= 0)
                r = -errno;
        if (r >= 0 && renameat(dirfd, tmp, dirfd, name) < 0)
                r = -errno;
        if (r < 0) {
                (void) unlinkat(dirfd, tmp, 0);
                message_put(reterr_reason, "cannot write '%s': %s", name, strerror(-r));
        }
        return r;
}

/* The header against the limits, with the numbers in the message. */
static int check_limits(unsigned long width, unsigned long height, const ThumbnailOptions *opts,
                        char **reterr_reason) {
        uint64_t pixels = (uint64_t) width * height;

        if (width > opts->max_width || height > opts->max_height) {
                return message_set(reterr_reason, -EFBIG, "%lux%lu is over max_width x max_height %ux%u", width, height,
                                   opts->max_width, opts->max_height);
        }
        if (pixels > opts->max_pixels) {
                return message_set(reterr_reason, -EFBIG, "%lux%lu is %" PRIu64 " pixels, over max_pixels %" PRIu64,
                                   width, height, pixels, opts->max_pixels);
        }
        return 0;
}

/* Checks the open file fd (the caller's) before anything is decoded: a
 * regular file, within max_file_size, of an allowed format by its magic
 * bytes. On success *ret_file reads a duplicate of fd from its start, ours
 * to fclose(). */
static int open_source(int fd, const ThumbnailOptions *opts, const ImageFormat **ret_image_format, FILE **ret_file,
                       struct stat *ret_st, char **reterr_reason) {
        _cleanup_fclose_ FILE *f = NULL;
        _cleanup_close_ int dup_fd = -1;
        unsigned char head[IMAGE_FORMAT_HEAD_SIZE];
        const ImageFormat *format;
        char what[128];
        ssize_t n;
        int r;

        if (fstat(fd, ret_st) < 0 || !S_ISREG(ret_st->st_mode))
                return message_set(reterr_reason, -EMEDIUMTYPE, "not a regular file");
        if (opts->max_file_size > 0 && (uint64_t) ret_st->st_size > opts->max_file_size)
                return message_set(reterr_reason, -EFBIG, "file is %" PRIu64 " bytes, over max_file_size %" PRIu64,
                                   (uint64_t) ret_st->st_size, opts->max_file_size);
        n = pread(fd, head, sizeof head, 0);
        if (n < 0) {
                r = errno > 0 ? -errno : -EIO;
                return message_set(reterr_reason, r, "cannot read: %s", strerror(-r));
        }
        if (n == 0)
                return message_set(reterr_reason, -ENODATA, "empty file");
        format = image_format_sniff(head, (size_t) n);
        if (!format && image_format_describe_unknown(head, (size_t) n, what, sizeof what))
                return message_set(reterr_reason, -EMEDIUMTYPE, "not an allowed image format: %s", what);
        if (!format || !(format->bit & opts->formats))
                return message_set(reterr_reason, -EMEDIUMTYPE, "not an allowed image format%s%s%s",
                                   format ? " (" : "", format ? format->name : "",
                                   format ? " is not in formats =)" : "");
        /* libpng applies GraphicsMagick's width limit itself and calls a larger
         * image "Invalid IHDR data"; read PNG's dimensions here to say what
         * is really wrong. The IHDR chunk always comes first. */
        if (format->bit == THUMBNAIL_PNG && n >= 24 && memcmp(head + 12, "IHDR", 4) == 0) {
                unsigned long w = (unsigned long) head[16] << 24 | head[17] << 16 | head[18] << 8 | head[19];
                unsigned long h = (unsigned long) head[20] << 24 | head[21] << 16 | head[22] << 8 | head[23];

                r = check_limits(w, h, opts, reterr_reason);
                if (r < 0)
                        return r;
        }
        dup_fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        if (dup_fd < 0)
                return -errno;
        f = fdopen(dup_fd, "rb");
        if (!f)
                return -ENOMEM;
        (void) TAKE_FD(dup_fd);         /* f's now */
        /* A duplicate shares the file offset: start at the start. */
        if (fseeko(f, 0, SEEK_SET) < 0)
                return -EIO;
        *ret_image_format = format;
        *ret_file = TAKE_PTR(f);
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

/* As read_source(), from size bytes at data (a RAW's JPEG preview). */
static Image *read_blob(const void *data, size_t size, const char *coder, unsigned long hint_w,
                        unsigned long hint_h, ExceptionInfo *ex) {
        _cleanup_image_info_ ImageInfo *info = source_info(NULL, coder);

        if (!info)
                return NULL;
        if (hint_w > 0 && hint_h > 0) {
                char hint[64];

                (void) snprintf(hint, sizeof hint, "%lux%lu", hint_w, hint_h);
                (void) CloneString(&info->size, hint);
        }
        return BlobToImage(info, data, size, ex);
}

static int encode_and_write(Image *thumb, const char *coder, const ThumbnailOptions *opts, int dirfd,
                            const char *name, char **reterr_reason) {
        _cleanup_image_info_ ImageInfo *info = CloneImageInfo(NULL);
        ExceptionInfo ex;
        size_t len = 0;
        void *blob;
        int r;

        if (!info)
                return -ENOMEM;
        /* PNG's "quality" is zlib level 9 with adaptive filtering: small files
         * for small images, where the time it costs is nothing. */
        info->quality = strcmp(coder, "PNG") == 0 ? 95 : opts->quality ? opts->quality : JPEG_QUALITY;
        (void) snprintf(info->magick, sizeof info->magick, "%s", coder);
        (void) snprintf(thumb->magick, sizeof thumb->magick, "%s", coder);
        GetExceptionInfo(&ex);
        blob = ImageToBlob(info, thumb, &len, &ex);
        if (!blob || len == 0) {
                exception_reason(&ex, reterr_reason);
                r = -EIO;
        } else
                r = write_atomically(dirfd, name, blob, len, opts, reterr_reason);
        MagickFree(blob);
        DestroyExceptionInfo(&ex);
        return r;
}

/* Whether a decode's exception means pixels are missing: an error, or a
 * corrupt-image warning (a truncated JPEG decodes with a grey bottom and
 * says so). Other warnings leave the pixels whole: libpng's "iCCP: known
 * incorrect sRGB profile", which many real PNGs trip, is a coder warning. */
static bool missing_pixels(const ExceptionInfo *ex) {
        return ex->severity == CorruptImageWarning || ex->severity >= ErrorException;
}

/* What is known of a source before its pixels are decoded. */
typedef struct Header {
        unsigned long columns, rows;    /* as stored */
        OrientationType orientation;
        ExifData *exif;                 /* JPEG only; owned, or NULL */
        bool progressive;               /* JPEG: progressive, or PNG: interlaced (decoded whole either way) */
        unsigned stored_bytes;          /* progressive JPEG: coefficient bytes a pixel (2 a component);
                                         * interlaced PNG: bytes a pixel as stored; BMP: bytes a pixel */
} Header;

typedef struct JpegError {
        struct jpeg_error_mgr mgr;
        jmp_buf jump;
} JpegError;

static void jpeg_fail(j_common_ptr cinfo) {
        longjmp(((JpegError *) cinfo->err)->jump, 1);
}

static void jpeg_quiet(j_common_ptr cinfo, int level) {
        (void) cinfo;
        (void) level;
}

/* A JPEG's size and EXIF from its markers, read by libjpeg up to the start
 * of the scan: GraphicsMagick's ping of a JPEG decodes the whole image, which
 * doubled the cost of a thumbnail. The exif is ours to free. */
static int jpeg_header(FILE *f, Header *ret, char **reterr_reason) {
        struct jpeg_decompress_struct cinfo;
        JpegError err;

        cinfo.err = jpeg_std_error(&err.mgr);
        err.mgr.error_exit = jpeg_fail;
        err.mgr.emit_message = jpeg_quiet;
        if (setjmp(err.jump)) {
                char msg[JMSG_LENGTH_MAX];

                err.mgr.format_message((j_common_ptr) &cinfo, msg);
                message_put(reterr_reason, "%s", msg);
                jpeg_destroy_decompress(&cinfo);
                return -EBADMSG;
        }
        jpeg_create_decompress(&cinfo);
        jpeg_stdio_src(&cinfo, f);
        jpeg_save_markers(&cinfo, JPEG_APP0 + 1, 0xffff);
        if (jpeg_read_header(&cinfo, TRUE) != JPEG_HEADER_OK) {
                jpeg_destroy_decompress(&cinfo);
                return message_set(reterr_reason, -EBADMSG, "no image in the JPEG stream");
        }
        ret->columns = cinfo.image_width;
        ret->rows = cinfo.image_height;
        ret->progressive = jpeg_has_multiple_scans(&cinfo);
        ret->stored_bytes = 2 * (unsigned) cinfo.num_components;
        for (jpeg_saved_marker_ptr m = cinfo.marker_list; m && !ret->exif; m = m->next)
                if (m->marker == JPEG_APP0 + 1 && m->data_length > 6 && memcmp(m->data, "Exif\0\0", 6) == 0) {
                        ret->exif = exif_data_new();
                        if (ret->exif)
                                exif_data_load_data(ret->exif, m->data, m->data_length);
                }
        jpeg_destroy_decompress(&cinfo);
        return 0;
}

/* The largest thumbnail of the targets, each fitted to this image, as the
 * pixels are stored: orientations 5-8 swap the axes, so the boxes are turned. */
static void largest_fit(const Header *header, bool transposed, const ThumbnailTarget *targets, size_t n_targets,
                        unsigned long *ret_w, unsigned long *ret_h) {
        unsigned long w = 0, h = 0;

        for (size_t i = 0; i < n_targets; i++) {
                unsigned long fw, fh;

                scaled_size(header->columns, header->rows, transposed ? targets[i].height : targets[i].width,
                            transposed ? targets[i].width : targets[i].height, targets[i].mode, &fw, &fh);
                /* A decode larger than the image does not exist. */
                fw = fw > header->columns ? header->columns : fw;
                fh = fh > header->rows ? header->rows : fh;
                w = fw > w ? fw : w;
                h = fh > h ? fh : h;
        }
        *ret_w = w;
        *ret_h = h;
}

/* The size hint for the decoder: twice the largest thumbnail, so that libjpeg
 * can decode at 1/2, 1/4 or 1/8 scale and the resize still has enough pixels
 * (bench/quality: 1x loses up to 6 dB against a full decode, 4x gains under
 * 1.5 dB for a decode up to 4 times larger). 0x0 (a full decode) when that would
 * not shrink the image: GraphicsMagick's JPEG reader upscales to a hint that
 * is larger than the image. */
static void size_hint(const Header *header, unsigned long need_w, unsigned long need_h, unsigned long *ret_w,
                      unsigned long *ret_h) {
        if (2 * need_w < header->columns && 2 * need_h < header->rows) {
                *ret_w = 2 * need_w;
                *ret_h = 2 * need_h;
        } else
                *ret_w = *ret_h = 0;
}

/* A JPEG's EXIF thumbnail (IFD1), decoded, when it can stand in for the
 * image: a JPEG itself, at least need_w x need_h, and of the image's shape to
 * the pixel (a preview letterboxed to 4:3 or cropped is refused). NULL
 * otherwise, and the caller decodes the image. */
static Image *embedded_preview(const Header *header, unsigned long need_w, unsigned long need_h) {
        const ExifData *exif = header->exif;
        _cleanup_image_info_ ImageInfo *info = NULL;
        _cleanup_image_ Image *preview = NULL;
        unsigned long shape_w, shape_h;
        ExceptionInfo ex;
        bool usable;

        if (!exif || !exif->data || exif->size < 4 || memcmp(exif->data, "\xff\xd8\xff", 3) != 0)
                return NULL;
        info = CloneImageInfo(NULL);
        if (!info)
                return NULL;
        (void) snprintf(info->magick, sizeof info->magick, "JPEG");
        (void) snprintf(info->filename, sizeof info->filename, "JPEG:" SOURCE_NAME);
        info->subimage = 0;
        info->subrange = 1;
        GetExceptionInfo(&ex);
        preview = BlobToImage(info, exif->data, exif->size, &ex);
        usable = preview && !missing_pixels(&ex) && !timed_out && preview->columns >= need_w &&
                 preview->rows >= need_h;
        DestroyExceptionInfo(&ex);
        if (!usable)
                return NULL;
        fit(header->columns, header->rows, (unsigned) preview->columns, (unsigned) preview->rows, &shape_w, &shape_h);
        if (shape_w + 1 < preview->columns || shape_h + 1 < preview->rows)
                return NULL;
        return TAKE_PTR(preview);
}

/* The orientation in a JPEG's EXIF, as GraphicsMagick's reader applies it. */
static OrientationType exif_orientation(ExifData *exif) {
        ExifEntry *e;
        unsigned v;

        if (!exif)
                return UndefinedOrientation;
        e = exif_content_get_entry(exif->ifd[EXIF_IFD_0], EXIF_TAG_ORIENTATION);
        if (!e || e->format != EXIF_FORMAT_SHORT || e->components != 1 || !e->data)
                return UndefinedOrientation;
        v = exif_get_short(e->data, exif_data_get_byte_order(exif));
        return v >= TopLeftOrientation && v <= LeftBottomOrientation ? (OrientationType) v : UndefinedOrientation;
}

/* The reason for a failure: ours for a timeout, GraphicsMagick's otherwise. */
static void failure_reason(int r, const ExceptionInfo *ex, const ThumbnailOptions *opts, char **reterr_reason) {
        if (r == -ETIMEDOUT)
                message_put(reterr_reason, "abandoned after job_timeout (%.3f s)",
                                   (double) opts->timeout_usec / 1e6);
        else
                exception_reason(ex, reterr_reason);
}

/* The result of a resize or scale; or NULL, with the error in *ret_r and its
 * reason, when it failed (result is NULL) or the deadline passed meanwhile
 * (result is freed). */
static Image *pixel_op_result(Image *result, const ExceptionInfo *ex, const ThumbnailOptions *opts,
                              char **reterr_reason, int *ret_r) {
        if (result && !timed_out)
                return result;
        image_destroyp(&result);
        *ret_r = timed_out ? -ETIMEDOUT : ex->severity == ResourceLimitError ? -EFBIG : -EBADMSG;
        failure_reason(*ret_r, ex, opts, reterr_reason);
        return NULL;
}

/* What went wrong in a read, as one of our errors. */
static int read_error(const ExceptionInfo *ex, int fd, const ImageFormat *format, const struct stat *st) {
        if (timed_out || ex->severity == MonitorError)
                return -ETIMEDOUT;
        if (ex->severity == ResourceLimitError)
                return -EFBIG;
        if (fd < 0)             /* from memory: a RAW's preview, whose end decode-raw checked */
                return -EBADMSG;
        return image_format_looks_truncated(format, fd, (uint64_t) st->st_size) ? -ENODATA : -EBADMSG;
}

/* The bytes a decode of this source at the size hint holds at its peak, for
 * the memory budget: GraphicsMagick's image (8 bytes a pixel at 16 bits a
 * channel) as decoded (libjpeg scales by 1/2, 1/4 or 1/8 to meet the hint),
 * what the decoder keeps of the whole source besides, the reduced copy and
 * the thumbnails, and 4 MB of buffers. The per-format figures are peak RSS
 * measured on 4000x4000 and 6000x6000 images with one worker
 * (GraphicsMagick 1.3.40 Q16): above the 8 bytes a pixel, a progressive JPEG
 * keeps its coefficients (2 bytes a component: 6 for YCbCr, 8 for CMYK), an
 * interlaced PNG its image as stored (up to 8 bytes at 16-bit RGBA), BMP its
 * pixels as stored (3 or 4), WebP its RGBA output (3), GIF 2; TIFF and
 * non-interlaced PNG 0. */
static uint64_t decode_estimate(const Header *h, unsigned format, unsigned long hint_w, unsigned long hint_h,
                                unsigned long need_w, unsigned long need_h, size_t n_targets) {
        uint64_t source = (uint64_t) h->columns * h->rows, decoded = source, extra;
        unsigned scale = 1;

        if (format == THUMBNAIL_JPEG && hint_w > 0 && hint_h > 0) {
                for (scale = 8; scale > 1; scale /= 2)
                        if (h->columns / scale >= hint_w && h->rows / scale >= hint_h)
                                break;
                decoded = (uint64_t) ((h->columns + scale - 1) / scale) * ((h->rows + scale - 1) / scale);
        }
        switch (format) {
        case THUMBNAIL_JPEG:
        case THUMBNAIL_PNG:
                extra = h->progressive ? (h->stored_bytes ? h->stored_bytes : 8) : 0;
                break;
        case THUMBNAIL_BMP:
                extra = h->stored_bytes ? h->stored_bytes : 4;
                break;
        case THUMBNAIL_WEBP:
                extra = 3;
                break;
        case THUMBNAIL_GIF:
                extra = 2;
                break;
        case THUMBNAIL_HEIC:
        case THUMBNAIL_AVIF:
                /* libheif's planes (up to 6 bytes a pixel at 4:4:4 and 10 bits) and its
                 * RGBA output, copied into GraphicsMagick's image: peak RSS 17 bytes a
                 * pixel in all for a 4032x3024 HEIC, 17.4 for an AVIF. */
                extra = 10;
                break;
        case THUMBNAIL_RAW:
                extra = 3;      /* an RGB preview's bytes */
                break;
        case THUMBNAIL_JXL:
                extra = 8;      /* libjxl's output: peak RSS 14.4 bytes a pixel in all, 4032x3024 */
                break;
        default:
                extra = 0;
        }
        return decoded * 8 + source * extra + (uint64_t) 4 * need_w * need_h * 8 +
               (uint64_t) n_targets * need_w * need_h * 8 * 2 + (4ULL << 20);
}

/* The size, orientation and (JPEG) EXIF of a source, without its pixels. */
static int read_header(FILE *f, const ImageFormat *format, const struct stat *st, const ThumbnailOptions *opts,
                       Header *ret, ExceptionInfo *ex, char **reterr_reason) {
        _cleanup_image_ Image *image = NULL;
        int r;

        *ret = (Header) {};
        if (format->bit == THUMBNAIL_JPEG) {
                r = jpeg_header(f, ret, reterr_reason);
                /* A RAW's preview is read from memory (no descriptor): decode-raw checked its end. */
                if (r < 0 && fileno(f) >= 0 &&
                    image_format_looks_truncated(format, fileno(f), (uint64_t) st->st_size))
                        r = -ENODATA;
                ret->orientation = exif_orientation(ret->exif);
        } else {
                image = ping_source(f, format->coder, ex);
                if (!image || ex->severity >= ErrorException || timed_out) {
                        r = read_error(ex, fileno(f), format, st);
                        failure_reason(r, ex, opts, reterr_reason);
                } else {
                        ret->columns = image->columns;
                        ret->rows = image->rows;
                        ret->orientation = image->orientation;
                        r = 0;
                        /* Adam7 is IHDR's last byte (GraphicsMagick's ping does not
                         * say); an interlaced image is held whole as stored: its
                         * bit depth and colour type say how many bytes a pixel. */
                        if (format->bit == THUMBNAIL_PNG) {
                                static const unsigned channels[7] = { 1, 0, 3, 1, 2, 0, 4 };
                                unsigned char ihdr[5] = {};

                                if (pread(fileno(f), ihdr, sizeof ihdr, 24) == (ssize_t) sizeof ihdr) {
                                        ret->progressive = ihdr[4] == 1;
                                        ret->stored_bytes = (ihdr[1] < 7 ? channels[ihdr[1]] : 4) *
                                                            (ihdr[0] > 8 ? 2 : 1);
                                }
                        }
                        /* BMP: its rows as stored, from the header's bit count. */
                        if (format->bit == THUMBNAIL_BMP) {
                                unsigned char bits[2] = {};

                                if (pread(fileno(f), bits, sizeof bits, 28) == (ssize_t) sizeof bits)
                                        ret->stored_bytes = ((unsigned) (bits[0] | bits[1] << 8) + 7) / 8;
                        }
                }
        }
        if (r == 0 && (ret->columns == 0 || ret->rows == 0)) {
                message_put(reterr_reason, "the header says %lux%lu", ret->columns, ret->rows);
                r = -EBADMSG;
        }
        rewind(f);
        return r;
}

/* Each target's size for a width x height image (as shown, oriented): sized
 * from the image's own size, not from what was decoded, so that a
 * thumbnail's size does not depend on the decoder's scale. And the order to
 * make them in: largest first (of equal ones, the later first). */
static void plan_targets(unsigned long width, unsigned long height, const ThumbnailTarget *targets, size_t n,
                         unsigned long *ret_w, unsigned long *ret_h, size_t *ret_order) {
        for (size_t i = 0; i < n; i++) {
                size_t j = i;

                scaled_size(width, height, targets[i].width, targets[i].height, targets[i].mode, &ret_w[i],
                            &ret_h[i]);
                for (; j > 0 && ret_w[ret_order[j - 1]] * ret_h[ret_order[j - 1]] <= ret_w[i] * ret_h[i]; j--)
                        ret_order[j] = ret_order[j - 1];
                ret_order[j] = i;
        }
}

/* The freedesktop.org text chunks, written by the PNG coder as tEXt. */
static void set_thumb_text(Image *image, const ThumbnailOptions *opts, const char *mimetype, unsigned long width,
                           unsigned long height) {
        char buf[64];

        (void) SetImageAttribute(image, "Thumb::URI", opts->thumb_uri);
        (void) snprintf(buf, sizeof buf, "%lld", opts->thumb_mtime);
        (void) SetImageAttribute(image, "Thumb::MTime", buf);
        (void) snprintf(buf, sizeof buf, "%llu", opts->thumb_size);
        (void) SetImageAttribute(image, "Thumb::Size", buf);
        if (mimetype)
                (void) SetImageAttribute(image, "Thumb::Mimetype", mimetype);
        if (width > 0) {
                (void) snprintf(buf, sizeof buf, "%lu", width);
                (void) SetImageAttribute(image, "Thumb::Image::Width", buf);
                (void) snprintf(buf, sizeof buf, "%lu", height);
                (void) SetImageAttribute(image, "Thumb::Image::Height", buf);
        }
        (void) SetImageAttribute(image, "Software", "thumbwatch " PACKAGE_VERSION);
}

int thumbnail_write_failure_marker(int dirfd, const char *name, const ThumbnailOptions *opts, char **reterr_reason) {
        _cleanup_image_info_ ImageInfo *info = CloneImageInfo(NULL);
        _cleanup_image_ Image *image = info ? AllocateImage(info) : NULL;

        *reterr_reason = NULL;
        if (!image)
                return -ENOMEM;
        image->columns = image->rows = 1;
        image->matte = MagickTrue;
        image->background_color.opacity = TransparentOpacity;
        if (!SetImage(image, TransparentOpacity))
                return -ENOMEM;
        set_thumb_text(image, opts, NULL, 0, 0);
        return encode_and_write(image, "PNG", opts, dirfd, name, reterr_reason);
}

/* A source from open_source() on: what every later stage reads. */
typedef struct Source {
        const ImageFormat *format;      /* by its magic bytes */
        const ImageFormat *codec;       /* what its pixels are decoded as: format, or JPEG for a RAW
                                         * whose preview is a JPEG */
        FILE *file;                     /* reads a duplicate of the caller's descriptor (a RAW's JPEG
                                         * preview: preview_data); owned */
        struct stat st;
        Header header;                  /* header.exif owned; a RAW's: its preview's */
        ExceptionInfo ex;               /* GraphicsMagick's errors, once exception_ready */
        bool exception_ready;
        char *warning;                  /* owned: the first thing not done as asked, or NULL */
#ifdef HAVE_HEIF
        DecodeHeif *heif;               /* HEIC, HEIF, AVIF: decoded by decode-heif; owned */
#endif
        uint8_t *preview_data;          /* RAW: its embedded preview (RawPreview.data); owned */
        size_t preview_size;
        bool preview_rgb;               /* ... packed 8-bit RGB, header.columns x header.rows; else a JPEG */
} Source;

/* Frees what s holds and disarms the deadline. */
static void source_done(Source *s) {
        deadline = 0;
        if (s->header.exif)
                exif_data_unref(s->header.exif);
        if (s->exception_ready)
                DestroyExceptionInfo(&s->ex);
        if (s->file)
                (void) fclose(s->file);
        free(s->warning);
        free(s->preview_data);          /* after the FILE that may read it */
#ifdef HAVE_HEIF
        (void) decode_heif_free(s->heif);
#endif
        *s = (Source) {};
}

/* Test builds: each decode libheif, libraw or decode-jpeg does sleeps
 * $THUMBWATCH_TEST_DECODE_SLOW_MS first, as a large or hostile file's would
 * take that long, to test job_timeout where nothing can stop a decode. */
_unused_ static void test_slow_decode(void) {
#ifdef THUMBWATCH_TEST_HOOKS
        const char *ms = getenv("THUMBWATCH_TEST_DECODE_SLOW_MS");

        if (ms) {
                long v = strtol(ms, NULL, 10);
                struct timespec ts = { v / 1000, (v % 1000) * 1000000 };

                (void) nanosleep(&ts, NULL);
        }
#endif
}

/* libheif, libraw and libjpeg's DC scans (decode-jpeg) cannot be stopped
 * mid-way: after each of their steps, a deadline passed meanwhile fails the
 * file as GraphicsMagick's monitor would have. Returns 0 or -ETIMEDOUT with
 * the reason. */
_unused_ static int check_deadline(const ThumbnailOptions *opts, const char *what, char **reterr_reason) {
        if (deadline == 0 || now_usec() < deadline)
                return 0;
        timed_out = true;
        return message_set(reterr_reason, -ETIMEDOUT, "abandoned after job_timeout (%.3f s): %s ran past it",
                           (double) opts->timeout_usec / 1e6, what);
}

/* The errors of decode-heif and decode-raw as thumbnail_make()'s. (These
 * three are unused in a build without both.) */
_unused_ static int module_error(int r) {
        switch (r) {
        case -E2BIG:
                return -EFBIG;
        case -ENOTSUP:
        case -ENOENT:
                return -EMEDIUMTYPE;
        default:
                return r;
        }
}

/* HEIC, HEIF, AVIF: the header, through libheif, which also bounds every
 * image, tile and grid it reads by the larger of max_width and max_height. */
static int heif_header(Source *s, const ThumbnailOptions *opts, char **reterr_reason) {
#ifdef HAVE_HEIF
        unsigned w, h, side = opts->max_width > opts->max_height ? opts->max_width : opts->max_height;
        int r;

        r = decode_heif_open_fd(fileno(s->file), opts->max_file_size, side, &s->heif, reterr_reason);
        if (r < 0)
                return module_error(r);
        decode_heif_primary_size(s->heif, &w, &h);
        s->header.columns = w;
        s->header.rows = h;
        s->header.orientation = TopLeftOrientation;     /* libheif orients the pixels */
        if (w == 0 || h == 0)
                return message_set(reterr_reason, -EBADMSG, "the header says %ux%u", w, h);
        return check_deadline(opts, "libheif's header parse", reterr_reason);
#else
        (void) opts;
        return message_set(reterr_reason, -EMEDIUMTYPE, "%s: thumbwatch was built without libheif (--without-heif)",
                           s->format->name);
#endif
}

/* A RAW: its embedded preview, through libraw (never the raw data, never
 * GraphicsMagick's RAW coders). A JPEG preview is then read as a JPEG from
 * memory: s->codec and s->file become the preview's, and the caller reads
 * its header. Returns 1 for that, 0 for an RGB preview (its header is set
 * here), or an error. */
static int raw_open(Source *s, const ThumbnailOptions *opts, char **reterr_reason) {
#ifdef HAVE_RAW
        DecodeRaw *raw = NULL;
        RawPreview preview = {};
        uint64_t now = now_usec();
        int r;

        /* libraw's process is given what is left of job_timeout, and killed
         * after it, or when the daemon stops waiting for its workers. */
        r = decode_raw_open_fd(fileno(s->file), opts->max_file_size,
                               deadline == 0 ? 0 : deadline > now ? deadline - now : 1, opts->cancel, &raw,
                               reterr_reason);
        if (r == -ETIMEDOUT)
                timed_out = true;
        if (r >= 0) {
                test_slow_decode();
                r = decode_raw_preview(raw, &preview, reterr_reason);
        }
        (void) decode_raw_free(raw);
        if (r < 0)
                return module_error(r);
        s->preview_data = TAKE_PTR(preview.data);
        s->preview_size = preview.size;
        s->header.orientation = (OrientationType) preview.orientation;
        r = check_deadline(opts, "libraw", reterr_reason);
        if (r < 0)
                return r;
        if (preview.format == RAW_PREVIEW_RGB) {
                s->preview_rgb = true;
                s->header.columns = preview.width;
                s->header.rows = preview.height;
                return 0;
        }
        (void) fclose(s->file);
        s->file = fmemopen(s->preview_data, s->preview_size, "rb");
        if (!s->file)
                return -ENOMEM;
        s->codec = image_format_from_bit(THUMBNAIL_JPEG);
        return 1;
#else
        (void) opts;
        return message_set(reterr_reason, -EMEDIUMTYPE, "%s: thumbwatch was built without libraw (--without-raw)",
                           s->format->name);
#endif
}

/* The first stage of thumbnail_probe() and thumbnail_make(): src opened and
 * checked, the deadline armed, the header read. s->format is set once the
 * magic bytes are known, even when a later step fails. The caller calls
 * source_done() either way. */
static int open_and_check(int src, const ThumbnailOptions *opts, Source *s, char **reterr_reason) {
        OrientationType raw_orientation;
        int r;

        r = open_source(src, opts, &s->format, &s->file, &s->st, reterr_reason);
        if (r < 0)
                return r;
        assert(s->format && s->file);   /* open_source() sets both on success */
        GetExceptionInfo(&s->ex);
        s->exception_ready = true;
        deadline = opts->timeout_usec > 0 ? now_usec() + opts->timeout_usec : 0;
        timed_out = false;
        s->codec = s->format;
        if (s->format->bit & (THUMBNAIL_HEIC | THUMBNAIL_AVIF))
                return heif_header(s, opts, reterr_reason);
        if (s->format->bit == THUMBNAIL_RAW) {
                r = raw_open(s, opts, reterr_reason);
                if (r <= 0)
                        return r;
        }
        raw_orientation = s->header.orientation;
        r = read_header(s->file, s->codec, &s->st, opts, &s->header, &s->ex, reterr_reason);
        /* A RAW's preview is oriented as the RAW says, whatever its own EXIF says. */
        if (s->format != s->codec)
                s->header.orientation = raw_orientation;
        return r;
}

int thumbnail_probe(int src, const ThumbnailOptions *opts, const char **ret_format, unsigned long *ret_width,
                    unsigned long *ret_height, char **reterr_reason) {
        _cleanup_(source_done) Source s = {};
        int r;

        *reterr_reason = NULL;
        *ret_format = NULL;
        *ret_width = *ret_height = 0;
        r = open_and_check(src, opts, &s, reterr_reason);
        if (s.format)
                *ret_format = s.format->name;
        if (r < 0)
                return r;
        *ret_width = s.header.columns;
        *ret_height = s.header.rows;
        return check_limits(s.header.columns, s.header.rows, opts, reterr_reason);
}

/* The pixels the thumbnails are made from, and the sizes they are made to. */
typedef struct Pixels {
        Image *image;                   /* decoded (or the preview), upright, RGB; owned */
        unsigned long width, height;    /* the image as shown, from its header */
        unsigned long need_w, need_h;   /* the largest thumbnail, as shown */
        MemoryBudget *budget;           /* set: reserved bytes of it are held for the decode */
        uint64_t reserved;
} Pixels;

/* Frees the pixels and gives their reservation back to the budget. */
static void pixels_done(Pixels *px) {
        if (px->reserved > 0)
                memory_budget_release(px->budget, px->reserved);
        image_destroyp(&px->image);
        *px = (Pixels) {};
}

/* Reserves bytes of the budget for a decode of s, held until pixels_done().
 * A decode the whole budget cannot hold fails at once. */
static int reserve(const Source *s, uint64_t bytes, const ThumbnailOptions *opts, Pixels *px,
                   char **reterr_reason) {
        int r;

        if (!opts->budget)
                return 0;
        r = memory_budget_reserve(opts->budget, bytes, opts->cancel);
        if (r == -EFBIG)
                return message_set(reterr_reason, r,
                                   "%lux%lu needs about %" PRIu64 " MB to decode, more than max_memory %" PRIu64 " MB",
                                   s->header.columns, s->header.rows, bytes >> 20,
                                   memory_budget_total(opts->budget) >> 20);
        if (r < 0)
                return r;
        px->budget = opts->budget;
        px->reserved = bytes;
        return 0;
}

/* A progressive JPEG that is decoded at 1/8 scale, from its DC scan alone
 * (decode-jpeg), where GraphicsMagick's reader would decode every scan: 8
 * photos of 4032x3024 at 2 workers took 0.10 s and 18 MB a worker, against
 * 0.29 s and 16 MB as baseline JPEGs, and vipsthumbnail's 1.19 s
 * (docs/benchmarks.md). Only where the result is what GraphicsMagick's would
 * be: a file that is whole (one cut short fails as truncated, as ever,
 * however complete its DC scan), of a colour space decode-jpeg reads, with
 * strip on (GraphicsMagick's reader also attaches the EXIF, IPTC and XMP
 * profiles, which strip = no keeps). Returns 1 with px->image set, 0 for
 * "decode the ordinary way" (anything unusual, any error: GraphicsMagick
 * then says what is wrong, in its words, as before), or an error: -ENOMEM,
 * -ETIMEDOUT, or GraphicsMagick's refusal of the pixels. */
static int decode_dc_scan(Source *s, unsigned long hint_w, unsigned long hint_h, const ThumbnailOptions *opts,
                          Pixels *px, char **reterr_reason) {
        _cleanup_(decode_jpeg_done) DecodeJpeg dc = {};
        _cleanup_free_ char *why = NULL;
        int r;

        if (s->codec != s->format || s->codec->bit != THUMBNAIL_JPEG || !s->header.progressive || !opts->strip ||
            !decode_jpeg_eighth(s->header.columns, s->header.rows, hint_w, hint_h) ||
            image_format_looks_truncated(s->format, fileno(s->file), (uint64_t) s->st.st_size))
                return 0;
        test_slow_decode();
        r = decode_jpeg_dc(s->file, &dc, &why);
        rewind(s->file);
        if (r == -ENOMEM)
                return message_set(reterr_reason, r, "out of memory");
        if (r < 0)
                return 0;
        r = check_deadline(opts, "libjpeg's DC scans", reterr_reason);
        if (r < 0)
                return r;
        px->image = ConstituteImage(dc.width, dc.height, dc.channels == 1 ? "I" : "RGB", CharPixel, dc.pixels,
                                    &s->ex);
        if (!px->image) {
                exception_reason(&s->ex, reterr_reason);
                return s->ex.severity == ResourceLimitError ? -EFBIG : -EBADMSG;
        }
        px->image->orientation = s->header.orientation;
        px->image->units = (ResolutionType) (dc.density_unit <= 2 ? dc.density_unit : 0);
        px->image->x_resolution = dc.x_density;
        px->image->y_resolution = dc.y_density;
        if (dc.icc && !SetImageProfile(px->image, "ICM", dc.icc, dc.icc_size))
                return message_set(reterr_reason, -ENOMEM, "cannot attach the %zu-byte ICC profile", dc.icc_size);
        if (opts->pixels_from)
                *opts->pixels_from = "jpeg-dc-scan";
        return 1;
}

/* A decode at the size hint for need_w x need_h (as stored), within the
 * budget of all decodes together: reserved before the decode, from the
 * header, and held until the last thumbnail is written (pixels_done()). A
 * RAW's preview is decoded from memory, oriented as the RAW says. */
static int decode(Source *s, unsigned long need_w, unsigned long need_h, size_t n_targets,
                  const ThumbnailOptions *opts, Pixels *px, char **reterr_reason) {
        bool preview = s->codec != s->format || s->preview_rgb;
        unsigned long hint_w, hint_h;
        int r;

        size_hint(&s->header, need_w, need_h, &hint_w, &hint_h);
        r = reserve(s, decode_estimate(&s->header, s->codec->bit, hint_w, hint_h, need_w, need_h, n_targets), opts,
                    px, reterr_reason);
        if (r < 0)
                return r;
        r = decode_dc_scan(s, hint_w, hint_h, opts, px, reterr_reason);
        if (r != 0)
                return r < 0 ? r : 0;
        if (s->preview_rgb)
                px->image = ConstituteImage(s->header.columns, s->header.rows, "RGB", CharPixel, s->preview_data,
                                            &s->ex);
        else if (preview)
                px->image = read_blob(s->preview_data, s->preview_size, s->codec->coder, hint_w, hint_h, &s->ex);
        else
                px->image = read_source(s->file, s->codec->coder, hint_w, hint_h, &s->ex);
        /* A corrupt-image warning means pixels are missing (a truncated file
         * decodes with a grey bottom): no thumbnail is better than a wrong one.
         * An image cut short by the deadline is no better. */
        if (!px->image || missing_pixels(&s->ex) || timed_out) {
                r = read_error(&s->ex, preview ? -1 : fileno(s->file), s->codec, &s->st);
                failure_reason(r, &s->ex, opts, reterr_reason);
                return r;
        }
        if (preview)
                px->image->orientation = s->header.orientation;
        if (opts->pixels_from)
                *opts->pixels_from = preview ? "raw-preview" : "decode";
        return 0;
}

#ifdef HAVE_HEIF
/* The ICC profile that says what a HEIF's pixels mean, attached to image as
 * GraphicsMagick's readers attach a JPEG's or PNG's (kept in the thumbnail
 * with color = keep; with color = srgb, to_srgb() converts by it and drops
 * it): the file's own, which wins over an nclx box as in libheif, or else
 * one made for its nclx description; none for sRGB's. An nclx that cannot
 * be converted (HDR) leaves the pixels as they are, with a *warning with
 * color = srgb. */
static int attach_heif_profile(Image *image, const HeifColor *color, const ThumbnailOptions *opts, char **warning,
                               char **reterr_reason) {
        _cleanup_free_ char *why = NULL;
        const void *icc = color->icc;
        size_t len = color->icc_size;
        int r;

        if (!icc && color->has_nclx) {
                r = colour_cache ? colour_cache_nclx_profile(colour_cache, color->primaries, color->transfer, &icc,
                                                             &len, &why)
                                 : -ENOTRECOVERABLE;
                if (r == -ENOMEM)
                        return message_set(reterr_reason, r, "%s", why ? why : "out of memory");
                if (r < 0) {
                        if (opts->colour == THUMBNAIL_COLOUR_SRGB && !*warning)
                                message_put(warning, "nclx colour description not used, colours left as they are: %s",
                                            why ? why : strerror(-r));
                        return 0;
                }
        }
        if (icc && len > 0 && !SetImageProfile(image, "ICM", icc, len))
                return message_set(reterr_reason, -ENOMEM, "cannot attach the %zu-byte ICC profile", len);
        return 0;
}
#endif

/* HEIC, HEIF, AVIF: the smallest thumbnail item at least as large as the
 * largest target, else the primary image, decoded by libheif (oriented
 * already), within the budget. */
static int acquire_heif(Source *s, const ThumbnailTarget *targets, size_t n_targets, const ThumbnailOptions *opts,
                        Pixels *px, char **reterr_reason) {
#ifdef HAVE_HEIF
        _cleanup_(heif_pixels_done) HeifPixels hp = {};
        unsigned long need_w, need_h;
        unsigned w, h;
        bool thumbnail;
        Header chosen;
        int r;

        largest_fit(&s->header, false, targets, n_targets, &need_w, &need_h);
        decode_heif_choice(s->heif, (unsigned) need_w, (unsigned) need_h, &w, &h, &thumbnail);
        chosen = (Header) { .columns = w, .rows = h };
        r = reserve(s, decode_estimate(&chosen, s->format->bit, 0, 0, need_w, need_h, n_targets), opts, px,
                    reterr_reason);
        if (r < 0)
                return r;
        test_slow_decode();
        r = decode_heif_decode(s->heif, (unsigned) need_w, (unsigned) need_h, &hp, reterr_reason);
        if (r < 0)
                return module_error(r);
        r = check_deadline(opts, "libheif's decode", reterr_reason);
        if (r < 0)
                return r;
        /* Premultiplied RGBA (hp.premultiplied) is taken as straight: its edges
         * come out a little dark on the background; libheif 1.15 gives it only
         * where the file says so. */
        px->image = ConstituteImage(hp.width, hp.height, hp.channels == 4 ? "RGBA" : "RGB", CharPixel, hp.pixels,
                                    &s->ex);
        if (!px->image) {
                exception_reason(&s->ex, reterr_reason);
                return s->ex.severity == ResourceLimitError ? -EFBIG : -EBADMSG;
        }
        px->image->orientation = TopLeftOrientation;
        /* A thumbnail item's pixels mean what the primary image's do (hp.color is the primary's). */
        r = attach_heif_profile(px->image, &hp.color, opts, &s->warning, reterr_reason);
        if (r < 0)
                return r;
        px->width = s->header.columns;
        px->height = s->header.rows;
        px->need_w = need_w;
        px->need_h = need_h;
        if (opts->pixels_from)
                *opts->pixels_from = hp.from_thumbnail ? "heif-thumbnail" : "heif-primary";
        return 0;
#else
        (void) s, (void) targets, (void) n_targets, (void) opts, (void) px;
        return message_set(reterr_reason, -EMEDIUMTYPE, "thumbwatch was built without libheif");
#endif
}


/* Does image carry an ICC profile (for to_srgb(), below)? */
static bool has_profile(const Image *image) {
        size_t len = 0;

        return GetImageProfile(image, "ICM", &len) && len > 0;
}

/* Turns the pixels upright, as their orientation says, and makes CMYK RGB
 * (unless its profile is to make it sRGB: to_srgb()). */
static int orient_and_convert(Image **image, const ThumbnailOptions *opts, ExceptionInfo *ex, char **reterr_reason) {
        if ((*image)->orientation > TopLeftOrientation) {
                Image *oriented = AutoOrientImage(*image, (*image)->orientation, ex);

                if (!oriented) {
                        exception_reason(ex, reterr_reason);
                        return -EBADMSG;
                }
                image_destroyp(image);
                *image = oriented;
        }
        /* Thumbnails are for screens: CMYK and other print spaces become RGB. */
        if ((*image)->colorspace == CMYKColorspace && !(opts->colour == THUMBNAIL_COLOUR_SRGB && has_profile(*image))) {
                if (!TransformColorspace(*image, RGBColorspace))
                        return message_set(reterr_reason, -EBADMSG, "cannot convert CMYK to RGB");
                /* A CMYK profile does not describe these pixels any more. */
                (void) DeleteImageProfile(*image, "ICM");
        }
        return 0;
}

/* The second stage: the pixels, upright and RGB, from the JPEG's own
 * preview when it will do, else from a decode at a reduced size; and the
 * sizes the targets are made to. */
static int acquire_pixels(Source *s, const ThumbnailTarget *targets, size_t n_targets, const ThumbnailOptions *opts,
                          Pixels *px, char **reterr_reason) {
        bool transposed = s->header.orientation >= LeftTopOrientation;
        unsigned long need_w, need_h;
        int r;

        if (s->format->bit & (THUMBNAIL_HEIC | THUMBNAIL_AVIF))
                return acquire_heif(s, targets, n_targets, opts, px, reterr_reason);
        largest_fit(&s->header, transposed, targets, n_targets, &need_w, &need_h);
        /* A file cut short keeps its preview in its first bytes: it must
         * fail as truncated all the same. A RAW's preview is a preview already. */
        if (opts->embedded_previews && opts->strip && s->codec == s->format &&
            !image_format_looks_truncated(s->format, fileno(s->file), (uint64_t) s->st.st_size))
                px->image = embedded_preview(&s->header, need_w, need_h);
        if (px->image) {
                /* The preview has no EXIF of its own: it is stored as the image is. */
                px->image->orientation = s->header.orientation;
                if (opts->pixels_from)
                        *opts->pixels_from = "exif-thumbnail";
        } else {
                r = decode(s, need_w, need_h, n_targets, opts, px, reterr_reason);
                if (r < 0)
                        return r;
                assert(px->image);      /* decode() sets it on success */
        }
        /* The decoder's word on the orientation is final. */
        transposed = px->image->orientation >= LeftTopOrientation;
        px->width = transposed ? s->header.rows : s->header.columns;
        px->height = transposed ? s->header.columns : s->header.rows;
        px->need_w = transposed ? need_h : need_w;
        px->need_h = transposed ? need_w : need_h;
        return orient_and_convert(&px->image, opts, &s->ex, reterr_reason);
}

/* The third stage. Formats without a reduced decode (PNG, GIF, WebP, TIFF,
 * BMP) come at full size: averaging them down to twice the largest
 * thumbnail first makes the resize's work small, as the JPEG decoder's
 * scaling does, at the same quality (bench/quality). */
static int prescale(Pixels *px, ExceptionInfo *ex, const ThumbnailOptions *opts, char **reterr_reason) {
        Image *reduced;
        int r;

        if (px->image->columns <= 4 * px->need_w || px->image->rows <= 4 * px->need_h)
                return 0;
        reduced = pixel_op_result(ScaleImage(px->image, 2 * px->need_w, 2 * px->need_h, ex), ex, opts,
                                  reterr_reason, &r);
        if (!reduced)
                return r;
        image_destroyp(&px->image);
        px->image = reduced;
        return 0;
}

/* from at w x h: a copy when it is that size already. */
static Image *resize(const Image *from, unsigned long w, unsigned long h, ExceptionInfo *ex) {
        if (w == from->columns && h == from->rows)
                return CloneImage(from, 0, 0, MagickTrue, ex);
        /* Catmull-Rom: measured by bench/quality against Lanczos,
         * Mitchell and area-average thumbnails of the full image,
         * its worst score is the best of the filters (45.7 dB),
         * and it costs a quarter less than Lanczos. */
        return ResizeImage(from, w, h, CatromFilter, 1.0, ex);
}

/* Colour management: the pixels from their embedded ICC profile to sRGB,
 * after the last resize (a thumbnail's pixels cost a fraction of the
 * decode's), with the transform colour.h caches for the profile. */

/* The pixels of image through t, a row at a time; the alpha kept. CMYK
 * (its K in opacity, its alpha in the indexes) becomes RGB. */
static int apply_transform(Image *image, const ColourTransform *t, ExceptionInfo *ex, char **reterr_reason) {
        static const char *const names[] = { [COLOUR_INPUT_GREY] = "grey", [COLOUR_INPUT_RGB] = "RGB",
                                             [COLOUR_INPUT_CMYK] = "CMYK" };
        ColourInput input = colour_transform_input(t);
        bool cmyk = image->colorspace == CMYKColorspace;
        size_t w = image->columns;
        _cleanup_free_ uint16_t *in = NULL, *out = NULL;

        if ((input == COLOUR_INPUT_CMYK) != cmyk)
                return message_set(reterr_reason, -EINVAL, "the profile is %s, the pixels are %s", names[input],
                                   cmyk ? "CMYK" : "RGB");
        in = malloc(w * 4 * sizeof *in);
        out = malloc(w * 3 * sizeof *out);
        if (!in || !out)
                return message_set(reterr_reason, -ENOMEM, "out of memory");
        for (unsigned long y = 0; y < image->rows; y++) {
                PixelPacket *p = GetImagePixelsEx(image, 0, (long) y, image->columns, 1, ex);
                const IndexPacket *alpha = p && cmyk && image->matte ? AccessMutableIndexes(image) : NULL;

                if (!p)
                        return message_set(reterr_reason, -EIO, "%s", ex->reason ? ex->reason : "no pixels");
                for (size_t x = 0; x < w; x++)
                        switch (input) {
                        case COLOUR_INPUT_GREY:
                                in[x] = ScaleQuantumToShort(p[x].red);
                                break;
                        case COLOUR_INPUT_RGB:
                                in[3 * x] = ScaleQuantumToShort(p[x].red);
                                in[3 * x + 1] = ScaleQuantumToShort(p[x].green);
                                in[3 * x + 2] = ScaleQuantumToShort(p[x].blue);
                                break;
                        case COLOUR_INPUT_CMYK:
                                in[4 * x] = ScaleQuantumToShort(p[x].red);
                                in[4 * x + 1] = ScaleQuantumToShort(p[x].green);
                                in[4 * x + 2] = ScaleQuantumToShort(p[x].blue);
                                in[4 * x + 3] = ScaleQuantumToShort(p[x].opacity);
                                break;
                        }
                colour_transform_apply(t, in, out, w);
                for (size_t x = 0; x < w; x++) {
                        p[x].red = ScaleShortToQuantum(out[3 * x]);
                        p[x].green = ScaleShortToQuantum(out[3 * x + 1]);
                        p[x].blue = ScaleShortToQuantum(out[3 * x + 2]);
                        if (cmyk)
                                p[x].opacity = alpha ? alpha[x] : OpaqueOpacity;
                }
                if (!SyncImagePixelsEx(image, ex))
                        return message_set(reterr_reason, -EIO, "%s", ex->reason ? ex->reason : "cannot store pixels");
        }
        if (cmyk)
                image->colorspace = RGBColorspace;
        return 0;
}

/* image to sRGB from its embedded ICC profile, which goes; an image without
 * one is taken as sRGB already. A profile that cannot be used leaves the
 * pixels as they are (CMYK made RGB the plain way), and *warning (unless
 * set already) says why: the thumbnail is still made. */
static void to_srgb(Image *image, ExceptionInfo *ex, char **warning) {
        _cleanup_free_ char *why = NULL;
        ColourTransform *t = NULL;
        const unsigned char *icc;
        size_t len = 0;
        int r;

        icc = GetImageProfile(image, "ICM", &len);
        if (icc && len > 0) {
                r = colour_cache ? colour_cache_get(colour_cache, icc, len, &t, &why) : -ENOTRECOVERABLE;
                if (r >= 0)
                        r = apply_transform(image, t, ex, &why);
                t = colour_transform_unref(t);
                if (r >= 0)
                        (void) DeleteImageProfile(image, "ICM");
                else if (!*warning)
                        message_put(warning, "embedded ICC profile not used, colours left as they are: %s",
                                    why ? why : strerror(-r));
        }
        if (image->colorspace == CMYKColorspace && TransformColorspace(image, RGBColorspace))
                (void) DeleteImageProfile(image, "ICM");
}

/* StripImage(), keeping the ICC profile if keep_profile. */
static void strip(Image *image, bool keep_profile) {
        _cleanup_free_ unsigned char *icc = NULL;
        const unsigned char *p;
        size_t len = 0;

        p = keep_profile ? GetImageProfile(image, "ICM", &len) : NULL;
        if (p && len > 0) {
                icc = malloc(len);
                if (icc)
                        memcpy(icc, p, len);
        }
        (void) StripImage(image);
        if (icc)
                (void) SetImageProfile(image, "ICM", icc, len);
}

/* A resized thumbnail framed to its target t, made fit to be written in out
 * (the source's format is s's), and written. consumed is. */
static int render_target(Image *consumed, const ThumbnailTarget *t, const ImageFormat *out, Source *s,
                         const Pixels *px, const ThumbnailOptions *opts, char **reterr_reason) {
        _cleanup_image_ Image *thumb = NULL;

        /* Before the margins and the flattening: the background is sRGB already. */
        if (opts->colour == THUMBNAIL_COLOUR_SRGB)
                to_srgb(consumed, &s->ex, &s->warning);
        thumb = frame(consumed, t->width, t->height, t->mode, opts->background, &s->ex);
        if (!thumb) {
                exception_reason(&s->ex, reterr_reason);
                return s->ex.severity == ResourceLimitError ? -EFBIG : -EBADMSG;
        }
        /* JPEG has no alpha: flatten on the background rather than let
         * transparent pixels come out as whatever colour they hide. */
        if (!out->alpha && thumb->matte) {
                Image *flat;

                set_background(thumb, opts->background);
                flat = FlattenImages(thumb, &s->ex);
                if (!flat) {
                        exception_reason(&s->ex, reterr_reason);
                        return -EBADMSG;
                }
                image_destroyp(&thumb);
                thumb = flat;
        }
        if (opts->strip)
                strip(thumb, opts->colour == THUMBNAIL_COLOUR_KEEP);
        if (opts->thumb_uri)
                set_thumb_text(thumb, opts, s->format->mime_type, px->width, px->height);
        /* 16 bits a channel is wasted on a thumbnail. */
        if (thumb->depth > 8)
                (void) SetImageDepth(thumb, 8);
        return encode_and_write(thumb, out->coder, opts, t->dirfd, t->name, reterr_reason);
}

/* The last stage: every target, in the source's format or
 * opts->output_format. Largest first: each smaller thumbnail is resized from
 * the last one made, when that is still at least twice its size (as the
 * decode is), instead of from the decode. */
static int render_targets(Source *s, const Pixels *px, const ThumbnailTarget *targets, size_t n_targets,
                          const ThumbnailOptions *opts, char **reterr_reason) {
        const ImageFormat *out = image_format_from_bit(opts->output_format ? opts->output_format
                                                                           : image_format_written_as(s->format));
        unsigned long sizes_w[THUMBNAIL_TARGETS_MAX], sizes_h[THUMBNAIL_TARGETS_MAX];
        size_t order[THUMBNAIL_TARGETS_MAX];
        _cleanup_image_ Image *last = NULL;
        int r;

        plan_targets(px->width, px->height, targets, n_targets, sizes_w, sizes_h, order);
        for (size_t k = 0; k < n_targets; k++) {
                size_t i = order[k];
                unsigned long w = sizes_w[i], h = sizes_h[i];
                const Image *from = last && last->columns >= 2 * w && last->rows >= 2 * h ? last : px->image;
                Image *thumb = resize(from, w, h, &s->ex);

                if (thumb && !timed_out && k + 1 < n_targets) {
                        image_destroyp(&last);
                        last = CloneImage(thumb, 0, 0, MagickTrue, &s->ex);
                }
                thumb = pixel_op_result(thumb, &s->ex, opts, reterr_reason, &r);
                if (!thumb)
                        return r;
                r = render_target(thumb, &targets[i], out, s, px, opts, reterr_reason);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Stage by stage: open and check the source, acquire its pixels, pre-scale
 * them, render and write each target. */
int thumbnail_make(int src, const ThumbnailTarget *targets, size_t n_targets, const ThumbnailOptions *opts,
                   char **reterr_reason) {
        _cleanup_(source_done) Source s = {};
        _cleanup_(pixels_done) Pixels px = {};
        int r;

        *reterr_reason = NULL;
        if (n_targets == 0 || n_targets > THUMBNAIL_TARGETS_MAX)
                return -EINVAL;
        limit_threads();
        r = open_and_check(src, opts, &s, reterr_reason);
        if (r >= 0)
                r = check_limits(s.header.columns, s.header.rows, opts, reterr_reason);
        if (r >= 0)
                r = acquire_pixels(&s, targets, n_targets, opts, &px, reterr_reason);
        if (r >= 0)
                r = prescale(&px, &s.ex, opts, reterr_reason);
        if (r >= 0)
                r = render_targets(&s, &px, targets, n_targets, opts, reterr_reason);
        if (r >= 0)
                *reterr_reason = TAKE_PTR(s.warning);
        return r < 0 ? r : 0;
}
