/* A dead manager: the object port died (dead-name notification,
 * object_notify.c) or a send to it failed. Every thread waiting on the
 * manager gets a memory error; later faults find the object dead. */
#include "vm/vm_manager_death.h"

#include <stdlib.h>

#include "vm/vm_msync.h"
#include "vm/vm_object.h"
#include "vm/vm_pagein.h"

struct collect_requested {
	vm_waiter_list_t *waiters;
	uint64_t *indices;
	size_t count, cap;
};

/* Every waiter of the object: threads on pages being paged in, and
 * threads parked on resident pages whose lock withholds their access
 * (data_unlock outstanding, read lock). Requested pages become absent. */
static void collect_requested(vm_page_t *p, void *arg)
{
	struct collect_requested *c = arg;
	vm_page_take_waiters(p, c->waiters);
	if (p->state != VM_PAGE_REQUESTED)
		return;
	if (c->count == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 16;
		uint64_t *idx = realloc(c->indices, cap * sizeof *idx);
		if (idx == NULL)
			return;
		c->indices = idx;
		c->cap = cap;
	}
	c->indices[c->count++] = p->index;
}

void vm_object_manager_died(struct vm_object *obj)
{
	VM_ASSERT_UNLOCKED(&obj->lock);
	vm_waiter_list_t waiters = { 0 };
	struct collect_requested c = { .waiters = &waiters };
	pthread_mutex_lock(&obj->lock);
	obj->dead = true;
	obj->npending = 0;
	vm_sync_requests_end_all(obj, KERN_MEMORY_ERROR);
	vm_page_foreach(&obj->pages, collect_requested, &c);
	for (size_t i = 0; i < c.count; i++)
		vm_page_remove(&obj->pages, c.indices[i]);
	pthread_mutex_unlock(&obj->lock);
	free(c.indices);
	vm_object_release_waiters(&waiters, KERN_MEMORY_ERROR);
	vm_waiter_list_free(&waiters);
}
