/* bench_writeback [FILE_MiB] [WRITES]: random 4 KiB writes over a file
 * twice MEMOBJ_RESIDENT_MAX (default 256 MiB file, 128 MiB limit), then a
 * synchronous flush, through memobj and a file-backed manager
 * (data_request -> pread + data_supply, data_return -> pwrite,
 * synchronize -> fdatasync + synchronize_completed), beside plain mmap +
 * msync(MS_SYNC) of the same file. The file's page cache is dropped
 * (POSIX_FADV_DONTNEED) before each run; both runs see the same offsets.
 *
 * The manager here is the bench's own: the shipped pagers/file_pager.c
 * belongs to another issue. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <mach/mach.h>

static int fd;
static mach_port_t object;
static vm_size_t ps;
static volatile unsigned long requests, returns;

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

kern_return_t memory_object_init(memory_object_t o, memory_object_control_t c,
        vm_size_t page_size)
{
	(void)o; (void)page_size;
	memory_object_attr_info_data_t attr = {
		.copy_strategy = MEMORY_OBJECT_COPY_DELAY,
		.cluster_size = (memory_object_cluster_size_t)ps,
		.may_cache = FALSE, .temporary = FALSE };
	return memory_object_change_attributes(c, MEMORY_OBJECT_ATTRIBUTE_INFO,
	        (memory_object_info_t)&attr, MEMORY_OBJECT_ATTR_INFO_COUNT,
	        MACH_PORT_NULL);
}

kern_return_t memory_object_terminate(memory_object_t o, memory_object_control_t c)
{
	(void)o;
	mach_port_destroy(mach_task_self(), c);
	return KERN_SUCCESS;
}

kern_return_t memory_object_data_request(memory_object_t o,
        memory_object_control_t c, vm_offset_t off, vm_size_t len, vm_prot_t a)
{
	(void)o; (void)a;
	requests++;
	vm_address_t buf = 0;
	vm_allocate(mach_task_self(), &buf, len, TRUE);
	if (pread(fd, (void *)buf, len, (off_t)off) < 0)
		memory_object_data_error(c, off, len, KERN_MEMORY_ERROR);
	else
		memory_object_data_supply(c, off, buf, (mach_msg_type_number_t)len,
		        TRUE, VM_PROT_NONE, FALSE, MACH_PORT_NULL);
	mach_port_deallocate(mach_task_self(), c);
	return KERN_SUCCESS;
}

kern_return_t memory_object_data_return(memory_object_t o,
        memory_object_control_t c, vm_offset_t off, pointer_t data,
        mach_msg_type_number_t count, boolean_t dirty, boolean_t kernel_copy)
{
	(void)o; (void)kernel_copy;
	returns++;
	if (dirty && pwrite(fd, (void *)data, count, (off_t)off) != (ssize_t)count)
		fprintf(stderr, "pwrite: %s\n", strerror(errno));
	vm_deallocate(mach_task_self(), data, count);
	mach_port_deallocate(mach_task_self(), c);
	return KERN_SUCCESS;
}

kern_return_t memory_object_synchronize(memory_object_t o,
        memory_object_control_t c, vm_offset_t off, vm_size_t len, vm_sync_t f)
{
	(void)o; (void)f;
	fdatasync(fd);
	memory_object_synchronize_completed(c, off, len);
	mach_port_deallocate(mach_task_self(), c);
	return KERN_SUCCESS;
}

static void *server(void *arg)
{
	(void)arg;
	mach_msg_server(memory_object_server, MEMORY_OBJECT_MSG_SIZE_MAX, object, 0);
	return NULL;
}

static void drop_cache(void)
{
	fdatasync(fd);
	posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
}

static void write_pages(volatile uint8_t *base, const size_t *offs, size_t n,
        const uint8_t *block)
{
	for (size_t i = 0; i < n; i++)
		memcpy((void *)(base + offs[i]), block, 4096);
}

int main(int argc, char **argv)
{
	size_t mib = argc > 1 ? strtoull(argv[1], NULL, 0) : 256;
	size_t nwrites = argc > 2 ? strtoull(argv[2], NULL, 0) : 32768;
	size_t size = mib << 20;
	char lim[32];
	snprintf(lim, sizeof lim, "%zum", mib / 2);
	setenv("MEMOBJ_RESIDENT_MAX", lim, 0);
	host_page_size(mach_host_self(), &ps);
	char path[] = "/tmp/bench_writeback.XXXXXX";
	fd = mkstemp(path);
	if (fd < 0 || ftruncate(fd, (off_t)size) != 0) {
		perror("file");
		return 1;
	}
	unlink(path);
	/* A real file: blocks allocated, so neither side pays for holes. */
	uint8_t *zero = calloc(1, 1 << 20);
	for (size_t off = 0; off < size; off += 1 << 20)
		if (pwrite(fd, zero, 1 << 20, (off_t)off) < 0)
			return 1;
	free(zero);
	uint8_t block[4096];
	memset(block, 0x5a, sizeof block);
	size_t *offs = malloc(nwrites * sizeof *offs);
	uint64_t r = 88172645463325252ull;
	for (size_t i = 0; i < nwrites; i++) {
		r ^= r << 13; r ^= r >> 7; r ^= r << 17;
		offs[i] = (size_t)(r % (size / 4096)) * 4096;
	}
	printf("file %zu MiB, MEMOBJ_RESIDENT_MAX=%s, %zu random 4 KiB writes, "
	       "kernel page %llu\n", mib, getenv("MEMOBJ_RESIDENT_MAX"), nwrites,
	       (unsigned long long)ps);

	/* Plain mmap + msync. */
	drop_cache();
	double t0 = now();
	uint8_t *m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED)
		return 1;
	write_pages(m, offs, nwrites, block);
	double t_write_mmap = now() - t0;
	msync(m, size, MS_SYNC);
	munmap(m, size);
	double t_mmap = now() - t0;

	/* memobj. */
	drop_cache();
	mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE, &object);
	mach_port_insert_right(mach_task_self(), object, object, MACH_MSG_TYPE_MAKE_SEND);
	pthread_t t;
	pthread_create(&t, NULL, server, NULL);
	memset(block, 0xa5, sizeof block);
	t0 = now();
	vm_address_t a = 0;
	if (vm_map(mach_task_self(), &a, size, 0, TRUE, object, 0, FALSE,
	           VM_PROT_DEFAULT, VM_PROT_ALL, VM_INHERIT_NONE) != KERN_SUCCESS)
		return 1;
	write_pages((volatile uint8_t *)a, offs, nwrites, block);
	double t_write_memobj = now() - t0;
	kern_return_t kr = vm_msync(mach_task_self(), a, size, VM_SYNC_SYNCHRONOUS);
	vm_deallocate(mach_task_self(), a, size);
	double t_memobj = now() - t0;

	/* Check: every written block reached the file. */
	size_t bad = 0;
	uint8_t got[4096];
	for (size_t i = 0; i < nwrites; i++)
		if (pread(fd, got, 4096, (off_t)offs[i]) != 4096 ||
		    memcmp(got, block, 4096) != 0)
			bad++;

	printf("%-22s %9.3f s  %7.2f us/write (writes alone %7.2f us)\n",
	       "mmap + msync", t_mmap, t_mmap / (double)nwrites * 1e6,
	       t_write_mmap / (double)nwrites * 1e6);
	printf("%-22s %9.3f s  %7.2f us/write (writes alone %7.2f us)\n",
	       "memobj + vm_msync", t_memobj, t_memobj / (double)nwrites * 1e6,
	       t_write_memobj / (double)nwrites * 1e6);
	printf("ratio memobj / mmap: %.2fx  (data_request %lu, data_return %lu, "
	       "msync %d, blocks not in file %zu)\n", t_memobj / t_mmap, requests,
	       returns, kr, bad);
	free(offs);
	close(fd);
	return bad != 0;
}
