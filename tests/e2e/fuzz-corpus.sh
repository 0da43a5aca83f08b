#!/bin/sh
# The fuzz targets over their corpus: the seeds and every input that ever
# crashed one (tests/fuzz/*/regression-*), under whatever sanitizers this
# build has. scripts/fuzz does the fuzzing itself.
. "$(dirname "$0")/lib.sh"

for target in config naming sniff-media decode-jpeg decode-heif decode-raw; do
	replay=$TOP_BUILDDIR/tests/fuzz/fuzz-$target-replay
	# decode-heif and decode-raw are not built --without-heif or --without-raw.
	[ -x "$replay" ] || continue
	for f in "$TOP_SRCDIR/tests/fuzz/$target"/*; do
		check "fuzz-$target: $(basename "$f")" sh -c '"$0" "$1" >/dev/null' "$replay" "$f"
	done
done
done_testing
