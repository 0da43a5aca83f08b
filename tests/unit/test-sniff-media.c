/* test-sniff-media.c - HEIF/AVIF brands, JPEG XL signatures and RAW markers on
 * hand-built headers, including hostile box sizes and IFD offsets. */
#include "build-config.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sniff-media.h"
#include "tap.h"

/* An 'ftyp' box: size field, major brand, minor version 0, then the compatible
 * brands (a string of 4-character brands). Returns the bytes written. */
static size_t ftyp(uint8_t *buf, uint32_t size_field, const char *major, const char *compat) {
        size_t n = strlen(compat);

        buf[0] = (uint8_t) (size_field >> 24);
        buf[1] = (uint8_t) (size_field >> 16);
        buf[2] = (uint8_t) (size_field >> 8);
        buf[3] = (uint8_t) size_field;
        memcpy(buf + 4, "ftyp", 4);
        memcpy(buf + 8, major, 4);
        memset(buf + 12, 0, 4);
        memcpy(buf + 16, compat, n);
        return 16 + n;
}

static SniffMedia sniff_ftyp(const char *major, const char *compat) {
        uint8_t buf[256];
        size_t n = ftyp(buf, (uint32_t) (16 + strlen(compat)), major, compat);

        /* Followed by the next box, as in a file. */
        memcpy(buf + n, "\0\0\0\x10meta\0\0\0\0\0\0\0\0", 16);
        return sniff_media(buf, n + 16);
}

static void test_brands(void) {
        static const struct {
                const char *major, *compat;
                SniffMedia want;
                const char *name;
        } cases[] = {
                { "heic", "mif1heic", SNIFF_MEDIA_HEIC, "iPhone: heic, mif1 heic" },
                { "heix", "mif1heix", SNIFF_MEDIA_HEIC, "heix" },
                { "heim", "mif1heim", SNIFF_MEDIA_HEIC, "heim" },
                { "heis", "mif1heis", SNIFF_MEDIA_HEIC, "heis" },
                { "hevc", "msf1hevc", SNIFF_MEDIA_HEIC, "hevc sequence" },
                { "hevx", "msf1hevx", SNIFF_MEDIA_HEIC, "hevx sequence" },
                { "mif1", "heicmif1", SNIFF_MEDIA_HEIC, "major mif1, heic compatible" },
                { "mif1", "mif1miaf", SNIFF_MEDIA_HEIF, "mif1 alone: HEIF of unknown codec" },
                { "msf1", "", SNIFF_MEDIA_HEIF, "msf1 alone" },
                { "avif", "avifmif1miafMA1B", SNIFF_MEDIA_AVIF, "avifenc: avif, avif mif1 miaf MA1B" },
                { "avis", "avismsf1miaf", SNIFF_MEDIA_AVIF, "avis sequence" },
                { "mif1", "miafavif", SNIFF_MEDIA_AVIF, "major mif1, avif compatible" },
                { "avif", "avifheic", SNIFF_MEDIA_HEIC, "HEVC brand beats AV1 brand" },
                { "isom", "isomiso2avc1mp41", SNIFF_MEDIA_NONE, "MP4 isom: not an image" },
                { "mp42", "mp42isom", SNIFF_MEDIA_NONE, "MP4 mp42: not an image" },
                { "qt  ", "qt  ", SNIFF_MEDIA_NONE, "MOV qt: not an image" },
                { "crx ", "crx isom", SNIFF_MEDIA_CR3, "CR3 crx: a RAW, not HEIF" },
                { "M4A ", "M4A mp42isom", SNIFF_MEDIA_NONE, "M4A: not an image" },
                { "3gp4", "3gp4", SNIFF_MEDIA_NONE, "3GP: not an image" },
        };
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
                is_int(sniff_ftyp(cases[i].major, cases[i].compat), cases[i].want, cases[i].name);
        {
                uint8_t buf[64];
                size_t n = ftyp(buf, 24, "crx ", "crx isom");

                is_int(sniff_media_isobmff(buf, n), SNIFF_MEDIA_NONE, "isobmff: CR3 is none");
                is_int(sniff_media_raw(buf, n), SNIFF_MEDIA_CR3, "raw: CR3 by its major brand");
        }
}

static void test_box_sizes(void) {
        uint8_t buf[256] = {};
        size_t n;

        /* Size 0: to the end of the file, so every brand in the buffer counts. */
        n = ftyp(buf, 0, "mif1", "miafheic");
        is_int(sniff_media_isobmff(buf, n), SNIFF_MEDIA_HEIC, "size 0: brands to the end of the buffer");

        /* Size 1: a 64-bit size after the type; the brands start at 16. */
        memcpy(buf, "\0\0\0\1ftyp\0\0\0\0\0\0\0\x20mif1\0\0\0\0avifmiaf", 32);
        is_int(sniff_media_isobmff(buf, 32), SNIFF_MEDIA_AVIF, "size 1: 64-bit size");
        memcpy(buf, "\0\0\0\1ftyp\0\0\0\0\0\0\0\x10mif1\0\0\0\0avifmiaf", 32);
        is_int(sniff_media_isobmff(buf, 32), SNIFF_MEDIA_NONE, "size 1: 64-bit size 16 has no room for a brand");
        memcpy(buf, "\0\0\0\1ftyp\xff\xff\xff\xff\xff\xff\xff\xffmif1\0\0\0\0heic", 28);
        is_int(sniff_media_isobmff(buf, 28), SNIFF_MEDIA_HEIC, "size 1: huge 64-bit size, brands within len");
        is_int(sniff_media_isobmff(buf, 20), SNIFF_MEDIA_NONE, "size 1: cut before the major brand");

        /* Sizes past the buffer: only the brands inside it are read. */
        n = ftyp(buf, 0xffffffff, "mif1", "miafheic");
        is_int(sniff_media_isobmff(buf, n), SNIFF_MEDIA_HEIC, "huge 32-bit size: brands within len");
        is_int(sniff_media_isobmff(buf, n - 4), SNIFF_MEDIA_HEIF, "huge size, heic cut off: mif1 only");
        is_int(sniff_media_isobmff(buf, n - 1), SNIFF_MEDIA_HEIF, "a partial brand is not read");

        /* Sizes smaller than their content: brands past the box are not brands. */
        n = ftyp(buf, 20, "mif1", "miafheic");
        is_int(sniff_media_isobmff(buf, n), SNIFF_MEDIA_HEIF, "size 20: heic lies in the next box");
        {
                bool all_none = true;

                for (uint32_t s = 2; s < 16; s++) {
                        n = ftyp(buf, s, "heic", "heic");
                        all_none = all_none && sniff_media_isobmff(buf, n) == SNIFF_MEDIA_NONE;
                }
                ok(all_none, "sizes 2..15: too small for a major brand, none");
        }
        n = ftyp(buf, 16, "heic", "");
        is_int(sniff_media_isobmff(buf, n), SNIFF_MEDIA_HEIC, "size 16: major brand only");

        /* Truncated headers. */
        n = ftyp(buf, 24, "heic", "mif1");
        {
                bool all_none = true;

                for (size_t len = 0; len < 16; len++)
                        all_none = all_none && sniff_media_isobmff(buf, len) == SNIFF_MEDIA_NONE;
                ok(all_none, "a header cut before 16 bytes is none");
        }
        is_int(sniff_media_isobmff(NULL, 100), SNIFF_MEDIA_NONE, "NULL is none");
        memcpy(buf + 4, "moov", 4);
        is_int(sniff_media_isobmff(buf, n), SNIFF_MEDIA_NONE, "a first box other than ftyp is none");
}

static void test_jxl(void) {
        static const uint8_t bare[] = { 0xff, 0x0a, 0xfa, 0x1f };
        static const uint8_t box[] = { 0, 0, 0, 0x0c, 'J', 'X', 'L', ' ', 0x0d, 0x0a, 0x87, 0x0a,
                                       0, 0, 0, 0x14, 'f', 't', 'y', 'p', 'j', 'x', 'l', ' ' };

        is_int(sniff_media(bare, sizeof bare), SNIFF_MEDIA_JXL, "JPEG XL codestream FF 0A");
        is_int(sniff_media(box, sizeof box), SNIFF_MEDIA_JXL, "JPEG XL container");
        is_int(sniff_media_jxl(box, 11), SNIFF_MEDIA_NONE, "JPEG XL container cut short");
        is_int(sniff_media_jxl(bare, 1), SNIFF_MEDIA_NONE, "one byte is not JPEG XL");
        is_int(sniff_media_jxl("\xff\xd8\xff", 3), SNIFF_MEDIA_NONE, "JPEG is not JPEG XL");
        is_int(sniff_media_isobmff(box, sizeof box), SNIFF_MEDIA_NONE, "JPEG XL container is not HEIF");
}

/* A TIFF with IFD0 at 8 and the given entries (tag, type, count, value). */
typedef struct Entry {
        uint16_t tag, type;
        uint32_t count, value;
} Entry;

static void put16(uint8_t *p, int big, uint16_t v) {
        p[big ? 0 : 1] = (uint8_t) (v >> 8);
        p[big ? 1 : 0] = (uint8_t) v;
}

static void put32(uint8_t *p, int big, uint32_t v) {
        put16(p + (big ? 0 : 2), big, (uint16_t) (v >> 16));
        put16(p + (big ? 2 : 0), big, (uint16_t) v);
}

static size_t tiff(uint8_t *buf, int big, const Entry *e, size_t n, const char *make) {
        size_t strings = 8 + 2 + n * 12 + 4;

        memcpy(buf, big ? "MM\0*" : "II*\0", 4);
        put32(buf + 4, big, 8);
        put16(buf + 8, big, (uint16_t) n);
        for (size_t i = 0; i < n; i++) {
                uint8_t *p = buf + 10 + i * 12;

                put16(p, big, e[i].tag);
                put16(p + 2, big, e[i].type);
                put32(p + 4, big, e[i].tag == 0x010f ? (uint32_t) strlen(make) + 1 : e[i].count);
                if (e[i].tag == 0x010f)
                        put32(p + 8, big, (uint32_t) strings);
                else if (e[i].type == 3)
                        put16(p + 8, big, (uint16_t) e[i].value);
                else
                        put32(p + 8, big, e[i].value);
        }
        memset(buf + 10 + n * 12, 0, 4);
        memcpy(buf + strings, make, strlen(make) + 1);
        return strings + strlen(make) + 1;
}

static void test_raw_markers(void) {
        uint8_t buf[512] = {};

        memcpy(buf, "II*\0\x10\0\0\0CR\2\0", 12);
        is_int(sniff_media(buf, 12), SNIFF_MEDIA_CR2, "CR2: CR 2 0 at 8");
        is_int(sniff_media_raw(buf, 11), SNIFF_MEDIA_NONE, "CR2 marker cut short");
        memcpy(buf, "IIRO\x08\0\0\0", 8);
        is_int(sniff_media(buf, 8), SNIFF_MEDIA_ORF, "ORF IIRO");
        memcpy(buf, "IIRS\x08\0\0\0", 8);
        is_int(sniff_media(buf, 8), SNIFF_MEDIA_ORF, "ORF IIRS");
        memcpy(buf, "MMOR\0\0\0\x08", 8);
        is_int(sniff_media(buf, 8), SNIFF_MEDIA_ORF, "ORF MMOR");
        memcpy(buf, "IIU\0\x08\0\0\0", 8);
        is_int(sniff_media(buf, 8), SNIFF_MEDIA_RW2, "RW2 IIU");
        is_int(sniff_media(buf, 4), SNIFF_MEDIA_NONE, "4 bytes are not enough");
}

static void test_raw_ifd0(void) {
        uint8_t buf[512];
        const Entry dng[] = { { 0x00fe, 4, 1, 1 }, { 0x0100, 4, 1, 256 }, { 0xc612, 1, 4, 0x00000401 } };
        const Entry nef[] = { { 0x00fe, 4, 1, 1 }, { 0x010f, 2, 0, 0 }, { 0x014a, 4, 1, 300 } };
        const Entry arw[] = { { 0x0103, 3, 1, 6 }, { 0x010f, 2, 0, 0 }, { 0x7200, 4, 1, 300 } };
        const Entry pef[] = { { 0x0103, 3, 1, 65535 }, { 0x0106, 3, 1, 32803 }, { 0x010f, 2, 0, 0 } };
        const Entry plain[] = { { 0x0103, 3, 1, 1 }, { 0x0106, 3, 1, 2 }, { 0x010f, 2, 0, 0 } };
        size_t n;

        for (int big = 0; big <= 1; big++) {
                const char *e = big ? " (MM)" : " (II)";
                char name[80];

                n = tiff(buf, big, dng, 3, "");
                snprintf(name, sizeof name, "DNG by DNGVersion%s", e);
                is_int(sniff_media(buf, n), SNIFF_MEDIA_DNG, name);
                snprintf(name, sizeof name, "DNGVersion past len: none%s", e);
                is_int(sniff_media_raw(buf, 8 + 2 + 2 * 12 + 1), SNIFF_MEDIA_NONE, name);
                n = tiff(buf, big, nef, 3, "NIKON CORPORATION");
                snprintf(name, sizeof name, "NEF: Make NIKON and SubIFDs%s", e);
                is_int(sniff_media(buf, n), SNIFF_MEDIA_NEF, name);
                snprintf(name, sizeof name, "NEF with the Make string cut: none%s", e);
                is_int(sniff_media_raw(buf, n - 16), SNIFF_MEDIA_NONE, name);
                n = tiff(buf, big, arw, 3, "SONY");
                snprintf(name, sizeof name, "ARW: Make SONY and SR2Private%s", e);
                is_int(sniff_media(buf, n), SNIFF_MEDIA_ARW, name);
                n = tiff(buf, big, pef, 3, "PENTAX Corporation");
                snprintf(name, sizeof name, "PEF: Make PENTAX, CFA, Pentax compression%s", e);
                is_int(sniff_media(buf, n), SNIFF_MEDIA_PEF, name);
                n = tiff(buf, big, pef, 3, "RICOH IMAGING COMPANY, LTD.");
                snprintf(name, sizeof name, "PEF: Make RICOH IMAGING%s", e);
                is_int(sniff_media(buf, n), SNIFF_MEDIA_PEF, name);
                n = tiff(buf, big, plain, 3, "NIKON");
                snprintf(name, sizeof name, "a plain RGB TIFF from a Nikon is a TIFF%s", e);
                is_int(sniff_media(buf, n), SNIFF_MEDIA_NONE, name);
                n = tiff(buf, big, nef, 3, "Canon");
                snprintf(name, sizeof name, "Canon TIFF without the CR2 marker: none%s", e);
                is_int(sniff_media(buf, n), SNIFF_MEDIA_NONE, name);
                n = tiff(buf, big, nef, 3, "SONYX");
                snprintf(name, sizeof name, "Make is a prefix match%s", e);
                is_int(sniff_media(buf, n), SNIFF_MEDIA_ARW, name);
        }
}

static void test_raw_hostile(void) {
        uint8_t buf[64] = {};
        size_t n;
        const Entry nef[] = { { 0x014a, 4, 1, 300 }, { 0x010f, 2, 0, 0 } };

        /* IFD0 offsets that point nowhere. */
        memcpy(buf, "II*\0\xff\xff\xff\xff", 8);
        is_int(sniff_media(buf, sizeof buf), SNIFF_MEDIA_NONE, "IFD0 at 4 GiB");
        memcpy(buf, "II*\0\x04\0\0\0", 8);
        is_int(sniff_media(buf, sizeof buf), SNIFF_MEDIA_NONE, "IFD0 inside the header");
        memcpy(buf, "II*\0\x3f\0\0\0", 8);
        is_int(sniff_media(buf, sizeof buf), SNIFF_MEDIA_NONE, "IFD0 on the last byte");
        /* An entry count far beyond the bytes. */
        memcpy(buf, "II*\0\x08\0\0\0\xff\xff", 10);
        is_int(sniff_media(buf, sizeof buf), SNIFF_MEDIA_NONE, "65535 entries in 64 bytes");
        /* A Make whose string lies past len, or at a huge offset. */
        {
                uint8_t big[256] = {};

                n = tiff(big, 0, nef, 2, "NIKON");
                put32(big + 10 + 12 + 8, 0, 0xfffffff0);
                is_int(sniff_media(big, n), SNIFF_MEDIA_NONE, "Make at a huge offset");
                n = tiff(big, 0, nef, 2, "NIKON CORPORATION");
                is_int(sniff_media(big, n - 10), SNIFF_MEDIA_NEF, "Make cut after NIKON still matches");
                put32(big + 10 + 12 + 4, 0, 0xffffffff);
                is_int(sniff_media(big, n), SNIFF_MEDIA_NEF, "Make with a huge count is read within len");
        }
        memcpy(buf, "IIRSftypmif1\0\0\0\0heic", 20);
        is_int(sniff_media(buf, 20), SNIFF_MEDIA_HEIC, "ORF marker and ftyp box: ISOBMFF comes first");
        is_int(sniff_media_raw(buf, 20), SNIFF_MEDIA_ORF, "... and sniff_media_raw() still says ORF");
        is_int(sniff_media(NULL, 0), SNIFF_MEDIA_NONE, "NULL, 0");
        is_int(sniff_media("", 0), SNIFF_MEDIA_NONE, "empty");
        is_int(sniff_media("\xff\xd8\xff\xe0", 4), SNIFF_MEDIA_NONE, "JPEG is none");
        is_int(sniff_media("\x89PNG\r\n\x1a\n", 8), SNIFF_MEDIA_NONE, "PNG is none");
}

static void test_names(void) {
        is_str(sniff_media_name(SNIFF_MEDIA_HEIC), "heic", "name heic");
        is_str(sniff_media_name(SNIFF_MEDIA_NONE), "none", "name none");
        is_str(sniff_media_name(_SNIFF_MEDIA_MAX), NULL, "name out of range");
        for (int m = 0; m < _SNIFF_MEDIA_MAX; m++)
                if (!sniff_media_name((SniffMedia) m)) {
                        ok(false, "every kind has a name");
                        return;
                }
        ok(true, "every kind has a name");
}

int main(void) {
        test_brands();
        test_box_sizes();
        test_jxl();
        test_raw_markers();
        test_raw_ifd0();
        test_raw_hostile();
        test_names();
        return done_testing();
}
