/* memobj-demo: a file read through a memory object, end to end.
 *
 *   memobj-demo [--cluster=SIZE] [--size=SIZE] [--] [FILE]
 *   memobj-demo --help | --version
 *
 * It starts the file pager (pagers/file_pager.c) on FILE, maps the object
 * with vm_map, checksums every byte through the mapping (each first touch
 * of a page is a fault that becomes a memory_object_data_request to the
 * pager), checksums the file again with read(2), and prints PASS when the
 * two agree, with the protocol at a glance. With no FILE it makes its own:
 * SIZE (default 64 MiB) of pseudo-random bytes in a temporary file that is
 * gone when it exits. SIZE takes k, m, g suffixes; the kernel page size
 * comes from MEMOBJ_PAGE_SIZE (default: the system's).
 *
 * Exit status: 0 when the sums match, 1 when they do not (or a step
 * failed), 2 for bad usage (a size that is not > 0, a FILE that is empty
 * or not a regular file). SIGINT/SIGTERM remove the temporary file. */
#include <mach/mach.h>
#include <memobj/file_pager.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tools_common.h"

#define DEFAULT_FILE_SIZE ((uint64_t)64 << 20)
#define PROGRESS_STEP     ((uint64_t)4 << 20)   /* redraw the progress line every 4 MiB */

/* ---- small helpers -------------------------------------------------------- */

static double now_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static const char *human_size(uint64_t bytes, char *buf, size_t len)
{
	if (bytes >= (1u << 20))
		snprintf(buf, len, "%.1f MiB", (double)bytes / (1u << 20));
	else if (bytes >= 1024)
		snprintf(buf, len, "%.1f KiB", (double)bytes / 1024);
	else
		snprintf(buf, len, "%llu B", (unsigned long long)bytes);
	return buf;
}

/* FNV-1a, 64 bits: simple, and every byte counts. */
#define FNV_OFFSET_BASIS 0xcbf29ce484222325ull
#define FNV_PRIME        0x100000001b3ull

static uint64_t fnv1a(uint64_t hash, const uint8_t *bytes, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		hash ^= bytes[i];
		hash *= FNV_PRIME;
	}
	return hash;
}

/* ---- the temporary file ---------------------------------------------------- */

static char temp_path[4096];

static void remove_temp_file(void)
{
	if (temp_path[0])
		unlink(temp_path);
}

/* SIGINT/SIGTERM: remove the temporary file, then die of the signal as
 * the shell expects. Only async-signal-safe calls. */
static void on_stop_signal(int sig)
{
	if (temp_path[0])
		unlink(temp_path);
	signal(sig, SIG_DFL);
	raise(sig);
}

static uint64_t splitmix64(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Writes `size` pseudo-random bytes to a new temporary file. */
static bool make_temp_file(uint64_t size)
{
	const char *dir = getenv("TMPDIR");
	snprintf(temp_path, sizeof temp_path, "%s/memobj-demo.XXXXXX",
	         dir && *dir ? dir : "/tmp");
	int fd = mkstemp(temp_path);
	if (fd < 0) {
		perror("memobj-demo: mkstemp");
		temp_path[0] = '\0';
		return false;
	}
	atexit(remove_temp_file);

	static uint64_t block[8192];   /* 64 KiB at a time */
	uint64_t seed = (uint64_t)time(NULL);
	bool show_progress = isatty(STDOUT_FILENO) && size > 16 * PROGRESS_STEP;
	for (uint64_t done = 0; done < size;) {
		if (show_progress && done % PROGRESS_STEP == 0) {
			printf("\r  writing the file: %3d%%", (int)(done * 100 / size));
			fflush(stdout);
		}
		for (size_t i = 0; i < sizeof block / sizeof block[0]; i++)
			block[i] = splitmix64(&seed);
		size_t chunk = size - done < sizeof block ? (size_t)(size - done) : sizeof block;
		ssize_t n = write(fd, block, chunk);
		if (n <= 0) {
			perror("memobj-demo: write");
			close(fd);
			return false;
		}
		done += (uint64_t)n;
	}
	if (show_progress)
		printf("\r%30s\r", "");
	close(fd);
	return true;
}

/* ---- the two checksums ---------------------------------------------------- */

static bool checksum_with_read(const char *path, uint64_t *hash_out)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		perror("memobj-demo: open");
		return false;
	}
	static uint8_t buffer[1 << 20];
	uint64_t hash = FNV_OFFSET_BASIS;
	ssize_t n;
	while ((n = read(fd, buffer, sizeof buffer)) > 0)
		hash = fnv1a(hash, buffer, (size_t)n);
	close(fd);
	if (n < 0) {
		perror("memobj-demo: read");
		return false;
	}
	*hash_out = hash;
	return true;
}

/* A data_error from the pager reaches us as SIGBUS: report it, don't die. */
static sigjmp_buf memory_error_jump;
static void *volatile memory_error_address;

static void on_sigbus(int sig, siginfo_t *info, void *context)
{
	(void)sig; (void)context;
	memory_error_address = info->si_addr;
	siglongjmp(memory_error_jump, 1);
}

/* Checksums `size` bytes at `mapping`, drawing a progress line on a tty.
 * False when a page could not be read (the pager sent data_error). */
static bool checksum_mapping(const uint8_t *mapping, uint64_t size, uint64_t *hash_out)
{
	bool show_progress = isatty(STDOUT_FILENO) && size > PROGRESS_STEP;
	struct sigaction action = { .sa_sigaction = on_sigbus, .sa_flags = SA_SIGINFO };
	struct sigaction previous;
	sigemptyset(&action.sa_mask);
	sigaction(SIGBUS, &action, &previous);

	/* volatile: they must survive the siglongjmp. */
	volatile uint64_t done = 0;
	volatile uint64_t hash = FNV_OFFSET_BASIS;
	volatile bool ok = true;
	if (sigsetjmp(memory_error_jump, 1) == 0) {
		while (done < size) {
			uint64_t chunk = size - done < PROGRESS_STEP ? size - done : PROGRESS_STEP;
			hash = fnv1a(hash, mapping + done, (size_t)chunk);
			done += chunk;
			if (show_progress) {
				printf("\r  reading through the mapping: %3d%% (%llu of %llu MiB)",
				       (int)(done * 100 / size), (unsigned long long)(done >> 20),
				       (unsigned long long)(size >> 20));
				fflush(stdout);
			}
		}
	} else {
		ok = false;
	}
	sigaction(SIGBUS, &previous, NULL);
	if (show_progress)
		printf("\r%60s\r", "");
	if (!ok)
		fprintf(stderr, "memobj-demo: memory error at offset %llu of the mapping\n",
		        (unsigned long long)((const uint8_t *)memory_error_address - mapping));
	*hash_out = hash;
	return ok;
}

/* ---- the report ----------------------------------------------------------- */

static bool vm_statistics_now(vm_statistics_data_t *stats)
{
	mach_msg_type_number_t count = HOST_VM_INFO_COUNT;
	memset(stats, 0, sizeof *stats);
	return host_statistics(mach_host_self(), HOST_VM_INFO, (host_info_t)stats,
	                       &count) == KERN_SUCCESS;
}

static void print_protocol(const file_pager_stats_t *ps, bool have_vm_stats,
        const vm_statistics_data_t *before, const vm_statistics_data_t *after)
{
	printf("protocol at a glance\n");
	printf("  kernel -> pager  init %llu, data_request %llu, terminate %llu",
	       (unsigned long long)ps->inits, (unsigned long long)ps->data_requests,
	       (unsigned long long)ps->terminates);
	if (ps->data_unlocks || ps->data_returns || ps->synchronizes || ps->unknown_messages)
		printf(", data_unlock %llu, data_return %llu, synchronize %llu, unknown %llu",
		       (unsigned long long)ps->data_unlocks,
		       (unsigned long long)ps->data_returns,
		       (unsigned long long)ps->synchronizes,
		       (unsigned long long)ps->unknown_messages);
	printf("\n  pager -> kernel  change_attributes %llu, data_supply %llu, "
	       "data_unavailable %llu, data_error %llu\n",
	       (unsigned long long)ps->change_attributes,
	       (unsigned long long)ps->data_supplies,
	       (unsigned long long)ps->data_unavailables,
	       (unsigned long long)ps->data_errors);
	printf("  pager            %llu pages in, %llu bytes read from the file",
	       (unsigned long long)ps->pages_in, (unsigned long long)ps->bytes_read);
	if (ps->send_failures)
		printf(", %llu control calls FAILED", (unsigned long long)ps->send_failures);
	printf("\n");
	if (have_vm_stats)
		printf("  kernel           %u faults, %u pages in, %u zero-filled, "
		       "%u messages sent, %u received (host_statistics)\n",
		       after->faults - before->faults, after->pageins - before->pageins,
		       after->zero_fill_count - before->zero_fill_count,
		       after->lookups - before->lookups, after->hits - before->hits);
}

static void usage(FILE *to)
{
	fprintf(to,
	        "usage: memobj-demo [OPTION]... [--] [FILE]\n"
	        "Reads FILE through a memory object (vm_map + the file pager) and checks\n"
	        "every byte against read(2).\n\n"
	        "  FILE               a non-empty regular file; without it, a temporary file\n"
	        "                     of --size pseudo-random bytes, removed at exit\n"
	        "  -c, --cluster=SIZE bytes the pager supplies per request (default 64k)\n"
	        "  -s, --size=SIZE    size of the temporary file (default 64m)\n"
	        "  -h, --help         this text\n"
	        "  -V, --version      the version\n"
	        "SIZE: a number > 0 with an optional k, m or g (1m = 1048576).\n"
	        "MEMOBJ_PAGE_SIZE (environment) sets the kernel page size; see memobj(7).\n");
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "cluster", required_argument, NULL, 'c' },
		{ "size", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = NULL;
	uint64_t cluster = FILE_PAGER_DEFAULT_CLUSTER;
	uint64_t temp_size = DEFAULT_FILE_SIZE;
	int c;
	while ((c = getopt_long(argc, argv, "c:s:hV", options, NULL)) != -1) {
		switch (c) {
		case 'c':
		case 's': {
			uint64_t value;
			if (!tools_parse_size(optarg, &value)) {
				fprintf(stderr, "memobj-demo: --%s=%s: want a size > 0 (e.g. 4096, "
				        "64k, 1m)\n", c == 'c' ? "cluster" : "size", optarg);
				return 2;
			}
			if (c == 'c' && value > ((uint64_t)1 << 30)) {
				fprintf(stderr, "memobj-demo: --cluster=%s: at most 1g\n", optarg);
				return 2;
			}
			*(c == 'c' ? &cluster : &temp_size) = value;
			break;
		}
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("memobj-demo %s\n", MEMOBJ_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (argc - optind > 1) {
		fprintf(stderr, "memobj-demo: one FILE at most ('%s' is extra)\n", argv[optind + 1]);
		usage(stderr);
		return 2;
	}
	if (optind < argc) {
		path = argv[optind];
		struct stat st;
		if (stat(path, &st) != 0) {
			fprintf(stderr, "memobj-demo: %s: %s\n", path, strerror(errno));
			return 1;
		}
		if (!S_ISREG(st.st_mode)) {
			fprintf(stderr, "memobj-demo: %s is not a regular file (it is %s): the file "
			        "pager serves regular files only\n", path,
			        S_ISDIR(st.st_mode) ? "a directory" : S_ISCHR(st.st_mode) ? "a character device"
			        : S_ISBLK(st.st_mode) ? "a block device" : S_ISFIFO(st.st_mode) ? "a pipe"
			        : S_ISSOCK(st.st_mode) ? "a socket" : "not a file");
			return 2;
		}
		if (st.st_size == 0) {
			fprintf(stderr, "memobj-demo: %s is empty: there is nothing to map\n", path);
			return 2;
		}
	}
	if (path == NULL) {
		signal(SIGINT, on_stop_signal);
		signal(SIGTERM, on_stop_signal);
		char size_text[32];
		printf("making a temporary file of %s of pseudo-random bytes\n",
		       human_size(temp_size, size_text, sizeof size_text));
		fflush(stdout);
		if (!make_temp_file(temp_size))
			return 1;
		path = temp_path;
	}

	/* Read-only on purpose: the demo only reads, and a read-only mapping
	 * is served without dirty tracking (see docs/architecture.md). */
	memory_object_t object;
	file_pager_t *pager = file_pager_create(path, cluster, &object);
	if (pager == NULL) {
		fprintf(stderr, "memobj-demo: %s: %s\n", path, strerror(errno));
		return 1;
	}
	uint64_t size = file_pager_file_size(pager);
	vm_size_t page_size = 0;
	host_page_size(mach_host_self(), &page_size);
	char size_text[32], cluster_text[32];
	printf("memobj-demo: %s (%s, kernel page %llu B, cluster %s)\n", path,
	       human_size(size, size_text, sizeof size_text), (unsigned long long)page_size,
	       human_size(cluster, cluster_text, sizeof cluster_text));

	vm_statistics_data_t before, after;
	bool have_vm_stats = vm_statistics_now(&before);

	/* 1. Through the memory object. */
	uint64_t mapped_hash = FNV_OFFSET_BASIS;
	bool mapped_ok = true;
	double mapped_seconds = 0;
	if (size > 0) {
		vm_address_t address = 0;
		kern_return_t kr = vm_map(mach_task_self(), &address, size, 0, TRUE, object,
		        0, FALSE, VM_PROT_READ, VM_PROT_READ, VM_INHERIT_DEFAULT);
		if (kr != KERN_SUCCESS) {
			fprintf(stderr, "memobj-demo: vm_map failed: kern_return %d\n", kr);
			file_pager_destroy(pager);
			return 1;
		}
		double start = now_seconds();
		mapped_ok = checksum_mapping((const uint8_t *)(uintptr_t)address, size,
		                             &mapped_hash);
		mapped_seconds = now_seconds() - start;
		vm_deallocate(mach_task_self(), address, size);
		/* Unmapping lets the kernel terminate the object (may_cache off). */
		if (file_pager_wait_detached(pager, 5000) != KERN_SUCCESS)
			fprintf(stderr, "memobj-demo: no memory_object_terminate within 5 s of the unmap\n");
	} else {
		printf("  the file is empty: nothing to map\n");
	}
	have_vm_stats = have_vm_stats && vm_statistics_now(&after);

	/* 2. With read(2), the reference. */
	uint64_t read_hash = 0;
	double start = now_seconds();
	bool read_ok = checksum_with_read(path, &read_hash);
	double read_seconds = now_seconds() - start;

	double mib = (double)size / (1 << 20);
	printf("  vm_map   fnv1a-64 %016llx  %.3f s", (unsigned long long)mapped_hash,
	       mapped_seconds);
	if (size > 0 && mapped_seconds > 0)
		printf("  (%.0f MiB/s)", mib / mapped_seconds);
	printf("\n  read(2)  fnv1a-64 %016llx  %.3f s", (unsigned long long)read_hash,
	       read_seconds);
	if (size > 0 && read_seconds > 0)
		printf("  (%.0f MiB/s)", mib / read_seconds);
	printf("\n");

	file_pager_stats_t stats;
	file_pager_get_stats(pager, &stats);
	print_protocol(&stats, have_vm_stats, &before, &after);
	file_pager_destroy(pager);

	bool pass = mapped_ok && read_ok && mapped_hash == read_hash;
	printf("%s: %s\n", pass ? "PASS" : "FAIL",
	       pass ? "every byte through the mapping is the file's byte"
	            : "the mapping does not show the file");
	return pass ? 0 : 1;
}
