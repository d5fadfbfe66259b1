/* The control calls a manager makes (memory_object_data_supply & co.):
 * stubs that check the control port and send to it from the task space.
 * The kernel's handler runs during the send, in this thread.
 *
 * Errors the stubs return at once:
 *   MACH_SEND_INVALID_DEST  the name is not a send right (or is dead);
 *   KERN_INVALID_ARGUMENT   a live port that is not a control port of this
 *                           kernel (e.g. after terminate handed it back),
 *                           or a bad argument (see each call);
 *   MACH_SEND_INVALID_REPLY reply_port is not a right the caller holds.
 * Errors the kernel finds later go to the reply port where the call has
 * one (supply_completed), as in Mach. */
#include <mach/mach.h>

#include <stdbool.h>
#include <string.h>

#include "emmi/control_port.h"
#include "emmi/emmi_msgs.h"
#include "ipc/ipc_kernel.h"

/* Where a control call goes, and the page mask its offsets must keep.
 * A control port of this kernel is checked here, against this kernel's
 * page size (host_page_size; KERN_INVALID_ARGUMENT for a live port that
 * is no control port, e.g. one terminate handed back). Another kernel
 * object, such as the net layer's proxy for the control port of a kernel
 * in another process, is that kernel's to check: its page size is not
 * known here (*page_mask 0). Nothing here reads the VM's state: the
 * port's binding says what it is (control_port.h). */
static kern_return_t check_control(memory_object_control_t control,
        vm_size_t *page_mask)
{
	*page_mask = 0;
	mach_port_name_t control_k;
	if (!MACH_PORT_VALID(control) ||
	    ipc_right_transfer(ipc_space_task(), control, MACH_MSG_TYPE_COPY_SEND,
	                       ipc_space_kernel(), &control_k) != KERN_SUCCESS)
		return MACH_SEND_INVALID_DEST;
	bool local = emmi_control_port_is_local(ipc_space_kernel(), control_k);
	/* Safe to ignore: the reference was made just above. */
	(void)ipc_port_deallocate(ipc_space_kernel(), control_k);
	if (local) {
		vm_size_t page_size;
		if (host_page_size(mach_host_self(), &page_size) != KERN_SUCCESS)
			return KERN_FAILURE;     /* (cannot happen: our own host) */
		*page_mask = page_size - 1;
		return KERN_SUCCESS;
	}
	return emmi_port_kind(ipc_space_task(), control) == EMMI_PORT_REMOTE
	       ? KERN_SUCCESS : KERN_INVALID_ARGUMENT;
}

/* How to send the reply port: a send-once right made from a receive
 * right the caller holds, else a copy of its send right. */
static kern_return_t reply_disposition(mach_port_t reply,
        mach_msg_type_name_t *disposition)
{
	*disposition = 0;
	if (reply == MACH_PORT_NULL)
		return KERN_SUCCESS;
	mach_port_type_t type;
	if (mach_port_type(mach_task_self(), reply, &type) != KERN_SUCCESS)
		return MACH_SEND_INVALID_REPLY;
	if (type & MACH_PORT_TYPE_RECEIVE)
		*disposition = MACH_MSG_TYPE_MAKE_SEND_ONCE;
	else if (type & MACH_PORT_TYPE_SEND)
		*disposition = MACH_MSG_TYPE_COPY_SEND;
	else if (type & MACH_PORT_TYPE_SEND_ONCE)
		*disposition = MACH_MSG_TYPE_MOVE_SEND_ONCE;
	else
		return MACH_SEND_INVALID_REPLY;
	return KERN_SUCCESS;
}

static void set_header(mach_msg_header_t *h, memory_object_control_t control,
        mach_port_t reply, mach_msg_type_name_t reply_type,
        mach_msg_size_t size, mach_msg_id_t id)
{
	h->msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, reply_type);
	h->msgh_size = size;
	h->msgh_remote_port = control;
	h->msgh_local_port = reply_type ? reply : MACH_PORT_NULL;
	h->msgh_voucher_port = MACH_PORT_NULL;
	h->msgh_id = id;
}

static kern_return_t send(mach_msg_header_t *h)
{
	return mach_msg(h, MACH_SEND_MSG, h->msgh_size, 0, MACH_PORT_NULL,
	                MACH_MSG_TIMEOUT_NONE, MACH_PORT_NULL);
}

/* offset must be a multiple of the kernel page size; a data_count that is
 * not is cut to whole pages (the partial page is discarded). The data
 * travels out of line; the control port's handler runs during the send in
 * this thread and reads it where it lies (lent, not copied: see
 * ipc_kernel.h), so the only copy is the one into the kernel's cache — a
 * memfd cannot adopt anonymous pages. With deallocate the manager's pages
 * are freed when the send returns. Unmapped data answers
 * MACH_SEND_INVALID_MEMORY. */
kern_return_t memory_object_data_supply(memory_object_control_t memory_control,
        vm_offset_t offset, pointer_t data, mach_msg_type_number_t data_count,
        boolean_t deallocate, vm_prot_t lock_value, boolean_t precious,
        mach_port_t reply_port)
{
	vm_size_t page_mask;
	kern_return_t kr = check_control(memory_control, &page_mask);
	if (kr != KERN_SUCCESS)
		return kr;
	if ((offset & page_mask) || (data == 0 && data_count != 0) ||
	    (lock_value & ~VM_PROT_ALL) || offset > (vm_offset_t)-1 - data_count)
		return KERN_INVALID_ARGUMENT;
	mach_msg_type_name_t reply_type;
	kr = reply_disposition(reply_port, &reply_type);
	if (kr != KERN_SUCCESS)
		return kr;
	emmi_data_supply_msg_t m;
	memset(&m, 0, sizeof m);
	set_header(&m.Head, memory_control, reply_port, reply_type, sizeof m,
	           EMMI_DATA_SUPPLY);
	m.Head.msgh_bits |= MACH_MSGH_BITS_COMPLEX;
	m.body.msgh_descriptor_count = 1;
	m.data.address = (void *)(uintptr_t)data;
	m.data.size = data_count;
	m.data.deallocate = deallocate ? TRUE : FALSE;
	m.data.copy = MACH_MSG_VIRTUAL_COPY;
	m.data.type = MACH_MSG_OOL_DESCRIPTOR;
	m.NDR = NDR_record;
	m.offset = offset;
	m.data_count = data_count;
	m.lock_value = lock_value;
	m.precious = precious;
	return send(&m.Head);
}

static kern_return_t send_range(memory_object_control_t control,
        mach_msg_id_t id, vm_offset_t offset, vm_size_t size,
        kern_return_t reason)
{
	vm_size_t page_mask;
	kern_return_t kr = check_control(control, &page_mask);
	if (kr != KERN_SUCCESS)
		return kr;
	if ((offset & page_mask) || offset > (vm_offset_t)-1 - size)
		return KERN_INVALID_ARGUMENT;
	emmi_control_range_msg_t m;
	memset(&m, 0, sizeof m);
	set_header(&m.Head, control, MACH_PORT_NULL, 0, sizeof m, id);
	m.NDR = NDR_record;
	m.offset = offset;
	m.size = size;
	m.reason = reason;
	return send(&m.Head);
}

kern_return_t memory_object_data_unavailable(memory_object_control_t memory_control,
        vm_offset_t offset, vm_size_t size)
{
	return send_range(memory_control, EMMI_DATA_UNAVAILABLE, offset, size, 0);
}

kern_return_t memory_object_data_error(memory_object_control_t memory_control,
        vm_offset_t offset, vm_size_t size, kern_return_t reason)
{
	return send_range(memory_control, EMMI_DATA_ERROR, offset, size, reason);
}

static kern_return_t check_attributes(memory_object_flavor_t flavor,
        mach_msg_type_number_t count)
{
	switch (flavor) {
	case MEMORY_OBJECT_PERFORMANCE_INFO:
		return count == MEMORY_OBJECT_PERF_INFO_COUNT
		       ? KERN_SUCCESS : KERN_INVALID_ARGUMENT;
	case MEMORY_OBJECT_ATTRIBUTE_INFO:
		return count == MEMORY_OBJECT_ATTR_INFO_COUNT
		       ? KERN_SUCCESS : KERN_INVALID_ARGUMENT;
	case MEMORY_OBJECT_BEHAVIOR_INFO:
		return count == MEMORY_OBJECT_BEHAVE_INFO_COUNT
		       ? KERN_SUCCESS : KERN_INVALID_ARGUMENT;
	case MEMORY_OBJECT_READAHEAD_INFO:
		return count == MEMORY_OBJECT_READAHEAD_INFO_COUNT
		       ? KERN_SUCCESS : KERN_INVALID_ARGUMENT;
	default:
		return KERN_INVALID_ARGUMENT;
	}
}

/* The first call on a control port makes the object ready (SPEC 3.1).
 * cluster_size is rounded down to whole kernel pages (0: one page). */
kern_return_t memory_object_change_attributes(memory_object_control_t memory_control,
        memory_object_flavor_t flavor, memory_object_info_t attributes,
        mach_msg_type_number_t attributes_count, mach_port_t reply_port)
{
	vm_size_t page_mask;
	kern_return_t kr = check_control(memory_control, &page_mask);
	if (kr != KERN_SUCCESS)
		return kr;
	if (attributes == NULL || check_attributes(flavor, attributes_count) != 0)
		return KERN_INVALID_ARGUMENT;
	mach_msg_type_name_t reply_type;
	kr = reply_disposition(reply_port, &reply_type);
	if (kr != KERN_SUCCESS)
		return kr;
	emmi_attributes_msg_t m;
	memset(&m, 0, sizeof m);
	set_header(&m.Head, memory_control, reply_port, reply_type,
	           EMMI_ATTRIBUTES_MSG_SIZE(attributes_count),
	           EMMI_CHANGE_ATTRIBUTES);
	m.NDR = NDR_record;
	m.flavor = flavor;
	m.count = attributes_count;
	memcpy(m.info, attributes, attributes_count * sizeof(integer_t));
	return send(&m.Head);
}

kern_return_t memory_object_get_attributes(memory_object_control_t memory_control,
        memory_object_flavor_t flavor, memory_object_info_t attributes,
        mach_msg_type_number_t *attributes_count)
{
	vm_size_t page_mask;
	kern_return_t kr = check_control(memory_control, &page_mask);
	if (kr != KERN_SUCCESS)
		return kr;
	if (attributes == NULL || attributes_count == NULL)
		return KERN_INVALID_ARGUMENT;
	union {
		emmi_attributes_msg_t request;
		struct {
			emmi_attributes_reply_t reply;
			mach_msg_max_trailer_t trailer;
		} r;
	} m;
	memset(&m, 0, sizeof m);
	mach_port_t reply = mig_get_reply_port();
	m.request.Head.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND,
	                                          MACH_MSG_TYPE_MAKE_SEND_ONCE);
	m.request.Head.msgh_size = EMMI_ATTRIBUTES_MSG_SIZE(0);
	m.request.Head.msgh_remote_port = memory_control;
	m.request.Head.msgh_local_port = reply;
	m.request.Head.msgh_id = EMMI_GET_ATTRIBUTES;
	m.request.NDR = NDR_record;
	m.request.flavor = flavor;
	m.request.count = *attributes_count;
	/* A control port of this kernel answers in this thread, during the
	 * send: the reply is queued when the receive starts. If it is not,
	 * the port left the kernel between the check and the send (terminate
	 * handed it to the manager) and the request sits in a queue that may
	 * never be served: the server is gone. The reply port goes too, so
	 * that a late answer is never taken for the next call's. */
	bool local = page_mask != 0;
	kr = mach_msg(&m.request.Head, MACH_SEND_MSG | MACH_RCV_MSG |
	              (local ? MACH_RCV_TIMEOUT : 0),
	              m.request.Head.msgh_size, sizeof m, reply,
	              local ? 0 : MACH_MSG_TIMEOUT_NONE, MACH_PORT_NULL);
	if (kr == MACH_RCV_TIMED_OUT && local) {
		mig_dealloc_reply_port(reply);
		return MIG_SERVER_DIED;
	}
	if (kr != MACH_MSG_SUCCESS)
		return kr;
	emmi_attributes_reply_t *r = &m.r.reply;
	/* The request died unanswered (the object was terminated under us
	 * and the control port's receive right went to the manager, which
	 * destroyed it): its send-once reply right came back as a notice. */
	if (r->Head.msgh_id == MACH_NOTIFY_SEND_ONCE) {
		mach_msg_destroy(&r->Head);
		return MIG_SERVER_DIED;
	}
	/* Answered by whoever holds the port now (a server that does not
	 * know the call): the kernel that served it is gone. */
	if (r->Head.msgh_id == EMMI_GET_ATTRIBUTES + MIG_REPLY_ID_OFFSET &&
	    r->Head.msgh_size == sizeof(mig_reply_error_t) &&
	    !(r->Head.msgh_bits & MACH_MSGH_BITS_COMPLEX)) {
		kern_return_t code = ((mig_reply_error_t *)&r->Head)->RetCode;
		if (code != KERN_SUCCESS) {
			mach_msg_destroy(&r->Head);
			return code == MIG_BAD_ID ? MIG_SERVER_DIED : code;
		}
	}
	if (r->Head.msgh_id != EMMI_GET_ATTRIBUTES + MIG_REPLY_ID_OFFSET ||
	    r->Head.msgh_size < EMMI_ATTRIBUTES_REPLY_SIZE(0) ||
	    r->count > EMMI_ATTRIBUTES_MAX ||
	    r->Head.msgh_size != EMMI_ATTRIBUTES_REPLY_SIZE(r->count)) {
		mach_msg_destroy(&r->Head);
		return MIG_REPLY_MISMATCH;
	}
	if (r->RetCode != KERN_SUCCESS)
		return r->RetCode;
	if (r->count > *attributes_count)
		return KERN_INVALID_ARGUMENT;
	memcpy(attributes, r->info, r->count * sizeof(integer_t));
	*attributes_count = r->count;
	return KERN_SUCCESS;
}

/* lock_request, synchronize_completed and destroy run in the kernel's
 * control handler, in this thread (src/vm/vm_lock.c, vm_msync.c,
 * vm_object.c). lock_value is VM_PROT_NO_CHANGE or bits of VM_PROT_ALL. */
kern_return_t memory_object_lock_request(memory_object_control_t memory_control,
        vm_offset_t offset, vm_size_t size, memory_object_return_t should_return,
        boolean_t should_flush, vm_prot_t lock_value, mach_port_t reply_port)
{
	vm_size_t page_mask;
	kern_return_t kr = check_control(memory_control, &page_mask);
	if (kr != KERN_SUCCESS)
		return kr;
	if ((offset & page_mask) || offset > (vm_offset_t)-1 - size ||
	    should_return < MEMORY_OBJECT_RETURN_NONE ||
	    should_return > MEMORY_OBJECT_RETURN_ANYTHING ||
	    (lock_value != VM_PROT_NO_CHANGE && (lock_value & ~VM_PROT_ALL)))
		return KERN_INVALID_ARGUMENT;
	mach_msg_type_name_t reply_type;
	kr = reply_disposition(reply_port, &reply_type);
	if (kr != KERN_SUCCESS)
		return kr;
	emmi_lock_request_msg_t m;
	memset(&m, 0, sizeof m);
	set_header(&m.Head, memory_control, reply_port, reply_type, sizeof m,
	           EMMI_LOCK_REQUEST);
	m.NDR = NDR_record;
	m.offset = offset;
	m.size = size;
	m.should_return = should_return;
	m.should_flush = should_flush;
	m.lock_value = lock_value;
	return send(&m.Head);
}

kern_return_t memory_object_synchronize_completed(memory_object_control_t memory_control,
        vm_offset_t offset, vm_size_t length)
{
	return send_range(memory_control, EMMI_SYNCHRONIZE_COMPLETED, offset,
	                  length, 0);
}

/* A write-back the manager could not make durable: the vm_msync waiting
 * for this range returns `reason`. KERN_SUCCESS is no failure. */
kern_return_t memobj_synchronize_failed(memory_object_control_t control,
        vm_offset_t offset, vm_size_t length, kern_return_t reason)
{
	vm_size_t page_mask;
	kern_return_t kr = check_control(control, &page_mask);
	if (kr != KERN_SUCCESS)
		return kr;
	if (reason == KERN_SUCCESS)
		return KERN_INVALID_ARGUMENT;
	return send_range(control, EMMI_SYNCHRONIZE_FAILED, offset, length, reason);
}

kern_return_t memory_object_destroy(memory_object_control_t memory_control,
        kern_return_t reason)
{
	vm_size_t page_mask;
	kern_return_t kr = check_control(memory_control, &page_mask);
	if (kr != KERN_SUCCESS)
		return kr;
	emmi_control_range_msg_t m;
	memset(&m, 0, sizeof m);
	set_header(&m.Head, memory_control, MACH_PORT_NULL, 0, sizeof m,
	           EMMI_DESTROY);
	m.NDR = NDR_record;
	m.reason = reason;
	return send(&m.Head);
}
