#!/bin/sh
# sizes = WxH[:fit|:fill|:pad]: fit stays inside and never upscales, fill is
# exactly WxH cropped around the centre (upscaling a tiny source), pad is
# exactly WxH with the fitted image centred on the background colour; for
# landscape, portrait, square and tiny sources, with the pixels checked.
. "$(dirname "$0")/lib.sh"

px() { gm convert "$1" -crop "1x1+$2+$3" -depth 8 txt:- | sed -n 's/.*(\([^)]*\)).*/\1/p' | tr -d ' '; }
colour() { # FILE X Y: red, green, blue, black or the pixel
	p=$(px "$@"); r=${p%%,*}; b=${p##*,}; g=${p#*,}; g=${g%,*}
	if [ "$r" -gt 200 ] && [ "$g" -lt 60 ] && [ "$b" -lt 60 ]; then echo red
	elif [ "$g" -gt 100 ] && [ "$r" -lt 60 ] && [ "$b" -lt 60 ]; then echo green
	elif [ "$b" -gt 200 ] && [ "$r" -lt 60 ] && [ "$g" -lt 60 ]; then echo blue
	elif [ "$r" -lt 30 ] && [ "$g" -lt 30 ] && [ "$b" -lt 30 ]; then echo black
	else echo "$p"; fi
}
# Landscape 600x200: red on the left two thirds, blue on the right third.
gm convert -size 400x200 xc:red -size 200x200 xc:blue +append "$T/in/land.png"
gm convert -size 200x600 xc:green "$T/in/port.png"
gm convert -size 300x300 xc:blue "$T/in/square.png"
gm convert -size 40x20 xc:red "$T/in/tiny.png"
printf '[drop:d]\nsource = %s\noutput = %s\nsizes = 100x100 128x64:fill 96x96:pad\nname = {stem}_{size}{ext}\nbackground = #000000\n' \
	"$T/in" "$T/out" >"$T/tw.conf"
"$THUMBWATCH" --config "$T/tw.conf" --once >/dev/null 2>"$T/err"
is "$?" 0 "three modes in one drop: exit 0"

d() { gm identify -format '%wx%h' "$T/out/$1" 2>/dev/null; }
for case in "land 100x33 128x64 96x96" "port 33x100 128x64 96x96" "square 100x100 128x64 96x96" "tiny 40x20 128x64 96x96"; do
	set -- $case
	is "$(d "$1_100x100.png")" "$2" "$1: fit 100x100 is $2 (inside, never upscaled)"
	is "$(d "$1_128x64.png")" "$3" "$1: fill 128x64 is exactly $3"
	is "$(d "$1_96x96.png")" "$4" "$1: pad 96x96 is exactly $4"
done

# fill crops around the centre: 600x200 covers 128x64 at 192x64, of which
# x 32-160 is kept: red to x 96, blue after.
is "$(colour "$T/out/land_128x64.png" 90 32) $(colour "$T/out/land_128x64.png" 100 32)" "red blue" \
	"land: fill keeps the centre (red until x 96, blue after)"
is "$(colour "$T/out/port_128x64.png" 64 32)" "green" "port: fill is all picture, no margin"
# pad centres the fitted image on the background.
is "$(colour "$T/out/land_96x96.png" 48 10) $(colour "$T/out/land_96x96.png" 10 48) $(colour "$T/out/land_96x96.png" 48 90)" \
	"black red black" "land: pad, black above and below, the picture in the middle"
is "$(colour "$T/out/port_96x96.png" 5 48) $(colour "$T/out/port_96x96.png" 48 48)" "black green" \
	"port: pad, black at the sides"
is "$(colour "$T/out/tiny_96x96.png" 5 5) $(colour "$T/out/tiny_96x96.png" 48 48)" "black red" \
	"tiny: pad, not upscaled, centred"

# Several fit sizes, made largest first, each smaller from the one before
# when that is at least twice its size: sizes and picture as made directly.
printf '[drop:d]\nsource = %s\noutput = %s\nsizes = 100x100 512x512 256x256\nname = {stem}_{size}{ext}\n' \
	"$T/in" "$T/out3" >"$T/chain.conf"
"$THUMBWATCH" --config "$T/chain.conf" --once >/dev/null 2>&1
is "$(d ../out3/land_512x512.png) $(d ../out3/land_256x256.png) $(d ../out3/land_100x100.png)" "512x171 256x85 100x33" \
	"sizes 100x100 512x512 256x256 of a 600x200 image: 512x171, 256x85, 100x33"
is "$(colour "$T/out3/land_100x100.png" 60 16) $(colour "$T/out3/land_100x100.png" 72 16)" "red blue" \
	"... the smallest still red to two thirds, blue after"
check "... and as close to a direct resize as 40 dB" sh -c "gm convert '$T/in/land.png' -resize 100x100 '$T/direct.png' &&
	gm compare -metric PSNR '$T/direct.png' '$T/out3/land_100x100.png' | awk '/Total:/ { found = 1; good = (\$2 == \"inf\" || \$2 > 40) } END { exit !(found && good) }'"

printf '[drop:d]\nsource = %s\noutput = %s\nsizes = 100x100:stretch\n' "$T/in" "$T/out2" >"$T/bad.conf"
"$THUMBWATCH" --config "$T/bad.conf" --once >/dev/null 2>"$T/bad.err"
is "$?" 2 "sizes = 100x100:stretch is a config error"
check "... saying what is expected" grep -q "expected sizes as WIDTHxHEIGHT\[:fit|:fill|:pad\]" "$T/bad.err"

done_testing
