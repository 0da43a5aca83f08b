/* config-file.h - ThumbwatchConfig from the INI file (parsed by inih) and the command
 * line. Immutable after config_load()/config_validate(); no logging here: every
 * error comes back as a message for the caller to print. */
#pragma once

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "thumbnail.h"

#define CONFIG_SIZES_MAX THUMBNAIL_TARGETS_MAX
/* At least the number of keys in config-file.c's table (checked there): the
 * size of the key_lines arrays, which are indexed by the table's rows. */
#define CONFIG_KEYS_MAX 40
/* Where a key's value came from: 0 its default, a line of the file, or this. */
#define CONFIG_LINE_COMMAND_LINE (~0U)
/* The largest thumbnail side. No suffix: messages spell it with STRINGIFY(). */
#define CONFIG_DIMENSION_MAX 8192

/* The sections of the file: [thumbwatch], and [drop:NAME] once per drop. */
typedef enum ConfigSection {
        CONFIG_GLOBAL,
        CONFIG_DROP,
} ConfigSection;

typedef struct ThumbSize {
        unsigned width, height;
        ThumbnailMode mode;             /* ":fit" (default), ":fill" or ":pad" after the size */
} ThumbSize;

typedef enum DropLayout {
        LAYOUT_MIRROR,                  /* OUTPUT mirrors SOURCE's folders, names from the template */
        LAYOUT_FREEDESKTOP,             /* OUTPUT/normal/MD5.png ...: the Thumbnail Managing Standard */
} DropLayout;

/* watcher: how the drops are watched. */
typedef enum WatcherMode {
        WATCHER_INOTIFY,                /* a watch per folder (libinotifytools) */
        WATCHER_FANOTIFY,               /* a mark per file system (fanotify-source.h) */
} WatcherMode;

typedef enum FollowSymlinks {
        FOLLOW_NO,                      /* symlinks in the source are left alone */
        FOLLOW_BENEATH,                 /* "yes": a symlink to a file is followed if its target is in the drop */
        FOLLOW_ANYWHERE,                /* "anywhere": wherever its target is */
} FollowSymlinks;

typedef struct DropConfig {
        char *name;                     /* the NAME of [drop:NAME] */
        char *source;                   /* absolute, normalized, no trailing slash */
        char *output;                   /* likewise */
        ThumbSize sizes[CONFIG_SIZES_MAX];
        size_t n_sizes;
        char *name_template;            /* "{stem}_thumbnail{ext}" */
        bool recursive;
        bool delete_with_source;        /* a source deleted or moved out takes its thumbnails along */
        unsigned formats;               /* THUMBNAIL_* bits: the decoders allowed */
        bool strip;                     /* drop metadata from thumbnails */
        ThumbnailColour colour;         /* color: an embedded ICC profile converted to sRGB or kept;
                                         * unset in the drop: [thumbwatch]'s */
        unsigned output_format;         /* THUMBNAIL_JPEG, _PNG, _WEBP; 0: the source's */
        unsigned quality;               /* 1-100, JPEG and WebP */
        uint32_t background;            /* 0xRRGGBB, for alpha written as JPEG */
        FollowSymlinks follow_symlinks; /* symlinks to files are thumbnailed as their targets */
        bool embedded_previews;         /* a JPEG's EXIF thumbnail may stand in for its decode */
        DropLayout layout;
        char **ignore;                  /* fnmatch(3) globs on base names */
        size_t n_ignore;
        unsigned line;                  /* of its [drop:NAME] header; 0 from the command line */
        unsigned key_lines[CONFIG_KEYS_MAX]; /* where each key was set (see CONFIG_LINE_*), by table row */
} DropConfig;

typedef struct ThumbwatchConfig {
        unsigned n_ref;                 /* config_ref()/config_unref(); atomic */
        char *path;                     /* the file it came from, or NULL */
        unsigned workers;               /* 0: one per online CPU */
        size_t queue_size;
        int log_level;                  /* syslog level */
        int log_target;                 /* LogTarget */
        unsigned stop_timeout;          /* seconds the workers get to drain the queue on stop */
        uint64_t job_timeout_usec;      /* one file longer than this is abandoned */
        uint64_t truncated_grace_usec;  /* a truncated file younger than this may still be arriving */
        uint64_t retry_io_usec;         /* an io failure is tried again after this; 0: never */
        uint64_t rescan_unwatched_usec; /* folders past the inotify watch limit are rescanned this often */
        WatcherMode watcher;
        uint64_t max_file_size;         /* bytes */
        uint64_t max_pixels;
        unsigned max_width, max_height;
        uint64_t max_memory;            /* bytes, the budget of all decodes together; 0: auto */
        ThumbnailColour colour;         /* color: every drop's, unless the drop sets its own */
        /* The fleet (fleet-config.h says what each means). */
        char *queue;                    /* "local", "redis://HOST[:PORT]" or "unix:///PATH" */
        unsigned role;                  /* FleetRole */
        char *queue_name;               /* prefix of the Redis keys */
        unsigned max_deliveries;        /* deliveries without an ack before the dead letters */
        char *metrics_file;             /* NULL: none */
        char *queue_password_file;      /* NULL: none */
        DropConfig *drops;
        size_t n_drops;
        unsigned key_lines[CONFIG_KEYS_MAX]; /* where each [thumbwatch] key was set, by table row */
} ThumbwatchConfig;

/* A config with every default and no drop. Returns 0 or -ENOMEM. */
int config_new(ThumbwatchConfig **ret);
ThumbwatchConfig *config_free(ThumbwatchConfig *c);    /* NULL-safe; returns NULL; ignores references */

/* A config is shared read-only between threads by reference: config_new()
 * returns one reference, config_unref() frees it with the last. Thread-safe. */
ThumbwatchConfig *config_ref(ThumbwatchConfig *c);
ThumbwatchConfig *config_unref(ThumbwatchConfig *c);   /* NULL-safe; returns NULL */

/* Reads path into c, on top of what c holds. On failure returns -errno and sets
 * *reterr_message (caller owns it) to "FILE:LINE: ...": the first error found. */
int config_load(ThumbwatchConfig *c, const char *path, char **reterr_message);

/* Sets one [thumbwatch] key, as the file would (for command-line overrides).
 * Returns 0 or -EINVAL with *reterr_message (caller owns it). */
int config_set_global(ThumbwatchConfig *c, const char *key, const char *value, char **reterr_message);

/* Replaces every drop with one for source and output (relative paths are taken
 * from the current directory). Returns 0, -ENOMEM, or -EINVAL with a message. */
int config_set_single_drop(ThumbwatchConfig *c, const char *source, const char *output, char **reterr_message);

/* Checks what each key alone cannot: every drop has a source and an output;
 * no source overlaps another; no output contains a source; no two outputs
 * are one folder or one inside the other (an output inside a source is fine:
 * the scanner skips every output); a template has the tokens it needs and
 * gives each size its own name; layout = freedesktop has its sizes and PNG.
 * Returns 0 or -EINVAL with *reterr_message (caller owns it). */
int config_validate(const ThumbwatchConfig *c, char **reterr_message);

/* Where drop d is, for messages about it as a whole: "FILE:LINE: [drop:NAME]"
 * for a drop of the file, "command line" for the drop of SRC OUT. Messages
 * put ": " after it. Truncated to size (CONFIG_DROP_WHERE_MAX holds it all). */
#define CONFIG_DROP_WHERE_MAX (PATH_MAX + 300)
void config_drop_where(const ThumbwatchConfig *c, const DropConfig *d, char *buf, size_t size);

/* The effective config, as an INI file that config_load() accepts; each key
 * is followed by a comment saying where its value came from. */
void config_print(const ThumbwatchConfig *c, FILE *f);

/* The worker threads c asks for: workers, or for `workers = auto` (0) one per
 * online CPU, at least 1. */
size_t config_workers(const ThumbwatchConfig *c);

/* The name and section of the i-th key config_load() knows, in the order
 * config_print() prints them; NULL past the last. For tests and tools. */
const char *config_key(size_t i, ConfigSection *ret_section);

/* The drop whose source tree holds path (absolute, normalized), or NULL. */
const DropConfig *config_find_drop(const ThumbwatchConfig *c, const char *path);

/* Parses "WxH" into a size; returns 0 or -EINVAL. */
int config_parse_size(const char *s, ThumbSize *ret);
