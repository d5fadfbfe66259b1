/* Quick end-to-end check of the IPC core: rights, a simple message, an
 * RPC between two threads, and a complex message (ports, OOL memory). */
#include <pthread.h>
#include <string.h>
#include <mach/mach.h>
#include "harness.h"

static mach_port_t new_port_with_send(void)
{
	mach_port_t port = MACH_PORT_NULL;
	REQUIRE(mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE, &port) == KERN_SUCCESS);
	REQUIRE(mach_port_insert_right(mach_task_self(), port, port,
	        MACH_MSG_TYPE_MAKE_SEND) == KERN_SUCCESS);
	return port;
}

TEST(rights_basics)
{
	mach_port_t port = new_port_with_send();
	mach_port_type_t type = 0;
	CHECK_EQ(mach_port_type(mach_task_self(), port, &type), KERN_SUCCESS);
	CHECK_EQ(type, MACH_PORT_TYPE_SEND_RECEIVE);
	mach_port_urefs_t refs = 0;
	CHECK_EQ(mach_port_get_refs(mach_task_self(), port, MACH_PORT_RIGHT_SEND, &refs), KERN_SUCCESS);
	CHECK_EQ(refs, 1);
	CHECK_EQ(mach_port_mod_refs(mach_task_self(), port, MACH_PORT_RIGHT_SEND, 2), KERN_SUCCESS);
	CHECK_EQ(mach_port_get_refs(mach_task_self(), port, MACH_PORT_RIGHT_SEND, &refs), KERN_SUCCESS);
	CHECK_EQ(refs, 3);
	CHECK_EQ(mach_port_deallocate(mach_task_self(), port), KERN_SUCCESS);
	CHECK_EQ(mach_port_mod_refs(mach_task_self(), port, MACH_PORT_RIGHT_SEND, -2), KERN_SUCCESS);
	CHECK_EQ(mach_port_type(mach_task_self(), port, &type), KERN_SUCCESS);
	CHECK_EQ(type, MACH_PORT_TYPE_RECEIVE);
	CHECK_EQ(mach_port_deallocate(mach_task_self(), port), KERN_INVALID_RIGHT);
	CHECK_EQ(mach_port_mod_refs(mach_task_self(), port, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
	CHECK_EQ(mach_port_type(mach_task_self(), port, &type), KERN_INVALID_NAME);
	CHECK_EQ(mach_port_allocate(mach_task_self() + 1, MACH_PORT_RIGHT_RECEIVE, &port),
	         KERN_INVALID_TASK);
}

struct simple_msg {
	mach_msg_header_t header;
	int payload;
};

struct simple_rcv {
	struct simple_msg msg;
	mach_msg_security_trailer_t trailer;
};

TEST(simple_send_receive)
{
	mach_port_t port = new_port_with_send();
	for (int i = 0; i < 3; i++) {
		struct simple_msg m = { 0 };
		m.header.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0);
		m.header.msgh_remote_port = port;
		m.header.msgh_id = 1000 + i;
		m.payload = 42 + i;
		CHECK_EQ(mach_msg(&m.header, MACH_SEND_MSG, sizeof m, 0, MACH_PORT_NULL, 0, 0),
		         MACH_MSG_SUCCESS);
	}
	for (int i = 0; i < 3; i++) {
		struct simple_rcv r;
		memset(&r, 0xa5, sizeof r);
		CHECK_EQ(mach_msg(&r.msg.header,
		        MACH_RCV_MSG | MACH_RCV_TRAILER_ELEMENTS(MACH_RCV_TRAILER_SENDER),
		        0, sizeof r, port, 0, 0), MACH_MSG_SUCCESS);
		CHECK_EQ(r.msg.header.msgh_id, 1000 + i);
		CHECK_EQ(r.msg.header.msgh_size, sizeof r.msg);
		CHECK_EQ(r.msg.header.msgh_local_port, port);
		CHECK_EQ(r.msg.header.msgh_remote_port, MACH_PORT_NULL);
		CHECK_EQ(MACH_MSGH_BITS_LOCAL(r.msg.header.msgh_bits), MACH_MSG_TYPE_PORT_SEND);
		CHECK_EQ(r.msg.payload, 42 + i);
		CHECK_EQ(r.trailer.msgh_seqno, (mach_port_seqno_t)i);
		CHECK_EQ(r.trailer.msgh_trailer_size, sizeof(mach_msg_security_trailer_t));
	}
	struct simple_rcv r;
	CHECK_EQ(mach_msg(&r.msg.header, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof r, port, 0, 0),
	         MACH_RCV_TIMED_OUT);
	mach_port_urefs_t refs = 0;
	CHECK_EQ(mach_port_get_refs(mach_task_self(), port, MACH_PORT_RIGHT_SEND, &refs), KERN_SUCCESS);
	CHECK_EQ(refs, 1);
	CHECK_EQ(mach_port_destroy(mach_task_self(), port), KERN_SUCCESS);
}

static void *echo_server(void *arg)
{
	mach_port_t port = (mach_port_t)(uintptr_t)arg;
	for (;;) {
		struct simple_rcv r;
		if (mach_msg(&r.msg.header, MACH_RCV_MSG, 0, sizeof r, port, 0, 0) != MACH_MSG_SUCCESS)
			return NULL;
		struct simple_msg reply = { 0 };
		reply.header.msgh_bits = MACH_MSGH_BITS(MACH_MSGH_BITS_REMOTE(r.msg.header.msgh_bits), 0);
		reply.header.msgh_remote_port = r.msg.header.msgh_remote_port;
		reply.header.msgh_id = r.msg.header.msgh_id + 100;
		reply.payload = r.msg.payload * 2;
		mach_msg(&reply.header, MACH_SEND_MSG, sizeof reply, 0, MACH_PORT_NULL, 0, 0);
	}
}

TEST(rpc_between_threads)
{
	mach_port_t server = new_port_with_send();
	pthread_t thread;
	pthread_create(&thread, NULL, echo_server, (void *)(uintptr_t)server);
	mach_port_t reply = mig_get_reply_port();
	CHECK(MACH_PORT_VALID(reply));
	for (int i = 0; i < 100; i++) {
		union { struct simple_msg m; struct simple_rcv r; } u;
		memset(&u, 0, sizeof u);
		u.m.header.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND,
		                                      MACH_MSG_TYPE_MAKE_SEND_ONCE);
		u.m.header.msgh_remote_port = server;
		u.m.header.msgh_local_port = reply;
		u.m.header.msgh_id = 7;
		u.m.payload = i;
		CHECK_EQ(mach_msg(&u.m.header, MACH_SEND_MSG | MACH_RCV_MSG, sizeof u.m, sizeof u,
		        reply, 0, 0), MACH_MSG_SUCCESS);
		CHECK_EQ(u.r.msg.header.msgh_id, 107);
		CHECK_EQ(u.r.msg.payload, 2 * i);
		CHECK_EQ(MACH_MSGH_BITS_LOCAL(u.r.msg.header.msgh_bits), MACH_MSG_TYPE_PORT_SEND_ONCE);
	}
	/* Destroying the receive right ends the server's receive. */
	CHECK_EQ(mach_port_destroy(mach_task_self(), server), KERN_SUCCESS);
	pthread_join(thread, NULL);
	/* The reply port saw no leftover send-once rights. */
	mach_port_status_t status;
	mach_msg_type_number_t count = MACH_PORT_RECEIVE_STATUS_COUNT;
	CHECK_EQ(mach_port_get_attributes(mach_task_self(), reply, MACH_PORT_RECEIVE_STATUS,
	        (mach_port_info_t)&status, &count), KERN_SUCCESS);
	CHECK_EQ(status.mps_sorights, 0);
	CHECK_EQ(status.mps_msgcount, 0);
}

struct complex_msg {
	mach_msg_header_t header;
	mach_msg_body_t body;
	mach_msg_port_descriptor_t moved;      /* a receive right with a message */
	mach_msg_port_descriptor_t send;
	mach_msg_ool_descriptor_t data;
	mach_msg_ool_ports_descriptor_t ports;
};

TEST(complex_message)
{
	mach_port_t dest = new_port_with_send();
	mach_port_t carried = new_port_with_send();
	mach_port_t other = new_port_with_send();

	/* A message waits in `carried` and travels with its receive right. */
	struct simple_msg inner = { 0 };
	inner.header.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0);
	inner.header.msgh_remote_port = carried;
	inner.header.msgh_id = 55;
	CHECK_EQ(mach_msg(&inner.header, MACH_SEND_MSG, sizeof inner, 0, 0, 0, 0), MACH_MSG_SUCCESS);

	static char text[] = "out-of-line bytes";
	mach_port_t array[3] = { other, MACH_PORT_NULL, other };
	struct complex_msg m;
	memset(&m, 0, sizeof m);
	m.header.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0) | MACH_MSGH_BITS_COMPLEX;
	m.header.msgh_remote_port = dest;
	m.header.msgh_id = 9;
	m.body.msgh_descriptor_count = 4;
	m.moved.name = carried;
	m.moved.disposition = MACH_MSG_TYPE_MOVE_RECEIVE;
	m.moved.type = MACH_MSG_PORT_DESCRIPTOR;
	m.send.name = other;
	m.send.disposition = MACH_MSG_TYPE_MAKE_SEND;
	m.send.type = MACH_MSG_PORT_DESCRIPTOR;
	m.data.address = text;
	m.data.size = sizeof text;
	m.data.copy = MACH_MSG_VIRTUAL_COPY;
	m.data.type = MACH_MSG_OOL_DESCRIPTOR;
	m.ports.address = array;
	m.ports.count = 3;
	m.ports.disposition = MACH_MSG_TYPE_COPY_SEND;
	m.ports.copy = MACH_MSG_PHYSICAL_COPY;
	m.ports.type = MACH_MSG_OOL_PORTS_DESCRIPTOR;
	CHECK_EQ(mach_msg(&m.header, MACH_SEND_MSG, sizeof m, 0, 0, 0, 0), MACH_MSG_SUCCESS);

	/* The receive right left: `carried` now names only its send right. */
	mach_port_type_t type;
	CHECK_EQ(mach_port_type(mach_task_self(), carried, &type), KERN_SUCCESS);
	CHECK_EQ(type, MACH_PORT_TYPE_SEND);

	struct { struct complex_msg m; mach_msg_seqno_trailer_t t; } r;
	memset(&r, 0, sizeof r);
	CHECK_EQ(mach_msg(&r.m.header, MACH_RCV_MSG, 0, sizeof r, dest, 0, 0), MACH_MSG_SUCCESS);
	CHECK(r.m.header.msgh_bits & MACH_MSGH_BITS_COMPLEX);
	CHECK_EQ(r.m.body.msgh_descriptor_count, 4);
	/* Back in the same space: the receive right rejoins its send right. */
	CHECK_EQ(r.m.moved.name, carried);
	CHECK_EQ(r.m.moved.disposition, MACH_MSG_TYPE_PORT_RECEIVE);
	CHECK_EQ(mach_port_type(mach_task_self(), carried, &type), KERN_SUCCESS);
	CHECK_EQ(type, MACH_PORT_TYPE_SEND_RECEIVE);
	CHECK_EQ(r.m.send.name, other);
	CHECK_EQ(r.m.send.disposition, MACH_MSG_TYPE_PORT_SEND);
	CHECK(r.m.data.address != NULL && r.m.data.address != (void *)text);
	CHECK_EQ(r.m.data.size, sizeof text);
	CHECK(memcmp(r.m.data.address, text, sizeof text) == 0);
	CHECK_EQ(r.m.ports.count, 3);
	mach_port_t *got = r.m.ports.address;
	CHECK(got[0] == other && got[1] == MACH_PORT_NULL && got[2] == other);
	mach_port_urefs_t refs = 0;
	CHECK_EQ(mach_port_get_refs(mach_task_self(), other, MACH_PORT_RIGHT_SEND, &refs), KERN_SUCCESS);
	CHECK_EQ(refs, 4);   /* its own, MAKE_SEND, two in the array */

	/* The queued message came along, seqno reset with the move. */
	struct simple_rcv ir;
	CHECK_EQ(mach_msg(&ir.msg.header, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof ir,
	        carried, 0, 0), MACH_MSG_SUCCESS);
	CHECK_EQ(ir.msg.header.msgh_id, 55);
	CHECK_EQ(ir.trailer.msgh_seqno, 0);

	mach_msg_destroy(&r.m.header);  /* the send rights and OOL regions */
	CHECK_EQ(mach_port_get_refs(mach_task_self(), other, MACH_PORT_RIGHT_SEND, &refs), KERN_SUCCESS);
	CHECK_EQ(refs, 1);
	CHECK_EQ(mach_port_type(mach_task_self(), carried, &type), KERN_SUCCESS);
	CHECK_EQ(type, MACH_PORT_TYPE_DEAD_NAME);  /* its receive right was destroyed */
	mach_port_deallocate(mach_task_self(), carried);
	mach_port_destroy(mach_task_self(), dest);
	mach_port_destroy(mach_task_self(), other);
}

static mach_msg_return_t send_receive_right(mach_port_t dest,
        mach_msg_type_name_t dest_disposition, mach_port_t carried)
{
	struct {
		mach_msg_header_t header;
		mach_msg_body_t body;
		mach_msg_port_descriptor_t port;
	} m;
	memset(&m, 0, sizeof m);
	m.header.msgh_bits = MACH_MSGH_BITS(dest_disposition, 0) | MACH_MSGH_BITS_COMPLEX;
	m.header.msgh_remote_port = dest;
	m.body.msgh_descriptor_count = 1;
	m.port.name = carried;
	m.port.disposition = MACH_MSG_TYPE_MOVE_RECEIVE;
	m.port.type = MACH_MSG_PORT_DESCRIPTOR;
	return mach_msg(&m.header, MACH_SEND_MSG, sizeof m, 0, 0, 0, 0);
}

TEST(receive_right_loops_rejected)
{
	mach_port_t a, b;
	mach_port_type_t type;
	CHECK_EQ(mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE, &a), KERN_SUCCESS);
	CHECK_EQ(mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE, &b), KERN_SUCCESS);
	/* Into its own queue. */
	CHECK_EQ(send_receive_right(a, MACH_MSG_TYPE_MAKE_SEND, a), MACH_SEND_INVALID_RIGHT);
	CHECK_EQ(mach_port_type(mach_task_self(), a, &type), KERN_SUCCESS);
	CHECK_EQ(type, MACH_PORT_TYPE_RECEIVE);
	/* b travels inside a; then a may not go into b. */
	CHECK_EQ(send_receive_right(a, MACH_MSG_TYPE_MAKE_SEND, b), MACH_MSG_SUCCESS);
	CHECK_EQ(mach_port_insert_right(mach_task_self(), b, b, MACH_MSG_TYPE_MAKE_SEND),
	         KERN_INVALID_NAME);
	mach_port_t b_send;
	struct { mach_msg_header_t h; mach_msg_body_t body; mach_msg_port_descriptor_t p;
	         mach_msg_seqno_trailer_t t; } r;
	CHECK_EQ(mach_msg(&r.h, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof r, a, 0, 0), MACH_MSG_SUCCESS);
	b = r.p.name;
	/* Put b back in a's queue, keeping a send right to b. */
	CHECK_EQ(mach_port_insert_right(mach_task_self(), b, b, MACH_MSG_TYPE_MAKE_SEND), KERN_SUCCESS);
	b_send = b;
	CHECK_EQ(send_receive_right(a, MACH_MSG_TYPE_MAKE_SEND, b), MACH_MSG_SUCCESS);
	CHECK_EQ(send_receive_right(b_send, MACH_MSG_TYPE_COPY_SEND, a), MACH_SEND_INVALID_RIGHT);
	CHECK_EQ(mach_port_type(mach_task_self(), a, &type), KERN_SUCCESS);
	CHECK_EQ(type, MACH_PORT_TYPE_RECEIVE);
	/* Destroying a destroys b, in transit in a's queue. */
	CHECK_EQ(mach_port_destroy(mach_task_self(), a), KERN_SUCCESS);
	CHECK_EQ(mach_port_type(mach_task_self(), b_send, &type), KERN_SUCCESS);
	CHECK_EQ(type, MACH_PORT_TYPE_DEAD_NAME);
	CHECK_EQ(mach_port_deallocate(mach_task_self(), b_send), KERN_SUCCESS);
}

TEST(port_set_members)
{
	mach_port_t set, p;
	CHECK_EQ(mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_PORT_SET, &set), KERN_SUCCESS);
	p = new_port_with_send();
	CHECK_EQ(mach_port_insert_member(mach_task_self(), p, set), KERN_SUCCESS);
	CHECK_EQ(mach_port_insert_member(mach_task_self(), p, set), KERN_ALREADY_IN_SET);
	struct simple_rcv r;
	/* A member is received through its set only (OSF). */
	CHECK_EQ(mach_msg(&r.msg.header, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof r, p, 0, 0),
	         MACH_RCV_IN_SET);
	struct simple_msg m = { 0 };
	m.header.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0);
	m.header.msgh_remote_port = p;
	m.header.msgh_id = 3;
	CHECK_EQ(mach_msg(&m.header, MACH_SEND_MSG, sizeof m, 0, 0, 0, 0), MACH_MSG_SUCCESS);
	/* Too small a buffer with RCV_LARGE: the size it needs, still queued. */
	CHECK_EQ(mach_msg(&r.msg.header, MACH_RCV_MSG | MACH_RCV_LARGE | MACH_RCV_TIMEOUT, 0,
	        sizeof(mach_msg_header_t), set, 0, 0), MACH_RCV_TOO_LARGE);
	CHECK_EQ(r.msg.header.msgh_size, sizeof m + sizeof(mach_msg_seqno_trailer_t));
	CHECK_EQ(mach_msg(&r.msg.header, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof r, set, 0, 0),
	         MACH_MSG_SUCCESS);
	CHECK_EQ(r.msg.header.msgh_local_port, p);
	CHECK_EQ(r.msg.header.msgh_id, 3);
	CHECK_EQ(mach_port_move_member(mach_task_self(), p, MACH_PORT_NULL), KERN_SUCCESS);
	CHECK_EQ(mach_port_extract_member(mach_task_self(), p, set), KERN_NOT_IN_SET);
	CHECK_EQ(mach_port_destroy(mach_task_self(), set), KERN_SUCCESS);
	CHECK_EQ(mach_port_destroy(mach_task_self(), p), KERN_SUCCESS);
}

int main(void)
{
	RUN(rights_basics);
	RUN(simple_send_receive);
	RUN(rpc_between_threads);
	RUN(complex_message);
	RUN(receive_right_loops_rejected);
	RUN(port_set_members);
	return harness_done();
}
