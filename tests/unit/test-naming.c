/* test-naming.c - image and temporary names, templates, output paths. */
#include "build-config.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "naming.h"
#include "tap.h"

static void test_extensions(void) {
        is_str(naming_extension("photo.jpg"), ".jpg", "extension of photo.jpg");
        is_str(naming_extension("a.tar.gz"), ".gz", "extension is the last one");
        is_str(naming_extension(".profile"), "", "a leading dot is not an extension");
        is_str(naming_extension("..jpg"), "", "leading dots only: no extension");
        is_str(naming_extension("noext"), "", "no dot: no extension");

        static const char *const images[] = { "a.jpg", "a.JPG", "a.jpeg", "a.JpEg", "a.png", "a.gif", "a.webp",
                                              "a.tif", "a.TIFF", "a.bmp", ".hidden.jpg", "sp ace.jpg",
                                              "ünïcödé.png" };
        static const char *const others[] = { "a.txt", "a", "jpg", ".jpg", "a.jpg.txt", "a.jp", "a.svg",
                                              "a.pdf", "a.jpgx" };
        for (size_t i = 0; i < sizeof images / sizeof images[0]; i++)
                ok(naming_is_image(images[i]), images[i]);
        for (size_t i = 0; i < sizeof others / sizeof others[0]; i++)
                ok(!naming_is_image(others[i]), others[i]);
}

static void test_temporary(void) {
        static const char *const temporary[] = { ".photo.jpg.Ab3xZ9", ".x.123456", "photo.jpg.part", "a.crdownload",
                                                 "a.TMP", "~photo.jpg", ".DS_Store", "._photo.jpg" };
        static const char *const real[] = { "photo.jpg", ".hidden.jpg", "partial.jpg", "tmp.jpg",
                                            "photo~.jpg", ".a.b", ".photo.jpg.Ab3xZ", "DS_Store.jpg" };

        for (size_t i = 0; i < sizeof temporary / sizeof temporary[0]; i++)
                ok(naming_is_temporary(temporary[i]), temporary[i]);
        for (size_t i = 0; i < sizeof real / sizeof real[0]; i++)
                ok(!naming_is_temporary(real[i]), real[i]);

        char raw[] = "*.raw", draft[] = "draft-*";
        char *globs[] = { raw, draft };
        ok(naming_matches_any("x.raw", globs, 2), "ignore glob *.raw matches");
        ok(naming_matches_any("draft-1.jpg", globs, 2), "ignore glob draft-* matches");
        ok(!naming_matches_any("final.jpg", globs, 2), "ignore globs do not match other names");
        ok(!naming_matches_any(".x.raw", globs, 2), "a glob's * does not match a leading dot");
}

static void test_templates(void) {
        const char *reason = NULL;
        char *s = NULL;

        is_int(naming_check_template("{stem}_thumbnail{ext}", false, &reason), 0, "default template is valid");
        is_int(naming_check_template("{name}.{size}.png", true, &reason), 0, "{name} with {size} is valid");
        is_int(naming_check_template("", false, &reason), -EINVAL, "empty template refused");
        is_int(naming_check_template("thumb{ext}", false, &reason), -EINVAL, "template without {stem} or {name} refused");
        is_int(naming_check_template("a/{stem}{ext}", false, &reason), -EINVAL, "template with '/' refused");
        is_int(naming_check_template("{stem}{bogus}", false, &reason), -EINVAL, "unknown token refused");
        is_int(naming_check_template("{stem", false, &reason), -EINVAL, "unclosed brace refused");
        is_int(naming_check_template("{stem}}", false, &reason), -EINVAL, "stray } refused");
        is_int(naming_check_template("{stem}{ext}", true, &reason), -EINVAL, "several sizes need a size token");
        is_int(naming_check_template("{stem}_{width}w{ext}", true, &reason), 0, "{width} is a size token");

        is_int(naming_expand("{stem}_thumbnail{ext}", "photo.jpg", 128, 128, &s), 0, "expand default");
        is_str(s, "photo_thumbnail.jpg", "photo.jpg -> photo_thumbnail.jpg");
        free(s);
        is_int(naming_expand("{stem}_thumbnail{ext}", "Photo.JPEG", 128, 128, &s), 0, "expand keeps case");
        is_str(s, "Photo_thumbnail.JPEG", "extension case is kept");
        free(s);
        is_int(naming_expand("{name}-{size}-{width}x{height}", "a b.png", 256, 100, &s), 0, "expand all tokens");
        is_str(s, "a b.png-256x100-256x100", "every token");
        free(s);
        is_int(naming_expand("{stem}_thumbnail{ext}", "фото 1.png", 1, 1, &s), 0, "expand UTF-8");
        is_str(s, "фото 1_thumbnail.png", "UTF-8 and spaces are kept");
        free(s);
        is_int(naming_expand("{stem}_thumbnail{ext}", "IMG_0001.HEIC", 1, 1, &s), 0, "expand a HEIC");
        is_str(s, "IMG_0001_thumbnail.HEIC.jpg", "a HEIC's thumbnail is a JPEG, named apart from IMG_0001.JPG's");
        free(s);
        is_int(naming_expand("{stem}_thumbnail{ext}", "IMG_0001.CR2", 1, 1, &s), 0, "expand a RAW");
        is_str(s, "IMG_0001_thumbnail.CR2.jpg", "a RAW's thumbnail is a JPEG");
        free(s);
        is_int(naming_expand_ext("{stem}_thumbnail{ext}", "a.avif", ".webp", 1, 1, &s), 0, "expand, format = webp");
        is_str(s, "a_thumbnail.webp", "an output format's extension replaces the source's");
        free(s);

        char long_name[NAME_MAX + 1], other[NAME_MAX + 1], *s2 = NULL, *s3 = NULL;
        memset(long_name, 'a', NAME_MAX - 4);
        strcpy(long_name + NAME_MAX - 4, ".jpg");
        strcpy(other, long_name);
        other[100] = 'b';
        is_int(naming_expand("{stem}_thumbnail{ext}", long_name, 1, 1, &s), 0, "a 255-byte source name");
        ok(strlen(s) <= NAMING_NAME_MAX, "... gets a thumbnail name that fits, with room for its temporary");
        ok(strcmp(s + strlen(s) - 4, ".jpg") == 0 && strchr(s, '~'), "... ending in ~HASH.jpg");
        (void) naming_expand("{stem}_thumbnail{ext}", long_name, 1, 1, &s2);
        is_str(s2, s, "... the same every time");
        (void) naming_expand("{stem}_thumbnail{ext}", other, 1, 1, &s3);
        ok(strcmp(s3, s) != 0, "... and different for a different long name");
        free(s);
        free(s2);
        free(s3);
        {
                /* 2-byte UTF-8 characters: the cut must not split one. */
                char utf[NAME_MAX + 1] = "";
                for (int i = 0; i < 125; i++)
                        strcat(utf, "é");
                strcat(utf, ".png");
                is_int(naming_expand("{stem}_thumbnail{ext}", utf, 1, 1, &s), 0, "a long UTF-8 name");
                size_t tilde = (size_t) (strchr(s, '~') - s);
                ok(tilde % 2 == 0, "... is cut at a character boundary");
                free(s);
        }
}

static void test_output_paths(void) {
        unsigned char rnd[NAMING_TEMPORARY_RANDOM] = { 0, 1, 2, 61, 62, 255 };
        char tmp[NAME_MAX + 1], longest[NAME_MAX + 1];

        is_int(naming_temporary("a.jpg", rnd, tmp), 0, "a temporary's name");
        ok(naming_is_own_temporary(tmp), "... is one of ours");
        ok(naming_is_temporary(tmp) || tmp[0] == '.', "... and hidden");
        ok(!naming_is_own_temporary(".a.jpg.AbC123"), "rsync's temporary is not ours");
        ok(!naming_is_own_temporary(".DS_Store"), ".DS_Store is not ours");
        ok(!naming_is_own_temporary("a.jpg" NAMING_TEMPORARY_INFIX "AbC123"), "a visible name is not ours");
        memset(longest, 'x', NAMING_NAME_MAX);
        longest[NAMING_NAME_MAX] = '\0';
        is_int(naming_temporary(longest, rnd, tmp), 0, "the longest thumbnail name has room for its temporary");
        ok(strlen(tmp) <= NAME_MAX, "... within NAME_MAX");
        longest[NAMING_NAME_MAX] = 'x';
        longest[NAMING_NAME_MAX + 1] = '\0';
        is_int(naming_temporary(longest, rnd, tmp), -ENAMETOOLONG, "one more character: refused");

        ok(naming_path_is_under("/a/b", "/a"), "/a/b is under /a");
        ok(naming_path_is_under("/a", "/a"), "/a is under /a");
        is_str(naming_path_below("/a/b/c", "/a"), "b/c", "below /a: b/c");
        is_str(naming_path_below("/a", "/a"), "", "/a below itself: nothing");
        is_str(naming_path_below("/a/b", "/"), "a/b", "below /: a/b");
        is_str(naming_path_below("/", "/"), "", "/ below itself: nothing");
        ok(!naming_path_is_under("/ab", "/a"), "/ab is not under /a");
        ok(naming_path_is_under("/x", "/"), "everything is under /");
}

int main(void) {
        test_extensions();
        test_temporary();
        test_templates();
        test_output_paths();
        return done_testing();
}
