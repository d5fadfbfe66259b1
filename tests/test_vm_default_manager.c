/* host_default_memory_manager: registering the default pager and reading
 * it back (SPEC 2.3). */
#include <mach/mach.h>
#include "harness.h"

static mach_port_t new_port_with_send(void)
{
	mach_port_t p;
	REQUIRE(mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE, &p) == KERN_SUCCESS);
	REQUIRE(mach_port_insert_right(mach_task_self(), p, p, MACH_MSG_TYPE_MAKE_SEND) == KERN_SUCCESS);
	return p;
}

TEST(register_and_read_back)
{
	memory_object_default_t dm = MACH_PORT_NULL;
	CHECK_EQ(host_default_memory_manager(mach_host_self(), &dm, 0), KERN_SUCCESS);
	CHECK_EQ(dm, MACH_PORT_NULL);                 /* none yet */

	mach_port_t pager = new_port_with_send();
	dm = pager;
	CHECK_EQ(host_default_memory_manager(mach_host_self(), &dm, 0), KERN_SUCCESS);
	CHECK_EQ(dm, MACH_PORT_NULL);                 /* the previous: none */
	mach_port_urefs_t refs;
	CHECK_EQ(mach_port_get_refs(mach_task_self(), pager, MACH_PORT_RIGHT_SEND, &refs), KERN_SUCCESS);
	CHECK_EQ(refs, 1);                            /* the caller keeps its right */

	dm = MACH_PORT_NULL;
	CHECK_EQ(host_default_memory_manager(mach_host_self(), &dm, 0), KERN_SUCCESS);
	CHECK_EQ(dm, pager);                          /* read back: same port, same name */
	CHECK_EQ(mach_port_get_refs(mach_task_self(), pager, MACH_PORT_RIGHT_SEND, &refs), KERN_SUCCESS);
	CHECK_EQ(refs, 2);
	CHECK_EQ(mach_port_deallocate(mach_task_self(), pager), KERN_SUCCESS);

	/* A new one replaces it; the old one comes back to the caller. */
	mach_port_t second = new_port_with_send();
	dm = second;
	CHECK_EQ(vm_set_default_memory_manager(mach_host_self(), &dm), KERN_SUCCESS);
	CHECK_EQ(dm, pager);
	CHECK_EQ(mach_port_get_refs(mach_task_self(), pager, MACH_PORT_RIGHT_SEND, &refs), KERN_SUCCESS);
	CHECK_EQ(refs, 2);
	CHECK_EQ(mach_port_deallocate(mach_task_self(), pager), KERN_SUCCESS);
	CHECK_EQ(mach_port_destroy(mach_task_self(), pager), KERN_SUCCESS);
	CHECK_EQ(mach_port_destroy(mach_task_self(), second), KERN_SUCCESS);

	/* The registered one died: reading back gives nothing usable. */
	dm = MACH_PORT_NULL;
	CHECK_EQ(host_default_memory_manager(mach_host_self(), &dm, 0), KERN_SUCCESS);
	mach_port_type_t type = 0;
	if (dm != MACH_PORT_NULL) {
		CHECK_EQ(mach_port_type(mach_task_self(), dm, &type), KERN_SUCCESS);
		CHECK(type & MACH_PORT_TYPE_DEAD_NAME);
		mach_port_deallocate(mach_task_self(), dm);
	}
}

TEST(bad_input)
{
	memory_object_default_t dm = MACH_PORT_NULL;
	CHECK_EQ(host_default_memory_manager(mach_task_self(), &dm, 0), KERN_INVALID_HOST);
	CHECK_EQ(host_default_memory_manager(mach_host_self(), NULL, 0), KERN_INVALID_ARGUMENT);
	CHECK_EQ(host_default_memory_manager(mach_host_self(), &dm, 1), KERN_INVALID_ARGUMENT);
	dm = 0x4321;                                   /* not a right */
	CHECK_EQ(host_default_memory_manager(mach_host_self(), &dm, 0), KERN_INVALID_ARGUMENT);
	mach_port_t recv;
	REQUIRE(mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE, &recv) == KERN_SUCCESS);
	dm = recv;                                     /* a receive right only */
	CHECK_EQ(host_default_memory_manager(mach_host_self(), &dm, 0), KERN_INVALID_ARGUMENT);
	CHECK_EQ(mach_port_destroy(mach_task_self(), recv), KERN_SUCCESS);
}

int main(void)
{
	RUN(register_and_read_back);
	RUN(bad_input);
	return harness_done();
}
