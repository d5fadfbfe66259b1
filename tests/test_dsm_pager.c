/* The DSM pager: one object, several kernels in other processes (and, with
 * --tcp, on another host: a network namespace) with different page sizes,
 * kept coherent by the manager. Atomic increments from every kernel add
 * up; a reader never sees an older value after a newer one; counters
 * that share a page stay exact; a kernel killed while it owns a page
 * does not stop the others; a killed manager gives SIGBUS. */
#include <mach/mach.h>
#include <memobj/dsm_pager.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "harness.h"
#include "net_peer.h"

#define OBJ_SIZE (4 * 1024 * 1024)
#define SPIN_MS 60000

/* Where things live in the object (each on its own 64 KiB block, so that
 * no page size up to 64 KiB puts two of them in one page). */
#define OFF_ARRIVED  0x00000     /* barrier: kernels that arrived */
#define OFF_FINISHED 0x00008     /* kernels that finished */
#define OFF_COUNTER  0x10000
#define OFF_SLOTS    0x20000     /* false sharing: one slot per kernel */
#define OFF_X        0x30000     /* ping-pong: the value */
#define OFF_ACK      0x40000     /* ping-pong: the reader's answer */
#define OFF_Q        0x50000
#define OFF_P        0x60000
#define OFF_F        0x70000
#define OFF_S        0x80000     /* read in sequence: STREAM_PAGES pages */
#define STREAM_PAGES 32
#define OFF_W        0xa0000     /* filled in sequence: 2 x FILL_PAGES pages */
#define OFF_TURN     0xc0000     /* hotspot: whose turn it is */
#define FILL_PAGES   16
#define OFF_Z        0xd0000     /* fresh pages read, then evicted clean */
#define ZERO_PAGES   32
#define OFF_GO       0xf0000     /* streamed while written: round started */
#define OFF_DONE     0xf0008     /* ... and its writes are done */
#define OFF_R        0x100000    /* streamed while written: R_GRANULES 4 KiB */
#define R_GRANULES   512
#define R_ROUNDS     6

static char dir[64];

static _Atomic uint64_t *at(vm_address_t base, vm_offset_t off)
{
	return (_Atomic uint64_t *)(uintptr_t)(base + off);
}

static int map_dsm(mach_port_t ns, const char *name, vm_address_t *base)
{
	mach_port_t obj;
	if (netname_look_up(ns, "", name, &obj) != KERN_SUCCESS)
		return -1;
	*base = 0;
	return vm_map(mach_task_self(), base, OBJ_SIZE, 0, TRUE, obj, 0, FALSE,
	              VM_PROT_READ | VM_PROT_WRITE, VM_PROT_ALL, VM_INHERIT_NONE)
	       == KERN_SUCCESS ? 0 : -1;
}

/* Spins (yielding) until *p == want; false after SPIN_MS. */
static bool wait_for(_Atomic uint64_t *p, uint64_t want)
{
	long long deadline = peer_now_ms() + SPIN_MS;
	while (atomic_load(p) != want) {
		if (peer_now_ms() > deadline)
			return false;
		sched_yield();
	}
	return true;
}

/* ---- peers (child processes, each one kernel) ---- */

static vm_address_t peer_base;

static int peer_connect(const char *address, const char *name)
{
	mach_port_t ns;
	if (memobj_connect(address, &ns) != KERN_SUCCESS || map_dsm(ns, name, &peer_base) != 0)
		return -1;
	return 0;
}

/* N kernels meet, then each adds 1 to the counter K times. */
static int peer_counter(const char *address, const char *name, int n, int k)
{
	if (peer_connect(address, name) != 0)
		return 2;
	peer_say("mapped");
	atomic_fetch_add(at(peer_base, OFF_ARRIVED), 1);
	if (!wait_for(at(peer_base, OFF_ARRIVED), (uint64_t)n))
		return 3;
	for (int i = 0; i < k; i++)
		atomic_fetch_add(at(peer_base, OFF_COUNTER), 1);
	atomic_fetch_add(at(peer_base, OFF_FINISHED), 1);
	peer_say("done");
	for (;;)
		pause();
}

/* False sharing: kernel `idx` increments its own slot (plain loads and
 * stores) K times; the slots share one 4 KiB page. */
static int peer_slot(const char *address, const char *name, int n, int idx, int k)
{
	if (peer_connect(address, name) != 0)
		return 2;
	atomic_fetch_add(at(peer_base, OFF_ARRIVED), 1);
	if (!wait_for(at(peer_base, OFF_ARRIVED), (uint64_t)n))
		return 3;
	volatile uint64_t *slot = (volatile uint64_t *)(uintptr_t)(peer_base + OFF_SLOTS) + idx;
	for (int i = 0; i < k; i++)
		*slot = *slot + 1;
	peer_say("done");
	for (;;)
		pause();
}

/* The hotspot: kernel `idx` of two takes its turns (the count has its
 * parity) with compare-and-swap, m times; every attempt, failed or not,
 * needs the page writable, so both kernels want it all the time. Says
 * "done" once it took its m turns. */
static int peer_turns(const char *address, const char *name, int idx, int m)
{
	if (peer_connect(address, name) != 0)
		return 2;
	peer_say("mapped");
	_Atomic uint64_t *turn = at(peer_base, OFF_TURN);
	for (int i = 0; i < m; i++) {
		uint64_t want = 2 * (uint64_t)i + (uint64_t)idx, e = want;
		long long deadline = peer_now_ms() + SPIN_MS;
		while (!atomic_compare_exchange_strong(turn, &e, want + 1)) {
			if (e > want) {
				peer_say("turn %llu taken twice", (unsigned long long)want);
				return 4;
			}
			if (peer_now_ms() > deadline)
				return 3;
			e = want;
			sched_yield();
		}
	}
	peer_say("done");
	for (;;)
		pause();
}

static int peer_writer(const char *address, const char *name, int m)
{
	if (peer_connect(address, name) != 0)
		return 2;
	peer_say("mapped");
	uint64_t last = 0;
	for (int i = 1; i <= m; i++) {
		atomic_store(at(peer_base, OFF_X), (uint64_t)i);
		long long deadline = peer_now_ms() + SPIN_MS;
		for (;;) {
			uint64_t a = atomic_load(at(peer_base, OFF_ACK));
			if (a < last || a > (uint64_t)i) {
				peer_say("stale ack %llu after %llu", (unsigned long long)a,
				         (unsigned long long)last);
				return 4;
			}
			last = a;
			if (a == (uint64_t)i)
				break;
			if (peer_now_ms() > deadline)
				return 3;
			sched_yield();
		}
	}
	peer_say("done %d", m);
	for (;;)
		pause();
}

static int peer_reader(const char *address, const char *name, int m)
{
	if (peer_connect(address, name) != 0)
		return 2;
	peer_say("mapped");
	uint64_t last = 0;
	long long deadline = peer_now_ms() + SPIN_MS;
	while (last < (uint64_t)m) {
		uint64_t v = atomic_load(at(peer_base, OFF_X));
		if (v < last || v > last + 1) {
			peer_say("stale value %llu after %llu", (unsigned long long)v,
			         (unsigned long long)last);
			return 4;
		}
		if (v == last + 1) {
			last = v;
			atomic_store(at(peer_base, OFF_ACK), v);
			deadline = peer_now_ms() + SPIN_MS;
		} else if (peer_now_ms() > deadline) {
			return 3;
		} else {
			sched_yield();
		}
	}
	peer_say("done %llu", (unsigned long long)last);
	for (;;)
		pause();
}

/* Kill test, the kernel that dies: writes Q, waits for the survivor to
 * read it (so the manager has Q back), then owns P and says so. */
static int peer_victim(const char *address, const char *name)
{
	if (peer_connect(address, name) != 0)
		return 2;
	atomic_store(at(peer_base, OFF_Q), 42);
	if (!wait_for(at(peer_base, OFF_F), 1))
		return 3;
	atomic_store(at(peer_base, OFF_P), 7);
	peer_say("owns");
	for (;;)
		pause();
}

/* Kill test, the survivor: reads Q, lets the victim go on, then waits for
 * P to become 9 (the test process writes it after the kill) and adds 1. */
static int peer_survivor(const char *address, const char *name)
{
	if (peer_connect(address, name) != 0)
		return 2;
	if (!wait_for(at(peer_base, OFF_Q), 42))
		return 3;
	atomic_store(at(peer_base, OFF_F), 1);
	peer_say("saw 42");
	if (!wait_for(at(peer_base, OFF_P), 9))
		return 3;
	atomic_fetch_add(at(peer_base, OFF_P), 1);
	peer_say("continued");
	for (;;)
		pause();
}

/* Writes `value` at `off` and says so. */
static int peer_poke(const char *address, const char *name, vm_offset_t off, uint64_t value)
{
	if (peer_connect(address, name) != 0)
		return 2;
	atomic_store(at(peer_base, off), value);
	peer_say("poked");
	for (;;)
		pause();
}

/* Read sharing: reads Q (nobody else holds it, so it comes writable),
 * writes 5 there without another fault, and says so; once P is 1 (the
 * test process has read Q meanwhile), checks Q still reads 5, writes 6
 * and says so. */
static int peer_sharer(const char *address, const char *name)
{
	if (peer_connect(address, name) != 0)
		return 2;
	volatile uint64_t *q = (volatile uint64_t *)(uintptr_t)(peer_base + OFF_Q);
	if (*q != 0)
		return 3;
	*q = 5;
	peer_say("wrote 5");
	if (!wait_for(at(peer_base, OFF_P), 1))
		return 3;
	if (*q != 5) {
		peer_say("stale %llu", (unsigned long long)*q);
		return 4;
	}
	*q = 6;
	peer_say("wrote 6");
	for (;;)
		pause();
}

static uint64_t stream_sum(vm_address_t base)
{
	uint64_t sum = 0;
	for (int i = 0; i < STREAM_PAGES; i++)
		sum += *(volatile uint64_t *)(uintptr_t)(base + OFF_S + (vm_offset_t)i * 4096);
	return sum;
}

/* Reads STREAM_PAGES pages in sequence (the manager supplies ahead) and
 * says their sum; once P is 1, says it again. */
static int peer_streamer(const char *address, const char *name)
{
	if (peer_connect(address, name) != 0)
		return 2;
	peer_say("sum %llu", (unsigned long long)stream_sum(peer_base));
	if (!wait_for(at(peer_base, OFF_P), 1))
		return 3;
	peer_say("sum %llu", (unsigned long long)stream_sum(peer_base));
	for (;;)
		pause();
}

/* Streamed while written: granule i holds i + 1, and the writer's round r
 * rewrites every granule with (3i + r) % 5 == 0 to (r + 1) << 32 | i + 1. */
static bool r_written(int i, int r)
{
	return (3 * i + r) % 5 == 0;
}

/* Granule i's value once rounds [0, rounds) are written. */
static uint64_t r_value(int i, int rounds)
{
	uint64_t v = (uint64_t)i + 1;
	for (int r = 0; r < rounds; r++)
		if (r_written(i, r))
			v = (uint64_t)(r + 1) << 32 | ((uint64_t)i + 1);
	return v;
}

static uint64_t r_load(vm_address_t base, int i)
{
	return atomic_load(at(base, OFF_R + (vm_offset_t)i * 4096));
}

/* Each round: once GO says so, reads the granules in sequence (the
 * manager lends them ahead, in growing windows) while the writer rewrites some;
 * each read sees the old value or the new. Once DONE says the writes are
 * over, every granule must show them. Then it drops its copies, so the
 * next round reads ahead again. Says "round R ok", or what it saw wrong. */
static int peer_racing_reader(const char *address, const char *name)
{
	if (peer_connect(address, name) != 0)
		return 2;
	for (int r = 0; r < R_ROUNDS; r++) {
		if (!wait_for(at(peer_base, OFF_GO), (uint64_t)r + 1))
			return 3;
		for (int i = 0; i < R_GRANULES; i++) {
			uint64_t v = r_load(peer_base, i);
			if (v != r_value(i, r) && v != r_value(i, r + 1)) {
				peer_say("round %d torn %d %llx", r, i, (unsigned long long)v);
				return 4;
			}
		}
		if (!wait_for(at(peer_base, OFF_DONE), (uint64_t)r + 1))
			return 3;
		for (int i = 0; i < R_GRANULES; i++) {
			uint64_t v = r_load(peer_base, i);
			if (v != r_value(i, r + 1)) {
				peer_say("round %d stale %d %llx", r, i, (unsigned long long)v);
				return 4;
			}
		}
		if (vm_msync(mach_task_self(), peer_base + OFF_R, (vm_size_t)R_GRANULES * 4096,
		             VM_SYNC_SYNCHRONOUS | VM_SYNC_INVALIDATE) != KERN_SUCCESS)
			return 5;
		peer_say("round %d ok", r);
	}
	for (;;)
		pause();
}

static uint64_t fill_sum(vm_address_t base)
{
	uint64_t sum = 0;
	for (int i = 0; i < 2 * FILL_PAGES; i++)
		sum += *(volatile uint64_t *)(uintptr_t)(base + OFF_W + (vm_offset_t)i * 4096);
	return sum;
}

/* Writes i + 1 into the first FILL_PAGES fresh pages, in sequence (the
 * manager supplies fresh pages ahead, writable), and says so; once P is
 * 1, says the sum of all 2 x FILL_PAGES pages. */
static int peer_filler(const char *address, const char *name)
{
	if (peer_connect(address, name) != 0)
		return 2;
	for (int i = 0; i < FILL_PAGES; i++)
		*(volatile uint64_t *)(uintptr_t)(peer_base + OFF_W + (vm_offset_t)i * 4096) =
		        (uint64_t)i + 1;
	peer_say("filled");
	if (!wait_for(at(peer_base, OFF_P), 1))
		return 3;
	peer_say("sum %llu", (unsigned long long)fill_sum(peer_base));
	for (;;)
		pause();
}

/* Reads ZERO_PAGES pages nobody ever had (each comes by data_unavailable,
 * not precious; with a small MEMOBJ_RESIDENT_MAX most are evicted clean,
 * without a word to the manager), says whether they were all zero; once P
 * is 1, says their sum. */
static int peer_zeros(const char *address, const char *name)
{
	if (peer_connect(address, name) != 0)
		return 2;
	uint64_t sum = 0;
	for (int i = 0; i < ZERO_PAGES; i++)
		sum += *(volatile uint64_t *)(uintptr_t)(peer_base + OFF_Z + (vm_offset_t)i * 4096);
	peer_say("read %llu", (unsigned long long)sum);
	if (!wait_for(at(peer_base, OFF_P), 1))
		return 3;
	sum = 0;
	for (int i = 0; i < ZERO_PAGES; i++)
		sum += *(volatile uint64_t *)(uintptr_t)(peer_base + OFF_Z + (vm_offset_t)i * 4096);
	peer_say("sum %llu", (unsigned long long)sum);
	for (;;)
		pause();
}

/* A manager in its own process (for the SIGBUS and TCP tests). */
static int peer_manager(const char *address, const char *name)
{
	memory_object_t obj;
	if (memobj_listen(address) != KERN_SUCCESS || dsm_pager_create(OBJ_SIZE, &obj) != KERN_SUCCESS ||
	    netname_check_in(MACH_PORT_NULL, name, MACH_PORT_NULL, obj) != KERN_SUCCESS)
		return 2;
	peer_say("ready");
	for (;;)
		pause();
}

/* ---- the test process: manager (and one more kernel) ---- */

static char address[160];

static memory_object_t make_object(const char *name)
{
	memory_object_t obj = MACH_PORT_NULL;
	REQUIRE(dsm_pager_create(OBJ_SIZE, &obj) == KERN_SUCCESS);
	REQUIRE(netname_check_in(MACH_PORT_NULL, name, MACH_PORT_NULL, obj) == KERN_SUCCESS);
	return obj;
}

static void drop_object(const char *name, memory_object_t obj)
{
	netname_check_out(MACH_PORT_NULL, name, MACH_PORT_NULL);
	CHECK_EQ(dsm_pager_destroy(obj), KERN_SUCCESS);
}

static vm_address_t map_here(memory_object_t obj)
{
	vm_address_t base = 0;
	CHECK_EQ(vm_map(mach_task_self(), &base, OBJ_SIZE, 0, TRUE, obj, 0, FALSE,
	         VM_PROT_READ | VM_PROT_WRITE, VM_PROT_ALL, VM_INHERIT_NONE), KERN_SUCCESS);
	return base;
}

static const char *page_env[3] = { "MEMOBJ_PAGE_SIZE=4096", "MEMOBJ_PAGE_SIZE=16384",
                                   "MEMOBJ_PAGE_SIZE=65536" };

/* N kernels (page sizes 4, 16, 64 KiB), K increments each. The test
 * process reads the total through its own mapping (a kernel of its own). */
static void counter_run(const char *addr, const char *name, memory_object_t obj,
        int n, int k, vm_address_t here)
{
	struct peer p[3];
	char ns[16], ks[16];
	snprintf(ns, sizeof ns, "%d", n);
	snprintf(ks, sizeof ks, "%d", k);
	const char *args[] = { "counter", addr, name, ns, ks, NULL };
	for (int i = 0; i < n; i++) {
		const char *env[] = { page_env[i], NULL };
		REQUIRE(peer_start(&p[i], NULL, env, args) == 0);
	}
	for (int i = 0; i < n; i++)
		CHECK(peer_expect(&p[i], "done", 4 * PEER_TIMEOUT_MS) != NULL);
	CHECK_EQ(atomic_load(at(here, OFF_COUNTER)), (uint64_t)n * (uint64_t)k);
	CHECK_EQ(atomic_load(at(here, OFF_FINISHED)), (uint64_t)n);
	if (obj != MACH_PORT_NULL) {
		dsm_kernel_info_t info[8];
		unsigned count = 8;
		CHECK_EQ(dsm_pager_kernels(obj, info, &count), KERN_SUCCESS);
		CHECK_EQ(count, (unsigned)n + 1);
		vm_size_t sizes = 0;
		for (unsigned i = 0; i < count && i < 8; i++)
			sizes |= info[i].page_size;
		CHECK(sizes & 16384);
	}
	for (int i = 0; i < n; i++)
		peer_stop(&p[i]);
}

static void counter_test(int n, int k)
{
	char name[32];
	snprintf(name, sizeof name, "dsm-counter-%d", n);
	memory_object_t obj = make_object(name);
	vm_address_t here = map_here(obj);
	counter_run(address, name, obj, n, k, here);
	CHECK_EQ(vm_deallocate(mach_task_self(), here, OBJ_SIZE), KERN_SUCCESS);
	drop_object(name, obj);
}

/* The faults every kernel attached to obj has taken (dsm_pager_kernels). */
static uint64_t faults_of_all_kernels(memory_object_t obj)
{
	dsm_kernel_info_t info[4];
	unsigned count = 4;
	CHECK_EQ(dsm_pager_kernels(obj, info, &count), KERN_SUCCESS);
	uint64_t faults = 0;
	for (unsigned i = 0; i < count && i < 4; i++)
		faults += info[i].faults;
	return faults;
}

TEST(two_kernels_atomic_counter)
{
	counter_test(2, 2000);
}

TEST(three_kernels_atomic_counter)
{
	counter_test(3, 1000);
}

TEST(ping_pong_never_stale)
{
	memory_object_t obj = make_object("dsm-pingpong");
	struct peer w, r;
	const char *wargs[] = { "writer", address, "dsm-pingpong", "500", NULL };
	const char *rargs[] = { "reader", address, "dsm-pingpong", "500", NULL };
	const char *wenv[] = { page_env[1], NULL };
	const char *renv[] = { page_env[0], NULL };
	REQUIRE(peer_start(&w, NULL, wenv, wargs) == 0);
	REQUIRE(peer_start(&r, NULL, renv, rargs) == 0);
	const char *l = peer_expect(&r, "done", 4 * PEER_TIMEOUT_MS);
	CHECK(l != NULL && strcmp(l, "done 500") == 0);
	l = peer_expect(&w, "done", 4 * PEER_TIMEOUT_MS);
	CHECK(l != NULL && strcmp(l, "done 500") == 0);
	peer_stop(&w);
	peer_stop(&r);
	drop_object("dsm-pingpong", obj);
}

/* Two kernels (4 and 16 KiB pages) alternately writing one page: every
 * turn is taken once, in order, and neither starves (the manager's hold
 * keeps a page until the thread that faulted for it ran). */
TEST(hotspot_turns_alternate)
{
	memory_object_t obj = make_object("dsm-turns");
	vm_address_t here = map_here(obj);
	struct peer p[2];
	for (int i = 0; i < 2; i++) {
		const char *args[] = { "turns", address, "dsm-turns", i ? "1" : "0", "1000", NULL };
		const char *env[] = { page_env[i], NULL };
		REQUIRE(peer_start(&p[i], NULL, env, args) == 0);
	}
	for (int i = 0; i < 2; i++)
		CHECK(peer_expect(&p[i], "done", 4 * PEER_TIMEOUT_MS) != NULL);
	CHECK_EQ(atomic_load(at(here, OFF_TURN)), 2000);
	/* Every turn moved the page: at least one transfer each way. */
	uint64_t faults = faults_of_all_kernels(obj);
	CHECK(faults >= 2000);
	for (int i = 0; i < 2; i++)
		peer_stop(&p[i]);
	CHECK_EQ(vm_deallocate(mach_task_self(), here, OBJ_SIZE), KERN_SUCCESS);
	drop_object("dsm-turns", obj);
}

TEST(false_sharing_stays_exact)
{
	memory_object_t obj = make_object("dsm-slots");
	vm_address_t here = map_here(obj);
	struct peer p[3];
	const int k = 1500;
	for (int i = 0; i < 3; i++) {
		char idx[8];
		snprintf(idx, sizeof idx, "%d", i);
		const char *args[] = { "slot", address, "dsm-slots", "3", idx, "1500", NULL };
		const char *env[] = { page_env[i], NULL };
		REQUIRE(peer_start(&p[i], NULL, env, args) == 0);
	}
	for (int i = 0; i < 3; i++)
		CHECK(peer_expect(&p[i], "done", 4 * PEER_TIMEOUT_MS) != NULL);
	const volatile uint64_t *slots = (const volatile uint64_t *)(uintptr_t)(here + OFF_SLOTS);
	for (int i = 0; i < 3; i++)
		CHECK_EQ(slots[i], (uint64_t)k);
	for (int i = 0; i < 3; i++)
		peer_stop(&p[i]);
	CHECK_EQ(vm_deallocate(mach_task_self(), here, OBJ_SIZE), KERN_SUCCESS);
	drop_object("dsm-slots", obj);
}

/* A page supplied writable on a read fault (nobody else held it) and then
 * written without a fault: another kernel's read must see that write (the
 * holder is write-locked in place, its dirty page comes back), the holder
 * keeps reading what it wrote, and its next write invalidates the reader.
 * The page has been lent before (a page nobody ever had is zero-filled by
 * data_unavailable, and such a holder is flushed rather than downgraded). */
TEST(read_sharing_keeps_writes)
{
	memory_object_t obj = make_object("dsm-share");
	vm_address_t here = map_here(obj);
	memset((void *)(uintptr_t)(here + OFF_Q), 0, 16384);
	CHECK_EQ(vm_msync(mach_task_self(), here + OFF_Q, 16384,
	                  VM_SYNC_SYNCHRONOUS | VM_SYNC_INVALIDATE), KERN_SUCCESS);
	struct peer p;
	const char *args[] = { "sharer", address, "dsm-share", NULL };
	const char *env[] = { page_env[1], NULL };
	REQUIRE(peer_start(&p, NULL, env, args) == 0);
	CHECK(peer_expect(&p, "wrote 5", 4 * PEER_TIMEOUT_MS) != NULL);
	const volatile uint64_t *q = (const volatile uint64_t *)(uintptr_t)(here + OFF_Q);
	CHECK_EQ(*q, 5);
	atomic_store(at(here, OFF_P), 1);
	CHECK(peer_expect(&p, "wrote 6", 4 * PEER_TIMEOUT_MS) != NULL);
	CHECK_EQ(*q, 6);
	/* The reader write-locked the holder instead of taking its page. */
	dsm_kernel_info_t info[4];
	unsigned count = 4;
	CHECK_EQ(dsm_pager_kernels(obj, info, &count), KERN_SUCCESS);
	uint64_t downgrades = 0;
	for (unsigned i = 0; i < count && i < 4; i++)
		if (info[i].page_size == 16384)
			downgrades += info[i].messages[DSM_MSG_LOCK_DOWNGRADE];
	CHECK(downgrades >= 1);
	peer_stop(&p);
	CHECK_EQ(vm_deallocate(mach_task_self(), here, OBJ_SIZE), KERN_SUCCESS);
	drop_object("dsm-share", obj);
}

/* Memory nobody ever had is zero-filled by data_unavailable, and its
 * holder may drop it clean without a word (here: evicted under a small
 * MEMOBJ_RESIDENT_MAX): a write elsewhere must still recall it (the
 * flush is answered by lock_completed, not by a data_return that never
 * comes), and the holder then reads what was written. */
TEST(zero_filled_pages_dropped_clean_are_recalled)
{
	memory_object_t obj = make_object("dsm-zeros");
	vm_address_t here = map_here(obj);
	struct peer p;
	const char *args[] = { "zeros", address, "dsm-zeros", NULL };
	const char *env[] = { page_env[0], "MEMOBJ_RESIDENT_MAX=16k", NULL };
	REQUIRE(peer_start(&p, NULL, env, args) == 0);
	const char *l = peer_expect(&p, "read", 4 * PEER_TIMEOUT_MS);
	CHECK(l != NULL && strcmp(l, "read 0") == 0);
	for (int i = 0; i < ZERO_PAGES; i++)
		atomic_store(at(here, OFF_Z + (vm_offset_t)i * 4096), (uint64_t)i + 1);
	atomic_store(at(here, OFF_P), 1);
	l = peer_expect(&p, "sum", 4 * PEER_TIMEOUT_MS);
	CHECK(l != NULL && strcmp(l, "sum 528") == 0);   /* 1 + 2 + ... + 32 */
	/* The peer's pages were recalled with a reply, answered each time. */
	dsm_kernel_info_t info[4];
	unsigned count = 4;
	CHECK_EQ(dsm_pager_kernels(obj, info, &count), KERN_SUCCESS);
	uint64_t completed = 0;
	for (unsigned i = 0; i < count && i < 4; i++)
		if (info[i].state == DSM_KERNEL_ATTACHED && i > 0)
			completed += info[i].messages[DSM_MSG_LOCK_COMPLETED];
	CHECK(completed >= ZERO_PAGES);
	peer_stop(&p);
	CHECK_EQ(vm_deallocate(mach_task_self(), here, OBJ_SIZE), KERN_SUCCESS);
	drop_object("dsm-zeros", obj);
}

/* Pages supplied ahead of a sequential reader, never faulted on there,
 * are read copies like any other: a write elsewhere invalidates them.
 * Only pages someone had go ahead of a read: they are written (zeros)
 * and given back here first. */
TEST(read_ahead_copies_are_invalidated)
{
	memory_object_t obj = make_object("dsm-stream");
	vm_address_t here = map_here(obj);
	memset((void *)(uintptr_t)(here + OFF_S), 0, (size_t)STREAM_PAGES * 4096);
	CHECK_EQ(vm_msync(mach_task_self(), here + OFF_S, (vm_size_t)STREAM_PAGES * 4096,
	                  VM_SYNC_SYNCHRONOUS | VM_SYNC_INVALIDATE), KERN_SUCCESS);
	uint64_t before = faults_of_all_kernels(obj);
	struct peer p;
	const char *args[] = { "streamer", address, "dsm-stream", NULL };
	const char *env[] = { page_env[0], NULL };
	REQUIRE(peer_start(&p, NULL, env, args) == 0);
	const char *l = peer_expect(&p, "sum", 4 * PEER_TIMEOUT_MS);
	CHECK(l != NULL && strcmp(l, "sum 0") == 0);
	/* Fewer faults than pages: the reads in sequence were supplied ahead. */
	uint64_t faults = faults_of_all_kernels(obj) - before;
	CHECK(faults > 0 && faults < STREAM_PAGES / 2);
	/* Every page written here, those it faulted on and those it got
	 * ahead: it must see every write. */
	for (int i = 0; i < STREAM_PAGES; i++)
		atomic_store(at(here, OFF_S + (vm_offset_t)i * 4096), (uint64_t)i + 1);
	atomic_store(at(here, OFF_P), 1);
	l = peer_expect(&p, "sum", 4 * PEER_TIMEOUT_MS);
	CHECK(l != NULL && strcmp(l, "sum 528") == 0);   /* 1 + 2 + ... + 32 */
	peer_stop(&p);
	CHECK_EQ(vm_deallocate(mach_task_self(), here, OBJ_SIZE), KERN_SUCCESS);
	drop_object("dsm-stream", obj);
}

/* A 16 KiB kernel reads in sequence through 2 MiB this (4 KiB) kernel
 * wrote, while this kernel writes some of those pages again: the writes
 * meet pages the reader holds, or that the manager is lending it ahead.
 * The reader sees the data, every write once it is done (never a stale
 * read-ahead copy), and nothing torn. The second run evicts as it reads
 * (its pages come back and are asked for again). */
static void streamed_while_written(const char *resident_max)
{
	memory_object_t obj = make_object("dsm-race");
	vm_address_t here = map_here(obj);
	for (int i = 0; i < R_GRANULES; i++)
		atomic_store(at(here, OFF_R + (vm_offset_t)i * 4096), r_value(i, 0));
	CHECK_EQ(vm_msync(mach_task_self(), here + OFF_R, (vm_size_t)R_GRANULES * 4096,
	                  VM_SYNC_SYNCHRONOUS | VM_SYNC_INVALIDATE), KERN_SUCCESS);
	struct peer p;
	const char *args[] = { "racing-reader", address, "dsm-race", NULL };
	const char *env[] = { page_env[1], resident_max, NULL };
	REQUIRE(peer_start(&p, NULL, env, args) == 0);
	for (int r = 0; r < R_ROUNDS; r++) {
		atomic_store(at(here, OFF_GO), (uint64_t)r + 1);
		/* From the end: the writes meet the reader's stream somewhere,
		 * and take pages it already holds or is being lent. */
		for (int i = R_GRANULES - 1; i >= 0; i--)
			if (r_written(i, r))
				atomic_store(at(here, OFF_R + (vm_offset_t)i * 4096), r_value(i, r + 1));
		atomic_store(at(here, OFF_DONE), (uint64_t)r + 1);
		char want[32];
		snprintf(want, sizeof want, "round %d ok", r);
		const char *l = peer_expect(&p, "round", 4 * PEER_TIMEOUT_MS);
		CHECK(l != NULL && strcmp(l, want) == 0);
		if (l == NULL || strcmp(l, want) != 0)
			break;
	}
	peer_stop(&p);
	CHECK_EQ(vm_deallocate(mach_task_self(), here, OBJ_SIZE), KERN_SUCCESS);
	drop_object("dsm-race", obj);
}

TEST(read_ahead_in_flight_never_stale)
{
	streamed_while_written(NULL);
	streamed_while_written("MEMOBJ_RESIDENT_MAX=256k");
}

/* Fresh pages supplied writable ahead of a kernel filling memory in
 * sequence are its own like any other: another kernel reads what it
 * wrote (zeros where it wrote nothing), and a write there takes them. */
TEST(write_ahead_pages_are_recalled)
{
	memory_object_t obj = make_object("dsm-fill");
	vm_address_t here = map_here(obj);
	struct peer p;
	const char *args[] = { "filler", address, "dsm-fill", NULL };
	const char *env[] = { page_env[0], NULL };
	REQUIRE(peer_start(&p, NULL, env, args) == 0);
	CHECK(peer_expect(&p, "filled", 4 * PEER_TIMEOUT_MS) != NULL);
	/* Fewer faults than pages written: fresh pages went ahead. */
	uint64_t faults = faults_of_all_kernels(obj);
	CHECK(faults > 0 && faults < FILL_PAGES);
	CHECK_EQ(fill_sum(here), (uint64_t)FILL_PAGES * (FILL_PAGES + 1) / 2);
	for (int i = FILL_PAGES; i < 2 * FILL_PAGES; i++)
		atomic_store(at(here, OFF_W + (vm_offset_t)i * 4096), 100);
	atomic_store(at(here, OFF_P), 1);
	char want[32];
	snprintf(want, sizeof want, "sum %llu",
	         (unsigned long long)(FILL_PAGES * (FILL_PAGES + 1) / 2 + 100 * FILL_PAGES));
	const char *l = peer_expect(&p, "sum", 4 * PEER_TIMEOUT_MS);
	CHECK(l != NULL && strcmp(l, want) == 0);
	peer_stop(&p);
	CHECK_EQ(vm_deallocate(mach_task_self(), here, OBJ_SIZE), KERN_SUCCESS);
	drop_object("dsm-fill", obj);
}

TEST(killed_owner_others_continue)
{
	memory_object_t obj = make_object("dsm-kill");
	struct peer v, s;
	const char *vargs[] = { "victim", address, "dsm-kill", NULL };
	const char *sargs[] = { "survivor", address, "dsm-kill", NULL };
	const char *venv[] = { page_env[1], NULL };
	const char *senv[] = { page_env[0], NULL };
	REQUIRE(peer_start(&v, NULL, venv, vargs) == 0);
	REQUIRE(peer_start(&s, NULL, senv, sargs) == 0);
	CHECK(peer_expect(&s, "saw 42", 4 * PEER_TIMEOUT_MS) != NULL);
	CHECK(peer_expect(&v, "owns", 4 * PEER_TIMEOUT_MS) != NULL);
	peer_kill(&v);
	/* The test process joins as a third kernel. Q came back before the
	 * kill: it is kept. P's last write may not have come back: it reads
	 * as the manager's last copy (0 or 7), and works from there. */
	vm_address_t here = map_here(obj);
	CHECK_EQ(atomic_load(at(here, OFF_Q)), 42);
	uint64_t p = atomic_load(at(here, OFF_P));
	CHECK(p == 0 || p == 7);
	atomic_store(at(here, OFF_P), 9);
	CHECK(peer_expect(&s, "continued", 4 * PEER_TIMEOUT_MS) != NULL);
	CHECK_EQ(atomic_load(at(here, OFF_P)), 10);
	/* The manager learns of the death (dead-name notification): bounded. */
	dsm_kernel_info_t info[4];
	unsigned count = 4, dead = 0;
	for (long long until = peer_now_ms() + PEER_TIMEOUT_MS; dead == 0;) {
		count = 4;
		CHECK_EQ(dsm_pager_kernels(obj, info, &count), KERN_SUCCESS);
		for (unsigned i = 0; i < count && i < 4; i++)
			dead += info[i].state == DSM_KERNEL_DEAD;
		if (dead == 0 && peer_now_ms() > until)
			break;
		if (dead == 0)
			poll(NULL, 0, 1);
	}
	CHECK_EQ(count, 3u);
	CHECK_EQ(dead, 1u);
	peer_stop(&s);
	CHECK_EQ(vm_deallocate(mach_task_self(), here, OBJ_SIZE), KERN_SUCCESS);
	drop_object("dsm-kill", obj);
}

/* vm_msync(VM_SYNC_INVALIDATE) drops clean pages without a data_return:
 * the manager must not wait for them when another kernel writes. */
TEST(msync_invalidate_then_another_writer)
{
	memory_object_t obj = make_object("dsm-msync");
	vm_address_t here = map_here(obj);
	CHECK_EQ(atomic_load(at(here, OFF_Q)), 0);     /* held here, clean */
	atomic_store(at(here, OFF_P), 5);              /* held here, dirty */
	CHECK_EQ(vm_msync(mach_task_self(), here + OFF_Q, 0x20000,
	         VM_SYNC_SYNCHRONOUS | VM_SYNC_INVALIDATE), KERN_SUCCESS);
	struct peer p;
	char off[32];
	snprintf(off, sizeof off, "%d", OFF_Q);
	const char *args[] = { "poke", address, "dsm-msync", off, "77", NULL };
	const char *env[] = { page_env[1], NULL };
	REQUIRE(peer_start(&p, NULL, env, args) == 0);
	CHECK(peer_expect(&p, "poked", 4 * PEER_TIMEOUT_MS) != NULL);
	CHECK_EQ(atomic_load(at(here, OFF_Q)), 77);
	CHECK_EQ(atomic_load(at(here, OFF_P)), 5);
	peer_stop(&p);
	CHECK_EQ(vm_deallocate(mach_task_self(), here, OBJ_SIZE), KERN_SUCCESS);
	drop_object("dsm-msync", obj);
}

static sigjmp_buf fault_jmp;

static void on_sigbus(int sig)
{
	(void)sig;
	siglongjmp(fault_jmp, 1);
}

struct toucher {
	volatile uint8_t *addr;
	int got_sigbus;
};

static void *touch_thread(void *arg)
{
	struct toucher *t = arg;
	struct sigaction sa = { .sa_handler = on_sigbus };
	sigaction(SIGBUS, &sa, NULL);
	if (sigsetjmp(fault_jmp, 1) == 0) {
		*t->addr = 1;
		t->got_sigbus = 0;
	} else {
		t->got_sigbus = 1;
	}
	return NULL;
}

TEST(killed_manager_gives_sigbus)
{
	char addr[160];
	snprintf(addr, sizeof addr, "unix:%s/mgr", dir);
	struct peer m;
	const char *args[] = { "manager", addr, "dsm-remote", NULL };
	REQUIRE(peer_start(&m, NULL, NULL, args) == 0);
	REQUIRE(peer_expect(&m, "ready", PEER_TIMEOUT_MS) != NULL);
	mach_port_t ns;
	vm_address_t base = 0;
	CHECK_EQ(memobj_connect(addr, &ns), KERN_SUCCESS);
	CHECK_EQ(map_dsm(ns, "dsm-remote", &base), 0);
	atomic_store(at(base, OFF_COUNTER), 5);
	CHECK_EQ(atomic_load(at(base, OFF_COUNTER)), 5);
	long long t0 = peer_now_ms();
	peer_kill(&m);
	struct toucher t = { (volatile uint8_t *)(uintptr_t)(base + OFF_P), -1 };
	pthread_t th;
	pthread_create(&th, NULL, touch_thread, &t);
	pthread_join(th, NULL);
	CHECK_EQ(t.got_sigbus, 1);
	CHECK(peer_now_ms() - t0 < 10000);
	signal(SIGBUS, SIG_DFL);
	vm_deallocate(mach_task_self(), base, OBJ_SIZE);
	peer_stop(&m);
}

TEST(bad_arguments)
{
	memory_object_t obj;
	CHECK_EQ(dsm_pager_create(0, &obj), KERN_INVALID_ARGUMENT);
	CHECK_EQ(dsm_pager_create(4096 + 1, &obj), KERN_INVALID_ARGUMENT);
	CHECK_EQ(dsm_pager_create(4096, NULL), KERN_INVALID_ARGUMENT);
	CHECK_EQ(dsm_pager_create((vm_size_t)1 << 50, &obj), KERN_INVALID_ARGUMENT);
	CHECK_EQ(dsm_pager_destroy(MACH_PORT_NULL), KERN_INVALID_ARGUMENT);
	CHECK_EQ(dsm_pager_destroy(mach_task_self()), KERN_INVALID_ARGUMENT);
	unsigned count = 1;
	CHECK_EQ(dsm_pager_kernels(MACH_PORT_NULL, NULL, &count), KERN_INVALID_ARGUMENT);
	CHECK_EQ(dsm_pager_wait_kernels(MACH_PORT_NULL, 1, 10), KERN_INVALID_ARGUMENT);
	CHECK_EQ(dsm_pager_create(8192, &obj), KERN_SUCCESS);
	CHECK_EQ(dsm_pager_kernels(obj, NULL, NULL), KERN_INVALID_ARGUMENT);
	count = 0;
	CHECK_EQ(dsm_pager_kernels(obj, NULL, &count), KERN_SUCCESS);
	CHECK_EQ(count, 0u);
	CHECK_EQ(dsm_pager_wait_kernels(obj, 1, 10), KERN_OPERATION_TIMED_OUT);
	CHECK(strcmp(dsm_msg_kind_name(DSM_MSG_DATA_REQUEST), "data_request") == 0);
	CHECK(strcmp(dsm_msg_kind_name(DSM_MSG_KINDS), "?") == 0);
	/* A mapping in this process sees its own writes, then lets go. */
	vm_address_t base = 0;
	CHECK_EQ(vm_map(mach_task_self(), &base, 8192, 0, TRUE, obj, 0, FALSE,
	         VM_PROT_READ | VM_PROT_WRITE, VM_PROT_ALL, VM_INHERIT_NONE), KERN_SUCCESS);
	((volatile char *)(uintptr_t)base)[4100] = 'x';
	CHECK_EQ(((volatile char *)(uintptr_t)base)[4100], 'x');
	CHECK_EQ(dsm_pager_wait_kernels(obj, 1, 10000), KERN_SUCCESS);
	CHECK_EQ(vm_deallocate(mach_task_self(), base, 8192), KERN_SUCCESS);
	CHECK_EQ(dsm_pager_destroy(obj), KERN_SUCCESS);
	CHECK_EQ(dsm_pager_destroy(obj), KERN_INVALID_ARGUMENT);
}

/* ---- TCP: the manager on another host (a network namespace) ---- */

static int sh(const char *cmd)
{
	int rc = system(cmd);
	return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static char ns_name[32];
static int tcp_skipped;

static void netns_cleanup(void)
{
	char cmd[256];
	snprintf(cmd, sizeof cmd, "ip netns del %s 2>/dev/null; ip link del %sa 2>/dev/null",
	         ns_name, ns_name);
	sh(cmd);
}

static int netns_setup(void)
{
	snprintf(ns_name, sizeof ns_name, "mdsm%d", (int)getpid() % 100000);
	int sub = (int)getpid() % 250 + 1;
	char cmd[1024];
	snprintf(cmd, sizeof cmd,
	         "ip netns add %1$s && ip link add %1$sa type veth peer name %1$sb && "
	         "ip link set %1$sb netns %1$s && ip addr add 10.197.%2$d.1/24 dev %1$sa && "
	         "ip link set %1$sa up && ip -n %1$s addr add 10.197.%2$d.2/24 dev %1$sb && "
	         "ip -n %1$s link set %1$sb up && ip -n %1$s link set lo up",
	         ns_name, sub);
	if (sh(cmd) != 0) {
		netns_cleanup();
		return -1;
	}
	return sub;
}

TEST(counter_over_tcp_between_hosts)
{
	int sub = netns_setup();
	if (sub < 0) {
		printf("skip counter_over_tcp_between_hosts: cannot make network namespaces "
		       "(needs root and iproute2)\n");
		tcp_skipped = 1;
		return;
	}
	atexit(netns_cleanup);
	static const char key[] = "MEMOBJ_KEY=dsm test key";
	setenv("MEMOBJ_KEY", "dsm test key", 1);
	char addr[160];
	snprintf(addr, sizeof addr, "tcp:10.197.%d.2:%d", sub, 7000 + (int)getpid() % 2000);
	const char *prefix[] = { "ip", "netns", "exec", ns_name, NULL };
	const char *menv[] = { key, NULL };
	const char *margs[] = { "manager", addr, "dsm-tcp", NULL };
	struct peer m;
	REQUIRE(peer_start(&m, prefix, menv, margs) == 0);
	REQUIRE(peer_expect(&m, "ready", PEER_TIMEOUT_MS) != NULL);
	mach_port_t ns;
	vm_address_t here = 0;
	CHECK_EQ(memobj_connect(addr, &ns), KERN_SUCCESS);
	CHECK_EQ(map_dsm(ns, "dsm-tcp", &here), 0);
	/* Two kernels here (4 and 16 KiB pages) and this one, all over TCP. */
	counter_run(addr, "dsm-tcp", MACH_PORT_NULL, 2, 500, here);
	/* The kernels' writes are at the manager: a killed manager now
	 * gives SIGBUS on a page this kernel does not hold. */
	peer_kill(&m);
	struct toucher t = { (volatile uint8_t *)(uintptr_t)(here + OFF_P), -1 };
	pthread_t th;
	pthread_create(&th, NULL, touch_thread, &t);
	pthread_join(th, NULL);
	CHECK_EQ(t.got_sigbus, 1);
	signal(SIGBUS, SIG_DFL);
	vm_deallocate(mach_task_self(), here, OBJ_SIZE);
	peer_stop(&m);
	unsetenv("MEMOBJ_KEY");
	netns_cleanup();
}

static void on_alarm(int sig)
{
	(void)sig;
	static const char msg[] = "test_dsm_pager: timed out\n";
	(void)!write(2, msg, sizeof msg - 1);
	if (ns_name[0])
		netns_cleanup();
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	sh(cmd);
	_exit(1);
}

int main(int argc, char **argv)
{
	if (argc >= 5 && strcmp(argv[1], "--peer") == 0) {
		const char *role = argv[2], *addr = argv[3], *name = argv[4];
		if (strcmp(role, "counter") == 0 && argc >= 7)
			return peer_counter(addr, name, atoi(argv[5]), atoi(argv[6]));
		if (strcmp(role, "slot") == 0 && argc >= 8)
			return peer_slot(addr, name, atoi(argv[5]), atoi(argv[6]), atoi(argv[7]));
		if (strcmp(role, "turns") == 0 && argc >= 7)
			return peer_turns(addr, name, atoi(argv[5]), atoi(argv[6]));
		if (strcmp(role, "writer") == 0 && argc >= 6)
			return peer_writer(addr, name, atoi(argv[5]));
		if (strcmp(role, "reader") == 0 && argc >= 6)
			return peer_reader(addr, name, atoi(argv[5]));
		if (strcmp(role, "victim") == 0)
			return peer_victim(addr, name);
		if (strcmp(role, "survivor") == 0)
			return peer_survivor(addr, name);
		if (strcmp(role, "poke") == 0 && argc >= 7)
			return peer_poke(addr, name, (vm_offset_t)atol(argv[5]),
			                 (uint64_t)atol(argv[6]));
		if (strcmp(role, "filler") == 0)
			return peer_filler(addr, name);
		if (strcmp(role, "zeros") == 0)
			return peer_zeros(addr, name);
		if (strcmp(role, "streamer") == 0)
			return peer_streamer(addr, name);
		if (strcmp(role, "racing-reader") == 0)
			return peer_racing_reader(addr, name);
		if (strcmp(role, "sharer") == 0)
			return peer_sharer(addr, name);
		if (strcmp(role, "manager") == 0)
			return peer_manager(addr, name);
		return 1;
	}
	signal(SIGALRM, on_alarm);
	alarm(280);
	snprintf(dir, sizeof dir, "/tmp/memobj-dsm-XXXXXX");
	REQUIRE(mkdtemp(dir) != NULL);
	if (argc >= 2 && strcmp(argv[1], "--tcp") == 0) {
		RUN(counter_over_tcp_between_hosts);
	} else {
		snprintf(address, sizeof address, "unix:%s/here", dir);
		REQUIRE(memobj_listen(address) == KERN_SUCCESS);
		RUN(bad_arguments);
		RUN(two_kernels_atomic_counter);
		RUN(three_kernels_atomic_counter);
		RUN(ping_pong_never_stale);
		RUN(hotspot_turns_alternate);
		RUN(false_sharing_stays_exact);
		RUN(read_sharing_keeps_writes);
		RUN(read_ahead_copies_are_invalidated);
		RUN(read_ahead_in_flight_never_stale);
		RUN(zero_filled_pages_dropped_clean_are_recalled);
		RUN(write_ahead_pages_are_recalled);
		RUN(killed_owner_others_continue);
		RUN(msync_invalidate_then_another_writer);
		RUN(killed_manager_gives_sigbus);
	}
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	sh(cmd);
	int rc = harness_done();
	return rc == 0 && tcp_skipped ? 77 : rc;
}
