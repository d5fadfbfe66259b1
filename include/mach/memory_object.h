/* The memory object server interface: calls a kernel sends to a memory
 * manager. A manager defines the routines it uses under these names (the
 * library's weak defaults return KERN_FAILURE) and runs memory_object_server
 * (or the seqnos_ twin) under mach_msg_server. All are one-way messages. */
#ifndef MACH_MEMORY_OBJECT_H
#define MACH_MEMORY_OBJECT_H

#include <mach/memory_object_types.h>

kern_return_t memory_object_init(memory_object_t memory_object,
        memory_object_control_t memory_control, vm_size_t memory_object_page_size);
kern_return_t memory_object_terminate(memory_object_t memory_object,
        memory_object_control_t memory_control);
kern_return_t memory_object_data_request(memory_object_t memory_object,
        memory_object_control_t memory_control, vm_offset_t offset,
        vm_size_t length, vm_prot_t desired_access);
kern_return_t memory_object_data_unlock(memory_object_t memory_object,
        memory_object_control_t memory_control, vm_offset_t offset,
        vm_size_t length, vm_prot_t desired_access);
kern_return_t memory_object_data_return(memory_object_t memory_object,
        memory_object_control_t memory_control, vm_offset_t offset,
        pointer_t data, mach_msg_type_number_t data_count,
        boolean_t dirty, boolean_t kernel_copy);
kern_return_t memory_object_lock_completed(mach_port_t reply_port,
        memory_object_control_t memory_control, vm_offset_t offset, vm_size_t length);
kern_return_t memory_object_supply_completed(mach_port_t reply_port,
        memory_object_control_t memory_control, vm_offset_t offset,
        vm_size_t length, kern_return_t result, vm_offset_t error_offset);
kern_return_t memory_object_change_completed(mach_port_t reply_port,
        memory_object_control_t memory_control, memory_object_flavor_t flavor);
kern_return_t memory_object_synchronize(memory_object_t memory_object,
        memory_object_control_t memory_control, vm_offset_t offset,
        vm_size_t length, vm_sync_t sync_flags);

kern_return_t seqnos_memory_object_init(memory_object_t memory_object,
        mach_port_seqno_t seqno, memory_object_control_t memory_control,
        vm_size_t memory_object_page_size);
kern_return_t seqnos_memory_object_terminate(memory_object_t memory_object,
        mach_port_seqno_t seqno, memory_object_control_t memory_control);
kern_return_t seqnos_memory_object_data_request(memory_object_t memory_object,
        mach_port_seqno_t seqno, memory_object_control_t memory_control,
        vm_offset_t offset, vm_size_t length, vm_prot_t desired_access);
kern_return_t seqnos_memory_object_data_unlock(memory_object_t memory_object,
        mach_port_seqno_t seqno, memory_object_control_t memory_control,
        vm_offset_t offset, vm_size_t length, vm_prot_t desired_access);
kern_return_t seqnos_memory_object_data_return(memory_object_t memory_object,
        mach_port_seqno_t seqno, memory_object_control_t memory_control,
        vm_offset_t offset, pointer_t data, mach_msg_type_number_t data_count,
        boolean_t dirty, boolean_t kernel_copy);
kern_return_t seqnos_memory_object_lock_completed(mach_port_t reply_port,
        mach_port_seqno_t seqno, memory_object_control_t memory_control,
        vm_offset_t offset, vm_size_t length);
kern_return_t seqnos_memory_object_supply_completed(mach_port_t reply_port,
        mach_port_seqno_t seqno, memory_object_control_t memory_control,
        vm_offset_t offset, vm_size_t length, kern_return_t result,
        vm_offset_t error_offset);
kern_return_t seqnos_memory_object_change_completed(mach_port_t reply_port,
        mach_port_seqno_t seqno, memory_object_control_t memory_control,
        memory_object_flavor_t flavor);
kern_return_t seqnos_memory_object_synchronize(memory_object_t memory_object,
        mach_port_seqno_t seqno, memory_object_control_t memory_control,
        vm_offset_t offset, vm_size_t length, vm_sync_t sync_flags);

/* Default pager only (memory_object_default interface). */
kern_return_t memory_object_create(memory_object_t pager,
        memory_object_t new_memory_object, vm_size_t new_object_size,
        memory_object_control_t new_control, vm_size_t new_page_size);
kern_return_t memory_object_data_initialize(memory_object_t memory_object,
        memory_object_control_t memory_control, vm_offset_t offset,
        pointer_t data, mach_msg_type_number_t data_count);
kern_return_t seqnos_memory_object_create(memory_object_t pager,
        mach_port_seqno_t seqno, memory_object_t new_memory_object,
        vm_size_t new_object_size, memory_object_control_t new_control,
        vm_size_t new_page_size);
kern_return_t seqnos_memory_object_data_initialize(memory_object_t memory_object,
        mach_port_seqno_t seqno, memory_object_control_t memory_control,
        vm_offset_t offset, pointer_t data, mach_msg_type_number_t data_count);

/* Demux functions, as MIG would generate them. */
boolean_t memory_object_server(mach_msg_header_t *in, mach_msg_header_t *out);
boolean_t seqnos_memory_object_server(mach_msg_header_t *in, mach_msg_header_t *out);
boolean_t memory_object_default_server(mach_msg_header_t *in, mach_msg_header_t *out);
boolean_t seqnos_memory_object_default_server(mach_msg_header_t *in, mach_msg_header_t *out);

/* Table-of-functions variant, for a process that serves several kinds of
 * object: each routine gets the sequence number (ignore it if unused); a
 * NULL entry answers KERN_FAILURE. Dispatch with
 * memory_object_server_routines(routines, in, out) from your own demux. */
typedef struct memory_object_routines {
	kern_return_t (*init)(memory_object_t, mach_port_seqno_t,
	        memory_object_control_t, vm_size_t);
	kern_return_t (*terminate)(memory_object_t, mach_port_seqno_t,
	        memory_object_control_t);
	kern_return_t (*data_request)(memory_object_t, mach_port_seqno_t,
	        memory_object_control_t, vm_offset_t, vm_size_t, vm_prot_t);
	kern_return_t (*data_unlock)(memory_object_t, mach_port_seqno_t,
	        memory_object_control_t, vm_offset_t, vm_size_t, vm_prot_t);
	kern_return_t (*data_return)(memory_object_t, mach_port_seqno_t,
	        memory_object_control_t, vm_offset_t, pointer_t,
	        mach_msg_type_number_t, boolean_t, boolean_t);
	kern_return_t (*lock_completed)(mach_port_t, mach_port_seqno_t,
	        memory_object_control_t, vm_offset_t, vm_size_t);
	kern_return_t (*supply_completed)(mach_port_t, mach_port_seqno_t,
	        memory_object_control_t, vm_offset_t, vm_size_t, kern_return_t,
	        vm_offset_t);
	kern_return_t (*change_completed)(mach_port_t, mach_port_seqno_t,
	        memory_object_control_t, memory_object_flavor_t);
	kern_return_t (*synchronize)(memory_object_t, mach_port_seqno_t,
	        memory_object_control_t, vm_offset_t, vm_size_t, vm_sync_t);
	/* default pager only */
	kern_return_t (*create)(memory_object_t, mach_port_seqno_t,
	        memory_object_t, vm_size_t, memory_object_control_t, vm_size_t);
	kern_return_t (*data_initialize)(memory_object_t, mach_port_seqno_t,
	        memory_object_control_t, vm_offset_t, pointer_t,
	        mach_msg_type_number_t);
} memory_object_routines_t;

boolean_t memory_object_server_routines(const memory_object_routines_t *routines,
        mach_msg_header_t *in, mach_msg_header_t *out);

/* Bytes of receive buffer the demux functions above need. */
#define MEMORY_OBJECT_MSG_SIZE_MAX 512

#endif
