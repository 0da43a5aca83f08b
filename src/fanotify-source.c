/* fanotify-source.c - watcher = fanotify: file system marks, and events
 * resolved to paths through their folders' file handles.
 *
 * Every event of a FAN_REPORT_DFID_NAME group names the folder of the entry
 * it is about by file handle and the entry by name. The handle is opened
 * (open_by_handle_at(), through a descriptor of the source's mount) and its
 * path read back from /proc/self/fd: the folder's path now, not when the
 * event happened, which is what the tree says and what inotify's own index
 * tracks too. A handle whose folder is gone (deleted since) is passed over:
 * the deletion of a tree is seen from the folder above it, which exists.
 *
 * The mark sees every writer on the file system: events outside the drops
 * cost one open of a handle each, and this process's own writes (its
 * thumbnails, its state) are passed over by their pid without one. */
#include "build-config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fanotify.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "beneath.h"
#include "fanotify-source.h"
#include "macro.h"

/* What a mark reports: entries made, gone, renamed (FAN_RENAME: both names
 * in one event, no cookie to pair), files written and closed, attributes
 * changed; of folders too. */
#define FAN_EVENTS (FAN_CREATE | FAN_DELETE | FAN_RENAME | FAN_CLOSE_WRITE | FAN_ATTRIB | FAN_ONDIR)
#define READ_BUFFER (64 * 1024)
/* Folders resolved, by handle: a direct-mapped cache. Handles longer than
 * CACHE_HANDLE_MAX bytes (ext4's and xfs's are 8 to 20) are not kept. */
#define CACHE_SLOTS 4096
#define CACHE_HANDLE_MAX 40
#define CAPS_HINT "; run as root, or with the drop-in thumbwatch-fanotify.conf (see thumbwatch.conf(5)), or use watcher = inotify"

typedef struct Source {
        char *drop;             /* the drop's source, as configured */
        char *path;             /* this folder's path below it: the source itself, or a mount below it */
        char *real;             /* realpath(): how the kernel names it */
        size_t real_len;
        __kernel_fsid_t fsid;
        dev_t dev;
        int mount_fd;           /* during a read only: a mount is never kept busy */
} Source;

typedef struct CacheSlot {
        uint64_t generation;    /* valid while equal to the source's */
        __kernel_fsid_t fsid;
        unsigned char handle[CACHE_HANDLE_MAX];
        unsigned size;          /* of handle; 0: empty */
        char *dir;              /* NULL: gone, or not below a source */
} CacheSlot;

struct FanotifySource {
        int fd;
        pid_t pid;
        uint32_t cookie;
        Source *sources;
        size_t n_sources;
        __kernel_fsid_t *marks;
        size_t n_marks;
        /* A folder's path changes only when it or a folder above it is
         * renamed (every folder rename on a marked file system is an event:
         * the cache's generation moves on) or when a mount comes or goes
         * below a source (the cache is emptied when a source is marked). A
         * folder's handle is never another folder's: handles carry the
         * inode's generation. So a writer's events, in or out of the drops,
         * cost one resolution a folder, not one each. */
        CacheSlot *cache;
        uint64_t generation;
        union {
                struct fanotify_event_metadata first;
                char bytes[READ_BUFFER];
        } buf;
};

static int failure(int r, char **reterr_message, const char *fmt, ...) _printf_(3, 4);
static int failure(int r, char **reterr_message, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        if (vasprintf(reterr_message, fmt, ap) < 0)
                *reterr_message = NULL;
        va_end(ap);
        return r < 0 ? r : -EIO;        /* a failure, whatever errno said */
}

int fanotify_source_new(FanotifySource **ret, char **reterr_message) {
        FanotifySource *f;
        int fd;

        fd = fanotify_init(FAN_CLASS_NOTIF | FAN_CLOEXEC | FAN_NONBLOCK | FAN_REPORT_DFID_NAME,
                           O_RDONLY | O_CLOEXEC | O_LARGEFILE);
        if (fd < 0) {
                int r = -errno;

                if (r == -EPERM)
                        return failure(r, reterr_message, "watcher = fanotify: fanotify_init() refused: it needs "
                                       "CAP_SYS_ADMIN" CAPS_HINT);
                if (r == -EINVAL || r == -ENOSYS)
                        return failure(r, reterr_message, "watcher = fanotify: this kernel cannot report folders "
                                       "and names (FAN_REPORT_DFID_NAME needs Linux 5.9, FAN_RENAME 5.17): use "
                                       "watcher = inotify");
                return failure(r, reterr_message, "watcher = fanotify: fanotify_init() failed: %s", strerror(-r));
        }
        f = calloc(1, sizeof *f);
        if (f)
                f->cache = calloc(CACHE_SLOTS, sizeof *f->cache);
        if (!f || !f->cache) {
                free(f);
                (void) close(fd);
                return -ENOMEM;
        }
        f->fd = fd;
        f->pid = getpid();
        *ret = f;
        return 0;
}

FanotifySource *fanotify_source_free(FanotifySource *f) {
        if (!f)
                return NULL;
        for (size_t i = 0; i < f->n_sources; i++) {
                free(f->sources[i].drop);
                free(f->sources[i].path);
                free(f->sources[i].real);
        }
        free(f->sources);
        free(f->marks);
        for (size_t i = 0; f->cache && i < CACHE_SLOTS; i++)
                free(f->cache[i].dir);
        free(f->cache);
        (void) close(f->fd);
        free(f);
        return NULL;
}

unsigned fanotify_source_marks(const FanotifySource *f) {
        return (unsigned) f->n_marks;
}

int fanotify_source_fd(const FanotifySource *f) {
        return f->fd;
}

static bool same_fsid(const __kernel_fsid_t *a, const __kernel_fsid_t *b) {
        return a->val[0] == b->val[0] && a->val[1] == b->val[1];
}

/* Can a folder of real be found again from its handle (CAP_DAC_READ_SEARCH),
 * and its path read back (/proc)? */
static int check_handles(const char *source, const char *real, char **reterr_message) {
        union {
                struct file_handle h;
                unsigned char bytes[sizeof(struct file_handle) + MAX_HANDLE_SZ];
        } fh = { .h.handle_bytes = MAX_HANDLE_SZ };
        _cleanup_close_ int mfd = -1, fd = -1;
        char path[PATH_MAX];
        int mount_id;
        ssize_t n;

        if (name_to_handle_at(AT_FDCWD, real, &fh.h, &mount_id, 0) < 0)
                return failure(-errno, reterr_message, "watcher = fanotify: the file system of '%s' cannot give "
                               "file handles (%m): use watcher = inotify for this drop", source);
        mfd = open(real, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (mfd < 0)
                return failure(-errno, reterr_message, "watcher = fanotify: cannot open '%s': %m", source);
        fd = open_by_handle_at(mfd, &fh.h, O_PATH | O_CLOEXEC);
        if (fd < 0 && errno == EPERM)
                return failure(-EPERM, reterr_message, "watcher = fanotify: open_by_handle_at() refused: it "
                               "needs CAP_DAC_READ_SEARCH" CAPS_HINT);
        if (fd < 0)
                return failure(-errno, reterr_message, "watcher = fanotify: cannot open '%s' by its handle: %m",
                               source);
        n = beneath_fd_path(fd, path, sizeof path);
        if (n < 0)
                return failure((int) n, reterr_message, "watcher = fanotify: cannot read '%s' back from "
                               "/proc/self/fd (%s): it needs /proc", source, strerror((int) -n));
        if (strcmp(path, real) != 0)
                return failure(-EXDEV, reterr_message, "watcher = fanotify: '%s' reads back from its handle as "
                               "'%s', not '%s': use watcher = inotify for this drop", source, path, real);
        return 0;
}

/* Marks the file system of the folder real, named name in messages, and
 * checks that its folders can be found by handle. */
static int mark_folder(FanotifySource *f, const char *name, const char *real, __kernel_fsid_t *ret_fsid,
                       dev_t *ret_dev, char **reterr_message) {
        __kernel_fsid_t *marks;
        struct statfs sfs;
        struct stat st;
        bool marked = false;
        int r;

        if (statfs(real, &sfs) < 0 || stat(real, &st) < 0)
                return failure(-errno, reterr_message, "watcher = fanotify: cannot look at '%s': %m", name);
        if (fanotify_mark(f->fd, FAN_MARK_ADD | FAN_MARK_FILESYSTEM, FAN_EVENTS, AT_FDCWD, real) < 0) {
                r = -errno;
                if (r == -EPERM)
                        return failure(r, reterr_message, "watcher = fanotify: marking the file system of '%s' "
                                       "needs CAP_SYS_ADMIN" CAPS_HINT, name);
                if (r == -ENODEV || r == -EOPNOTSUPP)
                        return failure(r, reterr_message, "watcher = fanotify: the file system of '%s' cannot "
                                       "report file handles (%s): use watcher = inotify", name, strerror(-r));
                if (r == -EXDEV)
                        return failure(r, reterr_message, "watcher = fanotify: '%s' is on a subvolume or a "
                                       "file system whose folders report another id than its own: use "
                                       "watcher = inotify", name);
                if (r == -EINVAL)
                        return failure(r, reterr_message, "watcher = fanotify: this kernel cannot report "
                                       "renames (FAN_RENAME needs Linux 5.17): use watcher = inotify");
                return failure(r, reterr_message, "watcher = fanotify: cannot mark the file system of '%s': %s",
                               name, strerror(-r));
        }
        r = check_handles(name, real, reterr_message);
        if (r < 0)
                return r;
        memcpy(ret_fsid, &sfs.f_fsid, sizeof *ret_fsid);
        *ret_dev = st.st_dev;
        for (size_t i = 0; i < f->n_marks; i++)
                marked = marked || same_fsid(&f->marks[i], ret_fsid);
        if (marked)
                return 0;
        marks = reallocarray(f->marks, f->n_marks + 1, sizeof *marks);
        if (!marks)
                return -ENOMEM;
        f->marks = marks;
        f->marks[f->n_marks++] = *ret_fsid;
        return 0;
}

/* A mount point of /proc/self/mountinfo (its fifth field), unescaped. */
static char *mount_point(char *line) {
        char *p = line, *out, *w;

        for (int i = 0; i < 4 && p; i++) {
                p = strchr(p, ' ');
                p = p ? p + 1 : NULL;
        }
        if (!p)
                return NULL;
        out = w = strndup(p, strcspn(p, " "));
        for (char *r = out; out && *r; w++)
                if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' && r[3] >= '0' &&
                    r[3] <= '7') {
                        *w = (char) ((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
                        r += 4;
                } else
                        *w = *r++;
        if (out)
                *w = '\0';
        return out;
}

/* The mount points strictly below real, in the order of the table (a
 * mount below another comes after it). */
static int mounts_below(const char *real, char ***ret, size_t *ret_n) {
        _cleanup_fclose_ FILE *m = fopen("/proc/self/mountinfo", "re");
        _cleanup_free_ char *line = NULL;
        size_t size = 0, n = 0, len = strlen(real);
        char **list = NULL;

        if (!m)
                return -errno;
        while (getline(&line, &size, m) > 0) {
                char *p = mount_point(line), **l;

                if (!p || strncmp(p, real, len) != 0 || (p[len] != '/' && strcmp(real, "/") != 0) ||
                    strcmp(p, real) == 0) {
                        free(p);
                        continue;
                }
                l = reallocarray(list, n + 1, sizeof *l);
                if (!l) {
                        free(p);
                        break;
                }
                list = l;
                list[n++] = p;
        }
        *ret = list;
        *ret_n = n;
        return 0;
}

static void strv_free(char **v, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(v[i]);
        free(v);
}

static int source_append(FanotifySource *f, const char *drop, const char *path, const char *real,
                         const __kernel_fsid_t *fsid, dev_t dev) {
        Source *a = reallocarray(f->sources, f->n_sources + 1, sizeof *a);
        Source s = { .drop = strdup(drop), .path = strdup(path), .real = strdup(real), .real_len = strlen(real),
                     .fsid = *fsid, .dev = dev, .mount_fd = -1 };

        if (a)
                f->sources = a;
        if (!a || !s.drop || !s.path || !s.real) {
                free(s.drop);
                free(s.path);
                free(s.real);
                return -ENOMEM;
        }
        f->sources[f->n_sources++] = s;
        return 0;
}

/* Forgets what was known of drop source's mounts; the names of those
 * below it (not the source itself) go to *ret_old. */
static void sources_forget(FanotifySource *f, const char *source, char ***ret_old, size_t *ret_n) {
        size_t j = 0;

        *ret_old = NULL;
        *ret_n = 0;
        for (size_t i = 0; i < f->n_sources; i++) {
                Source *s = &f->sources[i];
                char **l;

                if (strcmp(s->drop, source) != 0) {
                        f->sources[j++] = *s;
                        continue;
                }
                l = strcmp(s->path, source) != 0 ? reallocarray(*ret_old, *ret_n + 1, sizeof *l) : NULL;
                if (l) {
                        *ret_old = l;
                        l[(*ret_n)++] = TAKE_PTR(s->path);
                }
                free(s->drop);
                free(s->path);
                free(s->real);
        }
        f->n_sources = j;
}

int fanotify_source_add(FanotifySource *f, const char *source, FanotifyMountFn added, void *userdata,
                        char **reterr_message) {
        _cleanup_free_ char *real = NULL;
        char **mounts = NULL, **old = NULL;
        size_t n_mounts = 0, n_old = 0;
        __kernel_fsid_t fsid = {};
        dev_t dev = 0;
        int r;

        real = realpath(source, NULL);
        if (!real)
                return failure(-errno, reterr_message, "watcher = fanotify: cannot resolve '%s': %m", source);
        r = mark_folder(f, source, real, &fsid, &dev, reterr_message);
        if (r < 0)
                return r;
        /* File systems mounted below the source (a disk, a bind mount of a
         * folder elsewhere) are marked too, and their folders named through
         * their mounts. */
        r = mounts_below(real, &mounts, &n_mounts);
        if (r < 0)
                return failure(r, reterr_message, "watcher = fanotify: cannot read /proc/self/mountinfo: %s",
                               strerror(-r));
        sources_forget(f, source, &old, &n_old);
        f->generation++;
        r = source_append(f, source, source, real, &fsid, dev);
        for (size_t i = 0; r >= 0 && i < n_mounts; i++) {
                _cleanup_free_ char *path = NULL, *msg = NULL;
                bool known = false;

                if (asprintf(&path, "%s%s", source, mounts[i] + (strcmp(real, "/") == 0 ? 0 : strlen(real))) < 0) {
                        r = -ENOMEM;
                        break;
                }
                r = mark_folder(f, path, mounts[i], &fsid, &dev, &msg);
                if (r < 0) {
                        r = failure(r, reterr_message, "%s (it is a mount below the source '%s')",
                                    msg ? msg : "watcher = fanotify: cannot mark", source);
                        break;
                }
                r = source_append(f, source, path, mounts[i], &fsid, dev);
                for (size_t j = 0; j < n_old; j++)
                        known = known || strcmp(old[j], path) == 0;
                if (r >= 0 && !known && added)
                        added(path, userdata);
        }
        strv_free(mounts, n_mounts);
        strv_free(old, n_old);
        return r;
}

bool fanotify_source_marked(const FanotifySource *f, dev_t dev) {
        _cleanup_fclose_ FILE *info = NULL;
        _cleanup_free_ char *line = NULL;
        char name[64];
        size_t size = 0;
        unsigned kdev = (major(dev) << 20) | minor(dev);

        (void) snprintf(name, sizeof name, "/proc/self/fdinfo/%d", f->fd);
        info = fopen(name, "re");
        if (!info)
                return true;    /* cannot tell */
        while (getline(&line, &size, info) > 0) {
                const char *p = strstr(line, " sdev:");
                unsigned d;

                if (p && sscanf(p, " sdev:%x", &d) == 1 && d == kdev)
                        return true;
        }
        return false;
}

/* The path the kernel has now for the folder of handle h, or NULL. */
static char *handle_path(int mount_fd, struct file_handle *h) {
        _cleanup_close_ int fd = open_by_handle_at(mount_fd, h, O_PATH | O_CLOEXEC);
        char path[PATH_MAX];
        struct stat st;

        /* ESTALE: gone. A folder deleted while still open somewhere resolves,
         * with no link left. */
        if (fd < 0 || fstat(fd, &st) < 0 || st.st_nlink == 0)
                return NULL;
        if (beneath_fd_path(fd, path, sizeof path) <= 0 || path[0] != '/')
                return NULL;
        return strdup(path);
}

static CacheSlot *cache_slot(FanotifySource *f, const __kernel_fsid_t *fsid, const struct file_handle *h,
                             size_t size) {
        uint64_t hash = 14695981039346656037ULL;        /* FNV-1a */

        for (size_t i = 0; i < sizeof *fsid; i++)
                hash = (hash ^ ((const unsigned char *) fsid)[i]) * 1099511628211ULL;
        for (size_t i = 0; i < size; i++)
                hash = (hash ^ ((const unsigned char *) h)[i]) * 1099511628211ULL;
        return &f->cache[hash % CACHE_SLOTS];
}

/* The folder of an event's handle, as a path that starts with a source's
 * configured path, or NULL: gone, or not below any source. */
static char *resolve(FanotifySource *f, const __kernel_fsid_t *fsid, struct file_handle *h) {
        size_t size = sizeof *h + h->handle_bytes;
        CacheSlot *slot = size <= CACHE_HANDLE_MAX ? cache_slot(f, fsid, h, size) : NULL;
        char *dir = NULL;

        if (slot && slot->size == size && slot->generation == f->generation && same_fsid(&slot->fsid, fsid) &&
            memcmp(slot->handle, h, size) == 0)
                return slot->dir ? strdup(slot->dir) : NULL;
        for (size_t i = 0; i < f->n_sources && !dir; i++) {
                Source *s = &f->sources[i];
                _cleanup_free_ char *p = NULL;

                if (!same_fsid(&s->fsid, fsid))
                        continue;
                if (s->mount_fd < 0)
                        s->mount_fd = open(s->real, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                p = s->mount_fd >= 0 ? handle_path(s->mount_fd, h) : NULL;
                if (!p || strncmp(p, s->real, s->real_len) != 0 ||
                    (p[s->real_len] != '\0' && p[s->real_len] != '/' && strcmp(s->real, "/") != 0))
                        continue;
                if (asprintf(&dir, "%s%s", s->path, p + (strcmp(s->real, "/") == 0 ? 0 : s->real_len)) < 0)
                        dir = NULL;
        }
        if (slot) {
                free(slot->dir);
                *slot = (CacheSlot) { .generation = f->generation, .fsid = *fsid, .size = (unsigned) size,
                                      .dir = dir ? strdup(dir) : NULL };
                memcpy(slot->handle, h, size);
                if (dir && !slot->dir)
                        slot->size = 0;
        }
        return dir;
}

static uint32_t inotify_mask(uint64_t m) {
        uint32_t in = 0;

        if (m & FAN_CREATE)
                in |= IN_CREATE;
        if (m & FAN_DELETE)
                in |= IN_DELETE;
        if (m & FAN_CLOSE_WRITE)
                in |= IN_CLOSE_WRITE;
        if (m & FAN_ATTRIB)
                in |= IN_ATTRIB;
        if (m & FAN_ONDIR)
                in |= IN_ISDIR;
        return in;
}

/* Events on one entry may be merged: made and deleted, or deleted and made
 * again, look the same. What the entry is now says which came last. */
static uint32_t settle_mask(uint32_t in, const char *dir, const char *name) {
        _cleanup_free_ char *path = NULL;
        struct stat st;

        if (!(in & IN_DELETE) || !(in & (IN_CREATE | IN_CLOSE_WRITE | IN_ATTRIB)))
                return in;
        if (asprintf(&path, "%s/%s", dir, name) < 0)
                return in;
        if (lstat(path, &st) == 0)
                return in & ~IN_DELETE;
        return in & ~(IN_CREATE | IN_CLOSE_WRITE | IN_ATTRIB);
}

typedef struct Named {
        char *dir;
        const char *name;
} Named;

/* The info record of type type in event m, resolved. */
/* The info record of type type in the event at event (m: its metadata),
 * resolved. Records are not aligned in the buffer: they are copied out. */
static void named(FanotifySource *f, const struct fanotify_event_metadata *m, const char *event, uint8_t type,
                  Named *ret) {
        const char *end = event + m->event_len;

        *ret = (Named) {};
        for (const char *p = event + m->metadata_len; p + sizeof(struct fanotify_event_info_fid) <= end;) {
                const char *handle = p + offsetof(struct fanotify_event_info_fid, handle);
                struct fanotify_event_info_fid info;
                union {
                        struct file_handle h;
                        unsigned char bytes[sizeof(struct file_handle) + MAX_HANDLE_SZ];
                } fh;

                memcpy(&info, p, sizeof info);
                if (info.hdr.len == 0 || p + info.hdr.len > end)
                        return;
                if (info.hdr.info_type == type && info.hdr.len > sizeof info + sizeof fh.h) {
                        memcpy(&fh.h, handle, sizeof fh.h);
                        if (fh.h.handle_bytes > MAX_HANDLE_SZ ||
                            sizeof info + sizeof fh.h + fh.h.handle_bytes >= info.hdr.len)
                                return;
                        memcpy(fh.h.f_handle, handle + sizeof fh.h, fh.h.handle_bytes);
                        ret->name = handle + sizeof fh.h + fh.h.handle_bytes;
                        if (memchr(ret->name, '\0', (size_t) (p + info.hdr.len - ret->name)) == NULL ||
                            ret->name[0] == '\0' || strcmp(ret->name, ".") == 0) {
                                ret->name = NULL;
                                return;
                        }
                        ret->dir = resolve(f, &info.fsid, &fh.h);
                        if (!ret->dir)
                                ret->name = NULL;
                        return;
                }
                p += info.hdr.len;
        }
}

static int dispatch(FanotifySource *f, const struct fanotify_event_metadata *m, const char *event, FanotifyEventFn fn,
                    void *userdata) {
        uint32_t isdir = (m->mask & FAN_ONDIR) ? IN_ISDIR : 0, in;
        Named a, b;
        int r = 0;

        if (m->mask & FAN_Q_OVERFLOW) {
                f->generation++;
                return fn(IN_Q_OVERFLOW, 0, NULL, NULL, userdata);
        }
        /* Any folder renamed, this process's too (an output's mirror): the
         * paths of the folders below it changed. */
        if ((m->mask & FAN_RENAME) && (m->mask & FAN_ONDIR))
                f->generation++;
        /* This process's own writes: thumbnails and state, never sources. */
        if (m->pid == f->pid)
                return 0;
        if (m->mask & FAN_RENAME) {
                uint32_t cookie = ++f->cookie ? f->cookie : ++f->cookie;

                named(f, m, event, FAN_EVENT_INFO_TYPE_OLD_DFID_NAME, &a);
                named(f, m, event, FAN_EVENT_INFO_TYPE_NEW_DFID_NAME, &b);
                if (a.dir)
                        r = fn(IN_MOVED_FROM | isdir, cookie, a.dir, a.name, userdata);
                if (b.dir && r >= 0)
                        r = fn(IN_MOVED_TO | isdir, cookie, b.dir, b.name, userdata);
                free(a.dir);
                free(b.dir);
                return r;
        }
        in = inotify_mask(m->mask);
        /* A folder's own attributes change nothing. */
        if (isdir && !(in & (IN_CREATE | IN_DELETE)))
                return 0;
        named(f, m, event, FAN_EVENT_INFO_TYPE_DFID_NAME, &a);
        if (a.dir) {
                in = settle_mask(in, a.dir, a.name);
                r = fn(in, 0, a.dir, a.name, userdata);
        }
        free(a.dir);
        return r;
}

long fanotify_source_read(FanotifySource *f, FanotifyEventFn fn, void *userdata) {
        ssize_t n = read(f->fd, f->buf.bytes, sizeof f->buf.bytes);
        long count = 0;
        int r = 0;

        if (n < 0)
                return errno == EAGAIN || errno == EINTR ? 0 : -errno;
        /* Events are not aligned in the buffer either (a record's length is
         * a multiple of 4): each one's metadata is copied out. */
        for (size_t off = 0; r >= 0 && off + FAN_EVENT_METADATA_LEN <= (size_t) n; count++) {
                struct fanotify_event_metadata m;

                memcpy(&m, f->buf.bytes + off, sizeof m);
                if (m.event_len < FAN_EVENT_METADATA_LEN || m.metadata_len < FAN_EVENT_METADATA_LEN ||
                    m.metadata_len > m.event_len || off + m.event_len > (size_t) n)
                        break;
                if (m.vers != FANOTIFY_METADATA_VERSION) {
                        r = -EPROTO;
                        break;
                }
                r = dispatch(f, &m, f->buf.bytes + off, fn, userdata);
                off += m.event_len;
        }
        /* Mounts are let go: a source's disk is never kept busy. */
        for (size_t i = 0; i < f->n_sources; i++)
                if (f->sources[i].mount_fd >= 0) {
                        (void) close(f->sources[i].mount_fd);
                        f->sources[i].mount_fd = -1;
                }
        return r < 0 ? r : count;
}
