/* fuzz-decode-raw.c - decode-raw over arbitrary bytes from memory: header,
 * info, preview, and the preview's last byte read (so ASan sees a short
 * buffer). Built as a libFuzzer target by scripts/fuzz, and as a plain
 * program (with replay.c) for make check. */
#include "build-config.h"

#include <stdint.h>
#include <stdlib.h>

#include "decode-raw.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        DecodeRaw *r = NULL;
        RawPreview p = {};
        RawInfo info;
        char *reason = NULL;

        if (decode_raw_open_memory(data, size, 0, &r, &reason) == 0) {
                decode_raw_info(r, &info);
                if (info.orientation < 1 || info.orientation > 8)
                        abort();
                if (decode_raw_preview(r, &p, &reason) == 0) {
                        volatile uint8_t last;

                        if (!p.data || p.size == 0 ||
                            (p.format == RAW_PREVIEW_RGB && p.size != (size_t) p.width * p.height * 3))
                                abort();
                        last = p.data[p.size - 1];
                        (void) last;
                        raw_preview_done(&p);
                }
        }
        decode_raw_free(r);
        free(reason);
        return 0;
}
