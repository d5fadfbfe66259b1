/* vm_allocate / vm_deallocate for anonymous memory.
 * (Interim: the VM layer's address map takes these over.) */
#include <sys/mman.h>
#include <unistd.h>
#include <errno.h>
#include <mach/mach.h>

static vm_size_t page_mask(void)
{
	return (vm_size_t)sysconf(_SC_PAGESIZE) - 1;
}

kern_return_t vm_allocate(vm_task_t task, vm_address_t *address,
        vm_size_t size, boolean_t anywhere)
{
	if (task != mach_task_self())
		return KERN_INVALID_TASK;
	if (address == NULL)
		return KERN_INVALID_ARGUMENT;
	if (size == 0) {
		if (anywhere)
			*address = 0;
		return KERN_SUCCESS;
	}
	vm_size_t mask = page_mask();
	if (size > (vm_size_t)-1 - mask)
		return KERN_INVALID_ARGUMENT;
	size = (size + mask) & ~mask;
	int flags = MAP_PRIVATE | MAP_ANONYMOUS;
	void *hint = NULL;
	if (!anywhere) {
		if (*address & mask)
			return KERN_INVALID_ADDRESS;
		hint = (void *)(uintptr_t)*address;
		flags |= MAP_FIXED_NOREPLACE;
	}
	void *p = mmap(hint, size, PROT_READ | PROT_WRITE, flags, -1, 0);
	if (p == MAP_FAILED)
		return errno == EEXIST ? KERN_NO_SPACE : KERN_RESOURCE_SHORTAGE;
	*address = (vm_address_t)(uintptr_t)p;
	return KERN_SUCCESS;
}

kern_return_t vm_deallocate(vm_task_t task, vm_address_t address, vm_size_t size)
{
	if (task != mach_task_self())
		return KERN_INVALID_TASK;
	if (size == 0)
		return KERN_SUCCESS;
	vm_size_t mask = page_mask();
	vm_address_t start = address & ~mask;
	if (size > (vm_size_t)-1 - mask - (address - start))
		return KERN_INVALID_ARGUMENT;
	vm_size_t len = (address - start + size + mask) & ~mask;
	if (munmap((void *)(uintptr_t)start, len) != 0)
		return KERN_INVALID_ADDRESS;
	return KERN_SUCCESS;
}
