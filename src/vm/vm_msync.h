/* vm_msync's kernel side (vm_msync.c): write back, then
 * memory_object_synchronize and a wait for synchronize_completed. */
#ifndef MEMOBJ_VM_MSYNC_H
#define MEMOBJ_VM_MSYNC_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <mach/mach.h>

struct vm_object;

/* A memory_object_synchronize outstanding (on the object's sync_waiters
 * list, obj->lock): a vm_msync waiting for its synchronize_completed, or,
 * for VM_SYNC_ASYNCHRONOUS, a heap record nobody waits on. At most one
 * is outstanding for any byte of the object (a later overlapping
 * vm_msync waits first, as OSF's vm_msync did), so a completion, which
 * names only offset and length, always finds the request it answers. */
struct vm_sync_waiter {
	vm_offset_t offset;
	vm_size_t length;
	bool async;                     /* heap record: freed when it ends */
	bool done;
	bool stall_warned;              /* reported by the stall watchdog */
	uint64_t since;                 /* vm_stat_now() at the wait's start */
	kern_return_t result;
	pthread_cond_t cond;
	struct vm_sync_waiter *next;
};

/* vm_msync of [offset, offset+size) of obj: returns dirty pages, sends
 * synchronize and, unless asynchronous, waits for synchronize_completed.
 * No lock held by the caller. */
kern_return_t vm_object_msync(struct vm_object *obj, vm_offset_t offset,
        vm_size_t size, vm_sync_t flags);
/* Ends the request outstanding for exactly this range (wakes its
 * vm_msync). */
void vm_object_synchronize_completed(struct vm_object *obj,
        vm_offset_t offset, vm_size_t length);
/* The same, but the waiter's vm_msync returns `reason` (memobj's
 * memobj_synchronize_failed extension). */
void vm_object_synchronize_failed(struct vm_object *obj,
        vm_offset_t offset, vm_size_t length, kern_return_t reason);

/* Ends every outstanding request with `result` (obj locked): the
 * manager died or the object terminated. */
void vm_sync_requests_end_all(struct vm_object *obj, kern_return_t result);

#endif
