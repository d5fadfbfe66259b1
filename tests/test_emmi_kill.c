/* The kill matrix (issue 15.5): a manager or a kernel in another process,
 * over a Unix socket, killed with SIGKILL at each protocol step — before
 * init is answered, a data_request outstanding, a data_unlock outstanding
 * (write lock, read lock), lock_request returning pages, data_return in
 * flight, vm_msync waiting, terminate. A dead manager gives the kernel's
 * waiting threads SIGBUS (or vm_msync its error) within a bound; a dead
 * kernel gives the manager a dead-name notification within a bound, and
 * every page the kernel handed back before it died is in the manager's
 * store. Steps are reached by messages (the peers' report lines, the
 * manager's event log), and the killing is done at the step itself: a
 * manager peer kills itself from its handler, a kernel peer is killed
 * from this manager's handler. No sleeps. */
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <unistd.h>
#include <mach/mach.h>

#include "harness.h"
#include "cache_manager.h"
#include "net_peer.h"
#include "toucher.h"

#define NPAGES 32
#define BOUND_MS 10000

static char dir[64];
static vm_size_t ps;

static uint8_t kpattern(vm_offset_t off, int pass)
{
	return (uint8_t)(off * 7 + (vm_offset_t)pass * 101 + 11);
}

/* ---- the manager peer: kills itself at its step ---- */

static const char *mgr_mode;

static void die(void)
{
	kill(getpid(), SIGKILL);
	for (;;)
		pause();
}

static void mgr_peer_event(struct cm *m, const struct cm_event *e)
{
	if (strcmp(mgr_mode, "die-lockreq") == 0 && e->kind == CM_DATA_REQUEST &&
	    e->offset == 16 * ps) {
		/* The sentinel page: return and flush every dirty page, and
		 * die while the kernel works on it. */
		memory_object_lock_request(m->control, 0, 16 * ps,
		        MEMORY_OBJECT_RETURN_DIRTY, TRUE, VM_PROT_NO_CHANGE,
		        m->object);
		die();
	}
	if (strcmp(mgr_mode, "die-return") == 0 && e->kind == CM_DATA_RETURN)
		die();
	if (strcmp(mgr_mode, "die-terminate") == 0 && e->kind == CM_TERMINATE)
		die();
	/* Not killed: the manager destroys the object under the waiter. */
	if ((strcmp(mgr_mode, "destroy-on-request") == 0 &&
	     e->kind == CM_DATA_REQUEST) ||
	    (strcmp(mgr_mode, "destroy-on-unlock") == 0 &&
	     e->kind == CM_DATA_UNLOCK))
		memory_object_destroy(m->control, KERN_FAILURE);
}

static int peer_mgr(const char *address, const char *mode)
{
	mgr_mode = mode;
	ps = cm_kernel_page_size();
	if (memobj_listen(address) != KERN_SUCCESS)
		return 2;
	struct cm *m = cm_start(NPAGES * ps);
	if (m == NULL)
		return 3;
	m->no_ready = strcmp(mode, "noready") == 0;
	m->silent = strcmp(mode, "silent") == 0 ||
	            strcmp(mode, "destroy-on-request") == 0;
	if (strcmp(mode, "lockw") == 0 || strcmp(mode, "destroy-on-unlock") == 0)
		m->supply_lock = VM_PROT_WRITE;
	if (strcmp(mode, "lockr") == 0)
		m->supply_lock = VM_PROT_READ | VM_PROT_WRITE;
	m->auto_sync = strcmp(mode, "nosync") != 0;
	m->on_event = mgr_peer_event;
	if (netname_check_in(MACH_PORT_NULL, "obj", MACH_PORT_NULL, m->object)
	    != KERN_SUCCESS)
		return 4;
	peer_say("ready");
	int seen = 0;
	pthread_mutex_lock(&m->lock);
	for (;;) {
		while (seen == m->nev)
			pthread_cond_wait(&m->cond, &m->lock);
		struct cm_event e = m->ev[seen++];
		pthread_mutex_unlock(&m->lock);
		static const char *names[] = { "", "init", "terminate", "request",
		        "unlock", "return", "lock-completed", "sync", "change",
		        "supply-completed" };
		peer_say("%s %lu", names[e.kind], (unsigned long)e.offset);
		pthread_mutex_lock(&m->lock);
	}
}

/* ---- the kernel peer: runs its script, is killed by the manager ---- */

static int map_remote(const char *address, vm_address_t *addr, const char *name,
        mach_port_t *objp)
{
	mach_port_t ns, obj;
	if (memobj_connect(address, &ns) != KERN_SUCCESS ||
	    netname_look_up(ns, "", name, &obj) != KERN_SUCCESS)
		return -1;
	if (objp)
		*objp = obj;
	*addr = 0;
	return vm_map(mach_task_self(), addr, NPAGES * ps, 0, TRUE, obj, 0, FALSE,
	              VM_PROT_READ | VM_PROT_WRITE, VM_PROT_ALL, VM_INHERIT_NONE)
	       == KERN_SUCCESS ? 0 : -1;
}

static void write_pages(vm_address_t a, int pass, vm_offset_t npages, int step)
{
	for (vm_offset_t pg = 0; pg < npages; pg += (vm_offset_t)step)
		for (vm_offset_t i = 0; i < ps; i += 64)
			((volatile uint8_t *)a)[pg * ps + i] = kpattern(pg * ps + i, pass);
}

static int peer_kernel(const char *address, const char *name, const char *mode)
{
	ps = cm_kernel_page_size();
	vm_address_t a;
	if (map_remote(address, &a, name, NULL) != 0)
		return 2;
	volatile uint8_t *p = (volatile uint8_t *)a;
	if (strcmp(mode, "touch") == 0) {
		peer_say("touching");
		(void)p[ps];
	} else if (strcmp(mode, "write") == 0) {
		(void)p[ps];
		peer_say("writing");
		p[ps] = 1;
	} else if (strcmp(mode, "dirty") == 0 || strcmp(mode, "pageout") == 0) {
		write_pages(a, 1, NPAGES, 1);
		peer_say("dirty");
	} else if (strcmp(mode, "msync") == 0) {
		write_pages(a, 1, NPAGES, 1);
		if (vm_msync(mach_task_self(), a, NPAGES * ps, VM_SYNC_SYNCHRONOUS)
		    != KERN_SUCCESS)
			return 3;
		peer_say("synced");
		write_pages(a, 2, NPAGES, 2);
		vm_msync(mach_task_self(), a, NPAGES * ps, VM_SYNC_SYNCHRONOUS);
	} else if (strcmp(mode, "terminate") == 0) {
		write_pages(a, 1, NPAGES, 1);
		vm_deallocate(mach_task_self(), a, NPAGES * ps);
		peer_say("unmapped");
	}
	peer_say("done");
	for (;;)
		pause();
}

/* ---- manager killed: this process is the kernel ---- */

struct remote {
	struct peer mgr;
	vm_address_t base;
	mach_port_t obj;
};

static int remote_start(struct remote *r, const char *mode)
{
	static int n;
	char address[128];
	snprintf(address, sizeof address, "unix:%s/m%d", dir, n++);
	const char *args[] = { "mgr", address, mode, NULL };
	if (peer_start(&r->mgr, NULL, NULL, args) != 0)
		return -1;
	if (peer_expect(&r->mgr, "ready", PEER_TIMEOUT_MS) == NULL ||
	    map_remote(address, &r->base, "obj", &r->obj) != 0) {
		peer_stop(&r->mgr);
		return -1;
	}
	return 0;
}

static void remote_finish(struct remote *r)
{
	vm_deallocate(mach_task_self(), r->base, NPAGES * ps);
	peer_stop(&r->mgr);
}

/* A thread waits on page 1 of a remote object, its manager destroys the
 * object at that step (mode destroy-on-...): SIGBUS within the bound. */
static void destroyed_while(const char *mode, int write)
{
	struct remote r;
	REQUIRE(remote_start(&r, mode) == 0);
	if (write)
		CHECK_EQ(((volatile uint8_t *)r.base)[ps], cm_pattern(ps));
	struct toucher t;
	REQUIRE(touch_start(&t, r.base + ps, write) == 0);
	CHECK_EQ(touch_join(&t), 1);
	CHECK(peer_expect(&r.mgr, "terminate", PEER_TIMEOUT_MS) != NULL);
	remote_finish(&r);
}

TEST(remote_destroy_ends_request_wait)
{
	destroyed_while("destroy-on-request", 0);
}

TEST(remote_destroy_ends_unlock_wait)
{
	destroyed_while("destroy-on-unlock", 1);
}

/* A thread waits on page 1 for `what` (the manager reports `step`); the
 * manager is killed; the thread gets SIGBUS within the bound. */
static void kill_manager_while(const char *mode, const char *step, int write)
{
	struct remote r;
	REQUIRE(remote_start(&r, mode) == 0);
	if (write)
		CHECK_EQ(((volatile uint8_t *)r.base)[ps], cm_pattern(ps));
	unsigned before = toucher_faults();
	struct toucher t;
	REQUIRE(touch_start(&t, r.base + ps, write) == 0);
	if (step != NULL)
		CHECK(peer_expect(&r.mgr, step, PEER_TIMEOUT_MS) != NULL);
	else
		CHECK(toucher_wait_fault(before));
	long long t0 = peer_now_ms();
	peer_kill(&r.mgr);
	CHECK_EQ(touch_join(&t), 1);
	CHECK(peer_now_ms() - t0 < BOUND_MS);
	remote_finish(&r);
}

TEST(manager_killed_before_init_answered)
{
	/* The request is held until the object is ready: the manager has
	 * seen init only. */
	kill_manager_while("noready", NULL, 0);
}

TEST(manager_killed_request_outstanding)
{
	kill_manager_while("silent", "request", 0);
}

TEST(manager_killed_unlock_outstanding)
{
	kill_manager_while("lockw", "unlock", 1);
}

TEST(manager_killed_read_lock_outstanding)
{
	kill_manager_while("lockr", "unlock", 0);
}

struct syncer {
	vm_address_t addr;
	kern_return_t kr;
	pthread_t thread;
};

static void *sync_main(void *arg)
{
	struct syncer *s = arg;
	s->kr = vm_msync(mach_task_self(), s->addr, NPAGES * ps, VM_SYNC_SYNCHRONOUS);
	return NULL;
}

static int join_bounded(pthread_t th)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += BOUND_MS / 1000;
	return pthread_timedjoin_np(th, NULL, &ts) == 0;
}

TEST(manager_killed_msync_waiting)
{
	struct remote r;
	REQUIRE(remote_start(&r, "nosync") == 0);
	((volatile uint8_t *)r.base)[0] = 9;
	struct syncer s = { r.base, -1, 0 };
	REQUIRE(pthread_create(&s.thread, NULL, sync_main, &s) == 0);
	CHECK(peer_expect(&r.mgr, "sync", PEER_TIMEOUT_MS) != NULL);
	peer_kill(&r.mgr);
	int joined = join_bounded(s.thread);
	CHECK(joined);
	if (joined)
		CHECK_EQ(s.kr, KERN_MEMORY_ERROR);
	remote_finish(&r);
}

TEST(manager_killed_during_its_lock_request)
{
	/* 16 dirty pages; the sentinel's request makes the manager ask for
	 * them back (flushed) and die at once. */
	struct remote r;
	REQUIRE(remote_start(&r, "die-lockreq") == 0);
	write_pages(r.base, 1, 16, 1);
	struct toucher t;
	REQUIRE(touch_start(&t, r.base + 16 * ps, 0) == 0);
	CHECK_EQ(touch_join(&t), 1);
	/* A flushed page cannot come back: SIGBUS, not a hang. */
	struct toucher t2;
	REQUIRE(touch_start(&t2, r.base + 20 * ps, 0) == 0);
	CHECK_EQ(touch_join(&t2), 1);
	remote_finish(&r);
}

TEST(manager_killed_data_return_in_flight)
{
	struct remote r;
	REQUIRE(remote_start(&r, "die-return") == 0);
	write_pages(r.base, 1, NPAGES, 1);
	struct syncer s = { r.base, -1, 0 };
	REQUIRE(pthread_create(&s.thread, NULL, sync_main, &s) == 0);
	int joined = join_bounded(s.thread);
	CHECK(joined);
	if (joined)
		CHECK_EQ(s.kr, KERN_MEMORY_ERROR);
	remote_finish(&r);
}

TEST(manager_killed_at_terminate)
{
	struct remote r;
	REQUIRE(remote_start(&r, "die-terminate") == 0);
	write_pages(r.base, 1, NPAGES, 1);
	CHECK_EQ(vm_deallocate(mach_task_self(), r.base, NPAGES * ps), KERN_SUCCESS);
	/* It dies in its terminate handler. */
	CHECK(peer_wait(&r.mgr, BOUND_MS) != -1);
	/* The object is gone: a new map fails, or its first touch does. */
	vm_address_t b = 0;
	if (vm_map(mach_task_self(), &b, NPAGES * ps, 0, TRUE, r.obj, 0, FALSE,
	           VM_PROT_READ | VM_PROT_WRITE, VM_PROT_ALL, VM_INHERIT_NONE)
	    == KERN_SUCCESS) {
		struct toucher t;
		REQUIRE(touch_start(&t, b, 0) == 0);
		CHECK_EQ(touch_join(&t), 1);
		vm_deallocate(mach_task_self(), b, NPAGES * ps);
	}
	/* The terminate (its data_returns went to a proxy under the map
	 * lock) left the address map usable. */
	vm_address_t c = 0;
	CHECK_EQ(vm_allocate(mach_task_self(), &c, ps, TRUE), KERN_SUCCESS);
	CHECK_EQ(vm_deallocate(mach_task_self(), c, ps), KERN_SUCCESS);
	peer_stop(&r.mgr);
}

/* ---- kernel killed: this process is the manager ---- */

static pid_t victim;                /* the kernel peer to kill at the step */
static enum cm_kind kill_on;

static void kill_kernel_hook(struct cm *m, const struct cm_event *e)
{
	(void)m;
	if (e->kind == kill_on && victim > 0) {
		kill(victim, SIGKILL);
		victim = 0;
	}
}

struct local {
	struct cm *m;
	struct peer k;
	char name[32];
	mach_port_t notify;
};

static int local_start(struct local *l, const char *mode, const char *const *env,
        void (*setup)(struct cm *))
{
	static int n;
	snprintf(l->name, sizeof l->name, "obj%d", n++);
	l->m = cm_start(NPAGES * ps);
	if (l->m == NULL)
		return -1;
	if (setup)
		setup(l->m);
	if (netname_check_in(MACH_PORT_NULL, l->name, MACH_PORT_NULL, l->m->object)
	    != KERN_SUCCESS)
		return -1;
	char address[128];
	snprintf(address, sizeof address, "unix:%s/here", dir);
	const char *args[] = { "kernel", address, l->name, mode, NULL };
	if (peer_start(&l->k, NULL, env, args) != 0)
		return -1;
	victim = l->k.pid;
	/* Dead-name on the kernel's control port, once it is known. The
	 * kernel may already be dead (killed at its first data_return, which
	 * can come before this thread runs again): sync 1 sends the
	 * notification at once for a name that is already dead. */
	if (cm_wait(l->m, CM_INIT, 1, NULL) < 0)
		return -1;
	mach_port_t prev;
	mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE, &l->notify);
	if (mach_port_request_notification(mach_task_self(), cm_control(l->m),
	        MACH_NOTIFY_DEAD_NAME, 1, l->notify, MACH_MSG_TYPE_MAKE_SEND_ONCE,
	        &prev) != KERN_SUCCESS)
		return -1;
	return 0;
}

/* The dead-name notification for the control port, within the bound. */
static int dead_name_seen(struct local *l)
{
	union { mach_dead_name_notification_t n; uint8_t b[256]; } buf;
	mach_msg_return_t mr = mach_msg(&buf.n.not_header,
	        MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof buf, l->notify,
	        BOUND_MS, MACH_PORT_NULL);
	return mr == MACH_MSG_SUCCESS &&
	       buf.n.not_header.msgh_id == MACH_NOTIFY_DEAD_NAME;
}

/* Every range the kernel returned holds what it wrote (pass 1 or 2). */
static void check_returns(struct local *l)
{
	pthread_mutex_lock(&l->m->lock);
	int bad = 0;
	for (int i = 0; i < l->m->nev; i++) {
		struct cm_event *e = &l->m->ev[i];
		if (e->kind != CM_DATA_RETURN)
			continue;
		for (vm_offset_t o = e->offset; o < e->offset + e->length; o += 64)
			if (l->m->store[o] != kpattern(o, 1) &&
			    l->m->store[o] != kpattern(o, 2))
				bad++;
	}
	pthread_mutex_unlock(&l->m->lock);
	CHECK_EQ(bad, 0);
}

static void local_finish(struct local *l)
{
	victim = 0;
	peer_stop(&l->k);
	netname_check_out(MACH_PORT_NULL, l->name, MACH_PORT_NULL);
	mach_port_destroy(mach_task_self(), l->notify);
	cm_stop(l->m);
}

static void setup_noready(struct cm *m) { m->no_ready = 1; }
static void setup_silent(struct cm *m) { m->silent = 1; }
static void setup_lockw(struct cm *m) { m->supply_lock = VM_PROT_WRITE; }
static void setup_kill_on_return(struct cm *m)
{
	kill_on = CM_DATA_RETURN;
	m->on_event = kill_kernel_hook;
}
static void setup_kill_on_terminate(struct cm *m)
{
	kill_on = CM_TERMINATE;
	m->on_event = kill_kernel_hook;
}

static void kill_kernel_at(const char *mode, void (*setup)(struct cm *),
        enum cm_kind step)
{
	struct local l;
	REQUIRE(local_start(&l, mode, NULL, setup) == 0);
	CHECK(cm_wait(l.m, step, 1, NULL) >= 0);
	peer_kill(&l.k);
	CHECK(dead_name_seen(&l));
	local_finish(&l);
}

TEST(kernel_killed_before_init_answered)
{
	kill_kernel_at("touch", setup_noready, CM_INIT);
}

TEST(kernel_killed_request_outstanding)
{
	kill_kernel_at("touch", setup_silent, CM_DATA_REQUEST);
}

TEST(kernel_killed_unlock_outstanding)
{
	kill_kernel_at("write", setup_lockw, CM_DATA_UNLOCK);
}

TEST(kernel_killed_while_lock_request_returns_pages)
{
	struct local l;
	REQUIRE(local_start(&l, "dirty", NULL, setup_kill_on_return) == 0);
	CHECK(peer_expect(&l.k, "dirty", PEER_TIMEOUT_MS) != NULL);
	CHECK_EQ(memory_object_lock_request(cm_control(l.m), 0, NPAGES * ps,
	         MEMORY_OBJECT_RETURN_DIRTY, TRUE, VM_PROT_NO_CHANGE, l.m->object),
	         KERN_SUCCESS);
	CHECK(dead_name_seen(&l));
	CHECK(cm_count(l.m, CM_DATA_RETURN) >= 1);
	check_returns(&l);
	local_finish(&l);
}

TEST(kernel_killed_data_return_in_flight)
{
	/* Pageout: 32 dirty pages through a 16 KiB cache. */
	struct local l;
	const char *env[] = { "MEMOBJ_RESIDENT_MAX=16k", NULL };
	REQUIRE(local_start(&l, "pageout", env, setup_kill_on_return) == 0);
	CHECK(dead_name_seen(&l));
	CHECK(cm_count(l.m, CM_DATA_RETURN) >= 1);
	check_returns(&l);
	local_finish(&l);
}

static void sync_once_hook(struct cm *m, const struct cm_event *e)
{
	(void)e;
	if (m->flag++ >= 1)
		m->auto_sync = 0;      /* the first is answered, no later one */
}
static void setup_sync_once(struct cm *m) { m->on_sync = sync_once_hook; }

TEST(kernel_killed_msync_waiting)
{
	struct local l;
	REQUIRE(local_start(&l, "msync", NULL, setup_sync_once) == 0);
	CHECK(peer_expect(&l.k, "synced", PEER_TIMEOUT_MS) != NULL);
	CHECK(cm_wait(l.m, CM_SYNCHRONIZE, 2, NULL) >= 0);
	peer_kill(&l.k);
	CHECK(dead_name_seen(&l));
	/* Acknowledged (the first msync returned): every page of pass 1 is
	 * here, or its pass-2 rewrite. */
	int lost = 0;
	pthread_mutex_lock(&l.m->lock);
	for (vm_offset_t o = 0; o < NPAGES * ps; o += 64)
		if (l.m->store[o] != kpattern(o, 1) &&
		    ((o / ps) % 2 != 0 || l.m->store[o] != kpattern(o, 2)))
			lost++;
	pthread_mutex_unlock(&l.m->lock);
	CHECK_EQ(lost, 0);
	local_finish(&l);
}

TEST(kernel_killed_at_terminate)
{
	struct local l;
	REQUIRE(local_start(&l, "terminate", NULL, setup_kill_on_terminate) == 0);
	CHECK(cm_wait(l.m, CM_TERMINATE, 1, NULL) >= 0);
	CHECK(peer_wait(&l.k, BOUND_MS) != -1);
	/* Every dirty page came back before terminate. */
	int lost = 0;
	pthread_mutex_lock(&l.m->lock);
	for (vm_offset_t o = 0; o < NPAGES * ps; o += 64)
		lost += l.m->store[o] != kpattern(o, 1);
	pthread_mutex_unlock(&l.m->lock);
	CHECK_EQ(lost, 0);
	local_finish(&l);
}

/* NAME contains one of the comma-separated parts of LIST. */
static int matches(const char *list, const char *name)
{
	char buf[256];
	snprintf(buf, sizeof buf, "%s", list);
	for (char *save, *tok = strtok_r(buf, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save))
		if (strstr(name, tok) != NULL)
			return 1;
	return 0;
}

static void on_alarm(int sig)
{
	(void)sig;
	static const char msg[] = "test_emmi_kill: timed out\n";
	(void)!write(2, msg, sizeof msg - 1);
	_exit(1);
}

int main(int argc, char **argv)
{
	if (argc >= 5 && strcmp(argv[1], "--peer") == 0 &&
	    strcmp(argv[2], "mgr") == 0)
		return peer_mgr(argv[3], argv[4]);
	if (argc >= 6 && strcmp(argv[1], "--peer") == 0 &&
	    strcmp(argv[2], "kernel") == 0)
		return peer_kernel(argv[3], argv[4], argv[5]);
	signal(SIGALRM, on_alarm);
	alarm(280);
	signal(SIGPIPE, SIG_IGN);
	toucher_install();
	ps = cm_kernel_page_size();
	snprintf(dir, sizeof dir, "/tmp/memobj-kill-XXXXXX");
	REQUIRE(mkdtemp(dir) != NULL);
	char address[128];
	snprintf(address, sizeof address, "unix:%s/here", dir);
	REQUIRE(memobj_listen(address) == KERN_SUCCESS);
	/* One step of the matrix: test_emmi_kill NAME-PART */
	const char *only = argc >= 2 ? argv[1] : NULL;
#undef RUN
#define RUN(name) do { \
	if (only == NULL || matches(only, #name)) { \
		harness_test_failed = 0; \
		name(); \
		if (harness_test_failed) { harness_failed++; fprintf(stderr, "FAIL %s\n", #name); } \
		else { harness_passed++; printf("ok   %s\n", #name); } \
		fflush(stdout); \
	} \
} while (0)

	RUN(manager_killed_before_init_answered);
	RUN(manager_killed_request_outstanding);
	RUN(manager_killed_unlock_outstanding);
	RUN(manager_killed_read_lock_outstanding);
	RUN(manager_killed_msync_waiting);
	RUN(manager_killed_during_its_lock_request);
	RUN(manager_killed_data_return_in_flight);
	RUN(manager_killed_at_terminate);
	RUN(remote_destroy_ends_request_wait);
	RUN(remote_destroy_ends_unlock_wait);
	RUN(kernel_killed_before_init_answered);
	RUN(kernel_killed_request_outstanding);
	RUN(kernel_killed_unlock_outstanding);
	RUN(kernel_killed_while_lock_request_returns_pages);
	RUN(kernel_killed_data_return_in_flight);
	RUN(kernel_killed_msync_waiting);
	RUN(kernel_killed_at_terminate);

	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
	return harness_done();
}
