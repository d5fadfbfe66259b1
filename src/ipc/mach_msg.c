/* mach_msg: send, receive, or both, in a space. */
#include <string.h>
#include <time.h>
#include <sys/mman.h>
#include "ipc_internal.h"

/* Absolute CLOCK_MONOTONIC deadline `ms` from now; {0,0} means poll. */
static void deadline_in(mach_msg_timeout_t ms, struct timespec *ts)
{
	if (ms == 0) {
		ts->tv_sec = 0;
		ts->tv_nsec = 0;
		return;
	}
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

static bool is_poll(const struct timespec *ts)
{
	return ts != NULL && ts->tv_sec == 0 && ts->tv_nsec == 0;
}

/* True when a sender must wait for room in dest's queue: never for a
 * send-once destination, a kernel sender, or a kobject. */
static bool must_wait(ipc_space_t space, ipc_kmsg_t kmsg, ipc_port_t dest)
{
	if (space->is_kernel || !dest->active)
		return false;
	if (MACH_MSGH_BITS_REMOTE(ipc_kmsg_hdr(kmsg)->msgh_bits) ==
	    MACH_MSG_TYPE_PORT_SEND_ONCE)
		return false;
	if (dest->handler != NULL && dest->receiver != NULL && dest->receiver->is_kernel)
		return false;
	return ipc_mqueue_full(dest);
}

/* True when `name` in `space` is a right to a kobject of the kernel space:
 * its handler runs in this thread before the send returns, so the
 * message's OOL data can be lent rather than copied. */
boolean_t ipc_port_is_kobject(ipc_space_t space, mach_port_name_t name)
{
	return ipc_port_kobject_handler(space, name) != NULL;
}

ipc_kobject_handler_t ipc_port_kobject_handler(ipc_space_t space,
        mach_port_name_t name)
{
	ipc_init();
	if (space == NULL || !MACH_PORT_VALID(name))
		return NULL;
	ipc_kobject_handler_t handler = NULL;
	ipc_lock();
	ipc_entry_t entry = ipc_entry_lookup(space, name);
	if (entry != NULL && entry->object != NULL &&
	    (entry->type & MACH_PORT_TYPE_PORT_RIGHTS)) {
		ipc_port_t port = entry->object;
		if (port->active && port->receiver != NULL &&
		    port->receiver->is_kernel)
			handler = port->handler;
	}
	ipc_unlock();
	return handler;
}

/* How a complex message to `name` may lend its OOL data (IPC_LEND_*). */
static int lend_mode(ipc_space_t space, mach_port_name_t name)
{
	if (space == NULL || !MACH_PORT_VALID(name))
		return IPC_LEND_NONE;
	int mode = IPC_LEND_NONE;
	ipc_lock();
	ipc_entry_t entry = ipc_entry_lookup(space, name);
	if (entry != NULL && entry->object != NULL &&
	    (entry->type & MACH_PORT_TYPE_PORT_RIGHTS)) {
		ipc_port_t port = entry->object;
		if (port->active && port->handler != NULL &&
		    port->receiver != NULL && port->receiver->is_kernel)
			mode = port->reads_ool_safely ? IPC_LEND_UNCHECKED
			                              : IPC_LEND_CHECKED;
	}
	ipc_unlock();
	return mode;
}

static mach_msg_return_t msg_send(ipc_space_t space, mach_msg_header_t *msg,
        mach_msg_option_t option, mach_msg_size_t send_size,
        mach_msg_timeout_t timeout)
{
	if (msg == NULL)
		return MACH_SEND_INVALID_DATA;
	if (send_size >= sizeof *msg)
		ipc_trace(IPC_TRACE_SEND, space, msg, send_size, 0);
	struct ipc_copyin ci = { .kernel_sender = space->is_kernel };
	ipc_kmsg_t kmsg;
	int lend = send_size >= sizeof(mach_msg_base_t) &&
	           (msg->msgh_bits & MACH_MSGH_BITS_COMPLEX)
	        ? lend_mode(space, msg->msgh_remote_port) : IPC_LEND_NONE;
	mach_msg_return_t mr = ipc_kmsg_get(msg, send_size, lend, &kmsg, &ci);
	if (mr != MACH_MSG_SUCCESS) {
		ipc_copyin_done(&ci);
		return mr;
	}
	struct timespec deadline, *dl = NULL;
	if (option & MACH_SEND_TIMEOUT) {
		deadline_in(timeout, &deadline);
		dl = &deadline;
	}

	bool timed_out = false;
	for (;;) {
		ipc_lock();
		mr = ipc_kmsg_copyin_check(space, &ci);
		if (mr != MACH_MSG_SUCCESS) {
			ipc_unlock();
			ipc_kmsg_abort(kmsg, &ci);
			return mr;
		}
		ipc_port_t dest = ci.dest;
		if (must_wait(space, kmsg, dest)) {
			/* Nothing is taken from the sender until there is room. */
			if (timed_out || is_poll(dl)) {
				ipc_unlock();
				ipc_kmsg_abort(kmsg, &ci);
				return MACH_SEND_TIMED_OUT;
			}
			ipc_port_reference(dest);
			dest->snd_waiters++;
			timed_out = !ipc_wait(&dest->snd_cond, dl);
			dest->snd_waiters--;
			ipc_port_release(dest);
			ipc_unlock();
			continue;
		}
		ipc_kmsg_copyin_commit(space, kmsg, &ci);
		ipc_kmsg_deliver(kmsg);
		ipc_unlock();
		ipc_copyin_done(&ci);
		return MACH_MSG_SUCCESS;
	}
}

static mach_msg_return_t msg_receive(ipc_space_t space, mach_msg_header_t *msg,
        mach_msg_option_t option, mach_msg_size_t rcv_size,
        mach_port_name_t rcv_name, mach_msg_timeout_t timeout)
{
	if (msg == NULL)
		return MACH_RCV_INVALID_DATA;
	if (((unsigned)option >> 28) != MACH_MSG_TRAILER_FORMAT_0)
		return MACH_RCV_INVALID_TRAILER;
	struct timespec deadline, *dl = NULL;
	if (option & MACH_RCV_TIMEOUT) {
		deadline_in(timeout, &deadline);
		dl = &deadline;
	}
	ipc_kmsg_t kmsg;
	mach_msg_size_t needed = 0;
	ipc_lock();
	mach_msg_return_t mr = ipc_mqueue_receive(space, rcv_name, option, rcv_size,
	        dl, &kmsg, &needed);
	if (mr == MACH_RCV_TOO_LARGE) {
		if (kmsg == NULL) {
			/* MACH_RCV_LARGE: still queued; tell the size it needs. */
			ipc_unlock();
			if (rcv_size >= offsetof(mach_msg_header_t, msgh_size) + sizeof(mach_msg_size_t))
				msg->msgh_size = needed;
			return mr;
		}
		/* Thrown away: the caller sees the header, rights destroyed. */
		mach_msg_header_t h = *ipc_kmsg_hdr(kmsg);
		h.msgh_bits = MACH_MSGH_BITS_OTHER(h.msgh_bits) & ~MACH_MSGH_BITS_VOUCHER_MASK;
		h.msgh_local_port = kmsg->remote->receiver_name;
		h.msgh_remote_port = MACH_PORT_NULL;
		h.msgh_voucher_port = MACH_PORT_NULL;
		ipc_defer_reap(kmsg);
		ipc_unlock();
		if (rcv_size >= sizeof h)
			memcpy(msg, &h, sizeof h);
		return mr;
	}
	ipc_unlock();
	if (mr != MACH_MSG_SUCCESS)
		return mr;
	mach_msg_size_t trailer = REQUESTED_TRAILER_SIZE(option);
	ipc_kmsg_write_trailer(kmsg, trailer);
	memcpy(msg, ipc_kmsg_hdr(kmsg), round_msg(kmsg->size) + trailer);
	ipc_trace(IPC_TRACE_RECEIVE, space, msg, kmsg->size, kmsg->seqno);
	ipc_kmsg_free(kmsg);
	return MACH_MSG_SUCCESS;
}

mach_msg_return_t ipc_mach_msg(ipc_space_t space, mach_msg_header_t *msg,
        mach_msg_option_t option, mach_msg_size_t send_size,
        mach_msg_size_t rcv_size, mach_port_name_t rcv_name,
        mach_msg_timeout_t timeout, mach_port_name_t notify)
{
	(void)notify;  /* MACH_SEND_NOTIFY / MACH_RCV_NOTIFY: not supported */
	ipc_init();
	if (space == NULL)
		return (option & MACH_SEND_MSG) ? MACH_SEND_INVALID_DEST : MACH_RCV_INVALID_NAME;
	mach_msg_return_t mr = MACH_MSG_SUCCESS;
	if (option & MACH_SEND_MSG) {
		mr = msg_send(space, msg, option, send_size, timeout);
		if (mr != MACH_MSG_SUCCESS)
			return mr;
	}
	if (option & MACH_RCV_MSG)
		mr = msg_receive(space, msg, option, rcv_size, rcv_name, timeout);
	return mr;
}

mach_msg_return_t mach_msg(mach_msg_header_t *msg, mach_msg_option_t option,
        mach_msg_size_t send_size, mach_msg_size_t rcv_size,
        mach_port_name_t rcv_name, mach_msg_timeout_t timeout,
        mach_port_name_t notify)
{
	return ipc_mach_msg(ipc_space_task(), msg, option, send_size, rcv_size,
	        rcv_name, timeout, notify);
}

/* Destroys one right named in a message (user form), by the disposition
 * or received type it is given with. Make and copy dispositions hold no
 * right of the message's own. */
static void destroy_name(ipc_space_t space, mach_port_name_t name,
        mach_msg_type_name_t type)
{
	if (!MACH_PORT_VALID(name))
		return;
	switch (type) {
	case MACH_MSG_TYPE_PORT_SEND:
	case MACH_MSG_TYPE_PORT_SEND_ONCE:
		(void)ipc_right_dealloc(space, name);
		break;
	case MACH_MSG_TYPE_PORT_RECEIVE:
		(void)ipc_right_delta(space, name, MACH_PORT_RIGHT_RECEIVE, -1);
		break;
	}
}

/* Received (or unsent) message: the reply right (msgh_remote_port) and
 * every descriptor's rights and memory. msgh_local_port holds no right:
 * in a received message it names the receive right the message came
 * through (as OSF's and XNU's mach_msg_destroy). */
void ipc_mach_msg_destroy(ipc_space_t space, mach_msg_header_t *msg)
{
	ipc_init();
	if (msg == NULL || space == NULL)
		return;
	/* A kobject handler's message whose OOL data is lent: not ours. */
	bool lent = msg == ipc_lent_delivery;
	mach_msg_bits_t bits = msg->msgh_bits;
	ipc_lock();
	destroy_name(space, msg->msgh_remote_port, MACH_MSGH_BITS_REMOTE(bits));
	ipc_unlock();
	if (!(bits & MACH_MSGH_BITS_COMPLEX) || msg->msgh_size < sizeof(mach_msg_base_t))
		return;

	const unsigned char *base = (const unsigned char *)msg;
	mach_msg_size_t size = msg->msgh_size;
	mach_msg_body_t body;
	memcpy(&body, base + sizeof(mach_msg_header_t), sizeof body);
	mach_msg_size_t off = sizeof(mach_msg_base_t);
	for (mach_msg_size_t i = 0; i < body.msgh_descriptor_count; i++) {
		if (size - off < sizeof(mach_msg_port_descriptor_t))
			break;
		const unsigned char *d = base + off;
		mach_msg_type_descriptor_t td;
		memcpy(&td, d, sizeof td);
		if (td.type == MACH_MSG_PORT_DESCRIPTOR) {
			mach_msg_port_descriptor_t pd;
			memcpy(&pd, d, sizeof pd);
			ipc_lock();
			destroy_name(space, pd.name, pd.disposition);
			ipc_unlock();
			off += sizeof pd;
			continue;
		}
		if (td.type > MACH_MSG_OOL_VOLATILE_DESCRIPTOR ||
		    size - off < sizeof(mach_msg_ool_descriptor_t))
			break;
		if (td.type == MACH_MSG_OOL_PORTS_DESCRIPTOR) {
			mach_msg_ool_ports_descriptor_t od;
			memcpy(&od, d, sizeof od);
			const mach_port_name_t *names = od.address;
			if (names != NULL) {
				ipc_lock();
				for (mach_msg_size_t j = 0; j < od.count; j++)
					destroy_name(space, names[j], od.disposition);
				ipc_unlock();
				ipc_ool_release(od.address, (size_t)od.count * sizeof *names);
			}
		} else {
			mach_msg_ool_descriptor_t od;
			memcpy(&od, d, sizeof od);
			if (!lent)
				ipc_ool_release(od.address, od.size);
		}
		off += sizeof(mach_msg_ool_descriptor_t);
	}
}

boolean_t ipc_msg_ool_lent(const mach_msg_header_t *msg)
{
	return msg != NULL && msg == ipc_lent_delivery;
}

void mach_msg_destroy(mach_msg_header_t *msg)
{
	ipc_mach_msg_destroy(ipc_space_task(), msg);
}
