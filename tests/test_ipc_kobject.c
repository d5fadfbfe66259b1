/* The kernel side of the IPC layer: the kernel space, kobject handlers,
 * ipc_right_transfer and ipc_port_same (src/ipc/ipc_kernel.h). */
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>
#include <mach/mach.h>
#include "../src/ipc/ipc_kernel.h"
#include "harness.h"
#include "lone_region.h"

struct seen {
	int calls;
	pthread_t thread;
	mach_msg_header_t header;
	mach_msg_seqno_trailer_t trailer;
	mach_port_t carried;            /* a port descriptor's name, if any */
	kern_return_t type_kr;          /* an IPC call made from the handler */
	boolean_t keep;                 /* keep the rights (else destroy) */
};

struct port_msg {
	mach_msg_header_t header;
	mach_msg_body_t body;
	mach_msg_port_descriptor_t port;
};

static void record_handler(void *context, mach_msg_header_t *msg, mach_msg_size_t size)
{
	struct seen *seen = context;
	seen->calls++;
	seen->thread = pthread_self();
	seen->header = *msg;
	memcpy(&seen->trailer, (char *)msg + round_msg(size), sizeof seen->trailer);
	if (msg->msgh_bits & MACH_MSGH_BITS_COMPLEX)
		seen->carried = ((struct port_msg *)msg)->port.name;
	/* No IPC lock is held here: calls into IPC work. */
	mach_port_type_t type;
	seen->type_kr = ipc_port_type(ipc_space_kernel(), msg->msgh_local_port, &type);
	if (!seen->keep)
		ipc_mach_msg_destroy(ipc_space_kernel(), msg);
}

/* A receive right in the kernel space with a handler, and a send right
 * to it in the task space. */
static mach_port_t make_kobject(struct seen *seen, mach_port_t *task_name)
{
	mach_port_t kname = MACH_PORT_NULL;
	REQUIRE(ipc_port_allocate(ipc_space_kernel(), MACH_PORT_RIGHT_RECEIVE, &kname) == KERN_SUCCESS);
	REQUIRE(ipc_port_set_kobject(ipc_space_kernel(), kname, record_handler, seen) == KERN_SUCCESS);
	REQUIRE(ipc_right_transfer(ipc_space_kernel(), kname, MACH_MSG_TYPE_MAKE_SEND,
	        ipc_space_task(), task_name) == KERN_SUCCESS);
	return kname;
}

static mach_msg_return_t send_simple(mach_port_t dest, mach_msg_id_t id)
{
	mach_msg_header_t h = { 0 };
	h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0);
	h.msgh_remote_port = dest;
	h.msgh_id = id;
	return mach_msg(&h, MACH_SEND_MSG, sizeof h, 0, MACH_PORT_NULL, 0, 0);
}

TEST(spaces_are_distinct)
{
	CHECK(ipc_space_task() != NULL);
	CHECK(ipc_space_kernel() != NULL);
	CHECK(ipc_space_task() != ipc_space_kernel());
	mach_port_t kname;
	CHECK_EQ(ipc_port_allocate(ipc_space_kernel(), MACH_PORT_RIGHT_RECEIVE, &kname), KERN_SUCCESS);
	/* A kernel name means nothing in the task space. */
	mach_port_type_t type;
	CHECK_EQ(mach_port_type(mach_task_self(), kname, &type), KERN_INVALID_NAME);
	CHECK_EQ(ipc_port_type(ipc_space_kernel(), kname, &type), KERN_SUCCESS);
	CHECK_EQ(type, MACH_PORT_TYPE_RECEIVE);
	CHECK_EQ(ipc_port_destroy(ipc_space_kernel(), kname), KERN_SUCCESS);
}

TEST(handler_runs_in_sender_thread)
{
	struct seen seen = { 0 };
	mach_port_t tname;
	mach_port_t kname = make_kobject(&seen, &tname);
	for (int i = 0; i < 3; i++)
		CHECK_EQ(send_simple(tname, 500 + i), MACH_MSG_SUCCESS);
	CHECK_EQ(seen.calls, 3);
	CHECK(pthread_equal(seen.thread, pthread_self()));
	CHECK_EQ(seen.header.msgh_id, 502);
	CHECK_EQ(seen.header.msgh_local_port, kname);
	CHECK_EQ(seen.trailer.msgh_seqno, 2);
	CHECK_EQ(seen.type_kr, KERN_SUCCESS);
	mach_port_deallocate(mach_task_self(), tname);
	CHECK_EQ(ipc_port_destroy(ipc_space_kernel(), kname), KERN_SUCCESS);
}

TEST(rights_arrive_in_kernel_space)
{
	struct seen seen = { .keep = TRUE };
	mach_port_t tname;
	mach_port_t kname = make_kobject(&seen, &tname);
	mach_port_t mine;
	CHECK_EQ(mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE, &mine), KERN_SUCCESS);

	mach_port_t first = MACH_PORT_NULL;
	for (int i = 0; i < 2; i++) {
		struct port_msg m;
		memset(&m, 0, sizeof m);
		m.header.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0) | MACH_MSGH_BITS_COMPLEX;
		m.header.msgh_remote_port = tname;
		m.body.msgh_descriptor_count = 1;
		m.port.name = mine;
		m.port.disposition = MACH_MSG_TYPE_MAKE_SEND;
		m.port.type = MACH_MSG_PORT_DESCRIPTOR;
		CHECK_EQ(mach_msg(&m.header, MACH_SEND_MSG, sizeof m, 0, 0, 0, 0), MACH_MSG_SUCCESS);
		if (i == 0)
			first = seen.carried;
	}
	/* Same port, same kernel name, two user references. */
	CHECK(MACH_PORT_VALID(first));
	CHECK_EQ(seen.carried, first);
	CHECK(ipc_port_same(ipc_space_kernel(), first, ipc_space_task(), mine));
	CHECK(!ipc_port_same(ipc_space_kernel(), first, ipc_space_task(), tname));
	mach_port_urefs_t refs;
	CHECK_EQ(ipc_port_get_refs(ipc_space_kernel(), first, MACH_PORT_RIGHT_SEND, &refs), KERN_SUCCESS);
	CHECK_EQ(refs, 2);

	/* The port dies: the kernel's name turns dead. */
	CHECK_EQ(mach_port_destroy(mach_task_self(), mine), KERN_SUCCESS);
	CHECK(!ipc_port_same(ipc_space_kernel(), first, ipc_space_task(), mine));
	mach_port_type_t type;
	CHECK_EQ(ipc_port_type(ipc_space_kernel(), first, &type), KERN_SUCCESS);
	CHECK_EQ(type, MACH_PORT_TYPE_DEAD_NAME);
	CHECK_EQ(ipc_port_mod_refs(ipc_space_kernel(), first, MACH_PORT_RIGHT_DEAD_NAME, -2), KERN_SUCCESS);
	mach_port_deallocate(mach_task_self(), tname);
	ipc_port_destroy(ipc_space_kernel(), kname);
}

static void reply_handler(void *context, mach_msg_header_t *msg, mach_msg_size_t size)
{
	(void)context;
	(void)size;
	mig_reply_error_t r;
	memset(&r, 0, sizeof r);
	r.Head.msgh_bits = MACH_MSGH_BITS(MACH_MSGH_BITS_REMOTE(msg->msgh_bits), 0);
	r.Head.msgh_size = sizeof r;
	r.Head.msgh_remote_port = msg->msgh_remote_port;
	r.Head.msgh_id = msg->msgh_id + 100;
	r.NDR = NDR_record;
	r.RetCode = 1234;
	if (ipc_mach_msg(ipc_space_kernel(), &r.Head, MACH_SEND_MSG, sizeof r, 0,
	        MACH_PORT_NULL, 0, MACH_PORT_NULL) != MACH_MSG_SUCCESS)
		ipc_mach_msg_destroy(ipc_space_kernel(), &r.Head);
}

TEST(rpc_to_kobject)
{
	mach_port_t kname, tname;
	CHECK_EQ(ipc_port_allocate(ipc_space_kernel(), MACH_PORT_RIGHT_RECEIVE, &kname), KERN_SUCCESS);
	CHECK_EQ(ipc_port_set_kobject(ipc_space_kernel(), kname, reply_handler, NULL), KERN_SUCCESS);
	CHECK_EQ(ipc_right_transfer(ipc_space_kernel(), kname, MACH_MSG_TYPE_MAKE_SEND,
	        ipc_space_task(), &tname), KERN_SUCCESS);
	union { mach_msg_header_t h; struct { mig_reply_error_t r; mach_msg_max_trailer_t t; } rep; } u;
	memset(&u, 0, sizeof u);
	u.h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, MACH_MSG_TYPE_MAKE_SEND_ONCE);
	u.h.msgh_remote_port = tname;
	u.h.msgh_local_port = mig_get_reply_port();
	u.h.msgh_id = 77;
	CHECK_EQ(mach_msg(&u.h, MACH_SEND_MSG | MACH_RCV_MSG | MACH_RCV_TIMEOUT, sizeof u.h,
	        sizeof u, mig_get_reply_port(), 0, 0), MACH_MSG_SUCCESS);
	CHECK_EQ(u.rep.r.Head.msgh_id, 177);
	CHECK_EQ(u.rep.r.RetCode, 1234);
	/* The task's own special ports answer MIG_BAD_ID. */
	memset(&u, 0, sizeof u);
	u.h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, MACH_MSG_TYPE_MAKE_SEND_ONCE);
	u.h.msgh_remote_port = mach_task_self();
	u.h.msgh_local_port = mig_get_reply_port();
	u.h.msgh_id = 3400;
	CHECK_EQ(mach_msg(&u.h, MACH_SEND_MSG | MACH_RCV_MSG | MACH_RCV_TIMEOUT, sizeof u.h,
	        sizeof u, mig_get_reply_port(), 0, 0), MACH_MSG_SUCCESS);
	CHECK_EQ(u.rep.r.RetCode, MIG_BAD_ID);
	mach_port_deallocate(mach_task_self(), tname);
	ipc_port_destroy(ipc_space_kernel(), kname);
}

TEST(handler_dropped_when_receive_right_leaves)
{
	struct seen seen = { 0 };
	mach_port_t tname;
	mach_port_t kname = make_kobject(&seen, &tname);
	CHECK_EQ(send_simple(tname, 1), MACH_MSG_SUCCESS);
	CHECK_EQ(seen.calls, 1);

	/* The kernel moves the receive right to the task (as terminate does). */
	mach_port_t moved;
	CHECK_EQ(ipc_right_transfer(ipc_space_kernel(), kname, MACH_MSG_TYPE_MOVE_RECEIVE,
	        ipc_space_task(), &moved), KERN_SUCCESS);
	CHECK_EQ(moved, tname);  /* joins the task's send right under its name */
	CHECK_EQ(send_simple(tname, 2), MACH_MSG_SUCCESS);
	CHECK_EQ(seen.calls, 1);
	struct { mach_msg_header_t h; mach_msg_seqno_trailer_t t; } r;
	CHECK_EQ(mach_msg(&r.h, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof r, tname, 0, 0),
	         MACH_MSG_SUCCESS);
	CHECK_EQ(r.h.msgh_id, 2);
	CHECK_EQ(r.t.msgh_seqno, 0);   /* seqno restarts with the move */
	mach_port_type_t type;
	CHECK_EQ(ipc_port_type(ipc_space_kernel(), kname, &type), KERN_INVALID_NAME);
	mach_port_destroy(mach_task_self(), tname);
}

TEST(handler_dropped_when_moved_in_message)
{
	struct seen seen = { 0 };
	mach_port_t tname;
	mach_port_t kname = make_kobject(&seen, &tname);
	mach_port_t inbox;
	CHECK_EQ(mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE, &inbox), KERN_SUCCESS);
	mach_port_t inbox_k;
	CHECK_EQ(ipc_right_transfer(ipc_space_task(), inbox, MACH_MSG_TYPE_MAKE_SEND,
	        ipc_space_kernel(), &inbox_k), KERN_SUCCESS);

	struct port_msg m;
	memset(&m, 0, sizeof m);
	m.header.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_MOVE_SEND, 0) | MACH_MSGH_BITS_COMPLEX;
	m.header.msgh_remote_port = inbox_k;
	m.body.msgh_descriptor_count = 1;
	m.port.name = kname;
	m.port.disposition = MACH_MSG_TYPE_MOVE_RECEIVE;
	m.port.type = MACH_MSG_PORT_DESCRIPTOR;
	CHECK_EQ(ipc_mach_msg(ipc_space_kernel(), &m.header, MACH_SEND_MSG, sizeof m, 0, 0, 0, 0),
	         MACH_MSG_SUCCESS);
	/* In transit: sends queue with it rather than reach the handler. */
	CHECK_EQ(send_simple(tname, 3), MACH_MSG_SUCCESS);
	CHECK_EQ(seen.calls, 0);
	struct { struct port_msg m; mach_msg_seqno_trailer_t t; } r;
	CHECK_EQ(mach_msg(&r.m.header, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof r, inbox, 0, 0),
	         MACH_MSG_SUCCESS);
	CHECK_EQ(r.m.port.name, tname);
	CHECK_EQ(r.m.port.disposition, MACH_MSG_TYPE_PORT_RECEIVE);
	struct { mach_msg_header_t h; mach_msg_seqno_trailer_t t; } r2;
	CHECK_EQ(mach_msg(&r2.h, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof r2, tname, 0, 0),
	         MACH_MSG_SUCCESS);
	CHECK_EQ(r2.h.msgh_id, 3);
	CHECK_EQ(seen.calls, 0);
	mach_port_destroy(mach_task_self(), tname);
	mach_port_destroy(mach_task_self(), inbox);
}

TEST(transfer_errors)
{
	mach_port_t name, out;
	CHECK_EQ(ipc_right_transfer(ipc_space_task(), 0x12345678, MACH_MSG_TYPE_COPY_SEND,
	        ipc_space_kernel(), &out), KERN_INVALID_NAME);
	CHECK_EQ(ipc_right_transfer(ipc_space_task(), MACH_PORT_NULL, MACH_MSG_TYPE_COPY_SEND,
	        ipc_space_kernel(), &out), KERN_INVALID_NAME);
	CHECK_EQ(mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE, &name), KERN_SUCCESS);
	CHECK_EQ(ipc_right_transfer(ipc_space_task(), name, MACH_MSG_TYPE_COPY_SEND,
	        ipc_space_kernel(), &out), KERN_INVALID_RIGHT);
	CHECK_EQ(ipc_right_transfer(ipc_space_task(), name, 99, ipc_space_kernel(), &out),
	         KERN_INVALID_VALUE);
	CHECK_EQ(ipc_right_transfer(ipc_space_task(), name, MACH_MSG_TYPE_MAKE_SEND,
	        ipc_space_kernel(), &out), KERN_SUCCESS);
	/* Copy it back: the task's name for the port is reused. */
	mach_port_t back;
	CHECK_EQ(ipc_right_transfer(ipc_space_kernel(), out, MACH_MSG_TYPE_MOVE_SEND,
	        ipc_space_task(), &back), KERN_SUCCESS);
	CHECK_EQ(back, name);
	mach_port_t dead;
	CHECK_EQ(ipc_right_transfer(ipc_space_task(), name, MACH_MSG_TYPE_MAKE_SEND,
	        ipc_space_kernel(), &dead), KERN_SUCCESS);
	CHECK_EQ(mach_port_destroy(mach_task_self(), name), KERN_SUCCESS);
	CHECK_EQ(ipc_right_transfer(ipc_space_kernel(), dead, MACH_MSG_TYPE_COPY_SEND,
	        ipc_space_task(), &out), KERN_INVALID_CAPABILITY);
	ipc_port_deallocate(ipc_space_kernel(), dead);
}

TEST(set_kobject_errors)
{
	mach_port_t name, kname;
	CHECK_EQ(mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE, &name), KERN_SUCCESS);
	CHECK_EQ(ipc_port_set_kobject(ipc_space_task(), name, record_handler, NULL), KERN_INVALID_RIGHT);
	CHECK_EQ(ipc_port_set_kobject(ipc_space_kernel(), 0x4242, record_handler, NULL), KERN_INVALID_NAME);
	CHECK_EQ(ipc_right_transfer(ipc_space_task(), name, MACH_MSG_TYPE_MAKE_SEND,
	        ipc_space_kernel(), &kname), KERN_SUCCESS);
	CHECK_EQ(ipc_port_set_kobject(ipc_space_kernel(), kname, record_handler, NULL), KERN_INVALID_RIGHT);
	ipc_port_deallocate(ipc_space_kernel(), kname);
	mach_port_destroy(mach_task_self(), name);
}

TEST(kernel_senders_ignore_queue_limit)
{
	mach_port_t port, kname;
	CHECK_EQ(mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE, &port), KERN_SUCCESS);
	mach_port_limits_t limits = { 1 };
	CHECK_EQ(mach_port_set_attributes(mach_task_self(), port, MACH_PORT_LIMITS_INFO,
	        (mach_port_info_t)&limits, MACH_PORT_LIMITS_INFO_COUNT), KERN_SUCCESS);
	CHECK_EQ(ipc_right_transfer(ipc_space_task(), port, MACH_MSG_TYPE_MAKE_SEND,
	        ipc_space_kernel(), &kname), KERN_SUCCESS);
	for (int i = 0; i < 10; i++) {
		mach_msg_header_t h = { 0 };
		h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0);
		h.msgh_remote_port = kname;
		CHECK_EQ(ipc_mach_msg(ipc_space_kernel(), &h, MACH_SEND_MSG | MACH_SEND_TIMEOUT,
		        sizeof h, 0, 0, 0, 0), MACH_MSG_SUCCESS);
	}
	/* A task sender is held to the limit. */
	mach_port_t tsend;
	CHECK_EQ(ipc_right_transfer(ipc_space_task(), port, MACH_MSG_TYPE_MAKE_SEND,
	        ipc_space_task(), &tsend), KERN_SUCCESS);
	mach_msg_header_t h = { 0 };
	h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0);
	h.msgh_remote_port = tsend;
	CHECK_EQ(mach_msg(&h, MACH_SEND_MSG | MACH_SEND_TIMEOUT, sizeof h, 0, 0, 0, 0),
	         MACH_SEND_TIMED_OUT);
	mach_port_status_t status;
	mach_msg_type_number_t count = MACH_PORT_RECEIVE_STATUS_COUNT;
	CHECK_EQ(mach_port_get_attributes(mach_task_self(), port, MACH_PORT_RECEIVE_STATUS,
	        (mach_port_info_t)&status, &count), KERN_SUCCESS);
	CHECK_EQ(status.mps_msgcount, 10);
	ipc_port_deallocate(ipc_space_kernel(), kname);
	mach_port_destroy(mach_task_self(), port);
}


/* A handler sees out-of-line data where the sender keeps it (lent, not
 * copied), and the data stays the sender's unless it asked to deallocate. */
struct ool_seen {
	const void *address;
	mach_msg_size_t size;
	char first;
	boolean_t lent;
};

struct ool_msg {
	mach_msg_header_t header;
	mach_msg_body_t body;
	mach_msg_ool_descriptor_t data;
};

static void ool_handler(void *context, mach_msg_header_t *msg, mach_msg_size_t size)
{
	(void)size;
	struct ool_seen *seen = context;
	struct ool_msg *m = (struct ool_msg *)msg;
	seen->address = m->data.address;
	seen->size = m->data.size;
	seen->first = m->data.address ? *(const char *)m->data.address : 0;
	seen->lent = ipc_msg_ool_lent(msg);
	ipc_mach_msg_destroy(ipc_space_kernel(), msg);
}

static mach_msg_return_t send_ool(mach_port_t dest, void *data, mach_msg_size_t size,
        boolean_t deallocate)
{
	struct ool_msg m;
	memset(&m, 0, sizeof m);
	m.header.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0) | MACH_MSGH_BITS_COMPLEX;
	m.header.msgh_size = sizeof m;
	m.header.msgh_remote_port = dest;
	m.body.msgh_descriptor_count = 1;
	m.data.address = data;
	m.data.size = size;
	m.data.deallocate = deallocate;
	m.data.copy = MACH_MSG_VIRTUAL_COPY;
	m.data.type = MACH_MSG_OOL_DESCRIPTOR;
	return mach_msg(&m.header, MACH_SEND_MSG, sizeof m, 0, MACH_PORT_NULL, 0, 0);
}

TEST(ool_lent_to_handler)
{
	struct ool_seen seen = { 0 };
	mach_port_t kname, tname;
	REQUIRE(ipc_port_allocate(ipc_space_kernel(), MACH_PORT_RIGHT_RECEIVE, &kname) == KERN_SUCCESS);
	REQUIRE(ipc_port_set_kobject(ipc_space_kernel(), kname, ool_handler, &seen) == KERN_SUCCESS);
	REQUIRE(ipc_right_transfer(ipc_space_kernel(), kname, MACH_MSG_TYPE_MAKE_SEND,
	        ipc_space_task(), &tname) == KERN_SUCCESS);

	/* Freed by a send below, then checked to be gone: a lone region. */
	vm_address_t page = lone_region_allocate(4096);
	REQUIRE(page != 0);
	((char *)page)[0] = 'k';
	/* Kept by the sender: the handler reads it in place, and it survives. */
	CHECK_EQ(send_ool(tname, (void *)page, 100, FALSE), MACH_MSG_SUCCESS);
	CHECK(seen.address == (void *)page);
	CHECK_EQ(seen.size, 100);
	CHECK_EQ(seen.first, 'k');
	CHECK(seen.lent);
	((char *)page)[1] = 'x';          /* still mapped: would fault otherwise */
	CHECK_EQ(((char *)page)[0], 'k');

	/* Deallocated by the send: read in place, then gone from the task. */
	CHECK_EQ(send_ool(tname, (void *)page, 4096, TRUE), MACH_MSG_SUCCESS);
	CHECK(seen.address == (void *)page);
	CHECK_EQ(seen.first, 'k');
	CHECK(mincore((void *)page, 4096, &(unsigned char){0}) != 0);

	/* Unmapped data is refused at the send, the handler never runs. */
	seen.address = NULL;
	CHECK_EQ(send_ool(tname, (void *)page, 4096, FALSE), MACH_SEND_INVALID_MEMORY);
	CHECK(seen.address == NULL);

	CHECK_EQ(mach_port_deallocate(mach_task_self(), tname), KERN_SUCCESS);
	CHECK_EQ(ipc_port_destroy(ipc_space_kernel(), kname), KERN_SUCCESS);
}

int main(void)
{
	RUN(spaces_are_distinct);
	RUN(handler_runs_in_sender_thread);
	RUN(rights_arrive_in_kernel_space);
	RUN(rpc_to_kobject);
	RUN(handler_dropped_when_receive_right_leaves);
	RUN(handler_dropped_when_moved_in_message);
	RUN(transfer_errors);
	RUN(set_kobject_errors);
	RUN(kernel_senders_ignore_queue_limit);
	RUN(ool_lent_to_handler);
	return harness_done();
}
