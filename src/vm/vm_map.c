/* vm_map: map a memory object (or zero-filled memory) into the task. */
#include <mach/mach.h>

#include <errno.h>
#include <sys/mman.h>

#include "emmi/control_port.h"
#include "os/os_uffd.h"
#include "vm/vm_dirty.h"
#include "vm/vm_kernel.h"
#include "vm/vm_map_entry.h"
#include "vm/vm_object.h"

/* Alignment that makes (address & mask) == 0, at least one kernel page. */
static vm_size_t mask_alignment(struct vm_kernel *k, vm_address_t mask)
{
	vm_size_t need = mask | k->page_mask;
	/* Smear to the next all-ones value, then +1: a power of two. */
	need |= need >> 1; need |= need >> 2; need |= need >> 4;
	need |= need >> 8; need |= need >> 16; need |= need >> 32;
	return need == (vm_size_t)-1 ? 0 : need + 1;
}

/* Zero-filled anonymous memory at a reserved range (map write-locked). */
kern_return_t vm_map_enter_anonymous(uintptr_t addr, vm_size_t size,
        vm_prot_t cur, vm_prot_t max, vm_inherit_t inheritance)
{
	void *p = mmap((void *)addr, size, vm_prot_to_mmap(cur),
	               MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	if (p == MAP_FAILED) {
		munmap((void *)addr, size);
		return KERN_RESOURCE_SHORTAGE;
	}
	struct vm_map_entry e = {
		.start = addr, .end = addr + size, .object = NULL, .offset = 0,
		.protection = cur, .max_protection = max,
		.inheritance = inheritance, .copy = false,
	};
	if (vm_map_insert(&e) != 0) {
		munmap((void *)addr, size);
		return KERN_RESOURCE_SHORTAGE;
	}
	return KERN_SUCCESS;
}

kern_return_t vm_map_enter_anonymous_anywhere(uintptr_t *addr, vm_size_t size,
        vm_prot_t cur, vm_prot_t max, vm_inherit_t inheritance)
{
	void *p = mmap(NULL, size, vm_prot_to_mmap(cur),
	               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return errno == ENOMEM ? KERN_NO_SPACE : KERN_RESOURCE_SHORTAGE;
	vm_map_forget_stale((uintptr_t)p, (uintptr_t)p + size);
	struct vm_map_entry e = {
		.start = (uintptr_t)p, .end = (uintptr_t)p + size, .object = NULL,
		.offset = 0, .protection = cur, .max_protection = max,
		.inheritance = inheritance, .copy = false,
	};
	if (vm_map_insert(&e) != 0) {
		munmap(p, size);
		return KERN_RESOURCE_SHORTAGE;
	}
	*addr = (uintptr_t)p;
	return KERN_SUCCESS;
}

/* A shared mapping is registered MISSING (and MINOR once the object has
 * read locks). Only a writable one is also registered WP and
 * write-protected whole, so that the first write to each page faults
 * (dirty tracking): WP registration turns off the kernel's fault-around,
 * so a read-only mapping would pay one minor fault per page of a supplied
 * cluster for nothing. vm_protect adds WP when it grants write.
 * A copy mapping only needs its missing pages. */
static int register_mapping(struct vm_object *obj, uintptr_t addr,
        vm_size_t size, boolean_t copy, vm_prot_t cur)
{
	struct vm_kernel *k = vm_kernel();
	if (copy)
		return os_uffd_register_missing(k->uffd, addr, size);
	if (k->wp && (cur & VM_PROT_WRITE))
		return vm_object_track_writes(obj, addr, size);
	pthread_mutex_lock(&obj->lock);
	unsigned modes = OS_UFFD_MODE_MISSING |
	                 (obj->minor ? OS_UFFD_MODE_MINOR : 0);
	int err = os_uffd_register(k->uffd, addr, size, modes);
	pthread_mutex_unlock(&obj->lock);
	return err;
}

static kern_return_t enter_object(uintptr_t addr, vm_size_t size,
        memory_object_t memory_object, vm_offset_t offset, boolean_t copy,
        vm_prot_t cur, vm_prot_t max, vm_inherit_t inheritance)
{
	struct vm_kernel *k = vm_kernel();
	kern_return_t kr;
	if (k->uffd < 0) {
		munmap((void *)addr, size);
		return KERN_RESOURCE_SHORTAGE;
	}
	vm_kernel_stall_start();
	struct vm_object *obj = vm_object_enter_mapping(memory_object, addr,
	        offset, size, copy != FALSE, &kr);
	if (obj == NULL) {
		munmap((void *)addr, size);
		return kr;
	}
	int err = vm_cache_map_fixed(&obj->cache, addr, size, offset,
	                             vm_prot_to_mmap(cur), copy);
	if (err == 0)
		err = register_mapping(obj, addr, size, copy, cur);
	if (err == 0 && !copy && (cur & VM_PROT_EXECUTE))
		vm_object_mapping_set_exec(obj, addr, size, true);
	if (err != 0) {
		vm_cache_report_limit("vm_map", err);
		munmap((void *)addr, size);
		vm_object_mapping_remove(obj, addr);
		vm_object_release(obj);
		return KERN_RESOURCE_SHORTAGE;
	}
	struct vm_map_entry e = {
		.start = addr, .end = addr + size, .object = obj, .offset = offset,
		.protection = cur, .max_protection = max,
		.inheritance = inheritance, .copy = copy != FALSE,
	};
	if (vm_map_insert(&e) != 0) {        /* the entry keeps obj's reference */
		munmap((void *)addr, size);
		vm_object_mapping_remove(obj, addr);
		vm_object_release(obj);
		return KERN_RESOURCE_SHORTAGE;
	}
	return KERN_SUCCESS;
}

kern_return_t vm_map(vm_task_t target_task, vm_address_t *address,
        vm_size_t size, vm_address_t mask, boolean_t anywhere,
        memory_object_t memory_object, vm_offset_t offset, boolean_t copy,
        vm_prot_t cur_protection, vm_prot_t max_protection,
        vm_inherit_t inheritance)
{
	if (target_task != mach_task_self())
		return KERN_INVALID_TASK;
	struct vm_kernel *k = vm_kernel();
	if (address == NULL || size == 0 || vm_round_overflows(k, size))
		return KERN_INVALID_ARGUMENT;
	size = vm_round_page(k, size);
	if ((cur_protection & ~VM_PROT_ALL) || (max_protection & ~VM_PROT_ALL) ||
	    (cur_protection & ~max_protection) ||
	    inheritance > VM_INHERIT_LAST_VALID)
		return KERN_INVALID_ARGUMENT;
	if (memory_object != MEMORY_OBJECT_NULL &&
	    ((offset & k->page_mask) || offset > (vm_offset_t)-1 - size))
		return KERN_INVALID_ARGUMENT;
	/* A control port, the task, host or name-server port, any kernel
	 * object of this node, is no memory object: init sent to one would
	 * run its handler in this thread under the VM's locks. */
	if (memory_object != MEMORY_OBJECT_NULL &&
	    emmi_port_kind(ipc_space_task(), memory_object) == EMMI_PORT_KERNEL)
		return KERN_INVALID_ARGUMENT;
	vm_size_t align = mask_alignment(k, mask);
	if (align == 0)
		return KERN_NO_SPACE;
	uintptr_t addr = (uintptr_t)*address;
	bool fixed = !(anywhere & VM_FLAGS_ANYWHERE);
	if (fixed && ((addr & (align - 1)) || addr > UINTPTR_MAX - size))
		return KERN_INVALID_ARGUMENT;

	vm_map_lock_write();
	kern_return_t kr = vm_map_reserve(&addr, size, align, !fixed);
	if (kr == KERN_SUCCESS) {
		if (memory_object == MEMORY_OBJECT_NULL)
			kr = vm_map_enter_anonymous(addr, size, cur_protection,
			                            max_protection, inheritance);
		else
			kr = enter_object(addr, size, memory_object, offset, copy,
			                  cur_protection, max_protection, inheritance);
	}
	vm_map_unlock();
	if (kr == KERN_SUCCESS)
		*address = addr;
	return kr;
}
