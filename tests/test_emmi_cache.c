/* Object attributes and lifetime (SPEC 2.2, 3.9): the three attribute
 * flavors, may_cache (an unmapped object stays cached), temporary (no
 * pages returned), memory_object_destroy (pages dropped, terminate,
 * SIGBUS after), terminate returning dirty pages, and vm_map copy=TRUE. */
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <unistd.h>
#include <mach/mach.h>

#include "harness.h"
#include "cache_manager.h"

static vm_size_t ps;

static sigjmp_buf *jump;
static void on_sigbus(int sig)
{
	(void)sig;
	if (jump)
		siglongjmp(*jump, 1);
	_exit(3);
}

/* 1 when reading addr raised SIGBUS. */
static int read_faults(volatile uint8_t *addr)
{
	sigjmp_buf jb;
	jump = &jb;
	int r = 0;
	if (sigsetjmp(jb, 1) == 0)
		(void)*addr;
	else
		r = 1;
	jump = NULL;
	return r;
}

TEST(attributes_three_flavors)
{
	struct cm *m = cm_start(2 * ps);
	REQUIRE(m != NULL);
	vm_address_t a = cm_map(m, FALSE);
	REQUIRE(a != 0);
	mach_port_t c = cm_control(m);
	/* A fault answered: the manager's own change_attributes (at init)
	 * is done and cannot overwrite ours. */
	(void)((volatile uint8_t *)a)[0];
	memory_object_perf_info_data_t perf = { .cluster_size = 4 * ps, .may_cache = TRUE };
	CHECK_EQ(memory_object_change_attributes(c, MEMORY_OBJECT_PERFORMANCE_INFO,
	         (memory_object_info_t)&perf, MEMORY_OBJECT_PERF_INFO_COUNT,
	         m->object), KERN_SUCCESS);
	struct cm_event e;
	CHECK(cm_wait(m, CM_CHANGE_COMPLETED, 1, &e) >= 0);
	CHECK_EQ(e.flavor, MEMORY_OBJECT_PERFORMANCE_INFO);
	memory_object_behave_info_data_t beh = {
		.copy_strategy = MEMORY_OBJECT_COPY_NONE, .temporary = TRUE,
		.invalidate = TRUE };
	CHECK_EQ(memory_object_change_attributes(c, MEMORY_OBJECT_BEHAVIOR_INFO,
	         (memory_object_info_t)&beh, MEMORY_OBJECT_BEHAVE_INFO_COUNT,
	         m->object), KERN_SUCCESS);
	CHECK(cm_wait(m, CM_CHANGE_COMPLETED, 2, &e) >= 0);
	CHECK_EQ(e.flavor, MEMORY_OBJECT_BEHAVIOR_INFO);

	memory_object_attr_info_data_t attr;
	mach_msg_type_number_t n = MEMORY_OBJECT_ATTR_INFO_COUNT;
	CHECK_EQ(memory_object_get_attributes(c, MEMORY_OBJECT_ATTRIBUTE_INFO,
	         (memory_object_info_t)&attr, &n), KERN_SUCCESS);
	CHECK_EQ(n, MEMORY_OBJECT_ATTR_INFO_COUNT);
	CHECK_EQ(attr.cluster_size, 4 * ps);
	CHECK(attr.may_cache);
	CHECK(attr.temporary);
	CHECK_EQ(attr.copy_strategy, MEMORY_OBJECT_COPY_NONE);
	memory_object_perf_info_data_t perf2;
	n = MEMORY_OBJECT_PERF_INFO_COUNT;
	CHECK_EQ(memory_object_get_attributes(c, MEMORY_OBJECT_PERFORMANCE_INFO,
	         (memory_object_info_t)&perf2, &n), KERN_SUCCESS);
	CHECK_EQ(perf2.cluster_size, 4 * ps);
	memory_object_behave_info_data_t beh2;
	n = MEMORY_OBJECT_BEHAVE_INFO_COUNT;
	CHECK_EQ(memory_object_get_attributes(c, MEMORY_OBJECT_BEHAVIOR_INFO,
	         (memory_object_info_t)&beh2, &n), KERN_SUCCESS);
	CHECK(beh2.invalidate);
	CHECK(beh2.temporary);
	/* Bad flavor, bad count. */
	CHECK_EQ(memory_object_change_attributes(c, 99, (memory_object_info_t)&perf,
	         MEMORY_OBJECT_PERF_INFO_COUNT, MACH_PORT_NULL), KERN_INVALID_ARGUMENT);
	CHECK_EQ(memory_object_change_attributes(c, MEMORY_OBJECT_PERFORMANCE_INFO,
	         (memory_object_info_t)&perf, 1, MACH_PORT_NULL), KERN_INVALID_ARGUMENT);
	n = 1;
	CHECK_EQ(memory_object_get_attributes(c, MEMORY_OBJECT_ATTRIBUTE_INFO,
	         (memory_object_info_t)&attr, &n), KERN_INVALID_ARGUMENT);
	n = MEMORY_OBJECT_ATTR_INFO_COUNT;
	CHECK_EQ(memory_object_get_attributes(c, 99, (memory_object_info_t)&attr,
	         &n), KERN_INVALID_ARGUMENT);
	/* Back to a plain object, so the unmap terminates it. */
	memory_object_attr_info_data_t plain = {
		.copy_strategy = MEMORY_OBJECT_COPY_DELAY, .cluster_size = 0,
		.may_cache = FALSE, .temporary = FALSE };
	CHECK_EQ(memory_object_change_attributes(c, MEMORY_OBJECT_ATTRIBUTE_INFO,
	         (memory_object_info_t)&plain, MEMORY_OBJECT_ATTR_INFO_COUNT,
	         MACH_PORT_NULL), KERN_SUCCESS);
	vm_deallocate(mach_task_self(), a, m->size);
	CHECK(cm_wait(m, CM_TERMINATE, 1, NULL) >= 0);
	cm_stop(m);
}

TEST(terminate_returns_dirty_pages)
{
	struct cm *m = cm_start(4 * ps);
	REQUIRE(m != NULL);
	vm_address_t a = cm_map(m, FALSE);
	REQUIRE(a != 0);
	((volatile uint8_t *)a)[3 * ps + 3] = 0x33;
	(void)((volatile uint8_t *)a)[0];
	vm_deallocate(mach_task_self(), a, m->size);
	int term = cm_wait(m, CM_TERMINATE, 1, NULL);
	CHECK(term >= 0);
	struct cm_event e;
	CHECK(cm_wait(m, CM_DATA_RETURN, 1, &e) >= 0 &&
	      cm_wait(m, CM_DATA_RETURN, 1, NULL) < term);
	CHECK_EQ(cm_count(m, CM_DATA_RETURN), 1);
	CHECK_EQ(e.offset, 3 * ps);
	CHECK(e.dirty);
	CHECK(!e.kernel_copy);
	CHECK_EQ(m->store[3 * ps + 3], 0x33);
	cm_stop(m);
}

TEST(may_cache_outlives_last_mapping)
{
	struct cm *m = cm_start(4 * ps);
	REQUIRE(m != NULL);
	m->may_cache = TRUE;
	vm_address_t a = cm_map(m, FALSE);
	REQUIRE(a != 0);
	((volatile uint8_t *)a)[5] = 0x55;
	(void)((volatile uint8_t *)a)[ps];
	vm_deallocate(mach_task_self(), a, m->size);
	/* Mapped again: same object, same pages, no init, no request. */
	a = cm_map(m, FALSE);
	REQUIRE(a != 0);
	CHECK_EQ(((volatile uint8_t *)a)[5], 0x55);
	CHECK_EQ(((volatile uint8_t *)a)[ps], cm_pattern(ps));
	CHECK_EQ(cm_count(m, CM_INIT), 1);
	CHECK_EQ(cm_count(m, CM_DATA_REQUEST), 2);
	CHECK_EQ(cm_count(m, CM_TERMINATE), 0);
	vm_deallocate(mach_task_self(), a, m->size);
	/* Turning may_cache off lets it go, its dirty page returned first. */
	memory_object_perf_info_data_t perf = { .cluster_size = 0, .may_cache = FALSE };
	CHECK_EQ(memory_object_change_attributes(cm_control(m),
	         MEMORY_OBJECT_PERFORMANCE_INFO, (memory_object_info_t)&perf,
	         MEMORY_OBJECT_PERF_INFO_COUNT, MACH_PORT_NULL), KERN_SUCCESS);
	int term = cm_wait(m, CM_TERMINATE, 1, NULL);
	CHECK(term >= 0);
	CHECK(cm_wait(m, CM_DATA_RETURN, 1, NULL) >= 0);
	CHECK(cm_wait(m, CM_DATA_RETURN, 1, NULL) < term);
	CHECK_EQ(m->store[5], 0x55);
	cm_stop(m);
}

TEST(temporary_returns_nothing)
{
	struct cm *m = cm_start(2 * ps);
	REQUIRE(m != NULL);
	vm_address_t a = cm_map(m, FALSE);
	REQUIRE(a != 0);
	(void)((volatile uint8_t *)a)[0];      /* init's attributes applied */
	memory_object_behave_info_data_t beh = {
		.copy_strategy = MEMORY_OBJECT_COPY_DELAY, .temporary = TRUE };
	CHECK_EQ(memory_object_change_attributes(cm_control(m),
	         MEMORY_OBJECT_BEHAVIOR_INFO, (memory_object_info_t)&beh,
	         MEMORY_OBJECT_BEHAVE_INFO_COUNT, MACH_PORT_NULL), KERN_SUCCESS);
	((volatile uint8_t *)a)[0] = 1;
	vm_deallocate(mach_task_self(), a, m->size);
	CHECK(cm_wait(m, CM_TERMINATE, 1, NULL) >= 0);
	CHECK_EQ(cm_count(m, CM_DATA_RETURN), 0);
	cm_stop(m);
}

TEST(destroy_drops_pages_then_sigbus)
{
	struct cm *m = cm_start(2 * ps);
	REQUIRE(m != NULL);
	vm_address_t a = cm_map(m, FALSE);
	REQUIRE(a != 0);
	volatile uint8_t *p = (volatile uint8_t *)a;
	p[0] = 7;
	CHECK_EQ(memory_object_destroy(cm_control(m), KERN_SUCCESS), KERN_SUCCESS);
	CHECK(cm_wait(m, CM_TERMINATE, 1, NULL) >= 0);
	CHECK_EQ(cm_count(m, CM_DATA_RETURN), 0);
	CHECK(read_faults(p));
	CHECK(read_faults(p + ps));
	CHECK_EQ(vm_deallocate(mach_task_self(), a, m->size), KERN_SUCCESS);
	CHECK_EQ(cm_count(m, CM_TERMINATE), 1);
	CHECK_EQ(memory_object_destroy(MACH_PORT_NULL, 0), MACH_SEND_INVALID_DEST);
	cm_stop(m);
}

/* copy = TRUE: a private view. Pages it has not written show the object
 * as it is now (the cache's changes show through); a page it wrote is its
 * own from then on and never reaches the manager. */
TEST(copy_mapping_is_private)
{
	struct cm *m = cm_start(2 * ps);
	REQUIRE(m != NULL);
	vm_address_t s = cm_map(m, FALSE);
	vm_address_t c = cm_map(m, TRUE);
	REQUIRE(s != 0 && c != 0);
	volatile uint8_t *sp = (volatile uint8_t *)s, *cp = (volatile uint8_t *)c;
	CHECK_EQ(cp[0], cm_pattern(0));
	sp[0] = 0x11;
	CHECK_EQ(cp[0], 0x11);                  /* not written: shows through */
	cp[0] = 0x22;
	CHECK_EQ(sp[0], 0x11);                  /* written: private */
	sp[1] = 0x13;
	CHECK_EQ(cp[1], cm_pattern(1));         /* its own copy, from before */
	cp[ps] = 0x44;                          /* first touch is a write */
	CHECK_EQ(sp[ps], cm_pattern(ps));
	CHECK_EQ(vm_msync(mach_task_self(), c, 2 * ps, VM_SYNC_SYNCHRONOUS),
	         KERN_SUCCESS);
	CHECK_EQ(cm_count(m, CM_DATA_RETURN), 0);
	/* A flush of the cache leaves the private pages alone. */
	memory_object_lock_request(cm_control(m), 0, 2 * ps,
	        MEMORY_OBJECT_RETURN_DIRTY, TRUE, VM_PROT_NO_CHANGE, m->object);
	CHECK(cm_wait(m, CM_LOCK_COMPLETED, 1, NULL) >= 0);
	CHECK_EQ(cp[0], 0x22);
	CHECK_EQ(cp[ps], 0x44);
	CHECK_EQ(sp[0], 0x11);
	vm_deallocate(mach_task_self(), c, m->size);
	vm_deallocate(mach_task_self(), s, m->size);
	CHECK(cm_wait(m, CM_TERMINATE, 1, NULL) >= 0);
	CHECK_EQ(m->store[0], 0x11);
	CHECK_EQ(m->store[1], 0x13);
	CHECK_EQ(m->store[ps], cm_pattern(ps));
	cm_stop(m);
}

int main(void)
{
	alarm(120);
	signal(SIGBUS, on_sigbus);
	ps = cm_kernel_page_size();
	RUN(attributes_three_flavors);
	RUN(terminate_returns_dirty_pages);
	RUN(may_cache_outlives_last_mapping);
	RUN(temporary_returns_nothing);
	RUN(destroy_drops_pages_then_sigbus);
	RUN(copy_mapping_is_private);
	return harness_done();
}
