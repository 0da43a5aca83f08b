/* watcher.c - turns inotify events into paths on the queue. Owns all
 * libinotifytools state; no other file may call into it.
 *
 * Threads: everything here runs on the watcher thread, except the atomics
 * that main reads (ready, watches, heartbeat) and the stopping flag it sets.
 * libinotifytools keeps global state and returns events in static storage,
 * so this is its only thread, and paths are copied before they leave it.
 * Shutdown: watcher_stop() sets stopping; the thread notices within the
 * one-second event timeout, drops its watches and exits.
 *
 * Events are hints, the tree is the truth: whatever the watcher cannot hand
 * on at once (a full work queue, an overflowed kernel queue, a root that was
 * away) becomes a rescan, never a lost file.
 *
 * Names: the watch index (watch-index.h) is their only truth; an event
 * costs what its folder's subtree costs, whatever the number of watches.
 * libinotifytools is the inotify interface (its descriptor, its reads of
 * events), but watches are added and removed on its descriptor directly:
 * its own record of each watch (a name that goes stale, two tree nodes,
 * about 290 bytes of heap a folder, 290 MB at a million) would be read by
 * nothing here, and renaming it walks every watch
 * (inotifytools_replace_filename()). The kernel's wd comes straight back
 * from inotify_add_watch(). The library reads events without its records
 * (no statistics, no filter is asked of it).
 *
 * watcher = fanotify (fanotify-source.h) has no watches: one mark per file
 * system, events named by the folder's path now. Its events are handed to
 * the same handlers in inotify's terms; the watch index, the limit and
 * libinotifytools are not used. Folders an inotify walk would pass over
 * (ignored, outputs, below the top with recursive = no) are filtered by
 * path instead, and the roots are looked at every second, as no watch of
 * theirs can report their going. */
#include "build-config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <inotifytools/inotifytools.h>

#include "fanotify-source.h"
#include "log.h"
#include "macro.h"
#include "naming.h"
#include "output-tree.h"
#include "watch-index.h"
#include "watcher.h"
#include "time-util.h"

#define WATCH_EVENTS (IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE | IN_DELETE_SELF | \
                      IN_MOVE_SELF | IN_ATTRIB | IN_ONLYDIR | IN_DONT_FOLLOW | IN_EXCL_UNLINK)
#define UNWATCHED_REPORT_MAX 10
#define RETRY_MIN_USEC (1 * 1000000ULL)
#define RETRY_MAX_USEC (60 * 1000000ULL)
/* A file created and then left alone this long, without its writer closing
 * it, is complete all the same (linked in from O_TMPFILE, say). */
#define PENDING_QUIET_USEC (2 * 1000000ULL)
#define PENDING_MAX 1024
#define PRUNE_INTERVAL_USEC (3600 * 1000000ULL)
#define FANOTIFY_GATHER_NSEC (2 * 1000000L)

typedef struct Root {
        const DropConfig *drop;
        bool armed;             /* its tree is watched */
        int wd;                 /* of the root folder, while armed */
        uint64_t retry_at;      /* when to try again, while not armed */
        uint64_t retry_delay;
        bool reported;          /* its absence has been logged */
        dev_t dev;              /* watcher = fanotify: the folder marked, while armed */
        ino_t ino;
        bool mark_known;        /* its mark is listed by the device: its going can be seen */
} Root;

struct Watcher {
        const ThumbwatchConfig *config; /* borrowed; immutable */
        PathQueue *work;                /* borrowed */
        Scanner *scanner;               /* borrowed */
        pthread_t thread;
        bool started;                   /* owner thread only */
        atomic_bool stopping;
        atomic_bool ready;
        atomic_bool running;            /* from watcher_start() until the thread's last instruction */
        atomic_uint n_watches;          /* mirrors the index's count, for other threads */
        atomic_uint_fast64_t heartbeat;

        /* Watcher thread only from here. The watches, by wd, path and inode.
         * libinotifytools cannot list its watches, and its names go stale:
         * events are resolved here, never by the library. */
        WatchIndex *index;
        FanotifySource *fan;            /* watcher = fanotify; NULL with inotify */
        uint64_t roots_checked_at;      /* watcher = fanotify: the roots were last looked at */
        int mounts_fd;                  /* watcher = fanotify: /proc/self/mountinfo, polled for changes */
        int inotify_fd;                 /* libinotifytools' descriptor (inotify_fd()) */
        bool limit_reported;            /* the first ENOSPC has been reported */
        Root *roots;
        size_t n_roots;
        /* A folder moved away: if the next event is its IN_MOVED_TO, it was
         * renamed inside the tree; otherwise it left. */
        uint32_t moved_cookie;
        char *moved_from;
        unsigned n_unwatched;           /* subtrees left unwatched for the watch limit, ever */
        bool no_mask_create;            /* the kernel predates IN_MASK_CREATE (Linux 4.18) */
        /* The subtrees the watch limit leaves unwatched now: rescanned every
         * rescan_unwatched, and watched as soon as the limit allows. */
        char **unwatched;
        size_t n_unwatched_now;
        uint64_t unwatched_at;          /* when to look at them again */
        bool retrying;                  /* in that look: the limit is not reported again */
        uint64_t prune_at;              /* the next hourly prune of every root */
        /* Files created (IN_CREATE) and not closed yet: most are being
         * written and end with IN_CLOSE_WRITE; those that are not are
         * queued once left alone for PENDING_QUIET_USEC. */
        struct Pending {
                char *path;
                uint64_t due;
        } *pending;
        size_t n_pending;
};

int watcher_check(const ThumbwatchConfig *c) {
        _cleanup_free_ char *msg = NULL;
        FanotifySource *f = NULL;
        int r;

        if (c->watcher != WATCHER_FANOTIFY) {
                /* Where libinotifytools' descriptor is found (inotify_start()). */
                if (access("/proc/self/fd", R_OK) < 0)
                        return log_error_errno(errno, "watcher = inotify needs /proc mounted (/proc/self/fd: %m)");
                return 0;
        }
        /* A mark for each source there is now (one that is missing is
         * waited for, as with inotify), in a group of its own. */
        r = fanotify_source_new(&f, &msg);
        if (r >= 0 && !f)
                r = -ENOMEM;
        for (size_t i = 0; r >= 0 && i < c->n_drops; i++) {
                struct stat st;

                if (stat(c->drops[i].source, &st) == 0 && S_ISDIR(st.st_mode))
                        r = fanotify_source_add(f, c->drops[i].source, NULL, NULL, &msg);
        }
        fanotify_source_free(f);
        if (r < 0)
                return msg ? log_error_errno(r, "%s", msg) : log_error_errno(r, "watcher = fanotify: %m");
        return 0;
}

int watcher_new(const ThumbwatchConfig *c, PathQueue *work, Scanner *scanner, Watcher **ret) {
        Watcher *w = calloc(1, sizeof *w);
        int r;

        if (!w)
                return -ENOMEM;
        /* Its sources are marked as they are armed (watcher_check() has
         * tried them already). */
        if (c->watcher == WATCHER_FANOTIFY) {
                _cleanup_free_ char *msg = NULL;

                r = fanotify_source_new(&w->fan, &msg);
                if (r < 0) {
                        free(w);
                        return msg ? log_error_errno(r, "%s", msg) : r;
                }
        }
        w->roots = calloc(c->n_drops, sizeof *w->roots);
        if (!w->roots || watch_index_new(&w->index) < 0) {
                free(w->roots);
                fanotify_source_free(w->fan);
                free(w);
                return -ENOMEM;
        }
        for (size_t i = 0; i < c->n_drops; i++)
                w->roots[i] = (Root) { .drop = &c->drops[i], .wd = -1, .retry_delay = RETRY_MIN_USEC };
        w->n_roots = c->n_drops;
        w->mounts_fd = -1;
        w->config = c;
        w->work = work;
        w->scanner = scanner;
        *ret = w;
        return 0;
}

bool watcher_running(Watcher *w) {
        return atomic_load(&w->running);
}

bool watcher_ready(Watcher *w) {
        return atomic_load(&w->ready);
}

unsigned watcher_watches(Watcher *w) {
        return atomic_load(&w->n_watches);
}

uint64_t watcher_heartbeat(Watcher *w) {
        return atomic_load(&w->heartbeat);
}

static void count_watches(Watcher *w) {
        atomic_store(&w->n_watches,
                     w->fan ? fanotify_source_marks(w->fan) : (unsigned) watch_index_count(w->index));
}

static void watch_free(Watcher *w, Watch *x) {
        watch_index_remove(w->index, x);
        count_watches(w);
}

Watcher *watcher_free(Watcher *w) {
        if (!w)
                return NULL;
        w->index = watch_index_free(w->index);
        w->fan = fanotify_source_free(w->fan);
        if (w->mounts_fd >= 0)
                (void) close(w->mounts_fd);
        for (size_t i = 0; i < w->n_unwatched_now; i++)
                free(w->unwatched[i]);
        free(w->unwatched);
        for (size_t i = 0; i < w->n_pending; i++)
                free(w->pending[i].path);
        free(w->pending);
        free(w->roots);
        free(w->moved_from);
        free(w);
        return NULL;
}

/* Records that wd watches path, the folder st describes. The kernel hands out
 * the same wd for a folder watched twice: then the watch takes the new path
 * (the folder was renamed, and what is below it follows). */
static int watch_add(Watcher *w, int wd, const char *path, const struct stat *st) {
        int r = watch_index_add(w->index, wd, path, st->st_dev, st->st_ino);

        count_watches(w);
        return r;
}

static void disarm_root(Root *root) {
        root->armed = false;
        root->wd = -1;
        root->retry_at = now_usec();
        root->retry_delay = RETRY_MIN_USEC;
        root->reported = false;
        log_warning("source '%s' is gone; watching for it to come back", root->drop->source);
}

/* The kernel dropped a watch (its folder was deleted, or unmounted). */
static void forget_wd(Watcher *w, int wd) {
        Watch *x = watch_index_by_wd(w->index, wd);

        if (x)
                watch_free(w, x);
        for (size_t i = 0; i < w->n_roots; i++)
                if (w->roots[i].armed && w->roots[i].wd == wd)
                        disarm_root(&w->roots[i]);
}

/* Stops watching path and everything below it. */
static void unwatch_tree(Watcher *w, const char *path) {
        _cleanup_free_ int *wds = NULL;
        size_t n = 0;

        if (w->fan)
                return;
        if (watch_index_under(w->index, path, &wds, &n) < 0) {
                log_warning_errno(-ENOMEM, "cannot stop watching '%s': %m", path);
                return;
        }
        for (size_t i = 0; i < n; i++) {
                Watch *x = watch_index_by_wd(w->index, wds[i]);

                (void) inotify_rm_watch(w->inotify_fd, wds[i]);
                if (x)
                        watch_index_remove(w->index, x);
        }
        count_watches(w);
}

/* A folder was renamed inside the tree: its watches follow (one entry of
 * the index moves; the paths below it are built from their names). */
static void rename_tree(Watcher *w, const char *from, const char *to) {
        int r = w->fan ? 0 : watch_index_rename(w->index, from, to);

        if (r < 0)
                log_warning_errno(r, "cannot follow the rename of '%s' to '%s' (an overflow rescan will): %m", from,
                                  to);
}

typedef struct WalkState {
        Watcher *watcher;
        const DropConfig *drop;
        int root_wd;
} WalkState;

/* The kernel watches path already (IN_MASK_CREATE said so), but not under
 * this name: a folder renamed before its rename event was read, or a second
 * name for a watched folder (a bind mount). Watching it again would give the
 * same wd, and libinotifytools a second entry for it that it never frees. So
 * the watch is found by device and inode: renamed, it and the watches below
 * it follow now (when the rename event is read, they are where it says);
 * another name, it is not watched twice. Returns 0 to go on into path, 1 to
 * skip it (either with the watch's wd in *ret_wd), -ENOENT when no single
 * watch of ours matches. */
static int watched_elsewhere(Watcher *w, const char *path, const struct stat *st, int *ret_wd) {
        _cleanup_free_ char *old_path = NULL;
        Watch *x = NULL;
        struct stat old;
        int r;

        /* Two watches with the inode: one is of a deleted folder whose number
         * was reused, and its IN_IGNORED is not read yet. Which is which is
         * unknown here. */
        if (watch_index_by_inode(w->index, st->st_dev, st->st_ino, &x) != 1)
                return -ENOENT;
        *ret_wd = watch_wd(x);
        old_path = watch_path(x);
        if (!old_path)
                return -ENOMEM;
        if (lstat(old_path, &old) == 0 && old.st_dev == st->st_dev && old.st_ino == st->st_ino) {
                log_debug("'%s' is '%s' under another name: watched once", path, old_path);
                return 1;
        }
        log_debug("'%s' was renamed to '%s' before its event was read: its watches follow", old_path, path);
        r = watch_index_move(w->index, x, path);
        if (r == -EINVAL) {
                /* Below its own old path: a loop (a bind mount of a folder
                 * inside itself); what is below is not walked. */
                log_debug("'%s' is '%s', a folder above it: not walked again", path, old_path);
                return 1;
        }
        return r < 0 ? r : 0;
}

/* fs.inotify.max_user_watches, or the user namespace's own limit where it
 * is lower (libinotifytools reads the first only). */
static int max_watches(void) {
        int max = inotifytools_get_max_user_watches();
        FILE *f = fopen("/proc/sys/user/max_inotify_watches", "re");
        int ns;

        if (f) {
                if (fscanf(f, "%d", &ns) == 1 && ns > 0 && (max <= 0 || ns < max))
                        max = ns;
                (void) fclose(f);
        }
        return max;
}

/* Remembers that the subtree path is not watched (the limit), unless a
 * subtree above it is remembered already; subtrees below it are forgotten. */
static void remember_unwatched(Watcher *w, const char *path) {
        char **a, *p;
        size_t j = 0;

        for (size_t i = 0; i < w->n_unwatched_now; i++)
                if (naming_path_is_under(path, w->unwatched[i]))
                        return;
        for (size_t i = 0; i < w->n_unwatched_now; i++) {
                if (naming_path_is_under(w->unwatched[i], path))
                        free(w->unwatched[i]);
                else
                        w->unwatched[j++] = w->unwatched[i];
        }
        w->n_unwatched_now = j;
        p = strdup(path);
        a = p ? reallocarray(w->unwatched, w->n_unwatched_now + 1, sizeof *a) : NULL;
        if (!a) {
                free(p);
                return;         /* out of memory: the next overflow rescan still finds its files */
        }
        a[w->n_unwatched_now++] = p;
        w->unwatched = a;
        if (w->n_unwatched_now == 1)
                w->unwatched_at = now_usec() + w->config->rescan_unwatched_usec;
}

/* Asks the kernel to watch the folder path: with IN_MASK_CREATE if
 * mask_create and the kernel has it, so that a folder watched already fails
 * with -EEXIST rather than being watched again (the kernel would give the
 * watch's wd back). A root may be a symlink to its folder, which is
 * followed. Returns the wd, or -errno. */
static int add_watch(Watcher *w, const char *path, bool root, bool mask_create) {
        uint32_t events = WATCH_EVENTS & ~(root ? IN_DONT_FOLLOW : 0);
        int wd;

        mask_create = mask_create && !w->no_mask_create;
        wd = inotify_add_watch(w->inotify_fd, path, events | (mask_create ? IN_MASK_CREATE : 0));
        if (wd < 0 && errno == EINVAL && mask_create) {
                w->no_mask_create = true;
                wd = inotify_add_watch(w->inotify_fd, path, events);
        }
        return wd < 0 ? -errno : wd;
}

/* The watch limit left path, and the folders below it, unwatched: it is
 * remembered (to be rescanned, and watched once the limit allows) and
 * named, but only the first few such subtrees: a huge tree would flood the
 * log. */
static void watch_limit_reached(Watcher *w, const char *path) {
        remember_unwatched(w, path);
        if (w->retrying)
                return;
        /* Counted here, at the first ENOSPC, not by a walk of every tree
         * beforehand: start-up reads each folder once. */
        if (!w->limit_reported) {
                w->limit_reported = true;
                log_full_errno_fields(LOG_WARNING, 0,
                                      ((const LogField[]) { { "MESSAGE_ID", LOG_MESSAGE_WATCH_LIMIT } }), 1,
                                      "watch limit reached with %zu folders watched (the limit is %d): some will "
                                      "not be watched. Raise it with: sysctl fs.inotify.max_user_watches=%d",
                                      watch_index_count(w->index), max_watches(), max_watches() * 2);
        }
        if (++w->n_unwatched > UNWATCHED_REPORT_MAX) {
                if (w->n_unwatched == UNWATCHED_REPORT_MAX + 1)
                        log_warning("watch limit reached: more subtrees are not watched; not naming each");
                return;
        }
        log_full_errno_fields(LOG_WARNING, 0,
                              ((const LogField[]) { { "MESSAGE_ID", LOG_MESSAGE_WATCH_LIMIT },
                                                    { "THUMBWATCH_SOURCE", path } }), 2,
                    "watch limit reached: '%s' and the folders below it are not watched "
                    "(they are rescanned every %.0f s, and watched once the limit allows); "
                    "raise it with: sysctl fs.inotify.max_user_watches=%d",
                    path, (double) w->config->rescan_unwatched_usec / 1e6, max_watches() * 2);
}

/* The walk's dir callback: watches the folder path (stbuf), unless it is
 * watched already. Returns 0 to go on into it, 1 to pass over what is
 * below it (it could not be watched), <0 to stop the walk. */
static int watch_dir(const char *path, const struct stat *stbuf, void *userdata) {
        WalkState *st = userdata;
        Watcher *w = st->watcher;
        Watch *x;
        int wd, r;
        bool root;

        if (atomic_load(&w->stopping))
                return -ECANCELED;
        atomic_store(&w->heartbeat, now_usec());
        /* Watched already (a rescan after an overflow, a renamed folder). */
        x = watch_index_by_path(w->index, path);
        if (x) {
                log_debug("'%s' is watched already (wd %d)", path, watch_wd(x));
                if (st->root_wd < 0)
                        st->root_wd = watch_wd(x);
                return 0;
        }
        /* The source itself may be a symlink to its folder; nothing below it
         * is followed. */
        root = strcmp(path, st->drop->source) == 0;
        r = add_watch(w, path, root, true);
        if (r == -EEXIST) {
                r = watched_elsewhere(w, path, stbuf, &wd);
                if (r >= 0 && st->root_wd < 0)
                        st->root_wd = wd;
                if (r != -ENOENT)
                        return r;
                r = add_watch(w, path, root, false);
        }
        /* Not watched: passed over. -ENOENT and -ENOTDIR say it is gone
         * already, with nothing to watch. */
        if (r == -ENOSPC)
                watch_limit_reached(w, path);
        else if (r < 0 && r != -ENOENT && r != -ENOTDIR)
                log_warning_errno(r, "cannot watch '%s', skipping it and the folders below: %m", path);
        if (r < 0)
                return 1;
        wd = r;
        log_debug("watching '%s' (wd %d)", path, wd);
        if (st->root_wd < 0)
                st->root_wd = wd;
        r = watch_add(w, wd, path, stbuf);
        if (r == -EINVAL) {
                log_debug("'%s' is watched as a folder above it (wd %d): not walked again", path, wd);
                return 1;
        }
        return r < 0 ? r : 0;
}

/* Watch first, then scan: every folder under dir is watched before the
 * scanner looks at it, so a file created meanwhile is seen by one or the
 * other. Returns the wd of dir, or -errno. */
static int watch_tree(Watcher *w, const DropConfig *d, const char *dir, bool scan) {
        static const ScanCallbacks cb = { .dir = watch_dir };
        WalkState st = { .watcher = w, .drop = d, .root_wd = -1 };
        long r;

        /* fanotify: nothing to watch folder by folder. */
        if (w->fan) {
                if (scan)
                        scanner_request(w->scanner, dir, true);
                return 0;
        }
        r = scan_tree(w->config, d, dir, true, &cb, &st);
        if (r < 0)
                return (int) r;
        if (scan)
                scanner_request(w->scanner, dir, true);
        return st.root_wd >= 0 ? st.root_wd : -ENOENT;
}

/* watcher = fanotify: marks root's file system (again, if it was away),
 * then asks for the catch-up scan. Returns 0, or -errno having logged why
 * once. */
static int mark_root(Watcher *w, Root *root, const struct stat *st) {
        _cleanup_free_ char *msg = NULL;
        int r = fanotify_source_add(w->fan, root->drop->source, NULL, NULL, &msg);

        if (r < 0) {
                if (!root->reported)
                        log_error_errno(r, "%s, retrying", msg ? msg : "watcher = fanotify: cannot mark the source");
                root->reported = true;
                return r;
        }
        root->dev = st->st_dev;
        root->ino = st->st_ino;
        /* A file system whose folders report another device than its own
         * (btrfs's subvolumes do) cannot be told by its mark: then only its
         * folder is looked at. */
        root->mark_known = fanotify_source_marked(w->fan, root->dev);
        count_watches(w);
        scanner_request(w->scanner, root->drop->source, true);
        return 0;
}

static void arm_root(Watcher *w, Root *root) {
        struct stat stbuf;
        int r;

        if (stat(root->drop->source, &stbuf) < 0)
                r = -errno;
        else if (!S_ISDIR(stbuf.st_mode))
                r = -ENOTDIR;
        else if (w->fan)
                r = mark_root(w, root, &stbuf);
        else
                r = watch_tree(w, root->drop, root->drop->source, true);
        if (r >= 0) {
                root->armed = true;
                root->wd = r;
                root->retry_delay = RETRY_MIN_USEC;
                if (root->reported)
                        log_notice("source '%s' is back: watching it and catching up", root->drop->source);
                else
                        log_info("watching '%s' -> '%s'", root->drop->source, root->drop->output);
                root->reported = false;
                return;
        }
        if (!root->reported)
                log_warning_errno(r, "source '%s' of [drop:%s] is not available, retrying: %m",
                                  root->drop->source, root->drop->name);
        root->reported = true;
        root->retry_at = now_usec() + root->retry_delay;
        root->retry_delay = root->retry_delay * 2 > RETRY_MAX_USEC ? RETRY_MAX_USEC : root->retry_delay * 2;
}

/* Hands a file to the workers without blocking: when the queue is full, the
 * folder is rescanned later instead. */
static void queue_file(Watcher *w, const char *path, const char *dir) {
        char *p = strdup(path);

        if (p && path_queue_try_push(w->work, p) >= 0)
                return;
        free(p);
        scanner_request(w->scanner, dir, false);
}

/* Forgets path as a file made and not closed yet. Returns whether it was. */
static bool pending_drop(Watcher *w, const char *path) {
        for (size_t i = 0; i < w->n_pending; i++)
                if (strcmp(w->pending[i].path, path) == 0) {
                        free(w->pending[i].path);
                        w->pending[i] = w->pending[--w->n_pending];
                        return true;
                }
        return false;
}

static void pending_add(Watcher *w, const char *path, const char *dir) {
        struct Pending *a;
        char *p;

        pending_drop(w, path);
        p = strdup(path);
        a = p && w->n_pending < PENDING_MAX ? reallocarray(w->pending, w->n_pending + 1, sizeof *a) : NULL;
        if (!a) {
                /* Too many files being written at once: the folder's rescan
                 * finds what is complete. */
                free(p);
                scanner_request(w->scanner, dir, false);
                return;
        }
        a[w->n_pending++] = (struct Pending) { p, now_usec() + PENDING_QUIET_USEC };
        w->pending = a;
}

/* Queues the created files that were left alone, without a close, for
 * PENDING_QUIET_USEC: by their ctime, which every write moves. */
static void pending_check(Watcher *w, uint64_t now) {
        for (size_t i = 0; i < w->n_pending;) {
                struct Pending *e = &w->pending[i];
                struct timespec real;
                struct stat st;
                bool regular;

                if (e->due > now) {
                        i++;
                        continue;
                }
                (void) clock_gettime(CLOCK_REALTIME, &real);
                regular = lstat(e->path, &st) == 0 && S_ISREG(st.st_mode);
                if (regular && real.tv_sec - st.st_ctim.tv_sec < (time_t) (PENDING_QUIET_USEC / 1000000)) {
                        e->due = now + PENDING_QUIET_USEC;      /* still being written */
                        i++;
                        continue;
                }
                if (regular) {
                        _cleanup_free_ char *dir = strdup(e->path);
                        char *slash = dir ? strrchr(dir, '/') : NULL;

                        if (slash) {
                                *slash = '\0';
                                log_debug("'%s' was created and left alone without a close: complete", e->path);
                                queue_file(w, e->path, dir);
                        }
                }
                free(e->path);
                *e = w->pending[--w->n_pending];
        }
}

typedef struct Renamed {
        const DropConfig *drop;
        const char *from;       /* the folder's old path */
        size_t to_len;          /* length of its new one */
} Renamed;

/* A file of a renamed folder, at its new path: its thumbnails under the old one go. */
static int remove_old_name(char *path, void *userdata) {
        const Renamed *rn = userdata;
        _cleanup_free_ char *new_path = path, *old_path = NULL;

        if (asprintf(&old_path, "%s%s", rn->from, new_path + rn->to_len) >= 0)
                (void) output_remove_source(rn->drop, old_path);
        return 0;
}

/* The folder moved away earlier was not renamed inside the tree: it left. */
static void flush_moved_from(Watcher *w) {
        const DropConfig *d;

        if (!w->moved_from)
                return;
        d = config_find_drop(w->config, w->moved_from);
        unwatch_tree(w, w->moved_from);
        if (d && d->delete_with_source) {
                long n = output_folder_remove(d, w->moved_from);

                log_debug("'%s' left the tree: %ld of its thumbnails removed", w->moved_from, n);
        }
        free(w->moved_from);
        w->moved_from = NULL;
}

#ifdef THUMBWATCH_TEST_HOOKS
/* Test builds only (--enable-test-hooks): the watcher pauses
 * $THUMBWATCH_TEST_DIR_PAUSE_MS (default 300) before it handles the creation
 * of a folder whose name starts with $THUMBWATCH_TEST_DIR_PAUSE, so that a
 * test can move things into the folder before the watcher walks it. */
static void test_dir_pause(const char *name) {
        const char *prefix = getenv("THUMBWATCH_TEST_DIR_PAUSE"), *ms = getenv("THUMBWATCH_TEST_DIR_PAUSE_MS");
        long n;

        if (!prefix || !*prefix || strncmp(name, prefix, strlen(prefix)) != 0)
                return;
        n = ms ? strtol(ms, NULL, 10) : 300;
        (void) nanosleep(&(struct timespec) { n / 1000, (n % 1000) * 1000000 }, NULL);
}
#endif

static void handle_dir_event(Watcher *w, const DropConfig *d, const struct inotify_event *ev, const char *dir,
                             const char *path) {
        if (ev->mask & IN_MOVED_FROM) {
                flush_moved_from(w);
                w->moved_from = strdup(path);
                w->moved_cookie = ev->cookie;
                return;
        }
#ifdef THUMBWATCH_TEST_HOOKS
        if (ev->mask & IN_CREATE)
                test_dir_pause(ev->name);
#endif
        if (ev->mask & (IN_CREATE | IN_MOVED_TO)) {
                bool renamed = (ev->mask & IN_MOVED_TO) && w->moved_from && ev->cookie == w->moved_cookie &&
                               config_find_drop(w->config, w->moved_from) == d;
                bool skipped = scan_skips_dir(d, dir, ev->name) || output_is_drop_output(w->config, path) ||
                               !d->recursive;

                /* Renamed to a name the drop passes over: to the drop it has
                 * left, as if moved out (one rule with a folder made so). */
                if (renamed && skipped) {
                        log_debug("'%s' was renamed to '%s', which is passed over: it left the drop", w->moved_from,
                                  path);
                        flush_moved_from(w);
                        return;
                }
                if (renamed) {
                        rename_tree(w, w->moved_from, path);
                        /* The thumbnails move with their folder (mirror); if they
                         * cannot, the old ones go and the scan below makes them anew. */
                        (void) output_folder_moved(d, w->moved_from, path);
                        /* A layout that does not mirror the tree (freedesktop) names
                         * thumbnails by the file's URI, which the rename changed: the old
                         * names' go (the scan below makes the new), found by a walk of
                         * the folder, which reads names only. */
                        if (!output_layout(d)->mirrors_tree && d->delete_with_source) {
                                static const ScanCallbacks cb = { .file = remove_old_name };
                                Renamed rn = { .drop = d, .from = w->moved_from, .to_len = strlen(path) };

                                (void) scan_tree(w->config, d, path, true, &cb, &rn);
                        }
                        free(w->moved_from);
                        w->moved_from = NULL;
                        /* The scan below prunes the mirror too: what a worker
                         * wrote there meanwhile, and with fanotify, which names
                         * an event's folder when the event is read, the
                         * thumbnail of a file deleted just before its folder
                         * was renamed (looked for under the new name, before
                         * the thumbnails had moved there). */
                }
                if (skipped)
                        return;
                /* New, moved in or renamed: watch it (a renamed folder's watches
                 * followed it, but it may have been renamed before it was ever
                 * watched; folders watched already are skipped), then scan it. */
                (void) watch_tree(w, d, path, true);
                return;
        }
        if ((ev->mask & IN_DELETE) && d->delete_with_source)
                /* Its files were deleted first, each removing its thumbnail: the mirror goes. */
                (void) output_folder_remove(d, path);
}

/* The kernel's inotify queue overflowed: events were lost, and every drop
 * folder is watched and scanned again. */
static void handle_overflow(Watcher *w) {
        log_full_errno_fields(LOG_WARNING, 0,
                              ((const LogField[]) { { "MESSAGE_ID", LOG_MESSAGE_OVERFLOW } }), 1,
                              w->fan ? "the kernel's fanotify queue overflowed: events were lost; rescanning "
                                       "every drop folder (raise fs.fanotify.max_queued_events, or keep other "
                                       "writers off the drops' file systems, to make this rarer)"
                                     : "the kernel's inotify queue overflowed: events were lost; rescanning "
                                       "every drop folder (raise fs.inotify.max_queued_events to make this rarer)");
        flush_moved_from(w);
        /* Folders created meanwhile may be unwatched: watch again (the kernel
         * returns the existing watch for those already watched), then rescan. */
        for (size_t i = 0; i < w->n_roots; i++)
                if (w->roots[i].armed)
                        (void) watch_tree(w, w->roots[i].drop, w->roots[i].drop->source, false);
        scanner_request_all(w->scanner);
}

/* Events about a watched folder itself, not an entry of it. Returns true
 * when ev was one (and is dealt with). */
static bool handle_self_event(Watcher *w, const struct inotify_event *ev) {
        if (ev->mask & IN_IGNORED) {
                forget_wd(w, ev->wd);
                return true;
        }
        if (ev->mask & IN_MOVE_SELF) {
                /* A root renamed away: its watches would report paths that no longer exist. */
                for (size_t i = 0; i < w->n_roots; i++)
                        if (w->roots[i].armed && w->roots[i].wd == ev->wd) {
                                unwatch_tree(w, w->roots[i].drop->source);
                                disarm_root(&w->roots[i]);
                        }
                return true;
        }
        return (ev->mask & (IN_DELETE_SELF | IN_UNMOUNT)) != 0;        /* IN_IGNORED follows */
}

/* A file was created. It is complete when created, with no close to come,
 * if it is a hard link (ln, cp -l, rsync --link-dest: the inode has another
 * name already) or a symlink. Any other file is watched for its close, or
 * for being left alone without one. */
static void handle_file_created(Watcher *w, const DropConfig *d, const char *dir, const char *path) {
        struct stat st;

        if (lstat(path, &st) < 0)
                return;
        if ((S_ISREG(st.st_mode) && st.st_nlink > 1) || (S_ISLNK(st.st_mode) && d->follow_symlinks))
                queue_file(w, path, dir);
        else if (S_ISREG(st.st_mode))
                pending_add(w, path, dir);
}

/* Files: only complete ones. A file being copied in is complete when its
 * writer closes it (IN_CLOSE_WRITE) or renames it into place (IN_MOVED_TO),
 * never when it is created. IN_ATTRIB (touch -d, an mtime set after the
 * data, chmod) asks the worker to look: it decides by identity, without a
 * decode when nothing changed. */
static void handle_file_event(Watcher *w, const DropConfig *d, const struct inotify_event *ev, const char *dir,
                              const char *path) {
        if (!naming_is_image(ev->name) || scan_ignored_name(d, ev->name))
                return;
        if (ev->mask & (IN_CLOSE_WRITE | IN_MOVED_TO | IN_ATTRIB)) {
                /* Written: what the thumbnails were made of may be gone even
                 * where size and mtime say otherwise. Not a file made since it
                 * was watched (most files): it has no thumbnail of its own yet. */
                if ((ev->mask & IN_CLOSE_WRITE) && !pending_drop(w, path) && !(ev->mask & IN_CREATE))
                        (void) output_source_written(d, path);
                queue_file(w, path, dir);
        } else if (ev->mask & IN_CREATE)
                handle_file_created(w, d, dir, path);
        else if ((ev->mask & (IN_DELETE | IN_MOVED_FROM)) && d->delete_with_source) {
                pending_drop(w, path);
                /* At once, in event order: queued, the removal could run after
                 * a later rename of the folder had moved the thumbnail out of
                 * its reach. A worker making the same file's thumbnail at this
                 * moment finds its source gone when done and removes it. */
                (void) output_remove_source(d, path);
                /* Another file of the folder may give the same thumbnail name
                 * (a.jpg and a.png with format = jpeg) and have been refused it
                 * while this one held it: the folder is looked at again. */
                if (output_names_may_collide(d))
                        scanner_request(w->scanner, dir, false);
        } else if (ev->mask & (IN_DELETE | IN_MOVED_FROM))
                pending_drop(w, path);
}

/* An event on the entry ev->name of the folder dir, of drop d. */
static void handle_entry_event(Watcher *w, const DropConfig *d, const struct inotify_event *ev, const char *dir) {
        _cleanup_free_ char *path = NULL;

        if (asprintf(&path, "%s/%s", dir, ev->name) < 0)
                return;
        if (ev->mask & IN_ISDIR)
                handle_dir_event(w, d, ev, dir, path);
        else
                handle_file_event(w, d, ev, dir, path);
}

/* A renamed folder's IN_MOVED_FROM waits for its IN_MOVED_TO, which must be
 * the next event: any other says it left. */
static void pair_moved_from(Watcher *w, uint32_t mask, uint32_t cookie) {
        if (w->moved_from && !((mask & IN_MOVED_TO) && cookie == w->moved_cookie))
                flush_moved_from(w);
}

static void handle_event(Watcher *w, const struct inotify_event *ev) {
        _cleanup_free_ char *dir = NULL;
        const DropConfig *d;
        Watch *x;

        if (log_get_max_level() >= LOG_DEBUG && (ev->mask & IN_ISDIR)) {
                _cleanup_free_ char *p = NULL;

                x = watch_index_by_wd(w->index, ev->wd);
                p = x ? watch_path(x) : NULL;
                log_debug("event %s on '%s/%s'", inotifytools_event_to_str(ev->mask), p ? p : "?",
                          ev->len ? ev->name : "");
        }
        if (ev->mask & IN_Q_OVERFLOW) {
                handle_overflow(w);
                return;
        }
        pair_moved_from(w, ev->mask, ev->cookie);
        if (handle_self_event(w, ev))
                return;

        /* An event on an entry of a watched folder: its folder (looked up
         * only now, as the events above may have changed it) and drop. */
        x = watch_index_by_wd(w->index, ev->wd);
        if (!x || ev->len == 0 || ev->name[0] == '\0')
                return;
        dir = watch_path(x);
        d = dir ? config_find_drop(w->config, dir) : NULL;
        if (d)
                handle_entry_event(w, d, ev, dir);
}

/* watcher = fanotify: would an inotify walk of d have watched the folder
 * dir (below d's source, or it)? Not when a folder on the way is ignored or
 * an output, nor below the top with recursive = no. */
static bool fanotify_dir_watched(Watcher *w, const DropConfig *d, const char *dir) {
        _cleanup_free_ char *p = NULL;
        size_t n = strlen(d->source);

        if (strcmp(dir, d->source) == 0)
                return true;
        if (!d->recursive || strncmp(dir, d->source, n) != 0 || dir[n] != '/')
                return false;
        p = strdup(dir);
        if (!p)
                return false;
        for (char *c = p + n; c && *c == '/';) {
                char *name = c + 1, *next = strchr(name, '/');
                bool skip;

                if (next)
                        *next = '\0';
                *c = '\0';
                skip = scan_skips_dir(d, p, name);
                *c = '/';
                skip = skip || output_is_drop_output(w->config, p);
                if (next)
                        *next = '/';
                if (skip)
                        return false;
                c = next;
        }
        return true;
}

static bool root_armed(const Watcher *w, const DropConfig *d) {
        for (size_t i = 0; i < w->n_roots; i++)
                if (w->roots[i].drop == d)
                        return w->roots[i].armed;
        return false;
}

/* watcher = fanotify: an event from fanotify-source.h, handled as inotify's. */
static int fanotify_event(uint32_t mask, uint32_t cookie, const char *dir, const char *name, void *userdata) {
        Watcher *w = userdata;
        _cleanup_free_ struct inotify_event *ev = NULL;
        const DropConfig *d;
        size_t len;

        if (atomic_load(&w->stopping))
                return -ECANCELED;
        atomic_store(&w->heartbeat, now_usec());
        if (mask & IN_Q_OVERFLOW) {
                handle_overflow(w);
                return 0;
        }
        /* A drop whose root is away is caught up when it is marked again. */
        d = config_find_drop(w->config, dir);
        if (!d || !root_armed(w, d) || !fanotify_dir_watched(w, d, dir))
                return 0;
        log_debug("event %s on '%s/%s'", inotifytools_event_to_str(mask), dir, name);
        len = strlen(name) + 1;
        ev = calloc(1, sizeof *ev + len);
        if (!ev)
                return -ENOMEM;
        *ev = (struct inotify_event) { .mask = mask, .cookie = cookie, .len = (uint32_t) len };
        memcpy(ev->name, name, len);
        pair_moved_from(w, mask, cookie);
        handle_entry_event(w, d, ev, dir);
        /* A folder deleted or renamed may be a root, or above one. */
        if (mask & IN_ISDIR)
                w->roots_checked_at = 0;
        return 0;
}

/* watcher = fanotify: no watch reports a root's going. Each armed root is
 * looked at: gone, or another folder under its name, it is disarmed (and
 * marked again when back, with a catch-up scan). */
static void fanotify_check_roots(Watcher *w, uint64_t now) {
        if (now != UINT64_MAX && now < w->roots_checked_at + RETRY_MIN_USEC)
                return;
        w->roots_checked_at = now_usec();
        for (size_t i = 0; i < w->n_roots; i++) {
                Root *root = &w->roots[i];
                struct stat st;

                if (!root->armed)
                        continue;
                /* Its file system unmounted (and mounted again, maybe: the
                 * same device and inode, but the mark went with the old). */
                if (stat(root->drop->source, &st) < 0 || !S_ISDIR(st.st_mode) || st.st_dev != root->dev ||
                    st.st_ino != root->ino || (root->mark_known && !fanotify_source_marked(w->fan, root->dev)))
                        disarm_root(root);
        }
}

static void mount_added(const char *path, void *userdata) {
        Watcher *w = userdata;

        log_info("'%s' was mounted below a source: marked, and scanned", path);
        scanner_request(w->scanner, path, true);
}

/* watcher = fanotify: the mount table changed. A root whose mark went with
 * its file system is disarmed (and armed again, caught up); the others are
 * marked again, with what is mounted below them now. */
static void fanotify_mounts_changed(Watcher *w) {
        fanotify_check_roots(w, UINT64_MAX);
        for (size_t i = 0; i < w->n_roots; i++) {
                Root *root = &w->roots[i];
                _cleanup_free_ char *msg = NULL;
                int r;

                if (!root->armed)
                        continue;
                r = fanotify_source_add(w->fan, root->drop->source, mount_added, w, &msg);
                if (r < 0) {
                        log_error_errno(r, "%s", msg ? msg : "watcher = fanotify: cannot mark the source again");
                        disarm_root(root);
                }
        }
}

/* watcher = fanotify: waits up to a second for events, and handles what
 * one read brings. Returns false after a quiet second. */
static bool fanotify_next_events(Watcher *w) {
        struct pollfd p[2] = { { .fd = fanotify_source_fd(w->fan), .events = POLLIN },
                               { .fd = w->mounts_fd, .events = POLLPRI } };
        long r;

        if (poll(p, 2, 1000) <= 0)
                return false;
        if (p[1].revents & (POLLPRI | POLLERR))
                fanotify_mounts_changed(w);
        if (!(p[0].revents & POLLIN))
                return true;
        /* A moment for more to come: a busy writer's events are read a
         * thousand at a time, not woken for one by one. */
        (void) nanosleep(&(struct timespec) { 0, FANOTIFY_GATHER_NSEC }, NULL);
        r = fanotify_source_read(w->fan, fanotify_event, w);
        if (r < 0 && r != -ECANCELED) {
                log_warning_errno((int) r, "cannot read fanotify events (rescanning every drop folder): %m");
                scanner_request_all(w->scanner);
        }
        /* A rename's two names come in one event: a folder moved away and
         * not in at the end of a read has left. */
        flush_moved_from(w);
        return true;
}

/* The subtrees the watch limit left unwatched: watched now if the limit
 * allows, and rescanned either way (files may have landed there). */
static void retry_unwatched(Watcher *w) {
        char **list = w->unwatched;
        size_t n = w->n_unwatched_now;

        w->unwatched = NULL;
        w->n_unwatched_now = 0;
        w->retrying = true;
        for (size_t i = 0; i < n && !atomic_load(&w->stopping); i++) {
                const DropConfig *d = config_find_drop(w->config, list[i]);
                struct stat st;

                if (d && lstat(list[i], &st) == 0 && S_ISDIR(st.st_mode)) {
                        (void) watch_tree(w, d, list[i], false);
                        scanner_request(w->scanner, list[i], true);
                        /* Deletions there went unseen too. */
                        scanner_request_prune(w->scanner, list[i]);
                }
        }
        w->retrying = false;
        for (size_t i = 0; i < n; i++)
                free(list[i]);
        free(list);
        if (w->n_unwatched_now == 0)
                log_notice("every folder is watched now: the watch limit allows them all");
        else
                w->unwatched_at = now_usec() + w->config->rescan_unwatched_usec;
}

/* The inotify descriptors of this process, by /proc/self/fd, in *ret (the
 * caller frees it). Returns their number, or -errno. */
static long inotify_fds(int **ret) {
        DIR *d = opendir("/proc/self/fd");
        _cleanup_free_ int *fds = NULL;
        struct dirent *de;
        long n = 0;

        if (!d)
                return -errno;
        while ((de = readdir(d))) {
                char target[32];
                ssize_t len;
                int *a;

                len = readlinkat(dirfd(d), de->d_name, target, sizeof target - 1);
                if (len < 0)
                        continue;
                target[len] = '\0';
                if (strcmp(target, "anon_inode:inotify") != 0)
                        continue;
                a = reallocarray(fds, (size_t) n + 1, sizeof *a);
                if (!a) {
                        (void) closedir(d);
                        return -ENOMEM;
                }
                fds = a;
                fds[n++] = atoi(de->d_name);
        }
        (void) closedir(d);
        *ret = TAKE_PTR(fds);
        return n;
}

/* Starts libinotifytools and returns its descriptor, which it gives out to
 * no one: the inotify descriptor inotifytools_initialize() opened, the one
 * that was not there before (no other thread opens one). Returns -errno. */
static int inotify_start(void) {
        _cleanup_free_ int *before = NULL, *after = NULL;
        long n_before, n_after;

        n_before = inotify_fds(&before);
        if (n_before < 0)
                return (int) n_before;
        errno = 0;
        if (!inotifytools_initialize())
                return errno > 0 ? -errno : -EIO;
        n_after = inotify_fds(&after);
        for (long i = 0; after && i < n_after; i++) {
                bool old = false;

                for (long j = 0; before && j < n_before; j++)
                        old = old || before[j] == after[i];
                if (!old)
                        return after[i];
        }
        inotifytools_cleanup();
        return n_after < 0 ? (int) n_after : -EBADF;
}

static void *watcher_thread(void *arg) {
        Watcher *w = arg;
        uint64_t now;

        /* Named, so that its CPU can be told from the workers' (top -H, bench/). */
        (void) pthread_setname_np(pthread_self(), "tw-watcher");
        /* fanotify: a mount below a source is marked when it comes. */
        if (w->fan)
                w->mounts_fd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
        if (!w->fan)
                w->inotify_fd = inotify_start();
        if (!w->fan && w->inotify_fd < 0) {
                log_error_errno(w->inotify_fd, "cannot start inotify (and find its descriptor in /proc/self/fd): %m");
                atomic_store(&w->ready, true);
                atomic_store(&w->running, false);
                return NULL;
        }
        for (size_t i = 0; i < w->n_roots && !atomic_load(&w->stopping); i++)
                arm_root(w, &w->roots[i]);
        atomic_store(&w->ready, true);

        while (!atomic_load(&w->stopping)) {
                struct inotify_event *ev;

                now = now_usec();
                atomic_store(&w->heartbeat, now);
                for (size_t i = 0; i < w->n_roots; i++)
                        if (!w->roots[i].armed && w->roots[i].retry_at <= now)
                                arm_root(w, &w->roots[i]);

                if (w->n_pending > 0)
                        pending_check(w, now);
                if (w->n_unwatched_now > 0 && now >= w->unwatched_at)
                        retry_unwatched(w);
                /* Hourly, what no event said: thumbnails and failure records
                 * of files that are gone (a drop writer's churn cannot grow
                 * the state folder for long). */
                if (now >= w->prune_at) {
                        if (w->prune_at > 0)
                                for (size_t i = 0; i < w->n_roots; i++)
                                        if (w->roots[i].armed)
                                                scanner_request_prune(w->scanner, w->roots[i].drop->source);
                        w->prune_at = now + PRUNE_INTERVAL_USEC;
                }
                if (w->fan) {
                        fanotify_check_roots(w, now);
                        (void) fanotify_next_events(w);
                        continue;
                }
                ev = inotifytools_next_events(1, 1);
                if (!ev) {
                        /* A quiet second: a folder moved away and not back has left. */
                        flush_moved_from(w);
                        continue;
                }
                handle_event(w, ev);
        }
        if (!w->fan)
                inotifytools_cleanup();
        atomic_store(&w->running, false);
        return NULL;
}

int watcher_start(Watcher *w) {
        int r;

        atomic_store(&w->heartbeat, now_usec());
        atomic_store(&w->running, true);
        r = pthread_create(&w->thread, NULL, watcher_thread, w);
        if (r != 0) {
                atomic_store(&w->running, false);
                return -r;
        }
        w->started = true;
        return 0;
}

void watcher_stop(Watcher *w) {
        atomic_store(&w->stopping, true);
}

void watcher_join(Watcher *w) {
        if (w->started)
                (void) pthread_join(w->thread, NULL);
        w->started = false;
}
