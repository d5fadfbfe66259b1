/* The page pool (os_page_pool.c): system pages made present once and
 * handed out again and again, for the memory a data_return hands to a
 * manager. vm_deallocate and the IPC give pages back with
 * os_page_pool_put / os_page_pool_free. Its lock is a leaf: callable with
 * any lock held. */
#ifndef MEMOBJ_OS_PAGE_POOL_H
#define MEMOBJ_OS_PAGE_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A part of a range [start, end). */
struct os_page_range {
	uintptr_t start, end;
};
/* Most parts os_page_pool_put leaves: one around each slab and more. */
#define OS_PAGE_POOL_PIECES 17

/* `len` bytes (whole system pages) of pool pages in a row, or NULL: none
 * free, too long, or (*nomem set) no memory for a new slab. */
void *os_page_pool_take(size_t len, bool *nomem);
/* Takes back the pages of [start, end) (system pages) that came from the
 * pool, and fills `rest` with the parts of the range that are none of the
 * pool's, in order: the caller frees those as it would have freed the
 * range. Returns how many; 1 with the range itself, at no cost beyond two
 * atomic loads, when the range misses the pool. */
size_t os_page_pool_put(uintptr_t start, uintptr_t end,
        struct os_page_range rest[OS_PAGE_POOL_PIECES]);
/* Frees pages from os_pages_alloc or the pool (os_pages_free, unless
 * they are the pool's). */
void os_page_pool_free(void *addr, size_t len);

#endif
