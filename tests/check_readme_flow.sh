#!/usr/bin/env bash
# The README's flow, end to end: memobjd serves a file, another process
# (examples/map_remote) maps it and reads it, traced by memobj trace;
# memobj ls and memobj stat see the node; SIGTERM stops memobjd with 0.
#   check_readme_flow.sh MEMOBJD MEMOBJ MAP_REMOTE
set -uo pipefail
memobjd=$1 memobj=$2 client=$3
tmp=$(mktemp -d "${TMPDIR:-/tmp}/memobj-readme.$$.XXXXXX")
pid=
trap '[ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; [ -f "$tmp/log" ] && cat "$tmp/log"; exit 1; }
head -c 20000 /dev/urandom >"$tmp/data"
addr="unix:$tmp/m.sock"
mkfifo "$tmp/err"
"$memobjd" --listen "$addr" --file "data=$tmp/data" 2>"$tmp/err" &
pid=$!
exec 3<"$tmp/err"
ready=
while read -r -t 20 line <&3; do
	echo "$line" >>"$tmp/log"
	case $line in *ready*) ready=1; break ;; esac
done
[ -n "$ready" ] || fail "memobjd never said ready"
cat <&3 >>"$tmp/log" &

"$memobj" trace -o "$tmp/trace" -- "$client" "$addr" data 20000 >"$tmp/out" ||
	fail "map_remote failed: $(cat "$tmp/trace")"
cmp -s "$tmp/out" "$tmp/data" || fail "the mapping does not show the file"
grep -q 'T> .* netname_look_up host="" name="data"' "$tmp/trace" || fail "no look_up in the trace"
grep -q 'K> .* memory_object_init' "$tmp/trace" || fail "no init in the trace"
grep -qE 'K< #[0-9]+ +ctl=.* memory_object_data_supply .*\+[0-9]+us$' "$tmp/trace" ||
	fail "no timed data_supply in the trace: $(cat "$tmp/trace")"
"$memobj" ls "$addr" | grep -qx data || fail "memobj ls does not list data"
"$memobj" stat --json "$addr" | grep -q '"name":"data","id":0,"served":true' ||
	fail "memobj stat does not show the served object"
kill -TERM "$pid"
wait "$pid"
status=$?
pid=
[ "$status" = 0 ] || fail "memobjd exited $status after SIGTERM"
[ -e "$tmp/m.sock" ] && fail "socket left behind"
echo "README flow: memobjd, a remote map, memobj trace/ls/stat, clean stop"
