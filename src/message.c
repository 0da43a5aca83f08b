/* message.c - the texts library code hands back instead of logging. */
#include "build-config.h"

#include <stdio.h>

#include "message.h"

char *message_va(const char *format, va_list ap) {
        char *msg;

        if (vasprintf(&msg, format, ap) < 0)
                return NULL;
        return msg;
}

void message_put(char **reterr_message, const char *format, ...) {
        va_list ap;

        va_start(ap, format);
        *reterr_message = message_va(format, ap);
        va_end(ap);
}
