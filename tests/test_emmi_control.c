/* Control calls with bad input: unaligned offsets and sizes, supply past
 * the object, partial pages, bad flavors and counts, dead and wrong-kind
 * control ports; get_attributes. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <mach/mach.h>

#include "harness.h"
#include "emmi_manager.h"

static vm_size_t ps;

TEST(attributes)
{
	struct mgr *m = mgr_start(0, 0, REPLY_SUPPLY);
	REQUIRE(m != NULL);
	vm_address_t a = 0;
	REQUIRE(vm_map(mach_task_self(), &a, 8 * ps, 0, TRUE, m->object, 0, FALSE,
	               VM_PROT_DEFAULT, VM_PROT_ALL, VM_INHERIT_SHARE) == KERN_SUCCESS);
	struct mgr_event init;
	CHECK(mgr_wait(m, EV_INIT, 1, &init));
	mach_port_t c = init.control;
	memory_object_attr_info_data_t attr = {
		.copy_strategy = MEMORY_OBJECT_COPY_DELAY,
		.cluster_size = (memory_object_cluster_size_t)(2 * ps),
		.may_cache = FALSE, .temporary = TRUE,
	};
	CHECK_EQ(memory_object_change_attributes(c, 99, (memory_object_info_t)&attr,
	         MEMORY_OBJECT_ATTR_INFO_COUNT, MACH_PORT_NULL), KERN_INVALID_ARGUMENT);
	CHECK_EQ(memory_object_change_attributes(c, MEMORY_OBJECT_ATTRIBUTE_INFO,
	         (memory_object_info_t)&attr, 1, MACH_PORT_NULL), KERN_INVALID_ARGUMENT);
	CHECK_EQ(memory_object_change_attributes(c, MEMORY_OBJECT_ATTRIBUTE_INFO,
	         NULL, MEMORY_OBJECT_ATTR_INFO_COUNT, MACH_PORT_NULL),
	         KERN_INVALID_ARGUMENT);
	CHECK_EQ(memory_object_change_attributes(c, MEMORY_OBJECT_ATTRIBUTE_INFO,
	         (memory_object_info_t)&attr, MEMORY_OBJECT_ATTR_INFO_COUNT,
	         m->object), KERN_SUCCESS);
	struct mgr_event done;
	CHECK(mgr_wait(m, EV_CHANGE_COMPLETED, 1, &done));
	CHECK_EQ(done.flavor, MEMORY_OBJECT_ATTRIBUTE_INFO);

	memory_object_perf_info_data_t perf;
	mach_msg_type_number_t count = MEMORY_OBJECT_PERF_INFO_COUNT;
	CHECK_EQ(memory_object_get_attributes(c, MEMORY_OBJECT_PERFORMANCE_INFO,
	         (memory_object_info_t)&perf, &count), KERN_SUCCESS);
	CHECK_EQ(count, MEMORY_OBJECT_PERF_INFO_COUNT);
	CHECK_EQ(perf.cluster_size, 2 * ps);
	CHECK_EQ(perf.may_cache, FALSE);
	memory_object_attr_info_data_t back;
	count = MEMORY_OBJECT_ATTR_INFO_COUNT;
	CHECK_EQ(memory_object_get_attributes(c, MEMORY_OBJECT_ATTRIBUTE_INFO,
	         (memory_object_info_t)&back, &count), KERN_SUCCESS);
	CHECK_EQ(back.temporary, TRUE);
	CHECK_EQ(back.copy_strategy, MEMORY_OBJECT_COPY_DELAY);
	count = 1;
	CHECK_EQ(memory_object_get_attributes(c, MEMORY_OBJECT_ATTRIBUTE_INFO,
	         (memory_object_info_t)&back, &count), KERN_INVALID_ARGUMENT);
	count = MEMORY_OBJECT_ATTR_INFO_COUNT;
	CHECK_EQ(memory_object_get_attributes(c, 1234,
	         (memory_object_info_t)&back, &count), KERN_INVALID_ARGUMENT);

	/* The cluster applies: a fault on page 3 asks for [2, 4). */
	CHECK_EQ(((volatile uint8_t *)a)[3 * ps], pattern_byte(3 * ps));
	struct mgr_event req;
	CHECK(mgr_wait(m, EV_DATA_REQUEST, 1, &req));
	CHECK_EQ(req.offset, 2 * ps);
	CHECK_EQ(req.length, 2 * ps);
	vm_deallocate(mach_task_self(), a, 8 * ps);
	CHECK(mgr_wait(m, EV_TERMINATE, 1, NULL));
	mgr_stop(m);
}

TEST(supply_bad_input)
{
	struct mgr *m = mgr_start(1, 0, REPLY_SUPPLY);
	REQUIRE(m != NULL);
	vm_address_t a = 0;
	REQUIRE(vm_map(mach_task_self(), &a, 4 * ps, 0, TRUE, m->object, 0, FALSE,
	               VM_PROT_DEFAULT, VM_PROT_ALL, VM_INHERIT_SHARE) == KERN_SUCCESS);
	struct mgr_event init, done;
	CHECK(mgr_wait(m, EV_INIT, 1, &init));
	mach_port_t c = init.control;
	static uint8_t buf[3 * 65536];
	pointer_t data = (pointer_t)(uintptr_t)buf;
	/* Unaligned offset: refused at once. */
	CHECK_EQ(memory_object_data_supply(c, 100, data, (mach_msg_type_number_t)ps,
	         FALSE, VM_PROT_NONE, FALSE, MACH_PORT_NULL), KERN_INVALID_ARGUMENT);
	CHECK_EQ(memory_object_data_supply(c, 0, 0, (mach_msg_type_number_t)ps,
	         FALSE, VM_PROT_NONE, FALSE, MACH_PORT_NULL), KERN_INVALID_ARGUMENT);
	CHECK_EQ(memory_object_data_unavailable(c, 1, ps), KERN_INVALID_ARGUMENT);
	CHECK_EQ(memory_object_data_error(c, 1, ps, KERN_FAILURE),
	         KERN_INVALID_ARGUMENT);
	/* A page and a half: the partial page is discarded. */
	memset(buf, 0xAB, sizeof buf);
	CHECK_EQ(memory_object_data_supply(c, 0, data,
	         (mach_msg_type_number_t)(ps + ps / 2), FALSE, VM_PROT_NONE, FALSE,
	         m->object), KERN_SUCCESS);
	CHECK(mgr_wait(m, EV_SUPPLY_COMPLETED, 1, &done));
	CHECK_EQ(done.result, KERN_SUCCESS);
	CHECK_EQ(done.length, ps);
	CHECK_EQ(((volatile uint8_t *)a)[5], 0xAB);
	CHECK_EQ(((volatile uint8_t *)a)[ps + 5], pattern_byte(ps + 5));
	/* Past the mapped end: the kernel's cache takes it all, as OSF's
	 * did (test_vm_supply_anywhere maps such pages later). */
	CHECK_EQ(memory_object_data_supply(c, 3 * ps, data,
	         (mach_msg_type_number_t)(2 * ps), FALSE, VM_PROT_NONE, FALSE,
	         m->object), KERN_SUCCESS);
	CHECK(mgr_wait(m, EV_SUPPLY_COMPLETED, 2, &done));
	CHECK_EQ(done.result, KERN_SUCCESS);
	CHECK_EQ(done.length, 2 * ps);
	CHECK_EQ(((volatile uint8_t *)a)[3 * ps + 1], 0xAB);
	/* Pages no cache can hold are refused: one whose end wraps past
	 * 2^64 at once, one at 2^62 (past any cache) by the kernel. */
	vm_offset_t last = ~(vm_offset_t)0 & ~(vm_offset_t)(ps - 1);
	CHECK_EQ(memory_object_data_supply(c, last, data,
	         (mach_msg_type_number_t)ps, FALSE, VM_PROT_NONE, FALSE,
	         m->object), KERN_INVALID_ARGUMENT);
	CHECK_EQ(memory_object_data_supply(c, (vm_offset_t)1 << 62, data,
	         (mach_msg_type_number_t)ps, FALSE, VM_PROT_NONE, FALSE,
	         m->object), KERN_SUCCESS);
	CHECK(mgr_wait(m, EV_SUPPLY_COMPLETED, 3, &done));
	CHECK_EQ(done.result, KERN_INVALID_ARGUMENT);
	CHECK_EQ(done.error_offset, (vm_offset_t)1 << 62);
	/* A reply port we hold no right to. */
	CHECK_EQ(memory_object_data_supply(c, 2 * ps, data, (mach_msg_type_number_t)ps,
	         FALSE, VM_PROT_NONE, FALSE, 0x5555), MACH_SEND_INVALID_REPLY);

	/* Wrong kind: the object port is no control port. */
	CHECK_EQ(memory_object_data_supply(m->object, 0, data,
	         (mach_msg_type_number_t)ps, FALSE, VM_PROT_NONE, FALSE,
	         MACH_PORT_NULL), KERN_INVALID_ARGUMENT);
	CHECK_EQ(memory_object_data_unavailable(m->object, 0, ps),
	         KERN_INVALID_ARGUMENT);
	memory_object_perf_info_data_t perf = { .cluster_size = 0 };
	mach_msg_type_number_t count = MEMORY_OBJECT_PERF_INFO_COUNT;
	CHECK_EQ(memory_object_get_attributes(m->object,
	         MEMORY_OBJECT_PERFORMANCE_INFO, (memory_object_info_t)&perf,
	         &count), KERN_INVALID_ARGUMENT);
	/* Not a right at all. */
	CHECK_EQ(memory_object_data_supply(MACH_PORT_NULL, 0, data,
	         (mach_msg_type_number_t)ps, FALSE, VM_PROT_NONE, FALSE,
	         MACH_PORT_NULL), MACH_SEND_INVALID_DEST);
	CHECK_EQ(memory_object_data_error(0x6666, 0, ps, KERN_FAILURE),
	         MACH_SEND_INVALID_DEST);

	vm_deallocate(mach_task_self(), a, 4 * ps);
	struct mgr_event term;
	CHECK(mgr_wait(m, EV_TERMINATE, 1, &term));
	/* After terminate the manager destroyed the control port: our old
	 * name for it is gone (or dead). */
	CHECK_EQ(memory_object_data_supply(c, 0, data, (mach_msg_type_number_t)ps,
	         FALSE, VM_PROT_NONE, FALSE, MACH_PORT_NULL), MACH_SEND_INVALID_DEST);
	mgr_stop(m);
}

/* Data the kernel cannot read (a PROT_NONE page of the manager's): the
 * handler runs in this thread, so the install is over when the call
 * returns; no supply_completed comes (KERN_INVALID_ADDRESS answers the
 * call, control_server.c) and the unreadable pages stay absent, so a
 * touch asks the manager anew. A page copied before the unreadable one
 * is installed on the UFFDIO_COPY path (its waiters were woken with
 * it) and refused with it on the pwrite path (MEMOBJ_UFFD_COPY=0). */
TEST(supply_unreadable_data)
{
	struct mgr *m = mgr_start(1, 0, REPLY_SUPPLY);
	REQUIRE(m != NULL);
	vm_address_t a = 0;
	REQUIRE(vm_map(mach_task_self(), &a, 4 * ps, 0, TRUE, m->object, 0, FALSE,
	               VM_PROT_DEFAULT, VM_PROT_ALL, VM_INHERIT_SHARE) == KERN_SUCCESS);
	struct mgr_event init, req;
	CHECK(mgr_wait(m, EV_INIT, 1, &init));
	mach_port_t c = init.control;
	uint8_t *buf = mmap(NULL, 2 * ps, PROT_READ | PROT_WRITE,
	                    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	REQUIRE(buf != MAP_FAILED);
	memset(buf, 0xCD, 2 * ps);
	/* All of it unreadable: nothing installed. */
	REQUIRE(mprotect(buf, 2 * ps, PROT_NONE) == 0);
	(void)memory_object_data_supply(c, 0, (pointer_t)(uintptr_t)buf,
	        (mach_msg_type_number_t)(2 * ps), FALSE, VM_PROT_NONE, FALSE,
	        m->object);
	CHECK_EQ(((volatile uint8_t *)a)[5], pattern_byte(5));
	CHECK(mgr_wait(m, EV_DATA_REQUEST, 1, &req));
	CHECK_EQ(req.offset, 0);
	CHECK_EQ(((volatile uint8_t *)a)[ps + 5], pattern_byte(ps + 5));
	CHECK(mgr_wait(m, EV_DATA_REQUEST, 2, &req));
	CHECK_EQ(req.offset, ps);
	/* The first page readable, the second not, at pages 2 and 3. */
	REQUIRE(mprotect(buf, ps, PROT_READ) == 0);
	(void)memory_object_data_supply(c, 2 * ps, (pointer_t)(uintptr_t)buf,
	        (mach_msg_type_number_t)(2 * ps), FALSE, VM_PROT_NONE, FALSE,
	        m->object);
	const char *copy = getenv("MEMOBJ_UFFD_COPY");
	bool pwrite_path = copy != NULL && strcmp(copy, "0") == 0;
	CHECK_EQ(((volatile uint8_t *)a)[3 * ps + 5], pattern_byte(3 * ps + 5));
	CHECK(mgr_wait(m, EV_DATA_REQUEST, 3, &req));
	CHECK_EQ(req.offset, 3 * ps);
	CHECK_EQ(((volatile uint8_t *)a)[2 * ps + 5],
	         pwrite_path ? pattern_byte(2 * ps + 5) : 0xCD);
	CHECK_EQ(mgr_count(m, EV_DATA_REQUEST), pwrite_path ? 4 : 3);
	CHECK_EQ(mgr_count(m, EV_SUPPLY_COMPLETED), 0);
	munmap(buf, 2 * ps);
	vm_deallocate(mach_task_self(), a, 4 * ps);
	CHECK(mgr_wait(m, EV_TERMINATE, 1, NULL));
	mgr_stop(m);
}

TEST(control_port_dead_name)
{
	struct mgr *m = mgr_start(1, 0, REPLY_SUPPLY);
	REQUIRE(m != NULL);
	vm_address_t a = 0;
	REQUIRE(vm_map(mach_task_self(), &a, ps, 0, TRUE, m->object, 0, FALSE,
	               VM_PROT_DEFAULT, VM_PROT_ALL, VM_INHERIT_SHARE) == KERN_SUCCESS);
	struct mgr_event init;
	CHECK(mgr_wait(m, EV_INIT, 1, &init));
	/* Keep a send right under another name past terminate ... */
	mach_port_t copy = MACH_PORT_NULL;
	mach_msg_type_name_t type;
	CHECK_EQ(mach_port_extract_right(mach_task_self(), init.control,
	         MACH_MSG_TYPE_COPY_SEND, &copy, &type), KERN_SUCCESS);
	vm_deallocate(mach_task_self(), a, ps);
	CHECK(mgr_wait(m, EV_TERMINATE, 1, NULL));
	/* ... the manager destroyed the receive right: it is a dead name. */
	mach_port_type_t pt = 0;
	if (copy != init.control) {
		CHECK_EQ(mach_port_type(mach_task_self(), copy, &pt), KERN_SUCCESS);
		CHECK(pt & MACH_PORT_TYPE_DEAD_NAME);
		CHECK_EQ(memory_object_data_unavailable(copy, 0, ps),
		         MACH_SEND_INVALID_DEST);
		mach_port_deallocate(mach_task_self(), copy);
	}
	mgr_stop(m);
}

/* A control call on a port that is no control port of this kernel (a
 * plain port, the task's or the host's port) is refused at once, as the
 * stubs document, and nothing is sent. */
TEST(control_calls_on_other_ports)
{
	mach_port_t plain = MACH_PORT_NULL;
	REQUIRE(mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE,
	                           &plain) == KERN_SUCCESS);
	REQUIRE(mach_port_insert_right(mach_task_self(), plain, plain,
	                               MACH_MSG_TYPE_MAKE_SEND) == KERN_SUCCESS);
	mach_port_t ports[3] = { plain, mach_task_self(), mach_host_self() };
	for (int i = 0; i < 3; i++) {
		CHECK_EQ(memory_object_data_unavailable(ports[i], 0, ps),
		         KERN_INVALID_ARGUMENT);
		CHECK_EQ(memory_object_lock_request(ports[i], 0, ps,
		         MEMORY_OBJECT_RETURN_NONE, FALSE, VM_PROT_NO_CHANGE,
		         MACH_PORT_NULL), KERN_INVALID_ARGUMENT);
		integer_t info[MEMORY_OBJECT_ATTR_INFO_COUNT];
		mach_msg_type_number_t count = MEMORY_OBJECT_ATTR_INFO_COUNT;
		CHECK_EQ(memory_object_get_attributes(ports[i],
		         MEMORY_OBJECT_ATTRIBUTE_INFO, info, &count),
		         KERN_INVALID_ARGUMENT);
		CHECK_EQ(memory_object_destroy(ports[i], KERN_SUCCESS),
		         KERN_INVALID_ARGUMENT);
	}
	/* Nothing arrived on the plain port. */
	mach_port_status_t st;
	mach_msg_type_number_t n = MACH_PORT_RECEIVE_STATUS_COUNT;
	CHECK_EQ(mach_port_get_attributes(mach_task_self(), plain,
	         MACH_PORT_RECEIVE_STATUS, (mach_port_info_t)&st, &n), KERN_SUCCESS);
	CHECK_EQ(st.mps_msgcount, 0);
	mach_port_mod_refs(mach_task_self(), plain, MACH_PORT_RIGHT_RECEIVE, -1);
	mach_port_deallocate(mach_task_self(), plain);
}

int main(void)
{
	alarm(120);
	ps = kernel_page_size();
	REQUIRE(ps >= 4096 && ps <= 65536);
	RUN(attributes);
	RUN(supply_bad_input);
	RUN(supply_unreadable_data);
	RUN(control_port_dead_name);
	RUN(control_calls_on_other_ports);
	return harness_done();
}
