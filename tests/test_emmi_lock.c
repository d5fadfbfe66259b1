/* memory_object_lock_request and data_unlock (SPEC 3.5, 3.6): returning
 * dirty / precious / any pages, flushing, write and read locks, ordering
 * of data_return before lock_completed. */
#include <pthread.h>
#include <stdint.h>
#include <unistd.h>
#include <mach/mach.h>

#include "harness.h"
#include "cache_manager.h"

static vm_size_t ps;

static int lock_req(struct cm *m, vm_offset_t off, vm_size_t size,
        memory_object_return_t ret, boolean_t flush, vm_prot_t lock)
{
	int before = cm_count(m, CM_LOCK_COMPLETED);
	kern_return_t kr = memory_object_lock_request(cm_control(m), off, size,
	        ret, flush, lock, m->object);
	CHECK_EQ(kr, KERN_SUCCESS);
	return cm_wait(m, CM_LOCK_COMPLETED, before + 1, NULL);
}

static void finish(struct cm *m, vm_address_t a)
{
	vm_deallocate(mach_task_self(), a, m->size);
	CHECK(cm_wait(m, CM_TERMINATE, 1, NULL) >= 0);
	cm_stop(m);
}

TEST(return_dirty_then_lock_completed)
{
	struct cm *m = cm_start(8 * ps);
	REQUIRE(m != NULL);
	vm_address_t a = cm_map(m, FALSE);
	REQUIRE(a != 0);
	volatile uint8_t *p = (volatile uint8_t *)a;
	p[1 * ps + 5] = 0xa1;                 /* installed dirty (write fault) */
	(void)p[2 * ps];                      /* clean */
	(void)p[3 * ps];
	p[3 * ps + 7] = 0xa3;                 /* clean, then a WP fault */
	int done = lock_req(m, 0, 8 * ps, MEMORY_OBJECT_RETURN_DIRTY, FALSE,
	                    VM_PROT_NO_CHANGE);
	CHECK(done >= 0);
	int returns = 0;
	pthread_mutex_lock(&m->lock);
	for (int i = 0; i < m->nev; i++) {
		if (m->ev[i].kind != CM_DATA_RETURN)
			continue;
		returns++;
		CHECK(i < done);                 /* before its lock_completed */
		CHECK(m->ev[i].offset == ps || m->ev[i].offset == 3 * ps);
		CHECK_EQ(m->ev[i].length, ps);
		CHECK(m->ev[i].dirty);
		CHECK(m->ev[i].kernel_copy);
	}
	CHECK_EQ(m->store[ps + 5], 0xa1);
	CHECK_EQ(m->store[3 * ps + 7], 0xa3);
	CHECK_EQ(m->store[3 * ps + 8], cm_pattern(3 * ps + 8));
	pthread_mutex_unlock(&m->lock);
	CHECK_EQ(returns, 2);
	/* Clean now: nothing more. A new write dirties it again. */
	lock_req(m, 0, 8 * ps, MEMORY_OBJECT_RETURN_DIRTY, FALSE, VM_PROT_NO_CHANGE);
	CHECK_EQ(cm_count(m, CM_DATA_RETURN), 2);
	p[1 * ps + 6] = 0xb1;
	lock_req(m, 0, 8 * ps, MEMORY_OBJECT_RETURN_DIRTY, FALSE, VM_PROT_NO_CHANGE);
	CHECK_EQ(cm_count(m, CM_DATA_RETURN), 3);
	pthread_mutex_lock(&m->lock);
	CHECK_EQ(m->store[ps + 6], 0xb1);
	pthread_mutex_unlock(&m->lock);
	/* The kernel kept its copy: no new request for it. */
	CHECK_EQ(p[ps + 6], 0xb1);
	CHECK_EQ(cm_count(m, CM_DATA_REQUEST), 3);
	finish(m, a);
}

TEST(return_all_and_anything)
{
	struct cm *m = cm_start(4 * ps);
	REQUIRE(m != NULL);
	m->precious = TRUE;
	vm_address_t a = cm_map(m, FALSE);
	REQUIRE(a != 0);
	volatile uint8_t *p = (volatile uint8_t *)a;
	(void)p[0];
	(void)p[ps];
	lock_req(m, 0, 4 * ps, MEMORY_OBJECT_RETURN_DIRTY, FALSE, VM_PROT_NO_CHANGE);
	CHECK_EQ(cm_count(m, CM_DATA_RETURN), 0);
	lock_req(m, 0, 4 * ps, MEMORY_OBJECT_RETURN_ALL, FALSE, VM_PROT_NO_CHANGE);
	CHECK_EQ(cm_count(m, CM_DATA_RETURN), 1);   /* one run of two pages */
	struct cm_event e;
	CHECK(cm_wait(m, CM_DATA_RETURN, 1, &e) >= 0);
	CHECK_EQ(e.offset, 0);
	CHECK_EQ(e.length, 2 * ps);
	CHECK(!e.dirty);
	CHECK(e.kernel_copy);
	m->precious = FALSE;
	(void)p[3 * ps];                           /* not precious, clean */
	lock_req(m, 3 * ps, ps, MEMORY_OBJECT_RETURN_ALL, FALSE, VM_PROT_NO_CHANGE);
	CHECK_EQ(cm_count(m, CM_DATA_RETURN), 1);
	lock_req(m, 3 * ps, ps, MEMORY_OBJECT_RETURN_ANYTHING, FALSE,
	         VM_PROT_NO_CHANGE);
	CHECK_EQ(cm_count(m, CM_DATA_RETURN), 2);
	finish(m, a);
}

TEST(flush_returns_without_copy_and_refaults)
{
	struct cm *m = cm_start(4 * ps);
	REQUIRE(m != NULL);
	vm_address_t a = cm_map(m, FALSE);
	REQUIRE(a != 0);
	volatile uint8_t *p = (volatile uint8_t *)a;
	p[2 * ps] = 0x42;
	(void)p[0];
	CHECK_EQ(cm_count(m, CM_DATA_REQUEST), 2);
	lock_req(m, 0, 4 * ps, MEMORY_OBJECT_RETURN_DIRTY, TRUE, VM_PROT_NO_CHANGE);
	struct cm_event e;
	CHECK(cm_wait(m, CM_DATA_RETURN, 1, &e) >= 0);
	CHECK_EQ(e.offset, 2 * ps);
	CHECK(e.dirty);
	CHECK(!e.kernel_copy);
	/* Both pages are gone from the cache: each access asks again, and
	 * sees what the manager holds. */
	CHECK_EQ(p[2 * ps], 0x42);
	CHECK_EQ(p[0], cm_pattern(0));
	CHECK_EQ(cm_count(m, CM_DATA_REQUEST), 4);
	finish(m, a);
}

/* --- a writer thread --- */
struct writer {
	pthread_t thread;
	volatile uint8_t *addr;
	uint8_t value;
	struct cm *m;
	volatile int done;
	int flag_seen;          /* the manager's flag when the access finished */
	int read;               /* read instead of write */
	uint8_t got;
};

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	if (w->read)
		w->got = *w->addr;
	else
		*w->addr = w->value;
	w->flag_seen = w->m->flag;
	__atomic_store_n(&w->done, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

static void writer_start(struct writer *w, struct cm *m, vm_address_t addr,
        uint8_t value, int read)
{
	memset(w, 0, sizeof *w);
	w->addr = (volatile uint8_t *)addr;
	w->value = value;
	w->m = m;
	w->read = read;
	pthread_create(&w->thread, NULL, writer_main, w);
}

static vm_statistics_data_t stats(void)
{
	vm_statistics_data_t s;
	memset(&s, 0, sizeof s);
	mach_msg_type_number_t count = HOST_VM_INFO_COUNT;
	host_statistics(mach_host_self(), HOST_VM_INFO, (host_info_t)&s, &count);
	return s;
}

static int wait_faults(unsigned target)
{
	time_t start = time(NULL);
	while (stats().faults < target) {
		if (time(NULL) - start > CM_TIMEOUT_S)
			return 0;
		sched_yield();
	}
	return 1;
}

/* The manager lifts the lock from its own thread, marking that first. */
static void lift_lock(struct cm *m, const struct cm_event *e)
{
	m->flag = 1;
	memory_object_lock_request(m->control, e->offset, e->length,
	        MEMORY_OBJECT_RETURN_NONE, FALSE, VM_PROT_NONE, MACH_PORT_NULL);
}

TEST(write_lock_waits_for_unlock)
{
	struct cm *m = cm_start(4 * ps);
	REQUIRE(m != NULL);
	m->supply_lock = VM_PROT_WRITE;
	vm_address_t a = cm_map(m, FALSE);
	REQUIRE(a != 0);
	volatile uint8_t *p = (volatile uint8_t *)a;
	CHECK_EQ(p[ps + 1], cm_pattern(ps + 1));    /* reading is allowed */
	unsigned f0 = stats().faults;
	struct writer w1, w2;
	writer_start(&w1, m, a + ps + 1, 0x77, 0);
	struct cm_event e;
	CHECK(cm_wait(m, CM_DATA_UNLOCK, 1, &e) >= 0);
	CHECK_EQ(e.offset, ps);
	CHECK_EQ(e.length, ps);
	/* What the writer needs, as OSF asks: read and write. */
	CHECK_EQ(e.access, VM_PROT_READ | VM_PROT_WRITE);
	/* A second writer on the same page: no second data_unlock. */
	writer_start(&w2, m, a + ps + 2, 0x78, 0);
	CHECK(wait_faults(f0 + 2));
	CHECK_EQ(cm_count(m, CM_DATA_UNLOCK), 1);
	CHECK(!w1.done && !w2.done);
	lift_lock(m, &e);
	pthread_join(w1.thread, NULL);
	pthread_join(w2.thread, NULL);
	CHECK_EQ(w1.flag_seen, 1);
	CHECK_EQ(w2.flag_seen, 1);
	CHECK_EQ(p[ps + 1], 0x77);
	/* The write made it dirty. */
	lock_req(m, ps, ps, MEMORY_OBJECT_RETURN_DIRTY, FALSE, VM_PROT_NO_CHANGE);
	CHECK_EQ(cm_count(m, CM_DATA_RETURN), 1);
	finish(m, a);
}

TEST(lock_request_adds_write_lock)
{
	struct cm *m = cm_start(2 * ps);
	REQUIRE(m != NULL);
	m->on_unlock = lift_lock;
	vm_address_t a = cm_map(m, FALSE);
	REQUIRE(a != 0);
	volatile uint8_t *p = (volatile uint8_t *)a;
	p[0] = 1;                                   /* dirty, writable */
	lock_req(m, 0, 2 * ps, MEMORY_OBJECT_RETURN_DIRTY, FALSE, VM_PROT_WRITE);
	CHECK_EQ(cm_count(m, CM_DATA_RETURN), 1);
	CHECK_EQ(m->flag, 0);
	struct writer w;
	writer_start(&w, m, a + 3, 9, 0);
	pthread_join(w.thread, NULL);
	CHECK_EQ(w.flag_seen, 1);                   /* only after the lift */
	CHECK_EQ(cm_count(m, CM_DATA_UNLOCK), 1);
	CHECK_EQ(p[3], 9);
	finish(m, a);
}

/* A read-only mapping is not write-tracked until vm_protect grants write;
 * then tracking starts exact: only the page written comes back. A second
 * mapping, writable from the start, shares the pages. */
TEST(protect_to_writable_tracks_exactly)
{
	struct cm *m = cm_start(8 * ps);
	REQUIRE(m != NULL);
	vm_address_t a = 0;
	REQUIRE(vm_map(mach_task_self(), &a, m->size, 0, TRUE, m->object, 0,
	               FALSE, VM_PROT_READ, VM_PROT_ALL, VM_INHERIT_NONE)
	        == KERN_SUCCESS);
	volatile uint8_t *p = (volatile uint8_t *)a;
	for (vm_size_t i = 0; i < 8; i++)
		CHECK_EQ(p[i * ps + 3], cm_pattern(i * ps + 3));
	/* Only the middle of the mapping becomes writable: a clipped entry. */
	CHECK_EQ(vm_protect(mach_task_self(), a + 2 * ps, 4 * ps, FALSE,
	                    VM_PROT_READ | VM_PROT_WRITE), KERN_SUCCESS);
	p[4 * ps + 9] = 0xe4;
	lock_req(m, 0, 8 * ps, MEMORY_OBJECT_RETURN_DIRTY, FALSE, VM_PROT_NO_CHANGE);
	struct cm_event e;
	CHECK(cm_wait(m, CM_DATA_RETURN, 1, &e) >= 0);
	CHECK_EQ(cm_count(m, CM_DATA_RETURN), 1);
	CHECK_EQ(e.offset, 4 * ps);
	CHECK_EQ(e.length, ps);
	pthread_mutex_lock(&m->lock);
	CHECK_EQ(m->store[4 * ps + 9], 0xe4);
	pthread_mutex_unlock(&m->lock);
	/* Cleaned: the next write faults again and is caught. */
	p[4 * ps + 10] = 0xe5;
	p[5 * ps] = 0xe6;
	lock_req(m, 0, 8 * ps, MEMORY_OBJECT_RETURN_DIRTY, FALSE, VM_PROT_NO_CHANGE);
	CHECK_EQ(cm_count(m, CM_DATA_RETURN), 2);     /* one run: pages 4 and 5 */
	CHECK(cm_wait(m, CM_DATA_RETURN, 2, &e) >= 0);
	CHECK_EQ(e.offset, 4 * ps);
	CHECK_EQ(e.length, 2 * ps);
	/* Back to read-only and up again: still exact. */
	CHECK_EQ(vm_protect(mach_task_self(), a, m->size, FALSE, VM_PROT_READ),
	         KERN_SUCCESS);
	CHECK_EQ(vm_protect(mach_task_self(), a, m->size, FALSE, VM_PROT_DEFAULT),
	         KERN_SUCCESS);
	p[7 * ps + 1] = 0xe7;
	lock_req(m, 0, 8 * ps, MEMORY_OBJECT_RETURN_DIRTY, FALSE, VM_PROT_NO_CHANGE);
	CHECK_EQ(cm_count(m, CM_DATA_RETURN), 3);
	CHECK(cm_wait(m, CM_DATA_RETURN, 3, &e) >= 0);
	CHECK_EQ(e.offset, 7 * ps);
	CHECK_EQ(e.length, ps);
	CHECK_EQ(cm_count(m, CM_DATA_REQUEST), 8);    /* nothing refetched */
	finish(m, a);
}

TEST(read_lock_withholds_reads)
{
	struct cm *m = cm_start(2 * ps);
	REQUIRE(m != NULL);
	m->supply_lock = VM_PROT_READ | VM_PROT_WRITE;
	vm_address_t a = cm_map(m, FALSE);
	REQUIRE(a != 0);
	/* Page 0 arrives read-locked: the reader waits for data_unlock. */
	struct writer r;
	writer_start(&r, m, a + 10, 0, 1);
	struct cm_event e;
	CHECK(cm_wait(m, CM_DATA_UNLOCK, 1, &e) >= 0);
	CHECK_EQ(e.offset, 0);
	CHECK(e.access & VM_PROT_READ);
	CHECK(!r.done);
	lift_lock(m, &e);
	pthread_join(r.thread, NULL);
	CHECK_EQ(r.flag_seen, 1);
	CHECK_EQ(r.got, cm_pattern(10));
	/* A lock_request withholds read on a page already mapped. The hook
	 * goes in only after lock_completed: the manager handles messages in
	 * order, so by then it has left the first data_unlock's handler
	 * (which would otherwise run the new hook and lift this lock). */
	m->supply_lock = VM_PROT_NONE;
	lock_req(m, 0, ps, MEMORY_OBJECT_RETURN_NONE, FALSE, VM_PROT_READ);
	m->flag = 0;
	m->on_unlock = lift_lock;
	writer_start(&r, m, a + 11, 0, 1);
	pthread_join(r.thread, NULL);
	CHECK_EQ(r.flag_seen, 1);
	CHECK_EQ(r.got, cm_pattern(11));
	CHECK_EQ(cm_count(m, CM_DATA_UNLOCK), 2);
	/* Unlocked pages read at once, no message. */
	CHECK_EQ(((volatile uint8_t *)a)[12], cm_pattern(12));
	CHECK_EQ(cm_count(m, CM_DATA_UNLOCK), 2);
	finish(m, a);
}

TEST(lock_request_bad_input)
{
	struct cm *m = cm_start(2 * ps);
	REQUIRE(m != NULL);
	vm_address_t a = cm_map(m, FALSE);
	REQUIRE(a != 0);
	mach_port_t c = cm_control(m);
	CHECK_EQ(memory_object_lock_request(c, 1, ps, MEMORY_OBJECT_RETURN_NONE,
	         FALSE, VM_PROT_NONE, MACH_PORT_NULL), KERN_INVALID_ARGUMENT);
	CHECK_EQ(memory_object_lock_request(c, 0, ps, 7, FALSE, VM_PROT_NONE,
	         MACH_PORT_NULL), KERN_INVALID_ARGUMENT);
	CHECK_EQ(memory_object_lock_request(c, 0, ps, MEMORY_OBJECT_RETURN_NONE,
	         FALSE, 0x40, MACH_PORT_NULL), KERN_INVALID_ARGUMENT);
	CHECK_EQ(memory_object_lock_request(MACH_PORT_NULL, 0, ps,
	         MEMORY_OBJECT_RETURN_NONE, FALSE, VM_PROT_NONE, MACH_PORT_NULL),
	         MACH_SEND_INVALID_DEST);
	/* A range beyond what is mapped completes, having done nothing. */
	CHECK(lock_req(m, 64 * ps, ps, MEMORY_OBJECT_RETURN_ALL, TRUE,
	               VM_PROT_NONE) >= 0);
	finish(m, a);
}

int main(void)
{
	alarm(120);
	ps = cm_kernel_page_size();
	RUN(return_dirty_then_lock_completed);
	RUN(return_all_and_anything);
	RUN(flush_returns_without_copy_and_refaults);
	RUN(write_lock_waits_for_unlock);
	RUN(lock_request_adds_write_lock);
	RUN(protect_to_writable_tracks_exactly);
	RUN(read_lock_withholds_reads);
	RUN(lock_request_bad_input);
	return harness_done();
}
