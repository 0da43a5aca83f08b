/* test-image-format.c - every row of the table of image formats, through
 * every place that reads it: naming, formats = and format =, sniffing, and
 * the lists in messages. */
#include "build-config.h"

#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config-file.h"
#include "image-format.h"
#include "macro.h"
#include "naming.h"
#include "scan.h"
#include "tap.h"

static char dir[] = "/tmp/thumbwatch-test-image-format.XXXXXX";
static char path[256];

/* Loads a drop whose last line is line; the error message (caller frees)
 * or NULL, and its formats and output format. */
static char *load_drop(const char *line, unsigned *ret_formats, unsigned *ret_output) {
        ThumbwatchConfig *c = NULL;
        char *msg = NULL;
        FILE *f = fopen(path, "w");

        if (!f || fprintf(f, "[drop:x]\nsource = /tmp/in\noutput = /tmp/out\n%s\n", line) < 0 || fclose(f) != 0)
                abort();
        if (config_new(&c) < 0)
                abort();
        if (config_load(c, path, &msg) >= 0) {
                *ret_formats = c->drops[0].formats;
                *ret_output = c->drops[0].output_format;
        }
        config_free(c);
        return msg;
}

static void test_extensions(const ImageFormat *f) {
        for (size_t j = 0; j < IMAGE_FORMAT_EXTENSIONS_MAX && f->extensions[j]; j++) {
                char name[64], upper[64];

                (void) snprintf(name, sizeof name, "photo%s", f->extensions[j]);
                for (size_t k = 0; k < sizeof upper; k++)
                        upper[k] = (char) (name[k] >= 'a' && name[k] <= 'z' ? name[k] - 'a' + 'A' : name[k]);
                ok(naming_is_image(name), name);
                ok(naming_is_image(upper), upper);
                ok(image_format_from_extension(f->extensions[j]) == f, "the extension finds its row");
        }
}

static void test_names(const ImageFormat *f) {
        const char *names[1 + IMAGE_FORMAT_ALIASES_MAX] = { f->name };
        unsigned formats = 0, output = 0;
        char line[64];

        for (size_t j = 0; j < IMAGE_FORMAT_ALIASES_MAX; j++)
                names[j + 1] = f->aliases[j];
        for (size_t j = 0; j < ELEMENTSOF(names) && names[j]; j++) {
                char *msg;

                (void) snprintf(line, sizeof line, "formats = %s", names[j]);
                msg = load_drop(line, &formats, &output);
                ok(!msg && formats == f->bit, line);
                free(msg);
                (void) snprintf(line, sizeof line, "format = %s", names[j]);
                msg = load_drop(line, &formats, &output);
                if (f->output)
                        ok(!msg && output == f->bit, line);
                else
                        ok(msg && strstr(msg, "expected same, "), line);
                free(msg);
        }
        is_str(image_format_extension(f->bit), f->output ? f->extensions[0] : NULL, "a thumbnail's extension");
}

/* A file head that has the magic m, and zeros (or 'z' where the mask lets
 * any byte be) elsewhere. */
static void test_magics(const ImageFormat *f) {
        for (size_t j = 0; j < IMAGE_FORMAT_MAGICS_MAX && f->magics[j].len > 0; j++) {
                const ImageMagic *m = &f->magics[j];
                unsigned char head[32] = {};

                assert(m->offset + m->len <= sizeof head);
                for (size_t k = 0; k < m->len; k++)
                        head[m->offset + k] = m->mask && m->mask[k] != 'x' ? 'z' : (unsigned char) m->bytes[k];
                ok(!m->mask || strlen(m->mask) == m->len, "the mask is as long as the magic");
                ok(image_format_sniff(head, sizeof head) == f, "each magic sniffs to its row");
                ok(image_format_sniff(head, m->offset + m->len - 1) != f, "a head cut short does not");
        }
}

/* The rows recognised by sniff functions, on heads as their writers start
 * them; and what is refused with a word on what it is. */
static void test_sniff_functions(void) {
        static const unsigned char heic[] = "\0\0\0\x18" "ftypheic\0\0\0\0mif1heic";
        static const unsigned char avif[] = "\0\0\0\x1c" "ftypavif\0\0\0\0avifmif1miaf";
        static const unsigned char mp4[] = "\0\0\0\x18" "ftypisom\0\0\0\0isommp41";
        static const unsigned char cr3[] = "\0\0\0\x18" "ftypcrx \0\0\0\x01" "crx isom";
        static const unsigned char jxl[] = "\xff\x0a\xfa\x1f";
        static const unsigned char jxl_box[] = "\0\0\0\x0cJXL \r\n\x87\n";
        static const unsigned char cr2[] = "II*\0\x10\0\0\0CR\x02\0\0\0\0\0";
        static const unsigned char orf[] = "IIRO\x08\0\0\0\0\0\0\0";
        static const unsigned char tiff[] = "II*\0\x08\0\0\0\0\0\0\0\0\0\0\0";
        char what[128];

        is_str(image_format_sniff(heic, sizeof heic - 1)->name, "heic", "ftyp heic is HEIC");
        is_str(image_format_sniff(avif, sizeof avif - 1)->name, "avif", "ftyp avif is AVIF");
        is_str(image_format_sniff(jxl, sizeof jxl - 1)->name, "jxl", "FF 0A is JPEG XL");
        is_str(image_format_sniff(jxl_box, sizeof jxl_box - 1)->name, "jxl", "the JXL container is JPEG XL");
        is_str(image_format_sniff(cr2, sizeof cr2 - 1)->name, "raw", "a CR2 is a RAW before it is a TIFF");
        is_str(image_format_sniff(orf, sizeof orf - 1)->name, "raw", "an ORF is a RAW");
        is_str(image_format_sniff(tiff, sizeof tiff - 1)->name, "tiff", "a plain TIFF stays a TIFF");
        ok(!image_format_sniff(mp4, sizeof mp4 - 1), "an MP4 is no image");
        ok(image_format_describe_unknown(mp4, sizeof mp4 - 1, what, sizeof what) && strstr(what, "'isom'") &&
           strstr(what, "not HEIF or AVIF"), "an MP4 is described by its brand");
        ok(!image_format_sniff(cr3, sizeof cr3 - 1), "a CR3 is not read");
        ok(image_format_describe_unknown(cr3, sizeof cr3 - 1, what, sizeof what) && strstr(what, "CR3"),
           "a CR3 is described as one");
        ok(!image_format_describe_unknown(tiff, 4, what, sizeof what), "nothing to say of four bytes");
        is_int(image_format_written_as(image_format_from_name("heif")), THUMBNAIL_JPEG, "HEIF is written as JPEG");
        is_int(image_format_written_as(image_format_from_name("gif")), THUMBNAIL_GIF, "GIF as GIF");
        is_str(image_format_same_suffix(".HEIC"), ".jpg", "a .HEIC's thumbnail gets .jpg after it");
        is_str(image_format_same_suffix(".png"), "", "a .png's nothing");
        is_str(image_format_same_suffix(".txt"), "", "a .txt's nothing");
}

/* Every row is in the message of a bad formats = and in the skip reason of
 * a file that is not an image; the output rows in that of a bad format =. */
static void test_messages(void) {
        char source[] = "/tmp/in";
        DropConfig d = { .source = source, .recursive = true };
        unsigned formats = 0, output = 0;
        _cleanup_free_ char *bad_formats = load_drop("formats = svg", &formats, &output);
        _cleanup_free_ char *bad_output = load_drop("format = svg", &formats, &output);
        const ImageFormat *f;
        char why[512];

        ok(scan_path_skipped(&d, "notes.txt", why, sizeof why), "a .txt is skipped");
        ok(bad_formats && strstr(bad_formats, "expected formats from: jpeg png"), "formats = svg: the message");
        ok(bad_output && strstr(bad_output, "expected same, jpeg, png or webp"), "format = svg: the message");
        for (size_t i = 0; (f = image_format_at(i)); i++) {
                char name[32];

                (void) snprintf(name, sizeof name, " %s", f->name);
                ok(bad_formats && strstr(bad_formats, name), "formats = svg lists the format");
                ok(!bad_output || !strstr(bad_output, name + 1) == !f->output, "format = svg lists the outputs");
                for (size_t j = 0; j < IMAGE_FORMAT_EXTENSIONS_MAX && f->extensions[j]; j++)
                        ok(strstr(why, f->extensions[j]), "the skip reason lists the extension");
        }
        is_str(why,
               "not an image extension (.jpg .jpeg .png .gif .webp .tif .tiff .bmp .heic .heif .hif .avif .cr2 .dng "
               ".nef .arw .orf .rw2 .pef .jxl)",
               "the skip reason");
}

/* Whether the file at TOP_SRCDIR/rel contains text; true when there is no source tree to read. */
static bool doc_mentions(const char *rel, const char *text) {
        const char *top = getenv("TOP_SRCDIR");
        char file[512], buf[65536];
        size_t n;
        FILE *f;

        if (!top)
                return true;
        (void) snprintf(file, sizeof file, "%s/%s", top, rel);
        f = fopen(file, "re");
        if (!f)
                return false;
        n = fread(buf, 1, sizeof buf - 1, f);
        buf[n] = '\0';
        (void) fclose(f);
        return strstr(buf, text) != NULL;
}

/* The lists the man page and the sample config spell out by hand. */
static void test_docs(void) {
        char names[256], outputs[256];

        (void) image_format_list(IMAGE_FORMAT_LIST_NAMES, names, sizeof names);
        (void) image_format_list(IMAGE_FORMAT_LIST_OUTPUTS, outputs, sizeof outputs);
        ok(doc_mentions("man/thumbwatch.conf.5.in", names), "thumbwatch.conf(5) lists every format");
        ok(doc_mentions("etc/thumbwatch.conf", names), "the sample config lists every format");
        ok(doc_mentions("etc/thumbwatch.conf", outputs), "the sample config lists every output format");
}

int main(void) {
        const ImageFormat *f;
        unsigned all = 0;

        if (!mkdtemp(dir))
                abort();
        (void) snprintf(path, sizeof path, "%s/thumbwatch.conf", dir);
        for (size_t i = 0; (f = image_format_at(i)); i++) {
                ok(f->bit && !(all & f->bit), f->name);
                all |= f->bit;
                ok(image_format_from_bit(f->bit) == f && image_format_from_name(f->name) == f, "found by bit and name");
                ok(f->mime_type && strncmp(f->mime_type, "image/", 6) == 0, "a MIME type");
                /* No coder: decoded by a module of ours, never by GraphicsMagick, which cannot write it either. */
                ok(f->coder || (f->sniff && f->written_as), "a coder, or a sniff function and an output format");
                ok(!f->written_as || (!f->output && image_format_extension(f->written_as)), "written as an output");
                test_extensions(f);
                test_names(f);
                test_magics(f);
        }
        is_int(all, THUMBNAIL_ALL_FORMATS, "the rows make every format");
        test_messages();
        test_sniff_functions();
        test_docs();
        (void) unlink(path);
        (void) rmdir(dir);
        return done_testing();
}
