/* Memory objects as this kernel caches them: one vm_object per memory
 * object port mapped here, with its control port, its memfd page cache and
 * its page states. This header is the object and its table (vm_object.c);
 * each module that works on objects has its own header:
 *   vm_fault.h       faults: data_request, read-ahead (vm_fault.c)
 *   vm_pagein.h      data_supply, data_unavailable, data_error (vm_pagein.c)
 *   vm_attributes.h  change/get_attributes (vm_attributes.c)
 *   vm_manager_death.h  a dead object port (vm_manager_death.c)
 *   vm_lock.h        lock_request and clean (vm_lock.c)
 *   vm_msync.h       vm_msync, synchronize (vm_msync.c)
 *   vm_dirty.h       dirty tracking, page locks on mappings (vm_dirty.c)
 *   vm_return.h      data_return plumbing, page drop (vm_return.c)
 *   vm_pageout.h     the resident bound (vm_pageout.c)
 *   vm_stall.h       the stall watchdog (vm_stall.c)
 * The lock order is written in vm_lock_order.h. */
#ifndef MEMOBJ_VM_OBJECT_H
#define MEMOBJ_VM_OBJECT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <mach/mach.h>

#include "vm/vm_cache.h"
#include "vm/vm_lock_order.h"
#include "vm/vm_page.h"

/* One range of the object some map entry shows (entries mirror these). */
struct vm_object_mapping {
	uintptr_t start;
	vm_offset_t offset;
	vm_size_t size;
	bool copy;                      /* MAP_PRIVATE: not tracked, not locked */
	bool wp;                        /* registered WP: writes tracked (it is,
	                                 * or was, writable); see vm_dirty.c */
	bool exec;                      /* executable: EXECUTE locks apply */
};

/* A data_request held back until the object is ready. */
struct vm_pending_request {
	vm_offset_t offset;
	vm_size_t length;
	vm_prot_t access;
};

struct vm_object {
	uint64_t id;                    /* the control port's kobject context */
	atomic_uint refs;
	pthread_mutex_t lock;           /* everything below but the ports */
	pthread_mutex_t send_lock;      /* keeps messages to the object in order */
	mach_port_name_t object_k;      /* kernel space: send right to the object */
	mach_port_name_t control_k;     /* kernel space: control receive right */
	mach_port_name_t object_name;   /* the task's name for it at first map
	                                 * (what the stall warning names) */
	struct vm_cache cache;          /* the page cache (vm_cache.h) */
	vm_size_t memfd_size;           /* the cache's extent: the largest
	                                 * mapped or supplied end so far */

	struct vm_object_mapping *maps;
	size_t nmaps, maps_cap;

	vm_page_table_t pages;
	unsigned resident;              /* pages in VM_PAGE_RESIDENT */

	bool ready;                     /* first change_attributes arrived */
	bool dead;                      /* the object port died */
	bool terminated;                /* left the object table */
	bool destroyed;                 /* memory_object_destroy: return nothing */
	bool minor;                     /* mappings registered MINOR (read locks) */
	bool exec_locks;                /* some page had EXECUTE withheld */
	struct vm_sync_waiter *sync_waiters;   /* synchronizes outstanding */
	pthread_cond_t sync_cond;       /* one of them ended (vm_msync.c) */
	vm_size_t cluster_size;
	bool may_cache, temporary, invalidate;
	memory_object_copy_strategy_t copy_strategy;

	struct vm_pending_request *pending;
	size_t npending, pending_cap;

	/* Internal memory (vm_allocate), handed to the default pager with
	 * memory_object_create (vm_internal.c). */
	bool internal;
	uint8_t *internal_sent;         /* a bit per page: it went out once
	                                 * (data_initialize sent); send_lock */
	uint64_t internal_pages;
	uint64_t internal_pinned;       /* pages kept: the pager could not
	                                 * store them (obj->lock) */

	struct vm_object *next_by_name, *next_by_id;   /* the table */

	/* Read-ahead (vm_fault.c), off while ra_max is 0. */
	vm_size_t ra_max;               /* bytes ahead at most */
	uint64_t ra_expect;             /* the page a sequential fault hits next */
	uint32_t ra_window;             /* clusters asked ahead last time */
	uint32_t ra_requests, ra_pages; /* read-ahead data_requests sent, pages */

	/* Faults handed to the thread supplying under the lock (vm_fault.c,
	 * vm_fault_handoff_open): 0 closed, 1 open, else a list. */
	atomic_uintptr_t handoff;
};

/* Enters a mapping of the memory object the task names `object` at
 * [start, start+size) showing [offset, offset+size): the first one creates
 * the vm_object and sends memory_object_init. Returns the object with a
 * reference for the caller, or NULL with *kr set (KERN_INVALID_OBJECT,
 * KERN_RESOURCE_SHORTAGE). */
struct vm_object *vm_object_enter_mapping(mach_port_name_t object,
        uintptr_t start, vm_offset_t offset, vm_size_t size, bool copy,
        kern_return_t *kr);
/* A new internal object for the kernel-space send right object_k (its
 * receive right still in the kernel space), mapped at [start,
 * start+size) from offset 0: ready at once, temporary, not cached, no
 * init sent (vm_internal.c sends memory_object_create). With a reference
 * for the caller, or NULL. */
struct vm_object *vm_object_create_internal(mach_port_name_t object_k,
        uintptr_t start, vm_size_t size, vm_size_t cluster_size);
/* Mapping records follow the map entries (splits, partial unmaps). */
int vm_object_mapping_add(struct vm_object *obj, uintptr_t start,
        vm_offset_t offset, vm_size_t size, bool copy);
/* Removes the record starting at `start`; when it was the last one and
 * the object may not be cached, terminates the object. */
void vm_object_mapping_remove(struct vm_object *obj, uintptr_t start);

void vm_object_ref(struct vm_object *obj);
void vm_object_release(struct vm_object *obj);

/* Reference to the object whose control port has kobject context `id`,
 * or to the (live) object the kernel-space name `object_k` sends to. */
struct vm_object *vm_object_lookup_id(uint64_t id);
struct vm_object *vm_object_lookup_name(mach_port_name_t object_k);
/* References to every live object (statistics); *out is malloc'd (free it
 * after releasing each). Returns the count. */
size_t vm_object_snapshot(struct vm_object ***out);

/* Calls fn on every object in the table (table locked: fn may take the
 * object's lock, and must not call back into the table). */
void vm_object_foreach(void (*fn)(struct vm_object *, void *), void *arg);

/* memory_object_destroy: drop every page unreturned, then terminate. */
void vm_object_destroy(struct vm_object *obj, kern_return_t reason);
/* Terminates obj if it is unmapped and (may_cache off or dead). */
void vm_object_maybe_terminate(struct vm_object *obj);
/* Terminates obj if it is unmapped and holds no page (a cached object
 * whose pages were all evicted). */
void vm_object_cache_trim(struct vm_object *obj);

/* The hand-off (vm_lock_order.h): with obj->lock held, takes send_lock
 * and drops obj->lock, so that what the caller sends next leaves in the
 * order of the state it saw. The caller sends, then unlocks send_lock. */
static inline void vm_object_send_handoff(struct vm_object *obj)
{
	VM_ASSERT_LOCKED(&obj->lock);
	pthread_mutex_lock(&obj->send_lock);
	pthread_mutex_unlock(&obj->lock);
}

/* True when some mapping record shows `offset`. (obj locked) */
bool vm_object_offset_mapped(struct vm_object *obj, vm_offset_t offset);

#endif
