/* watch-index.h - the watcher's index of its folder watches: by watch
 * descriptor, by path and by folder identity (device and inode). Entries
 * form a tree of names that mirrors the folders, each holding its name
 * relative to its parent, so that renaming a folder moves one entry (its
 * subtree follows) and a subtree is walked directly: what an event costs
 * follows the folder it is about, not the number of watches. Pure: no
 * inotify, no file system. Not thread-safe; one thread owns an index. */
#pragma once

#include <stddef.h>
#include <sys/types.h>

typedef struct WatchIndex WatchIndex;
typedef struct Watch Watch;

/* Paths are absolute, without a trailing slash; empty components are
 * skipped. An entry displaced by another (two folders cannot have one
 * path: it went elsewhere, and an event will say where) is kept under a
 * path starting with WATCH_INDEX_STALE_PREFIX, which is not absolute and
 * found by no lookup by path. */
#define WATCH_INDEX_STALE_PREFIX "//thumbwatch-stale/"

int watch_index_new(WatchIndex **ret);
WatchIndex *watch_index_free(WatchIndex *ix);   /* NULL-safe; returns NULL */

/* Watches in the index. */
size_t watch_index_count(const WatchIndex *ix);

/* Lookups; the watch returned is borrowed until it is removed or the
 * index freed. NULL when there is none. */
Watch *watch_index_by_wd(WatchIndex *ix, int wd);
Watch *watch_index_by_path(WatchIndex *ix, const char *path);
/* The number of watches of the folder dev/ino, one of them in *ret (when
 * there is one). */
size_t watch_index_by_inode(WatchIndex *ix, dev_t dev, ino_t ino, Watch **ret);

int watch_wd(const Watch *x);
dev_t watch_dev(const Watch *x);
ino_t watch_ino(const Watch *x);
/* The path of x, built from its names; the caller owns it. NULL when out
 * of memory. */
char *watch_path(const Watch *x);

/* Two entries for one path (the index lags behind the folders, and some of
 * its entries are stale): the arriving one's watch wins the path, the
 * entries below both stay below it (resolved the same way where they share
 * a name), and a watch that lost its path is displaced, alone. */

/* Records that wd watches the folder dev/ino at path. A wd recorded
 * already moves to path, with the entries below it (the kernel gives a
 * folder watched again under a new name its old wd: it was renamed).
 * Returns 0, -EINVAL when path is not absolute or lies below wd's own
 * entry, -ENOMEM (the index is then as it was). */
int watch_index_add(WatchIndex *ix, int wd, const char *path, dev_t dev, ino_t ino);

/* A folder was renamed: the entry at from and the entries below it move to
 * to. Returns the number of watches at and below to afterwards (0 when
 * nothing was at from, and nothing moved), -EINVAL when to lies below
 * from, -ENOMEM. */
int watch_index_rename(WatchIndex *ix, const char *from, const char *to);

/* As watch_index_rename(), for the entry x (whatever its path is now). */
int watch_index_move(WatchIndex *ix, Watch *x, const char *to);

/* Forgets x; the entries below it stay. */
void watch_index_remove(WatchIndex *ix, Watch *x);

/* The wds of path's watch and of every watch below it, in *ret_wds (the
 * caller frees it; NULL when none) and their number in *ret_n. Returns 0
 * or -ENOMEM. */
int watch_index_under(WatchIndex *ix, const char *path, int **ret_wds, size_t *ret_n);
