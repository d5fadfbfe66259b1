/* The VM calls on their own: vm_allocate, vm_deallocate, vm_protect,
 * vm_region, vm_msync, vm_map of zero-filled memory and of bad objects,
 * host_page_size and host_statistics. */
#include <stdint.h>
#include <unistd.h>
#include <mach/mach.h>

#include "harness.h"
#include "lone_region.h"

static vm_size_t ps;

static kern_return_t region(vm_address_t *addr, vm_size_t *size,
        struct vm_region_basic_info *info)
{
	mach_msg_type_number_t count = VM_REGION_BASIC_INFO_COUNT;
	memory_object_name_t name = 1;
	kern_return_t kr = vm_region(mach_task_self(), addr, size,
	        VM_REGION_BASIC_INFO, (vm_region_info_t)info, &count, &name);
	if (kr == KERN_SUCCESS)
		CHECK_EQ(name, MACH_PORT_NULL);
	return kr;
}

TEST(host_calls)
{
	vm_size_t size = 0;
	CHECK_EQ(host_page_size(mach_host_self(), &size), KERN_SUCCESS);
	CHECK(size >= (vm_size_t)sysconf(_SC_PAGESIZE));
	CHECK((size & (size - 1)) == 0);
	CHECK_EQ(host_page_size(mach_task_self(), &size), KERN_INVALID_HOST);
	CHECK_EQ(host_page_size(mach_host_self(), NULL), KERN_INVALID_ARGUMENT);
	vm_statistics_data_t s;
	mach_msg_type_number_t count = HOST_VM_INFO_COUNT;
	CHECK_EQ(host_statistics(mach_host_self(), HOST_VM_INFO, (host_info_t)&s,
	                         &count), KERN_SUCCESS);
	CHECK_EQ(count, HOST_VM_INFO_COUNT);
	count = 1;
	CHECK_EQ(host_statistics(mach_host_self(), HOST_VM_INFO, (host_info_t)&s,
	                         &count), KERN_FAILURE);
	count = HOST_VM_INFO_COUNT;
	CHECK_EQ(host_statistics(mach_host_self(), 99, (host_info_t)&s, &count),
	         KERN_INVALID_ARGUMENT);
	CHECK_EQ(host_statistics(MACH_PORT_NULL, HOST_VM_INFO, (host_info_t)&s,
	                         &count), KERN_INVALID_HOST);
}

TEST(allocate_and_deallocate)
{
	vm_address_t a = 0;
	CHECK_EQ(vm_allocate(mach_task_self(), &a, 3 * ps + 1, TRUE), KERN_SUCCESS);
	CHECK(a != 0 && (a & (ps - 1)) == 0);
	volatile uint8_t *p = (volatile uint8_t *)a;
	CHECK_EQ(p[0], 0);
	CHECK_EQ(p[4 * ps - 1], 0);          /* rounded up to 4 pages */
	p[ps] = 9;
	vm_address_t addr = a;
	vm_size_t size = 0;
	struct vm_region_basic_info info;
	CHECK_EQ(region(&addr, &size, &info), KERN_SUCCESS);
	CHECK_EQ(addr, a);
	CHECK_EQ(size, 4 * ps);
	CHECK_EQ(info.protection, VM_PROT_DEFAULT);
	CHECK_EQ(info.max_protection, VM_PROT_ALL);
	CHECK_EQ(info.inheritance, VM_INHERIT_DEFAULT);
	CHECK(!info.shared);
	/* The rest on a region whose holes no other mmap takes. */
	CHECK_EQ(vm_deallocate(mach_task_self(), a, 4 * ps), KERN_SUCCESS);
	a = lone_region_allocate(4 * ps);
	REQUIRE(a != 0);
	/* A fixed allocation over it is refused. */
	vm_address_t b = a + ps;
	CHECK_EQ(vm_allocate(mach_task_self(), &b, ps, FALSE), KERN_NO_SPACE);
	/* Punch a hole in the middle: two regions remain. */
	CHECK_EQ(vm_deallocate(mach_task_self(), a + ps, ps), KERN_SUCCESS);
	addr = a + ps;
	CHECK_EQ(region(&addr, &size, &info), KERN_SUCCESS);
	CHECK_EQ(addr, a + 2 * ps);
	CHECK_EQ(size, 2 * ps);
	/* and the hole can be allocated again, fixed. */
	b = a + ps;
	CHECK_EQ(vm_allocate(mach_task_self(), &b, ps, FALSE), KERN_SUCCESS);
	CHECK_EQ(((volatile uint8_t *)b)[0], 0);
	CHECK_EQ(vm_deallocate(mach_task_self(), a, 4 * ps), KERN_SUCCESS);
	CHECK_EQ(vm_allocate(mach_task_self(), NULL, ps, TRUE), KERN_INVALID_ARGUMENT);
	CHECK_EQ(vm_allocate(MACH_PORT_NULL, &a, ps, TRUE), KERN_INVALID_TASK);
	CHECK_EQ(vm_deallocate(MACH_PORT_NULL, a, ps), KERN_INVALID_TASK);
	a = 0;
	CHECK_EQ(vm_allocate(mach_task_self(), &a, (vm_size_t)-1, TRUE),
	         KERN_INVALID_ARGUMENT);
	CHECK_EQ(vm_deallocate(mach_task_self(), 0, 0), KERN_SUCCESS);
}

TEST(protect)
{
	vm_address_t a = 0;
	REQUIRE(vm_allocate(mach_task_self(), &a, 3 * ps, TRUE) == KERN_SUCCESS);
	CHECK_EQ(vm_protect(mach_task_self(), a + ps, ps, FALSE, VM_PROT_READ),
	         KERN_SUCCESS);
	vm_address_t addr = a + ps;
	vm_size_t size;
	struct vm_region_basic_info info;
	CHECK_EQ(region(&addr, &size, &info), KERN_SUCCESS);
	CHECK_EQ(addr, a + ps);
	CHECK_EQ(size, ps);
	CHECK_EQ(info.protection, VM_PROT_READ);
	/* Lower the maximum: current follows; raising beyond it fails. */
	CHECK_EQ(vm_protect(mach_task_self(), a, 3 * ps, TRUE, VM_PROT_READ),
	         KERN_SUCCESS);
	CHECK_EQ(vm_protect(mach_task_self(), a, ps, FALSE, VM_PROT_DEFAULT),
	         KERN_PROTECTION_FAILURE);
	addr = a;
	CHECK_EQ(region(&addr, &size, &info), KERN_SUCCESS);
	CHECK_EQ(info.protection, VM_PROT_READ);
	CHECK_EQ(info.max_protection, VM_PROT_READ);
	CHECK_EQ(vm_protect(mach_task_self(), a, ps, FALSE, 0x40),
	         KERN_INVALID_ARGUMENT);
	CHECK_EQ(vm_deallocate(mach_task_self(), a, 3 * ps), KERN_SUCCESS);
	/* Unmapped: no such region. */
	CHECK_EQ(vm_protect(mach_task_self(), a, ps, FALSE, VM_PROT_READ),
	         KERN_INVALID_ADDRESS);
	CHECK_EQ(vm_protect(MACH_PORT_NULL, a, ps, FALSE, VM_PROT_READ),
	         KERN_INVALID_TASK);
}

TEST(region_bad_input)
{
	vm_address_t addr = 0;
	vm_size_t size;
	int info[VM_REGION_BASIC_INFO_COUNT];
	mach_msg_type_number_t count = 1;
	CHECK_EQ(vm_region(mach_task_self(), &addr, &size, VM_REGION_BASIC_INFO,
	                   info, &count, NULL), KERN_INVALID_ARGUMENT);
	count = VM_REGION_BASIC_INFO_COUNT;
	CHECK_EQ(vm_region(mach_task_self(), &addr, &size, 77, info, &count, NULL),
	         KERN_INVALID_ARGUMENT);
	addr = (vm_address_t)-4096;
	CHECK_EQ(vm_region(mach_task_self(), &addr, &size, VM_REGION_BASIC_INFO,
	                   info, &count, NULL), KERN_INVALID_ADDRESS);
}

TEST(map_zero_filled)
{
	vm_address_t a = 0;
	CHECK_EQ(vm_map(mach_task_self(), &a, 2 * ps, 0, TRUE, MEMORY_OBJECT_NULL,
	                0, FALSE, VM_PROT_DEFAULT, VM_PROT_ALL, VM_INHERIT_NONE),
	         KERN_SUCCESS);
	volatile uint8_t *p = (volatile uint8_t *)a;
	CHECK_EQ(p[ps + 5], 0);
	p[ps + 5] = 1;
	vm_address_t addr = a;
	vm_size_t size;
	struct vm_region_basic_info info;
	CHECK_EQ(region(&addr, &size, &info), KERN_SUCCESS);
	CHECK_EQ(info.inheritance, VM_INHERIT_NONE);
	/* Nothing to write back for anonymous memory. */
	CHECK_EQ(vm_msync(mach_task_self(), a, 2 * ps, VM_SYNC_SYNCHRONOUS),
	         KERN_SUCCESS);
	/* A mask asks for alignment. */
	vm_address_t b = 0;
	vm_address_t mask = 16 * ps - 1;
	CHECK_EQ(vm_map(mach_task_self(), &b, ps, mask, TRUE, MEMORY_OBJECT_NULL,
	                0, FALSE, VM_PROT_READ, VM_PROT_READ, VM_INHERIT_COPY),
	         KERN_SUCCESS);
	CHECK_EQ(b & mask, 0);
	CHECK_EQ(((volatile uint8_t *)b)[7], 0);
	/* Fixed over a used range. */
	vm_address_t c = a;
	CHECK_EQ(vm_map(mach_task_self(), &c, ps, 0, FALSE, MEMORY_OBJECT_NULL,
	                0, FALSE, VM_PROT_DEFAULT, VM_PROT_ALL, VM_INHERIT_COPY),
	         KERN_NO_SPACE);
	vm_deallocate(mach_task_self(), a, 2 * ps);
	vm_deallocate(mach_task_self(), b, ps);
}

TEST(map_bad_input)
{
	mach_port_t port;
	REQUIRE(mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE,
	                           &port) == KERN_SUCCESS);
	REQUIRE(mach_port_insert_right(mach_task_self(), port, port,
	                               MACH_MSG_TYPE_MAKE_SEND) == KERN_SUCCESS);
	vm_address_t a = 0;
#define MAP(addr_, size_, anywhere_, obj_, off_, cur_, max_, inh_) \
	vm_map(mach_task_self(), &(addr_), size_, 0, anywhere_, obj_, off_, \
	       FALSE, cur_, max_, inh_)
	CHECK_EQ(MAP(a, ps, TRUE, port, 100, VM_PROT_DEFAULT, VM_PROT_ALL,
	             VM_INHERIT_SHARE), KERN_INVALID_ARGUMENT);
	CHECK_EQ(MAP(a, 0, TRUE, port, 0, VM_PROT_DEFAULT, VM_PROT_ALL,
	             VM_INHERIT_SHARE), KERN_INVALID_ARGUMENT);
	CHECK_EQ(MAP(a, (vm_size_t)-1, TRUE, port, 0, VM_PROT_DEFAULT, VM_PROT_ALL,
	             VM_INHERIT_SHARE), KERN_INVALID_ARGUMENT);
	CHECK_EQ(MAP(a, ps, TRUE, port, 0, VM_PROT_ALL, VM_PROT_READ,
	             VM_INHERIT_SHARE), KERN_INVALID_ARGUMENT);
	CHECK_EQ(MAP(a, ps, TRUE, port, 0, VM_PROT_READ, VM_PROT_ALL, 9),
	         KERN_INVALID_ARGUMENT);
	a = 12345;
	CHECK_EQ(MAP(a, ps, FALSE, port, 0, VM_PROT_READ, VM_PROT_ALL,
	             VM_INHERIT_SHARE), KERN_INVALID_ARGUMENT);
	a = 0;
	CHECK_EQ(vm_map(MACH_PORT_NULL, &a, ps, 0, TRUE, port, 0, FALSE,
	                VM_PROT_READ, VM_PROT_ALL, VM_INHERIT_SHARE),
	         KERN_INVALID_TASK);
	CHECK_EQ(vm_map(mach_task_self(), NULL, ps, 0, TRUE, port, 0, FALSE,
	                VM_PROT_READ, VM_PROT_ALL, VM_INHERIT_SHARE),
	         KERN_INVALID_ARGUMENT);
	/* Names that are no send right: at once, no message sent. */
	CHECK_EQ(MAP(a, ps, TRUE, (memory_object_t)0x7777, 0, VM_PROT_READ,
	             VM_PROT_ALL, VM_INHERIT_SHARE), KERN_INVALID_OBJECT);
	mach_port_t recv_only;
	REQUIRE(mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE,
	                           &recv_only) == KERN_SUCCESS);
	CHECK_EQ(MAP(a, ps, TRUE, recv_only, 0, VM_PROT_READ, VM_PROT_ALL,
	             VM_INHERIT_SHARE), KERN_INVALID_OBJECT);
	mach_port_destroy(mach_task_self(), recv_only);
	/* A dead name: destroy the receive right, our send right dies. */
	mach_port_mod_refs(mach_task_self(), port, MACH_PORT_RIGHT_RECEIVE, -1);
	mach_port_type_t type = 0;
	CHECK_EQ(mach_port_type(mach_task_self(), port, &type), KERN_SUCCESS);
	CHECK(type & MACH_PORT_TYPE_DEAD_NAME);
	CHECK_EQ(MAP(a, ps, TRUE, port, 0, VM_PROT_READ, VM_PROT_ALL,
	             VM_INHERIT_SHARE), KERN_INVALID_OBJECT);
	mach_port_deallocate(mach_task_self(), port);
	/* vm_msync of nothing mapped. */
	CHECK_EQ(vm_msync(mach_task_self(), 0, 4096,
	                  VM_SYNC_SYNCHRONOUS), KERN_INVALID_ADDRESS);
	CHECK_EQ(vm_msync(mach_task_self(), 0, 4096,
	                  VM_SYNC_SYNCHRONOUS | VM_SYNC_ASYNCHRONOUS),
	         KERN_INVALID_ARGUMENT);
#undef MAP
}

int main(void)
{
	alarm(120);
	REQUIRE(host_page_size(mach_host_self(), &ps) == KERN_SUCCESS);
	RUN(host_calls);
	RUN(allocate_and_deallocate);
	RUN(protect);
	RUN(region_bad_input);
	RUN(map_zero_filled);
	RUN(map_bad_input);
	return harness_done();
}
