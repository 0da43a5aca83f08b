/* replay.c - runs a fuzz target's LLVMFuzzerTestOneInput() over files, so
 * the seed corpus and every crash found become regression tests in make
 * check. Usage: fuzz-X-replay FILE... ; prints TAP. */
#include "build-config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int main(int argc, char *argv[]) {
        for (int i = 1; i < argc; i++) {
                FILE *f = fopen(argv[i], "rb");
                uint8_t *buf = malloc(1 << 20);
                size_t n = f && buf ? fread(buf, 1, 1 << 20, f) : 0;

                if (f)
                        fclose(f);
                (void) LLVMFuzzerTestOneInput(buf, n);
                printf("ok %d - %s\n", i, argv[i]);
                free(buf);
        }
        printf("1..%d\n", argc - 1);
        return 0;
}
