/* fanotify-source.h - watcher = fanotify: one mark per file system that
 * holds a drop, and its events turned into inotify's terms (a folder's path,
 * an entry's name, IN_* bits), so that the watcher handles both modes alike.
 * No per-folder state in the kernel, and here only a bounded cache: a folder
 * is named when one of its events is read, from the file handle the event
 * carries.
 *
 * Needs CAP_SYS_ADMIN (a file system mark) and CAP_DAC_READ_SEARCH
 * (open_by_handle_at), Linux 5.17 (FAN_RENAME) and /proc (a descriptor's
 * path). Used by the watcher thread only. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct FanotifySource FanotifySource;

/* Returns 0, or -errno with *reterr_message (caller frees) saying what is
 * missing and what to do: the capability, the kernel, /proc or a file
 * system that cannot report file handles. */
int fanotify_source_new(FanotifySource **ret, char **reterr_message);
FanotifySource *fanotify_source_free(FanotifySource *f);      /* NULL-safe; returns NULL */

/* Called with the path (below a source) of each mount below it that
 * fanotify_source_add() found and had not marked before. */
typedef void (*FanotifyMountFn)(const char *path, void *userdata);

/* Marks the file system that holds the folder source (a drop's, as
 * configured: a symlink to its folder is followed), and those of the mounts
 * below it (read from /proc/self/mountinfo: called again, it finds those
 * mounted since), and resolves events on them below source to paths that
 * start with source. Marking a file system twice is harmless. Returns 0, or
 * -errno with *reterr_message (a mount below the source that cannot be
 * marked fails the source). */
int fanotify_source_add(FanotifySource *f, const char *source, FanotifyMountFn added, void *userdata,
                        char **reterr_message);

/* Does the mark on the file system of device dev still stand? It goes with
 * the file system (unmounted, even if mounted again at once). */
bool fanotify_source_marked(const FanotifySource *f, dev_t dev);

/* File systems marked. */
unsigned fanotify_source_marks(const FanotifySource *f);

/* The descriptor to poll for input. */
int fanotify_source_fd(const FanotifySource *f);

/* One event, in inotify's terms: mask holds IN_CREATE, IN_DELETE,
 * IN_CLOSE_WRITE, IN_ATTRIB, IN_MOVED_FROM, IN_MOVED_TO (a rename is both,
 * with one cookie, in that order, either missing when its side is not
 * below a source), IN_ISDIR, or IN_Q_OVERFLOW alone (dir and name NULL).
 * dir is the folder's path now, below one of the sources (or one itself). */
typedef int (*FanotifyEventFn)(uint32_t mask, uint32_t cookie, const char *dir, const char *name, void *userdata);

/* Reads what events there are, without blocking, and hands each to fn, in
 * the kernel's order. Events of this process (its thumbnails), of folders
 * gone since (a folder's deletion is seen from the folder above it) or not
 * below a source are passed over. Returns the number of events read, or
 * -errno (or fn's error). */
long fanotify_source_read(FanotifySource *f, FanotifyEventFn fn, void *userdata);
