/* Memory objects as this kernel caches them: one vm_object per memory
 * object port mapped here, with its control port, its memfd page cache and
 * its page states. */
#ifndef MEMOBJ_VM_OBJECT_H
#define MEMOBJ_VM_OBJECT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <mach/mach.h>

#include "vm/vm_cache.h"
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

/* A vm_msync waiting for memory_object_synchronize_completed. */
struct vm_sync_waiter {
	vm_offset_t offset;
	vm_size_t length;
	bool done;
	bool stall_warned;              /* reported by the stall watchdog */
	uint32_t since;                 /* vm_stall_now() at the wait's start */
	kern_return_t result;
	pthread_cond_t cond;
	struct vm_sync_waiter *next;
};

/* Pages read out of the cache for data_return (see vm_return.c). */
struct vm_return_run {
	vm_offset_t offset;
	void *data;
	vm_size_t length;
	bool dirty;
};
struct vm_return_batch {
	struct vm_return_run *runs;
	size_t count, cap;
	bool failed;                    /* out of memory: some pages were kept */
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
	struct vm_sync_waiter *sync_waiters;
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

	struct vm_object *next_by_name, *next_by_id, *next_by_control; /* table */

	/* Read-ahead (vm_fault.c), off while ra_max is 0. */
	vm_size_t ra_max;               /* bytes ahead at most */
	uint64_t ra_expect;             /* the page a sequential fault hits next */
	uint32_t ra_window;             /* clusters asked ahead last time */
	uint32_t ra_requests, ra_pages; /* read-ahead data_requests sent, pages */
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
/* Reference to the live object whose control port is control_k. */
struct vm_object *vm_object_lookup_control(mach_port_name_t control_k);
/* References to every live object (statistics); *out is malloc'd (free it
 * after releasing each). Returns the count. */
size_t vm_object_snapshot(struct vm_object ***out);

/* Control calls, from the control port's kobject handler (vm_pagein.c).
 * data_supply answers KERN_INVALID_ADDRESS when `data` is unreadable
 * (nothing is installed then). */
kern_return_t vm_object_data_supply(struct vm_object *obj, vm_offset_t offset,
        const void *data, vm_size_t length, vm_prot_t lock_value,
        boolean_t precious, vm_offset_t *error_offset);
void vm_object_data_unavailable(struct vm_object *obj, vm_offset_t offset,
        vm_size_t size);
void vm_object_data_error(struct vm_object *obj, vm_offset_t offset,
        vm_size_t size, kern_return_t reason);
kern_return_t vm_object_change_attributes(struct vm_object *obj,
        memory_object_flavor_t flavor, const integer_t *info,
        mach_msg_type_number_t count);
kern_return_t vm_object_get_attributes(struct vm_object *obj,
        memory_object_flavor_t flavor, integer_t *info,
        mach_msg_type_number_t *count);
/* lock_request (vm_lock.c): returns, flushes and locks the resident pages
 * of the range, then sends lock_completed to reply_k (consumed) if valid. */
void vm_object_lock_request(struct vm_object *obj, vm_offset_t offset,
        vm_size_t size, memory_object_return_t should_return,
        boolean_t should_flush, vm_prot_t lock_value,
        mach_port_name_t reply_k, mach_msg_type_name_t reply_type);
/* The body of lock_request and vm_msync (no lock held). */
void vm_object_clean(struct vm_object *obj, vm_offset_t offset, vm_size_t size,
        memory_object_return_t should_return, bool flush, vm_prot_t lock_value);
/* vm_msync of [offset, offset+size) of obj (vm_msync.c): returns dirty
 * pages, sends synchronize and, unless asynchronous, waits for
 * synchronize_completed. No lock held by the caller. */
kern_return_t vm_object_msync(struct vm_object *obj, vm_offset_t offset,
        vm_size_t size, vm_sync_t flags);
void vm_object_synchronize_completed(struct vm_object *obj,
        vm_offset_t offset, vm_size_t length);
/* The same, but the waiter's vm_msync returns `reason` (memobj's
 * memobj_synchronize_failed extension). */
void vm_object_synchronize_failed(struct vm_object *obj,
        vm_offset_t offset, vm_size_t length, kern_return_t reason);
/* memory_object_destroy: drop every page unreturned, then terminate. */
void vm_object_destroy(struct vm_object *obj, kern_return_t reason);

/* Dirty tracking and locks on mapped pages (vm_dirty.c); obj locked. */
/* Sets or clears write protection of pages [first, first+count) in every
 * shared mapping; clearing wakes blocked writers unless dontwake. */
void vm_object_protect_pages(struct vm_object *obj, uint64_t first,
        uint64_t count, bool protect, bool dontwake);
/* Unmaps pages from every shared mapping (the cache keeps them). */
void vm_object_zap_pages(struct vm_object *obj, uint64_t first,
        uint64_t count);
/* Registers every shared mapping for MINOR faults (once per object), so
 * that a read lock can catch the next access. */
void vm_object_need_minor(struct vm_object *obj);
/* Unmaps pages from every executable shared mapping. */
void vm_object_zap_exec_pages(struct vm_object *obj, uint64_t first,
        uint64_t count);
/* A page is about to get lock `lock`: registers MINOR where a fault must
 * catch it (read withheld, or execute with an executable view). */
void vm_object_note_lock(struct vm_object *obj, vm_prot_t lock);
/* The shared mapping records inside [start, start+size) become (or stop
 * being) executable; pages whose lock withholds execute are unmapped from
 * a view that becomes executable. Takes obj->lock; call before the range
 * is made executable. */
void vm_object_mapping_set_exec(struct vm_object *obj, uintptr_t start,
        vm_size_t size, bool exec);
/* Starts dirty tracking on the shared mapping records inside
 * [start, start+size) that lack it (the mapping is, or is about to be,
 * writable): registers WP and write-protects them whole. Takes obj->lock;
 * call before the range is made writable. 0 or -errno. */
int vm_object_track_writes(struct vm_object *obj, uintptr_t start,
        vm_size_t size);
/* Write-protect / minor fault events (fault thread, no lock held). */
void vm_object_wp_fault(struct vm_object *obj, vm_offset_t offset,
        uintptr_t address, pid_t tid);
void vm_object_minor_fault(struct vm_object *obj, vm_offset_t offset,
        uintptr_t address, pid_t tid, int write);

/* Write-back (vm_return.c). Reads pages [first, first+count) (resident,
 * obj locked) into a new run of the batch. */
void vm_return_collect(struct vm_object *obj, uint64_t first, uint64_t count,
        bool dirty, struct vm_return_batch *batch);
/* Sends the batch's data_returns in order (obj->send_lock held), handing
 * the memory to the manager, and empties it. */
void vm_return_send(struct vm_object *obj, struct vm_return_batch *batch,
        bool kernel_copy);
/* Drops a page from the cache and the table (obj locked): punches the
 * memfd, wakes its waiters (they fault again) and updates the counts. */
void vm_object_page_drop(struct vm_object *obj, uint64_t first, uint64_t count,
        vm_waiter_list_t *waiters);

/* Pageout (vm_pageout.c). */
/* Records a newly resident page (obj locked). */
void vm_pageout_enqueue(struct vm_object *obj, vm_page_t *p);
/* Evicts pages until the kernel is within MEMOBJ_RESIDENT_MAX. Call with
 * no lock held (it sends data_return). */
void vm_pageout_balance(void);
/* Terminates obj if it is unmapped and (may_cache off or dead). */
void vm_object_maybe_terminate(struct vm_object *obj);
/* Terminates obj if it is unmapped and holds no page (a cached object
 * whose pages were all evicted). */
void vm_object_cache_trim(struct vm_object *obj);

/* Calls fn on every object in the table (table locked: fn may take the
 * object's lock, and must not call back into the table). */
void vm_object_foreach(void (*fn)(struct vm_object *, void *), void *arg);

/* The object port died: fail every waiter and every later fault. */
void vm_object_manager_died(struct vm_object *obj);

/* A fault event at `address` in a mapping of obj (vm_fault.c). */
/* Grows requests queued before the object was ready to its cluster size.
 * (obj locked) */
void vm_object_widen_pending(struct vm_object *obj);
/* Whether address is in a mapping of obj still. A fault event may be
 * handled after its thread went on (a supply over the range woke it
 * first) and unmapped the object: no SIGBUS for that one. (obj locked) */
bool vm_object_maps_address(struct vm_object *obj, uintptr_t address);
void vm_object_fault(struct vm_object *obj, vm_offset_t offset,
        uintptr_t address, pid_t tid, int write);

/* Helpers for vm_pagein.c and vm_fault.c (obj->lock held). */
bool vm_object_offset_mapped(struct vm_object *obj, vm_offset_t offset);
/* Wakes (and, when reason != KERN_SUCCESS, first signals SIGBUS to) every
 * waiter of the list; no lock held. */
void vm_object_release_waiters(vm_waiter_list_t *waiters, kern_return_t reason);

#endif
