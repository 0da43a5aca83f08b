/* scan.h - walks a drop's tree, skipping temporaries, ignored
 * names, symlinked folders and every drop's output tree; and the scanner thread, which
 * turns directory scan requests into file paths on the work queue.
 * Knows nothing of inotify or images. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

#include "config-file.h"
#include "path-queue.h"

typedef struct ScanCallbacks {
        /* Called for root and every sub-folder not skipped, before its files,
         * with the folder's stat (root's followed if it is d->source). Returns
         * <0 to stop the walk (returned by scan_tree()), 0 to go on, 1 to skip
         * this folder's contents. May be NULL. */
        int (*dir)(const char *path, const struct stat *st, void *userdata);
        /* Called for every image; takes ownership of path. Returns <0 to stop
         * the walk. A blocking queue push here gives the walk backpressure.
         * May be NULL: folders only. */
        int (*file)(char *path, void *userdata);
        /* Called for each folder or image too deep to be read (its path over
         * PATH_MAX; named in the log already). May be NULL. */
        void (*too_deep)(void *userdata);
} ScanCallbacks;

/* Walks root, a folder inside (or equal to) d->source; into sub-folders only
 * if recursive and d->recursive. Files are not stat()ed, folders once each.
 * Symlinks to folders are not followed, except d->source itself; symlinks to
 * images are passed on, for the worker to follow or not. Unreadable
 * sub-folders are logged and skipped. Returns the number of images found (>= 0), -errno when root
 * cannot be read, or a callback's error. */
long scan_tree(const ThumbwatchConfig *c, const DropConfig *d, const char *root, bool recursive,
               const ScanCallbacks *cb, void *userdata);

/* Should a directory entry with this base name be passed over, for drop d? */
bool scan_ignored_name(const DropConfig *d, const char *name);

/* Should the sub-folder name of the folder parent (absolute) be passed over:
 * an ignored name, or the state folder's name at the top of the drop? The
 * one rule of the walks and the watcher, for folders made and renamed alike. */
bool scan_skips_dir(const DropConfig *d, const char *parent, const char *name);

/* Is the file rel (relative to d's source) passed over by its path: in the
 * state folder's name at the top, below the top with recursive = no, a
 * component ignored or temporary, not an image name? Why goes to why. The
 * one rule of --explain, --gc and the daemon's pruning; the walks apply the
 * same, folder by folder. */
bool scan_path_skipped(const DropConfig *d, const char *rel, char *why, size_t size);


typedef struct Scanner Scanner;

/* The scanner thread: pops folder requests, walks them, and pushes every
 * image it finds onto work (blocking while it is full). c and work are
 * borrowed until scanner_join() returns. */
int scanner_new(const ThumbwatchConfig *c, PathQueue *work, Scanner **ret);
Scanner *scanner_free(Scanner *s);             /* NULL-safe; returns NULL; must be joined */
int scanner_start(Scanner *s);

/* Asks for dir to be scanned (its whole subtree if recursive). Never blocks:
 * when too many requests are waiting, a full rescan of every root is done
 * instead. Thread-safe. */
void scanner_request(Scanner *s, const char *dir, bool recursive);

/* Asks for the thumbnails of gone sources below dir to be removed (and, for
 * a drop's root, the failure records of gone files): what a missed delete
 * event left. Thread-safe, never blocks (dropped when too many requests
 * wait: the next root scan prunes). */
void scanner_request_prune(Scanner *s, const char *dir);

/* Asks for every root to be scanned again. Thread-safe, never blocks. */
void scanner_request_all(Scanner *s);

/* True while requests are waiting or being scanned. */
bool scanner_busy(Scanner *s);

/* Is the thread still running? Once false, scanner_join() does not block. */
bool scanner_running(Scanner *s);

/* Stops the thread: the scan in progress is abandoned (a push blocked on a
 * full work queue included), waiting requests are dropped. */
void scanner_stop(Scanner *s);
void scanner_join(Scanner *s);
