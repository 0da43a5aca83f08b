/* decode-jpeg.h - a progressive JPEG at 1/8 scale from its DC scans alone,
 * through libjpeg's buffered-image mode: the first scans of a progressive
 * JPEG carry every block's mean (its DC coefficient), which is all a 1/8
 * decode uses, so the AC scans (most of the file and of the time) are never
 * read. A leaf: no GraphicsMagick, no logging, no threads of its own; a
 * DecodeJpeg result is owned by the caller.
 *
 * Memory: when the first scan gives every component's DC (libjpeg's
 * standard script), a few rows of coefficients (1.3 MB a component at
 * 4032 wide); otherwise libjpeg's whole-image arrays, 2 bytes a component a
 * pixel (as GraphicsMagick's decode holds); and the 1/8 image.
 *
 * Threads: any thread, any number at once (libjpeg keeps its state in a
 * decompress object of each call's own).
 *
 * Errors are -errno, with a reason for the log in *reterr_reason (the caller
 * owns it and frees it; NULL on -ENOMEM), which includes libjpeg's words:
 *   -ENOTSUP    not a file this module decodes: baseline or sequential (one
 *               scan: nothing to skip), CMYK or YCCK, not 8 bits a sample,
 *               or a scan order whose DC scans do not come first; the caller
 *               decodes it the ordinary way
 *   -ENODATA    the data ends before the DC scans and the markers after
 *               them are read: a file cut short there (or in its header)
 *   -EBADMSG    not a JPEG, or corrupt: libjpeg's error or any warning of
 *               its (corrupt data, a bad ICC marker set)
 *   -ENOMEM     out of memory
 *
 * It does not check the end of the file: a progressive JPEG cut anywhere
 * past the markers that follow its DC scans decodes here as if whole. The
 * caller decides about truncation (image_format_looks_truncated()) before it
 * calls this. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* The largest last bit of the DC coefficients the decode settles for: 0,
 * the DC scans are complete; 1, the first DC scan (libjpeg's standard
 * script, which GraphicsMagick's -interlace and cjpeg -progressive write,
 * sends the DC without its last bit first and that bit after most of the AC
 * data). The missing bit moves a block's mean by at most half the DC
 * quantizer over 8 (under 1 level in 255 at quality 75, where it is 8). */
#define DECODE_JPEG_DC_LAST_BIT 1

typedef struct DecodeJpeg {
        uint8_t *pixels;                /* owned: width * height * channels bytes, top row first */
        unsigned width, height;         /* the 1/8 image: the stored size / 8, rounded up */
        unsigned channels;              /* 1 grey, or 3 RGB */
        uint8_t *icc;                   /* owned: the ICC profile from the APP2 markers, or NULL */
        size_t icc_size;
        unsigned density_unit;          /* JFIF: 0 none, 1 dots per inch, 2 per cm */
        unsigned x_density, y_density;
        unsigned scans;                 /* the scans read */
} DecodeJpeg;

/* Whether a width x height image decoded for a size hint of hint_w x hint_h
 * (0x0: full size) is decoded at 1/8 scale: the hint fits 8 times into the
 * image on both sides. The rule of GraphicsMagick 1.3.40's JPEG reader,
 * which sets scale_denom to the smaller of the two quotients, and of
 * libjpeg-turbo, which decodes at 1/8 from a denominator of 8. */
bool decode_jpeg_eighth(unsigned long width, unsigned long height, unsigned long hint_w, unsigned long hint_h);

/* Decodes the progressive JPEG f reads (borrowed; from its current position,
 * which is left anywhere) at 1/8 scale from its first scans, up to the one
 * that completes the DC of every component to DECODE_JPEG_DC_LAST_BIT. On
 * success the caller owns *ret and releases it with decode_jpeg_done(); on
 * failure *ret is untouched. */
int decode_jpeg_dc(FILE *f, DecodeJpeg *ret, char **reterr_reason);

/* Frees what a DecodeJpeg owns and zeroes it; NULL-safe, idempotent. */
void decode_jpeg_done(DecodeJpeg *p);
