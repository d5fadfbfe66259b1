/* Decodes a server-interface message, checks its layout as MIG would,
 * calls the routine and leaves its return code in the reply (all these
 * calls are one-way: mach_msg_server sends no reply, and destroys the
 * request's rights when the code is not KERN_SUCCESS / MIG_NO_REPLY). */
#include "emmi/memory_object_dispatch.h"

#include <stdbool.h>

#include "emmi/emmi_msgs.h"

static void reply_init(const mach_msg_header_t *in, mig_reply_error_t *r,
        kern_return_t code)
{
	r->Head.msgh_bits = MACH_MSGH_BITS(MACH_MSGH_BITS_REMOTE(in->msgh_bits), 0);
	r->Head.msgh_size = sizeof *r;
	r->Head.msgh_remote_port = in->msgh_remote_port;
	r->Head.msgh_local_port = MACH_PORT_NULL;
	r->Head.msgh_voucher_port = MACH_PORT_NULL;
	r->Head.msgh_id = (mach_msg_id_t)((uint32_t)in->msgh_id + MIG_REPLY_ID_OFFSET);
	r->NDR = NDR_record;
	r->RetCode = code;
}

/* A complex message of exactly `size` bytes whose first descriptor is a
 * port right of type `port_type`, and `ndesc` descriptors in all. */
static bool layout_ok(const mach_msg_header_t *in, mach_msg_size_t size,
        unsigned ndesc, mach_msg_type_name_t port_type)
{
	const mach_msg_base_t *b = (const mach_msg_base_t *)in;
	const mach_msg_port_descriptor_t *d =
		(const mach_msg_port_descriptor_t *)(b + 1);
	return in->msgh_size == size &&
	       (in->msgh_bits & MACH_MSGH_BITS_COMPLEX) &&
	       b->body.msgh_descriptor_count == ndesc &&
	       d->type == MACH_MSG_PORT_DESCRIPTOR &&
	       d->disposition == port_type;
}

#define CALL(fn, ...) ((fn) ? (fn)(__VA_ARGS__) : KERN_FAILURE)

static kern_return_t serve_object(const memory_object_routines_t *r,
        mach_msg_header_t *in, mach_port_seqno_t seqno)
{
	mach_port_t port = in->msgh_local_port;
	switch (in->msgh_id) {
	case EMMI_INIT: {
		emmi_init_msg_t *m = (emmi_init_msg_t *)in;
		if (!layout_ok(in, sizeof *m, 1, MACH_MSG_TYPE_PORT_SEND))
			return MIG_BAD_ARGUMENTS;
		return CALL(r->init, port, seqno, m->control.name, m->page_size);
	}
	case EMMI_TERMINATE: {
		emmi_init_msg_t *m = (emmi_init_msg_t *)in;
		if (!layout_ok(in, sizeof *m, 1, MACH_MSG_TYPE_PORT_RECEIVE))
			return MIG_BAD_ARGUMENTS;
		return CALL(r->terminate, port, seqno, m->control.name);
	}
	case EMMI_DATA_REQUEST:
	case EMMI_DATA_UNLOCK:
	case EMMI_SYNCHRONIZE: {
		emmi_range_msg_t *m = (emmi_range_msg_t *)in;
		if (!layout_ok(in, sizeof *m, 1, MACH_MSG_TYPE_PORT_SEND))
			return MIG_BAD_ARGUMENTS;
		if (in->msgh_id == EMMI_DATA_REQUEST)
			return CALL(r->data_request, port, seqno, m->control.name,
			            m->offset, m->length, m->access);
		if (in->msgh_id == EMMI_DATA_UNLOCK)
			return CALL(r->data_unlock, port, seqno, m->control.name,
			            m->offset, m->length, m->access);
		return CALL(r->synchronize, port, seqno, m->control.name,
		            m->offset, m->length, (vm_sync_t)m->access);
	}
	case EMMI_LOCK_COMPLETED: {
		emmi_lock_completed_msg_t *m = (emmi_lock_completed_msg_t *)in;
		if (!layout_ok(in, sizeof *m, 1, MACH_MSG_TYPE_PORT_SEND))
			return MIG_BAD_ARGUMENTS;
		return CALL(r->lock_completed, port, seqno, m->control.name,
		            m->offset, m->length);
	}
	case EMMI_SUPPLY_COMPLETED: {
		emmi_supply_completed_msg_t *m = (emmi_supply_completed_msg_t *)in;
		if (!layout_ok(in, sizeof *m, 1, MACH_MSG_TYPE_PORT_SEND))
			return MIG_BAD_ARGUMENTS;
		return CALL(r->supply_completed, port, seqno, m->control.name,
		            m->offset, m->length, m->result, m->error_offset);
	}
	case EMMI_CHANGE_COMPLETED: {
		emmi_change_completed_msg_t *m = (emmi_change_completed_msg_t *)in;
		if (!layout_ok(in, sizeof *m, 1, MACH_MSG_TYPE_PORT_SEND))
			return MIG_BAD_ARGUMENTS;
		return CALL(r->change_completed, port, seqno, m->control.name,
		            m->flavor);
	}
	case EMMI_DATA_RETURN: {
		emmi_data_return_msg_t *m = (emmi_data_return_msg_t *)in;
		if (!layout_ok(in, sizeof *m, 2, MACH_MSG_TYPE_PORT_SEND) ||
		    m->data.type != MACH_MSG_OOL_DESCRIPTOR ||
		    m->data.size != m->data_count)
			return MIG_BAD_ARGUMENTS;
		return CALL(r->data_return, port, seqno, m->control.name, m->offset,
		            (pointer_t)(uintptr_t)m->data.address, m->data_count,
		            m->dirty, m->kernel_copy);
	}
	default:
		return MIG_BAD_ID;
	}
}

static kern_return_t serve_default(const memory_object_routines_t *r,
        mach_msg_header_t *in, mach_port_seqno_t seqno)
{
	mach_port_t port = in->msgh_local_port;
	switch (in->msgh_id) {
	case EMMI_CREATE: {
		emmi_create_msg_t *m = (emmi_create_msg_t *)in;
		if (!layout_ok(in, sizeof *m, 2, MACH_MSG_TYPE_PORT_RECEIVE) ||
		    m->new_control.type != MACH_MSG_PORT_DESCRIPTOR ||
		    m->new_control.disposition != MACH_MSG_TYPE_PORT_SEND)
			return MIG_BAD_ARGUMENTS;
		return CALL(r->create, port, seqno, m->new_object.name,
		            m->new_object_size, m->new_control.name,
		            m->new_page_size);
	}
	case EMMI_DATA_INITIALIZE: {
		emmi_data_return_msg_t *m = (emmi_data_return_msg_t *)in;
		if (!layout_ok(in, sizeof *m, 2, MACH_MSG_TYPE_PORT_SEND) ||
		    m->data.type != MACH_MSG_OOL_DESCRIPTOR ||
		    m->data.size != m->data_count)
			return MIG_BAD_ARGUMENTS;
		return CALL(r->data_initialize, port, seqno, m->control.name,
		            m->offset, (pointer_t)(uintptr_t)m->data.address,
		            m->data_count);
	}
	default:
		return MIG_BAD_ID;
	}
}

boolean_t emmi_dispatch(const memory_object_routines_t *routines,
        unsigned subsystems, mach_msg_header_t *in, mach_msg_header_t *out)
{
	mig_reply_error_t *reply = (mig_reply_error_t *)out;
	mach_msg_id_t id = in->msgh_id;
	bool object = (subsystems & EMMI_SERVE_OBJECT) &&
	              id >= EMMI_INIT && id <= EMMI_SYNCHRONIZE;
	bool deflt = (subsystems & EMMI_SERVE_DEFAULT) &&
	             id >= EMMI_CREATE && id <= EMMI_DATA_INITIALIZE;
	if (!object && !deflt) {
		reply_init(in, reply, MIG_BAD_ID);
		return FALSE;
	}
	kern_return_t kr = in->msgh_size < sizeof(mach_msg_base_t)
		? MIG_BAD_ARGUMENTS
		: object ? serve_object(routines, in, emmi_msg_seqno(in))
		         : serve_default(routines, in, emmi_msg_seqno(in));
	reply_init(in, reply, kr);
	if (kr == MIG_BAD_ID)
		return FALSE;
	return TRUE;
}
