/* The page cache side of the answers to data_request (vm_pagein.c):
 * installing supplied and zero-filled pages, failing pages, waking the
 * threads that waited on them. Runs in the manager's thread (the control
 * port's handler); no lock held by the caller. */
#ifndef MEMOBJ_VM_PAGEIN_H
#define MEMOBJ_VM_PAGEIN_H

#include <mach/mach.h>

#include "vm/vm_page.h"

struct vm_object;

/* data_supply: answers KERN_INVALID_ADDRESS when `data` is unreadable
 * (nothing is installed then); KERN_MEMORY_PRESENT / KERN_INVALID_ARGUMENT
 * with *error_offset at the first page refused. */
kern_return_t vm_object_data_supply(struct vm_object *obj, vm_offset_t offset,
        const void *data, vm_size_t length, vm_prot_t lock_value,
        boolean_t precious, vm_offset_t *error_offset);
void vm_object_data_unavailable(struct vm_object *obj, vm_offset_t offset,
        vm_size_t size);
void vm_object_data_error(struct vm_object *obj, vm_offset_t offset,
        vm_size_t size, kern_return_t reason);

/* Wakes (and, when reason != KERN_SUCCESS, first signals SIGBUS to) every
 * waiter of the list; no lock held. */
void vm_object_release_waiters(vm_waiter_list_t *waiters, kern_return_t reason);

#endif
