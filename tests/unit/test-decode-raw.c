/* test-decode-raw.c - libraw behind decode-raw.h, on DNGs written at test time
 * by make-dng.py (a JPEG preview from gm in IFD0, a 64x64 CFA image in its
 * SubIFD), and on files libraw must refuse. Skipped, with the reason, when
 * python3 or gm is missing. */
#include "build-config.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "decode-raw.h"
#include "sniff-media.h"
#include "tap.h"

static char dir[] = "/tmp/test-decode-raw.XXXXXX";

/* dir/name, in a buffer of the calling thread's own (the tests run threads). */
static const char *path(const char *name) {
        static __thread char buf[4][256];
        static __thread int i;

        i = (i + 1) % 4;
        (void) snprintf(buf[i], sizeof buf[i], "%s/%s", dir, name);
        return buf[i];
}

/* The bytes of the file at file, or NULL; *ret_size its size. */
static uint8_t *slurp_file(const char *file, size_t *ret_size) {
        FILE *f = fopen(file, "rb");
        uint8_t *data = NULL;
        struct stat st;

        if (f && fstat(fileno(f), &st) == 0 && (data = malloc((size_t) st.st_size + 1)) &&
            fread(data, 1, (size_t) st.st_size, f) == (size_t) st.st_size)
                *ret_size = (size_t) st.st_size;
        else {
                free(data);
                data = NULL;
        }
        if (f)
                fclose(f);
        return data;
}

/* The bytes of dir/name, or NULL. */
static uint8_t *slurp(const char *name, size_t *ret_size) {
        return slurp_file(path(name), ret_size);
}

/* This process's children (its libraw processes) but skip, from every
 * thread's /proc/self/task/TID/children: how many, the first in *ret_pid. */
static int children_but(pid_t skip, pid_t *ret_pid) {
        DIR *d = opendir("/proc/self/task");
        struct dirent *e;
        int n = 0;

        if (!d)
                return -1;
        while ((e = readdir(d))) {
                char file[300];
                FILE *f;
                long pid;

                if (e->d_name[0] == '.')
                        continue;
                (void) snprintf(file, sizeof file, "/proc/self/task/%s/children", e->d_name);
                f = fopen(file, "r");
                while (f && fscanf(f, "%ld", &pid) == 1)
                        if ((pid_t) pid != skip && n++ == 0 && ret_pid)
                                *ret_pid = (pid_t) pid;
                if (f)
                        fclose(f);
        }
        closedir(d);
        return n;
}

static int children(pid_t *ret_pid) {
        return children_but(0, ret_pid);
}

/* No child has ended without being reaped (no zombie). */
static bool no_zombie(void) {
        siginfo_t si = {};

        return waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) < 0 ? errno == ECHILD : si.si_pid == 0;
}

/* Opens name: 0 and *ret, or -errno (the reason printed as a TAP comment). */
static int open_name(const char *name, uint64_t max_file_size, DecodeRaw **ret) {
        char *reason = NULL;
        int fd = open(path(name), O_RDONLY | O_CLOEXEC), r;

        if (fd < 0)
                return -errno;
        r = decode_raw_open_fd(fd, max_file_size, 0, NULL, ret, &reason);
        if (r < 0)
                printf("# %s: %s\n", name, reason ? reason : "(no reason)");
        free(reason);
        close(fd);             /* libraw keeps its own descriptor through /proc/self/fd */
        return r;
}

static void test_preview(void) {
        DecodeRaw *r = NULL;
        RawInfo info;
        RawPreview p = {};
        char *reason = NULL;
        uint8_t *jpeg, *dng;
        size_t jpeg_size = 0, dng_size = 0;

        jpeg = slurp("preview.jpg", &jpeg_size);
        dng = slurp("rot6.dng", &dng_size);
        ok(dng && sniff_media_raw(dng, dng_size < 4096 ? dng_size : 4096) == SNIFF_MEDIA_DNG,
           "sniff-media says DNG");
        is_int(open_name("rot6.dng", 0, &r), 0, "open a DNG with a preview");
        if (!r)
                return;
        decode_raw_info(r, &info);
        ok(info.width == 64 && info.height == 64, "sensor size 64x64 from the header");
        ok(info.preview_width == 320 && info.preview_height == 240, "preview size 320x240 before unpacking");
        is_int(info.orientation, 6, "Orientation 6 (90 CW) from the RAW");
        is_str(info.make, "Thumbwatch", "make");
        is_int(decode_raw_preview(r, &p, &reason), 0, "unpack the preview");
        ok(p.format == RAW_PREVIEW_JPEG && p.width == 320 && p.height == 240, "a 320x240 JPEG");
        ok(jpeg && p.size == jpeg_size && memcmp(p.data, jpeg, jpeg_size) == 0, "the JPEG's bytes, unchanged");
        is_int(p.orientation, 6, "the preview carries the RAW's orientation");
        raw_preview_done(&p);
        ok(!p.data && p.size == 0, "raw_preview_done() zeroes");
        raw_preview_done(&p);
        r = decode_raw_free(r);

        is_int(decode_raw_open_memory(dng, dng_size, 0, &r, &reason), 0, "open from memory");
        is_int(r ? decode_raw_preview(r, &p, &reason) : -1, 0, "preview from memory");
        ok(p.size == jpeg_size, "from memory: the same JPEG");
        raw_preview_done(&p);
        r = decode_raw_free(r);

        is_int(open_name("rot8.dng", 0, &r), 0, "open a DNG with Orientation 8");
        if (r) {
                decode_raw_info(r, &info);
                is_int(info.orientation, 8, "Orientation 8 (90 CCW)");
                r = decode_raw_free(r);
        }
        is_int(open_name("bitmap.dng", 0, &r), 0, "open a DNG with an RGB bitmap preview");
        if (r) {
                is_int(decode_raw_preview(r, &p, &reason), 0, "unpack the bitmap preview");
                ok(p.format == RAW_PREVIEW_RGB && p.width == 160 && p.height == 120 && p.size == 160 * 120 * 3,
                   "a 160x120 packed RGB bitmap");
                ok(p.data && p.data[0] == 255 && p.data[2] == 0 && p.data[p.size - 3] == 0 && p.data[p.size - 1] == 255,
                   "red at the top left, blue at the bottom right");
                raw_preview_done(&p);
                r = decode_raw_free(r);
        }
        free(jpeg);
        free(dng);
}

static void test_errors(void) {
        DecodeRaw *r = NULL;
        RawPreview p = {};
        char *reason = NULL;
        int fd;

        is_int(open_name("nopreview.dng", 0, &r), 0, "open a DNG without a preview");
        if (r) {
                is_int(decode_raw_preview(r, &p, &reason), -ENOENT, "no preview: -ENOENT");
                ok(reason && strstr(reason, "no embedded preview"), "reason says so");
                free(reason);
                reason = NULL;
                r = decode_raw_free(r);
        }
        /* libraw reads a preview 16 KiB past the end of the file without an
         * error: a cut that short shows as a JPEG without its end (here made
         * with a preview cut before it went in, so no byte is left unread). */
        is_int(open_name("noeoi.dng", 0, &r), 0, "a DNG whose preview has no end still opens");
        if (r) {
                is_int(decode_raw_preview(r, &p, &reason), -ENODATA, "a preview without EOI: -ENODATA");
                free(reason);
                reason = NULL;
                r = decode_raw_free(r);
        }
        is_int(open_name("cut.dng", 0, &r), 0, "a DNG cut 100 KiB into its preview still opens");
        if (r) {
                is_int(decode_raw_preview(r, &p, &reason), -ENODATA, "cut inside the preview: -ENODATA");
                free(reason);
                reason = NULL;
                r = decode_raw_free(r);
        }
        /* Cut inside the preview's header: libraw calls it a preview of an unknown
         * format; the JPEG start without an end says the file is cut. */
        is_int(open_name("cuthead.dng", 0, &r), 0, "a DNG cut 200 bytes into its preview still opens");
        if (r) {
                is_int(decode_raw_preview(r, &p, &reason), -ENODATA, "cut inside the preview's header: -ENODATA");
                free(reason);
                reason = NULL;
                r = decode_raw_free(r);
        }
        is_int(open_name("big.dng", 0, &r), 0, "a DNG with a large preview opens");
        if (r) {
                is_int(decode_raw_preview(r, &p, &reason), 0, "... and its preview unpacks");
                ok(p.width == 1600 && p.height == 1200 && p.size > 200000, "a 1600x1200 preview");
                raw_preview_done(&p);
                r = decode_raw_free(r);
        }
        is_int(open_name("plain.tif", 0, &r), -EBADMSG, "a plain RGB TIFF: -EBADMSG");
        is_int(open_name("preview.jpg", 0, &r), -EBADMSG, "a JPEG: -EBADMSG");
        is_int(open_name("garbage.dng", 0, &r), -EBADMSG, "garbage: -EBADMSG");
        is_int(open_name("empty.dng", 0, &r), -EBADMSG, "empty: -EBADMSG");
        is_int(open_name("rot6.dng", 1000, &r), -EFBIG, "max_file_size: -EFBIG");
        ok(!r, "no object on failure");
        fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        is_int(decode_raw_open_fd(fd, 0, 0, NULL, &r, &reason), -EBADMSG, "a directory: -EBADMSG");
        free(reason);
        reason = NULL;
        close(fd);
        is_int(decode_raw_open_memory(NULL, 0, 0, &r, &reason), -EBADMSG, "no bytes: -EBADMSG");
        free(reason);
        ok(decode_raw_free(NULL) == NULL, "decode_raw_free(NULL)");
}

static void test_flip(void) {
        /* dcraw: flip = "50132467"[orientation & 7]; the inverse, for every orientation. */
        static const char dcraw[] = "50132467";
        bool all = true;

        for (int o = 1; o <= 8; o++)
                all = all && decode_raw_flip_to_orientation(dcraw[o & 7] - '0') == o;
        ok(all, "flip to orientation inverts dcraw's table for 1-8");
        is_int(decode_raw_flip_to_orientation(-1), 1, "unknown flip: 1");
        is_int(decode_raw_flip_to_orientation(90), 1, "out of range flip: 1");
}

/* The preview's size and first bytes of name as one number, or 0 on failure. */
static uint64_t preview_sum(const char *name) {
        DecodeRaw *r = NULL;
        RawPreview p = {};
        char *reason = NULL;
        uint64_t sum = 0;

        if (open_name(name, 0, &r) == 0 && decode_raw_preview(r, &p, &reason) == 0) {
                sum = p.size;
                for (size_t i = 0; i < p.size; i++)
                        sum = sum * 31 + p.data[i];
                raw_preview_done(&p);
        }
        free(reason);
        decode_raw_free(r);
        return sum;
}

static uint64_t want_sum[2];

static void *preview_thread(void *arg) {
        uintptr_t bad = 0;

        (void) arg;
        for (int i = 0; i < 8; i++)
                bad += preview_sum("big.dng") != want_sum[0] || preview_sum("bitmap.dng") != want_sum[1];
        return (void *) bad;
}

/* The thread contract: separate DecodeRaw objects (libraw_r) work at once, alike. */
static void test_threads(void) {
        uintptr_t bad;
        int before;

        want_sum[0] = preview_sum("big.dng");
        want_sum[1] = preview_sum("bitmap.dng");
        before = children(NULL);
        bad = tap_threads(4, preview_thread);
        ok(want_sum[0] && want_sum[1] && bad == 0, "4 threads x 8 rounds unpack the same previews as one");
        ok(children(NULL) == before && no_zombie(), "each thread's libraw process ended with it, reaped");
}

/* decode-raw over a fuzzer's input from tests/fuzz/decode-raw, from
 * memory: the open's result, or the preview's when the open succeeded (the
 * reason printed); 1 when the input is missing. */
static int decode_fuzz_input(const char *top, const char *name) {
        DecodeRaw *r = NULL;
        RawPreview p = {};
        char file[512], *reason = NULL;
        uint8_t *data;
        size_t size = 0;
        int k;

        (void) snprintf(file, sizeof file, "%s/tests/fuzz/decode-raw/%s", top, name);
        data = slurp_file(file, &size);
        if (!data)
                return 1;
        k = decode_raw_open_memory(data, size, 0, &r, &reason);
        if (k == 0)
                k = decode_raw_preview(r, &p, &reason);
        printf("# %s\n", reason ? reason : "no reason");
        raw_preview_done(&p);
        decode_raw_free(r);
        free(reason);
        free(data);
        return k;
}

#ifdef THUMBWATCH_TEST_HOOKS
/* Kills this process's libraw process (SIGKILL, from outside) (intptr_t) arg
 * times, each once it has one (hanging on the hook); killing once, it unsets
 * the hook first, so that the next one does not hang. */
static void *kill_helper_later(void *arg) {
        pid_t last = 0;

        for (intptr_t i = 0; i < (intptr_t) arg; i++) {
                pid_t pid = 0;

                /* A process started since the last kill (that one may be a zombie). */
                for (int tries = 0; tries < 2000 && children_but(last, &pid) < 1; tries++)
                        (void) usleep(5000);
                (void) usleep(50000);   /* it has the request: it hangs on it */
                if ((intptr_t) arg == 1)
                        (void) unsetenv("THUMBWATCH_TEST_RAW_CHILD");
                if (pid > 0)
                        (void) kill(pid, SIGKILL);
                last = pid;
        }
        return NULL;
}
#endif

#ifdef THUMBWATCH_TEST_HOOKS
/* Sends SIGTERM to this process's libraw process once it has one. */
static void *term_helper_later(void *arg) {
        pid_t pid = 0;

        (void) arg;
        for (int tries = 0; tries < 2000 && children(&pid) < 1; tries++)
                (void) usleep(5000);
        if (pid > 0)
                (void) kill(pid, SIGTERM);
        return NULL;
}
#endif

/* libraw runs in a process of its own: what it does to that process on a
 * hostile file (a crash, a hang, 3 GB asked for by a 16 KB file) costs that
 * file an error, not the caller. */
static void test_isolation(const char *top) {
#ifdef THUMBWATCH_TEST_HOOKS
        pthread_t killer;
#endif
        DecodeRaw *r = NULL;
        char *reason = NULL;
        struct rusage ru;
        int k;

        /* Found by scripts/fuzz: a SIGSEGV in libraw 0.20's parse_tiff_ifd() under
         * ASan (a wild read that an unsanitized build may survive). */
        k = decode_fuzz_input(top, "crash-cecb72ec423beb25df1775c3368e6103a81366d3");
        ok(k != 1, "the input libraw crashed on is there");
        ok(k < 0, "the input libraw crashed on is an error, not a crash of this process");
        ok(no_zombie() && children(NULL) <= 1, "... no process of it left but the one libraw process kept");

        /* Also found by scripts/fuzz: 16 KB that make libraw allocate 1.7 and
         * 1.3 GB (4 s, 2.5 GB of RSS in the daemon before). */
        k = decode_fuzz_input(top, "oom-c969aef78154ea12523cfd627ccf4cc5caff0d66");
        ok(k != 1, "the input libraw asks 3 GB for is there");
        ok(k == -ENOMEM || k == -ENOTRECOVERABLE, "3 GB asked for by 16 KB: -ENOMEM (or its process died of it)");
        k = getrusage(RUSAGE_CHILDREN, &ru);
        printf("# the largest libraw process so far: %ld MB\n", ru.ru_maxrss / 1024);
        ok(k == 0 && ru.ru_maxrss < 1024 * 1024, "no libraw process grew past 1 GB");
        ok(no_zombie() && children(NULL) == 0, "... and a libraw process that failed is not kept");

#ifdef THUMBWATCH_TEST_HOOKS
        (void) setenv("THUMBWATCH_TEST_RAW_CHILD", "crash", 1);
        is_int(open_name("rot6.dng", 0, &r), -ENOTRECOVERABLE, "libraw's process crashes: -ENOTRECOVERABLE");
        ok(!r && no_zombie() && children(NULL) == 0, "... no object, its process reaped");
        {
                int fd = open(path("rot6.dng"), O_RDONLY | O_CLOEXEC);

                is_int(decode_raw_open_fd(fd, 0, 0, NULL, &r, &reason), -ENOTRECOVERABLE, "again, for the reason");
                printf("# %s\n", reason ? reason : "no reason");
                ok(reason && strstr(reason, "crashed") && strstr(reason, "SIGSEGV"), "the reason names the crash");
                free(reason);
                reason = NULL;
                (void) setenv("THUMBWATCH_TEST_RAW_CHILD", "hang", 1);
                is_int(decode_raw_open_fd(fd, 0, 200000, NULL, &r, &reason), -ETIMEDOUT,
                       "libraw's process hangs: -ETIMEDOUT after the timeout");
                printf("# %s\n", reason ? reason : "no reason");
                ok(reason && strstr(reason, "timeout"), "the reason says so");
                ok(no_zombie() && children(NULL) == 0, "... the hung process was killed and reaped");
                free(reason);
                reason = NULL;
                /* SIGTERM is the daemon's (systemctl stop signals every process of
                 * the unit): libraw's process ignores it, and no file is blamed. */
                is_int(pthread_create(&killer, NULL, term_helper_later, NULL), 0, "a thread to SIGTERM it");
                is_int(decode_raw_open_fd(fd, 0, 500000, NULL, &r, &reason), -ETIMEDOUT,
                       "SIGTERM to libraw's process: ignored, still a timeout, not a crash");
                printf("# %s\n", reason ? reason : "no reason");
                (void) pthread_join(killer, NULL);
                free(reason);
                reason = NULL;
                close(fd);
        }
        /* SIGKILL from outside while a file is read: read again in a new
         * process; killed again, the file fails as too-large. */
        (void) setenv("THUMBWATCH_TEST_RAW_CHILD", "hang", 1);
        is_int(pthread_create(&killer, NULL, kill_helper_later, (void *) 1), 0, "a thread to kill it once");
        is_int(open_name("rot6.dng", 0, &r), 0, "libraw's process killed once while it reads: read again, opens");
        r = decode_raw_free(r);
        (void) pthread_join(killer, NULL);
        (void) setenv("THUMBWATCH_TEST_RAW_CHILD", "hang", 1);
        is_int(pthread_create(&killer, NULL, kill_helper_later, (void *) 2), 0, "a thread to kill it twice");
        {
                int fd = open(path("rot6.dng"), O_RDONLY | O_CLOEXEC);

                is_int(decode_raw_open_fd(fd, 0, 20000000, NULL, &r, &reason), -ENOMEM, "killed twice: -ENOMEM");
                printf("# %s\n", reason ? reason : "no reason");
                ok(reason && strstr(reason, "killed (SIGKILL) twice"), "the reason says so");
                free(reason);
                reason = NULL;
                close(fd);
        }
        (void) pthread_join(killer, NULL);
        (void) unsetenv("THUMBWATCH_TEST_RAW_CHILD");
        ok(no_zombie() && children(NULL) == 0, "... both reaped");
#else
        printf("# libraw's crash and hang: not tried in a build without --enable-test-hooks\n");
#endif
        {
                pid_t first = 0, second = 0;

                is_int(open_name("rot6.dng", 0, &r), 0, "a good file opens");
                r = decode_raw_free(r);
                is_int(children(&first), 1, "... its libraw process is kept");
                is_int(open_name("rot8.dng", 0, &r), 0, "the next file opens");
                r = decode_raw_free(r);
                ok(children(&second) == 1 && second == first, "... in the same process");
                /* kill -9 from outside between two files: the next file is not blamed. */
                (void) kill(first, SIGKILL);
                (void) waitpid(first, NULL, 0);
                is_int(open_name("rot6.dng", 0, &r), 0, "its process killed from outside: the next file opens");
                r = decode_raw_free(r);
                ok(children(&second) == 1 && second != first, "... in a new process");
        }
}

static bool make_files(void) {
        return system("set -e; cd \"$D\"; "
                      "gm convert -size 320x240 gradient:red-blue preview.jpg; "
                      "gm convert -size 64x64 gradient:red-blue plain.tif; "
                      "python3 \"$MAKE_DNG\" rot6.dng --preview preview.jpg --orientation 6; "
                      "python3 \"$MAKE_DNG\" rot8.dng --preview preview.jpg --orientation 8; "
                      "python3 \"$MAKE_DNG\" nopreview.dng; "
                      "python3 \"$MAKE_DNG\" bitmap.dng --bitmap 160x120; "
                      "head -c 1000 preview.jpg >noeoi.jpg; "
                      "python3 \"$MAKE_DNG\" noeoi.dng --preview noeoi.jpg; "
                      "gm convert -size 1600x1200 plasma:fractal -quality 95 big.jpg; "
                      "python3 \"$MAKE_DNG\" big.dng --preview big.jpg; "
                      "head -c 100000 big.dng >cut.dng; "
                      "python3 -c \"d = open('rot6.dng', 'rb').read(); "
                      "open('cuthead.dng', 'wb').write(d[:d.index(b'\\xff\\xd8\\xff') + 200])\"; "
                      "head -c 5000 /dev/urandom | tr -d '\\000' >garbage.dng; "
                      ": >empty.dng") == 0;
}

int main(void) {
        const char *top = getenv("TOP_SRCDIR");
        char script[512];

        (void) snprintf(script, sizeof script, "%s/tests/unit/make-dng.py", top ? top : ".");
        if (system("command -v python3 >/dev/null && command -v gm >/dev/null") != 0 || access(script, R_OK) < 0) {
                printf("1..0 # SKIP python3, gm (graphicsmagick) or %s is missing\n", script);
                return 0;
        }
        if (!mkdtemp(dir) || setenv("D", dir, 1) < 0 || setenv("MAKE_DNG", script, 1) < 0 || !make_files()) {
                printf("Bail out! cannot make the test files in %s\n", dir);
                return 1;
        }
        test_preview();
        test_errors();
        test_flip();
        test_threads();
        test_isolation(top ? top : ".");
        (void) system("rm -rf \"$D\"");
        return done_testing();
}
