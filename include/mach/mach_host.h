/* Host calls: page size, statistics, default memory manager. */
#ifndef MACH_MACH_HOST_H
#define MACH_MACH_HOST_H

#include <mach/vm_types.h>
#include <mach/message.h>

typedef integer_t host_flavor_t;
typedef integer_t *host_info_t;
#define HOST_VM_INFO 2
#define HOST_VM_INFO_COUNT \
	((mach_msg_type_number_t)(sizeof(vm_statistics_data_t) / sizeof(integer_t)))

kern_return_t host_page_size(host_t host, vm_size_t *page_size);
kern_return_t host_statistics(host_t host, host_flavor_t flavor,
        host_info_t host_info, mach_msg_type_number_t *host_info_count);

/* Registers *default_manager as the kernel's default pager when it is a
 * valid send right (returning the previous one in its place), or reads the
 * current one back when it is MACH_PORT_NULL. */
kern_return_t host_default_memory_manager(host_priv_t host_priv,
        memory_object_default_t *default_manager, vm_size_t cluster_size);
kern_return_t vm_set_default_memory_manager(host_priv_t host_priv,
        memory_object_default_t *default_manager);

#endif
