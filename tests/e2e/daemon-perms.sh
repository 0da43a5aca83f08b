#!/bin/sh
# The live daemon, unprivileged, against files it may not read, output
# folders it may not write, sources that vanish before their turn, and a
# symlink planted in its output tree; symlinks in the source are left alone
# unless the drop says follow_symlinks = yes.
. "$(dirname "$0")/lib.sh"

if [ "$(id -u)" -ne 0 ] || ! command -v setpriv >/dev/null; then
	echo "1..0 # SKIP needs root (to run the daemon as nobody) and setpriv"
	exit 0
fi
chmod 755 "$T" "$T/in"
chown nobody "$T/out"
chmod 644 "$T/sample.jpg"
printf '[drop:d]\nsource = %s\noutput = %s\n[drop:links]\nsource = %s\noutput = %s\nfollow_symlinks = yes\n' \
	"$T/in" "$T/out" "$T/in-links" "$T/out-links" >"$T/tw.conf"
printf '[drop:anywhere]\nsource = %s\noutput = %s\nfollow_symlinks = anywhere\n' "$T/in-any" "$T/out-any" >>"$T/tw.conf"
mkdir "$T/in-links" "$T/out-links" "$T/in-links/real" "$T/in-any" "$T/out-any"
chmod 755 "$T/in-links" "$T/in-links/real" "$T/in-any"
chown nobody "$T/out-links" "$T/out-any"
chmod 644 "$T/tw.conf"
LOG=$T/log.perms
setpriv --reuid=nobody --regid=nogroup --clear-groups "$THUMBWATCH" --config "$T/tw.conf" 2>"$LOG" &
PID=$!
check "ready as nobody" wait_ready

cp "$T/sample.jpg" "$T/in/locked.jpg.tmp" && chmod 000 "$T/in/locked.jpg.tmp" && mv "$T/in/locked.jpg.tmp" "$T/in/locked.jpg"
check "an unreadable file fails as io, with the reason" wait_for log_has "locked.jpg' failed (io): cannot open: Permission denied"

mkdir "$T/out/ro" && chmod 555 "$T/out/ro" && chown root "$T/out/ro"
mkdir "$T/in/ro" && chmod 755 "$T/in/ro"
cp "$T/sample.jpg" "$T/in/ro/x.jpg"
check "an output folder it may not write: io, with the reason" wait_for log_has "ro/x.jpg' failed (io): .*Permission denied"
is "$(find "$T/out/ro" -type f | wc -l)" 0 "... and nothing is left in it"
chmod 777 "$T/out/ro"
touch "$T/in/ro/x.jpg"
check "io failures are not remembered: fixed and touched, it is made" wait_for is_file "$T/out/ro/x_thumbnail.jpg"

# A symlink planted in the output tree, where a thumbnail folder would go.
mkdir "$T/elsewhere" && chmod 777 "$T/elsewhere"
ln -s "$T/elsewhere" "$T/out/planted"
mkdir "$T/in/planted" && chmod 755 "$T/in/planted"
cp "$T/sample.jpg" "$T/in/planted/y.jpg"
check "a symlinked folder in the output tree is not followed (io)" wait_for log_has "planted/y.jpg' failed (io)"
is "$(find "$T/elsewhere" -type f | wc -l)" 0 "... nothing was written through it"

# Symlinks in the source.
ln -s "$T/sample.jpg" "$T/in/link.jpg"
cp "$T/sample.jpg" "$T/in/barrier.jpg"
check "barrier" wait_for is_file "$T/out/barrier_thumbnail.jpg"
check "a symlink in the source is left alone" is_gone "$T/out/link_thumbnail.jpg"
cp "$T/sample.jpg" "$T/link-target.jpg" && chmod 644 "$T/link-target.jpg"
cp "$T/sample.jpg" "$T/in-links/real/target.jpg" && chmod 644 "$T/in-links/real/target.jpg"
ln -s ../in-links/real/target.jpg "$T/in-links/.l.tmp" && mv "$T/in-links/.l.tmp" "$T/in-links/linked.jpg"
check "... unless the drop says follow_symlinks = yes (a target inside the drop)" \
	wait_for is_file "$T/out-links/linked_thumbnail.jpg"
ln -s "$T/in-links/real/target.jpg" "$T/in-links/made-in-place.jpg"
check "... also a link made in place (ln -s: IN_CREATE only)" wait_for is_file "$T/out-links/made-in-place_thumbnail.jpg"
ln -s "$T/link-target.jpg" "$T/in-links/outside.jpg"
check "follow_symlinks = yes: a link out of the drop is not read" \
	wait_for log_has "in-links/outside.jpg' is reached through a symlink that leads out of the drop: not read"
check "... and gets no thumbnail" is_gone "$T/out-links/outside_thumbnail.jpg"
ln -s "$T/link-target.jpg" "$T/in-any/outside.jpg"
check "follow_symlinks = anywhere: a link out of the drop is followed" wait_for is_file "$T/out-any/outside_thumbnail.jpg"

# Gone before its turn: no failure, no thumbnail.
cp "$T/sample.jpg" "$T/in/brief.jpg"; rm "$T/in/brief.jpg"
cp "$T/sample.jpg" "$T/in/barrier2.jpg"
check "barrier" wait_for is_file "$T/out/barrier2_thumbnail.jpg"
check "a source deleted before its decode: no failure" test -z "$(grep "brief.jpg' failed" "$LOG")"
check "... and no thumbnail" is_gone "$T/out/brief_thumbnail.jpg"
check "the daemon is still running" kill -0 "$PID"
stop_daemon
is "$STATUS" 0 "exit 0"
done_testing
