/* Fault readers (vm_fault.c): the fault thread, and manager threads
 * sleeping in mach_msg, turn a fault on an absent page into
 * memory_object_data_request (or a wait, or a wake). */
#ifndef MEMOBJ_VM_FAULT_H
#define MEMOBJ_VM_FAULT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <mach/mach.h>

struct vm_kernel;
struct vm_object;

/* The fault thread's body; arg is the struct vm_kernel. */
void *vm_fault_thread(void *arg);
/* Before the fault thread starts (kernel start, no IPC lock held): the
 * fault thread's epoll reader and the IPC idle hook that makes manager
 * threads waiting in mach_msg fault readers too. Installed before the
 * first vm_map returns, so that no receive starts before it and sleeps
 * on its port alone. */
void vm_fault_readers_start(struct vm_kernel *k);
/* A missing-page fault at `address` in a mapping of obj (no lock held). */
void vm_object_fault(struct vm_object *obj, vm_offset_t offset,
        uintptr_t address, pid_t tid, int write);
/* A thread about to wake faulting threads with the object locked (the
 * supply's UFFDIO_COPY) opens the object to hand-offs: until it drains,
 * a reader whose fault is on obj queues the fault to it instead of
 * blocking on the lock it holds. open: obj locked; drain: unlocked, by
 * the thread that opened (it serves what was handed, in order). */
void vm_fault_handoff_open(struct vm_object *obj);
void vm_fault_handoff_drain(struct vm_object *obj);
/* Grows requests queued before the object was ready to its cluster size.
 * (obj locked) */
void vm_object_widen_pending(struct vm_object *obj);
/* Whether address is in a mapping of obj still. A fault event may be
 * handled after its thread went on (a supply over the range woke it
 * first) and unmapped the object: no SIGBUS for that one. (obj locked) */
bool vm_object_maps_address(struct vm_object *obj, uintptr_t address);

#endif
