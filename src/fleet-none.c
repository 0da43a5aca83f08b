/* fleet-none.c - fleet.h in a build without hiredis: no Redis queue. The
 * config already refuses queue = redis://... in such a build (fleet-config.c);
 * these are for the callers that get this far anyway. */
#include "build-config.h"

#include <errno.h>

#include "fleet.h"
#include "macro.h"
#include "message.h"

#define NO_REDIS "this thumbwatch was built without Redis support (configure --with-redis and libhiredis-dev)"

int fleet_new(ThumbwatchConfig *c _unused_, FleetRole role _unused_, JobContext *job _unused_, Fleet **ret _unused_,
              char **reterr_message) {
        return message_set(reterr_message, -EOPNOTSUPP, NO_REDIS);
}

Fleet *fleet_free(Fleet *f _unused_) {
        return NULL;
}

void fleet_set_config(Fleet *f _unused_, ThumbwatchConfig *c _unused_) {
}

void fleet_set_outbox(Fleet *f _unused_, PathQueue *outbox _unused_) {
}

void fleet_publish(const char *path _unused_, void *userdata _unused_) {
}

int fleet_consumer_start(Fleet *f _unused_, PathQueue *work _unused_) {
        return -EOPNOTSUPP;
}

void fleet_process(const char *path _unused_, void *userdata _unused_) {
}

void fleet_consumer_stop_reading(Fleet *f _unused_) {
}

void fleet_consumer_stop(Fleet *f _unused_) {
}

bool fleet_tick(Fleet *f _unused_) {
        return false;
}

void fleet_status(Fleet *f _unused_, char *buf, size_t size) {
        if (size > 0)
                buf[0] = '\0';
}

void fleet_state(Fleet *f _unused_, bool *ret_connected, uint64_t *ret_length, uint64_t *ret_pending) {
        *ret_connected = false;
        *ret_length = *ret_pending = 0;
}

int fleet_print_status(const ThumbwatchConfig *c _unused_, FILE *out _unused_, char **reterr_message) {
        return message_set(reterr_message, -EOPNOTSUPP, NO_REDIS);
}
