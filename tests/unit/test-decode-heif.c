/* test-decode-heif.c - libheif behind decode-heif.h, on files made at test
 * time by heif-enc (libheif-examples) and avifenc (libavif-bin) from images
 * made by gm (graphicsmagick). Skipped, with the reason, when a tool is missing. */
#include "build-config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "decode-heif.h"
#include "tap.h"

static char dir[] = "/tmp/test-decode-heif.XXXXXX";

/* dir/name, in a buffer of the calling thread's own (the tests run threads). */
static const char *path(const char *name) {
        static __thread char buf[4][256];
        static __thread int i;

        i = (i + 1) % 4;
        (void) snprintf(buf[i], sizeof buf[i], "%s/%s", dir, name);
        return buf[i];
}

static bool have(const char *tool) {
        char cmd[256];

        (void) snprintf(cmd, sizeof cmd, "command -v %s >/dev/null 2>&1", tool);
        return system(cmd) == 0;
}

/* Opens name and decodes it for min_w x min_h: the return value, the pixels in *ret. */
static int open_decode(const char *name, unsigned min_w, unsigned min_h, HeifPixels *ret, unsigned *ret_pw,
                       unsigned *ret_ph, unsigned *ret_nthumb) {
        DecodeHeif *h = NULL;
        char *reason = NULL;
        int fd = open(path(name), O_RDONLY | O_CLOEXEC), r;

        if (fd < 0)
                return -errno;
        r = decode_heif_open_fd(fd, 0, 0, &h, &reason);
        if (r == 0) {
                decode_heif_primary_size(h, ret_pw, ret_ph);
                *ret_nthumb = decode_heif_n_thumbnails(h);
                r = decode_heif_decode(h, min_w, min_h, ret, &reason);
        }
        if (r < 0)
                printf("# %s: %s\n", name, reason ? reason : "(no reason)");
        free(reason);
        decode_heif_free(h);
        close(fd);
        return r;
}

static void test_heic(void) {
        HeifPixels p = {};
        unsigned pw = 0, ph = 0, nt = 9, cw, ch;
        bool thumb;
        DecodeHeif *h = NULL;
        char *reason = NULL;
        int fd;

        is_int(open_decode("plain.heic", 128, 128, &p, &pw, &ph, &nt), 0, "plain HEIC decodes");
        is_int(pw, 1200, "primary width from the header");
        is_int(ph, 800, "primary height from the header");
        is_int(nt, 0, "no thumbnail item");
        ok(!p.from_thumbnail && p.width == 1200 && p.height == 800 && p.channels == 3,
           "no thumbnail: the primary, 1200x800 RGB");
        ok(p.pixels && p.pixels[0] > 200 && p.pixels[2] < 60, "top-left pixel is red");
        heif_pixels_done(&p);
        ok(!p.pixels && !p.image_, "heif_pixels_done() zeroes");
        heif_pixels_done(&p);

        is_int(open_decode("thumb.heic", 128, 128, &p, &pw, &ph, &nt), 0, "HEIC with --thumb 320 decodes");
        is_int(nt, 1, "one thumbnail item");
        ok(p.from_thumbnail && p.width == 320 && p.height == 212, "128x128 wanted: the 320x212 item");
        is_int(p.width * p.channels * p.height, 320 * 3 * 212, "rows are packed");
        heif_pixels_done(&p);
        is_int(open_decode("thumb.heic", 320, 212, &p, &pw, &ph, &nt), 0, "exactly the item's size");
        ok(p.from_thumbnail, "320x212 wanted: the item, exactly large enough");
        heif_pixels_done(&p);
        is_int(open_decode("thumb.heic", 400, 266, &p, &pw, &ph, &nt), 0, "item too small");
        ok(!p.from_thumbnail && p.width == 1200, "400x266 wanted: the primary");
        heif_pixels_done(&p);

        fd = open(path("thumb.heic"), O_RDONLY | O_CLOEXEC);
        is_int(decode_heif_open_fd(fd, 0, 0, &h, &reason), 0, "open for decode_heif_choice()");
        decode_heif_choice(h, 256, 0, &cw, &ch, &thumb);
        ok(thumb && cw == 320 && ch == 212, "choice: the item for 256 wide");
        decode_heif_choice(h, 0, 213, &cw, &ch, &thumb);
        ok(!thumb && cw == 1200 && ch == 800, "choice: the primary for 213 high");
        h = decode_heif_free(h);
        close(fd);

        is_int(open_decode("alpha.heic", 100, 100, &p, &pw, &ph, &nt), 0, "HEIC with alpha decodes");
        ok(p.from_thumbnail && p.channels == 4 && p.width == 160, "alpha: RGBA from the 160-wide item");
        ok(p.pixels && p.pixels[3] > 100 && p.pixels[3] < 156, "alpha is about half");
        ok(!p.premultiplied, "heif-enc writes straight alpha");
        heif_pixels_done(&p);
}

static void test_avif(void) {
        HeifPixels p = {};
        unsigned pw, ph, nt;

        is_int(open_decode("plain.avif", 64, 64, &p, &pw, &ph, &nt), 0, "AVIF (avifenc) decodes");
        ok(p.width == 1200 && p.height == 800 && p.channels == 3, "AVIF: 1200x800 RGB");
        ok(p.color.has_nclx && p.color.primaries == 1 && p.color.transfer == 13, "AVIF: nclx BT.709 / sRGB");
        ok(!p.color.icc, "AVIF: no ICC profile");
        heif_pixels_done(&p);
        is_int(open_decode("deep.avif", 64, 64, &p, &pw, &ph, &nt), 0, "10-bit AVIF decodes");
        ok(p.width == 1200 && p.channels == 3 && p.pixels && p.pixels[0] > 200, "10-bit AVIF: 8-bit RGB, red");
        heif_pixels_done(&p);
}

static void test_errors(void) {
        DecodeHeif *h = NULL;
        char *reason = NULL;
        HeifPixels p = {};
        unsigned pw, ph, nt;
        struct stat st;
        char *data;
        FILE *f;
        int fd;

        is_int(open_decode("cut-header.heic", 0, 0, &p, &pw, &ph, &nt), -ENODATA, "cut in the header: -ENODATA");
        is_int(open_decode("cut-data.heic", 0, 0, &p, &pw, &ph, &nt), -ENODATA, "cut in the image: -ENODATA");
        is_int(open_decode("garbage.heic", 0, 0, &p, &pw, &ph, &nt), -EBADMSG, "garbage: -EBADMSG");
        is_int(open_decode("empty.heic", 0, 0, &p, &pw, &ph, &nt), -EBADMSG, "empty file: -EBADMSG");

        fd = open(path("plain.heic"), O_RDONLY | O_CLOEXEC);
        is_int(decode_heif_open_fd(fd, 1000, 0, &h, &reason), -EFBIG, "max_file_size: -EFBIG");
        ok(reason && strstr(reason, "max_file_size"), "reason names max_file_size");
        free(reason);
        reason = NULL;
        is_int(decode_heif_open_fd(fd, 0, 1000, &h, &reason), -E2BIG, "max_side 1000 for 1200x800: -E2BIG");
        ok(reason && *reason, "reason for -E2BIG");
        printf("# %s\n", reason ? reason : "");
        free(reason);
        reason = NULL;
        ok(!h, "no object on failure");
        is_int(decode_heif_open_fd(fd, 0, 1200, &h, &reason), 0, "max_side 1200 for 1200x800: allowed");
        h = decode_heif_free(h);
        close(fd);
        fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        is_int(decode_heif_open_fd(fd, 0, 0, &h, &reason), -EBADMSG, "a directory: -EBADMSG");
        free(reason);
        reason = NULL;
        close(fd);

        /* From memory: the whole file, then half of it. */
        f = fopen(path("thumb.heic"), "rb");
        if (!f || fstat(fileno(f), &st) < 0 || !(data = malloc((size_t) st.st_size)) ||
            fread(data, 1, (size_t) st.st_size, f) != (size_t) st.st_size) {
                ok(false, "read thumb.heic");
                return;
        }
        fclose(f);
        is_int(decode_heif_open_memory(data, (size_t) st.st_size, 0, &h, &reason), 0, "open from memory");
        is_int(decode_heif_decode(h, 100, 50, &p, &reason), 0, "decode from memory");
        ok(p.from_thumbnail && p.width == 320, "from memory: the item");
        heif_pixels_done(&p);
        h = decode_heif_free(h);
        is_int(decode_heif_open_memory(data, 200, 0, &h, &reason), -ENODATA, "200 bytes in memory: -ENODATA");
        free(reason);
        free(data);
        ok(decode_heif_free(NULL) == NULL, "decode_heif_free(NULL)");
}

/* The whole of file into *ret (caller frees); its size, or 0. */
static size_t slurp(const char *file, char **ret) {
        struct stat st;
        char *data = NULL;
        FILE *f = fopen(file, "rb");

        if (!f || fstat(fileno(f), &st) < 0 || st.st_size <= 0 || !(data = malloc((size_t) st.st_size)) ||
            fread(data, 1, (size_t) st.st_size, f) != (size_t) st.st_size) {
                free(data);
                if (f)
                        fclose(f);
                return 0;
        }
        fclose(f);
        *ret = data;
        return (size_t) st.st_size;
}

/* data with its 'thmb' reference (from the thumbnail item to the primary)
 * made a 'dimg'; with self, a 'dimg' from the item to itself. */
static bool patch_thmb(char *data, size_t size, bool self) {
        char *p = memmem(data, size, "thmb", 4);

        if (!p)
                p = memmem(data, size, "dimg", 4);
        /* size, type, from (16 bits), count (16 bits), to (16 bits) */
        if (!p || (size_t) (p - data) + 10 > size)
                return false;
        memcpy(p, "dimg", 4);
        if (self)
                memcpy(p + 8, p + 4, 2);
        return true;
}

/* libheif 1.15 follows grid tiles, 'iden' sources and auxiliary images by
 * recursion: references that form a cycle are refused before any decode. */
static void test_cycles(void) {
        const char *top = getenv("TOP_SRCDIR");
        DecodeHeif *h = NULL;
        char *reason = NULL, *data = NULL, file[512];
        size_t size;

        size = slurp(path("thumb.heic"), &data);
        ok(size > 0 && patch_thmb(data, size, false), "a 'dimg' from the thumbnail item to the primary");
        is_int(decode_heif_open_memory(data, size, 0, &h, &reason), 0, "... a chain of two: opens");
        h = decode_heif_free(h);
        free(reason);
        reason = NULL;
        ok(size > 0 && patch_thmb(data, size, true), "the item made its own source");
        is_int(decode_heif_open_memory(data, size, 0, &h, &reason), -EBADMSG, "... a cycle: -EBADMSG");
        ok(reason && strstr(reason, "cycle"), "... and the reason says a cycle");
        printf("# %s\n", reason ? reason : "");
        ok(!h, "... no object");
        free(reason);
        reason = NULL;
        free(data);
        data = NULL;

        if (!top) {
                ok(true, "# SKIP TOP_SRCDIR is not set: the fuzzed file is not found");
                return;
        }
        (void) snprintf(file, sizeof file, "%s/tests/fuzz/decode-heif/regression-grid-cycle", top);
        size = slurp(file, &data);
        ok(size > 0, "the fuzzed file with two grids that are each other's tiles");
        is_int(decode_heif_open_memory(data, size, 0, &h, &reason), -EBADMSG,
               "... refused before decoding (libheif 1.15 recursed until the stack ran out)");
        h = decode_heif_free(h);
        free(reason);
        free(data);
}

/* The files, in $D. */
/* A checksum of name's pixels for min_w x min_h, or 0 on failure. */
static uint64_t checksum(const char *name, unsigned min_w) {
        HeifPixels p = {};
        unsigned pw, ph, nt;
        uint64_t sum = 1469598103934665603u;

        if (open_decode(name, min_w, min_w, &p, &pw, &ph, &nt) < 0)
                return 0;
        for (size_t i = 0; i < (size_t) p.width * p.height * p.channels; i++)
                sum = (sum ^ p.pixels[i]) * 1099511628211u;
        heif_pixels_done(&p);
        return sum;
}

static uint64_t want_sum[2];

static void *decode_thread(void *arg) {
        uintptr_t bad = 0;

        (void) arg;
        for (int i = 0; i < 4; i++)
                bad += checksum("thumb.heic", 100) != want_sum[0] || checksum("alpha.heic", 400) != want_sum[1];
        return (void *) bad;
}

/* The thread contract: separate DecodeHeif objects decode at once, alike. */
static void test_threads(void) {
        uintptr_t bad;

        want_sum[0] = checksum("thumb.heic", 100);
        want_sum[1] = checksum("alpha.heic", 400);
        bad = tap_threads(4, decode_thread);
        ok(want_sum[0] && want_sum[1] && bad == 0, "4 threads x 4 rounds decode the same pixels as one");
}

static bool make_files(void) {
        return system("set -e; cd \"$D\"; "
                      "gm convert -size 1200x800 gradient:red-blue src.jpg; "
                      "gm convert -size 600x400 'xc:#ff000080' -type TrueColorMatte PNG32:srca.png; "
                      "heif-enc -q 50 src.jpg -o plain.heic >/dev/null; "
                      "heif-enc -q 50 --thumb 320 src.jpg -o thumb.heic >/dev/null; "
                      "heif-enc -q 50 --thumb 160 srca.png -o alpha.heic >/dev/null; "
                      "head -c 300 thumb.heic >cut-header.heic; "
                      "head -c $(($(stat -c %s plain.heic) * 2 / 3)) plain.heic >cut-data.heic; "
                      "head -c 5000 /dev/urandom | tr -d '\\000' >garbage.heic; "
                      ": >empty.heic") == 0;
}

static bool make_avif(void) {
        return system("set -e; cd \"$D\"; avifenc -s 10 src.jpg plain.avif >/dev/null; "
                      "avifenc -s 10 -d 10 src.jpg deep.avif >/dev/null") == 0;
}

int main(void) {
        char *reason = NULL;
        bool avif;

        if (!have("heif-enc") || !have("gm")) {
                printf("1..0 # SKIP heif-enc (libheif-examples) or gm (graphicsmagick) is missing\n");
                return 0;
        }
        if (!mkdtemp(dir) || setenv("D", dir, 1) < 0 || !make_files()) {
                printf("Bail out! cannot make the test files in %s\n", dir);
                return 1;
        }
        is_int(decode_heif_init(&reason), 0, "decode_heif_init()");
        test_heic();
        test_threads();
        avif = have("avifenc") && make_avif();
        if (avif)
                test_avif();
        else
                printf("ok %d - # SKIP avifenc (libavif-bin) is missing\n", ++tap_n);
        test_errors();
        test_cycles();
        decode_heif_done();
        (void) system("rm -rf \"$D\"");
        return done_testing();
}
