/* Anonymous memory and mapping calls: pages handed to managers, and
 * dropping a mapping's pages (not a cache's: see os_memfd.h). */
#ifndef MEMOBJ_OS_MEM_H
#define MEMOBJ_OS_MEM_H

#include <stddef.h>
#include <stdint.h>

/* Unmaps the pages of [addr, addr+len) from this mapping only (a shared
 * file behind it keeps them): the next access faults again. 0 or -errno. */
int os_mapping_zap(uintptr_t addr, size_t len);
/* Fresh anonymous page-aligned memory for data handed to a manager
 * (freed by it with vm_deallocate, i.e. munmap); NULL when out of memory. */
void *os_pages_alloc(size_t len);
/* The same, its pages made present at once (MAP_POPULATE): for memory
 * about to be written whole, one call instead of a fault per page. */
void *os_pages_alloc_populated(size_t len);
/* Lets the system take back the pages of [addr, addr+len) (anonymous,
 * private) when it needs them, the mapping staying: MADV_FREE, so pages
 * written again before that are kept; where the system has no MADV_FREE,
 * dropped at once (MADV_DONTNEED). Either way their contents are gone.
 * 0 or -errno. */
int os_pages_lazy_free(void *addr, size_t len);
/* Frees memory from os_pages_alloc that was not handed over. */
void os_pages_free(void *addr, size_t len);

#endif
