/* Control ports as kernel objects: how the VM gets one for a new object,
 * and how anyone tells what kind of port a name denotes. The VM names
 * this header, never the control server's: the server (control_server.c)
 * calls the VM, the VM only asks for a port bound to it. */
#ifndef MEMOBJ_EMMI_CONTROL_PORT_H
#define MEMOBJ_EMMI_CONTROL_PORT_H

#include <stdbool.h>
#include <stdint.h>
#include <mach/mach.h>

#include "ipc/ipc_kernel.h"

/* A new control port, its receive right in the kernel space as
 * *control_k, bound to the control server with the object's id as its
 * context: a control call sent to it runs the server in the sender's
 * thread. KERN_SUCCESS, or the ipc error (nothing is left allocated). */
kern_return_t emmi_control_port_allocate(uint64_t object_id,
        mach_port_name_t *control_k);

/* True when `name` in `space` is a right to a control port of this kernel
 * that the control server still serves (terminate hands the receive right
 * to the manager, and then it is a plain port). */
bool emmi_control_port_is_local(ipc_space_t space, mach_port_name_t name);

/* What this kernel knows of the port a name denotes: a plain port (its
 * receive right in a task: maybe a memory object, maybe not), a proxy for
 * a port of another node (that node's to judge), or a kernel object of
 * this node (a control port, the task, host or name-server port, a notify
 * port), which is never a memory object. */
enum emmi_port_kind { EMMI_PORT_PLAIN, EMMI_PORT_REMOTE, EMMI_PORT_KERNEL };
enum emmi_port_kind emmi_port_kind(ipc_space_t space, mach_port_name_t name);

#endif
