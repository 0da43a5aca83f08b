/* test-thumbnail.c - the GraphicsMagick pipeline on images made at test time
 * with the gm command, read back with `gm identify`. */
#include "build-config.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fcntl.h>
#include <lcms2.h>

#include "jpeg-scans.h"
#include "tap.h"
#include "thumbnail.h"

static ThumbnailOptions opts = {
        .formats = THUMBNAIL_ALL_FORMATS,
        .max_file_size = 1 << 30,
        .max_pixels = 100000000,
        .max_width = 30000,
        .max_height = 30000,
        .strip = true,
};
static int dirfd_out = -1;

static char dir[] = "/tmp/thumbwatch-test-thumbnail.XXXXXX";

static int run(const char *cmd) {
        int r = system(cmd);
        return r == 0 ? 0 : -1;
}

static void make_image(const char *spec, const char *name) {
        char cmd[1024];

        (void) snprintf(cmd, sizeof cmd, "gm convert %s '%s/%s'", spec, dir, name);
        if (run(cmd) < 0) {
                printf("Bail out! cannot run: %s\n", cmd);
                exit(99);
        }
}

/* "W H FORMAT" of an image, or "" */
static void identify(const char *path, char *buf, size_t size) {
        char cmd[1024];
        FILE *p;

        buf[0] = '\0';
        (void) snprintf(cmd, sizeof cmd, "gm identify -format '%%w %%h %%m' '%s' 2>/dev/null", path);
        p = popen(cmd, "r");
        if (!p)
                return;
        if (!fgets(buf, (int) size, p))
                buf[0] = '\0';
        buf[strcspn(buf, "\n")] = '\0';
        (void) pclose(p);
}

static char *at(const char *name) {
        static char bufs[4][1024];
        static int i;
        char *b = bufs[i++ % 4];

        (void) snprintf(b, 1024, "%s/%s", dir, name);
        return b;
}

/* Files in dir whose names start with '.', i.e. leftover temporaries. */
static int count_hidden(void) {
        DIR *d = opendir(dir);
        struct dirent *e;
        int n = 0;

        while (d && (e = readdir(d)))
                if (e->d_name[0] == '.' && strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
                        n++;
        if (d)
                closedir(d);
        return n;
}

/* thumbnail_make() on src, opened as the job opens it. */
static int make(const char *src, const ThumbnailTarget *t, size_t n, char **reason) {
        int fd = open(src, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC), r;

        if (fd < 0)
                return -errno;
        r = thumbnail_make(fd, t, n, &opts, reason);
        (void) close(fd);
        return r;
}

static void check(const char *src, unsigned w, unsigned h, const char *want, const char *name) {
        char out[1100], got[128], *reason = NULL;
        ThumbnailTarget t = { dirfd_out, NULL, w, h, THUMBNAIL_FIT };
        int r;

        (void) snprintf(out, sizeof out, "%s.thumb", src);
        t.name = strrchr(out, '/') + 1;
        r = make(src, &t, 1, &reason);
        if (!tap_ok(r == 0, __FILE__, __LINE__, name))
                printf("#   error %d: %s\n", r, reason ? reason : "");
        identify(out, got, sizeof got);
        is_str(got, want, name);
        free(reason);
}

static void check_fails(const char *src, int want_r, const char *want_reason, const char *name) {
        char out[1100], *reason = NULL;
        ThumbnailTarget t = { dirfd_out, NULL, 128, 128, THUMBNAIL_FIT };
        int r;

        (void) snprintf(out, sizeof out, "%s.refused", src);
        (void) unlink(out);
        t.name = strrchr(out, '/') + 1;
        r = make(src, &t, 1, &reason);
        is_int(r, want_r, name);
        if (!tap_ok(reason && strstr(reason, want_reason), __FILE__, __LINE__, name))
                printf("#   reason '%s', want '%s'\n", reason ? reason : "(null)", want_reason);
        ok(access(out, F_OK) < 0, "... and no thumbnail is written");
        free(reason);
}

static int count_finish(int fd, void *userdata) {
        int *calls = userdata;
        struct stat st;

        if (*calls < 0)
                return -EIO;
        /* Written whole already: the callback may stamp what it sees. */
        if (fstat(fd, &st) < 0 || st.st_size == 0)
                return -EBADF;
        (*calls)++;
        return 0;
}

/* HEIC with and without a usable thumbnail item, a RAW with a JPEG and
 * with a bitmap preview, through thumbnail_make() and thumbnail_probe(): the
 * decoder each takes (ThumbnailOptions.pixels_from), the limits from the
 * header, and the formats allowed. Made by heif-enc and make-dng.py; skipped
 * when the build or the machine lacks them. */
static void test_camera_formats(void) {
#if defined(HAVE_HEIF) && defined(HAVE_RAW)
        const char *top = getenv("TOP_SRCDIR"), *from = NULL, *format = NULL;
        ThumbnailTarget t[] = { { dirfd_out, "cam-big.jpg", 400, 400, THUMBNAIL_FIT },
                                { dirfd_out, "cam-small.jpg", 128, 128, THUMBNAIL_FIT } };
        unsigned long w = 0, h = 0;
        char cmd[2048], got[128], *reason = NULL;
        int fd;

        (void) snprintf(cmd, sizeof cmd,
                        "set -e; cd '%s'; gm convert -size 640x480 gradient:red-blue cam.png; "
                        "gm convert cam.png cam.jpg; heif-enc -q 60 --thumb 320 -o item.heic cam.png >/dev/null; "
                        "head -c $(($(stat -c %%s item.heic) - 200)) item.heic >cut.heic; "
                        "python3 '%s/tests/unit/make-dng.py' turned.dng --preview cam.jpg --orientation 8; "
                        "python3 '%s/tests/unit/make-dng.py' bitmap.dng --bitmap 64x48",
                        dir, top ? top : ".", top ? top : ".");
        if (run(cmd) < 0) {
                ok(true, "# SKIP heif-enc or python3 missing: camera formats not tested");
                return;
        }
        opts.pixels_from = &from;
        check(at("item.heic"), 128, 128, "128 96 JPEG", "HEIC: 128x96, written as JPEG");
        is_str(from, "heif-thumbnail", "... from its 320x240 thumbnail item");
        is_int(make(at("item.heic"), t, 2, &reason), 0, "HEIC at 400x400 and 128x128");
        is_str(from, "heif-primary", "... from the primary image: the item is smaller than 400x300");
        identify(at("cam-big.jpg"), got, sizeof got);
        is_str(got, "400 300 JPEG", "... the larger size");
        identify(at("cam-small.jpg"), got, sizeof got);
        is_str(got, "128 96 JPEG", "... the smaller size");
        free(reason);
        reason = NULL;
        check(at("turned.dng"), 128, 128, "96 128 JPEG", "DNG: its JPEG preview, turned by the RAW's orientation 8");
        is_str(from, "raw-preview", "... from the preview");
        check(at("bitmap.dng"), 128, 128, "64 48 JPEG", "DNG with a 64x48 bitmap preview: never upscaled");
        is_str(from, "raw-preview", "... from the preview");
        fd = open(at("item.heic"), O_RDONLY | O_CLOEXEC);
        is_int(thumbnail_probe(fd, &opts, &format, &w, &h, &reason), 0, "probe a HEIC");
        (void) close(fd);
        ok(format && strcmp(format, "heic") == 0 && w == 640 && h == 480, "... heic, 640x480 from its header");
        free(reason);
        reason = NULL;
        check_fails(at("cut.heic"), -ENODATA, "", "a HEIC cut short is truncated");
        opts.max_pixels = 640 * 480 - 1;
        check_fails(at("item.heic"), -EFBIG, "over max_pixels", "a HEIC over max_pixels, from its header");
        check_fails(at("turned.dng"), -EFBIG, "over max_pixels", "a RAW's preview over max_pixels");
        opts.max_pixels = 100000000;
        opts.formats = THUMBNAIL_ALL_FORMATS & ~(THUMBNAIL_HEIC | THUMBNAIL_RAW);
        check_fails(at("item.heic"), -EMEDIUMTYPE, "heic is not in formats =", "a HEIC when heic is not allowed");
        check_fails(at("turned.dng"), -EMEDIUMTYPE, "raw is not in formats =",
                    "a DNG when raw is not allowed (never read as the TIFF it also is)");
        opts.formats = THUMBNAIL_ALL_FORMATS;
        opts.pixels_from = NULL;
#else
        ok(true, "# SKIP built without libheif or libraw");
#endif
}

/* gm compare's mean absolute error of images a and b, from 0 to 1; 1 when
 * it cannot say. */
static double mae(const char *a, const char *b) {
        char cmd[2200], line[256];
        double v = 1;
        FILE *p;

        (void) snprintf(cmd, sizeof cmd, "gm compare -metric MAE '%s' '%s' 2>/dev/null", a, b);
        p = popen(cmd, "r");
        if (!p)
                return 1;
        while (fgets(line, sizeof line, p))
                if (sscanf(line, " Total: %lf", &v) == 1)
                        break;
        (void) pclose(p);
        return v;
}

/* A w x h thumbnail of src (in dir) as name; r, and where its pixels came from in *ret_from. */
static int make_as(const char *src, const char *name, unsigned w, unsigned h, const char **ret_from) {
        ThumbnailTarget t = { dirfd_out, name, w, h, THUMBNAIL_FIT };
        char *reason = NULL;
        int r;

        *ret_from = NULL;
        opts.pixels_from = ret_from;
        r = make(at(src), &t, 1, &reason);
        opts.pixels_from = NULL;
        if (r < 0)
                printf("#   %s: error %d: %s\n", src, r, reason ? reason : "");
        free(reason);
        return r;
}

/* An RGB ICC profile with red and blue swapped, saved to path: the colours
 * of an image carrying it change when it is converted to sRGB. */
static int save_swapped_profile(const char *path) {
        cmsCIExyY white = { 0.3127, 0.3290, 1.0 };
        cmsCIExyYTRIPLE primaries = { { 0.15, 0.06, 1.0 }, { 0.30, 0.60, 1.0 }, { 0.64, 0.33, 1.0 } };
        cmsToneCurve *curve = cmsBuildGamma(NULL, 2.2);
        cmsToneCurve *curves[3] = { curve, curve, curve };
        cmsHPROFILE p = curve ? cmsCreateRGBProfile(&white, &primaries, curves) : NULL;
        int r = p && cmsSaveProfileToFile(p, path) ? 0 : -1;

        if (p)
                cmsCloseProfile(p);
        if (curve)
                cmsFreeToneCurve(curve);
        return r;
}

/* Progressive JPEGs whose thumbnail needs 1/8 of the image or less are
 * decoded from their DC scans (decode-jpeg): the same thumbnail as
 * GraphicsMagick's whole decode (which strip = no still takes), to within a
 * mean error of 2%, oriented, colour-managed, grey; and the cases that keep
 * the ordinary decode, which fail exactly as before. */
static void test_progressive(void) {
        char cmd[2400], got[128], *reason = NULL, *reason_whole = NULL;
        const char *from = NULL;
        long first, second;
        int r;

        (void) snprintf(cmd, sizeof cmd,
                        "set -e; cd '%s'; gm convert -size 2048x1536 plasma:fractal photo.png; "
                        "gm convert photo.png -quality 90 -interlace Line prog.jpg; "
                        "gm convert photo.png -quality 90 base.jpg; "
                        "cp prog.jpg turned.jpg; exiftool -q -overwrite_original -n -Orientation=6 turned.jpg; "
                        "gm convert photo.png -colorspace Gray -interlace Line grey.jpg; "
                        "gm convert photo.png -colorspace CMYK -interlace Line cmyk.jpg",
                        dir);
        if (run(cmd) < 0) {
                ok(false, "cannot make the progressive JPEGs (gm, exiftool: scripts/deps)");
                return;
        }
        is_int(make_as("prog.jpg", "prog.thumb", 128, 128, &from), 0, "progressive 2048x1536 at 128x128: made");
        is_str(from, "jpeg-dc-scan", "... from its DC scan (1/8 is 256x192, twice the thumbnail)");
        identify(at("prog.thumb"), got, sizeof got);
        is_str(got, "128 96 JPEG", "... 128x96");
        opts.strip = false;
        is_int(make_as("prog.jpg", "prog-whole.thumb", 128, 128, &from), 0, "with strip = no: made");
        is_str(from, "decode", "... by GraphicsMagick's whole decode (it keeps EXIF, XMP, IPTC)");
        opts.strip = true;
        if (!ok(mae(at("prog.thumb"), at("prog-whole.thumb")) < 0.02, "the DC-scan thumbnail matches the whole decode's (MAE < 0.02)"))
                printf("#   MAE %f\n", mae(at("prog.thumb"), at("prog-whole.thumb")));
        is_int(make_as("prog.jpg", "prog-big.thumb", 300, 300, &from), 0, "progressive at 300x300: made");
        is_str(from, "decode", "... by the whole decode: 300x225 needs more than 1/8");
        is_int(make_as("base.jpg", "base.thumb", 128, 128, &from), 0, "baseline at 128x128: made");
        is_str(from, "decode", "... by the whole decode: a baseline JPEG has no DC scan");

        /* Orientation 6: stored 2048x1536, shown 1536x2048. */
        is_int(make_as("turned.jpg", "turned.thumb", 128, 128, &from), 0, "progressive with orientation 6: made");
        is_str(from, "jpeg-dc-scan", "... from its DC scan");
        identify(at("turned.thumb"), got, sizeof got);
        is_str(got, "96 128 JPEG", "... turned upright: 96x128");
        opts.strip = false;
        (void) make_as("turned.jpg", "turned-whole.thumb", 128, 128, &from);
        opts.strip = true;
        ok(mae(at("turned.thumb"), at("turned-whole.thumb")) < 0.02, "... turned as the whole decode turns it");

        /* An ICC profile: converted to sRGB, or kept with color = keep. */
        if (save_swapped_profile(at("swapped.icc")) < 0) {
                ok(false, "cannot write an ICC profile with lcms2");
                return;
        }
        (void) snprintf(cmd, sizeof cmd,
                        "cd '%s' && gm convert photo.png -profile swapped.icc -quality 90 -interlace Line icc.jpg", dir);
        if (run(cmd) < 0) {
                ok(false, "cannot make icc.jpg");
                return;
        }
        is_int(make_as("icc.jpg", "icc.thumb", 128, 128, &from), 0, "progressive with an ICC profile: made");
        is_str(from, "jpeg-dc-scan", "... from its DC scan");
        opts.strip = false;
        (void) make_as("icc.jpg", "icc-whole.thumb", 128, 128, &from);
        opts.strip = true;
        ok(mae(at("icc.thumb"), at("icc-whole.thumb")) < 0.02, "... converted to sRGB as the whole decode's is");
        ok(mae(at("icc.thumb"), at("prog.thumb")) > 0.05, "... its colours changed by the profile (red and blue swapped)");
        opts.colour = THUMBNAIL_COLOUR_KEEP;
        is_int(make_as("icc.jpg", "icc-kept.thumb", 128, 128, &from), 0, "with color = keep: made");
        is_str(from, "jpeg-dc-scan", "... from its DC scan");
        opts.colour = THUMBNAIL_COLOUR_SRGB;
        (void) snprintf(cmd, sizeof cmd, "gm identify -verbose '%s' | grep -q 'Profile-color'", at("icc-kept.thumb"));
        ok(run(cmd) == 0, "... the profile kept in the thumbnail");
        ok(mae(at("icc-kept.thumb"), at("prog.thumb")) < 0.02, "... the pixels left as they are");

        is_int(make_as("grey.jpg", "grey.thumb", 128, 128, &from), 0, "progressive greyscale: made");
        is_str(from, "jpeg-dc-scan", "... from its DC scan");
        (void) snprintf(cmd, sizeof cmd, "gm identify -format '%%r' '%s' | grep -q Grayscale", at("grey.thumb"));
        ok(run(cmd) == 0, "... a greyscale thumbnail");
        opts.strip = false;
        (void) make_as("grey.jpg", "grey-whole.thumb", 128, 128, &from);
        opts.strip = true;
        ok(mae(at("grey.thumb"), at("grey-whole.thumb")) < 0.02, "... as the whole decode's");
        is_int(make_as("cmyk.jpg", "cmyk.thumb", 128, 128, &from), 0, "progressive CMYK: made");
        is_str(from, "decode", "... by the whole decode (decode-jpeg reads no CMYK)");

#ifdef THUMBWATCH_TEST_HOOKS
        /* job_timeout: checked after the DC scans. */
        (void) setenv("THUMBWATCH_TEST_DECODE_SLOW_MS", "300", 1);
        opts.timeout_usec = 100000;
        check_fails(at("prog.jpg"), -ETIMEDOUT, "libjpeg's DC scans ran past it",
                    "progressive past job_timeout: abandoned after the DC scans");
        opts.timeout_usec = 0;
        (void) unsetenv("THUMBWATCH_TEST_DECODE_SLOW_MS");
#endif

        /* Cut short, inside the first scan and just after it: truncated, as
         * the whole decode says, with its reason. */
        first = nth_scan(at("prog.jpg"), 1);
        second = nth_scan(at("prog.jpg"), 2);
        ok(first > 0 && second > first + 300, "prog.jpg has two scans at least");
        (void) snprintf(cmd, sizeof cmd, "cd '%s' && head -c %ld prog.jpg >cut-dc.jpg && head -c %ld prog.jpg >cut-after-dc.jpg",
                        dir, first + 200, second);
        if (run(cmd) < 0)
                ok(false, "cannot cut prog.jpg");
        for (int i = 0; i < 2; i++) {
                const char *cut = i == 0 ? "cut-dc.jpg" : "cut-after-dc.jpg";
                ThumbnailTarget t = { dirfd_out, "cut.thumb", 128, 128, THUMBNAIL_FIT };

                check_fails(at(cut), -ENODATA, "", i == 0 ? "progressive cut inside its DC scan: truncated"
                                                          : "progressive cut right after its DC scan: truncated");
                opts.strip = false;
                r = make(at(cut), &t, 1, &reason_whole);
                opts.strip = true;
                (void) make(at(cut), &t, 1, &reason);
                is_int(r, -ENODATA, "... as the whole decode says");
                if (!ok(reason && reason_whole && strcmp(reason, reason_whole) == 0, "... in its words"))
                        printf("#   '%s' against '%s'\n", reason ? reason : "", reason_whole ? reason_whole : "");
                free(reason);
                free(reason_whole);
                reason = reason_whole = NULL;
        }

        /* Garbage in the DC scan of a file that ends well: corrupt, as the whole decode says. */
        (void) snprintf(cmd, sizeof cmd,
                        "cd '%s' && cp prog.jpg corrupt.jpg && yes 'garbage!' | head -c 600 | dd of=corrupt.jpg bs=1 seek=%ld conv=notrunc 2>/dev/null",
                        dir, first + 40);
        if (run(cmd) < 0)
                ok(false, "cannot corrupt prog.jpg");
        check_fails(at("corrupt.jpg"), -EBADMSG, "", "progressive with garbage in its DC scan: corrupt");
}

int main(void) {
        if (!mkdtemp(dir) || thumbnail_init("test-thumbnail") < 0 || thumbnail_set_limits(&opts) < 0)
                return 99;
        dirfd_out = open(dir, O_RDONLY | O_DIRECTORY);

        make_image("-size 640x480 gradient:red-blue", "landscape.jpg");
        make_image("-size 300x900 gradient:white-black", "portrait.png");
        make_image("-size 50x40 xc:green", "small.gif");
        make_image("-size 3000x200 xc:red", "wide.bmp");
        make_image("-size 1x1 xc:white", "dot.png");
        make_image("-size 200x100 xc:red", "a.webp");
        make_image("-size 200x100 xc:red -orient RightTop", "rotated.tif");
        make_image("-size 128x128 xc:blue", "exact.jpg");

        check(at("landscape.jpg"), 128, 128, "128 96 JPEG", "640x480 JPEG fits 128x96, stays JPEG");
        check(at("portrait.png"), 128, 128, "43 128 PNG", "300x900 PNG fits 43x128, stays PNG");
        check(at("small.gif"), 128, 128, "50 40 GIF", "smaller than the box: never upscaled");
        check(at("wide.bmp"), 128, 128, "128 9 BMP", "3000x200 BMP fits 128x9 (rounded)");
        check(at("dot.png"), 128, 128, "1 1 PNG", "1x1 stays 1x1");
        check(at("a.webp"), 128, 128, "128 64 WEBP", "WebP");
        check(at("rotated.tif"), 128, 128, "64 128 TIFF", "TIFF with RightTop orientation stands upright");
        check(at("exact.jpg"), 128, 128, "128 128 JPEG", "exactly the box: kept");
        check(at("landscape.jpg"), 100, 20, "27 20 JPEG", "height-limited box");

        /* Several sizes from one decode. */
        {
                char *reason = NULL, got[128];
                ThumbnailTarget t[] = { { dirfd_out, "multi-big.jpg", 256, 256, THUMBNAIL_FIT }, { dirfd_out, "multi-small.jpg", 64, 64, THUMBNAIL_FIT } };

                is_int(make(at("landscape.jpg"), t, 2, &reason), 0, "two sizes at once");
                identify(at("multi-big.jpg"), got, sizeof got);
                is_str(got, "256 192 JPEG", "the larger size");
                identify(at("multi-small.jpg"), got, sizeof got);
                is_str(got, "64 48 JPEG", "the smaller size");
                free(reason);
        }

        /* The format is taken from the content, not the name. */
        {
                char cmd[1200];
                (void) snprintf(cmd, sizeof cmd, "cp '%s' '%s'", at("portrait.png"), at("png-named.jpg"));
                (void) run(cmd);
                check(at("png-named.jpg"), 128, 128, "43 128 PNG", "a PNG named .jpg is read as PNG");
        }

        /* Refusals. */
        {
                FILE *f = fopen(at("svg.jpg"), "w");
                fputs("<?xml version=\"1.0\"?><svg xmlns=\"http://www.w3.org/2000/svg\" width=\"10\" height=\"10\"/>", f);
                fclose(f);
                f = fopen(at("text.png"), "w");
                fputs("just some text\n", f);
                fclose(f);
                f = fopen(at("empty.jpg"), "w");
                fclose(f);
        }
        check_fails(at("svg.jpg"), -EMEDIUMTYPE, "not an allowed image format", "SVG named .jpg is refused");
        check_fails(at("text.png"), -EMEDIUMTYPE, "not an allowed image format", "text named .png is refused");
        check_fails(at("empty.jpg"), -ENODATA, "empty", "an empty file is refused (as truncated)");
        {
                char cmd[1200];
                make_image("-size 2000x1500 plasma:", "big.jpg");
                (void) snprintf(cmd, sizeof cmd, "head -c 60000 '%s' > '%s'", at("big.jpg"), at("truncated.jpg"));
                (void) run(cmd);
        }
        check_fails(at("truncated.jpg"), -ENODATA, "Premature end", "a truncated JPEG is refused as truncated, not half-made");
        {
                /* Corrupt, not truncated: the end is there, the middle is garbage. */
                char cmd[1200];
                (void) snprintf(cmd, sizeof cmd, "cp '%s' '%s' && printf 'garbage!garbage!garbage!' | dd of='%s' bs=1 seek=400 conv=notrunc 2>/dev/null",
                                at("landscape.jpg"), at("corrupt.jpg"), at("corrupt.jpg"));
                (void) run(cmd);
        }

        /* Limits, from the header, before any pixel is decoded. */
        opts.max_pixels = 1000;
        check_fails(at("landscape.jpg"), -EFBIG, "640x480 is 307200 pixels, over max_pixels 1000", "over max_pixels: refused with the numbers");
        opts.max_pixels = 100000000;
        opts.max_width = 600;
        check_fails(at("landscape.jpg"), -EFBIG, "640x480 is over max_width x max_height 600x30000", "over max_width: refused with the numbers");
        opts.max_width = 30000;
        opts.max_file_size = 100;
        check_fails(at("landscape.jpg"), -EFBIG, "over max_file_size 100", "over max_file_size: refused unread");
        opts.max_file_size = 1 << 30;

        /* The allow-list: a format left out is refused like any other. */
        opts.formats = THUMBNAIL_ALL_FORMATS & ~THUMBNAIL_PNG;
        check_fails(at("portrait.png"), -EMEDIUMTYPE, "not an allowed image format", "a format left out of the allow-list is refused");
        opts.formats = THUMBNAIL_ALL_FORMATS;

        /* What is not a regular file is refused, whatever opened it. */
        if (mkfifo(at("fifo.jpg"), 0600) == 0)
                check_fails(at("fifo.jpg"), -EMEDIUMTYPE, "not a regular file", "a FIFO is refused, without hanging");

        /* The finish callback sees each temporary before its rename, and can fail it. */
        {
                char *reason = NULL;
                ThumbnailTarget t = { dirfd_out, "finished.jpg", 64, 64, THUMBNAIL_FIT };
                int calls = 0;

                opts.finish = count_finish;
                opts.finish_userdata = &calls;
                is_int(make(at("landscape.jpg"), &t, 1, &reason), 0, "a finish callback: made");
                is_int(calls, 1, "... called once for the one target");
                ok(access(at("finished.jpg"), F_OK) == 0, "... and the thumbnail is in place");
                calls = -1;             /* fail it */
                t.name = "unfinished.jpg";
                free(reason);
                reason = NULL;
                is_int(make(at("landscape.jpg"), &t, 1, &reason), -EIO, "a finish callback that fails fails the thumbnail");
                ok(access(at("unfinished.jpg"), F_OK) < 0, "... which is not renamed into place");
                opts.finish = NULL;
                opts.finish_userdata = NULL;
                free(reason);
        }

        /* A target whose name is taken by a symlink: the link is replaced, its target untouched. */
        {
                char *reason = NULL, got[128];
                ThumbnailTarget t = { dirfd_out, "planted.jpg", 128, 128, THUMBNAIL_FIT };
                FILE *f = fopen(at("victim.txt"), "w");

                fputs("precious\n", f);
                fclose(f);
                (void) symlink(at("victim.txt"), at("planted.jpg"));
                is_int(make(at("landscape.jpg"), &t, 1, &reason), 0, "a target name held by a symlink");
                identify(at("planted.jpg"), got, sizeof got);
                is_str(got, "128 96 JPEG", "... is replaced by the thumbnail");
                f = fopen(at("victim.txt"), "r");
                ok(f && fgets(got, sizeof got, f) && strcmp(got, "precious\n") == 0, "... and the link's target is untouched");
                if (f)
                        fclose(f);
                free(reason);
        }

        /* A target folder that is gone: an error, nothing written. */
        {
                char *reason = NULL;
                int gone;
                ThumbnailTarget t = { -1, "x.jpg", 128, 128, THUMBNAIL_FIT };

                (void) mkdir(at("gone"), 0755);
                gone = open(at("gone"), O_RDONLY | O_DIRECTORY);
                (void) rmdir(at("gone"));
                t.dirfd = gone;
                is_int(make(at("landscape.jpg"), &t, 1, &reason), -ENOENT, "output folder removed: error");
                ok(reason && strstr(reason, "temporary"), "... saying it cannot create the temporary");
                free(reason);
                close(gone);
        }
        check_fails(at("corrupt.jpg"), -EBADMSG, "", "a corrupt JPEG (end intact) is refused as corrupt");
        {
                /* An embedded ICC profile lcms2 cannot read: the thumbnail is
                 * made all the same, and the warning says why. */
                ThumbnailTarget t = { dirfd_out, "broken-icc.thumb", 32, 32, THUMBNAIL_FIT };
                char got[128], *reason = NULL;
                unsigned char icc[600];
                FILE *f = fopen(at("broken.icc"), "w");

                memset(icc, 'x', sizeof icc);
                icc[0] = 0, icc[1] = 0, icc[2] = 600 >> 8, icc[3] = 600 & 0xff;
                if (!f || fwrite(icc, 1, sizeof icc, f) != sizeof icc || fclose(f) != 0)
                        abort();
                char spec[1200];

                (void) snprintf(spec, sizeof spec, "-size 64x48 xc:red -profile '%s'", at("broken.icc"));
                make_image(spec, "broken-icc.jpg");
                is_int(make(at("broken-icc.jpg"), &t, 1, &reason), 0, "a broken ICC profile: made (0)");
                if (!ok(reason && strstr(reason, "embedded ICC profile not used, colours left as they are: ICC profile"),
                        "... with a warning saying why"))
                        printf("#   reason '%s'\n", reason ? reason : "(null)");
                identify(at("broken-icc.thumb"), got, sizeof got);
                is_str(got, "32 24 JPEG", "... and the thumbnail written");
                free(reason);
                reason = NULL;
                t.name = "red.thumb";
                make_image("-size 64x48 xc:red", "red.jpg");
                is_int(make(at("red.jpg"), &t, 1, &reason), 0, "no profile: made");
                ok(reason == NULL, "... with no warning");
                free(reason);
        }
        test_camera_formats();
        test_progressive();
        is_int(count_hidden(), 0, "no temporary file is left behind");

        thumbnail_shutdown();
        {
                char cmd[200];
                (void) snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
                (void) run(cmd);
        }
        return done_testing();
}
