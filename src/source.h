/* source.h - opening a drop's source file for reading, by the drop's rules:
 * below its source folder, through no symlinked folder, and through a
 * symlinked file only as follow_symlinks says. The worker and --explain
 * open sources here; beneath.h is the mechanism, this is the drop's policy.
 * No threads of its own; thread-safe. */
#pragma once

#include "config-file.h"

/* Opens path, a file below d's source, for reading (O_NONBLOCK, so a FIFO
 * planted in a drop cannot hang a worker): below the source's folder,
 * through no symlinked folder, and not itself a symlink unless
 * follow_symlinks says so (yes: to a target inside the drop; anywhere); so
 * a folder swapped for a symlink while the file waited cannot redirect the
 * read. Returns a descriptor, -ELOOP (a symlink in the way), -EXDEV (a link
 * out of the drop, or path not below d's source), or -errno of open(2). */
int source_open(const DropConfig *d, const char *path);
