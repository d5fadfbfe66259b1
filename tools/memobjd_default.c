/* memobjd --default-pager FILE:SIZE: this node's default memory manager
 * (pagers/default_pager.c) on a backing file, compiled in only when the
 * default pager is in the tree. default_pager_start registers it with
 * this kernel and publishes it under its own netname, so a kernel started
 * with MEMOBJ_DEFAULT_PAGER=ADDRESS of this daemon pages out to it. */
#include "memobjd.h"

#include <memobj/default_pager.h>
#include <stdio.h>
#include <string.h>

int memobjd_add_default_pager(const char *spec)
{
	const char *colon = strrchr(spec, ':');
	char file[4096];
	uint64_t size;
	if (colon == NULL || colon == spec || (size_t)(colon - spec) >= sizeof file) {
		memobjd_log(MEMOBJD_ERROR, "--default-pager %s: want FILE:SIZE", spec);
		return -1;
	}
	memcpy(file, spec, (size_t)(colon - spec));
	file[colon - spec] = '\0';
	if (!memobjd_size("default-pager", colon + 1, &size))
		return -1;
	mach_port_t pager;
	kern_return_t kr = default_pager_start(file, (vm_size_t)size, &pager);
	if (kr != KERN_SUCCESS) {
		memobjd_log(MEMOBJD_ERROR, "--default-pager %s: default_pager_start: %#x", spec, kr);
		return -1;
	}
	memobjd_log(MEMOBJD_INFO, "default pager on %s (%llu bytes)", file,
	            (unsigned long long)size);
	return 0;
}
