/* vm_msync (SPEC 3.8): dirty pages of object mappings go back with
 * data_return (flushed too with VM_SYNC_INVALIDATE), then
 * memory_object_synchronize; the caller waits for the manager's
 * synchronize_completed for that range unless VM_SYNC_ASYNCHRONOUS.
 * Copy mappings have nothing to write back; anonymous memory neither. */
#include "vm/vm_msync.h"

#include <stdlib.h>

#include "emmi/object_user.h"
#include "vm/vm_kernel.h"
#include "vm/vm_lock.h"
#include "vm/vm_lock_order.h"
#include "vm/vm_manager_death.h"
#include "vm/vm_map_entry.h"
#include "vm/vm_object.h"
#include "vm/vm_stat.h"

struct sync_target {
	struct vm_object *obj;
	vm_offset_t offset;
	vm_size_t size;
};

static bool overlaps_outstanding(const struct vm_object *obj,
        vm_offset_t offset, vm_size_t size)
{
	for (const struct vm_sync_waiter *w = obj->sync_waiters; w; w = w->next)
		if (w->offset < offset + size && offset < w->offset + w->length)
			return true;
	return false;
}

static void request_end(struct vm_object *obj, struct vm_sync_waiter *w,
        kern_return_t result)
{
	if (w->async) {
		free(w);
	} else {
		w->done = true;
		w->result = result;
		pthread_cond_broadcast(&w->cond);
	}
	pthread_cond_broadcast(&obj->sync_cond);
}

void vm_sync_requests_end_all(struct vm_object *obj, kern_return_t result)
{
	VM_ASSERT_LOCKED(&obj->lock);
	struct vm_sync_waiter *w = obj->sync_waiters;
	obj->sync_waiters = NULL;
	while (w) {
		struct vm_sync_waiter *next = w->next;
		request_end(obj, w, result);
		w = next;
	}
	pthread_cond_broadcast(&obj->sync_cond);
}

kern_return_t vm_object_msync(struct vm_object *obj, vm_offset_t offset,
        vm_size_t size, vm_sync_t flags)
{
	vm_object_clean(obj, offset, size, MEMORY_OBJECT_RETURN_DIRTY,
	                (flags & VM_SYNC_INVALIDATE) != 0, VM_PROT_NO_CHANGE);
	bool wait = !(flags & VM_SYNC_ASYNCHRONOUS);
	struct vm_sync_waiter stack_w = { 0 };
	struct vm_sync_waiter *w = wait ? &stack_w : calloc(1, sizeof *w);
	if (w == NULL)
		return KERN_RESOURCE_SHORTAGE;
	w->offset = offset;
	w->length = size;
	w->async = !wait;
	if (wait)
		pthread_cond_init(&w->cond, NULL);
	pthread_mutex_lock(&obj->lock);
	/* A completion names only its range: one request per byte at a time. */
	while (!obj->terminated && !obj->dead && overlaps_outstanding(obj, offset, size))
		pthread_cond_wait(&obj->sync_cond, &obj->lock);
	if (obj->terminated || obj->dead) {
		kern_return_t kr = obj->dead ? KERN_MEMORY_ERROR : KERN_SUCCESS;
		pthread_mutex_unlock(&obj->lock);
		if (wait)
			pthread_cond_destroy(&w->cond);
		else
			free(w);
		return kr;
	}
	w->since = vm_stat_now();
	w->next = obj->sync_waiters;
	obj->sync_waiters = w;
	/* After the data_returns (same send lock, same order). */
	vm_object_send_handoff(obj);
	mach_msg_return_t mr = emmi_send_synchronize(obj->object_k, obj->control_k,
	                                             offset, size, flags);
	pthread_mutex_unlock(&obj->send_lock);
	if (mr != MACH_MSG_SUCCESS)
		vm_object_manager_died(obj);      /* ends w with an error */
	if (!wait)
		return KERN_SUCCESS;
	pthread_mutex_lock(&obj->lock);
	while (!w->done)
		pthread_cond_wait(&w->cond, &obj->lock);
	kern_return_t kr = w->result;
	pthread_mutex_unlock(&obj->lock);
	pthread_cond_destroy(&w->cond);
	return kr;
}

static void sync_wake(struct vm_object *obj, vm_offset_t offset,
        vm_size_t length, kern_return_t result)
{
	pthread_mutex_lock(&obj->lock);
	for (struct vm_sync_waiter **pp = &obj->sync_waiters; *pp; pp = &(*pp)->next)
		if ((*pp)->offset == offset && (*pp)->length == length) {
			struct vm_sync_waiter *w = *pp;
			*pp = w->next;
			request_end(obj, w, result);
			break;
		}
	pthread_mutex_unlock(&obj->lock);
}

void vm_object_synchronize_completed(struct vm_object *obj,
        vm_offset_t offset, vm_size_t length)
{
	sync_wake(obj, offset, length, KERN_SUCCESS);
}

void vm_object_synchronize_failed(struct vm_object *obj,
        vm_offset_t offset, vm_size_t length, kern_return_t reason)
{
	sync_wake(obj, offset, length, reason);
}

kern_return_t vm_msync(vm_task_t target_task, vm_address_t address,
        vm_size_t size, vm_sync_t sync_flags)
{
	if (target_task != mach_task_self())
		return KERN_INVALID_TASK;
	if (sync_flags & ~(VM_SYNC_ASYNCHRONOUS | VM_SYNC_SYNCHRONOUS |
	                   VM_SYNC_INVALIDATE))
		return KERN_INVALID_ARGUMENT;
	if ((sync_flags & VM_SYNC_ASYNCHRONOUS) && (sync_flags & VM_SYNC_SYNCHRONOUS))
		return KERN_INVALID_ARGUMENT;
	if (size == 0)
		return KERN_SUCCESS;
	struct vm_kernel *k = vm_kernel();
	if (address > (vm_address_t)-1 - size ||
	    vm_round_overflows(k, address + size))
		return KERN_INVALID_ARGUMENT;
	uintptr_t start = vm_trunc_page(k, address);
	uintptr_t end = vm_round_page(k, address + size);

	/* Collect the object ranges, then work without the map lock: the
	 * manager answering us may need it (vm_allocate, vm_deallocate). */
	struct sync_target *targets = NULL;
	size_t ntargets = 0;
	kern_return_t kr = KERN_SUCCESS;
	vm_map_lock_read();
	if (!vm_map_covered(start, end)) {
		kr = KERN_INVALID_ADDRESS;
	} else {
		size_t first = vm_map_first_after(start), n = 0;
		for (size_t i = first;
		     i < vm_map_entry_count() && vm_map_entry_at(i)->start < end; i++)
			n++;
		targets = n ? calloc(n, sizeof *targets) : NULL;
		if (n && targets == NULL)
			kr = KERN_RESOURCE_SHORTAGE;
		for (size_t i = first; targets &&
		     i < vm_map_entry_count() && vm_map_entry_at(i)->start < end; i++) {
			struct vm_map_entry *e = vm_map_entry_at(i);
			if (e->object == NULL || e->copy)
				continue;
			uintptr_t lo = e->start > start ? e->start : start;
			uintptr_t hi = e->end < end ? e->end : end;
			vm_object_ref(e->object);
			targets[ntargets++] = (struct sync_target){
				e->object, e->offset + (lo - e->start), hi - lo };
		}
	}
	vm_map_unlock();
	for (size_t i = 0; i < ntargets; i++) {
		kern_return_t r = vm_object_msync(targets[i].obj, targets[i].offset,
		                                  targets[i].size, sync_flags);
		if (r != KERN_SUCCESS && kr == KERN_SUCCESS)
			kr = r;
		vm_object_release(targets[i].obj);
	}
	free(targets);
	return kr;
}
