/* config-file.c - the config file, through inih, and the command-line overrides.
 * Every key is one row of config_keys[] below: its parser, printer, field,
 * limits and default. Parsing, printing and the lists of keys come from it.
 *
 * inih tells us the line of a syntax error but not the line of the key its
 * handler is called for; we feed it through our own line reader, which counts
 * lines, so every error names FILE:LINE. */
#include "build-config.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <ini.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "config-file.h"
#include "fleet-config.h"
#include "freedesktop.h"
#include "image-format.h"
#include "log.h"
#include "macro.h"
#include "message.h"
#include "naming.h"
#include "thumbnail.h"

#define QUEUE_SIZE_MAX 1000000
#define WORKERS_MAX 1024
#define TIMEOUT_MAX 86400
#define USEC_PER_SEC UINT64_C(1000000)
#define SIDE_MAX 1000000
#define PIXELS_MAX UINT64_C(1000000000000)
/* A smaller memory budget is a forgotten suffix ("max_memory = 512"): it
 * would not hold one 512x512 RGBA thumbnail. */
#define MEMORY_MIN (UINT64_C(1) << 20)
/* inih's line buffer; Debian's build lets us raise it so that long paths fit. */
#define LINE_MAX_CONFIG (PATH_MAX + 256)

/* The size modes, as "sizes = WxH:MODE" spells them. */
static const char *const size_modes[] = { [THUMBNAIL_FIT] = "fit", [THUMBNAIL_FILL] = "fill",
                                          [THUMBNAIL_PAD] = "pad" };

int config_parse_size(const char *s, ThumbSize *ret) {
        unsigned long w, h;
        char *end;

        if (*s < '0' || *s > '9')
                return -EINVAL;
        errno = 0;
        w = strtoul(s, &end, 10);
        if (errno || (*end != 'x' && *end != 'X') || end[1] < '0' || end[1] > '9')
                return -EINVAL;
        h = strtoul(end + 1, &end, 10);
        if (errno || (*end && *end != ':') || w == 0 || h == 0 || w > CONFIG_DIMENSION_MAX ||
            h > CONFIG_DIMENSION_MAX)
                return -EINVAL;
        ret->mode = THUMBNAIL_FIT;
        if (*end == ':') {
                size_t i;

                for (i = 0; i < ELEMENTSOF(size_modes); i++)
                        if (strcmp(end + 1, size_modes[i]) == 0)
                                break;
                if (i == ELEMENTSOF(size_modes))
                        return -EINVAL;
                ret->mode = (ThumbnailMode) i;
        }
        ret->width = (unsigned) w;
        ret->height = (unsigned) h;
        return 0;
}

/* A whole number with an optional unit from units (each a suffix and a
 * multiplier); the first unit is the default. */
typedef struct Unit {
        const char *suffix;
        uint64_t multiplier;
} Unit;

static int parse_with_unit(const char *s, const Unit *units, size_t n_units, uint64_t min, uint64_t max,
                           uint64_t *ret) {
        unsigned long long v;
        char *end;

        if (*s < '0' || *s > '9')
                return -EINVAL;
        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno)
                return -EINVAL;
        for (size_t i = 0; i < n_units; i++)
                if (strcasecmp(end, units[i].suffix) == 0 || (i == 0 && *end == '\0')) {
                        if (v > UINT64_MAX / units[i].multiplier)
                                return -EINVAL;
                        v *= units[i].multiplier;
                        if (v < min || v > max)
                                return -EINVAL;
                        *ret = v;
                        return 0;
                }
        return -EINVAL;
}

/* A whole number, nothing after it. */
static int parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *ret) {
        static const Unit units[] = { { "", 1 } };
        return parse_with_unit(s, units, ELEMENTSOF(units), min, max, ret);
}

/* Seconds ("30", "30s") or milliseconds ("500ms"), in microseconds. */
static int parse_duration(const char *s, uint64_t min, uint64_t max, uint64_t *ret) {
        static const Unit units[] = { { "s", USEC_PER_SEC }, { "ms", 1000 } };
        return parse_with_unit(s, units, ELEMENTSOF(units), min, max, ret);
}

/* Bytes, or with K, M or G (powers of 1024). */
static int parse_bytes(const char *s, uint64_t min, uint64_t max, uint64_t *ret) {
        static const Unit units[] = { { "", 1 }, { "K", 1ULL << 10 }, { "M", 1ULL << 20 }, { "G", 1ULL << 30 } };
        return parse_with_unit(s, units, ELEMENTSOF(units), min, max, ret);
}

static int parse_yes_no(const char *s, bool *ret) {
        static const char *const yes[] = { "yes", "true", "on", "1" }, *const no[] = { "no", "false", "off", "0" };

        for (size_t i = 0; i < ELEMENTSOF(yes); i++) {
                if (strcasecmp(s, yes[i]) == 0) {
                        *ret = true;
                        return 0;
                }
                if (strcasecmp(s, no[i]) == 0) {
                        *ret = false;
                        return 0;
                }
        }
        return -EINVAL;
}

/* The table of keys.
 *
 * One row per key, in the order config_print() prints them, as systemd's
 * gperf tables of config_parse_*() functions: the row says where the value
 * goes (an offset into ThumbwatchConfig or DropConfig, whose size the typed
 * parser and printer check), how it is read and printed, its limits, its
 * default, and what a bad value is told. Parsing, printing with provenance,
 * "unknown key" and "set twice" all come from here. */
typedef enum KeyFlags {
        KEY_AUTO = 1 << 0,              /* "auto" is 0, and 0 is printed as "auto" */
        KEY_REPEATABLE = 1 << 1,        /* may be given again; the values accumulate ("ignore") */
        KEY_CONTINUES = 1 << 2,         /* may continue on indented lines ("sizes") */
} KeyFlags;

typedef struct ConfigKey ConfigKey;

/* Sets the field k describes in base (a ThumbwatchConfig or a DropConfig)
 * from value; first is false for an indented continuation line. Returns 0,
 * -ENOMEM, or -EINVAL and maybe a static *reterr_reason (else k->expected). */
typedef int (*KeyParser)(const ConfigKey *k, void *base, const char *value, bool first, const char **reterr_reason);
/* Prints the field as " VALUE" (a list as " A B ..."). */
typedef void (*KeyPrinter)(const ConfigKey *k, const void *base, FILE *f);

struct ConfigKey {
        ConfigSection section;
        const char *name;
        KeyParser parse;
        KeyPrinter print;
        size_t offset;                  /* of the field in its section's struct */
        size_t size;                    /* of the field: what the parser and printer expect */
        size_t count_offset;            /* a list's element count, a size_t (sizes, ignore) */
        uint64_t min, max;              /* numeric limits, in the unit stored (microseconds for durations) */
        unsigned flags;                 /* KeyFlags */
        const char *default_value;      /* parsed by config_new() and drop_init(); NULL: none */
        const char *expected;           /* what a bad value is told */
};

/* The field k describes, checked against the type the parser or printer expects. */
#define FIELD(type, k, base) \
        (assert((k)->size == sizeof(type)), (type *) (void *) ((char *) (base) + (k)->offset))
#define CONST_FIELD(type, k, base) \
        (assert((k)->size == sizeof(type)), (type const *) (const void *) ((const char *) (base) + (k)->offset))
/* A list held in an array (sizes): its first element; count_offset locates
 * the number of elements in use. */
#define ARRAY(type, k, base) \
        (assert((k)->size % sizeof(type) == 0), (type *) (void *) ((char *) (base) + (k)->offset))
#define CONST_ARRAY(type, k, base) \
        (assert((k)->size % sizeof(type) == 0), (type const *) (const void *) ((const char *) (base) + (k)->offset))
#define COUNT(k, base) ((size_t *) (void *) ((char *) (base) + (k)->count_offset))
#define CONST_COUNT(k, base) ((const size_t *) (const void *) ((const char *) (base) + (k)->count_offset))

static bool is_auto(const ConfigKey *k, const char *value) {
        return (k->flags & KEY_AUTO) && strcmp(value, "auto") == 0;
}

static int parse_unsigned(const ConfigKey *k, void *base, const char *value, bool first _unused_,
                          const char **reterr_reason _unused_) {
        uint64_t v = 0;

        assert(k->max <= UINT_MAX);
        if (!is_auto(k, value) && parse_uint(value, k->min, k->max, &v) < 0)
                return -EINVAL;
        *FIELD(unsigned, k, base) = (unsigned) v;
        return 0;
}

static void print_unsigned(const ConfigKey *k, const void *base, FILE *f) {
        unsigned v = *CONST_FIELD(unsigned, k, base);

        if (v == 0 && (k->flags & KEY_AUTO))
                fprintf(f, " auto");
        else
                fprintf(f, " %u", v);
}

static int parse_size_t(const ConfigKey *k, void *base, const char *value, bool first _unused_,
                        const char **reterr_reason _unused_) {
        uint64_t v;

        if (parse_uint(value, k->min, k->max, &v) < 0)
                return -EINVAL;
        *FIELD(size_t, k, base) = (size_t) v;
        return 0;
}

static void print_size_t(const ConfigKey *k, const void *base, FILE *f) {
        fprintf(f, " %zu", *CONST_FIELD(size_t, k, base));
}

static int parse_uint64(const ConfigKey *k, void *base, const char *value, bool first _unused_,
                        const char **reterr_reason _unused_) {
        return parse_uint(value, k->min, k->max, FIELD(uint64_t, k, base));
}

/* Also prints a size in bytes: exactly, so that it reads back the same. */
static void print_uint64(const ConfigKey *k, const void *base, FILE *f) {
        uint64_t v = *CONST_FIELD(uint64_t, k, base);

        if (v == 0 && (k->flags & KEY_AUTO))
                fprintf(f, " auto");
        else
                fprintf(f, " %" PRIu64, v);
}

static int parse_byte_size(const ConfigKey *k, void *base, const char *value, bool first _unused_,
                           const char **reterr_reason _unused_) {
        uint64_t *p = FIELD(uint64_t, k, base);

        if (is_auto(k, value)) {
                *p = 0;
                return 0;
        }
        return parse_bytes(value, k->min, k->max, p);
}

static int parse_usec(const ConfigKey *k, void *base, const char *value, bool first _unused_,
                      const char **reterr_reason _unused_) {
        return parse_duration(value, k->min, k->max, FIELD(uint64_t, k, base));
}

static void print_usec(const ConfigKey *k, const void *base, FILE *f) {
        uint64_t usec = *CONST_FIELD(uint64_t, k, base);

        if (usec % USEC_PER_SEC == 0)
                fprintf(f, " %" PRIu64 "s", usec / USEC_PER_SEC);
        else
                fprintf(f, " %" PRIu64 "ms", usec / 1000);
}

/* A duration in whole seconds, stored as seconds (stop_timeout). */
static int parse_seconds(const ConfigKey *k, void *base, const char *value, bool first _unused_,
                         const char **reterr_reason _unused_) {
        uint64_t usec;

        if (parse_duration(value, k->min, k->max, &usec) < 0)
                return -EINVAL;
        *FIELD(unsigned, k, base) = (unsigned) (usec / USEC_PER_SEC);
        return 0;
}

static void print_seconds(const ConfigKey *k, const void *base, FILE *f) {
        fprintf(f, " %us", *CONST_FIELD(unsigned, k, base));
}

static int parse_log_level(const ConfigKey *k, void *base, const char *value, bool first _unused_,
                           const char **reterr_reason _unused_) {
        int r = log_level_from_string(value);

        if (r < 0)
                return -EINVAL;
        *FIELD(int, k, base) = r;
        return 0;
}

static void print_log_level(const ConfigKey *k, const void *base, FILE *f) {
        fprintf(f, " %s", log_level_to_string(*CONST_FIELD(int, k, base)));
}

static int parse_log_target(const ConfigKey *k, void *base, const char *value, bool first _unused_,
                            const char **reterr_reason _unused_) {
        int r = log_target_from_string(value);

        if (r < 0)
                return -EINVAL;
        *FIELD(int, k, base) = r;
        return 0;
}

static void print_log_target(const ConfigKey *k, const void *base, FILE *f) {
        fprintf(f, " %s", log_target_to_string((LogTarget) *CONST_FIELD(int, k, base)));
}

static int parse_bool(const ConfigKey *k, void *base, const char *value, bool first _unused_,
                      const char **reterr_reason _unused_) {
        return parse_yes_no(value, FIELD(bool, k, base));
}

static void print_bool(const ConfigKey *k, const void *base, FILE *f) {
        fprintf(f, " %s", *CONST_FIELD(bool, k, base) ? "yes" : "no");
}

static int parse_string(const ConfigKey *k, void *base, const char *value, bool first _unused_,
                        const char **reterr_reason _unused_) {
        char **p = FIELD(char *, k, base), *t = strdup(value);

        if (!t)
                return -ENOMEM;
        free(*p);
        *p = t;
        return 0;
}

/* A value as --check-config prints it: control characters as \xNN, so no
 * value or file name can forge a line or drive the terminal; everything
 * else as it is, so that the output loads back. */
static void print_text(FILE *f, const char *s) {
        (void) fputc(' ', f);
        for (const unsigned char *c = (const unsigned char *) s; *c; c++)
                if (*c < 0x20 || *c == 0x7f)
                        fprintf(f, "\\x%02x", *c);
                else
                        (void) fputc(*c, f);
}

static void print_string(const ConfigKey *k, const void *base, FILE *f) {
        const char *s = *CONST_FIELD(char *, k, base);

        print_text(f, s ? s : "");
}

/* An absolute path, normalized (source, output). */
static int parse_path(const ConfigKey *k, void *base, const char *value, bool first _unused_,
                      const char **reterr_reason _unused_) {
        char **p = FIELD(char *, k, base), *n;
        int r;

        r = naming_normalize_path(value, &n);
        if (r < 0)
                return r;
        free(*p);
        *p = n;
        return 0;
}

/* The decoders allowed: format names, replacing the default. */
static int parse_formats(const ConfigKey *k, void *base, const char *value, bool first _unused_,
                         const char **reterr_reason) {
        unsigned *formats = FIELD(unsigned, k, base);
        _cleanup_free_ char *copy = strdup(value);
        char *save = NULL;

        if (!copy)
                return -ENOMEM;
        *formats = 0;
        for (char *w = strtok_r(copy, " \t,", &save); w; w = strtok_r(NULL, " \t,", &save)) {
                const ImageFormat *f = image_format_from_name(w);

                if (!f)
                        return -EINVAL;
                *formats |= f->bit;
        }
        if (*formats == 0) {
                *reterr_reason = "expected at least one format";
                return -EINVAL;
        }
        return 0;
}

static void print_formats(const ConfigKey *k, const void *base, FILE *f) {
        unsigned formats = *CONST_FIELD(unsigned, k, base);
        const ImageFormat *format;

        for (size_t i = 0; (format = image_format_at(i)); i++)
                if (formats & format->bit)
                        fprintf(f, " %s", format->name);
}

/* The output format: "same" (0) or a format thumbnails can be written in. */
static int parse_output_format(const ConfigKey *k, void *base, const char *value, bool first _unused_,
                               const char **reterr_reason _unused_) {
        const ImageFormat *f = image_format_from_name(value);

        if (strcasecmp(value, "same") == 0)
                *FIELD(unsigned, k, base) = 0;
        else if (f && f->output)
                *FIELD(unsigned, k, base) = f->bit;
        else
                return -EINVAL;
        return 0;
}

static void print_output_format(const ConfigKey *k, const void *base, FILE *f) {
        const ImageFormat *format = image_format_from_bit(*CONST_FIELD(unsigned, k, base));

        fprintf(f, " %s", format ? format->name : "same");
}

/* The texts of the two format rows, made from the table of image formats
 * once, by the first key_set(). */
static char formats_all[256], formats_expected[512], output_expected[512];
static pthread_once_t format_texts_once = PTHREAD_ONCE_INIT;

static void format_texts_make(void) {
        char outputs[256];

        (void) image_format_list(IMAGE_FORMAT_LIST_NAMES, formats_all, sizeof formats_all);
        (void) snprintf(formats_expected, sizeof formats_expected, "expected formats from: %s", formats_all);
        (void) image_format_list(IMAGE_FORMAT_LIST_OUTPUTS, outputs, sizeof outputs);
        (void) snprintf(output_expected, sizeof output_expected, "expected same, %s", outputs);
}

static int parse_colour(const ConfigKey *k, void *base, const char *value, bool first _unused_,
                        const char **reterr_reason _unused_) {
        unsigned long rgb;
        char *end;

        if (value[0] != '#' || strlen(value) != 7)
                return -EINVAL;
        errno = 0;
        rgb = strtoul(value + 1, &end, 16);
        if (errno || *end)
                return -EINVAL;
        *FIELD(uint32_t, k, base) = (uint32_t) rgb;
        return 0;
}

static void print_colour(const ConfigKey *k, const void *base, FILE *f) {
        fprintf(f, " #%06x", (unsigned) *CONST_FIELD(uint32_t, k, base));
}

static const char *const follow_names[] = { [FOLLOW_NO] = "no", [FOLLOW_BENEATH] = "yes",
                                            [FOLLOW_ANYWHERE] = "anywhere" };

/* no, yes (and every other spelling of a boolean), or anywhere. */
static int parse_follow_symlinks(const ConfigKey *k, void *base, const char *value, bool first _unused_,
                                 const char **reterr_reason _unused_) {
        FollowSymlinks *p = FIELD(FollowSymlinks, k, base);
        bool yes;

        if (strcmp(value, "anywhere") == 0)
                *p = FOLLOW_ANYWHERE;
        else if (parse_yes_no(value, &yes) >= 0)
                *p = yes ? FOLLOW_BENEATH : FOLLOW_NO;
        else
                return -EINVAL;
        return 0;
}

static void print_follow_symlinks(const ConfigKey *k, const void *base, FILE *f) {
        fprintf(f, " %s", follow_names[*CONST_FIELD(FollowSymlinks, k, base)]);
}

/* parse_KIND() and print_KIND() for a field of enum type spelt as
 * names[] says, names[i] for the value i. */
#define NAMED_ENUM(kind, type, ...)                                                                     \
        static const char *const kind##_names[] = { __VA_ARGS__ };                                      \
        static int parse_##kind(const ConfigKey *k, void *base, const char *value, bool first _unused_, \
                                const char **reterr_reason _unused_) {                                \
                for (size_t i = 0; i < ELEMENTSOF(kind##_names); i++)                                  \
                        if (strcmp(value, kind##_names[i]) == 0) {                                     \
                                *FIELD(type, k, base) = (type) i;                                      \
                                return 0;                                                              \
                        }                                                                              \
                return -EINVAL;                                                                        \
        }                                                                                              \
        static void print_##kind(const ConfigKey *k, const void *base, FILE *f) {                       \
                fprintf(f, " %s", kind##_names[*CONST_FIELD(type, k, base)]);                          \
        }

NAMED_ENUM(color_mode, ThumbnailColour, [THUMBNAIL_COLOUR_SRGB] = "srgb", [THUMBNAIL_COLOUR_KEEP] = "keep")
NAMED_ENUM(watcher, WatcherMode, [WATCHER_INOTIFY] = "inotify", [WATCHER_FANOTIFY] = "fanotify")
NAMED_ENUM(layout, DropLayout, [LAYOUT_MIRROR] = "mirror", [LAYOUT_FREEDESKTOP] = "freedesktop")

/* Sizes, whitespace- or comma-separated: the first line replaces the list
 * (and the default), continuation lines add to it. */
static int parse_sizes(const ConfigKey *k, void *base, const char *value, bool first, const char **reterr_reason) {
        ThumbSize *sizes = ARRAY(ThumbSize, k, base);
        size_t *n = COUNT(k, base);
        _cleanup_free_ char *copy = strdup(value);
        char *save = NULL;

        if (!copy)
                return -ENOMEM;
        if (first)
                *n = 0;
        for (char *w = strtok_r(copy, " \t,", &save); w; w = strtok_r(NULL, " \t,", &save)) {
                if (*n >= CONFIG_SIZES_MAX) {
                        *reterr_reason = "too many sizes (at most " STRINGIFY(CONFIG_SIZES_MAX) ")";
                        return -EINVAL;
                }
                if (config_parse_size(w, &sizes[*n]) < 0)
                        return -EINVAL;
                for (size_t j = 0; j < *n; j++)
                        if (sizes[j].width == sizes[*n].width && sizes[j].height == sizes[*n].height) {
                                *reterr_reason = "the same WIDTHxHEIGHT twice (their thumbnails would have the same name)";
                                return -EINVAL;
                        }
                (*n)++;
        }
        if (*n == 0) {
                *reterr_reason = "expected at least one size";
                return -EINVAL;
        }
        return 0;
}

static void print_sizes(const ConfigKey *k, const void *base, FILE *f) {
        const ThumbSize *sizes = CONST_ARRAY(ThumbSize, k, base);
        size_t n = *CONST_COUNT(k, base);

        for (size_t i = 0; i < n; i++) {
                bool fit = sizes[i].mode == THUMBNAIL_FIT;   /* the default, not spelt out */

                fprintf(f, " %ux%u%s%s", sizes[i].width, sizes[i].height, fit ? "" : ":",
                        fit ? "" : size_modes[sizes[i].mode]);
        }
}

/* Globs, whitespace- or comma-separated, added to the list. */
static int parse_globs(const ConfigKey *k, void *base, const char *value, bool first _unused_,
                       const char **reterr_reason _unused_) {
        char ***globs = FIELD(char **, k, base);
        size_t *n = COUNT(k, base);
        _cleanup_free_ char *copy = strdup(value);
        char *save = NULL;

        if (!copy)
                return -ENOMEM;
        for (char *w = strtok_r(copy, " \t,", &save); w; w = strtok_r(NULL, " \t,", &save)) {
                char **a = realloc(*globs, (*n + 1) * sizeof *a);

                if (!a)
                        return -ENOMEM;
                *globs = a;
                a[*n] = strdup(w);
                if (!a[*n])
                        return -ENOMEM;
                (*n)++;
        }
        return 0;
}

static void print_globs(const ConfigKey *k, const void *base, FILE *f) {
        char *const *globs = *CONST_FIELD(char **, k, base);
        size_t n = *CONST_COUNT(k, base);

        for (size_t i = 0; i < n; i++)
                print_text(f, globs[i]);
}

/* The fleet's keys: their values are fleet-config.c's to judge. */
static int parse_queue(const ConfigKey *k, void *base, const char *value, bool first, const char **reterr_reason) {
        FleetQueue q;
        int r;

        r = fleet_queue_parse(value, &q, reterr_reason);
        if (r < 0)
                return r == -ENOMEM ? r : -EINVAL;
        fleet_queue_done(&q);
        return parse_string(k, base, value, first, reterr_reason);
}

static int parse_role(const ConfigKey *k, void *base, const char *value, bool first _unused_,
                      const char **reterr_reason _unused_) {
        int r = fleet_role_from_string(value);

        if (r < 0)
                return -EINVAL;
        *FIELD(unsigned, k, base) = (unsigned) r;
        return 0;
}

static void print_role(const ConfigKey *k, const void *base, FILE *f) {
        fprintf(f, " %s", fleet_role_to_string((FleetRole) *CONST_FIELD(unsigned, k, base)));
}

static int parse_queue_name(const ConfigKey *k, void *base, const char *value, bool first,
                            const char **reterr_reason) {
        if (fleet_queue_name_check(value, reterr_reason) < 0)
                return -EINVAL;
        return parse_string(k, base, value, first, reterr_reason);
}

/* An absolute path, or nothing (NULL). */
static int parse_optional_path(const ConfigKey *k, void *base, const char *value, bool first,
                               const char **reterr_reason) {
        char **p = FIELD(char *, k, base);

        if (value[0] == '\0') {
                free(*p);
                *p = NULL;
                return 0;
        }
        return parse_path(k, base, value, first, reterr_reason);
}

#define KEY(sect, type, key, parser, printer, member, lo, hi, fl, def, why)                            \
        {                                                                                               \
                .section = sect, .name = key, .parse = parser, .print = printer,                        \
                .offset = offsetof(type, member), .size = sizeof(((type *) NULL)->member), .min = lo,   \
                .max = hi, .flags = fl, .default_value = def, .expected = why,                          \
        }
#define GLOBAL(...) KEY(CONFIG_GLOBAL, ThumbwatchConfig, __VA_ARGS__)
#define DROP(...) KEY(CONFIG_DROP, DropConfig, __VA_ARGS__)
/* A list: the field is an array, count its number of elements. */
#define DROP_LIST(key, parser, printer, member, count, fl, def, why)                                    \
        {                                                                                               \
                .section = CONFIG_DROP, .name = key, .parse = parser, .print = printer,                 \
                .offset = offsetof(DropConfig, member), .size = sizeof(((DropConfig *) NULL)->member),  \
                .count_offset = offsetof(DropConfig, count), .flags = fl, .default_value = def,         \
                .expected = why,                                                                        \
        }
#define SEC(n) ((n) * USEC_PER_SEC)
#define COLOR_EXPECTED "expected srgb (convert an embedded ICC profile to sRGB) or keep (keep the profile as it is)"

static const ConfigKey config_keys[] = {
        GLOBAL("workers", parse_unsigned, print_unsigned, workers, 1, WORKERS_MAX, KEY_AUTO, "auto",
               "expected 'auto' or a whole number from 1 to " STRINGIFY(WORKERS_MAX)),
        GLOBAL("queue_size", parse_size_t, print_size_t, queue_size, 1, QUEUE_SIZE_MAX, 0, "256",
               "expected a whole number from 1 to " STRINGIFY(QUEUE_SIZE_MAX)),
        GLOBAL("log_level", parse_log_level, print_log_level, log_level, 0, 0, 0, "info",
               "expected err, warning, notice, info or debug"),
        GLOBAL("log_target", parse_log_target, print_log_target, log_target, 0, 0, 0, "auto",
               "expected auto, journal or stderr"),
        GLOBAL("stop_timeout", parse_seconds, print_seconds, stop_timeout, SEC(1), SEC(TIMEOUT_MAX), 0, "30s",
               "expected whole seconds from 1 to " STRINGIFY(TIMEOUT_MAX) ", like 30 or 30s"),
        GLOBAL("job_timeout", parse_usec, print_usec, job_timeout_usec, 1000, SEC(TIMEOUT_MAX), 0, "60s",
               "expected a duration up to " STRINGIFY(TIMEOUT_MAX) " s, like 60, 60s or 500ms"),
        GLOBAL("truncated_grace", parse_usec, print_usec, truncated_grace_usec, 0, SEC(TIMEOUT_MAX), 0, "60s",
               "expected a duration up to " STRINGIFY(TIMEOUT_MAX) " s, like 60, 60s or 500ms"),
        GLOBAL("max_file_size", parse_byte_size, print_uint64, max_file_size, 1, UINT64_MAX, 0, "256M",
               "expected a size in bytes, or with K, M or G, like 256M"),
        GLOBAL("max_pixels", parse_uint64, print_uint64, max_pixels, 1, PIXELS_MAX, 0, "100000000",
               "expected a whole number of pixels, like 100000000"),
        GLOBAL("max_width", parse_unsigned, print_unsigned, max_width, 1, SIDE_MAX, 0, "30000",
               "expected a whole number of pixels from 1 to " STRINGIFY(SIDE_MAX)),
        GLOBAL("max_height", parse_unsigned, print_unsigned, max_height, 1, SIDE_MAX, 0, "30000",
               "expected a whole number of pixels from 1 to " STRINGIFY(SIDE_MAX)),
        GLOBAL("max_memory", parse_byte_size, print_uint64, max_memory, MEMORY_MIN, UINT64_MAX, KEY_AUTO, "auto",
               "expected 'auto' or a size in bytes from 1M, or with K, M or G, like 2G"),
        GLOBAL("retry_io", parse_usec, print_usec, retry_io_usec, 0, SEC(TIMEOUT_MAX), 0, "10s",
               "expected a duration up to " STRINGIFY(TIMEOUT_MAX) " s, like 60, 60s or 500ms"),
        GLOBAL("rescan_unwatched", parse_usec, print_usec, rescan_unwatched_usec, SEC(1), SEC(TIMEOUT_MAX), 0, "30s",
               "expected a duration from 1 s to " STRINGIFY(TIMEOUT_MAX) " s, like 30 or 30s"),
        GLOBAL("watcher", parse_watcher, print_watcher, watcher, 0, 0, 0, "inotify",
               "expected inotify (a watch per folder) or fanotify (a mark per file system; needs CAP_SYS_ADMIN "
               "and CAP_DAC_READ_SEARCH)"),
        GLOBAL("color", parse_color_mode, print_color_mode, colour, 0, 0, 0, "srgb", COLOR_EXPECTED),
        GLOBAL("queue", parse_queue, print_string, queue, 0, 0, 0, "local", NULL),
        GLOBAL("role", parse_role, print_role, role, 0, 0, 0, "all", "expected all, watcher or worker"),
        GLOBAL("queue_name", parse_queue_name, print_string, queue_name, 0, 0, 0, "thumbwatch", NULL),
        GLOBAL("max_deliveries", parse_unsigned, print_unsigned, max_deliveries, 1, 1000, 0, "3",
               "expected a whole number from 1 to 1000"),
        GLOBAL("metrics_file", parse_optional_path, print_string, metrics_file, 0, 0, 0, NULL,
               "expected an absolute path, or nothing"),
        GLOBAL("queue_password_file", parse_optional_path, print_string, queue_password_file, 0, 0, 0, NULL,
               "expected an absolute path, or nothing"),

        DROP("source", parse_path, print_string, source, 0, 0, 0, NULL, "expected an absolute path"),
        DROP("output", parse_path, print_string, output, 0, 0, 0, NULL, "expected an absolute path"),
        DROP_LIST("sizes", parse_sizes, print_sizes, sizes, n_sizes, KEY_CONTINUES, "128x128",
                  "expected sizes as WIDTHxHEIGHT[:fit|:fill|:pad], each from 1 to " STRINGIFY(CONFIG_DIMENSION_MAX)),
        DROP("name", parse_string, print_string, name_template, 0, 0, 0, "{stem}_thumbnail{ext}", NULL),
        DROP("recursive", parse_bool, print_bool, recursive, 0, 0, 0, "yes", "expected yes or no"),
        DROP("delete_with_source", parse_bool, print_bool, delete_with_source, 0, 0, 0, "yes", "expected yes or no"),
        DROP("formats", parse_formats, print_formats, formats, 0, 0, 0, formats_all, formats_expected),
        DROP("strip", parse_bool, print_bool, strip, 0, 0, 0, "yes", "expected yes or no"),
        DROP("color", parse_color_mode, print_color_mode, colour, 0, 0, 0, "srgb", COLOR_EXPECTED),
        DROP("follow_symlinks", parse_follow_symlinks, print_follow_symlinks, follow_symlinks, 0, 0, 0, "no",
             "expected no, yes (targets inside the drop) or anywhere"),
        DROP("format", parse_output_format, print_output_format, output_format, 0, 0, 0, "same", output_expected),
        DROP("quality", parse_unsigned, print_unsigned, quality, 1, 100, 0, "85",
             "expected a whole number from 1 to 100"),
        DROP("background", parse_colour, print_colour, background, 0, 0, 0, "#ffffff", "expected a colour as #RRGGBB"),
        DROP("embedded_previews", parse_bool, print_bool, embedded_previews, 0, 0, 0, "no", "expected yes or no"),
        DROP("layout", parse_layout, print_layout, layout, 0, 0, 0, "mirror", "expected mirror or freedesktop"),
        DROP_LIST("ignore", parse_globs, print_globs, ignore, n_ignore, KEY_REPEATABLE, NULL, NULL),
};

_Static_assert(ELEMENTSOF(config_keys) <= CONFIG_KEYS_MAX, "CONFIG_KEYS_MAX is smaller than the table of keys");

const char *config_key(size_t i, ConfigSection *ret_section) {
        if (i >= ELEMENTSOF(config_keys))
                return NULL;
        if (ret_section)
                *ret_section = config_keys[i].section;
        return config_keys[i].name;
}

static const ConfigKey *key_find(ConfigSection section, const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(config_keys); i++)
                if (config_keys[i].section == section && strcmp(config_keys[i].name, name) == 0)
                        return &config_keys[i];
        return NULL;
}

/* Where k's line goes in a key_lines array. */
static size_t key_row(const ConfigKey *k) {
        return (size_t) (k - config_keys);
}

/* "unknown key (known in [thumbwatch]: workers, ...)"; caller frees; NULL when out of memory. */
static char *unknown_key_reason(ConfigSection section) {
        char *buf = NULL;
        size_t size = 0;
        const char *sep = " ";
        FILE *f = open_memstream(&buf, &size);

        if (!f)
                return NULL;
        fprintf(f, "unknown key (known in %s:", section == CONFIG_GLOBAL ? "[thumbwatch]" : "[drop:NAME]");
        for (size_t i = 0; i < ELEMENTSOF(config_keys); i++)
                if (config_keys[i].section == section) {
                        fprintf(f, "%s%s", sep, config_keys[i].name);
                        sep = ", ";
                }
        fputc(')', f);
        if (fclose(f) != 0) {
                free(buf);
                return NULL;
        }
        return buf;
}

/* Sets the key of base, as the file would; *reterr_reason is static. */
static int key_set(const ConfigKey *k, void *base, const char *value, bool first, const char **reterr_reason) {
        const char *reason = NULL;
        int r;

        (void) pthread_once(&format_texts_once, format_texts_make);
        r = k->parse(k, base, value, first, &reason);
        if (r < 0 && r != -ENOMEM)
                *reterr_reason = reason ? reason : k->expected ? k->expected : "invalid";
        return r;
}

/* Every key of the section to its default. Returns 0 or -ENOMEM. */
static int keys_set_defaults(ConfigSection section, void *base) {
        for (size_t i = 0; i < ELEMENTSOF(config_keys); i++) {
                const ConfigKey *k = &config_keys[i];
                const char *reason = NULL;
                int r;

                if (k->section != section || !k->default_value)
                        continue;
                r = key_set(k, base, k->default_value, true, &reason);
                if (r == -ENOMEM)
                        return r;
                assert(r == 0);         /* the table's defaults are valid */
        }
        return 0;
}

/* Makes a command-line path absolute against the current directory. */
static int absolute_path(const char *path, char **ret) {
        _cleanup_free_ char *joined = NULL, *cwd = NULL;

        if (path[0] == '/')
                return naming_normalize_path(path, ret);
        cwd = getcwd(NULL, 0);
        if (!cwd)
                return -errno;
        if (asprintf(&joined, "%s/%s", cwd, path) < 0)
                return -ENOMEM;
        return naming_normalize_path(joined, ret);
}

static void drop_done(DropConfig *d) {
        free(d->name);
        free(d->source);
        free(d->output);
        free(d->name_template);
        for (size_t i = 0; i < d->n_ignore; i++)
                free(d->ignore[i]);
        free(d->ignore);
        *d = (DropConfig) {};
}

static int drop_init(DropConfig *d, const char *name, unsigned line) {
        int r;

        *d = (DropConfig) { .line = line };
        d->name = strdup(name);
        r = d->name ? keys_set_defaults(CONFIG_DROP, d) : -ENOMEM;
        if (r < 0)
                drop_done(d);
        return r;
}

int config_new(ThumbwatchConfig **ret) {
        ThumbwatchConfig *c = calloc(1, sizeof *c);
        int r;

        if (!c)
                return -ENOMEM;
        c->n_ref = 1;
        r = keys_set_defaults(CONFIG_GLOBAL, c);
        if (r < 0) {
                free(c);
                return r;
        }
        *ret = c;
        return 0;
}

ThumbwatchConfig *config_ref(ThumbwatchConfig *c) {
        __atomic_add_fetch(&c->n_ref, 1, __ATOMIC_RELAXED);
        return c;
}

ThumbwatchConfig *config_unref(ThumbwatchConfig *c) {
        if (c && __atomic_sub_fetch(&c->n_ref, 1, __ATOMIC_ACQ_REL) == 0)
                config_free(c);
        return NULL;
}

ThumbwatchConfig *config_free(ThumbwatchConfig *c) {
        if (!c)
                return NULL;
        for (size_t i = 0; i < c->n_drops; i++)
                drop_done(&c->drops[i]);
        free(c->drops);
        free(c->path);
        free(c->queue);
        free(c->queue_name);
        free(c->metrics_file);
        free(c->queue_password_file);
        free(c);
        return NULL;
}

/* A drop's color, unless the drop sets it, is [thumbwatch]'s: wherever
 * either was set (the file's order, the command line). */
static void drops_inherit(ThumbwatchConfig *c) {
        size_t row = key_row(key_find(CONFIG_DROP, "color"));

        for (size_t i = 0; i < c->n_drops; i++)
                if (c->drops[i].key_lines[row] == 0)
                        c->drops[i].colour = c->colour;
}

int config_set_global(ThumbwatchConfig *c, const char *key, const char *value, char **reterr_message) {
        const ConfigKey *k = key_find(CONFIG_GLOBAL, key);
        const char *reason = NULL;
        int r;

        if (!k) {
                _cleanup_free_ char *known = unknown_key_reason(CONFIG_GLOBAL);
                return message_set(reterr_message, -EINVAL, "%s '%s': %s", key, value, known ? known : "unknown key");
        }
        r = key_set(k, c, value, true, &reason);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return message_set(reterr_message, -EINVAL, "%s '%s': %s", key, value, reason);
        c->key_lines[key_row(k)] = CONFIG_LINE_COMMAND_LINE;
        drops_inherit(c);
        return 0;
}

typedef struct Parser {
        ThumbwatchConfig *config;
        const char *path;
        FILE *file;
        unsigned line;                  /* of the line inih is handling */
        unsigned error_line;            /* of the first error we found, 0 if none */
        char *error;                    /* owned: its message */
        bool continuation;              /* the line is indented: it continues the previous value */
        unsigned section_line;          /* of the last [section] header */
} Parser;

static void parser_error(Parser *p, unsigned line, const char *format, ...) _printf_(3, 4);
static void parser_error(Parser *p, unsigned line, const char *format, ...) {
        _cleanup_free_ char *msg = NULL;
        va_list ap;

        if (p->error)
                return;         /* report the first error; the rest often follow from it */
        va_start(ap, format);
        msg = message_va(format, ap);
        va_end(ap);
        if (asprintf(&p->error, "%s:%u: %s", p->path, line, msg ? msg : "out of memory") < 0)
                p->error = NULL;
        p->error_line = line;
}

static char *reader(char *str, int num, void *stream) {
        Parser *p = stream;
        char *s = fgets(str, num, p->file);
        size_t l;

        if (!s)
                return NULL;
        p->line++;
        p->continuation = s[0] == ' ' || s[0] == '\t';
        if (s[strspn(s, " \t")] == '[')
                p->section_line = p->line;
        l = strlen(s);
        if (l > 0 && s[l - 1] != '\n' && !feof(p->file)) {
                int ch;

                parser_error(p, p->line, "line longer than %d characters", num - 3);
                while ((ch = fgetc(p->file)) != EOF && ch != '\n')
                        ;
                s[0] = '\0';
        }
        return s;
}

static DropConfig *find_drop(ThumbwatchConfig *c, const char *name) {
        for (size_t i = 0; i < c->n_drops; i++)
                if (strcmp(c->drops[i].name, name) == 0)
                        return &c->drops[i];
        return NULL;
}

static bool valid_drop_name(const char *name) {
        return name[0] && strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") == strlen(name);
}

/* The drop of a [drop:NAME] section, added on its first key. NULL after an error. */
static DropConfig *parser_drop(Parser *p, const char *section) {
        ThumbwatchConfig *c = p->config;
        const char *name = section + strlen("drop:");
        DropConfig *d, *a;

        if (!valid_drop_name(name)) {
                parser_error(p, p->line, "[%s]: drop names may use only letters, digits, '_', '.' and '-'", section);
                return NULL;
        }
        d = find_drop(c, name);
        if (d)
                return d;
        a = realloc(c->drops, (c->n_drops + 1) * sizeof *a);
        if (!a) {
                parser_error(p, p->line, "out of memory");
                return NULL;
        }
        c->drops = a;
        d = &a[c->n_drops];
        if (drop_init(d, name, p->section_line) < 0) {
                parser_error(p, p->line, "out of memory");
                return NULL;
        }
        c->n_drops++;
        return d;
}

/* The struct a section's keys go in (the config or a drop), its section in
 * the table and its key_lines. Returns 0, or -EINVAL after an error. */
static int parser_section(Parser *p, const char *section, const char *key, ConfigSection *ret_section,
                          void **ret_base, unsigned **ret_lines) {
        if (strcmp(section, "thumbwatch") == 0) {
                *ret_section = CONFIG_GLOBAL;
                *ret_base = p->config;
                *ret_lines = p->config->key_lines;
                return 0;
        }
        if (strncmp(section, "drop:", strlen("drop:")) == 0) {
                DropConfig *d = parser_drop(p, section);

                if (!d)
                        return -EINVAL;
                *ret_section = CONFIG_DROP;
                *ret_base = d;
                *ret_lines = d->key_lines;
                return 0;
        }
        if (section[0] == '\0')
                parser_error(p, p->line, "%s: key outside any section (expected [thumbwatch] or [drop:NAME] first)", key);
        else
                parser_error(p, p->line, "[%s]: unknown section (expected [thumbwatch] or [drop:NAME])", section);
        return -EINVAL;
}

/* Called by inih for each key = value, and again with the same key for an
 * indented continuation line. Returns 1, or 0 after an error. */
static int handler(void *user, const char *section, const char *key, const char *value) {
        Parser *p = user;
        bool first = !p->continuation;
        const ConfigKey *k;
        const char *reason = NULL;
        ConfigSection s;
        unsigned *lines;
        void *base;
        int r;

        if (parser_section(p, section, key, &s, &base, &lines) < 0)
                return 0;
        k = key_find(s, key);
        if (!k) {
                _cleanup_free_ char *known = unknown_key_reason(s);

                parser_error(p, p->line, "[%s] %s '%s': %s", section, key, value, known ? known : "unknown key");
                return 0;
        }
        if (lines[key_row(k)] != 0 && !(k->flags & KEY_REPEATABLE) && (first || !(k->flags & KEY_CONTINUES))) {
                parser_error(p, p->line, "[%s] %s: set twice", section, key);
                return 0;
        }
        if (first)
                lines[key_row(k)] = p->line;    /* a continued key's line is its first */
        r = key_set(k, base, value, first, &reason);
        if (r == -ENOMEM)
                parser_error(p, p->line, "out of memory");
        else if (r < 0)
                parser_error(p, p->line, "[%s] %s '%s': %s", section, key, value, reason);
        return r < 0 ? 0 : 1;
}

size_t config_workers(const ThumbwatchConfig *c) {
        long n;

        if (c->workers > 0)
                return c->workers;
        n = sysconf(_SC_NPROCESSORS_ONLN);
        return n > 0 ? (size_t) n : 1;
}

int config_load(ThumbwatchConfig *c, const char *path, char **reterr_message) {
        Parser p = { .config = c, .path = path };
        int r;

        p.file = fopen(path, "re");
        if (!p.file) {
                r = -errno;
                return message_set(reterr_message, r, "%s: cannot read the config file: %s", path, strerror(-r));
        }
#if HAVE_DECL_INI_MAX_LINE
        ini_use_stack = false;
        ini_max_line = LINE_MAX_CONFIG;
#endif
        r = ini_parse_stream(reader, &p, handler, &p);
        (void) fclose(p.file);

        if (r > 0 && (!p.error || (unsigned) r < p.error_line)) {
                free(p.error);
                p.error = NULL;
                parser_error(&p, (unsigned) r, "syntax error: expected [section], key = value, or a comment");
        } else if (r < 0 && !p.error)
                (void) asprintf(&p.error, "%s: out of memory", path);
        if (p.error) {
                *reterr_message = p.error;
                return -EINVAL;
        }

        drops_inherit(c);
        free(c->path);
        c->path = strdup(path);
        return c->path ? 0 : -ENOMEM;
}

int config_set_single_drop(ThumbwatchConfig *c, const char *source, const char *output, char **reterr_message) {
        DropConfig d;
        int r;

        r = drop_init(&d, "command-line", 0);
        if (r < 0)
                return r;
        r = absolute_path(source, &d.source);
        if (r >= 0)
                r = absolute_path(output, &d.output);
        if (r < 0) {
                drop_done(&d);
                return message_set(reterr_message, -EINVAL, "cannot make '%s' or '%s' an absolute path: %s", source,
                                   output, strerror(-r));
        }
        d.key_lines[key_row(key_find(CONFIG_DROP, "source"))] = CONFIG_LINE_COMMAND_LINE;
        d.key_lines[key_row(key_find(CONFIG_DROP, "output"))] = CONFIG_LINE_COMMAND_LINE;
        for (size_t i = 0; i < c->n_drops; i++)
                drop_done(&c->drops[i]);
        free(c->drops);
        c->drops = malloc(sizeof *c->drops);
        if (!c->drops) {
                c->n_drops = 0;
                drop_done(&d);
                return -ENOMEM;
        }
        c->drops[0] = d;
        c->n_drops = 1;
        drops_inherit(c);
        return 0;
}

void config_drop_where(const ThumbwatchConfig *c, const DropConfig *d, char *buf, size_t size) {
        if (d->line > 0)
                (void) snprintf(buf, size, "%s:%u: [drop:%s]", c->path ? c->path : "-", d->line, d->name);
        else
                (void) snprintf(buf, size, "command line");
}

/* A template must give each size its own name, or the thumbnails of one
 * source overwrite each other: "{stem}_{width}{ext}" names both 128x128 and
 * 128x32 "x_128.jpg". Checked on a sample source name, with the extension
 * thumbnails get in the drop's output format. */
static int validate_names(const DropConfig *d, const char *where, char **reterr_message) {
        static const char sample[] = "x.jpg";
        const char *ext = d->output_format ? image_format_extension(d->output_format) : NULL;
        char *names[CONFIG_SIZES_MAX] = {};
        int r = 0;

        for (size_t i = 0; i < d->n_sizes && r == 0; i++) {
                r = naming_expand_ext(d->name_template, sample, ext, d->sizes[i].width, d->sizes[i].height, &names[i]);
                for (size_t j = 0; j < i && r == 0; j++)
                        if (strcmp(names[i], names[j]) == 0)
                                r = message_set(reterr_message, -EINVAL,
                                                "%s: name '%s' gives the sizes %ux%u and %ux%u the same name ('%s' "
                                                "for '%s'); use {size}, or {width} and {height}", where,
                                                d->name_template, d->sizes[j].width, d->sizes[j].height,
                                                d->sizes[i].width, d->sizes[i].height, names[i], sample);
        }
        for (size_t i = 0; i < d->n_sizes; i++)
                free(names[i]);
        return r;
}

/* What one drop's own keys must agree on. */
static int validate_drop(const DropConfig *d, const char *where, char **reterr_message) {
        const char *reason;

        if (strcmp(d->source, d->output) == 0)
                return message_set(reterr_message, -EINVAL,
                                   "%s: output '%s' is the source itself; use a separate folder", where, d->output);
        /* layout = freedesktop names thumbnails by the standard, not by the template. */
        if (d->layout == LAYOUT_MIRROR) {
                if (naming_check_template(d->name_template, d->n_sizes > 1, &reason) < 0)
                        return message_set(reterr_message, -EINVAL, "%s: name '%s': %s", where, d->name_template,
                                           reason);
                return validate_names(d, where, reterr_message);
        }
        for (size_t j = 0; j < d->n_sizes; j++)
                if (d->sizes[j].width != d->sizes[j].height || d->sizes[j].mode != THUMBNAIL_FIT ||
                    !freedesktop_flavour(d->sizes[j].width))
                        return message_set(reterr_message, -EINVAL,
                                           "%s: layout = freedesktop takes the sizes 128x128 (normal), 256x256 (large), "
                                           "512x512 (x-large) and 1024x1024 (xx-large), not %ux%u%s", where,
                                           d->sizes[j].width, d->sizes[j].height,
                                           d->sizes[j].mode != THUMBNAIL_FIT ? " with a mode" : "");
        if (d->output_format != 0 && d->output_format != THUMBNAIL_PNG)
                return message_set(reterr_message, -EINVAL,
                                   "%s: layout = freedesktop writes PNG: format must be same or png", where);
        return 0;
}

/* What drop d must not share with drop e (e may be d itself). An output
 * inside a source is fine, its own or another's: the scanner skips every
 * drop's output. Two outputs that are one folder, or one inside the other,
 * are not: the drops' thumbnails would overwrite each other, and --gc of one
 * drop would take the other's for orphans. */
static int validate_pair(const DropConfig *d, const DropConfig *e, const char *where, char **reterr_message) {
#define NOT_SHARED "; the thumbnails of the two drops would overwrite each other and --gc would delete the other " \
                   "drop's: give each drop a folder of its own"
        if (d != e && naming_path_is_under(d->source, e->source))
                return message_set(reterr_message, -EINVAL,
                                   "%s: source '%s' is inside the source of [drop:%s]; drops must not overlap", where,
                                   d->source, e->name);
        if (naming_path_is_under(e->source, d->output))
                return message_set(reterr_message, -EINVAL, "%s: output '%s' contains the source '%s' of [drop:%s]",
                                   where, d->output, e->source, e->name);
        if (d == e)
                return 0;
        /* A freedesktop cache is shared by design (every program's
         * thumbnails, named by their sources' URIs): several drops may
         * write one, and each prunes only its own sources' thumbnails. */
        if (strcmp(d->output, e->output) == 0 && d->layout == LAYOUT_FREEDESKTOP && e->layout == LAYOUT_FREEDESKTOP)
                return 0;
        if (strcmp(d->output, e->output) == 0)
                return message_set(reterr_message, -EINVAL, "%s: output '%s' is also the output of [drop:%s] (line %u)"
                                   NOT_SHARED, where, d->output, e->name, e->line);
        if (naming_path_is_under(d->output, e->output) || naming_path_is_under(e->output, d->output))
                return message_set(reterr_message, -EINVAL, "%s: output '%s' %s the output '%s' of [drop:%s] (line %u)"
                                   NOT_SHARED, where, d->output,
                                   naming_path_is_under(d->output, e->output) ? "is inside" : "contains", e->output,
                                   e->name, e->line);
        return 0;
#undef NOT_SHARED
}

int config_validate(const ThumbwatchConfig *c, char **reterr_message) {
        char where[CONFIG_DROP_WHERE_MAX];
        int r;

        if (c->n_drops == 0)
                return message_set(reterr_message, -EINVAL, "%s: no [drop:NAME] section: nothing to watch",
                                   c->path ? c->path : "config");
        /* Every drop's own keys first: the comparisons below need every source and output. */
        for (size_t i = 0; i < c->n_drops; i++) {
                const DropConfig *d = &c->drops[i];

                config_drop_where(c, d, where, sizeof where);
                if (!d->source)
                        return message_set(reterr_message, -EINVAL, "%s: 'source' is missing", where);
                if (!d->output)
                        return message_set(reterr_message, -EINVAL, "%s: 'output' is missing", where);
        }
        if (c->role != FLEET_ROLE_ALL && !fleet_queue_is_redis(c->queue)) {
                unsigned line = c->key_lines[key_row(key_find(CONFIG_GLOBAL, "role"))];

                if (line == CONFIG_LINE_COMMAND_LINE)
                        return message_set(reterr_message, -EINVAL, "--role %s: needs a Redis queue (queue = "
                                           "redis://HOST[:PORT] or unix:///PATH in [thumbwatch])",
                                           fleet_role_to_string((FleetRole) c->role));
                return message_set(reterr_message, -EINVAL, "%s:%u: [thumbwatch] role '%s': needs a Redis queue "
                                   "(queue = redis://HOST[:PORT] or unix:///PATH)", c->path ? c->path : "config",
                                   line, fleet_role_to_string((FleetRole) c->role));
        }
        for (size_t i = 0; i < c->n_drops; i++) {
                config_drop_where(c, &c->drops[i], where, sizeof where);
                r = validate_drop(&c->drops[i], where, reterr_message);
                for (size_t j = 0; j < c->n_drops && r == 0; j++)
                        r = validate_pair(&c->drops[i], &c->drops[j], where, reterr_message);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* " ; FILE:LINE", " ; default" or " ; command line" after a key. */
static void origin(const ThumbwatchConfig *c, unsigned line, FILE *f) {
        if (line == CONFIG_LINE_COMMAND_LINE)
                fprintf(f, "    ; command line\n");
        else if (line == 0)
                fprintf(f, "    ; default\n");
        else {
                fprintf(f, "    ;");
                print_text(f, c->path ? c->path : "-");
                fprintf(f, ":%u\n", line);
        }
}

/* Every key of a section, in the table's order, with where its value came from. */
static void print_section(const ThumbwatchConfig *c, ConfigSection section, const void *base, const unsigned *lines,
                          FILE *f) {
        for (size_t i = 0; i < ELEMENTSOF(config_keys); i++) {
                const ConfigKey *k = &config_keys[i];

                if (k->section != section)
                        continue;
                fprintf(f, "%s =", k->name);
                k->print(k, base, f);
                /* A drop's color that it does not set is [thumbwatch]'s. */
                if (section == CONFIG_DROP && lines[i] == 0 && strcmp(k->name, "color") == 0 &&
                    c->key_lines[key_row(key_find(CONFIG_GLOBAL, "color"))] != 0)
                        fprintf(f, "    ; [thumbwatch]\n");
                else
                        origin(c, lines[i], f);
        }
}

void config_print(const ThumbwatchConfig *c, FILE *f) {
        fprintf(f, "[thumbwatch]\n");
        print_section(c, CONFIG_GLOBAL, c, c->key_lines, f);
        for (size_t i = 0; i < c->n_drops; i++) {
                fprintf(f, "\n[drop:%s]\n", c->drops[i].name);
                print_section(c, CONFIG_DROP, &c->drops[i], c->drops[i].key_lines, f);
        }
}

const DropConfig *config_find_drop(const ThumbwatchConfig *c, const char *path) {
        /* Sources never overlap (config_validate()), so the first match is the only one. */
        for (size_t i = 0; i < c->n_drops; i++)
                if (naming_path_is_under(path, c->drops[i].source))
                        return &c->drops[i];
        return NULL;
}
