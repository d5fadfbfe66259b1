/* bench_fault: what one page fault costs when a memobj pager serves it,
 * against the floor the platform allows, all in one process run.
 *
 * Each run reads one byte per page of an object (32 MiB unless
 * MEMOBJ_BENCH_MB says otherwise), in address order or in a shuffled
 * order (fixed seed), with 1, 2 or 4 application threads (each takes a
 * contiguous share of the order), at cluster sizes 4 KiB, 64 KiB and
 * 1 MiB, for six ways of serving the faults:
 *
 *   raw(anon)    the least a user-space pager can do: one thread blocked in
 *                read(2) on a userfaultfd, answering each fault with one
 *                UFFDIO_COPY of the cluster around it, over anonymous memory;
 *   raw(memfd)   the same over a memfd mapped shared (memobj's page cache is
 *                a memfd, so this is its real floor);
 *   mem-ro/rw    vm_map (read-only / read-write) of a memory object whose
 *                in-process pager supplies each requested cluster from
 *                the same data in memory;
 *   file-ro/rw   vm_map of the shipped file pager (file_pager_create /
 *                _writable) over a file in the page cache with the same bytes
 *                (it opts in to read-ahead: FILE_PAGER_READAHEAD_CLUSTERS);
 *   mem-ra       mem-ro with the pager opting in to read-ahead (256 KiB).
 *
 * Every configuration runs MEMOBJ_BENCH_RUNS times (default 3), the methods
 * interleaved so that they see the same machine; the table gives medians:
 * µs per fault (wall time / userfaultfd events), µs per page (wall time /
 * pages read), context switches per fault (getrusage of the process).
 * Then a short pass of each method at 4 KiB and 64 KiB under `strace -f -c`
 * (when strace is installed) gives system calls per fault: the difference
 * between a run of 2N and one of N pages, divided by the difference in
 * faults, so that setup does not count. Then the 4 KiB cases once more with
 * every thread on CPU 0 (on a VM a cross-CPU wake-up can cost more than the
 * fault itself). Last, the ratios and every aim of issue 13 with met / not
 * met. After the system calls, mem-ro at 4 KiB with the fault readers
 * on and off (item 1: time, context switches and system calls per
 * fault). Every run checks the bytes it read.
 *
 *   bench_fault [METHOD...]      (default: all; raw, mem, file select groups)
 */
#include <mach/mach.h>

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
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <memobj/file_pager.h>

#include "bench_common.h"

static const size_t cluster_sizes[] = { 4096, 64 * 1024, 1024 * 1024 };
#define N_CLUSTERS (sizeof cluster_sizes / sizeof cluster_sizes[0])
static const int thread_counts[] = { 1, 2, 4 };
#define N_THREADS (sizeof thread_counts / sizeof thread_counts[0])

enum pattern { SEQUENTIAL, RANDOM, N_PATTERNS };
static const char *const pattern_names[N_PATTERNS] = { "seq", "random" };

enum method { RAW_ANON, RAW_MEMFD, MEM_RO, MEM_RW, FILE_RO, FILE_RW, MEM_RA,
              N_METHODS };
static const char *const method_names[N_METHODS] = {
	"raw(anon)", "raw(memfd)", "mem-ro", "mem-rw", "file-ro", "file-rw",
	"mem-ra",
};
/* mem-ra: mem-ro whose pager opts in to read-ahead, this far ahead. */
#define BENCH_READAHEAD_WINDOW (256 * 1024)
static bool method_wanted[N_METHODS];

/* The object every method serves, prepared once in memory. */
static size_t object_size;
static size_t page_size;
static size_t page_count;
static size_t touch_count;      /* pages read per run (page_count unless --syscalls) */
static uint8_t *object_data;
static uint32_t *page_order[N_PATTERNS];
static char file_path[4096];    /* the file pager's file (same bytes) */

static void remove_file(void)
{
	if (file_path[0])
		unlink(file_path);
}

static void prepare_object(size_t megabytes)
{
	object_size = megabytes << 20;
	page_size = (size_t)sysconf(_SC_PAGESIZE);
	page_count = object_size / page_size;
	touch_count = page_count;

	object_data = mmap(NULL, object_size, PROT_READ | PROT_WRITE,
	                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (object_data == MAP_FAILED)
		die("mmap object data");
	uint64_t seed = 42;
	uint64_t *words = (uint64_t *)object_data;
	for (size_t i = 0; i < object_size / sizeof *words; i++)
		words[i] = splitmix64(&seed);

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

	/* The file pager's file, in the page cache (written just now). */
	const char *dir = getenv("TMPDIR");
	snprintf(file_path, sizeof file_path, "%s/bench_fault.%d.XXXXXX",
	         dir ? dir : "/var/tmp", (int)getpid());
	int fd = mkstemp(file_path);
	if (fd < 0)
		die("mkstemp");
	atexit(remove_file);
	for (size_t done = 0; done < object_size;) {
		ssize_t n = write(fd, object_data + done, object_size - done);
		if (n <= 0)
			die("write bench file");
		done += (size_t)n;
	}
	close(fd);
}

static uint64_t expected_sum(enum pattern pat)
{
	uint64_t sum = 0;
	for (size_t i = 0; i < touch_count; i++)
		sum += object_data[(size_t)page_order[pat][i] * page_size];
	return sum;
}

/* ---- application threads ---------------------------------------------- */

typedef struct touch_job {
	const volatile uint8_t *base;
	const uint32_t *order;
	size_t count;
	uint64_t sum;
	pthread_barrier_t *start;
	pthread_t thread;
} touch_job_t;

static void *touch_main(void *arg)
{
	touch_job_t *j = arg;
	pthread_barrier_wait(j->start);
	uint64_t sum = 0;
	for (size_t i = 0; i < j->count; i++)
		sum += j->base[(size_t)j->order[i] * page_size];
	j->sum = sum;
	return NULL;
}

typedef struct sample {
	double seconds;
	uint64_t faults;
	long csw;               /* voluntary + involuntary, whole process */
	bool ok;
} sample_t;

static long context_switches(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_nvcsw + ru.ru_nivcsw;
}

/* Reads one byte of each of touch_count pages of base in the order of pat,
 * split between nthreads threads; the time runs from the start barrier to
 * the last join. */
static sample_t touch_pages(const uint8_t *base, enum pattern pat, int nthreads)
{
	touch_job_t jobs[8];
	pthread_barrier_t start;
	pthread_barrier_init(&start, NULL, (unsigned)nthreads + 1);
	size_t share = touch_count / (size_t)nthreads;
	for (int t = 0; t < nthreads; t++) {
		jobs[t] = (touch_job_t){
			.base = base,
			.order = page_order[pat] + (size_t)t * share,
			.count = t == nthreads - 1 ? touch_count - (size_t)t * share : share,
			.start = &start,
		};
		if (pthread_create(&jobs[t].thread, NULL, touch_main, &jobs[t]) != 0)
			die("pthread_create");
	}
	long csw = context_switches();
	pthread_barrier_wait(&start);
	double t0 = now_seconds();
	uint64_t sum = 0;
	for (int t = 0; t < nthreads; t++) {
		pthread_join(jobs[t].thread, NULL);
		sum += jobs[t].sum;
	}
	sample_t s = { .seconds = now_seconds() - t0 };
	s.csw = context_switches() - csw;
	pthread_barrier_destroy(&start);
	s.ok = sum == expected_sum(pat);
	return s;
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

static sample_t run_raw(bool over_memfd, enum pattern pat, size_t cluster,
        int nthreads)
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

	sample_t s = touch_pages(h.region, pat, nthreads);

	pthread_cancel(h.thread);
	pthread_join(h.thread, NULL);
	close(h.uffd);
	munmap(h.region, object_size);
	if (memfd >= 0)
		close(memfd);
	s.faults = h.events;
	return s;
}

/* ---- memobj: an in-process pager serving from memory ------------------ */

/* Private message id that tells a bench pager's server loop to stop. */
#define BENCH_PAGER_QUIT_ID 0x62656e63

typedef struct bench_pager {
	mach_port_t object;
	size_t cluster;
	pthread_t thread;
	bool quit;                    /* only the server thread touches it */
	bool readahead;               /* opt in to read-ahead at init */
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
	kern_return_t kr = memory_object_change_attributes(control,
	        MEMORY_OBJECT_PERFORMANCE_INFO, (memory_object_info_t)&perf,
	        MEMORY_OBJECT_PERF_INFO_COUNT, MACH_PORT_NULL);
	if (kr == KERN_SUCCESS && served_pager->readahead) {
		memory_object_readahead_info_data_t ra = {
			.max_window = BENCH_READAHEAD_WINDOW,
		};
		kr = memory_object_change_attributes(control,
		        MEMORY_OBJECT_READAHEAD_INFO, (memory_object_info_t)&ra,
		        MEMORY_OBJECT_READAHEAD_INFO_COUNT, MACH_PORT_NULL);
	}
	return kr;
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

static void bench_pager_start(bench_pager_t *p, size_t cluster, bool readahead)
{
	memset(p, 0, sizeof *p);
	p->cluster = cluster;
	p->readahead = readahead;
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

static uint64_t kernel_faults(void)
{
	vm_statistics_data_t st;
	mach_msg_type_number_t count = HOST_VM_INFO_COUNT;
	if (host_statistics(mach_host_self(), HOST_VM_INFO, (host_info_t)&st,
	                    &count) != KERN_SUCCESS)
		return 0;
	return st.faults;
}

static void map_object(mach_port_t object, bool writable, vm_address_t *address)
{
	vm_prot_t prot = writable ? VM_PROT_READ | VM_PROT_WRITE : VM_PROT_READ;
	*address = 0;
	kern_return_t kr = vm_map(mach_task_self(), address, object_size, 0, TRUE,
	        object, 0, FALSE, prot, prot, VM_INHERIT_NONE);
	if (kr != KERN_SUCCESS) {
		fprintf(stderr, "vm_map: %d\n", kr);
		exit(2);
	}
}

static sample_t run_mem(bool writable, bool readahead, enum pattern pat,
        size_t cluster, int nthreads)
{
	bench_pager_t pager;
	bench_pager_start(&pager, cluster, readahead);
	vm_address_t address;
	map_object(pager.object, writable, &address);
	uint64_t faults = kernel_faults();
	sample_t s = touch_pages((const uint8_t *)(uintptr_t)address, pat, nthreads);
	s.faults = (uint64_t)(natural_t)(kernel_faults() - faults);
	vm_deallocate(mach_task_self(), address, object_size);
	bench_pager_stop(&pager);
	return s;
}

static sample_t run_file(bool writable, enum pattern pat, size_t cluster,
        int nthreads)
{
	memory_object_t object;
	file_pager_t *pager = writable
	        ? file_pager_create_writable(file_path, cluster, &object)
	        : file_pager_create(file_path, cluster, &object);
	if (pager == NULL)
		die("file_pager_create");
	vm_address_t address;
	map_object(object, writable, &address);
	uint64_t faults = kernel_faults();
	sample_t s = touch_pages((const uint8_t *)(uintptr_t)address, pat, nthreads);
	s.faults = (uint64_t)(natural_t)(kernel_faults() - faults);
	vm_deallocate(mach_task_self(), address, object_size);
	if (file_pager_wait_detached(pager, 30000) != KERN_SUCCESS)
		fprintf(stderr, "file pager: not detached 30 s after unmap\n");
	file_pager_destroy(pager);
	return s;
}

static int checks_failed;

static sample_t run_method(enum method m, enum pattern pat, size_t cluster,
        int nthreads)
{
	sample_t s;
	switch (m) {
	case RAW_ANON:  s = run_raw(false, pat, cluster, nthreads); break;
	case RAW_MEMFD: s = run_raw(true, pat, cluster, nthreads); break;
	case MEM_RO:    s = run_mem(false, false, pat, cluster, nthreads); break;
	case MEM_RW:    s = run_mem(true, false, pat, cluster, nthreads); break;
	case MEM_RA:    s = run_mem(false, true, pat, cluster, nthreads); break;
	case FILE_RO:   s = run_file(false, pat, cluster, nthreads); break;
	default:        s = run_file(true, pat, cluster, nthreads); break;
	}
	if (!s.ok) {
		fprintf(stderr, "%s %s %zu KiB x%d: read the wrong bytes\n",
		        method_names[m], pattern_names[pat], cluster / 1024, nthreads);
		checks_failed++;
	}
	return s;
}

/* ---- medians ----------------------------------------------------------- */

#define MAX_RUNS 15
typedef struct cell {
	int n;
	sample_t s[MAX_RUNS];
} cell_t;

/* [placement][method][cluster][pattern][threads]; placement 1 = CPU 0. */
static cell_t cells[2][N_METHODS][N_CLUSTERS][N_PATTERNS][N_THREADS];

typedef struct stat3 {
	bool have;
	double us_fault, us_page, csw_fault, faults;
} stat3_t;

static stat3_t cell_stat(int pl, int m, size_t c, int pat, size_t t)
{
	cell_t *cl = &cells[pl][m][c][pat][t];
	stat3_t r = { .have = cl->n > 0 };
	if (!r.have)
		return r;
	double uf[MAX_RUNS], up[MAX_RUNS], cs[MAX_RUNS], fa[MAX_RUNS];
	for (int i = 0; i < cl->n; i++) {
		double f = cl->s[i].faults ? (double)cl->s[i].faults : 1;
		uf[i] = cl->s[i].seconds * 1e6 / f;
		up[i] = cl->s[i].seconds * 1e6 / (double)touch_count;
		cs[i] = (double)cl->s[i].csw / f;
		fa[i] = (double)cl->s[i].faults;
	}
	r.us_fault = median(uf, cl->n);
	r.us_page = median(up, cl->n);
	r.csw_fault = median(cs, cl->n);
	r.faults = median(fa, cl->n);
	return r;
}

/* ---- system calls per fault (strace -c) -------------------------------- */

#define MAX_SYSCALL_NAMES 64
typedef struct syscall_count {
	char name[32];
	double calls;
} syscall_count_t;

typedef struct syscall_profile {
	bool have;
	double per_fault;                        /* all system calls */
	int n;
	syscall_count_t by_name[MAX_SYSCALL_NAMES];
} syscall_profile_t;

static syscall_profile_t syscalls[N_METHODS][N_CLUSTERS];

/* Runs this program under strace -f -c for one method over `pages` pages;
 * returns the faults it took (or -1) and the calls per name in *out. */
static const char *child_env = "";   /* prefixed to the child's command */

static long strace_once(enum method m, size_t cluster, size_t pages,
        syscall_count_t *out, int *nout)
{
	char exe[4096], trace[256], faults_file[256], cmd[8192];
	ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (len <= 0)
		return -1;
	exe[len] = 0;
	snprintf(trace, sizeof trace, "/tmp/bench_fault.%d.strace", (int)getpid());
	snprintf(faults_file, sizeof faults_file, "/tmp/bench_fault.%d.faults",
	         (int)getpid());
	snprintf(cmd, sizeof cmd,
	         "%sstrace -f -c -o %s '%s' --syscalls %d %zu %zu >%s 2>/dev/null",
	         child_env, trace, exe, (int)m, cluster, pages, faults_file);
	long faults = -1;
	if (system(cmd) == 0) {
		FILE *f = fopen(faults_file, "r");
		if (f) {
			if (fscanf(f, "%ld", &faults) != 1)
				faults = -1;
			fclose(f);
		}
	}
	*nout = 0;
	FILE *t = fopen(trace, "r");
	if (t) {
		char line[512];
		while (fgets(line, sizeof line, t)) {
			if (line[0] == '-' || line[0] == '%')
				continue;
			char *tok[8];
			int ntok = 0;
			for (char *p = strtok(line, " \t\n"); p && ntok < 8; p = strtok(NULL, " \t\n"))
				tok[ntok++] = p;
			if (ntok < 5 || *nout >= MAX_SYSCALL_NAMES)
				continue;
			syscall_count_t *c = &out[(*nout)++];
			snprintf(c->name, sizeof c->name, "%.31s", tok[ntok - 1]);
			c->calls = atof(tok[3]);
		}
		fclose(t);
	}
	unlink(trace);
	unlink(faults_file);
	return faults;
}

static double calls_named(const syscall_count_t *c, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(c[i].name, name))
			return c[i].calls;
	return 0;
}

static void measure_syscalls(enum method m, size_t ci)
{
	size_t pages = 2048;
	if (pages * 2 > page_count)
		pages = page_count / 2;
	syscall_count_t a[MAX_SYSCALL_NAMES], b[MAX_SYSCALL_NAMES];
	int na, nb;
	long fa = strace_once(m, cluster_sizes[ci], pages, a, &na);
	long fb = strace_once(m, cluster_sizes[ci], 2 * pages, b, &nb);
	syscall_profile_t *p = &syscalls[m][ci];
	if (fa < 0 || fb <= fa || na == 0 || nb == 0)
		return;
	double df = (double)(fb - fa);
	p->have = true;
	p->per_fault = (calls_named(b, nb, "total") - calls_named(a, na, "total")) / df;
	for (int i = 0; i < nb && p->n < MAX_SYSCALL_NAMES; i++) {
		if (!strcmp(b[i].name, "total"))
			continue;
		double d = (b[i].calls - calls_named(a, na, b[i].name)) / df;
		if (d >= 0.05) {
			snprintf(p->by_name[p->n].name, sizeof p->by_name[p->n].name, "%.31s",
			         b[i].name);
			p->by_name[p->n++].calls = d;
		}
	}
}

/* --syscalls METHOD CLUSTER PAGES [THREADS]: one sequential run of PAGES
 * pages, one thread (or THREADS, to profile by hand); prints the faults
 * it took. */
static int syscalls_child(char **argv, int argc)
{
	enum method m = (enum method)atoi(argv[0]);
	size_t cluster = strtoul(argv[1], NULL, 10);
	size_t pages = strtoul(argv[2], NULL, 10);
	int nthreads = argc > 3 ? atoi(argv[3]) : 1;
	if ((int)m < 0 || m >= N_METHODS || pages == 0 || pages > page_count ||
	    nthreads < 1 || nthreads > 64)
		return 2;
	touch_count = pages;
	sample_t s = run_method(m, SEQUENTIAL, cluster, nthreads);
	printf("%llu %.9f %ld\n", (unsigned long long)s.faults, s.seconds, s.csw);
	return s.ok ? 0 : 1;
}

/* ---- placement --------------------------------------------------------- */

/* Moves every thread of this process (and those it starts later) to one
 * CPU, as taskset -a does: a fault then costs no cross-CPU wake-up. */
static void pin_process_to_cpu(int cpu)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (bench_set_affinity(&set) != 0)
		die("sched_setaffinity");
}

/* ---- report ------------------------------------------------------------ */

static void print_table(int pl)
{
	printf("\n%-11s %-6s %8s %3s %8s %9s %9s %8s\n", "method", "order",
	       "cluster", "thr", "faults", "us/fault", "us/page", "csw/flt");
	for (size_t c = 0; c < N_CLUSTERS; c++)
		for (int pat = 0; pat < N_PATTERNS; pat++)
			for (size_t t = 0; t < N_THREADS; t++)
				for (int m = 0; m < N_METHODS; m++) {
					stat3_t s = cell_stat(pl, m, c, pat, t);
					if (!s.have)
						continue;
					printf("%-11s %-6s %4zu KiB %3d %8.0f %9.2f %9.3f %8.2f\n",
					       method_names[m], pattern_names[pat],
					       cluster_sizes[c] / 1024, thread_counts[t], s.faults,
					       s.us_fault, s.us_page, s.csw_fault);
				}
}

static void print_syscalls(void)
{
	bool any = false;
	for (int m = 0; m < N_METHODS; m++)
		for (size_t c = 0; c < N_CLUSTERS; c++) {
			syscall_profile_t *p = &syscalls[m][c];
			if (!p->have)
				continue;
			if (!any)
				printf("\nsystem calls per fault (strace -f -c, sequential, 1 thread):\n");
			any = true;
			printf("%-11s %4zu KiB %6.2f  ", method_names[m],
			       cluster_sizes[c] / 1024, p->per_fault);
			for (int i = 0; i < p->n; i++)
				printf(" %s %.2f", p->by_name[i].name, p->by_name[i].calls);
			printf("\n");
		}
	if (!any)
		printf("\nsystem calls per fault: not measured (no strace)\n");
}

/* ---- one hand-off: fault readers on and off (issue 13, item 1) ------- */

/* One child run (--syscalls) with MEMOBJ_FAULT_READER=reader: its faults
 * (or -1), and the run's own wall time and context switches. */
static long child_once(enum method m, size_t cluster, size_t pages, int reader,
        double *seconds, double *csw)
{
	char exe[4096], a0[32], a1[32], a2[32];
	ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (len <= 0)
		return -1;
	exe[len] = 0;
	snprintf(a0, sizeof a0, "%d", (int)m);
	snprintf(a1, sizeof a1, "%zu", cluster);
	snprintf(a2, sizeof a2, "%zu", pages);
	int fds[2];
	if (pipe(fds) != 0)
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		dup2(fds[1], 1);
		close(fds[0]);
		setenv("MEMOBJ_FAULT_READER", reader ? "1" : "0", 1);
		execl(exe, exe, "--syscalls", a0, a1, a2, (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	char buf[128] = { 0 };
	ssize_t n = pid > 0 ? read(fds[0], buf, sizeof buf - 1) : -1;
	close(fds[0]);
	int st = 0;
	long faults = -1;
	if (pid <= 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) ||
	    WEXITSTATUS(st) != 0 || n <= 0 ||
	    sscanf(buf, "%ld %lf %lf", &faults, seconds, csw) != 3)
		return -1;
	return faults;
}

/* mem-ro, 4 KiB sequential, one thread, per fault (medians of 5 runs in
 * child processes; system calls as above): with the manager thread
 * reading its faults, and with the fault thread alone
 * (MEMOBJ_FAULT_READER=0, the path before item 1). */
static void print_handoff(bool have_strace)
{
	size_t pages = 2048;
	if (pages * 2 > page_count)
		pages = page_count / 2;
	printf("\none hand-off per fault (mem-ro, 4 KiB sequential, 1 thread, "
	       "medians of 5; readers off = the fault thread alone):\n");
	for (int reader = 1; reader >= 0; reader--) {
		enum { R = 5 };
		double us[R], csw[R];
		int ok = 0;
		for (int r = 0; r < R; r++) {
			double sec, c;
			long f = child_once(MEM_RO, 4096, pages, reader, &sec, &c);
			if (f <= 0)
				continue;
			us[ok] = sec * 1e6 / (double)f;
			csw[ok] = c / (double)f;
			ok++;
		}
		if (ok == 0) {
			printf("  readers %-3s  not measured\n", reader ? "on" : "off");
			continue;
		}
		qsort(us, (size_t)ok, sizeof us[0], bench_cmp_double);
		qsort(csw, (size_t)ok, sizeof csw[0], bench_cmp_double);
		double sc = -1;
		if (have_strace) {
			syscall_count_t a[MAX_SYSCALL_NAMES], b[MAX_SYSCALL_NAMES];
			int na, nb;
			child_env = reader ? "MEMOBJ_FAULT_READER=1 " : "MEMOBJ_FAULT_READER=0 ";
			long fa = strace_once(MEM_RO, 4096, pages, a, &na);
			long fb = strace_once(MEM_RO, 4096, 2 * pages, b, &nb);
			child_env = "";
			if (fa >= 0 && fb > fa)
				sc = (calls_named(b, nb, "total") - calls_named(a, na, "total")) /
				     (double)(fb - fa);
		}
		printf("  readers %-3s  %7.2f us/fault  %5.2f context switches/fault",
		       reader ? "on" : "off", us[ok / 2], csw[ok / 2]);
		if (sc >= 0)
			printf("  %5.2f system calls/fault (strace)", sc);
		printf("\n");
	}
}

static double ratio(stat3_t a, stat3_t b, bool per_page)
{
	if (!a.have || !b.have)
		return 0;
	return per_page ? a.us_page / b.us_page : a.us_fault / b.us_fault;
}

static const char *verdict(double r, double aim)
{
	return r == 0 ? "n/a" : r <= aim ? "met" : "NOT met";
}

static void print_aims(void)
{
	printf("\nratios (medians) and the aims of issue 13\n");
	/* 1. a 4 KiB fault against the raw handler. */
	for (int pl = 0; pl < 2; pl++)
		for (int pat = 0; pat < N_PATTERNS; pat++)
			for (int m = MEM_RO; m < N_METHODS; m++) {
				stat3_t s = cell_stat(pl, m, 0, pat, 0);
				double ra = ratio(s, cell_stat(pl, RAW_ANON, 0, pat, 0), false);
				double rm = ratio(s, cell_stat(pl, RAW_MEMFD, 0, pat, 0), false);
				if (!s.have)
					continue;
				printf("4 KiB fault %-7s %-6s %-8s %5.2fx raw(anon) %5.2fx raw(memfd)"
				       "   aim <= 1.1x raw(anon): %s\n", pl ? "CPU 0" : "spread",
				       pattern_names[pat], method_names[m], ra, rm,
				       m == MEM_RO || m == MEM_RW ? verdict(ra, 1.1) : "(info)");
			}
	syscall_profile_t *sp = &syscalls[MEM_RO][0];
	if (sp->have)
		printf("4 KiB system calls per fault, mem-ro: %.2f (raw(anon) %.2f)"
		       "   aim <= 4: %s\n", sp->per_fault, syscalls[RAW_ANON][0].per_fault,
		       verdict(sp->per_fault, 4));
	/* 2. large clusters, per page. */
	for (size_t c = 1; c < N_CLUSTERS; c++)
		for (int pat = 0; pat < N_PATTERNS; pat++)
			for (int m = MEM_RO; m < N_METHODS; m++) {
				stat3_t s = cell_stat(0, m, c, pat, 0);
				if (!s.have)
					continue;
				double rm = ratio(s, cell_stat(0, RAW_MEMFD, c, pat, 0), true);
				double ra = ratio(s, cell_stat(0, RAW_ANON, c, pat, 0), true);
				bool judged = m == MEM_RO || m == MEM_RW;
				printf("%4zu KiB per page %-6s %-8s %5.2fx raw(memfd) aim <= 1.0x: %-7s"
				       " %5.2fx raw(anon) aim <= 1.3x: %s\n", cluster_sizes[c] / 1024,
				       pattern_names[pat], method_names[m], rm,
				       judged ? verdict(rm, 1.0) : "(info)", ra,
				       judged ? verdict(ra, 1.3) : "(info)");
			}
	/* 3. four application threads against one. */
	for (size_t c = 0; c < N_CLUSTERS; c++)
		for (int pat = 0; pat < N_PATTERNS; pat++)
			for (int m = 0; m < N_METHODS; m++) {
				stat3_t one = cell_stat(0, m, c, pat, 0);
				stat3_t four = cell_stat(0, m, c, pat, N_THREADS - 1);
				if (!one.have || !four.have || c != 0)
					continue;
				double r = four.us_fault / one.us_fault;
				printf("4 threads / 1, 4 KiB %-6s %-10s %5.2fx   aim <= 0.6x: %s\n",
				       pattern_names[pat], method_names[m], r,
				       m >= MEM_RO ? verdict(r, 0.6) : "(floor)");
			}
	/* 4. read-ahead: mem-ra at 4 KiB against mem-ro at 64 KiB. */
	stat3_t seq4 = cell_stat(0, MEM_RA, 0, SEQUENTIAL, 0);
	stat3_t seq64 = cell_stat(0, MEM_RO, 1, SEQUENTIAL, 0);
	if (seq4.have && seq64.have)
		printf("read-ahead: seq 4 KiB mem-ra / seq 64 KiB mem-ro, per page: %.2fx"
		       "   aim <= 1.2x: %s\n",
		       seq4.us_page / seq64.us_page, verdict(seq4.us_page / seq64.us_page, 1.2));
	stat3_t rnd_ra = cell_stat(0, MEM_RA, 0, RANDOM, 0);
	stat3_t rnd = cell_stat(0, MEM_RO, 0, RANDOM, 0);
	if (rnd_ra.have && rnd.have)
		printf("read-ahead: random 4 KiB mem-ra / mem-ro, per page: %.2fx"
		       "   aim <= 1.05x: %s\n",
		       rnd_ra.us_page / rnd.us_page, verdict(rnd_ra.us_page / rnd.us_page, 1.05));
	printf("remote faults: see bench_remote\n");
}

/* ---- main -------------------------------------------------------------- */

static void run_pass(int pl, int runs, bool small_only)
{
	for (int r = 0; r < runs; r++)
		for (size_t c = 0; c < N_CLUSTERS; c++) {
			if (small_only && c != 0)
				continue;
			for (int pat = 0; pat < N_PATTERNS; pat++)
				for (size_t t = 0; t < N_THREADS; t++) {
					if (small_only && t != 0)
						continue;
					for (int m = 0; m < N_METHODS; m++) {
						if (!method_wanted[m])
							continue;
						cell_t *cl = &cells[pl][m][c][pat][t];
						cl->s[cl->n++] = run_method((enum method)m,
						        (enum pattern)pat, cluster_sizes[c],
						        thread_counts[t]);
					}
				}
			fprintf(stderr, ".");
		}
	fprintf(stderr, "\n");
}

int main(int argc, char **argv)
{
	const char *mb = getenv("MEMOBJ_BENCH_MB");
	size_t megabytes = mb ? strtoul(mb, NULL, 10) : 32;
	if (megabytes == 0)
		megabytes = 1;
	const char *rs = getenv("MEMOBJ_BENCH_RUNS");
	int runs = rs ? atoi(rs) : 3;
	if (runs < 1)
		runs = 1;
	if (runs > MAX_RUNS)
		runs = MAX_RUNS;

	if ((argc == 5 || argc == 6) && !strcmp(argv[1], "--syscalls")) {
		prepare_object(megabytes);
		return syscalls_child(argv + 2, argc - 2);
	}
	for (int i = 1; i < argc; i++) {
		bool known = false;
		for (int m = 0; m < N_METHODS; m++)
			if (!strcmp(argv[i], method_names[m]) ||
			    !strncmp(argv[i], method_names[m], strlen(argv[i])))
				method_wanted[m] = known = true;
		if (!known) {
			fprintf(stderr, "usage: %s [raw|mem|file|raw(anon)|mem-ro|...]...\n",
			        argv[0]);
			return 2;
		}
	}
	if (argc == 1)
		for (int m = 0; m < N_METHODS; m++)
			method_wanted[m] = true;

	prepare_object(megabytes);
	printf("bench_fault: %zu MiB object, %zu pages of %zu B, one byte read per page,"
	       " medians of %d runs\n", object_size >> 20, page_count, page_size, runs);
	run_pass(0, runs, false);
	printf("\n== threads where the scheduler puts them (cross-CPU wake-ups)");
	print_table(0);

	if (system("strace -V >/dev/null 2>&1") == 0)
		for (int m = 0; m < N_METHODS; m++)
			for (size_t c = 0; c < 2; c++)
				if (method_wanted[m])
					measure_syscalls((enum method)m, c);
	print_syscalls();
	print_handoff(system("strace -V >/dev/null 2>&1") == 0);

	pin_process_to_cpu(0);
	run_pass(1, runs, true);
	printf("\n== every thread on CPU 0 (no cross-CPU wake-ups), 4 KiB, 1 thread");
	print_table(1);

	print_aims();
	if (checks_failed)
		printf("\n%d run(s) read wrong bytes\n", checks_failed);
	return checks_failed ? 1 : 0;
}
