/* test-output-tree.c - where thumbnails go, the identity stamp and its
 * comparison, what is removed and what stays, on a temporary tree. */
#include "build-config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "config-file.h"
#include "naming.h"
#include "output-tree.h"
#include "tap.h"

static char dir[] = "/tmp/thumbwatch-test-output-tree.XXXXXX";

static DropConfig drop(const char *source, const char *output) {
        static char src[PATH_MAX], out[PATH_MAX];
        static char tmpl[] = "{stem}_thumbnail{ext}", name[] = "t";

        (void) snprintf(src, sizeof src, "%s", source);
        (void) snprintf(out, sizeof out, "%s", output);
        return (DropConfig) {
                .name = name,
                .source = src,
                .output = out,
                .sizes = { { 128, 128, THUMBNAIL_FIT } },
                .n_sizes = 1,
                .name_template = tmpl,
                .recursive = true,
                .delete_with_source = true,
                .formats = THUMBNAIL_ALL_FORMATS,
        };
}

static void test_paths(void) {
        DropConfig d = drop("/src", "/out");
        static char several[] = "{stem}_{size}{ext}", stem[] = "{stem}";
        Outputs o;

        is_int(outputs_init(&o, &d, "/src/photo.jpg"), 0, "top level");
        is_str(o.path[0], "/out/photo_thumbnail.jpg", "... goes to the output root");
        is_str(o.dir[0], "", "... whose folder is the root");
        is_str(o.name, "photo.jpg", "... and the source's name is kept");
        outputs_done(&o);
        is_int(outputs_init(&o, &d, "/src/a/b/photo.jpg"), 0, "nested");
        is_str(o.path[0], "/out/a/b/photo_thumbnail.jpg", "... keeps the sub-folders");
        is_str(o.dir[0], "a/b", "... relative folder");
        is_str(o.rel, "a/b/photo.jpg", "... relative source");
        outputs_done(&o);
        d = drop("/s rc", "/o ut");
        is_int(outputs_init(&o, &d, "/s rc/d ir/ph oto.png"), 0, "spaces");
        is_str(o.path[0], "/o ut/d ir/ph oto_thumbnail.png", "... are kept");
        outputs_done(&o);
        d = drop("/", "/out");
        is_int(outputs_init(&o, &d, "/a/p.jpg"), 0, "source root /");
        is_str(o.path[0], "/out/a/p_thumbnail.jpg", "... works");
        outputs_done(&o);
        d = drop("/src", "/out");
        is_int(outputs_init(&o, &d, "/srcx/p.jpg"), -EINVAL, "a sibling with the root as prefix is not under it");
        is_int(outputs_init(&o, &d, "/src"), -EINVAL, "the root itself has no thumbnails");
        is_int(outputs_init(&o, &d, "/src/.thumbwatch/x.jpg"), -EPERM,
               "a source folder named like the state folder is never mirrored onto it");
        is_int(outputs_init(&o, &d, "/src/a/.thumbwatch/x.jpg"), 0, "... below the top it is an ordinary folder");
        outputs_done(&o);
        d.name_template = stem;
        is_int(outputs_init(&o, &d, "/src/.thumbwatch.jpg"), -EPERM, "no template can name a thumbnail '.thumbwatch'");
        d = drop("/src", "/out");
        d.output_format = THUMBNAIL_JPEG;
        is_int(outputs_init(&o, &d, "/src/a.png"), 0, "format = jpeg");
        is_str(o.path[0], "/out/a_thumbnail.jpg", "... {ext} follows the output format");
        outputs_done(&o);
        d = drop("/src", "/out");
        d.name_template = several;
        d.sizes[1] = (ThumbSize) { 256, 256, THUMBNAIL_FIT };
        d.n_sizes = 2;
        is_int(outputs_init(&o, &d, "/src/a.jpg"), 0, "two sizes");
        is_int((long long) o.n, 2, "... two thumbnails");
        is_str(o.path[1], "/out/a_256x256.jpg", "... each named from the template");
        outputs_done(&o);
        d = drop("/src", "/cache");
        d.layout = LAYOUT_FREEDESKTOP;
        d.sizes[1] = (ThumbSize) { 256, 256, THUMBNAIL_FIT };
        d.n_sizes = 2;
        is_int(outputs_init(&o, &d, "/src/a b.jpg"), 0, "freedesktop");
        is_str(o.dir[0], "normal", "... 128 goes to normal/");
        is_str(o.dir[1], "large", "... 256 to large/");
        is_str(o.uri, "file:///src/a%20b.jpg", "... named after the URI");
        ok(strlen(o.file[0]) == 36 && strcmp(o.file[0] + 32, ".png") == 0, "... as MD5.png");
        outputs_done(&o);
}

static int write_file(const char *path, const char *text) {
        FILE *f = fopen(path, "w");

        if (!f)
                return -1;
        fputs(text, f);
        return fclose(f);
}

/* Writes a thumbnail for o's thumbnail 0 the way thumbnail.c does, stamped
 * with the identity of the source file src (as made from it). */
static void make_stamped(const Outputs *o, const char *src) {
        OutputStamp stamp = { .name = o->name, .recipe = o->recipe };
        struct stat st;
        int fd;

        if (output_stat_source(AT_FDCWD, src, 0, &st, &stamp.id) < 0)
                abort();
        fd = open(o->path[0], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0 || write(fd, "thumb", 5) != 5 || output_stamp_fd(fd, &stamp) < 0 || close(fd) < 0)
                abort();
}

static SourceIdentity identity_of(const char *path) {
        SourceIdentity id;
        struct stat st;

        if (output_stat_source(AT_FDCWD, path, 0, &st, &id) < 0)
                abort();
        return id;
}

static char *at(const char *rel) {
        return tap_path(dir, rel);
}

static void test_identity(void) {
        DropConfig d = drop(at("in"), at("out"));
        char other[NAME_MAX + 1];
        SourceIdentity id;
        Outputs o, p;

        (void) mkdir(at("in"), 0755);
        (void) mkdir(at("out"), 0755);
        write_file(at("in/a.jpg"), "one");
        is_int(outputs_init(&o, &d, at("in/a.jpg")), 0, "outputs of in/a.jpg");
        id = identity_of(at("in/a.jpg"));
        is_int(outputs_state(&o, 0, &id, NULL), THUMB_MISSING, "no thumbnail yet: missing");
        make_stamped(&o, at("in/a.jpg"));
        is_int(outputs_state(&o, 0, &id, NULL), THUMB_CURRENT, "stamped with the source's identity: current");
        ok(outputs_current(&o, &id), "... every thumbnail current");

        /* The thumbnail's own times do not matter. */
        {
                struct timespec old[2] = { { 1, 0 }, { 1, 0 } };

                (void) utimensat(AT_FDCWD, o.path[0], old, 0);
                is_int(outputs_state(&o, 0, &id, NULL), THUMB_CURRENT, "a thumbnail's own mtime does not count");
        }
        /* An older mtime (cp -p, rsync -a, tar x), a future one, in place. */
        {
                struct timespec older[2] = { { 1577836800, 0 }, { 1577836800, 0 } };
                struct timespec future[2] = { { 4102444800, 0 }, { 4102444800, 0 } };

                (void) utimensat(AT_FDCWD, at("in/a.jpg"), older, 0);
                id = identity_of(at("in/a.jpg"));
                is_int(outputs_state(&o, 0, &id, NULL), THUMB_STALE, "the source's mtime set back: stale");
                make_stamped(&o, at("in/a.jpg"));
                (void) utimensat(AT_FDCWD, at("in/a.jpg"), future, 0);
                id = identity_of(at("in/a.jpg"));
                is_int(outputs_state(&o, 0, &id, NULL), THUMB_STALE, "set to the future: stale");
                make_stamped(&o, at("in/a.jpg"));
                (void) utimensat(AT_FDCWD, at("in/a.jpg"), older, 0);
                id = identity_of(at("in/a.jpg"));
                is_int(outputs_state(&o, 0, &id, NULL), THUMB_STALE, "... and back from the future: stale");
        }
        /* Replaced by another file with the same size and mtime: another inode. */
        make_stamped(&o, at("in/a.jpg"));
        write_file(at("in/b.tmp"), "two");
        {
                struct stat st;
                struct timespec t[2];

                (void) stat(at("in/a.jpg"), &st);
                t[0] = st.st_atim;
                t[1] = st.st_mtim;
                (void) utimensat(AT_FDCWD, at("in/b.tmp"), t, 0);
        }
        (void) rename(at("in/b.tmp"), at("in/a.jpg"));
        id = identity_of(at("in/a.jpg"));
        is_int(outputs_state(&o, 0, &id, NULL), THUMB_STALE, "replaced by a file of the same size and mtime: stale");
        /* Same inode and mtime, another size. */
        make_stamped(&o, at("in/a.jpg"));
        id.size++;
        is_int(outputs_state(&o, 0, &id, NULL), THUMB_STALE, "another size: stale");
        id.size--;
        /* ctime is not part of it: chmod does not make a thumbnail stale. */
        (void) chmod(at("in/a.jpg"), 0600);
        id = identity_of(at("in/a.jpg"));
        is_int(outputs_state(&o, 0, &id, NULL), THUMB_CURRENT, "chmod leaves it current");

        /* Unstamped: not thumbwatch's, or an older thumbwatch's: made again. */
        (void) unlink(o.path[0]);
        write_file(o.path[0], "unstamped");
        is_int(outputs_state(&o, 0, &id, NULL), THUMB_STALE, "an unstamped file at the name: stale");
        {
                int dfd = open(at("out"), O_PATH | O_DIRECTORY);

                is_int(output_read_stamp(dfd, "a_thumbnail.jpg", NULL), 0, "output_read_stamp: not stamped");
                (void) close(dfd);
        }

        /* Two sources, one name: a.jpg's thumbnail is not a.png's. */
        make_stamped(&o, at("in/a.jpg"));
        d.output_format = THUMBNAIL_JPEG;
        write_file(at("in/a.png"), "png");
        is_int(outputs_init(&p, &d, at("in/a.png")), 0, "outputs of in/a.png with format = jpeg");
        is_str(p.path[0], o.path[0], "... the same thumbnail name as a.jpg's");
        id = identity_of(at("in/a.png"));
        is_int(outputs_state(&p, 0, &id, other), THUMB_TAKEN, "... which is taken");
        is_str(other, "a.jpg", "... by a.jpg");
        is_int(outputs_remove(&p), 0, "removing a.png's thumbnails removes nothing of a.jpg's");
        ok(access(o.path[0], F_OK) == 0, "... a.jpg's thumbnail is still there");
        outputs_done(&p);
        is_int(outputs_remove(&o), 1, "removing a.jpg's removes its own");
        ok(access(o.path[0], F_OK) < 0, "... gone");
        outputs_done(&o);
}

/* Names that start with white space, and a settings change. */
static void test_stamp_names(void) {
        static const char *const names[] = { " x.jpg", "\nx.jpg", "  \t x.jpg", "x .jpg" };
        DropConfig d = drop(at("in"), at("out"));

        for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
                char src[PATH_MAX], other[NAME_MAX + 1] = "", stamped[NAME_MAX + 1] = "";
                SourceIdentity id;
                Outputs o;
                int dfd;

                (void) snprintf(src, sizeof src, "%s/%s", at("in"), names[i]);
                write_file(src, "w");
                if (outputs_init(&o, &d, src) < 0)
                        abort();
                make_stamped(&o, src);
                id = identity_of(src);
                is_int(outputs_state(&o, 0, &id, other), THUMB_CURRENT, "a name starting with white space: current");
                dfd = open(at("out"), O_PATH | O_DIRECTORY);
                is_int(output_read_stamp(dfd, o.file[0], stamped), 1, "... its stamp is read");
                is_str(stamped, names[i], "... naming it exactly");
                (void) close(dfd);
                d.quality = 60;
                o.recipe = output_recipe(&d);
                is_int(outputs_state(&o, 0, &id, NULL), THUMB_STALE, "... made with another quality: stale");
                d.quality = 0;
                outputs_done(&o);
                (void) unlink(src);
        }
}

/* color = srgb, the default, stamps the recipe a drop's thumbnails had
 * before the key existed: an upgrade does not make every thumbnail again.
 * color = keep stamps another, so changing the key does. */
static void test_recipe_color(void) {
        ThumbwatchConfig *c = NULL;
        char *msg = NULL;
        uint64_t srgb;

        if (config_new(&c) < 0 || config_set_single_drop(c, "/a", "/b", &msg) < 0)
                abort();
        srgb = output_recipe(&c->drops[0]);
        /* The recipe of the default drop, as output_recipe() gave it before color. */
        is_int(srgb, 0xc74be96c27c009d4ULL, "color = srgb: the recipe of before the key (c74be96c27c009d4)");
        c->drops[0].colour = THUMBNAIL_COLOUR_KEEP;
        ok(output_recipe(&c->drops[0]) != srgb, "color = keep: another recipe");
        config_unref(c);
}

static void test_precision(void) {
        struct timespec s = { 1700000001, 123456789 };

        ok(output_same_time(&(struct timespec) { 1700000001, 123456789 }, &s), "the same time");
        ok(output_same_time(&(struct timespec) { 1700000001, 123456700 }, &s), "cut to 100 ns (NTFS, SMB)");
        ok(output_same_time(&(struct timespec) { 1700000001, 123456000 }, &s), "cut to 1 us");
        ok(output_same_time(&(struct timespec) { 1700000001, 0 }, &s), "cut to 1 s (ext3, ext4 with 128-byte inodes)");
        ok(output_same_time(&(struct timespec) { 1700000000, 0 }, &s), "cut to 2 s (FAT)");
        ok(!output_same_time(&(struct timespec) { 1700000001, 123456788 }, &s), "1 ns off: not the same");
        ok(!output_same_time(&(struct timespec) { 1700000002, 0 }, &s), "a later second: not the same");
        ok(!output_same_time(&(struct timespec) { 1699999999, 0 }, &s), "an earlier second: not the same");
}

static void test_removal(void) {
        DropConfig d = drop(at("src"), at("dst"));
        int fd;

        (void) mkdir(at("src"), 0755);
        (void) mkdir(at("src/sub"), 0755);
        (void) mkdir(at("dst"), 0755);
        (void) mkdir(at("dst/sub"), 0755);
        (void) mkdir(at("dst/sub/deeper"), 0755);
        write_file(at("src/sub/x.jpg"), "x");
        {
                Outputs o;

                if (outputs_init(&o, &d, at("src/sub/x.jpg")) < 0)
                        abort();
                make_stamped(&o, at("src/sub/x.jpg"));
                outputs_done(&o);
        }
        write_file(at("dst/sub/cover.png"), "a user's own file");
        write_file(at("dst/sub/deeper/notes.txt"), "a user's own file");
        write_file(at("dst/sub/.x_thumbnail.jpg" NAMING_TEMPORARY_INFIX "AbC123"), "a temporary of ours");
        fd = open(at("dst/sub"), O_PATH | O_DIRECTORY);
        ok(output_is_ours(fd, "x_thumbnail.jpg"), "a stamped thumbnail is ours");
        ok(!output_is_ours(fd, "cover.png"), "a user's image is not");
        ok(output_is_ours(fd, ".x_thumbnail.jpg" NAMING_TEMPORARY_INFIX "AbC123"), "our temporary is ours");
        (void) close(fd);
        is_int(output_folder_remove(&d, at("src/sub")), 2, "a source folder gone: our two files go");
        ok(access(at("dst/sub/x_thumbnail.jpg"), F_OK) < 0, "... the thumbnail");
        ok(access(at("dst/sub/cover.png"), F_OK) == 0, "... a user's file stays");
        ok(access(at("dst/sub/deeper/notes.txt"), F_OK) == 0, "... and one further down");
        is_int(output_folder_remove(&d, at("src/" OUTPUT_STATE_DIR)), 0, "the state folder is never removed as a mirror");
        is_int(output_folder_moved(&d, at("src/sub"), at("src/" OUTPUT_STATE_DIR)), -EPERM,
               "... nor moved onto");
        is_int(output_folder_moved(&d, at("src/sub"), at("src/renamed/sub")), 0, "a folder renamed");
        ok(access(at("dst/renamed/sub/cover.png"), F_OK) == 0, "... its mirror follows, parents made");
}

/* A worker's thumbnail, its source's path changed once it was written: it
 * goes through the folder it was written to, wherever that folder is now,
 * while it carries the worker's stamp; unless the folder followed the file.
 * And the mirror folders made under a name that is gone go, up the chain. */
static void test_written(void) {
        DropConfig d = drop(at("w-src"), at("w-out"));
        char *failed = NULL;
        OutputStamp stamp;
        Outputs o, now, g;
        struct stat st;

        (void) mkdir(at("w-src"), 0755);
        (void) mkdir(at("w-src/a"), 0755);
        (void) mkdir(at("w-out"), 0755);
        write_file(at("w-src/a/x.jpg"), "x");
        if (outputs_init(&o, &d, at("w-src/a/x.jpg")) < 0)
                abort();
        is_int(outputs_open(&o, true, &failed), 0, "a worker opens (makes) its output folder");
        free(failed);
        stamp = (OutputStamp) { .name = o.name, .recipe = o.recipe };
        if (output_stat_source(AT_FDCWD, at("w-src/a/x.jpg"), 0, &st, &stamp.id) < 0)
                abort();
        make_stamped(&o, at("w-src/a/x.jpg"));

        /* The folder renamed with its file, and its mirror with it. */
        if (rename(at("w-src/a"), at("w-src/b")) < 0 || rename(at("w-out/a"), at("w-out/b")) < 0)
                abort();
        is_int(outputs_remove_written(&o, &stamp, &st), 0,
               "the folder renamed with its file, the mirror too: the thumbnail written stays");
        ok(access(at("w-out/b/x_thumbnail.jpg"), F_OK) == 0, "... where it belongs");

        /* The file moved out, then its folder renamed, and the mirror with it. */
        if (rename(at("w-src/b/x.jpg"), at("w-src/x.jpg")) < 0 || rename(at("w-src/b"), at("w-src/c")) < 0 ||
            rename(at("w-out/b"), at("w-out/c")) < 0)
                abort();
        is_int(outputs_remove_written(&o, &stamp, &st), 1,
               "the file moved out, its folder renamed: the thumbnail written goes");
        ok(access(at("w-out/c/x_thumbnail.jpg"), F_OK) < 0, "... from where its folder is now");

        /* Another file under the name now, its thumbnail written since. */
        write_file(at("w-src/c/x.jpg"), "another x");
        if (outputs_init(&now, &d, at("w-src/c/x.jpg")) < 0)
                abort();
        make_stamped(&now, at("w-src/c/x.jpg"));
        outputs_done(&now);
        is_int(outputs_remove_written(&o, &stamp, NULL), 0, "a thumbnail written since, of another file, stays");
        ok(access(at("w-out/c/x_thumbnail.jpg"), F_OK) == 0, "... there");
        outputs_done(&o);

        /* Mirror folders made under names that are gone. */
        (void) mkdir(at("w-out/gone"), 0755);
        (void) mkdir(at("w-out/gone/too"), 0755);
        (void) mkdir(at("w-out/c/gone"), 0755);
        if (outputs_init(&g, &d, at("w-src/gone/too/y.jpg")) < 0)
                abort();
        outputs_remove_gone_dirs(&g);
        outputs_done(&g);
        ok(access(at("w-out/gone"), F_OK) < 0, "empty mirror folders of gone source folders go, up the chain");
        if (outputs_init(&g, &d, at("w-src/c/gone/y.jpg")) < 0)
                abort();
        outputs_remove_gone_dirs(&g);
        outputs_done(&g);
        ok(access(at("w-out/c/gone"), F_OK) < 0 && access(at("w-out/c/x_thumbnail.jpg"), F_OK) == 0,
           "... up to the first whose source folder is there");
}

static void test_temporaries(void) {
        DropConfig d = drop(at("src"), at("tmp-out"));
        static const char *const theirs[] = { ".DS_Store", "._photo.jpg", ".x.tmp", ".x.part", ".x.crdownload",
                                              ".photo.jpg.AbC123", ".hidden.jpg" };
        char ours[NAME_MAX + 1];
        unsigned char rnd[NAMING_TEMPORARY_RANDOM] = { 1, 2, 3, 4, 5, 6 };

        (void) mkdir(at("tmp-out"), 0755);
        for (size_t i = 0; i < sizeof theirs / sizeof *theirs; i++) {
                char *p = NULL;

                if (asprintf(&p, "%s/%s", at("tmp-out"), theirs[i]) < 0)
                        abort();
                write_file(p, "theirs");
                free(p);
        }
        is_int(naming_temporary("a_thumbnail.jpg", rnd, ours), 0, "our temporary's name");
        write_file(at("tmp-out/x"), "");
        {
                char *p = NULL;

                if (asprintf(&p, "%s/%s", at("tmp-out"), ours) < 0)
                        abort();
                write_file(p, "ours");
                free(p);
        }
        is_int(output_clean_temporaries(&d), 1, "start-up removes our one temporary");
        for (size_t i = 0; i < sizeof theirs / sizeof *theirs; i++) {
                char *p = NULL;

                if (asprintf(&p, "%s/%s", at("tmp-out"), theirs[i]) < 0)
                        abort();
                if (!tap_ok(access(p, F_OK) == 0, __FILE__, __LINE__, "... and leaves others' hidden files"))
                        printf("#   %s is gone\n", theirs[i]);
                free(p);
        }
}

int main(void) {
        if (!mkdtemp(dir))
                return 99;
        test_paths();
        test_identity();
        test_stamp_names();
        test_precision();
        test_recipe_color();
        test_removal();
        test_written();
        test_temporaries();
        {
                char cmd[200];

                (void) snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
                if (system(cmd) != 0)
                        return 99;
        }
        return done_testing();
}
