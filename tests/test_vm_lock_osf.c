/* Locks as the OSF kernel implements them (issue 8.2, SPEC 3.5):
 * VM_PROT_EXECUTE in a lock withholds execute only, so the common pager
 * idiom lock_value = VM_PROT_ALL & ~granted leaves granted reads free;
 * data_unlock asks for the access the thread needs together with what was
 * asked for the page before; a lock_request that grants nothing restarts
 * the waiting threads, which ask again. Public API only. */
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
	CHECK_EQ(memory_object_lock_request(cm_control(m), off, size, ret, flush,
	         lock, m->object), KERN_SUCCESS);
	return cm_wait(m, CM_LOCK_COMPLETED, before + 1, NULL);
}

static void finish(struct cm *m, vm_address_t a, vm_size_t size)
{
	vm_deallocate(mach_task_self(), a, size);
	CHECK(cm_wait(m, CM_TERMINATE, 1, NULL) >= 0);
	cm_stop(m);
}

/* The pager idiom: grant what was asked, withhold the rest. */
static void grant_desired(struct cm *m, const struct cm_event *e)
{
	m->flag++;
	memory_object_lock_request(m->control, e->offset, e->length,
	        MEMORY_OBJECT_RETURN_NONE, FALSE, VM_PROT_ALL & ~e->access,
	        MACH_PORT_NULL);
}

/* --- a thread that reads or writes one byte --- */
struct toucher {
	pthread_t thread;
	volatile uint8_t *addr;
	uint8_t value, got;
	int write;
	struct cm *m;
	int flag_seen;
	volatile int done;
};

static void *toucher_main(void *arg)
{
	struct toucher *t = arg;
	if (t->write)
		*t->addr = t->value;
	else
		t->got = *t->addr;
	t->flag_seen = t->m->flag;
	__atomic_store_n(&t->done, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

static void toucher_start(struct toucher *t, struct cm *m, vm_address_t addr,
        int write, uint8_t value)
{
	memset(t, 0, sizeof *t);
	t->addr = (volatile uint8_t *)addr;
	t->write = write;
	t->value = value;
	t->m = m;
	pthread_create(&t->thread, NULL, toucher_main, t);
}

static unsigned faults(void)
{
	vm_statistics_data_t s;
	memset(&s, 0, sizeof s);
	mach_msg_type_number_t count = HOST_VM_INFO_COUNT;
	host_statistics(mach_host_self(), HOST_VM_INFO, (host_info_t)&s, &count);
	return s.faults;
}

static int wait_faults(unsigned target)
{
	time_t start = time(NULL);
	while (faults() < target) {
		if (time(NULL) - start > CM_TIMEOUT_S)
			return 0;
		sched_yield();
	}
	return 1;
}

static void lift(struct cm *m, vm_offset_t off, vm_size_t size)
{
	m->flag++;
	memory_object_lock_request(m->control, off, size,
	        MEMORY_OBJECT_RETURN_NONE, FALSE, VM_PROT_NONE, MACH_PORT_NULL);
}

TEST(all_but_granted_leaves_reads_free)
{
	struct cm *m = cm_start(4 * ps);
	REQUIRE(m != NULL);
	m->supply_lock = VM_PROT_ALL & ~VM_PROT_READ;      /* granted: read */
	m->on_unlock = grant_desired;
	vm_address_t a = cm_map(m, FALSE);
	REQUIRE(a != 0);
	volatile uint8_t *p = (volatile uint8_t *)a;
	for (vm_size_t i = 0; i < 4; i++)
		CHECK_EQ(p[i * ps + 9], cm_pattern(i * ps + 9));
	CHECK_EQ(cm_count(m, CM_DATA_UNLOCK), 0);
	/* A write asks for read and write; the pager grants them. */
	p[ps + 1] = 0x5a;
	struct cm_event e;
	CHECK(cm_wait(m, CM_DATA_UNLOCK, 1, &e) >= 0);
	CHECK_EQ(e.offset, ps);
	CHECK_EQ(e.length, ps);
	CHECK_EQ(e.access, VM_PROT_READ | VM_PROT_WRITE);
	CHECK_EQ(m->flag, 1);
	CHECK_EQ(p[ps + 1], 0x5a);
	/* Write taken back (and the page cleaned): reads stay free. */
	lock_req(m, 0, 4 * ps, MEMORY_OBJECT_RETURN_DIRTY, FALSE,
	         VM_PROT_ALL & ~VM_PROT_READ);
	CHECK(cm_wait(m, CM_DATA_RETURN, 1, &e) >= 0);
	CHECK_EQ(e.offset, ps);
	pthread_mutex_lock(&m->lock);
	CHECK_EQ(m->store[ps + 1], 0x5a);
	pthread_mutex_unlock(&m->lock);
	for (vm_size_t i = 0; i < 4; i++)
		CHECK_EQ(p[i * ps + 2], cm_pattern(i * ps + 2));
	CHECK_EQ(cm_count(m, CM_DATA_UNLOCK), 1);
	p[ps + 2] = 0x5b;
	CHECK_EQ(cm_count(m, CM_DATA_UNLOCK), 2);
	CHECK_EQ(p[ps + 2], 0x5b);
	/* Nothing granted on page 2: a read asks for read alone. */
	lock_req(m, 2 * ps, ps, MEMORY_OBJECT_RETURN_NONE, FALSE, VM_PROT_ALL);
	CHECK_EQ(p[2 * ps + 3], cm_pattern(2 * ps + 3));
	CHECK(cm_wait(m, CM_DATA_UNLOCK, 3, &e) >= 0);
	CHECK_EQ(e.offset, 2 * ps);
	CHECK_EQ(e.access, VM_PROT_READ);
	CHECK_EQ(p[2 * ps + 4], cm_pattern(2 * ps + 4));
	CHECK_EQ(cm_count(m, CM_DATA_UNLOCK), 3);
	CHECK_EQ(cm_count(m, CM_DATA_REQUEST), 4);      /* nothing refetched */
	finish(m, a, 4 * ps);
}

TEST(unlock_asks_needed_with_asked_before)
{
	struct cm *m = cm_start(2 * ps);
	REQUIRE(m != NULL);
	m->supply_lock = VM_PROT_ALL;
	vm_address_t a = cm_map(m, FALSE);
	REQUIRE(a != 0);
	struct toucher r1, w, r2;
	toucher_start(&r1, m, a + 10, 0, 0);
	struct cm_event e;
	CHECK(cm_wait(m, CM_DATA_UNLOCK, 1, &e) >= 0);
	CHECK_EQ(e.offset, 0);
	CHECK_EQ(e.access, VM_PROT_READ);
	/* A writer on the same page: what it needs with what was asked. */
	toucher_start(&w, m, a + 11, 1, 0x61);
	CHECK(cm_wait(m, CM_DATA_UNLOCK, 2, &e) >= 0);
	CHECK_EQ(e.offset, 0);
	CHECK_EQ(e.access, VM_PROT_READ | VM_PROT_WRITE);
	/* Another reader needs nothing new: no third message. */
	unsigned f0 = faults();
	toucher_start(&r2, m, a + 12, 0, 0);
	CHECK(wait_faults(f0 + 1));
	CHECK_EQ(cm_count(m, CM_DATA_UNLOCK), 2);
	CHECK(!r1.done && !w.done && !r2.done);
	lift(m, 0, ps);
	pthread_join(r1.thread, NULL);
	pthread_join(w.thread, NULL);
	pthread_join(r2.thread, NULL);
	CHECK_EQ(r1.flag_seen, 1);
	CHECK_EQ(w.flag_seen, 1);
	CHECK_EQ(r2.flag_seen, 1);
	CHECK_EQ(r1.got, cm_pattern(10));
	CHECK_EQ(((volatile uint8_t *)a)[11], 0x61);
	/* Page 1: a writer asks read|write; a lock_request granting only
	 * read restarts it, and it asks again for what it still needs. */
	toucher_start(&w, m, a + ps + 5, 1, 0x62);
	CHECK(cm_wait(m, CM_DATA_UNLOCK, 3, &e) >= 0);
	CHECK_EQ(e.offset, ps);
	CHECK_EQ(e.access, VM_PROT_READ | VM_PROT_WRITE);
	lock_req(m, ps, ps, MEMORY_OBJECT_RETURN_NONE, FALSE,
	         VM_PROT_ALL & ~VM_PROT_READ);
	CHECK(cm_wait(m, CM_DATA_UNLOCK, 4, &e) >= 0);
	CHECK_EQ(e.offset, ps);
	CHECK_EQ(e.access, VM_PROT_READ | VM_PROT_WRITE);
	CHECK(!w.done);
	lift(m, ps, ps);
	pthread_join(w.thread, NULL);
	CHECK_EQ(w.flag_seen, 2);
	CHECK_EQ(((volatile uint8_t *)a)[ps + 5], 0x62);
	CHECK_EQ(cm_count(m, CM_DATA_UNLOCK), 4);
	finish(m, a, 2 * ps);
}

/* The first answer grants nothing (the same lock again), the second one
 * grants the write. */
static void wrong_then_right(struct cm *m, const struct cm_event *e)
{
	m->flag++;
	memory_object_lock_request(m->control, e->offset, e->length,
	        MEMORY_OBJECT_RETURN_NONE, FALSE,
	        m->flag == 1 ? VM_PROT_WRITE : VM_PROT_NONE, MACH_PORT_NULL);
}

TEST(lock_request_granting_nothing_restarts_the_waiter)
{
	struct cm *m = cm_start(2 * ps);
	REQUIRE(m != NULL);
	m->supply_lock = VM_PROT_WRITE;
	m->on_unlock = wrong_then_right;
	vm_address_t a = cm_map(m, FALSE);
	REQUIRE(a != 0);
	CHECK_EQ(((volatile uint8_t *)a)[7], cm_pattern(7));
	struct toucher w;
	toucher_start(&w, m, a + 7, 1, 0x71);
	pthread_join(w.thread, NULL);      /* bounded by alarm() */
	CHECK_EQ(w.flag_seen, 2);
	CHECK_EQ(cm_count(m, CM_DATA_UNLOCK), 2);
	struct cm_event e1, e2;
	CHECK(cm_wait(m, CM_DATA_UNLOCK, 1, &e1) >= 0);
	CHECK(cm_wait(m, CM_DATA_UNLOCK, 2, &e2) >= 0);
	CHECK_EQ(e1.access, VM_PROT_READ | VM_PROT_WRITE);
	CHECK_EQ(e2.access, VM_PROT_READ | VM_PROT_WRITE);
	CHECK_EQ(e2.offset, 0);
	CHECK_EQ(((volatile uint8_t *)a)[7], 0x71);
	finish(m, a, 2 * ps);
}

/* EXECUTE withheld: nothing in a view that cannot execute; in one that
 * can, every access waits (Linux does not tell a fetch from a read) and
 * asks read|execute; a view made executable later is covered too. */
TEST(execute_lock_applies_to_executable_views_only)
{
	struct cm *m = cm_start(2 * ps);
	REQUIRE(m != NULL);
	m->supply_lock = VM_PROT_EXECUTE;
	vm_address_t x = 0, r = 0;
	REQUIRE(vm_map(mach_task_self(), &x, m->size, 0, TRUE, m->object, 0,
	               FALSE, VM_PROT_READ | VM_PROT_EXECUTE, VM_PROT_ALL,
	               VM_INHERIT_NONE) == KERN_SUCCESS);
	REQUIRE(vm_map(mach_task_self(), &r, m->size, 0, TRUE, m->object, 0,
	               FALSE, VM_PROT_READ, VM_PROT_ALL, VM_INHERIT_NONE)
	        == KERN_SUCCESS);
	volatile uint8_t *pr = (volatile uint8_t *)r;
	CHECK_EQ(pr[3], cm_pattern(3));
	CHECK_EQ(pr[ps + 3], cm_pattern(ps + 3));
	CHECK_EQ(cm_count(m, CM_DATA_UNLOCK), 0);
	struct toucher t;
	toucher_start(&t, m, x + 4, 0, 0);
	struct cm_event e;
	CHECK(cm_wait(m, CM_DATA_UNLOCK, 1, &e) >= 0);
	CHECK_EQ(e.offset, 0);
	CHECK_EQ(e.access, VM_PROT_READ | VM_PROT_EXECUTE);
	CHECK(!t.done);
	lift(m, 0, ps);
	pthread_join(t.thread, NULL);
	CHECK_EQ(t.flag_seen, 1);
	CHECK_EQ(t.got, cm_pattern(4));
	/* Page 1 is mapped in the read-only view; making it executable
	 * brings the lock to bear there. */
	CHECK_EQ(vm_protect(mach_task_self(), r, m->size, FALSE,
	                    VM_PROT_READ | VM_PROT_EXECUTE), KERN_SUCCESS);
	toucher_start(&t, m, r + ps + 6, 0, 0);
	CHECK(cm_wait(m, CM_DATA_UNLOCK, 2, &e) >= 0);
	CHECK_EQ(e.offset, ps);
	CHECK_EQ(e.access, VM_PROT_READ | VM_PROT_EXECUTE);
	lift(m, ps, ps);
	pthread_join(t.thread, NULL);
	CHECK_EQ(t.flag_seen, 2);
	CHECK_EQ(t.got, cm_pattern(ps + 6));
	CHECK_EQ(cm_count(m, CM_DATA_UNLOCK), 2);
	vm_deallocate(mach_task_self(), r, m->size);
	finish(m, x, m->size);
}

int main(void)
{
	alarm(120);
	ps = cm_kernel_page_size();
	RUN(all_but_granted_leaves_reads_free);
	RUN(unlock_asks_needed_with_asked_before);
	RUN(lock_request_granting_nothing_restarts_the_waiter);
	RUN(execute_lock_applies_to_executable_views_only);
	return harness_done();
}
