#!/bin/sh
# The output disk full: the failure is logged as io with the reason, nothing
# partial is left, the job is kept, and the thumbnail is made once space is
# freed. The small disk is a tmpfs mounted in a mount namespace of our own.
. "$(dirname "$0")/lib.sh"

unshare -m true 2>/dev/null || { echo "1..0 # SKIP cannot mount a tmpfs here (unshare -m is refused)"; exit 0; }
gm convert -size 1200x900 plasma: -quality 100 "$T/photo.jpg"
printf '[thumbwatch]\nretry_io = 300ms\n[drop:d]\nsource = %s\noutput = %s\nsizes = 512x512\n' \
	"$T/in" "$T/out" >"$T/tw.conf"
cat >"$T/inner.sh" <<INNER
set -u
mount -t tmpfs -o size=4m tmpfs "$T/out" || exit 3
"$THUMBWATCH" --config "$T/tw.conf" 2>"$T/log.disk" &
D=\$!
i=0; while ! grep -q "ready:" "$T/log.disk" && [ \$i -lt 400 ]; do sleep 0.05; i=\$((i + 1)); done
dd if=/dev/zero of="$T/out/filler" bs=4k 2>/dev/null
cp "$T/photo.jpg" "$T/in/photo.jpg"
i=0; while ! grep -q "photo.jpg' failed (io)" "$T/log.disk" && [ \$i -lt 400 ]; do sleep 0.05; i=\$((i + 1)); done
find "$T/out" -name '*photo*' -not -path '*/.thumbwatch/*' >"$T/partial"
rm "$T/out/filler"
i=0; while [ ! -s "$T/out/photo_thumbnail.jpg" ] && [ \$i -lt 400 ]; do sleep 0.05; i=\$((i + 1)); done
gm identify "$T/out/photo_thumbnail.jpg" >"$T/identify" 2>&1
kill -TERM \$D
wait \$D
echo \$? >"$T/status"
INNER
unshare -m sh "$T/inner.sh"
is "$?" 0 "the daemon ran with its output on a 4 MiB tmpfs, filled"
check "the full disk is logged as io, with the reason" grep -q "photo.jpg' failed (io): .*No space left on device" "$T/log.disk"
check "... and the job is kept for a retry" grep -q "photo.jpg': trying again every 0.3 s" "$T/log.disk"
is "$(wc -l <"$T/partial")" 0 "nothing partial is left on the full disk"
check "once space is freed the thumbnail is made, whole" grep -q "JPEG 512x384" "$T/identify"
is "$(cat "$T/status")" 0 "exit 0"
diag "$T/log.disk" | grep -v ' -> ' | tail -n 6
done_testing
