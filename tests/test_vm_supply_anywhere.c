/* Supply anywhere in the object (issue 8.3, SPEC 3.3): pages a manager
 * supplies outside every current mapping of the object, past the largest
 * mapped end too, go into the kernel's cache (as the OSF kernel's did); a
 * later vm_map of that range finds them resident, with no data_request.
 * Prefetching beyond the resident limit keeps the kernel within it.
 * Runs with MEMOBJ_RESIDENT_MAX=256k (tests/CMakeLists.txt). */
#include <unistd.h>
#include <mach/mach.h>

#include "harness.h"
#include "emmi_manager.h"

static vm_size_t ps;

static vm_address_t map_range(struct mgr *m, vm_offset_t offset, vm_size_t size)
{
	vm_address_t a = 0;
	if (vm_map(mach_task_self(), &a, size, 0, TRUE, m->object, offset, FALSE,
	           VM_PROT_DEFAULT, VM_PROT_ALL, VM_INHERIT_NONE) != KERN_SUCCESS)
		return 0;
	return a;
}

static int page_is(vm_address_t addr, vm_offset_t offset)
{
	volatile uint8_t *p = (volatile uint8_t *)addr;
	return p[0] == pattern_byte(offset) && p[ps / 2] == pattern_byte(offset + ps / 2) &&
	       p[ps - 1] == pattern_byte(offset + ps - 1);
}

TEST(supply_before_map_is_resident_in_a_later_map)
{
	struct mgr *m = mgr_start(1, 0, REPLY_SUPPLY);
	REQUIRE(m != NULL);
	vm_address_t a = map_range(m, 0, ps);
	vm_address_t c = map_range(m, 8 * ps, ps);
	REQUIRE(a != 0 && c != 0);
	struct mgr_event init, done;
	CHECK(mgr_wait(m, EV_INIT, 1, &init));
	CHECK_EQ(mgr_count(m, EV_INIT), 1);
	/* Between the two mappings, and past the larger mapped end. */
	CHECK_EQ(mgr_supply(init.control, 3 * ps, 2 * ps, m->object), KERN_SUCCESS);
	CHECK(mgr_wait(m, EV_SUPPLY_COMPLETED, 1, &done));
	CHECK_EQ(done.result, KERN_SUCCESS);
	CHECK_EQ(done.length, 2 * ps);
	CHECK_EQ(mgr_supply(init.control, 16 * ps, 4 * ps, m->object), KERN_SUCCESS);
	CHECK(mgr_wait(m, EV_SUPPLY_COMPLETED, 2, &done));
	CHECK_EQ(done.result, KERN_SUCCESS);
	CHECK_EQ(done.offset, 16 * ps);
	CHECK_EQ(done.length, 4 * ps);
	/* They are in the cache: supplying one again is refused. */
	CHECK_EQ(mgr_supply(init.control, 17 * ps, ps, m->object), KERN_SUCCESS);
	CHECK(mgr_wait(m, EV_SUPPLY_COMPLETED, 3, &done));
	CHECK_EQ(done.result, KERN_MEMORY_PRESENT);
	CHECK_EQ(done.error_offset, 17 * ps);
	/* Mapped later: resident, no data_request. */
	vm_address_t b = map_range(m, 16 * ps, 4 * ps);
	vm_address_t g = map_range(m, 3 * ps, 2 * ps);
	REQUIRE(b != 0 && g != 0);
	for (vm_size_t i = 0; i < 4; i++)
		CHECK(page_is(b + i * ps, (16 + i) * ps));
	CHECK(page_is(g, 3 * ps));
	CHECK(page_is(g + ps, 4 * ps));
	CHECK_EQ(mgr_count(m, EV_DATA_REQUEST), 0);
	CHECK_EQ(mgr_count(m, EV_INIT), 1);
	/* Pages not supplied are still asked for. */
	CHECK(page_is(a, 0));
	CHECK(page_is(c, 8 * ps));
	CHECK_EQ(mgr_count(m, EV_DATA_REQUEST), 2);
	vm_deallocate(mach_task_self(), a, ps);
	vm_deallocate(mach_task_self(), c, ps);
	vm_deallocate(mach_task_self(), g, 2 * ps);
	vm_deallocate(mach_task_self(), b, 4 * ps);
	CHECK(mgr_wait(m, EV_TERMINATE, 1, NULL));
	mgr_stop(m);
}

/* A prefetch four times the resident limit: the kernel stays within the
 * limit (the oldest pages leave), and the newest are still resident when
 * the range is mapped. */
TEST(prefetch_past_the_resident_limit_stays_within_it)
{
	vm_size_t limit = (256 * 1024) / ps;          /* MEMOBJ_RESIDENT_MAX */
	vm_size_t npages = 4 * limit;
	struct mgr *m = mgr_start(1, 0, REPLY_SUPPLY);
	REQUIRE(m != NULL);
	vm_address_t a = map_range(m, 0, ps);
	REQUIRE(a != 0);
	struct mgr_event init, done;
	CHECK(mgr_wait(m, EV_INIT, 1, &init));
	vm_offset_t base = 64 * ps;
	CHECK_EQ(mgr_supply(init.control, base, npages * ps, m->object),
	         KERN_SUCCESS);
	CHECK(mgr_wait(m, EV_SUPPLY_COMPLETED, 1, &done));
	CHECK_EQ(done.result, KERN_SUCCESS);
	CHECK_EQ(done.length, npages * ps);
	CHECK(vm_stats().active_count <= limit);
	vm_address_t b = map_range(m, base, npages * ps);
	REQUIRE(b != 0);
	/* Newest first, so that refetching old pages does not push the
	 * resident ones out before they are read. */
	int wrong = 0;
	for (vm_size_t i = npages; i-- > 0;)
		wrong += !page_is(b + i * ps, base + i * ps);
	CHECK_EQ(wrong, 0);
	int requests = mgr_count(m, EV_DATA_REQUEST);
	CHECK(requests < (int)npages);
	CHECK(requests >= (int)(npages - limit));
	CHECK(vm_stats().active_count <= limit);
	vm_deallocate(mach_task_self(), a, ps);
	vm_deallocate(mach_task_self(), b, npages * ps);
	CHECK(mgr_wait(m, EV_TERMINATE, 1, NULL));
	mgr_stop(m);
}

/* Offsets far out: an object first mapped past 128 TiB gets a cache of
 * its own and works there, supplies past its mapping included; one whose
 * cache is a shared slot cannot be mapped that far later. */
TEST(far_offsets)
{
	vm_offset_t far = (vm_offset_t)1 << 48;
	struct mgr *m = mgr_start(1, 0, REPLY_SUPPLY);
	REQUIRE(m != NULL);
	vm_address_t a = map_range(m, far, 2 * ps);
	REQUIRE(a != 0);
	CHECK(page_is(a + ps, far + ps));
	struct mgr_event init, done;
	CHECK(mgr_wait(m, EV_INIT, 1, &init));
	CHECK_EQ(mgr_supply(init.control, far + 8 * ps, ps, m->object), KERN_SUCCESS);
	CHECK(mgr_wait(m, EV_SUPPLY_COMPLETED, 1, &done));
	CHECK_EQ(done.result, KERN_SUCCESS);
	vm_address_t b = map_range(m, far + 8 * ps, ps);
	REQUIRE(b != 0);
	CHECK(page_is(b, far + 8 * ps));
	CHECK_EQ(mgr_count(m, EV_DATA_REQUEST), 1);
	/* A flush of the whole object (2^48 bytes and more, three pages
	 * resident) costs by the pages, not the range; they are asked for
	 * again. */
	CHECK_EQ(memory_object_lock_request(init.control, 0, far + 16 * ps,
	         MEMORY_OBJECT_RETURN_NONE, TRUE, VM_PROT_NO_CHANGE,
	         MACH_PORT_NULL), KERN_SUCCESS);
	CHECK(page_is(b, far + 8 * ps));
	CHECK(page_is(a + ps, far + ps));
	CHECK_EQ(mgr_count(m, EV_DATA_REQUEST), 3);
	/* So does a data_error over the whole range (the fuzzer found it
	 * walking every index): nothing is requested, the pages stay. */
	CHECK_EQ(memory_object_data_error(init.control, 0, far + 16 * ps,
	         KERN_MEMORY_ERROR), KERN_SUCCESS);
	CHECK_EQ(memory_object_data_unavailable(init.control, 0, far + 16 * ps),
	         KERN_SUCCESS);
	CHECK(page_is(b, far + 8 * ps));
	vm_deallocate(mach_task_self(), a, 2 * ps);
	vm_deallocate(mach_task_self(), b, ps);
	CHECK(mgr_wait(m, EV_TERMINATE, 1, NULL));
	mgr_stop(m);

	m = mgr_start(1, 0, REPLY_SUPPLY);
	REQUIRE(m != NULL);
	a = map_range(m, 0, ps);
	REQUIRE(a != 0);
	vm_address_t c = 0;
	CHECK_EQ(vm_map(mach_task_self(), &c, ps, 0, TRUE, m->object, far, FALSE,
	                VM_PROT_DEFAULT, VM_PROT_ALL, VM_INHERIT_NONE),
	         KERN_RESOURCE_SHORTAGE);
	CHECK(page_is(a, 0));
	vm_deallocate(mach_task_self(), a, ps);
	CHECK(mgr_wait(m, EV_TERMINATE, 1, NULL));
	mgr_stop(m);
}

int main(void)
{
	alarm(120);
	ps = kernel_page_size();
	RUN(supply_before_map_is_resident_in_a_later_map);
	RUN(prefetch_past_the_resident_limit_stays_within_it);
	RUN(far_offsets);
	return harness_done();
}
