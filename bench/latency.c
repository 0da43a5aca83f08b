/* latency.c - the live daemon's latency: drops a copy of IMAGE into DROP,
 * one file at a time, and times from the file's close to the rename of its
 * thumbnail into OUT (seen with inotify), COUNT times.
 * Usage: latency IMAGE DROP OUT COUNT [SUFFIX]   (SUFFIX: _thumbnail.jpg)
 * Prints: p50 p99 max mean, in milliseconds. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec * 1e3 + (double) ts.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b) {
        double x = *(const double *) a, y = *(const double *) b;
        return x < y ? -1 : x > y;
}

/* Waits up to 30 s for NAME to be renamed or written into the watched folder. */
static int wait_name(int ino, const char *name) {
        char buf[64 * 1024] __attribute__((aligned(__alignof__(struct inotify_event))));
        double deadline = now_ms() + 30000;

        for (;;) {
                struct pollfd p = { .fd = ino, .events = POLLIN };
                double left = deadline - now_ms();
                ssize_t n;

                if (left <= 0 || poll(&p, 1, (int) left) <= 0)
                        return -ETIMEDOUT;
                n = read(ino, buf, sizeof buf);
                if (n <= 0)
                        return -errno;
                for (char *q = buf; q < buf + n;) {
                        struct inotify_event *e = (struct inotify_event *) q;

                        if (e->len > 0 && strcmp(e->name, name) == 0)
                                return 0;
                        q += sizeof *e + e->len;
                }
        }
}

int main(int argc, char **argv) {
        const char *suffix = argc > 5 ? argv[5] : "_thumbnail.jpg";
        double *ms, sum = 0;
        char *data;
        struct stat st;
        int fd, ino, count;

        if (argc < 5 || (count = atoi(argv[4])) <= 0) {
                fprintf(stderr, "usage: latency IMAGE DROP OUT COUNT [SUFFIX]\n");
                return 2;
        }
        fd = open(argv[1], O_RDONLY);
        if (fd < 0 || fstat(fd, &st) < 0 || !(data = malloc((size_t) st.st_size)) ||
            read(fd, data, (size_t) st.st_size) != st.st_size) {
                perror(argv[1]);
                return 1;
        }
        close(fd);
        ms = calloc((size_t) count, sizeof *ms);
        ino = inotify_init1(IN_CLOEXEC);
        if (!ms || ino < 0 || inotify_add_watch(ino, argv[3], IN_MOVED_TO | IN_CLOSE_WRITE) < 0) {
                perror(argv[3]);
                return 1;
        }
        for (int i = 0; i < count; i++) {
                char path[4096], thumb[256];
                double t0;

                snprintf(path, sizeof path, "%s/lat-%05d.jpg", argv[2], i);
                snprintf(thumb, sizeof thumb, "lat-%05d%s", i, suffix);
                fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
                if (fd < 0 || write(fd, data, (size_t) st.st_size) != st.st_size) {
                        perror(path);
                        return 1;
                }
                close(fd);
                t0 = now_ms();
                if (wait_name(ino, thumb) < 0) {
                        fprintf(stderr, "latency: no %s within 30 s\n", thumb);
                        return 1;
                }
                ms[i] = now_ms() - t0;
                sum += ms[i];
        }
        qsort(ms, (size_t) count, sizeof *ms, cmp);
        printf("%.1f %.1f %.1f %.1f\n", ms[(count - 1) / 2], ms[(int) ((count - 1) * 0.99 + 0.5)], ms[count - 1],
               sum / count);
        return 0;
}
