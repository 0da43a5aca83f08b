/* sniff-media.h - what a file is, from its first bytes, for the formats whose
 * magic is more than a fixed string at a fixed offset: HEIF and AVIF (the
 * ISOBMFF 'ftyp' brands), JPEG XL, and the TIFF-based camera RAWs. Pure
 * functions: no I/O, no allocation, no state; safe on any thread and on any
 * bytes. They read only head[0 .. len-1], whatever lengths those bytes claim. */
#pragma once

#include <stddef.h>

/* How many leading bytes of a file to pass: enough for every real 'ftyp' box
 * and for a RAW's IFD0 with its Make string when IFD0 starts near the front,
 * as every camera writes it. Fewer bytes are fine: what is not in them is not
 * seen (see sniff_media_raw()). */
#define SNIFF_MEDIA_HEAD_SIZE 4096

typedef enum SniffMedia {
        SNIFF_MEDIA_NONE = 0,           /* none of the formats below: try the other magics */
        SNIFF_MEDIA_HEIC,               /* HEIF with HEVC: a brand heic heix heim heis hevc hevx */
        SNIFF_MEDIA_HEIF,               /* HEIF of another codec: mif1 or msf1 and no codec brand */
        SNIFF_MEDIA_AVIF,               /* HEIF with AV1: a brand avif or avis */
        SNIFF_MEDIA_JXL,                /* JPEG XL, bare codestream or ISOBMFF container */
        SNIFF_MEDIA_CR2,                /* Canon: TIFF with "CR" 2 0 at offset 8 */
        SNIFF_MEDIA_CR3,                /* Canon: ISOBMFF with the major brand 'crx ' */
        SNIFF_MEDIA_DNG,                /* TIFF whose IFD0 has DNGVersion (0xC612) */
        SNIFF_MEDIA_NEF,                /* Nikon: TIFF, IFD0 Make "NIKON", raw markers */
        SNIFF_MEDIA_ARW,                /* Sony: TIFF, IFD0 Make "SONY", raw markers */
        SNIFF_MEDIA_ORF,                /* Olympus: "IIRO", "IIRS" or "MMOR" */
        SNIFF_MEDIA_RW2,                /* Panasonic: "IIU" 0 (RW2, RWL, RAW) */
        SNIFF_MEDIA_PEF,                /* Pentax/Ricoh: TIFF, IFD0 Make "PENTAX" or "RICOH IMAGING", raw markers */
        _SNIFF_MEDIA_MAX,
} SniffMedia;

/* The three below in this order, the first that is not SNIFF_MEDIA_NONE.
 * Bytes can match two ("IIRS" is ORF and also an 'ftyp' box's size): the
 * order decides. */
SniffMedia sniff_media(const void *head, size_t len);

/* An ISOBMFF file whose first box is 'ftyp': HEIC, HEIF or AVIF by its major
 * brand and its compatible brands. Never by 'ftyp' alone: MP4 (isom, mp41,
 * ...), MOV ('qt  '), Canon CR3 ('crx ') and anything else without an image
 * brand is SNIFF_MEDIA_NONE. A codec brand beats mif1/msf1, and a HEVC brand
 * beats an AV1 brand when both are listed. The box may declare any size: 0
 * (to the end of the file), 1 (a 64-bit size follows) or more than len; only
 * whole brands within both the box and len are read, and a box too small to
 * hold a major brand and minor version is SNIFF_MEDIA_NONE. Needs 16 bytes
 * (24 with a 64-bit size) and sees the compatible brands that follow within
 * len: a real 'ftyp' box has fewer than 30. */
SniffMedia sniff_media_isobmff(const void *head, size_t len);

/* JPEG XL: the codestream signature FF 0A, or the container's first box
 * 00 00 00 0C 'JXL ' 0D 0A 87 0A. */
SniffMedia sniff_media_jxl(const void *head, size_t len);

/* A camera RAW that is TIFF-based (CR2, DNG, NEF, ARW, PEF) or has a
 * TIFF-like header of its own (ORF, RW2), or CR3 (ISOBMFF, major brand
 * 'crx '). The fixed markers (CR2, ORF, RW2) need 12 bytes, CR3 16. DNG,
 * NEF, ARW and PEF are found by walking IFD0, so
 * IFD0 (and for NEF/ARW/PEF the Make string) must lie within len; a RAW whose
 * IFD0 lies further in is SNIFF_MEDIA_NONE and would be taken for a TIFF.
 * NEF, ARW and PEF need, besides the Make, a sign of raw data in IFD0:
 * SubIFDs (0x014A), a CFA or LinearRaw photometric interpretation, a
 * vendor raw compression (Nikon 34713, Sony 32767, Pentax 65535), or Sony's
 * SR2Private (0x7200) or DNGPrivateData (0xC634): an ordinary TIFF saved by
 * such a camera or a scanner of the same maker stays a TIFF. */
SniffMedia sniff_media_raw(const void *head, size_t len);

/* "heic", "heif", "avif", "jxl", "cr2", ... ; "none" for SNIFF_MEDIA_NONE;
 * NULL out of range. */
const char *sniff_media_name(SniffMedia m);
