/* memobj's own calls: links between kernels in several processes and
 * hosts, and the Mach name service. Addresses: "unix:PATH", "tcp:HOST:PORT". */
#ifndef MACH_MEMOBJ_H
#define MACH_MEMOBJ_H

#include <mach/message.h>

kern_return_t memobj_listen(const char *address);
kern_return_t memobj_connect(const char *address, mach_port_t *name_server);

kern_return_t netname_check_in(mach_port_t server_port, const char *port_name,
        mach_port_t signature, mach_port_t port_id);
kern_return_t netname_look_up(mach_port_t server_port, const char *host_name,
        const char *port_name, mach_port_t *port_id);
kern_return_t netname_check_out(mach_port_t server_port, const char *port_name,
        mach_port_t signature);

#endif
