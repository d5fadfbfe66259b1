#!/usr/bin/env bash
# memobj trace of a small pager (examples/hello_pager) shows the protocol
# in order: init, change_attributes, data_request, data_supply, terminate;
# every line has time, direction and seqno; answers carry their latency.
#   check_trace.sh MEMOBJ HELLO_PAGER
set -euo pipefail
memobj=$1
pager=$2
out=$(mktemp "${TMPDIR:-/tmp}/memobj-trace.$$.XXXXXX")
trap 'rm -f "$out"' EXIT
"$memobj" trace -o "$out" -- "$pager" >/dev/null
order=$(grep -E '^ +[0-9]+\.' "$out" | grep -oE 'memory_object_[a-z_]+' | tr '\n' ' ')
want='memory_object_init memory_object_change_attributes memory_object_data_request memory_object_data_supply memory_object_data_request memory_object_data_supply memory_object_terminate '
[ "$order" = "$want" ] || { echo "order: $order"; echo "want:  $want"; cat "$out"; exit 1; }
grep -qE '^ +[0-9]+\.[0-9]{6} K> - +obj=0x[0-9a-f]+ ctl=0x[0-9a-f]+ memory_object_init page_size=[0-9]+$' "$out" ||
	{ echo "no well-formed init line"; cat "$out"; exit 1; }
grep -qE ' K< #[0-9]+ +ctl=0x[0-9a-f]+ memory_object_data_supply offset=.* \+[0-9]+us$' "$out" ||
	{ echo "no data_supply with its latency"; cat "$out"; exit 1; }
grep -qE '^-- .*: 7 messages, exit 0$' "$out" || { echo "no summary"; cat "$out"; exit 1; }
# Off: nothing is written.
MEMOBJ_TRACE= "$pager" 2>"$out" >/dev/null
[ ! -s "$out" ] || { echo "trace output with MEMOBJ_TRACE unset:"; cat "$out"; exit 1; }
echo "trace: protocol in order"
