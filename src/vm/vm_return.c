/* Write-back plumbing shared by lock_request, vm_msync, pageout and
 * terminate: reading pages out of the cache into memory handed to the
 * manager with data_return, and dropping pages from the cache. */
#include "vm/vm_return.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "emmi/object_user.h"
#include "os/os_mem.h"
#include "os/os_memfd.h"
#include "vm/vm_dirty.h"
#include "vm/vm_internal.h"
#include "vm/vm_kernel.h"
#include "vm/vm_lock_order.h"
#include "vm/vm_object.h"

/* An arena never grows past this many pages. */
#define ARENA_MAX_PAGES 256

/* ---- the return pool ------------------------------------------------------
 *
 * Pages handed to managers with data_return come back to the pool when the
 * manager frees them (vm_deallocate, or the IPC freeing a message nobody
 * received), and the next data_return reuses them: no mmap, no zeroing of
 * fresh pages and no page fault or populate in the kernel's thread, and
 * in the manager no munmap, with its VMA split, TLB flush and page
 * freeing. The pool is a few slabs of POOL_SLAB_PAGES system pages, each
 * made present once, with a bitmap of the pages handed out; pages go out
 * in address order (next fit), so one write-back's runs lie side by side
 * as the arenas made them. At most POOL_SLABS slabs (a manager keeping
 * what it gets pins at most that much; past that the arenas below serve,
 * as before). A slab wholly free stays, but past the first POOL_KEEP_FREE
 * of them the system may take its pages back when it needs them
 * (MADV_FREE, under the lock so that no page of it is being written):
 * what the pool holds that nobody uses and the system cannot reclaim is
 * at most POOL_KEEP_FREE slabs. pool.lock is a leaf (taken under any VM
 * or IPC lock, nothing under it). */
#define POOL_SLAB_PAGES 256
#define POOL_SLABS 16
#define POOL_KEEP_FREE 8

struct pool_slab {
	uintptr_t base;                         /* 0: no slab */
	uint64_t used[POOL_SLAB_PAGES / 64];    /* pages handed out */
	unsigned nused;
	unsigned cursor;                        /* next fit starts here */
	bool lazy;                              /* wholly free, MADV_FREE'd */
};

static struct {
	pthread_mutex_t lock;
	struct pool_slab slab[POOL_SLABS];
	unsigned nslabs;
	unsigned last;                          /* slab of the last take */
	bool growing;                           /* a thread is making a slab */
} pool = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* The hull of the slabs, read without the lock: a range outside it is
 * none of the pool's. Pages handed out were in a slab counted here before
 * they left (under pool.lock), and a slab goes only with none out. */
static _Atomic uintptr_t pool_lo = UINTPTR_MAX, pool_hi = 0;

static size_t pool_page(void)
{
	return vm_kernel()->system_page_size;
}

static size_t slab_bytes(void)
{
	return POOL_SLAB_PAGES * pool_page();
}

static void pool_hull_update(void)
{
	uintptr_t lo = UINTPTR_MAX, hi = 0;
	for (unsigned i = 0; i < pool.nslabs; i++) {
		if (pool.slab[i].base < lo)
			lo = pool.slab[i].base;
		if (pool.slab[i].base + slab_bytes() > hi)
			hi = pool.slab[i].base + slab_bytes();
	}
	atomic_store_explicit(&pool_lo, lo, memory_order_release);
	atomic_store_explicit(&pool_hi, hi, memory_order_release);
}

static bool page_used(const struct pool_slab *s, unsigned i)
{
	return s->used[i / 64] >> (i % 64) & 1;
}

/* First page of n free pages in a row at or after `from`, or -1. */
static int slab_find(const struct pool_slab *s, unsigned from, unsigned n)
{
	unsigned start = from, run = 0;
	for (unsigned i = from; i < POOL_SLAB_PAGES;) {
		uint64_t w = s->used[i / 64] >> (i % 64);
		unsigned left = 64 - i % 64;
		if (w & 1) {
			/* Used pages: skip them (to the word's end if all are). */
			i += ~w ? (unsigned)__builtin_ctzll(~w) : left;
			start = i;
			run = 0;
			continue;
		}
		unsigned zeros = w ? (unsigned)__builtin_ctzll(w) : left;
		if (run + zeros >= n)
			return (int)start;
		run += zeros;
		i += zeros;
	}
	return -1;
}

static void slab_mark(struct pool_slab *s, unsigned first, unsigned n)
{
	for (unsigned i = first; i < first + n; i++)
		s->used[i / 64] |= UINT64_C(1) << (i % 64);
	s->nused += n;
}

/* `len` bytes of pool pages in a row, or NULL: none free, too long, or
 * (*nomem) no memory for a new slab. */
static void *pool_take(vm_size_t len, bool *nomem)
{
	size_t page = pool_page();
	unsigned n = (unsigned)(len / page);
	if (len % page != 0 || n == 0 || n > POOL_SLAB_PAGES)
		return NULL;
	pthread_mutex_lock(&pool.lock);
	for (;;) {
		for (unsigned k = 0; k < pool.nslabs; k++) {
			unsigned at = (pool.last + k) % pool.nslabs;
			struct pool_slab *s = &pool.slab[at];
			if (POOL_SLAB_PAGES - s->nused < n)
				continue;
			int first = slab_find(s, s->cursor, n);
			if (first < 0 && s->cursor > 0)
				first = slab_find(s, 0, n);
			if (first < 0)
				continue;
			slab_mark(s, (unsigned)first, n);
			s->lazy = false;
			s->cursor = ((unsigned)first + n) % POOL_SLAB_PAGES;
			pool.last = at;
			void *buf = (void *)(s->base + (uintptr_t)first * page);
			pthread_mutex_unlock(&pool.lock);
			return buf;
		}
		if (pool.nslabs == POOL_SLABS || pool.growing) {
			pthread_mutex_unlock(&pool.lock);
			return NULL;
		}
		/* A new slab, made present outside the lock. */
		pool.growing = true;
		pthread_mutex_unlock(&pool.lock);
		void *base = os_pages_alloc_populated(slab_bytes());
		pthread_mutex_lock(&pool.lock);
		pool.growing = false;
		if (base == NULL) {
			pthread_mutex_unlock(&pool.lock);
			*nomem = true;
			return NULL;
		}
		pool.slab[pool.nslabs++] = (struct pool_slab){ .base = (uintptr_t)base };
		pool.last = pool.nslabs - 1;
		pool_hull_update();
	}
}

size_t vm_return_pool_put(uintptr_t start, uintptr_t end,
        struct vm_return_range rest[VM_RETURN_POOL_PIECES])
{
	if (start >= end)
		return 0;
	if (end <= atomic_load_explicit(&pool_lo, memory_order_acquire) ||
	    start >= atomic_load_explicit(&pool_hi, memory_order_acquire)) {
		rest[0] = (struct vm_return_range){ start, end };
		return 1;
	}
	size_t page = pool_page(), bytes = slab_bytes();
	/* The slabs the range meets, in address order. */
	unsigned hit[POOL_SLABS], nhit = 0;
	pthread_mutex_lock(&pool.lock);
	for (unsigned i = 0; i < pool.nslabs; i++) {
		const struct pool_slab *s = &pool.slab[i];
		if (s->base >= end || s->base + bytes <= start)
			continue;
		unsigned j = nhit++;
		while (j > 0 && pool.slab[hit[j - 1]].base > s->base) {
			hit[j] = hit[j - 1];
			j--;
		}
		hit[j] = i;
	}
	size_t nrest = 0;
	uintptr_t at = start;
	for (unsigned h = 0; h < nhit; h++) {
		struct pool_slab *s = &pool.slab[hit[h]];
		uintptr_t lo = s->base > start ? s->base : start;
		uintptr_t hi = s->base + bytes < end ? s->base + bytes : end;
		if (lo > at)
			rest[nrest++] = (struct vm_return_range){ at, lo };
		at = hi;
		/* Whole pages only: vm_deallocate rounds to system pages. */
		for (unsigned i = (unsigned)((lo - s->base) / page);
		     i < (unsigned)((hi - s->base + page - 1) / page); i++)
			if (page_used(s, i)) {
				s->used[i / 64] &= ~(UINT64_C(1) << (i % 64));
				s->nused--;
			}
	}
	if (at < end)
		rest[nrest++] = (struct vm_return_range){ at, end };
	/* Wholly free slabs past the few kept: the system may take their
	 * pages back (the one just freed first, the others were already). */
	unsigned free_slabs = 0;
	for (unsigned h = 0; h < nhit; h++) {
		struct pool_slab *s = &pool.slab[hit[h]];
		if (s->nused != 0 || s->lazy)
			continue;
		if (free_slabs == 0)
			for (unsigned i = 0; i < pool.nslabs; i++)
				free_slabs += pool.slab[i].nused == 0 && !pool.slab[i].lazy;
		if (free_slabs > POOL_KEEP_FREE) {
			/* Failing, the slab's pages simply stay: nothing lost. */
			(void)os_pages_lazy_free((void *)s->base, bytes);
			s->lazy = true;
			free_slabs--;
		}
	}
	pthread_mutex_unlock(&pool.lock);
	return nrest;
}

void vm_return_pages_free(void *addr, size_t len)
{
	if (addr == NULL || len == 0)
		return;
	struct vm_return_range rest[VM_RETURN_POOL_PIECES];
	size_t n = vm_return_pool_put((uintptr_t)addr, (uintptr_t)addr + len, rest);
	for (size_t i = 0; i < n; i++)
		os_pages_free((void *)rest[i].start, rest[i].end - rest[i].start);
}

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
	void *pooled = pool_take(len, &nomem);
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
		vm_return_pages_free(buf, len);
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
				vm_return_pages_free(r->data, r->length);
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
		vm_return_pages_free(r->data, r->length);
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
