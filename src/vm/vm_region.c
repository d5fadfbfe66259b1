/* vm_region: describe the first mapped region at or above an address. */
#include <mach/mach.h>

#include <string.h>

#include "vm/vm_map_entry.h"

kern_return_t vm_region(vm_task_t target_task, vm_address_t *address,
        vm_size_t *size, vm_region_flavor_t flavor, vm_region_info_t info,
        mach_msg_type_number_t *info_count, memory_object_name_t *object_name)
{
	if (target_task != mach_task_self())
		return KERN_INVALID_TASK;
	if (address == NULL || size == NULL || info == NULL || info_count == NULL)
		return KERN_INVALID_ARGUMENT;
	if (flavor != VM_REGION_BASIC_INFO ||
	    *info_count < VM_REGION_BASIC_INFO_COUNT)
		return KERN_INVALID_ARGUMENT;
	vm_map_lock_read();
	size_t i = vm_map_first_after((uintptr_t)*address);
	struct vm_map_entry *e = vm_map_entry_at(i);
	if (e == NULL) {
		vm_map_unlock();
		return KERN_INVALID_ADDRESS;
	}
	struct vm_region_basic_info basic;
	memset(&basic, 0, sizeof basic);
	basic.protection = e->protection;
	basic.max_protection = e->max_protection;
	basic.inheritance = e->inheritance;
	basic.shared = e->object != NULL && !e->copy;
	basic.reserved = FALSE;
	basic.offset = (uint32_t)e->offset;
	basic.behavior = VM_BEHAVIOR_DEFAULT;
	basic.user_wired_count = 0;
	*address = e->start;
	*size = e->end - e->start;
	vm_map_unlock();
	memcpy(info, &basic, sizeof basic);
	*info_count = VM_REGION_BASIC_INFO_COUNT;
	/* memobj has no memory object name ports. */
	if (object_name != NULL)
		*object_name = MACH_PORT_NULL;
	return KERN_SUCCESS;
}
