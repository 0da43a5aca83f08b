/* floor.c - the decoder's floor: libjpeg-turbo alone decoding each JPEG at
 * the scale thumbwatch asks for (twice the thumbnail fitted to BOXxBOX, as
 * GraphicsMagick turns a size hint into scale_denom), pixels discarded.
 * Usage: floor BOX FILE...   One process decodes its files one after another;
 * bench/run starts one per core. */
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>

#include <jpeglib.h>

typedef struct {
        struct jpeg_error_mgr mgr;
        jmp_buf jump;
} Error;

static void fail(j_common_ptr cinfo) {
        longjmp(((Error *) cinfo->err)->jump, 1);
}

static void fit(unsigned long w, unsigned long h, unsigned long box, unsigned long *rw, unsigned long *rh) {
        if (w <= box && h <= box) {
                *rw = w;
                *rh = h;
        } else if (w >= h) {
                *rw = box;
                *rh = (h * box + w / 2) / w;
        } else {
                *rh = box;
                *rw = (w * box + h / 2) / h;
        }
}

static int decode(const char *path, unsigned long box) {
        struct jpeg_decompress_struct cinfo;
        JSAMPARRAY row = NULL;
        unsigned long fw, fh;
        FILE *f;
        Error err;

        f = fopen(path, "rb");
        if (!f) {
                perror(path);
                return -1;
        }
        cinfo.err = jpeg_std_error(&err.mgr);
        err.mgr.error_exit = fail;
        if (setjmp(err.jump)) {
                fprintf(stderr, "%s: cannot decode\n", path);
                jpeg_destroy_decompress(&cinfo);
                fclose(f);
                return -1;
        }
        jpeg_create_decompress(&cinfo);
        jpeg_stdio_src(&cinfo, f);
        (void) jpeg_read_header(&cinfo, TRUE);
        fit(cinfo.image_width, cinfo.image_height, box, &fw, &fh);
        if (2 * fw < cinfo.image_width && 2 * fh < cinfo.image_height) {
                double sw = (double) cinfo.image_width / (double) (2 * fw);
                double sh = (double) cinfo.image_height / (double) (2 * fh);

                cinfo.scale_num = 1;
                cinfo.scale_denom = (unsigned) (sw < sh ? sw : sh);
        }
        (void) jpeg_start_decompress(&cinfo);
        row = (*cinfo.mem->alloc_sarray)((j_common_ptr) &cinfo, JPOOL_IMAGE,
                                         cinfo.output_width * (JDIMENSION) cinfo.output_components, 1);
        while (cinfo.output_scanline < cinfo.output_height)
                (void) jpeg_read_scanlines(&cinfo, row, 1);
        (void) jpeg_finish_decompress(&cinfo);
        jpeg_destroy_decompress(&cinfo);
        fclose(f);
        return 0;
}

int main(int argc, char **argv) {
        unsigned long box;
        int failed = 0;

        if (argc < 2) {
                fprintf(stderr, "usage: floor BOX FILE...\n");
                return 2;
        }
        box = strtoul(argv[1], NULL, 10);
        for (int i = 2; i < argc; i++)
                failed |= decode(argv[i], box) < 0;
        return failed;
}
