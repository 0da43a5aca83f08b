/* image-format.c - the table of image formats, and the lists and lookups
 * made from it. Which decoder reads a file is decided by sniffing its magic
 * bytes here, never by its name; the extensions only say which files are
 * worth looking at. */
#include "build-config.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>
#include <unistd.h>

#include "image-format.h"
#include "macro.h"
#include "sniff-media.h"

/* The little-endian 32-bit number at p. */
static uint64_t le32(const unsigned char *p) {
        return (uint64_t) (p[0] | p[1] << 8 | p[2] << 16 | (uint32_t) p[3] << 24);
}

/* An end-of-image marker near the end. */
static bool jpeg_truncated(const unsigned char *head _unused_, const unsigned char *tail, size_t n,
                           uint64_t size _unused_) {
        for (size_t i = 0; i + 1 < n; i++)
                if (tail[i] == 0xff && tail[i + 1] == 0xd9)
                        return false;
        return true;
}

/* The IEND chunk last. */
static bool png_truncated(const unsigned char *head _unused_, const unsigned char *tail, size_t n,
                          uint64_t size _unused_) {
        return n < 8 || memcmp(tail + n - 8, "IEND", 4) != 0;
}

/* The trailer byte last. */
static bool gif_truncated(const unsigned char *head _unused_, const unsigned char *tail, size_t n,
                          uint64_t size _unused_) {
        return tail[n - 1] != 0x3b;
}

/* RIFF's own length, which does not count its 8-byte header. */
static bool webp_truncated(const unsigned char *head, const unsigned char *tail _unused_, size_t n _unused_,
                           uint64_t size) {
        return le32(head + 4) + 8 > size;
}

/* The header's file size. */
static bool bmp_truncated(const unsigned char *head, const unsigned char *tail _unused_, size_t n _unused_,
                          uint64_t size) {
        return le32(head + 2) > size;
}

/* HEIC, or HEIF of another codec: libheif decides what it can decode. */
static bool heic_sniff(const unsigned char *head, size_t len) {
        SniffMedia m = sniff_media_isobmff(head, len);

        return m == SNIFF_MEDIA_HEIC || m == SNIFF_MEDIA_HEIF;
}

static bool avif_sniff(const unsigned char *head, size_t len) {
        return sniff_media_isobmff(head, len) == SNIFF_MEDIA_AVIF;
}

static bool jxl_sniff(const unsigned char *head, size_t len) {
        return sniff_media_jxl(head, len) != SNIFF_MEDIA_NONE;
}

/* The TIFF-based RAWs (and ORF, RW2); not CR3, which libraw 0.20 reads only
 * in part. */
static bool raw_sniff(const unsigned char *head, size_t len) {
        SniffMedia m = sniff_media_raw(head, len);

        return m != SNIFF_MEDIA_NONE && m != SNIFF_MEDIA_CR3;
}

#define MAGIC(off, b) { .offset = (off), .bytes = (b), .len = sizeof(b) - 1 }
#define MAGIC_MASKED(off, b, m) { .offset = (off), .bytes = (b), .len = sizeof(b) - 1, .mask = (m) }

/* The order is that of every list: formats =, its messages, the extensions.
 * Sniffing tries the sniff_first rows first: a RAW is also a TIFF. JPEG XL's
 * bare codestream is a two-byte magic, the weakest: its row is last. */
static const ImageFormat formats[] = {
        { .bit = THUMBNAIL_JPEG, .name = "jpeg", .aliases = { "jpg" }, .extensions = { ".jpg", ".jpeg" },
          .magics = { MAGIC(0, "\xff\xd8\xff") }, .coder = "JPEG", .mime_type = "image/jpeg", .output = true,
          .truncated = jpeg_truncated },
        { .bit = THUMBNAIL_PNG, .name = "png", .extensions = { ".png" }, .magics = { MAGIC(0, "\x89PNG\r\n\x1a\n") },
          .coder = "PNG", .mime_type = "image/png", .output = true, .alpha = true, .truncated = png_truncated },
        { .bit = THUMBNAIL_GIF, .name = "gif", .extensions = { ".gif" },
          .magics = { MAGIC(0, "GIF87a"), MAGIC(0, "GIF89a") }, .coder = "GIF", .mime_type = "image/gif",
          .truncated = gif_truncated },
        { .bit = THUMBNAIL_WEBP, .name = "webp", .extensions = { ".webp" },
          .magics = { MAGIC_MASKED(0, "RIFF\0\0\0\0WEBP", "xxxx....xxxx") }, .coder = "WEBP",
          .mime_type = "image/webp", .output = true, .alpha = true, .truncated = webp_truncated },
        { .bit = THUMBNAIL_TIFF, .name = "tiff", .aliases = { "tif" }, .extensions = { ".tif", ".tiff" },
          .magics = { MAGIC(0, "II*\0"), MAGIC(0, "MM\0*"), MAGIC(0, "II+\0"), MAGIC(0, "MM\0+") },
          .coder = "TIFF", .mime_type = "image/tiff" },
        { .bit = THUMBNAIL_BMP, .name = "bmp", .extensions = { ".bmp" }, .magics = { MAGIC(0, "BM") },
          .coder = "BMP", .mime_type = "image/bmp", .truncated = bmp_truncated },
        /* HEIF, AVIF and RAW report a file cut short themselves. */
        { .bit = THUMBNAIL_HEIC, .name = "heic", .aliases = { "heif" }, .extensions = { ".heic", ".heif", ".hif" },
          .sniff = heic_sniff, .sniff_first = true, .mime_type = "image/heic", .written_as = THUMBNAIL_JPEG },
        { .bit = THUMBNAIL_AVIF, .name = "avif", .extensions = { ".avif" }, .sniff = avif_sniff,
          .sniff_first = true, .mime_type = "image/avif", .written_as = THUMBNAIL_JPEG },
        { .bit = THUMBNAIL_RAW, .name = "raw", .extensions = { ".cr2", ".dng", ".nef", ".arw", ".orf", ".rw2", ".pef" },
          .sniff = raw_sniff, .sniff_first = true, .mime_type = "image/x-dcraw", .written_as = THUMBNAIL_JPEG },
        /* A bare codestream has no end marker to look for. */
        { .bit = THUMBNAIL_JXL, .name = "jxl", .extensions = { ".jxl" }, .sniff = jxl_sniff, .coder = "JXL",
          .mime_type = "image/jxl", .written_as = THUMBNAIL_JPEG },
};

/* The sniff functions see all the bytes sniff-media asks for. */
_Static_assert(IMAGE_FORMAT_HEAD_SIZE >= SNIFF_MEDIA_HEAD_SIZE, "a head too short for sniff-media");

/* Every bit has its row, and every row a bit of its own. */
_Static_assert(ELEMENTSOF(formats) == __builtin_popcount(THUMBNAIL_ALL_FORMATS), "a format without a row");

const ImageFormat *image_format_at(size_t i) {
        return i < ELEMENTSOF(formats) ? &formats[i] : NULL;
}

const ImageFormat *image_format_from_bit(unsigned bit) {
        for (size_t i = 0; i < ELEMENTSOF(formats); i++)
                if (formats[i].bit == bit)
                        return &formats[i];
        return NULL;
}

const ImageFormat *image_format_from_name(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(formats); i++) {
                if (strcasecmp(name, formats[i].name) == 0)
                        return &formats[i];
                for (size_t j = 0; j < IMAGE_FORMAT_ALIASES_MAX && formats[i].aliases[j]; j++)
                        if (strcasecmp(name, formats[i].aliases[j]) == 0)
                                return &formats[i];
        }
        return NULL;
}

const ImageFormat *image_format_from_extension(const char *ext) {
        for (size_t i = 0; i < ELEMENTSOF(formats); i++)
                for (size_t j = 0; j < IMAGE_FORMAT_EXTENSIONS_MAX && formats[i].extensions[j]; j++)
                        if (strcasecmp(ext, formats[i].extensions[j]) == 0)
                                return &formats[i];
        return NULL;
}

const char *image_format_extension(unsigned bit) {
        const ImageFormat *f = image_format_from_bit(bit);

        return f && f->output ? f->extensions[0] : NULL;
}

static bool magic_matches(const ImageMagic *m, const unsigned char *head, size_t len) {
        if (len < m->offset + m->len)
                return false;
        for (size_t i = 0; i < m->len; i++)
                if ((!m->mask || m->mask[i] == 'x') && head[m->offset + i] != (unsigned char) m->bytes[i])
                        return false;
        return true;
}

static bool row_matches(const ImageFormat *f, const unsigned char *head, size_t len) {
        if (f->sniff && f->sniff(head, len))
                return true;
        for (size_t j = 0; j < IMAGE_FORMAT_MAGICS_MAX && f->magics[j].len > 0; j++)
                if (magic_matches(&f->magics[j], head, len))
                        return true;
        return false;
}

const ImageFormat *image_format_sniff(const unsigned char *head, size_t len) {
        len = len < IMAGE_FORMAT_HEAD_SIZE ? len : IMAGE_FORMAT_HEAD_SIZE;
        for (int pass = 0; pass < 2; pass++)
                for (size_t i = 0; i < ELEMENTSOF(formats); i++)
                        if (formats[i].sniff_first == (pass == 0) && row_matches(&formats[i], head, len))
                                return &formats[i];
        return NULL;
}

unsigned image_format_written_as(const ImageFormat *f) {
        return f->written_as ? f->written_as : f->bit;
}

const char *image_format_same_suffix(const char *ext) {
        const ImageFormat *f = image_format_from_extension(ext);

        return f && f->written_as ? image_format_extension(f->written_as) : "";
}

bool image_format_describe_unknown(const unsigned char *head, size_t len, char *buf, size_t size) {
        char brand[5];

        if (sniff_media_raw(head, len) == SNIFF_MEDIA_CR3) {
                (void) snprintf(buf, size, "a Canon CR3 RAW, which is not read");
                return true;
        }
        if (len < 12 || memcmp(head + 4, "ftyp", 4) != 0)
                return false;
        for (size_t i = 0; i < 4; i++)
                brand[i] = head[8 + i] >= 0x20 && head[8 + i] < 0x7f ? (char) head[8 + i] : '?';
        brand[4] = '\0';
        (void) snprintf(buf, size, "an ISO media file of brand '%s' (video or audio?), not HEIF or AVIF", brand);
        return true;
}

/* Asked only of files that failed to decode, to tell "still arriving, or
 * cut short" from "corrupt": the end of a file is where the difference is. */
bool image_format_looks_truncated(const ImageFormat *f, int fd, uint64_t size) {
        unsigned char tail[4096], head[12];
        size_t n = size < sizeof tail ? (size_t) size : sizeof tail;

        if (pread(fd, head, sizeof head, 0) != (ssize_t) sizeof head)
                return true;
        if (pread(fd, tail, n, (off_t) (size - n)) != (ssize_t) n)
                return true;
        return f->truncated && f->truncated(head, tail, n, size);
}

/* Appends s to the list in buf, cut short as snprintf() does; *len counts it whole. */
static void append(char *buf, size_t size, size_t *len, const char *s) {
        if (*len < size)
                (void) snprintf(buf + *len, size - *len, "%s", s);
        *len += strlen(s);
}

size_t image_format_list(ImageFormatList which, char *buf, size_t size) {
        size_t len = 0, n_outputs = 0, k = 0;

        if (size > 0)
                buf[0] = '\0';
        for (size_t i = 0; i < ELEMENTSOF(formats); i++)
                n_outputs += formats[i].output;
        for (size_t i = 0; i < ELEMENTSOF(formats); i++) {
                const ImageFormat *f = &formats[i];

                switch (which) {
                case IMAGE_FORMAT_LIST_NAMES:
                        append(buf, size, &len, i > 0 ? " " : "");
                        append(buf, size, &len, f->name);
                        break;
                case IMAGE_FORMAT_LIST_OUTPUTS:         /* "a, b or c" */
                        if (!f->output)
                                break;
                        append(buf, size, &len, k == 0 ? "" : k + 1 < n_outputs ? ", " : " or ");
                        append(buf, size, &len, f->name);
                        k++;
                        break;
                case IMAGE_FORMAT_LIST_EXTENSIONS:
                        for (size_t j = 0; j < IMAGE_FORMAT_EXTENSIONS_MAX && f->extensions[j]; j++) {
                                append(buf, size, &len, len > 0 ? " " : "");
                                append(buf, size, &len, f->extensions[j]);
                        }
                        break;
                }
        }
        return len;
}
