/* Weak defaults for every server-interface routine: a manager defines
 * only the ones it uses; the rest answer KERN_FAILURE (so mach_msg_server
 * destroys the rights the message carried). Kept apart from the demux so
 * that the calls into here are never resolved inside one file. */
#include <mach/mach.h>

#define WEAK __attribute__((weak))

WEAK kern_return_t memory_object_init(memory_object_t o,
        memory_object_control_t c, vm_size_t page_size)
{ (void)o; (void)c; (void)page_size; return KERN_FAILURE; }

WEAK kern_return_t memory_object_terminate(memory_object_t o,
        memory_object_control_t c)
{ (void)o; (void)c; return KERN_FAILURE; }

WEAK kern_return_t memory_object_data_request(memory_object_t o,
        memory_object_control_t c, vm_offset_t off, vm_size_t len, vm_prot_t a)
{ (void)o; (void)c; (void)off; (void)len; (void)a; return KERN_FAILURE; }

WEAK kern_return_t memory_object_data_unlock(memory_object_t o,
        memory_object_control_t c, vm_offset_t off, vm_size_t len, vm_prot_t a)
{ (void)o; (void)c; (void)off; (void)len; (void)a; return KERN_FAILURE; }

WEAK kern_return_t memory_object_data_return(memory_object_t o,
        memory_object_control_t c, vm_offset_t off, pointer_t data,
        mach_msg_type_number_t count, boolean_t dirty, boolean_t kernel_copy)
{
	(void)o; (void)c; (void)off; (void)data; (void)count; (void)dirty;
	(void)kernel_copy;
	return KERN_FAILURE;
}

WEAK kern_return_t memory_object_lock_completed(mach_port_t r,
        memory_object_control_t c, vm_offset_t off, vm_size_t len)
{ (void)r; (void)c; (void)off; (void)len; return KERN_FAILURE; }

WEAK kern_return_t memory_object_supply_completed(mach_port_t r,
        memory_object_control_t c, vm_offset_t off, vm_size_t len,
        kern_return_t result, vm_offset_t error_offset)
{
	(void)r; (void)c; (void)off; (void)len; (void)result; (void)error_offset;
	return KERN_FAILURE;
}

WEAK kern_return_t memory_object_change_completed(mach_port_t r,
        memory_object_control_t c, memory_object_flavor_t flavor)
{ (void)r; (void)c; (void)flavor; return KERN_FAILURE; }

WEAK kern_return_t memory_object_synchronize(memory_object_t o,
        memory_object_control_t c, vm_offset_t off, vm_size_t len, vm_sync_t f)
{ (void)o; (void)c; (void)off; (void)len; (void)f; return KERN_FAILURE; }

WEAK kern_return_t memory_object_create(memory_object_t pager,
        memory_object_t new_object, vm_size_t size,
        memory_object_control_t control, vm_size_t page_size)
{
	(void)pager; (void)new_object; (void)size; (void)control; (void)page_size;
	return KERN_FAILURE;
}

WEAK kern_return_t memory_object_data_initialize(memory_object_t o,
        memory_object_control_t c, vm_offset_t off, pointer_t data,
        mach_msg_type_number_t count)
{ (void)o; (void)c; (void)off; (void)data; (void)count; return KERN_FAILURE; }

WEAK kern_return_t seqnos_memory_object_init(memory_object_t o,
        mach_port_seqno_t s, memory_object_control_t c, vm_size_t page_size)
{ (void)o; (void)s; (void)c; (void)page_size; return KERN_FAILURE; }

WEAK kern_return_t seqnos_memory_object_terminate(memory_object_t o,
        mach_port_seqno_t s, memory_object_control_t c)
{ (void)o; (void)s; (void)c; return KERN_FAILURE; }

WEAK kern_return_t seqnos_memory_object_data_request(memory_object_t o,
        mach_port_seqno_t s, memory_object_control_t c, vm_offset_t off,
        vm_size_t len, vm_prot_t a)
{ (void)o; (void)s; (void)c; (void)off; (void)len; (void)a; return KERN_FAILURE; }

WEAK kern_return_t seqnos_memory_object_data_unlock(memory_object_t o,
        mach_port_seqno_t s, memory_object_control_t c, vm_offset_t off,
        vm_size_t len, vm_prot_t a)
{ (void)o; (void)s; (void)c; (void)off; (void)len; (void)a; return KERN_FAILURE; }

WEAK kern_return_t seqnos_memory_object_data_return(memory_object_t o,
        mach_port_seqno_t s, memory_object_control_t c, vm_offset_t off,
        pointer_t data, mach_msg_type_number_t count, boolean_t dirty,
        boolean_t kernel_copy)
{
	(void)o; (void)s; (void)c; (void)off; (void)data; (void)count;
	(void)dirty; (void)kernel_copy;
	return KERN_FAILURE;
}

WEAK kern_return_t seqnos_memory_object_lock_completed(mach_port_t r,
        mach_port_seqno_t s, memory_object_control_t c, vm_offset_t off,
        vm_size_t len)
{ (void)r; (void)s; (void)c; (void)off; (void)len; return KERN_FAILURE; }

WEAK kern_return_t seqnos_memory_object_supply_completed(mach_port_t r,
        mach_port_seqno_t s, memory_object_control_t c, vm_offset_t off,
        vm_size_t len, kern_return_t result, vm_offset_t error_offset)
{
	(void)r; (void)s; (void)c; (void)off; (void)len; (void)result;
	(void)error_offset;
	return KERN_FAILURE;
}

WEAK kern_return_t seqnos_memory_object_change_completed(mach_port_t r,
        mach_port_seqno_t s, memory_object_control_t c,
        memory_object_flavor_t flavor)
{ (void)r; (void)s; (void)c; (void)flavor; return KERN_FAILURE; }

WEAK kern_return_t seqnos_memory_object_synchronize(memory_object_t o,
        mach_port_seqno_t s, memory_object_control_t c, vm_offset_t off,
        vm_size_t len, vm_sync_t f)
{ (void)o; (void)s; (void)c; (void)off; (void)len; (void)f; return KERN_FAILURE; }

WEAK kern_return_t seqnos_memory_object_create(memory_object_t pager,
        mach_port_seqno_t s, memory_object_t new_object, vm_size_t size,
        memory_object_control_t control, vm_size_t page_size)
{
	(void)pager; (void)s; (void)new_object; (void)size; (void)control;
	(void)page_size;
	return KERN_FAILURE;
}

WEAK kern_return_t seqnos_memory_object_data_initialize(memory_object_t o,
        mach_port_seqno_t s, memory_object_control_t c, vm_offset_t off,
        pointer_t data, mach_msg_type_number_t count)
{
	(void)o; (void)s; (void)c; (void)off; (void)data; (void)count;
	return KERN_FAILURE;
}
