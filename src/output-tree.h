/* output-tree.h - a drop's output tree: where the thumbnails of a source
 * live, whether they are current, and how they move and go when sources move
 * and go. The worker, the watcher, --gc and --explain all ask here; no other
 * module knows the layouts (mirror, freedesktop) or the identity rule. No
 * threads of its own; every function is thread-safe.
 *
 * A thumbnail is current when it was made from the source as it is now: the
 * identity of the source that was decoded (size, inode and mtime, from the
 * decoded descriptor) is stamped on every thumbnail before it is renamed into
 * place, with the source's base name, as the extended attribute
 * user.thumbwatch. It is compared for equality with the source's identity
 * now, so a source replaced by any other file (mv, cp -p, rsync -a, tar x,
 * an older or a future mtime) is made again; the check is one lstat() of the
 * source and one getxattr() per thumbnail, never a decode. Where the output's
 * file system keeps no extended attributes (FAT, NFSv3, tmpfs before Linux
 * 6.6), the thumbnail's own mtime is set to the source's instead, and the
 * identity is that mtime alone, compared at the precision the file system
 * keeps (100 ns, 1 us, 1 s or 2 s).
 *
 * The stamp also says which source a thumbnail belongs to, so a thumbnail
 * another source made (two sources whose names expand to one thumbnail name)
 * is never overwritten or removed on this source's behalf. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>

#include "config-file.h"
#include "thumbnail.h"

/* Under every output root: what the daemon remembers (state-dir.h). No
 * source name addresses it: a drop's top-level entry of this name is never
 * scanned, watched or mirrored. */
#define OUTPUT_STATE_DIR ".thumbwatch"

/* The extended attribute that stamps a thumbnail with its source. */
#define OUTPUT_XATTR "user.thumbwatch"

/* What identifies the content of a source file. */
typedef struct SourceIdentity {
        uint64_t size;
        uint64_t ino;
        struct timespec mtime;
        struct timespec btime;          /* birth time, where the file system keeps one (statx); else 0: a file
                                         * deleted and made anew may get the same inode back (ext4 does) */
        struct timespec ctime;          /* not part of a thumbnail's identity: chmod and link counts change it */
} SourceIdentity;

/* The identity in st (no birth time: stat(2) has none). */
void output_identity(const struct stat *st, SourceIdentity *ret);

/* fstatat(dirfd, path, flags) of a source, through statx(2), with its
 * identity, birth time included. flags: AT_SYMLINK_NOFOLLOW, AT_EMPTY_PATH.
 * Returns 0 or -errno. */
int output_stat_source(int dirfd, const char *path, int flags, struct stat *ret_st, SourceIdentity *ret_id);

/* Same size, inode, mtime and birth time (ctime is not compared). */
bool output_identity_equal(const SourceIdentity *a, const SourceIdentity *b);

/* A fingerprint of how a drop's thumbnails are made (sizes and modes,
 * format, quality, background, strip, color, previews, layout): stamped too, so
 * thumbnails made under other settings are made again. */
uint64_t output_recipe(const DropConfig *d);

/* Is t, a timestamp a file system stored for s, s at that file system's
 * precision: exact, or s cut to 100 ns (NTFS, SMB), 1 us (some NFS
 * servers), 1 s (ext4 with 128-byte inodes, ext3) or 2 s (FAT)? */
bool output_same_time(const struct timespec *t, const struct timespec *s);

typedef enum ThumbState {
        THUMB_CURRENT,          /* made by thumbwatch from this source as it is now */
        THUMB_MISSING,          /* no file of that name */
        THUMB_STALE,            /* made from another version of this source, or unstamped: made again */
        THUMB_TAKEN,            /* stamped as made from another source of the same folder */
        _THUMB_STATE_MAX,
} ThumbState;

/* "up to date", "missing", ... for messages. */
const char *output_state_name(ThumbState s);

typedef struct Outputs Outputs;
typedef struct OutputPrune OutputPrune;

/* What differs between the layouts: where a source's thumbnails go and how
 * they are written, where its failure is recorded for other programs, and
 * what pruning keeps. One const table per layout (mirror: OUTPUT mirrors the
 * source's folders, names from the template; freedesktop: the Thumbnail
 * Managing Standard's OUTPUT/normal/MD5.png), picked by output_layout(). */
typedef struct OutputLayout {
        mode_t dir_mode;                /* its folders: 0755; the freedesktop cache is private, 0700 */
        const char *fail_dir;           /* where a source's failure is marked for other programs, below the
                                         * output (freedesktop: fail/thumbwatch); NULL: nowhere */
        bool mirrors_tree;              /* the thumbnails' folders and names are the source's: they move and
                                         * go with its folders, and two sources' names may collide */
        /* Names o's thumbnails (o->dir, o->file, o->uri) from src, o's
         * source; o->rel and o->name are set. Returns 0 or -errno. */
        int (*name)(Outputs *o, const char *src);
        /* The layout's part of making o's thumbnails from the source st
         * describes: targets (o->n of them, once outputs_open() has opened
         * their folders) and the format, file mode and text chunks in opts. */
        void (*make_options)(const Outputs *o, const struct stat *st, ThumbnailTarget targets[],
                             ThumbnailOptions *opts);
        /* output_prune() for this layout. */
        int (*prune)(const DropConfig *d, const char *src_dir, OutputPrune *p);
} OutputLayout;

/* The layout of d's output. */
const OutputLayout *output_layout(const DropConfig *d);

/* The thumbnails of one source file. */
struct Outputs {
        const DropConfig *drop;                 /* borrowed */
        const OutputLayout *layout;             /* output_layout(drop) */
        char *rel;                              /* the source below its drop: "a/b/photo.jpg" */
        const char *name;                       /* its base name, in rel */
        size_t n;                               /* how many thumbnails: drop->n_sizes */
        char *dir[CONFIG_SIZES_MAX];            /* thumbnail i's folder, relative to the output ("" the root) */
        char *file[CONFIG_SIZES_MAX];           /* its name in that folder */
        char *path[CONFIG_SIZES_MAX];           /* its absolute path, for messages */
        int dirfd[CONFIG_SIZES_MAX];            /* its folder, once outputs_open() has opened it; else -1 */
        char *uri;                              /* layout = freedesktop: the source's file:// URI */
        uint64_t recipe;                        /* output_recipe(drop) */
        bool root_made;                         /* outputs_open() made the output root again */
};

/* Where the thumbnails of src (an absolute path below d->source) go. Returns
 * 0, -EINVAL when src is not below d->source (or is it), -EPERM when it would
 * be mirrored onto the state folder, -ENOMEM. Nothing is opened. */
int outputs_init(Outputs *o, const DropConfig *d, const char *src);
void outputs_done(Outputs *o);

/* Thumbnail i against the source's identity id, by lstat()/getxattr() of its
 * path; nothing is opened, created or read but the stamp. When it is taken,
 * the name of the source that made it goes to ret_other (may be NULL), which
 * holds NAME_MAX + 1 bytes. */
ThumbState outputs_state(const Outputs *o, size_t i, const SourceIdentity *id, char *ret_other);

/* The source src (below d's source) was written and closed: its content may
 * have changed whatever its identity says (a write in place that keeps the
 * size, the mtime then set back: cat, then touch -d). Its thumbnails'
 * stamps are made stale (they stay, and stay thumbwatch's), so that the
 * next look at it makes them again. Returns how many were. */
long output_source_written(const DropConfig *d, const char *src);

/* Is every thumbnail current? */
bool outputs_current(const Outputs *o, const SourceIdentity *id);

/* Opens (with create, creating) the folder of each thumbnail, never
 * through a symlink: 0755, or 0700 in the freedesktop layout. A removed
 * output root is made again (root_made) only while its parent is on the
 * device it was on at output_prepare(); a root (a mount point) that is on
 * another device than then is -ENODEV: a disk not mounted is an error, not
 * papered over with thumbnails on the wrong disk. Returns 0, or
 * -errno with the folder that failed in *reterr_dir (caller frees). */
int outputs_open(Outputs *o, bool create, char **reterr_dir);

/* What thumbnail_make() stamps on each thumbnail before renaming it into
 * place (its finish callback): the identity of the source decoded. */
typedef struct OutputStamp {
        SourceIdentity id;
        uint64_t recipe;                /* output_recipe() of the drop */
        const char *name;               /* the source's base name; borrowed */
} OutputStamp;

/* The finish callback: userdata is an OutputStamp. Returns 0 or -errno. */
int output_stamp_fd(int fd, void *userdata);

/* Where the layout marks failures (fail_dir; freedesktop: the standard's
 * failure marker of this source, OUTPUT/fail/thumbwatch/MD5.png, which tells
 * file managers not to try it either): writes it; opts as for its thumbnails
 * (Thumb::URI and ::MTime). Returns 0 or -errno with *reterr_reason (caller
 * frees). Nothing for mirror. */
int outputs_mark_failed(const Outputs *o, const ThumbnailOptions *opts, char **reterr_reason);

/* Removes that marker, once a thumbnail is made. */
void outputs_unmark_failed(const Outputs *o);

/* Can two sources of one folder give one thumbnail name? When the name
 * template has no {name}, and {ext} is missing or follows an output format
 * (a.jpg and a.png, with format = jpeg). */
bool output_names_may_collide(const DropConfig *d);

/* Removes the thumbnails of this source that are its own (stamped with its
 * name, or not stamped at all), never another source's. Returns how many. */
long outputs_remove(Outputs *o);

/* The mirror of the source's folder, and of each folder above it, goes
 * while it is empty and its source folder is gone (mirror layout only). */
void outputs_remove_gone_dirs(const Outputs *o);

/* o's thumbnails were written from the source stamp describes, through
 * the folders outputs_open() opened, and the source's path no longer names
 * that file (gone, or another file there now): what was written goes,
 * through those folders, wherever they are now (the watcher may have moved
 * one with its source folder, output_folder_moved(), or moved another
 * folder's mirror under the name since), but only files that still carry
 * stamp exactly: a thumbnail written since (of the file now under that
 * name, or another source's) stays. decoded: the stat of the source decoded,
 * while still linked (NULL: unlinked); a thumbnail whose folder is now the
 * mirror of the folder where that file is now, under the same name,
 * stays (mirror layout): it is where the file's thumbnail belongs.
 * Returns how many went. */
long outputs_remove_written(Outputs *o, const OutputStamp *stamp, const struct stat *decoded);

/* As outputs_remove(), for the source at path (of d). */
long output_remove_source(const DropConfig *d, const char *path);

/* A source folder (absolute, below d->source) was renamed to to_dir inside
 * the drop: in the mirror layout its thumbnails' folder follows. Returns 0,
 * or -errno when it could not (the caller rescans; the old folder is removed
 * as by output_folder_remove()). Nothing to do for freedesktop. */
int output_folder_moved(const DropConfig *d, const char *from_dir, const char *to_dir);

/* A source folder left the drop (deleted, moved out): in the mirror layout,
 * the thumbnails below its mirror go, and the folders they leave empty;
 * anything thumbwatch did not make stays. Returns how many files went. */
long output_folder_remove(const DropConfig *d, const char *src_dir);

/* The stamp of the file name in the output folder dirfd (name NULL: of the
 * file dirfd, open for reading, itself): 1 stamped (the
 * name of the source it was made from to ret_source_name, NAME_MAX + 1
 * bytes, when not NULL), 0 not stamped (not made by thumbwatch, or made
 * by one that did not stamp), -ENOTSUP where the file system keeps no stamps,
 * -ENOENT, or another -errno. */
int output_read_stamp(int dirfd, const char *name, char *ret_source_name);

/* Is the file name in the output folder dirfd one thumbwatch made: stamped,
 * or one of its temporaries? (Where the file system keeps no stamps, only
 * the temporaries: thumbwatch cannot tell its thumbnails from others'.) */
bool output_is_ours(int dirfd, const char *name);

/* Creates d's output folder and its missing parents, 0755 (0700 in the
 * freedesktop layout), and remembers where it is (outputs_open()). Returns
 * 0 or -errno. */
int output_prepare(const DropConfig *d);

/* Is dir (absolute) one of c's drops' output folders? */
bool output_is_drop_output(const ThumbwatchConfig *c, const char *dir);

/* Pruning: what is left of sources that are gone. */
struct OutputPrune {
        const ThumbwatchConfig *config; /* every drop's output is left alone */
        bool dry_run;                   /* say what would go, remove nothing */
        bool keep_empty_folders;        /* a source folder there but empty keeps its mirror (a disk not
                                         * mounted on it?); not where deletions are known to go unseen */
        /* Does the drop still thumbnail the file at src (absolute, below its
         * source) by its path (ignore rules, recursive, image names)? */
        bool (*source_path_ok)(const DropConfig *d, const char *src);
        /* Told of each file or folder removed (or that would be), of each
         * file kept because thumbwatch did not make it, of each error. May
         * be NULL. Paths are raw bytes. */
        void (*removed)(const char *path, bool folder, void *userdata);
        void (*kept)(const char *path, void *userdata);
        /* Told of each mirror folder left alone because its source folder
         * is empty (a disk not mounted on it?). May be NULL. */
        void (*empty_folder)(const char *path, void *userdata);
        void *userdata;
        long files, folders, foreign, empty, failed;    /* counted, added to */
};

/* Removes the thumbnails under the mirror of src_dir (d->source, or a folder
 * below it) whose source is gone or no source any more, and the folders of
 * source folders that are gone: only what thumbwatch made (stamped), each
 * source looked at again right before its thumbnail goes (as the worker
 * would: no symlinked folder on the way, the rules of follow_symlinks), so a
 * file that arrives meanwhile keeps the thumbnail the daemon just made. A
 * source that cannot be looked at (a folder that cannot be read, an io
 * error) keeps its thumbnails; so does a source folder that is there but
 * empty (a disk not mounted on it?), with keep_empty_folders. Where the file
 * system keeps no stamps nothing is removed (thumbwatch cannot tell its
 * files from others there): every file is reported as kept. freedesktop:
 * the drop's stamped thumbnails (and markers) whose Thumb::URI names a gone
 * file below src_dir, or a file whose URI now names another thumbnail. Returns 0, or -errno when the output cannot be read. */
int output_prune(const DropConfig *d, const char *src_dir, OutputPrune *p);

/* Is d's output root the folder it was when thumbwatch first prepared it
 * (or gone, or never prepared)? */
bool output_root_in_place(const DropConfig *d);

/* Records where d's source is (its device and inode) the first time, and
 * says whether it is still there: a source on a disk that was unmounted
 * since (a bare mount point, a bind mount undone) is not pruned. */
void output_remember_source(const DropConfig *d);
bool output_source_in_place(const DropConfig *d);

/* Does d's output keep the stamps (user extended attributes)? Probed with
 * a file in its state folder; true when that cannot be told. */
bool output_keeps_stamps(const DropConfig *d);

/* Removes the temporaries a crash left under d's output (only thumbwatch's
 * own: naming_is_own_temporary()). Call before any worker starts. Returns
 * how many, or -errno. */
long output_clean_temporaries(const DropConfig *d);

/* As output_clean_temporaries(), but only the temporaries not modified for
 * min_age_sec seconds: for an output other processes may be writing to now
 * (a fleet's workers sharing it). */
long output_clean_old_temporaries(const DropConfig *d, unsigned min_age_sec);
