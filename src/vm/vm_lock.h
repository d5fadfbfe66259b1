/* memory_object_lock_request and the write-back it shares with vm_msync
 * (vm_lock.c). (For the order of the kernel's mutexes see vm_lock_order.h.) */
#ifndef MEMOBJ_VM_LOCK_H
#define MEMOBJ_VM_LOCK_H

#include <stdbool.h>
#include <mach/mach.h>

struct vm_object;

/* lock_request: returns, flushes and locks the resident pages of the
 * range (bad arguments do nothing). Every data_return it causes is
 * queued when it returns, so the control server's lock_completed follows
 * them. No lock held. */
void vm_object_lock_request(struct vm_object *obj, vm_offset_t offset,
        vm_size_t size, memory_object_return_t should_return,
        boolean_t should_flush, vm_prot_t lock_value);
/* The body of lock_request and vm_msync (no lock held). */
void vm_object_clean(struct vm_object *obj, vm_offset_t offset, vm_size_t size,
        memory_object_return_t should_return, bool flush, vm_prot_t lock_value);

#endif
