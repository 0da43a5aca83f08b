#!/bin/sh
# bench/sections/quality.sh - size hint and resize filter against a
# full-decode thumbnail (bench/quality on the photo corpus). Run by bench/run.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
. "$here/lib.sh"

photo_corpus
say ""
say "## Size hint and resize filter (bench/quality)"
say ""
say '```'
BENCH_DIR=$B "$here/quality" "$B/photo/jpeg" | tee -a "$R"
say '```'
