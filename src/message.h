/* message.h - the texts library code hands back instead of logging: the
 * reterr_reason and reterr_message out-parameters. Thread-safe. */
#pragma once

#include <stdarg.h>

#include "macro.h"

/* The formatted text, caller frees; NULL when out of memory. */
char *message_va(const char *format, va_list ap) _printf_(1, 0);

/* Sets *reterr_message to the formatted text (caller frees; NULL when out
 * of memory). */
void message_put(char **reterr_message, const char *format, ...) _printf_(2, 3);

/* message_put(), then r, so that `return message_set(reterr, -EINVAL, ...);`
 * reports and fails in one step. A macro, so that a reader (and a static
 * analyzer) sees the value returned where it is written: r is taken before
 * the text is made, and the text's %m sees the errno r was made from. */
#define message_set(reterr_message, r, ...)                     \
        ({                                                      \
                int _message_r_ = (r);                          \
                message_put((reterr_message), __VA_ARGS__);     \
                _message_r_;                                    \
        })
