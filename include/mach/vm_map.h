/* The VM calls a task uses (kernel side of the EMMI). */
#ifndef MACH_VM_MAP_H
#define MACH_VM_MAP_H

#include <mach/vm_types.h>
#include <mach/message.h>

kern_return_t vm_map(vm_task_t target_task, vm_address_t *address,
        vm_size_t size, vm_address_t mask, boolean_t anywhere,
        memory_object_t memory_object, vm_offset_t offset, boolean_t copy,
        vm_prot_t cur_protection, vm_prot_t max_protection,
        vm_inherit_t inheritance);
kern_return_t vm_allocate(vm_task_t target_task, vm_address_t *address,
        vm_size_t size, boolean_t anywhere);
kern_return_t vm_deallocate(vm_task_t target_task, vm_address_t address,
        vm_size_t size);
kern_return_t vm_protect(vm_task_t target_task, vm_address_t address,
        vm_size_t size, boolean_t set_maximum, vm_prot_t new_protection);
kern_return_t vm_msync(vm_task_t target_task, vm_address_t address,
        vm_size_t size, vm_sync_t sync_flags);
kern_return_t vm_region(vm_task_t target_task, vm_address_t *address,
        vm_size_t *size, vm_region_flavor_t flavor, vm_region_info_t info,
        mach_msg_type_number_t *info_count, memory_object_name_t *object_name);

#endif
