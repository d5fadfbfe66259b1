/* A write-protect or minor fault on a page the VM does not hold resident
 * (a mapping left over from a state the VM no longer has) is served as a
 * missing fault: the page is asked for again and the write lands, marked
 * dirty first, instead of the thread being woken to refault for ever.
 * Reaches into the VM to lose track of a mapped page (no public call can
 * make that state). */
#include <signal.h>
#include <stdint.h>
#include <unistd.h>
#include <mach/mach.h>

#include "harness.h"
#include "emmi_manager.h"
#include "../src/vm/vm_kernel.h"
#include "../src/vm/vm_map_entry.h"
#include "../src/vm/vm_object.h"

static vm_size_t ps;

/* Forgets the page at addr in the VM: its mapping and memfd page stay. */
static void lose_page(vm_address_t addr)
{
	vm_offset_t off;
	struct vm_object *obj = vm_map_lookup_object(addr, &off);
	REQUIRE(obj != NULL);
	pthread_mutex_lock(&obj->lock);
	uint64_t index = off >> vm_kernel()->page_shift;
	REQUIRE(vm_page_lookup(&obj->pages, index) != NULL);
	vm_page_remove(&obj->pages, index);
	obj->resident--;
	atomic_fetch_sub_explicit(&vm_kernel()->active, 1, memory_order_relaxed);
	pthread_mutex_unlock(&obj->lock);
	vm_object_release(obj);
}

TEST(write_to_a_page_the_vm_lost_is_asked_for_again)
{
	struct mgr *m = mgr_start(1, 0, REPLY_SUPPLY);
	REQUIRE(m != NULL);
	vm_address_t a = 0;
	REQUIRE(vm_map(mach_task_self(), &a, 2 * ps, 0, TRUE, m->object, 0,
	               FALSE, VM_PROT_DEFAULT, VM_PROT_ALL,
	               VM_INHERIT_SHARE) == KERN_SUCCESS);
	volatile uint8_t *p = (volatile uint8_t *)a;
	CHECK_EQ(p[1], pattern_byte(1));      /* supplied clean: write-protected */
	CHECK_EQ(mgr_count(m, EV_DATA_REQUEST), 1);
	lose_page(a);
	alarm(30);                            /* the old livelock fails here */
	p[1] = (uint8_t)(pattern_byte(1) + 1);
	alarm(0);
	CHECK_EQ(p[1], (uint8_t)(pattern_byte(1) + 1));
	CHECK_EQ(mgr_count(m, EV_DATA_REQUEST), 2);
	vm_deallocate(mach_task_self(), a, 2 * ps);
	CHECK(mgr_wait(m, EV_TERMINATE, 1, NULL));
	mgr_stop(m);
}

int main(void)
{
	host_page_size(mach_host_self(), &ps);
	RUN(write_to_a_page_the_vm_lost_is_asked_for_again);
	return harness_done();
}
