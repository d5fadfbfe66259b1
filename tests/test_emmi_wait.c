/* Every wait ends (issue 15.1) and wrong ports are refused (15.2), in one
 * process: a thread waiting on an object for any reason — page requested,
 * object not ready, data_unlock outstanding, read lock, vm_msync — gets
 * SIGBUS (or its call's error) when the manager dies or destroys the
 * object; vm_map of a port that is no memory object, control calls on a
 * port that is no control port, and bad lock values are refused at once;
 * host_statistics counts pageouts. The stall warning (issue 8.7) runs in a
 * child process whose stderr this one reads. Waits are bounded. */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>
#include <mach/mach.h>

#include "harness.h"
#include "cache_manager.h"
#include "net_peer.h"
#include "toucher.h"

#define WAIT_MS TOUCH_WAIT_MS

static vm_size_t ps;

/* ---- manager death ---- */

enum why { WAIT_REQUEST, WAIT_NOT_READY, WAIT_UNLOCK, WAIT_READ_LOCK };

/* A thread waits on page 1 of a 4-page object for `why`; then the
 * manager dies (destroy: its object port goes) or destroys the object. */
static void wait_then(enum why why, int destroy)
{
	struct cm *m = cm_start(4 * ps);
	REQUIRE(m != NULL);
	m->silent = why == WAIT_REQUEST;
	m->no_ready = why == WAIT_NOT_READY;
	if (why == WAIT_UNLOCK)
		m->supply_lock = VM_PROT_WRITE;
	if (why == WAIT_READ_LOCK)
		m->supply_lock = VM_PROT_READ | VM_PROT_WRITE;
	vm_address_t a = cm_map(m, FALSE);
	REQUIRE(a != 0);
	mach_port_t control = cm_control(m);
	REQUIRE(control != MACH_PORT_NULL);
	if (why == WAIT_UNLOCK) {
		/* Resident and write-locked: the write waits for an unlock. */
		CHECK_EQ(*(volatile uint8_t *)(a + ps), cm_pattern(ps));
	}
	unsigned before = toucher_faults();
	struct toucher t;
	REQUIRE(touch_start(&t, a + ps, why == WAIT_UNLOCK) == 0);
	switch (why) {
	case WAIT_REQUEST:
		CHECK(cm_wait(m, CM_DATA_REQUEST, 1, NULL) >= 0);
		break;
	case WAIT_NOT_READY:
		CHECK(toucher_wait_fault(before));
		break;
	case WAIT_UNLOCK:
	case WAIT_READ_LOCK:
		CHECK(cm_wait(m, CM_DATA_UNLOCK, 1, NULL) >= 0);
		break;
	}
	if (destroy) {
		mach_port_t c = cm_control(m);
		/* Destroy needs a ready object's control port; not-ready
		 * objects take it as well. */
		CHECK_EQ(memory_object_destroy(c, KERN_FAILURE), KERN_SUCCESS);
		CHECK_EQ(touch_join(&t), 1);
		CHECK(cm_wait(m, CM_TERMINATE, 1, NULL) >= 0);
		vm_deallocate(mach_task_self(), a, 4 * ps);
		cm_stop(m);
	} else {
		cm_stop(m);                 /* the manager dies */
		CHECK_EQ(touch_join(&t), 1);
		/* Later accesses fail at once too. */
		struct toucher t2;
		REQUIRE(touch_start(&t2, a + 2 * ps, 1) == 0);
		CHECK_EQ(touch_join(&t2), 1);
		vm_deallocate(mach_task_self(), a, 4 * ps);
	}
}

TEST(manager_death_ends_request_wait) { wait_then(WAIT_REQUEST, 0); }
TEST(manager_death_ends_not_ready_wait) { wait_then(WAIT_NOT_READY, 0); }
TEST(manager_death_ends_unlock_wait) { wait_then(WAIT_UNLOCK, 0); }
TEST(manager_death_ends_read_lock_wait) { wait_then(WAIT_READ_LOCK, 0); }
TEST(destroy_ends_request_wait) { wait_then(WAIT_REQUEST, 1); }
TEST(destroy_ends_unlock_wait) { wait_then(WAIT_UNLOCK, 1); }
TEST(destroy_ends_read_lock_wait) { wait_then(WAIT_READ_LOCK, 1); }

struct syncer {
	vm_address_t addr;
	vm_size_t size;
	kern_return_t kr;
	pthread_t thread;
};

static void *sync_main(void *arg)
{
	struct syncer *s = arg;
	s->kr = vm_msync(mach_task_self(), s->addr, s->size, VM_SYNC_SYNCHRONOUS);
	return NULL;
}

/* The manager dies: the waiting vm_msync returns KERN_MEMORY_ERROR
 * within WAIT_MS. */
static void manager_death_ends_sync(struct cm *m, struct syncer *s)
{
	cm_stop(m);
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += WAIT_MS / 1000;
	int joined = pthread_timedjoin_np(s->thread, NULL, &ts) == 0;
	CHECK(joined);
	if (joined)
		CHECK_EQ(s->kr, KERN_MEMORY_ERROR);
}

TEST(manager_death_ends_msync_wait)
{
	struct cm *m = cm_start(4 * ps);
	REQUIRE(m != NULL);
	m->auto_sync = 0;
	vm_address_t a = cm_map(m, FALSE);
	REQUIRE(a != 0);
	*(volatile uint8_t *)a = 7;
	struct syncer s = { a, 4 * ps, -1, 0 };
	REQUIRE(pthread_create(&s.thread, NULL, sync_main, &s) == 0);
	CHECK(cm_wait(m, CM_SYNCHRONIZE, 1, NULL) >= 0);
	manager_death_ends_sync(m, &s);
	vm_deallocate(mach_task_self(), a, 4 * ps);
}

/* A vm_msync waiting for an earlier overlapping synchronize (here an
 * asynchronous one, never answered) to be answered before it sends its
 * own: the manager's death ends that wait too. */
TEST(manager_death_ends_overlapping_msync_wait)
{
	struct cm *m = cm_start(4 * ps);
	REQUIRE(m != NULL);
	m->auto_sync = 0;
	vm_address_t a = cm_map(m, FALSE);
	REQUIRE(a != 0);
	*(volatile uint8_t *)a = 7;
	CHECK_EQ(vm_msync(mach_task_self(), a, 2 * ps, VM_SYNC_ASYNCHRONOUS), KERN_SUCCESS);
	CHECK(cm_wait(m, CM_SYNCHRONIZE, 1, NULL) >= 0);
	struct syncer s = { a + ps, 2 * ps, -1, 0 };
	REQUIRE(pthread_create(&s.thread, NULL, sync_main, &s) == 0);
	/* Whenever it got there, the thread did not ask while the first
	 * synchronize was outstanding. */
	CHECK_EQ(cm_count(m, CM_SYNCHRONIZE), 1);
	manager_death_ends_sync(m, &s);
	vm_deallocate(mach_task_self(), a, 4 * ps);
}

/* ---- wrong ports and values ---- */

TEST(vm_map_of_kernel_ports_refused)
{
	struct cm *m = cm_start(4 * ps);
	REQUIRE(m != NULL);
	vm_address_t a = cm_map(m, FALSE);
	REQUIRE(a != 0);
	mach_port_t control = cm_control(m);
	REQUIRE(control != MACH_PORT_NULL);
	/* name_server_port: this node's name server, a kernel object too. */
	REQUIRE(MACH_PORT_VALID(name_server_port));
	mach_port_t ports[] = { control, mach_task_self(), mach_host_self(),
	                        name_server_port };
	for (size_t i = 0; i < sizeof ports / sizeof ports[0]; i++) {
		vm_address_t b = 0;
		CHECK_EQ(vm_map(mach_task_self(), &b, 4 * ps, 0, TRUE, ports[i], 0,
		                FALSE, VM_PROT_DEFAULT, VM_PROT_ALL, VM_INHERIT_NONE),
		         KERN_INVALID_ARGUMENT);
	}
	/* The object still works. */
	CHECK_EQ(((volatile uint8_t *)a)[5], cm_pattern(5));
	vm_deallocate(mach_task_self(), a, 4 * ps);
	CHECK(cm_wait(m, CM_TERMINATE, 1, NULL) >= 0);
	cm_stop(m);
}

TEST(control_calls_on_non_control_ports_refused)
{
	mach_port_t ports[] = { mach_task_self(), mach_host_self() };
	for (size_t i = 0; i < 2; i++) {
		CHECK_EQ(memory_object_lock_request(ports[i], 0, ps,
		         MEMORY_OBJECT_RETURN_NONE, FALSE, VM_PROT_NO_CHANGE,
		         MACH_PORT_NULL), KERN_INVALID_ARGUMENT);
		CHECK_EQ(memory_object_data_unavailable(ports[i], 0, ps),
		         KERN_INVALID_ARGUMENT);
		CHECK_EQ(memory_object_destroy(ports[i], KERN_FAILURE),
		         KERN_INVALID_ARGUMENT);
		memory_object_perf_info_data_t perf;
		mach_msg_type_number_t n = MEMORY_OBJECT_PERF_INFO_COUNT;
		CHECK_EQ(memory_object_get_attributes(ports[i],
		         MEMORY_OBJECT_PERFORMANCE_INFO, (memory_object_info_t)&perf,
		         &n), KERN_INVALID_ARGUMENT);
	}
}

TEST(lock_value_no_change_with_bits_refused)
{
	struct cm *m = cm_start(4 * ps);
	REQUIRE(m != NULL);
	vm_address_t a = cm_map(m, FALSE);
	REQUIRE(a != 0);
	CHECK_EQ(((volatile uint8_t *)a)[0], cm_pattern(0));
	mach_port_t c = cm_control(m);
	vm_prot_t bad[] = { VM_PROT_NO_CHANGE | VM_PROT_WRITE,
	                    VM_PROT_NO_CHANGE | VM_PROT_ALL, 0x10, -1 };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		CHECK_EQ(memory_object_lock_request(c, 0, 4 * ps,
		         MEMORY_OBJECT_RETURN_NONE, FALSE, bad[i], m->object),
		         KERN_INVALID_ARGUMENT);
	/* Good values still work; only they were answered. */
	CHECK_EQ(memory_object_lock_request(c, 0, 4 * ps, MEMORY_OBJECT_RETURN_NONE,
	         FALSE, VM_PROT_NO_CHANGE, m->object), KERN_SUCCESS);
	CHECK_EQ(memory_object_lock_request(c, 0, 4 * ps, MEMORY_OBJECT_RETURN_NONE,
	         FALSE, VM_PROT_NONE, m->object), KERN_SUCCESS);
	CHECK(cm_wait(m, CM_LOCK_COMPLETED, 2, NULL) >= 0);
	CHECK_EQ(cm_count(m, CM_LOCK_COMPLETED), 2);
	vm_deallocate(mach_task_self(), a, 4 * ps);
	CHECK(cm_wait(m, CM_TERMINATE, 1, NULL) >= 0);
	cm_stop(m);
}

/* get_attributes while terminate hands the control port to the manager
 * (which destroys it): the stub answers, never MIG_REPLY_MISMATCH. */
struct getter {
	mach_port_t control;
	volatile int stop;
	int bad, calls, died;
	kern_return_t bad_kr;
};

static void *get_main(void *arg)
{
	struct getter *g = arg;
	while (!g->stop) {
		memory_object_perf_info_data_t perf;
		mach_msg_type_number_t n = MEMORY_OBJECT_PERF_INFO_COUNT;
		kern_return_t kr = memory_object_get_attributes(g->control,
		        MEMORY_OBJECT_PERFORMANCE_INFO, (memory_object_info_t)&perf, &n);
		g->calls++;
		if (kr == MIG_SERVER_DIED)
			g->died++;
		if (kr != KERN_SUCCESS && kr != KERN_INVALID_ARGUMENT &&
		    kr != MACH_SEND_INVALID_DEST && kr != MIG_SERVER_DIED) {
			g->bad++;
			g->bad_kr = kr;
		}
		if (kr == MACH_SEND_INVALID_DEST || kr == KERN_INVALID_ARGUMENT)
			break;
	}
	return NULL;
}

TEST(get_attributes_of_a_live_object)
{
	/* The stub's dead-server checks never fire on a live kernel. */
	struct cm *m = cm_start(2 * ps);
	REQUIRE(m != NULL);
	vm_address_t a = cm_map(m, FALSE);
	REQUIRE(a != 0);
	mach_port_t c = cm_control(m);
	int bad = 0;
	for (int i = 0; i < 2000; i++) {
		memory_object_attr_info_data_t attr;
		mach_msg_type_number_t n = MEMORY_OBJECT_ATTR_INFO_COUNT;
		kern_return_t kr = memory_object_get_attributes(c,
		        MEMORY_OBJECT_ATTRIBUTE_INFO, (memory_object_info_t)&attr, &n);
		bad += kr != KERN_SUCCESS || n != MEMORY_OBJECT_ATTR_INFO_COUNT;
	}
	CHECK_EQ(bad, 0);
	vm_deallocate(mach_task_self(), a, 2 * ps);
	CHECK(cm_wait(m, CM_TERMINATE, 1, NULL) >= 0);
	cm_stop(m);
}

static void get_attributes_race(int keep_control)
{
	int died = 0;
	for (int round = 0; round < 50; round++) {
		struct cm *m = cm_start(2 * ps);
		REQUIRE(m != NULL);
		m->keep_control = keep_control;
		vm_address_t a = cm_map(m, FALSE);
		REQUIRE(a != 0);
		struct getter g = { .control = cm_control(m) };
		/* The test's own reference, so the name stays while it races. */
		mach_port_mod_refs(mach_task_self(), g.control,
		                   MACH_PORT_RIGHT_SEND, 1);
		pthread_t th;
		REQUIRE(pthread_create(&th, NULL, get_main, &g) == 0);
		vm_deallocate(mach_task_self(), a, 2 * ps);   /* terminate */
		CHECK(cm_wait(m, CM_TERMINATE, 1, NULL) >= 0);
		g.stop = 1;
		/* Never a call left waiting on a port nobody serves. */
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += WAIT_MS / 1000;
		int joined = pthread_timedjoin_np(th, NULL, &ts) == 0;
		CHECK(joined);
		if (!joined)
			break;
		CHECK_EQ(g.bad, 0);
		died += g.died;
		if (g.bad)
			fprintf(stderr, "get_attributes answered 0x%x\n", g.bad_kr);
		if (keep_control)
			mach_port_destroy(mach_task_self(), g.control);
		else
			mach_port_deallocate(mach_task_self(), g.control);
		cm_stop(m);
	}
	printf("     get_attributes met a dead server %d times in 50 races\n", died);
}

TEST(get_attributes_racing_terminate)
{
	get_attributes_race(0);
}

TEST(get_attributes_racing_terminate_control_kept)
{
	/* The manager keeps the control port's receive right unserved. */
	get_attributes_race(1);
}

TEST(host_statistics_counts_pageouts)
{
	struct cm *m = cm_start(4 * ps);
	REQUIRE(m != NULL);
	vm_address_t a = cm_map(m, FALSE);
	REQUIRE(a != 0);
	vm_statistics_data_t s0, s1;
	mach_msg_type_number_t n = HOST_VM_INFO_COUNT;
	((volatile uint8_t *)a)[0] = 1;
	((volatile uint8_t *)a)[ps] = 2;
	CHECK_EQ(host_statistics(mach_host_self(), HOST_VM_INFO, (host_info_t)&s0, &n),
	         KERN_SUCCESS);
	CHECK_EQ(memory_object_lock_request(cm_control(m), 0, 4 * ps,
	         MEMORY_OBJECT_RETURN_DIRTY, FALSE, VM_PROT_NO_CHANGE, m->object),
	         KERN_SUCCESS);
	CHECK(cm_wait(m, CM_LOCK_COMPLETED, 1, NULL) >= 0);
	n = HOST_VM_INFO_COUNT;
	CHECK_EQ(host_statistics(mach_host_self(), HOST_VM_INFO, (host_info_t)&s1, &n),
	         KERN_SUCCESS);
	CHECK_EQ(s1.pageouts - s0.pageouts, 2);
	CHECK(s1.free_count > 0);
	vm_deallocate(mach_task_self(), a, 4 * ps);
	CHECK(cm_wait(m, CM_TERMINATE, 1, NULL) >= 0);
	cm_stop(m);
}

/* ---- the stall warning, in a child whose stderr we read ---- */

/* The child: one object, a manager that fails as told, one thread that
 * waits on page 1 (offset ps). Says "port NAME" and waits to be killed. */
static int stall_child(const char *mode)
{
	dup2(1, 2);                     /* the kernel's stderr to the parent */
	setvbuf(stderr, NULL, _IOLBF, 0);
	ps = cm_kernel_page_size();
	struct cm *m = cm_start(4 * ps);
	if (m == NULL)
		return 2;
	if (strcmp(mode, "not-ready") == 0)
		m->no_ready = 1;
	else if (strcmp(mode, "init-fails") == 0)
		m->init_result = KERN_FAILURE;
	else if (strcmp(mode, "request") == 0)
		m->silent = 1;
	else if (strcmp(mode, "unlock") == 0)
		m->supply_lock = VM_PROT_WRITE;
	else if (strcmp(mode, "msync") == 0)
		m->auto_sync = 0;
	vm_address_t a = cm_map(m, FALSE);
	if (a == 0)
		return 3;
	peer_say("port 0x%x", (unsigned)m->object);
	if (strcmp(mode, "none") == 0) {
		/* nothing waits */
	} else if (strcmp(mode, "unlock") == 0) {
		(void)*(volatile uint8_t *)(a + ps);
		*(volatile uint8_t *)(a + ps) = 1;
	} else if (strcmp(mode, "msync") == 0) {
		*(volatile uint8_t *)(a + ps) = 1;
		vm_msync(mach_task_self(), a + ps, ps, VM_SYNC_SYNCHRONOUS);
	} else {
		(void)*(volatile uint8_t *)(a + ps);
	}
	peer_say("done");               /* never reached while it waits */
	for (;;)
		pause();
}

static void stall_case_env(const char *mode, const char *want,
        const char *setting)
{
	struct peer p;
	const char *args[] = { "stall", mode, NULL };
	const char *env[] = { setting, NULL };
	REQUIRE(peer_start(&p, NULL, env, args) == 0);
	const char *l = peer_expect(&p, "port ", PEER_TIMEOUT_MS);
	CHECK(l != NULL);
	unsigned port = l ? (unsigned)strtoul(l + 5, NULL, 16) : 0;
	l = peer_expect(&p, "memobj: stalled", PEER_TIMEOUT_MS);
	CHECK(l != NULL);
	if (l != NULL) {
		char name[64], off[64];
		snprintf(name, sizeof name, "memory object port 0x%x,", port);
		snprintf(off, sizeof off, "offset 0x%lx:", (unsigned long)ps);
		CHECK(strstr(l, name) != NULL);
		CHECK(strstr(l, off) != NULL);
		CHECK(strstr(l, want) != NULL);
		if (strstr(l, want) == NULL || strstr(l, name) == NULL)
			fprintf(stderr, "line: %s\n", l);
	}
	peer_stop(&p);
}

static void stall_case(const char *mode, const char *want)
{
	stall_case_env(mode, want, "MEMOBJ_STALL_WARN=0.2");
}

TEST(stall_setting_invalid)
{
	/* A bad value is said, and the default (10 s) used. */
	struct peer p;
	const char *args[] = { "stall", "none", NULL };
	const char *env[] = { "MEMOBJ_STALL_WARN=soon", NULL };
	REQUIRE(peer_start(&p, NULL, env, args) == 0);
	const char *l = peer_expect(&p, "memobj: MEMOBJ_STALL_WARN=soon",
	                            PEER_TIMEOUT_MS);
	CHECK(l != NULL);
	if (l)
		CHECK(strstr(l, "using 10") != NULL);
	peer_stop(&p);
}

TEST(stall_line_not_ready)
{
	stall_case("not-ready", "never called memory_object_change_attributes");
}
TEST(stall_line_init_fails)
{
	stall_case("init-fails", "never called memory_object_change_attributes");
}
TEST(stall_line_request) { stall_case("request", "data_request unanswered"); }
TEST(stall_line_unlock) { stall_case("unlock", "data_unlock unanswered"); }
TEST(stall_line_msync)
{
	stall_case("msync", "memory_object_synchronize unanswered");
}

int main(int argc, char **argv)
{
	if (argc >= 4 && strcmp(argv[1], "--peer") == 0 &&
	    strcmp(argv[2], "stall") == 0)
		return stall_child(argv[3]);
	alarm(280);
	toucher_install();
	ps = cm_kernel_page_size();
	RUN(manager_death_ends_request_wait);
	RUN(manager_death_ends_not_ready_wait);
	RUN(manager_death_ends_unlock_wait);
	RUN(manager_death_ends_read_lock_wait);
	RUN(manager_death_ends_msync_wait);
	RUN(manager_death_ends_overlapping_msync_wait);
	RUN(destroy_ends_request_wait);
	RUN(destroy_ends_unlock_wait);
	RUN(destroy_ends_read_lock_wait);
	RUN(vm_map_of_kernel_ports_refused);
	RUN(control_calls_on_non_control_ports_refused);
	RUN(lock_value_no_change_with_bits_refused);
	RUN(get_attributes_of_a_live_object);
	RUN(get_attributes_racing_terminate);
	RUN(get_attributes_racing_terminate_control_kept);
	RUN(host_statistics_counts_pageouts);
	RUN(stall_line_not_ready);
	RUN(stall_line_init_fails);
	RUN(stall_line_request);
	RUN(stall_line_unlock);
	RUN(stall_line_msync);
	RUN(stall_setting_invalid);
	return harness_done();
}
