/* fuzz-decode-jpeg.c - decode-jpeg's DC-scan decode over arbitrary bytes,
 * read through a FILE as thumbnail.c reads a source; on success the last
 * pixel and the last byte of the profile are read (so ASan sees a short
 * buffer). Built as a libFuzzer target by scripts/fuzz, and as a plain
 * program (with replay.c) for make check. */
#include "build-config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "decode-jpeg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        DecodeJpeg d = {};
        char *reason = NULL;
        FILE *f;

        if (size == 0)          /* fmemopen() refuses an empty buffer */
                return 0;
        /* Read only ("rb"): the const is kept in fact. */
        f = fmemopen((void *) (uintptr_t) data, size, "rb");
        if (!f)
                return 0;
        if (decode_jpeg_dc(f, &d, &reason) == 0) {
                volatile uint8_t last;

                if (!d.pixels || d.width == 0 || d.height == 0 || (d.channels != 1 && d.channels != 3) ||
                    (d.icc && d.icc_size == 0))
                        abort();
                last = d.pixels[(size_t) d.width * d.height * d.channels - 1];
                if (d.icc)
                        last = d.icc[d.icc_size - 1];
                (void) last;
                decode_jpeg_done(&d);
        }
        (void) fclose(f);
        free(reason);
        return 0;
}
