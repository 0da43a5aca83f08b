/* log.h - log_*() to the journal (with the caller's location and structured fields)
 * or to stderr. Every function here is thread-safe once log_setup() has run. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <syslog.h>

#include "macro.h"

typedef enum LogTarget {
        LOG_TARGET_AUTO,     /* the journal when $JOURNAL_STREAM names our stderr, else stderr */
        LOG_TARGET_JOURNAL,
        LOG_TARGET_STDERR,
        _LOG_TARGET_MAX,
} LogTarget;

/* One structured journal field: name without '=', value borrowed for the call. */
typedef struct LogField {
        const char *name;
        const char *value;
} LogField;

/* At most this many fields are sent with one message; more are dropped. */
#define LOG_FIELDS_MAX 8

/* MESSAGE_ID= values, one per event class, so `journalctl MESSAGE_ID=...` finds them. */
#define LOG_MESSAGE_MADE     "64b89ddc8f124aca8cf3edd13cc753e0"
#define LOG_MESSAGE_FAILED   "75686cd52ba54ff8ba8c28fa9c37a503"
#define LOG_MESSAGE_SUMMARY  "c2945a30f51e4317b2c9c03d73f15bed"
#define LOG_MESSAGE_OVERFLOW "9e647968129e4d689c81694fb417920f"
#define LOG_MESSAGE_RELOAD   "855b009eded74948b5d31d1ebc6396c7"
#define LOG_MESSAGE_WATCH_LIMIT "0708edb9bbaa426186b2811bd7a73bab"

/* "auto", "journal", "stderr" to a LogTarget, or -EINVAL. */
int log_target_from_string(const char *s);
const char *log_target_to_string(LogTarget t);

/* Chooses where messages go; call from main before any thread starts. */
void log_setup(LogTarget target);
bool log_to_journal(void);
void log_set_max_level(int level);
int log_get_max_level(void);

/* Parses "err", "warning", "notice", "info", "debug" (and "error", "warn");
 * returns the syslog level or -EINVAL. */
int log_level_from_string(const char *s);
const char *log_level_to_string(int level);

/* s with every byte that could break or forge a line of text escaped:
 * control characters as \n, \t, \r or \xNN, bytes that are not valid UTF-8
 * as \xNN, and the backslash as \\. Caller frees; NULL on ENOMEM. Plain
 * lines on stderr and the paths --gc and --explain print go through it. */
char *log_escape(const char *s);

/* Writes one message. error is 0 or an errno (either sign); it is available to
 * the format as %m and recorded as ERRNO=. Returns -abs(error), so that
 * `return log_error_errno(r, ...)` passes the error on. */
int log_internal(int level, int error, const char *file, int line, const char *func,
                 const LogField *fields, size_t n_fields, const char *format, ...) _printf_(8, 9);

#define log_full_errno_fields(level, error, fields, n, ...) \
        log_internal((level), (error), __FILE__, __LINE__, __func__, (fields), (n), __VA_ARGS__)
#define log_full_errno(level, error, ...) log_full_errno_fields(level, error, NULL, 0, __VA_ARGS__)

#define log_debug(...)   log_full_errno(LOG_DEBUG, 0, __VA_ARGS__)
#define log_info(...)    log_full_errno(LOG_INFO, 0, __VA_ARGS__)
#define log_notice(...)  log_full_errno(LOG_NOTICE, 0, __VA_ARGS__)
#define log_warning(...) log_full_errno(LOG_WARNING, 0, __VA_ARGS__)
#define log_error(...)   log_full_errno(LOG_ERR, 0, __VA_ARGS__)

#define log_debug_errno(e, ...)   log_full_errno(LOG_DEBUG, e, __VA_ARGS__)
#define log_info_errno(e, ...)    log_full_errno(LOG_INFO, e, __VA_ARGS__)
#define log_warning_errno(e, ...) log_full_errno(LOG_WARNING, e, __VA_ARGS__)
#define log_error_errno(e, ...)   log_full_errno(LOG_ERR, e, __VA_ARGS__)
