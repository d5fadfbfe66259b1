/* The one dispatcher behind memory_object_server, its seqnos_ twin, the
 * default-pager servers and memory_object_server_routines. */
#ifndef MEMOBJ_EMMI_DISPATCH_H
#define MEMOBJ_EMMI_DISPATCH_H

#include <mach/mach.h>

/* Which message ids a demux function accepts. */
#define EMMI_SERVE_OBJECT  0x1   /* memory_object subsystem, 2200.. */
#define EMMI_SERVE_DEFAULT 0x2   /* memory_object_default, 2250.. */

boolean_t emmi_dispatch(const memory_object_routines_t *routines,
        unsigned subsystems, mach_msg_header_t *in, mach_msg_header_t *out);

#endif
