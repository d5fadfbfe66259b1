/* counting_pager: the smallest memory manager worth reading.
 *
 * A memory manager (a "pager") owns the data of a memory object. Here the
 * data is made up on the spot: every page holds the line "this is page N".
 * The program plays both parts, as a Mach task may:
 *
 *   pager side   a port (the memory object) and a thread that answers the
 *                kernel's messages on it with mach_msg_server;
 *   user side    vm_map of that object, then plain reads of the memory.
 *
 * What happens when main reads the mapping:
 *
 *   first vm_map          kernel -> pager  memory_object_init
 *                         pager -> kernel  memory_object_change_attributes
 *                                          ("ready"; faults wait for it)
 *   read of a new page    kernel -> pager  memory_object_data_request
 *                         pager -> kernel  memory_object_data_supply
 *   vm_deallocate         kernel -> pager  memory_object_terminate
 *
 * The kernel calls the pager by these exact routine names; memobj provides
 * weak defaults for the ones a pager leaves out. (A process with several
 * kinds of pager uses memory_object_server_routines with a table instead,
 * as pagers/file_pager.c does.)
 *
 * Build: part of the project (example_counting_pager); run it, no arguments. */
#include <mach/mach.h>

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define OBJECT_PAGES 16

/* The kernel tells us its page size in init; offsets and lengths it sends
 * later are multiples of it. */
static vm_size_t kernel_page_size;

/* A kernel maps our object for the first time. `control` is our handle on
 * that kernel's cache of the object; we keep the send right (by returning
 * KERN_SUCCESS) and say we are ready. */
kern_return_t memory_object_init(memory_object_t object,
        memory_object_control_t control, vm_size_t page_size)
{
	(void)object;
	kernel_page_size = page_size;
	memory_object_perf_info_data_t perf = {
		.cluster_size = (memory_object_cluster_size_t)page_size, /* one page per request */
		.may_cache = FALSE,    /* terminate as soon as the last mapping goes */
	};
	return memory_object_change_attributes(control, MEMORY_OBJECT_PERFORMANCE_INFO,
	        (memory_object_info_t)&perf, MEMORY_OBJECT_PERF_INFO_COUNT,
	        MACH_PORT_NULL);
}

/* A thread touched a page the kernel does not have. Make the data and
 * hand it over. */
kern_return_t memory_object_data_request(memory_object_t object,
        memory_object_control_t control, vm_offset_t offset, vm_size_t length,
        vm_prot_t desired_access)
{
	(void)object; (void)desired_access;
	vm_address_t data;
	if (vm_allocate(mach_task_self(), &data, length, TRUE) != KERN_SUCCESS)
		return memory_object_data_error(control, offset, length, KERN_MEMORY_ERROR);
	for (vm_size_t done = 0; done < length; done += kernel_page_size)
		snprintf((char *)(uintptr_t)(data + done), kernel_page_size,
		         "this is page %llu\n",
		         (unsigned long long)((offset + done) / kernel_page_size));

	/* deallocate = TRUE: the pages move to the kernel, we lose them.
	 * VM_PROT_NONE: no access is withheld (no data_unlock to come). */
	memory_object_data_supply(control, offset, data, (mach_msg_type_number_t)length,
	        TRUE, VM_PROT_NONE, FALSE, MACH_PORT_NULL);

	/* Every message that carries the control port gave us one more
	 * reference to it; init's is the one we keep. */
	mach_port_deallocate(mach_task_self(), control);
	return KERN_SUCCESS;
}

/* The kernel is done with the object and gives us the control port's
 * receive right: destroying the name drops it with our send right. */
kern_return_t memory_object_terminate(memory_object_t object,
        memory_object_control_t control)
{
	(void)object;
	mach_port_destroy(mach_task_self(), control);
	return KERN_SUCCESS;
}

/* The pager's loop: receive a message on the object port, let the
 * MIG-style demux call the routine above, forever. */
static void *pager_thread(void *arg)
{
	mach_port_t object = *(mach_port_t *)arg;
	mach_msg_server(memory_object_server, MEMORY_OBJECT_MSG_SIZE_MAX, object,
	                MACH_MSG_OPTION_NONE);
	return NULL;
}

int main(void)
{
	/* The memory object is just a port: we hold its receive right and make
	 * a send right for vm_map to use. */
	mach_port_t object;
	mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE, &object);
	mach_port_insert_right(mach_task_self(), object, object, MACH_MSG_TYPE_MAKE_SEND);

	pthread_t thread;
	pthread_create(&thread, NULL, pager_thread, &object);
	pthread_detach(thread);   /* it serves until the process exits */

	vm_size_t page;
	host_page_size(mach_host_self(), &page);
	vm_address_t address = 0;
	kern_return_t kr = vm_map(mach_task_self(), &address, OBJECT_PAGES * page, 0, TRUE,
	        object, 0, FALSE, VM_PROT_READ, VM_PROT_READ, VM_INHERIT_NONE);
	if (kr != KERN_SUCCESS) {
		fprintf(stderr, "vm_map failed: %d\n", kr);
		return 1;
	}

	/* Ordinary memory reads; each first touch of a page is a page fault
	 * that the kernel turns into a data_request to the thread above. */
	const char *memory = (const char *)(uintptr_t)address;
	for (int n = 0; n < OBJECT_PAGES; n += 5)
		printf("user: page %2d says: %s", n, memory + n * page);

	vm_deallocate(mach_task_self(), address, OBJECT_PAGES * page);
	return 0;
}
