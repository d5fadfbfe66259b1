#!/usr/bin/env bash
# memobj-demo as a command-line program: --help on stdout, --version,
# sizes that are not > 0 refused, empty and non-regular files refused with
# a clear message, `--` before a file name, the temporary file removed on
# SIGTERM.   check_demo_args.sh MEMOBJ-DEMO
set -uo pipefail
demo=$1
tmp=$(mktemp -d "${TMPDIR:-/tmp}/memobj-demo-args.$$.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail=0
# expect STATUS PATTERN-IN-OUTPUT STREAM(out|err) ARGS...
expect() {
	local want=$1 pattern=$2 stream=$3; shift 3
	"$demo" "$@" >"$tmp/out" 2>"$tmp/err"
	local got=$?
	if [ "$got" != "$want" ] || ! grep -qE -- "$pattern" "$tmp/$stream"; then
		echo "FAIL: memobj-demo $* -> exit $got (want $want), $stream:"; cat "$tmp/$stream"
		fail=1
	fi
}
expect 0 '^usage: memobj-demo' out --help
[ -s "$tmp/err" ] && { echo "FAIL: --help wrote to stderr"; fail=1; }
expect 0 '^memobj-demo [0-9]+\.[0-9]+' out --version
expect 2 'want a size > 0' err --size=0
expect 2 'want a size > 0' err --size -5m
expect 2 'want a size > 0' err --cluster=0
expect 2 'want a size > 0' err --cluster=-1m
expect 2 'want a size > 0' err --cluster=banana
expect 2 'at most 1g' err --cluster=2g
expect 2 'usage' err --frobnicate
: >"$tmp/empty"
expect 2 'is empty: there is nothing to map' err "$tmp/empty"
expect 2 'is not a regular file \(it is a directory\)' err "$tmp"
expect 2 'is not a regular file \(it is a character device\)' err /dev/null
expect 1 'No such file' err "$tmp/none"
expect 2 'one FILE at most' err "$tmp/empty" "$tmp/empty"
# A file whose name starts with '-', after --; and --cluster=1m.
head -c 300000 /dev/urandom >"$tmp/-data"
expect 0 '^PASS' out --cluster=1m -- "$tmp/-data"
expect 0 'cluster 1\.0 MiB' out --cluster=1m -- "$tmp/-data"
expect 0 '^PASS' out --size=1m
# SIGTERM while it writes its temporary file: the file goes too.
# It says "making a temporary file" just before it makes it; the signal
# comes while the gigabyte is being written.
mkdir "$tmp/t"
mkfifo "$tmp/fifo"
TMPDIR="$tmp/t" "$demo" --size=1g >"$tmp/fifo" 2>&1 &
pid=$!
exec 3<"$tmp/fifo"
read -r -t 30 line <&3
kill -TERM "$pid"
wait "$pid"
status=$?
if [ "$status" != 143 ]; then
	echo "FAIL: demo did not die of SIGTERM (exit $status)"; fail=1
fi
exec 3<&-
case $line in "making a temporary file"*) ;; *) echo "FAIL: demo said '$line'"; fail=1 ;; esac
if [ -n "$(ls -A "$tmp/t")" ]; then
	echo "FAIL: temporary file left after SIGTERM: $(ls -A "$tmp/t")"; fail=1
fi
[ $fail -eq 0 ] && echo "demo arguments: all refused or accepted as documented"
exit $fail
