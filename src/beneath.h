/* beneath.h - opening a path below a folder descriptor, never through a
 * symlink and never above that folder: how sources are read inside their
 * drop and how the output tree is written. No threads of its own; every
 * function is thread-safe. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

typedef enum BeneathFlags {
        BENEATH_CREATE_DIRS = 1 << 0,   /* create the missing folders of rel with the given mode */
} BeneathFlags;

/* Opens rel, a relative path ("" or "." for dirfd's folder itself), below
 * dirfd with open(2)'s flags. No component may be a symlink, "..", or lead
 * outside dirfd's folder. Uses
 * openat2(2) with RESOLVE_BENEATH and RESOLVE_NO_SYMLINKS where the kernel
 * has it, a walk of O_NOFOLLOW opens otherwise. Returns a descriptor, or
 * -ELOOP for a symlink in the way, -EXDEV for a path leading outside, or
 * another -errno of open(2). */
int beneath_open(int dirfd, const char *rel, int flags, BeneathFlags how, mode_t dir_mode);

/* Opens the folder path (absolute) to resolve paths below it: the folder
 * itself may be reached through symlinks (a drop's source may be a symlink
 * to its folder). Returns an O_PATH descriptor or -errno. */
int beneath_open_root(const char *path);

/* The absolute path the kernel has now for the descriptor fd (read back from
 * /proc/self/fd), in buf of size bytes. A removed file's ends in
 * " (deleted)". Returns its length, or -errno (-ENAMETOOLONG when it does
 * not fit). */
ssize_t beneath_fd_path(int fd, char *buf, size_t size);

/* Removes the entry name of dirfd and, if it is a folder, everything below
 * it, never following a symlink; an entry keep() refuses (a file that is not
 * ours) stays, and so do the folders above it. Returns how many files were
 * removed, or -errno when name could not be opened. keep may be NULL. */
long beneath_remove_tree(int dirfd, const char *name, bool (*keep)(int dirfd, const char *name, void *userdata),
                         void *userdata);
