/* mincore and /proc/self/pagemap over anonymous mappings. */
#include "os/os_pagemap.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#define PAGEMAP_PRESENT (1ull << 63)
#define PAGEMAP_SWAPPED (1ull << 62)
#define PAGEMAP_SWAP_TYPE(e) ((e) & 0x1f)
/* A swap entry of the last type is a PTE marker (e.g. a userfaultfd
 * write-protect marker on a never-touched page): no data behind it. */
#define PAGEMAP_MARKER_TYPE 0x1f

long os_mincore_count(uintptr_t addr, size_t len)
{
	size_t ps = (size_t)sysconf(_SC_PAGESIZE);
	size_t n = (len + ps - 1) / ps;
	enum { CHUNK = 4096 };
	unsigned char vec[CHUNK];
	long count = 0;
	for (size_t done = 0; done < n;) {
		size_t m = n - done < CHUNK ? n - done : CHUNK;
		if (mincore((void *)(addr + done * ps), m * ps, vec) != 0)
			return -errno;
		for (size_t i = 0; i < m; i++)
			count += vec[i] & 1;
		done += m;
	}
	return count;
}

int os_pagemap_used(uintptr_t addr, size_t len, uint8_t *out)
{
	size_t ps = (size_t)sysconf(_SC_PAGESIZE);
	size_t n = (len + ps - 1) / ps;
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	enum { CHUNK = 512 };
	uint64_t ent[CHUNK];
	int err = 0;
	for (size_t done = 0; done < n && err == 0;) {
		size_t m = n - done < CHUNK ? n - done : CHUNK;
		off_t at = (off_t)((addr / ps + done) * sizeof(uint64_t));
		ssize_t got = pread(fd, ent, m * sizeof(uint64_t), at);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			break;
		}
		size_t k = (size_t)got / sizeof(uint64_t);
		if (k == 0) {
			err = -EIO;
			break;
		}
		for (size_t i = 0; i < k; i++)
			out[done + i] = (ent[i] & PAGEMAP_PRESENT) ||
			                ((ent[i] & PAGEMAP_SWAPPED) &&
			                 PAGEMAP_SWAP_TYPE(ent[i]) != PAGEMAP_MARKER_TYPE);
		done += k;
	}
	close(fd);
	return err;
}
