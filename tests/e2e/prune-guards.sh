#!/bin/sh
# Pruning removes only what it can show is gone, as the worker would see it:
# a source folder it may not read keeps its thumbnails; so does an empty
# source folder (a disk not mounted on it?) and a source or an output that is
# not the folder it was at start-up (a disk, a bind mount, away); a dangling
# link, a link out of the drop and a folder swapped for a symlink lose
# theirs. And --check-config prints no control character raw.
. "$(dirname "$0")/lib.sh"

# A source folder the daemon may not read (running as nobody).
if id nobody >/dev/null 2>&1 && command -v runuser >/dev/null; then
	mkdir -p "$T/p/src/private" "$T/p/src/pub" "$T/p/out"
	chmod 755 "$T" "$T/p"
	cp "$T/sample.jpg" "$T/p/src/private/a.jpg"
	cp "$T/sample.jpg" "$T/p/src/pub/b.jpg"
	chmod 644 "$T/p/src/private/a.jpg" "$T/p/src/pub/b.jpg"
	chown -R nobody "$T/p/src" "$T/p/out"
	printf '[drop:d]\nsource = %s\noutput = %s\n' "$T/p/src" "$T/p/out" >"$T/p.conf"
	chmod 644 "$T/p.conf"
	runuser -u nobody -- "$THUMBWATCH" --config "$T/p.conf" --once >/dev/null 2>&1
	check "made as nobody" test -s "$T/p/out/private/a_thumbnail.jpg"
	chown root "$T/p/src/private"
	chmod 700 "$T/p/src/private"
	runuser -u nobody -- "$THUMBWATCH" --config "$T/p.conf" --gc >"$T/p.gc" 2>&1
	check "--gc keeps the thumbnails of a source folder it may not read" test -s "$T/p/out/private/a_thumbnail.jpg"
else
	ok "# SKIP no user nobody, or no runuser"
fi

# A source folder that is empty: a disk not mounted on it?
mkdir -p "$T/e/src/disk" "$T/e/src/here" "$T/e/out"
cp "$T/sample.jpg" "$T/e/src/disk/x.jpg"
cp "$T/sample.jpg" "$T/e/src/here/y.jpg"
printf '[drop:d]\nsource = %s\noutput = %s\n' "$T/e/src" "$T/e/out" >"$T/e.conf"
"$THUMBWATCH" --config "$T/e.conf" --once >/dev/null 2>&1
rm "$T/e/src/disk/x.jpg"
"$THUMBWATCH" --config "$T/e.conf" --gc >"$T/e.gc" 2>&1
check "an empty source folder: its thumbnails stay" test -s "$T/e/out/disk/x_thumbnail.jpg"
check "... and --gc says why" grep -q "^kept $T/e/out/disk/: its source folder is empty" "$T/e.gc"
start_daemon --config "$T/e.conf"
check "the daemon's catch-up warns of it" wait_for log_has "'$T/e/out/disk' holds thumbnails, but its source folder is empty"
stop_daemon
check "... and keeps them" test -s "$T/e/out/disk/x_thumbnail.jpg"

# Links: a dangling link, a link out of the drop under follow_symlinks = yes.
mkdir -p "$T/l/src/sub" "$T/l/out" "$T/l/outside"
cp "$T/sample.jpg" "$T/l/src/sub/a.jpg"
cp "$T/sample.jpg" "$T/l/outside/o.jpg"
ln -s sub/a.jpg "$T/l/src/l.jpg"
ln -s "$T/l/outside/o.jpg" "$T/l/src/lo.jpg"
printf '[drop:d]\nsource = %s\noutput = %s\nfollow_symlinks = anywhere\n' "$T/l/src" "$T/l/out" >"$T/any.conf"
printf '[drop:d]\nsource = %s\noutput = %s\nfollow_symlinks = yes\n' "$T/l/src" "$T/l/out" >"$T/yes.conf"
"$THUMBWATCH" --config "$T/any.conf" --once >/dev/null 2>&1
check "follow_symlinks = anywhere: both links made" test -s "$T/l/out/l_thumbnail.jpg" -a -s "$T/l/out/lo_thumbnail.jpg"
rm "$T/l/src/sub/a.jpg"
"$THUMBWATCH" --config "$T/yes.conf" --gc >"$T/l.gc" 2>&1
check "--gc removes the thumbnail of a dangling link" is_gone "$T/l/out/l_thumbnail.jpg"
check "... and, under follow_symlinks = yes, of a link out of the drop" is_gone "$T/l/out/lo_thumbnail.jpg"

# A source folder swapped for a symlink.
mkdir -p "$T/s/src/sub" "$T/s/out" "$T/s/elsewhere"
cp "$T/sample.jpg" "$T/s/src/sub/a.jpg"
printf '[drop:d]\nsource = %s\noutput = %s\n' "$T/s/src" "$T/s/out" >"$T/s.conf"
"$THUMBWATCH" --config "$T/s.conf" --once >/dev/null 2>&1
mv "$T/s/src/sub" "$T/s/elsewhere/sub"
ln -s "$T/s/elsewhere/sub" "$T/s/src/sub"
"$THUMBWATCH" --config "$T/s.conf" --gc >/dev/null 2>&1
check "a source folder swapped for a symlink: its thumbnails go" is_gone "$T/s/out/sub/a_thumbnail.jpg"

# Disks away: a source on a loop-mounted disk and an output on a bind mount,
# both taken away under the daemon, with a reload meanwhile.
mkdir -p "$T/m/src" "$T/m/out" "$T/m/real"
truncate -s 16M "$T/m.img"
if mkfs.ext4 -q -F "$T/m.img" >/dev/null 2>&1 && mount -o loop "$T/m.img" "$T/m/src" 2>/dev/null; then
	if mount --bind "$T/m/real" "$T/m/out" 2>/dev/null; then
		trap 'mountpoint -q "$T/m/src" && umount "$T/m/src"; mountpoint -q "$T/m/out" && umount "$T/m/out"; cleanup' EXIT
		for i in 1 2 3; do cp "$T/sample.jpg" "$T/m/src/p$i.jpg"; done
		printf '[thumbwatch]\nretry_io = 1s\n[drop:d]\nsource = %s\noutput = %s\n' "$T/m/src" "$T/m/out" >"$T/m.conf"
		start_daemon --config "$T/m.conf"
		check "disks: caught up" wait_for is_file "$T/m/out/p3_thumbnail.jpg"
		# A worker may still hold the last source open (it looks again after
		# the write): the disk is busy until it lets go.
		check "the source's disk unmounted" wait_for umount "$T/m/src"
		check "the output's bind mount unmounted" wait_for umount "$T/m/out"
		cp "$T/sample.jpg" "$T/m/src/new.jpg"       # into the bare mount point
		kill -HUP "$PID"
		check "a reload with the source's disk away: no pruning, said so" \
			wait_for log_has "source '$T/m/src' is not the folder it was when thumbwatch started"
		check "the output's bind mount away: not written to, an io failure" \
			wait_for log_has "new.jpg' failed (io): .*not the folder it was when thumbwatch started"
		check "... nothing in the bare output mount point" test -z "$(ls -A "$T/m/out")"
		mount --bind "$T/m/real" "$T/m/out"
		check "the output back: the file is made, with no new event" wait_for is_file "$T/m/out/new_thumbnail.jpg"
		check "... and the unmounted source's thumbnails are all there" \
			test -s "$T/m/out/p1_thumbnail.jpg" -a -s "$T/m/out/p2_thumbnail.jpg" -a -s "$T/m/out/p3_thumbnail.jpg"
		stop_daemon
		is "$STATUS" 0 "exit 0"
	else
		for k in 1 2 3 4 5 6 7 8 9; do ok "# SKIP cannot bind-mount here"; done
	fi
else
	for k in 1 2 3 4 5 6 7 8 9; do ok "# SKIP cannot mount a loop device here"; done
fi

# --check-config: control characters in values and in the file's name are escaped.
esc=$(printf 'x\033[2Jy')
printf '[drop:d]\nsource = /s%s\noutput = /o\n' "$esc" >"$T/esc.conf"
"$THUMBWATCH" --check-config "$T/esc.conf" >"$T/esc.out" 2>&1
check "--check-config prints an ESC in a value as \\x1b" grep -q 'source = /sx\\x1b\[2Jy' "$T/esc.out"
check "... and never raw" sh -c "! grep -q \"$(printf '\033')\" '$T/esc.out'"
done_testing
