/* decode-raw.h - the embedded preview of a camera RAW, through libraw 0.20
 * (libraw_r, the thread-safe build): its JPEG bytes (or an RGB bitmap), the
 * orientation the RAW's own metadata gives, and the sensor's size. Never the
 * raw decode itself (libraw_unpack() is not called), and never GraphicsMagick's
 * RAW coders (they run dcraw). The only module that includes libraw. No
 * threads of its own, no logging. libraw runs in a process of its own, one
 * per calling thread: the program itself, started again at the thread's
 * first RAW (a constructor in this module takes such a start over before
 * main()) and kept between files: its crash, hang or runaway allocation on a
 * hostile file ends that process, not the caller's. It is killed and reaped
 * when its thread exits; a thread that calls this module must not reap
 * children it did not start (waitpid(-1)).
 *
 * Threads: a DecodeRaw is used by one thread at a time; different DecodeRaw
 * objects may be used on different threads at once (each thread has its own
 * libraw process).
 *
 * Errors are -errno, with a reason for the log in *reterr_reason (the caller
 * owns it and frees it; NULL on -ENOMEM), which includes libraw's words:
 *   -EFBIG      the file is larger than the caller's max_file_size
 *   -EBADMSG    not a RAW libraw knows, or a corrupt one
 *   -ENODATA    the file ends before the data it points to: still arriving,
 *               cut short, or corrupt (libraw 0.20 reports all three alike);
 *               a JPEG preview without its end marker (also when libraw
 *               cannot read the header of a preview cut inside it). (A bitmap preview cut
 *               by less than 16 KiB is not seen: libraw 0.20 reads that far
 *               past the end without an error and does not say where the
 *               preview starts.)
 *   -ENOENT     the RAW carries no preview
 *   -ENOTSUP    a preview in a form this module does not return (16-bit,
 *               planar layers, or a JPEG libjpeg cannot read the header of)
 *   -E2BIG      libraw refused an allocation as too big
 *   -ENOMEM     out of memory (libraw's process may allocate 256 MiB and
 *               twice the file's size beyond what the caller had mapped)
 *   -ETIMEDOUT  libraw ran past timeout_usec: its process was killed
 *   -ECANCELED  the caller's cancel flag became true: likewise
 *   -ENOTRECOVERABLE  libraw crashed on the file (its process died of a
 *               signal, or ended without saying what it found)
 *   -EIO        the file could not be read
 */
#pragma once

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

typedef struct DecodeRaw DecodeRaw;

/* Parses the RAW open on fd (duplicated: the caller may close fd) and
 * unpacks its preview, in the thread's libraw process, given timeout_usec
 * (0: no limit) and stopped (-ECANCELED) once *cancel (NULL: none) becomes
 * true: only its headers and preview are read, through /proc/self/fd, so the file
 * read is the one the caller opened; where /proc is not mounted, the whole
 * file is read into memory (at most max_file_size bytes). max_file_size 0:
 * no limit. An error of the unpacking is decode_raw_preview()'s, which also
 * reads the file again (pread) to check that the whole preview is in it. */
int decode_raw_open_fd(int fd, uint64_t max_file_size, uint64_t timeout_usec, const atomic_bool *cancel,
                       DecodeRaw **ret, char **reterr_reason);

/* As decode_raw_open_fd(), over size bytes at data, borrowed until
 * decode_raw_free(). */
int decode_raw_open_memory(const void *data, size_t size, uint64_t timeout_usec, DecodeRaw **ret,
                           char **reterr_reason);

/* NULL-safe; returns NULL. */
DecodeRaw *decode_raw_free(DecodeRaw *r);

/* What the header says, with no decode. */
typedef struct RawInfo {
        unsigned width, height;         /* the image as the camera frames it (libraw sizes.width/height),
                                         * before orientation */
        unsigned preview_width;         /* of the preview libraw chose, when the header says; else 0 */
        unsigned preview_height;
        int orientation;                /* EXIF 1-8, from libraw's sizes.flip: apply it to the preview */
        char make[64], model[64];       /* NUL-terminated */
} RawInfo;

void decode_raw_info(const DecodeRaw *r, RawInfo *ret);

typedef enum RawPreviewFormat {
        RAW_PREVIEW_JPEG,               /* data is a JPEG file: decode it as JPEG (size hint and all) */
        RAW_PREVIEW_RGB,                /* data is width * height * 3 bytes, packed 8-bit RGB, top row first */
} RawPreviewFormat;

typedef struct RawPreview {
        RawPreviewFormat format;
        uint8_t *data;                  /* owned */
        size_t size;
        unsigned width, height;         /* as libraw reports them; for a JPEG, check its own header too */
        int orientation;                /* EXIF 1-8 from the RAW, not from the preview: the preview's own
                                         * EXIF orientation, if any, is to be ignored */
} RawPreview;

/* The preview libraw 0.20 chose (once: a second call finds none): it keeps
 * one, the largest by its own measure (pixels over bits per sample squared),
 * so a JPEG preview wins over a small bitmap; 0.21 can list them all, 0.20 cannot. The caller decides
 * whether it is large enough (RawInfo.preview_width/height tell before this is
 * called, for most formats). On success the caller owns *ret and releases it
 * with raw_preview_done(); on failure *ret is untouched. */
int decode_raw_preview(DecodeRaw *r, RawPreview *ret, char **reterr_reason);

/* Frees what a RawPreview owns and zeroes it; NULL-safe, idempotent. */
void raw_preview_done(RawPreview *p);

/* libraw's sizes.flip (dcraw's code) as an EXIF orientation 1-8; 1 for
 * anything unknown. */
int decode_raw_flip_to_orientation(int flip);
