/* source.c - a drop's source files, opened below the drop by the rules of
 * follow_symlinks (source.h). The path walk itself is beneath.c's. */
#include "build-config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "beneath.h"
#include "macro.h"
#include "naming.h"
#include "source.h"

/* O_NONBLOCK: a FIFO planted in a drop folder must not hang a worker. */
#define SOURCE_OPEN_FLAGS (O_RDONLY | O_NOCTTY | O_NONBLOCK)

/* The folder of rel (below root, no symlink on the way), as O_PATH, and
 * rel's last component to ret_base. */
static int open_link_dir(int root, const char *rel, const char **ret_base, char **ret_dir) {
        const char *slash = strrchr(rel, '/');
        char *dir = slash ? strndup(rel, (size_t) (slash - rel)) : strdup("");
        int dfd;

        if (!dir)
                return -ENOMEM;
        dfd = beneath_open(root, dir, O_PATH | O_DIRECTORY, 0, 0);
        if (dfd < 0) {
                free(dir);
                return dfd;
        }
        *ret_base = slash ? slash + 1 : rel;
        *ret_dir = dir;
        return dfd;
}

/* follow_symlinks = yes: rel is a symlink (its folders are not); the file
 * it names, if that is inside the drop: by its path below the root, opened
 * like any file there (so a link to a link is not followed). An absolute
 * target counts when it names the drop's source as configured or as it
 * really is. */
static int open_link_beneath(const DropConfig *d, int root, const char *rel) {
        _cleanup_free_ char *dir = NULL, *real = NULL, *joined = NULL, *abs = NULL;
        char target[PATH_MAX + 1];
        const char *name, *base = NULL;
        ssize_t n;
        int dfd;

        dfd = open_link_dir(root, rel, &name, &dir);
        if (dfd < 0)
                return dfd;
        n = readlinkat(dfd, name, target, PATH_MAX);
        (void) close(dfd);
        if (n <= 0)
                return -ELOOP;
        target[n] = '\0';
        /* Where it points, as an absolute path, resolved lexically: no folder
         * on the way from the source to the link is a symlink. */
        if (target[0] == '/')
                joined = strdup(target);
        else if (asprintf(&joined, "%s/%s%s%s", d->source, dir, dir[0] ? "/" : "", target) < 0)
                joined = NULL;
        if (!joined || naming_normalize_path(joined, &abs) < 0)
                return -ENOMEM;
        if (naming_path_is_under(abs, d->source) && strcmp(abs, d->source) != 0)
                base = naming_path_below(abs, d->source);
        else if ((real = realpath(d->source, NULL)) && naming_path_is_under(abs, real) && strcmp(abs, real) != 0)
                base = naming_path_below(abs, real);
        if (!base)
                return -EXDEV;
        return beneath_open(root, base, SOURCE_OPEN_FLAGS, 0, 0);
}

/* follow_symlinks = anywhere: the admin's word; the link itself may point
 * anywhere, the folders above it are still the drop's own. */
static int open_link_anywhere(int root, const char *rel) {
        _cleanup_free_ char *dir = NULL;
        const char *name;
        int dfd, fd;

        dfd = open_link_dir(root, rel, &name, &dir);
        if (dfd < 0)
                return dfd;
        fd = openat(dfd, name, SOURCE_OPEN_FLAGS | O_CLOEXEC);
        fd = fd < 0 ? -errno : fd;
        (void) close(dfd);
        return fd;
}

int source_open(const DropConfig *d, const char *path) {
        const char *rel;
        int root, fd;

        if (!naming_path_is_under(path, d->source) || strcmp(path, d->source) == 0)
                return -EXDEV;
        rel = naming_path_below(path, d->source);
        root = beneath_open_root(d->source);
        if (root < 0)
                return root;
        fd = beneath_open(root, rel, SOURCE_OPEN_FLAGS, 0, 0);
        if (fd == -ELOOP && d->follow_symlinks == FOLLOW_BENEATH)
                fd = open_link_beneath(d, root, rel);
        else if (fd == -ELOOP && d->follow_symlinks == FOLLOW_ANYWHERE)
                fd = open_link_anywhere(root, rel);
        (void) close(root);
        return fd;
}
