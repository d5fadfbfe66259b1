/* Notifications the IPC layer sends: each uses up the send-once right it
 * is sent to, comes from the kernel (no queue limit, no reply port) and
 * has the layout of include/mach/notify.h. */
#include <string.h>
#include "ipc_internal.h"

/* A kernel-form message of `size` inline bytes to the send-once right
 * `notify`; NULL (and the right released) if memory runs out. */
static ipc_kmsg_t notify_alloc(ipc_port_t notify, mach_msg_size_t size,
        mach_msg_id_t id)
{
	ipc_kmsg_t kmsg = ipc_kmsg_alloc(size);
	if (kmsg == NULL) {
		ipc_port_release_sonce(notify);
		return NULL;
	}
	mach_msg_header_t *hdr = ipc_kmsg_hdr(kmsg);
	memset(hdr, 0, size);
	hdr->msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_PORT_SEND_ONCE, 0);
	hdr->msgh_size = size;
	hdr->msgh_id = id;
	kmsg->remote = notify;
	return kmsg;
}

#define BODY_SIZE(type) \
	((mach_msg_size_t)(sizeof(type) - sizeof(mach_msg_format_0_trailer_t)))

void ipc_notify_no_senders(ipc_port_t notify, mach_port_mscount_t mscount)
{
	ipc_kmsg_t kmsg = notify_alloc(notify,
	        BODY_SIZE(mach_no_senders_notification_t), MACH_NOTIFY_NO_SENDERS);
	if (kmsg == NULL)
		return;
	mach_no_senders_notification_t *n = (void *)ipc_kmsg_hdr(kmsg);
	n->NDR = NDR_record;
	n->not_count = mscount;
	ipc_kmsg_deliver(kmsg);
}

void ipc_notify_send_once(ipc_port_t port)
{
	ipc_kmsg_t kmsg = notify_alloc(port,
	        BODY_SIZE(mach_send_once_notification_t), MACH_NOTIFY_SEND_ONCE);
	if (kmsg != NULL)
		ipc_kmsg_deliver(kmsg);
}

static void notify_name(ipc_port_t notify, mach_msg_id_t id, mach_port_name_t name)
{
	ipc_kmsg_t kmsg = notify_alloc(notify,
	        BODY_SIZE(mach_dead_name_notification_t), id);
	if (kmsg == NULL)
		return;
	mach_dead_name_notification_t *n = (void *)ipc_kmsg_hdr(kmsg);
	n->NDR = NDR_record;
	n->not_port = name;
	ipc_kmsg_deliver(kmsg);
}

void ipc_notify_dead_name(ipc_port_t notify, mach_port_name_t name)
{
	notify_name(notify, MACH_NOTIFY_DEAD_NAME, name);
}

void ipc_notify_port_deleted(ipc_port_t notify, mach_port_name_t name)
{
	notify_name(notify, MACH_NOTIFY_PORT_DELETED, name);
}

/* Carries the receive right of `port` (in transit, no receiver) to the
 * requester; the message takes a new reference to it. */
void ipc_notify_port_destroyed(ipc_port_t notify, ipc_port_t port)
{
	ipc_kmsg_t kmsg = notify_alloc(notify,
	        BODY_SIZE(mach_port_destroyed_notification_t), MACH_NOTIFY_PORT_DESTROYED);
	if (kmsg == NULL) {
		/* No memory: the right dies after all (pdrequest is gone). */
		ipc_port_reference(port);
		ipc_port_release_receive(port);
		return;
	}
	mach_port_destroyed_notification_t *n = (void *)ipc_kmsg_hdr(kmsg);
	n->not_header.msgh_bits |= MACH_MSGH_BITS_COMPLEX;
	n->not_body.msgh_descriptor_count = 1;
	mach_msg_port_descriptor_t pd = {
		.disposition = MACH_MSG_TYPE_PORT_RECEIVE,
		.type = MACH_MSG_PORT_DESCRIPTOR,
	};
	ipc_port_reference(port);
	memcpy(&pd, &port, sizeof port);   /* kernel form: the pointer */
	memcpy(&n->not_port, &pd, sizeof pd);
	ipc_port_reference(notify);
	port->destination = notify;
	ipc_kmsg_deliver(kmsg);
}
