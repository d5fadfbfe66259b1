/* Fault readers (vm_fault.c): the fault thread, and manager threads
 * sleeping in mach_msg, turn a fault on an absent page into
 * memory_object_data_request (or a wait, or a wake). */
#ifndef MEMOBJ_VM_FAULT_H
#define MEMOBJ_VM_FAULT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <mach/mach.h>

struct vm_object;

/* The fault thread's reader and the receivers' idle hook, set up before
 * the fault thread starts and before any object can be mapped: set from
 * the thread, a receive that came first (the thread not yet run on a
 * loaded machine) slept on its condition, never reading a fault. */
struct vm_kernel;
void vm_fault_readers_start(struct vm_kernel *k);
/* The fault thread's body; arg is the struct vm_kernel. */
void *vm_fault_thread(void *arg);
/* A missing-page fault at `address` in a mapping of obj (no lock held). */
void vm_object_fault(struct vm_object *obj, vm_offset_t offset,
        uintptr_t address, pid_t tid, int write);
/* Grows requests queued before the object was ready to its cluster size.
 * (obj locked) */
void vm_object_widen_pending(struct vm_object *obj);
/* Whether address is in a mapping of obj still. A fault event may be
 * handled after its thread went on (a supply over the range woke it
 * first) and unmapped the object: no SIGBUS for that one. (obj locked) */
bool vm_object_maps_address(struct vm_object *obj, uintptr_t address);

#endif
