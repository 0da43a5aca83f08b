/* fuzz-naming.c - the name template and path logic on arbitrary bytes: the
 * input is TEMPLATE \0 NAME \0 EXT. Built as a libFuzzer target by
 * scripts/fuzz, and as a plain program (with replay.c) for make check. */
#include "build-config.h"

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "naming.h"
#include "output-tree.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char *buf = malloc(size + 3), *tmpl, *name, *ext, *out = NULL, *src = NULL;
        const char *reason;

        if (!buf)
                return 0;
        memcpy(buf, data, size);
        buf[size] = buf[size + 1] = buf[size + 2] = '\0';
        tmpl = buf;
        name = tmpl + strlen(tmpl) + 1;
        ext = name + strlen(name) + 1;

        /* Names come from readdir(): never empty, never with a '/'. */
        if (name[0] == '\0' || strchr(name, '/')) {
                free(buf);
                return 0;
        }
        (void) naming_is_image(name);
        (void) naming_is_temporary(name);
        (void) naming_is_own_temporary(name);
        (void) naming_extension(name);
        if (naming_check_template(tmpl, true, &reason) == 0 || naming_check_template(tmpl, false, &reason) == 0) {
                if (naming_expand_ext(tmpl, name, *ext ? ext : NULL, 128, 96, &out) == 0) {
                        /* The contract: never longer than a file name may be, never empty. */
                        if (strlen(out) > NAMING_NAME_MAX || out[0] == '\0')
                                abort();
                }
                if (asprintf(&src, "/src/a/%s", name) >= 0) {
                        static char source[] = "/src", output[] = "/out";
                        DropConfig d = { .source = source, .output = output, .name_template = tmpl,
                                         .sizes = { { 1, 1, THUMBNAIL_FIT } }, .n_sizes = 1 };
                        Outputs o;

                        if (outputs_init(&o, &d, src) == 0) {
                                /* A thumbnail outside its mirror folder, or one named after a folder. */
                                if (strncmp(o.path[0], "/out/a/", 7) != 0 || strcmp(o.dir[0], "a") != 0 ||
                                    strchr(o.file[0], '/') || strcmp(o.file[0], ".") == 0 || strcmp(o.file[0], "..") == 0)
                                        abort();
                                outputs_done(&o);
                        }
                }
        }
        free(src);
        free(out);
        free(buf);
        return 0;
}
