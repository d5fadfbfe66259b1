/* Memory no other mmap in the process can take once it is freed.
 *
 * Linux places a new mapping in the highest free gap that fits
 * (top-down). A test that frees a page and then checks that the address
 * is free (or allocates it again, fixed) races every other thread's mmap
 * in the process: ASan's bookkeeping, a thread stack, a library. A region
 * far below the mmap area is never the highest fitting gap, so its holes
 * stay holes. */
#ifndef MEMOBJ_TESTS_LONE_REGION_H
#define MEMOBJ_TESTS_LONE_REGION_H

#include <mach/mach.h>

/* vm_allocate (fixed) of size bytes at 0x300000000000 or the first free
 * GiB above it: above ASan's shadow, below its allocator and every mmap.
 * Returns the address, or 0. */
static inline vm_address_t lone_region_allocate(vm_size_t size)
{
	for (vm_address_t a = 0x300000000000ull; a < 0x400000000000ull; a += 1ull << 30) {
		vm_address_t b = a;
		if (vm_allocate(mach_task_self(), &b, size, FALSE) == KERN_SUCCESS)
			return b;
	}
	return 0;
}

#endif
