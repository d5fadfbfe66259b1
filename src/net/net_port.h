/* What the other layers may ask the net layer about a port (the rest of
 * net_internal.h is the net layer's own). */
#ifndef MEMOBJ_NET_PORT_H
#define MEMOBJ_NET_PORT_H

#include <stdbool.h>
#include <mach/mach.h>

#include "ipc/ipc_kernel.h"

/* True when `name` in `space` denotes this node's proxy for a port of
 * another node (its kernel, not this one, judges messages to it). */
bool net_port_is_proxy(ipc_space_t space, mach_port_name_t name);

#endif
