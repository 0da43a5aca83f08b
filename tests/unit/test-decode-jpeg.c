/* test-decode-jpeg.c - decode-jpeg.h's contract on JPEGs written at test
 * time: by libjpeg here (with the scan scripts the tests need) and by gm
 * (-interlace Line: libjpeg's standard progressive script, as cameras and
 * web tools write it). */
#include "build-config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jpeglib.h>
#include <lcms2.h>

#include "decode-jpeg.h"
#include "jpeg-scans.h"
#include "tap.h"

static char dir[] = "/tmp/test-decode-jpeg.XXXXXX";

static const char *path(const char *name) {
        static char buf[4][256];
        static int i;

        i = (i + 1) % 4;
        (void) snprintf(buf[i], sizeof buf[i], "%s/%s", dir, name);
        return buf[i];
}

static int run(const char *cmd) {
        return system(cmd) == 0 ? 0 : -1;
}

/* Options of write_jpeg(): 4:4:4 (libjpeg's default is 4:2:0), and a
 * restart marker after every row of MCUs. */
static bool opt_444, opt_restarts;

/* A w x h JPEG at name: red at the top, blue at the bottom, and green in
 * stripes 16 rows high (2 rows at 1/8: a row out of place shows);
 * progressive with scans (n of them), or libjpeg's standard progressive
 * script when n is 0 and progressive, or baseline. */
static int write_jpeg(const char *name, unsigned w, unsigned h, bool progressive, const jpeg_scan_info *scans,
                      int n) {
        struct jpeg_compress_struct cinfo;
        struct jpeg_error_mgr err;
        unsigned char *row = malloc((size_t) w * 3);
        FILE *f = fopen(path(name), "wb");

        if (!row || !f) {
                free(row);
                if (f)
                        (void) fclose(f);
                return -1;
        }
        cinfo.err = jpeg_std_error(&err);
        jpeg_create_compress(&cinfo);
        jpeg_stdio_dest(&cinfo, f);
        cinfo.image_width = w;
        cinfo.image_height = h;
        cinfo.input_components = 3;
        cinfo.in_color_space = JCS_RGB;
        jpeg_set_defaults(&cinfo);
        jpeg_set_quality(&cinfo, 90, TRUE);
        if (opt_444)
                cinfo.comp_info[0].h_samp_factor = cinfo.comp_info[0].v_samp_factor = 1;
        if (opt_restarts)
                cinfo.restart_in_rows = 1;
        if (progressive && n == 0)
                jpeg_simple_progression(&cinfo);
        else if (progressive) {
                cinfo.scan_info = scans;
                cinfo.num_scans = n;
        }
        jpeg_start_compress(&cinfo, TRUE);
        while (cinfo.next_scanline < h) {
                unsigned y = cinfo.next_scanline;

                for (unsigned x = 0; x < w; x++) {
                        row[3 * x] = (unsigned char) (255 - 255 * y / h);
                        row[3 * x + 1] = (unsigned char) ((y / 16) % 2 ? 255 : 0);
                        row[3 * x + 2] = (unsigned char) (255 * y / h);
                }
                (void) jpeg_write_scanlines(&cinfo, &row, 1);
        }
        jpeg_finish_compress(&cinfo);
        jpeg_destroy_compress(&cinfo);
        free(row);
        return fclose(f) == 0 ? 0 : -1;
}

/* decode_jpeg_dc() on the file name; the reason goes to the TAP output. */
static int decode(const char *name, DecodeJpeg *ret, char **reterr_reason) {
        FILE *f = fopen(path(name), "rb");
        int r;

        *reterr_reason = NULL;
        if (!f)
                return -errno;
        r = decode_jpeg_dc(f, ret, reterr_reason);
        (void) fclose(f);
        if (r < 0)
                printf("#   %s: %d: %s\n", name, r, *reterr_reason ? *reterr_reason : "(no reason)");
        return r;
}

/* The largest mean absolute difference of a row of d from libjpeg's own
 * 1/8 decode of name (every scan read), in levels of 255; 255 when that
 * decode fails or the sizes differ. A row the ring lost would be far off;
 * the DC's missing last bit moves a level or so. */
static double worst_row(const char *name, const DecodeJpeg *d) {
        struct jpeg_decompress_struct cinfo;
        struct jpeg_error_mgr err;
        FILE *f = fopen(path(name), "rb");
        unsigned char *row = NULL;
        double worst = 255;

        if (!f || !d->pixels)
                goto out;
        cinfo.err = jpeg_std_error(&err);
        jpeg_create_decompress(&cinfo);
        jpeg_stdio_src(&cinfo, f);
        (void) jpeg_read_header(&cinfo, TRUE);
        cinfo.scale_num = 1;
        cinfo.scale_denom = 8;
        cinfo.out_color_space = d->channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
        (void) jpeg_start_decompress(&cinfo);
        if (cinfo.output_width == d->width && cinfo.output_height == d->height &&
            (row = malloc((size_t) d->width * d->channels))) {
                worst = 0;
                while (cinfo.output_scanline < cinfo.output_height) {
                        const uint8_t *mine = d->pixels + (size_t) cinfo.output_scanline * d->width * d->channels;
                        double sum = 0;

                        (void) jpeg_read_scanlines(&cinfo, &row, 1);
                        for (size_t i = 0; i < (size_t) d->width * d->channels; i++)
                                sum += abs((int) row[i] - (int) mine[i]);
                        sum /= (double) d->width * d->channels;
                        worst = sum > worst ? sum : worst;
                }
                (void) jpeg_finish_decompress(&cinfo);
        }
        jpeg_destroy_decompress(&cinfo);
out:
        free(row);
        if (f)
                (void) fclose(f);
        return worst;
}

static void expect_error(const char *name, int want, const char *want_reason, const char *what) {
        DecodeJpeg d = {};
        char *reason = NULL;

        is_int(decode(name, &d, &reason), want, what);
        if (!ok(reason && strstr(reason, want_reason), "... saying why"))
                printf("#   reason '%s', want '%s'\n", reason ? reason : "(null)", want_reason);
        ok(d.pixels == NULL && d.icc == NULL, "... and *ret untouched");
        free(reason);
}

static void test_standard_script(void) {
        DecodeJpeg d = {};
        char *reason = NULL;
        const uint8_t *last;

        if (write_jpeg("std.jpg", 1024, 768, true, NULL, 0) < 0) {
                ok(false, "cannot write std.jpg");
                return;
        }
        is_int(decode("std.jpg", &d, &reason), 0, "libjpeg's standard progressive script: decoded");
        ok(d.width == 128 && d.height == 96 && d.channels == 3, "... at 1/8: 128x96 RGB");
        is_int(d.scans, 1, "... from its first scan (the DC, without its last bit)");
        ok(d.pixels && d.pixels[0] > 230 && d.pixels[2] < 25, "... red at the top left");
        last = d.pixels + ((size_t) d.width * d.height - 1) * 3;
        ok(d.pixels && last[0] < 25 && last[2] > 230, "... blue at the bottom right");
        if (!ok(worst_row("std.jpg", &d) < 3, "... every row within 3 levels of libjpeg's decode of all scans"))
                printf("#   worst row: %.2f\n", worst_row("std.jpg", &d));
        ok(d.icc == NULL && d.icc_size == 0, "... no ICC profile");
        is_int(d.density_unit, 0, "... no density (libjpeg writes JFIF 1:1)");
        decode_jpeg_done(&d);
        ok(d.pixels == NULL && d.width == 0, "decode_jpeg_done() zeroes it");
        decode_jpeg_done(&d);
        decode_jpeg_done(NULL);
        ok(true, "... and may be called again, and on NULL");
        free(reason);

        if (write_jpeg("odd.jpg", 1001, 601, true, NULL, 0) < 0) {
                ok(false, "cannot write odd.jpg");
                return;
        }
        is_int(decode("odd.jpg", &d, &reason), 0, "1001x601: decoded");
        ok(d.width == 126 && d.height == 76, "... at 126x76: 1/8, rounded up");
        decode_jpeg_done(&d);
        free(reason);
}

/* Scan scripts other encoders write: the DC of each component in a scan
 * of its own, and a DC sent 2 bits short first, refined after AC data. */
static void test_scan_scripts(void) {
        static const jpeg_scan_info separate[] = {
                { 1, { 0 }, 0, 0, 0, 0 }, { 1, { 1 }, 0, 0, 0, 0 }, { 1, { 2 }, 0, 0, 0, 0 },
                { 1, { 0 }, 1, 63, 0, 0 }, { 1, { 1 }, 1, 63, 0, 0 }, { 1, { 2 }, 1, 63, 0, 0 },
        };
        static const jpeg_scan_info coarse[] = {
                { 3, { 0, 1, 2 }, 0, 0, 0, 2 }, { 1, { 0 }, 1, 63, 0, 0 }, { 3, { 0, 1, 2 }, 0, 0, 2, 1 },
                { 1, { 1 }, 1, 63, 0, 0 }, { 1, { 2 }, 1, 63, 0, 0 }, { 3, { 0, 1, 2 }, 0, 0, 1, 0 },
        };
        DecodeJpeg d = {};
        char *reason = NULL;

        if (write_jpeg("separate.jpg", 512, 512, true, separate, 6) < 0 ||
            write_jpeg("coarse.jpg", 512, 512, true, coarse, 6) < 0) {
                ok(false, "cannot write the scan scripts");
                return;
        }
        is_int(decode("separate.jpg", &d, &reason), 0, "one DC scan a component: decoded");
        is_int(d.scans, 3, "... after the three DC scans");
        ok(worst_row("separate.jpg", &d) < 3, "... every row within 3 levels of libjpeg's decode of all scans");
        ok(d.pixels && d.pixels[0] > 230 && d.pixels[2] < 25, "... red at the top left (chroma and all)");
        decode_jpeg_done(&d);
        is_int(decode("coarse.jpg", &d, &reason), 0, "a DC sent 2 bits short, refined after the luma AC: decoded");
        is_int(d.scans, 3, "... after the refinement to DECODE_JPEG_DC_LAST_BIT");
        ok(d.pixels && d.pixels[0] > 225 && d.pixels[2] < 30, "... red at the top left");
        decode_jpeg_done(&d);
        free(reason);
}

/* The ring of coefficient rows with one block row an iMCU (4:4:4) and two
 * (4:2:0, above), and restart markers in the DC scan. */
static void test_layouts(void) {
        DecodeJpeg d = {};
        char *reason = NULL;
        const uint8_t *last;

        opt_444 = true;
        if (write_jpeg("444.jpg", 1024, 776, true, NULL, 0) < 0) {
                ok(false, "cannot write 444.jpg");
                return;
        }
        opt_444 = false;
        opt_restarts = true;
        if (write_jpeg("restarts.jpg", 1024, 776, true, NULL, 0) < 0) {
                ok(false, "cannot write restarts.jpg");
                return;
        }
        opt_restarts = false;
        for (int i = 0; i < 2; i++) {
                is_int(decode(i == 0 ? "444.jpg" : "restarts.jpg", &d, &reason), 0,
                       i == 0 ? "4:4:4: decoded" : "a restart marker every MCU row: decoded");
                ok(d.width == 128 && d.height == 97 && d.scans == 1, "... 128x97 from the first scan");
                last = d.pixels ? d.pixels + ((size_t) d.width * d.height - 1) * 3 : NULL;
                ok(last && d.pixels[0] > 230 && d.pixels[2] < 25 && last[0] < 25 && last[2] > 230,
                   "... red at the top left, blue at the bottom right");
                ok(worst_row(i == 0 ? "444.jpg" : "restarts.jpg", &d) < 3,
                   "... every row within 3 levels of libjpeg's decode of all scans");
                decode_jpeg_done(&d);
                free(reason);
                reason = NULL;
        }
}

/* An sRGB profile from lcms2 attached by gm: read back byte for byte. */
static void test_metadata(void) {
        cmsHPROFILE p = cmsCreate_sRGBProfile();
        DecodeJpeg d = {};
        char cmd[1024], *reason = NULL;
        unsigned char *icc = NULL;
        struct stat st;
        FILE *f;

        if (!p || !cmsSaveProfileToFile(p, path("srgb.icc"))) {
                ok(false, "cannot write an ICC profile");
                return;
        }
        cmsCloseProfile(p);
        (void) snprintf(cmd, sizeof cmd,
                        "cd '%s' && gm convert -size 800x600 gradient:red-blue -profile srgb.icc -density 300 "
                        "-units PixelsPerInch -interlace Line icc.jpg && "
                        "gm convert -size 800x600 gradient:white-black -colorspace Gray -interlace Line grey.jpg && "
                        "gm convert -size 800x600 gradient:red-blue -colorspace CMYK -interlace Line cmyk.jpg && "
                        "gm convert -size 800x600 gradient:red-blue base.jpg && gm convert -size 8x8 xc:red red.png",
                        dir);
        if (run(cmd) < 0) {
                ok(false, "cannot run gm");
                return;
        }
        is_int(decode("icc.jpg", &d, &reason), 0, "with an ICC profile: decoded");
        f = fopen(path("srgb.icc"), "rb");
        if (f && fstat(fileno(f), &st) == 0 && (icc = malloc((size_t) st.st_size)) &&
            fread(icc, 1, (size_t) st.st_size, f) == (size_t) st.st_size)
                ok(d.icc && d.icc_size == (size_t) st.st_size && memcmp(d.icc, icc, d.icc_size) == 0,
                   "... the profile, byte for byte");
        else
                ok(false, "cannot read srgb.icc back");
        if (f)
                (void) fclose(f);
        free(icc);
        ok(d.density_unit == 1 && d.x_density == 300 && d.y_density == 300, "... 300 dots per inch");
        decode_jpeg_done(&d);
        is_int(decode("grey.jpg", &d, &reason), 0, "greyscale: decoded");
        ok(d.channels == 1 && d.width == 100 && d.height == 75, "... 100x75, one channel");
        ok(d.pixels && d.pixels[0] > 230 && d.pixels[100 * 75 - 1] < 25, "... white at the top, black at the bottom");
        decode_jpeg_done(&d);
        free(reason);
        expect_error("cmyk.jpg", -ENOTSUP, "a CMYK JPEG", "CMYK: not this module's (-ENOTSUP)");
        expect_error("base.jpg", -ENOTSUP, "not a progressive JPEG", "baseline: not this module's (-ENOTSUP)");
        expect_error("red.png", -EBADMSG, "Not a JPEG file", "a PNG: -EBADMSG");
}

/* Cut short, corrupt, empty. */
static void test_broken(void) {
        long first = nth_scan(path("std.jpg"), 1), second = nth_scan(path("std.jpg"), 2);
        char cmd[1024];

        ok(first > 0 && second > first + 400, "std.jpg: two scans at least");
        (void) snprintf(cmd, sizeof cmd,
                        "cd '%s' && head -c %ld std.jpg >cut-dc.jpg && head -c %ld std.jpg >cut-after-dc.jpg && "
                        "cp std.jpg garbage.jpg && yes 'garbage!' | head -c 300 | dd of=garbage.jpg bs=1 seek=%ld "
                        "conv=notrunc 2>/dev/null && : >empty.jpg && head -c 100 std.jpg >header-only.jpg",
                        dir, first + 200, second, first + 30);
        if (run(cmd) < 0) {
                ok(false, "cannot cut std.jpg");
                return;
        }
        expect_error("cut-dc.jpg", -ENODATA, "the data ends in the DC scans", "cut inside the DC scan: -ENODATA");
        expect_error("cut-after-dc.jpg", -ENODATA, "the data ends", "cut right after the DC scan: -ENODATA");
        expect_error("garbage.jpg", -EBADMSG, "Corrupt JPEG data", "garbage in the DC scan: -EBADMSG");
        expect_error("empty.jpg", -EBADMSG, "", "an empty file: -EBADMSG");
        expect_error("header-only.jpg", -ENODATA, "the data ends in the header", "cut inside the header: -ENODATA");
}

static void test_eighth(void) {
        ok(decode_jpeg_eighth(4032, 3024, 256, 192), "4032x3024 for a 256x192 hint: 1/8");
        ok(decode_jpeg_eighth(2048, 1536, 256, 192), "2048x1536 for 256x192: exactly 1/8");
        ok(!decode_jpeg_eighth(2047, 1536, 256, 192), "2047x1536 for 256x192: not (1/4)");
        ok(!decode_jpeg_eighth(4032, 3024, 600, 450), "4032x3024 for 600x450: not (1/4)");
        ok(!decode_jpeg_eighth(4032, 3024, 0, 0), "no hint (a full decode): not");
}

int main(void) {
        if (!mkdtemp(dir))
                return 99;
        test_eighth();
        test_standard_script();
        test_scan_scripts();
        test_layouts();
        test_metadata();
        test_broken();
        {
                char cmd[300];

                (void) snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
                (void) run(cmd);
        }
        return done_testing();
}
