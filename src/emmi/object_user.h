/* The kernel's side of the server interface: messages this kernel sends
 * to memory managers (from the kernel name space). Each returns the
 * mach_msg result. The VM sends requests (init, data_request, ...); the
 * completions and replies (supply/change/lock_completed, the get_attributes
 * reply) are sent by the control server alone (control_server.c). */
#ifndef MEMOBJ_EMMI_OBJECT_USER_H
#define MEMOBJ_EMMI_OBJECT_USER_H

#include <mach/mach.h>

mach_msg_return_t emmi_send_init(mach_port_name_t object_k,
        mach_port_name_t control_k, vm_size_t page_size);
/* Moves the kernel's send right for the object and the control port's
 * receive right to the manager. On failure both rights are destroyed. */
mach_msg_return_t emmi_send_terminate(mach_port_name_t object_k,
        mach_port_name_t control_k);
mach_msg_return_t emmi_send_data_request(mach_port_name_t object_k,
        mach_port_name_t control_k, vm_offset_t offset, vm_size_t length,
        vm_prot_t desired_access);
/* reply_k is a kernel-space right of type reply_type (as the request's
 * header named it); it is consumed. */
mach_msg_return_t emmi_send_supply_completed(mach_port_name_t reply_k,
        mach_msg_type_name_t reply_type, mach_port_name_t control_k,
        vm_offset_t offset, vm_size_t length, kern_return_t result,
        vm_offset_t error_offset);
mach_msg_return_t emmi_send_change_completed(mach_port_name_t reply_k,
        mach_msg_type_name_t reply_type, mach_port_name_t control_k,
        memory_object_flavor_t flavor);

mach_msg_return_t emmi_send_data_unlock(mach_port_name_t object_k,
        mach_port_name_t control_k, vm_offset_t offset, vm_size_t length,
        vm_prot_t desired_access);
/* Hands `data` (whole pages from os_pages_alloc) to the manager; on
 * success the memory is the manager's (it vm_deallocates it). */
mach_msg_return_t emmi_send_data_return(mach_port_name_t object_k,
        mach_port_name_t control_k, vm_offset_t offset, void *data,
        vm_size_t length, boolean_t dirty, boolean_t kernel_copy);
mach_msg_return_t emmi_send_synchronize(mach_port_name_t object_k,
        mach_port_name_t control_k, vm_offset_t offset, vm_size_t length,
        vm_sync_t flags);
/* reply_k (of reply_type) is consumed. */
mach_msg_return_t emmi_send_lock_completed(mach_port_name_t reply_k,
        mach_msg_type_name_t reply_type, mach_port_name_t control_k,
        vm_offset_t offset, vm_size_t length);

/* The get_attributes reply: result, and count integers of info (0 unless
 * result is KERN_SUCCESS). reply_k (of reply_type) is consumed. */
mach_msg_return_t emmi_send_attributes_reply(mach_port_name_t reply_k,
        mach_msg_type_name_t reply_type, kern_return_t result,
        const integer_t *info, mach_msg_type_number_t count);

/* memory_object_create to the default pager pager_k: moves the receive
 * right object_k (the kernel keeps its send right under the same name) and
 * gives a send right to control_k. */
mach_msg_return_t emmi_send_create(mach_port_name_t pager_k,
        mach_port_name_t object_k, vm_size_t size, mach_port_name_t control_k,
        vm_size_t page_size);
/* memory_object_data_initialize: as emmi_send_data_return (the first
 * copy of the pages the default pager sees). */
mach_msg_return_t emmi_send_data_initialize(mach_port_name_t object_k,
        mach_port_name_t control_k, vm_offset_t offset, void *data,
        vm_size_t length);

#endif
