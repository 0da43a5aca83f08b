#!/bin/sh
# --once on bad input: every error names the path and the reason, usage and
# config errors exit 2, per-file failures exit 1, nothing partial is left.
. "$(dirname "$0")/lib.sh"

gm convert -size 64x64 xc:red "$T/in/red.jpg"

"$THUMBWATCH" --once "$T/nonexistent" "$T/out" 2>"$T/err"
is "$?" 2 "missing source: exit 2"
check "missing source: the message names it and says why" grep -q "source '$T/nonexistent': No such file or directory" "$T/err"

"$THUMBWATCH" --once "$T/in/red.jpg" "$T/out" 2>"$T/err"
is "$?" 2 "source is a file: exit 2"
check "source is a file: says so" grep -q "source '$T/in/red.jpg': Not a directory" "$T/err"

touch "$T/plainfile"
"$THUMBWATCH" --once "$T/in" "$T/plainfile/out" 2>"$T/err"
is "$?" 2 "output under a regular file: exit 2"
check "output under a regular file: names it" grep -q "cannot create output folder '$T/plainfile/out'" "$T/err"

"$THUMBWATCH" --once "$T/in" 2>"$T/err"
is "$?" 2 "SRC without OUT: usage error, exit 2"
check "usage error explains" grep -q "expected SRC and OUT" "$T/err"

"$THUMBWATCH" --bogus-option 2>"$T/err"
is "$?" 2 "unknown option: exit 2"

"$THUMBWATCH" --help >"$T/help"
is "$?" 0 "--help: exit 0"
check "--help shows the usage" grep -q "thumbwatch \[--config FILE\] --once \[SRC OUT\]" "$T/help"
"$THUMBWATCH" --version >"$T/version"
check "--version prints the version" grep -Eq "^thumbwatch [0-9]+\.[0-9]+" "$T/version"

"$THUMBWATCH" --once --workers 0 "$T/in" "$T/out" 2>"$T/err"
is "$?" 2 "--workers 0: exit 2"
check "--workers 0: names the option" grep -q "workers '0'" "$T/err"

# job_timeout: a decode running longer is abandoned, failed as "timeout" and remembered.
mkdir "$T/slow"
gm convert -size 3000x3000 gradient:red-blue "$T/slow/big.png"
printf '[thumbwatch]\njob_timeout = 1ms\n[drop:s]\nsource = %s\noutput = %s\n' "$T/slow" "$T/slow-out" >"$T/slow.conf"
"$THUMBWATCH" --config "$T/slow.conf" --once >/dev/null 2>"$T/err"
is "$?" 1 "a decode past job_timeout: exit 1"
check "... failed as timeout, with the path" grep -q "big.png' failed (timeout): abandoned after job_timeout" "$T/err"
check "... nothing written" test -z "$(find "$T/slow-out" -name '*big*' -not -path '*/.thumbwatch/*')"
check "... and remembered" grep -q timeout "$(record "$T/slow-out" "$T/slow/big.png")"
printf '[drop:s]\nsource = %s\noutput = %s\n' "$T/slow" "$T/slow-out2" >"$T/slow2.conf"
"$THUMBWATCH" --config "$T/slow2.conf" --once >/dev/null 2>&1
is "$?" 0 "with the default job_timeout the same file is made"

# Permissions, as an unprivileged user (root bypasses them).
if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null; then
	as_nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"; }
	chmod 755 "$T" "$T/in"
	chmod 644 "$T/in/red.jpg"
	mkdir "$T/ro-out"
	as_nobody "$THUMBWATCH" --once "$T/in" "$T/ro-out" 2>"$T/err"
	is "$?" 2 "output folder not writable: exit 2"
	check "output folder not writable: says so" grep -q "output folder '$T/ro-out' is not writable: Permission denied" "$T/err"

	mkdir -p "$T/in/sub" "$T/w-out/sub"
	cp "$T/in/red.jpg" "$T/in/sub/red.jpg"
	chmod 755 "$T/in/sub"
	chown nobody "$T/w-out"
	as_nobody "$THUMBWATCH" --once "$T/in" "$T/w-out" >"$T/out.txt" 2>"$T/err"
	is "$?" 1 "a sub-folder of the output not writable: exit 1"
	check "... that file is counted as failed" grep -q "^made 1, up to date 0, failed 1" "$T/out.txt"
	check "... the log names the file and the reason" grep -q "sub/red.jpg' failed (io): .*Permission denied" "$T/err"
	is "$(find "$T/w-out/sub" -type f | wc -l)" 0 "... and nothing partial is left there"
	diag "$T/out.txt" "$T/err"

	mkdir "$T/in/locked"
	cp "$T/in/red.jpg" "$T/in/locked/x.jpg"
	chmod 700 "$T/in/locked"
	chmod 000 "$T/in/sub/red.jpg"
	rm -rf "$T/w-out"; mkdir "$T/w-out"; chown nobody "$T/w-out"
	as_nobody "$THUMBWATCH" --once "$T/in" "$T/w-out" >"$T/out.txt" 2>"$T/err"
	is "$?" 1 "an unreadable file: exit 1"
	check "an unreadable file is named, with the reason" grep -q "sub/red.jpg' failed (io): cannot open: Permission denied" "$T/err"
	check "an unreadable folder is named, and skipped" grep -q "cannot read '$T/in/locked', skipping: Permission denied" "$T/err"
	check "the readable image is still made" test -s "$T/w-out/red_thumbnail.jpg"
	diag "$T/out.txt" "$T/err"
else
	ok "# SKIP permission checks need root (to become nobody) and setpriv"
fi

done_testing
