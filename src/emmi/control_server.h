/* The kernel side of the control port: its kobject handler turns control
 * messages into VM calls, in the manager's (sending) thread. */
#ifndef MEMOBJ_EMMI_CONTROL_SERVER_H
#define MEMOBJ_EMMI_CONTROL_SERVER_H

#include <mach/mach.h>

#include "ipc/ipc_kernel.h"

/* ipc_kobject_handler_t; context is the vm_object id. */
void emmi_control_handler(void *context, mach_msg_header_t *msg,
        mach_msg_size_t size);

/* What this kernel knows of the port a name denotes: a plain port (its
 * receive right in a task: maybe a memory object, maybe not), a proxy for
 * a port of another node (that node's to judge), or a kernel object of
 * this node (a control port, the task, host or name-server port, a notify
 * port), which is never a memory object. */
enum emmi_port_kind { EMMI_PORT_PLAIN, EMMI_PORT_REMOTE, EMMI_PORT_KERNEL };
enum emmi_port_kind emmi_port_kind(ipc_space_t space, mach_port_name_t name);

#endif
