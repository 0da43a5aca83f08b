/* test-scan.c - the tree walk: what it reports, what it skips, and that a
 * folders-only walk sees a folder created while it runs. */
#include "build-config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config-file.h"
#include "scan.h"
#include "tap.h"

static char root[] = "/tmp/thumbwatch-test-scan.XXXXXX";

static void touch(const char *rel) {
        char p[512];
        FILE *f;

        (void) snprintf(p, sizeof p, "%s/%s", root, rel);
        f = fopen(p, "w");
        if (!f)
                abort();
        fclose(f);
}

static void mkdir_rel(const char *rel) {
        char p[512];

        (void) snprintf(p, sizeof p, "%s/%s", root, rel);
        if (mkdir(p, 0755) < 0 && errno != EEXIST)
                abort();
}

typedef struct Seen {
        char names[64][256];
        int n;
} Seen;

static void remember(Seen *s, const char *path) {
        const char *rel = path + strlen(root);
        if (s->n < 64)
                (void) snprintf(s->names[s->n++], 256, "%s", *rel ? rel + 1 : ".");
}

static bool seen(const Seen *s, const char *name) {
        for (int i = 0; i < s->n; i++)
                if (strcmp(s->names[i], name) == 0)
                        return true;
        return false;
}

static int on_file(char *path, void *userdata) {
        remember(userdata, path);
        free(path);
        return 0;
}

static int on_dir(const char *path, const struct stat *st, void *userdata) {
        (void) st;
        remember(userdata, path);
        return 0;
}

/* Creates a folder inside the empty folder "race" while the walk is at it:
 * after the walk has stat()ed it (no sub-folders yet), before it reads its
 * entries. */
static int on_dir_racing(const char *path, const struct stat *st, void *userdata) {
        if (strcmp(path + strlen(root), "/race") == 0)
                mkdir_rel("race/born-during-walk");
        return on_dir(path, st, userdata);
}

int main(void) {
        ThumbwatchConfig *c = NULL;
        char *msg = NULL, out[512];
        Seen s = {};
        long n;

        if (!mkdtemp(root) || config_new(&c) < 0)
                return 99;
        (void) snprintf(out, sizeof out, "%s/thumbs", root);
        if (config_set_single_drop(c, root, out, &msg) < 0)
                return 99;
        char glob[] = "skip-*";
        char *globs[] = { glob };
        c->drops[0].ignore = malloc(sizeof globs);
        c->drops[0].ignore[0] = strdup(glob);
        c->drops[0].n_ignore = 1;

        mkdir_rel("a");
        mkdir_rel("a/b");
        mkdir_rel("thumbs");
        mkdir_rel("skip-dir");
        mkdir_rel(".tmpdir.AbCdEf");
        touch("top.jpg");
        touch("a/mid.PNG");
        touch("a/b/deep.webp");
        touch("a/notes.txt");
        touch("a/photo.jpg.part");
        touch("a/.photo.jpg.Xy12Zw");
        touch("skip-me.jpg");
        touch("skip-dir/in-skipped.jpg");
        touch(".tmpdir.AbCdEf/in-temp.jpg");
        touch("thumbs/top_thumbnail.jpg");
        mkdir_rel("race");
        {
                /* A symlinked folder outside the tree: never entered. */
                char outside[600], link[512];
                (void) snprintf(outside, sizeof outside, "%s-outside", root);
                (void) snprintf(link, sizeof link, "%s/a/linked-dir", root);
                if (mkdir(outside, 0755) < 0 || symlink(outside, link) < 0)
                        return 99;
                (void) snprintf(outside, sizeof outside, "%s-outside/elsewhere.jpg", root);
                FILE *f = fopen(outside, "w");
                if (!f)
                        return 99;
                fclose(f);
        }

        const ScanCallbacks files = { .file = on_file };
        n = scan_tree(c, &c->drops[0], root, true, &files, &s);
        is_int(n, 3, "three images found");
        ok(seen(&s, "top.jpg") && seen(&s, "a/mid.PNG") && seen(&s, "a/b/deep.webp"), "... the three images");
        ok(!seen(&s, "a/notes.txt"), "not an image: skipped");
        ok(!seen(&s, "a/photo.jpg.part") && !seen(&s, "a/.photo.jpg.Xy12Zw"), "temporary names: skipped");
        ok(!seen(&s, "skip-me.jpg") && !seen(&s, "skip-dir/in-skipped.jpg"), "ignore globs: files and folders");
        ok(!seen(&s, ".tmpdir.AbCdEf/in-temp.jpg"), "temporary folders: skipped");
        ok(!seen(&s, "thumbs/top_thumbnail.jpg"), "the output folder inside the source: skipped");
        ok(!seen(&s, "a/linked-dir/elsewhere.jpg"), "symlinked folders: not followed");

        memset(&s, 0, sizeof s);
        n = scan_tree(c, &c->drops[0], root, false, &files, &s);
        is_int(n, 1, "not recursive: only the top folder's image");

        memset(&s, 0, sizeof s);
        const ScanCallbacks dirs = { .dir = on_dir };
        (void) scan_tree(c, &c->drops[0], root, true, &dirs, &s);
        ok(seen(&s, ".") && seen(&s, "a") && seen(&s, "a/b"), "folders walk: root and sub-folders");
        ok(!seen(&s, "thumbs") && !seen(&s, "skip-dir") && !seen(&s, ".tmpdir.AbCdEf"),
           "folders walk: output, ignored and temporary folders skipped");

        /* A folder born after the walk stat()ed its parent must still be walked into:
         * a folders-only walk sets up watches, and a folder it missed would be
         * neither watched nor reported by an event. */
        memset(&s, 0, sizeof s);
        const ScanCallbacks racing = { .dir = on_dir_racing };
        char race[600];
        (void) snprintf(race, sizeof race, "%s/race", root);
        (void) scan_tree(c, &c->drops[0], race, true, &racing, &s);
        ok(seen(&s, "race/born-during-walk"), "a folder created during a folders walk is visited");

        is_int(scan_tree(c, &c->drops[0], "/nonexistent/thumbwatch", true, &files, &s), -ENOENT,
               "a missing root: -ENOENT");

        {
                char cmd[1200];
                (void) snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s-outside'", root, root);
                if (system(cmd) != 0)
                        return 99;
        }
        config_free(c);
        return done_testing();
}
