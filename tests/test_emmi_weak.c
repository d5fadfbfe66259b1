/* Classic link-time binding: this program defines memory_object_init and
 * nothing else; memory_object_server must call it (overriding the
 * library's weak default) and use the weak KERN_FAILURE defaults for the
 * rest. Built against the shared and the static library. */
#include <pthread.h>
#include <unistd.h>
#include <mach/mach.h>

#include "harness.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int inits;
static vm_size_t init_page_size;
static mach_port_t init_control;

kern_return_t memory_object_init(memory_object_t object,
        memory_object_control_t control, vm_size_t page_size)
{
	(void)object;
	pthread_mutex_lock(&lock);
	inits++;
	init_page_size = page_size;
	init_control = control;
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&lock);
	return KERN_SUCCESS;
}

static mach_port_t object;

static void *server(void *arg)
{
	(void)arg;
	mach_msg_server(memory_object_server, MEMORY_OBJECT_MSG_SIZE_MAX, object, 0);
	return NULL;
}

TEST(init_overrides_weak_default)
{
	REQUIRE(mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE,
	                           &object) == KERN_SUCCESS);
	REQUIRE(mach_port_insert_right(mach_task_self(), object, object,
	                               MACH_MSG_TYPE_MAKE_SEND) == KERN_SUCCESS);
	pthread_t thread;
	pthread_create(&thread, NULL, server, NULL);
	vm_address_t a = 0;
	CHECK_EQ(vm_map(mach_task_self(), &a, 4096, 0, TRUE, object, 0, FALSE,
	                VM_PROT_READ, VM_PROT_ALL, VM_INHERIT_SHARE), KERN_SUCCESS);
	struct timespec deadline;
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += 20;
	pthread_mutex_lock(&lock);
	while (inits == 0 &&
	       pthread_cond_timedwait(&cond, &lock, &deadline) == 0)
		;
	CHECK_EQ(inits, 1);
	vm_size_t ps = 0;
	host_page_size(mach_host_self(), &ps);
	CHECK_EQ(init_page_size, ps);
	pthread_mutex_unlock(&lock);
	/* Our init kept the control send right (KERN_SUCCESS). */
	mach_port_type_t type = 0;
	CHECK_EQ(mach_port_type(mach_task_self(), init_control, &type), KERN_SUCCESS);
	CHECK(type & MACH_PORT_TYPE_SEND);
	/* terminate goes to the weak default (KERN_FAILURE): mach_msg_server
	 * destroys the rights it carried, the control receive right too. */
	CHECK_EQ(memory_object_terminate(object, init_control), KERN_FAILURE);
	CHECK_EQ(memory_object_data_request(object, init_control, 0, 4096,
	                                    VM_PROT_READ), KERN_FAILURE);
	CHECK_EQ(seqnos_memory_object_init(object, 0, init_control, 4096),
	         KERN_FAILURE);
	vm_deallocate(mach_task_self(), a, 4096);
	mach_port_destroy(mach_task_self(), object);
	pthread_join(thread, NULL);
	mach_port_deallocate(mach_task_self(), init_control);
}

int main(void)
{
	alarm(60);
	RUN(init_overrides_weak_default);
	return harness_done();
}
