/* Write-back plumbing shared by lock_request, vm_msync, pageout and
 * terminate (vm_return.c): pages read out of the cache into memory handed
 * to the manager with data_return, and pages dropped from the cache. */
#ifndef MEMOBJ_VM_RETURN_H
#define MEMOBJ_VM_RETURN_H

#include <stdbool.h>
#include <stdint.h>
#include <mach/mach.h>

#include "vm/vm_page.h"

struct vm_object;

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
	/* Runs are cut from arenas, one mapping for many runs: its part not
	 * yet handed out, and the size of the last one made. */
	uint8_t *arena;
	vm_size_t arena_left, arena_last;
};



/* Reads pages [first, first+count) (resident, obj locked) into a new run
 * of the batch. */
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

#endif
