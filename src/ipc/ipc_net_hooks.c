/* The net layer's own kernel space (see ipc_space_net in ipc_kernel.h). */
#include "ipc_internal.h"

static pthread_once_t net_once = PTHREAD_ONCE_INIT;
static ipc_space_t net_space;

static void net_space_create(void)
{
	net_space = ipc_space_create(true, IPC_NET_FIRST_INDEX);
}

ipc_space_t ipc_space_net(void)
{
	ipc_init();
	pthread_once(&net_once, net_space_create);
	return net_space;
}
