/* Write-back plumbing shared by lock_request, vm_msync, pageout and
 * terminate: reading pages out of the cache into memory handed to the
 * manager with data_return, and dropping pages from the cache. */
#include "vm/vm_return.h"

#include <stdlib.h>

#include "emmi/object_user.h"
#include "os/os_mem.h"
#include "os/os_memfd.h"
#include "os/os_page_pool.h"
#include "vm/vm_dirty.h"
#include "vm/vm_internal.h"
#include "vm/vm_kernel.h"
#include "vm/vm_lock_order.h"
#include "vm/vm_object.h"

/* An arena never grows past this many pages. */
#define ARENA_MAX_PAGES 256

/* ---- arenas ------------------------------------------------------------- */

static void arena_drop(struct vm_return_batch *batch)
{
	os_pages_free(batch->arena, batch->arena_left);
	batch->arena = NULL;
	batch->arena_left = 0;
}

/* `len` bytes of fresh pages for one run. Fresh, so the message hands them
 * over without a copy; each run is whole pages of its own, so the manager
 * frees each with vm_deallocate as before. Cut from an arena that doubles
 * (the first exactly one run, so a lone page wastes nothing): a batch of
 * scattered pages costs a few mmaps instead of one per run, and its pages
 * are made present in the same call instead of faulting one by one as
 * the cache is read into them. */
static void *arena_take(struct vm_return_batch *batch, vm_size_t len,
        vm_size_t page)
{
	/* The pool first. Where it could not get memory for a new slab, no
	 * fresh arena either: the run stays, and is returned later. */
	bool nomem = false;
	void *pooled = os_page_pool_take(len, &nomem);
	if (pooled != NULL || nomem)
		return pooled;
	if (batch->arena_left < len) {
		arena_drop(batch);
		vm_size_t size = batch->arena_last ? 2 * batch->arena_last : len;
		if (size > ARENA_MAX_PAGES * page)
			size = ARENA_MAX_PAGES * page;
		if (size < len)
			size = len;
		batch->arena = os_pages_alloc_populated(size);
		if (batch->arena == NULL)
			return NULL;
		batch->arena_left = batch->arena_last = size;
	}
	void *buf = batch->arena;
	batch->arena += len;
	batch->arena_left -= len;
	return buf;
}

void vm_return_collect(struct vm_object *obj, uint64_t first, uint64_t count,
        bool dirty, struct vm_return_batch *batch)
{
	VM_ASSERT_LOCKED(&obj->lock);
	struct vm_kernel *k = vm_kernel();
	if (count == 0)
		return;
	if (batch->count == batch->cap) {
		size_t cap = batch->cap ? batch->cap * 2 : 8;
		struct vm_return_run *r = realloc(batch->runs, cap * sizeof *r);
		if (r == NULL) {
			batch->failed = true;
			return;
		}
		batch->runs = r;
		batch->cap = cap;
	}
	vm_size_t len = count << k->page_shift;
	void *buf = arena_take(batch, len, (vm_size_t)1 << k->page_shift);
	if (buf == NULL) {
		batch->failed = true;
		return;
	}
	if (vm_cache_read(&obj->cache, first << k->page_shift, buf, len) != 0) {
		os_page_pool_free(buf, len);
		batch->failed = true;
		return;
	}
	batch->runs[batch->count++] = (struct vm_return_run){
		.offset = first << k->page_shift, .data = buf, .length = len,
		.dirty = dirty,
	};
}

void vm_return_send(struct vm_object *obj, struct vm_return_batch *batch,
        bool kernel_copy)
{
	VM_ASSERT_LOCKED(&obj->send_lock);
	bool failed = false;
	for (size_t i = 0; i < batch->count; i++) {
		struct vm_return_run *r = &batch->runs[i];
		if (obj->internal) {
			/* data_initialize for a page's first trip out. */
			if (failed || obj->dead)
				os_page_pool_free(r->data, r->length);
			else
				failed = vm_internal_send_run(obj, r, kernel_copy)
				         != MACH_MSG_SUCCESS;
			continue;
		}
		if (!failed && !obj->dead &&
		    emmi_send_data_return(obj->object_k, obj->control_k, r->offset,
		                          r->data, r->length, r->dirty, kernel_copy)
		    == MACH_MSG_SUCCESS) {
			atomic_fetch_add_explicit(&vm_kernel()->pageouts,
			        (unsigned)(r->length >> vm_kernel()->page_shift),
			        memory_order_relaxed);
			continue;
		}
		/* Not sent: the pages are still ours. */
		failed = true;
		os_page_pool_free(r->data, r->length);
	}
	free(batch->runs);
	batch->runs = NULL;
	batch->count = batch->cap = 0;
	arena_drop(batch);
	batch->arena_last = 0;
}

void vm_object_page_drop(struct vm_object *obj, uint64_t first, uint64_t count,
        vm_waiter_list_t *waiters)
{
	VM_ASSERT_LOCKED(&obj->lock);
	struct vm_kernel *k = vm_kernel();
	uint64_t run = 0, dropped = 0;
	for (uint64_t i = 0; i <= count; i++) {
		vm_page_t *p = i < count ? vm_page_lookup(&obj->pages, first + i) : NULL;
		if (p != NULL && p->state == VM_PAGE_RESIDENT) {
			vm_page_take_waiters(p, waiters);
			vm_page_remove(&obj->pages, first + i);
			run++;
			continue;
		}
		if (run == 0)
			continue;
		/* The hole punch unmaps the pages from every view; protecting
		 * afterwards leaves a WP marker where a dirty page was mapped
		 * writable, so the next copy of it is tracked again. */
		uint64_t start = first + i - run;
		vm_cache_punch(&obj->cache, start << k->page_shift,
		               run << k->page_shift);
		vm_object_protect_pages(obj, start, run);
		dropped += run;
		run = 0;
	}
	obj->resident -= (unsigned)dropped;
	atomic_fetch_sub_explicit(&k->active, (unsigned)dropped, memory_order_relaxed);
}
