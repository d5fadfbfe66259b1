/* Basic Mach scalar types. vm_* quantities are 64-bit; port names are
 * 32-bit names in the task's name space, as on a 64-bit XNU. */
#ifndef MACH_MACH_TYPES_H
#define MACH_MACH_TYPES_H

#include <stdint.h>
#include <stddef.h>
#include <mach/kern_return.h>
#include <mach/boolean.h>

typedef uint32_t natural_t;
typedef int32_t  integer_t;

typedef uint64_t vm_size_t;
typedef uint64_t vm_offset_t;
typedef uint64_t vm_address_t;
typedef uint64_t pointer_t;          /* an address handed across the interface */
typedef uint64_t mach_vm_size_t;
typedef uint64_t mach_vm_address_t;

typedef natural_t mach_port_name_t;
typedef mach_port_name_t mach_port_t;
typedef mach_port_t *mach_port_array_t;
typedef natural_t mach_port_right_t;
typedef natural_t mach_port_type_t;
typedef natural_t mach_port_urefs_t;
typedef integer_t mach_port_delta_t;
typedef natural_t mach_port_seqno_t;
typedef natural_t mach_port_mscount_t;
typedef natural_t mach_port_msgcount_t;
typedef natural_t mach_port_rights_t;
typedef unsigned int mach_port_flavor_t;
typedef integer_t *mach_port_info_t;

typedef mach_port_t task_t;
typedef mach_port_t task_port_t;
typedef mach_port_t vm_task_t;
typedef mach_port_t ipc_space_name_t;
typedef mach_port_t host_t;
typedef mach_port_t host_priv_t;
typedef mach_port_t thread_t;
typedef mach_port_t memory_object_t;
typedef mach_port_t memory_object_control_t;
typedef mach_port_t memory_object_name_t;
typedef mach_port_t memory_object_default_t;
typedef mach_port_t default_pager_t;
typedef mach_port_t mach_port_array_element_t;

#define TASK_NULL              ((task_t)0)
#define HOST_NULL              ((host_t)0)
#define MEMORY_OBJECT_NULL     ((memory_object_t)0)
#define MEMORY_OBJECT_CONTROL_NULL ((memory_object_control_t)0)
#define MEMORY_OBJECT_DEFAULT_NULL ((memory_object_default_t)0)

#endif
