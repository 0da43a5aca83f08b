/* decode-jpeg.c - a progressive JPEG's DC scans at 1/8 scale, through
 * libjpeg-turbo's buffered-image mode (libjpeg.txt, "Buffered-image mode").
 *
 * Why: GraphicsMagick reads a progressive JPEG whole before it outputs a
 * pixel, holding every coefficient: a 4032x3024 photo took 0.26 s and 82 MB
 * for a 128x128 thumbnail, 4 times a baseline JPEG's 0.07 s (issue 16). A 1/8
 * decode uses the DC coefficient of each block and nothing else (libjpeg's
 * 1x1 IDCT), and a progressive JPEG sends the DC of every block first: the
 * scans after it are read by no one.
 *
 * libjpeg reports errors through error_exit, which must not return: it
 * longjmp()s back here, and its warnings (corrupt data, a premature end) are
 * errors too. Everything the decode allocates lives in a heap context, not
 * in locals, so that nothing is lost across the longjmp(). */
#include "build-config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jerror.h>
#include <jpeglib.h>

#include "decode-jpeg.h"
#include "macro.h"
#include "message.h"

typedef struct Context {
        struct jpeg_decompress_struct cinfo;
        struct jpeg_error_mgr mgr;
        jmp_buf jump;
        bool created;
        int warning;                    /* the first warning's code, 0 if none */
        char warning_text[JMSG_LENGTH_MAX];
        DecodeJpeg out;                 /* what is decoded so far; owned */
} Context;

/* Streaming (below), the coefficients of the image as a ring of a few rows
 * of blocks, in place of libjpeg's whole-image arrays: its coefficient
 * controller asks for one iMCU row at a time, the input one row ahead of the
 * output at most, and with block smoothing off nothing reads a row again
 * once the output has passed it. libjpeg's memory manager methods are
 * per-object function pointers, and jvirt_barray_ptr is opaque to all but
 * the manager: this is a manager of virtual block arrays of our own. 4032 x
 * 3024 at 4:4:4 holds 1.3 MB of coefficients a component this way, not 24. */
#define RING_SLOTS 4

struct jvirt_barray_control {
        JDIMENSION blocks_per_row;
        JDIMENSION rows_per_slot;       /* the most rows one access asks for */
        JBLOCKARRAY slot[RING_SLOTS];   /* rows_per_slot rows each, from libjpeg's image pool */
        JDIMENSION start[RING_SLOTS];   /* the first row each slot holds */
        bool used[RING_SLOTS];
};

static jvirt_barray_ptr ring_request(j_common_ptr cinfo, int pool_id, boolean pre_zero, JDIMENSION blocksperrow,
                                     JDIMENSION numrows, JDIMENSION maxaccess) {
        jvirt_barray_ptr a = cinfo->mem->alloc_small(cinfo, pool_id, sizeof *a);

        (void) pre_zero;        /* each slot is zeroed when it takes a row */
        (void) numrows;
        *a = (struct jvirt_barray_control) { .blocks_per_row = blocksperrow, .rows_per_slot = maxaccess };
        for (size_t i = 0; i < RING_SLOTS; i++)
                a->slot[i] = cinfo->mem->alloc_barray(cinfo, pool_id, blocksperrow, maxaccess);
        return a;
}

/* The rows from start_row: the slot holding them, or, for rows past every
 * row held (the input's next), the oldest slot, zeroed. Rows gone from the
 * ring are an error: not the access pattern this was written for. */
static JBLOCKARRAY ring_access(j_common_ptr cinfo, jvirt_barray_ptr a, JDIMENSION start_row, JDIMENSION num_rows,
                               boolean writable) {
        size_t oldest = 0;
        bool newest = true;

        (void) writable;
        if (num_rows > a->rows_per_slot)
                ERREXIT(cinfo, JERR_BAD_VIRTUAL_ACCESS);
        for (size_t i = 0; i < RING_SLOTS; i++)
                if (a->used[i]) {
                        if (a->start[i] == start_row)
                                return a->slot[i];
                        if (a->start[i] > start_row)
                                newest = false;
                }
        if (!newest)
                ERREXIT(cinfo, JERR_BAD_VIRTUAL_ACCESS);
        for (size_t i = 0; i < RING_SLOTS; i++) {
                if (!a->used[i]) {
                        oldest = i;
                        break;
                }
                if (a->start[i] < a->start[oldest])
                        oldest = i;
        }
        for (JDIMENSION r = 0; r < a->rows_per_slot; r++)
                memset(a->slot[oldest][r], 0, (size_t) a->blocks_per_row * sizeof(JBLOCK));
        a->start[oldest] = start_row;
        a->used[oldest] = true;
        return a->slot[oldest];
}

static void context_fail(j_common_ptr cinfo) {
        longjmp(((Context *) cinfo->client_data)->jump, 1);
}

/* libjpeg's warnings (level -1) are kept, the first one's text too; its
 * trace messages (level >= 0) are dropped. */
static void context_message(j_common_ptr cinfo, int level) {
        Context *c = cinfo->client_data;

        if (level >= 0 || c->warning != 0)
                return;
        c->warning = cinfo->err->msg_code;
        cinfo->err->format_message(cinfo, c->warning_text);
}

void decode_jpeg_done(DecodeJpeg *p) {
        if (!p)
                return;
        free(p->pixels);
        free(p->icc);
        *p = (DecodeJpeg) {};
}

static Context *context_free(Context *c) {
        if (!c)
                return NULL;
        if (c->created)
                jpeg_destroy_decompress(&c->cinfo);
        decode_jpeg_done(&c->out);
        free(c);
        return NULL;
}

bool decode_jpeg_eighth(unsigned long width, unsigned long height, unsigned long hint_w, unsigned long hint_h) {
        return hint_w > 0 && hint_h > 0 && width / 8 >= hint_w && height / 8 >= hint_h;
}

/* Whether the scans read so far give every component's DC to
 * DECODE_JPEG_DC_LAST_BIT. coef_bits[c][0] is the last bit of the DC sent
 * so far, -1 for none; libjpeg sets it when a scan starts, so it is read
 * only once a scan has been read to its end. */
static bool dc_ready(const struct jpeg_decompress_struct *cinfo) {
        for (int c = 0; c < cinfo->num_components; c++)
                if (cinfo->coef_bits[c][0] < 0 || cinfo->coef_bits[c][0] > DECODE_JPEG_DC_LAST_BIT)
                        return false;
        return true;
}

/* The error a libjpeg warning means: the end of the data, or corruption. */
static int warning_error(const Context *c, char **reterr_reason) {
        if (c->warning == JWRN_JPEG_EOF)
                return message_set(reterr_reason, -ENODATA, "the data ends in the DC scans: %s", c->warning_text);
        return message_set(reterr_reason, -EBADMSG, "%s", c->warning_text);
}

/* The decode proper; libjpeg's errors longjmp() out of it to the caller. */
static int decode(Context *c, char **reterr_reason) {
        struct jpeg_decompress_struct *cinfo = &c->cinfo;
        unsigned icc_size;
        bool streaming;
        size_t stride;
        int rc = 0;

        jpeg_save_markers(cinfo, JPEG_APP0 + 2, 0xffff);
        if (jpeg_read_header(cinfo, TRUE) != JPEG_HEADER_OK)
                return message_set(reterr_reason, -EBADMSG, "no image in the JPEG stream");
        if (!jpeg_has_multiple_scans(cinfo) || !cinfo->progressive_mode)
                return message_set(reterr_reason, -ENOTSUP, "not a progressive JPEG");
        if (cinfo->data_precision != 8)
                return message_set(reterr_reason, -ENOTSUP, "%d bits a sample", cinfo->data_precision);
        switch (cinfo->jpeg_color_space) {
        case JCS_GRAYSCALE:
                cinfo->out_color_space = JCS_GRAYSCALE;
                break;
        case JCS_YCbCr:
        case JCS_RGB:
                cinfo->out_color_space = JCS_RGB;
                break;
        default:
                return message_set(reterr_reason, -ENOTSUP, "a %s JPEG",
                                   cinfo->jpeg_color_space == JCS_CMYK   ? "CMYK"
                                   : cinfo->jpeg_color_space == JCS_YCCK ? "YCCK"
                                                                         : "colour space unknown");
        }
        /* A profile in broken APP2 markers is a warning: corrupt, as below. */
        if (!jpeg_read_icc_profile(cinfo, &c->out.icc, &icc_size))
                c->out.icc = NULL;
        else
                c->out.icc_size = icc_size;
        c->out.density_unit = cinfo->density_unit;
        c->out.x_density = cinfo->X_density;
        c->out.y_density = cinfo->Y_density;
        cinfo->scale_num = 1;
        cinfo->scale_denom = 8;
        cinfo->buffered_image = TRUE;
        /* Block smoothing guesses AC coefficients from the neighbours' DC:
         * wasted on a 1x1 IDCT, which reads the DC only. */
        cinfo->do_block_smoothing = FALSE;
        cinfo->dct_method = JDCT_ISLOW;
        /* The scan jpeg_read_header() stopped at, the first: does it give
         * every component's DC? Then stream it (below), through the ring. */
        streaming = cinfo->comps_in_scan == cinfo->num_components && cinfo->Ss == 0 && cinfo->Ah == 0 &&
                    cinfo->Al <= DECODE_JPEG_DC_LAST_BIT;
        if (streaming) {
                cinfo->mem->request_virt_barray = ring_request;
                cinfo->mem->access_virt_barray = ring_access;
        }
        if (!jpeg_start_decompress(cinfo))
                return message_set(reterr_reason, -EBADMSG, "the JPEG decoder did not start");
        /* libjpeg has started the first scan's input: when that scan gives
         * every DC (libjpeg's standard script does), its rows are output as
         * they are read, while they are in the cache, through the ring of
         * rows above: 4032x3024 at 4:4:4 would hold 73 MB of coefficients,
         * and a second pass would read them back from memory. Otherwise the scans are read up to the one that
         * completes the DC, and output after. */
        if (streaming != dc_ready(cinfo))
                return message_set(reterr_reason, -ENOTSUP, "the first scan is not what its header said");
        if (!streaming) {
                for (;;) {
                        rc = jpeg_consume_input(cinfo);
                        if (c->warning != 0 || rc == JPEG_SUSPENDED || rc == JPEG_REACHED_EOI)
                                break;
                        if (rc == JPEG_SCAN_COMPLETED) {
                                c->out.scans++;
                                if (dc_ready(cinfo))
                                        break;
                        }
                }
                /* The markers up to the next scan as well: garbage left at the
                 * end of the scan (data that decoded as codes it is not) is
                 * seen only there, as is a file that ends with the scan. */
                if (rc == JPEG_SCAN_COMPLETED && c->warning == 0) {
                        int next = jpeg_consume_input(cinfo);

                        if (next != JPEG_REACHED_SOS && next != JPEG_REACHED_EOI && c->warning == 0)
                                return message_set(reterr_reason, -EBADMSG, "no marker after scan %u",
                                                   c->out.scans);
                }
                if (c->warning != 0)
                        return warning_error(c, reterr_reason);
                if (rc != JPEG_SCAN_COMPLETED)
                        return message_set(reterr_reason, -ENOTSUP, "the DC is not complete after %u scans",
                                           c->out.scans);
        } else
                c->out.scans = 1;
        /* The scans read (streaming: the first, read as it is output). */
        if (!jpeg_start_output(cinfo, (int) c->out.scans))
                return message_set(reterr_reason, -EBADMSG, "the JPEG decoder did not output");
        c->out.width = cinfo->output_width;
        c->out.height = cinfo->output_height;
        c->out.channels = (unsigned) cinfo->output_components;
        stride = (size_t) c->out.width * c->out.channels;
        c->out.pixels = malloc(stride * c->out.height);
        if (!c->out.pixels)
                return message_set(reterr_reason, -ENOMEM, "out of memory");
        while (cinfo->output_scanline < cinfo->output_height && c->warning == 0) {
                JSAMPROW row = c->out.pixels + (size_t) cinfo->output_scanline * stride;

                if (jpeg_read_scanlines(cinfo, &row, 1) != 1)
                        return message_set(reterr_reason, -EBADMSG, "no pixels at row %u",
                                           cinfo->output_scanline);
        }
        /* Streaming: the rest of the scan, and the markers up to the next
         * one, as above. */
        if (streaming && c->warning == 0 && !jpeg_finish_output(cinfo))
                return message_set(reterr_reason, -EBADMSG, "the first scan did not end");
        if (c->warning != 0)
                return warning_error(c, reterr_reason);
        return 0;
}

int decode_jpeg_dc(FILE *f, DecodeJpeg *ret, char **reterr_reason) {
        Context *c = calloc(1, sizeof *c);
        int r;

        if (!c)
                return message_set(reterr_reason, -ENOMEM, "out of memory");
        c->cinfo.err = jpeg_std_error(&c->mgr);
        c->mgr.error_exit = context_fail;
        c->mgr.emit_message = context_message;
        c->cinfo.client_data = c;
        if (setjmp(c->jump)) {
                char msg[JMSG_LENGTH_MAX];
                /* libjpeg's stdio source warns at the end of the data, then feeds
                 * an end marker, which an unfinished header fails on. */
                bool ended = c->warning == JWRN_JPEG_EOF;

                c->mgr.format_message((j_common_ptr) &c->cinfo, msg);
                message_put(reterr_reason, "%s%s", ended ? "the data ends in the header: " : "", msg);
                (void) context_free(c);
                return ended ? -ENODATA : -EBADMSG;
        }
        jpeg_create_decompress(&c->cinfo);
        c->created = true;
        jpeg_stdio_src(&c->cinfo, f);
        r = decode(c, reterr_reason);
        if (r >= 0) {
                *ret = c->out;
                c->out = (DecodeJpeg) {};
        }
        (void) context_free(c);
        return r;
}
