/* Control ports as kernel objects (control_port.h): the binding between a
 * port and the control server, kept in one file so that the VM, which
 * asks for the ports, never names the server that calls it. */
#include "emmi/control_port.h"

#include "emmi/control_server.h"
#include "net/net_port.h"

kern_return_t emmi_control_port_allocate(uint64_t object_id,
        mach_port_name_t *control_k)
{
	ipc_space_t kernel = ipc_space_kernel();
	kern_return_t kr = ipc_port_allocate(kernel, MACH_PORT_RIGHT_RECEIVE,
	                                     control_k);
	if (kr != KERN_SUCCESS)
		return kr;
	kr = ipc_port_set_kobject(kernel, *control_k, emmi_control_handler,
	                          (void *)(uintptr_t)object_id);
	if (kr != KERN_SUCCESS) {
		/* Safe to ignore: the port was made just above and nobody
		 * else holds a right to it. */
		(void)ipc_port_destroy(kernel, *control_k);
		*control_k = MACH_PORT_NULL;
		return kr;
	}
	/* data_supply copies the lent data with pwrite or UFFDIO_COPY, which
	 * fail with EFAULT (KERN_INVALID_ADDRESS): no mapped-check per
	 * supply. Cannot fail on the receive right just bound. */
	(void)ipc_port_set_kobject_reads_ool_safely(kernel, *control_k);
	return KERN_SUCCESS;
}

bool emmi_control_port_is_local(ipc_space_t space, mach_port_name_t name)
{
	return ipc_port_kobject_handler(space, name) == emmi_control_handler;
}

enum emmi_port_kind emmi_port_kind(ipc_space_t space, mach_port_name_t name)
{
	if (!ipc_port_is_kobject(space, name))
		return EMMI_PORT_PLAIN;
	return net_port_is_proxy(space, name) ? EMMI_PORT_REMOTE
	                                      : EMMI_PORT_KERNEL;
}
