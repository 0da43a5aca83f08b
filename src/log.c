/* log.c - the journal when running under systemd, plain lines on stderr otherwise.
 * The only globals are the target, written by main before threads start, and
 * the level, which a reload may change while workers log (hence atomic). */
#include "build-config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#define SD_JOURNAL_SUPPRESS_LOCATION
#include <systemd/sd-journal.h>

#include "log.h"

static atomic_int log_max_level = LOG_INFO;
static bool log_journal;
static bool log_tty;

static const char *const level_names[] = {
        [LOG_EMERG] = "emerg", [LOG_ALERT] = "alert", [LOG_CRIT] = "crit", [LOG_ERR] = "err",
        [LOG_WARNING] = "warning", [LOG_NOTICE] = "notice", [LOG_INFO] = "info", [LOG_DEBUG] = "debug",
};

/* systemd.exec(5): $JOURNAL_STREAM is "DEV:INODE" of the stream our stderr was
 * connected to; if stderr still is that stream, the journal is listening. */
static bool stderr_is_journal(void) {
        const char *e = getenv("JOURNAL_STREAM");
        unsigned long long dev, ino;
        struct stat st;

        if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2)
                return false;
        if (fstat(STDERR_FILENO, &st) < 0)
                return false;
        return (unsigned long long) st.st_dev == dev && (unsigned long long) st.st_ino == ino;
}

static const char *const target_names[_LOG_TARGET_MAX] = {
        [LOG_TARGET_AUTO] = "auto", [LOG_TARGET_JOURNAL] = "journal", [LOG_TARGET_STDERR] = "stderr",
};

int log_target_from_string(const char *s) {
        for (int i = 0; i < _LOG_TARGET_MAX; i++)
                if (strcasecmp(s, target_names[i]) == 0)
                        return i;
        return -EINVAL;
}

const char *log_target_to_string(LogTarget t) {
        return t >= 0 && t < _LOG_TARGET_MAX ? target_names[t] : "unknown";
}

void log_setup(LogTarget target) {
        switch (target) {
        case LOG_TARGET_JOURNAL:
                log_journal = true;
                break;
        case LOG_TARGET_STDERR:
                log_journal = false;
                break;
        default:
                log_journal = stderr_is_journal();
        }
        log_tty = !log_journal && isatty(STDERR_FILENO);
}

bool log_to_journal(void) {
        return log_journal;
}

void log_set_max_level(int level) {
        atomic_store_explicit(&log_max_level, level, memory_order_relaxed);
}

int log_get_max_level(void) {
        return atomic_load_explicit(&log_max_level, memory_order_relaxed);
}

int log_level_from_string(const char *s) {
        if (strcasecmp(s, "error") == 0)
                return LOG_ERR;
        if (strcasecmp(s, "warn") == 0)
                return LOG_WARNING;
        for (size_t i = 0; i < ELEMENTSOF(level_names); i++)
                if (strcasecmp(s, level_names[i]) == 0)
                        return (int) i;
        return -EINVAL;
}

const char *log_level_to_string(int level) {
        if (level < 0 || (size_t) level >= ELEMENTSOF(level_names))
                return "unknown";
        return level_names[level];
}

static void log_to_journal_fields(int level, int error, const char *file, int line, const char *func,
                                  const LogField *fields, size_t n_fields, const char *message) {
        char code_file[512], code_line[32], priority[16], errno_field[32];
        _cleanup_free_ char *msg = NULL;
        size_t n = 0;
        struct iovec iov[3 + LOG_FIELDS_MAX];
        char *field_strings[LOG_FIELDS_MAX] = {};

        if (n_fields > LOG_FIELDS_MAX)
                n_fields = LOG_FIELDS_MAX;

        (void) snprintf(code_file, sizeof code_file, "CODE_FILE=%s", file);
        (void) snprintf(code_line, sizeof code_line, "CODE_LINE=%d", line);
        (void) snprintf(priority, sizeof priority, "PRIORITY=%d", level);
        if (asprintf(&msg, "MESSAGE=%s", message) < 0)
                return;
        iov[n++] = (struct iovec) { .iov_base = msg, .iov_len = strlen(msg) };
        iov[n++] = (struct iovec) { .iov_base = priority, .iov_len = strlen(priority) };
        if (error != 0) {
                (void) snprintf(errno_field, sizeof errno_field, "ERRNO=%d", error);
                iov[n++] = (struct iovec) { .iov_base = errno_field, .iov_len = strlen(errno_field) };
        }
        for (size_t i = 0; i < n_fields; i++) {
                if (!fields[i].value || asprintf(&field_strings[i], "%s=%s", fields[i].name, fields[i].value) < 0)
                        continue;
                iov[n++] = (struct iovec) { .iov_base = field_strings[i], .iov_len = strlen(field_strings[i]) };
        }
        (void) sd_journal_sendv_with_location(code_file, code_line, func, iov, (int) n);
        for (size_t i = 0; i < n_fields; i++)
                free(field_strings[i]);
}

/* The length of the valid UTF-8 sequence at s (1 to 4), or 0. Overlong
 * forms, surrogates and code points past U+10FFFF are not valid. */
static size_t utf8_length(const unsigned char *s) {
        unsigned c = s[0], cp;
        size_t n;

        if (c < 0x80)
                return 1;
        if (c >= 0xc2 && c <= 0xdf)
                n = 2, cp = c & 0x1f;
        else if (c >= 0xe0 && c <= 0xef)
                n = 3, cp = c & 0x0f;
        else if (c >= 0xf0 && c <= 0xf4)
                n = 4, cp = c & 0x07;
        else
                return 0;
        for (size_t i = 1; i < n; i++) {
                if ((s[i] & 0xc0) != 0x80)
                        return 0;
                cp = cp << 6 | (s[i] & 0x3f);
        }
        if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
                return 0;
        return n;
}

char *log_escape(const char *s) {
        static const char hex[] = "0123456789abcdef";
        char *out = malloc(4 * strlen(s) + 1), *p = out;

        if (!out)
                return NULL;
        for (const unsigned char *c = (const unsigned char *) s; *c;) {
                size_t n = utf8_length(c);

                if (*c == '\\') {
                        *p++ = '\\';
                        *p++ = '\\';
                        c++;
                } else if (*c == '\n' || *c == '\t' || *c == '\r') {
                        *p++ = '\\';
                        *p++ = *c == '\n' ? 'n' : *c == '\t' ? 't' : 'r';
                        c++;
                } else if (n == 0 || *c < 0x20 || *c == 0x7f) {
                        *p++ = '\\';
                        *p++ = 'x';
                        *p++ = hex[*c >> 4];
                        *p++ = hex[*c & 15];
                        c++;
                } else {
                        memcpy(p, c, n);
                        p += n;
                        c += n;
                }
        }
        *p = '\0';
        return out;
}

int log_internal(int level, int error, const char *file, int line, const char *func,
                 const LogField *fields, size_t n_fields, const char *format, ...) {
        _cleanup_free_ char *message = NULL;
        va_list ap;

        error = error < 0 ? -error : error;
        if (level > log_get_max_level())
                return -error;

        /* %m in the format refers to the error we were given, not to whatever
         * errno is. As long as it takes: a path may be longer than PATH_MAX. */
        errno = error;
        va_start(ap, format);
        if (vasprintf(&message, format, ap) < 0)
                message = NULL;
        va_end(ap);
        if (!message)
                return -error;

        if (log_journal)
                log_to_journal_fields(level, error, file, line, func, fields, n_fields, message);
        else {
                /* A line is a line: a name with a newline, a terminal escape or
                 * invalid UTF-8 in it cannot forge one (the journal keeps the
                 * raw bytes, in fields of their own). */
                _cleanup_free_ char *escaped = log_escape(message);

                /* One fprintf per line: stdio locks the stream, so lines from threads never mix.
                 * On a terminal, first clear a progress bar that may be on the line. */
                (void) fprintf(stderr, "%sthumbwatch: %s%s\n", log_tty ? "\r\033[K" : "",
                               level <= LOG_WARNING ? (level <= LOG_ERR ? "error: " : "warning: ") : "",
                               escaped ? escaped : "(out of memory)");
        }
        errno = error;
        return -error;
}
