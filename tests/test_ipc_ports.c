/* Port and right management through the public API (mach_port.h): every
 * call, each documented error, and the rights accounting behind them.
 * Semantics: OSF/XNU mach_port_* manual pages (osfmk/man) and osfmk/ipc. */
#include <mach/mach.h>
#include <stdint.h>
#include "harness.h"

#include "ipc_rights.h"

/* A name no right uses: allocate a dead name, free it, and hope nothing
 * raced us for it (these tests are single-threaded). */
static mach_port_name_t unused_name(void)
{
	mach_port_name_t n = 0x5a5a0u;
	while (type_of(n) != MACH_PORT_TYPE_NONE)
		n += 0x100u;
	mach_port_type_t t;
	CHECK_EQ(mach_port_type(mach_task_self(), n, &t), KERN_INVALID_NAME);
	return n;
}

/* Drains one send-once notification (the unused send-once right made from
 * `port` was destroyed). */
static void expect_send_once_notification(mach_port_t port)
{
	rcv_buf_t b;
	CHECK_EQ(recv_msg(port, &b, RCV_WAIT_MS), MACH_MSG_SUCCESS);
	CHECK_EQ(b.h.msgh_id, MACH_NOTIFY_SEND_ONCE);
	CHECK_EQ(recv_msg(port, &b, 0), MACH_RCV_TIMED_OUT);
}

ATEST(self_ports)
{
	mach_port_t task = mach_task_self();
	CHECK(MACH_PORT_VALID(task));
	CHECK_EQ(mach_task_self(), task);
	mach_port_t host = mach_host_self();
	CHECK(MACH_PORT_VALID(host));
	CHECK(host != task);

	/* mach_reply_port: a new receive right each call, in no port set. */
	mach_port_t r1 = mach_reply_port(), r2 = mach_reply_port();
	CHECK(MACH_PORT_VALID(r1));
	CHECK(MACH_PORT_VALID(r2));
	CHECK(r1 != r2);
	CHECK_EQ(type_of(r1), MACH_PORT_TYPE_RECEIVE);
	CHECK_EQ(type_of(r2), MACH_PORT_TYPE_RECEIVE);
	mach_port_status_t st = status_of(r1);
	CHECK_EQ(st.mps_pset, MACH_PORT_NULL);
	CHECK_EQ(st.mps_msgcount, 0);
	/* and it works as a port */
	CHECK_EQ(send_small(r1, MACH_MSG_TYPE_MAKE_SEND, MACH_PORT_NULL, 0, 7, 1, 0, 0),
	         MACH_MSG_SUCCESS);
	rcv_buf_t b;
	CHECK_EQ(recv_msg(r1, &b, RCV_WAIT_MS), MACH_MSG_SUCCESS);
	CHECK_EQ(b.h.msgh_id, 7);
	drop_receive(r1);
	drop_receive(r2);
}

ATEST(allocate_each_right)
{
	mach_port_t task = mach_task_self();
	mach_port_name_t r = 0, s = 0, d = 0;
	CHECK_EQ(mach_port_allocate(task, MACH_PORT_RIGHT_RECEIVE, &r), KERN_SUCCESS);
	CHECK_EQ(mach_port_allocate(task, MACH_PORT_RIGHT_PORT_SET, &s), KERN_SUCCESS);
	CHECK_EQ(mach_port_allocate(task, MACH_PORT_RIGHT_DEAD_NAME, &d), KERN_SUCCESS);
	CHECK(MACH_PORT_VALID(r));
	CHECK(MACH_PORT_VALID(s));
	CHECK(MACH_PORT_VALID(d));
	CHECK(r != s && s != d && r != d);
	CHECK_EQ(type_of(r), MACH_PORT_TYPE_RECEIVE);
	CHECK_EQ(type_of(s), MACH_PORT_TYPE_PORT_SET);
	CHECK_EQ(type_of(d), MACH_PORT_TYPE_DEAD_NAME);
	CHECK_EQ(refs_of(r, MACH_PORT_RIGHT_RECEIVE), 1);
	CHECK_EQ(refs_of(s, MACH_PORT_RIGHT_PORT_SET), 1);
	CHECK_EQ(refs_of(d, MACH_PORT_RIGHT_DEAD_NAME), 1);

	/* send and send-once rights can't be allocated; nor can nonsense */
	mach_port_name_t x = 0x1234;
	CHECK_EQ(mach_port_allocate(task, MACH_PORT_RIGHT_SEND, &x), KERN_INVALID_VALUE);
	CHECK_EQ(mach_port_allocate(task, MACH_PORT_RIGHT_SEND_ONCE, &x), KERN_INVALID_VALUE);
	CHECK_EQ(mach_port_allocate(task, MACH_PORT_RIGHT_NUMBER, &x), KERN_INVALID_VALUE);
	CHECK_EQ(mach_port_allocate(task, 1000, &x), KERN_INVALID_VALUE);

	drop_receive(r);
	CHECK_EQ(mach_port_destroy(task, s), KERN_SUCCESS);
	CHECK_EQ(mach_port_deallocate(task, d), KERN_SUCCESS);
	CHECK_EQ(type_of(r), MACH_PORT_TYPE_NONE);
	CHECK_EQ(type_of(s), MACH_PORT_TYPE_NONE);
	CHECK_EQ(type_of(d), MACH_PORT_TYPE_NONE);
}

ATEST(allocate_name)
{
	mach_port_t task = mach_task_self();
	mach_port_name_t n = unused_name();
	CHECK_EQ(mach_port_allocate_name(task, MACH_PORT_RIGHT_RECEIVE, n), KERN_SUCCESS);
	CHECK_EQ(type_of(n), MACH_PORT_TYPE_RECEIVE);
	/* the name now denotes a right, whatever the kind asked for */
	CHECK_EQ(mach_port_allocate_name(task, MACH_PORT_RIGHT_RECEIVE, n), KERN_NAME_EXISTS);
	CHECK_EQ(mach_port_allocate_name(task, MACH_PORT_RIGHT_PORT_SET, n), KERN_NAME_EXISTS);
	CHECK_EQ(mach_port_allocate_name(task, MACH_PORT_RIGHT_DEAD_NAME, n), KERN_NAME_EXISTS);
	CHECK_EQ(type_of(n), MACH_PORT_TYPE_RECEIVE);
	/* it works as a port under that name */
	CHECK_EQ(send_small(n, MACH_MSG_TYPE_MAKE_SEND, MACH_PORT_NULL, 0, 9, 0, 0, 0),
	         MACH_MSG_SUCCESS);
	rcv_buf_t b;
	CHECK_EQ(recv_msg(n, &b, RCV_WAIT_MS), MACH_MSG_SUCCESS);
	CHECK_EQ(b.h.msgh_local_port, n);
	drop_receive(n);

	mach_port_name_t ps = unused_name();
	CHECK_EQ(mach_port_allocate_name(task, MACH_PORT_RIGHT_PORT_SET, ps), KERN_SUCCESS);
	CHECK_EQ(type_of(ps), MACH_PORT_TYPE_PORT_SET);
	mach_port_name_t dn = ps + 0x1000;
	while (type_of(dn) != MACH_PORT_TYPE_NONE)
		dn += 0x100;
	CHECK_EQ(mach_port_allocate_name(task, MACH_PORT_RIGHT_DEAD_NAME, dn), KERN_SUCCESS);
	CHECK_EQ(type_of(dn), MACH_PORT_TYPE_DEAD_NAME);
	CHECK_EQ(mach_port_allocate_name(task, MACH_PORT_RIGHT_RECEIVE, dn), KERN_NAME_EXISTS);

	/* reserved names and impossible rights */
	CHECK_EQ(mach_port_allocate_name(task, MACH_PORT_RIGHT_RECEIVE, MACH_PORT_NULL), KERN_INVALID_VALUE);
	CHECK_EQ(mach_port_allocate_name(task, MACH_PORT_RIGHT_RECEIVE, MACH_PORT_DEAD), KERN_INVALID_VALUE);
	mach_port_name_t fresh = unused_name();
	CHECK_EQ(mach_port_allocate_name(task, MACH_PORT_RIGHT_SEND, fresh), KERN_INVALID_VALUE);
	CHECK_EQ(mach_port_allocate_name(task, MACH_PORT_RIGHT_SEND_ONCE, fresh), KERN_INVALID_VALUE);
	CHECK_EQ(mach_port_allocate_name(task, 77, fresh), KERN_INVALID_VALUE);
	CHECK_EQ(type_of(fresh), MACH_PORT_TYPE_NONE);

	CHECK_EQ(mach_port_destroy(task, ps), KERN_SUCCESS);
	CHECK_EQ(mach_port_destroy(task, dn), KERN_SUCCESS);
}

ATEST(deallocate)
{
	mach_port_t task = mach_task_self();
	mach_port_t p = new_port();
	/* a receive right is not released by deallocate */
	CHECK_EQ(mach_port_deallocate(task, p), KERN_INVALID_RIGHT);
	CHECK_EQ(type_of(p), MACH_PORT_TYPE_RECEIVE);

	CHECK_EQ(mach_port_insert_right(task, p, p, MACH_MSG_TYPE_MAKE_SEND), KERN_SUCCESS);
	CHECK_EQ(mach_port_mod_refs(task, p, MACH_PORT_RIGHT_SEND, 1), KERN_SUCCESS);
	CHECK_EQ(refs_of(p, MACH_PORT_RIGHT_SEND), 2);
	CHECK_EQ(mach_port_deallocate(task, p), KERN_SUCCESS);
	CHECK_EQ(refs_of(p, MACH_PORT_RIGHT_SEND), 1);
	CHECK_EQ(mach_port_deallocate(task, p), KERN_SUCCESS);
	CHECK_EQ(type_of(p), MACH_PORT_TYPE_RECEIVE);
	CHECK_EQ(status_of(p).mps_srights, FALSE);

	/* send-once: gone at once, and the port hears of it */
	mach_port_t so;
	mach_msg_type_name_t got;
	CHECK_EQ(mach_port_extract_right(task, p, MACH_MSG_TYPE_MAKE_SEND_ONCE, &so, &got), KERN_SUCCESS);
	CHECK_EQ(type_of(so), MACH_PORT_TYPE_SEND_ONCE);
	CHECK_EQ(mach_port_deallocate(task, so), KERN_SUCCESS);
	CHECK_EQ(type_of(so), MACH_PORT_TYPE_NONE);
	expect_send_once_notification(p);

	/* dead name: one user reference at a time */
	mach_port_name_t d;
	CHECK_EQ(mach_port_allocate(task, MACH_PORT_RIGHT_DEAD_NAME, &d), KERN_SUCCESS);
	CHECK_EQ(mach_port_mod_refs(task, d, MACH_PORT_RIGHT_DEAD_NAME, 1), KERN_SUCCESS);
	CHECK_EQ(mach_port_deallocate(task, d), KERN_SUCCESS);
	CHECK_EQ(type_of(d), MACH_PORT_TYPE_DEAD_NAME);
	CHECK_EQ(mach_port_deallocate(task, d), KERN_SUCCESS);
	CHECK_EQ(type_of(d), MACH_PORT_TYPE_NONE);

	/* reserved names are no-ops */
	CHECK_EQ(mach_port_deallocate(task, MACH_PORT_NULL), KERN_SUCCESS);
	CHECK_EQ(mach_port_deallocate(task, MACH_PORT_DEAD), KERN_SUCCESS);
	drop_receive(p);
}

ATEST(destroy)
{
	mach_port_t task = mach_task_self();
	/* receive + send under one name: all of it goes */
	mach_port_t p = new_port();
	CHECK_EQ(mach_port_insert_right(task, p, p, MACH_MSG_TYPE_MAKE_SEND), KERN_SUCCESS);
	CHECK_EQ(mach_port_mod_refs(task, p, MACH_PORT_RIGHT_SEND, 3), KERN_SUCCESS);
	/* queued messages go with it */
	CHECK_EQ(send_small(p, MACH_MSG_TYPE_COPY_SEND, MACH_PORT_NULL, 0, 1, 0, 0, 0), MACH_MSG_SUCCESS);
	CHECK_EQ(mach_port_destroy(task, p), KERN_SUCCESS);
	CHECK_EQ(type_of(p), MACH_PORT_TYPE_NONE);
	CHECK_EQ(mach_port_destroy(task, p), KERN_INVALID_NAME);

	/* a port set: its members leave it */
	mach_port_t s, m = new_port();
	CHECK_EQ(mach_port_allocate(task, MACH_PORT_RIGHT_PORT_SET, &s), KERN_SUCCESS);
	CHECK_EQ(mach_port_insert_member(task, m, s), KERN_SUCCESS);
	CHECK(status_of(m).mps_pset != MACH_PORT_NULL);
	CHECK_EQ(mach_port_destroy(task, s), KERN_SUCCESS);
	CHECK_EQ(type_of(s), MACH_PORT_TYPE_NONE);
	CHECK_EQ(status_of(m).mps_pset, MACH_PORT_NULL);
	rcv_buf_t b;
	CHECK_EQ(recv_msg(m, &b, 0), MACH_RCV_TIMED_OUT);   /* receivable directly again */

	/* a dead name with several references */
	mach_port_name_t d;
	CHECK_EQ(mach_port_allocate(task, MACH_PORT_RIGHT_DEAD_NAME, &d), KERN_SUCCESS);
	CHECK_EQ(mach_port_mod_refs(task, d, MACH_PORT_RIGHT_DEAD_NAME, 4), KERN_SUCCESS);
	CHECK_EQ(mach_port_destroy(task, d), KERN_SUCCESS);
	CHECK_EQ(type_of(d), MACH_PORT_TYPE_NONE);

	/* a send-once right: the port gets the send-once notification */
	mach_port_t so;
	mach_msg_type_name_t got;
	CHECK_EQ(mach_port_extract_right(task, m, MACH_MSG_TYPE_MAKE_SEND_ONCE, &so, &got), KERN_SUCCESS);
	CHECK_EQ(mach_port_destroy(task, so), KERN_SUCCESS);
	CHECK_EQ(type_of(so), MACH_PORT_TYPE_NONE);
	expect_send_once_notification(m);

	CHECK_EQ(mach_port_destroy(task, unused_name()), KERN_INVALID_NAME);
	CHECK_EQ(mach_port_destroy(task, MACH_PORT_NULL), KERN_SUCCESS);
	drop_receive(m);
}

ATEST(mod_refs_send)
{
	mach_port_t task = mach_task_self();
	mach_port_t p = new_port();
	/* no send right yet */
	CHECK_EQ(mach_port_mod_refs(task, p, MACH_PORT_RIGHT_SEND, 1), KERN_INVALID_RIGHT);
	CHECK_EQ(mach_port_mod_refs(task, p, MACH_PORT_RIGHT_SEND, -1), KERN_INVALID_RIGHT);
	CHECK_EQ(type_of(p), MACH_PORT_TYPE_RECEIVE);

	CHECK_EQ(mach_port_insert_right(task, p, p, MACH_MSG_TYPE_MAKE_SEND), KERN_SUCCESS);
	CHECK_EQ(mach_port_mod_refs(task, p, MACH_PORT_RIGHT_SEND, 0), KERN_SUCCESS);
	CHECK_EQ(refs_of(p, MACH_PORT_RIGHT_SEND), 1);
	CHECK_EQ(mach_port_mod_refs(task, p, MACH_PORT_RIGHT_SEND, 2), KERN_SUCCESS);
	CHECK_EQ(refs_of(p, MACH_PORT_RIGHT_SEND), 3);
	CHECK_EQ(mach_port_mod_refs(task, p, MACH_PORT_RIGHT_SEND, -1), KERN_SUCCESS);
	CHECK_EQ(refs_of(p, MACH_PORT_RIGHT_SEND), 2);
	/* underflow: refused, nothing changes */
	CHECK_EQ(mach_port_mod_refs(task, p, MACH_PORT_RIGHT_SEND, -3), KERN_INVALID_VALUE);
	CHECK_EQ(refs_of(p, MACH_PORT_RIGHT_SEND), 2);

	/* overflow: refused, nothing changes */
	CHECK_EQ(mach_port_mod_refs(task, p, MACH_PORT_RIGHT_SEND, (mach_port_delta_t)MACH_PORT_UREFS_MAX),
	         KERN_UREFS_OVERFLOW);
	CHECK_EQ(refs_of(p, MACH_PORT_RIGHT_SEND), 2);
	CHECK_EQ(mach_port_mod_refs(task, p, MACH_PORT_RIGHT_SEND, (mach_port_delta_t)MACH_PORT_UREFS_MAX - 2),
	         KERN_SUCCESS);
	CHECK_EQ(refs_of(p, MACH_PORT_RIGHT_SEND), MACH_PORT_UREFS_MAX);
	CHECK_EQ(mach_port_mod_refs(task, p, MACH_PORT_RIGHT_SEND, 1), KERN_UREFS_OVERFLOW);
	CHECK_EQ(refs_of(p, MACH_PORT_RIGHT_SEND), MACH_PORT_UREFS_MAX);
	/* all at once: the send right goes, the receive right stays */
	CHECK_EQ(mach_port_mod_refs(task, p, MACH_PORT_RIGHT_SEND, -(mach_port_delta_t)MACH_PORT_UREFS_MAX),
	         KERN_SUCCESS);
	CHECK_EQ(type_of(p), MACH_PORT_TYPE_RECEIVE);
	CHECK_EQ(status_of(p).mps_srights, FALSE);
	drop_receive(p);
}

ATEST(mod_refs_receive_set_once_dead)
{
	mach_port_t task = mach_task_self();
	/* receive right: only 0 and -1 make sense */
	mach_port_t p = new_port();
	CHECK_EQ(mach_port_mod_refs(task, p, MACH_PORT_RIGHT_RECEIVE, 0), KERN_SUCCESS);
	CHECK_EQ(mach_port_mod_refs(task, p, MACH_PORT_RIGHT_RECEIVE, 1), KERN_INVALID_VALUE);
	CHECK_EQ(mach_port_mod_refs(task, p, MACH_PORT_RIGHT_RECEIVE, -2), KERN_INVALID_VALUE);
	CHECK_EQ(type_of(p), MACH_PORT_TYPE_RECEIVE);
	/* wrong kind of right for the name */
	CHECK_EQ(mach_port_mod_refs(task, p, MACH_PORT_RIGHT_PORT_SET, -1), KERN_INVALID_RIGHT);
	CHECK_EQ(mach_port_mod_refs(task, p, MACH_PORT_RIGHT_SEND_ONCE, -1), KERN_INVALID_RIGHT);
	CHECK_EQ(mach_port_mod_refs(task, p, MACH_PORT_RIGHT_DEAD_NAME, -1), KERN_INVALID_RIGHT);
	/* not a right at all */
	CHECK_EQ(mach_port_mod_refs(task, p, MACH_PORT_RIGHT_NUMBER, 0), KERN_INVALID_VALUE);
	CHECK_EQ(mach_port_mod_refs(task, p, 99, -1), KERN_INVALID_VALUE);
	CHECK_EQ(mach_port_mod_refs(task, unused_name(), MACH_PORT_RIGHT_RECEIVE, -1), KERN_INVALID_NAME);
	CHECK_EQ(type_of(p), MACH_PORT_TYPE_RECEIVE);

	/* send-once */
	mach_port_t so;
	mach_msg_type_name_t got;
	CHECK_EQ(mach_port_extract_right(task, p, MACH_MSG_TYPE_MAKE_SEND_ONCE, &so, &got), KERN_SUCCESS);
	CHECK_EQ(refs_of(so, MACH_PORT_RIGHT_SEND_ONCE), 1);
	CHECK_EQ(mach_port_mod_refs(task, so, MACH_PORT_RIGHT_SEND_ONCE, 0), KERN_SUCCESS);
	CHECK_EQ(mach_port_mod_refs(task, so, MACH_PORT_RIGHT_SEND_ONCE, 1), KERN_INVALID_VALUE);
	CHECK_EQ(mach_port_mod_refs(task, so, MACH_PORT_RIGHT_SEND_ONCE, -2), KERN_INVALID_VALUE);
	CHECK_EQ(mach_port_mod_refs(task, so, MACH_PORT_RIGHT_SEND, -1), KERN_INVALID_RIGHT);
	CHECK_EQ(type_of(so), MACH_PORT_TYPE_SEND_ONCE);
	CHECK_EQ(mach_port_mod_refs(task, so, MACH_PORT_RIGHT_SEND_ONCE, -1), KERN_SUCCESS);
	CHECK_EQ(type_of(so), MACH_PORT_TYPE_NONE);
	expect_send_once_notification(p);

	/* receive right released by mod_refs */
	CHECK_EQ(mach_port_mod_refs(task, p, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
	CHECK_EQ(type_of(p), MACH_PORT_TYPE_NONE);

	/* port set */
	mach_port_t s;
	CHECK_EQ(mach_port_allocate(task, MACH_PORT_RIGHT_PORT_SET, &s), KERN_SUCCESS);
	CHECK_EQ(mach_port_mod_refs(task, s, MACH_PORT_RIGHT_PORT_SET, 0), KERN_SUCCESS);
	CHECK_EQ(mach_port_mod_refs(task, s, MACH_PORT_RIGHT_PORT_SET, 1), KERN_INVALID_VALUE);
	CHECK_EQ(mach_port_mod_refs(task, s, MACH_PORT_RIGHT_RECEIVE, -1), KERN_INVALID_RIGHT);
	CHECK_EQ(mach_port_mod_refs(task, s, MACH_PORT_RIGHT_PORT_SET, -1), KERN_SUCCESS);
	CHECK_EQ(type_of(s), MACH_PORT_TYPE_NONE);

	/* dead name: many references, underflow and overflow refused */
	mach_port_name_t d;
	CHECK_EQ(mach_port_allocate(task, MACH_PORT_RIGHT_DEAD_NAME, &d), KERN_SUCCESS);
	CHECK_EQ(mach_port_mod_refs(task, d, MACH_PORT_RIGHT_DEAD_NAME, 4), KERN_SUCCESS);
	CHECK_EQ(refs_of(d, MACH_PORT_RIGHT_DEAD_NAME), 5);
	CHECK_EQ(mach_port_mod_refs(task, d, MACH_PORT_RIGHT_DEAD_NAME, -6), KERN_INVALID_VALUE);
	CHECK_EQ(refs_of(d, MACH_PORT_RIGHT_DEAD_NAME), 5);
	CHECK_EQ(mach_port_mod_refs(task, d, MACH_PORT_RIGHT_DEAD_NAME, (mach_port_delta_t)MACH_PORT_UREFS_MAX),
	         KERN_UREFS_OVERFLOW);
	CHECK_EQ(refs_of(d, MACH_PORT_RIGHT_DEAD_NAME), 5);
	CHECK_EQ(mach_port_mod_refs(task, d, MACH_PORT_RIGHT_SEND, -1), KERN_INVALID_RIGHT);
	CHECK_EQ(mach_port_mod_refs(task, d, MACH_PORT_RIGHT_DEAD_NAME, -2), KERN_SUCCESS);
	CHECK_EQ(refs_of(d, MACH_PORT_RIGHT_DEAD_NAME), 3);
	CHECK_EQ(mach_port_mod_refs(task, d, MACH_PORT_RIGHT_DEAD_NAME, -3), KERN_SUCCESS);
	CHECK_EQ(type_of(d), MACH_PORT_TYPE_NONE);
}

ATEST(insert_right)
{
	mach_port_t task = mach_task_self();
	mach_port_t a = new_port(), b = new_port();

	/* MAKE_SEND on our own receive right, under the same name */
	CHECK_EQ(mach_port_insert_right(task, a, a, MACH_MSG_TYPE_MAKE_SEND), KERN_SUCCESS);
	CHECK_EQ(type_of(a), MACH_PORT_TYPE_SEND_RECEIVE);
	CHECK_EQ(refs_of(a, MACH_PORT_RIGHT_SEND), 1);
	CHECK_EQ(status_of(a).mps_mscount, 1);
	CHECK_EQ(mach_port_insert_right(task, a, a, MACH_MSG_TYPE_MAKE_SEND), KERN_SUCCESS);
	CHECK_EQ(refs_of(a, MACH_PORT_RIGHT_SEND), 2);
	CHECK_EQ(status_of(a).mps_mscount, 2);
	/* COPY_SEND adds a reference; MOVE_SEND into the same name keeps the count */
	CHECK_EQ(mach_port_insert_right(task, a, a, MACH_MSG_TYPE_COPY_SEND), KERN_SUCCESS);
	CHECK_EQ(refs_of(a, MACH_PORT_RIGHT_SEND), 3);
	CHECK_EQ(mach_port_insert_right(task, a, a, MACH_MSG_TYPE_MOVE_SEND), KERN_SUCCESS);
	CHECK_EQ(refs_of(a, MACH_PORT_RIGHT_SEND), 3);
	CHECK_EQ(status_of(a).mps_mscount, 2);

	/* the task already holds rights for `a` under another name */
	mach_port_name_t fresh = unused_name();
	CHECK_EQ(mach_port_insert_right(task, fresh, a, MACH_MSG_TYPE_MAKE_SEND), KERN_RIGHT_EXISTS);
	CHECK_EQ(mach_port_insert_right(task, fresh, a, MACH_MSG_TYPE_COPY_SEND), KERN_RIGHT_EXISTS);
	CHECK_EQ(type_of(fresh), MACH_PORT_TYPE_NONE);
	CHECK_EQ(refs_of(a, MACH_PORT_RIGHT_SEND), 3);

	/* a send-once right needs an unused name */
	CHECK_EQ(mach_port_insert_right(task, b, a, MACH_MSG_TYPE_MAKE_SEND_ONCE), KERN_NAME_EXISTS);
	CHECK_EQ(mach_port_insert_right(task, a, a, MACH_MSG_TYPE_MAKE_SEND_ONCE), KERN_NAME_EXISTS);
	CHECK_EQ(type_of(b), MACH_PORT_TYPE_RECEIVE);
	CHECK_EQ(status_of(a).mps_sorights, 0);
	{
		/* Mach may make the right before it finds the name taken, and so
		 * send-once notifications for it; nothing else may be queued. */
		rcv_buf_t nb;
		while (recv_msg(a, &nb, 0) == MACH_MSG_SUCCESS)
			CHECK_EQ(nb.h.msgh_id, MACH_NOTIFY_SEND_ONCE);
	}
	CHECK_EQ(mach_port_insert_right(task, fresh, a, MACH_MSG_TYPE_MAKE_SEND_ONCE), KERN_SUCCESS);
	CHECK_EQ(type_of(fresh), MACH_PORT_TYPE_SEND_ONCE);
	CHECK_EQ(status_of(a).mps_sorights, 1);
	CHECK_EQ(mach_port_deallocate(task, fresh), KERN_SUCCESS);
	expect_send_once_notification(a);

	/* a send right for `a` can't be put under a name denoting `b` */
	CHECK_EQ(refs_of(b, MACH_PORT_RIGHT_SEND), 0);
	kern_return_t kr = mach_port_insert_right(task, b, a, MACH_MSG_TYPE_MAKE_SEND);
	CHECK(kr == KERN_RIGHT_EXISTS || kr == KERN_NAME_EXISTS);
	CHECK_EQ(type_of(b), MACH_PORT_TYPE_RECEIVE);

	/* null or dead right */
	mach_port_name_t fresh2 = unused_name();
	CHECK_EQ(mach_port_insert_right(task, fresh2, MACH_PORT_NULL, MACH_MSG_TYPE_COPY_SEND), KERN_INVALID_CAPABILITY);
	CHECK_EQ(mach_port_insert_right(task, fresh2, MACH_PORT_DEAD, MACH_MSG_TYPE_COPY_SEND), KERN_INVALID_CAPABILITY);
	mach_port_name_t d;
	CHECK_EQ(mach_port_allocate(task, MACH_PORT_RIGHT_DEAD_NAME, &d), KERN_SUCCESS);
	CHECK_EQ(mach_port_insert_right(task, fresh2, d, MACH_MSG_TYPE_COPY_SEND), KERN_INVALID_CAPABILITY);
	CHECK_EQ(type_of(fresh2), MACH_PORT_TYPE_NONE);
	CHECK_EQ(mach_port_deallocate(task, d), KERN_SUCCESS);

	/* reserved target names, nonsense dispositions */
	CHECK_EQ(mach_port_insert_right(task, MACH_PORT_NULL, a, MACH_MSG_TYPE_MAKE_SEND), KERN_INVALID_VALUE);
	CHECK_EQ(mach_port_insert_right(task, MACH_PORT_DEAD, a, MACH_MSG_TYPE_MAKE_SEND), KERN_INVALID_VALUE);
	CHECK_EQ(mach_port_insert_right(task, a, a, 0), KERN_INVALID_VALUE);
	CHECK_EQ(mach_port_insert_right(task, a, a, 99), KERN_INVALID_VALUE);
	CHECK_EQ(mach_port_insert_right(task, a, a, MACH_MSG_TYPE_PORT_NAME), KERN_INVALID_VALUE);
	CHECK_EQ(refs_of(a, MACH_PORT_RIGHT_SEND), 3);
	/* the source name has no such right */
	kr = mach_port_insert_right(task, b, b, MACH_MSG_TYPE_COPY_SEND);
	CHECK(kr != KERN_SUCCESS);
	CHECK_EQ(type_of(b), MACH_PORT_TYPE_RECEIVE);

	/* user-reference overflow on the target name */
	CHECK_EQ(mach_port_mod_refs(task, a, MACH_PORT_RIGHT_SEND, (mach_port_delta_t)MACH_PORT_UREFS_MAX - 3),
	         KERN_SUCCESS);
	CHECK_EQ(refs_of(a, MACH_PORT_RIGHT_SEND), MACH_PORT_UREFS_MAX);
	CHECK_EQ(mach_port_insert_right(task, a, a, MACH_MSG_TYPE_MAKE_SEND), KERN_UREFS_OVERFLOW);
	CHECK_EQ(refs_of(a, MACH_PORT_RIGHT_SEND), MACH_PORT_UREFS_MAX);

	CHECK_EQ(mach_port_destroy(task, a), KERN_SUCCESS);
	drop_receive(b);
}

ATEST(extract_right)
{
	mach_port_t task = mach_task_self();
	mach_port_t a = new_port();
	mach_port_t poly = 0;
	mach_msg_type_name_t pp = 0;

	CHECK_EQ(mach_port_extract_right(task, a, MACH_MSG_TYPE_MAKE_SEND, &poly, &pp), KERN_SUCCESS);
	CHECK_EQ(pp, MACH_MSG_TYPE_PORT_SEND);
	CHECK_EQ(poly, a);          /* send rights join the receive right's name */
	CHECK_EQ(refs_of(a, MACH_PORT_RIGHT_SEND), 1);
	CHECK_EQ(status_of(a).mps_mscount, 1);

	CHECK_EQ(mach_port_extract_right(task, a, MACH_MSG_TYPE_COPY_SEND, &poly, &pp), KERN_SUCCESS);
	CHECK_EQ(pp, MACH_MSG_TYPE_PORT_SEND);
	CHECK_EQ(poly, a);
	CHECK_EQ(refs_of(a, MACH_PORT_RIGHT_SEND), 2);

	CHECK_EQ(mach_port_extract_right(task, a, MACH_MSG_TYPE_MOVE_SEND, &poly, &pp), KERN_SUCCESS);
	CHECK_EQ(pp, MACH_MSG_TYPE_PORT_SEND);
	CHECK_EQ(poly, a);
	CHECK_EQ(refs_of(a, MACH_PORT_RIGHT_SEND), 2);

	mach_port_t so1 = 0, so2 = 0;
	CHECK_EQ(mach_port_extract_right(task, a, MACH_MSG_TYPE_MAKE_SEND_ONCE, &so1, &pp), KERN_SUCCESS);
	CHECK_EQ(pp, MACH_MSG_TYPE_PORT_SEND_ONCE);
	CHECK(MACH_PORT_VALID(so1));
	CHECK(so1 != a);
	CHECK_EQ(type_of(so1), MACH_PORT_TYPE_SEND_ONCE);
	CHECK_EQ(status_of(a).mps_sorights, 1);
	CHECK_EQ(mach_port_extract_right(task, so1, MACH_MSG_TYPE_MOVE_SEND_ONCE, &so2, &pp), KERN_SUCCESS);
	CHECK_EQ(pp, MACH_MSG_TYPE_PORT_SEND_ONCE);
	CHECK_EQ(type_of(so2), MACH_PORT_TYPE_SEND_ONCE);
	if (so2 != so1)
		CHECK_EQ(type_of(so1), MACH_PORT_TYPE_NONE);
	CHECK_EQ(status_of(a).mps_sorights, 1);
	/* it still reaches `a` */
	CHECK_EQ(send_small(so2, MACH_MSG_TYPE_MOVE_SEND_ONCE, MACH_PORT_NULL, 0, 55, 0, 0, 0), MACH_MSG_SUCCESS);
	CHECK_EQ(type_of(so2), MACH_PORT_TYPE_NONE);
	rcv_buf_t b;
	CHECK_EQ(recv_msg(a, &b, RCV_WAIT_MS), MACH_MSG_SUCCESS);
	CHECK_EQ(b.h.msgh_id, 55);
	CHECK_EQ(MACH_MSGH_BITS_LOCAL(b.h.msgh_bits), MACH_MSG_TYPE_PORT_SEND_ONCE);

	/* MOVE_RECEIVE: with send rights under the name, the receive right comes
	 * back to that name; a moved receive right starts over at seqno 0 and
	 * make-send count 0 */
	CHECK_EQ(mach_port_set_seqno(task, a, 9), KERN_SUCCESS);
	CHECK_EQ(mach_port_extract_right(task, a, MACH_MSG_TYPE_MOVE_RECEIVE, &poly, &pp), KERN_SUCCESS);
	CHECK_EQ(pp, MACH_MSG_TYPE_PORT_RECEIVE);
	CHECK_EQ(poly, a);
	CHECK_EQ(type_of(a), MACH_PORT_TYPE_SEND_RECEIVE);
	mach_port_status_t st = status_of(a);
	CHECK_EQ(st.mps_seqno, 0);
	CHECK_EQ(st.mps_mscount, 0);
	CHECK_EQ(mach_port_mod_refs(task, a, MACH_PORT_RIGHT_SEND, -2), KERN_SUCCESS);

	/* a bare receive right moves out and in again */
	CHECK_EQ(mach_port_extract_right(task, a, MACH_MSG_TYPE_MOVE_RECEIVE, &poly, &pp), KERN_SUCCESS);
	CHECK_EQ(pp, MACH_MSG_TYPE_PORT_RECEIVE);
	CHECK(MACH_PORT_VALID(poly));
	CHECK_EQ(type_of(poly), MACH_PORT_TYPE_RECEIVE);
	if (poly != a)
		CHECK_EQ(type_of(a), MACH_PORT_TYPE_NONE);
	a = poly;

	/* errors */
	mach_port_t s;
	CHECK_EQ(mach_port_allocate(task, MACH_PORT_RIGHT_PORT_SET, &s), KERN_SUCCESS);
	CHECK_EQ(mach_port_extract_right(task, a, MACH_MSG_TYPE_COPY_SEND, &poly, &pp), KERN_INVALID_RIGHT);
	CHECK_EQ(mach_port_extract_right(task, a, MACH_MSG_TYPE_MOVE_SEND, &poly, &pp), KERN_INVALID_RIGHT);
	CHECK_EQ(mach_port_extract_right(task, a, MACH_MSG_TYPE_MOVE_SEND_ONCE, &poly, &pp), KERN_INVALID_RIGHT);
	CHECK_EQ(mach_port_extract_right(task, s, MACH_MSG_TYPE_MAKE_SEND, &poly, &pp), KERN_INVALID_RIGHT);
	CHECK_EQ(mach_port_extract_right(task, s, MACH_MSG_TYPE_MOVE_RECEIVE, &poly, &pp), KERN_INVALID_RIGHT);
	CHECK_EQ(mach_port_extract_right(task, unused_name(), MACH_MSG_TYPE_MAKE_SEND, &poly, &pp), KERN_INVALID_NAME);
	CHECK_EQ(mach_port_extract_right(task, a, 0, &poly, &pp), KERN_INVALID_VALUE);
	CHECK_EQ(mach_port_extract_right(task, a, MACH_MSG_TYPE_PORT_NAME, &poly, &pp), KERN_INVALID_VALUE);
	CHECK_EQ(mach_port_extract_right(task, a, 99, &poly, &pp), KERN_INVALID_VALUE);
	CHECK_EQ(type_of(a), MACH_PORT_TYPE_RECEIVE);
	CHECK_EQ(status_of(a).mps_srights, FALSE);
	CHECK_EQ(mach_port_destroy(task, s), KERN_SUCCESS);
	drop_receive(a);
}

ATEST(get_refs_and_type)
{
	mach_port_t task = mach_task_self();
	mach_port_t a = new_port();
	mach_port_urefs_t r = 77;
	/* a right the name doesn't hold has zero references */
	CHECK_EQ(mach_port_get_refs(task, a, MACH_PORT_RIGHT_SEND, &r), KERN_SUCCESS);
	CHECK_EQ(r, 0);
	CHECK_EQ(mach_port_get_refs(task, a, MACH_PORT_RIGHT_RECEIVE, &r), KERN_SUCCESS);
	CHECK_EQ(r, 1);
	CHECK_EQ(mach_port_get_refs(task, a, MACH_PORT_RIGHT_DEAD_NAME, &r), KERN_SUCCESS);
	CHECK_EQ(r, 0);
	CHECK_EQ(mach_port_get_refs(task, a, MACH_PORT_RIGHT_NUMBER, &r), KERN_INVALID_VALUE);
	CHECK_EQ(mach_port_get_refs(task, a, 1000, &r), KERN_INVALID_VALUE);
	CHECK_EQ(mach_port_get_refs(task, unused_name(), MACH_PORT_RIGHT_SEND, &r), KERN_INVALID_NAME);

	CHECK_EQ(mach_port_insert_right(task, a, a, MACH_MSG_TYPE_MAKE_SEND), KERN_SUCCESS);
	CHECK_EQ(mach_port_mod_refs(task, a, MACH_PORT_RIGHT_SEND, 4), KERN_SUCCESS);
	CHECK_EQ(refs_of(a, MACH_PORT_RIGHT_SEND), 5);
	CHECK_EQ(refs_of(a, MACH_PORT_RIGHT_RECEIVE), 1);
	mach_port_type_t t = 0;
	CHECK_EQ(mach_port_type(task, a, &t), KERN_SUCCESS);
	CHECK_EQ(t, MACH_PORT_TYPE_SEND_RECEIVE);
	CHECK_EQ(mach_port_type(task, unused_name(), &t), KERN_INVALID_NAME);
	CHECK_EQ(mach_port_destroy(task, a), KERN_SUCCESS);
}

ATEST(names_lists_every_right)
{
	mach_port_t task = mach_task_self();
	mach_port_t a = new_port(), s, d, so;
	mach_msg_type_name_t pp;
	CHECK_EQ(mach_port_insert_right(task, a, a, MACH_MSG_TYPE_MAKE_SEND), KERN_SUCCESS);
	CHECK_EQ(mach_port_allocate(task, MACH_PORT_RIGHT_PORT_SET, &s), KERN_SUCCESS);
	CHECK_EQ(mach_port_allocate(task, MACH_PORT_RIGHT_DEAD_NAME, &d), KERN_SUCCESS);
	CHECK_EQ(mach_port_extract_right(task, a, MACH_MSG_TYPE_MAKE_SEND_ONCE, &so, &pp), KERN_SUCCESS);

	mach_port_name_t *names = NULL;
	mach_port_type_t *types = NULL;
	mach_msg_type_number_t nn = 0, nt = 0;
	CHECK_EQ(mach_port_names(task, &names, &nn, &types, &nt), KERN_SUCCESS);
	CHECK_EQ(nn, nt);
	int seen_a = 0, seen_s = 0, seen_d = 0, seen_so = 0;
	for (mach_msg_type_number_t i = 0; i < nn && names && types; i++) {
		CHECK(MACH_PORT_VALID(names[i]));
		CHECK(types[i] != MACH_PORT_TYPE_NONE);
		if (names[i] == a) { seen_a++; CHECK_EQ(types[i], MACH_PORT_TYPE_SEND_RECEIVE); }
		if (names[i] == s) { seen_s++; CHECK_EQ(types[i], MACH_PORT_TYPE_PORT_SET); }
		if (names[i] == d) { seen_d++; CHECK_EQ(types[i], MACH_PORT_TYPE_DEAD_NAME); }
		if (names[i] == so) { seen_so++; CHECK_EQ(types[i], MACH_PORT_TYPE_SEND_ONCE); }
	}
	CHECK_EQ(seen_a, 1);
	CHECK_EQ(seen_s, 1);
	CHECK_EQ(seen_d, 1);
	CHECK_EQ(seen_so, 1);
	CHECK_EQ(vm_deallocate(task, (vm_address_t)(uintptr_t)names, nn * sizeof *names), KERN_SUCCESS);
	CHECK_EQ(vm_deallocate(task, (vm_address_t)(uintptr_t)types, nt * sizeof *types), KERN_SUCCESS);

	CHECK_EQ(mach_port_deallocate(task, so), KERN_SUCCESS);
	expect_send_once_notification(a);
	CHECK_EQ(mach_port_destroy(task, a), KERN_SUCCESS);
	CHECK_EQ(mach_port_destroy(task, s), KERN_SUCCESS);
	CHECK_EQ(mach_port_destroy(task, d), KERN_SUCCESS);

	/* and afterwards none of them is listed */
	CHECK_EQ(mach_port_names(task, &names, &nn, &types, &nt), KERN_SUCCESS);
	for (mach_msg_type_number_t i = 0; i < nn && names; i++)
		CHECK(names[i] != a && names[i] != s && names[i] != d && names[i] != so);
	CHECK_EQ(vm_deallocate(task, (vm_address_t)(uintptr_t)names, nn * sizeof *names), KERN_SUCCESS);
	CHECK_EQ(vm_deallocate(task, (vm_address_t)(uintptr_t)types, nt * sizeof *types), KERN_SUCCESS);
}

ATEST(set_seqno)
{
	mach_port_t task = mach_task_self();
	mach_port_t a = new_port();
	CHECK_EQ(status_of(a).mps_seqno, 0);
	CHECK_EQ(mach_port_set_seqno(task, a, 41), KERN_SUCCESS);
	CHECK_EQ(status_of(a).mps_seqno, 41);
	CHECK_EQ(send_small(a, MACH_MSG_TYPE_MAKE_SEND, MACH_PORT_NULL, 0, 1, 0, 0, 0), MACH_MSG_SUCCESS);
	rcv_buf_t b;
	CHECK_EQ(recv_msg(a, &b, RCV_WAIT_MS), MACH_MSG_SUCCESS);
	CHECK_EQ(trailer_of(&b.h)->msgh_seqno, 41);
	CHECK_EQ(status_of(a).mps_seqno, 42);

	mach_port_t s, so;
	mach_msg_type_name_t pp;
	CHECK_EQ(mach_port_allocate(task, MACH_PORT_RIGHT_PORT_SET, &s), KERN_SUCCESS);
	CHECK_EQ(mach_port_set_seqno(task, s, 1), KERN_INVALID_RIGHT);
	CHECK_EQ(mach_port_extract_right(task, a, MACH_MSG_TYPE_MAKE_SEND_ONCE, &so, &pp), KERN_SUCCESS);
	CHECK_EQ(mach_port_set_seqno(task, so, 1), KERN_INVALID_RIGHT);
	CHECK_EQ(mach_port_set_seqno(task, unused_name(), 1), KERN_INVALID_NAME);
	CHECK_EQ(mach_port_deallocate(task, so), KERN_SUCCESS);
	expect_send_once_notification(a);
	CHECK_EQ(mach_port_destroy(task, s), KERN_SUCCESS);

	/* set_mscount */
	CHECK_EQ(mach_port_set_mscount(task, a, 17), KERN_SUCCESS);
	CHECK_EQ(status_of(a).mps_mscount, 17);
	CHECK_EQ(mach_port_insert_right(task, a, a, MACH_MSG_TYPE_MAKE_SEND), KERN_SUCCESS);
	CHECK_EQ(status_of(a).mps_mscount, 18);
	CHECK_EQ(mach_port_set_mscount(task, unused_name(), 1), KERN_INVALID_NAME);
	CHECK_EQ(mach_port_destroy(task, a), KERN_SUCCESS);
}

ATEST(attributes)
{
	mach_port_t task = mach_task_self();
	mach_port_t a = new_port();
	mach_port_status_t st;
	mach_msg_type_number_t cnt = MACH_PORT_RECEIVE_STATUS_COUNT;
	memset(&st, 0xa5, sizeof st);
	CHECK_EQ(mach_port_get_attributes(task, a, MACH_PORT_RECEIVE_STATUS, (mach_port_info_t)&st, &cnt),
	         KERN_SUCCESS);
	CHECK_EQ(cnt, MACH_PORT_RECEIVE_STATUS_COUNT);
	CHECK_EQ(st.mps_pset, MACH_PORT_NULL);
	CHECK_EQ(st.mps_seqno, 0);
	CHECK_EQ(st.mps_mscount, 0);
	CHECK_EQ(st.mps_qlimit, MACH_PORT_QLIMIT_DEFAULT);
	CHECK_EQ(st.mps_msgcount, 0);
	CHECK_EQ(st.mps_sorights, 0);
	CHECK_EQ(st.mps_srights, FALSE);
	CHECK_EQ(st.mps_pdrequest, FALSE);
	CHECK_EQ(st.mps_nsrequest, FALSE);

	/* fields follow the port */
	CHECK_EQ(mach_port_insert_right(task, a, a, MACH_MSG_TYPE_MAKE_SEND), KERN_SUCCESS);
	CHECK_EQ(send_small(a, MACH_MSG_TYPE_COPY_SEND, MACH_PORT_NULL, 0, 1, 0, 0, 0), MACH_MSG_SUCCESS);
	CHECK_EQ(send_small(a, MACH_MSG_TYPE_COPY_SEND, MACH_PORT_NULL, 0, 2, 0, 0, 0), MACH_MSG_SUCCESS);
	mach_port_t so, n = new_port(), prev = 0;
	mach_msg_type_name_t pp;
	CHECK_EQ(mach_port_extract_right(task, a, MACH_MSG_TYPE_MAKE_SEND_ONCE, &so, &pp), KERN_SUCCESS);
	CHECK_EQ(mach_port_request_notification(task, a, MACH_NOTIFY_NO_SENDERS, 100, n,
	        MACH_MSG_TYPE_MAKE_SEND_ONCE, &prev), KERN_SUCCESS);
	CHECK_EQ(prev, MACH_PORT_NULL);
	CHECK_EQ(mach_port_request_notification(task, a, MACH_NOTIFY_PORT_DESTROYED, 0, n,
	        MACH_MSG_TYPE_MAKE_SEND_ONCE, &prev), KERN_SUCCESS);
	CHECK_EQ(prev, MACH_PORT_NULL);
	mach_port_t s;
	CHECK_EQ(mach_port_allocate(task, MACH_PORT_RIGHT_PORT_SET, &s), KERN_SUCCESS);
	CHECK_EQ(mach_port_insert_member(task, a, s), KERN_SUCCESS);
	st = status_of(a);
	CHECK(st.mps_pset != MACH_PORT_NULL);
	CHECK_EQ(st.mps_mscount, 1);
	CHECK_EQ(st.mps_msgcount, 2);
	CHECK_EQ(st.mps_sorights, 1);
	CHECK_EQ(st.mps_srights, TRUE);
	CHECK_EQ(st.mps_nsrequest, TRUE);
	CHECK_EQ(st.mps_pdrequest, TRUE);
	/* cancel both requests; the old send-once rights come back */
	CHECK_EQ(mach_port_request_notification(task, a, MACH_NOTIFY_NO_SENDERS, 0, MACH_PORT_NULL,
	        MACH_MSG_TYPE_MAKE_SEND_ONCE, &prev), KERN_SUCCESS);
	CHECK_EQ(type_of(prev), MACH_PORT_TYPE_SEND_ONCE);
	CHECK_EQ(mach_port_deallocate(task, prev), KERN_SUCCESS);
	expect_send_once_notification(n);
	CHECK_EQ(mach_port_request_notification(task, a, MACH_NOTIFY_PORT_DESTROYED, 0, MACH_PORT_NULL,
	        MACH_MSG_TYPE_MAKE_SEND_ONCE, &prev), KERN_SUCCESS);
	CHECK_EQ(type_of(prev), MACH_PORT_TYPE_SEND_ONCE);
	CHECK_EQ(mach_port_deallocate(task, prev), KERN_SUCCESS);
	expect_send_once_notification(n);
	st = status_of(a);
	CHECK_EQ(st.mps_nsrequest, FALSE);
	CHECK_EQ(st.mps_pdrequest, FALSE);
	CHECK_EQ(mach_port_destroy(task, s), KERN_SUCCESS);
	CHECK_EQ(mach_port_deallocate(task, so), KERN_SUCCESS);

	/* LIMITS_INFO */
	mach_port_limits_t lim = { .mpl_qlimit = 999 };
	cnt = MACH_PORT_LIMITS_INFO_COUNT;
	CHECK_EQ(mach_port_get_attributes(task, a, MACH_PORT_LIMITS_INFO, (mach_port_info_t)&lim, &cnt), KERN_SUCCESS);
	CHECK_EQ(cnt, MACH_PORT_LIMITS_INFO_COUNT);
	CHECK_EQ(lim.mpl_qlimit, MACH_PORT_QLIMIT_DEFAULT);
	lim.mpl_qlimit = 1;
	CHECK_EQ(mach_port_set_attributes(task, a, MACH_PORT_LIMITS_INFO, (mach_port_info_t)&lim,
	        MACH_PORT_LIMITS_INFO_COUNT), KERN_SUCCESS);
	lim.mpl_qlimit = 0;
	CHECK_EQ(mach_port_get_attributes(task, a, MACH_PORT_LIMITS_INFO, (mach_port_info_t)&lim, &cnt), KERN_SUCCESS);
	CHECK_EQ(lim.mpl_qlimit, 1);
	CHECK_EQ(status_of(a).mps_qlimit, 1);
	lim.mpl_qlimit = MACH_PORT_QLIMIT_MAX;
	CHECK_EQ(mach_port_set_attributes(task, a, MACH_PORT_LIMITS_INFO, (mach_port_info_t)&lim,
	        MACH_PORT_LIMITS_INFO_COUNT), KERN_SUCCESS);
	CHECK_EQ(status_of(a).mps_qlimit, MACH_PORT_QLIMIT_MAX);
	lim.mpl_qlimit = MACH_PORT_QLIMIT_MAX + 1;
	CHECK_EQ(mach_port_set_attributes(task, a, MACH_PORT_LIMITS_INFO, (mach_port_info_t)&lim,
	        MACH_PORT_LIMITS_INFO_COUNT), KERN_INVALID_VALUE);
	CHECK_EQ(status_of(a).mps_qlimit, MACH_PORT_QLIMIT_MAX);

	/* short counts */
	cnt = MACH_PORT_RECEIVE_STATUS_COUNT - 1;
	CHECK_EQ(mach_port_get_attributes(task, a, MACH_PORT_RECEIVE_STATUS, (mach_port_info_t)&st, &cnt), KERN_FAILURE);
	cnt = 0;
	CHECK_EQ(mach_port_get_attributes(task, a, MACH_PORT_LIMITS_INFO, (mach_port_info_t)&lim, &cnt), KERN_FAILURE);
	lim.mpl_qlimit = 3;
	CHECK_EQ(mach_port_set_attributes(task, a, MACH_PORT_LIMITS_INFO, (mach_port_info_t)&lim, 0), KERN_FAILURE);
	CHECK_EQ(status_of(a).mps_qlimit, MACH_PORT_QLIMIT_MAX);
	/* bad flavors */
	cnt = MACH_PORT_RECEIVE_STATUS_COUNT;
	CHECK_EQ(mach_port_get_attributes(task, a, 99, (mach_port_info_t)&st, &cnt), KERN_INVALID_ARGUMENT);
	CHECK_EQ(mach_port_set_attributes(task, a, 99, (mach_port_info_t)&lim, MACH_PORT_LIMITS_INFO_COUNT),
	         KERN_INVALID_ARGUMENT);
	/* DNREQUESTS_SIZE reads */
	natural_t dn = 0;
	cnt = MACH_PORT_DNREQUESTS_SIZE_COUNT;
	CHECK_EQ(mach_port_get_attributes(task, a, MACH_PORT_DNREQUESTS_SIZE, (mach_port_info_t)&dn, &cnt), KERN_SUCCESS);
	/* wrong names */
	cnt = MACH_PORT_RECEIVE_STATUS_COUNT;
	CHECK_EQ(mach_port_get_attributes(task, unused_name(), MACH_PORT_RECEIVE_STATUS, (mach_port_info_t)&st, &cnt),
	         KERN_INVALID_NAME);
	mach_port_name_t d;
	CHECK_EQ(mach_port_allocate(task, MACH_PORT_RIGHT_DEAD_NAME, &d), KERN_SUCCESS);
	cnt = MACH_PORT_RECEIVE_STATUS_COUNT;
	CHECK_EQ(mach_port_get_attributes(task, d, MACH_PORT_RECEIVE_STATUS, (mach_port_info_t)&st, &cnt),
	         KERN_INVALID_RIGHT);
	CHECK_EQ(mach_port_set_attributes(task, d, MACH_PORT_LIMITS_INFO, (mach_port_info_t)&lim,
	        MACH_PORT_LIMITS_INFO_COUNT), KERN_INVALID_RIGHT);
	CHECK_EQ(mach_port_set_attributes(task, unused_name(), MACH_PORT_LIMITS_INFO, (mach_port_info_t)&lim,
	        MACH_PORT_LIMITS_INFO_COUNT), KERN_INVALID_NAME);
	CHECK_EQ(mach_port_deallocate(task, d), KERN_SUCCESS);

	CHECK_EQ(mach_port_destroy(task, a), KERN_SUCCESS);
	/* the send-once right we deallocated above went to `a`, now gone */
	rcv_buf_t b;
	CHECK_EQ(recv_msg(n, &b, 0), MACH_RCV_TIMED_OUT);
	drop_receive(n);
}

static mach_msg_type_number_t set_members(mach_port_t s, mach_port_name_t want, int *found)
{
	mach_port_name_t *m = NULL;
	mach_msg_type_number_t n = 0;
	*found = 0;
	CHECK_EQ(mach_port_get_set_status(mach_task_self(), s, &m, &n), KERN_SUCCESS);
	for (mach_msg_type_number_t i = 0; i < n && m; i++)
		if (m[i] == want)
			(*found)++;
	if (n)
		CHECK_EQ(vm_deallocate(mach_task_self(), (vm_address_t)(uintptr_t)m, n * sizeof *m), KERN_SUCCESS);
	return n;
}

ATEST(port_sets)
{
	mach_port_t task = mach_task_self();
	mach_port_t a = new_port(), b = new_port(), s1, s2;
	int found;
	CHECK_EQ(mach_port_allocate(task, MACH_PORT_RIGHT_PORT_SET, &s1), KERN_SUCCESS);
	CHECK_EQ(mach_port_allocate(task, MACH_PORT_RIGHT_PORT_SET, &s2), KERN_SUCCESS);
	CHECK_EQ(set_members(s1, a, &found), 0);

	CHECK_EQ(mach_port_insert_member(task, a, s1), KERN_SUCCESS);
	CHECK_EQ(mach_port_insert_member(task, a, s1), KERN_ALREADY_IN_SET);
	CHECK_EQ(mach_port_insert_member(task, b, s1), KERN_SUCCESS);
	CHECK_EQ(set_members(s1, a, &found), 2);
	CHECK_EQ(found, 1);
	CHECK(status_of(a).mps_pset != MACH_PORT_NULL);

	CHECK_EQ(mach_port_extract_member(task, a, s1), KERN_SUCCESS);
	CHECK_EQ(mach_port_extract_member(task, a, s1), KERN_NOT_IN_SET);
	CHECK_EQ(mach_port_extract_member(task, a, s2), KERN_NOT_IN_SET);
	CHECK_EQ(set_members(s1, a, &found), 1);
	CHECK_EQ(found, 0);
	CHECK_EQ(status_of(a).mps_pset, MACH_PORT_NULL);

	/* move_member: into a set, from one set to another, out of all */
	CHECK_EQ(mach_port_move_member(task, a, s1), KERN_SUCCESS);
	CHECK_EQ(set_members(s1, a, &found), 2);
	CHECK_EQ(found, 1);
	CHECK_EQ(mach_port_move_member(task, a, s2), KERN_SUCCESS);
	CHECK_EQ(set_members(s1, a, &found), 1);
	CHECK_EQ(found, 0);
	CHECK_EQ(set_members(s2, a, &found), 1);
	CHECK_EQ(found, 1);
	CHECK_EQ(mach_port_move_member(task, a, MACH_PORT_NULL), KERN_SUCCESS);
	CHECK_EQ(set_members(s2, a, &found), 0);
	CHECK_EQ(mach_port_move_member(task, a, MACH_PORT_NULL), KERN_NOT_IN_SET);
	CHECK_EQ(status_of(a).mps_pset, MACH_PORT_NULL);

	/* wrong kinds of names */
	mach_port_name_t d;
	CHECK_EQ(mach_port_allocate(task, MACH_PORT_RIGHT_DEAD_NAME, &d), KERN_SUCCESS);
	CHECK_EQ(mach_port_insert_member(task, s2, s1), KERN_INVALID_RIGHT);   /* member is a set */
	CHECK_EQ(mach_port_insert_member(task, a, b), KERN_INVALID_RIGHT);     /* set is a port */
	CHECK_EQ(mach_port_insert_member(task, d, s1), KERN_INVALID_RIGHT);
	CHECK_EQ(mach_port_insert_member(task, unused_name(), s1), KERN_INVALID_NAME);
	CHECK_EQ(mach_port_insert_member(task, a, unused_name()), KERN_INVALID_NAME);
	CHECK_EQ(mach_port_extract_member(task, a, b), KERN_INVALID_RIGHT);
	CHECK_EQ(mach_port_extract_member(task, unused_name(), s1), KERN_INVALID_NAME);
	CHECK_EQ(mach_port_move_member(task, a, b), KERN_INVALID_RIGHT);
	CHECK_EQ(mach_port_move_member(task, s1, s2), KERN_INVALID_RIGHT);
	CHECK_EQ(mach_port_move_member(task, a, unused_name()), KERN_INVALID_NAME);
	mach_port_name_t *m = NULL;
	mach_msg_type_number_t mn = 0;
	CHECK_EQ(mach_port_get_set_status(task, a, &m, &mn), KERN_INVALID_RIGHT);
	CHECK_EQ(mach_port_get_set_status(task, unused_name(), &m, &mn), KERN_INVALID_NAME);
	CHECK_EQ(mach_port_deallocate(task, d), KERN_SUCCESS);

	/* a member that dies leaves its set */
	CHECK_EQ(set_members(s1, b, &found), 1);
	CHECK_EQ(found, 1);
	drop_receive(b);
	CHECK_EQ(set_members(s1, b, &found), 0);

	CHECK_EQ(mach_port_destroy(task, s1), KERN_SUCCESS);
	CHECK_EQ(mach_port_destroy(task, s2), KERN_SUCCESS);
	drop_receive(a);
}

ATEST(bad_task)
{
	mach_port_t p = new_port();
	mach_port_t bad[] = { MACH_PORT_NULL, MACH_PORT_DEAD, mach_host_self(), p };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		mach_port_t t = bad[i];
		mach_port_name_t n = 0, *names = NULL;
		mach_port_type_t ty, *types = NULL;
		mach_msg_type_number_t c1 = 0, c2 = 0;
		mach_port_urefs_t r;
		mach_port_t poly, prev;
		mach_msg_type_name_t pp;
		mach_port_limits_t lim = { 1 };
		mach_msg_type_number_t cnt = MACH_PORT_LIMITS_INFO_COUNT;
		CHECK_EQ(mach_port_allocate(t, MACH_PORT_RIGHT_RECEIVE, &n), KERN_INVALID_TASK);
		CHECK_EQ(mach_port_allocate_name(t, MACH_PORT_RIGHT_RECEIVE, 0x7e7e00), KERN_INVALID_TASK);
		CHECK_EQ(mach_port_deallocate(t, p), KERN_INVALID_TASK);
		CHECK_EQ(mach_port_destroy(t, p), KERN_INVALID_TASK);
		CHECK_EQ(mach_port_mod_refs(t, p, MACH_PORT_RIGHT_RECEIVE, -1), KERN_INVALID_TASK);
		CHECK_EQ(mach_port_get_refs(t, p, MACH_PORT_RIGHT_RECEIVE, &r), KERN_INVALID_TASK);
		CHECK_EQ(mach_port_type(t, p, &ty), KERN_INVALID_TASK);
		CHECK_EQ(mach_port_names(t, &names, &c1, &types, &c2), KERN_INVALID_TASK);
		CHECK_EQ(mach_port_insert_right(t, p, p, MACH_MSG_TYPE_MAKE_SEND), KERN_INVALID_TASK);
		CHECK_EQ(mach_port_extract_right(t, p, MACH_MSG_TYPE_MAKE_SEND, &poly, &pp), KERN_INVALID_TASK);
		CHECK_EQ(mach_port_set_seqno(t, p, 3), KERN_INVALID_TASK);
		CHECK_EQ(mach_port_set_mscount(t, p, 3), KERN_INVALID_TASK);
		CHECK_EQ(mach_port_get_attributes(t, p, MACH_PORT_LIMITS_INFO, (mach_port_info_t)&lim, &cnt),
		         KERN_INVALID_TASK);
		CHECK_EQ(mach_port_set_attributes(t, p, MACH_PORT_LIMITS_INFO, (mach_port_info_t)&lim,
		        MACH_PORT_LIMITS_INFO_COUNT), KERN_INVALID_TASK);
		CHECK_EQ(mach_port_get_set_status(t, p, &names, &c1), KERN_INVALID_TASK);
		CHECK_EQ(mach_port_insert_member(t, p, p), KERN_INVALID_TASK);
		CHECK_EQ(mach_port_extract_member(t, p, p), KERN_INVALID_TASK);
		CHECK_EQ(mach_port_move_member(t, p, MACH_PORT_NULL), KERN_INVALID_TASK);
		CHECK_EQ(mach_port_request_notification(t, p, MACH_NOTIFY_NO_SENDERS, 0, p,
		        MACH_MSG_TYPE_MAKE_SEND_ONCE, &prev), KERN_INVALID_TASK);
	}
	/* nothing happened to the port */
	CHECK_EQ(type_of(p), MACH_PORT_TYPE_RECEIVE);
	mach_port_status_t st = status_of(p);
	CHECK_EQ(st.mps_mscount, 0);
	CHECK_EQ(st.mps_seqno, 0);
	CHECK_EQ(st.mps_qlimit, MACH_PORT_QLIMIT_DEFAULT);
	CHECK_EQ(st.mps_nsrequest, FALSE);
	drop_receive(p);
}

int main(void)
{
	warm_up();
	RUN(self_ports);
	RUN(allocate_each_right);
	RUN(allocate_name);
	RUN(deallocate);
	RUN(destroy);
	RUN(mod_refs_send);
	RUN(mod_refs_receive_set_once_dead);
	RUN(insert_right);
	RUN(extract_right);
	RUN(get_refs_and_type);
	RUN(names_lists_every_right);
	RUN(set_seqno);
	RUN(attributes);
	RUN(port_sets);
	RUN(bad_task);
	return harness_done();
}
