/* vm_protect: current and maximum protection of mapped ranges. */
#include <mach/mach.h>

#include <sys/mman.h>

#include "vm/vm_dirty.h"
#include "vm/vm_kernel.h"
#include "vm/vm_map_entry.h"
#include "vm/vm_object.h"

kern_return_t vm_protect(vm_task_t target_task, vm_address_t address,
        vm_size_t size, boolean_t set_maximum, vm_prot_t new_protection)
{
	if (target_task != mach_task_self())
		return KERN_INVALID_TASK;
	if (new_protection & ~VM_PROT_ALL)
		return KERN_INVALID_ARGUMENT;
	if (size == 0)
		return KERN_SUCCESS;
	struct vm_kernel *k = vm_kernel();
	if (address > (vm_address_t)-1 - size ||
	    vm_round_overflows(k, address + size))
		return KERN_INVALID_ARGUMENT;
	uintptr_t start = vm_trunc_page(k, address);
	uintptr_t end = vm_round_page(k, address + size);

	vm_map_lock_write();
	kern_return_t kr = KERN_SUCCESS;
	if (!vm_map_covered(start, end)) {
		kr = KERN_INVALID_ADDRESS;
		goto out;
	}
	size_t i;
	if (!set_maximum) {
		for (i = vm_map_first_after(start);
		     i < vm_map_entry_count() && vm_map_entry_at(i)->start < end; i++)
			if (new_protection & ~vm_map_entry_at(i)->max_protection) {
				kr = KERN_PROTECTION_FAILURE;
				goto out;
			}
	}
	if (vm_map_clip(start) != 0 || vm_map_clip(end) != 0) {
		kr = KERN_RESOURCE_SHORTAGE;
		goto out;
	}
	for (i = vm_map_first_after(start);
	     i < vm_map_entry_count() && vm_map_entry_at(i)->start < end; i++) {
		struct vm_map_entry *e = vm_map_entry_at(i);
		vm_prot_t was = e->protection;
		if (set_maximum) {
			e->max_protection = new_protection;
			e->protection &= new_protection;
		} else {
			e->protection = new_protection;
		}
		/* Tracking starts before the first write can land. */
		if (e->object != NULL && !e->copy &&
		    (e->protection & VM_PROT_WRITE) &&
		    vm_object_track_writes(e->object, e->start, e->end - e->start) != 0) {
			e->protection = was & ~VM_PROT_WRITE;   /* untracked: no write */
			mprotect((void *)e->start, e->end - e->start,
			         vm_prot_to_mmap(e->protection));
			kr = KERN_RESOURCE_SHORTAGE;
			continue;
		}
		/* Execute locks apply once the view can execute. */
		if (e->object != NULL && !e->copy &&
		    ((e->protection ^ was) & VM_PROT_EXECUTE))
			vm_object_mapping_set_exec(e->object, e->start,
			        e->end - e->start,
			        (e->protection & VM_PROT_EXECUTE) != 0);
		if (mprotect((void *)e->start, e->end - e->start,
		             vm_prot_to_mmap(e->protection)) != 0)
			kr = KERN_RESOURCE_SHORTAGE;
	}
out:
	vm_map_unlock();
	return kr;
}
