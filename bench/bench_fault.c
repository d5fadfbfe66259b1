/* bench_fault: what one page fault costs when a memobj pager serves it,
 * against the floor the platform allows.
 *
 * One run reads one byte per page of a large object (1 GiB unless
 * MEMOBJ_BENCH_MB says otherwise), first in address order, then in a
 * shuffled order (fixed seed), and times it for three ways of serving the
 * faults, each at cluster sizes 4 KiB, 64 KiB and 1 MiB:
 *
 *   memobj          vm_map of a memory object whose in-process pager
 *                   supplies each requested cluster from data in memory;
 *   raw-uffd(anon)  the least a user-space pager can do: one thread reading
 *                   userfaultfd events and answering each with UFFDIO_COPY
 *                   of the cluster around the fault, from the same data;
 *   raw-uffd(memfd) the same over a memfd mapped shared (memobj's page
 *                   cache is a memfd, so this is its real floor);
 *   mmap(file)      plain mmap of a file already in the page cache.
 *
 * It prints µs per fault, µs per page and pages/s, then the ratios memobj
 * against the raw handlers. Every run checks the bytes it read. The whole
 * suite runs twice: with threads where the scheduler puts them, then with
 * every thread on CPU 0 -- on a VM a cross-CPU wake-up can cost more than
 * the fault itself, and the second pass shows what is left without it.
 *
 *   bench_fault [memobj] [raw] [mmap]    (default: all three)
 */
#include <mach/mach.h>

#include <dirent.h>
#include <errno.h>
#include <sched.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static const size_t cluster_sizes[] = { 4096, 64 * 1024, 1024 * 1024 };
#define N_CLUSTERS (sizeof cluster_sizes / sizeof cluster_sizes[0])

enum pattern { SEQUENTIAL, RANDOM, N_PATTERNS };
static const char *const pattern_names[N_PATTERNS] = { "sequential", "random" };

/* The object every method serves, prepared once in memory. */
static size_t object_size;
static size_t page_size;
static size_t page_count;
static uint8_t *object_data;
static uint32_t *page_order[N_PATTERNS];
static uint64_t expected_sum;   /* of the first byte of every page */

static void die(const char *what)
{
	perror(what);
	exit(2);
}

static double now_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t splitmix64(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void prepare_object(void)
{
	const char *mb = getenv("MEMOBJ_BENCH_MB");
	size_t megabytes = mb ? strtoul(mb, NULL, 10) : 1024;
	if (megabytes == 0)
		megabytes = 1;
	object_size = megabytes << 20;
	page_size = (size_t)sysconf(_SC_PAGESIZE);
	page_count = object_size / page_size;

	object_data = mmap(NULL, object_size, PROT_READ | PROT_WRITE,
	                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (object_data == MAP_FAILED)
		die("mmap object data");
	uint64_t seed = 42;
	uint64_t *words = (uint64_t *)object_data;
	for (size_t i = 0; i < object_size / sizeof *words; i++)
		words[i] = splitmix64(&seed);
	for (size_t p = 0; p < page_count; p++)
		expected_sum += object_data[p * page_size];

	for (int pat = 0; pat < N_PATTERNS; pat++) {
		page_order[pat] = malloc(page_count * sizeof(uint32_t));
		if (!page_order[pat])
			die("malloc page order");
		for (size_t p = 0; p < page_count; p++)
			page_order[pat][p] = (uint32_t)p;
	}
	/* Fisher-Yates with a fixed seed: the same "random" order every run. */
	uint64_t shuffle = 7;
	uint32_t *order = page_order[RANDOM];
	for (size_t i = page_count - 1; i > 0; i--) {
		size_t j = splitmix64(&shuffle) % (i + 1);
		uint32_t t = order[i];
		order[i] = order[j];
		order[j] = t;
	}
}

/* The measured loop: one byte from every page, in the given order. */
static uint64_t touch_pages(const volatile uint8_t *base, const uint32_t *order)
{
	uint64_t sum = 0;
	for (size_t i = 0; i < page_count; i++)
		sum += base[(size_t)order[i] * page_size];
	return sum;
}

static long minor_faults(void)
{
	struct rusage ru;
	getrusage(RUSAGE_THREAD, &ru);
	return ru.ru_minflt;
}

/* ---- results ---------------------------------------------------------- */

typedef struct result {
	const char *method;
	enum pattern pattern;
	size_t cluster;          /* 0: not applicable */
	uint64_t faults;
	double seconds;
} result_t;

#define MAX_RESULTS 64
static result_t results[MAX_RESULTS];
static int result_count;
static int checks_failed;

static void record(const char *method, enum pattern pat, size_t cluster,
        uint64_t faults, double seconds, uint64_t sum)
{
	if (sum != expected_sum) {
		fprintf(stderr, "%s %s: read the wrong bytes (sum %llu, expected %llu)\n",
		        method, pattern_names[pat], (unsigned long long)sum,
		        (unsigned long long)expected_sum);
		checks_failed++;
	}
	result_t *r = &results[result_count++];
	*r = (result_t){ method, pat, cluster, faults, seconds };
	char cl[32] = "-";
	if (cluster)
		snprintf(cl, sizeof cl, "%zu KiB", cluster / 1024);
	double us_fault = faults ? seconds * 1e6 / (double)faults : 0;
	printf("%-16s %-10s %8s %9llu %10.2f %9.2f %10.0f\n", method,
	       pattern_names[pat], cl, (unsigned long long)faults, us_fault,
	       seconds * 1e6 / (double)page_count, (double)page_count / seconds);
	fflush(stdout);
}

static const result_t *find(const char *method, enum pattern pat, size_t cluster)
{
	for (int i = 0; i < result_count; i++)
		if (!strcmp(results[i].method, method) && results[i].pattern == pat &&
		    results[i].cluster == cluster)
			return &results[i];
	return NULL;
}

/* ---- the floor: a raw userfaultfd handler ----------------------------- */

typedef struct raw_handler {
	int uffd;
	uint8_t *region;
	size_t cluster;
	uint64_t events;
	pthread_t thread;
} raw_handler_t;

/* Copies the cluster around one faulting address, as a pager would. */
static void raw_serve(raw_handler_t *h, uint64_t address)
{
	size_t offset = ((uintptr_t)address - (uintptr_t)h->region) & ~(h->cluster - 1);
	size_t end = offset + h->cluster < object_size ? offset + h->cluster : object_size;
	while (offset < end) {
		struct uffdio_copy copy = {
			.dst = (uintptr_t)h->region + offset,
			.src = (uintptr_t)object_data + offset,
			.len = end - offset,
		};
		if (ioctl(h->uffd, UFFDIO_COPY, &copy) == 0)
			return;
		if (copy.copy > 0)
			offset += (size_t)copy.copy;
		else if (errno == EEXIST)
			offset += page_size;      /* already there: skip that page */
		else if (errno != EAGAIN)
			die("UFFDIO_COPY");
	}
}

/* Blocks in read(2) for events; stopped by pthread_cancel. */
static void *raw_handler_main(void *arg)
{
	raw_handler_t *h = arg;
	for (;;) {
		struct uffd_msg msgs[16];
		ssize_t n = read(h->uffd, msgs, sizeof msgs);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			die("read userfaultfd");
		}
		for (size_t i = 0; i < (size_t)n / sizeof msgs[0]; i++) {
			if (msgs[i].event != UFFD_EVENT_PAGEFAULT)
				continue;
			h->events++;
			raw_serve(h, msgs[i].arg.pagefault.address);
		}
	}
	return NULL;
}

static void run_raw(const char *method, bool over_memfd, enum pattern pat,
        size_t cluster)
{
	raw_handler_t h = { .cluster = cluster };
	int memfd = -1;
	if (over_memfd) {
		memfd = memfd_create("bench_fault", MFD_CLOEXEC);
		if (memfd < 0 || ftruncate(memfd, (off_t)object_size) != 0)
			die("memfd");
		h.region = mmap(NULL, object_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		                memfd, 0);
	} else {
		h.region = mmap(NULL, object_size, PROT_READ | PROT_WRITE,
		                MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	}
	if (h.region == MAP_FAILED)
		die("mmap region");

	h.uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | UFFD_USER_MODE_ONLY);
	if (h.uffd < 0)
		die("userfaultfd");
	struct uffdio_api api = { .api = UFFD_API };
	if (ioctl(h.uffd, UFFDIO_API, &api) != 0)
		die("UFFDIO_API");
	struct uffdio_register reg = {
		.range = { .start = (uintptr_t)h.region, .len = object_size },
		.mode = UFFDIO_REGISTER_MODE_MISSING,
	};
	if (ioctl(h.uffd, UFFDIO_REGISTER, &reg) != 0)
		die("UFFDIO_REGISTER");
	if (pthread_create(&h.thread, NULL, raw_handler_main, &h) != 0)
		die("pthread_create");

	double start = now_seconds();
	uint64_t sum = touch_pages(h.region, page_order[pat]);
	double seconds = now_seconds() - start;

	pthread_cancel(h.thread);
	pthread_join(h.thread, NULL);
	close(h.uffd);
	munmap(h.region, object_size);
	if (memfd >= 0)
		close(memfd);
	record(method, pat, cluster, h.events, seconds, sum);
}

/* ---- plain mmap of a file in the page cache ---------------------------- */

static int make_cached_file(void)
{
	const char *dir = getenv("TMPDIR");
	char path[4096];
	snprintf(path, sizeof path, "%s/bench_fault.XXXXXX", dir ? dir : "/var/tmp");
	int fd = mkstemp(path);
	if (fd < 0)
		die("mkstemp");
	unlink(path);   /* the open descriptor keeps it; nothing is left behind */
	for (size_t done = 0; done < object_size;) {
		ssize_t n = write(fd, object_data + done, object_size - done);
		if (n <= 0)
			die("write bench file");
		done += (size_t)n;
	}
	return fd;
}

static void run_mmap(int fd, enum pattern pat)
{
	uint8_t *map = mmap(NULL, object_size, PROT_READ, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED)
		die("mmap file");
	long faults_before = minor_faults();
	double start = now_seconds();
	uint64_t sum = touch_pages(map, page_order[pat]);
	double seconds = now_seconds() - start;
	long faults = minor_faults() - faults_before;
	munmap(map, object_size);
	record("mmap(file)", pat, 0, (uint64_t)faults, seconds, sum);
}

/* ---- memobj: an in-process pager serving from memory ------------------ */

/* Private message id that tells a bench pager's server loop to stop. */
#define BENCH_PAGER_QUIT_ID 0x62656e63

typedef struct bench_pager {
	mach_port_t object;
	size_t cluster;
	pthread_t thread;
	bool quit;                    /* only the server thread touches it */
	atomic_ullong requests;
	pthread_mutex_t lock;
	pthread_cond_t terminated_cond;
	bool terminated;
} bench_pager_t;

/* Each server thread serves exactly one pager. */
static _Thread_local bench_pager_t *served_pager;

static kern_return_t bench_init(memory_object_t object, mach_port_seqno_t seqno,
        memory_object_control_t control, vm_size_t kernel_page_size)
{
	(void)object; (void)seqno; (void)kernel_page_size;
	memory_object_perf_info_data_t perf = {
		.cluster_size = (memory_object_cluster_size_t)served_pager->cluster,
		.may_cache = FALSE,
	};
	return memory_object_change_attributes(control, MEMORY_OBJECT_PERFORMANCE_INFO,
	        (memory_object_info_t)&perf, MEMORY_OBJECT_PERF_INFO_COUNT,
	        MACH_PORT_NULL);
}

static kern_return_t bench_data_request(memory_object_t object,
        mach_port_seqno_t seqno, memory_object_control_t control,
        vm_offset_t offset, vm_size_t length, vm_prot_t access)
{
	(void)object; (void)seqno; (void)access;
	atomic_fetch_add_explicit(&served_pager->requests, 1, memory_order_relaxed);
	if (offset + length > object_size)
		length = offset < object_size ? object_size - offset : 0;
	kern_return_t kr = length == 0
	        ? memory_object_data_unavailable(control, offset, page_size)
	        : memory_object_data_supply(control, offset,
	                (pointer_t)(uintptr_t)(object_data + offset),
	                (mach_msg_type_number_t)length, FALSE, VM_PROT_NONE, FALSE,
	                MACH_PORT_NULL);
	if (kr != KERN_SUCCESS)
		fprintf(stderr, "bench pager: supply at %#llx: %d\n",
		        (unsigned long long)offset, kr);
	/* The request brought one more reference to the control port. */
	mach_port_deallocate(mach_task_self(), control);
	return KERN_SUCCESS;
}

static kern_return_t bench_terminate(memory_object_t object,
        mach_port_seqno_t seqno, memory_object_control_t control)
{
	(void)object; (void)seqno;
	mach_port_destroy(mach_task_self(), control);  /* receive + send rights */
	pthread_mutex_lock(&served_pager->lock);
	served_pager->terminated = true;
	pthread_cond_broadcast(&served_pager->terminated_cond);
	pthread_mutex_unlock(&served_pager->lock);
	return KERN_SUCCESS;
}

static const memory_object_routines_t bench_routines = {
	.init = bench_init,
	.data_request = bench_data_request,
	.terminate = bench_terminate,
};

static boolean_t bench_demux(mach_msg_header_t *in, mach_msg_header_t *out)
{
	if (in->msgh_id == BENCH_PAGER_QUIT_ID) {
		served_pager->quit = true;
		/* A one-way message: fill the reply as MIG would, send nothing. */
		mig_reply_error_t *reply = (mig_reply_error_t *)out;
		*reply = (mig_reply_error_t){ .Head = { .msgh_size = sizeof *reply,
		        .msgh_id = in->msgh_id + MIG_REPLY_ID_OFFSET },
		        .NDR = NDR_record, .RetCode = MIG_NO_REPLY };
		return TRUE;
	}
	return memory_object_server_routines(&bench_routines, in, out);
}

static void *bench_pager_main(void *arg)
{
	served_pager = arg;
	while (!served_pager->quit)
		mach_msg_server_once(bench_demux, MEMORY_OBJECT_MSG_SIZE_MAX,
		                     served_pager->object, MACH_MSG_OPTION_NONE);
	return NULL;
}

static void bench_pager_start(bench_pager_t *p, size_t cluster)
{
	memset(p, 0, sizeof *p);
	p->cluster = cluster;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->terminated_cond, NULL);
	if (mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE, &p->object) ||
	    mach_port_insert_right(mach_task_self(), p->object, p->object,
	                           MACH_MSG_TYPE_MAKE_SEND))
		die("bench pager port");
	if (pthread_create(&p->thread, NULL, bench_pager_main, p) != 0)
		die("pthread_create");
}

/* Waits (bounded) for terminate, stops the server thread, drops the port. */
static void bench_pager_stop(bench_pager_t *p)
{
	struct timespec deadline;
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += 30;
	pthread_mutex_lock(&p->lock);
	while (!p->terminated &&
	       pthread_cond_timedwait(&p->terminated_cond, &p->lock, &deadline) == 0)
		;
	bool terminated = p->terminated;
	pthread_mutex_unlock(&p->lock);
	if (!terminated)
		fprintf(stderr, "bench pager: no memory_object_terminate after unmap\n");

	mach_msg_header_t quit = {
		.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_MAKE_SEND, 0),
		.msgh_size = sizeof quit,
		.msgh_remote_port = p->object,
		.msgh_id = BENCH_PAGER_QUIT_ID,
	};
	if (mach_msg(&quit, MACH_SEND_MSG, sizeof quit, 0, MACH_PORT_NULL,
	             MACH_MSG_TIMEOUT_NONE, MACH_PORT_NULL) != MACH_MSG_SUCCESS)
		die("send quit");
	pthread_join(p->thread, NULL);
	mach_port_destroy(mach_task_self(), p->object);
	pthread_cond_destroy(&p->terminated_cond);
	pthread_mutex_destroy(&p->lock);
}

static void run_memobj(enum pattern pat, size_t cluster)
{
	bench_pager_t pager;
	bench_pager_start(&pager, cluster);
	vm_address_t address = 0;
	kern_return_t kr = vm_map(mach_task_self(), &address, object_size, 0, TRUE,
	        pager.object, 0, FALSE, VM_PROT_READ, VM_PROT_READ, VM_INHERIT_NONE);
	if (kr != KERN_SUCCESS) {
		fprintf(stderr, "vm_map: %d\n", kr);
		exit(2);
	}
	double start = now_seconds();
	uint64_t sum = touch_pages((const uint8_t *)(uintptr_t)address, page_order[pat]);
	double seconds = now_seconds() - start;
	vm_deallocate(mach_task_self(), address, object_size);
	bench_pager_stop(&pager);
	record("memobj", pat, cluster, atomic_load(&pager.requests), seconds, sum);
}

/* ---- report ------------------------------------------------------------ */

static void print_ratios(const char *floor_method)
{
	bool header = false;
	for (size_t c = 0; c < N_CLUSTERS; c++)
		for (int pat = 0; pat < N_PATTERNS; pat++) {
			const result_t *m = find("memobj", (enum pattern)pat, cluster_sizes[c]);
			const result_t *r = find(floor_method, (enum pattern)pat, cluster_sizes[c]);
			if (!m || !r || !m->faults || !r->faults)
				continue;
			if (!header) {
				printf("\nmemobj / %s\n%-10s %8s %10s %9s   aim\n", floor_method,
				       "pattern", "cluster", "per fault", "per page");
				header = true;
			}
			double per_fault = (m->seconds / (double)m->faults) /
			                   (r->seconds / (double)r->faults);
			double per_page = m->seconds / r->seconds;
			bool small = cluster_sizes[c] == 4096;
			bool met = small ? per_fault <= 1.3 : per_page <= 1.0;
			printf("%-10s %5zu KiB %9.2fx %8.2fx   %s %s\n", pattern_names[pat],
			       cluster_sizes[c] / 1024, per_fault, per_page,
			       small ? "per fault <= 1.3x:" : "per page <= 1.0x:",
			       met ? "met" : "NOT met");
		}
}

/* Moves every thread of this process (and those it starts later) to one
 * CPU, as taskset -a does: a fault then costs no cross-CPU wake-up. */
static void pin_process_to_cpu(int cpu)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	DIR *tasks = opendir("/proc/self/task");
	if (!tasks)
		die("opendir /proc/self/task");
	struct dirent *entry;
	while ((entry = readdir(tasks)) != NULL) {
		pid_t tid = (pid_t)atoi(entry->d_name);
		if (tid > 0 && sched_setaffinity(tid, sizeof set, &set) != 0)
			die("sched_setaffinity");
	}
	closedir(tasks);
}

static void run_suite(const char *placement, bool want_memobj, bool want_raw,
        bool want_mmap)
{
	result_count = 0;
	printf("\n== threads: %s\n", placement);
	printf("%-16s %-10s %8s %9s %10s %9s %10s\n", "method", "pattern", "cluster",
	       "faults", "us/fault", "us/page", "pages/s");
	for (size_t c = 0; c < N_CLUSTERS; c++)
		for (int pat = 0; pat < N_PATTERNS; pat++) {
			if (want_raw) {
				run_raw("raw-uffd(anon)", false, (enum pattern)pat, cluster_sizes[c]);
				run_raw("raw-uffd(memfd)", true, (enum pattern)pat, cluster_sizes[c]);
			}
			if (want_memobj)
				run_memobj((enum pattern)pat, cluster_sizes[c]);
		}
	if (want_mmap) {
		int fd = make_cached_file();
		for (int pat = 0; pat < N_PATTERNS; pat++)
			run_mmap(fd, (enum pattern)pat);
		close(fd);
	}
	print_ratios("raw-uffd(anon)");
	print_ratios("raw-uffd(memfd)");
}

int main(int argc, char **argv)
{
	bool want_memobj = argc == 1, want_raw = argc == 1, want_mmap = argc == 1;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "memobj")) want_memobj = true;
		else if (!strcmp(argv[i], "raw")) want_raw = true;
		else if (!strcmp(argv[i], "mmap")) want_mmap = true;
		else {
			fprintf(stderr, "usage: %s [memobj] [raw] [mmap]\n", argv[0]);
			return 2;
		}
	}
	prepare_object();
	printf("bench_fault: %zu MiB object, %zu pages of %zu B, one byte read per page\n",
	       object_size >> 20, page_count, page_size);
	/* Twice: where the scheduler puts the threads (faults cross CPUs), and
	 * all on one CPU (no cross-CPU wake-ups: the hand-off cost shows). */
	run_suite("where the scheduler puts them (cross-CPU wake-ups: varies run to run)",
	          want_memobj, want_raw, want_mmap);
	pin_process_to_cpu(0);
	run_suite("all on CPU 0", want_memobj, want_raw, want_mmap);
	if (checks_failed)
		printf("\n%d run(s) read wrong bytes\n", checks_failed);
	return checks_failed ? 1 : 0;
}
