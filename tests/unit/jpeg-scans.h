/* jpeg-scans.h - for unit tests that cut progressive JPEGs at a scan. */
#pragma once

#include <stdio.h>

/* The offset of the n-th (from 1) start-of-scan marker of the JPEG at path, or -1. */
static inline long nth_scan(const char *path, int n) {
        FILE *f = fopen(path, "rb");
        int c, prev = 0;
        long off = -1;

        while (f && (c = getc(f)) != EOF) {
                if (prev == 0xff && c == 0xda && --n == 0) {
                        off = ftell(f) - 2;
                        break;
                }
                prev = c;
        }
        if (f)
                (void) fclose(f);
        return off;
}
