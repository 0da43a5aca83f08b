/* decode-heif.h - HEIC, HEIF and AVIF through libheif: the primary image's
 * size from the header, then either the smallest thumbnail item that is large
 * enough or the primary image, as interleaved 8-bit RGB or RGBA, with the
 * primary image's colour description. The only module that includes libheif.
 * No threads of its own, no logging, no GraphicsMagick: the caller turns the
 * pixels into an Image (ConstituteImage "RGB" or "RGBA", CharPixel).
 *
 * Threads: a DecodeHeif is used by one thread at a time; different
 * DecodeHeif objects may be used on different threads at once.
 * decode_heif_init() and decode_heif_done() are called once, by the main
 * thread, around all use (as InitializeMagick()).
 *
 * Errors are -errno, with a reason for the log in *reterr_reason (the caller
 * owns it and frees it; NULL on -ENOMEM), which includes libheif's message:
 *   -EFBIG      the file is larger than the caller's max_file_size
 *   -E2BIG      an image is wider or higher than max_side
 *   -ENODATA    the file ends before its image does (still arriving, or cut)
 *   -EBADMSG    not a HEIF file libheif can read, or a corrupt one
 *   -ENOTSUP    a codec or feature libheif 1.15 cannot decode here
 *   -ENOMEM     out of memory
 *   -EIO        reading the file failed (errno of the read)
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Loads libheif's decoders. Returns 0, or -ENOTSUP with the reason. (libheif
 * 1.15 counts these calls; its last heif_deinit() unloads the decoders.) */
int decode_heif_init(char **reterr_reason);
void decode_heif_done(void);

typedef struct DecodeHeif DecodeHeif;

/* Reads the header of the HEIF file open on fd (not moved: reads are pread()s,
 * only of the boxes and of the image chosen later, not the whole file).
 * fd is borrowed until decode_heif_free(). max_side bounds the width and the
 * height of every image, tile and grid (libheif's own limit, inclusive; 0:
 * libheif's default, 32768), as a second line behind the caller's limits.
 * The file's size is taken now: a file that grows later is read as it was. */
int decode_heif_open_fd(int fd, uint64_t max_file_size, unsigned max_side, DecodeHeif **ret,
                        char **reterr_reason);

/* As decode_heif_open_fd(), over size bytes at data, borrowed until
 * decode_heif_free(). */
int decode_heif_open_memory(const void *data, size_t size, unsigned max_side, DecodeHeif **ret,
                            char **reterr_reason);

/* NULL-safe; returns NULL. */
DecodeHeif *decode_heif_free(DecodeHeif *h);

/* The primary image as displayed (rotation and mirroring applied), from the
 * header, with no decode: check the pixel limits against these. */
void decode_heif_primary_size(const DecodeHeif *h, unsigned *ret_width, unsigned *ret_height);

/* How many thumbnail items the primary image has. */
unsigned decode_heif_n_thumbnails(const DecodeHeif *h);

/* The colour description of the primary image, for colour management. */
typedef struct HeifColor {
        uint8_t *icc;                   /* owned; the ICC profile ('prof' or 'rICC'), or NULL */
        size_t icc_size;
        bool has_nclx;                  /* an 'nclx' box; these four are its fields (ISO/IEC 23091-2) */
        uint16_t primaries;             /* 1 BT.709/sRGB, 9 BT.2020, 12 Display P3 (SMPTE EG 432-1), ... */
        uint16_t transfer;              /* 13 sRGB, 16 PQ, 18 HLG, ... */
        uint16_t matrix;
        bool full_range;
} HeifColor;

typedef struct HeifPixels {
        uint8_t *pixels;                /* width * height * channels bytes, rows packed, top row first */
        unsigned width, height;         /* of these pixels: a thumbnail's, or the primary's */
        unsigned channels;              /* 3: RGB, 4: RGBA */
        bool premultiplied;             /* RGBA whose colour is premultiplied by alpha, as the file says
                                         * (libheif 1.15 returns it so) */
        bool from_thumbnail;            /* a thumbnail item, not the primary image */
        HeifColor color;                /* the primary image's, whichever was decoded */
        void *image_;                   /* private: the libheif image that holds pixels */
} HeifPixels;

/* Decodes, into *ret, the smallest thumbnail item that is at least
 * min_width x min_height and of the primary image's shape (aspect ratios
 * within 1%), or else the primary image. Pixels are oriented already (HEIF's
 * irot/imir, not EXIF, say how: the caller must not rotate again), and
 * converted to 8 bits per sample when the image has more. A thumbnail that
 * fails to decode (a codec not built in, a broken item) falls back to the
 * primary image. The caller checks the limits (decode_heif_primary_size())
 * and reserves memory for what decode_heif_choice() names first. On success
 * the caller owns *ret and releases it with heif_pixels_done(); on failure
 * *ret is untouched. */
int decode_heif_decode(DecodeHeif *h, unsigned min_width, unsigned min_height, HeifPixels *ret,
                       char **reterr_reason);

/* The size of what decode_heif_decode() would decode for these minimums, with
 * no decode: for the memory budget. */
void decode_heif_choice(const DecodeHeif *h, unsigned min_width, unsigned min_height, unsigned *ret_width,
                        unsigned *ret_height, bool *ret_thumbnail);

/* Frees what a HeifPixels owns and zeroes it; NULL-safe, idempotent. */
void heif_pixels_done(HeifPixels *p);
