/* state-dir.h - what the daemon remembers, in OUTPUT/.thumbwatch/ (0700,
 * files 0600): the failures (a file that failed is not decoded again until
 * it changes) and the file each worker is decoding (so that a crash blames
 * the file that caused it). Named by device and inode, never by a source's
 * name, so no source name addresses this folder and it does not say what
 * the sources are called. Thread-safe; the in-flight records are per
 * thread. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "config-file.h"

/* The class of a remembered failure: "corrupt", "truncated", ... */
#define STATE_CLASS_MAX 32

/* Has the file st describes failed before, as it is now (same size, inode,
 * mtime and ctime: a file repaired with cp -p keeps size and mtime, never
 * ctime)? A record written with a config fingerprint (not 0) holds only
 * while config_fp is the same: a file refused by a limit or the formats
 * allow-list is tried again once those change. The class goes to class. */
bool state_failed_before(const DropConfig *d, const struct stat *st, uint64_t config_fp, char class[STATE_CLASS_MAX]);

/* Remembers that path (st) failed with class; config_fp as above, 0 when the
 * failure does not depend on the config. */
void state_remember_failure(const DropConfig *d, const char *path, const struct stat *st, const char *class,
                            uint64_t config_fp);

/* Forgets the failure of the file st describes (its thumbnail was made). */
void state_forget_failure(const DropConfig *d, const struct stat *st);

/* Records that this thread decodes path (of d) from now until
 * state_inflight_end(). */
void state_inflight_begin(const DropConfig *d, const char *path);
void state_inflight_end(void);

/* Installs the handler that, when a worker thread crashes (SIGSEGV, SIGBUS,
 * SIGILL, SIGFPE, SIGABRT), marks the file it was decoding before the
 * process dies as the signal says. Call once from main. */
void state_install_crash_handler(void);

/* Reads the in-flight records a crash left under d's output: a file a
 * worker crashed on fails as "crashed" and is not tried until it changes; a
 * file interrupted from outside (a kill) is tried once more ("suspect"), and
 * fails as "crashed" only if it is interrupted again. Each is logged. Call
 * at start-up before any worker runs. Returns how many files were in
 * flight. */
long state_recover_inflight(const DropConfig *d);

/* Removes the failure records of files that are gone (or whose device and
 * inode are another file's now). Returns how many. */
long state_prune_failures(const DropConfig *d);

/* Creates OUTPUT/.thumbwatch 0700 (and makes an older one 0700). Returns 0 or -errno. */
int state_prepare(const DropConfig *d);
