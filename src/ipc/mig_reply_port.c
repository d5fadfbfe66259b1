/* MIG support: the NDR record and the per-thread reply port that
 * routines (RPCs) use. The port is made on first use and destroyed when
 * the thread exits. */
#include <pthread.h>
#include <stdint.h>
#include "ipc_internal.h"

const NDR_record_t NDR_record = {
	0,  /* mig_reserved */
	0,  /* mig_encoding */
	0,  /* int_rep */
	0,  /* char_rep */
	0,  /* float_rep */
	0,  /* reserved2 */
	0, 0,
};

static pthread_key_t reply_port_key;
static pthread_once_t reply_port_once = PTHREAD_ONCE_INIT;

static void reply_port_destroy(void *value)
{
	mach_port_t port = (mach_port_t)(uintptr_t)value;
	(void)mach_port_mod_refs(mach_task_self(), port, MACH_PORT_RIGHT_RECEIVE, -1);
}

static void reply_port_key_init(void)
{
	pthread_key_create(&reply_port_key, reply_port_destroy);
}

mach_port_t mig_get_reply_port(void)
{
	pthread_once(&reply_port_once, reply_port_key_init);
	mach_port_t port = (mach_port_t)(uintptr_t)pthread_getspecific(reply_port_key);
	if (port == MACH_PORT_NULL) {
		port = mach_reply_port();
		pthread_setspecific(reply_port_key, (void *)(uintptr_t)port);
	}
	return port;
}

/* After a failed RPC the reply port may hold a late reply: throw the port
 * away; the next routine makes a fresh one. (The argument is the port
 * mig_get_reply_port returned, as in XNU's libsyscall.) */
void mig_dealloc_reply_port(mach_port_t reply_port)
{
	(void)reply_port;
	pthread_once(&reply_port_once, reply_port_key_init);
	mach_port_t port = (mach_port_t)(uintptr_t)pthread_getspecific(reply_port_key);
	if (port == MACH_PORT_NULL)
		return;
	pthread_setspecific(reply_port_key, NULL);
	(void)mach_port_mod_refs(mach_task_self(), port, MACH_PORT_RIGHT_RECEIVE, -1);
}

void mig_put_reply_port(mach_port_t reply_port)
{
	(void)reply_port;  /* the port stays cached for the thread */
}
