/* memory_object_default_server and its seqnos_ twin: the default pager's
 * demux (memory_object_create, memory_object_data_initialize). */
#include <mach/mach.h>

#include "emmi/memory_object_dispatch.h"

static kern_return_t plain_create(memory_object_t pager, mach_port_seqno_t s,
        memory_object_t new_object, vm_size_t size,
        memory_object_control_t control, vm_size_t page_size)
{
	(void)s;
	return memory_object_create(pager, new_object, size, control, page_size);
}

static kern_return_t plain_data_initialize(memory_object_t o,
        mach_port_seqno_t s, memory_object_control_t c, vm_offset_t off,
        pointer_t data, mach_msg_type_number_t count)
{
	(void)s;
	return memory_object_data_initialize(o, c, off, data, count);
}

static const memory_object_routines_t plain_routines = {
	.create = plain_create,
	.data_initialize = plain_data_initialize,
};

static const memory_object_routines_t seqnos_routines = {
	.create = seqnos_memory_object_create,
	.data_initialize = seqnos_memory_object_data_initialize,
};

boolean_t memory_object_default_server(mach_msg_header_t *in,
        mach_msg_header_t *out)
{
	return emmi_dispatch(&plain_routines, EMMI_SERVE_DEFAULT, in, out);
}

boolean_t seqnos_memory_object_default_server(mach_msg_header_t *in,
        mach_msg_header_t *out)
{
	return emmi_dispatch(&seqnos_routines, EMMI_SERVE_DEFAULT, in, out);
}
