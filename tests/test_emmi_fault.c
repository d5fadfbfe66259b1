/* Memory objects in one process: vm_map, real page faults, data_request
 * and data_supply (SPEC 3 items 1-4 and 11), with a manager thread in the
 * test process. */
#include <pthread.h>
#include <sys/resource.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <unistd.h>
#include <mach/mach.h>

#include "harness.h"
#include "emmi_manager.h"

static vm_size_t ps;

static vm_address_t map_object(struct mgr *m, vm_size_t size, vm_offset_t offset)
{
	vm_address_t addr = 0;
	kern_return_t kr = vm_map(mach_task_self(), &addr, size, 0, TRUE,
	        m->object, offset, FALSE, VM_PROT_DEFAULT, VM_PROT_ALL,
	        VM_INHERIT_SHARE);
	CHECK_EQ(kr, KERN_SUCCESS);
	return kr == KERN_SUCCESS ? addr : 0;
}

static int page_matches(vm_address_t addr, vm_offset_t offset)
{
	const volatile uint8_t *p = (const volatile uint8_t *)addr;
	for (vm_size_t i = 0; i < ps; i += 509)
		if (p[i] != pattern_byte(offset + i))
			return 0;
	return 1;
}

/* --- a thread that touches one address, catching SIGBUS --- */
struct toucher {
	pthread_t thread;
	volatile uint8_t *addr;
	volatile int done;
	volatile int got_sigbus;
	void *volatile sigbus_addr;
	uint8_t value;
};
static __thread sigjmp_buf *toucher_jmp;
static __thread struct toucher *toucher_self;

static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
	(void)sig; (void)uc;
	if (toucher_jmp == NULL) {
		signal(SIGBUS, SIG_DFL);
		raise(SIGBUS);
		return;
	}
	toucher_self->got_sigbus = 1;
	toucher_self->sigbus_addr = si->si_addr;
	siglongjmp(*toucher_jmp, 1);
}

/* Touches t->addr in the calling thread; 0 when it read, 1 on SIGBUS. */
static int touch(struct toucher *t)
{
	sigjmp_buf jb;
	toucher_jmp = &jb;
	toucher_self = t;
	int r = 0;
	if (sigsetjmp(jb, 1) == 0)
		t->value = *t->addr;
	else
		r = 1;
	toucher_jmp = NULL;
	return r;
}

static void *toucher_main(void *arg)
{
	struct toucher *t = arg;
	touch(t);
	t->done = 1;
	return NULL;
}

static void toucher_start(struct toucher *t, vm_address_t addr)
{
	memset(t, 0, sizeof *t);
	t->addr = (volatile uint8_t *)addr;
	pthread_create(&t->thread, NULL, toucher_main, t);
}

/* ---------------------------------------------------------------- */

TEST(init_once_with_page_size)
{
	struct mgr *m = mgr_start(1, 0, REPLY_SUPPLY);
	REQUIRE(m != NULL);
	vm_address_t a = map_object(m, 4 * ps, 0);
	vm_address_t b = map_object(m, 4 * ps, 0);
	struct mgr_event e;
	CHECK(mgr_wait(m, EV_INIT, 1, &e));
	CHECK_EQ(e.page_size, ps);
	CHECK_EQ(e.seqno, 0);
	CHECK(page_matches(a + ps, ps));
	CHECK(page_matches(b + ps, ps));   /* shared cache: no second request */
	CHECK_EQ(mgr_count(m, EV_INIT), 1);
	CHECK_EQ(mgr_count(m, EV_DATA_REQUEST), 1);
	vm_deallocate(mach_task_self(), a, 4 * ps);
	vm_deallocate(mach_task_self(), b, 4 * ps);
	CHECK(mgr_wait(m, EV_TERMINATE, 1, NULL));
	mgr_stop(m);
}

TEST(faults_wait_for_change_attributes)
{
	struct mgr *m = mgr_start(0, 0, REPLY_SUPPLY);
	REQUIRE(m != NULL);
	unsigned faults0 = vm_stats().faults;
	vm_address_t a = map_object(m, 2 * ps, 0);
	struct mgr_event init;
	CHECK(mgr_wait(m, EV_INIT, 1, &init));
	struct toucher t;
	toucher_start(&t, a + 10);
	CHECK(wait_faults(faults0 + 1));
	/* The fault is taken and held: nothing asked of the manager yet. */
	CHECK_EQ(mgr_count(m, EV_DATA_REQUEST), 0);
	CHECK(!t.done);
	CHECK_EQ(mgr_make_ready(m, init.control), KERN_SUCCESS);
	struct mgr_event req;
	CHECK(mgr_wait(m, EV_DATA_REQUEST, 1, &req));
	CHECK_EQ(req.offset, 0);
	CHECK_EQ(req.length, ps);
	CHECK_EQ(req.access, VM_PROT_READ);
	pthread_join(t.thread, NULL);
	CHECK_EQ(t.value, pattern_byte(10));
	CHECK(mgr_wait(m, EV_CHANGE_COMPLETED, 1, NULL));
	vm_deallocate(mach_task_self(), a, 2 * ps);
	CHECK(mgr_wait(m, EV_TERMINATE, 1, NULL));
	mgr_stop(m);
}

TEST(queued_fault_asks_for_whole_cluster)
{
	/* A fault taken before the manager is ready is asked for with the
	 * cluster the manager then sets, not page by page. */
	struct mgr *m = mgr_start(0, 4 * ps, REPLY_SUPPLY);
	REQUIRE(m != NULL);
	unsigned faults0 = vm_stats().faults;
	vm_address_t a = map_object(m, 8 * ps, 0);
	struct mgr_event init;
	CHECK(mgr_wait(m, EV_INIT, 1, &init));
	struct toucher t;
	toucher_start(&t, a + ps + 10);
	CHECK(wait_faults(faults0 + 1));
	CHECK_EQ(mgr_count(m, EV_DATA_REQUEST), 0);
	CHECK_EQ(mgr_make_ready(m, init.control), KERN_SUCCESS);
	struct mgr_event req;
	CHECK(mgr_wait(m, EV_DATA_REQUEST, 1, &req));
	CHECK_EQ(req.offset, 0);
	CHECK_EQ(req.length, 4 * ps);
	pthread_join(t.thread, NULL);
	CHECK_EQ(t.value, pattern_byte(ps + 10));
	for (vm_offset_t off = 0; off < 4 * ps; off += ps)
		CHECK(page_matches(a + off, off));
	CHECK_EQ(mgr_count(m, EV_DATA_REQUEST), 1);
	vm_deallocate(mach_task_self(), a, 8 * ps);
	CHECK(mgr_wait(m, EV_TERMINATE, 1, NULL));
	mgr_stop(m);
}

TEST(prefetch_served_without_request)
{
	struct mgr *m = mgr_start(1, 0, REPLY_SUPPLY);
	REQUIRE(m != NULL);
	vm_address_t a = map_object(m, 8 * ps, 0);
	struct mgr_event init;
	CHECK(mgr_wait(m, EV_INIT, 1, &init));
	CHECK(mgr_wait(m, EV_CHANGE_COMPLETED, 1, NULL));
	unsigned pageins0 = vm_stats().pageins;
	CHECK_EQ(mgr_supply(init.control, 5 * ps, ps, m->object), KERN_SUCCESS);
	struct mgr_event done;
	CHECK(mgr_wait(m, EV_SUPPLY_COMPLETED, 1, &done));
	CHECK_EQ(done.result, KERN_SUCCESS);
	CHECK_EQ(done.offset, 5 * ps);
	CHECK_EQ(done.length, ps);
	CHECK_EQ(vm_stats().pageins, pageins0 + 1);
	CHECK(page_matches(a + 5 * ps, 5 * ps));
	CHECK_EQ(mgr_count(m, EV_DATA_REQUEST), 0);
	vm_deallocate(mach_task_self(), a, 8 * ps);
	CHECK(mgr_wait(m, EV_TERMINATE, 1, NULL));
	mgr_stop(m);
}

TEST(requests_aligned_to_cluster)
{
	struct mgr *m = mgr_start(1, 4 * ps, REPLY_SUPPLY);
	REQUIRE(m != NULL);
	vm_address_t a = map_object(m, 18 * ps, 0);
	struct mgr_event init, req;
	CHECK(mgr_wait(m, EV_INIT, 1, &init));
	CHECK(mgr_wait(m, EV_CHANGE_COMPLETED, 1, NULL));
	CHECK(page_matches(a + 6 * ps, 6 * ps));
	CHECK(mgr_wait(m, EV_DATA_REQUEST, 1, &req));
	CHECK_EQ(req.offset, 4 * ps);
	CHECK_EQ(req.length, 4 * ps);
	/* The whole cluster came in: its other pages need no request. */
	CHECK(page_matches(a + 4 * ps, 4 * ps));
	CHECK(page_matches(a + 7 * ps, 7 * ps));
	CHECK_EQ(mgr_count(m, EV_DATA_REQUEST), 1);
	/* A resident page cuts the run: only absent pages are asked for. */
	CHECK_EQ(mgr_supply(init.control, 13 * ps, ps, MACH_PORT_NULL), KERN_SUCCESS);
	CHECK(page_matches(a + 14 * ps, 14 * ps));
	CHECK(mgr_wait(m, EV_DATA_REQUEST, 2, &req));
	CHECK_EQ(req.offset, 14 * ps);
	CHECK_EQ(req.length, 2 * ps);
	/* The mapping's end cuts the cluster [16, 20) to [16, 18). */
	CHECK(page_matches(a + 17 * ps, 17 * ps));
	CHECK(mgr_wait(m, EV_DATA_REQUEST, 3, &req));
	CHECK_EQ(req.offset, 16 * ps);
	CHECK_EQ(req.length, 2 * ps);
	/* A write fault asks for write access. */
	*(volatile uint8_t *)(a + 2 * ps) = 7;
	CHECK(mgr_wait(m, EV_DATA_REQUEST, 4, &req));
	CHECK_EQ(req.offset, 0);
	CHECK(req.access & VM_PROT_WRITE);
	vm_deallocate(mach_task_self(), a, 18 * ps);
	CHECK(mgr_wait(m, EV_TERMINATE, 1, NULL));
	mgr_stop(m);
}

TEST(zero_fill)
{
	struct mgr *m = mgr_start(1, 0, REPLY_UNAVAILABLE);
	REQUIRE(m != NULL);
	unsigned zf0 = vm_stats().zero_fill_count;
	vm_address_t a = map_object(m, 2 * ps, 0);
	volatile uint8_t *p = (volatile uint8_t *)a;
	CHECK_EQ(p[ps + 3], 0);
	p[ps + 3] = 42;
	CHECK_EQ(p[ps + 3], 42);
	CHECK_EQ(vm_stats().zero_fill_count, zf0 + 1);
	vm_deallocate(mach_task_self(), a, 2 * ps);
	CHECK(mgr_wait(m, EV_TERMINATE, 1, NULL));
	mgr_stop(m);
}

TEST(data_error_sigbus_then_retry)
{
	struct mgr *m = mgr_start(1, 0, REPLY_ERROR);
	REQUIRE(m != NULL);
	m->errors_left = 1;
	vm_address_t a = map_object(m, 2 * ps, 0);
	struct toucher t;
	memset(&t, 0, sizeof t);
	t.addr = (volatile uint8_t *)(a + ps + 100);
	CHECK_EQ(touch(&t), 1);
	CHECK(t.got_sigbus);
	CHECK(t.sigbus_addr == (void *)(a + ps + 100));
	/* Retried: asks again and gets the data. */
	CHECK_EQ(touch(&t), 0);
	CHECK_EQ(t.value, pattern_byte(ps + 100));
	CHECK_EQ(mgr_count(m, EV_DATA_REQUEST), 2);
	vm_deallocate(mach_task_self(), a, 2 * ps);
	CHECK(mgr_wait(m, EV_TERMINATE, 1, NULL));
	mgr_stop(m);
}

/* A page the kernel's cache cannot take (here: past a file size limit,
 * which a memfd obeys) is a memory error for the thread waiting on it,
 * never a hang; once the cache can take it again, a retry is served. */
TEST(cache_refusal_is_a_memory_error)
{
	struct mgr *m = mgr_start(1, 0, REPLY_SUPPLY);
	REQUIRE(m != NULL);
	vm_address_t a = map_object(m, 4 * ps, 0);
	struct rlimit saved;
	REQUIRE(getrlimit(RLIMIT_FSIZE, &saved) == 0);
	struct sigaction ign = { .sa_handler = SIG_IGN }, old;
	sigaction(SIGXFSZ, &ign, &old);
	struct rlimit low = { .rlim_cur = ps, .rlim_max = saved.rlim_max };
	REQUIRE(setrlimit(RLIMIT_FSIZE, &low) == 0);
	struct toucher t;
	memset(&t, 0, sizeof t);
	t.addr = (volatile uint8_t *)(a + 2 * ps + 7);
	/* A supply that goes straight into the mapping (UFFDIO_COPY) is no
	 * file write: the limit does not refuse it, and the page is served.
	 * On the pwrite path (MEMOBJ_UFFD_COPY=0, and kernels without the
	 * copy) the cache refuses it. */
	const char *copy = getenv("MEMOBJ_UFFD_COPY");
	int refused = copy != NULL && strcmp(copy, "0") == 0;
	CHECK_EQ(touch(&t), refused ? 1 : 0);
	CHECK_EQ(t.got_sigbus, refused);
	if (refused)
		CHECK(t.sigbus_addr == (void *)(a + 2 * ps + 7));
	REQUIRE(setrlimit(RLIMIT_FSIZE, &saved) == 0);
	sigaction(SIGXFSZ, &old, NULL);
	CHECK_EQ(touch(&t), 0);
	CHECK_EQ(t.value, pattern_byte(2 * ps + 7));
	CHECK_EQ(mgr_count(m, EV_DATA_REQUEST), refused ? 2 : 1);
	vm_deallocate(mach_task_self(), a, 4 * ps);
	CHECK(mgr_wait(m, EV_TERMINATE, 1, NULL));
	mgr_stop(m);
}

TEST(supply_over_resident_page_is_refused)
{
	struct mgr *m = mgr_start(1, 0, REPLY_SUPPLY);
	REQUIRE(m != NULL);
	vm_address_t a = map_object(m, 8 * ps, 0);
	struct mgr_event init, done;
	CHECK(mgr_wait(m, EV_INIT, 1, &init));
	CHECK_EQ(mgr_supply(init.control, 1 * ps, ps, MACH_PORT_NULL), KERN_SUCCESS);
	CHECK_EQ(mgr_supply(init.control, 0, 4 * ps, m->object), KERN_SUCCESS);
	CHECK(mgr_wait(m, EV_SUPPLY_COMPLETED, 1, &done));
	CHECK_EQ(done.result, KERN_MEMORY_PRESENT);
	CHECK_EQ(done.error_offset, 1 * ps);
	CHECK_EQ(done.offset, 0);
	CHECK_EQ(done.length, ps);
	CHECK(page_matches(a, 0));
	CHECK(page_matches(a + ps, ps));
	CHECK_EQ(mgr_count(m, EV_DATA_REQUEST), 0);
	/* Pages after the refused one were not installed. */
	CHECK(page_matches(a + 2 * ps, 2 * ps));
	CHECK_EQ(mgr_count(m, EV_DATA_REQUEST), 1);
	vm_deallocate(mach_task_self(), a, 8 * ps);
	CHECK(mgr_wait(m, EV_TERMINATE, 1, NULL));
	mgr_stop(m);
}

TEST(seqnos_in_order_terminate_and_fresh_init)
{
	struct mgr *m = mgr_start(1, 0, REPLY_SUPPLY);
	REQUIRE(m != NULL);
	vm_address_t a = map_object(m, 4 * ps, 0);
	for (int i = 0; i < 4; i++)
		CHECK(page_matches(a + i * ps, i * ps));
	struct mgr_event first, term, second;
	CHECK(mgr_wait(m, EV_INIT, 1, &first));
	vm_deallocate(mach_task_self(), a, 4 * ps);
	CHECK(mgr_wait(m, EV_TERMINATE, 1, &term));
	CHECK(term.control == first.control);
	CHECK(((mach_port_type_t)term.access) & MACH_PORT_TYPE_RECEIVE);
	vm_address_t b = map_object(m, 4 * ps, 0);
	CHECK(mgr_wait(m, EV_INIT, 2, &second));
	CHECK(page_matches(b, 0));
	vm_deallocate(mach_task_self(), b, 4 * ps);
	CHECK(mgr_wait(m, EV_TERMINATE, 2, NULL));
	pthread_mutex_lock(&m->lock);
	for (int i = 0; i < m->nev; i++)
		CHECK_EQ(m->ev[i].seqno, i);     /* every message, in order */
	/* init < change_completed < requests < terminate < init ... */
	CHECK_EQ(m->ev[0].kind, EV_INIT);
	int term_at = -1, init2_at = -1;
	for (int i = 0; i < m->nev; i++) {
		if (m->ev[i].kind == EV_TERMINATE && term_at < 0)
			term_at = i;
		if (m->ev[i].kind == EV_INIT && i > 0 && init2_at < 0)
			init2_at = i;
	}
	CHECK(term_at > 0 && init2_at > term_at);
	pthread_mutex_unlock(&m->lock);
	mgr_stop(m);
}

TEST(mappings_share_bytes)
{
	struct mgr *m = mgr_start(1, 0, REPLY_SUPPLY);
	REQUIRE(m != NULL);
	vm_address_t a = map_object(m, 4 * ps, 0);
	vm_address_t b = map_object(m, 2 * ps, 2 * ps);   /* pages 2-3 */
	volatile uint8_t *pa = (volatile uint8_t *)a, *pb = (volatile uint8_t *)b;
	pa[3 * ps + 1] = 0xEE;
	CHECK_EQ(pb[ps + 1], 0xEE);
	pb[5] = 0x55;
	CHECK_EQ(pa[2 * ps + 5], 0x55);
	CHECK_EQ(mgr_count(m, EV_DATA_REQUEST), 2);
	vm_deallocate(mach_task_self(), a, 4 * ps);
	CHECK_EQ(mgr_count(m, EV_TERMINATE), 0);      /* b still maps it */
	CHECK_EQ(pb[ps + 1], 0xEE);
	vm_deallocate(mach_task_self(), b, 2 * ps);
	CHECK(mgr_wait(m, EV_TERMINATE, 1, NULL));
	mgr_stop(m);
}

TEST(concurrent_faults_one_request)
{
	struct mgr *m = mgr_start(1, 0, REPLY_NONE);
	REQUIRE(m != NULL);
	vm_address_t a = map_object(m, 2 * ps, 0);
	struct mgr_event init, req;
	CHECK(mgr_wait(m, EV_INIT, 1, &init));
	CHECK(mgr_wait(m, EV_CHANGE_COMPLETED, 1, NULL));
	unsigned faults0 = vm_stats().faults;
	enum { N = 4 };
	struct toucher t[N];
	for (int i = 0; i < N; i++)
		toucher_start(&t[i], a + ps + 8 * (vm_size_t)i);
	CHECK(wait_faults(faults0 + N));
	CHECK(mgr_wait(m, EV_DATA_REQUEST, 1, &req));
	CHECK_EQ(mgr_count(m, EV_DATA_REQUEST), 1);
	CHECK_EQ(req.offset, ps);
	CHECK_EQ(mgr_supply(init.control, ps, ps, MACH_PORT_NULL), KERN_SUCCESS);
	for (int i = 0; i < N; i++) {
		pthread_join(t[i].thread, NULL);
		CHECK_EQ(t[i].value, pattern_byte(ps + 8 * (vm_size_t)i));
	}
	CHECK_EQ(mgr_count(m, EV_DATA_REQUEST), 1);
	vm_deallocate(mach_task_self(), a, 2 * ps);
	CHECK(mgr_wait(m, EV_TERMINATE, 1, NULL));
	mgr_stop(m);
}

/* One supply of a run wakes (once, after the install) every thread
 * waiting on any of its pages, in the view it was copied into and in
 * another; each finds its page and its page counted. */
TEST(one_supply_wakes_every_waiter_of_the_run)
{
	struct mgr *m = mgr_start(1, 0, REPLY_NONE);
	REQUIRE(m != NULL);
	vm_address_t a = map_object(m, 4 * ps, 0);
	vm_address_t b = map_object(m, 4 * ps, 0);
	struct mgr_event init;
	CHECK(mgr_wait(m, EV_INIT, 1, &init));
	CHECK(mgr_wait(m, EV_CHANGE_COMPLETED, 1, NULL));
	unsigned faults0 = vm_stats().faults;
	struct toucher t[3];
	const vm_offset_t off[3] = { 8, 2 * ps + 16, ps + 24 };
	for (int i = 0; i < 3; i++)
		toucher_start(&t[i], (i < 2 ? a : b) + off[i]);
	CHECK(wait_faults(faults0 + 3));
	CHECK(mgr_wait(m, EV_DATA_REQUEST, 3, NULL));
	unsigned pageins0 = vm_stats().pageins;
	CHECK_EQ(mgr_supply(init.control, 0, 4 * ps, MACH_PORT_NULL), KERN_SUCCESS);
	for (int i = 0; i < 3; i++) {
		pthread_join(t[i].thread, NULL);
		CHECK(!t[i].got_sigbus);
		CHECK_EQ(t[i].value, pattern_byte(off[i]));
	}
	CHECK_EQ(vm_stats().pageins - pageins0, 4);
	/* The page nobody asked for came with the run: no request. */
	CHECK(page_matches(b + 3 * ps, 3 * ps));
	CHECK_EQ(mgr_count(m, EV_DATA_REQUEST), 3);
	vm_deallocate(mach_task_self(), a, 4 * ps);
	vm_deallocate(mach_task_self(), b, 4 * ps);
	CHECK(mgr_wait(m, EV_TERMINATE, 1, NULL));
	mgr_stop(m);
}

TEST(dead_manager_sigbus_others_work)
{
	struct mgr *dying = mgr_start(1, 0, REPLY_NONE);
	struct mgr *alive = mgr_start(1, 0, REPLY_SUPPLY);
	REQUIRE(dying != NULL && alive != NULL);
	vm_address_t a = map_object(dying, 2 * ps, 0);
	vm_address_t b = map_object(alive, 2 * ps, 0);
	struct toucher t;
	toucher_start(&t, a + 24);
	CHECK(mgr_wait(dying, EV_DATA_REQUEST, 1, NULL));
	mgr_stop(dying);                 /* destroys the object's receive right */
	pthread_join(t.thread, NULL);
	CHECK(t.got_sigbus);
	CHECK(t.sigbus_addr == (void *)(a + 24));
	/* Later faults on it fail at once too. */
	toucher_start(&t, a + ps);
	pthread_join(t.thread, NULL);
	CHECK(t.got_sigbus);
	CHECK(page_matches(b + ps, ps));
	vm_deallocate(mach_task_self(), a, 2 * ps);
	vm_deallocate(mach_task_self(), b, 2 * ps);
	CHECK(mgr_wait(alive, EV_TERMINATE, 1, NULL));
	mgr_stop(alive);
}

TEST(large_kernel_page_installed_whole)
{
	/* With MEMOBJ_PAGE_SIZE above the system page, one request covers
	 * the whole kernel page and every system page in it. */
	struct mgr *m = mgr_start(1, 0, REPLY_SUPPLY);
	REQUIRE(m != NULL);
	vm_address_t a = map_object(m, 2 * ps, 0);
	long sys = sysconf(_SC_PAGESIZE);
	for (vm_size_t off = 0; off < 2 * ps; off += (vm_size_t)sys)
		CHECK_EQ(((volatile uint8_t *)a)[off], pattern_byte(off));
	CHECK_EQ(mgr_count(m, EV_DATA_REQUEST), 2);
	vm_deallocate(mach_task_self(), a, 2 * ps);
	CHECK(mgr_wait(m, EV_TERMINATE, 1, NULL));
	mgr_stop(m);
}

/* A manager that sets MEMORY_OBJECT_READAHEAD_INFO gets data_requests for
 * the pages after a sequential run before they are touched (one request
 * per page still, each within the cluster), the window doubling; a fault
 * elsewhere stops it; get_attributes counts them. */
TEST(readahead_asks_ahead_when_opted_in)
{
	struct mgr *m = mgr_start(1, 0, REPLY_SUPPLY);
	REQUIRE(m != NULL);
	vm_address_t a = map_object(m, 16 * ps, 0);
	struct mgr_event init;
	REQUIRE(mgr_wait(m, EV_INIT, 1, &init));
	memory_object_readahead_info_data_t ra = { .max_window = (unsigned)(4 * ps) };
	CHECK_EQ(memory_object_change_attributes(init.control,
	         MEMORY_OBJECT_READAHEAD_INFO, (memory_object_info_t)&ra,
	         MEMORY_OBJECT_READAHEAD_INFO_COUNT, MACH_PORT_NULL), KERN_SUCCESS);
	CHECK(page_matches(a, 0));
	struct mgr_event e;
	CHECK(mgr_wait(m, EV_DATA_REQUEST, 2, &e));   /* page 1, asked ahead */
	CHECK_EQ(e.offset, ps);
	CHECK_EQ(e.length, ps);
	CHECK(page_matches(a + ps, ps));
	CHECK(page_matches(a + 2 * ps, 2 * ps));      /* sequential: two ahead */
	CHECK(mgr_wait(m, EV_DATA_REQUEST, 5, &e));
	CHECK_EQ(e.offset, 4 * ps);
	CHECK(page_matches(a + 3 * ps, 3 * ps));
	CHECK(page_matches(a + 4 * ps, 4 * ps));
	CHECK(page_matches(a + 10 * ps, 10 * ps));    /* random: none ahead */
	CHECK(mgr_wait(m, EV_DATA_REQUEST, 6, &e));
	CHECK_EQ(e.offset, 10 * ps);
	memory_object_readahead_info_data_t got;
	mach_msg_type_number_t count = MEMORY_OBJECT_READAHEAD_INFO_COUNT;
	CHECK_EQ(memory_object_get_attributes(init.control,
	         MEMORY_OBJECT_READAHEAD_INFO, (memory_object_info_t)&got, &count),
	         KERN_SUCCESS);
	CHECK_EQ(got.max_window, (unsigned)(4 * ps));
	CHECK_EQ(got.requests, 3u);
	CHECK_EQ(got.pages, 3u);
	CHECK_EQ(mgr_count(m, EV_DATA_REQUEST), 6);
	/* No page asked twice. */
	for (int i = 0; i < m->nev; i++)
		for (int j = i + 1; j < m->nev; j++)
			if (m->ev[i].kind == EV_DATA_REQUEST && m->ev[j].kind == EV_DATA_REQUEST)
				CHECK(m->ev[i].offset != m->ev[j].offset);
	vm_deallocate(mach_task_self(), a, 16 * ps);
	CHECK(mgr_wait(m, EV_TERMINATE, 1, NULL));
	mgr_stop(m);
}

/* Without the advice a sequential read asks exactly for what it touches. */
TEST(no_readahead_without_opt_in)
{
	struct mgr *m = mgr_start(1, 0, REPLY_SUPPLY);
	REQUIRE(m != NULL);
	vm_address_t a = map_object(m, 8 * ps, 0);
	for (int i = 0; i < 4; i++)
		CHECK(page_matches(a + (vm_size_t)i * ps, (vm_size_t)i * ps));
	CHECK_EQ(mgr_count(m, EV_DATA_REQUEST), 4);
	for (int i = 0; i < m->nev; i++)
		if (m->ev[i].kind == EV_DATA_REQUEST)
			CHECK_EQ(m->ev[i].length, ps);
	vm_deallocate(mach_task_self(), a, 8 * ps);
	CHECK(mgr_wait(m, EV_TERMINATE, 1, NULL));
	mgr_stop(m);
}

TEST(statistics_count_messages)
{
	vm_statistics_data_t s0 = vm_stats();
	struct mgr *m = mgr_start(1, 0, REPLY_SUPPLY);
	REQUIRE(m != NULL);
	vm_address_t a = map_object(m, ps, 0);
	CHECK(page_matches(a, 0));
	vm_statistics_data_t s1 = vm_stats();
	CHECK(s1.faults >= s0.faults + 1);
	CHECK(s1.pageins >= s0.pageins + 1);
	CHECK(s1.lookups >= s0.lookups + 2);    /* init, data_request */
	CHECK(s1.hits >= s0.hits + 2);          /* change_attributes, supply */
	CHECK(s1.active_count >= s0.active_count + 1);
	vm_deallocate(mach_task_self(), a, ps);
	CHECK(mgr_wait(m, EV_TERMINATE, 1, NULL));
	CHECK(vm_stats().lookups >= s1.lookups + 1);
	mgr_stop(m);
}

int main(void)
{
	alarm(240);       /* a hang fails the test instead of stalling CTest */
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_sigbus;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGBUS, &sa, NULL);
	ps = kernel_page_size();
	REQUIRE(ps >= 4096);
	RUN(init_once_with_page_size);
	RUN(faults_wait_for_change_attributes);
	RUN(queued_fault_asks_for_whole_cluster);
	RUN(prefetch_served_without_request);
	RUN(requests_aligned_to_cluster);
	RUN(zero_fill);
	RUN(data_error_sigbus_then_retry);
	RUN(cache_refusal_is_a_memory_error);
	RUN(supply_over_resident_page_is_refused);
	RUN(seqnos_in_order_terminate_and_fresh_init);
	RUN(mappings_share_bytes);
	RUN(concurrent_faults_one_request);
	RUN(one_supply_wakes_every_waiter_of_the_run);
	RUN(dead_manager_sigbus_others_work);
	RUN(large_kernel_page_installed_whole);
	RUN(statistics_count_messages);
	RUN(readahead_asks_ahead_when_opted_in);
	RUN(no_readahead_without_opt_in);
	return harness_done();
}
