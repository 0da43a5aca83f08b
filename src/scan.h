/* scan.h - walks a drop's source tree (with fts(3)) and hands every image
 * path to a callback, skipping temporaries, ignored names, symlinks and every
 * drop's output tree. Runs on the caller's thread; no state of its own. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

/* Takes ownership of path. A negative return stops the scan and is returned
 * by scan_drop(). A blocking queue push here gives the walk backpressure. */
typedef int (*scan_fn)(char *path, void *userdata);

/* Walks d->source. Unreadable sub-folders are logged and skipped. Returns the
 * number of images found (>= 0), or -errno when the source itself cannot be
 * read, or the callback's error. */
long scan_drop(const ThumbwatchConfig *c, const DropConfig *d, scan_fn fn, void *userdata);

/* Should a directory entry with this base name be passed over, for drop d? */
bool scan_ignored_name(const DropConfig *d, const char *name);
