/* memory_object_server and seqnos_memory_object_server: demux functions
 * that call the manager's routines by their Mach names (classic link-time
 * binding; memory_object_weak.c supplies the defaults), and
 * memory_object_server_routines, which calls a table instead. */
#include <mach/mach.h>

#include "emmi/memory_object_dispatch.h"

/* Adapters from the table's shape (with seqno) to the plain names. */
static kern_return_t plain_init(memory_object_t o, mach_port_seqno_t s,
        memory_object_control_t c, vm_size_t page_size)
{
	(void)s;
	return memory_object_init(o, c, page_size);
}
static kern_return_t plain_terminate(memory_object_t o, mach_port_seqno_t s,
        memory_object_control_t c)
{
	(void)s;
	return memory_object_terminate(o, c);
}
static kern_return_t plain_data_request(memory_object_t o, mach_port_seqno_t s,
        memory_object_control_t c, vm_offset_t off, vm_size_t len, vm_prot_t a)
{
	(void)s;
	return memory_object_data_request(o, c, off, len, a);
}
static kern_return_t plain_data_unlock(memory_object_t o, mach_port_seqno_t s,
        memory_object_control_t c, vm_offset_t off, vm_size_t len, vm_prot_t a)
{
	(void)s;
	return memory_object_data_unlock(o, c, off, len, a);
}
static kern_return_t plain_data_return(memory_object_t o, mach_port_seqno_t s,
        memory_object_control_t c, vm_offset_t off, pointer_t data,
        mach_msg_type_number_t count, boolean_t dirty, boolean_t kernel_copy)
{
	(void)s;
	return memory_object_data_return(o, c, off, data, count, dirty, kernel_copy);
}
static kern_return_t plain_lock_completed(mach_port_t r, mach_port_seqno_t s,
        memory_object_control_t c, vm_offset_t off, vm_size_t len)
{
	(void)s;
	return memory_object_lock_completed(r, c, off, len);
}
static kern_return_t plain_supply_completed(mach_port_t r, mach_port_seqno_t s,
        memory_object_control_t c, vm_offset_t off, vm_size_t len,
        kern_return_t result, vm_offset_t error_offset)
{
	(void)s;
	return memory_object_supply_completed(r, c, off, len, result, error_offset);
}
static kern_return_t plain_change_completed(mach_port_t r, mach_port_seqno_t s,
        memory_object_control_t c, memory_object_flavor_t flavor)
{
	(void)s;
	return memory_object_change_completed(r, c, flavor);
}
static kern_return_t plain_synchronize(memory_object_t o, mach_port_seqno_t s,
        memory_object_control_t c, vm_offset_t off, vm_size_t len, vm_sync_t f)
{
	(void)s;
	return memory_object_synchronize(o, c, off, len, f);
}

static const memory_object_routines_t plain_routines = {
	.init = plain_init,
	.terminate = plain_terminate,
	.data_request = plain_data_request,
	.data_unlock = plain_data_unlock,
	.data_return = plain_data_return,
	.lock_completed = plain_lock_completed,
	.supply_completed = plain_supply_completed,
	.change_completed = plain_change_completed,
	.synchronize = plain_synchronize,
};

static const memory_object_routines_t seqnos_routines = {
	.init = seqnos_memory_object_init,
	.terminate = seqnos_memory_object_terminate,
	.data_request = seqnos_memory_object_data_request,
	.data_unlock = seqnos_memory_object_data_unlock,
	.data_return = seqnos_memory_object_data_return,
	.lock_completed = seqnos_memory_object_lock_completed,
	.supply_completed = seqnos_memory_object_supply_completed,
	.change_completed = seqnos_memory_object_change_completed,
	.synchronize = seqnos_memory_object_synchronize,
};

boolean_t memory_object_server(mach_msg_header_t *in, mach_msg_header_t *out)
{
	return emmi_dispatch(&plain_routines, EMMI_SERVE_OBJECT, in, out);
}

boolean_t seqnos_memory_object_server(mach_msg_header_t *in,
        mach_msg_header_t *out)
{
	return emmi_dispatch(&seqnos_routines, EMMI_SERVE_OBJECT, in, out);
}

/* Both subsystems: one table serves ordinary and default-pager objects. */
boolean_t memory_object_server_routines(const memory_object_routines_t *routines,
        mach_msg_header_t *in, mach_msg_header_t *out)
{
	static const memory_object_routines_t none;
	return emmi_dispatch(routines ? routines : &none,
	                     EMMI_SERVE_OBJECT | EMMI_SERVE_DEFAULT, in, out);
}
