/* pagers/pager_pool: the order it keeps within an object (a read waits for
 * an earlier write of its pages, barriers for everything; reads and other
 * pages run side by side), that every message consumes its seqno, removal
 * from a handler, bad input, and that destroy leaves no thread behind.
 * The messages are the test's own (id TEST_ID, body: order and range), so
 * each rule is checked without a kernel in between. */
#include <mach/mach.h>
#include "../pagers/pager_pool.h"
#include "harness.h"
#include "thread_count.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#define TEST_ID 0x74657374
#define MAX_TAGS 64
/* Bounds every wait: a pool that breaks a rule fails, never hangs. */
#define WAIT_MS 10000

typedef struct test_msg {
	mach_msg_header_t head;
	uint32_t order;              /* pager_pool_order_t */
	uint32_t tag;
	uint64_t offset, length;
} test_msg_t;

/* What the handlers saw: a global clock of events. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int clock_now;
static int started[MAX_TAGS], ended[MAX_TAGS];  /* clock + 1; 0: not yet */
static bool gated[MAX_TAGS];                     /* handler waits for open */
static int wait_for_start[MAX_TAGS];             /* tag + 1 to wait for */
static bool saw_start[MAX_TAGS];
static int hook_calls;
static int per_page_last[4];
static bool per_page_in_order = true;
static pager_pool_t *remove_pool;
static mach_port_t remove_port;
static int remove_tag = -1;

static void reset(void)
{
	pthread_mutex_lock(&lock);
	clock_now = 0;
	memset(started, 0, sizeof started);
	memset(ended, 0, sizeof ended);
	memset(gated, 0, sizeof gated);
	memset(wait_for_start, 0, sizeof wait_for_start);
	memset(saw_start, 0, sizeof saw_start);
	memset(per_page_last, 0xff, sizeof per_page_last);
	per_page_in_order = true;
	hook_calls = 0;
	remove_tag = -1;
	pthread_mutex_unlock(&lock);
}

static struct timespec deadline_in(int ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return ts;
}

/* Waits (lock held) until pred() or the bound; returns pred(). */
static bool wait_until(bool (*pred)(void *), void *arg)
{
	struct timespec deadline = deadline_in(WAIT_MS);
	while (!pred(arg))
		if (pthread_cond_timedwait(&cond, &lock, &deadline) == ETIMEDOUT)
			return pred(arg);
	return true;
}

static bool tag_ended(void *arg) { return ended[(intptr_t)arg] != 0; }
static bool tag_started(void *arg) { return started[(intptr_t)arg] != 0; }
static bool hooks_reached(void *arg) { return hook_calls >= (intptr_t)arg; }

static boolean_t test_demux(void *ctx, mach_msg_header_t *in, mach_msg_header_t *out)
{
	(void)ctx;
	if (in->msgh_id != TEST_ID || in->msgh_size != sizeof(test_msg_t))
		return FALSE;
	test_msg_t *m = (test_msg_t *)in;
	int tag = (int)m->tag;
	if (tag >= MAX_TAGS)
		return FALSE;
	pthread_mutex_lock(&lock);
	started[tag] = ++clock_now;
	pthread_cond_broadcast(&cond);
	if (m->order == PAGER_POOL_WRITE && m->offset / 4096 < 4) {
		int page = (int)(m->offset / 4096);
		if (per_page_last[page] >= tag)
			per_page_in_order = false;
		per_page_last[page] = tag;
	}
	if (wait_for_start[tag])
		saw_start[tag] = wait_until(tag_started,
		        (void *)(intptr_t)(wait_for_start[tag] - 1));
	struct timespec deadline = deadline_in(WAIT_MS);
	while (gated[tag] &&
	       pthread_cond_timedwait(&cond, &lock, &deadline) != ETIMEDOUT)
		;
	bool do_remove = tag == remove_tag;
	pthread_mutex_unlock(&lock);
	if (do_remove)
		pager_pool_remove(remove_pool, remove_port);
	pthread_mutex_lock(&lock);
	ended[tag] = ++clock_now;
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&lock);
	((mig_reply_error_t *)out)->RetCode = MIG_NO_REPLY;
	return TRUE;
}

static pager_pool_order_t test_classify(void *ctx, mach_msg_header_t *in,
        vm_offset_t *offset, vm_size_t *length)
{
	(void)ctx;
	if (in->msgh_id != TEST_ID || in->msgh_size != sizeof(test_msg_t))
		return PAGER_POOL_BARRIER;
	test_msg_t *m = (test_msg_t *)in;
	*offset = m->offset;
	*length = m->length;
	return (pager_pool_order_t)m->order;
}

static void wait_hook(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&lock);
	hook_calls++;
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&lock);
}

static void send_msg(mach_port_t port, pager_pool_order_t order, int tag,
        uint64_t offset, uint64_t length)
{
	test_msg_t m = {
		.head = { .msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_MAKE_SEND, 0),
		          .msgh_size = sizeof m, .msgh_remote_port = port,
		          .msgh_id = TEST_ID },
		.order = (uint32_t)order, .tag = (uint32_t)tag,
		.offset = offset, .length = length,
	};
	CHECK_EQ(mach_msg(&m.head, MACH_SEND_MSG, sizeof m, 0, MACH_PORT_NULL,
	                  MACH_MSG_TIMEOUT_NONE, MACH_PORT_NULL), MACH_MSG_SUCCESS);
}

static mach_port_t new_port(void)
{
	mach_port_t port;
	REQUIRE(mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE, &port)
	        == KERN_SUCCESS);
	return port;
}

static pager_pool_t *pool_with(unsigned threads, mach_port_t port)
{
	pager_pool_t *pool = pager_pool_create(threads, 256);
	REQUIRE(pool != NULL);
	pager_pool_set_wait_hook(pool, wait_hook, NULL);
	CHECK_EQ(pager_pool_add(pool, port, true, test_demux, test_classify, NULL),
	         KERN_SUCCESS);
	return pool;
}

static void open_gate(int tag)
{
	pthread_mutex_lock(&lock);
	gated[tag] = false;
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&lock);
}

static bool wait_ended(int tag)
{
	pthread_mutex_lock(&lock);
	bool ok = wait_until(tag_ended, (void *)(intptr_t)tag);
	pthread_mutex_unlock(&lock);
	return ok;
}

/* A data_request for a page waits for the data_return before it (the
 * refault after a pageout must read what was written: SPEC 6); a request
 * for another page runs meanwhile. Fails at once, not by timing, when the
 * request of the returned page starts before the return has ended. */
TEST(read_waits_for_an_earlier_write_of_its_page_only)
{
	reset();
	mach_port_t port = new_port();
	pager_pool_t *pool = pool_with(3, port);
	gated[0] = true;
	send_msg(port, PAGER_POOL_WRITE, 0, 0, 4096);      /* data_return P */
	send_msg(port, PAGER_POOL_READ, 1, 0, 8192);       /* request over P */
	send_msg(port, PAGER_POOL_READ, 2, 8192, 4096);    /* request of Q */
	pthread_mutex_lock(&lock);
	/* Q runs beside the gated return: the pool serves in parallel. */
	CHECK(wait_until(tag_ended, (void *)(intptr_t)2));
	/* The request over P either waits (the hook says so) or has
	 * started: the latter breaks the order. */
	CHECK(wait_until(hooks_reached, (void *)(intptr_t)1) || started[1]);
	CHECK_EQ(started[1], 0);
	CHECK_EQ(ended[0], 0);
	pthread_mutex_unlock(&lock);
	open_gate(0);
	CHECK(wait_ended(1));
	CHECK(ended[0] != 0 && started[1] > ended[0]);
	pager_pool_destroy(pool);
	mach_port_destroy(mach_task_self(), port);
}

/* Two requests of one page do not wait for each other. */
TEST(reads_of_one_page_run_side_by_side)
{
	reset();
	mach_port_t port = new_port();
	pager_pool_t *pool = pool_with(2, port);
	wait_for_start[0] = 1 + 1;                         /* 0 waits for 1 */
	send_msg(port, PAGER_POOL_READ, 0, 0, 4096);
	send_msg(port, PAGER_POOL_READ, 1, 0, 4096);
	CHECK(wait_ended(0));
	CHECK(wait_ended(1));
	CHECK(saw_start[0]);
	CHECK_EQ(hook_calls, 0);
	pager_pool_destroy(pool);
	mach_port_destroy(mach_task_self(), port);
}

/* A write after a request of the same page waits for it too (a return
 * does not overtake the request whose supply it follows), and a barrier
 * (init, terminate, synchronize, lock_completed, ...) runs alone: after
 * everything before it, before everything after it. */
TEST(barrier_and_write_wait_their_turn)
{
	reset();
	mach_port_t port = new_port();
	pager_pool_t *pool = pool_with(4, port);
	gated[0] = true;
	send_msg(port, PAGER_POOL_READ, 0, 0, 4096);       /* request P, gated */
	send_msg(port, PAGER_POOL_WRITE, 1, 0, 4096);      /* return P */
	send_msg(port, PAGER_POOL_BARRIER, 2, 0, 0);       /* e.g. lock_completed */
	send_msg(port, PAGER_POOL_READ, 3, 65536, 4096);   /* a later request of R */
	pthread_mutex_lock(&lock);
	CHECK(wait_until(hooks_reached, (void *)(intptr_t)3) ||
	      started[1] || started[2] || started[3]);
	CHECK_EQ(started[1], 0);
	CHECK_EQ(started[2], 0);
	CHECK_EQ(started[3], 0);
	pthread_mutex_unlock(&lock);
	open_gate(0);
	CHECK(wait_ended(3));
	CHECK(started[1] > ended[0]);
	CHECK(started[2] > ended[1]);
	CHECK(started[3] > ended[2]);
	pager_pool_destroy(pool);
	mach_port_destroy(mach_task_self(), port);
}

/* Many returns of four pages on four threads: each page's are handled in
 * the order sent. */
TEST(writes_of_one_page_keep_their_order)
{
	reset();
	mach_port_t port = new_port();
	pager_pool_t *pool = pool_with(4, port);
	for (int tag = 0; tag < MAX_TAGS; tag++)
		send_msg(port, PAGER_POOL_WRITE, tag, (uint64_t)(tag % 4) * 4096, 4096);
	for (int tag = 0; tag < MAX_TAGS; tag++)
		CHECK(wait_ended(tag));
	CHECK(per_page_in_order);
	pager_pool_stats_t st;
	pager_pool_get_stats(pool, &st);
	CHECK_EQ(st.threads, 4);
	CHECK_EQ(st.messages, MAX_TAGS);
	pager_pool_destroy(pool);
	mach_port_destroy(mach_task_self(), port);
}

/* A message the demux does not know (or a malformed one) still takes its
 * place: the ones behind it run (SPEC 6: every message consumes its
 * seqno), and its rights are destroyed. */
TEST(unknown_messages_consume_their_seqno)
{
	reset();
	mach_port_t port = new_port();
	pager_pool_t *pool = pool_with(2, port);
	mach_port_t carried = new_port();
	CHECK_EQ(mach_port_insert_right(mach_task_self(), carried, carried,
	                                MACH_MSG_TYPE_MAKE_SEND), KERN_SUCCESS);
	struct {
		mach_msg_header_t head;
		mach_msg_body_t body;
		mach_msg_port_descriptor_t right;
	} unknown = {
		.head = { .msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_MAKE_SEND, 0) |
		                       MACH_MSGH_BITS_COMPLEX,
		          .msgh_size = sizeof unknown, .msgh_remote_port = port,
		          .msgh_id = 4242 },
		.body = { 1 },
		.right = { .name = carried, .disposition = MACH_MSG_TYPE_MOVE_SEND,
		           .type = MACH_MSG_PORT_DESCRIPTOR },
	};
	CHECK_EQ(mach_msg(&unknown.head, MACH_SEND_MSG, sizeof unknown, 0,
	                  MACH_PORT_NULL, MACH_MSG_TIMEOUT_NONE, MACH_PORT_NULL),
	         MACH_MSG_SUCCESS);
	mach_msg_header_t bare = {
		.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_MAKE_SEND, 0),
		.msgh_size = sizeof bare, .msgh_remote_port = port, .msgh_id = TEST_ID,
	};
	CHECK_EQ(mach_msg(&bare, MACH_SEND_MSG, sizeof bare, 0, MACH_PORT_NULL,
	                  MACH_MSG_TIMEOUT_NONE, MACH_PORT_NULL), MACH_MSG_SUCCESS);
	send_msg(port, PAGER_POOL_READ, 5, 0, 4096);
	CHECK(wait_ended(5));
	pager_pool_destroy(pool);      /* every thread done with its message */
	/* The send right the unknown message carried is gone. */
	mach_port_urefs_t refs = 99;
	CHECK_EQ(mach_port_get_refs(mach_task_self(), carried,
	                            MACH_PORT_RIGHT_SEND, &refs), KERN_SUCCESS);
	CHECK_EQ(refs, 0);
	mach_port_destroy(mach_task_self(), carried);
	mach_port_destroy(mach_task_self(), port);
}

/* A handler may take its own port out of the pool (the default pager
 * frees an object in its terminate); what is behind it is not handled,
 * and the pool goes on serving its other ports. */
TEST(remove_from_a_handler_drops_the_rest)
{
	reset();
	mach_port_t a = new_port(), b = new_port();
	pager_pool_t *pool = pool_with(2, a);
	CHECK_EQ(pager_pool_add(pool, b, true, test_demux, test_classify, NULL),
	         KERN_SUCCESS);
	remove_pool = pool;
	remove_port = a;
	remove_tag = 0;
	send_msg(a, PAGER_POOL_BARRIER, 0, 0, 0);          /* e.g. terminate */
	send_msg(a, PAGER_POOL_READ, 1, 0, 4096);
	CHECK(wait_ended(0));
	send_msg(b, PAGER_POOL_READ, 2, 0, 4096);
	CHECK(wait_ended(2));
	CHECK_EQ(started[1], 0);
	/* The port is the caller's still, out of the set; adding it again
	 * works. */
	CHECK_EQ(pager_pool_add(pool, a, true, test_demux, test_classify, NULL),
	         KERN_SUCCESS);
	pager_pool_destroy(pool);
	CHECK_EQ(started[1] == 0 || ended[1] != 0, 1);
	mach_port_destroy(mach_task_self(), a);
	mach_port_destroy(mach_task_self(), b);
}

TEST(bad_input_gets_its_code)
{
	mach_port_t port = new_port();
	pager_pool_t *pool = pager_pool_create(1, 256);
	REQUIRE(pool != NULL);
	CHECK_EQ(pager_pool_add(NULL, port, true, test_demux, NULL, NULL),
	         KERN_INVALID_ARGUMENT);
	CHECK_EQ(pager_pool_add(pool, MACH_PORT_NULL, true, test_demux, NULL, NULL),
	         KERN_INVALID_ARGUMENT);
	CHECK_EQ(pager_pool_add(pool, port, true, NULL, NULL, NULL),
	         KERN_INVALID_ARGUMENT);
	CHECK_EQ(pager_pool_add(pool, 0x12345678, true, test_demux, NULL, NULL),
	         KERN_INVALID_RIGHT);
	mach_port_t send_only = new_port();
	CHECK_EQ(mach_port_insert_right(mach_task_self(), send_only, send_only,
	                                MACH_MSG_TYPE_MAKE_SEND), KERN_SUCCESS);
	CHECK_EQ(mach_port_mod_refs(mach_task_self(), send_only,
	                            MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
	/* Now a dead name: no receive right to serve. */
	CHECK_EQ(pager_pool_add(pool, send_only, true, test_demux, NULL, NULL),
	         KERN_INVALID_RIGHT);
	mach_port_destroy(mach_task_self(), send_only);
	CHECK_EQ(pager_pool_add(pool, port, false, test_demux, NULL, NULL), KERN_SUCCESS);
	CHECK_EQ(pager_pool_add(pool, port, true, test_demux, NULL, NULL),
	         KERN_NAME_EXISTS);
	pager_pool_remove(pool, 0x12345678);     /* unknown: nothing happens */
	pager_pool_remove(NULL, port);
	pager_pool_destroy(pool);
	pager_pool_destroy(NULL);
	mach_port_destroy(mach_task_self(), port);
}

/* Destroy stops and joins every thread, also with messages queued and a
 * handler running: no thread of the pool is left. */
TEST(destroy_joins_every_thread)
{
	reset();
	int before = thread_count();
	mach_port_t port = new_port();
	pager_pool_t *pool = pool_with(4, port);
	CHECK_EQ(thread_count(), before + 4);
	for (int tag = 0; tag < 8; tag++)
		send_msg(port, PAGER_POOL_READ, tag, (uint64_t)tag * 4096, 4096);
	CHECK(wait_ended(0));
	pager_pool_destroy(pool);
	CHECK_EQ(thread_count_settled(before), before);
	mach_port_destroy(mach_task_self(), port);
}

TEST(default_size_follows_the_environment)
{
	setenv("MEMOBJ_PAGER_THREADS", "3", 1);
	CHECK_EQ(pager_pool_default_threads(), 3);
	setenv("MEMOBJ_PAGER_THREADS", "0", 1);     /* out of range: default */
	unsigned d = pager_pool_default_threads();
	CHECK(d >= 2 && d <= 4);
	setenv("MEMOBJ_PAGER_THREADS", "x", 1);
	CHECK_EQ(pager_pool_default_threads(), d);
	unsetenv("MEMOBJ_PAGER_THREADS");
	CHECK_EQ(pager_pool_default_threads(), d);
}

int main(void)
{
	alarm(120);
	RUN(read_waits_for_an_earlier_write_of_its_page_only);
	RUN(reads_of_one_page_run_side_by_side);
	RUN(barrier_and_write_wait_their_turn);
	RUN(writes_of_one_page_keep_their_order);
	RUN(unknown_messages_consume_their_seqno);
	RUN(remove_from_a_handler_drops_the_rest);
	RUN(bad_input_gets_its_code);
	RUN(destroy_joins_every_thread);
	RUN(default_size_follows_the_environment);
	return harness_done();
}
