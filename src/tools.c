/* tools.c - --gc and --explain. Both read the config and the trees only:
 * nothing here is shared with a running daemon but the file system. */
#include "build-config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "freedesktop.h"
#include "job.h"
#include "log.h"
#include "macro.h"
#include "naming.h"
#include "scan.h"
#include "thumbnail.h"
#include "time-util.h"
#include "tools.h"

typedef struct Gc {
        const ThumbwatchConfig *config;
        const DropConfig *drop;
        bool dry_run;
        long files, folders, failed;
} Gc;

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

static void free_names(char **names, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(names[i]);
        free(names);
}

/* Is the entry name of the open folder dir a file thumbwatch makes thumbnails of? */
static bool is_source_file(const DropConfig *d, DIR *dir, const struct dirent *e) {
        struct stat st;

        if (e->d_type == DT_REG)
                return true;
        if (e->d_type != DT_UNKNOWN && !(e->d_type == DT_LNK && d->follow_symlinks))
                return false;
        if (fstatat(dirfd(dir), e->d_name, &st, d->follow_symlinks ? 0 : AT_SYMLINK_NOFOLLOW) < 0)
                return false;
        return S_ISREG(st.st_mode);
}

/* The names of the thumbnails the files of source folder src should have,
 * sorted. Returns 0 or -errno (src unreadable: nothing can be judged). */
static int expected_names(const DropConfig *d, const char *src, char ***ret, size_t *ret_n) {
        char **names = NULL;
        size_t n = 0, size = 0;
        struct dirent *e;
        DIR *dir;

        dir = opendir(src);
        if (!dir)
                return -errno;
        while ((e = readdir(dir))) {
                if (scan_ignored_name(d, e->d_name) || !naming_is_image(e->d_name) || !is_source_file(d, dir, e))
                        continue;
                for (size_t i = 0; i < d->n_sizes; i++) {
                        char *name;

                        if (job_thumbnail_name(d, e->d_name, i, &name) < 0)
                                continue;
                        if (n == size) {
                                char **a = realloc(names, (size ? size * 2 : 64) * sizeof *a);

                                if (!a) {
                                        free(name);
                                        free_names(names, n);
                                        (void) closedir(dir);
                                        return -ENOMEM;
                                }
                                names = a;
                                size = size ? size * 2 : 64;
                        }
                        names[n++] = name;
                }
        }
        (void) closedir(dir);
        if (n > 0)
                qsort(names, n, sizeof *names, cmp_str);
        *ret = names;
        *ret_n = n;
        return 0;
}

/* Removes an orphan thumbnail, or the folder of a gone source folder (only
 * if empty: what else is in it stays, silently), or says it would. */
static void gc_remove(Gc *g, const char *path, bool folder) {
        const char *slash = folder ? "/" : "";
        long *count = folder ? &g->folders : &g->files;

        if (g->dry_run) {
                printf("would remove %s%s\n", path, slash);
                (*count)++;
        } else if ((folder ? rmdir(path) : unlink(path)) == 0) {
                printf("removed %s%s\n", path, slash);
                (*count)++;
        } else if (!folder && errno != ENOENT) {
                log_error_errno(errno, "cannot remove '%s': %m", path);
                g->failed++;
        }
}

/* out mirrors src, which exists (src_exists) or not. */
static void gc_dir(Gc *g, const char *src, const char *out, bool src_exists) {
        char **expected = NULL;
        size_t n_expected = 0;
        struct dirent *e;
        DIR *dir;
        int r;

        if (src_exists) {
                r = expected_names(g->drop, src, &expected, &n_expected);
                if (r < 0) {
                        /* Unreadable: nothing below can be judged. */
                        log_warning_errno(r, "cannot read '%s', leaving '%s' as it is: %m", src, out);
                        return;
                }
        }
        dir = opendir(out);
        if (!dir) {
                if (errno != ENOENT) {
                        log_error_errno(errno, "cannot read '%s': %m", out);
                        g->failed++;
                }
                free_names(expected, n_expected);
                return;
        }
        while ((e = readdir(dir))) {
                _cleanup_free_ char *path = NULL, *child_src = NULL;
                const char *name = e->d_name;
                struct stat st;

                /* ., .., .thumbwatch/ and temporaries: never ours to judge here. */
                if (name[0] == '.')
                        continue;
                if (asprintf(&path, "%s/%s", out, name) < 0 || asprintf(&child_src, "%s/%s", src, name) < 0) {
                        g->failed++;
                        continue;
                }
                if (lstat(path, &st) < 0)
                        continue;
                if (S_ISDIR(st.st_mode)) {
                        struct stat sst;
                        bool exists;

                        /* Another drop's output, or this one's inside its source. */
                        if (scan_is_output(g->config, path))
                                continue;
                        exists = src_exists && lstat(child_src, &sst) == 0 && S_ISDIR(sst.st_mode) &&
                                 !scan_ignored_name(g->drop, name) && g->drop->recursive;
                        gc_dir(g, child_src, path, exists);
                        if (!exists)
                                gc_remove(g, path, true);
                        continue;
                }
                if (!S_ISREG(st.st_mode) || !naming_is_image(name))
                        continue;
                if (!src_exists || n_expected == 0 ||
                    !bsearch(&name, expected, n_expected, sizeof *expected, cmp_str))
                        gc_remove(g, path, false);
        }
        (void) closedir(dir);
        free_names(expected, n_expected);
}

/* layout = freedesktop: the cache may be shared with other programs, so
 * only files whose Thumb::URI names a gone file under this drop's source go. */
static void gc_freedesktop(Gc *g) {
        const DropConfig *d = g->drop;

        for (size_t i = 0; i <= d->n_sizes; i++) {
                const char *sub = job_freedesktop_dir(d, i);
                _cleanup_free_ char *dir_path = NULL;
                struct dirent *e;
                DIR *dir;

                if (!sub || asprintf(&dir_path, "%s/%s", d->output, sub) < 0)
                        continue;
                dir = opendir(dir_path);
                if (!dir)
                        continue;
                while ((e = readdir(dir))) {
                        _cleanup_free_ char *src = NULL, *path = NULL;
                        char uri[PATH_MAX * 3 + 16];
                        struct stat st;

                        if (e->d_name[0] == '.' || strcmp(naming_extension(e->d_name), ".png") != 0)
                                continue;
                        if (freedesktop_read_text(dirfd(dir), e->d_name, "Thumb::URI", uri, sizeof uri) < 0 ||
                            freedesktop_path(uri, &src) < 0 || !naming_path_is_under(src, d->source) ||
                            lstat(src, &st) == 0 || errno != ENOENT)
                                continue;
                        if (asprintf(&path, "%s/%s", dir_path, e->d_name) >= 0)
                                gc_remove(g, path, false);
                }
                (void) closedir(dir);
        }
}

int tools_gc(const ThumbwatchConfig *c, bool dry_run) {
        Gc g = { .config = c, .dry_run = dry_run };

        for (size_t i = 0; i < c->n_drops; i++) {
                struct stat st;

                g.drop = &c->drops[i];
                if (stat(g.drop->source, &st) < 0 || !S_ISDIR(st.st_mode)) {
                        /* A missing source may be an unmounted disk: its thumbnails are not orphans. */
                        log_warning("source '%s' of [drop:%s] is not available: leaving '%s' as it is",
                                    g.drop->source, g.drop->name, g.drop->output);
                        continue;
                }
                if (g.drop->layout == LAYOUT_FREEDESKTOP)
                        gc_freedesktop(&g);
                else
                        gc_dir(&g, g.drop->source, g.drop->output, true);
        }
        printf("%s %ld orphan thumbnail%s and %ld folder%s\n", dry_run ? "would remove" : "removed", g.files,
               g.files == 1 ? "" : "s", g.folders, g.folders == 1 ? "" : "s");
        return g.failed > 0 ? 1 : 0;
}

/* path made absolute, with . and .. components resolved lexically. */
static char *absolute(const char *path) {
        char cwd[PATH_MAX], *joined = NULL, *out, *save = NULL;
        size_t len = 0;

        if (path[0] == '/')
                joined = strdup(path);
        else if (getcwd(cwd, sizeof cwd) && asprintf(&joined, "%s/%s", cwd, path) < 0)
                joined = NULL;
        if (!joined)
                return NULL;
        out = calloc(1, strlen(joined) + 2);
        if (!out) {
                free(joined);
                return NULL;
        }
        for (char *c = strtok_r(joined, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
                if (strcmp(c, ".") == 0)
                        continue;
                if (strcmp(c, "..") == 0) {
                        char *slash = strrchr(out, '/');

                        len = slash ? (size_t) (slash - out) : 0;
                        out[len] = '\0';
                        continue;
                }
                out[len++] = '/';
                strcpy(out + len, c);
                len += strlen(c);
        }
        if (len == 0)
                strcpy(out, "/");
        free(joined);
        return out;
}

/* Why a file is skipped before it is opened, written to why; false if it is not. */
static bool skipped_because(const DropConfig *d, const char *rel, char *why, size_t size) {
        _cleanup_free_ char *copy = strdup(rel);
        const char *name = strrchr(rel, '/') ? strrchr(rel, '/') + 1 : rel;
        char *save = NULL;

        if (!copy)
                return false;
        if (strchr(rel, '/') && !d->recursive) {
                (void) snprintf(why, size, "in a subfolder, and recursive = no");
                return true;
        }
        for (char *c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
                bool last = c + strlen(c) == copy + strlen(rel);

                for (size_t i = 0; i < d->n_ignore; i++)
                        if (naming_matches_any(c, &d->ignore[i], 1)) {
                                (void) snprintf(why, size, "%s matches ignore = %s", last ? "its name" : "a folder above it",
                                                d->ignore[i]);
                                return true;
                        }
                if (naming_is_temporary(c)) {
                        if (last)
                                (void) snprintf(why, size, "a temporary name (a copy or download in progress)");
                        else
                                (void) snprintf(why, size, "in the folder '%s', which has a temporary name", c);
                        return true;
                }
        }
        if (!naming_is_image(name)) {
                (void) snprintf(why, size, "not an image extension (.jpg .jpeg .png .gif .webp .tif .tiff .bmp)");
                return true;
        }
        return false;
}

static void explain_freedesktop(const DropConfig *d, const char *path, const struct stat *src) {
        _cleanup_free_ char *uri = NULL;
        char name[FREEDESKTOP_NAME_MAX];

        if (freedesktop_uri(path, &uri) < 0)
                return;
        freedesktop_name(uri, name);
        printf("  uri: %s\n", uri);
        for (size_t i = 0; i <= d->n_sizes; i++) {
                const char *sub = job_freedesktop_dir(d, i);
                _cleanup_free_ char *dir_path = NULL;
                bool exists, current;
                const char *state;
                int dfd;

                if (!sub || asprintf(&dir_path, "%s/%s", d->output, sub) < 0)
                        continue;
                dfd = open(dir_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                exists = dfd >= 0 && faccessat(dfd, name, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
                current = exists && src && freedesktop_is_current(dfd, name, (long long) src->st_mtim.tv_sec);
                if (dfd >= 0)
                        (void) close(dfd);
                if (i == d->n_sizes) {
                        if (exists)
                                printf("  failure marker: %s/%s\n", dir_path, name);
                        continue;
                }
                if (!exists)
                        state = "missing";
                else if (!src)
                        state = "an orphan: its source is gone (thumbwatch --gc removes it)";
                else if (!current)
                        state = "stale: its Thumb::MTime is not the source's, it will be made again";
                else
                        state = "up to date";
                printf("  thumbnail %ux%u (%s): %s/%s: %s\n", d->sizes[i].width, d->sizes[i].height, sub, dir_path,
                       name, state);
        }
}

int tools_explain(const ThumbwatchConfig *c, const char *arg) {
        _cleanup_free_ char *path = absolute(arg), *rel_dir = NULL;
        const char *rel, *name;
        const DropConfig *d;
        char what[PATH_MAX], class[32];
        bool exists;
        struct stat st;

        if (!path) {
                log_error_errno(-ENOMEM, "cannot resolve '%s': %m", arg);
                return 1;
        }
        d = job_find_drop(c, path);
        if (!d || strcmp(path, d->source) == 0) {
                printf("%s: in no drop folder; the sources are:", path);
                for (size_t i = 0; i < c->n_drops; i++)
                        printf(" %s", c->drops[i].source);
                printf("\n");
                return 1;
        }
        rel = path + strlen(d->source) + (strcmp(d->source, "/") == 0 ? 0 : 1);
        name = strrchr(rel, '/') ? strrchr(rel, '/') + 1 : rel;
        rel_dir = strndup(rel, (size_t) (name - rel));
        printf("%s\n  drop: [drop:%s], %s -> %s\n", path, d->name, d->source, d->output);

        exists = (d->follow_symlinks ? stat(path, &st) : lstat(path, &st)) == 0;
        if (skipped_because(d, rel, what, sizeof what)) {
                printf("  skipped: %s\n", what);
                return 0;
        }
        if (!exists)
                printf("  source: does not exist (%s)\n", strerror(errno));
        else if (S_ISLNK(st.st_mode))
                printf("  skipped: a symlink, and follow_symlinks = no\n");
        else if (!S_ISREG(st.st_mode))
                printf("  skipped: not a regular file\n");
        else {
                _cleanup_free_ char *reason = NULL;
                unsigned long w, h;
                const char *format;
                ThumbnailOptions opts;
                int r;

                job_thumbnail_options(c, d, &opts);
                r = thumbnail_probe(path, &opts, &format, &w, &h, &reason);
                if (r < 0)
                        printf("  source: %lld bytes%s%s: would fail (%s): %s\n", (long long) st.st_size,
                               format ? ", " : "", format ? format : "", job_error_class(r), reason ? reason : "");
                else
                        printf("  source: %lld bytes, %s, %lux%lu, within the limits\n", (long long) st.st_size,
                               format, w, h);
                if (job_failed_before(d, path, &st, class, sizeof class))
                        printf("  failed before (%s) and unchanged since: not tried again until it changes\n", class);
        }
        if (d->layout == LAYOUT_FREEDESKTOP) {
                explain_freedesktop(d, path, exists ? &st : NULL);
                return 0;
        }
        for (size_t i = 0; i < d->n_sizes; i++) {
                _cleanup_free_ char *thumb = NULL, *out = NULL;
                struct stat tst;
                const char *state;

                if (job_thumbnail_name(d, name, i, &thumb) < 0 ||
                    asprintf(&out, "%s/%s%s", d->output, rel_dir, thumb) < 0)
                        continue;
                if (lstat(out, &tst) < 0)
                        state = "missing";
                else if (!S_ISREG(tst.st_mode) || tst.st_size == 0)
                        state = "not a thumbnail (not a regular file, or empty)";
                else if (!exists)
                        state = "an orphan: its source is gone (thumbwatch --gc removes it)";
                else if (timespec_before(&tst.st_mtim, &st.st_mtim))
                        state = "stale: older than the source, it will be made again";
                else
                        state = "up to date";
                printf("  thumbnail %ux%u: %s: %s\n", d->sizes[i].width, d->sizes[i].height, out, state);
        }
        return 0;
}
