/* decode-raw.c - libraw 0.20 behind a small interface: open, read the header,
 * unpack the embedded preview. libraw_unpack() (the raw decode, seconds and
 * hundreds of megabytes) is never called: libraw_unpack_thumb() takes 0.7 ms
 * on this machine.
 *
 * Why /proc/self/fd: libraw's C API opens a path or a buffer, not a
 * descriptor. The magic link reopens the very file the caller opened and
 * checked (no second path lookup in the drop, no symlink to follow), and
 * libraw then reads only the headers and the preview, not a 30 MB RAW. */
#include "build-config.h"

#include <errno.h>
#include <fcntl.h>
#include <libraw.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "decode-raw.h"
#include "macro.h"
#include "message.h"

struct DecodeRaw {
        libraw_data_t *lr;
        uint8_t *buffer;                /* owned: the file read into memory, when /proc was not there */
        /* What libraw reads: a duplicate of the caller's descriptor (owned),
         * or memory (data, borrowed). */
        int fd;
        const uint8_t *data;
        uint64_t size;                  /* taken at open */
};

/* libraw's error code as -errno, with what failed and libraw's words. */
static int raw_errno(int code, const char *what, char **reterr_reason) {
        int r;

        switch (code) {
        case LIBRAW_FILE_UNSUPPORTED:
                return message_set(reterr_reason, -EBADMSG, "%s: not a camera RAW libraw can read", what);
        case LIBRAW_NO_THUMBNAIL:
                return message_set(reterr_reason, -ENOENT, "%s: the RAW has no embedded preview", what);
        case LIBRAW_UNSUPPORTED_THUMBNAIL:
                r = -ENOTSUP;
                break;
        case LIBRAW_UNSUFFICIENT_MEMORY:
                r = -ENOMEM;
                break;
        case LIBRAW_TOO_BIG:
                r = -E2BIG;
                break;
        case LIBRAW_IO_ERROR:
                return message_set(reterr_reason, -ENODATA,
                                   "%s: the file ends before the data it points to, or is corrupt (%s)", what,
                                   libraw_strerror(code));
        default:
                r = -EBADMSG;
                break;
        }
        return message_set(reterr_reason, r, "%s: %s", what, libraw_strerror(code));
}

int decode_raw_flip_to_orientation(int flip) {
        /* The inverse of dcraw's "50132467"[orientation & 7]. */
        static const int orientation[8] = { 1, 2, 4, 3, 5, 8, 6, 7 };

        return flip >= 0 && flip < 8 ? orientation[flip] : 1;
}

DecodeRaw *decode_raw_free(DecodeRaw *r) {
        if (!r)
                return NULL;
        if (r->lr)
                libraw_close(r->lr);
        free(r->buffer);
        if (r->fd >= 0)
                (void) close(r->fd);
        free(r);
        return NULL;
}

static int new_raw(DecodeRaw **ret, char **reterr_reason) {
        DecodeRaw *r = calloc(1, sizeof *r);

        if (!r || !(r->lr = libraw_init(0))) {
                free(r);
                return message_set(reterr_reason, -ENOMEM, "out of memory for libraw");
        }
        r->fd = -1;
        *ret = r;
        return 0;
}

/* After libraw_open_*(): its code as -errno, and a header that makes sense. */
static int opened(DecodeRaw *r, int code, char **reterr_reason) {
        if (code != LIBRAW_SUCCESS)
                return raw_errno(code, "reading the RAW header", reterr_reason);
        if (r->lr->sizes.width == 0 || r->lr->sizes.height == 0)
                return message_set(reterr_reason, -EBADMSG, "reading the RAW header: the image has no size");
        return 0;
}

/* The whole file into r->buffer, for libraw_open_buffer(). */
static int read_all(DecodeRaw *r, int fd, uint64_t size, char **reterr_reason) {
        size_t done = 0;

        if (size == 0 || size > SIZE_MAX)
                return message_set(reterr_reason, size ? -EFBIG : -EBADMSG, "a file of %llu bytes",
                                   (unsigned long long) size);
        if (!(r->buffer = malloc((size_t) size)))
                return message_set(reterr_reason, -ENOMEM, "out of memory for %llu bytes of RAW",
                                   (unsigned long long) size);
        while (done < size) {
                ssize_t n = pread(fd, r->buffer + done, (size_t) size - done, (off_t) done);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return message_set(reterr_reason, -errno, "reading the RAW failed: %m");
                if (n == 0)
                        return message_set(reterr_reason, -ENODATA, "the file became shorter while it was read");
                done += (size_t) n;
        }
        return opened(r, libraw_open_buffer(r->lr, r->buffer, done), reterr_reason);
}

int decode_raw_open_fd(int fd, uint64_t max_file_size, DecodeRaw **ret, char **reterr_reason) {
        DecodeRaw *r = NULL;
        char proc[64];
        struct stat st, pst;
        int k;

        if (fstat(fd, &st) < 0)
                return message_set(reterr_reason, -errno, "cannot stat the file: %m");
        if (!S_ISREG(st.st_mode))
                return message_set(reterr_reason, -EBADMSG, "not a regular file");
        if (st.st_size == 0)
                return message_set(reterr_reason, -EBADMSG, "an empty file is not a RAW");
        if (max_file_size > 0 && (uint64_t) st.st_size > max_file_size)
                return message_set(reterr_reason, -EFBIG, "the file has %llu bytes, more than max_file_size (%llu)",
                                   (unsigned long long) st.st_size, (unsigned long long) max_file_size);
        k = new_raw(&r, reterr_reason);
        if (k < 0)
                return k;
        r->fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        if (r->fd < 0) {
                k = -errno;
                decode_raw_free(r);
                return message_set(reterr_reason, k, "cannot duplicate the descriptor: %s", strerror(-k));
        }
        r->size = (uint64_t) st.st_size;
        (void) snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
        /* The same inode through the link, or /proc is not what it should be. */
        if (stat(proc, &pst) == 0 && pst.st_dev == st.st_dev && pst.st_ino == st.st_ino)
                k = opened(r, libraw_open_file(r->lr, proc), reterr_reason);
        else
                k = read_all(r, fd, (uint64_t) st.st_size, reterr_reason);
        if (k < 0) {
                decode_raw_free(r);
                return k;
        }
        *ret = r;
        return 0;
}

int decode_raw_open_memory(const void *data, size_t size, DecodeRaw **ret, char **reterr_reason) {
        DecodeRaw *r = NULL;
        int k;

        if (!data || size == 0)
                return message_set(reterr_reason, -EBADMSG, "an empty file is not a RAW");
        k = new_raw(&r, reterr_reason);
        if (k < 0)
                return k;
        r->data = data;
        r->size = size;
        /* libraw_open_buffer() takes a non-const pointer; it only reads through it. */
        k = opened(r, libraw_open_buffer(r->lr, (void *) (uintptr_t) data, size), reterr_reason);
        if (k < 0) {
                decode_raw_free(r);
                return k;
        }
        *ret = r;
        return 0;
}

void decode_raw_info(const DecodeRaw *r, RawInfo *ret) {
        const libraw_data_t *lr = r->lr;

        *ret = (RawInfo) {
                .width = lr->sizes.width,
                .height = lr->sizes.height,
                .preview_width = lr->thumbnail.twidth,
                .preview_height = lr->thumbnail.theight,
                .orientation = decode_raw_flip_to_orientation(lr->sizes.flip),
        };
        (void) snprintf(ret->make, sizeof ret->make, "%.*s", (int) sizeof lr->idata.make, lr->idata.make);
        (void) snprintf(ret->model, sizeof ret->model, "%.*s", (int) sizeof lr->idata.model, lr->idata.model);
}

/* Does the JPEG end with its EOI marker, after at most 64 KiB of the padding
 * (0x00 or 0xFF) cameras leave behind it? libraw 0.20 reads a preview that
 * runs up to 16 KiB past the end of the file without an error, leaving its tail
 * unread: this is how a file cut inside its preview shows. */
static bool jpeg_complete(const uint8_t *p, size_t n) {
        size_t end = n, floor = n > 65536 ? n - 65536 : 0;

        while (end > floor && (p[end - 1] == 0x00 || p[end - 1] == 0xff))
                end--;
        return end >= 4 && p[end - 2] == 0xff && p[end - 1] == 0xd9;
}

/* How many of the preview's first bytes are looked for in the file. */
#define PREVIEW_PROBE 1024u

/* Is the whole preview in the file? libraw 0.20 ignores a short read of it:
 * the bytes past the end of a file cut inside its preview are whatever its
 * buffer held (not zeros: an EOI can be there). So the preview's first bytes
 * (headers and the start of its scan: unique in practice) are looked for in
 * the file, which must hold all of the preview after them. Read in 1 MiB
 * chunks with pread(): a file cut meanwhile is not mapped memory. */
static int preview_in_file(const DecodeRaw *r, const uint8_t *thumb, size_t len) {
        _cleanup_free_ uint8_t *chunk = NULL;
        size_t probe = len < PREVIEW_PROBE ? len : PREVIEW_PROBE, step = 1u << 20;
        uint64_t off = 0;

        if (r->data) {
                const uint8_t *at = memmem(r->data, (size_t) r->size, thumb, probe);

                return at && (uint64_t) (at - r->data) + len <= r->size;
        }
        chunk = malloc(step + probe);
        if (!chunk)
                return -ENOMEM;
        while (off < r->size) {
                ssize_t n = pread(r->fd, chunk, step + probe, (off_t) off);
                const uint8_t *at;

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if ((size_t) n < probe)
                        return false;
                at = memmem(chunk, (size_t) n, thumb, probe);
                if (at)
                        return off + (uint64_t) (at - chunk) + len <= r->size;
                off += step;
        }
        return false;
}

void raw_preview_done(RawPreview *p) {
        if (!p)
                return;
        free(p->data);
        *p = (RawPreview) {};
}

int decode_raw_preview(DecodeRaw *r, RawPreview *ret, char **reterr_reason) {
        libraw_thumbnail_t *t = &r->lr->thumbnail;
        RawPreview p = { .orientation = decode_raw_flip_to_orientation(r->lr->sizes.flip) };
        int code = libraw_unpack_thumb(r->lr);

        if (code != LIBRAW_SUCCESS)
                return raw_errno(code, "unpacking the preview", reterr_reason);
        if (!t->thumb || t->tlength == 0)
                return message_set(reterr_reason, -ENOENT, "unpacking the preview: libraw returned no bytes");
        switch (t->tformat) {
        case LIBRAW_THUMBNAIL_JPEG:
                code = preview_in_file(r, (const uint8_t *) t->thumb, t->tlength);
                if (code < 0)
                        return message_set(reterr_reason, code, "reading the RAW failed: %s", strerror(-code));
                if (!code || !jpeg_complete((const uint8_t *) t->thumb, t->tlength))
                        return message_set(reterr_reason, -ENODATA,
                                           "unpacking the preview: its JPEG has no end: "
                                           "the file is cut short or corrupt");
                p.format = RAW_PREVIEW_JPEG;
                p.size = t->tlength;
                break;
        case LIBRAW_THUMBNAIL_BITMAP:
                /* ppm_thumb() and layer_thumb(): 8-bit, tcolors per pixel; only RGB is returned. */
                if (t->tcolors != 3 || t->twidth == 0 || t->theight == 0 ||
                    (uint64_t) t->twidth * t->theight * 3 > t->tlength)
                        return message_set(reterr_reason, -ENOTSUP, "a %ux%u bitmap preview of %d colours",
                                           (unsigned) t->twidth, (unsigned) t->theight, t->tcolors);
                p.format = RAW_PREVIEW_RGB;
                p.size = (size_t) t->twidth * t->theight * 3;
                break;
        case LIBRAW_THUMBNAIL_UNKNOWN:
                /* A JPEG cut inside its header comes here too: without its end, it is
                 * the file that is cut (or still arriving), not the JPEG that is odd. */
                if (t->tlength >= 3 && memcmp(t->thumb, "\xff\xd8\xff", 3) == 0 &&
                    (preview_in_file(r, (const uint8_t *) t->thumb, t->tlength) <= 0 ||
                     !jpeg_complete((const uint8_t *) t->thumb, t->tlength)))
                        return message_set(reterr_reason, -ENODATA,
                                           "unpacking the preview: its JPEG has no end: "
                                           "the file is cut short or corrupt");
                return message_set(reterr_reason, -ENOTSUP,
                                   "unpacking the preview: a JPEG libjpeg cannot read the header of");
        default:
                return message_set(reterr_reason, -ENOTSUP, "unpacking the preview: libraw preview format %d",
                                   (int) t->tformat);
        }
        if (!(p.data = malloc(p.size)))
                return message_set(reterr_reason, -ENOMEM, "out of memory for a %zu-byte preview", p.size);
        memcpy(p.data, t->thumb, p.size);
        p.width = t->twidth;
        p.height = t->theight;
        *ret = p;
        return 0;
}
