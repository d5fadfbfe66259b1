/* The kernel side of the control port: its kobject handler turns control
 * messages into VM calls, in the manager's (sending) thread. Only
 * control_port.c binds ports to it; the VM never names it. */
#ifndef MEMOBJ_EMMI_CONTROL_SERVER_H
#define MEMOBJ_EMMI_CONTROL_SERVER_H

#include <mach/mach.h>

#include "ipc/ipc_kernel.h"

/* ipc_kobject_handler_t; context is the vm_object id. */
void emmi_control_handler(void *context, mach_msg_header_t *msg,
        mach_msg_size_t size);

#endif
