#!/bin/sh
# The soak (tests/soak.sh) for 15 seconds: mixed traffic with a small queue,
# then every good image has exactly one up-to-date thumbnail, no orphan, and
# RSS, file descriptors and watches have not grown.
exec sh "$TOP_SRCDIR/tests/soak.sh" "${SOAK_SECONDS:-15}"
