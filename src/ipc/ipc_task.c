/* The process's two spaces (task and kernel), their start-up, and the
 * special ports: mach_task_self() and mach_host_self() are send rights in
 * the task space to ports whose receive rights the kernel space holds. */
#include <string.h>
#include <unistd.h>
#include "ipc_internal.h"

uint32_t ipc_sender_uid, ipc_sender_gid;
size_t ipc_page_size;

static pthread_once_t ipc_once = PTHREAD_ONCE_INIT;
static ipc_space_t task_space, kernel_space;
static mach_port_name_t task_self_name, host_self_name;

/* Nothing is served on the special ports: a request gets MIG_BAD_ID, as
 * from a MIG server that knows no routine. */
static void special_port_handler(void *context, mach_msg_header_t *msg,
        mach_msg_size_t size)
{
	(void)context;
	(void)size;
	mach_port_t reply = msg->msgh_remote_port;
	mach_msg_type_name_t reply_type = MACH_MSGH_BITS_REMOTE(msg->msgh_bits);
	msg->msgh_remote_port = MACH_PORT_NULL;
	ipc_mach_msg_destroy(kernel_space, msg);
	if (!MACH_PORT_VALID(reply))
		return;
	mig_reply_error_t r;
	memset(&r, 0, sizeof r);
	r.Head.msgh_bits = MACH_MSGH_BITS(reply_type, 0);
	r.Head.msgh_size = sizeof r;
	r.Head.msgh_remote_port = reply;
	r.Head.msgh_id = (mach_msg_id_t)((uint32_t)msg->msgh_id + MIG_REPLY_ID_OFFSET);
	r.NDR = NDR_record;
	r.RetCode = MIG_BAD_ID;
	if (ipc_mach_msg(kernel_space, &r.Head, MACH_SEND_MSG | MACH_SEND_TIMEOUT,
	        sizeof r, 0, MACH_PORT_NULL, 0, MACH_PORT_NULL) != MACH_MSG_SUCCESS)
		ipc_mach_msg_destroy(kernel_space, &r.Head);
}

/* A kobject port in the kernel space, with a send right named in task. */
static mach_port_name_t make_special_port(void)
{
	ipc_port_t port = ipc_port_alloc();
	if (port == NULL)
		return MACH_PORT_NULL;
	ipc_lock();
	mach_port_name_t kname = ipc_right_copyout(kernel_space, port,
	        MACH_MSG_TYPE_PORT_RECEIVE);
	port->handler = special_port_handler;
	mach_port_name_t name = ipc_right_copyout(task_space, ipc_port_make_send(port),
	        MACH_MSG_TYPE_PORT_SEND);
	ipc_unlock();
	(void)kname;
	return name;
}

static void ipc_init_once(void)
{
	long pagesize = sysconf(_SC_PAGESIZE);
	ipc_page_size = pagesize > 0 ? (size_t)pagesize : 4096;
	ipc_sender_uid = (uint32_t)geteuid();
	ipc_sender_gid = (uint32_t)getegid();
	task_space = ipc_space_create(false, IPC_TASK_FIRST_INDEX);
	kernel_space = ipc_space_create(true, IPC_KERNEL_FIRST_INDEX);
	if (task_space == NULL || kernel_space == NULL)
		return;
	task_self_name = make_special_port();
	host_self_name = make_special_port();
}

void ipc_init(void)
{
	pthread_once(&ipc_once, ipc_init_once);
}

ipc_space_t ipc_space_task(void)
{
	ipc_init();
	return task_space;
}

ipc_space_t ipc_space_kernel(void)
{
	ipc_init();
	return kernel_space;
}

ipc_space_t ipc_space_from_task(task_t task)
{
	ipc_init();
	if (task == MACH_PORT_NULL || task != task_self_name)
		return NULL;
	return task_space;
}

mach_port_t mach_task_self(void)
{
	ipc_init();
	return task_self_name;
}

mach_port_t mach_host_self(void)
{
	ipc_init();
	return host_self_name;
}

/* Each thread's port, made on its first mach_thread_self(): a kobject in
 * the kernel space like the task's; destroyed when the thread exits, so
 * the task's send rights to it turn into dead names. */
static pthread_key_t thread_port_key;
static pthread_once_t thread_key_once = PTHREAD_ONCE_INIT;
static _Thread_local ipc_port_t thread_port;

static void thread_port_exit(void *kname)
{
	thread_port = NULL;
	(void)ipc_port_destroy(kernel_space, (mach_port_name_t)(uintptr_t)kname);
}

static void thread_key_make(void)
{
	(void)pthread_key_create(&thread_port_key, thread_port_exit);
}

mach_port_t mach_thread_self(void)
{
	ipc_init();
	pthread_once(&thread_key_once, thread_key_make);
	if (kernel_space == NULL)
		return MACH_PORT_NULL;
	ipc_lock();
	if (thread_port == NULL) {
		ipc_port_t port = ipc_port_alloc();
		if (port == NULL) {
			ipc_unlock();
			return MACH_PORT_NULL;
		}
		mach_port_name_t kname = ipc_right_copyout(kernel_space, port,
		        MACH_MSG_TYPE_PORT_RECEIVE);
		if (!MACH_PORT_VALID(kname)) {
			ipc_unlock();
			return MACH_PORT_NULL;
		}
		port->handler = special_port_handler;
		thread_port = port;
		(void)pthread_setspecific(thread_port_key, (void *)(uintptr_t)kname);
	}
	mach_port_name_t name = ipc_right_copyout(task_space, ipc_port_make_send(thread_port),
	        MACH_MSG_TYPE_PORT_SEND);
	ipc_unlock();
	return MACH_PORT_VALID(name) ? name : MACH_PORT_NULL;
}

mach_port_t mach_reply_port(void)
{
	mach_port_name_t name;
	if (ipc_port_allocate(ipc_space_task(), MACH_PORT_RIGHT_RECEIVE, &name) != KERN_SUCCESS)
		return MACH_PORT_NULL;
	return name;
}
