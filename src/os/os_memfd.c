/* memfd page caches: create, size, fill, zero, punch, map. */
#include "os/os_memfd.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>

/* Linux 6.3 names (the headers here are 6.1). */
#ifndef MFD_NOEXEC_SEAL
#define MFD_NOEXEC_SEAL 0x0008U
#endif
#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U
#endif

int os_memfd_create(const char *name)
{
	/* Executable, so that vm_map with VM_PROT_EXECUTE works where
	 * vm.memfd_noexec=1 would seal new memfds against it; older kernels
	 * refuse the flag (EINVAL), vm.memfd_noexec=2 refuses it (EACCES)
	 * and wants the seal. */
	int fd = memfd_create(name, MFD_CLOEXEC | MFD_EXEC);
	if (fd < 0 && errno == EINVAL)
		fd = memfd_create(name, MFD_CLOEXEC);
	if (fd < 0 && errno == EACCES)
		fd = memfd_create(name, MFD_CLOEXEC | MFD_NOEXEC_SEAL);
	return fd < 0 ? -errno : fd;
}

int os_memfd_grow(int fd, uint64_t size)
{
	struct stat st;
	if (fstat(fd, &st) != 0)
		return -errno;
	if ((uint64_t)st.st_size >= size)
		return 0;
	return ftruncate(fd, (off_t)size) == 0 ? 0 : -errno;
}

int os_memfd_write(int fd, uint64_t offset, const void *buf, size_t len)
{
	const char *p = buf;
	while (len > 0) {
		ssize_t n = pwrite(fd, p, len, (off_t)offset);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		p += n;
		offset += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

int os_memfd_zero(int fd, uint64_t offset, uint64_t len)
{
	/* shmem fallocate leaves zeroed pages in the cache: a MISSING fault
	 * never fires on them, which is exactly a zero-fill install. */
	return fallocate(fd, 0, (off_t)offset, (off_t)len) == 0 ? 0 : -errno;
}

int os_memfd_punch(int fd, uint64_t offset, uint64_t len)
{
	return fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
	                 (off_t)offset, (off_t)len) == 0 ? 0 : -errno;
}

int os_memfd_map_fixed(int fd, uintptr_t addr, size_t len, uint64_t offset,
        int prot, int private_copy)
{
	int flags = (private_copy ? MAP_PRIVATE : MAP_SHARED) | MAP_FIXED;
	void *p = mmap((void *)addr, len, prot, flags, fd, (off_t)offset);
	return p == MAP_FAILED ? -errno : 0;
}

int os_memfd_read(int fd, uint64_t offset, void *buf, size_t len)
{
	char *p = buf;
	while (len > 0) {
		ssize_t n = pread(fd, p, len, (off_t)offset);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		p += n;
		offset += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}
