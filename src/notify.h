/* notify.h - sd_notify(3) wrappers for Type=notify: ready, reloading,
 * stopping, status and watchdog. Each does nothing when $NOTIFY_SOCKET is
 * unset. Thread-safe. */
#pragma once

#include <stdint.h>

#include "macro.h"

void notify_ready(void);
void notify_reloading(void);
void notify_stopping(void);
void notify_watchdog(void);
void notify_status(const char *format, ...) _printf_(1, 2);

/* The watchdog interval systemd asks for ($WATCHDOG_USEC), or 0 if none. */
uint64_t notify_watchdog_usec(void);
