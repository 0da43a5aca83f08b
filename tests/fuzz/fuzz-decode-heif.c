/* fuzz-decode-heif.c - decode-heif over arbitrary bytes from memory: header,
 * choice, decode, and the pixels' last byte read (so ASan sees a short
 * buffer). Built as a libFuzzer target by scripts/fuzz, and as a plain
 * program (with replay.c) for make check. */
#include "build-config.h"

#include <stdint.h>
#include <stdlib.h>

#include "decode-heif.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        DecodeHeif *h = NULL;
        HeifPixels p = {};
        char *reason = NULL;
        unsigned w, ht, cw, ch;
        bool thumb;

        /* max_side bounds what a fuzzer input may make libheif allocate. */
        if (decode_heif_open_memory(data, size, 2048, &h, &reason) == 0) {
                decode_heif_primary_size(h, &w, &ht);
                decode_heif_choice(h, 8, 8, &cw, &ch, &thumb);
                if (w == 0 || ht == 0 || cw == 0 || ch == 0)
                        abort();
                if (decode_heif_decode(h, 8, 8, &p, &reason) == 0) {
                        volatile uint8_t last;

                        if (!p.pixels || p.width == 0 || p.height == 0 || (p.channels != 3 && p.channels != 4))
                                abort();
                        last = p.pixels[(size_t) p.width * p.height * p.channels - 1];
                        (void) last;
                        heif_pixels_done(&p);
                }
        }
        decode_heif_free(h);
        free(reason);
        return 0;
}
