/* decode-raw.c - libraw 0.20 behind a small interface: open, read the header,
 * unpack the embedded preview. libraw_unpack() (the raw decode, seconds and
 * hundreds of megabytes) is never called: libraw_unpack_thumb() takes 0.7 ms
 * on this machine.
 *
 * libraw runs in a child process, one per file: libraw 0.20 (Debian 12's)
 * crashes on some corrupt files (a fuzzer finds one in seconds: a wild read
 * in parse_tiff_ifd()), and a 16 KB file can make it allocate 3 GB. The
 * child opens the file, unpacks the preview and writes what it found to a
 * pipe; a crash, a hang past the caller's timeout or an allocation past
 * RAW_CHILD_MEMORY costs that file, not the daemon. Everything that checks
 * what libraw returned runs here, in the caller's process. fork() without
 * exec(): the child calls libraw and async-signal-unsafe malloc(), which
 * glibc makes safe after fork(); it starts no thread and leaves by _exit().
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
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "decode-raw.h"
#include "macro.h"
#include "message.h"
#include "time-util.h"

/* What the child may allocate beyond what the process had mapped when it
 * forked, plus twice the file's size: a preview is at most the file (a
 * bitmap one reads 16 KiB past its end), and libraw's own state is a few
 * megabytes. Past it, libraw's allocation fails and it says so. */
#define RAW_CHILD_MEMORY (256ull << 20)

/* The child's exit codes besides 0. */
enum {
        CHILD_NO_MEMORY = 3,            /* libraw_init() failed */
        CHILD_WRITE_FAILED = 4,         /* the pipe closed under it */
};

/* What the child sends back over its pipe: this, then tlength bytes of
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
        uint8_t *buffer;                /* owned: the file read into memory, when /proc was not there */
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
                                   what, RAW_CHILD_MEMORY >> 20);
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
        free(r->buffer);
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
                ssize_t k = write(fd, b, n);

                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        return false;
                b += k;
                n -= (size_t) k;
        }
        return true;
}

/* In the child: the data segment it may grow to, from /proc/self/status
 * (VmData: what the process had mapped when it forked). Without /proc, no
 * limit. */
static void child_limit_memory(uint64_t extra) {
        char line[128];
        FILE *f = fopen("/proc/self/status", "re");
        unsigned long long kb = 0;

        if (!f)
                return;
        while (fgets(line, sizeof line, f))
                if (sscanf(line, "VmData: %llu kB", &kb) == 1)
                        break;
        (void) fclose(f);
        if (kb > 0) {
                struct rlimit rl = { .rlim_cur = kb * 1024 + extra, .rlim_max = kb * 1024 + extra };

                (void) setrlimit(RLIMIT_DATA, &rl);
        }
}

#ifdef THUMBWATCH_TEST_HOOKS
/* Test builds only (--enable-test-hooks): every libraw process of this
 * program crashes (SIGSEGV) or hangs, as libraw does on some files, when
 * $THUMBWATCH_TEST_RAW_CHILD is "crash" or "hang". */
static void child_test_hooks(void) {
        const char *h = getenv("THUMBWATCH_TEST_RAW_CHILD");

        if (h && strcmp(h, "crash") == 0)
                (void) raise(SIGSEGV);
        if (h && strcmp(h, "hang") == 0)
                for (;;)
                        (void) pause();
}
#endif

/* The child: libraw over the file (path) or memory (r->data or r->buffer),
 * the reply on out. Never returns. */
_Noreturn static void child(const DecodeRaw *r, const char *path, int out) {
        static const int fatal[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGSYS };
        struct rlimit no_core = {};
        RawReply reply = {};
        libraw_data_t *lr;
        sigset_t none;
        int null;

        /* Its own death, not the daemon's crash handler's: the parent tells. */
        for (size_t i = 0; i < ELEMENTSOF(fatal); i++)
                (void) signal(fatal[i], SIG_DFL);
        (void) sigemptyset(&none);
        (void) sigprocmask(SIG_SETMASK, &none, NULL);
        (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
        (void) setrlimit(RLIMIT_CORE, &no_core);  /* a hostile file makes no core dumps */
        /* libraw's and libjpeg's words on stderr name no file: the caller's
         * message does, with the reason. */
        null = open("/dev/null", O_WRONLY | O_CLOEXEC);
        if (null >= 0)
                (void) dup2(null, STDERR_FILENO);
        child_limit_memory(RAW_CHILD_MEMORY + 2 * r->size);
#ifdef THUMBWATCH_TEST_HOOKS
        child_test_hooks();
#endif
        lr = libraw_init(0);
        if (!lr)
                _exit(CHILD_NO_MEMORY);
        if (path)
                reply.open_code = libraw_open_file(lr, path);
        else
                /* libraw_open_buffer() takes a non-const pointer; it only reads through it. */
                reply.open_code = libraw_open_buffer(lr, (void *) (uintptr_t) (r->data ? r->data : r->buffer),
                                                     (size_t) r->size);
        if (reply.open_code == LIBRAW_SUCCESS) {
                reply.width = lr->sizes.width;
                reply.height = lr->sizes.height;
                reply.flip = lr->sizes.flip;
                reply.twidth = lr->thumbnail.twidth;
                reply.theight = lr->thumbnail.theight;
                (void) snprintf(reply.make, sizeof reply.make, "%.*s", (int) sizeof lr->idata.make, lr->idata.make);
                (void) snprintf(reply.model, sizeof reply.model, "%.*s", (int) sizeof lr->idata.model,
                                lr->idata.model);
                if (reply.width > 0 && reply.height > 0) {
                        reply.thumb_code = libraw_unpack_thumb(lr);
                        reply.tformat = lr->thumbnail.tformat;
                        reply.tcolors = lr->thumbnail.tcolors;
                        reply.twidth = lr->thumbnail.twidth;
                        reply.theight = lr->thumbnail.theight;
                        reply.tlength = lr->thumbnail.thumb ? lr->thumbnail.tlength : 0;
                }
        }
        if (!write_all(out, &reply, sizeof reply) ||
            (reply.thumb_code == LIBRAW_SUCCESS && reply.tlength > 0 &&
             !write_all(out, lr->thumbnail.thumb, (size_t) reply.tlength)))
                _exit(CHILD_WRITE_FAILED);
        _exit(0);
}

/* Reads n bytes from fd by the deadline (0: none). 0, -ETIMEDOUT, -EPIPE
 * (the child closed its end first), or -errno. */
static int read_by(int fd, void *p, size_t n, uint64_t deadline) {
        uint8_t *b = p;

        while (n > 0) {
                struct pollfd pfd = { .fd = fd, .events = POLLIN };
                int timeout = -1;
                ssize_t k;

                if (deadline > 0) {
                        uint64_t now = now_usec();

                        if (now >= deadline)
                                return -ETIMEDOUT;
                        timeout = (int) ((deadline - now + 999) / 1000);
                }
                k = poll(&pfd, 1, timeout);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                if (k == 0)
                        continue;       /* the deadline is checked above */
                k = read(fd, b, n);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                if (k == 0)
                        return -EPIPE;
                b += k;
                n -= (size_t) k;
        }
        return 0;
}

static const char *signal_name(int sig) {
        switch (sig) {
        case SIGSEGV:
                return "SIGSEGV";
        case SIGBUS:
                return "SIGBUS";
        case SIGABRT:
                return "SIGABRT";
        case SIGFPE:
                return "SIGFPE";
        case SIGILL:
                return "SIGILL";
        case SIGKILL:
                return "SIGKILL";
        default:
                return "a signal";
        }
}

/* Runs libraw in a child over the file (path) or memory, and reads its reply
 * and preview into r. timeout_usec 0: none. */
static int run_child(DecodeRaw *r, const char *path, uint64_t timeout_usec, char **reterr_reason) {
        uint64_t deadline = timeout_usec > 0 ? now_usec() + timeout_usec : 0;
        /* A preview larger than this is libraw's error (see RAW_CHILD_MEMORY). */
        uint64_t most = 2 * r->size + (1u << 20);
        int p[2], k, status;
        pid_t pid;

        if (pipe2(p, O_CLOEXEC) < 0)
                return message_set(reterr_reason, -errno, "cannot make a pipe for libraw: %m");
        pid = fork();
        if (pid < 0) {
                k = -errno;
                (void) close(p[0]);
                (void) close(p[1]);
                return message_set(reterr_reason, k, "cannot start libraw's process: %s", strerror(-k));
        }
        if (pid == 0) {
                (void) close(p[0]);
                child(r, path, p[1]);
        }
        (void) close(p[1]);
        k = read_by(p[0], &r->reply, sizeof r->reply, deadline);
        if (k == 0 && r->reply.open_code == LIBRAW_SUCCESS && r->reply.thumb_code == LIBRAW_SUCCESS &&
            r->reply.tlength > 0) {
                if (r->reply.tlength > most) {
                        (void) close(p[0]);
                        (void) kill(pid, SIGKILL);
                        (void) waitpid(pid, NULL, 0);
                        return message_set(reterr_reason, -EBADMSG,
                                           "libraw says the preview has %llu bytes, more than the file",
                                           (unsigned long long) r->reply.tlength);
                }
                r->thumb = malloc((size_t) r->reply.tlength);
                k = r->thumb ? read_by(p[0], r->thumb, (size_t) r->reply.tlength, deadline) : -ENOMEM;
        }
        (void) close(p[0]);
        if (k == -ETIMEDOUT || k == -ENOMEM)
                (void) kill(pid, SIGKILL);
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return message_set(reterr_reason, -ECHILD, "lost libraw's process: %m");
        if (k == -ETIMEDOUT)
                return message_set(reterr_reason, -ETIMEDOUT, "libraw ran past the job's timeout (%.3f s): stopped",
                                   (double) timeout_usec / 1e6);
        if (k == -ENOMEM)
                return message_set(reterr_reason, -ENOMEM, "out of memory for a %llu-byte preview",
                                   (unsigned long long) r->reply.tlength);
        if (WIFSIGNALED(status))
                return message_set(reterr_reason, -ENOTRECOVERABLE,
                                   "libraw crashed on it (%s): a corrupt RAW; its process ended, thumbwatch goes on",
                                   signal_name(WTERMSIG(status)));
        if (WIFEXITED(status) && WEXITSTATUS(status) == CHILD_NO_MEMORY)
                return message_set(reterr_reason, -ENOMEM, "out of memory for libraw");
        if (k < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
                return message_set(reterr_reason, -ENOTRECOVERABLE,
                                   "libraw's process ended (exit status %d) before it said what it found: "
                                   "a corrupt RAW",
                                   WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        return 0;
}

/* After the child: libraw's code of the open as -errno, and a header that
 * makes sense. */
static int opened(DecodeRaw *r, char **reterr_reason) {
        if (r->reply.open_code != LIBRAW_SUCCESS)
                return raw_errno(r->reply.open_code, "reading the RAW header", reterr_reason);
        if (r->reply.width == 0 || r->reply.height == 0)
                return message_set(reterr_reason, -EBADMSG, "reading the RAW header: the image has no size");
        return 0;
}

/* The whole file into r->buffer, for libraw_open_buffer(). */
static int read_all(DecodeRaw *r, int fd, uint64_t size, char **reterr_reason) {
        size_t done = 0;

        if (size == 0 || size > SIZE_MAX)
                return message_set(reterr_reason, size ? -EFBIG : -EBADMSG, "a file of %llu bytes",
                                   (unsigned long long) size);
        if (!(r->buffer = malloc((size_t) size)))
                return message_set(reterr_reason, -ENOMEM, "out of memory for %llu bytes of RAW",
                                   (unsigned long long) size);
        while (done < size) {
                ssize_t n = pread(fd, r->buffer + done, (size_t) size - done, (off_t) done);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return message_set(reterr_reason, -errno, "reading the RAW failed: %m");
                if (n == 0)
                        return message_set(reterr_reason, -ENODATA, "the file became shorter while it was read");
                done += (size_t) n;
        }
        r->size = done;
        return 0;
}

int decode_raw_open_fd(int fd, uint64_t max_file_size, uint64_t timeout_usec, DecodeRaw **ret,
                       char **reterr_reason) {
        DecodeRaw *r = NULL;
        char proc[64];
        struct stat st, pst;
        bool by_path;
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
        (void) snprintf(proc, sizeof proc, "/proc/self/fd/%d", r->fd);
        /* The same inode through the link, or /proc is not what it should be. */
        by_path = stat(proc, &pst) == 0 && pst.st_dev == st.st_dev && pst.st_ino == st.st_ino;
        k = by_path ? 0 : read_all(r, fd, (uint64_t) st.st_size, reterr_reason);
        if (k >= 0)
                k = run_child(r, by_path ? proc : NULL, timeout_usec, reterr_reason);
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
        int k;

        if (!data || size == 0)
                return message_set(reterr_reason, -EBADMSG, "an empty file is not a RAW");
        k = new_raw(&r, reterr_reason);
        if (k < 0)
                return k;
        r->data = data;
        r->size = size;
        k = run_child(r, NULL, timeout_usec, reterr_reason);
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
