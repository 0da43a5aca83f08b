/* colour.c - what colour management costs a thumbnail: converting W x H
 * pixels from each ICC profile given to sRGB with src/colour.c, with the
 * transform cached (as thumbwatch runs) and made anew for each thumbnail
 * (what a conversion without the cache costs, as GraphicsMagick's
 * ProfileImage does). Prints milliseconds per thumbnail.
 * Build (from the top of the tree, after configure in BUILD):
 *   cc -O2 -I BUILD -I src -o colour bench/colour.c src/colour.c src/message.c -llcms2 -lpthread
 * Usage: colour WIDTH HEIGHT PROFILE... */
#include "build-config.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "colour.h"

static double now_ms(void) {
        struct timespec t;

        clock_gettime(CLOCK_MONOTONIC, &t);
        return (double) t.tv_sec * 1e3 + (double) t.tv_nsec / 1e6;
}

static void *slurp(const char *path, size_t *ret_len) {
        FILE *f = fopen(path, "rb");
        char *buf = NULL;
        long n;

        if (!f || fseek(f, 0, SEEK_END) < 0 || (n = ftell(f)) <= 0 || fseek(f, 0, SEEK_SET) < 0 ||
            !(buf = malloc((size_t) n)) || fread(buf, 1, (size_t) n, f) != (size_t) n) {
                fprintf(stderr, "colour: cannot read '%s'\n", path);
                exit(1);
        }
        fclose(f);
        *ret_len = (size_t) n;
        return buf;
}

int main(int argc, char **argv) {
        size_t w, h, n;
        uint16_t *in, *out;

        if (argc < 4) {
                fprintf(stderr, "usage: colour WIDTH HEIGHT PROFILE...\n");
                return 1;
        }
        w = strtoul(argv[1], NULL, 10);
        h = strtoul(argv[2], NULL, 10);
        n = w * h;
        in = malloc(n * 4 * sizeof *in);
        out = malloc(n * 3 * sizeof *out);
        if (!in || !out)
                return 1;
        for (size_t i = 0; i < n * 4; i++)
                in[i] = (uint16_t) (i * 2654435761u >> 16);
        printf("%-40s %10s %10s\n", "profile", "cached ms", "made ms");
        for (int a = 3; a < argc; a++) {
                size_t len;
                void *icc = slurp(argv[a], &len);
                ColourCache *c = NULL;
                ColourTransform *t = NULL;
                char *why = NULL;
                double start, cached, made;
                int rounds = 200, fresh = 20;

                if (colour_cache_new(1, &c) < 0 || colour_cache_get(c, icc, len, &t, &why) < 0) {
                        fprintf(stderr, "colour: '%s': %s\n", argv[a], why ? why : "out of memory");
                        return 1;
                }
                colour_transform_unref(t);
                start = now_ms();
                for (int i = 0; i < rounds; i++) {
                        colour_cache_get(c, icc, len, &t, &why);
                        colour_transform_apply(t, in, out, n);
                        colour_transform_unref(t);
                }
                cached = (now_ms() - start) / rounds;
                colour_cache_free(c);
                start = now_ms();
                for (int i = 0; i < fresh; i++) {
                        colour_cache_new(1, &c);
                        colour_cache_get(c, icc, len, &t, &why);
                        colour_transform_apply(t, in, out, n);
                        colour_transform_unref(t);
                        colour_cache_free(c);
                }
                made = (now_ms() - start) / fresh;
                printf("%-40s %10.3f %10.3f\n", argv[a], cached, made);
                free(icc);
        }
        free(in);
        free(out);
        return 0;
}
