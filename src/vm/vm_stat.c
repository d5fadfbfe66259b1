/* Fault-wait histogram and per-object statistics (vm_stat.h). */
#include "vm/vm_stat.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "vm/vm_kernel.h"
#include "vm/vm_object.h"

static _Atomic uint64_t fault_wait[MEMOBJ_FAULT_BUCKETS];

void vm_stat_fault_waited(uint64_t since)
{
	uint64_t us = (vm_stat_now() - since) / 1000u;
	unsigned b = us < 2 ? 0 : 63u - (unsigned)__builtin_clzll(us);
	if (b >= MEMOBJ_FAULT_BUCKETS)
		b = MEMOBJ_FAULT_BUCKETS - 1;
	atomic_fetch_add_explicit(&fault_wait[b], 1, memory_order_relaxed);
}

void vm_stat_fault_histogram(uint64_t buckets[MEMOBJ_FAULT_BUCKETS])
{
	for (unsigned i = 0; i < MEMOBJ_FAULT_BUCKETS; i++)
		buckets[i] = atomic_load_explicit(&fault_wait[i], memory_order_relaxed);
}

static void count_dirty(vm_page_t *p, void *arg)
{
	if (p->state == VM_PAGE_RESIDENT && p->dirty)
		++*(uint64_t *)arg;
}

uint32_t vm_stat_objects(uint32_t start, memobj_object_statistics_t *out,
        uint32_t max, uint32_t *total)
{
	struct vm_kernel *k = vm_kernel();
	struct vm_object **objs;
	size_t n = vm_object_snapshot(&objs);
	uint32_t filled = 0;
	for (size_t i = 0; i < n; i++) {
		struct vm_object *obj = objs[i];
		if (i >= start && filled < max) {
			memobj_object_statistics_t *s = &out[filled++];
			memset(s, 0, sizeof *s);
			pthread_mutex_lock(&obj->lock);
			s->id = obj->id;
			s->size = obj->memfd_size;
			s->page_size = (uint32_t)k->page_size;
			s->flags = obj->ready ? MEMOBJ_OBJECT_READY : 0;
			s->kernels = 1;
			s->mappings = (uint32_t)obj->nmaps;
			s->resident_pages = obj->resident;
			vm_page_foreach(&obj->pages, count_dirty, &s->dirty_pages);
			pthread_mutex_unlock(&obj->lock);
		}
		vm_object_release(obj);
	}
	free(objs);
	*total = (uint32_t)n;
	return filled;
}
