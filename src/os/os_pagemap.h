/* Which pages of an anonymous mapping hold data: the kernel's page tables
 * read through mincore and /proc/self/pagemap (internal memory, vm_internal.c). */
#ifndef MEMOBJ_OS_PAGEMAP_H
#define MEMOBJ_OS_PAGEMAP_H

#include <stddef.h>
#include <stdint.h>

/* Number of system pages of [addr, addr+len) that are resident (mincore),
 * or -errno. Cheap: one byte per page. */
long os_mincore_count(uintptr_t addr, size_t len);
/* For each system page of [addr, addr+len), out[i] = 1 when it holds data
 * (present in memory or swapped out), 0 when never touched (or dropped;
 * a userfaultfd write-protect marker on an empty entry is no data).
 * 0 or -errno. */
int os_pagemap_used(uintptr_t addr, size_t len, uint8_t *out);

#endif
