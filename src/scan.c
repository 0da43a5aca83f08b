/* scan.c - the tree walk behind --once, the daemon's catch-up, new folders
 * and overflow rescans, and the scanner thread that runs them.
 *
 * fts with FTS_NOSTAT for files walks: files are not stat()ed here; the
 * worker's stat is the one that decides whether a file needs work.
 *
 * Threads: scanner_request() is called by the watcher thread (and main);
 * the scanner thread pops requests and walks. Requests travel through a
 * PathQueue of their own ("R/path" recursive, "F/path" this folder only),
 * which coalesces repeats. Shutdown: scanner_stop() sets stopping, closes the
 * request queue, the walk notices at its next file, the thread exits. */
#include "build-config.h"

#include <errno.h>
#include <fts.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "job.h"
#include "log.h"
#include "macro.h"
#include "naming.h"
#include "scan.h"

/* Requests waiting beyond this become one full rescan. */
#define SCAN_REQUESTS_MAX 4096

bool scan_ignored_name(const DropConfig *d, const char *name) {
        return naming_is_temporary(name) || naming_matches_any(name, d->ignore, d->n_ignore);
}

bool scan_is_output(const ThumbwatchConfig *c, const char *dir) {
        for (size_t i = 0; i < c->n_drops; i++)
                if (strcmp(dir, c->drops[i].output) == 0)
                        return true;
        return false;
}

typedef struct Excluded {
        dev_t dev;
        ino_t ino;
        bool exists;
} Excluded;

/* Is this folder one of the drops' output trees? Compared by path and, where
 * the output exists, by device and inode, so other spellings of the same
 * folder match too. With FTS_NOSTAT glibc leaves fts_statp unset for
 * folders it recognised by d_type, so we stat them here: once each. */
static bool is_excluded(const ThumbwatchConfig *c, const FTSENT *e, const Excluded *ex) {
        struct stat st;
        bool have_stat = false;

        if (scan_is_output(c, e->fts_path))
                return true;
        for (size_t i = 0; i < c->n_drops; i++) {
                if (!ex[i].exists)
                        continue;
                if (!have_stat) {
                        if (lstat(e->fts_accpath, &st) < 0)
                                return false;
                        have_stat = true;
                }
                if (st.st_dev == ex[i].dev && st.st_ino == ex[i].ino)
                        return true;
        }
        return false;
}

long scan_tree(const ThumbwatchConfig *c, const DropConfig *d, const char *root, bool recursive,
               const ScanCallbacks *cb, void *userdata) {
        _cleanup_free_ Excluded *excluded = NULL;
        _cleanup_free_ char *root_copy = strdup(root);
        char *roots[] = { root_copy, NULL };
        long found = 0;
        FTSENT *e;
        FTS *fts;
        int r = 0;

        excluded = calloc(c->n_drops, sizeof *excluded);
        if (!excluded || !root_copy)
                return -ENOMEM;
        for (size_t i = 0; i < c->n_drops; i++) {
                struct stat st;

                if (stat(c->drops[i].output, &st) == 0)
                        excluded[i] = (Excluded) { st.st_dev, st.st_ino, true };
        }
        recursive = recursive && d->recursive;

        /* FTS_NOSTAT spares a stat per file, but with FTS_PHYSICAL glibc then
         * trusts the parent's link count, taken before its entries are read:
         * a folder created in between comes back as FTS_NSOK and is never
         * entered. A walk that sets up watches must see every folder, so a
         * folders-only walk stats everything. A files walk may miss such a
         * folder: it is new since its parent was watched, so its own creation
         * event brings it to the watcher. */
        fts = fts_open(roots, FTS_PHYSICAL | FTS_NOCHDIR | (cb->file ? FTS_NOSTAT : 0), NULL);
        if (!fts)
                return -errno;
        while ((errno = 0, e = fts_read(fts))) {
                switch (e->fts_info) {
                case FTS_D:
                        if (e->fts_level > 0 && (!recursive || is_excluded(c, e, excluded) ||
                                                 scan_ignored_name(d, e->fts_name))) {
                                (void) fts_set(fts, e, FTS_SKIP);
                                break;
                        }
                        if (cb->dir) {
                                r = cb->dir(e->fts_path, userdata);
                                if (r < 0)
                                        goto out;
                                if (r > 0)
                                        (void) fts_set(fts, e, FTS_SKIP);
                                r = 0;
                        }
                        break;
                case FTS_DNR:
                case FTS_ERR:
                case FTS_NS:
                        if (e->fts_level == 0) {
                                r = -e->fts_errno;
                                goto out;
                        }
                        log_warning_errno(e->fts_errno, "cannot read '%s', skipping: %m", e->fts_path);
                        break;
                case FTS_F:
                case FTS_NSOK: {
                        char *p;

                        if (!cb->file || !naming_is_image(e->fts_name) || scan_ignored_name(d, e->fts_name))
                                break;
                        p = strdup(e->fts_path);
                        if (!p) {
                                r = -ENOMEM;
                                goto out;
                        }
                        found++;
                        r = cb->file(p, userdata);
                        if (r < 0)
                                goto out;
                        break;
                }
                default:                /* symlinks, sockets, FIFOs, post-order folders */
                        if (e->fts_level == 0 && e->fts_info != FTS_DP) {
                                r = -ENOTDIR;
                                goto out;
                        }
                        break;
                }
        }
        if (errno != 0)
                r = -errno;
out:
        (void) fts_close(fts);
        return r < 0 ? r : found;
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
        r = path_queue_push(s->work, path);
        if (r < 0) {
                free(path);
                return r;
        }
        return 0;
}

static void scan_one(Scanner *s, const DropConfig *d, const char *dir, bool recursive) {
        static const ScanCallbacks cb = { .file = push_file };
        long r = scan_tree(s->config, d, dir, recursive, &cb, s);

        if (r >= 0)
                log_debug("scanned '%s'%s: %ld images", dir, recursive ? " and below" : "", r);
        else if (r == -ENOENT || r == -ENOTDIR)
                log_debug("'%s' is gone before it could be scanned", dir);
        else if (r != -ECANCELED && r != -EPIPE)
                log_warning_errno((int) r, "cannot scan '%s', skipping: %m", dir);
}

static void *scanner_thread(void *arg) {
        Scanner *s = arg;
        const char *req;

        while (path_queue_pop(s->requests, &req) >= 0) {
                atomic_store(&s->scanning, true);
                if (atomic_exchange(&s->rescan_all, false)) {
                        for (size_t i = 0; i < s->config->n_drops && !atomic_load(&s->stopping); i++)
                                scan_one(s, &s->config->drops[i], s->config->drops[i].source, true);
                } else if (req[1] != '\0' && !atomic_load(&s->stopping)) {
                        const DropConfig *d = job_find_drop(s->config, req + 1);

                        if (d)
                                scan_one(s, d, req + 1, req[0] == 'R');
                }
                path_queue_done(s->requests, req);
                atomic_store(&s->scanning, false);
        }
        return NULL;
}

int scanner_start(Scanner *s) {
        int r = pthread_create(&s->thread, NULL, scanner_thread, s);

        if (r != 0)
                return -r;
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
