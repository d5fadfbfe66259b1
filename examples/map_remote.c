/* map_remote: map an object another process serves (memobjd) and print it.
 *
 *   example_map_remote ADDRESS NAME [BYTES]
 *
 * connects to the node at ADDRESS (unix:PATH or tcp:HOST:PORT), looks NAME
 * up with its name server, maps it read-only and writes its first BYTES
 * (default: one page) to standard output. Every first touch of a page is
 * a fault this kernel sends to that node's pager as a data_request. */
#include <mach/mach.h>

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc < 3 || argc > 4) {
		fprintf(stderr, "usage: %s ADDRESS NAME [BYTES]\n", argv[0]);
		return 2;
	}
	vm_size_t page;
	host_page_size(mach_host_self(), &page);
	unsigned long long bytes = argc == 4 ? strtoull(argv[3], NULL, 0) : page;
	if (bytes == 0) {
		fprintf(stderr, "%s: BYTES must be > 0\n", argv[0]);
		return 2;
	}
	mach_port_t ns, object;
	kern_return_t kr = memobj_connect(argv[1], &ns);
	if (kr != KERN_SUCCESS) {
		fprintf(stderr, "%s: memobj_connect %s: %#x\n", argv[0], argv[1], kr);
		return 1;
	}
	kr = netname_look_up(ns, "", argv[2], &object);
	if (kr != KERN_SUCCESS) {
		fprintf(stderr, "%s: netname_look_up %s: %#x\n", argv[0], argv[2], kr);
		return 1;
	}
	vm_size_t size = (bytes + page - 1) & ~(page - 1);
	vm_address_t addr = 0;
	kr = vm_map(mach_task_self(), &addr, size, 0, TRUE, object, 0, FALSE,
	        VM_PROT_READ, VM_PROT_READ, VM_INHERIT_NONE);
	if (kr != KERN_SUCCESS) {
		fprintf(stderr, "%s: vm_map: %#x\n", argv[0], kr);
		return 1;
	}
	/* Plain memory: write(2) would not fault the pages in (a system call
	 * touching a non-resident page gets EFAULT), so copy them first. */
	char *copy = malloc(bytes);
	if (copy == NULL)
		return 1;
	for (unsigned long long i = 0; i < bytes; i++)
		copy[i] = ((volatile char *)addr)[i];
	fwrite(copy, 1, bytes, stdout);
	free(copy);
	vm_deallocate(mach_task_self(), addr, size);
	mach_port_deallocate(mach_task_self(), object);
	mach_port_deallocate(mach_task_self(), ns);
	return 0;
}
