/* memobjd --dsm NAME=SIZE: coherent shared memory (pagers/dsm_pager.c),
 * compiled in only when the DSM pager is in the tree. Its data lives in
 * the daemon: it is gone when the daemon stops. */
#include "memobjd.h"

#include <memobj/dsm_pager.h>

static void dsm_stop(struct memobjd_object *o)
{
	dsm_pager_destroy(o->object);
}

static void dsm_fill(void *arg, memobj_object_statistics_t *s)
{
	const struct memobjd_object *o = arg;
	s->size = o->size;
}

int memobjd_add_dsm(const char *spec)
{
	struct memobjd_object o = { .kind = "dsm", .stop = dsm_stop, .fill = dsm_fill };
	const char *size_text = memobjd_split_name("dsm", spec, o.name);
	if (size_text == NULL || !memobjd_size("dsm", size_text, &o.size))
		return -1;
	kern_return_t kr = dsm_pager_create((vm_size_t)o.size, &o.object);
	if (kr != KERN_SUCCESS) {
		memobjd_log(MEMOBJD_ERROR, "--dsm %s: dsm_pager_create: %#x%s", spec, kr,
		            kr == KERN_INVALID_ARGUMENT ? " (size: a multiple of 4096)" : "");
		return -1;
	}
	if (memobjd_publish(&o) != 0) {
		dsm_pager_destroy(o.object);
		return -1;
	}
	return 0;
}
