#!/usr/bin/env bash
# Every public symbol the installed libraries export has a man(3) page
# (a page or a .so link to one), every .so link resolves, every program has
# a man(1) page, and the pages format without warnings.
#   check_man.sh MAN_DIR LIB.so... -- PROGRAM...
set -euo pipefail
man=$1; shift
libs=()
while [ $# -gt 0 ] && [ "$1" != -- ]; do libs+=("$1"); shift; done
[ $# -gt 0 ] && shift
bad=0
for lib in "${libs[@]}"; do
	for s in $(nm -D --defined-only "$lib" | awk 'NF==3{print $3}' | sed 's/@.*//' | grep -v '^MEMOBJ' | sort -u); do
		[ -e "$man/$s.3" ] || { echo "no man page for $s (from $(basename "$lib"))"; bad=1; }
	done
done
for prog in "$@"; do
	[ -e "$man/$(basename "$prog").1" ] || { echo "no man(1) page for $(basename "$prog")"; bad=1; }
done
[ -e "$man/memobj.7" ] || { echo "no memobj(7)"; bad=1; }
for f in "$man"/*.[137]; do
	if head -1 "$f" | grep -q '^\.so '; then
		target=$(head -1 "$f" | sed 's/^\.so man[0-9]\///')
		[ -e "$man/$target" ] || { echo "$f: .so to missing $target"; bad=1; }
	elif command -v groff >/dev/null; then
		out=$(groff -t -man -Tutf8 -ww -z "$f" 2>&1) || true
		[ -z "$out" ] || { echo "$f: $out"; bad=1; }
	fi
done
# Every variable the code reads is in memobj(7)'s one table.
src=$(cd "$man/../.." && pwd)
for v in $(grep -rhoE 'getenv\("MEMOBJ_[A-Z_]+"\)|_ENV "MEMOBJ_[A-Z_]+"' "$src"/src "$src"/pagers "$src"/tools 2>/dev/null |
	grep -oE 'MEMOBJ_[A-Z_]+' | sort -u); do
	grep -q "^$v|" "$man/memobj.7" || { echo "memobj(7) has no row for $v"; bad=1; }
done
[ $bad -eq 0 ] && echo "man pages: every public symbol, program and variable documented"
exit $bad
