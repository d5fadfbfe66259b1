/* Umbrella header for memobj: the Mach EMMI on Linux user space. */
#ifndef MACH_MACH_H
#define MACH_MACH_H

#include <mach/mach_types.h>
#include <mach/kern_return.h>
#include <mach/port.h>
#include <mach/message.h>
#include <mach/mig_errors.h>
#include <mach/mach_port.h>
#include <mach/notify.h>
#include <mach/vm_types.h>
#include <mach/vm_map.h>
#include <mach/mach_host.h>
#include <mach/memory_object_types.h>
#include <mach/memory_object.h>
#include <mach/memory_object_control.h>
#include <mach/default_pager.h>
#include <mach/memobj.h>
#include <mach/memobj_stat.h>
#include <mach/mach_error.h>
#include <mach/mach_init.h>

#endif
