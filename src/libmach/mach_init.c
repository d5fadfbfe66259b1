/* What a Mach program finds set up before main (OSF/XNU mach_init):
 * vm_page_size, vm_page_mask, vm_page_shift and name_server_port.
 * They are plain variables, so a constructor fills them when the library
 * is loaded (before the program's own constructors when it is a shared
 * library). The page size is the kernel's, read the same way the kernel
 * reads it when it starts (MEMOBJ_PAGE_SIZE, else the system's). */
#include <mach/mach.h>

#include <unistd.h>

#include "net/net_internal.h"
#include "vm/vm_kernel.h"

vm_size_t vm_page_size;
vm_size_t vm_page_mask;
int vm_page_shift;
mach_port_t name_server_port;

__attribute__((constructor)) static void mach_init(void)
{
	long sys = sysconf(_SC_PAGESIZE);
	vm_size_t size = vm_kernel_page_size_from_env(sys > 0 ? (vm_size_t)sys : 4096);
	vm_page_size = size;
	vm_page_mask = size - 1;
	vm_page_shift = __builtin_ctzll(size);
	mach_port_t ns = MACH_PORT_NULL;
	if (net_name_server_right(&ns) == KERN_SUCCESS)
		name_server_port = ns;
}
