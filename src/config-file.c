/* config-file.c - the config file, through inih, and the command-line overrides.
 *
 * inih tells us the line of a syntax error but not the line of the key its
 * handler is called for; we feed it through our own line reader, which counts
 * lines, so every error names FILE:LINE. */
#include "build-config.h"

#include <errno.h>
#include <inttypes.h>
#include <ini.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "config-file.h"
#include "freedesktop.h"
#include "log.h"
#include "macro.h"
#include "naming.h"
#include "thumbnail.h"

#define DEFAULT_QUEUE_SIZE 256
#define DEFAULT_NAME_TEMPLATE "{stem}_thumbnail{ext}"
#define QUEUE_SIZE_MAX 1000000
#define WORKERS_MAX 1024
#define DEFAULT_STOP_TIMEOUT 30
#define DEFAULT_JOB_TIMEOUT_USEC (60 * 1000000ULL)
#define DEFAULT_TRUNCATED_GRACE_USEC (60 * 1000000ULL)
#define DEFAULT_MAX_FILE_SIZE (256ULL << 20)
#define DEFAULT_MAX_PIXELS 100000000ULL
#define DEFAULT_MAX_SIDE 30000U
#define TIMEOUT_MAX 86400
/* inih's line buffer; Debian's build lets us raise it so that long paths fit. */
#define LINE_MAX_CONFIG (PATH_MAX + 256)

static const char *const global_keys[CONFIG_GLOBAL_KEYS] = {
        "workers", "queue_size", "log_level", "log_target", "stop_timeout", "job_timeout",
        "truncated_grace", "max_file_size", "max_pixels", "max_width", "max_height", "retry_io",
};
/* "ignore" may be given several times: its globs accumulate. */
static const char *const drop_keys[CONFIG_DROP_KEYS] = {
        "source", "output", "sizes", "name", "recursive", "delete_with_source",
        "formats", "strip", "follow_symlinks", "format", "quality", "background", "ignore",
        "embedded_previews", "layout",
};

static int key_index(const char *const *keys, size_t n, const char *key) {
        for (size_t i = 0; i < n; i++)
                if (strcmp(keys[i], key) == 0)
                        return (int) i;
        return -1;
}

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

static int parse_uint(const char *s, unsigned long min, unsigned long max, unsigned long *ret) {
        unsigned long v;
        char *end;

        if (*s < '0' || *s > '9')
                return -EINVAL;
        errno = 0;
        v = strtoul(s, &end, 10);
        if (errno || *end || v < min || v > max)
                return -EINVAL;
        *ret = v;
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

/* Seconds ("30", "30s") or milliseconds ("500ms"), in microseconds. */
static int parse_duration(const char *s, uint64_t min, uint64_t max, uint64_t *ret) {
        static const Unit units[] = { { "s", 1000000 }, { "ms", 1000 } };
        return parse_with_unit(s, units, ELEMENTSOF(units), min, max, ret);
}

/* Bytes, or with K, M or G (powers of 1024). */
static int parse_bytes(const char *s, uint64_t *ret) {
        static const Unit units[] = { { "", 1 }, { "K", 1ULL << 10 }, { "M", 1ULL << 20 }, { "G", 1ULL << 30 } };
        return parse_with_unit(s, units, ELEMENTSOF(units), 1, UINT64_MAX, ret);
}

static int parse_bool(const char *s, bool *ret) {
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
        *d = (DropConfig) {
                .sizes = { { 128, 128, THUMBNAIL_FIT } },
                .n_sizes = 1,
                .recursive = true,
                .delete_with_source = true,
                .formats = THUMBNAIL_ALL_FORMATS,
                .strip = true,
                .quality = 85,
                .background = 0xffffff,
                .line = line,
        };
        d->name = strdup(name);
        d->name_template = strdup(DEFAULT_NAME_TEMPLATE);
        if (!d->name || !d->name_template) {
                drop_done(d);
                return -ENOMEM;
        }
        return 0;
}

int config_new(ThumbwatchConfig **ret) {
        ThumbwatchConfig *c = calloc(1, sizeof *c);

        if (!c)
                return -ENOMEM;
        c->n_ref = 1;
        c->queue_size = DEFAULT_QUEUE_SIZE;
        c->log_level = LOG_INFO;
        c->stop_timeout = DEFAULT_STOP_TIMEOUT;
        c->job_timeout_usec = DEFAULT_JOB_TIMEOUT_USEC;
        c->truncated_grace_usec = DEFAULT_TRUNCATED_GRACE_USEC;
        c->retry_io_usec = 10 * 1000000ULL;
        c->max_file_size = DEFAULT_MAX_FILE_SIZE;
        c->max_pixels = DEFAULT_MAX_PIXELS;
        c->max_width = c->max_height = DEFAULT_MAX_SIDE;
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
        free(c);
        return NULL;
}

static int error_message(char **reterr_message, const char *format, ...) _printf_(2, 3);
static int error_message(char **reterr_message, const char *format, ...) {
        va_list ap;

        va_start(ap, format);
        if (vasprintf(reterr_message, format, ap) < 0)
                *reterr_message = NULL;
        va_end(ap);
        return -EINVAL;
}

/* Sets a [thumbwatch] key. *reterr_reason is static. */
static int set_global(ThumbwatchConfig *c, const char *key, const char *value, const char **reterr_reason) {
        unsigned long v;
        int r;

        if (strcmp(key, "workers") == 0) {
                if (strcmp(value, "auto") == 0) {
                        c->workers = 0;
                        return 0;
                }
                if (parse_uint(value, 1, WORKERS_MAX, &v) < 0) {
                        *reterr_reason = "expected 'auto' or a whole number from 1 to " STRINGIFY(WORKERS_MAX);
                        return -EINVAL;
                }
                c->workers = (unsigned) v;
                return 0;
        }
        if (strcmp(key, "queue_size") == 0) {
                if (parse_uint(value, 1, QUEUE_SIZE_MAX, &v) < 0) {
                        *reterr_reason = "expected a whole number from 1 to " STRINGIFY(QUEUE_SIZE_MAX);
                        return -EINVAL;
                }
                c->queue_size = v;
                return 0;
        }
        if (strcmp(key, "log_level") == 0) {
                r = log_level_from_string(value);
                if (r < 0) {
                        *reterr_reason = "expected err, warning, notice, info or debug";
                        return -EINVAL;
                }
                c->log_level = r;
                return 0;
        }
        if (strcmp(key, "log_target") == 0) {
                r = log_target_from_string(value);
                if (r < 0) {
                        *reterr_reason = "expected auto, journal or stderr";
                        return -EINVAL;
                }
                c->log_target = r;
                return 0;
        }
        if (strcmp(key, "stop_timeout") == 0) {
                uint64_t usec;

                if (parse_duration(value, 1000000, TIMEOUT_MAX * 1000000ULL, &usec) < 0) {
                        *reterr_reason = "expected whole seconds from 1 to " STRINGIFY(TIMEOUT_MAX) ", like 30 or 30s";
                        return -EINVAL;
                }
                c->stop_timeout = (unsigned) (usec / 1000000);
                return 0;
        }
        if (strcmp(key, "job_timeout") == 0 || strcmp(key, "truncated_grace") == 0 || strcmp(key, "retry_io") == 0) {
                uint64_t *p = key[0] == 'j' ? &c->job_timeout_usec : key[0] == 't' ? &c->truncated_grace_usec :
                              &c->retry_io_usec;

                if (parse_duration(value, key[0] == 'j' ? 1000 : 0, TIMEOUT_MAX * 1000000ULL, p) < 0) {
                        *reterr_reason = "expected a duration up to " STRINGIFY(TIMEOUT_MAX) " s, like 60, 60s or 500ms";
                        return -EINVAL;
                }
                return 0;
        }
        if (strcmp(key, "max_file_size") == 0) {
                if (parse_bytes(value, &c->max_file_size) < 0) {
                        *reterr_reason = "expected a size in bytes, or with K, M or G, like 256M";
                        return -EINVAL;
                }
                return 0;
        }
        if (strcmp(key, "max_pixels") == 0) {
                if (parse_uint(value, 1, (unsigned long) 1e12, &v) < 0) {
                        *reterr_reason = "expected a whole number of pixels, like 100000000";
                        return -EINVAL;
                }
                c->max_pixels = v;
                return 0;
        }
        if (strcmp(key, "max_width") == 0 || strcmp(key, "max_height") == 0) {
                if (parse_uint(value, 1, 1000000, &v) < 0) {
                        *reterr_reason = "expected a whole number of pixels from 1 to 1000000";
                        return -EINVAL;
                }
                *(key[4] == 'w' ? &c->max_width : &c->max_height) = (unsigned) v;
                return 0;
        }
        *reterr_reason = "unknown key (known in [thumbwatch]: workers, queue_size, log_level, log_target, "
                         "stop_timeout, job_timeout, truncated_grace, retry_io, max_file_size, max_pixels, max_width, "
                         "max_height)";
        return -ENOENT;
}

int config_set_global(ThumbwatchConfig *c, const char *key, const char *value, char **reterr_message) {
        const char *reason = NULL;
        int k;

        if (set_global(c, key, value, &reason) < 0)
                return error_message(reterr_message, "%s '%s': %s", key, value, reason);
        k = key_index(global_keys, ELEMENTSOF(global_keys), key);
        if (k >= 0)
                c->key_lines[k] = CONFIG_LINE_COMMAND_LINE;
        return 0;
}

/* Appends the whitespace- or comma-separated words of value to a drop key. */
static int set_drop(DropConfig *d, const char *key, const char *value, bool first, const char **reterr_reason) {
        int r;

        if (strcmp(key, "source") == 0 || strcmp(key, "output") == 0) {
                char **p = key[0] == 's' ? &d->source : &d->output;
                char *n;

                r = naming_normalize_path(value, &n);
                if (r == -EINVAL) {
                        *reterr_reason = "expected an absolute path";
                        return r;
                }
                if (r < 0)
                        return r;
                free(*p);
                *p = n;
                return 0;
        }
        if (strcmp(key, "name") == 0) {
                char *t = strdup(value);

                if (!t)
                        return -ENOMEM;
                free(d->name_template);
                d->name_template = t;
                return 0;
        }
        if (strcmp(key, "follow_symlinks") == 0) {
                bool yes;

                if (strcmp(value, "anywhere") == 0)
                        d->follow_symlinks = FOLLOW_ANYWHERE;
                else if (parse_bool(value, &yes) >= 0)
                        d->follow_symlinks = yes ? FOLLOW_BENEATH : FOLLOW_NO;
                else {
                        *reterr_reason = "expected no, yes (targets inside the drop) or anywhere";
                        return -EINVAL;
                }
                return 0;
        }
        if (strcmp(key, "recursive") == 0 || strcmp(key, "delete_with_source") == 0 || strcmp(key, "strip") == 0 ||
            strcmp(key, "embedded_previews") == 0) {
                bool *p = key[0] == 'r' ? &d->recursive : key[0] == 'd' ? &d->delete_with_source :
                          key[0] == 's' ? &d->strip : &d->embedded_previews;

                if (parse_bool(value, p) < 0) {
                        *reterr_reason = "expected yes or no";
                        return -EINVAL;
                }
                return 0;
        }
        if (strcmp(key, "layout") == 0) {
                if (strcmp(value, "mirror") == 0)
                        d->layout = LAYOUT_MIRROR;
                else if (strcmp(value, "freedesktop") == 0)
                        d->layout = LAYOUT_FREEDESKTOP;
                else {
                        *reterr_reason = "expected mirror or freedesktop";
                        return -EINVAL;
                }
                return 0;
        }
        if (strcmp(key, "format") == 0) {
                int f = strcasecmp(value, "same") == 0 ? 0 : thumbnail_format_from_name(value);

                if (f < 0 || (f != 0 && !thumbnail_format_extension((unsigned) f))) {
                        *reterr_reason = "expected same, jpeg, png or webp";
                        return -EINVAL;
                }
                d->output_format = (unsigned) f;
                return 0;
        }
        if (strcmp(key, "quality") == 0) {
                unsigned long q;

                if (parse_uint(value, 1, 100, &q) < 0) {
                        *reterr_reason = "expected a whole number from 1 to 100";
                        return -EINVAL;
                }
                d->quality = (unsigned) q;
                return 0;
        }
        if (strcmp(key, "background") == 0) {
                unsigned long rgb;
                char *end;

                errno = 0;
                rgb = value[0] == '#' && strlen(value) == 7 ? strtoul(value + 1, &end, 16) : 0;
                if (value[0] != '#' || strlen(value) != 7 || errno || *end) {
                        *reterr_reason = "expected a colour as #RRGGBB";
                        return -EINVAL;
                }
                d->background = (uint32_t) rgb;
                return 0;
        }
        if (strcmp(key, "formats") == 0) {
                _cleanup_free_ char *copy = strdup(value);
                char *save = NULL;

                if (!copy)
                        return -ENOMEM;
                d->formats = 0;
                for (char *w = strtok_r(copy, " \t,", &save); w; w = strtok_r(NULL, " \t,", &save)) {
                        int f = thumbnail_format_from_name(w);

                        if (f < 0) {
                                *reterr_reason = "expected formats from: jpeg png gif webp tiff bmp";
                                return -EINVAL;
                        }
                        d->formats |= (unsigned) f;
                }
                if (d->formats == 0) {
                        *reterr_reason = "expected at least one format";
                        return -EINVAL;
                }
                return 0;
        }
        if (strcmp(key, "sizes") == 0 || strcmp(key, "ignore") == 0) {
                bool sizes = key[0] == 's';
                _cleanup_free_ char *copy = strdup(value);
                char *save = NULL;

                if (!copy)
                        return -ENOMEM;
                if (sizes && first)
                        d->n_sizes = 0;         /* the key replaces the default */
                for (char *w = strtok_r(copy, " \t,", &save); w; w = strtok_r(NULL, " \t,", &save)) {
                        if (sizes) {
                                if (d->n_sizes >= CONFIG_SIZES_MAX) {
                                        *reterr_reason = "too many sizes (at most " STRINGIFY(CONFIG_SIZES_MAX) ")";
                                        return -EINVAL;
                                }
                                if (config_parse_size(w, &d->sizes[d->n_sizes]) < 0) {
                                        *reterr_reason = "expected sizes as WIDTHxHEIGHT[:fit|:fill|:pad], each "
                                                         "from 1 to " STRINGIFY(CONFIG_DIMENSION_MAX);
                                        return -EINVAL;
                                }
                                for (size_t j = 0; j < d->n_sizes; j++)
                                        if (d->sizes[j].width == d->sizes[d->n_sizes].width &&
                                            d->sizes[j].height == d->sizes[d->n_sizes].height) {
                                                *reterr_reason = "the same WIDTHxHEIGHT twice (their thumbnails "
                                                                 "would have the same name)";
                                                return -EINVAL;
                                        }
                                d->n_sizes++;
                        } else {
                                char **a = realloc(d->ignore, (d->n_ignore + 1) * sizeof *a);
                                if (!a)
                                        return -ENOMEM;
                                d->ignore = a;
                                a[d->n_ignore] = strdup(w);
                                if (!a[d->n_ignore])
                                        return -ENOMEM;
                                d->n_ignore++;
                        }
                }
                if (sizes && d->n_sizes == 0) {
                        *reterr_reason = "expected at least one size";
                        return -EINVAL;
                }
                return 0;
        }
        *reterr_reason = "unknown key (known in [drop:NAME]: source, output, sizes, name, recursive, "
                         "delete_with_source, formats, strip, follow_symlinks, format, quality, background, ignore, "
                         "embedded_previews, layout)";
        return -ENOENT;
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
        if (vasprintf(&msg, format, ap) < 0)
                msg = NULL;
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

static int handler(void *user, const char *section, const char *key, const char *value) {
        Parser *p = user;
        ThumbwatchConfig *c = p->config;
        const char *reason = NULL;
        bool first;
        int r;

        /* inih calls us again with the same key for an indented continuation line. */
        first = !p->continuation;

        if (strcmp(section, "thumbwatch") == 0) {
                int k = key_index(global_keys, ELEMENTSOF(global_keys), key);

                if (k >= 0) {
                        if (c->key_lines[k] != 0 || !first) {
                                parser_error(p, p->line, "[thumbwatch] %s: set twice", key);
                                return 0;
                        }
                        c->key_lines[k] = p->line;
                }
                r = set_global(c, key, value, &reason);
        } else if (strncmp(section, "drop:", 5) == 0) {
                const char *name = section + 5;
                DropConfig *d;

                if (!valid_drop_name(name)) {
                        parser_error(p, p->line, "[%s]: drop names may use only letters, digits, '_', '.' and '-'", section);
                        return 0;
                }
                d = find_drop(c, name);
                if (!d) {
                        DropConfig *a = realloc(c->drops, (c->n_drops + 1) * sizeof *a);
                        if (!a) {
                                parser_error(p, p->line, "out of memory");
                                return 0;
                        }
                        c->drops = a;
                        d = &a[c->n_drops];
                        if (drop_init(d, name, p->section_line) < 0) {
                                parser_error(p, p->line, "out of memory");
                                return 0;
                        }
                        c->n_drops++;
                }
                {
                        int k = key_index(drop_keys, ELEMENTSOF(drop_keys), key);

                        /* Only sizes may continue on indented lines; ignore may repeat. */
                        if (k >= 0 && d->key_lines[k] != 0 && strcmp(key, "ignore") != 0 &&
                            (first || strcmp(key, "sizes") != 0)) {
                                parser_error(p, p->line, "[%s] %s: set twice", section, key);
                                return 0;
                        }
                        if (k >= 0)
                                d->key_lines[k] = p->line;
                }
                r = set_drop(d, key, value, first, &reason);
        } else if (section[0] == '\0') {
                parser_error(p, p->line, "%s: key outside any section (expected [thumbwatch] or [drop:NAME] first)", key);
                return 0;
        } else {
                parser_error(p, p->line, "[%s]: unknown section (expected [thumbwatch] or [drop:NAME])", section);
                return 0;
        }

        if (r == -ENOMEM)
                parser_error(p, p->line, "out of memory");
        else if (r < 0)
                parser_error(p, p->line, "[%s] %s '%s': %s", section, key, value, reason ? reason : "invalid");
        return r < 0 ? 0 : 1;
}

int config_load(ThumbwatchConfig *c, const char *path, char **reterr_message) {
        Parser p = { .config = c, .path = path };
        int r;

        p.file = fopen(path, "re");
        if (!p.file) {
                r = -errno;
                (void) error_message(reterr_message, "%s: cannot read the config file: %s", path, strerror(-r));
                return r;
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
                return error_message(reterr_message, "cannot make '%s' or '%s' an absolute path: %s", source, output,
                                     strerror(-r));
        }
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
        return 0;
}

/* "FILE:LINE: [drop:NAME]" or "command line" for messages about a whole drop. */
static void drop_where(const ThumbwatchConfig *c, const DropConfig *d, char *buf, size_t size) {
        if (d->line > 0)
                (void) snprintf(buf, size, "%s:%u: [drop:%s]", c->path ? c->path : "-", d->line, d->name);
        else
                (void) snprintf(buf, size, "command line");
}

int config_validate(const ThumbwatchConfig *c, char **reterr_message) {
        char where[PATH_MAX + 300];

        if (c->n_drops == 0)
                return error_message(reterr_message, "%s: no [drop:NAME] section: nothing to watch",
                                     c->path ? c->path : "config");
        /* Every drop's own keys first: the comparisons below need every source and output. */
        for (size_t i = 0; i < c->n_drops; i++) {
                const DropConfig *d = &c->drops[i];

                drop_where(c, d, where, sizeof where);
                if (!d->source)
                        return error_message(reterr_message, "%s: 'source' is missing", where);
                if (!d->output)
                        return error_message(reterr_message, "%s: 'output' is missing", where);
        }
        for (size_t i = 0; i < c->n_drops; i++) {
                const DropConfig *d = &c->drops[i];
                const char *reason;

                drop_where(c, d, where, sizeof where);
                if (strcmp(d->source, d->output) == 0)
                        return error_message(reterr_message, "%s: output '%s' is the source itself; use a separate folder",
                                             where, d->output);
                /* layout = freedesktop names thumbnails by the standard, not by the template. */
                if (d->layout == LAYOUT_MIRROR && naming_check_template(d->name_template, d->n_sizes > 1, &reason) < 0)
                        return error_message(reterr_message, "%s: name '%s': %s", where, d->name_template, reason);
                if (d->layout == LAYOUT_FREEDESKTOP) {
                        for (size_t j = 0; j < d->n_sizes; j++)
                                if (d->sizes[j].width != d->sizes[j].height || d->sizes[j].mode != THUMBNAIL_FIT ||
                                    !freedesktop_flavour(d->sizes[j].width))
                                        return error_message(reterr_message,
                                                             "%s: layout = freedesktop takes the sizes 128x128 (normal), "
                                                             "256x256 (large), 512x512 (x-large) and 1024x1024 "
                                                             "(xx-large), not %ux%u%s", where, d->sizes[j].width,
                                                             d->sizes[j].height,
                                                             d->sizes[j].mode != THUMBNAIL_FIT ? " with a mode" : "");
                        if (d->output_format != 0 && d->output_format != THUMBNAIL_PNG)
                                return error_message(reterr_message,
                                                     "%s: layout = freedesktop writes PNG: format must be same or png",
                                                     where);
                }
                for (size_t j = 0; j < c->n_drops; j++) {
                        const DropConfig *e = &c->drops[j];

                        if (j != i && naming_path_is_under(d->source, e->source))
                                return error_message(reterr_message,
                                                     "%s: source '%s' is inside the source of [drop:%s]; drops must not overlap",
                                                     where, d->source, e->name);
                        if (naming_path_is_under(e->source, d->output))
                                return error_message(reterr_message,
                                                     "%s: output '%s' contains the source '%s' of [drop:%s]",
                                                     where, d->output, e->source, e->name);
                }
        }
        return 0;
}

/* " ; FILE:LINE", " ; default" or " ; command line" after a key. */
static void origin(const ThumbwatchConfig *c, unsigned line, FILE *f) {
        if (line == CONFIG_LINE_COMMAND_LINE)
                fprintf(f, "    ; command line\n");
        else if (line == 0)
                fprintf(f, "    ; default\n");
        else
                fprintf(f, "    ; %s:%u\n", c->path ? c->path : "-", line);
}

static void print_duration(FILE *f, const char *key, uint64_t usec) {
        if (usec % 1000000 == 0)
                fprintf(f, "%s = %" PRIu64 "s", key, usec / 1000000);
        else
                fprintf(f, "%s = %" PRIu64 "ms", key, usec / 1000);
}

void config_print(const ThumbwatchConfig *c, FILE *f) {
        const unsigned *g = c->key_lines;

        fprintf(f, "[thumbwatch]\n");
        if (c->workers == 0)
                fprintf(f, "workers = auto");
        else
                fprintf(f, "workers = %u", c->workers);
        origin(c, g[0], f);
        fprintf(f, "queue_size = %zu", c->queue_size);
        origin(c, g[1], f);
        fprintf(f, "log_level = %s", log_level_to_string(c->log_level));
        origin(c, g[2], f);
        fprintf(f, "log_target = %s", log_target_to_string(c->log_target));
        origin(c, g[3], f);
        fprintf(f, "stop_timeout = %us", c->stop_timeout);
        origin(c, g[4], f);
        print_duration(f, "job_timeout", c->job_timeout_usec);
        origin(c, g[5], f);
        print_duration(f, "truncated_grace", c->truncated_grace_usec);
        origin(c, g[6], f);
        fprintf(f, "max_file_size = %" PRIu64, c->max_file_size);
        origin(c, g[7], f);
        fprintf(f, "max_pixels = %" PRIu64, c->max_pixels);
        origin(c, g[8], f);
        fprintf(f, "max_width = %u", c->max_width);
        origin(c, g[9], f);
        fprintf(f, "max_height = %u", c->max_height);
        origin(c, g[10], f);
        print_duration(f, "retry_io", c->retry_io_usec);
        origin(c, g[11], f);
        for (size_t i = 0; i < c->n_drops; i++) {
                const DropConfig *d = &c->drops[i];
                const unsigned *l = d->key_lines;
                /* A drop from the command line: its source and output came from there. */
                unsigned cmd = d->line == 0 ? CONFIG_LINE_COMMAND_LINE : 0;

                fprintf(f, "\n[drop:%s]\n", d->name);
                fprintf(f, "source = %s", d->source ? d->source : "");
                origin(c, cmd ? cmd : l[0], f);
                fprintf(f, "output = %s", d->output ? d->output : "");
                origin(c, cmd ? cmd : l[1], f);
                fprintf(f, "sizes =");
                for (size_t j = 0; j < d->n_sizes; j++) {
                        bool fit = d->sizes[j].mode == THUMBNAIL_FIT;   /* the default, not spelt out */

                        fprintf(f, " %ux%u%s%s", d->sizes[j].width, d->sizes[j].height, fit ? "" : ":",
                                fit ? "" : size_modes[d->sizes[j].mode]);
                }
                origin(c, l[2], f);
                fprintf(f, "name = %s", d->name_template);
                origin(c, l[3], f);
                fprintf(f, "recursive = %s", d->recursive ? "yes" : "no");
                origin(c, l[4], f);
                fprintf(f, "delete_with_source = %s", d->delete_with_source ? "yes" : "no");
                origin(c, l[5], f);
                fprintf(f, "formats =");
                for (unsigned bit = 1; bit & THUMBNAIL_ALL_FORMATS; bit <<= 1)
                        if (d->formats & bit)
                                fprintf(f, " %s", thumbnail_format_name(bit));
                origin(c, l[6], f);
                fprintf(f, "strip = %s", d->strip ? "yes" : "no");
                origin(c, l[7], f);
                fprintf(f, "follow_symlinks = %s", d->follow_symlinks == FOLLOW_ANYWHERE ? "anywhere" :
                                                   d->follow_symlinks == FOLLOW_BENEATH ? "yes" : "no");
                origin(c, l[8], f);
                fprintf(f, "format = %s", d->output_format ? thumbnail_format_name(d->output_format) : "same");
                origin(c, l[9], f);
                fprintf(f, "quality = %u", d->quality);
                origin(c, l[10], f);
                fprintf(f, "background = #%06x", (unsigned) d->background);
                origin(c, l[11], f);
                fprintf(f, "embedded_previews = %s", d->embedded_previews ? "yes" : "no");
                origin(c, l[13], f);
                fprintf(f, "layout = %s", d->layout == LAYOUT_FREEDESKTOP ? "freedesktop" : "mirror");
                origin(c, l[14], f);
                fprintf(f, "ignore =");
                for (size_t j = 0; j < d->n_ignore; j++)
                        fprintf(f, " %s", d->ignore[j]);
                origin(c, l[12], f);
        }
}
