/* Mach IPC under concurrency: many senders, one receiver (sequence numbers
 * gap-free, every message exactly once, each sender's messages in order);
 * several receivers rebuilding the order from seqnos; blocked senders on a
 * full queue; allocate/deallocate from many threads at once.
 * Semantics: OSF mach_msg(2) "Message Send"/"Message Receive". */
#include <mach/mach.h>
#include <pthread.h>
#include <stdint.h>
#include "harness.h"

#include "ipc_rights.h"

#define NSENDERS 4
#define PER_SENDER 3000

struct sender_arg {
	mach_port_t port;
	int id;
	int failures;
};

static void *sender_main(void *arg)
{
	struct sender_arg *sa = arg;
	for (int i = 0; i < PER_SENDER; i++) {
		/* COPY_SEND from a shared name, with a generous timeout so a lost
		 * wake-up fails the test instead of hanging it */
		mach_msg_return_t mr = send_small(sa->port, MACH_MSG_TYPE_COPY_SEND, MACH_PORT_NULL, 0,
		        sa->id, i, MACH_SEND_TIMEOUT, RCV_WAIT_MS);
		if (mr != MACH_MSG_SUCCESS)
			sa->failures++;
	}
	return NULL;
}

ATEST(many_senders_one_receiver)
{
	mach_port_t task = mach_task_self();
	mach_port_t p = new_port();
	CHECK_EQ(mach_port_insert_right(task, p, p, MACH_MSG_TYPE_MAKE_SEND), KERN_SUCCESS);
	pthread_t th[NSENDERS];
	struct sender_arg sa[NSENDERS];
	for (int t = 0; t < NSENDERS; t++) {
		sa[t] = (struct sender_arg){ .port = p, .id = t, .failures = 0 };
		REQUIRE(pthread_create(&th[t], NULL, sender_main, &sa[t]) == 0);
	}
	int next[NSENDERS] = { 0 };
	int order_errors = 0, seq_errors = 0, other = 0, got = 0;
	rcv_buf_t b;
	for (int n = 0; n < NSENDERS * PER_SENDER; n++) {
		mach_msg_return_t mr = recv_msg(p, &b, RCV_WAIT_MS);
		if (mr != MACH_MSG_SUCCESS) {
			CHECK_EQ(mr, MACH_MSG_SUCCESS);
			break;
		}
		got++;
		if (trailer_of(&b.h)->msgh_seqno != (mach_port_seqno_t)n)
			seq_errors++;
		small_msg_t *m = (small_msg_t *)&b.h;
		if (m->h.msgh_id < 0 || m->h.msgh_id >= NSENDERS) {
			other++;
			continue;
		}
		/* each sender's messages arrive once each, in the order sent */
		if (m->payload != next[m->h.msgh_id])
			order_errors++;
		next[m->h.msgh_id] = m->payload + 1;
	}
	for (int t = 0; t < NSENDERS; t++) {
		pthread_join(th[t], NULL);
		CHECK_EQ(sa[t].failures, 0);
		CHECK_EQ(next[t], PER_SENDER);
	}
	CHECK_EQ(got, NSENDERS * PER_SENDER);
	CHECK_EQ(seq_errors, 0);
	CHECK_EQ(order_errors, 0);
	CHECK_EQ(other, 0);
	CHECK_EQ(recv_msg(p, &b, 0), MACH_RCV_TIMED_OUT);
	CHECK_EQ(refs_of(p, MACH_PORT_RIGHT_SEND), 1);
	CHECK_EQ(mach_port_destroy(task, p), KERN_SUCCESS);
}

#define NRECEIVERS 2
#define TOTAL_MSGS (NSENDERS * PER_SENDER)

struct receiver_arg {
	mach_port_t port;
	unsigned char *seen;      /* by seqno */
	int (*payload_at)[2];     /* [seqno] = {sender, index} */
	int count, errors;
	pthread_mutex_t *mu;
	int *remaining;
};

static void *receiver_main(void *arg)
{
	struct receiver_arg *ra = arg;
	rcv_buf_t b;
	for (;;) {
		pthread_mutex_lock(ra->mu);
		int left = (*ra->remaining)--;
		pthread_mutex_unlock(ra->mu);
		if (left <= 0)
			break;
		if (recv_msg(ra->port, &b, RCV_WAIT_MS) != MACH_MSG_SUCCESS) {
			ra->errors++;
			break;
		}
		mach_port_seqno_t sq = trailer_of(&b.h)->msgh_seqno;
		if (sq >= TOTAL_MSGS) {
			ra->errors++;
			continue;
		}
		/* each seqno is given out once: no lock needed for distinct slots */
		ra->seen[sq]++;
		ra->payload_at[sq][0] = b.h.msgh_id;
		ra->payload_at[sq][1] = ((small_msg_t *)&b.h)->payload;
		ra->count++;
	}
	return NULL;
}

ATEST(several_receivers_rebuild_order)
{
	mach_port_t task = mach_task_self();
	mach_port_t p = new_port();
	CHECK_EQ(mach_port_insert_right(task, p, p, MACH_MSG_TYPE_MAKE_SEND), KERN_SUCCESS);
	unsigned char *seen = calloc(TOTAL_MSGS, 1);
	int (*payload_at)[2] = calloc(TOTAL_MSGS, sizeof *payload_at);
	REQUIRE(seen && payload_at);
	pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	int remaining = TOTAL_MSGS;
	pthread_t rt[NRECEIVERS], st[NSENDERS];
	struct receiver_arg ra[NRECEIVERS];
	struct sender_arg sa[NSENDERS];
	for (int r = 0; r < NRECEIVERS; r++) {
		ra[r] = (struct receiver_arg){ .port = p, .seen = seen, .payload_at = payload_at,
		        .mu = &mu, .remaining = &remaining };
		REQUIRE(pthread_create(&rt[r], NULL, receiver_main, &ra[r]) == 0);
	}
	for (int t = 0; t < NSENDERS; t++) {
		sa[t] = (struct sender_arg){ .port = p, .id = t };
		REQUIRE(pthread_create(&st[t], NULL, sender_main, &sa[t]) == 0);
	}
	for (int t = 0; t < NSENDERS; t++) {
		pthread_join(st[t], NULL);
		CHECK_EQ(sa[t].failures, 0);
	}
	int total = 0;
	for (int r = 0; r < NRECEIVERS; r++) {
		pthread_join(rt[r], NULL);
		CHECK_EQ(ra[r].errors, 0);
		total += ra[r].count;
	}
	CHECK_EQ(total, TOTAL_MSGS);
	/* every seqno exactly once, and in seqno order each sender's messages
	 * are in the order it sent them */
	int dup_or_gap = 0, order = 0;
	int next[NSENDERS] = { 0 };
	for (int s = 0; s < TOTAL_MSGS; s++) {
		if (seen[s] != 1) {
			dup_or_gap++;
			continue;
		}
		int who = payload_at[s][0], idx = payload_at[s][1];
		if (who < 0 || who >= NSENDERS || idx != next[who])
			order++;
		else
			next[who]++;
	}
	CHECK_EQ(dup_or_gap, 0);
	CHECK_EQ(order, 0);
	free(seen);
	free(payload_at);
	rcv_buf_t b;
	CHECK_EQ(recv_msg(p, &b, 0), MACH_RCV_TIMED_OUT);
	CHECK_EQ(mach_port_destroy(task, p), KERN_SUCCESS);
}

#define NBLOCKED 6

struct one_shot {
	mach_port_t port;
	int id;
	mach_msg_return_t mr;
};

static void *one_shot_main(void *arg)
{
	struct one_shot *o = arg;
	o->mr = send_small(o->port, MACH_MSG_TYPE_COPY_SEND, MACH_PORT_NULL, 0, o->id, o->id * 10,
	        MACH_SEND_TIMEOUT, RCV_WAIT_MS);
	return NULL;
}

ATEST(blocked_senders_all_complete)
{
	mach_port_t task = mach_task_self();
	mach_port_t p = new_port();
	CHECK_EQ(mach_port_insert_right(task, p, p, MACH_MSG_TYPE_MAKE_SEND), KERN_SUCCESS);
	mach_port_limits_t lim = { .mpl_qlimit = 1 };
	CHECK_EQ(mach_port_set_attributes(task, p, MACH_PORT_LIMITS_INFO, (mach_port_info_t)&lim,
	        MACH_PORT_LIMITS_INFO_COUNT), KERN_SUCCESS);
	/* fill the queue first, so every thread has to wait */
	CHECK_EQ(send_small(p, MACH_MSG_TYPE_COPY_SEND, MACH_PORT_NULL, 0, 100, 0, 0, 0), MACH_MSG_SUCCESS);
	pthread_t th[NBLOCKED];
	struct one_shot o[NBLOCKED];
	for (int i = 0; i < NBLOCKED; i++) {
		o[i] = (struct one_shot){ .port = p, .id = i, .mr = -1 };
		REQUIRE(pthread_create(&th[i], NULL, one_shot_main, &o[i]) == 0);
	}
	int seen[NBLOCKED] = { 0 }, first = 0;
	rcv_buf_t b;
	for (int n = 0; n < NBLOCKED + 1; n++) {
		CHECK(status_of(p).mps_msgcount <= 1);
		mach_msg_return_t mr = recv_msg(p, &b, RCV_WAIT_MS);
		CHECK_EQ(mr, MACH_MSG_SUCCESS);
		if (mr != MACH_MSG_SUCCESS)
			break;
		CHECK_EQ(trailer_of(&b.h)->msgh_seqno, (mach_port_seqno_t)n);
		if (b.h.msgh_id == 100)
			first++;
		else if (b.h.msgh_id >= 0 && b.h.msgh_id < NBLOCKED) {
			seen[b.h.msgh_id]++;
			CHECK_EQ(((small_msg_t *)&b.h)->payload, b.h.msgh_id * 10);
		}
	}
	CHECK_EQ(first, 1);
	for (int i = 0; i < NBLOCKED; i++) {
		pthread_join(th[i], NULL);
		CHECK_EQ(o[i].mr, MACH_MSG_SUCCESS);
		CHECK_EQ(seen[i], 1);
	}
	CHECK_EQ(recv_msg(p, &b, 0), MACH_RCV_TIMED_OUT);
	CHECK_EQ(mach_port_destroy(task, p), KERN_SUCCESS);
}

#define NSTRESS 4
#define STRESS_ITERS 4000

struct stress_arg {
	int errors;
};

static void *stress_main(void *arg)
{
	struct stress_arg *sa = arg;
	mach_port_t task = mach_task_self();
	for (int i = 0; i < STRESS_ITERS; i++) {
		mach_port_t p = MACH_PORT_NULL, s = MACH_PORT_NULL, d = MACH_PORT_NULL, so = MACH_PORT_NULL;
		mach_msg_type_name_t pp;
		if (mach_port_allocate(task, MACH_PORT_RIGHT_RECEIVE, &p) != KERN_SUCCESS) { sa->errors++; continue; }
		/* a fresh name must hold exactly what we just made */
		mach_port_type_t t = 0;
		if (mach_port_type(task, p, &t) != KERN_SUCCESS || t != MACH_PORT_TYPE_RECEIVE)
			sa->errors++;
		if (mach_port_insert_right(task, p, p, MACH_MSG_TYPE_MAKE_SEND) != KERN_SUCCESS)
			sa->errors++;
		if (mach_port_allocate(task, MACH_PORT_RIGHT_PORT_SET, &s) != KERN_SUCCESS)
			sa->errors++;
		if (mach_port_move_member(task, p, s) != KERN_SUCCESS)
			sa->errors++;
		if (mach_port_allocate(task, MACH_PORT_RIGHT_DEAD_NAME, &d) != KERN_SUCCESS)
			sa->errors++;
		if (i % 4 == 0) {
			/* a send-once right, and its notification through the set */
			if (mach_port_extract_right(task, p, MACH_MSG_TYPE_MAKE_SEND_ONCE, &so, &pp) != KERN_SUCCESS)
				sa->errors++;
			else if (mach_port_deallocate(task, so) != KERN_SUCCESS)
				sa->errors++;
			rcv_buf_t b;
			if (recv_msg(s, &b, RCV_WAIT_MS) != MACH_MSG_SUCCESS ||
			    b.h.msgh_id != MACH_NOTIFY_SEND_ONCE || b.h.msgh_local_port != p)
				sa->errors++;
		}
		if (mach_port_deallocate(task, d) != KERN_SUCCESS)
			sa->errors++;
		if (mach_port_mod_refs(task, p, MACH_PORT_RIGHT_SEND, -1) != KERN_SUCCESS)
			sa->errors++;
		if (i & 1) {
			if (mach_port_destroy(task, s) != KERN_SUCCESS)
				sa->errors++;
			if (mach_port_mod_refs(task, p, MACH_PORT_RIGHT_RECEIVE, -1) != KERN_SUCCESS)
				sa->errors++;
		} else {
			if (mach_port_destroy(task, p) != KERN_SUCCESS)
				sa->errors++;
			if (mach_port_mod_refs(task, s, MACH_PORT_RIGHT_PORT_SET, -1) != KERN_SUCCESS)
				sa->errors++;
		}
	}
	return NULL;
}

ATEST(concurrent_allocate_deallocate)
{
	pthread_t th[NSTRESS];
	struct stress_arg sa[NSTRESS];
	for (int t = 0; t < NSTRESS; t++) {
		sa[t].errors = 0;
		REQUIRE(pthread_create(&th[t], NULL, stress_main, &sa[t]) == 0);
	}
	for (int t = 0; t < NSTRESS; t++) {
		pthread_join(th[t], NULL);
		CHECK_EQ(sa[t].errors, 0);
	}
	/* the accounting wrapper checks that no name is left behind */
}

int main(void)
{
	warm_up();
	RUN(many_senders_one_receiver);
	RUN(several_receivers_rebuild_order);
	RUN(blocked_senders_all_complete);
	RUN(concurrent_allocate_deallocate);
	return harness_done();
}
