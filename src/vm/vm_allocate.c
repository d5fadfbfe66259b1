/* vm_allocate (zero-filled memory) and vm_deallocate (any range). */
#include <mach/mach.h>

#include <sys/mman.h>

#include "vm/vm_kernel.h"
#include "vm/vm_map_entry.h"
#include "os/os_page_pool.h"

kern_return_t vm_allocate(vm_task_t target_task, vm_address_t *address,
        vm_size_t size, boolean_t anywhere)
{
	if (target_task != mach_task_self())
		return KERN_INVALID_TASK;
	if (address == NULL)
		return KERN_INVALID_ARGUMENT;
	struct vm_kernel *k = vm_kernel();
	if (size == 0) {
		if (anywhere)
			*address = 0;
		return KERN_SUCCESS;
	}
	if (vm_round_overflows(k, size))
		return KERN_INVALID_ARGUMENT;
	size = vm_round_page(k, size);
	uintptr_t addr = (uintptr_t)*address;
	bool fixed = !(anywhere & VM_FLAGS_ANYWHERE);
	if (fixed && ((addr & k->page_mask) || addr > UINTPTR_MAX - size))
		return KERN_INVALID_ADDRESS;
	vm_map_lock_write();
	kern_return_t kr;
	if (!fixed && k->page_size == k->system_page_size)
		/* Any address mmap picks is page aligned: one call does it. */
		kr = vm_map_enter_anonymous_anywhere(&addr, size, VM_PROT_DEFAULT,
		                                     VM_PROT_ALL, VM_INHERIT_DEFAULT);
	else {
		kr = vm_map_reserve(&addr, size, k->page_size, !fixed);
		if (kr == KERN_SUCCESS)
			kr = vm_map_enter_anonymous(addr, size, VM_PROT_DEFAULT,
			                            VM_PROT_ALL, VM_INHERIT_DEFAULT);
	}
	vm_map_unlock();
	if (kr == KERN_SUCCESS)
		*address = addr;
	return kr;
}

kern_return_t vm_deallocate(vm_task_t target_task, vm_address_t address,
        vm_size_t size)
{
	if (target_task != mach_task_self())
		return KERN_INVALID_TASK;
	if (size == 0)
		return KERN_SUCCESS;
	struct vm_kernel *k = vm_kernel();
	if (address > (vm_address_t)-1 - size)
		return KERN_INVALID_ARGUMENT;
	/* Ranges the map tracks are in kernel pages; other memory (message
	 * buffers from the IPC layer, say) is in system pages, so that a large
	 * kernel page never takes a neighbour with it. */
	vm_size_t sysmask = k->system_page_size - 1;
	vm_address_t start = address & ~sysmask;
	vm_address_t end = address + size;
	if (end > (vm_address_t)-1 - sysmask)
		return KERN_INVALID_ARGUMENT;
	end = (end + sysmask) & ~sysmask;
	/* Pages a data_return handed over go back to the page pool
	 * (os_page_pool.c); the rest of the range is unmapped as ever. */
	struct os_page_range rest[OS_PAGE_POOL_PIECES];
	size_t nrest = os_page_pool_put(start, end, rest);
	if (nrest == 0)
		return KERN_SUCCESS;
	vm_map_lock_write();
	for (size_t i = 0; i < nrest; i++) {
		vm_address_t lo = rest[i].start, hi = rest[i].end;
		if (vm_map_overlaps(lo, hi)) {
			lo = vm_trunc_page(k, lo);
			if (!vm_round_overflows(k, hi))
				hi = vm_round_page(k, hi);
		}
		vm_map_remove_range(lo, hi);
	}
	vm_map_unlock();
	return KERN_SUCCESS;
}
