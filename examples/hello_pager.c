/* hello_pager: the README's pager, whole. Build: part of the project
 * (example_hello_pager), or  cc hello_pager.c $(pkg-config --cflags --libs memobj) */
#include <mach/mach.h>

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t terminated = PTHREAD_COND_INITIALIZER;
static int kernels_attached;

/* The kernel maps the object for the first time: keep the send right to
 * the control port (by returning KERN_SUCCESS) and say we are ready. */
kern_return_t memory_object_init(memory_object_t object,
        memory_object_control_t control, vm_size_t page_size)
{
	(void)object;
	memory_object_perf_info_data_t perf = { .cluster_size = page_size };
	pthread_mutex_lock(&lock);
	kernels_attached++;
	pthread_mutex_unlock(&lock);
	/* The kernel waits for this before it asks for data. */
	return memory_object_change_attributes(control,
	        MEMORY_OBJECT_PERFORMANCE_INFO, (memory_object_info_t)&perf,
	        MEMORY_OBJECT_PERF_INFO_COUNT, MACH_PORT_NULL);
}

/* A thread touched a page the kernel does not have: make it, hand it over. */
kern_return_t memory_object_data_request(memory_object_t object,
        memory_object_control_t control, vm_offset_t offset,
        vm_size_t length, vm_prot_t access)
{
	(void)object; (void)access;
	vm_address_t data;
	kern_return_t kr = vm_allocate(mach_task_self(), &data, length, TRUE);
	if (kr == KERN_SUCCESS) {
		snprintf((char *)data, length, "hello from offset %lu", (unsigned long)offset);
		/* deallocate: the pages move to the kernel; nothing withheld. */
		kr = memory_object_data_supply(control, offset, data, length,
		        TRUE, VM_PROT_NONE, FALSE, MACH_PORT_NULL);
	} else {
		kr = memory_object_data_error(control, offset, length, KERN_MEMORY_ERROR);
	}
	if (kr != KERN_SUCCESS)
		fprintf(stderr, "hello_pager: answering data_request: error %#x\n", kr);
	/* Each message that carries the control port added a user reference
	 * to our send right; init's is the one we keep. */
	mach_port_deallocate(mach_task_self(), control);
	return KERN_SUCCESS;
}

/* The kernel is done: it gives us the control port's receive right (and
 * its send right for the object). Destroying the name drops the lot. */
kern_return_t memory_object_terminate(memory_object_t object,
        memory_object_control_t control)
{
	mach_port_destroy(mach_task_self(), control);
	mach_port_deallocate(mach_task_self(), object);
	pthread_mutex_lock(&lock);
	kernels_attached--;
	pthread_cond_broadcast(&terminated);
	pthread_mutex_unlock(&lock);
	return KERN_SUCCESS;
}

/* The server thread: receive on the object port, dispatch, forever. */
static void *serve(void *arg)
{
	mach_port_t object = (mach_port_t)(uintptr_t)arg;
	mach_msg_return_t mr = mach_msg_server(memory_object_server,
	        MEMORY_OBJECT_MSG_SIZE_MAX, object, MACH_MSG_OPTION_NONE);
	if (mr != MACH_RCV_PORT_DIED && mr != MACH_RCV_INVALID_NAME)
		fprintf(stderr, "hello_pager: mach_msg_server: error %#x\n", mr);
	return NULL;
}

int main(void)
{
	/* The memory object is a port: we hold its receive right and make a
	 * send right, which vm_map gives to the kernel. */
	mach_port_t object;
	kern_return_t kr = mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE, &object);
	if (kr == KERN_SUCCESS)
		kr = mach_port_insert_right(mach_task_self(), object, object,
		        MACH_MSG_TYPE_MAKE_SEND);
	if (kr != KERN_SUCCESS) {
		fprintf(stderr, "hello_pager: object port: error %#x\n", kr);
		return 1;
	}
	pthread_t server;
	if (pthread_create(&server, NULL, serve, (void *)(uintptr_t)object) != 0) {
		perror("hello_pager: pthread_create");
		return 1;
	}

	vm_size_t page;
	host_page_size(mach_host_self(), &page);
	vm_size_t size = 4 * page;
	vm_address_t addr = 0;
	kr = vm_map(mach_task_self(), &addr, size, 0, TRUE, object, 0, FALSE,
	        VM_PROT_READ, VM_PROT_READ, VM_INHERIT_NONE);
	if (kr != KERN_SUCCESS) {
		fprintf(stderr, "hello_pager: vm_map: error %#x\n", kr);
		return 1;
	}
	/* Plain reads: each first touch of a page is a fault -> data_request. */
	char want[64];
	snprintf(want, sizeof want, "hello from offset %lu", (unsigned long)(3 * page));
	printf("%s\n%s\n", (char *)addr, (char *)(addr + 3 * page));
	int ok = strcmp((char *)(addr + 3 * page), want) == 0;

	/* The last mapping gone, the kernel sends terminate; wait for it, then
	 * destroy the object port, which ends the server loop. */
	vm_deallocate(mach_task_self(), addr, size);
	pthread_mutex_lock(&lock);
	while (kernels_attached > 0)
		pthread_cond_wait(&terminated, &lock);
	pthread_mutex_unlock(&lock);
	mach_port_destroy(mach_task_self(), object);
	pthread_join(server, NULL);
	return ok ? 0 : 1;
}
