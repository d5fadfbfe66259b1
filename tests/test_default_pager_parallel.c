/* The default pager serving several application threads at once (its
 * per-object locks, docs/default_pager.md), and the kernel's internal
 * pageout thread that sleeps while no work needs it. Run with
 * MEMOBJ_RESIDENT_MAX=1m (CMake sets it). Reaches the kernel's
 * vm_internal_pageout_stats, so it links the static libraries. */
#include <mach/mach.h>
#include <memobj/default_pager.h>

#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <unistd.h>

#include "../src/vm/vm_internal.h"
#include "harness.h"
#include "default_pager_common.h"

#define THREADS 4

static atomic_int slices_started;

static char path[256];

static const char *tmp_path(const char *what)
{
	snprintf(path, sizeof path, "/tmp/memobj-dpp-%s-%d", what, (int)getpid());
	unlink(path);
	return path;
}

static mach_port_t shipped;

/* Waits (at most 30 s) until the pageout thread sleeps with nothing
 * pending; its wake-ups then. */
static int wait_idle(unsigned long long *wakeups)
{
	for (int i = 0; i < 3000; i++) {
		bool idle = false;
		vm_internal_pageout_stats(wakeups, &idle);
		if (idle)
			return 1;
		dp_nap();
	}
	return 0;
}

/* Something that blocks a while and changes nothing: a receive that
 * times out on a port nobody sends to. */
static mach_msg_return_t block_a_while(void)
{
	mach_port_t port;
	if (mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE, &port)
	    != KERN_SUCCESS)
		return MACH_RCV_INVALID_NAME;
	struct {
		mach_msg_header_t h;
		mach_msg_trailer_t t;
	} m;
	mach_msg_return_t mr = mach_msg(&m.h, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0,
	                                sizeof m, port, 200, MACH_PORT_NULL);
	mach_port_destroy(mach_task_self(), port);
	return mr;
}

TEST(pageout_thread_sleeps_when_idle)
{
	REQUIRE(default_pager_start(tmp_path("main"), 64 << 20, &shipped) == KERN_SUCCESS);
	/* A default manager, a little internal memory under the limit: the
	 * limit cannot be reached, so the thread sleeps, no timeout. */
	size_t limit = dp_resident_max();
	vm_address_t small = 0;
	REQUIRE(vm_allocate(mach_task_self(), &small, limit / 4, TRUE) == KERN_SUCCESS);
	dp_fill((void *)small, limit / 4, 3, 1);
	unsigned long long w0 = 0, w1 = 0;
	REQUIRE(wait_idle(&w0));
	CHECK_EQ(block_a_while(), MACH_RCV_TIMED_OUT);
	bool idle = false;
	vm_internal_pageout_stats(&w1, &idle);
	CHECK_EQ(w1, w0);                    /* not one wake-up while idle */
	CHECK(idle);

	/* Work wakes it: memory over the limit pages out. */
	size_t size = 4 * limit;
	vm_address_t a = 0;
	REQUIRE(vm_allocate(mach_task_self(), &a, size, TRUE) == KERN_SUCCESS);
	dp_fill((void *)a, size, 4, 2);
	CHECK(dp_wait_used(shipped, (size - limit) / 2));
	vm_internal_pageout_stats(&w1, NULL);
	CHECK(w1 > w0);
	CHECK_EQ(dp_check((void *)a, size, 4), 0);
	CHECK_EQ(dp_check((void *)small, limit / 4, 3), 0);
	CHECK_EQ(vm_deallocate(mach_task_self(), small, limit / 4), KERN_SUCCESS);
	/* The large range is an object now (it pages like any): no
	 * anonymous memory is left, so the thread is idle again. */
	REQUIRE(wait_idle(&w0));
	CHECK_EQ(block_a_while(), MACH_RCV_TIMED_OUT);
	vm_internal_pageout_stats(&w1, &idle);
	CHECK_EQ(w1, w0);
	CHECK(idle);
	CHECK_EQ(vm_deallocate(mach_task_self(), a, size), KERN_SUCCESS);
}

struct slice {
	uint64_t *base;                  /* the whole region */
	size_t first, count;             /* words */
	uint64_t seed, next_seed;
	int rounds;
	atomic_bool *stop;               /* NULL: `rounds` rounds */
	size_t bad;
};

/* Checks its words against seed, rewrites them with next_seed; again
 * (swapping) for `rounds` rounds or until *stop. Every page it touches
 * was paged out, so each round faults them back from the pager. */
static void *slice_thread(void *arg)
{
	struct slice *s = arg;
	atomic_fetch_add(&slices_started, 1);
	for (int r = 0; s->stop ? !atomic_load(s->stop) : r < s->rounds; r++) {
		for (size_t i = s->first; i < s->first + s->count; i++) {
			s->bad += s->base[i] != dp_pattern(i, s->seed);
			s->base[i] = dp_pattern(i, s->next_seed);
		}
		uint64_t t = s->seed;
		s->seed = s->next_seed;
		s->next_seed = t;
	}
	return NULL;
}

/* Runs THREADS slice threads over [base, base+size) from seed `seed`
 * (written already) to completion or *stop; the seed the region holds
 * after, through *seed. Words that were wrong. */
static size_t run_slices(void *base, size_t size, uint64_t *seed, int rounds,
        atomic_bool *stop, void (*meanwhile)(void *), void *arg)
{
	pthread_t t[THREADS];
	struct slice s[THREADS];
	size_t words = size / 8, per = words / THREADS;
	atomic_store(&slices_started, 0);
	for (int i = 0; i < THREADS; i++) {
		s[i] = (struct slice){ base, per * (size_t)i, per, *seed, *seed + 1,
		                       rounds, stop, 0 };
		pthread_create(&t[i], NULL, slice_thread, &s[i]);
	}
	if (meanwhile != NULL)
		meanwhile(arg);
	size_t bad = 0;
	for (int i = 0; i < THREADS; i++) {
		pthread_join(t[i], NULL);
		bad += s[i].bad;
	}
	/* Every slice ends on the same seed only if they ran alike: check
	 * each against its own. */
	for (int i = 0; i < THREADS; i++) {
		const uint64_t *w = base;
		for (size_t j = s[i].first; j < s[i].first + s[i].count; j++)
			bad += w[j] != dp_pattern(j, s[i].seed);
	}
	*seed = s[0].seed;                   /* all alike when `rounds` ran */
	return bad;
}

TEST(threads_fault_one_object)
{
	/* Four threads page their slices of one region (one internal
	 * object) in and out at once: nothing lost, nothing mixed up. */
	size_t limit = dp_resident_max(), size = 4 * limit;
	vm_address_t a = 0;
	REQUIRE(vm_allocate(mach_task_self(), &a, size, TRUE) == KERN_SUCCESS);
	dp_fill((void *)a, size, 10, THREADS);
	REQUIRE(dp_wait_used(shipped, (size - limit) / 2));
	default_pager_stats_t s0, s1;
	default_pager_get_stats(&s0);
	uint64_t seed = 10;
	CHECK_EQ(run_slices((void *)a, size, &seed, 3, NULL, NULL, NULL), 0);
	default_pager_get_stats(&s1);
	/* Every round faults paged-out pages back: the pager served them. */
	CHECK(s1.data_requests > s0.data_requests);
	CHECK(s1.lock_acquisitions > s0.lock_acquisitions);
	CHECK(s1.lock_contended <= s1.lock_acquisitions);
	CHECK_EQ(s1.lock_contended, s1.list_contended + s1.object_contended +
	         s1.segment_contended + s1.buffer_contended + s1.alloc_contended);
	CHECK(s1.max_parallel_requests >= 1);
	/* The pool is MEMOBJ_PAGER_THREADS threads: with one, one request
	 * at a time (CTest runs this case so too). */
	const char *pt = getenv("MEMOBJ_PAGER_THREADS");
	if (pt != NULL && strcmp(pt, "1") == 0)
		CHECK_EQ(s1.max_parallel_requests, 1);
	CHECK(s1.requests_overlapped < s1.data_requests);
	default_pager_get_stats(NULL);      /* no crash */
	CHECK_EQ(vm_deallocate(mach_task_self(), a, size), KERN_SUCCESS);
}

struct deleter {
	backing_store_t bs;
	kern_return_t kr;
	atomic_bool *stop;
};

static void delete_store(void *arg)
{
	struct deleter *d = arg;
	/* While the threads fault: the store's blocks move under them. */
	while (atomic_load(&slices_started) < THREADS)
		sched_yield();
	d->kr = default_pager_backing_store_delete(d->bs);
	atomic_store(d->stop, true);
}

TEST(store_delete_while_threads_fault)
{
	/* Pages go to a new store of the highest priority; it is deleted
	 * (its blocks moved to the first store) while four threads fault
	 * and rewrite their pages: every word stays right. */
	const char *seg = tmp_path("seg");
	backing_store_t bs = dp_add_top_store(shipped, seg);
	size_t limit = dp_resident_max(), size = 4 * limit;
	vm_address_t a = 0;
	REQUIRE(vm_allocate(mach_task_self(), &a, size, TRUE) == KERN_SUCCESS);
	dp_fill((void *)a, size, 20, THREADS);
	backing_store_basic_info_data_t b;
	int in_store = 0;
	for (int i = 0; i < 3000 && !in_store; i++) {
		mach_msg_type_number_t count = BACKING_STORE_BASIC_INFO_COUNT;
		in_store = default_pager_backing_store_info(bs, BACKING_STORE_BASIC_INFO,
		        (backing_store_info_t)&b, &count) == KERN_SUCCESS &&
		        b.bs_pages_total - b.bs_pages_free >= (size - limit) / 2 / 4096;
		if (!in_store)
			dp_nap();
	}
	REQUIRE(in_store);
	atomic_bool stop = false;
	struct deleter d = { bs, KERN_FAILURE, &stop };
	uint64_t seed = 20;
	CHECK_EQ(run_slices((void *)a, size, &seed, 0, &stop, delete_store, &d), 0);
	CHECK_EQ(d.kr, KERN_SUCCESS);
	/* Gone: its port answers no more. */
	mach_msg_type_number_t count = BACKING_STORE_BASIC_INFO_COUNT;
	CHECK(default_pager_backing_store_info(bs, BACKING_STORE_BASIC_INFO,
	        (backing_store_info_t)&b, &count) != KERN_SUCCESS);
	/* The slices stopped on different seeds: one again. Everything pages
	 * out and in again from the first store. */
	dp_fill((void *)a, size, 21, THREADS);
	seed = 21;
	CHECK_EQ(run_slices((void *)a, size, &seed, 2, NULL, NULL, NULL), 0);
	CHECK_EQ(vm_deallocate(mach_task_self(), a, size), KERN_SUCCESS);
	unlink(seg);
}

TEST(full_store_threads_keep_pages)
{
	/* 64 KiB of store and four threads writing: the pager fills while
	 * they page; what it cannot store goes back precious. No page lost. */
	mach_port_t small;
	REQUIRE(default_pager_start(tmp_path("small"), 64 << 10, &small) == KERN_SUCCESS);
	size_t limit = dp_resident_max(), size = 4 * limit;
	vm_address_t a = 0;
	REQUIRE(vm_allocate(mach_task_self(), &a, size, TRUE) == KERN_SUCCESS);
	dp_fill((void *)a, size, 30, THREADS);
	default_pager_info_t info;
	int full = 0;
	for (int i = 0; i < 3000 && !full; i++) {
		full = default_pager_info(small, &info) == KERN_SUCCESS &&
		       info.free_space == 0;
		if (!full)
			dp_nap();
	}
	CHECK(full);
	uint64_t seed = 30;
	CHECK_EQ(run_slices((void *)a, size, &seed, 2, NULL, NULL, NULL), 0);
	CHECK_EQ(vm_deallocate(mach_task_self(), a, size), KERN_SUCCESS);
	/* The object's blocks came back. */
	int freed = 0;
	for (int i = 0; i < 3000 && !freed; i++) {
		freed = default_pager_info(small, &info) == KERN_SUCCESS &&
		        info.free_space == info.total_space;
		if (!freed)
			dp_nap();
	}
	CHECK(freed);
}

int main(void)
{
	RUN(pageout_thread_sleeps_when_idle);
	RUN(threads_fault_one_object);
	RUN(store_delete_while_threads_fault);
	RUN(full_store_threads_keep_pages);
	unlink(tmp_path("main"));
	unlink(tmp_path("small"));
	return harness_done();
}
