/* The page pool: memory the kernel hands to managers (data_return).
 * Below the VM and the IPC, which both give pages back to it.
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
 * what it gets pins at most that much; past that the caller's own
 * memory serves: vm_return.c's arenas). A slab wholly free stays, but past the first POOL_KEEP_FREE
 * of them the system may take its pages back when it needs them
 * (MADV_FREE, under the lock so that no page of it is being written):
 * what the pool holds that nobody uses and the system cannot reclaim is
 * at most POOL_KEEP_FREE slabs. pool.lock is a leaf (taken under any VM
 * or IPC lock, nothing under it). */
#include "os/os_page_pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <unistd.h>

#include "os/os_mem.h"

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
	return (size_t)sysconf(_SC_PAGESIZE);   /* glibc: from the aux vector */
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
void *os_page_pool_take(size_t len, bool *nomem)
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

size_t os_page_pool_put(uintptr_t start, uintptr_t end,
        struct os_page_range rest[OS_PAGE_POOL_PIECES])
{
	if (start >= end)
		return 0;
	if (end <= atomic_load_explicit(&pool_lo, memory_order_acquire) ||
	    start >= atomic_load_explicit(&pool_hi, memory_order_acquire)) {
		rest[0] = (struct os_page_range){ start, end };
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
			rest[nrest++] = (struct os_page_range){ at, lo };
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
		rest[nrest++] = (struct os_page_range){ at, end };
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

void os_page_pool_free(void *addr, size_t len)
{
	if (addr == NULL || len == 0)
		return;
	struct os_page_range rest[OS_PAGE_POOL_PIECES];
	size_t n = os_page_pool_put((uintptr_t)addr, (uintptr_t)addr + len, rest);
	for (size_t i = 0; i < n; i++)
		os_pages_free((void *)rest[i].start, rest[i].end - rest[i].start);
}
