/* tools.h - --gc and --explain: look at the outputs and tidy them, from the
 * command line, while the daemon runs or not. No threads; stdout only. */
#pragma once

#include <stdbool.h>

#include "config-file.h"

/* Removes (or, with dry_run, lists) every thumbnail under the drops' outputs
 * whose source is gone, and the mirror folders of source folders that are
 * gone. Only regular files with an image extension are touched, never
 * .thumbwatch/ or hidden files. Returns an exit status: 0, or 1 if some
 * could not be removed. */
int tools_gc(const ThumbwatchConfig *c, bool dry_run);

/* Prints what thumbwatch does with path and why: its drop, whether it is
 * ignored (and by what), its format and size against the limits, where its
 * thumbnails are and whether they are up to date, and any failure recorded.
 * Returns an exit status: 0, or 1 when path is in no drop folder. */
int tools_explain(const ThumbwatchConfig *c, const char *path);
