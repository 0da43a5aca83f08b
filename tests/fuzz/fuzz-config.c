/* fuzz-config.c - the config parser on arbitrary bytes: load, validate,
 * print, free. Built as a libFuzzer target by scripts/fuzz, and as a plain
 * program (with replay.c) that make check runs over the seed corpus. */
#include "build-config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config-file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        ThumbwatchConfig *c = NULL;
        char path[64], *msg = NULL;
        FILE *devnull;
        int fd;

        fd = memfd_create("thumbwatch-fuzz-config", MFD_CLOEXEC);
        if (fd < 0 || write(fd, data, size) != (ssize_t) size) {
                if (fd >= 0)
                        close(fd);
                return 0;
        }
        (void) snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        if (config_new(&c) == 0) {
                if (config_load(c, path, &msg) == 0 && config_validate(c, &msg) == 0) {
                        devnull = fopen("/dev/null", "w");
                        if (devnull) {
                                config_print(c, devnull);
                                fclose(devnull);
                        }
                }
                free(msg);
                config_free(c);
        }
        close(fd);
        return 0;
}
