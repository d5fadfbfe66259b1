/* A client of an installed memobj: maps a file through the installed file
 * pager and checks every byte. Built by tests/install_tree.sh with
 * pkg-config and with find_package(memobj), outside the source tree. */
#include <mach/mach.h>
#include <memobj/file_pager.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s FILE\n", argv[0]);
		return 2;
	}
	FILE *f = fopen(argv[1], "rb");
	if (f == NULL) {
		perror(argv[1]);
		return 1;
	}
	static char want[1 << 16];
	size_t n = fread(want, 1, sizeof want, f);
	fclose(f);

	memory_object_t object;
	file_pager_t *pager = file_pager_create(argv[1], 0, &object);
	if (pager == NULL) {
		perror("file_pager_create");
		return 1;
	}
	vm_address_t addr = 0;
	kern_return_t kr = vm_map(mach_task_self(), &addr, n, 0, TRUE, object, 0, FALSE,
	            VM_PROT_READ, VM_PROT_READ, VM_INHERIT_NONE);
	if (kr != KERN_SUCCESS) {
		fprintf(stderr, "vm_map: %d\n", kr);
		return 1;
	}
	int ok = memcmp((void *)addr, want, n) == 0;
	vm_deallocate(mach_task_self(), addr, n);
	file_pager_wait_detached(pager, 10000);
	file_pager_destroy(pager);
	printf("%s: %zu bytes through the installed library\n", ok ? "PASS" : "FAIL", n);
	return ok ? 0 : 1;
}
