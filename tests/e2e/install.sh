#!/bin/sh
# make install DESTDIR=...: binary, unit, config, sysusers file and man pages
# where an admin expects them; the installed config passes --check-config; the
# man pages render; the unit passes systemd-analyze verify and its exposure
# score is at most 1.0; so does it with the fleet's drop-in that opens TCP to
# a Redis host, which changes only the network, and with the drop-in for
# watcher = fanotify, which grants its two capabilities and three system calls
# and nothing else.
. "$(dirname "$0")/lib.sh"

: "${TOP_BUILDDIR:?}" "${BINDIR:?}" "${SYSCONFDIR:?}" "${UNITDIR:?}" "${MANDIR:?}" "${SYSUSERSDIR:?}" "${PKGDATADIR:?}"
R=$T/root
${MAKE:-make} -s -C "$TOP_BUILDDIR" install DESTDIR="$R" >"$T/install.log" 2>&1
is "$?" 0 "make install DESTDIR=... succeeds"
diag "$T/install.log"
check "the binary: $BINDIR/thumbwatch" test -x "$R$BINDIR/thumbwatch"
check "the unit: $UNITDIR/thumbwatch.service" test -s "$R$UNITDIR/thumbwatch.service"
check "the config: $SYSCONFDIR/thumbwatch/thumbwatch.conf" test -s "$R$SYSCONFDIR/thumbwatch/thumbwatch.conf"
check "the sysusers.d file: $SYSUSERSDIR/thumbwatch.conf" grep -q '^u thumbwatch' "$R$SYSUSERSDIR/thumbwatch.conf"
check "the man pages: thumbwatch(8) and thumbwatch.conf(5)" test -s "$R$MANDIR/man8/thumbwatch.8" -a -s "$R$MANDIR/man5/thumbwatch.conf.5"
check "the fleet's drop-in for a Redis host over TCP: $PKGDATADIR/fleet-redis-tcp.conf" \
	grep -q '^IPAddressAllow=' "$R$PKGDATADIR/fleet-redis-tcp.conf"
check "... which says where it was installed" grep -q "$PKGDATADIR/fleet-redis-tcp.conf" "$R$PKGDATADIR/fleet-redis-tcp.conf"
F=$R$PKGDATADIR/thumbwatch-fanotify.conf
check "the drop-in for watcher = fanotify: $PKGDATADIR/thumbwatch-fanotify.conf" test -s "$F"
check "... which says where it was installed" grep -q "$PKGDATADIR/thumbwatch-fanotify.conf" "$F"
check "... and that the config must say watcher = fanotify" grep -q "watcher = fanotify" "$F"
for line in '[Service]' 'CapabilityBoundingSet=CAP_SYS_ADMIN CAP_DAC_READ_SEARCH' \
	'AmbientCapabilities=CAP_SYS_ADMIN CAP_DAC_READ_SEARCH' 'PrivateUsers=no' \
	'SystemCallFilter=fanotify_init fanotify_mark open_by_handle_at'; do
	check "... holds the line $line" grep -qxF "$line" "$F"
done
check "... and no other setting" test "$(grep -cv '^#' "$F")" -eq 5
check "the unit runs the installed binary with the installed config" \
	grep -q "^ExecStart=$BINDIR/thumbwatch --config $SYSCONFDIR/thumbwatch/thumbwatch.conf$" "$R$UNITDIR/thumbwatch.service"
"$R$BINDIR/thumbwatch" --check-config "$R$SYSCONFDIR/thumbwatch/thumbwatch.conf" >/dev/null
is "$?" 0 "the installed config passes --check-config"

echo "workers = 1" >>"$R$SYSCONFDIR/thumbwatch/thumbwatch.conf"
${MAKE:-make} -s -C "$TOP_BUILDDIR" install DESTDIR="$R" >/dev/null 2>&1
check "installing again keeps the admin's config" grep -q "^workers = 1$" "$R$SYSCONFDIR/thumbwatch/thumbwatch.conf"

if command -v man >/dev/null; then
	for page in man8/thumbwatch.8 man5/thumbwatch.conf.5; do
		# Wide: make distcheck configures paths so long that troff cannot fit
		# them into 80 columns (it warns); the paths an admin uses fit.
		out=$(MANWIDTH=200 man -l "$R$MANDIR/$page" 2>"$T/man.err")
		check "man -l $page renders" test -n "$out"
		check "... without warnings" test ! -s "$T/man.err"
		check "... with the configured paths" sh -c "echo \"\$0\" | grep -q '$SYSCONFDIR/thumbwatch/thumbwatch.conf'" "$out"
	done
	for word in --once --check-config --workers --queue-size --log-level --log-target SIGTERM SIGHUP \
		--watcher THUMBWATCH_SOURCE THUMBWATCH_OUTPUT THUMBWATCH_ERROR THUMBWATCH_DURATION_US MESSAGE_ID 'STATUS=' 130; do
		check "thumbwatch(8) covers $word" sh -c "MANWIDTH=200 man -l '$R$MANDIR/man8/thumbwatch.8' 2>/dev/null | grep -q -- '$word'"
	done
	# Where thumbwatch's own messages send an admin who lacks a capability.
	for page in man8/thumbwatch.8 man5/thumbwatch.conf.5; do
		check "$page names the drop-in for watcher = fanotify as installed" \
			sh -c "MANWIDTH=200 man -l '$R$MANDIR/$page' 2>/dev/null | grep -qF '$PKGDATADIR/thumbwatch-fanotify.conf'"
	done
	# Every key --check-config prints (the config's own table) is documented.
	printf '[drop:d]\nsource = /s\noutput = /o\n' >"$T/keys.conf"
	keys=$("$THUMBWATCH" --check-config "$T/keys.conf" | sed -n 's/^\([a-z_]*\) =.*/\1/p' | sort -u)
	check "--check-config prints the keys" test "$(echo "$keys" | wc -l)" -gt 20
	for key in $keys; do
		check "thumbwatch.conf(5) covers $key" sh -c "MANWIDTH=200 man -l '$R$MANDIR/man5/thumbwatch.conf.5' 2>/dev/null | grep -q '^ *$key '"
		check "etc/thumbwatch.conf documents $key" grep -q "^;\{0,1\}$key =" "$TOP_SRCDIR/etc/thumbwatch.conf"
	done
else
	ok "# SKIP man is not installed"
fi

if command -v systemd-analyze >/dev/null; then
	# The unit as installed, with its binary found inside DESTDIR.
	sed "s|^ExecStart=$BINDIR/|ExecStart=$R$BINDIR/|" "$R$UNITDIR/thumbwatch.service" >"$T/thumbwatch.service"
	systemd-analyze verify --man=no "$T/thumbwatch.service" >"$T/verify" 2>&1
	is "$?" 0 "systemd-analyze verify passes"
	diag "$T/verify"
	if systemd-analyze security --offline=yes "$T/thumbwatch.service" >"$T/security" 2>&1; then
		cp "$T/security" "$T/security.unit"
		score=$(sed -n 's/.*Overall exposure level for thumbwatch.service: \([0-9.]*\).*/\1/p' "$T/security")
		echo "#   systemd-analyze security exposure level: $score"
		check "exposure level $score is at most 1.0" awk -v s="$score" 'BEGIN { exit !(s != "" && s <= 1.0) }'
	else
		ok "# SKIP systemd-analyze security --offline is not supported here"
	fi
	# with_dropin FILE WHAT: FILE alone beside the unit, as in
	# /etc/systemd/system/thumbwatch.service.d/; verified, and true when
	# systemd-analyze can score it: its report in $T/security, its exposure
	# in $exposure.
	mkdir "$T/thumbwatch.service.d"
	with_dropin() {
		rm -f "$T/thumbwatch.service.d/"*
		cp "$1" "$T/thumbwatch.service.d/"
		systemd-analyze verify --man=no "$T/thumbwatch.service" >"$T/verify" 2>&1
		is "$?" 0 "systemd-analyze verify passes with the $2 drop-in"
		diag "$T/verify"
		systemd-analyze security --offline=yes "$T/thumbwatch.service" >"$T/security" 2>&1 || return 1
		exposure=$(sed -n 's/.*Overall exposure level for thumbwatch.service: \([0-9.]*\).*/\1/p' "$T/security")
		echo "#   with the $2 drop-in: $exposure"
	}
	if with_dropin "$R$PKGDATADIR/fleet-redis-tcp.conf" "Redis TCP"; then
		tcp=$exposure
		check "... which is applied: the host's network" grep -q '✗ PrivateNetwork=' "$T/security"
		check "... and IPv4 and IPv6 sockets" grep -q '✗ RestrictAddressFamilies=~AF_(INET|INET6)' "$T/security"
		check "... and the address allowed is a named host, no wider" grep -q 'IP address allow list with non-localhost entries' "$T/security"
		check "... the rest of the sandbox kept: exposure $tcp, $score plus at most the network items (0.9)" \
			awk -v s="$score" -v t="$tcp" 'BEGIN { exit !(t != "" && t - s <= 0.95) }'
	fi
	# The drop-in for watcher = fanotify instead.
	if with_dropin "$F" "watcher = fanotify"; then
		check "... which is applied: CAP_SYS_ADMIN" grep -q '✗ CapabilityBoundingSet=~CAP_SYS_ADMIN ' "$T/security"
		check "... fanotify_init allowed by the system call filter" \
			grep -q '✗ SystemCallFilter=~@privileged .*fanotify_init is allowed' "$T/security"
		# What it opens, and nothing more: the items the unit alone passes and
		# the unit with the drop-in fails.
		sed -n 's/^✗ \([^ ]*\) .*/\1/p' "$T/security.unit" | sort >"$T/failed.unit"
		sed -n 's/^✗ \([^ ]*\) .*/\1/p' "$T/security" | sort >"$T/failed.fanotify"
		opened=$(comm -13 "$T/failed.unit" "$T/failed.fanotify" | paste -sd ' ' -)
		echo "#   opened: $opened"
		is "$opened" "AmbientCapabilities= CapabilityBoundingSet=~CAP_(DAC_*|FOWNER|IPC_OWNER) CapabilityBoundingSet=~CAP_SYS_ADMIN PrivateUsers= SystemCallFilter=~@privileged" \
			"... and opens only its capabilities, the host's users and the privileged system calls"
	fi
else
	ok "# SKIP systemd-analyze is not installed"
fi
done_testing
