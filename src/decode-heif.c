/* decode-heif.c - libheif 1.15 behind a small interface: open from a
 * descriptor (pread, so only the boxes and the chosen image are read) or from
 * memory, choose a thumbnail item or the primary image, decode to 8-bit RGB(A).
 *
 * Why a thumbnail item first: on this machine a 12-megapixel iPhone HEIC takes
 * 0.76-1.0 s through GraphicsMagick's full decode, its 320x240 thumbnail item
 * 6-10 ms through libheif. */
#include "build-config.h"

#include <errno.h>
#include <inttypes.h>
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

/* ---- derived images: what libheif 1.15 would follow for ever ----
 *
 * libheif 1.15 decodes a grid by decoding each tile, an 'iden' by decoding
 * its source and an image with alpha by decoding its auxiliary image, each
 * by recursion with no memory of where it came from: a grid that is its own
 * tile, or two that name each other, recurse until the stack runs out (a
 * fuzzed file found it). Before any decode, the references that lead a
 * decode from one item to another ('dimg', and 'auxl' read backwards) are
 * read from the 'iref' box and must form no cycle and no chain deeper than
 * DERIVED_DEPTH_MAX. */

#define META_SIZE_MAX (4u << 20)        /* larger 'meta' boxes (all of them) are refused */
#define DERIVED_DEPTH_MAX 8u            /* items a decode may pass through (a grid and its tiles: 2) */

typedef struct ItemRef {
        uint32_t from, to;              /* decoding 'from' decodes 'to' */
} ItemRef;

typedef struct ItemGraph {
        ItemRef *refs;                  /* sorted by from */
        size_t n_refs;
        uint32_t *ids;                  /* every item named, sorted, unique */
        size_t n_ids;
        uint8_t *state;                 /* per id: 0 not seen, 1 on the current path, 2 done */
        uint8_t *height;                /* per done id: the longest chain it starts */
} ItemGraph;

static uint64_t get_be(const uint8_t *p, unsigned n) {
        uint64_t v = 0;

        for (unsigned i = 0; i < n; i++)
                v = v << 8 | p[i];
        return v;
}

/* Reads len bytes at off, leaving libheif's position as it was. */
static int read_at(DecodeHeif *h, uint64_t off, void *buf, size_t len) {
        int64_t pos = h->pos;
        bool past_end = h->past_end;
        int r = off <= INT64_MAX && reader_seek((int64_t) off, h) == 0 && reader_read(buf, len, h) == 0 ? 0 : -1;

        h->pos = pos;
        h->past_end = past_end;
        return r;
}

/* The box at *pos in buf[0..end): its type and its body [*ret_body, *ret_end);
 * *pos moves past it. false at the end or at a box that does not fit. */
static bool next_box(const uint8_t *buf, size_t end, size_t *pos, char ret_type[static 4], size_t *ret_body,
                     size_t *ret_end) {
        size_t at = *pos, head = 8;
        uint64_t size;

        if (end - at < 8)
                return false;
        size = get_be(buf + at, 4);
        if (size == 1) {
                if (end - at < 16)
                        return false;
                size = get_be(buf + at + 8, 8);
                head = 16;
        } else if (size == 0)
                size = end - at;
        if (size < head || size > end - at)
                return false;
        memcpy(ret_type, buf + at + 4, 4);
        *ret_body = at + head;
        *ret_end = at + (size_t) size;
        *pos = *ret_end;
        return true;
}

/* The next top-level box at *off: its type, and its body's offset and
 * length; *off moves past it. 0 at the end of what can be followed, 1 for a
 * box, -errno when reading failed. */
static int next_top_box(DecodeHeif *h, uint64_t *off, char ret_type[static 4], uint64_t *ret_body,
                        uint64_t *ret_len) {
        uint8_t head[16];
        uint64_t size, head_size = 8;

        if (h->size - *off < 8 || read_at(h, *off, head, 8) < 0)
                return h->read_errno ? -h->read_errno : 0;
        size = get_be(head, 4);
        if (size == 1) {
                if (h->size - *off < 16 || read_at(h, *off + 8, head + 8, 8) < 0)
                        return h->read_errno ? -h->read_errno : 0;
                size = get_be(head + 8, 8);
                head_size = 16;
        } else if (size == 0)
                size = h->size - *off;
        if (size < head_size || size > h->size - *off)
                return 0;
        memcpy(ret_type, head + 4, 4);
        *ret_body = *off + head_size;
        *ret_len = size - head_size;
        *off += size;
        return 1;
}

/* The 'dimg' and 'auxl' references of the 'iref' box body [at, end) into
 * g->refs, read as libheif 1.15 reads them: one after the other, each
 * reference's own box size ignored (a fuzzed size must not hide one). */
static void read_iref(const uint8_t *meta, size_t at, size_t end, ItemGraph *g) {
        unsigned id_size;

        if (end - at < 4)
                return;
        id_size = meta[at] == 0 ? 2 : 4;
        at += 4;
        while (end - at >= 8) {
                size_t head = get_be(meta + at, 4) == 1 ? 16 : 8;
                const uint8_t *type = meta + at + 4;
                bool dimg = memcmp(type, "dimg", 4) == 0, auxl = memcmp(type, "auxl", 4) == 0;
                uint32_t from;
                unsigned count;

                if (end - at < head + id_size + 2)
                        return;
                at += head;
                from = (uint32_t) get_be(meta + at, id_size);
                count = (unsigned) get_be(meta + at + id_size, 2);
                at += id_size + 2;
                for (unsigned i = 0; i < count && end - at >= id_size; i++, at += id_size) {
                        uint32_t to = (uint32_t) get_be(meta + at, id_size);

                        /* An auxiliary image is decoded with the image it belongs to. */
                        if (dimg)
                                g->refs[g->n_refs++] = (ItemRef) { from, to };
                        else if (auxl)
                                g->refs[g->n_refs++] = (ItemRef) { to, from };
                }
        }
}

static int cmp_ref(const void *a, const void *b) {
        const ItemRef *x = a, *y = b;

        return x->from < y->from ? -1 : x->from > y->from;
}

static int cmp_id(const void *a, const void *b) {
        uint32_t x = *(const uint32_t *) a, y = *(const uint32_t *) b;

        return x < y ? -1 : x > y;
}

static size_t id_index(const ItemGraph *g, uint32_t id) {
        const uint32_t *p = bsearch(&id, g->ids, g->n_ids, sizeof *g->ids, cmp_id);

        return (size_t) (p - g->ids);   /* every id of a reference is there */
}

/* Whether the chains from ids[i] stay acyclic and within DERIVED_DEPTH_MAX;
 * level is how many items lead to it. Recursion at most DERIVED_DEPTH_MAX deep. */
static bool chains_ok(ItemGraph *g, size_t i, unsigned level) {
        ItemRef key = { .from = g->ids[i] };
        const ItemRef *r;
        unsigned height = 1;

        if (g->state[i] == 2)
                return level + g->height[i] <= DERIVED_DEPTH_MAX;
        if (g->state[i] == 1 || level >= DERIVED_DEPTH_MAX)
                return false;
        g->state[i] = 1;
        r = bsearch(&key, g->refs, g->n_refs, sizeof *g->refs, cmp_ref);
        while (r && r > g->refs && r[-1].from == key.from)
                r--;
        for (; r && r < g->refs + g->n_refs && r->from == key.from; r++) {
                size_t j = id_index(g, r->to);

                if (!chains_ok(g, j, level + 1))
                        return false;
                if (1u + g->height[j] > height)
                        height = 1u + g->height[j];
        }
        g->state[i] = 2;
        g->height[i] = (uint8_t) height;
        return true;
}

/* The references of every top-level 'meta' box into g (libheif 1.15 reads
 * the last of several; all are read here, so a cycle in any is found). */
static int read_references(DecodeHeif *h, ItemGraph *g, char **reterr_reason) {
        uint64_t off = 0, body_off = 0, len = 0, total = 0;
        unsigned metas = 0;
        char type[4];

        /* A read that fails ends the walk; h->read_errno says so below. */
        for (unsigned n = 0; n < 4096 && next_top_box(h, &off, type, &body_off, &len) > 0; n++) {
                _cleanup_free_ uint8_t *meta = NULL;
                size_t at = 4, body, end;
                ItemRef *refs;

                if (memcmp(type, "meta", 4) != 0)
                        continue;
                metas++;
                total += len;
                if (total > META_SIZE_MAX)
                        return message_set(reterr_reason, -E2BIG, "the 'meta' boxes have %llu bytes, more than %u",
                                           (unsigned long long) total, META_SIZE_MAX);
                if (len < 4)
                        continue;
                meta = malloc((size_t) len);
                /* At most one reference per two bytes of the box. */
                refs = reallocarray(g->refs, g->n_refs + (size_t) len / 2 + 1, sizeof *refs);
                if (refs)
                        g->refs = refs;
                if (!meta || !refs)
                        return message_set(reterr_reason, -ENOMEM, "out of memory for the 'meta' box");
                if (read_at(h, body_off, meta, (size_t) len) < 0)
                        break;
                while (next_box(meta, (size_t) len, &at, type, &body, &end))
                        if (memcmp(type, "iref", 4) == 0)
                                read_iref(meta, body, end, g);
        }
        if (h->read_errno)
                return message_set(reterr_reason, -h->read_errno, "reading the 'meta' box failed: %s",
                                   strerror(h->read_errno));
        if (metas == 0)
                return message_set(reterr_reason, -EBADMSG, "the file's boxes cannot be followed to its 'meta' box");
        return 0;
}

static int check_derivations(DecodeHeif *h, char **reterr_reason) {
        _cleanup_free_ uint32_t *ids = NULL;
        _cleanup_free_ uint8_t *state = NULL;
        ItemGraph g = {};
        size_t n;
        int r;

        r = read_references(h, &g, reterr_reason);
        if (r < 0 || g.n_refs == 0) {
                free(g.refs);
                return r;
        }
        qsort(g.refs, g.n_refs, sizeof *g.refs, cmp_ref);
        g.ids = ids = malloc(2 * g.n_refs * sizeof *ids);
        g.state = state = calloc(2 * g.n_refs, 2);
        if (!ids || !state) {
                free(g.refs);
                return message_set(reterr_reason, -ENOMEM, "out of memory for the image references");
        }
        g.height = state + 2 * g.n_refs;
        for (size_t i = 0; i < g.n_refs; i++) {
                ids[2 * i] = g.refs[i].from;
                ids[2 * i + 1] = g.refs[i].to;
        }
        qsort(ids, 2 * g.n_refs, sizeof *ids, cmp_id);
        n = 0;
        for (size_t i = 0; i < 2 * g.n_refs; i++)
                if (n == 0 || ids[n - 1] != ids[i])
                        ids[n++] = ids[i];
        g.n_ids = n;
        for (size_t i = 0; i < g.n_ids; i++)
                if (!chains_ok(&g, i, 0)) {
                        free(g.refs);
                        return message_set(reterr_reason, -EBADMSG,
                                           "item %" PRIu32 "'s image references form a cycle or a chain deeper "
                                           "than %u: refused before decoding", g.ids[i], DERIVED_DEPTH_MAX);
                }
        free(g.refs);
        return 0;
}

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
        int r;

        h->ftyp = reader_read(head, sizeof head, h) == 0 && memcmp(head + 4, "ftyp", 4) == 0;
        h->pos = 0;
        h->past_end = false;
        if (h->read_errno)
                return message_set(reterr_reason, -h->read_errno, "reading the file failed: %s",
                                   strerror(h->read_errno));
        r = open_primary(h, heif_context_read_from_reader(h->ctx, &fd_reader, h, NULL), reterr_reason);
        if (r < 0)
                return r;
        return check_derivations(h, reterr_reason);
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
