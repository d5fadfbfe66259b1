/* One kernel-space notify port (a kobject) receives the dead-name
 * notifications of every memory object port the kernel holds: a dead
 * object fails its waiting faults with SIGBUS instead of hanging them. */
#include "emmi/object_notify.h"

#include <pthread.h>

#include "ipc/ipc_kernel.h"
#include "vm/vm_manager_death.h"
#include "vm/vm_object.h"

static mach_port_name_t notify_port = MACH_PORT_NULL;
static pthread_once_t notify_once = PTHREAD_ONCE_INIT;

static void notify_handler(void *context, mach_msg_header_t *msg,
        mach_msg_size_t size)
{
	(void)context;
	if (size >= sizeof(mach_dead_name_notification_t) - sizeof(mach_msg_format_0_trailer_t) &&
	    msg->msgh_id == MACH_NOTIFY_DEAD_NAME) {
		mach_dead_name_notification_t *n = (mach_dead_name_notification_t *)msg;
		struct vm_object *obj = vm_object_lookup_name(n->not_port);
		if (obj != NULL) {
			vm_object_manager_died(obj);
			vm_object_release(obj);
		}
		/* The notification carries a user reference for the dead
		 * name; the object's own reference stays until terminate. */
		ipc_port_deallocate(ipc_space_kernel(), n->not_port);
	}
	ipc_mach_msg_destroy(ipc_space_kernel(), msg);
}

static void notify_start(void)
{
	mach_port_name_t port;
	if (ipc_port_allocate(ipc_space_kernel(), MACH_PORT_RIGHT_RECEIVE, &port)
	    != KERN_SUCCESS)
		return;
	if (ipc_port_set_kobject(ipc_space_kernel(), port, notify_handler, NULL)
	    != KERN_SUCCESS) {
		ipc_port_destroy(ipc_space_kernel(), port);
		return;
	}
	notify_port = port;
}

kern_return_t emmi_watch_object(mach_port_name_t object_k)
{
	pthread_once(&notify_once, notify_start);
	if (notify_port == MACH_PORT_NULL)
		return KERN_RESOURCE_SHORTAGE;
	mach_port_t previous = MACH_PORT_NULL;
	kern_return_t kr = ipc_port_request_notification(ipc_space_kernel(),
	        object_k, MACH_NOTIFY_DEAD_NAME, 0, notify_port,
	        MACH_MSG_TYPE_MAKE_SEND_ONCE, &previous);
	if (kr == KERN_SUCCESS && MACH_PORT_VALID(previous))
		ipc_port_deallocate(ipc_space_kernel(), previous);
	return kr;
}

void emmi_unwatch_object(mach_port_name_t object_k)
{
	mach_port_t previous = MACH_PORT_NULL;
	if (ipc_port_request_notification(ipc_space_kernel(), object_k,
	        MACH_NOTIFY_DEAD_NAME, 0, MACH_PORT_NULL,
	        MACH_MSG_TYPE_MAKE_SEND_ONCE, &previous) == KERN_SUCCESS &&
	    MACH_PORT_VALID(previous))
		ipc_port_deallocate(ipc_space_kernel(), previous);
}
