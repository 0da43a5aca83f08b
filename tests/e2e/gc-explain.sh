#!/bin/sh
# --gc removes exactly the thumbnails whose sources are gone (and the folders
# of gone source folders), --dry-run lists the same and removes nothing;
# --explain says why a file is skipped, failed, fresh or stale.
. "$(dirname "$0")/lib.sh"

mkdir -p "$T/in/keep" "$T/in/gone" "$T/in/.hidden"
for f in keep/a keep/b gone/c top; do cp "$T/sample.jpg" "$T/in/$f.jpg"; done
cp "$T/sample.jpg" "$T/in/stale.jpg"
echo "not an image" >"$T/in/broken.jpg"
cp "$T/sample.jpg" "$T/in/skip-me.jpg"
printf '[drop:d]\nsource = %s\noutput = %s\nignore = skip-*\n' "$T/in" "$T/out" >"$T/tw.conf"
"$THUMBWATCH" --config "$T/tw.conf" --once >/dev/null 2>&1
is "$?" 1 "the first pass makes the thumbnails (broken.jpg fails)"

# Changes while no daemon runs: a file and a folder deleted, a file renamed.
rm "$T/in/keep/b.jpg"
rm -r "$T/in/gone"
mv "$T/in/top.jpg" "$T/in/moved.jpg"
# Not ours to judge: a hidden file, a non-image and state under .thumbwatch/.
echo x >"$T/out/notes.txt"
echo x >"$T/out/.hidden.jpg"
orphans="$T/out/gone/c_thumbnail.jpg
$T/out/keep/b_thumbnail.jpg
$T/out/top_thumbnail.jpg"

"$THUMBWATCH" --config "$T/tw.conf" --gc --dry-run >"$T/dry" 2>&1
is "$?" 0 "--gc --dry-run: exit 0"
is "$(grep '^would remove .*\.jpg$' "$T/dry" | sed 's/^would remove //' | sort)" "$orphans" \
	"--dry-run lists exactly the three orphans"
check "... and the folder of the gone source folder" grep -qx "would remove $T/out/gone/" "$T/dry"
check "... and removes nothing" test -f "$T/out/keep/b_thumbnail.jpg" -a -f "$T/out/gone/c_thumbnail.jpg"
check "... and says how many" grep -q "^would remove 3 orphan thumbnails and 1 folder$" "$T/dry"

"$THUMBWATCH" --config "$T/tw.conf" --gc >"$T/gc" 2>&1
is "$?" 0 "--gc: exit 0"
is "$(grep '^removed .*\.jpg$' "$T/gc" | sed 's/^removed //' | sort)" "$orphans" "--gc removes exactly the orphans"
check "the thumbnails of existing sources remain" test -f "$T/out/keep/a_thumbnail.jpg" -a -f "$T/out/stale_thumbnail.jpg"
check "the gone folder's mirror is removed" is_gone "$T/out/gone"
check "a non-image file, a hidden file and .thumbwatch/ are left alone" \
	test -f "$T/out/notes.txt" -a -f "$T/out/.hidden.jpg" -a -d "$T/out/.thumbwatch"
"$THUMBWATCH" --config "$T/tw.conf" --gc >"$T/gc2" 2>&1
check "a second --gc finds nothing" grep -q "^removed 0 orphan thumbnails and 0 folders$" "$T/gc2"

# A missing source may be an unmounted disk: nothing is removed.
printf '[drop:d]\nsource = %s\noutput = %s\n' "$T/nowhere" "$T/out" >"$T/missing.conf"
"$THUMBWATCH" --config "$T/missing.conf" --gc >"$T/gc3" 2>&1
check "--gc with a missing source removes nothing" test -f "$T/out/keep/a_thumbnail.jpg"
check "... and says why" grep -q "is not available: leaving" "$T/gc3"

# --explain
touch -d '2030-01-01' "$T/in/stale.jpg"
ex() { "$THUMBWATCH" --config "$T/tw.conf" --explain "$1" 2>&1; }
out=$(ex "$T/in/keep/a.jpg")
check "--explain on a fresh file: its drop" sh -c "echo '$out' | grep -q 'drop: \[drop:d\]'"
check "... its format and size" sh -c "echo '$out' | grep -q 'jpeg, 320x240, within the limits'"
check "... its thumbnail, up to date" sh -c "echo '$out' | grep -q 'thumbnail 128x128: $T/out/keep/a_thumbnail.jpg: up to date'"
out=$(ex "$T/in/stale.jpg")
check "--explain on a stale file says it is stale" sh -c "echo '$out' | grep -q 'stale_thumbnail.jpg: stale'"
out=$(ex "$T/in/broken.jpg")
check "--explain on a failed file: why it fails" sh -c "echo '$out' | grep -q 'would fail (unsupported)'"
check "... and that the failure is remembered" sh -c "echo '$out' | grep -q 'failed before (unsupported)'"
out=$(ex "$T/in/skip-me.jpg")
check "--explain on an ignored file names the pattern" sh -c "echo '$out' | grep -q 'skipped: its name matches ignore = skip-\*'"
out=$(ex "$T/in/skip-dir/x.jpg")
check "--explain on a file in an ignored folder" sh -c "echo '$out' | grep -q 'skipped: a folder above it matches ignore = skip-\*'"
(cd "$T/in/keep" && "$THUMBWATCH" --config "$T/tw.conf" --explain ./../keep/a.jpg >"$T/rel" 2>&1)
check "--explain takes a relative path" grep -q "^$T/in/keep/a.jpg$" "$T/rel"
ex /etc/passwd >"$T/none"
is "$?" 1 "--explain outside every drop: exit 1"
check "... listing the sources" grep -q "in no drop folder; the sources are: $T/in" "$T/none"
"$THUMBWATCH" --config "$T/tw.conf" --dry-run >/dev/null 2>&1
is "$?" 2 "--dry-run without --gc is a usage error"

done_testing
