/* bench_writeback [FILE_MiB] [WRITES] [CLUSTER_KiB ...]: random 4 KiB
 * writes over a file twice MEMOBJ_RESIDENT_MAX (default 256 MiB file,
 * 128 MiB limit), then a synchronous flush (vm_msync) and the unmap,
 * through memobj and the shipped file pager (pagers/file_pager.c,
 * writable), beside plain mmap + msync(MS_SYNC) + munmap of the same file.
 * The memobj run is repeated for each cluster size given (default 4 and
 * 64 KiB). The file's page cache is dropped (POSIX_FADV_DONTNEED) before
 * each run (unless BENCH_WARM is set); every run sees the same offsets and writes its own byte, and
 * every block is checked in the file afterwards. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <mach/mach.h>
#include <memobj/file_pager.h>

static int fd;

/* CPU seconds of the whole process so far (every thread: the pager's
 * too), a figure the machine's noise moves less than wall time. */
static double cpu_s(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e-6;
}

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* BENCH_WARM=1 keeps the file in the page cache: what is left is the
 * cost of paging through memobj, without the disk. */
static void drop_cache(void)
{
	fdatasync(fd);
	if (getenv("BENCH_WARM") == NULL)
		posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
}

static void write_pages(volatile uint8_t *base, const size_t *offs, size_t n,
        const uint8_t *block)
{
	for (size_t i = 0; i < n; i++)
		memcpy((void *)(base + offs[i]), block, 4096);
}

/* Blocks of the file that do not hold `value` at the written offsets. */
static size_t blocks_not_in_file(const size_t *offs, size_t n, uint8_t value)
{
	uint8_t want[4096], got[4096];
	memset(want, value, sizeof want);
	size_t bad = 0;
	for (size_t i = 0; i < n; i++)
		if (pread(fd, got, 4096, (off_t)offs[i]) != 4096 ||
		    memcmp(got, want, 4096) != 0)
			bad++;
	return bad;
}

/* One memobj run with the file pager at `cluster` bytes; seconds. */
static double run_memobj(const char *path, size_t size, vm_size_t cluster,
        const size_t *offs, size_t nwrites, uint8_t value, int *failed)
{
	drop_cache();
	memory_object_t object;
	file_pager_t *pager = file_pager_create_writable(path, cluster, &object);
	if (pager == NULL) {
		perror("file_pager_create_writable");
		exit(1);
	}
	uint8_t block[4096];
	memset(block, value, sizeof block);
	double t0 = now();
	vm_address_t a = 0;
	if (vm_map(mach_task_self(), &a, size, 0, TRUE, object, 0, FALSE,
	           VM_PROT_DEFAULT, VM_PROT_ALL, VM_INHERIT_NONE) != KERN_SUCCESS)
		exit(1);
	write_pages((volatile uint8_t *)a, offs, nwrites, block);
	double t_write = now() - t0;
	double c0 = cpu_s();
	kern_return_t kr = vm_msync(mach_task_self(), a, size, VM_SYNC_SYNCHRONOUS);
	double t_sync = now() - t0;
	double c_sync = cpu_s() - c0;
	vm_deallocate(mach_task_self(), a, size);
	kern_return_t detached = file_pager_wait_detached(pager, 60000);
	double t = now() - t0;
	file_pager_stats_t st;
	file_pager_get_stats(pager, &st);
	file_pager_destroy(pager);
	size_t bad = blocks_not_in_file(offs, nwrites, value);
	printf("memobj cluster %4zu KiB %8.3f s  %7.2f us/write (writes %7.2f, "
	       "+msync %7.2f, +unmap %7.2f us)\n"
	       "    data_request %llu, pages in %llu, data_return %llu, "
	       "MiB written %.1f, write errors %llu, msync %d, detached %d, "
	       "blocks not in file %zu\n"
	       "    msync: %.0f written pages/s, process CPU %.2f us per written page\n",
	       (size_t)(cluster >> 10), t, t / (double)nwrites * 1e6,
	       t_write / (double)nwrites * 1e6, (t_sync - t_write) / (double)nwrites * 1e6,
	       (t - t_sync) / (double)nwrites * 1e6,
	       (unsigned long long)st.data_requests, (unsigned long long)st.pages_in,
	       (unsigned long long)st.data_returns, (double)st.bytes_written / 1048576.0,
	       (unsigned long long)st.write_errors, kr, detached, bad,
	       (double)nwrites / (t_sync - t_write), c_sync / (double)nwrites * 1e6);
	*failed |= bad != 0 || kr != KERN_SUCCESS || st.write_errors != 0;
	return t;
}

int main(int argc, char **argv)
{
	size_t mib = argc > 1 ? strtoull(argv[1], NULL, 0) : 256;
	size_t nwrites = argc > 2 ? strtoull(argv[2], NULL, 0) : 32768;
	size_t size = mib << 20;
	char lim[32];
	snprintf(lim, sizeof lim, "%zum", mib / 2);
	setenv("MEMOBJ_RESIDENT_MAX", lim, 0);
	vm_size_t ps;
	host_page_size(mach_host_self(), &ps);
	char path[] = "/tmp/bench_writeback.XXXXXX";
	fd = mkstemp(path);
	if (fd < 0 || ftruncate(fd, (off_t)size) != 0) {
		perror("file");
		return 1;
	}
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

	/* Plain mmap + msync + munmap. */
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
	printf("mmap + msync           %8.3f s  %7.2f us/write (writes %7.2f us)\n",
	       t_mmap, t_mmap / (double)nwrites * 1e6,
	       t_write_mmap / (double)nwrites * 1e6);
	int failed = blocks_not_in_file(offs, nwrites, 0x5a) != 0;

	size_t default_clusters[] = { 4, 64 };
	int nclusters = argc > 3 ? argc - 3 : 2;
	for (int c = 0; c < nclusters; c++) {
		size_t kib = argc > 3 ? strtoull(argv[3 + c], NULL, 0) : default_clusters[c];
		double t = run_memobj(path, size, (vm_size_t)kib << 10, offs, nwrites,
		                      (uint8_t)(0xa0 + c), &failed);
		printf("    ratio memobj / mmap: %.2fx\n", t / t_mmap);
	}
	unlink(path);
	free(offs);
	close(fd);
	return failed;
}
