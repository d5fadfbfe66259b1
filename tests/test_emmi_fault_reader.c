/* The fault reader (docs/architecture.md, "One hand-off per fault"): a
 * manager thread waiting in mach_msg on its object's port sleeps on the
 * page faults too and receives the data_request a fault makes. What a
 * receiver sees must not change: timeouts, port death, a port put in a
 * set, plain messages, one request per page, faults that come while the
 * manager is busy. With MEMOBJ_FAULT_READER=0 (the _ft variant) the same
 * cases run on the fault thread alone. */
#include <dirent.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <mach/mach.h>

#include "harness.h"
#include "emmi_manager.h"

static vm_size_t ps;
static int readers_on;

/* --- one receive, decoded by memory_object_server_routines --- */
struct got {
	mach_msg_return_t mr;
	mach_msg_id_t id;
	int init, requests;
	mach_port_t control;
	vm_offset_t offset;
	vm_size_t length;
	mach_port_seqno_t seqno;
};
static _Thread_local struct got *cur;

static kern_return_t r_init(memory_object_t o, mach_port_seqno_t seqno,
        memory_object_control_t control, vm_size_t page_size)
{
	(void)o; (void)page_size;
	cur->init++;
	cur->control = control;
	cur->seqno = seqno;
	return KERN_SUCCESS;
}

static kern_return_t r_request(memory_object_t o, mach_port_seqno_t seqno,
        memory_object_control_t control, vm_offset_t offset, vm_size_t length,
        vm_prot_t access)
{
	(void)o; (void)access;
	cur->requests++;
	cur->offset = offset;
	cur->length = length;
	cur->seqno = seqno;
	mach_port_deallocate(mach_task_self(), control);
	return KERN_SUCCESS;
}

static kern_return_t r_terminate(memory_object_t o, mach_port_seqno_t seqno,
        memory_object_control_t control)
{
	(void)o; (void)seqno;
	mach_port_destroy(mach_task_self(), control);
	return KERN_SUCCESS;
}

static const memory_object_routines_t routines = {
	.init = r_init,
	.data_request = r_request,
	.terminate = r_terminate,
};

/* Receives one message on name (timeout_ms < 0: none) into *g. */
static void recv_one(mach_port_t name, int timeout_ms, struct got *g)
{
	union { mach_msg_header_t h; char buf[MEMORY_OBJECT_MSG_SIZE_MAX + 256]; } in, out;
	memset(g, 0, sizeof *g);
	g->mr = mach_msg(&in.h, MACH_RCV_MSG | (timeout_ms >= 0 ? MACH_RCV_TIMEOUT : 0),
	                 0, sizeof in, name,
	                 timeout_ms >= 0 ? (mach_msg_timeout_t)timeout_ms : MACH_MSG_TIMEOUT_NONE,
	                 MACH_PORT_NULL);
	if (g->mr != MACH_MSG_SUCCESS)
		return;
	g->id = in.h.msgh_id;
	cur = g;
	if (!memory_object_server_routines(&routines, &in.h, &out.h))
		mach_msg_destroy(&in.h);
	cur = NULL;
}

/* --- the object: a port, mapped, made ready (one-page clusters) --- */
struct obj {
	mach_port_t port;
	mach_port_t control;
	vm_address_t addr;
	vm_size_t size;
};

static void obj_new(struct obj *o, vm_size_t pages)
{
	memset(o, 0, sizeof *o);
	o->size = pages * ps;
	REQUIRE(mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE,
	                           &o->port) == KERN_SUCCESS);
	REQUIRE(mach_port_insert_right(mach_task_self(), o->port, o->port,
	                               MACH_MSG_TYPE_MAKE_SEND) == KERN_SUCCESS);
	REQUIRE(vm_map(mach_task_self(), &o->addr, o->size, 0, TRUE, o->port, 0,
	               FALSE, VM_PROT_DEFAULT, VM_PROT_ALL, VM_INHERIT_SHARE)
	        == KERN_SUCCESS);
	struct got g;
	recv_one(o->port, MGR_TIMEOUT_S * 1000, &g);
	REQUIRE(g.mr == MACH_MSG_SUCCESS && g.init == 1);
	o->control = g.control;
	memory_object_perf_info_data_t perf = { .cluster_size = 0, .may_cache = FALSE };
	REQUIRE(memory_object_change_attributes(o->control,
	        MEMORY_OBJECT_PERFORMANCE_INFO, (memory_object_info_t)&perf,
	        MEMORY_OBJECT_PERF_INFO_COUNT, MACH_PORT_NULL) == KERN_SUCCESS);
}

/* Unmaps; drains to the terminate unless the port is gone. */
static void obj_end(struct obj *o, int port_alive)
{
	CHECK_EQ(vm_deallocate(mach_task_self(), o->addr, o->size), KERN_SUCCESS);
	if (!port_alive)
		return;
	for (int i = 0; i < 16; i++) {
		struct got g;
		recv_one(o->port, MGR_TIMEOUT_S * 1000, &g);
		if (g.mr != MACH_MSG_SUCCESS || g.id == 2201 /* terminate */)
			break;
	}
	mach_port_destroy(mach_task_self(), o->port);
}

/* --- a thread that receives once on a name --- */
struct receiver {
	pthread_t thread;
	mach_port_t name;
	int timeout_ms;
	volatile pid_t tid;
	int done;
	struct got got;
};

static void *receiver_main(void *arg)
{
	struct receiver *r = arg;
	r->tid = (pid_t)syscall(SYS_gettid);
	recv_one(r->name, r->timeout_ms, &r->got);
	__atomic_store_n(&r->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

/* How many times thread tid has blocked so far (-1: unknown). */
static long voluntary_switches(pid_t tid)
{
	char path[64], line[128];
	snprintf(path, sizeof path, "/proc/self/task/%d/status", (int)tid);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return -1;
	long n = -1;
	while (fgets(line, sizeof line, f) != NULL)
		if (sscanf(line, "voluntary_ctxt_switches: %ld", &n) == 1)
			break;
	fclose(f);
	return n;
}

static void receiver_start(struct receiver *r, mach_port_t name, int timeout_ms)
{
	memset(r, 0, sizeof *r);
	r->name = name;
	r->timeout_ms = timeout_ms;
	REQUIRE(pthread_create(&r->thread, NULL, receiver_main, r) == 0);
}

/* The system call thread tid is blocked in, -1 when running (or unknown). */
static long blocked_in(pid_t tid)
{
	char path[64], buf[128];
	snprintf(path, sizeof path, "/proc/self/task/%d/syscall", (int)tid);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return -1;
	long nr = -1;
	if (fgets(buf, sizeof buf, f) == NULL || sscanf(buf, "%ld", &nr) != 1)
		nr = -1;
	fclose(f);
	return nr;
}

static int is_reader_sleep(long nr)
{
#ifdef SYS_epoll_wait
	if (nr == SYS_epoll_wait)
		return 1;
#endif
#ifdef SYS_epoll_pwait
	if (nr == SYS_epoll_pwait)
		return 1;
#endif
	return 0;
}

/* Waits (bounded) until the receiver sleeps: in epoll_wait when fault
 * readers are on (the idle path, not the condition variable), in futex
 * otherwise. */
static int receiver_sleeps(struct receiver *r)
{
	struct timespec start, now;
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		pid_t tid = r->tid;
		long nr = tid ? blocked_in(tid) : -1;
		if (readers_on ? is_reader_sleep(nr) : nr == SYS_futex)
			return 1;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - start.tv_sec > MGR_TIMEOUT_S)
			return 0;
		sched_yield();
	}
}

/* --- a thread that reads one byte --- */
struct reader {
	pthread_t thread;
	volatile uint8_t *addr;
	uint8_t value;
};

static void *reader_main(void *arg)
{
	struct reader *t = arg;
	t->value = *t->addr;
	return NULL;
}

static void reader_start(struct reader *t, vm_address_t addr)
{
	t->addr = (volatile uint8_t *)addr;
	REQUIRE(pthread_create(&t->thread, NULL, reader_main, t) == 0);
}

TEST(sleeping_receiver_gets_the_request_its_fault_makes)
{
	struct obj o;
	obj_new(&o, 2);
	struct receiver r;
	receiver_start(&r, o.port, -1);
	CHECK(receiver_sleeps(&r));
	struct reader t;
	reader_start(&t, o.addr + ps + 5);
	pthread_join(r.thread, NULL);
	CHECK_EQ(r.got.mr, MACH_MSG_SUCCESS);
	CHECK_EQ(r.got.requests, 1);
	CHECK_EQ(r.got.offset, ps);
	CHECK_EQ(r.got.length, ps);
	CHECK_EQ(mgr_supply(o.control, ps, ps, MACH_PORT_NULL), KERN_SUCCESS);
	pthread_join(t.thread, NULL);
	CHECK_EQ(t.value, pattern_byte(ps + 5));
	obj_end(&o, 1);
}

TEST(sleeping_set_receiver_gets_the_request)
{
	struct obj o;
	obj_new(&o, 1);
	mach_port_t set;
	REQUIRE(mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_PORT_SET,
	                           &set) == KERN_SUCCESS);
	REQUIRE(mach_port_move_member(mach_task_self(), o.port, set) == KERN_SUCCESS);
	struct receiver r;
	receiver_start(&r, set, -1);
	CHECK(receiver_sleeps(&r));
	struct reader t;
	reader_start(&t, o.addr + 7);
	pthread_join(r.thread, NULL);
	CHECK_EQ(r.got.mr, MACH_MSG_SUCCESS);
	CHECK_EQ(r.got.requests, 1);
	CHECK_EQ(r.got.offset, 0);
	CHECK_EQ(mgr_supply(o.control, 0, ps, MACH_PORT_NULL), KERN_SUCCESS);
	pthread_join(t.thread, NULL);
	CHECK_EQ(t.value, pattern_byte(7));
	REQUIRE(mach_port_move_member(mach_task_self(), o.port, MACH_PORT_NULL)
	        == KERN_SUCCESS);
	mach_port_destroy(mach_task_self(), set);
	obj_end(&o, 1);
}

/* Four threads fault on one page while the manager sleeps: one request. */
TEST(many_faulting_threads_one_request)
{
	struct obj o;
	obj_new(&o, 1);
	unsigned faults0 = vm_stats().faults;
	struct receiver r;
	receiver_start(&r, o.port, -1);
	CHECK(receiver_sleeps(&r));
	enum { N = 4 };
	struct reader t[N];
	for (int i = 0; i < N; i++)
		reader_start(&t[i], o.addr + 64 * (vm_size_t)i);
	pthread_join(r.thread, NULL);
	CHECK_EQ(r.got.requests, 1);
	CHECK(wait_faults(faults0 + N));
	/* No second request queued meanwhile. */
	struct got g;
	recv_one(o.port, 0, &g);
	CHECK_EQ(g.mr, MACH_RCV_TIMED_OUT);
	CHECK_EQ(mgr_supply(o.control, 0, ps, MACH_PORT_NULL), KERN_SUCCESS);
	for (int i = 0; i < N; i++) {
		pthread_join(t[i].thread, NULL);
		CHECK_EQ(t[i].value, pattern_byte(64 * (vm_size_t)i));
	}
	obj_end(&o, 1);
}

/* Two manager threads asleep on the port: the one that reads the fault
 * receives the request it sends itself; the other is not woken for it
 * (a second hand-off per fault for a pager with several threads). */
TEST(request_stays_with_the_thread_that_read_the_fault)
{
	struct obj o;
	obj_new(&o, 1);
	struct receiver r[2];
	receiver_start(&r[0], o.port, MGR_TIMEOUT_S * 1000);
	receiver_start(&r[1], o.port, MGR_TIMEOUT_S * 1000);
	CHECK(receiver_sleeps(&r[0]));
	CHECK(receiver_sleeps(&r[1]));
	long before[2] = { voluntary_switches(r[0].tid), voluntary_switches(r[1].tid) };
	CHECK(before[0] >= 0 && before[1] >= 0);
	struct reader t;
	reader_start(&t, o.addr + 3);
	struct timespec start, now;
	clock_gettime(CLOCK_MONOTONIC, &start);
	int got = -1;
	while (got < 0) {
		for (int i = 0; i < 2; i++)
			if (__atomic_load_n(&r[i].done, __ATOMIC_ACQUIRE))
				got = i;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (got < 0 && now.tv_sec - start.tv_sec > MGR_TIMEOUT_S)
			break;
		sched_yield();
	}
	REQUIRE(got >= 0);
	pthread_join(r[got].thread, NULL);
	CHECK_EQ(r[got].got.mr, MACH_MSG_SUCCESS);
	CHECK_EQ(r[got].got.requests, 1);
	CHECK_EQ(r[got].got.offset, 0);
	int other = 1 - got;
	/* Still asleep, and never woke meanwhile. */
	CHECK(receiver_sleeps(&r[other]));
	CHECK_EQ(voluntary_switches(r[other].tid), before[other]);
	CHECK(!__atomic_load_n(&r[other].done, __ATOMIC_ACQUIRE));
	CHECK_EQ(mgr_supply(o.control, 0, ps, MACH_PORT_NULL), KERN_SUCCESS);
	pthread_join(t.thread, NULL);
	CHECK_EQ(t.value, pattern_byte(3));
	/* A plain message still wakes the other. */
	mach_msg_header_t m = {
		.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_MAKE_SEND, 0),
		.msgh_size = sizeof m,
		.msgh_remote_port = o.port,
		.msgh_id = 4243,
	};
	CHECK_EQ(mach_msg(&m, MACH_SEND_MSG, sizeof m, 0, MACH_PORT_NULL,
	                  MACH_MSG_TIMEOUT_NONE, MACH_PORT_NULL), MACH_MSG_SUCCESS);
	pthread_join(r[other].thread, NULL);
	CHECK_EQ(r[other].got.mr, MACH_MSG_SUCCESS);
	CHECK_EQ(r[other].got.id, 4243);
	obj_end(&o, 1);
}

/* Faults on two pages at once with two manager threads asleep: each
 * request reaches a thread (a reader that serves several faults keeps
 * only the first request; the others still wake a receiver). */
TEST(two_faults_two_receivers_both_requests_delivered)
{
	struct obj o;
	obj_new(&o, 2);
	struct receiver r[2];
	receiver_start(&r[0], o.port, MGR_TIMEOUT_S * 1000);
	receiver_start(&r[1], o.port, MGR_TIMEOUT_S * 1000);
	CHECK(receiver_sleeps(&r[0]));
	CHECK(receiver_sleeps(&r[1]));
	struct reader t[2];
	reader_start(&t[0], o.addr + 9);
	reader_start(&t[1], o.addr + ps + 9);
	pthread_join(r[0].thread, NULL);
	pthread_join(r[1].thread, NULL);
	CHECK_EQ(r[0].got.mr, MACH_MSG_SUCCESS);
	CHECK_EQ(r[1].got.mr, MACH_MSG_SUCCESS);
	CHECK_EQ(r[0].got.requests + r[1].got.requests, 2);
	CHECK(r[0].got.offset != r[1].got.offset);
	CHECK(r[0].got.offset <= ps && r[1].got.offset <= ps);
	CHECK_EQ(mgr_supply(o.control, 0, 2 * ps, MACH_PORT_NULL), KERN_SUCCESS);
	pthread_join(t[0].thread, NULL);
	pthread_join(t[1].thread, NULL);
	CHECK_EQ(t[0].value, pattern_byte(9));
	CHECK_EQ(t[1].value, pattern_byte(ps + 9));
	obj_end(&o, 1);
}

/* While the only manager thread is busy (not receiving), a fault is still
 * read and its data_request queued: someone else reads the faults. */
TEST(fault_while_the_manager_is_busy_is_queued)
{
	struct obj o;
	obj_new(&o, 2);
	struct receiver r;
	receiver_start(&r, o.port, -1);
	CHECK(receiver_sleeps(&r));
	struct reader t0, t1;
	reader_start(&t0, o.addr);
	pthread_join(r.thread, NULL);      /* busy from here */
	CHECK_EQ(r.got.requests, 1);
	unsigned seqno0 = r.got.seqno;
	reader_start(&t1, o.addr + ps);
	mach_port_status_t st;
	struct timespec start, now;
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		mach_msg_type_number_t n = MACH_PORT_RECEIVE_STATUS_COUNT;
		REQUIRE(mach_port_get_attributes(mach_task_self(), o.port,
		        MACH_PORT_RECEIVE_STATUS, (mach_port_info_t)&st, &n)
		        == KERN_SUCCESS);
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (st.mps_msgcount >= 1 || now.tv_sec - start.tv_sec > MGR_TIMEOUT_S)
			break;
		sched_yield();
	}
	CHECK_EQ(st.mps_msgcount, 1);
	struct got g;
	recv_one(o.port, 0, &g);
	CHECK_EQ(g.requests, 1);
	CHECK_EQ(g.offset, ps);
	CHECK_EQ(g.seqno, seqno0 + 1);
	CHECK_EQ(mgr_supply(o.control, 0, 2 * ps, MACH_PORT_NULL), KERN_SUCCESS);
	pthread_join(t0.thread, NULL);
	pthread_join(t1.thread, NULL);
	CHECK_EQ(t0.value, pattern_byte(0));
	CHECK_EQ(t1.value, pattern_byte(ps));
	obj_end(&o, 1);
}

TEST(timed_receive_times_out)
{
	struct obj o;
	obj_new(&o, 1);
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	struct got g;
	recv_one(o.port, 30, &g);
	clock_gettime(CLOCK_MONOTONIC, &b);
	CHECK_EQ(g.mr, MACH_RCV_TIMED_OUT);
	/* Never early (the deadline is rounded up, not down). */
	CHECK((b.tv_sec - a.tv_sec) * 1000000000L + (b.tv_nsec - a.tv_nsec) >= 30000000L);
	obj_end(&o, 1);
}

TEST(plain_message_wakes_sleeping_receiver)
{
	struct obj o;
	obj_new(&o, 1);
	struct receiver r;
	receiver_start(&r, o.port, -1);
	CHECK(receiver_sleeps(&r));
	mach_msg_header_t m = {
		.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_MAKE_SEND, 0),
		.msgh_size = sizeof m,
		.msgh_remote_port = o.port,
		.msgh_id = 4242,
	};
	CHECK_EQ(mach_msg(&m, MACH_SEND_MSG, sizeof m, 0, MACH_PORT_NULL,
	                  MACH_MSG_TIMEOUT_NONE, MACH_PORT_NULL), MACH_MSG_SUCCESS);
	pthread_join(r.thread, NULL);
	CHECK_EQ(r.got.mr, MACH_MSG_SUCCESS);
	CHECK_EQ(r.got.id, 4242);
	obj_end(&o, 1);
}

TEST(destroyed_port_ends_sleeping_receive)
{
	struct obj o;
	obj_new(&o, 1);
	struct receiver r;
	receiver_start(&r, o.port, -1);
	CHECK(receiver_sleeps(&r));
	CHECK_EQ(mach_port_mod_refs(mach_task_self(), o.port,
	                            MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
	pthread_join(r.thread, NULL);
	CHECK_EQ(r.got.mr, MACH_RCV_PORT_DIED);
	mach_port_deallocate(mach_task_self(), o.port);   /* the dead name */
	obj_end(&o, 0);
}

TEST(port_put_in_set_ends_sleeping_receive)
{
	struct obj o;
	obj_new(&o, 1);
	mach_port_t set;
	REQUIRE(mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_PORT_SET,
	                           &set) == KERN_SUCCESS);
	struct receiver r;
	receiver_start(&r, o.port, -1);
	CHECK(receiver_sleeps(&r));
	CHECK_EQ(mach_port_move_member(mach_task_self(), o.port, set), KERN_SUCCESS);
	pthread_join(r.thread, NULL);
	CHECK_EQ(r.got.mr, MACH_RCV_PORT_CHANGED);
	REQUIRE(mach_port_move_member(mach_task_self(), o.port, MACH_PORT_NULL)
	        == KERN_SUCCESS);
	mach_port_destroy(mach_task_self(), set);
	obj_end(&o, 1);
}

static int open_fds(void)
{
	int n = 0;
	DIR *d = opendir("/proc/self/fd");
	if (d == NULL)
		return -1;
	while (readdir(d) != NULL)
		n++;
	closedir(d);
	return n;
}

/* Threads that wait on an object port and exit do not use up descriptors,
 * and a receive still works with none left. */
TEST(receiver_threads_come_and_go)
{
	struct obj o;
	obj_new(&o, 1);
	int before = open_fds();
	for (int i = 0; i < 40; i++) {
		struct receiver r;
		receiver_start(&r, o.port, 1);
		pthread_join(r.thread, NULL);
		CHECK_EQ(r.got.mr, MACH_RCV_TIMED_OUT);
	}
	CHECK(open_fds() <= before + 4);
	struct rlimit saved, none;
	REQUIRE(getrlimit(RLIMIT_NOFILE, &saved) == 0);
	none = saved;
	none.rlim_cur = 0;
	REQUIRE(setrlimit(RLIMIT_NOFILE, &none) == 0);
	/* Two at once: the second can take no reader from the free list. */
	struct receiver r1, r2;
	receiver_start(&r1, o.port, 200);
	receiver_start(&r2, o.port, 200);
	pthread_join(r1.thread, NULL);
	pthread_join(r2.thread, NULL);
	REQUIRE(setrlimit(RLIMIT_NOFILE, &saved) == 0);
	CHECK_EQ(r1.got.mr, MACH_RCV_TIMED_OUT);
	CHECK_EQ(r2.got.mr, MACH_RCV_TIMED_OUT);
	obj_end(&o, 1);
}

int main(void)
{
	alarm(240);
	const char *v = getenv("MEMOBJ_FAULT_READER");
	readers_on = v == NULL || strcmp(v, "0") != 0;
	ps = kernel_page_size();
	REQUIRE(ps >= 4096);
	RUN(sleeping_receiver_gets_the_request_its_fault_makes);
	RUN(sleeping_set_receiver_gets_the_request);
	RUN(many_faulting_threads_one_request);
	RUN(request_stays_with_the_thread_that_read_the_fault);
	RUN(two_faults_two_receivers_both_requests_delivered);
	RUN(fault_while_the_manager_is_busy_is_queued);
	RUN(timed_receive_times_out);
	RUN(plain_message_wakes_sleeping_receiver);
	RUN(destroyed_port_ends_sleeping_receive);
	RUN(port_put_in_set_ends_sleeping_receive);
	RUN(receiver_threads_come_and_go);
	return harness_done();
}
