/* beneath.c - paths resolved below a folder descriptor.
 *
 * O_NOFOLLOW guards the last component only: "in/a/x.jpg" opened by path
 * reads /secret/x.jpg once a drop writer has swapped "in/a" for a symlink to
 * /secret while the file waited in the queue. openat2(2) (Linux 5.6) refuses
 * every symlink on the way (RESOLVE_NO_SYMLINKS) and every way out of the
 * folder (RESOLVE_BENEATH) in one call; older kernels, and sandboxes whose
 * seccomp filter does not know the call, get the same rule from a walk of
 * O_NOFOLLOW opens, one component at a time. */
#include "build-config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "beneath.h"
#include "macro.h"

/* Cleared the first time the kernel (or a seccomp filter) refuses openat2(2). */
static atomic_bool have_openat2 = true;

static int try_openat2(int dirfd, const char *rel, int flags, mode_t mode, unsigned long long resolve) {
        struct open_how how = {
                .flags = (unsigned long long) (flags | O_CLOEXEC),
                .mode = (flags & O_CREAT) ? mode : 0,
                .resolve = resolve | RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
        };
        long fd;

        if (!atomic_load(&have_openat2))
                return -ENOSYS;
        fd = syscall(SYS_openat2, dirfd, rel, &how, sizeof how);
        if (fd >= 0)
                return (int) fd;
        /* ENOSYS: an old kernel; EPERM: a filter that refuses it (a real
         * permission problem says EACCES). Either way, walk from now on. */
        if (errno == ENOSYS || errno == EPERM) {
                atomic_store(&have_openat2, false);
                return -ENOSYS;
        }
        return -errno;
}

/* The walk: each folder opened with O_NOFOLLOW from the last, created first
 * if asked. */
static int walk_open(int dirfd, const char *rel, int flags, BeneathFlags how, mode_t dir_mode) {
        _cleanup_free_ char *copy = strdup(rel);
        char *save = NULL, *c, *next;
        int fd, r;

        if (!copy)
                return -ENOMEM;
        fd = openat(dirfd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        c = strtok_r(copy, "/", &save);
        while (c && strcmp(c, ".") == 0)
                c = strtok_r(NULL, "/", &save);
        if (!c) {
                /* The folder itself. */
                r = openat(fd, ".", flags | O_CLOEXEC);
                (void) close(fd);
                return r < 0 ? -errno : r;
        }
        for (; c; c = next) {
                int nfd;

                next = strtok_r(NULL, "/", &save);
                while (next && strcmp(next, ".") == 0)
                        next = strtok_r(NULL, "/", &save);
                if (strcmp(c, "..") == 0) {
                        (void) close(fd);
                        return -EXDEV;
                }
                if (next) {
                        if ((how & BENEATH_CREATE_DIRS) && mkdirat(fd, c, dir_mode) < 0 && errno != EEXIST) {
                                r = -errno;
                                (void) close(fd);
                                return r;
                        }
                        nfd = openat(fd, c, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                } else {
                        if ((how & BENEATH_CREATE_DIRS) && (flags & O_DIRECTORY) && mkdirat(fd, c, dir_mode) < 0 &&
                            errno != EEXIST) {
                                r = -errno;
                                (void) close(fd);
                                return r;
                        }
                        nfd = openat(fd, c, flags | O_CLOEXEC | O_NOFOLLOW);
                }
                if (nfd < 0) {
                        r = -errno;
                        /* O_PATH|O_NOFOLLOW opens a symlink itself, and O_DIRECTORY
                         * then says ENOTDIR: say what is in the way. */
                        if (r == -ENOTDIR) {
                                struct stat st;

                                if (fstatat(fd, c, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
                                        r = -ELOOP;
                        }
                        (void) close(fd);
                        return r;
                }
                (void) close(fd);
                fd = nfd;
        }
        return fd;
}

int beneath_open(int dirfd, const char *rel, int flags, BeneathFlags how, mode_t dir_mode) {
        int r;

        if (rel[0] == '/')
                return -EXDEV;
        r = try_openat2(dirfd, rel[0] ? rel : ".", flags, 0, RESOLVE_NO_SYMLINKS);
        if (r == -ENOSYS || (r == -ENOENT && (how & BENEATH_CREATE_DIRS)))
                return walk_open(dirfd, rel, flags, how, dir_mode);
        return r;
}

int beneath_open_root(const char *path) {
        int fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);

        return fd < 0 ? -errno : fd;
}

long beneath_remove_tree(int parent, const char *name, bool (*keep)(int dirfd, const char *name, void *userdata),
                         void *userdata) {
        struct dirent *e;
        long n = 0;
        DIR *dir;
        int fd;

        fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) {
                if (errno != ENOTDIR && errno != ELOOP)
                        return -errno;
                /* Not a folder: one file. */
                if (keep && keep(parent, name, userdata))
                        return 0;
                return unlinkat(parent, name, 0) == 0 ? 1 : -errno;
        }
        dir = fdopendir(fd);
        if (!dir) {
                (void) close(fd);
                return -errno;
        }
        while ((e = readdir(dir))) {
                long r;

                if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                        continue;
                if (e->d_type == DT_DIR || e->d_type == DT_UNKNOWN)
                        r = beneath_remove_tree(dirfd(dir), e->d_name, keep, userdata);
                else if (keep && keep(dirfd(dir), e->d_name, userdata))
                        r = 0;
                else
                        r = unlinkat(dirfd(dir), e->d_name, 0) == 0 ? 1 : 0;
                if (r > 0)
                        n += r;
        }
        (void) closedir(dir);
        (void) unlinkat(parent, name, AT_REMOVEDIR);    /* fails, as it should, where something stayed */
        return n;
}

ssize_t beneath_fd_path(int fd, char *buf, size_t size) {
        char link[64];
        ssize_t n;

        (void) snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
        n = readlink(link, buf, size - 1);
        if (n < 0)
                return -errno;
        if ((size_t) n >= size - 1)
                return -ENAMETOOLONG;
        buf[n] = '\0';
        return n;
}
