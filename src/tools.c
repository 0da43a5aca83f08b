/* tools.c - --gc and --explain. Both read the config and the trees only:
 * nothing here is shared with a running daemon but the file system. What
 * is a thumbnail, whose it is and whether it is current is the output
 * tree's to say (output-tree.h); --gc removes only what thumbwatch made,
 * and looks at each file's source again right before removing it, so a
 * source that arrives meanwhile keeps the thumbnail the daemon just made. */
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
#include "output-tree.h"
#include "scan.h"
#include "state-dir.h"
#include "thumbnail.h"
#include "tools.h"

/* A name as it may be printed: escaped (log_escape()), so that a name with
 * a newline cannot forge a line of this report. Valid until the fourth
 * call after this one. */
static const char *esc(const char *s) {
        static char *ring[4];
        static unsigned next;
        char **slot = &ring[next++ % ELEMENTSOF(ring)];

        free(*slot);
        *slot = log_escape(s);
        return *slot ? *slot : "(out of memory)";
}

typedef struct Gc {
        const ThumbwatchConfig *config;
        const DropConfig *drop;
        bool dry_run;
        long files, folders, failed, foreign;
} Gc;

static const char *rel_of(const DropConfig *d, const char *path) {
        return path + strlen(d->source) + (strcmp(d->source, "/") == 0 ? 0 : 1);
}

static bool skipped_because(const DropConfig *d, const char *rel, char *why, size_t size);

/* Is src (absolute, below d->source) a source whose thumbnails include
 * thumb in the output folder dir (relative to the output)? Looked at now. */
static bool explains(const DropConfig *d, const char *src, const char *dir, const char *thumb) {
        char why[PATH_MAX];
        struct stat st;
        Outputs o;
        bool found = false;

        if ((d->follow_symlinks ? stat(src, &st) : lstat(src, &st)) < 0 || !S_ISREG(st.st_mode) ||
            skipped_because(d, rel_of(d, src), why, sizeof why) || outputs_init(&o, d, src) < 0)
                return false;
        for (size_t i = 0; i < o.n && !found; i++)
                found = strcmp(o.dir[i], dir) == 0 && strcmp(o.file[i], thumb) == 0;
        outputs_done(&o);
        return found;
}

/* Where the file system keeps no stamps: does any file of the source folder
 * src_dir give the thumbnail thumb? Read now, for each thumbnail judged. */
static bool explained_by_folder(const DropConfig *d, const char *src_dir, const char *dir, const char *thumb) {
        struct dirent *e;
        bool found = false;
        DIR *dp = opendir(src_dir);

        if (!dp)
                return errno != ENOENT && errno != ENOTDIR;     /* unreadable: nothing can be judged */
        while (!found && (e = readdir(dp))) {
                _cleanup_free_ char *src = NULL;

                if (e->d_name[0] == '.' && (!e->d_name[1] || (e->d_name[1] == '.' && !e->d_name[2])))
                        continue;
                if (asprintf(&src, "%s/%s", strcmp(src_dir, "/") == 0 ? "" : src_dir, e->d_name) >= 0)
                        found = explains(d, src, dir, thumb);
        }
        (void) closedir(dp);
        return found;
}

static char *join(const char *a, const char *b) {
        char *p;

        if (!b[0])
                return strdup(a);
        if (asprintf(&p, "%s/%s", strcmp(a, "/") == 0 ? "" : a, b) < 0)
                return NULL;
        return p;
}

/* Removes an orphan thumbnail (name in dirfd), or says it would. */
static bool gc_remove(Gc *g, int dirfd, const char *name, const char *path) {
        if (g->dry_run) {
                printf("would remove %s\n", esc(path));
                g->files++;
                return true;
        }
        if (unlinkat(dirfd, name, 0) == 0) {
                printf("removed %s\n", esc(path));
                g->files++;
                return true;
        }
        if (errno != ENOENT) {
                log_error_errno(errno, "cannot remove '%s': %m", path);
                g->failed++;
        }
        return false;
}

/* Judges one file of the output folder dir (relative to the output; dirfd
 * open on it): an orphan of thumbwatch's goes. Returns true if it stays. */
static bool gc_file(Gc *g, int dirfd, const char *dir, const char *name, const char *path) {
        const DropConfig *d = g->drop;
        _cleanup_free_ char *src_dir = join(d->source, dir), *src = NULL;
        char source_name[NAME_MAX + 1];
        int r;

        if (naming_is_own_temporary(name) || !src_dir)
                return true;
        r = output_read_stamp(dirfd, name, source_name);
        if (r == 0 || (r == -ENOTSUP && !output_is_ours(dirfd, name)) || (r < 0 && r != -ENOTSUP)) {
                if (r == 0 || r == -ENOTSUP) {
                        printf("kept %s: not made by thumbwatch\n", esc(path));
                        g->foreign++;
                }
                return true;
        }
        if (r > 0) {
                src = join(src_dir, source_name);
                if (!src || explains(d, src, dir, name))
                        return true;
        } else if (explained_by_folder(d, src_dir, dir, name))
                return true;
        return !gc_remove(g, dirfd, name, path);
}

/* Walks the output folder dir (relative to the output; dirfd open on it).
 * Returns how many entries stay in it. */
static long gc_dir(Gc *g, int dirfd, const char *dir, const char *path) {
        const DropConfig *d = g->drop;
        struct dirent *e;
        long stay = 0;
        int fd = fcntl(dirfd, F_DUPFD_CLOEXEC, 3);
        DIR *dp = fd >= 0 ? fdopendir(fd) : NULL;

        if (!dp) {
                if (fd >= 0)
                        (void) close(fd);
                log_error_errno(errno, "cannot read '%s': %m", path);
                g->failed++;
                return 1;
        }
        while ((e = readdir(dp))) {
                _cleanup_free_ char *sub = NULL, *sub_path = NULL;
                struct stat st;

                if (e->d_name[0] == '.' && (!e->d_name[1] || (e->d_name[1] == '.' && !e->d_name[2])))
                        continue;
                /* The state folder, at the top: the daemon's. */
                if (!dir[0] && strcmp(e->d_name, OUTPUT_STATE_DIR) == 0) {
                        stay++;
                        continue;
                }
                sub = join(dir, e->d_name);
                sub_path = join(path, e->d_name);
                if (!sub || !sub_path || fstatat(dirfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                        stay++;
                        continue;
                }
                if (S_ISDIR(st.st_mode)) {
                        _cleanup_free_ char *src_dir = join(d->source, sub);
                        struct stat sst;
                        int sfd;

                        /* Another drop's output, or this one's inside its source. */
                        if (scan_is_output(g->config, sub_path)) {
                                stay++;
                                continue;
                        }
                        sfd = openat(dirfd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        if (sfd < 0 || gc_dir(g, sfd, sub, sub_path) > 0 || !src_dir ||
                            (lstat(src_dir, &sst) == 0 && S_ISDIR(sst.st_mode))) {
                                stay++;
                        } else if (g->dry_run) {
                                printf("would remove %s/\n", esc(sub_path));
                                g->folders++;
                        } else if (unlinkat(dirfd, e->d_name, AT_REMOVEDIR) == 0) {
                                printf("removed %s/\n", esc(sub_path));
                                g->folders++;
                        } else
                                stay++;
                        if (sfd >= 0)
                                (void) close(sfd);
                        continue;
                }
                if (!S_ISREG(st.st_mode) || gc_file(g, dirfd, dir, e->d_name, sub_path))
                        stay++;
        }
        (void) closedir(dp);
        return stay;
}

/* layout = freedesktop: the cache may be shared with other programs, so
 * only thumbwatch's own files (stamped; the markers in fail/thumbwatch/)
 * whose Thumb::URI names a gone file under this drop's source go. */
static void gc_freedesktop(Gc *g) {
        const DropConfig *d = g->drop;

        for (size_t i = 0; i <= d->n_sizes; i++) {
                const char *sub = i < d->n_sizes ? freedesktop_flavour(d->sizes[i].width) : FREEDESKTOP_FAIL_DIR;
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
                        char uri[PATH_MAX * 3 + 16], software[64];
                        struct stat st;
                        int r;

                        if (e->d_name[0] == '.' || strcmp(naming_extension(e->d_name), ".png") != 0)
                                continue;
                        r = i < d->n_sizes ? output_read_stamp(dirfd(dir), e->d_name, NULL) : 1;
                        /* No stamps here: thumbwatch's by the Software chunk it writes. */
                        if (r == -ENOTSUP)
                                r = freedesktop_read_text(dirfd(dir), e->d_name, "Software", software,
                                                          sizeof software) == 0 &&
                                    strncmp(software, "thumbwatch ", 11) == 0;
                        if (r <= 0)
                                continue;
                        if (freedesktop_read_text(dirfd(dir), e->d_name, "Thumb::URI", uri, sizeof uri) < 0 ||
                            freedesktop_path(uri, &src) < 0 || !naming_path_is_under(src, d->source) ||
                            lstat(src, &st) == 0 || errno != ENOENT)
                                continue;
                        if (asprintf(&path, "%s/%s", dir_path, e->d_name) >= 0)
                                (void) gc_remove(g, dirfd(dir), e->d_name, path);
                }
                (void) closedir(dir);
        }
}

int tools_gc(const ThumbwatchConfig *c, bool dry_run) {
        Gc g = { .config = c, .dry_run = dry_run };

        for (size_t i = 0; i < c->n_drops; i++) {
                struct stat st;
                int fd;

                g.drop = &c->drops[i];
                if (stat(g.drop->source, &st) < 0 || !S_ISDIR(st.st_mode)) {
                        /* A missing source may be an unmounted disk: its thumbnails are not orphans. */
                        log_warning("source '%s' of [drop:%s] is not available: leaving '%s' as it is",
                                    g.drop->source, g.drop->name, g.drop->output);
                        continue;
                }
                if (g.drop->layout == LAYOUT_FREEDESKTOP) {
                        gc_freedesktop(&g);
                        continue;
                }
                fd = open(g.drop->output, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (fd < 0) {
                        if (errno != ENOENT) {
                                log_error_errno(errno, "cannot read '%s': %m", g.drop->output);
                                g.failed++;
                        }
                        continue;
                }
                (void) gc_dir(&g, fd, "", g.drop->output);
                (void) close(fd);
        }
        printf("%s %ld orphan thumbnail%s and %ld folder%s\n", dry_run ? "would remove" : "removed", g.files,
               g.files == 1 ? "" : "s", g.folders, g.folders == 1 ? "" : "s");
        if (g.foreign > 0)
                printf("kept %ld file%s that thumbwatch did not make\n", g.foreign, g.foreign == 1 ? "" : "s");
        return g.failed > 0 ? 1 : 0;
}

/* path made absolute, with . and .. components resolved lexically. */
static char *absolute(const char *path) {
        _cleanup_free_ char *cwd = NULL, *joined = NULL;
        char *out;

        if (path[0] != '/') {
                cwd = getcwd(NULL, 0);
                if (!cwd || asprintf(&joined, "%s/%s", cwd, path) < 0)
                        return NULL;
        }
        return naming_normalize_path(joined ? joined : path, &out) < 0 ? NULL : out;
}

/* Why a file is skipped before it is opened, written to why; false if it is not. */
static bool skipped_because(const DropConfig *d, const char *rel, char *why, size_t size) {
        _cleanup_free_ char *copy = strdup(rel);
        const char *name = strrchr(rel, '/') ? strrchr(rel, '/') + 1 : rel;
        char *save = NULL;

        if (!copy)
                return false;
        if (strncmp(rel, OUTPUT_STATE_DIR "/", strlen(OUTPUT_STATE_DIR) + 1) == 0) {
                (void) snprintf(why, size, "in the folder '" OUTPUT_STATE_DIR "' at the top of the drop, a name "
                                           "thumbwatch keeps for its state");
                return true;
        }
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

/* The state of thumbnail i, in words. */
static const char *state_words(const Outputs *o, size_t i, const SourceIdentity *id, bool source_ok, char *buf,
                               size_t size) {
        char other[NAME_MAX + 1];
        ThumbState state = outputs_state(o, i, id, other);

        if (state == THUMB_MISSING)
                return source_ok ? "missing: it will be made" : "missing";
        if (state == THUMB_TAKEN) {
                (void) snprintf(buf, size, "taken: it is the thumbnail of '%s', never overwritten for this file",
                                other);
                return buf;
        }
        if (!source_ok)
                return "an orphan: its source is gone or is no source (the daemon and --gc remove it)";
        if (state == THUMB_STALE)
                return "stale: made from another version of the source (or not stamped), it will be made again";
        return "up to date";
}

/* Is path inside a drop's output? Says so, and returns true. */
static bool explain_output(const ThumbwatchConfig *c, const char *path) {
        for (size_t i = 0; i < c->n_drops; i++)
                if (naming_path_is_under(path, c->drops[i].output)) {
                        printf("%s\n  in the output folder of [drop:%s] (%s): thumbwatch writes there and never "
                               "scans it\n",
                               esc(path), c->drops[i].name, esc(c->drops[i].output));
                        return true;
                }
        return false;
}

/* The source itself: whether it is read, its format, size and limits, and
 * its failure memory. Returns whether it is a source (its thumbnails are
 * made and kept). */
static bool explain_source(const ThumbwatchConfig *c, const DropConfig *d, const char *path, struct stat *st,
                           SourceIdentity *id) {
        _cleanup_free_ char *reason = NULL;
        char class[STATE_CLASS_MAX];
        unsigned long w, h;
        const char *format;
        ThumbnailOptions opts;
        int fd, r;

        r = output_stat_source(AT_FDCWD, path, d->follow_symlinks ? 0 : AT_SYMLINK_NOFOLLOW, st, id);
        if (r < 0) {
                printf("  source: does not exist (%s)\n", strerror(-r));
                return false;
        }
        if (S_ISLNK(st->st_mode)) {
                printf("  skipped: a symlink, and follow_symlinks = no\n");
                return false;
        }
        if (!S_ISREG(st->st_mode)) {
                printf("  skipped: not a regular file\n");
                return false;
        }
        fd = job_open_source(d, path);
        if (fd < 0) {
                if (fd == -ELOOP || fd == -EXDEV)
                        printf("  skipped: reached through a symlink%s, not read\n",
                               fd == -EXDEV ? " that leads out of the drop" : "");
                else
                        printf("  source: cannot be opened: %s (io, tried again)\n", strerror(-fd));
                return fd != -ELOOP && fd != -EXDEV;
        }
        job_thumbnail_options(c, d, &opts);
        r = thumbnail_probe(fd, &opts, &format, &w, &h, &reason);
        (void) close(fd);
        if (r < 0)
                printf("  source: %lld bytes%s%s: would fail (%s): %s\n", (long long) st->st_size, format ? ", " : "",
                       format ? format : "", job_error_class(r), reason ? reason : "");
        else
                printf("  source: %lld bytes, %s, %lux%lu, within the limits\n", (long long) st->st_size, format, w, h);
        if (state_failed_before(d, st, job_config_fingerprint(c, d), class) && strcmp(class, "suspect") != 0) {
                if (r == 0 && job_class_depends_on_config(class))
                        printf("  failed before (%s), under other limits: tried again\n", class);
                else
                        printf("  failed before (%s) and unchanged since: not tried again until it changes\n", class);
        }
        return true;
}

int tools_explain(const ThumbwatchConfig *c, const char *arg) {
        _cleanup_free_ char *path = absolute(arg);
        char what[PATH_MAX], buf[NAME_MAX + 128];
        SourceIdentity id = {};
        const DropConfig *d;
        struct stat st;
        bool source_ok;
        Outputs o;
        int r;

        if (!path) {
                log_error_errno(-ENOMEM, "cannot resolve '%s': %m", arg);
                return 1;
        }
        if (explain_output(c, path))
                return 0;
        d = job_find_drop(c, path);
        if (!d || strcmp(path, d->source) == 0) {
                printf("%s: in no drop folder; the sources are:", esc(path));
                for (size_t i = 0; i < c->n_drops; i++)
                        printf(" %s", esc(c->drops[i].source));
                printf("\n");
                return 1;
        }
        printf("%s\n  drop: [drop:%s], %s -> %s\n", esc(path), d->name, esc(d->source), esc(d->output));
        if (skipped_because(d, rel_of(d, path), what, sizeof what)) {
                printf("  skipped: %s\n", esc(what));
                return 0;
        }
        source_ok = explain_source(c, d, path, &st, &id);
        r = outputs_init(&o, d, path);
        if (r < 0) {
                printf("  no thumbnails: %s\n", r == -EPERM ? "its name is reserved for the state folder" :
                                                             strerror(-r));
                return 0;
        }
        if (o.uri)
                printf("  uri: %s\n", esc(o.uri));
        for (size_t i = 0; i < o.n; i++)
                printf("  thumbnail %ux%u: %s: %s\n", d->sizes[i].width, d->sizes[i].height, esc(o.path[i]),
                       esc(state_words(&o, i, &id, source_ok, buf, sizeof buf)));
        if (d->layout == LAYOUT_FREEDESKTOP) {
                _cleanup_free_ char *marker = NULL;

                if (asprintf(&marker, "%s/" FREEDESKTOP_FAIL_DIR "/%s", d->output, o.file[0]) >= 0 &&
                    access(marker, F_OK) == 0)
                        printf("  failure marker: %s\n", esc(marker));
        }
        outputs_done(&o);
        return 0;
}
