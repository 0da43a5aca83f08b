/* image-format.h - the image formats thumbwatch knows, one row each: names,
 * extensions, magic bytes, GraphicsMagick coder, MIME type, whether
 * thumbnails may be written in it, and how to tell a file cut short. Every
 * list and message about formats is made from the table. No GraphicsMagick,
 * no state: thread-safe. Adding a format is one row in image-format.c, its
 * bit below (THUMBNAIL_ALL_FORMATS grows by it; a static assertion checks),
 * and its decoder: GraphicsMagick's coder, or a module of ours (HEIF, AVIF
 * and RAW: decode-heif, decode-raw, called from thumbnail.c). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A format's bit, in the formats allowed (formats =) and the output format
 * (format =). The values are stored in state fingerprints: never renumber. */
enum {
        THUMBNAIL_JPEG = 1 << 0,
        THUMBNAIL_PNG = 1 << 1,
        THUMBNAIL_GIF = 1 << 2,
        THUMBNAIL_WEBP = 1 << 3,
        THUMBNAIL_TIFF = 1 << 4,
        THUMBNAIL_BMP = 1 << 5,
        THUMBNAIL_HEIC = 1 << 6,        /* HEIC and HEIF */
        THUMBNAIL_AVIF = 1 << 7,
        THUMBNAIL_JXL = 1 << 8,
        THUMBNAIL_RAW = 1 << 9,         /* camera RAW, through its embedded preview */
        THUMBNAIL_ALL_FORMATS = (1 << 10) - 1,
};

#define IMAGE_FORMAT_ALIASES_MAX 2
#define IMAGE_FORMAT_EXTENSIONS_MAX 7
#define IMAGE_FORMAT_MAGICS_MAX 4

/* Bytes a file of the format has at offset: bytes[i] counts where mask is
 * NULL or mask[i] is 'x' (WebP is "RIFF", any length, "WEBP"). */
typedef struct ImageMagic {
        size_t offset;
        const char *bytes;
        size_t len;                     /* 0: the end of the row's list */
        const char *mask;
} ImageMagic;

typedef struct ImageFormat {
        unsigned bit;                   /* THUMBNAIL_* */
        const char *name;               /* in formats = and format =, and what messages call it */
        const char *aliases[IMAGE_FORMAT_ALIASES_MAX];                /* also accepted; NULL-padded */
        const char *extensions[IMAGE_FORMAT_EXTENSIONS_MAX];          /* with the dot; the first is a
                                                                       * thumbnail's in this format */
        ImageMagic magics[IMAGE_FORMAT_MAGICS_MAX];                   /* any one identifies the format */
        /* Bytes that need more than a fixed string to recognise (sniff-media.h): true when the
         * first len bytes are of the format. Tried besides the magics. */
        bool (*sniff)(const unsigned char *head, size_t len);
        bool sniff_first;               /* tried before every other row: these files would also
                                         * match a later row's magic (a RAW is a TIFF) */
        const char *coder;              /* GraphicsMagick's name for its decoder and encoder; NULL:
                                         * never handed to GraphicsMagick, decoded by a module of ours */
        unsigned written_as;            /* 0, or the output format (THUMBNAIL_*) that format = same
                                         * writes its thumbnails in: GraphicsMagick cannot write it */
        const char *mime_type;
        bool output;                    /* thumbnails may be written in it (format =) */
        bool alpha;                     /* output formats: it keeps transparency; else thumbnails are
                                         * flattened on the background */
        /* Does a file of size bytes end before its image does? head: its
         * first 12 bytes; tail: its last n bytes (n >= 1). NULL: never said. */
        bool (*truncated)(const unsigned char *head, const unsigned char *tail, size_t n, uint64_t size);
} ImageFormat;

/* The rows, in the order every list gives them: i from 0 while non-NULL. */
const ImageFormat *image_format_at(size_t i);

/* The row of a bit, or NULL. */
const ImageFormat *image_format_from_bit(unsigned bit);

/* The row whose name or alias is name (any case), or NULL. */
const ImageFormat *image_format_from_name(const char *name);

/* The row with this extension (with its dot, any case), or NULL. */
const ImageFormat *image_format_from_extension(const char *ext);

/* The extension (with its dot) of a thumbnail written in the output format
 * bit; NULL when bit is not an output format. */
const char *image_format_extension(unsigned bit);

/* How many leading bytes image_format_sniff() looks at, at most. */
#define IMAGE_FORMAT_HEAD_SIZE 4096

/* The row whose magic bytes (or sniff function) the first len bytes of a
 * file match, or NULL: the sniff_first rows first, then the others in table
 * order. */
const ImageFormat *image_format_sniff(const unsigned char *head, size_t len);

/* The output format format = same writes a thumbnail of a source in: the
 * source's own (f->bit), or f->written_as. */
unsigned image_format_written_as(const ImageFormat *f);

/* The extension a thumbnail named from a source with the extension ext
 * (with its dot) gets after it, when format = same: ".jpg" for ".heic", since
 * such thumbnails are written as JPEG; "" for the others. */
const char *image_format_same_suffix(const char *ext);

/* What a file that matched no row is, when its first bytes say
 * something useful for a message ("a Canon CR3 RAW", "an ISO media file of
 * brand 'isom', not HEIF or AVIF"), into buf; false when nothing is known. */
bool image_format_describe_unknown(const unsigned char *head, size_t len, char *buf, size_t size);

/* Does the file fd (size bytes, of format f) end before its image does?
 * Reads the file with pread(), so its offset does not matter. A file that
 * cannot be read is truncated. */
bool image_format_looks_truncated(const ImageFormat *f, int fd, uint64_t size);

typedef enum ImageFormatList {
        IMAGE_FORMAT_LIST_NAMES,        /* "jpeg png gif webp tiff bmp heic avif jxl raw" */
        IMAGE_FORMAT_LIST_OUTPUTS,      /* "jpeg, png or webp" */
        IMAGE_FORMAT_LIST_EXTENSIONS,   /* ".jpg .jpeg ... .bmp .heic ... .pef" */
} ImageFormatList;

/* Writes a list made from the table into buf, as snprintf() does (cut
 * short to size, always terminated when size > 0). Returns the length of the
 * whole list. */
size_t image_format_list(ImageFormatList which, char *buf, size_t size);
