#!/bin/sh
# The config file from the command line: --config FILE --once processes every
# drop, --check-config validates and prints, errors name file and line.
. "$(dirname "$0")/lib.sh"

mkdir -p "$T/in1/x" "$T/in2"
gm convert -size 300x300 xc:red "$T/in1/x/one.jpg"
gm convert -size 300x150 xc:blue "$T/in2/two.png"
gm convert -size 300x150 xc:blue "$T/in2/skip-me.png"
cat >"$T/tw.conf" <<CONF
[thumbwatch]
workers = 2
queue_size = 4
log_level = debug

[drop:first]
source = $T/in1
output = $T/out1
sizes = 64x64

[drop:second]
source = $T/in2
output = $T/out2
name = thumb-{stem}{ext}
ignore = skip-*
CONF

"$THUMBWATCH" --config "$T/tw.conf" --once >"$T/stdout" 2>"$T/stderr"
is "$?" 0 "--config FILE --once: exit 0"
is "$(dims "$T/out1/x/one_thumbnail.jpg")" "64 64 JPEG" "first drop: its own size"
is "$(dims "$T/out2/thumb-two.png")" "128 64 PNG" "second drop: its own name template"
check "second drop: ignore glob honoured" test ! -e "$T/out2/thumb-skip-me.png"
check "log_level = debug logs each thumbnail made" grep -q "one.jpg' -> '$T/out1/x/one_thumbnail.jpg'" "$T/stderr"
diag "$T/stdout"

"$THUMBWATCH" --check-config "$T/tw.conf" >"$T/check"
is "$?" 0 "--check-config on a good file: exit 0"
check "--check-config prints every key, with the file and line it came from" grep -q "^queue_size = 4 *; $T/tw.conf:3$" "$T/check"
check "--check-config prints the drops' keys, with their lines" grep -q "^name = thumb-{stem}{ext} *; $T/tw.conf:14$" "$T/check"
check "--check-config says which values are defaults" grep -q "^max_pixels = 100000000 *; default$" "$T/check"
"$THUMBWATCH" --check-config "$T/tw.conf" --workers 7 >"$T/check2"
check "--check-config says which values came from the command line" grep -q "^workers = 7 *; command line$" "$T/check2"
"$THUMBWATCH" --check-config "$T/check" >/dev/null
is "$?" 0 "what --check-config prints is itself a valid config"

"$THUMBWATCH" --check-config "$TOP_SRCDIR/etc/thumbwatch.conf" >/dev/null
is "$?" 0 "the shipped etc/thumbwatch.conf is valid"

printf '[thumbwatch]\nworkers = 2\nfrobnicate = yes\n' >"$T/bad.conf"
"$THUMBWATCH" --check-config "$T/bad.conf" 2>"$T/err"
is "$?" 2 "unknown key: exit 2"
check "unknown key: file, line and key" grep -q "$T/bad.conf:3: \[thumbwatch\] frobnicate 'yes': unknown key" "$T/err"

printf '[drop:a]\nsource = %s\noutput = %s\nsizes = big\n' "$T/in1" "$T/o" >"$T/bad2.conf"
"$THUMBWATCH" --config "$T/bad2.conf" --once 2>"$T/err"
is "$?" 2 "bad value with --once: exit 2, nothing done"
check "bad value: file, line, key and value" grep -q "$T/bad2.conf:4: \[drop:a\] sizes 'big'" "$T/err"
check "bad value: no output folder created" test ! -e "$T/o"
printf '[drop:a]\nsource = %s\noutput = %s\nsizes = 64x64 9000x100\n' "$T/in1" "$T/out1" >"$T/big.conf"
"$THUMBWATCH" --check-config "$T/big.conf" >/dev/null 2>"$T/err"
is "$?" 2 "a size over 8192: exit 2"
check "... the message gives the limit as 8192" grep -q "$T/big.conf:4: \[drop:a\] sizes '64x64 9000x100': .*each from 1 to 8192$" "$T/err"

"$THUMBWATCH" --config "$T/none.conf" --once 2>"$T/err"
is "$?" 2 "missing config file: exit 2"
check "missing config file: named" grep -q "$T/none.conf: cannot read the config file: No such file or directory" "$T/err"

printf '[drop:a]\nsource = %s/missing\noutput = %s/o\n' "$T" "$T" >"$T/missing-src.conf"
"$THUMBWATCH" --config "$T/missing-src.conf" --once 2>"$T/err"
is "$?" 2 "a drop whose source is missing: exit 2"
check "... with the file and line of the drop" grep -q "missing-src.conf:1: \[drop:a\]: source '$T/missing': No such file" "$T/err"
# Where a drop is reads the same whether the config or the start-up finds the fault.
printf '[drop:a]\nsource = %s/in\noutput = %s/in\n' "$T" "$T" >"$T/same.conf"
"$THUMBWATCH" --config "$T/same.conf" --once 2>"$T/err2"
check "... as a check of the config names it" grep -q "same.conf:1: \[drop:a\]: output '$T/in' is the source itself" "$T/err2"
"$THUMBWATCH" --once "$T/missing" "$T/o" 2>"$T/err"
check "SRC OUT: a missing source is said to come from the command line" \
	grep -q "command line: source '$T/missing': No such file" "$T/err"
"$THUMBWATCH" --once "$T/in" "$T/in" 2>"$T/err"
check "... as a check of the config says" grep -q "command line: output '$T/in' is the source itself" "$T/err"

# rescan_unwatched and max_memory: their defaults, a value from the file, a bad value.
check "--check-config prints rescan_unwatched's default" grep -q "^rescan_unwatched = 30s *; default$" "$T/check"
check "--check-config prints max_memory's default, auto" grep -q "^max_memory = auto *; default$" "$T/check"
printf '[thumbwatch]\nrescan_unwatched = 2s\nmax_memory = 1G\n[drop:a]\nsource = %s\noutput = %s\n' "$T/in1" "$T/out1" >"$T/new.conf"
"$THUMBWATCH" --check-config "$T/new.conf" >"$T/check3"
is "$?" 0 "rescan_unwatched = 2s, max_memory = 1G: exit 0"
check "... rescan_unwatched printed with its line" grep -q "^rescan_unwatched = 2s *; $T/new.conf:2$" "$T/check3"
check "... max_memory printed in bytes with its line" grep -q "^max_memory = 1073741824 *; $T/new.conf:3$" "$T/check3"
printf '[thumbwatch]\nmax_memory = 512\n' >"$T/bad3.conf"
"$THUMBWATCH" --check-config "$T/bad3.conf" 2>"$T/err"
is "$?" 2 "max_memory = 512 (no unit, under 1M): exit 2"
check "... with the file, line and what is expected" grep -q "$T/bad3.conf:2: \[thumbwatch\] max_memory '512': expected 'auto' or a size" "$T/err"

# Two drops must not share an output, nor nest one output in another: their
# thumbnails would overwrite each other and --gc would delete the other's.
printf '[drop:a]\nsource = %s\noutput = %s\n[drop:b]\nsource = %s\noutput = %s\n' \
	"$T/in1" "$T/shared" "$T/in2" "$T/shared" >"$T/same-out.conf"
"$THUMBWATCH" --check-config "$T/same-out.conf" >/dev/null 2>"$T/err"
is "$?" 2 "two drops with one output: exit 2"
check "... naming the file, the line and both drops" \
	grep -q "$T/same-out.conf:1: \[drop:a\]: output '$T/shared' is also the output of \[drop:b\] (line 4); .*--gc would delete" "$T/err"
printf '[drop:a]\nsource = %s\noutput = %s\n[drop:b]\nsource = %s\noutput = %s\n' \
	"$T/in1" "$T/shared/a" "$T/in2" "$T/shared" >"$T/nested-out.conf"
"$THUMBWATCH" --check-config "$T/nested-out.conf" >/dev/null 2>"$T/err"
is "$?" 2 "an output inside another drop's output: exit 2"
check "... naming the file, the line and both drops" \
	grep -q "$T/nested-out.conf:1: \[drop:a\]: output '$T/shared/a' is inside the output '$T/shared' of \[drop:b\] (line 4)" "$T/err"
printf '[drop:a]\nsource = %s\noutput = %s/.thumbs\n[drop:b]\nsource = %s\noutput = %s/b-thumbs\n' \
	"$T/in1" "$T/in1" "$T/in2" "$T/in1" >"$T/in-source.conf"
"$THUMBWATCH" --check-config "$T/in-source.conf" >/dev/null
is "$?" 0 "outputs inside a source, its own or another's: still fine"

# A name template must give each size its own name.
printf '[drop:a]\nsource = %s\noutput = %s\nsizes = 128x128 128x32\nname = {stem}_{width}{ext}\n' "$T/in1" "$T/out1" >"$T/clash.conf"
"$THUMBWATCH" --check-config "$T/clash.conf" >/dev/null 2>"$T/err"
is "$?" 2 "a name that gives two sizes one name: exit 2"
check "... naming both sizes and the name they share" \
	grep -q "$T/clash.conf:1: \[drop:a\]: name '{stem}_{width}{ext}' gives the sizes 128x128 and 128x32 the same name ('x_128.jpg'" "$T/err"

# SRC OUT replace the drops of the file but keep its [thumbwatch] settings.
"$THUMBWATCH" --config "$T/tw.conf" --once "$T/in2" "$T/out3" >"$T/stdout" 2>"$T/stderr"
is "$?" 0 "--config FILE with SRC OUT: exit 0"
check "SRC OUT replace the file's drops (default name)" test -s "$T/out3/two_thumbnail.png"
check "... and the file's drops are not run" test ! -e "$T/out1/x/one_thumbnail.jpg.x"
check "... but its log_level still applies" grep -q "two.png' -> " "$T/stderr"

done_testing
