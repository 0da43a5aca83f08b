/* sniff-media.c - HEIF/AVIF brands, JPEG XL and TIFF-based RAW markers, read
 * from a file's first bytes. Every read is checked against len first: the
 * bytes are hostile, and so are the sizes and offsets written in them. */
#include "build-config.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "macro.h"
#include "sniff-media.h"

static const char *const names[_SNIFF_MEDIA_MAX] = {
        [SNIFF_MEDIA_NONE] = "none", [SNIFF_MEDIA_HEIC] = "heic", [SNIFF_MEDIA_HEIF] = "heif",
        [SNIFF_MEDIA_AVIF] = "avif", [SNIFF_MEDIA_JXL] = "jxl",   [SNIFF_MEDIA_CR2] = "cr2",
        [SNIFF_MEDIA_CR3] = "cr3",   [SNIFF_MEDIA_DNG] = "dng",   [SNIFF_MEDIA_NEF] = "nef",
        [SNIFF_MEDIA_ARW] = "arw",   [SNIFF_MEDIA_ORF] = "orf",   [SNIFF_MEDIA_RW2] = "rw2",
        [SNIFF_MEDIA_PEF] = "pef",
};

const char *sniff_media_name(SniffMedia m) {
        if ((unsigned) m >= _SNIFF_MEDIA_MAX)
                return NULL;
        return names[m];
}

static uint32_t be32(const uint8_t *p) {
        return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | p[3];
}

/* ---- ISOBMFF ---- */

/* HEVC brands first: a file listing both kinds is decoded by its HEVC image. */
static const struct {
        char brand[5];
        SniffMedia media;
} brands[] = {
        { "heic", SNIFF_MEDIA_HEIC }, { "heix", SNIFF_MEDIA_HEIC }, { "heim", SNIFF_MEDIA_HEIC },
        { "heis", SNIFF_MEDIA_HEIC }, { "hevc", SNIFF_MEDIA_HEIC }, { "hevx", SNIFF_MEDIA_HEIC },
        { "avif", SNIFF_MEDIA_AVIF }, { "avis", SNIFF_MEDIA_AVIF }, { "mif1", SNIFF_MEDIA_HEIF },
        { "msf1", SNIFF_MEDIA_HEIF },
};

static SniffMedia brand_media(const uint8_t *brand) {
        for (size_t i = 0; i < ELEMENTSOF(brands); i++)
                if (memcmp(brand, brands[i].brand, 4) == 0)
                        return brands[i].media;
        return SNIFF_MEDIA_NONE;
}

/* The best of two: a codec brand beats the generic mif1/msf1, HEIC beats AVIF. */
static SniffMedia better(SniffMedia a, SniffMedia b) {
        static const int rank[_SNIFF_MEDIA_MAX] = {
                [SNIFF_MEDIA_HEIF] = 1, [SNIFF_MEDIA_AVIF] = 2, [SNIFF_MEDIA_HEIC] = 3,
        };
        return rank[b] > rank[a] ? b : a;
}

/* The first box, when it is 'ftyp': where its major brand starts and where its
 * brands end, within both the box and len. */
static bool ftyp_box(const uint8_t *p, size_t len, size_t *ret_major, uint64_t *ret_end) {
        uint64_t size;
        size_t hdr = 8;

        if (!p || len < 16 || memcmp(p + 4, "ftyp", 4) != 0)
                return false;
        size = be32(p);
        if (size == 1) {                /* a 64-bit size follows the type */
                if (len < 24)
                        return false;
                size = (uint64_t) be32(p + 8) << 32 | be32(p + 12);
                hdr = 16;
        } else if (size == 0)           /* the box runs to the end of the file */
                size = UINT64_MAX;
        /* The major brand and the minor version must fit in the box. */
        if (size < hdr + 8)
                return false;
        *ret_major = hdr;
        *ret_end = size < len ? size : len;
        return true;
}

SniffMedia sniff_media_isobmff(const void *head, size_t len) {
        const uint8_t *p = head;
        size_t major;
        uint64_t end;
        SniffMedia found;

        if (!ftyp_box(p, len, &major, &end))
                return SNIFF_MEDIA_NONE;
        found = brand_media(p + major);
        /* Compatible brands: whole 4-byte brands inside both the box and len. */
        for (uint64_t off = major + 8; off + 4 <= end; off += 4)
                found = better(found, brand_media(p + off));
        return found;
}

/* Canon CR3 names itself by its major brand; its compatible brands are MP4's. */
static bool is_cr3(const uint8_t *p, size_t len) {
        size_t major;
        uint64_t end;

        return ftyp_box(p, len, &major, &end) && memcmp(p + major, "crx ", 4) == 0;
}

/* ---- JPEG XL ---- */

SniffMedia sniff_media_jxl(const void *head, size_t len) {
        static const uint8_t container[12] = { 0, 0, 0, 0x0c, 'J', 'X', 'L', ' ', 0x0d, 0x0a, 0x87, 0x0a };
        const uint8_t *p = head;

        if (!p)
                return SNIFF_MEDIA_NONE;
        if (len >= 2 && p[0] == 0xff && p[1] == 0x0a)
                return SNIFF_MEDIA_JXL;
        if (len >= sizeof container && memcmp(p, container, sizeof container) == 0)
                return SNIFF_MEDIA_JXL;
        return SNIFF_MEDIA_NONE;
}

/* ---- TIFF-based RAW ---- */

typedef struct Tiff {
        const uint8_t *p;
        size_t len;
        bool big;               /* "MM": big-endian */
} Tiff;

static bool tiff_u16(const Tiff *t, uint64_t off, uint16_t *ret) {
        if (off > t->len || t->len - off < 2)
                return false;
        *ret = t->big ? (uint16_t) (t->p[off] << 8 | t->p[off + 1]) : (uint16_t) (t->p[off + 1] << 8 | t->p[off]);
        return true;
}

static bool tiff_u32(const Tiff *t, uint64_t off, uint32_t *ret) {
        uint16_t a, b;

        if (!tiff_u16(t, off, &a) || !tiff_u16(t, off + 2, &b))
                return false;
        *ret = t->big ? (uint32_t) a << 16 | b : (uint32_t) b << 16 | a;
        return true;
}

/* What IFD0 says, as far as it lies within the bytes given. */
typedef struct Ifd0 {
        bool dng;               /* DNGVersion */
        bool raw_marker;        /* one of the signs of raw data listed in the header */
        char make[32];          /* NUL-terminated, possibly cut short; "" when absent or out of reach */
} Ifd0;

/* A SHORT or LONG value with count 1, which TIFF stores in the entry itself. */
static bool entry_number(const Tiff *t, uint64_t e, uint32_t *ret) {
        uint16_t type, v16;
        uint32_t count;

        if (!tiff_u16(t, e + 2, &type) || !tiff_u32(t, e + 4, &count) || count != 1)
                return false;
        if (type == 3 && tiff_u16(t, e + 8, &v16)) {
                *ret = v16;
                return true;
        }
        return type == 4 && tiff_u32(t, e + 8, ret);
}

/* The Make tag: ASCII, inline when it has 4 bytes or fewer, else at an offset. */
static void entry_make(const Tiff *t, uint64_t e, char make[static 32]) {
        uint16_t type;
        uint32_t count, off;
        uint64_t at;
        size_t n;

        if (!tiff_u16(t, e + 2, &type) || type != 2 || !tiff_u32(t, e + 4, &count) || count == 0)
                return;
        if (count <= 4)
                at = e + 8;
        else if (tiff_u32(t, e + 8, &off))
                at = off;
        else
                return;
        if (at >= t->len)
                return;
        n = count < 31 ? count : 31;
        if (n > t->len - at)
                n = (size_t) (t->len - at);
        memcpy(make, t->p + at, n);
        make[n] = '\0';
}

static void walk_ifd0(const Tiff *t, uint32_t ifd, Ifd0 *ret) {
        uint16_t count, tag;
        uint32_t v;

        if (!tiff_u16(t, ifd, &count))
                return;
        /* Entries beyond len are not seen; a count past them stops the walk there. */
        for (uint64_t i = 0, e = (uint64_t) ifd + 2; i < count && tiff_u16(t, e, &tag); i++, e += 12) {
                switch (tag) {
                case 0x010f:    /* Make */
                        entry_make(t, e, ret->make);
                        break;
                case 0x0103:    /* Compression: Nikon, Sony and Pentax raw codecs */
                        if (entry_number(t, e, &v) && (v == 34713 || v == 32767 || v == 65535))
                                ret->raw_marker = true;
                        break;
                case 0x0106:    /* PhotometricInterpretation: CFA or LinearRaw */
                        if (entry_number(t, e, &v) && (v == 32803 || v == 34892))
                                ret->raw_marker = true;
                        break;
                case 0x014a:    /* SubIFDs */
                case 0x7200:    /* Sony SR2Private */
                case 0xc634:    /* DNGPrivateData */
                        ret->raw_marker = true;
                        break;
                case 0xc612:    /* DNGVersion */
                        ret->dng = true;
                        break;
                default:
                        break;
                }
        }
}

static bool make_is(const char *make, const char *prefix) {
        return strncasecmp(make, prefix, strlen(prefix)) == 0;
}

SniffMedia sniff_media_raw(const void *head, size_t len) {
        const uint8_t *p = head;
        Tiff t = { .p = p, .len = len };
        Ifd0 ifd0 = {};
        uint32_t off;

        if (!p || len < 8)
                return is_cr3(p, len) ? SNIFF_MEDIA_CR3 : SNIFF_MEDIA_NONE;
        if (memcmp(p, "IIRO", 4) == 0 || memcmp(p, "IIRS", 4) == 0 || memcmp(p, "MMOR", 4) == 0)
                return SNIFF_MEDIA_ORF;
        if (memcmp(p, "IIU\0", 4) == 0)
                return SNIFF_MEDIA_RW2;
        if (memcmp(p, "II*\0", 4) == 0)
                t.big = false;
        else if (memcmp(p, "MM\0*", 4) == 0)
                t.big = true;
        else
                return is_cr3(p, len) ? SNIFF_MEDIA_CR3 : SNIFF_MEDIA_NONE;
        if (!t.big && len >= 12 && memcmp(p + 8, "CR\2\0", 4) == 0)
                return SNIFF_MEDIA_CR2;
        if (!tiff_u32(&t, 4, &off) || off < 8)
                return SNIFF_MEDIA_NONE;
        walk_ifd0(&t, off, &ifd0);
        if (ifd0.dng)
                return SNIFF_MEDIA_DNG;
        if (!ifd0.raw_marker)
                return SNIFF_MEDIA_NONE;
        if (make_is(ifd0.make, "NIKON"))
                return SNIFF_MEDIA_NEF;
        if (make_is(ifd0.make, "SONY"))
                return SNIFF_MEDIA_ARW;
        if (make_is(ifd0.make, "PENTAX") || make_is(ifd0.make, "RICOH IMAGING"))
                return SNIFF_MEDIA_PEF;
        return SNIFF_MEDIA_NONE;
}

SniffMedia sniff_media(const void *head, size_t len) {
        SniffMedia m = sniff_media_isobmff(head, len);

        if (m == SNIFF_MEDIA_NONE)
                m = sniff_media_jxl(head, len);
        if (m == SNIFF_MEDIA_NONE)
                m = sniff_media_raw(head, len);
        return m;
}
