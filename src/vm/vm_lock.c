/* memory_object_lock_request (SPEC 3.6): on the resident pages of a range,
 * return (dirty / precious / anything), flush, apply a lock; then
 * lock_completed after every data_return it caused. Runs in the manager's
 * thread (control port handler). Work goes in chunks so the object lock
 * is never held across a long range; sends happen under send_lock only,
 * so they stay ordered with data_requests. */
#include "vm/vm_lock.h"

#include <stdlib.h>

#include "ipc/ipc_kernel.h"
#include "vm/vm_dirty.h"
#include "vm/vm_kernel.h"
#include "vm/vm_object.h"
#include "vm/vm_pagein.h"
#include "vm/vm_return.h"

#define LOCK_CHUNK 512u      /* pages per object-lock hold */
/* Returned runs this close (pages between) share one write protection. */
#define PROTECT_GAP 16u

static bool page_dirty(const vm_page_t *p)
{
	/* Without write-protect tracking every page may have been written. */
	return p->dirty || !vm_kernel()->wp;
}

static bool should_return_page(const vm_page_t *p, memory_object_return_t how)
{
	switch (how) {
	case MEMORY_OBJECT_RETURN_DIRTY:
		return page_dirty(p);
	case MEMORY_OBJECT_RETURN_ALL:
		return page_dirty(p) || p->precious;
	case MEMORY_OBJECT_RETURN_ANYTHING:
		return true;
	default:
		return false;
	}
}

/* Applies lock_value to a resident page (obj locked). */
static void apply_lock(struct vm_object *obj, vm_page_t *p, vm_prot_t lock,
        vm_waiter_list_t *waiters)
{
	VM_ASSERT_LOCKED(&obj->lock);
	vm_prot_t old = p->lock_value;
	lock &= VM_PROT_ALL;
	p->lock_value = (uint8_t)lock;
	p->unlock_asked = 0;
	vm_prot_t added = lock & ~old;
	if (added & VM_PROT_WRITE)
		vm_object_protect_pages(obj, p->index, 1);
	if (added & (VM_PROT_READ | VM_PROT_EXECUTE)) {
		/* MINOR first, so the access after the zap cannot map the
		 * page at kernel speed. Execute alone: only executable views. */
		vm_object_note_lock(obj, added);
		if (added & VM_PROT_READ)
			vm_object_zap_pages(obj, p->index, 1);
		else
			vm_object_zap_exec_pages(obj, p->index, 1);
	}
	/* As in OSF, a lock_request restarts past unlock requests even when
	 * it grants nothing: whoever waited retries, meets the lock as it is
	 * now, and asks again if it is still withheld. */
	vm_page_take_waiters(p, waiters);
}

struct resident_in {
	uint64_t lo, hi;
	uint64_t *indices;
	size_t count, cap;
	bool failed;
};

static void collect_resident_in(vm_page_t *p, void *arg)
{
	struct resident_in *r = arg;
	if (r->failed || p->state != VM_PAGE_RESIDENT || p->index < r->lo ||
	    p->index >= r->hi)
		return;
	if (r->count == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 64;
		uint64_t *idx = realloc(r->indices, cap * sizeof *idx);
		if (idx == NULL) {
			r->failed = true;
			return;
		}
		r->indices = idx;
		r->cap = cap;
	}
	r->indices[r->count++] = p->index;
}

/* A run of neighbour pages a clean returns alike. */
struct clean_run {
	uint64_t start, count;
	bool dirty;
};

static int index_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

void vm_object_clean(struct vm_object *obj, vm_offset_t offset, vm_size_t size,
        memory_object_return_t should_return, bool flush, vm_prot_t lock_value)
{
	struct vm_kernel *k = vm_kernel();
	VM_ASSERT_UNLOCKED(&obj->send_lock);
	pthread_mutex_lock(&obj->lock);
	if (obj->terminated || size == 0 || offset >= obj->memfd_size) {
		pthread_mutex_unlock(&obj->lock);
		return;
	}
	vm_offset_t end = size > obj->memfd_size - offset ? obj->memfd_size
	                                                  : offset + size;
	uint64_t first = offset >> k->page_shift;
	uint64_t last = (vm_round_overflows(k, end) ? end : vm_round_page(k, end))
	                >> k->page_shift;
	/* A range far larger than the pages the object holds (supplies can
	 * reach far out): visit only the chunks where pages were resident at
	 * the call, not every index. */
	struct resident_in hint = { .lo = first, .hi = last };
	size_t h = 0;
	bool sparse = last - first > 4 * ((uint64_t)obj->pages.count + LOCK_CHUNK);
	if (sparse) {
		vm_page_foreach(&obj->pages, collect_resident_in, &hint);
		sparse = !hint.failed;
		if (sparse && hint.count > 0)
			qsort(hint.indices, hint.count, sizeof hint.indices[0],
			      index_cmp);
	}
	for (uint64_t chunk = first; chunk < last; chunk += LOCK_CHUNK) {
		if (sparse) {
			while (h < hint.count && hint.indices[h] < chunk)
				h++;
			if (h == hint.count)
				break;
			if (hint.indices[h] >= chunk + LOCK_CHUNK)
				chunk = hint.indices[h];
		}
		uint64_t n = last - chunk < LOCK_CHUNK ? last - chunk : LOCK_CHUNK;
		struct vm_return_batch batch = { 0 };
		vm_waiter_list_t waiters = { 0 };
		if (obj->terminated)
			break;
		/* Runs of pages returned alike: found first, then write-protected
		 * together (so a write after the copy faults and re-dirties),
		 * then copied. One protection over runs up to PROTECT_GAP pages
		 * apart, not one per run: the pages between are clean
		 * (already protected: a clean page is never mapped writable in
		 * a tracked view), not resident (their markers are protected
		 * again) or dirty pages this clean does not return (protected
		 * and still counted dirty: the next write takes one WP fault
		 * that finds them dirty). For scattered pages that is a few
		 * UFFDIO_WRITEPROTECTs per chunk and view instead of one per run;
		 * the gap bounds the walk over pages that need nothing.
		 * A run that could not be copied out (no memory) stays: not
		 * cleaned, not flushed. */
		struct clean_run *runs = NULL;
		size_t nruns = 0, runs_cap = 0;
		uint64_t run = 0;
		bool run_dirty = false, runs_failed = false;
		uint64_t kept[LOCK_CHUNK / 64] = { 0 };
		bool any_kept = false;
		for (uint64_t i = 0; i <= n; i++) {
			vm_page_t *p = i < n ? vm_page_lookup(&obj->pages, chunk + i) : NULL;
			bool ret = p != NULL && p->state == VM_PAGE_RESIDENT &&
			           should_return_page(p, should_return);
			bool dirty = ret && page_dirty(p);
			if (run > 0 && (!ret || dirty != run_dirty)) {
				if (nruns == runs_cap) {
					size_t cap = runs_cap ? 2 * runs_cap : 16;
					struct clean_run *r = realloc(runs, cap * sizeof *r);
					if (r == NULL) {
						runs_failed = true;
						break;
					}
					runs = r;
					runs_cap = cap;
				}
				runs[nruns++] = (struct clean_run){ chunk + i - run, run,
				                                    run_dirty };
				run = 0;
			}
			if (ret) {
				run_dirty = dirty;
				run++;
			}
		}
		if (runs_failed) {
			/* No memory for the list: keep the whole chunk as it is. */
			for (uint64_t i = 0; i < n; i++)
				kept[i / 64] |= UINT64_C(1) << (i % 64);
			any_kept = true;
			nruns = 0;
		}
		for (size_t r = 0; r < nruns;) {
			uint64_t lo = runs[r].start, hi = lo + runs[r].count;
			for (r++; r < nruns && runs[r].start - hi <= PROTECT_GAP; r++)
				hi = runs[r].start + runs[r].count;
			vm_object_protect_pages(obj, lo, hi - lo);
		}
		for (size_t r = 0; r < nruns; r++) {
			uint64_t start = runs[r].start, count = runs[r].count;
			size_t before = batch.count;
			vm_return_collect(obj, start, count, runs[r].dirty, &batch);
			bool copied = batch.count > before;
			for (uint64_t j = 0; j < count; j++) {
				if (!copied) {
					uint64_t at = start + j - chunk;
					kept[at / 64] |= UINT64_C(1) << (at % 64);
					any_kept = true;
				} else if (!flush) {
					vm_page_lookup(&obj->pages, start + j)->dirty = 0;
				}
			}
		}
		free(runs);
		if (flush && !any_kept) {
			vm_object_page_drop(obj, chunk, n, &waiters);
		} else if (flush) {
			/* Drop around the pages that could not be returned. */
			uint64_t from = 0;
			for (uint64_t i = 0; i <= n; i++) {
				if (i < n && !(kept[i / 64] >> (i % 64) & 1))
					continue;
				if (i > from)
					vm_object_page_drop(obj, chunk + from, i - from,
					                    &waiters);
				from = i + 1;
			}
		} else if (lock_value != VM_PROT_NO_CHANGE) {
			for (uint64_t i = 0; i < n; i++) {
				vm_page_t *p = vm_page_lookup(&obj->pages, chunk + i);
				if (p != NULL && p->state == VM_PAGE_RESIDENT)
					apply_lock(obj, p, lock_value, &waiters);
			}
		}
		vm_object_send_handoff(obj);
		vm_return_send(obj, &batch, !flush);
		pthread_mutex_unlock(&obj->send_lock);
		vm_object_release_waiters(&waiters, KERN_SUCCESS);
		vm_waiter_list_free(&waiters);
		pthread_mutex_lock(&obj->lock);
	}
	pthread_mutex_unlock(&obj->lock);
	free(hint.indices);
}

void vm_object_lock_request(struct vm_object *obj, vm_offset_t offset,
        vm_size_t size, memory_object_return_t should_return,
        boolean_t should_flush, vm_prot_t lock_value)
{
	struct vm_kernel *k = vm_kernel();
	if (!(offset & k->page_mask) && offset <= (vm_offset_t)-1 - size &&
	    should_return >= MEMORY_OBJECT_RETURN_NONE &&
	    should_return <= MEMORY_OBJECT_RETURN_ANYTHING &&
	    (lock_value == VM_PROT_NO_CHANGE || !(lock_value & ~VM_PROT_ALL)))
		vm_object_clean(obj, offset, size, should_return,
		                should_flush != FALSE, lock_value);
}
