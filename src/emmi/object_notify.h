/* Dead-name notifications for memory object ports the kernel holds, so a
 * manager's death fails the faults waiting on it. */
#ifndef MEMOBJ_EMMI_OBJECT_NOTIFY_H
#define MEMOBJ_EMMI_OBJECT_NOTIFY_H

#include <mach/mach.h>

/* Requests a dead-name notification for the kernel-space send right. */
kern_return_t emmi_watch_object(mach_port_name_t object_k);
/* Cancels it (before the right leaves the kernel space). */
void emmi_unwatch_object(mach_port_name_t object_k);

#endif
