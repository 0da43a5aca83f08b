/* decode-raw.c - libraw 0.20 behind a small interface: open, read the header,
 * unpack the embedded preview. libraw_unpack() (the raw decode, seconds and
 * hundreds of megabytes) is never called: libraw_unpack_thumb() takes 0.7 ms
 * on this machine.
 *
 * libraw runs in a process of its own: libraw 0.20 (Debian 12's) crashes on
 * some corrupt files (a fuzzer finds one in seconds: a wild read in
 * parse_tiff_ifd()), and a 16 KB file can make it allocate 3 GB. Each thread
 * that reads RAWs has one such process (RawHelper): this program, started
 * again (posix_spawn()) at the thread's first RAW and kept. It is handed the
 * file's descriptor, opens it, unpacks the preview and sends back what it
 * found; a crash, a hang past the caller's timeout or an allocation past
 * RAW_PROCESS_MEMORY costs that file, not the daemon. Everything that
 * checks what libraw returned runs here, in the caller's process.
 *
 * Why /proc/self/fd: libraw's C API opens a path or a buffer, not a
 * descriptor. The magic link reopens the very file the caller opened and
 * checked (no second path lookup in the drop, no symlink to follow), and
 * libraw then reads only the headers and the preview, not a 30 MB RAW. */
#include "build-config.h"

#include <errno.h>
#include <fcntl.h>
#include <libraw.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "decode-raw.h"
#include "macro.h"
#include "message.h"
#include "time-util.h"

/* What libraw's process may allocate for a file beyond what it has when it
 * takes the file, plus twice the file's size: a preview is at most the file
 * (a bitmap one reads 16 KiB past its end), and libraw's own state is a few
 * megabytes. Past it, libraw's allocation fails and it says so. */
#define RAW_PROCESS_MEMORY (256ull << 20)

/* libraw's process's exit codes besides 0. */
enum {
        CHILD_NO_MEMORY = 3,            /* libraw_init() failed */
        CHILD_WRITE_FAILED = 4,         /* its socket closed under it */
};

/* What libraw's process sends back for a file: this, then tlength bytes of
 * preview when thumb_code is LIBRAW_SUCCESS. */
typedef struct RawReply {
        int open_code;                  /* libraw_open_*()'s code */
        int thumb_code;                 /* libraw_unpack_thumb()'s, when the open succeeded */
        unsigned width, height;         /* sizes.width/height */
        int flip;                       /* sizes.flip */
        unsigned twidth, theight;       /* thumbnail.* */
        int tformat, tcolors;
        uint64_t tlength;
        char make[64], model[64];       /* idata.make/model, NUL-terminated */
} RawReply;

struct DecodeRaw {
        RawReply reply;
        uint8_t *thumb;                 /* owned: the preview's reply.tlength bytes, or NULL */
        /* What libraw read: a duplicate of the caller's descriptor (owned),
         * or memory (data, borrowed). */
        int fd;
        const uint8_t *data;
        uint64_t size;                  /* taken at open */
};

/* libraw's error code as -errno, with what failed and libraw's words. */
static int raw_errno(int code, const char *what, char **reterr_reason) {
        int r;

        switch (code) {
        case LIBRAW_FILE_UNSUPPORTED:
                return message_set(reterr_reason, -EBADMSG, "%s: not a camera RAW libraw can read", what);
        case LIBRAW_NO_THUMBNAIL:
                return message_set(reterr_reason, -ENOENT, "%s: the RAW has no embedded preview", what);
        case LIBRAW_UNSUPPORTED_THUMBNAIL:
                r = -ENOTSUP;
                break;
        case LIBRAW_UNSUFFICIENT_MEMORY:
                return message_set(reterr_reason, -ENOMEM,
                                   "%s: libraw wanted more memory than its process may have (%llu MiB and "
                                   "twice the file): a corrupt RAW, or one that needs more",
                                   what, RAW_PROCESS_MEMORY >> 20);
        case LIBRAW_TOO_BIG:
                r = -E2BIG;
                break;
        case LIBRAW_IO_ERROR:
                return message_set(reterr_reason, -ENODATA,
                                   "%s: the file ends before the data it points to, or is corrupt (%s)", what,
                                   libraw_strerror(code));
        default:
                r = -EBADMSG;
                break;
        }
        return message_set(reterr_reason, r, "%s: %s", what, libraw_strerror(code));
}

int decode_raw_flip_to_orientation(int flip) {
        /* The inverse of dcraw's "50132467"[orientation & 7]. */
        static const int orientation[8] = { 1, 2, 4, 3, 5, 8, 6, 7 };

        return flip >= 0 && flip < 8 ? orientation[flip] : 1;
}

DecodeRaw *decode_raw_free(DecodeRaw *r) {
        if (!r)
                return NULL;
        free(r->thumb);
        if (r->fd >= 0)
                (void) close(r->fd);
        free(r);
        return NULL;
}

static int new_raw(DecodeRaw **ret, char **reterr_reason) {
        DecodeRaw *r = calloc(1, sizeof *r);

        if (!r)
                return message_set(reterr_reason, -ENOMEM, "out of memory for libraw");
        r->fd = -1;
        *ret = r;
        return 0;
}

static bool write_all(int fd, const void *p, size_t n) {
        const uint8_t *b = p;

        while (n > 0) {
                ssize_t k = send(fd, b, n, MSG_NOSIGNAL);

                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        return false;
                b += k;
                n -= (size_t) k;
        }
        return true;
}

/* What a thread asks its libraw process, with the file's descriptor. */
typedef struct RawRequest {
        uint64_t size;                  /* the file's, for the memory limit */
        int hook;                       /* test builds: 1 crash, 2 hang (THUMBWATCH_TEST_RAW_CHILD) */
} RawRequest;

/* In the libraw process, before its first file: its data segment (VmData,
 * from /proc/self/status) in bytes; 0 without /proc. */
static uint64_t helper_data_size(void) {
        char line[128];
        FILE *f = fopen("/proc/self/status", "re");
        unsigned long long kb = 0;

        if (!f)
                return 0;
        while (fgets(line, sizeof line, f))
                if (sscanf(line, "VmData: %llu kB", &kb) == 1)
                        break;
        (void) fclose(f);
        return (uint64_t) kb * 1024;
}

/* In the libraw process: the data segment it may grow to for a file, base
 * (what it had before its first file: a file's allocations are freed
 * before the next, and reused) and extra. base 0: no limit. */
static void helper_limit_memory(uint64_t base, uint64_t extra) {
        struct rlimit rl;

        if (base == 0 || getrlimit(RLIMIT_DATA, &rl) < 0)
                return;
        rl.rlim_cur = base + extra;
        if (rl.rlim_max != RLIM_INFINITY && rl.rlim_cur > rl.rlim_max)
                rl.rlim_cur = rl.rlim_max;
        (void) setrlimit(RLIMIT_DATA, &rl);
}

/* In the libraw process: libraw over one file, within base_data (see
 * helper_limit_memory()), and the reply. false: the caller's end is gone. */
static bool helper_serve(int sock, int fd, const RawRequest *req, uint64_t base_data) {
        _cleanup_free_ uint8_t *buffer = NULL;
        RawReply reply = {};
        libraw_data_t *lr;
        char proc[64];
        struct stat st, pst;
        bool sent;

        helper_limit_memory(base_data, RAW_PROCESS_MEMORY + 2 * req->size);
        if (req->hook == 1)
                (void) raise(SIGSEGV);
        while (req->hook == 2)
                (void) pause();
        lr = libraw_init(0);
        if (!lr)
                _exit(CHILD_NO_MEMORY);
        (void) snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
        /* The same inode through the link, or /proc is not what it should be:
         * then the whole file, read into memory. */
        if (fstat(fd, &st) == 0 && stat(proc, &pst) == 0 && pst.st_dev == st.st_dev && pst.st_ino == st.st_ino)
                reply.open_code = libraw_open_file(lr, proc);
        else {
                size_t done = 0;

                buffer = malloc(req->size ? (size_t) req->size : 1);
                while (buffer && done < req->size) {
                        ssize_t n = pread(fd, buffer + done, (size_t) req->size - done, (off_t) done);

                        if (n < 0 && errno == EINTR)
                                continue;
                        if (n <= 0)
                                break;
                        done += (size_t) n;
                }
                reply.open_code = !buffer ? LIBRAW_UNSUFFICIENT_MEMORY
                                  : done < req->size ? LIBRAW_IO_ERROR
                                                     : libraw_open_buffer(lr, buffer, done);
        }
        if (reply.open_code == LIBRAW_SUCCESS) {
                reply.width = lr->sizes.width;
                reply.height = lr->sizes.height;
                reply.flip = lr->sizes.flip;
                (void) snprintf(reply.make, sizeof reply.make, "%.*s", (int) sizeof lr->idata.make, lr->idata.make);
                (void) snprintf(reply.model, sizeof reply.model, "%.*s", (int) sizeof lr->idata.model,
                                lr->idata.model);
                if (reply.width > 0 && reply.height > 0) {
                        reply.thumb_code = libraw_unpack_thumb(lr);
                        reply.tformat = lr->thumbnail.tformat;
                        reply.tcolors = lr->thumbnail.tcolors;
                        reply.tlength = lr->thumbnail.thumb ? lr->thumbnail.tlength : 0;
                }
                /* The header's, or what the unpacking found. */
                reply.twidth = lr->thumbnail.twidth;
                reply.theight = lr->thumbnail.theight;
        }
        sent = write_all(sock, &reply, sizeof reply) &&
               (reply.thumb_code != LIBRAW_SUCCESS || reply.tlength == 0 ||
                write_all(sock, lr->thumbnail.thumb, (size_t) reply.tlength));
        libraw_close(lr);
        return sent;
}

/* One request and its descriptor: 1, 0 at the end of the stream, or -errno. */
static int receive_request(int sock, RawRequest *req, int *ret_fd) {
        union {
                struct cmsghdr h;
                char space[CMSG_SPACE(sizeof(int))];
        } control = {};
        struct iovec iov = { .iov_base = req, .iov_len = sizeof *req };
        struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = &control,
                              .msg_controllen = sizeof control };
        struct cmsghdr *c;
        ssize_t n;

        do
                n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
        while (n < 0 && errno == EINTR);
        if (n <= 0)
                return n < 0 ? -errno : 0;
        c = CMSG_FIRSTHDR(&msg);
        if ((size_t) n != sizeof *req || !c || c->cmsg_type != SCM_RIGHTS || c->cmsg_len != CMSG_LEN(sizeof(int)))
                return -EBADMSG;
        memcpy(ret_fd, CMSG_DATA(c), sizeof(int));
        return 1;
}

/* libraw's process's socket. */
#define HELPER_FD 3

/* What a process dies of when it crashed (a fault, abort()); any other
 * signal came from outside. */
static const int crash_signals[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGSYS, SIGTRAP };

static bool crash_signal(int sig) {
        for (size_t i = 0; i < ELEMENTSOF(crash_signals); i++)
                if (crash_signals[i] == sig)
                        return true;
        return false;
}

/* libraw's process: serves files on sock until the stream ends. Never
 * returns. */
_Noreturn static void helper_main(int sock) {
        /* The daemon's: systemctl stop sends SIGTERM to every process of the
         * unit at once. It ends with its thread, or is killed. */
        static const int ignored[] = { SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGPIPE };
        struct rlimit no_core = {};
        uint64_t base_data;
        sigset_t none;
        int null;

        /* Its own death: the daemon tells. */
        for (size_t i = 0; i < ELEMENTSOF(crash_signals); i++)
                (void) signal(crash_signals[i], SIG_DFL);
        for (size_t i = 0; i < ELEMENTSOF(ignored); i++)
                (void) signal(ignored[i], SIG_IGN);
        (void) sigemptyset(&none);
        (void) sigprocmask(SIG_SETMASK, &none, NULL);
        (void) prctl(PR_SET_PDEATHSIG, SIGKILL);        /* dies with the thread that made it */
        (void) setrlimit(RLIMIT_CORE, &no_core);        /* a hostile file makes no core dumps */
        /* stdio is /dev/null: libraw's and libjpeg's words on stderr name no
         * file; the daemon's message does, with the reason. */
        null = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (null >= 0) {
                (void) dup2(null, STDIN_FILENO);
                (void) dup2(null, STDOUT_FILENO);
                (void) dup2(null, STDERR_FILENO);
                (void) close(null);
        }
        base_data = helper_data_size();
        for (;;) {
                RawRequest req;
                int fd = -1, k = receive_request(sock, &req, &fd);

                if (k <= 0)
                        _exit(k == 0 ? 0 : CHILD_WRITE_FAILED);
                if (!helper_serve(sock, fd, &req, base_data))
                        _exit(CHILD_WRITE_FAILED);
                (void) close(fd);
        }
}

/* A thread's libraw process: started at the thread's first RAW, it serves
 * that thread one file at a time. Replaced after a file libraw failed on
 * (whatever a corrupt file left in its heap goes with it), after
 * RAW_HELPER_FILES files, and when it died or was killed (one killed from
 * outside between files is reaped at the thread's next RAW); ended (killed
 * and reaped) when the thread exits. One process for many files: a fork of
 * the daemon per file write-protected its memory and its threads' next
 * writes faulted, and a start of the program costs about 8 ms. */
typedef struct RawHelper {
        pid_t pid;                      /* 0: none */
        int sock;
        unsigned files;
} RawHelper;

#define RAW_HELPER_FILES 1000u

static __thread RawHelper helper = { .sock = -1 };
static pthread_key_t helper_key;
static pthread_once_t helper_once = PTHREAD_ONCE_INIT;

/* Kills and reaps h's process (a stuck one too); its exit status, or -1. */
static int helper_end(RawHelper *h) {
        int status = -1;

        if (h->sock >= 0)
                (void) close(h->sock);
        if (h->pid > 0) {
                (void) kill(h->pid, SIGKILL);
                while (waitpid(h->pid, &status, 0) < 0 && errno == EINTR)
                        ;
        }
        *h = (RawHelper) { .sock = -1 };
        return status;
}

static void helper_at_thread_exit(void *h) {
        (void) helper_end(h);
}


/* libraw's process is this program, started again: fork() alone would copy
 * the daemon in whatever state its other threads left it, locks held
 * included (ASan's allocator deadlocked in such a child, and libraw's C++
 * exceptions walk the loader's list under its lock). Found once: the
 * program's path, or /proc/self/exe when the file has been replaced since
 * (the magic link runs the very file that runs; readlink() is what
 * valgrind shows of it). */
static char helper_exe[PATH_MAX];

static void helper_once_init(void) {
        struct sigaction sa;
        ssize_t n;

        (void) pthread_key_create(&helper_key, helper_at_thread_exit);
        /* SIGCHLD ignored (inherited so from a parent) reaps children at once,
         * and a crash would leave no status to read. */
        if (sigaction(SIGCHLD, NULL, &sa) == 0 && sa.sa_handler == SIG_IGN)
                (void) signal(SIGCHLD, SIG_DFL);
        n = readlink("/proc/self/exe", helper_exe, sizeof helper_exe - 1);
        if (n > 0 && (size_t) n < sizeof helper_exe - 1) {
                helper_exe[n] = '\0';
                if (n > 10 && strcmp(helper_exe + n - 10, " (deleted)") == 0)
                        (void) snprintf(helper_exe, sizeof helper_exe, "/proc/self/exe");
        } else
                (void) snprintf(helper_exe, sizeof helper_exe, "/proc/self/exe");
}

/* What a program started as libraw's process is called with. */
#define HELPER_ARGV0 "thumbwatch-libraw"
#define HELPER_ARGV1 "--libraw-process"

static int helper_start(RawHelper *h) {
        char *argv[] = { (char *) (uintptr_t) HELPER_ARGV0, (char *) (uintptr_t) HELPER_ARGV1, NULL };
        posix_spawn_file_actions_t fa;
        posix_spawnattr_t attr;
        sigset_t all;
        int sv[2], k;
        pid_t pid;

        (void) pthread_once(&helper_once, helper_once_init);
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
                return -errno;
        /* Its socket as fd 3 and nothing else open (no copy of an output
         * being written, of the watcher's or of another thread's socket);
         * signals blocked until it has set what it ignores. */
        (void) sigfillset(&all);
        (void) posix_spawn_file_actions_init(&fa);      /* glibc's: they only clear */
        (void) posix_spawnattr_init(&attr);
        k = -posix_spawn_file_actions_adddup2(&fa, sv[1], HELPER_FD);
        if (k == 0)
                k = -posix_spawn_file_actions_addclosefrom_np(&fa, HELPER_FD + 1);
        if (k == 0)
                k = -posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
        if (k == 0)
                k = -posix_spawnattr_setsigmask(&attr, &all);
        if (k == 0)
                k = -posix_spawn(&pid, helper_exe, &fa, &attr, argv, environ);
        (void) posix_spawnattr_destroy(&attr);
        (void) posix_spawn_file_actions_destroy(&fa);
        (void) close(sv[1]);
        if (k < 0) {
                (void) close(sv[0]);
                return k;
        }
        *h = (RawHelper) { .pid = pid, .sock = sv[0] };
        (void) pthread_setspecific(helper_key, h);
        return 0;
}

/* A program linked with this module, started as libraw's process, is that
 * process from here on: before main(), and so before any thread. */
__attribute__((constructor)) static void helper_entry(int argc, char **argv) {
        if (argc == 2 && strcmp(argv[0], HELPER_ARGV0) == 0 && strcmp(argv[1], HELPER_ARGV1) == 0)
                helper_main(HELPER_FD);
}

static int send_request(int sock, RawRequest req, int fd) {
        union {
                struct cmsghdr h;
                char space[CMSG_SPACE(sizeof(int))];
        } control = {};
        struct iovec iov = { .iov_base = &req, .iov_len = sizeof req };
        struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = &control,
                              .msg_controllen = sizeof control };
        struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
        ssize_t n;

        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &fd, sizeof(int));
        do
                n = sendmsg(sock, &msg, MSG_NOSIGNAL);
        while (n < 0 && errno == EINTR);
        return n == (ssize_t) sizeof req ? 0 : n < 0 ? -errno : -EPIPE;
}

/* How often a wait for libraw's process looks at the caller's cancel flag. */
#define CANCEL_CHECK_MS 100

/* Reads n bytes from fd by the deadline (0: none), unless *cancel (NULL:
 * none) becomes true. 0, -ETIMEDOUT, -ECANCELED, -EPIPE (the other end
 * closed first, or died with a request unread), or -errno. */
static int read_by(int fd, void *p, size_t n, uint64_t deadline, const atomic_bool *cancel) {
        uint8_t *b = p;

        while (n > 0) {
                struct pollfd pfd = { .fd = fd, .events = POLLIN };
                int timeout = cancel ? CANCEL_CHECK_MS : -1;
                ssize_t k;

                if (cancel && atomic_load(cancel))
                        return -ECANCELED;
                if (deadline > 0) {
                        uint64_t now = now_usec();

                        if (now >= deadline)
                                return -ETIMEDOUT;
                        if (timeout < 0 || deadline - now < (uint64_t) timeout * 1000)
                                timeout = (int) ((deadline - now + 999) / 1000);
                }
                k = poll(&pfd, 1, timeout);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                if (k == 0)
                        continue;       /* the deadline and the flag are checked above */
                k = read(fd, b, n);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return errno == ECONNRESET ? -EPIPE : -errno;   /* it died with data unread */
                if (k == 0)
                        return -EPIPE;
                b += k;
                n -= (size_t) k;
        }
        return 0;
}

/* "SIGSEGV" and the like, in buf. */
static const char *signal_name(int sig, char buf[static 16]) {
        const char *abbrev = sigabbrev_np(sig);

        (void) snprintf(buf, 16, "SIG%s", abbrev ? abbrev : "?");
        return buf;
}

/* The test hook's word for this request (test builds), else 0. */
static int test_hook(void) {
#ifdef THUMBWATCH_TEST_HOOKS
        /* Test builds only (--enable-test-hooks): the libraw process crashes
         * (SIGSEGV) or hangs on every file, as libraw does on some, while
         * $THUMBWATCH_TEST_RAW_CHILD is "crash" or "hang". */
        const char *h = getenv("THUMBWATCH_TEST_RAW_CHILD");

        if (h && strcmp(h, "crash") == 0)
                return 1;
        if (h && strcmp(h, "hang") == 0)
                return 2;
#endif
        return 0;
}

/* One exchange with this thread's libraw process: the request, the reply
 * and the preview into r. 0; -EBADMSG (a preview larger than the file); or
 * -ETIMEDOUT, -ENOMEM, -EPIPE and the like, after which the process has been
 * ended and its exit status is in *ret_status (-1: none). */
static int ask_helper(DecodeRaw *r, int fd, uint64_t deadline, const atomic_bool *cancel, int *ret_status) {
        /* A preview larger than this is libraw's error (see RAW_PROCESS_MEMORY). */
        uint64_t most = 2 * r->size + (1u << 20);
        RawRequest req = { .size = r->size, .hook = test_hook() };
        int k;

        *ret_status = -1;
        /* A process that died between files (killed from outside) shows as a
         * request that cannot be sent: one new process then. */
        for (int attempt = 0;; attempt++) {
                if (helper.pid == 0) {
                        k = helper_start(&helper);
                        if (k < 0)
                                return k;
                }
                k = send_request(helper.sock, req, fd);
                if (k == 0)
                        break;
                (void) helper_end(&helper);
                if (attempt > 0)
                        return k;
        }
        k = read_by(helper.sock, &r->reply, sizeof r->reply, deadline, cancel);
        if (k == 0 && r->reply.open_code == LIBRAW_SUCCESS && r->reply.thumb_code == LIBRAW_SUCCESS &&
            r->reply.tlength > 0) {
                if (r->reply.tlength > most) {
                        (void) helper_end(&helper);
                        return -EBADMSG;
                }
                r->thumb = malloc((size_t) r->reply.tlength);
                k = r->thumb ? read_by(helper.sock, r->thumb, (size_t) r->reply.tlength, deadline, cancel)
                             : -ENOMEM;
        }
        if (k == 0) {
                /* Kept for the next file, unless libraw failed on this one. */
                if (r->reply.open_code != LIBRAW_SUCCESS || r->reply.thumb_code != LIBRAW_SUCCESS ||
                    ++helper.files >= RAW_HELPER_FILES)
                        (void) helper_end(&helper);
                return 0;
        }
        /* Timed out, cancelled, out of memory here, or the process ended (its
         * socket closed): killed if it still runs, and reaped. */
        *ret_status = helper_end(&helper);
        return k;
}

/* Has this thread's libraw process read the file open on fd, and read its
 * reply and preview into r. timeout_usec 0: none; cancel NULL: none. */
static int run_helper(DecodeRaw *r, int fd, uint64_t timeout_usec, const atomic_bool *cancel,
                      char **reterr_reason) {
        uint64_t deadline = timeout_usec > 0 ? now_usec() + timeout_usec : 0;
        char sig[16];
        int k, status;

        /* A signal from outside (SIGKILL from an administrator or the
         * out-of-memory killer) blames no file at once: it is read again in a
         * new process. */
        for (int killed = 0;; killed++) {
                k = ask_helper(r, fd, deadline, cancel, &status);
                if (k != -EPIPE || status == -1 || !WIFSIGNALED(status) || crash_signal(WTERMSIG(status)) ||
                    killed > 0)
                        break;
                free(r->thumb);
                r->thumb = NULL;
        }
        if (k == 0)
                return 0;
        if (k == -ETIMEDOUT)
                return message_set(reterr_reason, -ETIMEDOUT, "libraw ran past the job's timeout (%.3f s): stopped",
                                   (double) timeout_usec / 1e6);
        if (k == -ECANCELED)
                return message_set(reterr_reason, -ECANCELED, "stopping: libraw's process was stopped");
        if (k == -EBADMSG)
                return message_set(reterr_reason, -EBADMSG, "libraw says the preview has %llu bytes, more than the file",
                                   (unsigned long long) r->reply.tlength);
        if (k == -ENOMEM)
                return message_set(reterr_reason, -ENOMEM, "out of memory for a %llu-byte preview",
                                   (unsigned long long) r->reply.tlength);
        if (status == -1)
                return message_set(reterr_reason, k, "cannot run libraw's process: %s", strerror(-k));
        if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
                return message_set(reterr_reason, -ENOMEM,
                                   "libraw's process was killed (SIGKILL) twice while it read the file: "
                                   "by the out-of-memory killer, or by hand");
        if (WIFSIGNALED(status) && !crash_signal(WTERMSIG(status)))
                return message_set(reterr_reason, -EIO, "libraw's process was killed (%s) twice while it read the file",
                                   signal_name(WTERMSIG(status), sig));
        if (WIFSIGNALED(status))
                return message_set(reterr_reason, -ENOTRECOVERABLE,
                                   "libraw crashed on it (%s): a corrupt RAW; its process ended, thumbwatch goes on",
                                   signal_name(WTERMSIG(status), sig));
        if (WIFEXITED(status) && WEXITSTATUS(status) == CHILD_NO_MEMORY)
                return message_set(reterr_reason, -ENOMEM, "out of memory for libraw");
        return message_set(reterr_reason, -ENOTRECOVERABLE,
                           "libraw's process ended (exit status %d) before it said what it found: a corrupt RAW",
                           WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}

/* After libraw's process: its code of the open as -errno, and a header
 * that makes sense. */
static int opened(DecodeRaw *r, char **reterr_reason) {
        if (r->reply.open_code != LIBRAW_SUCCESS)
                return raw_errno(r->reply.open_code, "reading the RAW header", reterr_reason);
        if (r->reply.width == 0 || r->reply.height == 0)
                return message_set(reterr_reason, -EBADMSG, "reading the RAW header: the image has no size");
        return 0;
}

int decode_raw_open_fd(int fd, uint64_t max_file_size, uint64_t timeout_usec, const atomic_bool *cancel,
                       DecodeRaw **ret, char **reterr_reason) {
        DecodeRaw *r = NULL;
        struct stat st;
        int k;

        if (fstat(fd, &st) < 0)
                return message_set(reterr_reason, -errno, "cannot stat the file: %m");
        if (!S_ISREG(st.st_mode))
                return message_set(reterr_reason, -EBADMSG, "not a regular file");
        if (st.st_size == 0)
                return message_set(reterr_reason, -EBADMSG, "an empty file is not a RAW");
        if (max_file_size > 0 && (uint64_t) st.st_size > max_file_size)
                return message_set(reterr_reason, -EFBIG, "the file has %llu bytes, more than max_file_size (%llu)",
                                   (unsigned long long) st.st_size, (unsigned long long) max_file_size);
        k = new_raw(&r, reterr_reason);
        if (k < 0)
                return k;
        r->fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        if (r->fd < 0) {
                k = -errno;
                decode_raw_free(r);
                return message_set(reterr_reason, k, "cannot duplicate the descriptor: %s", strerror(-k));
        }
        r->size = (uint64_t) st.st_size;
        k = run_helper(r, r->fd, timeout_usec, cancel, reterr_reason);
        if (k >= 0)
                k = opened(r, reterr_reason);
        if (k < 0) {
                decode_raw_free(r);
                return k;
        }
        *ret = r;
        return 0;
}

int decode_raw_open_memory(const void *data, size_t size, uint64_t timeout_usec, DecodeRaw **ret,
                           char **reterr_reason) {
        DecodeRaw *r = NULL;
        _cleanup_close_ int fd = -1;
        int k;

        if (!data || size == 0)
                return message_set(reterr_reason, -EBADMSG, "an empty file is not a RAW");
        /* libraw's process is given a file: the bytes, in memory. */
        fd = memfd_create("thumbwatch-raw", MFD_CLOEXEC);
        if (fd < 0)
                return message_set(reterr_reason, -errno, "cannot make a memory file: %m");
        for (size_t done = 0; done < size;) {
                ssize_t n = write(fd, (const uint8_t *) data + done, size - done);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return message_set(reterr_reason, n < 0 ? -errno : -EIO, "cannot fill a memory file: %m");
                done += (size_t) n;
        }
        k = new_raw(&r, reterr_reason);
        if (k < 0)
                return k;
        r->data = data;
        r->size = size;
        k = run_helper(r, fd, timeout_usec, NULL, reterr_reason);
        if (k >= 0)
                k = opened(r, reterr_reason);
        if (k < 0) {
                decode_raw_free(r);
                return k;
        }
        *ret = r;
        return 0;
}

void decode_raw_info(const DecodeRaw *r, RawInfo *ret) {
        *ret = (RawInfo) {
                .width = r->reply.width,
                .height = r->reply.height,
                .preview_width = r->reply.twidth,
                .preview_height = r->reply.theight,
                .orientation = decode_raw_flip_to_orientation(r->reply.flip),
        };
        (void) snprintf(ret->make, sizeof ret->make, "%s", r->reply.make);
        (void) snprintf(ret->model, sizeof ret->model, "%s", r->reply.model);
}

/* Does the JPEG end with its EOI marker, after at most 64 KiB of the padding
 * (0x00 or 0xFF) cameras leave behind it? libraw 0.20 reads a preview that
 * runs up to 16 KiB past the end of the file without an error, leaving its tail
 * unread: this is how a file cut inside its preview shows. */
static bool jpeg_complete(const uint8_t *p, size_t n) {
        size_t end = n, floor = n > 65536 ? n - 65536 : 0;

        while (end > floor && (p[end - 1] == 0x00 || p[end - 1] == 0xff))
                end--;
        return end >= 4 && p[end - 2] == 0xff && p[end - 1] == 0xd9;
}

/* How many of the preview's first bytes are looked for in the file. */
#define PREVIEW_PROBE 1024u

/* Is the whole preview in the file? libraw 0.20 ignores a short read of it:
 * the bytes past the end of a file cut inside its preview are whatever its
 * buffer held (not zeros: an EOI can be there). So the preview's first bytes
 * (headers and the start of its scan: unique in practice) are looked for in
 * the file, which must hold all of the preview after them. Read in 1 MiB
 * chunks with pread(): a file cut meanwhile is not mapped memory. */
static int preview_in_file(const DecodeRaw *r, const uint8_t *thumb, size_t len) {
        _cleanup_free_ uint8_t *chunk = NULL;
        size_t probe = len < PREVIEW_PROBE ? len : PREVIEW_PROBE, step = 1u << 20;
        uint64_t off = 0;

        if (r->data) {
                const uint8_t *at = memmem(r->data, (size_t) r->size, thumb, probe);

                return at && (uint64_t) (at - r->data) + len <= r->size;
        }
        chunk = malloc(step + probe);
        if (!chunk)
                return -ENOMEM;
        while (off < r->size) {
                ssize_t n = pread(r->fd, chunk, step + probe, (off_t) off);
                const uint8_t *at;

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if ((size_t) n < probe)
                        return false;
                at = memmem(chunk, (size_t) n, thumb, probe);
                if (at)
                        return off + (uint64_t) (at - chunk) + len <= r->size;
                off += step;
        }
        return false;
}

void raw_preview_done(RawPreview *p) {
        if (!p)
                return;
        free(p->data);
        *p = (RawPreview) {};
}

int decode_raw_preview(DecodeRaw *r, RawPreview *ret, char **reterr_reason) {
        const RawReply *t = &r->reply;
        RawPreview p = { .orientation = decode_raw_flip_to_orientation(t->flip) };
        int code;

        if (t->thumb_code != LIBRAW_SUCCESS)
                return raw_errno(t->thumb_code, "unpacking the preview", reterr_reason);
        if (!r->thumb || t->tlength == 0)
                return message_set(reterr_reason, -ENOENT, "unpacking the preview: libraw returned no bytes");
        switch (t->tformat) {
        case LIBRAW_THUMBNAIL_JPEG:
                code = preview_in_file(r, r->thumb, (size_t) t->tlength);
                if (code < 0)
                        return message_set(reterr_reason, code, "reading the RAW failed: %s", strerror(-code));
                if (!code || !jpeg_complete(r->thumb, (size_t) t->tlength))
                        return message_set(reterr_reason, -ENODATA,
                                           "unpacking the preview: its JPEG has no end: "
                                           "the file is cut short or corrupt");
                p.format = RAW_PREVIEW_JPEG;
                p.size = (size_t) t->tlength;
                break;
        case LIBRAW_THUMBNAIL_BITMAP:
                /* ppm_thumb() and layer_thumb(): 8-bit, tcolors per pixel; only RGB is returned. */
                if (t->tcolors != 3 || t->twidth == 0 || t->theight == 0 ||
                    (uint64_t) t->twidth * t->theight * 3 > t->tlength)
                        return message_set(reterr_reason, -ENOTSUP, "a %ux%u bitmap preview of %d colours",
                                           t->twidth, t->theight, t->tcolors);
                p.format = RAW_PREVIEW_RGB;
                p.size = (size_t) t->twidth * t->theight * 3;
                break;
        case LIBRAW_THUMBNAIL_UNKNOWN:
                /* A JPEG cut inside its header comes here too: without its end, it is
                 * the file that is cut (or still arriving), not the JPEG that is odd. */
                if (t->tlength >= 3 && memcmp(r->thumb, "\xff\xd8\xff", 3) == 0 &&
                    (preview_in_file(r, r->thumb, (size_t) t->tlength) <= 0 ||
                     !jpeg_complete(r->thumb, (size_t) t->tlength)))
                        return message_set(reterr_reason, -ENODATA,
                                           "unpacking the preview: its JPEG has no end: "
                                           "the file is cut short or corrupt");
                return message_set(reterr_reason, -ENOTSUP,
                                   "unpacking the preview: a JPEG libjpeg cannot read the header of");
        default:
                return message_set(reterr_reason, -ENOTSUP, "unpacking the preview: libraw preview format %d",
                                   t->tformat);
        }
        p.data = TAKE_PTR(r->thumb);
        p.width = t->twidth;
        p.height = t->theight;
        *ret = p;
        return 0;
}
