/* The control port's kobject handler: a control call arrives here, in the
 * manager's sending thread, already copied out into the kernel space. It
 * validates the message, calls the VM, answers the reply port, and drops
 * whatever rights and memory the message still holds. */
#include "emmi/control_server.h"

#include <string.h>

#include "emmi/emmi_msgs.h"
#include "emmi/emmi_stat.h"
#include "emmi/object_user.h"
#include "ipc/ipc_kernel.h"
#include "vm/vm_attributes.h"
#include "vm/vm_kernel.h"
#include "vm/vm_lock.h"
#include "vm/vm_msync.h"
#include "vm/vm_object.h"
#include "vm/vm_pagein.h"

/* The reply right a one-way control call carries (the header's reply
 * port, which arrives in msgh_remote_port), taken out of the message so
 * that destroying the message keeps it. */
static mach_port_name_t take_reply(mach_msg_header_t *msg,
        mach_msg_type_name_t *type)
{
	mach_port_name_t reply = msg->msgh_remote_port;
	*type = MACH_MSGH_BITS_REMOTE(msg->msgh_bits);
	if (!MACH_PORT_VALID(reply))
		return MACH_PORT_NULL;
	msg->msgh_remote_port = MACH_PORT_NULL;
	msg->msgh_bits &= ~MACH_MSGH_BITS_REMOTE_MASK;
	return reply;
}

/* Every completion and reply leaves from this file, built by object_user.c.
 * One that cannot be sent means its reply port died with whoever asked;
 * the send released the reply right, and nothing in the kernel waits for
 * it, so the result is not looked at. */
static void completion_sent(mach_msg_return_t mr)
{
	(void)mr;
}

/* data_supply into obj and, when reply_k is valid, supply_completed to it
 * (reply_k, a kernel-space right of type reply_type, is consumed). */
static kern_return_t emmi_control_data_supply(struct vm_object *obj,
        vm_offset_t offset, const void *data, vm_size_t data_count,
        vm_prot_t lock_value, boolean_t precious, mach_port_name_t reply_k,
        mach_msg_type_name_t reply_type)
{
	vm_offset_t error_offset = 0;
	kern_return_t kr = vm_object_data_supply(obj, offset, data, data_count,
	        lock_value, precious, &error_offset);
	if (!MACH_PORT_VALID(reply_k))
		return kr;
	if (kr == KERN_INVALID_ADDRESS) {
		/* The call itself answers (MACH_SEND_INVALID_MEMORY); safe to
		 * ignore: the right came with the message. */
		(void)ipc_port_deallocate(ipc_space_kernel(), reply_k);
		return kr;
	}
	vm_size_t length = kr == KERN_SUCCESS
		? vm_trunc_page(vm_kernel(), data_count)
		: error_offset - offset;
	completion_sent(emmi_send_supply_completed(reply_k, reply_type,
	        obj->control_k, offset, length, kr, error_offset));
	return kr;
}

static void data_supply(struct vm_object *obj, mach_msg_header_t *msg)
{
	emmi_data_supply_msg_t *m = (emmi_data_supply_msg_t *)msg;
	if (m->Head.msgh_size != sizeof *m ||
	    !(m->Head.msgh_bits & MACH_MSGH_BITS_COMPLEX) ||
	    m->body.msgh_descriptor_count != 1 ||
	    m->data.type != MACH_MSG_OOL_DESCRIPTOR ||
	    m->data.size < m->data_count)
		return;
	mach_msg_type_name_t reply_type;
	mach_port_name_t reply = take_reply(msg, &reply_type);
	/* The data is usually the manager's own memory, lent for this call;
	 * the handler's ipc_mach_msg_destroy frees it only if it was a copy. */
	emmi_control_data_supply(obj, m->offset, m->data.address, m->data_count,
	                         m->lock_value, m->precious, reply, reply_type);
}

static void change_attributes(struct vm_object *obj, mach_msg_header_t *msg)
{
	emmi_attributes_msg_t *m = (emmi_attributes_msg_t *)msg;
	if (m->Head.msgh_size < EMMI_ATTRIBUTES_MSG_SIZE(0) ||
	    m->count > EMMI_ATTRIBUTES_MAX ||
	    m->Head.msgh_size != EMMI_ATTRIBUTES_MSG_SIZE(m->count))
		return;
	kern_return_t kr = vm_object_change_attributes(obj, m->flavor, m->info,
	                                               m->count);
	mach_msg_type_name_t reply_type;
	mach_port_name_t reply = take_reply(msg, &reply_type);
	if (reply != MACH_PORT_NULL && kr == KERN_SUCCESS)
		completion_sent(emmi_send_change_completed(reply, reply_type,
		                                           obj->control_k, m->flavor));
}

static void get_attributes(struct vm_object *obj, mach_msg_header_t *msg)
{
	emmi_attributes_msg_t *m = (emmi_attributes_msg_t *)msg;
	mach_msg_type_name_t reply_type;
	if (m->Head.msgh_size != EMMI_ATTRIBUTES_MSG_SIZE(0))
		return;
	mach_port_name_t reply = take_reply(msg, &reply_type);
	if (reply == MACH_PORT_NULL)
		return;
	integer_t info[EMMI_ATTRIBUTES_MAX];
	mach_msg_type_number_t count =
		m->count > EMMI_ATTRIBUTES_MAX ? EMMI_ATTRIBUTES_MAX : m->count;
	kern_return_t kr = vm_object_get_attributes(obj, m->flavor, info, &count);
	if (kr != KERN_SUCCESS)
		count = 0;
	completion_sent(emmi_send_attributes_reply(reply, reply_type, kr, info,
	                                           count));
}

static bool range_msg_ok(const mach_msg_header_t *msg)
{
	return msg->msgh_size == sizeof(emmi_control_range_msg_t) &&
	       !(msg->msgh_bits & MACH_MSGH_BITS_COMPLEX);
}

static void lock_request(struct vm_object *obj, mach_msg_header_t *msg)
{
	emmi_lock_request_msg_t *m = (emmi_lock_request_msg_t *)msg;
	if (m->Head.msgh_size != sizeof *m ||
	    (m->Head.msgh_bits & MACH_MSGH_BITS_COMPLEX))
		return;
	mach_msg_type_name_t reply_type;
	mach_port_name_t reply = take_reply(msg, &reply_type);
	vm_object_lock_request(obj, m->offset, m->size, m->should_return,
	                       m->should_flush, m->lock_value);
	/* After every data_return the request caused (queued already). */
	if (MACH_PORT_VALID(reply))
		completion_sent(emmi_send_lock_completed(reply, reply_type,
		        obj->control_k, m->offset, m->size));
}

void emmi_control_handler(void *context, mach_msg_header_t *msg,
        mach_msg_size_t size)
{
	emmi_stat_received(msg, size);
	struct vm_object *obj = vm_object_lookup_id((uint64_t)(uintptr_t)context);
	/* Too short to be any control call: only the header is trusted. */
	if (obj == NULL || size < sizeof(mach_msg_header_t) ||
	    msg->msgh_size > size) {
		if (obj)
			vm_object_release(obj);
		ipc_mach_msg_destroy(ipc_space_kernel(), msg);
		return;
	}
	emmi_control_range_msg_t *r = (emmi_control_range_msg_t *)msg;
	switch (msg->msgh_id) {
	case EMMI_DATA_SUPPLY:
		data_supply(obj, msg);
		break;
	case EMMI_DATA_UNAVAILABLE:
		if (range_msg_ok(msg))
			vm_object_data_unavailable(obj, r->offset, r->size);
		break;
	case EMMI_DATA_ERROR:
		if (range_msg_ok(msg))
			vm_object_data_error(obj, r->offset, r->size, r->reason);
		break;
	case EMMI_CHANGE_ATTRIBUTES:
		change_attributes(obj, msg);
		break;
	case EMMI_GET_ATTRIBUTES:
		get_attributes(obj, msg);
		break;
	case EMMI_LOCK_REQUEST:
		lock_request(obj, msg);
		break;
	case EMMI_SYNCHRONIZE_COMPLETED:
		if (range_msg_ok(msg))
			vm_object_synchronize_completed(obj, r->offset, r->size);
		break;
	case EMMI_DESTROY:
		if (range_msg_ok(msg))
			vm_object_destroy(obj, r->reason);
		break;
	case EMMI_SYNCHRONIZE_FAILED:
		if (range_msg_ok(msg) && r->reason != KERN_SUCCESS)
			vm_object_synchronize_failed(obj, r->offset, r->size, r->reason);
		break;
	default:
		/* Unknown ids are dropped, as a one-way message allows. */
		break;
	}
	vm_object_release(obj);
	ipc_mach_msg_destroy(ipc_space_kernel(), msg);
}
