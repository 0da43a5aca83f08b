/* fuzz-sniff-media.c - the HEIF/AVIF, JPEG XL and RAW sniffers on arbitrary
 * bytes. The input is copied to a buffer of exactly its size, so ASan sees any
 * read past len. Built as a libFuzzer target by scripts/fuzz, and as a plain
 * program (with replay.c) for make check. */
#include "build-config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "image-format.h"
#include "sniff-media.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        uint8_t *buf = malloc(size ? size : 1);
        SniffMedia all, iso, jxl, raw;

        if (!buf)
                return 0;
        memcpy(buf, data, size);
        all = sniff_media(buf, size);
        iso = sniff_media_isobmff(buf, size);
        jxl = sniff_media_jxl(buf, size);
        raw = sniff_media_raw(buf, size);
        /* The contract: a kind in range with a name; sniff_media() is the first
         * family that answers (bytes can match two: "IIRS" is ORF and also the
         * size of an 'ftyp' box; regression-orf-and-ftyp). */
        if (!sniff_media_name(all) || all != (iso ? iso : jxl ? jxl : raw))
                abort();
        if (iso && iso != SNIFF_MEDIA_HEIC && iso != SNIFF_MEDIA_HEIF && iso != SNIFF_MEDIA_AVIF)
                abort();
        /* The format table on the same bytes: a HEIF or AVIF brand is its row
         * (the sniff_first rows go first), and what no row takes may be described. */
        {
                const ImageFormat *f = image_format_sniff(buf, size);
                char what[128];

                if ((iso == SNIFF_MEDIA_HEIC || iso == SNIFF_MEDIA_HEIF) && (!f || f->bit != THUMBNAIL_HEIC))
                        abort();
                if (iso == SNIFF_MEDIA_AVIF && (!f || f->bit != THUMBNAIL_AVIF))
                        abort();
                if (!f && image_format_describe_unknown(buf, size, what, sizeof what) && !memchr(what, '\0', sizeof what))
                        abort();
        }
        free(buf);
        return 0;
}
