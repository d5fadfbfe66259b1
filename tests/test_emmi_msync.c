/* vm_msync on object memory (SPEC 3.8): dirty pages returned, then
 * memory_object_synchronize; the caller returns after
 * synchronize_completed; VM_SYNC_INVALIDATE flushes; ASYNCHRONOUS does
 * not wait. */
#include <pthread.h>
#include <stdint.h>
#include <unistd.h>
#include <mach/mach.h>

#include "harness.h"
#include "cache_manager.h"

static vm_size_t ps;

static void finish(struct cm *m, vm_address_t a)
{
	vm_deallocate(mach_task_self(), a, m->size);
	CHECK(cm_wait(m, CM_TERMINATE, 1, NULL) >= 0);
	cm_stop(m);
}

/* The manager marks that it answered, from its own thread. */
static void mark_synced(struct cm *m, const struct cm_event *e)
{
	(void)e;
	m->flag = 1;
}

TEST(msync_returns_then_synchronizes)
{
	struct cm *m = cm_start(8 * ps);
	REQUIRE(m != NULL);
	m->on_sync = mark_synced;
	vm_address_t a = cm_map(m, FALSE);
	REQUIRE(a != 0);
	volatile uint8_t *p = (volatile uint8_t *)a;
	p[2 * ps] = 0x12;
	p[5 * ps + 1] = 0x15;
	(void)p[6 * ps];
	CHECK_EQ(vm_msync(mach_task_self(), a + ps, 6 * ps, VM_SYNC_SYNCHRONOUS),
	         KERN_SUCCESS);
	CHECK_EQ(m->flag, 1);                    /* waited for the answer */
	struct cm_event e;
	int sync = cm_wait(m, CM_SYNCHRONIZE, 1, &e);
	CHECK(sync >= 0);
	CHECK_EQ(e.offset, ps);
	CHECK_EQ(e.length, 6 * ps);
	CHECK_EQ(e.access, VM_SYNC_SYNCHRONOUS);
	CHECK_EQ(cm_count(m, CM_DATA_RETURN), 2);
	CHECK(cm_wait(m, CM_DATA_RETURN, 2, &e) < sync);
	CHECK(e.kernel_copy);
	pthread_mutex_lock(&m->lock);
	CHECK_EQ(m->store[2 * ps], 0x12);
	CHECK_EQ(m->store[5 * ps + 1], 0x15);
	pthread_mutex_unlock(&m->lock);
	/* Nothing dirty any more. */
	CHECK_EQ(vm_msync(mach_task_self(), a, 8 * ps, 0), KERN_SUCCESS);
	CHECK_EQ(cm_count(m, CM_DATA_RETURN), 2);
	CHECK_EQ(cm_count(m, CM_SYNCHRONIZE), 2);
	finish(m, a);
}

/* A page a write fault asked for is installed writable and dirty in one
 * step: what is written through either view comes back, and once clean a
 * write through either view makes it dirty again. */
TEST(write_fault_page_tracked_in_every_view)
{
	struct cm *m = cm_start(4 * ps);
	REQUIRE(m != NULL);
	vm_address_t a = cm_map(m, FALSE), b = cm_map(m, FALSE);
	REQUIRE(a != 0 && b != 0);
	volatile uint8_t *pa = (volatile uint8_t *)a, *pb = (volatile uint8_t *)b;
	pa[ps + 7] = 0x71;                       /* the write fault */
	CHECK_EQ(pb[ps + 7], 0x71);
	pb[ps + 9] = 0x72;
	const struct { volatile uint8_t *p; vm_size_t off; uint8_t v; } later[] = {
		{ pa, ps + 11, 0x73 }, { pb, ps + 13, 0x74 }, { pa, ps + 15, 0x75 },
	};
	CHECK_EQ(vm_msync(mach_task_self(), a, 4 * ps, VM_SYNC_SYNCHRONOUS), KERN_SUCCESS);
	CHECK_EQ(cm_count(m, CM_DATA_RETURN), 1);
	pthread_mutex_lock(&m->lock);
	CHECK_EQ(m->store[ps + 7], 0x71);
	CHECK_EQ(m->store[ps + 9], 0x72);
	pthread_mutex_unlock(&m->lock);
	for (int i = 0; i < 3; i++) {
		later[i].p[later[i].off] = later[i].v;
		CHECK_EQ(vm_msync(mach_task_self(), b, 4 * ps, VM_SYNC_SYNCHRONOUS),
		         KERN_SUCCESS);
		CHECK_EQ(cm_count(m, CM_DATA_RETURN), 2 + i);
		pthread_mutex_lock(&m->lock);
		CHECK_EQ(m->store[later[i].off], later[i].v);
		pthread_mutex_unlock(&m->lock);
	}
	CHECK_EQ(cm_count(m, CM_DATA_REQUEST), 1);
	vm_deallocate(mach_task_self(), b, m->size);
	finish(m, a);
}

TEST(msync_invalidate_flushes)
{
	struct cm *m = cm_start(4 * ps);
	REQUIRE(m != NULL);
	vm_address_t a = cm_map(m, FALSE);
	REQUIRE(a != 0);
	volatile uint8_t *p = (volatile uint8_t *)a;
	p[0] = 0x99;
	(void)p[ps];
	CHECK_EQ(cm_count(m, CM_DATA_REQUEST), 2);
	CHECK_EQ(vm_msync(mach_task_self(), a, 4 * ps,
	                  VM_SYNC_SYNCHRONOUS | VM_SYNC_INVALIDATE), KERN_SUCCESS);
	struct cm_event e;
	CHECK(cm_wait(m, CM_DATA_RETURN, 1, &e) >= 0);
	CHECK(!e.kernel_copy);
	CHECK_EQ(p[0], 0x99);                    /* back from the manager */
	CHECK_EQ(p[ps], cm_pattern(ps));
	CHECK_EQ(cm_count(m, CM_DATA_REQUEST), 4);
	finish(m, a);
}

/* Maps m (whose manager does not answer synchronizes by itself), dirties
 * a page and vm_msyncs it asynchronously; *e is the synchronize. */
static vm_address_t map_dirty_async_msync(struct cm *m, struct cm_event *e)
{
	m->auto_sync = 0;
	vm_address_t a = cm_map(m, FALSE);
	if (a == 0)
		return 0;
	((volatile uint8_t *)a)[1] = 1;
	CHECK_EQ(vm_msync(mach_task_self(), a, 2 * ps, VM_SYNC_ASYNCHRONOUS),
	         KERN_SUCCESS);
	CHECK(cm_wait(m, CM_SYNCHRONIZE, 1, e) >= 0);
	return a;
}

TEST(msync_asynchronous_does_not_wait)
{
	struct cm *m = cm_start(2 * ps);
	REQUIRE(m != NULL);
	struct cm_event e;
	vm_address_t a = map_dirty_async_msync(m, &e);   /* never answered */
	REQUIRE(a != 0);
	CHECK_EQ(e.access, VM_SYNC_ASYNCHRONOUS);
	CHECK_EQ(cm_count(m, CM_DATA_RETURN), 1);
	finish(m, a);
}

/* The second synchronize of a range (sent by the thread below) fails:
 * the hook answers it; the first is left to the test. */
static void fail_second(struct cm *m, const struct cm_event *e)
{
	if (cm_count(m, CM_SYNCHRONIZE) >= 2)
		memobj_synchronize_failed(m->control, e->offset, e->length,
		                          KERN_OPERATION_TIMED_OUT);
}

static void *sync_msync_at(void *arg)
{
	vm_address_t a = *(vm_address_t *)arg;
	kern_return_t kr = vm_msync(mach_task_self(), a, 2 * ps, VM_SYNC_SYNCHRONOUS);
	return (void *)(intptr_t)kr;
}

/* A completion names only a range, so a vm_msync must get the answer to
 * its own synchronize, not to an earlier one of the same range still
 * outstanding (an asynchronous one here): the later vm_msync waits until
 * the earlier is answered before it asks, as OSF's vm_msync did. */
TEST(msync_gets_its_own_answer)
{
	struct cm *m = cm_start(2 * ps);
	REQUIRE(m != NULL);
	m->on_sync = fail_second;
	struct cm_event first;
	vm_address_t a = map_dirty_async_msync(m, &first);
	REQUIRE(a != 0);
	pthread_t t;
	static vm_address_t addr;
	addr = a;
	REQUIRE(pthread_create(&t, NULL, sync_msync_at, &addr) == 0);
	/* The first is answered, successfully: it is not the thread's. */
	CHECK_EQ(memory_object_synchronize_completed(m->control, first.offset,
	                                             first.length), KERN_SUCCESS);
	void *kr;
	pthread_join(t, &kr);
	CHECK_EQ((kern_return_t)(intptr_t)kr, KERN_OPERATION_TIMED_OUT);
	CHECK_EQ(cm_count(m, CM_SYNCHRONIZE), 2);
	finish(m, a);
}

TEST(msync_bad_input)
{
	CHECK_EQ(vm_msync(mach_task_self(), 0, ps, 0x80), KERN_INVALID_ARGUMENT);
	CHECK_EQ(vm_msync(mach_task_self(), 0, ps,
	         VM_SYNC_ASYNCHRONOUS | VM_SYNC_SYNCHRONOUS), KERN_INVALID_ARGUMENT);
	CHECK_EQ(vm_msync(mach_task_self(), (vm_address_t)-ps, 2 * ps, 0),
	         KERN_INVALID_ARGUMENT);
	CHECK_EQ(vm_msync(MACH_PORT_NULL, 0, ps, 0), KERN_INVALID_TASK);
	vm_address_t a = 0;
	REQUIRE(vm_allocate(mach_task_self(), &a, ps, TRUE) == KERN_SUCCESS);
	CHECK_EQ(vm_msync(mach_task_self(), a, ps, 0), KERN_SUCCESS);
	vm_deallocate(mach_task_self(), a, ps);
	CHECK_EQ(vm_msync(mach_task_self(), a, ps, 0), KERN_INVALID_ADDRESS);
}

int main(void)
{
	alarm(120);
	ps = cm_kernel_page_size();
	RUN(msync_returns_then_synchronizes);
	RUN(write_fault_page_tracked_in_every_view);
	RUN(msync_invalidate_flushes);
	RUN(msync_asynchronous_does_not_wait);
	RUN(msync_gets_its_own_answer);
	RUN(msync_bad_input);
	return harness_done();
}
