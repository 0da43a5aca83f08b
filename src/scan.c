/* scan.c - the tree walk behind --once, the daemon's catch-up, new folders
 * and overflow rescans, and the scanner thread that runs them.
 *
 * No file is stat()ed here: readdir's d_type tells folders from files, so
 * the worker's stat is the only one a file gets, and it decides whether the
 * file needs work. Each folder is stat()ed once, and its dir callback (the
 * watcher's) is handed that stat. (fts(3) was used before; with FTS_NOSTAT it trusts a
 * folder's link count, read before its entries, and misses a sub-folder
 * created in between; without it, it stats every file.)
 *
 * Threads: scanner_request() is called by the watcher thread (and main);
 * the scanner thread pops requests and walks. Requests travel through a
 * PathQueue of their own ("R/path" recursive, "F/path" this folder only,
 * "P/path" prune the thumbnails of gone sources below it), which coalesces
 * repeats. A recursive scan prunes too. Shutdown: scanner_stop() sets stopping, closes the
 * request queue, the walk notices at its next file, the thread exits. */
#include "build-config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image-format.h"
#include "log.h"
#include "macro.h"
#include "naming.h"
#include "output-tree.h"
#include "scan.h"
#include "state-dir.h"

/* Requests waiting beyond this become one full rescan. */
#define SCAN_REQUESTS_MAX 4096

bool scan_ignored_name(const DropConfig *d, const char *name) {
        return naming_is_temporary(name) || naming_matches_any(name, d->ignore, d->n_ignore);
}

bool scan_skips_dir(const DropConfig *d, const char *parent, const char *name) {
        return scan_ignored_name(d, name) || (strcmp(name, OUTPUT_STATE_DIR) == 0 && strcmp(parent, d->source) == 0);
}

bool scan_path_skipped(const DropConfig *d, const char *rel, char *why, size_t size) {
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
                char extensions[128];

                (void) image_format_list(IMAGE_FORMAT_LIST_EXTENSIONS, extensions, sizeof extensions);
                (void) snprintf(why, size, "not an image extension (%s)", extensions);
                return true;
        }
        return false;
}

typedef struct Excluded {
        dev_t dev;
        ino_t ino;
        bool exists;
} Excluded;

typedef struct Walk {
        const ThumbwatchConfig *config;
        const DropConfig *drop;
        const ScanCallbacks *cb;
        void *userdata;
        Excluded *excluded;     /* one per drop: its output folder */
        bool recursive;
        long found;
} Walk;

typedef struct Names {
        char **v;
        size_t n, size;
} Names;

static void names_free(Names *names) {
        for (size_t i = 0; i < names->n; i++)
                free(names->v[i]);
        free(names->v);
}

static int names_add(Names *names, const char *name) {
        char *copy;

        if (names->n == names->size) {
                size_t size = names->size ? names->size * 2 : 16;
                char **v = reallocarray(names->v, size, sizeof *v);

                if (!v)
                        return -ENOMEM;
                names->v = v;
                names->size = size;
        }
        copy = strdup(name);
        if (!copy)
                return -ENOMEM;
        names->v[names->n++] = copy;
        return 0;
}

static char *join(const char *dir, const char *name) {
        size_t l = strlen(dir);
        char *p;

        if (asprintf(&p, "%s%s%s", dir, l > 0 && dir[l - 1] == '/' ? "" : "/", name) < 0)
                return NULL;
        return p;
}

/* Is this sub-folder (st) one of the drops' output trees? Compared by path
 * and, where the output exists, by device and inode, so other spellings of
 * the same folder match too. */
static bool is_excluded(const Walk *wk, const char *path, const struct stat *st) {
        if (output_is_drop_output(wk->config, path))
                return true;
        for (size_t i = 0; i < wk->config->n_drops; i++)
                if (wk->excluded[i].exists && st->st_dev == wk->excluded[i].dev && st->st_ino == wk->excluded[i].ino)
                        return true;
        return false;
}

/* The type of a directory entry, from readdir's d_type where the filesystem
 * reports one; only where it does not is the entry lstat()ed. */
static unsigned char entry_type(DIR *dir, const struct dirent *de) {
        struct stat st;

        if (de->d_type != DT_UNKNOWN)
                return de->d_type;
        if (fstatat(dirfd(dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return DT_UNKNOWN;
        return IFTODT(st.st_mode);
}

/* Is the path of name in path too long to be opened (PATH_MAX, 4096 bytes
 * with its NUL)? Then it is named, at warning level, and counted. Reaching
 * it would take paths relative to folder descriptors all the way to the
 * workers and the output tree; no drop seen in use comes near. */
static bool too_deep(Walk *wk, const char *path, const char *name, bool folder) {
        size_t len = strlen(path) + 1 + strlen(name);

        if (len < PATH_MAX)
                return false;
        if (!wk->cb->file)
                return true;    /* a walk of folders only (the watcher's): the scan's walk says it */
        log_warning("'%s/%s' is too deep: its path is %zu bytes, over PATH_MAX (%d)%s", path, name, len, PATH_MAX,
                    folder ? "; it and the folders below it are not scanned or watched" : "; it is not thumbnailed");
        if (wk->cb->too_deep)
                wk->cb->too_deep(wk->userdata);
        return true;
}

/* Whether the walk goes into the folder path: its stat (the only one it gets
 * here: it tells an output folder by its inode, and the dir callback has it),
 * then its dir callback. Returns <0 to stop the walk (top only fails so), 1
 * to pass over it (gone, an output folder, or as the callback says), 0 to
 * read it. */
static int walk_enter(Walk *wk, const char *path, bool top, bool follow) {
        struct stat st;
        int r;

        if ((follow ? stat(path, &st) : lstat(path, &st)) < 0)
                r = -errno;
        else
                r = S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
        if (r < 0) {
                if (top)
                        return r;
                log_debug("'%s' is gone before it could be read", path);
                return 1;
        }
        if (!top && is_excluded(wk, path, &st))
                return 1;
        if (wk->cb->dir) {
                r = wk->cb->dir(path, &st, wk->userdata);
                if (r != 0)
                        return r < 0 ? r : 1;
        }
        return 0;
}

/* Opens the folder path for reading, without following a symlink unless
 * follow. Returns 0 with *ret set, <0 when top cannot be read, 1 when a
 * sub-folder cannot (logged, unless it is merely gone). */
static int walk_open(const char *path, bool top, bool follow, DIR **ret) {
        int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | (follow ? 0 : O_NOFOLLOW));
        DIR *dir = fd >= 0 ? fdopendir(fd) : NULL;
        int r;

        if (dir) {
                *ret = dir;
                return 0;
        }
        r = -errno;
        if (fd >= 0)
                (void) close(fd);
        if (top)
                return r == -ELOOP ? -ENOTDIR : r;
        if (r == -ENOENT || r == -ENOTDIR || r == -ELOOP)
                log_debug("'%s' is gone before it could be read", path);
        else
                log_warning_errno(r, "cannot read '%s', skipping: %m", path);
        return 1;
}

/* Reads the entries of the folder path: its images go to the file callback,
 * the names of the sub-folders to go into to subdirs. Returns <0 to stop
 * the walk. */
static int walk_entries(Walk *wk, DIR *dir, const char *path, Names *subdirs) {
        struct dirent *de;
        int r = 0;

        while ((errno = 0, de = readdir(dir))) {
                unsigned char type;
                char *p;

                if (de->d_name[0] == '.' && (!de->d_name[1] || (de->d_name[1] == '.' && !de->d_name[2])))
                        continue;
                if (!wk->cb->file && !wk->recursive)
                        break;
                type = entry_type(dir, de);
                if (type == DT_DIR) {
                        /* The name of the state folder, at the top of a drop, is
                         * never mirrored: it would be the output's state folder. */
                        if (!wk->recursive || scan_skips_dir(wk->drop, path, de->d_name) ||
                            too_deep(wk, path, de->d_name, true))
                                continue;
                        r = names_add(subdirs, de->d_name);
                        if (r < 0)
                                break;
                        continue;
                }
                /* A symlink goes to the worker, which follows it or not as
                 * follow_symlinks says; FIFOs, sockets and devices never do. */
                if (!wk->cb->file || (type != DT_REG && type != DT_LNK) || !naming_is_image(de->d_name) ||
                    scan_ignored_name(wk->drop, de->d_name) || too_deep(wk, path, de->d_name, false))
                        continue;
                p = join(path, de->d_name);
                if (!p) {
                        r = -ENOMEM;
                        break;
                }
                wk->found++;
                r = wk->cb->file(p, wk->userdata);
                if (r < 0)
                        break;
        }
        if (r == 0 && errno != 0)
                log_warning_errno(errno, "cannot read all of '%s', skipping the rest: %m", path);
        return r;
}

/* Walks one folder: its stat and callback, its files, then its sub-folders.
 * The folder is read whole and closed before the walk goes down, so a deep
 * tree holds one descriptor, not one per level. Symlinks are never
 * followed, except the drop's source itself. Returns <0 to stop the walk. */
static int walk(Walk *wk, const char *path, bool top) {
        _cleanup_(names_free) Names subdirs = {};
        bool follow = top && strcmp(path, wk->drop->source) == 0;
        DIR *dir = NULL;
        int r;

        r = walk_enter(wk, path, top, follow);
        if (r == 0)
                r = walk_open(path, top, follow, &dir);
        if (r != 0 || !dir)
                return r < 0 ? r : 0;
        r = walk_entries(wk, dir, path, &subdirs);
        (void) closedir(dir);
        for (size_t i = 0; r >= 0 && i < subdirs.n; i++) {
                _cleanup_free_ char *p = join(path, subdirs.v[i]);

                r = p ? walk(wk, p, false) : -ENOMEM;
        }
        return r < 0 ? r : 0;
}

long scan_tree(const ThumbwatchConfig *c, const DropConfig *d, const char *root, bool recursive,
               const ScanCallbacks *cb, void *userdata) {
        _cleanup_free_ Excluded *excluded = calloc(c->n_drops ? c->n_drops : 1, sizeof *excluded);
        Walk wk = {
                .config = c,
                .drop = d,
                .cb = cb,
                .userdata = userdata,
                .excluded = excluded,
                .recursive = recursive && d->recursive,
        };
        int r;

        if (!excluded)
                return -ENOMEM;
        for (size_t i = 0; i < c->n_drops; i++) {
                struct stat st;

                if (stat(c->drops[i].output, &st) == 0)
                        excluded[i] = (Excluded) { st.st_dev, st.st_ino, true };
        }
        r = walk(&wk, root, true);
        return r < 0 ? r : wk.found;
}

struct Scanner {
        const ThumbwatchConfig *config;         /* borrowed; immutable */
        PathQueue *work;                        /* borrowed */
        PathQueue *requests;                    /* owned */
        pthread_t thread;
        bool started;                           /* owner thread only */
        atomic_bool stopping;
        atomic_bool rescan_all;                 /* set when requests overflowed */
        atomic_bool scanning;                   /* a walk is in progress */
        atomic_bool running;                    /* from scanner_start() until the thread's end */
};

int scanner_new(const ThumbwatchConfig *c, PathQueue *work, Scanner **ret) {
        Scanner *s = calloc(1, sizeof *s);
        int r;

        if (!s)
                return -ENOMEM;
        r = path_queue_new(SCAN_REQUESTS_MAX, &s->requests);
        if (r < 0) {
                free(s);
                return r;
        }
        s->config = c;
        s->work = work;
        *ret = s;
        return 0;
}

Scanner *scanner_free(Scanner *s) {
        if (!s)
                return NULL;
        path_queue_free(s->requests);
        free(s);
        return NULL;
}

void scanner_request_all(Scanner *s) {
        char *req = strdup("R");

        /* The flag makes the next request popped a full rescan, whatever it
         * says; the "R" request wakes the thread if the queue was empty. */
        atomic_store(&s->rescan_all, true);
        if (req && path_queue_try_push(s->requests, req) < 0)
                free(req);
}

void scanner_request(Scanner *s, const char *dir, bool recursive) {
        char *req;

        if (asprintf(&req, "%c%s", recursive ? 'R' : 'F', dir) < 0) {
                atomic_store(&s->rescan_all, true);
                return;
        }
        if (path_queue_try_push(s->requests, req) < 0) {
                free(req);
                /* Too many requests waiting (or closed): one full rescan covers them all. */
                scanner_request_all(s);
        }
}

void scanner_request_prune(Scanner *s, const char *dir) {
        char *req;

        if (asprintf(&req, "P%s", dir) < 0)
                return;
        if (path_queue_try_push(s->requests, req) < 0)
                free(req);      /* the next root scan prunes */
}

bool scanner_busy(Scanner *s) {
        return atomic_load(&s->scanning) || path_queue_length(s->requests) > 0;
}

static int push_file(char *path, void *userdata) {
        Scanner *s = userdata;
        int r;

        if (atomic_load(&s->stopping)) {
                free(path);
                return -ECANCELED;
        }
        /* Blocks while the work queue is full, but not past scanner_stop():
         * a reload must not wait for the workers to drain it. */
        r = path_queue_push_cancellable(s->work, path, &s->stopping);
        if (r < 0) {
                free(path);
                return r;
        }
        return 0;
}

static bool prune_source_ok(const DropConfig *d, const char *src) {
        char why[PATH_MAX];

        return !scan_path_skipped(d, naming_path_below(src, d->source), why,
                                  sizeof why);
}

/* What a missed event or downtime left: the thumbnails under the mirror of
 * dir whose sources are gone, and (for a drop's root) the failure records
 * of files that are gone. found: the images the scan of dir found; a root
 * with none, and thumbnails of its own in the output, is more likely a disk
 * not mounted than a drop emptied, and is left alone. */
static void prune_empty_folder(const char *path, void *userdata) {
        (void) userdata;
        log_warning("'%s' holds thumbnails, but its source folder is empty: not removing them (a disk not "
                    "mounted?); thumbwatch --gc keeps them too, remove the folder by hand if it was emptied",
                    path);
}

static int count_file(char *path, void *userdata) {
        free(path);
        (*(long *) userdata)++;
        return 0;
}

static void prune(Scanner *s, const DropConfig *d, const char *dir, long found) {
        static const ScanCallbacks count = { .file = count_file };
        bool root = strcmp(dir, d->source) == 0;
        /* Below a root, a prune is for a folder no watch covers, where
         * deletions go unseen, or one just made, moved in or renamed (a
         * mount point cannot be renamed): an emptied folder there is
         * emptied. */
        OutputPrune p = { .config = s->config, .source_path_ok = prune_source_ok, .empty_folder = prune_empty_folder,
                          .keep_empty_folders = root };
        int r;

        if (!d->delete_with_source || atomic_load(&s->stopping))
                return;
        if (root && !output_source_in_place(d)) {
                log_warning("source '%s' is not the folder it was when thumbwatch started (a disk not mounted?): "
                            "not removing thumbnails of what is not there", d->source);
                return;
        }
        /* A prune request's root has not just been scanned: count its images. */
        if (root && found < 0) {
                found = 0;
                (void) scan_tree(s->config, d, dir, true, &count, &found);
        }
        p.dry_run = root && found == 0;
        r = output_prune(d, dir, &p);
        if (r < 0)
                log_warning_errno(r, "cannot look for thumbnails of gone sources under '%s': %m", d->output);
        else if (p.dry_run && p.files > 0)
                log_warning("source '%s' has no images, but '%s' holds %ld thumbnails of them: not removing them "
                            "(a disk not mounted?); thumbwatch --gc removes them",
                            d->source, d->output, p.files);
        else if (p.files + p.folders > 0)
                /* A renamed folder's: what a rename storm leaves, not news. */
                log_full_errno(root || found < 0 ? LOG_INFO : LOG_DEBUG, 0,
                               "'%s': removed %ld thumbnails and %ld folders of sources that are gone", dir, p.files,
                               p.folders);
        if (root && !p.dry_run)
                (void) state_prune_failures(d);
}

static void scan_one(Scanner *s, const DropConfig *d, const char *dir, char kind) {
        static const ScanCallbacks cb = { .file = push_file };
        long r = kind == 'P' ? 0 : scan_tree(s->config, d, dir, kind != 'F', &cb, s);

        if (kind != 'P' && r >= 0)
                log_debug("scanned '%s'%s: %ld images", dir, kind != 'F' ? " and below" : "", r);
        else if (r == -ENOENT || r == -ENOTDIR)
                log_debug("'%s' is gone before it could be scanned", dir);
        else if (r != -ECANCELED && r != -EPIPE && r < 0)
                log_warning_errno((int) r, "cannot scan '%s', skipping: %m", dir);
        /* Every recursive scan (a root's: start-up, a reload, an overflow;
         * a folder's: made, moved in, renamed) and a prune request look for
         * what is gone, too: events are hints, the tree is the truth. A
         * renamed folder's mirror followed it, with what a worker wrote
         * into it while the watcher had not caught up with the source: the
         * thumbnail of a file then under that name, which is not in this
         * folder. */
        if (r >= 0 && (kind == 'P' || kind == 'R'))
                prune(s, d, dir, kind == 'P' ? -1 : r);
}

static void *scanner_thread(void *arg) {
        Scanner *s = arg;
        const char *req;

        while (path_queue_pop(s->requests, &req) >= 0) {
                atomic_store(&s->scanning, true);
                if (atomic_exchange(&s->rescan_all, false)) {
                        for (size_t i = 0; i < s->config->n_drops && !atomic_load(&s->stopping); i++)
                                scan_one(s, &s->config->drops[i], s->config->drops[i].source, 'R');
                } else if (req[1] != '\0' && !atomic_load(&s->stopping)) {
                        const DropConfig *d = config_find_drop(s->config, req + 1);

                        if (d)
                                scan_one(s, d, req + 1, req[0]);
                }
                path_queue_done(s->requests, req);
                atomic_store(&s->scanning, false);
        }
        atomic_store(&s->running, false);
        return NULL;
}

bool scanner_running(Scanner *s) {
        return atomic_load(&s->running);
}

int scanner_start(Scanner *s) {
        int r;

        atomic_store(&s->running, true);
        r = pthread_create(&s->thread, NULL, scanner_thread, s);
        if (r != 0) {
                atomic_store(&s->running, false);
                return -r;
        }
        s->started = true;
        return 0;
}

void scanner_stop(Scanner *s) {
        atomic_store(&s->stopping, true);
        path_queue_close(s->requests);
}

void scanner_join(Scanner *s) {
        if (s->started)
                (void) pthread_join(s->thread, NULL);
        s->started = false;
}
