/* Control calls a manager makes on a kernel's memory_object_control port. */
#ifndef MACH_MEMORY_OBJECT_CONTROL_H
#define MACH_MEMORY_OBJECT_CONTROL_H

#include <mach/memory_object_types.h>

kern_return_t memory_object_data_supply(memory_object_control_t memory_control,
        vm_offset_t offset, pointer_t data, mach_msg_type_number_t data_count,
        boolean_t deallocate, vm_prot_t lock_value, boolean_t precious,
        mach_port_t reply_port);
kern_return_t memory_object_data_unavailable(memory_object_control_t memory_control,
        vm_offset_t offset, vm_size_t size);
kern_return_t memory_object_data_error(memory_object_control_t memory_control,
        vm_offset_t offset, vm_size_t size, kern_return_t reason);
kern_return_t memory_object_lock_request(memory_object_control_t memory_control,
        vm_offset_t offset, vm_size_t size, memory_object_return_t should_return,
        boolean_t should_flush, vm_prot_t lock_value, mach_port_t reply_port);
kern_return_t memory_object_change_attributes(memory_object_control_t memory_control,
        memory_object_flavor_t flavor, memory_object_info_t attributes,
        mach_msg_type_number_t attributes_count, mach_port_t reply_port);
kern_return_t memory_object_get_attributes(memory_object_control_t memory_control,
        memory_object_flavor_t flavor, memory_object_info_t attributes,
        mach_msg_type_number_t *attributes_count);
kern_return_t memory_object_synchronize_completed(memory_object_control_t memory_control,
        vm_offset_t offset, vm_size_t length);
kern_return_t memory_object_destroy(memory_object_control_t memory_control,
        kern_return_t reason);

/* memobj's extension beyond OSF (docs/departures.md): answers a
 * memory_object_synchronize for the same offset and length with a
 * failure. The vm_msync waiting on it returns `reason` (not
 * KERN_SUCCESS); the pages stay the manager's to write again. */
kern_return_t memobj_synchronize_failed(memory_object_control_t control,
        vm_offset_t offset, vm_size_t length, kern_return_t reason);

#endif
