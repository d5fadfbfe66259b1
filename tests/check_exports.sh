#!/usr/bin/env bash
# libmemobj.so exports the public API and nothing else (cmake/memobj.map).
#   check_exports.sh LIBMEMOBJ.so [LIBMEMOBJ-PAGERS.so]
set -euo pipefail
lib=$1
syms=$(nm -D --defined-only "$lib" | awk '{print $3}' | sed 's/@.*//' | sort -u)
[ -n "$syms" ] || { echo "no dynamic symbols in $lib" >&2; exit 1; }
public='^(mach_|task_|thread_|bootstrap_|memory_object_|seqnos_memory_object_|host_|netname_|memobj_|default_pager_|do_mach_notify_|do_seqnos_mach_notify_|mig_|notify_server$|seqnos_notify_server$|NDR_record$|name_server_port$|vm_(allocate|deallocate|map|protect|msync|region|inherit|read|write|copy|statistics|set_default_memory_manager|page_size|page_mask|page_shift)$|MEMOBJ_0$)'
internal='^(ipc_|vm_object_|vm_page_|vm_map_|vm_fault|vm_kernel|vm_pageout|vm_return|net_|os_|emmi_|wire_|sha256|hmac)'
bad=0
for s in $syms; do
	if [[ $s =~ $internal && ! $s =~ ^vm_page_(size|mask|shift)$ ]] || [[ ! $s =~ $public ]]; then
		echo "exported but not public: $s" >&2
		bad=1
	fi
done
# The public calls a user links against must still be there, and the weak
# defaults a manager overrides must stay weak (W) so the override wins.
for s in mach_msg mach_msg_server vm_map vm_deallocate memory_object_data_supply \
	memory_object_lock_request memory_object_server seqnos_memory_object_server \
	netname_look_up memobj_connect memobj_listen host_statistics notify_server; do
	grep -qx "$s" <<<"$syms" || { echo "public call not exported: $s" >&2; bad=1; }
done
table=$(nm -D --defined-only "$lib")
for s in memory_object_init memory_object_data_request memory_object_terminate \
	do_mach_notify_no_senders; do
	grep -qE " W $s(@|\$)" <<<"$table" || { echo "weak default not weak/exported: $s" >&2; bad=1; }
done
if [ $# -ge 2 ]; then
	for s in $(nm -D --defined-only "$2" | awk '{print $3}' | sed 's/@.*//' | sort -u); do
		[[ $s =~ ^(file_pager_|dsm_|default_pager_|redis_|MEMOBJ_PAGERS_0$) ]] ||
			{ echo "pagers library exports $s" >&2; bad=1; }
	done
fi
[ $bad -eq 0 ] && echo "exports: $(wc -l <<<"$syms") public symbols, none internal"
exit $bad
