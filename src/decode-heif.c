/* decode-heif.c - libheif 1.15 behind a small interface: open from a
 * descriptor (pread, so only the boxes and the chosen image are read) or from
 * memory, choose a thumbnail item or the primary image, decode to 8-bit RGB(A).
 *
 * Why a thumbnail item first: on this machine a 12-megapixel iPhone HEIC takes
 * 0.76-1.0 s through GraphicsMagick's full decode, its 320x240 thumbnail item
 * 6-10 ms through libheif. */
#include "build-config.h"

#include <errno.h>
#include <libheif/heif.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "decode-heif.h"
#include "macro.h"
#include "message.h"

struct DecodeHeif {
        struct heif_context *ctx;
        struct heif_image_handle *primary;
        /* What is read: a descriptor (data NULL) or memory (borrowed). */
        int fd;
        const uint8_t *data;
        uint64_t size;                  /* taken at open */
        int64_t pos;
        bool ftyp;                      /* the file starts with an 'ftyp' box */
        bool past_end;                  /* libheif wanted bytes the file does not have */
        int read_errno;                 /* a pread() failed: its errno */
};

int decode_heif_init(char **reterr_reason) {
        struct heif_error e = heif_init(NULL);

        if (e.code != heif_error_Ok)
                return message_set(reterr_reason, -ENOTSUP, "libheif could not load its decoders: %s",
                                   e.message ? e.message : "no reason given");
        return 0;
}

void decode_heif_done(void) {
        heif_deinit();
}

/* ---- the descriptor as a heif_reader ---- */

static int64_t reader_position(void *userdata) {
        return ((DecodeHeif *) userdata)->pos;
}

static int reader_read(void *data, size_t size, void *userdata) {
        DecodeHeif *h = userdata;
        uint8_t *p = data;

        if (h->pos < 0 || (uint64_t) h->pos > h->size || size > h->size - (uint64_t) h->pos) {
                h->past_end = true;
                return 1;
        }
        if (size == 0)                  /* libheif asks for 0 bytes into NULL at times */
                return 0;
        if (h->data) {
                memcpy(p, h->data + h->pos, size);
                h->pos += (int64_t) size;
                return 0;
        }
        while (size > 0) {
                ssize_t n = pread(h->fd, p, size, (off_t) h->pos);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        h->read_errno = errno;
                        return 1;
                }
                if (n == 0) {           /* shorter now than at open */
                        h->past_end = true;
                        return 1;
                }
                p += n;
                size -= (size_t) n;
                h->pos += n;
        }
        return 0;
}

static int reader_seek(int64_t position, void *userdata) {
        DecodeHeif *h = userdata;

        if (position < 0 || (uint64_t) position > h->size) {
                h->past_end = true;
                return 1;
        }
        h->pos = position;
        return 0;
}

static enum heif_reader_grow_status reader_wait(int64_t target, void *userdata) {
        DecodeHeif *h = userdata;

        if (target >= 0 && (uint64_t) target <= h->size)
                return heif_reader_grow_status_size_reached;
        h->past_end = true;
        return heif_reader_grow_status_size_beyond_eof;
}

static const struct heif_reader fd_reader = {
        .reader_api_version = 1,
        .get_position = reader_position,
        .read = reader_read,
        .seek = reader_seek,
        .wait_for_file_size = reader_wait,
};

/* ---- errors ---- */

/* libheif's error as -errno, with what failed and libheif's words as the reason.
 * libheif asks for bytes past the end while probing for boxes, also of good
 * files: a file counts as cut short only when it starts as HEIF should. */
static int heif_errno(const DecodeHeif *h, struct heif_error e, const char *what, char **reterr_reason) {
        const char *msg = e.message ? e.message : "libheif gave no reason";
        int n = (int) strcspn(msg, "\n");        /* libheif's messages can end in a newline */
        int r;

        if (h->read_errno)
                return message_set(reterr_reason, -h->read_errno, "%s: reading the file failed: %s", what,
                                   strerror(h->read_errno));
        if (e.subcode == heif_suberror_Security_limit_exceeded)
                r = -E2BIG;
        else if (e.code == heif_error_Memory_allocation_error)
                r = -ENOMEM;
        else if (e.code == heif_error_Unsupported_feature || e.code == heif_error_Unsupported_filetype ||
                 e.subcode == heif_suberror_Unsupported_codec)
                r = -ENOTSUP;
        else if (h->ftyp && (h->past_end || e.subcode == heif_suberror_End_of_data))
                return message_set(reterr_reason, -ENODATA, "%s: the file ends before its image does (%.*s)", what, n,
                                   msg);
        else
                r = -EBADMSG;
        return message_set(reterr_reason, r, "%s: %.*s", what, n, msg);
}

/* ---- open and free ---- */

DecodeHeif *decode_heif_free(DecodeHeif *h) {
        if (!h)
                return NULL;
        heif_image_handle_release(h->primary);
        heif_context_free(h->ctx);
        free(h);
        return NULL;
}

static int new_context(unsigned max_side, DecodeHeif **ret, char **reterr_reason) {
        DecodeHeif *h = calloc(1, sizeof *h);

        if (!h || !(h->ctx = heif_context_alloc())) {
                free(h);
                return message_set(reterr_reason, -ENOMEM, "out of memory for a libheif context");
        }
        h->fd = -1;
        /* libheif 1.15 refuses a width above the limit when it parses, but a
         * grid at the limit when it decodes (>=): one more makes both inclusive. */
        if (max_side > 0)
                heif_context_set_maximum_image_size_limit(h->ctx, (int) (max_side < 1u << 30 ? max_side + 1 : 1u << 30));
        /* One thread per worker (design: N workers use N cores): grid tiles are
         * decoded on the calling thread. */
        heif_context_set_max_decoding_threads(h->ctx, 0);
        *ret = h;
        return 0;
}

static int open_primary(DecodeHeif *h, struct heif_error e, char **reterr_reason) {
        if (e.code != heif_error_Ok)
                return heif_errno(h, e, "reading the HEIF header", reterr_reason);
        e = heif_context_get_primary_image_handle(h->ctx, &h->primary);
        if (e.code != heif_error_Ok)
                return heif_errno(h, e, "finding the primary image", reterr_reason);
        if (heif_image_handle_get_width(h->primary) <= 0 || heif_image_handle_get_height(h->primary) <= 0)
                return message_set(reterr_reason, -EBADMSG, "the primary image has no size");
        return 0;
}

/* Reads the header through fd_reader, from h->fd or h->data. */
static int read_header(DecodeHeif *h, char **reterr_reason) {
        uint8_t head[8];

        h->ftyp = reader_read(head, sizeof head, h) == 0 && memcmp(head + 4, "ftyp", 4) == 0;
        h->pos = 0;
        h->past_end = false;
        if (h->read_errno)
                return message_set(reterr_reason, -h->read_errno, "reading the file failed: %s",
                                   strerror(h->read_errno));
        return open_primary(h, heif_context_read_from_reader(h->ctx, &fd_reader, h, NULL), reterr_reason);
}

int decode_heif_open_fd(int fd, uint64_t max_file_size, unsigned max_side, DecodeHeif **ret,
                        char **reterr_reason) {
        DecodeHeif *h = NULL;
        struct stat st;
        int r;

        if (fstat(fd, &st) < 0)
                return message_set(reterr_reason, -errno, "cannot stat the file: %m");
        if (!S_ISREG(st.st_mode))
                return message_set(reterr_reason, -EBADMSG, "not a regular file");
        if (max_file_size > 0 && (uint64_t) st.st_size > max_file_size)
                return message_set(reterr_reason, -EFBIG, "the file has %llu bytes, more than max_file_size (%llu)",
                                   (unsigned long long) st.st_size, (unsigned long long) max_file_size);
        r = new_context(max_side, &h, reterr_reason);
        if (r < 0)
                return r;
        h->fd = fd;
        h->size = (uint64_t) st.st_size;
        r = read_header(h, reterr_reason);
        if (r < 0) {
                decode_heif_free(h);
                return r;
        }
        *ret = h;
        return 0;
}

int decode_heif_open_memory(const void *data, size_t size, unsigned max_side, DecodeHeif **ret,
                            char **reterr_reason) {
        static const uint8_t empty[1];
        DecodeHeif *h = NULL;
        int r;

        r = new_context(max_side, &h, reterr_reason);
        if (r < 0)
                return r;
        h->data = data ? data : empty;
        h->size = data ? size : 0;
        r = read_header(h, reterr_reason);
        if (r < 0) {
                decode_heif_free(h);
                return r;
        }
        *ret = h;
        return 0;
}

void decode_heif_primary_size(const DecodeHeif *h, unsigned *ret_width, unsigned *ret_height) {
        *ret_width = (unsigned) heif_image_handle_get_width(h->primary);
        *ret_height = (unsigned) heif_image_handle_get_height(h->primary);
}

unsigned decode_heif_n_thumbnails(const DecodeHeif *h) {
        int n = heif_image_handle_get_number_of_thumbnails(h->primary);

        return n > 0 ? (unsigned) n : 0;
}

/* ---- choosing ---- */

/* Is w x h the shape of the primary, pw x ph, within 1%? (Cross-multiplied: no division.) */
static bool same_shape(uint64_t w, uint64_t h, uint64_t pw, uint64_t ph) {
        uint64_t a = w * ph, b = h * pw;

        return (a > b ? a - b : b - a) * 100 <= (a > b ? a : b);
}

/* The smallest thumbnail item at least min_width x min_height and of the
 * primary's shape, or NULL: the caller releases it. At most 16 are looked at;
 * files have 0 or 1. */
static struct heif_image_handle *choose_thumbnail(const DecodeHeif *h, unsigned min_width, unsigned min_height) {
        heif_item_id ids[16];
        struct heif_image_handle *best = NULL;
        uint64_t best_area = UINT64_MAX;
        unsigned pw, ph;
        int n;

        decode_heif_primary_size(h, &pw, &ph);
        n = heif_image_handle_get_list_of_thumbnail_IDs(h->primary, ids, (int) ELEMENTSOF(ids));
        for (int i = 0; i < n; i++) {
                struct heif_image_handle *t = NULL;
                int tw, th;

                if (heif_image_handle_get_thumbnail(h->primary, ids[i], &t).code != heif_error_Ok)
                        continue;
                tw = heif_image_handle_get_width(t);
                th = heif_image_handle_get_height(t);
                if (tw > 0 && th > 0 && (unsigned) tw >= min_width && (unsigned) th >= min_height &&
                    (unsigned) tw < pw && same_shape((uint64_t) tw, (uint64_t) th, pw, ph) &&
                    (uint64_t) tw * (uint64_t) th < best_area) {
                        heif_image_handle_release(best);
                        best = t;
                        best_area = (uint64_t) tw * (uint64_t) th;
                } else
                        heif_image_handle_release(t);
        }
        return best;
}

void decode_heif_choice(const DecodeHeif *h, unsigned min_width, unsigned min_height, unsigned *ret_width,
                        unsigned *ret_height, bool *ret_thumbnail) {
        struct heif_image_handle *t = choose_thumbnail(h, min_width, min_height);

        *ret_thumbnail = t != NULL;
        if (t) {
                *ret_width = (unsigned) heif_image_handle_get_width(t);
                *ret_height = (unsigned) heif_image_handle_get_height(t);
                heif_image_handle_release(t);
        } else
                decode_heif_primary_size(h, ret_width, ret_height);
}

/* ---- decoding ---- */

void heif_pixels_done(HeifPixels *p) {
        if (!p)
                return;
        heif_image_release(p->image_);
        free(p->color.icc);
        *p = (HeifPixels) {};
}

/* The primary image's ICC profile and nclx box, whichever it has (both, at times). */
static int read_color(const DecodeHeif *h, HeifColor *ret, char **reterr_reason) {
        size_t n = heif_image_handle_get_raw_color_profile_size(h->primary);
        struct heif_color_profile_nclx *nclx = NULL;
        struct heif_error e;

        *ret = (HeifColor) {};
        if (n > 0) {
                if (!(ret->icc = malloc(n)))
                        return message_set(reterr_reason, -ENOMEM, "out of memory for a %zu-byte ICC profile", n);
                e = heif_image_handle_get_raw_color_profile(h->primary, ret->icc);
                if (e.code != heif_error_Ok) {
                        free(ret->icc);
                        ret->icc = NULL;
                        return heif_errno(h, e, "reading the ICC profile", reterr_reason);
                }
                ret->icc_size = n;
        }
        e = heif_image_handle_get_nclx_color_profile(h->primary, &nclx);
        if (e.code == heif_error_Ok && nclx) {
                ret->has_nclx = true;
                ret->primaries = (uint16_t) nclx->color_primaries;
                ret->transfer = (uint16_t) nclx->transfer_characteristics;
                ret->matrix = (uint16_t) nclx->matrix_coefficients;
                ret->full_range = nclx->full_range_flag != 0;
        }
        heif_nclx_color_profile_free(nclx);
        return 0;
}

/* Decodes one image to interleaved 8-bit RGB or RGBA, rows packed in place. */
static int decode_handle(const DecodeHeif *h, struct heif_image_handle *handle, HeifPixels *ret,
                         char **reterr_reason) {
        bool alpha = heif_image_handle_has_alpha_channel(handle);
        struct heif_decoding_options *opts = heif_decoding_options_alloc();
        struct heif_image *img = NULL;
        struct heif_error e;
        unsigned channels = alpha ? 4 : 3;
        size_t row;
        uint8_t *plane;
        int w, ht, stride;

        if (!opts)
                return message_set(reterr_reason, -ENOMEM, "out of memory for libheif's decoding options");
        opts->convert_hdr_to_8bit = 1;
        e = heif_decode_image(handle, &img, heif_colorspace_RGB,
                              alpha ? heif_chroma_interleaved_RGBA : heif_chroma_interleaved_RGB, opts);
        heif_decoding_options_free(opts);
        if (e.code != heif_error_Ok)
                return heif_errno(h, e, "decoding the image", reterr_reason);
        w = heif_image_get_width(img, heif_channel_interleaved);
        ht = heif_image_get_height(img, heif_channel_interleaved);
        plane = heif_image_get_plane(img, heif_channel_interleaved, &stride);
        row = (size_t) w * channels;
        if (!plane || w <= 0 || ht <= 0 || stride < 0 || (size_t) stride < row ||
            heif_image_get_bits_per_pixel_range(img, heif_channel_interleaved) != 8) {
                heif_image_release(img);
                return message_set(reterr_reason, -EBADMSG, "libheif returned no 8-bit interleaved plane");
        }
        /* Rows packed for ConstituteImage(), in place: row y moves down to y * row <= y * stride. */
        if ((size_t) stride != row)
                for (int y = 1; y < ht; y++)
                        memmove(plane + (size_t) y * row, plane + (size_t) y * (size_t) stride, row);
        *ret = (HeifPixels) { .pixels = plane, .width = (unsigned) w, .height = (unsigned) ht,
                              .channels = channels, .image_ = img,
                              .premultiplied = alpha && heif_image_handle_is_premultiplied_alpha(handle) };
        return 0;
}

int decode_heif_decode(DecodeHeif *h, unsigned min_width, unsigned min_height, HeifPixels *ret,
                       char **reterr_reason) {
        struct heif_image_handle *thumb = choose_thumbnail(h, min_width, min_height);
        HeifPixels p = {};
        int r = -ENOENT;

        if (thumb) {
                char *ignored = NULL;

                /* A thumbnail that cannot be decoded is no reason to fail: the primary may be fine. */
                r = decode_handle(h, thumb, &p, &ignored);
                free(ignored);
                heif_image_handle_release(thumb);
                p.from_thumbnail = r == 0;
                h->past_end = false;
        }
        if (r < 0) {
                r = decode_handle(h, h->primary, &p, reterr_reason);
                if (r < 0)
                        return r;
        }
        r = read_color(h, &p.color, reterr_reason);
        if (r < 0) {
                heif_pixels_done(&p);
                return r;
        }
        *ret = p;
        return 0;
}
