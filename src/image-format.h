/* image-format.h - the image formats thumbwatch knows, one row each: names,
 * extensions, magic bytes, GraphicsMagick coder, MIME type, whether
 * thumbnails may be written in it, and how to tell a file cut short. Every
 * list and message about formats is made from the table. No GraphicsMagick,
 * no state: thread-safe. Adding a format is one row in image-format.c, its
 * bit below (THUMBNAIL_ALL_FORMATS grows by it; a static assertion checks),
 * and its decoder in GraphicsMagick. */
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
        THUMBNAIL_ALL_FORMATS = (1 << 6) - 1,
};

#define IMAGE_FORMAT_ALIASES_MAX 2
#define IMAGE_FORMAT_EXTENSIONS_MAX 3
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
        const char *coder;              /* GraphicsMagick's name for its decoder and encoder */
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

/* The row whose magic bytes the first len bytes of a file match, or NULL. */
const ImageFormat *image_format_sniff(const unsigned char *head, size_t len);

/* Does the file fd (size bytes, of format f) end before its image does?
 * Reads the file with pread(), so its offset does not matter. A file that
 * cannot be read is truncated. */
bool image_format_looks_truncated(const ImageFormat *f, int fd, uint64_t size);

typedef enum ImageFormatList {
        IMAGE_FORMAT_LIST_NAMES,        /* "jpeg png gif webp tiff bmp" */
        IMAGE_FORMAT_LIST_OUTPUTS,      /* "jpeg, png or webp" */
        IMAGE_FORMAT_LIST_EXTENSIONS,   /* ".jpg .jpeg .png .gif .webp .tif .tiff .bmp" */
} ImageFormatList;

/* Writes a list made from the table into buf, as snprintf() does (cut
 * short to size, always terminated when size > 0). Returns the length of the
 * whole list. */
size_t image_format_list(ImageFormatList which, char *buf, size_t size);
