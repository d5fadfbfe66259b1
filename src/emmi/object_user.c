/* Messages the kernel sends to memory managers, from the kernel space.
 * Every message that names the control port makes a new send right for
 * the manager (SPEC 3.11). Sends ignore the queue limit, as Mach's
 * kernel-sent messages do: the fault thread must never block on a
 * manager's full queue. */
#include "emmi/object_user.h"

#include <string.h>

#include "emmi/emmi_msgs.h"
#include "emmi/emmi_stat.h"
#include "ipc/ipc_kernel.h"

static mach_msg_return_t kernel_send(mach_msg_header_t *msg)
{
	emmi_stat_sent(msg->msgh_id);
	return ipc_mach_msg(ipc_space_kernel(), msg,
	                    MACH_SEND_MSG | MACH_SEND_ALWAYS, msg->msgh_size, 0,
	                    MACH_PORT_NULL, MACH_MSG_TIMEOUT_NONE, MACH_PORT_NULL);
}

static void set_header(mach_msg_header_t *h, mach_port_name_t dest,
        mach_msg_type_name_t dest_type, mach_msg_size_t size, mach_msg_id_t id)
{
	h->msgh_bits = MACH_MSGH_BITS(dest_type, 0) | MACH_MSGH_BITS_COMPLEX;
	h->msgh_size = size;
	h->msgh_remote_port = dest;
	h->msgh_local_port = MACH_PORT_NULL;
	h->msgh_voucher_port = MACH_PORT_NULL;
	h->msgh_id = id;
}

static void set_port(mach_msg_port_descriptor_t *d, mach_port_name_t name,
        mach_msg_type_name_t disposition)
{
	memset(d, 0, sizeof *d);
	d->name = name;
	d->disposition = disposition;
	d->type = MACH_MSG_PORT_DESCRIPTOR;
}

mach_msg_return_t emmi_send_init(mach_port_name_t object_k,
        mach_port_name_t control_k, vm_size_t page_size)
{
	emmi_init_msg_t m;
	memset(&m, 0, sizeof m);
	set_header(&m.Head, object_k, MACH_MSG_TYPE_COPY_SEND, sizeof m, EMMI_INIT);
	m.body.msgh_descriptor_count = 1;
	set_port(&m.control, control_k, MACH_MSG_TYPE_MAKE_SEND);
	m.NDR = NDR_record;
	m.page_size = page_size;
	return kernel_send(&m.Head);
}

mach_msg_return_t emmi_send_terminate(mach_port_name_t object_k,
        mach_port_name_t control_k)
{
	emmi_init_msg_t m;
	memset(&m, 0, sizeof m);
	set_header(&m.Head, object_k, MACH_MSG_TYPE_MOVE_SEND, sizeof m,
	           EMMI_TERMINATE);
	m.body.msgh_descriptor_count = 1;
	set_port(&m.control, control_k, MACH_MSG_TYPE_MOVE_RECEIVE);
	m.NDR = NDR_record;
	mach_msg_return_t mr = kernel_send(&m.Head);
	if (mr != MACH_MSG_SUCCESS) {
		/* The manager is gone (dead name) or the message was refused:
		 * the rights are still ours; drop them. */
		ipc_port_destroy(ipc_space_kernel(), control_k);
		ipc_port_deallocate(ipc_space_kernel(), object_k);
	}
	return mr;
}

mach_msg_return_t emmi_send_data_request(mach_port_name_t object_k,
        mach_port_name_t control_k, vm_offset_t offset, vm_size_t length,
        vm_prot_t desired_access)
{
	emmi_range_msg_t m;
	memset(&m, 0, sizeof m);
	set_header(&m.Head, object_k, MACH_MSG_TYPE_COPY_SEND, sizeof m,
	           EMMI_DATA_REQUEST);
	m.body.msgh_descriptor_count = 1;
	set_port(&m.control, control_k, MACH_MSG_TYPE_MAKE_SEND);
	m.NDR = NDR_record;
	m.offset = offset;
	m.length = length;
	m.access = desired_access;
	return kernel_send(&m.Head);
}

static mach_msg_return_t send_range(mach_port_name_t object_k,
        mach_port_name_t control_k, mach_msg_id_t id, vm_offset_t offset,
        vm_size_t length, integer_t access)
{
	emmi_range_msg_t m;
	memset(&m, 0, sizeof m);
	set_header(&m.Head, object_k, MACH_MSG_TYPE_COPY_SEND, sizeof m, id);
	m.body.msgh_descriptor_count = 1;
	set_port(&m.control, control_k, MACH_MSG_TYPE_MAKE_SEND);
	m.NDR = NDR_record;
	m.offset = offset;
	m.length = length;
	m.access = access;
	return kernel_send(&m.Head);
}

mach_msg_return_t emmi_send_data_unlock(mach_port_name_t object_k,
        mach_port_name_t control_k, vm_offset_t offset, vm_size_t length,
        vm_prot_t desired_access)
{
	return send_range(object_k, control_k, EMMI_DATA_UNLOCK, offset, length,
	                  desired_access);
}

mach_msg_return_t emmi_send_synchronize(mach_port_name_t object_k,
        mach_port_name_t control_k, vm_offset_t offset, vm_size_t length,
        vm_sync_t flags)
{
	return send_range(object_k, control_k, EMMI_SYNCHRONIZE, offset, length,
	                  (integer_t)flags);
}

mach_msg_return_t emmi_send_data_return(mach_port_name_t object_k,
        mach_port_name_t control_k, vm_offset_t offset, void *data,
        vm_size_t length, boolean_t dirty, boolean_t kernel_copy)
{
	emmi_data_return_msg_t m;
	memset(&m, 0, sizeof m);
	set_header(&m.Head, object_k, MACH_MSG_TYPE_COPY_SEND, sizeof m,
	           EMMI_DATA_RETURN);
	m.body.msgh_descriptor_count = 2;
	set_port(&m.control, control_k, MACH_MSG_TYPE_MAKE_SEND);
	/* Whole pages with deallocate: the manager gets these very pages. */
	m.data.address = data;
	m.data.size = (mach_msg_size_t)length;
	m.data.deallocate = TRUE;
	m.data.copy = MACH_MSG_VIRTUAL_COPY;
	m.data.type = MACH_MSG_OOL_DESCRIPTOR;
	m.NDR = NDR_record;
	m.offset = offset;
	m.data_count = (mach_msg_type_number_t)length;
	m.dirty = dirty;
	m.kernel_copy = kernel_copy;
	return kernel_send(&m.Head);
}

/* A reply right arrives as PORT_SEND_ONCE or PORT_SEND: send it on. */
static mach_msg_type_name_t reply_disposition(mach_msg_type_name_t type)
{
	return type == MACH_MSG_TYPE_PORT_SEND_ONCE ? MACH_MSG_TYPE_MOVE_SEND_ONCE
	                                            : MACH_MSG_TYPE_MOVE_SEND;
}

/* A completion goes to the reply right the request carried, which the
 * send uses up; a send that fails (the reply port died) must not leak it. */
static mach_msg_return_t send_to_reply(mach_msg_header_t *msg,
        mach_port_name_t reply_k)
{
	mach_msg_return_t mr = kernel_send(msg);
	if (mr != MACH_MSG_SUCCESS)
		ipc_port_deallocate(ipc_space_kernel(), reply_k);
	return mr;
}

mach_msg_return_t emmi_send_supply_completed(mach_port_name_t reply_k,
        mach_msg_type_name_t reply_type, mach_port_name_t control_k,
        vm_offset_t offset, vm_size_t length, kern_return_t result,
        vm_offset_t error_offset)
{
	emmi_supply_completed_msg_t m;
	memset(&m, 0, sizeof m);
	set_header(&m.Head, reply_k, reply_disposition(reply_type), sizeof m,
	           EMMI_SUPPLY_COMPLETED);
	m.body.msgh_descriptor_count = 1;
	set_port(&m.control, control_k, MACH_MSG_TYPE_MAKE_SEND);
	m.NDR = NDR_record;
	m.offset = offset;
	m.length = length;
	m.result = result;
	m.error_offset = error_offset;
	return send_to_reply(&m.Head, reply_k);
}

mach_msg_return_t emmi_send_change_completed(mach_port_name_t reply_k,
        mach_msg_type_name_t reply_type, mach_port_name_t control_k,
        memory_object_flavor_t flavor)
{
	emmi_change_completed_msg_t m;
	memset(&m, 0, sizeof m);
	set_header(&m.Head, reply_k, reply_disposition(reply_type), sizeof m,
	           EMMI_CHANGE_COMPLETED);
	m.body.msgh_descriptor_count = 1;
	set_port(&m.control, control_k, MACH_MSG_TYPE_MAKE_SEND);
	m.NDR = NDR_record;
	m.flavor = flavor;
	return send_to_reply(&m.Head, reply_k);
}

mach_msg_return_t emmi_send_lock_completed(mach_port_name_t reply_k,
        mach_msg_type_name_t reply_type, mach_port_name_t control_k,
        vm_offset_t offset, vm_size_t length)
{
	emmi_lock_completed_msg_t m;
	memset(&m, 0, sizeof m);
	set_header(&m.Head, reply_k, reply_disposition(reply_type), sizeof m,
	           EMMI_LOCK_COMPLETED);
	m.body.msgh_descriptor_count = 1;
	set_port(&m.control, control_k, MACH_MSG_TYPE_MAKE_SEND);
	m.NDR = NDR_record;
	m.offset = offset;
	m.length = length;
	return send_to_reply(&m.Head, reply_k);
}

/* The get_attributes reply (a MIG-style reply: the caller waits for it
 * in mach_msg). Not counted as a message to a manager (statistics count
 * requests and completions, as before). */
mach_msg_return_t emmi_send_attributes_reply(mach_port_name_t reply_k,
        mach_msg_type_name_t reply_type, kern_return_t result,
        const integer_t *info, mach_msg_type_number_t count)
{
	emmi_attributes_reply_t r;
	memset(&r, 0, sizeof r);
	if (count > EMMI_ATTRIBUTES_MAX)
		count = EMMI_ATTRIBUTES_MAX;
	r.Head.msgh_bits = MACH_MSGH_BITS(reply_disposition(reply_type), 0);
	r.Head.msgh_size = EMMI_ATTRIBUTES_REPLY_SIZE(count);
	r.Head.msgh_remote_port = reply_k;
	r.Head.msgh_local_port = MACH_PORT_NULL;
	r.Head.msgh_id = EMMI_GET_ATTRIBUTES + MIG_REPLY_ID_OFFSET;
	r.NDR = NDR_record;
	r.RetCode = result;
	r.count = count;
	memcpy(r.info, info, count * sizeof(integer_t));
	mach_msg_return_t mr = ipc_mach_msg(ipc_space_kernel(), &r.Head,
	        MACH_SEND_MSG | MACH_SEND_ALWAYS, r.Head.msgh_size, 0,
	        MACH_PORT_NULL, MACH_MSG_TIMEOUT_NONE, MACH_PORT_NULL);
	if (mr != MACH_MSG_SUCCESS)
		(void)ipc_port_deallocate(ipc_space_kernel(), reply_k);  /* ours */
	return mr;
}

/* To the default pager (memory_object_default subsystem). */

mach_msg_return_t emmi_send_create(mach_port_name_t pager_k,
        mach_port_name_t object_k, vm_size_t size, mach_port_name_t control_k,
        vm_size_t page_size)
{
	emmi_create_msg_t m;
	memset(&m, 0, sizeof m);
	set_header(&m.Head, pager_k, MACH_MSG_TYPE_COPY_SEND, sizeof m,
	           EMMI_CREATE);
	m.body.msgh_descriptor_count = 2;
	set_port(&m.new_object, object_k, MACH_MSG_TYPE_MOVE_RECEIVE);
	set_port(&m.new_control, control_k, MACH_MSG_TYPE_MAKE_SEND);
	m.NDR = NDR_record;
	m.new_object_size = size;
	m.new_page_size = page_size;
	return kernel_send(&m.Head);
}

mach_msg_return_t emmi_send_data_initialize(mach_port_name_t object_k,
        mach_port_name_t control_k, vm_offset_t offset, void *data,
        vm_size_t length)
{
	emmi_data_return_msg_t m;
	memset(&m, 0, sizeof m);
	set_header(&m.Head, object_k, MACH_MSG_TYPE_COPY_SEND, sizeof m,
	           EMMI_DATA_INITIALIZE);
	m.body.msgh_descriptor_count = 2;
	set_port(&m.control, control_k, MACH_MSG_TYPE_MAKE_SEND);
	m.data.address = data;
	m.data.size = (mach_msg_size_t)length;
	m.data.deallocate = TRUE;
	m.data.copy = MACH_MSG_VIRTUAL_COPY;
	m.data.type = MACH_MSG_OOL_DESCRIPTOR;
	m.NDR = NDR_record;
	m.offset = offset;
	m.data_count = (mach_msg_type_number_t)length;
	return kernel_send(&m.Head);
}
