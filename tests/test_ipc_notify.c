/* Port notifications: no-senders (make-send count, sync threshold, a send
 * right destroyed inside an unreceived message), dead-name (plus the
 * immediate form), port-destroyed, send-once, port-deleted; the errors of
 * mach_port_request_notification; notify_server dispatching to the
 * do_mach_notify_* routines defined here. Every notification must come
 * exactly once. Semantics: osfmk/man/MP_request_notification.html,
 * mach_port_destroy.html, notify_server.html, do_mach_notify_*.html. */
#include <mach/mach.h>
#include <stddef.h>
#include <stdint.h>
#include "harness.h"

#include "ipc_rights.h"

/* What the do_mach_notify_* routines (called by notify_server) saw. */
static struct {
	int deleted, destroyed, no_senders, send_once, dead_name;
	mach_port_t notify;
	mach_port_name_t name;
	mach_port_t rights;
	mach_port_mscount_t mscount;
} seen;

kern_return_t do_mach_notify_port_deleted(mach_port_t notify, mach_port_name_t name)
{
	seen.deleted++;
	seen.notify = notify;
	seen.name = name;
	return KERN_SUCCESS;
}

kern_return_t do_mach_notify_port_destroyed(mach_port_t notify, mach_port_t rights)
{
	seen.destroyed++;
	seen.notify = notify;
	seen.rights = rights;
	return KERN_SUCCESS;
}

kern_return_t do_mach_notify_no_senders(mach_port_t notify, mach_port_mscount_t mscount)
{
	seen.no_senders++;
	seen.notify = notify;
	seen.mscount = mscount;
	return KERN_SUCCESS;
}

kern_return_t do_mach_notify_send_once(mach_port_t notify)
{
	seen.send_once++;
	seen.notify = notify;
	return KERN_SUCCESS;
}

kern_return_t do_mach_notify_dead_name(mach_port_t notify, mach_port_name_t name)
{
	seen.dead_name++;
	seen.notify = notify;
	seen.name = name;
	return KERN_SUCCESS;
}

static kern_return_t request(mach_port_t name, mach_msg_id_t id, mach_port_mscount_t sync,
        mach_port_t notify, mach_port_t *prev)
{
	mach_port_t p = 0x7777;
	kern_return_t kr = mach_port_request_notification(mach_task_self(), name, id, sync, notify,
	        MACH_MSG_TYPE_MAKE_SEND_ONCE, &p);
	if (prev)
		*prev = p;
	else if (kr == KERN_SUCCESS)
		CHECK_EQ(p, MACH_PORT_NULL);
	return kr;
}

/* Receives exactly one notification of kind `id` on n; checks there is no
 * second one. Returns the message in *b. */
static int expect_one_at(int line, mach_port_t n, mach_msg_id_t id, rcv_buf_t *b)
{
	mach_msg_return_t mr = recv_msg(n, b, RCV_WAIT_MS);
	if (mr != MACH_MSG_SUCCESS)
		fprintf(stderr, "  line %d: no message (0x%x) where id %d was due\n", line, mr, id);
	CHECK_EQ(mr, MACH_MSG_SUCCESS);
	if (mr != MACH_MSG_SUCCESS)
		return 0;
	CHECK_EQ(b->h.msgh_id, id);
	CHECK_EQ(b->h.msgh_local_port, n);
	rcv_buf_t extra;
	CHECK_EQ(recv_msg(n, &extra, 0), MACH_RCV_TIMED_OUT);
	return b->h.msgh_id == id;
}

#define expect_one(n, id, b) expect_one_at(__LINE__, n, id, b)

static void expect_none(mach_port_t n)
{
	rcv_buf_t b;
	mach_msg_return_t mr = recv_msg(n, &b, 0);
	CHECK_EQ(mr, MACH_RCV_TIMED_OUT);
	if (mr == MACH_MSG_SUCCESS)
		fprintf(stderr, "  unexpected message id %d\n", b.h.msgh_id);
}

static mach_port_mscount_t no_senders_count(rcv_buf_t *b)
{
	mach_no_senders_notification_t *ns = (mach_no_senders_notification_t *)&b->h;
	CHECK_EQ(ns->not_header.msgh_size, offsetof(mach_no_senders_notification_t, trailer));
	return ns->not_count;
}

ATEST(no_senders_immediate)
{
	mach_port_t p = new_port(), n = new_port();
	rcv_buf_t b;
	/* no send rights and make-send count 0 >= sync 0: at once */
	CHECK_EQ(request(p, MACH_NOTIFY_NO_SENDERS, 0, n, NULL), KERN_SUCCESS);
	if (expect_one(n, MACH_NOTIFY_NO_SENDERS, &b))
		CHECK_EQ(no_senders_count(&b), 0);
	CHECK_EQ(status_of(p).mps_nsrequest, FALSE);
	/* count 5 >= sync 3: at once, carrying 5 */
	CHECK_EQ(mach_port_set_mscount(mach_task_self(), p, 5), KERN_SUCCESS);
	CHECK_EQ(request(p, MACH_NOTIFY_NO_SENDERS, 3, n, NULL), KERN_SUCCESS);
	if (expect_one(n, MACH_NOTIFY_NO_SENDERS, &b))
		CHECK_EQ(no_senders_count(&b), 5);
	drop_receive(p);
	drop_receive(n);
}

ATEST(no_senders_when_last_send_right_goes)
{
	mach_port_t task = mach_task_self();
	mach_port_t p = new_port(), n = new_port();
	rcv_buf_t b;
	CHECK_EQ(mach_port_insert_right(task, p, p, MACH_MSG_TYPE_MAKE_SEND), KERN_SUCCESS);
	CHECK_EQ(mach_port_insert_right(task, p, p, MACH_MSG_TYPE_MAKE_SEND), KERN_SUCCESS);
	CHECK_EQ(refs_of(p, MACH_PORT_RIGHT_SEND), 2);
	CHECK_EQ(request(p, MACH_NOTIFY_NO_SENDERS, 1, n, NULL), KERN_SUCCESS);
	CHECK_EQ(status_of(p).mps_nsrequest, TRUE);
	expect_none(n);                              /* send rights exist */
	CHECK_EQ(mach_port_deallocate(task, p), KERN_SUCCESS);
	expect_none(n);                              /* one reference left */
	CHECK_EQ(mach_port_deallocate(task, p), KERN_SUCCESS);
	if (expect_one(n, MACH_NOTIFY_NO_SENDERS, &b))
		CHECK_EQ(no_senders_count(&b), 2);
	CHECK_EQ(status_of(p).mps_nsrequest, FALSE);
	/* the request was used up */
	CHECK_EQ(mach_port_insert_right(task, p, p, MACH_MSG_TYPE_MAKE_SEND), KERN_SUCCESS);
	CHECK_EQ(mach_port_deallocate(task, p), KERN_SUCCESS);
	expect_none(n);

	/* a send right received in a message counts, and its end fires too */
	mach_port_t q = new_port();
	CHECK_EQ(request(p, MACH_NOTIFY_NO_SENDERS, 4, n, NULL), KERN_SUCCESS);   /* mscount is 3 */
	CHECK_EQ(send_small(q, MACH_MSG_TYPE_MAKE_SEND, p, MACH_MSG_TYPE_MAKE_SEND, 1, 0, 0, 0), MACH_MSG_SUCCESS);
	expect_none(n);
	CHECK_EQ(recv_msg(q, &b, RCV_WAIT_MS), MACH_MSG_SUCCESS);
	CHECK_EQ(b.h.msgh_remote_port, p);
	expect_none(n);
	CHECK_EQ(mach_port_deallocate(task, p), KERN_SUCCESS);
	if (expect_one(n, MACH_NOTIFY_NO_SENDERS, &b))
		CHECK_EQ(no_senders_count(&b), 4);
	drop_receive(q);
	drop_receive(p);
	drop_receive(n);
}

ATEST(no_senders_sync_threshold)
{
	mach_port_t task = mach_task_self();
	mach_port_t p = new_port(), n = new_port();
	rcv_buf_t b;
	/* make-send count 0 < sync 1: wait for a send right to come and go */
	CHECK_EQ(request(p, MACH_NOTIFY_NO_SENDERS, 1, n, NULL), KERN_SUCCESS);
	expect_none(n);
	CHECK_EQ(mach_port_insert_right(task, p, p, MACH_MSG_TYPE_MAKE_SEND), KERN_SUCCESS);
	expect_none(n);
	CHECK_EQ(mach_port_mod_refs(task, p, MACH_PORT_RIGHT_SEND, -1), KERN_SUCCESS);
	if (expect_one(n, MACH_NOTIFY_NO_SENDERS, &b))
		CHECK_EQ(no_senders_count(&b), 1);
	drop_receive(p);
	/* a destroyed port with a request pending says nothing more */
	expect_none(n);
	drop_receive(n);
}

ATEST(no_senders_from_destroyed_message)
{
	mach_port_t task = mach_task_self();
	mach_port_t p = new_port(), n = new_port(), q = new_port();
	rcv_buf_t b;
	CHECK_EQ(request(p, MACH_NOTIFY_NO_SENDERS, 1, n, NULL), KERN_SUCCESS);
	/* the only send right lives in a message queued on q */
	struct {
		mach_msg_header_t h;
		mach_msg_body_t body;
		mach_msg_port_descriptor_t port;
	} m;
	memset(&m, 0, sizeof m);
	m.h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_MAKE_SEND, 0) | MACH_MSGH_BITS_COMPLEX;
	m.h.msgh_size = sizeof m;
	m.h.msgh_remote_port = q;
	m.h.msgh_id = 5;
	m.body.msgh_descriptor_count = 1;
	m.port.name = p;
	m.port.disposition = MACH_MSG_TYPE_MAKE_SEND;
	m.port.type = MACH_MSG_PORT_DESCRIPTOR;
	CHECK_EQ(mach_msg(&m.h, MACH_SEND_MSG, sizeof m, 0, MACH_PORT_NULL, 0, MACH_PORT_NULL), MACH_MSG_SUCCESS);
	CHECK_EQ(status_of(p).mps_srights, TRUE);
	expect_none(n);
	/* q dies with the message unreceived: the right dies with it */
	CHECK_EQ(mach_port_destroy(task, q), KERN_SUCCESS);
	if (expect_one(n, MACH_NOTIFY_NO_SENDERS, &b))
		CHECK_EQ(no_senders_count(&b), 1);
	CHECK_EQ(status_of(p).mps_srights, FALSE);

	/* the same through the reply-port field of the header */
	q = new_port();
	CHECK_EQ(request(p, MACH_NOTIFY_NO_SENDERS, 2, n, NULL), KERN_SUCCESS);
	CHECK_EQ(send_small(q, MACH_MSG_TYPE_MAKE_SEND, p, MACH_MSG_TYPE_MAKE_SEND, 6, 0, 0, 0), MACH_MSG_SUCCESS);
	expect_none(n);
	drop_receive(q);
	if (expect_one(n, MACH_NOTIFY_NO_SENDERS, &b))
		CHECK_EQ(no_senders_count(&b), 2);
	drop_receive(p);
	drop_receive(n);
}

ATEST(dead_name)
{
	mach_port_t task = mach_task_self();
	mach_port_t p = new_port(), n = new_port();
	rcv_buf_t b;
	CHECK_EQ(mach_port_insert_right(task, p, p, MACH_MSG_TYPE_MAKE_SEND), KERN_SUCCESS);
	CHECK_EQ(mach_port_mod_refs(task, p, MACH_PORT_RIGHT_SEND, 1), KERN_SUCCESS);   /* 2 refs */
	CHECK_EQ(request(p, MACH_NOTIFY_DEAD_NAME, 0, n, NULL), KERN_SUCCESS);
	CHECK_EQ(type_of(p), MACH_PORT_TYPE_SEND_RECEIVE | MACH_PORT_TYPE_DNREQUEST);
	expect_none(n);
	/* the receive right goes: the send right becomes a dead name, with one
	 * more reference for the notification */
	CHECK_EQ(mach_port_mod_refs(task, p, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
	CHECK_EQ(type_of(p), MACH_PORT_TYPE_DEAD_NAME);
	CHECK_EQ(refs_of(p, MACH_PORT_RIGHT_DEAD_NAME), 3);
	if (expect_one(n, MACH_NOTIFY_DEAD_NAME, &b)) {
		mach_dead_name_notification_t *dn = (mach_dead_name_notification_t *)&b.h;
		CHECK_EQ(dn->not_header.msgh_size, offsetof(mach_dead_name_notification_t, trailer));
		CHECK_EQ(dn->not_port, p);
	}
	CHECK_EQ(mach_port_mod_refs(task, p, MACH_PORT_RIGHT_DEAD_NAME, -3), KERN_SUCCESS);

	/* the receive right dies in a message: the send right left behind turns dead */
	mach_port_t q = new_port();
	p = new_port();
	CHECK_EQ(mach_port_insert_right(task, p, p, MACH_MSG_TYPE_MAKE_SEND), KERN_SUCCESS);
	CHECK_EQ(request(p, MACH_NOTIFY_DEAD_NAME, 0, n, NULL), KERN_SUCCESS);
	struct {
		mach_msg_header_t h;
		mach_msg_body_t body;
		mach_msg_port_descriptor_t port;
	} m;
	memset(&m, 0, sizeof m);
	m.h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_MAKE_SEND, 0) | MACH_MSGH_BITS_COMPLEX;
	m.h.msgh_size = sizeof m;
	m.h.msgh_remote_port = q;
	m.body.msgh_descriptor_count = 1;
	m.port.name = p;
	m.port.disposition = MACH_MSG_TYPE_MOVE_RECEIVE;
	m.port.type = MACH_MSG_PORT_DESCRIPTOR;
	CHECK_EQ(mach_msg(&m.h, MACH_SEND_MSG, sizeof m, 0, MACH_PORT_NULL, 0, MACH_PORT_NULL), MACH_MSG_SUCCESS);
	CHECK_EQ(type_of(p) & ~MACH_PORT_TYPE_DNREQUEST, MACH_PORT_TYPE_SEND);
	expect_none(n);
	CHECK_EQ(mach_port_destroy(task, q), KERN_SUCCESS);
	CHECK_EQ(type_of(p), MACH_PORT_TYPE_DEAD_NAME);
	CHECK_EQ(refs_of(p, MACH_PORT_RIGHT_DEAD_NAME), 2);
	if (expect_one(n, MACH_NOTIFY_DEAD_NAME, &b))
		CHECK_EQ(((mach_dead_name_notification_t *)&b.h)->not_port, p);
	CHECK_EQ(mach_port_mod_refs(task, p, MACH_PORT_RIGHT_DEAD_NAME, -2), KERN_SUCCESS);

	/* a send-once right turns dead as well */
	p = new_port();
	mach_port_t so;
	mach_msg_type_name_t pp;
	CHECK_EQ(mach_port_extract_right(task, p, MACH_MSG_TYPE_MAKE_SEND_ONCE, &so, &pp), KERN_SUCCESS);
	CHECK_EQ(request(so, MACH_NOTIFY_DEAD_NAME, 0, n, NULL), KERN_SUCCESS);
	drop_receive(p);
	CHECK_EQ(type_of(so), MACH_PORT_TYPE_DEAD_NAME);
	if (expect_one(n, MACH_NOTIFY_DEAD_NAME, &b))
		CHECK_EQ(((mach_dead_name_notification_t *)&b.h)->not_port, so);
	CHECK_EQ(refs_of(so, MACH_PORT_RIGHT_DEAD_NAME), 2);
	CHECK_EQ(mach_port_destroy(task, so), KERN_SUCCESS);
	drop_receive(n);
}

ATEST(dead_name_immediate)
{
	mach_port_t task = mach_task_self();
	mach_port_t n = new_port();
	rcv_buf_t b;
	mach_port_name_t d;
	CHECK_EQ(mach_port_allocate(task, MACH_PORT_RIGHT_DEAD_NAME, &d), KERN_SUCCESS);
	/* on a dead name only the immediate form (sync != 0) is allowed */
	CHECK_EQ(request(d, MACH_NOTIFY_DEAD_NAME, 0, n, NULL), KERN_INVALID_ARGUMENT);
	while (recv_msg(n, &b, 0) == MACH_MSG_SUCCESS)   /* the unused send-once right, if made */
		CHECK_EQ(b.h.msgh_id, MACH_NOTIFY_SEND_ONCE);
	CHECK_EQ(status_of(n).mps_sorights, 0);
	CHECK_EQ(refs_of(d, MACH_PORT_RIGHT_DEAD_NAME), 1);
	CHECK_EQ(request(d, MACH_NOTIFY_DEAD_NAME, 1, n, NULL), KERN_SUCCESS);
	if (expect_one(n, MACH_NOTIFY_DEAD_NAME, &b))
		CHECK_EQ(((mach_dead_name_notification_t *)&b.h)->not_port, d);
	CHECK_EQ(refs_of(d, MACH_PORT_RIGHT_DEAD_NAME), 2);
	/* on a live right, sync != 0 just registers */
	mach_port_t p = new_port();
	CHECK_EQ(mach_port_insert_right(task, p, p, MACH_MSG_TYPE_MAKE_SEND), KERN_SUCCESS);
	CHECK_EQ(request(p, MACH_NOTIFY_DEAD_NAME, 1, n, NULL), KERN_SUCCESS);
	expect_none(n);
	/* destroying the name (not the port dying) gives port-deleted */
	CHECK_EQ(mach_port_destroy(task, p), KERN_SUCCESS);
	if (expect_one(n, MACH_NOTIFY_PORT_DELETED, &b))
		CHECK_EQ(((mach_port_deleted_notification_t *)&b.h)->not_port, p);
	CHECK_EQ(mach_port_mod_refs(task, d, MACH_PORT_RIGHT_DEAD_NAME, -2), KERN_SUCCESS);
	drop_receive(n);
}

ATEST(port_destroyed)
{
	mach_port_t task = mach_task_self();
	mach_port_t r = new_port(), n = new_port();
	rcv_buf_t b;
	CHECK_EQ(request(r, MACH_NOTIFY_PORT_DESTROYED, 0, n, NULL), KERN_SUCCESS);
	CHECK_EQ(status_of(r).mps_pdrequest, TRUE);
	CHECK_EQ(send_small(r, MACH_MSG_TYPE_MAKE_SEND, MACH_PORT_NULL, 0, 42, 4242, 0, 0), MACH_MSG_SUCCESS);
	expect_none(n);
	/* destroying the receive right sends it to n instead */
	CHECK_EQ(mach_port_destroy(task, r), KERN_SUCCESS);
	CHECK_EQ(type_of(r), MACH_PORT_TYPE_NONE);
	mach_port_t back = MACH_PORT_NULL;
	if (expect_one(n, MACH_NOTIFY_PORT_DESTROYED, &b)) {
		mach_port_destroyed_notification_t *pd = (mach_port_destroyed_notification_t *)&b.h;
		CHECK(pd->not_header.msgh_bits & MACH_MSGH_BITS_COMPLEX);
		CHECK_EQ(pd->not_header.msgh_size, offsetof(mach_port_destroyed_notification_t, trailer));
		CHECK_EQ(pd->not_body.msgh_descriptor_count, 1);
		CHECK_EQ(pd->not_port.type, MACH_MSG_PORT_DESCRIPTOR);
		CHECK_EQ(pd->not_port.disposition, MACH_MSG_TYPE_PORT_RECEIVE);
		back = pd->not_port.name;
	}
	CHECK(MACH_PORT_VALID(back));
	CHECK_EQ(type_of(back), MACH_PORT_TYPE_RECEIVE);
	/* the port lived on, with its message */
	CHECK_EQ(recv_msg(back, &b, RCV_WAIT_MS), MACH_MSG_SUCCESS);
	CHECK_EQ(b.h.msgh_id, 42);
	CHECK_EQ(((small_msg_t *)&b.h)->payload, 4242);
	CHECK_EQ(status_of(back).mps_pdrequest, FALSE);
	/* the request is used up: this time it really goes */
	drop_receive(back);
	expect_none(n);

	/* dropped with mod_refs instead of destroy: the same */
	r = new_port();
	CHECK_EQ(request(r, MACH_NOTIFY_PORT_DESTROYED, 0, n, NULL), KERN_SUCCESS);
	drop_receive(r);
	back = MACH_PORT_NULL;
	if (expect_one(n, MACH_NOTIFY_PORT_DESTROYED, &b))
		back = ((mach_port_destroyed_notification_t *)&b.h)->not_port.name;
	CHECK_EQ(type_of(back), MACH_PORT_TYPE_RECEIVE);
	drop_receive(back);
	drop_receive(n);
}

ATEST(send_once_notification)
{
	mach_port_t task = mach_task_self();
	mach_port_t p = new_port(), q = new_port();
	rcv_buf_t b;
	mach_port_t so;
	mach_msg_type_name_t pp;
	/* deallocated unused */
	CHECK_EQ(mach_port_extract_right(task, p, MACH_MSG_TYPE_MAKE_SEND_ONCE, &so, &pp), KERN_SUCCESS);
	CHECK_EQ(mach_port_deallocate(task, so), KERN_SUCCESS);
	if (expect_one(p, MACH_NOTIFY_SEND_ONCE, &b)) {
		CHECK_EQ(b.h.msgh_size, sizeof(mach_msg_header_t));
		CHECK_EQ(MACH_MSGH_BITS_LOCAL(b.h.msgh_bits), MACH_MSG_TYPE_PORT_SEND_ONCE);
	}
	CHECK_EQ(status_of(p).mps_sorights, 0);
	/* used: no notification */
	CHECK_EQ(mach_port_extract_right(task, p, MACH_MSG_TYPE_MAKE_SEND_ONCE, &so, &pp), KERN_SUCCESS);
	CHECK_EQ(send_small(so, MACH_MSG_TYPE_MOVE_SEND_ONCE, MACH_PORT_NULL, 0, 9, 0, 0, 0), MACH_MSG_SUCCESS);
	expect_one(p, 9, &b);
	/* carried in a message that is destroyed unreceived */
	CHECK_EQ(send_small(q, MACH_MSG_TYPE_MAKE_SEND, p, MACH_MSG_TYPE_MAKE_SEND_ONCE, 10, 0, 0, 0),
	         MACH_MSG_SUCCESS);
	expect_none(p);
	drop_receive(q);
	expect_one(p, MACH_NOTIFY_SEND_ONCE, &b);
	/* received and then destroyed by the receiver */
	q = new_port();
	CHECK_EQ(send_small(q, MACH_MSG_TYPE_MAKE_SEND, p, MACH_MSG_TYPE_MAKE_SEND_ONCE, 11, 0, 0, 0),
	         MACH_MSG_SUCCESS);
	CHECK_EQ(recv_msg(q, &b, RCV_WAIT_MS), MACH_MSG_SUCCESS);
	expect_none(p);
	mach_msg_destroy(&b.h);
	expect_one(p, MACH_NOTIFY_SEND_ONCE, &b);
	drop_receive(q);
	drop_receive(p);
}

ATEST(port_deleted)
{
	mach_port_t task = mach_task_self();
	mach_port_t p = new_port(), n = new_port();
	rcv_buf_t b;
	mach_port_t so;
	mach_msg_type_name_t pp;
	/* a send-once right with a dead-name request, deallocated */
	CHECK_EQ(mach_port_extract_right(task, p, MACH_MSG_TYPE_MAKE_SEND_ONCE, &so, &pp), KERN_SUCCESS);
	CHECK_EQ(request(so, MACH_NOTIFY_DEAD_NAME, 0, n, NULL), KERN_SUCCESS);
	CHECK_EQ(mach_port_deallocate(task, so), KERN_SUCCESS);
	if (expect_one(n, MACH_NOTIFY_PORT_DELETED, &b)) {
		mach_port_deleted_notification_t *pdel = (mach_port_deleted_notification_t *)&b.h;
		CHECK_EQ(pdel->not_header.msgh_size, offsetof(mach_port_deleted_notification_t, trailer));
		CHECK_EQ(pdel->not_port, so);
	}
	expect_one(p, MACH_NOTIFY_SEND_ONCE, &b);
	/* ... or used to send a message */
	CHECK_EQ(mach_port_extract_right(task, p, MACH_MSG_TYPE_MAKE_SEND_ONCE, &so, &pp), KERN_SUCCESS);
	CHECK_EQ(request(so, MACH_NOTIFY_DEAD_NAME, 0, n, NULL), KERN_SUCCESS);
	CHECK_EQ(send_small(so, MACH_MSG_TYPE_MOVE_SEND_ONCE, MACH_PORT_NULL, 0, 12, 0, 0, 0), MACH_MSG_SUCCESS);
	if (expect_one(n, MACH_NOTIFY_PORT_DELETED, &b))
		CHECK_EQ(((mach_port_deleted_notification_t *)&b.h)->not_port, so);
	expect_one(p, 12, &b);
	/* a send right whose last reference goes */
	CHECK_EQ(mach_port_insert_right(task, p, p, MACH_MSG_TYPE_MAKE_SEND), KERN_SUCCESS);
	mach_port_t q = new_port();
	CHECK_EQ(send_small(q, MACH_MSG_TYPE_MAKE_SEND, MACH_PORT_NULL, 0, 0, 0, 0, 0), MACH_MSG_SUCCESS);
	/* move p's receive right away so the name holds only the send right */
	struct {
		mach_msg_header_t h;
		mach_msg_body_t body;
		mach_msg_port_descriptor_t port;
	} m;
	memset(&m, 0, sizeof m);
	m.h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_MAKE_SEND, 0) | MACH_MSGH_BITS_COMPLEX;
	m.h.msgh_size = sizeof m;
	m.h.msgh_remote_port = q;
	m.body.msgh_descriptor_count = 1;
	m.port.name = p;
	m.port.disposition = MACH_MSG_TYPE_MOVE_RECEIVE;
	m.port.type = MACH_MSG_PORT_DESCRIPTOR;
	CHECK_EQ(mach_msg(&m.h, MACH_SEND_MSG, sizeof m, 0, MACH_PORT_NULL, 0, MACH_PORT_NULL), MACH_MSG_SUCCESS);
	CHECK_EQ(request(p, MACH_NOTIFY_DEAD_NAME, 0, n, NULL), KERN_SUCCESS);
	CHECK_EQ(mach_port_deallocate(task, p), KERN_SUCCESS);
	CHECK_EQ(type_of(p), MACH_PORT_TYPE_NONE);
	if (expect_one(n, MACH_NOTIFY_PORT_DELETED, &b))
		CHECK_EQ(((mach_port_deleted_notification_t *)&b.h)->not_port, p);
	/* get p back and clean up */
	CHECK_EQ(recv_msg(q, &b, RCV_WAIT_MS), MACH_MSG_SUCCESS);
	CHECK_EQ(b.h.msgh_id, 0);
	CHECK_EQ(recv_msg(q, &b, RCV_WAIT_MS), MACH_MSG_SUCCESS);
	p = ((mach_msg_port_descriptor_t *)((mach_msg_base_t *)&b.h + 1))->name;
	CHECK_EQ(type_of(p), MACH_PORT_TYPE_RECEIVE);
	drop_receive(p);
	drop_receive(q);
	drop_receive(n);
}

ATEST(request_notification_errors)
{
	mach_port_t task = mach_task_self();
	mach_port_t p = new_port(), n = new_port(), s, d, so, prev;
	mach_msg_type_name_t pp;
	rcv_buf_t b;
	CHECK_EQ(mach_port_allocate(task, MACH_PORT_RIGHT_PORT_SET, &s), KERN_SUCCESS);
	CHECK_EQ(mach_port_allocate(task, MACH_PORT_RIGHT_DEAD_NAME, &d), KERN_SUCCESS);
	CHECK_EQ(mach_port_extract_right(task, p, MACH_MSG_TYPE_MAKE_SEND_ONCE, &so, &pp), KERN_SUCCESS);
	mach_port_name_t unused = 0x4e4e00;
	while (type_of(unused) != MACH_PORT_TYPE_NONE)
		unused += 0x100;

	/* not a notification one can ask for */
	CHECK_EQ(request(p, MACH_NOTIFY_SEND_ONCE, 0, n, NULL), KERN_INVALID_VALUE);
	CHECK_EQ(request(p, 999, 0, n, NULL), KERN_INVALID_VALUE);
	/* no-senders and port-destroyed need a receive right */
	CHECK_EQ(request(s, MACH_NOTIFY_NO_SENDERS, 0, n, NULL), KERN_INVALID_RIGHT);
	CHECK_EQ(request(d, MACH_NOTIFY_NO_SENDERS, 0, n, NULL), KERN_INVALID_RIGHT);
	CHECK_EQ(request(so, MACH_NOTIFY_NO_SENDERS, 0, n, NULL), KERN_INVALID_RIGHT);
	CHECK_EQ(request(unused, MACH_NOTIFY_NO_SENDERS, 0, n, NULL), KERN_INVALID_NAME);
	CHECK_EQ(request(s, MACH_NOTIFY_PORT_DESTROYED, 0, n, NULL), KERN_INVALID_RIGHT);
	CHECK_EQ(request(so, MACH_NOTIFY_PORT_DESTROYED, 0, n, NULL), KERN_INVALID_RIGHT);
	CHECK_EQ(request(unused, MACH_NOTIFY_PORT_DESTROYED, 0, n, NULL), KERN_INVALID_NAME);
	CHECK_EQ(request(p, MACH_NOTIFY_PORT_DESTROYED, 1, n, NULL), KERN_INVALID_VALUE);
	/* dead-name needs a port right (or a dead name with sync) */
	CHECK_EQ(request(s, MACH_NOTIFY_DEAD_NAME, 0, n, NULL), KERN_INVALID_RIGHT);
	CHECK_EQ(request(unused, MACH_NOTIFY_DEAD_NAME, 0, n, NULL), KERN_INVALID_NAME);
	CHECK_EQ(request(d, MACH_NOTIFY_DEAD_NAME, 0, n, NULL), KERN_INVALID_ARGUMENT);
	/* a dead notify right */
	CHECK_EQ(mach_port_request_notification(task, p, MACH_NOTIFY_NO_SENDERS, 0, MACH_PORT_DEAD,
	        MACH_MSG_TYPE_MOVE_SEND_ONCE, &prev), KERN_INVALID_CAPABILITY);
	/* none of that registered anything or kept any right. (Mach makes the
	 * send-once right before the call fails, so a send-once notification
	 * for each failure is allowed; nothing else is.) */
	mach_port_status_t st = status_of(p);
	CHECK_EQ(st.mps_nsrequest, FALSE);
	CHECK_EQ(st.mps_pdrequest, FALSE);
	while (recv_msg(n, &b, 0) == MACH_MSG_SUCCESS)
		CHECK_EQ(b.h.msgh_id, MACH_NOTIFY_SEND_ONCE);
	CHECK_EQ(status_of(n).mps_sorights, 0);

	/* replacing a request hands back the old send-once right */
	mach_port_t n2 = new_port();
	CHECK_EQ(request(p, MACH_NOTIFY_NO_SENDERS, 1, n, NULL), KERN_SUCCESS);
	CHECK_EQ(request(p, MACH_NOTIFY_NO_SENDERS, 1, n2, &prev), KERN_SUCCESS);
	CHECK(MACH_PORT_VALID(prev));
	CHECK_EQ(type_of(prev), MACH_PORT_TYPE_SEND_ONCE);
	/* it is a send-once right to n: destroying it tells n */
	CHECK_EQ(mach_port_deallocate(task, prev), KERN_SUCCESS);
	expect_one(n, MACH_NOTIFY_SEND_ONCE, &b);
	/* cancelling: MACH_PORT_NULL as the notify right */
	CHECK_EQ(mach_port_request_notification(task, p, MACH_NOTIFY_NO_SENDERS, 0, MACH_PORT_NULL,
	        MACH_MSG_TYPE_MAKE_SEND_ONCE, &prev), KERN_SUCCESS);
	CHECK_EQ(type_of(prev), MACH_PORT_TYPE_SEND_ONCE);
	CHECK_EQ(mach_port_deallocate(task, prev), KERN_SUCCESS);
	expect_one(n2, MACH_NOTIFY_SEND_ONCE, &b);
	CHECK_EQ(status_of(p).mps_nsrequest, FALSE);
	/* dead-name on a send-once right, replaced and cancelled */
	CHECK_EQ(request(so, MACH_NOTIFY_DEAD_NAME, 0, n, NULL), KERN_SUCCESS);
	CHECK_EQ(type_of(so), MACH_PORT_TYPE_SEND_ONCE | MACH_PORT_TYPE_DNREQUEST);
	CHECK_EQ(mach_port_request_notification(task, so, MACH_NOTIFY_DEAD_NAME, 0, MACH_PORT_NULL,
	        MACH_MSG_TYPE_MAKE_SEND_ONCE, &prev), KERN_SUCCESS);
	CHECK_EQ(type_of(prev), MACH_PORT_TYPE_SEND_ONCE);
	CHECK_EQ(type_of(so), MACH_PORT_TYPE_SEND_ONCE);
	CHECK_EQ(mach_port_deallocate(task, prev), KERN_SUCCESS);
	expect_one(n, MACH_NOTIFY_SEND_ONCE, &b);

	CHECK_EQ(mach_port_deallocate(task, so), KERN_SUCCESS);
	expect_one(p, MACH_NOTIFY_SEND_ONCE, &b);
	expect_none(n);
	CHECK_EQ(mach_port_destroy(task, s), KERN_SUCCESS);
	CHECK_EQ(mach_port_deallocate(task, d), KERN_SUCCESS);
	drop_receive(p);
	drop_receive(n);
	drop_receive(n2);
}

/* Receives one message on n and hands it to notify_server. */
static boolean_t serve_one(mach_port_t n, mig_reply_error_t *reply)
{
	rcv_buf_t b;
	mach_msg_return_t mr = recv_msg(n, &b, RCV_WAIT_MS);
	CHECK_EQ(mr, MACH_MSG_SUCCESS);
	if (mr != MACH_MSG_SUCCESS)
		return FALSE;
	memset(reply, 0, sizeof *reply);
	return notify_server(&b.h, &reply->Head);
}

ATEST(notify_server_dispatch)
{
	mach_port_t task = mach_task_self();
	mach_port_t n = new_port(), p = new_port(), so;
	mach_msg_type_name_t pp;
	mig_reply_error_t reply;
	memset(&seen, 0, sizeof seen);

	/* no-senders */
	CHECK_EQ(mach_port_set_mscount(task, p, 3), KERN_SUCCESS);
	CHECK_EQ(request(p, MACH_NOTIFY_NO_SENDERS, 0, n, NULL), KERN_SUCCESS);
	CHECK(serve_one(n, &reply));
	CHECK_EQ(seen.no_senders, 1);
	CHECK_EQ(seen.notify, n);
	CHECK_EQ(seen.mscount, 3);

	/* send-once */
	CHECK_EQ(mach_port_extract_right(task, n, MACH_MSG_TYPE_MAKE_SEND_ONCE, &so, &pp), KERN_SUCCESS);
	CHECK_EQ(mach_port_deallocate(task, so), KERN_SUCCESS);
	CHECK(serve_one(n, &reply));
	CHECK_EQ(seen.send_once, 1);
	CHECK_EQ(seen.notify, n);

	/* dead-name */
	mach_port_name_t d;
	CHECK_EQ(mach_port_allocate(task, MACH_PORT_RIGHT_DEAD_NAME, &d), KERN_SUCCESS);
	CHECK_EQ(request(d, MACH_NOTIFY_DEAD_NAME, 1, n, NULL), KERN_SUCCESS);
	CHECK(serve_one(n, &reply));
	CHECK_EQ(seen.dead_name, 1);
	CHECK_EQ(seen.name, d);
	CHECK_EQ(mach_port_mod_refs(task, d, MACH_PORT_RIGHT_DEAD_NAME, -2), KERN_SUCCESS);

	/* port-deleted */
	CHECK_EQ(mach_port_extract_right(task, p, MACH_MSG_TYPE_MAKE_SEND_ONCE, &so, &pp), KERN_SUCCESS);
	CHECK_EQ(request(so, MACH_NOTIFY_DEAD_NAME, 0, n, NULL), KERN_SUCCESS);
	CHECK_EQ(mach_port_deallocate(task, so), KERN_SUCCESS);
	CHECK(serve_one(n, &reply));
	CHECK_EQ(seen.deleted, 1);
	CHECK_EQ(seen.name, so);
	rcv_buf_t b;
	expect_one(p, MACH_NOTIFY_SEND_ONCE, &b);

	/* port-destroyed: the routine gets the receive right */
	CHECK_EQ(request(p, MACH_NOTIFY_PORT_DESTROYED, 0, n, NULL), KERN_SUCCESS);
	CHECK_EQ(mach_port_destroy(task, p), KERN_SUCCESS);
	CHECK(serve_one(n, &reply));
	CHECK_EQ(seen.destroyed, 1);
	CHECK_EQ(type_of(seen.rights), MACH_PORT_TYPE_RECEIVE);
	if (type_of(seen.rights) == MACH_PORT_TYPE_RECEIVE)
		drop_receive(seen.rights);

	/* every routine ran exactly once; nothing is left on n */
	CHECK_EQ(seen.no_senders, 1);
	CHECK_EQ(seen.send_once, 1);
	CHECK_EQ(seen.dead_name, 1);
	CHECK_EQ(seen.deleted, 1);
	CHECK_EQ(seen.destroyed, 1);
	expect_none(n);

	/* a message that is no notification: FALSE, and a MIG_BAD_ID reply */
	CHECK_EQ(send_small(n, MACH_MSG_TYPE_MAKE_SEND, MACH_PORT_NULL, 0, 12345, 0, 0, 0), MACH_MSG_SUCCESS);
	CHECK(!serve_one(n, &reply));
	CHECK_EQ(reply.RetCode, MIG_BAD_ID);
	CHECK_EQ(reply.Head.msgh_id, 12345 + MIG_REPLY_ID_OFFSET);
	CHECK_EQ(seen.no_senders + seen.send_once + seen.dead_name + seen.deleted + seen.destroyed, 5);
	drop_receive(n);
}

int main(void)
{
	warm_up();
	RUN(no_senders_immediate);
	RUN(no_senders_when_last_send_right_goes);
	RUN(no_senders_sync_threshold);
	RUN(no_senders_from_destroyed_message);
	RUN(dead_name);
	RUN(dead_name_immediate);
	RUN(port_destroyed);
	RUN(send_once_notification);
	RUN(port_deleted);
	RUN(request_notification_errors);
	RUN(notify_server_dispatch);
	return harness_done();
}
