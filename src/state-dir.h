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

/* A digest of a file's content: MD5 in hex, of all of it up to 16 MB, of
 * its first and last 8 MB past that; "-" when unknown. */
#define STATE_DIGEST_MAX 33

typedef enum FailedBefore {
        FAILED_NO,              /* no record for it, or one of another config */
        FAILED_YES,             /* as it is now: same size, inode, mtime and ctime */
        FAILED_IF_SAME,         /* same size, inode and mtime, another ctime: a chmod, a new link, or a
                                 * repair with cp -p (which keeps size and mtime); failed still if its
                                 * content's digest is the one recorded */
} FailedBefore;

/* Has the file st describes failed before? A record written with a config
 * fingerprint (not 0) holds only while config_fp is the same: a file
 * refused by a limit or the formats allow-list is tried again once those
 * change. The class goes to class, the recorded digest to ret_digest. */
FailedBefore state_failed_before(const DropConfig *d, const struct stat *st, uint64_t config_fp,
                                 char class[STATE_CLASS_MAX], char ret_digest[STATE_DIGEST_MAX]);

/* The digest of the file open as fd (st_size size). Returns 0 or -errno. */
int state_digest_fd(int fd, uint64_t size, char ret[STATE_DIGEST_MAX]);

/* Remembers that path (st; open as fd, or -1 when it is not at hand) failed
 * with class; config_fp as above, 0 when the failure does not depend on the
 * config. */
void state_remember_failure(const DropConfig *d, const char *path, const struct stat *st, int fd, const char *class,
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

/* Reads the in-flight records a crash left under d's output (this host's,
 * of processes that are gone: an output may be shared): a file a
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
