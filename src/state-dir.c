/* state-dir.c - failure memory and in-flight records under OUTPUT/.thumbwatch.
 *
 * A failure record is OUTPUT/.thumbwatch/failed/DEV-INO (hexadecimal) and
 * holds "3 SIZE MTIME CTIME CLASS FINGERPRINT DIGEST", a newline, and the
 * source's path. A file whose ctime alone changed (a chmod, or a repair from
 * a backup with cp -p, which keeps size and mtime) is told by its digest: a
 * chmod costs a read of the file, not a decode and a log line. Keyed by inode, a record follows its file through renames of the
 * folders above it, and a poison file moved about is still known. */
#include "build-config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <md5.h>

#include "beneath.h"
#include "log.h"
#include "macro.h"
#include "naming.h"
#include "output-tree.h"
#include "state-dir.h"

#define FAILED_DIR OUTPUT_STATE_DIR "/failed"
#define INFLIGHT_DIR OUTPUT_STATE_DIR "/inflight"
#define RECORD_VERSION "3"

/* Opens (creating) a folder of the state folder. */
static int open_state(const DropConfig *d, const char *sub, bool create) {
        int root = beneath_open_root(d->output), fd;

        if (root < 0)
                return root;
        fd = beneath_open(root, sub, O_RDONLY | O_DIRECTORY, create ? BENEATH_CREATE_DIRS : 0, 0700);
        (void) close(root);
        return fd;
}

static bool is_record_name(const char *name) {
        const char *dash = strchr(name, '-');

        return dash && dash > name && dash[1] && strspn(name, "0123456789abcdef") == (size_t) (dash - name) &&
               strspn(dash + 1, "0123456789abcdef") == strlen(dash + 1);
}

int state_prepare(const DropConfig *d) {
        int fd = open_state(d, FAILED_DIR, true);
        struct dirent *e;
        DIR *dir;

        if (fd < 0)
                return fd;
        /* Made by an older thumbwatch with other modes, or records named after
         * the sources (before version 2): private now, and the old records go. */
        {
                int root = beneath_open_root(d->output), state = root >= 0 ?
                        beneath_open(root, OUTPUT_STATE_DIR, O_PATH | O_DIRECTORY, 0, 0) : -1;

                if (state >= 0) {
                        char p[64];

                        (void) snprintf(p, sizeof p, "/proc/self/fd/%d", state);
                        (void) chmod(p, 0700);
                        (void) close(state);
                }
                if (root >= 0)
                        (void) close(root);
        }
        (void) fchmod(fd, 0700);
        dir = fdopendir(fd);
        if (!dir) {
                (void) close(fd);
                return -errno;
        }
        while ((e = readdir(dir)))
                if (e->d_name[0] != '.' && !is_record_name(e->d_name))
                        (void) beneath_remove_tree(dirfd(dir), e->d_name, NULL, NULL);
        (void) closedir(dir);
        return 0;
}

static void record_name(const struct stat *st, char buf[64]) {
        (void) snprintf(buf, 64, "%" PRIx64 "-%" PRIx64, (uint64_t) st->st_dev, (uint64_t) st->st_ino);
}

FailedBefore state_failed_before(const DropConfig *d, const struct stat *st, uint64_t config_fp,
                                 char class[STATE_CLASS_MAX], char ret_digest[STATE_DIGEST_MAX]) {
        long long size, msec, mnsec, csec, cnsec;
        unsigned long long fp;
        char name[64], c[STATE_CLASS_MAX], digest[STATE_DIGEST_MAX];
        FailedBefore r = FAILED_NO;
        int dfd, fd;
        FILE *f;

        dfd = open_state(d, FAILED_DIR, false);
        if (dfd < 0)
                return FAILED_NO;
        record_name(st, name);
        fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        (void) close(dfd);
        if (fd < 0)
                return FAILED_NO;
        f = fdopen(fd, "r");
        if (!f) {
                (void) close(fd);
                return FAILED_NO;
        }
        if (fscanf(f, RECORD_VERSION " %lld %lld.%lld %lld.%lld %31s %llx %32s", &size, &msec, &mnsec, &csec, &cnsec,
                   c, &fp, digest) == 8 &&
            size == (long long) st->st_size && msec == (long long) st->st_mtim.tv_sec &&
            mnsec == st->st_mtim.tv_nsec && (fp == 0 || fp == config_fp))
                r = csec == (long long) st->st_ctim.tv_sec && cnsec == st->st_ctim.tv_nsec ? FAILED_YES :
                    strcmp(digest, "-") != 0 ? FAILED_IF_SAME : FAILED_NO;
        (void) fclose(f);
        if (r != FAILED_NO) {
                (void) snprintf(class, STATE_CLASS_MAX, "%s", c);
                (void) snprintf(ret_digest, STATE_DIGEST_MAX, "%s", digest);
        }
        return r;
}

#define DIGEST_WHOLE (16ULL << 20)
#define DIGEST_PART (8ULL << 20)

static int digest_range(int fd, MD5_CTX *ctx, uint64_t from, uint64_t len) {
        unsigned char buf[1 << 16];

        while (len > 0) {
                ssize_t n = pread(fd, buf, len < sizeof buf ? (size_t) len : sizeof buf, (off_t) from);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        break;
                MD5Update(ctx, buf, (size_t) n);
                from += (uint64_t) n;
                len -= (uint64_t) n;
        }
        return 0;
}

int state_digest_fd(int fd, uint64_t size, char ret[STATE_DIGEST_MAX]) {
        MD5_CTX ctx;
        int r;

        MD5Init(&ctx);
        if (size <= DIGEST_WHOLE)
                r = digest_range(fd, &ctx, 0, size);
        else {
                r = digest_range(fd, &ctx, 0, DIGEST_PART);
                if (r >= 0)
                        r = digest_range(fd, &ctx, size - DIGEST_PART, DIGEST_PART);
        }
        if (r < 0)
                return r;
        (void) MD5End(&ctx, ret);
        return 0;
}

void state_remember_failure(const DropConfig *d, const char *path, const struct stat *st, int fd, const char *class,
                            uint64_t config_fp) {
        _cleanup_free_ char *text = NULL;
        char name[64], tmp[80], digest[STATE_DIGEST_MAX] = "-";
        int dfd, tfd, n;

        if (fd >= 0 && state_digest_fd(fd, (uint64_t) st->st_size, digest) < 0)
                (void) snprintf(digest, sizeof digest, "-");
        dfd = open_state(d, FAILED_DIR, true);
        if (dfd < 0)
                return;
        record_name(st, name);
        n = asprintf(&text, RECORD_VERSION " %lld %lld.%09ld %lld.%09ld %s %" PRIx64 " %s\n%s", (long long) st->st_size,
                     (long long) st->st_mtim.tv_sec, st->st_mtim.tv_nsec, (long long) st->st_ctim.tv_sec,
                     st->st_ctim.tv_nsec, class, config_fp, digest, path);
        /* Written whole or not at all: a temporary renamed over the record. */
        (void) snprintf(tmp, sizeof tmp, ".%s.tmp", name);
        tfd = n < 0 ? -1 : openat(dfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (tfd >= 0) {
                bool ok = write(tfd, text, (size_t) n) == n;

                if (close(tfd) < 0)
                        ok = false;
                if (!ok || renameat(dfd, tmp, dfd, name) < 0)
                        (void) unlinkat(dfd, tmp, 0);
        }
        (void) close(dfd);
}

void state_forget_failure(const DropConfig *d, const struct stat *st) {
        char name[64];
        int dfd = open_state(d, FAILED_DIR, false);

        if (dfd < 0)
                return;
        record_name(st, name);
        (void) unlinkat(dfd, name, 0);
        (void) close(dfd);
}

long state_prune_failures(const DropConfig *d) {
        struct dirent *e;
        long n = 0;
        int dfd = open_state(d, FAILED_DIR, false);
        DIR *dp = dfd >= 0 ? fdopendir(dfd) : NULL;

        if (!dp) {
                if (dfd >= 0)
                        (void) close(dfd);
                return 0;
        }
        while ((e = readdir(dp))) {
                char buf[PATH_MAX + 256], name[64], *path;
                struct stat st;
                ssize_t len;
                int fd;

                if (!is_record_name(e->d_name))
                        continue;
                fd = openat(dirfd(dp), e->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
                len = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
                if (fd >= 0)
                        (void) close(fd);
                if (len < 0)
                        continue;
                buf[len] = '\0';
                path = strchr(buf, '\n');
                /* Another drop's, in a freedesktop cache drops share. */
                if (path && !naming_path_is_under(path + 1, d->source))
                        continue;
                /* The record's file is gone, or its device and inode are another's;
                 * a file that cannot be looked at (a folder not readable, an io
                 * error) keeps its record. */
                if (path && (d->follow_symlinks ? stat(path + 1, &st) : lstat(path + 1, &st)) == 0) {
                        record_name(&st, name);
                        if (strcmp(name, e->d_name) == 0)
                                continue;
                } else if (path && errno != ENOENT && errno != ENOTDIR)
                        continue;
                if (unlinkat(dirfd(dp), e->d_name, 0) == 0)
                        n++;
        }
        (void) closedir(dp);
        return n;
}

/* In-flight records: OUTPUT/.thumbwatch/inflight/worker-HOST-PID-TID holds
 * the path the thread TID of process PID on HOST is decoding, from before the
 * decode to after it. If the thread crashes, the fatal-signal handler renames
 * its record to crashed-HOST-PID-TID: that file caused it. A record left as
 * worker-... was interrupted from outside (a kill, a power cut) and is
 * innocent until it happens again. The host and the process are named
 * because an output may be shared (a fleet's workers, on several hosts or
 * in several processes): a record is recovered only by its own host, once
 * its process is gone. (An older thumbwatch wrote worker-TID: recovered as
 * its own by any.) */
static __thread int inflight_dfd = -1;          /* open while this thread decodes */
static __thread char inflight_file[HOST_NAME_MAX + 64]; /* "worker-HOST-PID-TID" */
static __thread char crashed_file[HOST_NAME_MAX + 64];  /* "crashed-HOST-PID-TID" */

/* This host's name as records spell it: no '/', never empty. */
static void host_name(char buf[HOST_NAME_MAX + 1]) {
        if (gethostname(buf, HOST_NAME_MAX) < 0 || !buf[0])
                strcpy(buf, "localhost");
        buf[HOST_NAME_MAX] = '\0';
        for (char *c = buf; *c; c++)
                if (*c == '/')
                        *c = '_';
}

void state_inflight_begin(const DropConfig *d, const char *path) {
        char host[HOST_NAME_MAX + 1];
        int fd;

        host_name(host);
        (void) snprintf(inflight_file, sizeof inflight_file, "worker-%s-%ld-%ld", host, (long) getpid(),
                        (long) gettid());
        (void) snprintf(crashed_file, sizeof crashed_file, "crashed-%s-%ld-%ld", host, (long) getpid(),
                        (long) gettid());
        inflight_dfd = open_state(d, INFLIGHT_DIR, true);
        if (inflight_dfd < 0)
                return;
        fd = openat(inflight_dfd, inflight_file, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd >= 0) {
                size_t len = strlen(path);
                if (write(fd, path, len) != (ssize_t) len)
                        (void) unlinkat(inflight_dfd, inflight_file, 0);
                (void) close(fd);
        }
}

void state_inflight_end(void) {
        if (inflight_dfd < 0)
                return;
        (void) unlinkat(inflight_dfd, inflight_file, 0);
        (void) close(inflight_dfd);
        inflight_dfd = -1;
}

/* A fatal signal on a thread that is decoding: the file it decodes is the
 * likely cause. Only signals the kernel raised (a fault) or the process
 * raised itself (abort()) count: a kill from outside, such as systemd's
 * watchdog, blames no file. Async-signal-safe: renameat() and raise() only. */
static void crash_handler(int sig, siginfo_t *si, void *ucontext) {
        (void) ucontext;
        if (inflight_dfd >= 0 && (si->si_code > 0 || si->si_pid == getpid()))
                (void) renameat(inflight_dfd, inflight_file, inflight_dfd, crashed_file);
        (void) raise(sig);      /* SA_RESETHAND: now the default action */
}

void state_install_crash_handler(void) {
        static const int sigs[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT };
        struct sigaction sa = { .sa_sigaction = crash_handler, .sa_flags = SA_SIGINFO | SA_RESETHAND | SA_NODEFER };

        (void) sigemptyset(&sa.sa_mask);
        for (size_t i = 0; i < ELEMENTSOF(sigs); i++)
                (void) sigaction(sigs[i], &sa, NULL);
}

static void log_crashed(const DropConfig *d, const char *path, const char *why) {
        log_full_errno_fields(LOG_ERR, 0,
                              ((const LogField[]) { { "MESSAGE_ID", LOG_MESSAGE_FAILED },
                                                    { "THUMBWATCH_SOURCE", path },
                                                    { "THUMBWATCH_OUTPUT", d->output },
                                                    { "THUMBWATCH_ERROR", "crashed" },
                                                    { "THUMBWATCH_DURATION_US", "0" } }),
                              5, "'%s' failed (crashed): %s", path, why);
}

/* Is the record name another's to recover: another host's, or a process
 * of this host that still runs (sharing this output)? */
static bool inflight_not_ours(const char *name) {
        char host[HOST_NAME_MAX + 1];
        const char *rest = strchr(name, '-'), *tid, *pid;
        size_t host_len;
        long p;

        rest = rest ? rest + 1 : name;
        tid = strrchr(rest, '-');
        if (!tid)
                return false;           /* worker-TID: an older thumbwatch's, this one's to recover */
        for (pid = tid - 1; pid > rest && *pid != '-'; pid--)
                ;
        if (pid <= rest)
                return false;
        host_len = (size_t) (pid - rest);
        host_name(host);
        if (strlen(host) != host_len || strncmp(rest, host, host_len) != 0)
                return true;
        p = strtol(pid + 1, NULL, 10);
        return p > 0 && p != getpid() && (kill((pid_t) p, 0) == 0 || errno == EPERM);
}

long state_recover_inflight(const DropConfig *d) {
        struct dirent *e;
        long n = 0;
        DIR *dp;
        int dfd;

        dfd = open_state(d, INFLIGHT_DIR, false);
        if (dfd < 0)
                return 0;
        dp = fdopendir(dfd);
        if (!dp) {
                (void) close(dfd);
                return -errno;
        }
        while ((e = readdir(dp))) {
                char path[PATH_MAX + 1], class[STATE_CLASS_MAX], digest[STATE_DIGEST_MAX];
                struct stat st;
                ssize_t len;
                int fd, sfd;

                if (e->d_name[0] == '.' || inflight_not_ours(e->d_name))
                        continue;
                fd = openat(dfd, e->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
                len = fd >= 0 ? read(fd, path, PATH_MAX) : -1;
                if (fd >= 0)
                        (void) close(fd);
                if (len > 0) {
                        path[len] = '\0';
                        /* Another drop's, in a freedesktop cache drops share: its own
                         * recovery reads it. */
                        if (!naming_path_is_under(path, d->source))
                                continue;
                }
                (void) unlinkat(dfd, e->d_name, 0);
                if (len <= 0 || lstat(path, &st) < 0 || !S_ISREG(st.st_mode))
                        continue;
                n++;
                /* Its digest, so that a chmod does not make a poison file be
                 * tried (and crash) again: opened below the drop, as any source. */
                {
                        int root = beneath_open_root(d->source);

                        sfd = root >= 0 && naming_path_is_under(path, d->source) && strcmp(path, d->source) != 0 ?
                                      beneath_open(root, naming_path_below(path, d->source),
                                                   O_RDONLY | O_NONBLOCK | O_NOCTTY, 0, 0) :
                                      -1;
                        if (root >= 0)
                                (void) close(root);
                }
                /* Crashed on it: its fault. Interrupted from outside: once may be
                 * chance, twice in a row is the file (a hang the watchdog ends). */
                if (strncmp(e->d_name, "crashed-", 8) == 0) {
                        state_remember_failure(d, path, &st, sfd, "crashed", 0);
                        log_crashed(d, path, "thumbwatch crashed while decoding it: not tried again until it changes");
                } else if (state_failed_before(d, &st, 0, class, digest) == FAILED_YES && strcmp(class, "suspect") == 0) {
                        state_remember_failure(d, path, &st, sfd, "crashed", 0);
                        log_crashed(d, path,
                                    "thumbwatch stopped abruptly while decoding it, twice: not tried again until it changes");
                } else {
                        state_remember_failure(d, path, &st, sfd, "suspect", 0);
                        log_warning("'%s' was being decoded when thumbwatch stopped abruptly: trying it once more", path);
                }
                if (sfd >= 0)
                        (void) close(sfd);
        }
        (void) closedir(dp);
        return n;
}
