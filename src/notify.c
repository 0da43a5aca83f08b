/* notify.c - the service manager's side channel. */
#include "build-config.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include <systemd/sd-daemon.h>

#include "notify.h"

void notify_ready(void) {
        (void) sd_notify(0, "READY=1");
}

void notify_reloading(void) {
        struct timespec ts;

        /* MONOTONIC_USEC lets Type=notify-reload match the reply to the request. */
        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        (void) sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu",
                          (unsigned long long) ts.tv_sec * 1000000ULL + (unsigned long long) ts.tv_nsec / 1000);
}

void notify_stopping(void) {
        (void) sd_notify(0, "STOPPING=1");
}

void notify_watchdog(void) {
        (void) sd_notify(0, "WATCHDOG=1");
}

void notify_status(const char *format, ...) {
        char buf[512];
        va_list ap;

        va_start(ap, format);
        (void) vsnprintf(buf, sizeof buf, format, ap);
        va_end(ap);
        (void) sd_notifyf(0, "STATUS=%s", buf);
}

uint64_t notify_watchdog_usec(void) {
        uint64_t usec = 0;

        if (sd_watchdog_enabled(0, &usec) <= 0)
                return 0;
        return usec;
}
