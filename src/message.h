/* message.h - the texts library code hands back instead of logging: the
 * reterr_reason and reterr_message out-parameters. Thread-safe. */
#pragma once

#include <stdarg.h>

#include "macro.h"

/* The formatted text, caller frees; NULL when out of memory. */
char *message_va(const char *format, va_list ap) _printf_(1, 0);

/* Sets *reterr_message to the formatted text (caller frees; NULL when out
 * of memory) and returns r, so that `return message_set(reterr, -EINVAL,
 * ...);` reports and fails in one step. */
int message_set(char **reterr_message, int r, const char *format, ...) _printf_(3, 4);
