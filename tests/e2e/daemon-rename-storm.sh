#!/bin/sh
# A rename storm on a tree of about 3,000 folders: 1,500 renames as fast as
# a script can make them, of whole subtrees near the top, of folders in the
# middle and of leaves, in place and under other parents, with name swaps
# among them. Afterwards every image has its thumbnail under the folder's
# last name and nothing is left under old names, each folder is watched once
# (the kernel's count of watches equals the number of folders), and a file
# dropped into folders renamed many times over gets its thumbnail.
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || { echo "1..0 # SKIP python3 makes the storm"; exit 0; }
# A storm takes the watcher a while on a slow machine, or under a sanitizer.
WAIT_SECONDS=${WAIT_SECONDS:-120}

# 12 folders of 12 folders of 20: 3,036 folders, an image in every middle
# folder and in every fifth leaf.
python3 - "$T/in" "$T/sample.jpg" <<'PY'
import os, shutil, sys
src, sample = sys.argv[1], sys.argv[2]
for a in range(12):
    for b in range(12):
        mid = os.path.join(src, "a%d" % a, "b%d" % b)
        os.makedirs(mid)
        shutil.copyfile(sample, os.path.join(mid, "m.jpg"))
        for c in range(20):
            leaf = os.path.join(mid, "c%d" % c)
            os.mkdir(leaf)
            if c % 5 == 0:
                shutil.copyfile(sample, os.path.join(leaf, "l.jpg"))
PY
folders=$(find "$T/in" -type d | wc -l)
images=$(find "$T/in" -name '*.jpg' | wc -l)

# expected / made: the thumbnails the tree calls for, and those there are;
# missing / left_over: the difference, either way.
expected() { (cd "$T/in" && find . -name '*.jpg' | sed 's/\.jpg$/_thumbnail.jpg/' | sort); }
made() { (cd "$T/out" && find . -path ./.thumbwatch -prune -o -type f -print | sort); }
missing() { expected >"$T/expected"; made >"$T/made"; comm -23 "$T/expected" "$T/made"; }
left_over() { expected >"$T/expected"; made >"$T/made"; comm -13 "$T/expected" "$T/made"; }
none_missing() { [ -z "$(missing)" ]; }
none_left_over() { [ -z "$(left_over)" ]; }
in_place() { none_missing && none_left_over; }
watched() { [ "$(kernel_watches)" -eq "$folders" ]; }

start_daemon "$T/in" "$T/out"
check "ready" wait_ready
check "caught up: $images thumbnails" wait_for in_place
inotify_only "one watch per folder before the storm" && check "one watch per folder before the storm ($folders folders)" wait_for watched

python3 - "$T/in" <<'PY'
import os, random, sys
src = sys.argv[1]
random.seed(18)
dirs = sorted(os.path.relpath(os.path.join(r, d), src) for r, ds, _ in os.walk(src) for d in ds)
n = 0
def depth(p): return p.count("/")
def rename(old, new):
    os.rename(os.path.join(src, old), os.path.join(src, new))
    for i, d in enumerate(dirs):
        if d == old or d.startswith(old + "/"):
            dirs[i] = new + d[len(old):]
for step in range(1500):
    level = random.choices([0, 1, 2], weights=[2, 3, 5])[0]
    old = random.choice([d for d in dirs if depth(d) == level] or dirs)
    parent = os.path.dirname(old)
    op = random.random()
    n += 1
    if op < 0.6:
        # In place, to a new name.
        rename(old, os.path.join(parent, "r%d" % n))
    elif op < 0.9:
        # Under another folder one level up, not inside itself.
        parents = [d for d in dirs if depth(d) == level - 1] if level > 0 else [""]
        to = random.choice(parents)
        rename(old, os.path.join(to, "m%d" % n))
    else:
        # Two siblings swap names.
        sibs = [d for d in dirs if os.path.dirname(d) == parent and d != old]
        if not sibs:
            continue
        other = random.choice(sibs)
        tmp = os.path.join(parent, "t%d" % n)
        rename(old, tmp)
        rename(other, old)
        rename(tmp, other)
PY
check "after the storm: each image has its thumbnail under its folder's last name" wait_for none_missing
missing | head -n 10 | diag
# Nor is any left under an old name: a worker that wrote a thumbnail while
# the watcher moved folders' mirrors (into a mirror that then moved where
# its source is not) removes it, once it sees its source's path name
# another file, or none.
check "... and none is left under an old name" wait_for none_left_over
left_over | head -n 10 | diag
is "$(find "$T/in" -type d | wc -l)" "$folders" "the storm kept every folder"
if inotify_only "one watch per folder after the storm"; then
	check "one watch per folder after the storm" wait_for watched
	[ "$(kernel_watches)" -eq "$folders" ] || echo "#   the kernel counts $(kernel_watches) watches for $folders folders"
fi

# Folders renamed over and over are watched under their last names.
later=$(cd "$T/in" && find . -mindepth 3 -type d -name 'r*' | head -n 5)
for d in $later; do cp "$T/sample.jpg" "$T/in/$d/later.jpg"; done
later_made() { [ -n "$later" ] || return 1; for d in $later; do [ -s "$T/out/$d/later_thumbnail.jpg" ] || return 1; done; }
check "a file dropped into folders renamed in the storm gets its thumbnail ($(echo "$later" | wc -w) folders)" \
	wait_for later_made
stop_daemon
is "$STATUS" 0 "SIGTERM: exit 0"
done_testing
