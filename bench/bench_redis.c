/* bench_redis [PAGES] [RUNS]: the Redis pager against its floor, in one
 * run, on a redis-server this program starts on loopback (a pid-derived
 * port; killed at exit).
 *
 * Faults (4 KiB and 64 KiB clusters): one byte read per cluster of an
 * object whose pages are in Redis, through redis_pager; against
 *   raw GET       a hiredis GET of the same 4 KiB (16 pipelined GETs for
 *                 64 KiB) on one connection: the store's round trip;
 *   in-process    the same fault served by an in-process pager that
 *                 supplies the cluster from memory (memobj's own cost).
 * Aim: fault <= 1.2 x (raw GET + in-process fault).
 *
 * Write-back: PAGES random 4 KiB pages written (faulted in first), then
 * vm_msync; the msync's time against raw pipelined SETs of as many 4 KiB
 * values (batches of 256, as the pager sends). Aim: >= 0.8 x raw SET
 * throughput.
 *
 * Each figure is the median of RUNS runs (default 5). The machine may be
 * shared: read the ratios, and re-run on a quiet machine.
 *
 * Then the whole run again with every thread (redis-server's too) on one
 * CPU: on a VM, waking a thread whose vCPU is idle costs 25-50 us, which
 * the two-party floors (co-located by the scheduler) do not pay and
 * memobj's three-party chain (faulting thread, pager thread, Redis) does;
 * on one CPU no wake-up waits for a vCPU, so that run shows memobj's own
 * cost. BENCH_REDIS_NO_PIN=1 skips it. */
#include <mach/mach.h>
#include <memobj/redis_pager.h>

#include <dirent.h>
#include <sched.h>
#include <sys/wait.h>
#include <pthread.h>
#include <sys/resource.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define REQUIRE(c) do { if (!(c)) { fprintf(stderr, "bench_redis: %s failed\n", #c); exit(1); } } while (0)
#include "../tests/redis_fixture.h"

#include "bench_common.h"

#define QUIT_ID 0x62656e63

static size_t npages = 2048;
static int nruns = 5;
static int port;
static char url[128];
static uint8_t *source;        /* the bytes every method serves */
static size_t source_size;

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* Voluntary context switches of the whole process so far (every
 * thread: each time one blocks): a figure the machine's noise does not
 * move, unlike the involuntary ones (preemptions), left out. */
static long csw(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_nvcsw;
}

/* CPU seconds (user + system) of the process (every thread) or of this
 * thread: less moved by other load than wall time. */
static double cpu_s(int who)
{
	struct rusage ru;
	getrusage(who, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e-6;
}

/* CPU seconds redis-server's main thread (where it serves commands) has
 * used so far: schedstat's nanoseconds, not stat's clock ticks (a tick
 * is ~5 µs per page of a 2048-page run). */
static pid_t server_pid;
static double server_cpu_s(void)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/schedstat", (int)server_pid);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return 0;
	unsigned long long ns = 0;
	if (fscanf(f, "%llu", &ns) != 1)
		ns = 0;
	fclose(f);
	return (double)ns * 1e-9;
}

static long icsw(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_nivcsw;
}

/* BENCH_REDIS_TASKS=1: each thread's context switches over a part,
 * voluntary/involuntary, by name (where the switches come from). */
#define MAX_TASKS 64
typedef struct { int tid; long v, iv; char comm[32]; } task_csw_t;
static int task_snapshot(task_csw_t *t)
{
	int n = 0;
	DIR *d = opendir("/proc/self/task");
	if (d == NULL)
		return 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL && n < MAX_TASKS) {
		if (e->d_name[0] == '.')
			continue;
		char path[300], line[128];
		t[n] = (task_csw_t){ .tid = atoi(e->d_name) };
		snprintf(path, sizeof path, "/proc/self/task/%s/status", e->d_name);
		FILE *f = fopen(path, "r");
		if (f == NULL)
			continue;
		while (fgets(line, sizeof line, f)) {
			if (sscanf(line, "Name: %31s", t[n].comm) == 1)
				continue;
			if (sscanf(line, "voluntary_ctxt_switches: %ld", &t[n].v) == 1)
				continue;
			sscanf(line, "nonvoluntary_ctxt_switches: %ld", &t[n].iv);
		}
		fclose(f);
		n++;
	}
	closedir(d);
	return n;
}

static void task_report(const char *what, const task_csw_t *a, int na,
        const task_csw_t *b, int nb, size_t ops)
{
	for (int j = 0; j < nb; j++) {
		long v = b[j].v, iv = b[j].iv;
		for (int i = 0; i < na; i++)
			if (a[i].tid == b[j].tid) {
				v -= a[i].v;
				iv -= a[i].iv;
			}
		if (v || iv)
			fprintf(stderr, "  %-9s tid %-7d %-16s vol %.2f invol %.2f per op\n",
			        what, b[j].tid, b[j].comm, (double)v / (double)ops,
			        (double)iv / (double)ops);
	}
}

/* BENCH_PERF_CTL=FIFO BENCH_PERF_ACK=FIFO2: "enable"/"disable" written
 * around each timed msync, for `perf record -D -1 --control
 * fifo:FIFO,FIFO2` (a profile of the write-back alone); each waits for
 * perf's ack. */
static void perf_ctl(const char *what)
{
	static FILE *ctl, *ack;
	const char *path = getenv("BENCH_PERF_CTL");
	const char *ack_path = getenv("BENCH_PERF_ACK");
	if (path == NULL || ack_path == NULL)
		return;
	if (ctl == NULL && (ctl = fopen(path, "w")) == NULL)
		return;
	if (ack == NULL && (ack = fopen(ack_path, "r")) == NULL)
		return;
	fprintf(ctl, "%s\n", what);
	fflush(ctl);
	char line[16];
	if (fgets(line, sizeof line, ack) == NULL)
		clearerr(ack);
}

/* ---- an in-process pager: supplies from memory ------------------------- */

typedef struct mem_pager {
	memory_object_t object;
	vm_size_t cluster;
	pthread_t thread;
	bool quit;
} mem_pager_t;

static _Thread_local mem_pager_t *mem_served;

static kern_return_t mem_init(memory_object_t o, mach_port_seqno_t s,
        memory_object_control_t control, vm_size_t ps)
{
	(void)o; (void)s; (void)ps;
	memory_object_perf_info_data_t perf = {
		.cluster_size = (memory_object_cluster_size_t)mem_served->cluster,
		.may_cache = FALSE,
	};
	memory_object_change_attributes(control, MEMORY_OBJECT_PERFORMANCE_INFO,
	        (memory_object_info_t)&perf, MEMORY_OBJECT_PERF_INFO_COUNT, MACH_PORT_NULL);
	return KERN_SUCCESS;
}

static kern_return_t mem_request(memory_object_t o, mach_port_seqno_t s,
        memory_object_control_t control, vm_offset_t offset, vm_size_t length,
        vm_prot_t access)
{
	(void)o; (void)s; (void)access;
	if (offset >= source_size) {
		memory_object_data_unavailable(control, offset, length);
		mach_port_deallocate(mach_task_self(), control);
		return KERN_SUCCESS;
	}
	if (offset + length > source_size)
		length = source_size - offset;
	memory_object_data_supply(control, offset, (pointer_t)(uintptr_t)(source + offset),
	        (mach_msg_type_number_t)length, FALSE, VM_PROT_NONE, FALSE, MACH_PORT_NULL);
	mach_port_deallocate(mach_task_self(), control);
	return KERN_SUCCESS;
}

static kern_return_t mem_terminate(memory_object_t o, mach_port_seqno_t s,
        memory_object_control_t control)
{
	(void)o; (void)s;
	mach_port_destroy(mach_task_self(), control);
	return KERN_SUCCESS;
}

/* Write-back's floor: the returned pages are dropped at once. */
static kern_return_t mem_return(memory_object_t o, mach_port_seqno_t s,
        memory_object_control_t control, vm_offset_t offset, pointer_t data,
        mach_msg_type_number_t count, boolean_t dirty, boolean_t kernel_copy)
{
	(void)o; (void)s; (void)offset; (void)dirty; (void)kernel_copy;
	vm_deallocate(mach_task_self(), data, count);
	mach_port_deallocate(mach_task_self(), control);
	return KERN_SUCCESS;
}

static kern_return_t mem_sync(memory_object_t o, mach_port_seqno_t s,
        memory_object_control_t control, vm_offset_t offset, vm_size_t length,
        vm_sync_t flags)
{
	(void)o; (void)s; (void)flags;
	memory_object_synchronize_completed(control, offset, length);
	mach_port_deallocate(mach_task_self(), control);
	return KERN_SUCCESS;
}

static const memory_object_routines_t mem_routines = {
	.init = mem_init, .data_request = mem_request, .terminate = mem_terminate,
	.data_return = mem_return, .synchronize = mem_sync,
};

static boolean_t mem_demux(mach_msg_header_t *in, mach_msg_header_t *out)
{
	if (in->msgh_id == QUIT_ID) {
		mem_served->quit = true;
		mig_reply_error_t *reply = (mig_reply_error_t *)out;
		*reply = (mig_reply_error_t){ .Head = { .msgh_size = sizeof *reply,
		        .msgh_id = in->msgh_id + MIG_REPLY_ID_OFFSET },
		        .NDR = NDR_record, .RetCode = MIG_NO_REPLY };
		return TRUE;
	}
	return memory_object_server_routines(&mem_routines, in, out);
}

static void *mem_main(void *arg)
{
	mem_served = arg;
	while (!mem_served->quit)
		mach_msg_server_once(mem_demux, MEMORY_OBJECT_MSG_SIZE_MAX,
		                     mem_served->object, MACH_MSG_OPTION_NONE);
	return NULL;
}

static void mem_start(mem_pager_t *p, vm_size_t cluster)
{
	memset(p, 0, sizeof *p);
	p->cluster = cluster;
	REQUIRE(mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE, &p->object) == 0);
	REQUIRE(mach_port_insert_right(mach_task_self(), p->object, p->object,
	                               MACH_MSG_TYPE_MAKE_SEND) == 0);
	REQUIRE(pthread_create(&p->thread, NULL, mem_main, p) == 0);
}

static void mem_stop(mem_pager_t *p)
{
	mach_msg_header_t quit = {
		.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_MAKE_SEND, 0),
		.msgh_size = sizeof quit, .msgh_remote_port = p->object, .msgh_id = QUIT_ID,
	};
	mach_msg(&quit, MACH_SEND_MSG, sizeof quit, 0, MACH_PORT_NULL,
	         MACH_MSG_TIMEOUT_NONE, MACH_PORT_NULL);
	pthread_join(p->thread, NULL);
	mach_port_destroy(mach_task_self(), p->object);
}

/* ---- measurements ---------------------------------------------------------- */

/* µs per fault: one byte read per cluster over `count` clusters. */
static double last_csw;          /* voluntary context switches per op of the last run */
static double last_icsw;         /* involuntary ones (preemptions: noise) */
static double last_msgs;         /* data_returns per written page of the last write-back */
static double last_cpu_thread;   /* CPU µs per page of the msync's own thread */
static double last_cpu_proc;     /* CPU µs per page of the whole process */
static double last_cpu_server;   /* CPU µs per page of redis-server */
static double last_batch;        /* pages per write pipeline of the last write-back */

static double touch_clusters(memory_object_t object, vm_size_t cluster, size_t count)
{
	vm_size_t size = cluster * count;
	vm_address_t a = 0;
	REQUIRE(vm_map(mach_task_self(), &a, size, 0, TRUE, object, 0, FALSE,
	               VM_PROT_READ, VM_PROT_ALL, VM_INHERIT_NONE) == KERN_SUCCESS);
	volatile uint8_t *m = (volatile uint8_t *)(uintptr_t)a;
	unsigned sum = 0, want = 0;
	static task_csw_t ta[MAX_TASKS], tb[MAX_TASKS];
	bool tasks = getenv("BENCH_REDIS_TASKS") != NULL;
	int na = tasks ? task_snapshot(ta) : 0;
	long c0 = csw(), i0 = icsw();
	double p0 = cpu_s(RUSAGE_SELF), s0 = server_cpu_s();
	double t0 = now();
	for (size_t i = 0; i < count; i++)
		sum += m[i * cluster + 1];
	double t = now() - t0;
	last_csw = (double)(csw() - c0) / (double)count;
	last_icsw = (double)(icsw() - i0) / (double)count;
	last_cpu_proc = (cpu_s(RUSAGE_SELF) - p0) * 1e6 / (double)count;
	last_cpu_server = (server_cpu_s() - s0) * 1e6 / (double)count;
	if (tasks)
		task_report("fault", ta, na, tb, task_snapshot(tb), count);
	for (size_t i = 0; i < count; i++)
		want += source[i * cluster + 1];
	if (sum != want)
		fprintf(stderr, "bench_redis: read the wrong bytes\n");
	vm_deallocate(mach_task_self(), a, size);
	return t * 1e6 / (double)count;
}

static double inproc_fault(vm_size_t cluster, size_t count)
{
	mem_pager_t p;
	mem_start(&p, cluster);
	double us = touch_clusters(p.object, cluster, count);
	mem_stop(&p);
	return us;
}

static double redis_fault(const char *name, vm_size_t cluster, size_t count)
{
	memory_object_t o;
	REQUIRE(redis_pager_create(url, name, cluster * count, cluster, &o) == KERN_SUCCESS);
	double us = touch_clusters(o, cluster, count);
	redis_pager_wait_detached(o, 30000);
	redis_pager_destroy(o);
	return us;
}

static void key_of(char *key, size_t sz, const char *name, size_t index)
{
	snprintf(key, sz, "memobj:%s:%zu", name, index);
}

/* µs per cluster: GET (pipelined GETs) of the same keys on one connection. */
static double raw_get(redisContext *c, const char *name, vm_size_t cluster, size_t count)
{
	size_t per = cluster / 4096;
	char key[128];
	double p0 = cpu_s(RUSAGE_SELF), s0 = server_cpu_s();
	double t0 = now();
	for (size_t i = 0; i < count; i++) {
		for (size_t j = 0; j < per; j++) {
			key_of(key, sizeof key, name, i * per + j);
			redisAppendCommand(c, "GET %s", key);
		}
		for (size_t j = 0; j < per; j++) {
			void *r = NULL;
			REQUIRE(redisGetReply(c, &r) == REDIS_OK);
			freeReplyObject(r);
		}
	}
	double t = now() - t0;
	last_cpu_proc = (cpu_s(RUSAGE_SELF) - p0) * 1e6 / (double)count;
	last_cpu_server = (server_cpu_s() - s0) * 1e6 / (double)count;
	return t * 1e6 / (double)count;
}

/* pages/s: pipelined SETs of `n` 4 KiB values in batches of 256. */
static double raw_set(redisContext *c, const char *name, size_t n)
{
	char key[128];
	double t0 = now();
	for (size_t i = 0; i < n; i += 256) {
		size_t b = n - i < 256 ? n - i : 256;
		for (size_t j = 0; j < b; j++) {
			key_of(key, sizeof key, name, i + j);
			redisAppendCommand(c, "SET %s %b", key, source + (i + j) * 4096, (size_t)4096);
		}
		for (size_t j = 0; j < b; j++) {
			void *r = NULL;
			REQUIRE(redisGetReply(c, &r) == REDIS_OK);
			freeReplyObject(r);
		}
	}
	return (double)n / (now() - t0);
}

/* Fills the store with `count` clusters of source bytes under `name`. */
static void populate(redisContext *c, const char *name, size_t pages)
{
	raw_set(c, name, pages);
}

static uint64_t rng = 88172645463325252ull;
static uint64_t xorshift64(void)
{
	rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
	return rng;
}

/* Random writes over an object 4 x npages, then msync: pages/s of msync.
 * name NULL: the in-process pager that drops what comes back (the
 * kernel's own cost of returning the pages). */
static double redis_writeback(const char *name, double *write_us)
{
	size_t span = npages * 4;
	memory_object_t o;
	mem_pager_t mp;
	if (name) {
		REQUIRE(redis_pager_create(url, name, span * 4096, 4096, &o) == KERN_SUCCESS);
	} else {
		mem_start(&mp, 4096);
		o = mp.object;
	}
	vm_address_t a = 0;
	REQUIRE(vm_map(mach_task_self(), &a, span * 4096, 0, TRUE, o, 0, FALSE,
	               VM_PROT_READ | VM_PROT_WRITE, VM_PROT_ALL, VM_INHERIT_NONE) == KERN_SUCCESS);
	uint8_t *m = (uint8_t *)(uintptr_t)a;
	uint8_t *touched = calloc(span, 1);
	size_t n = 0;
	double t0 = now();
	while (n < npages) {
		size_t pg = (size_t)(xorshift64() % span);
		if (touched[pg])
			continue;
		touched[pg] = 1;
		memcpy(m + pg * 4096, source + (n % (source_size / 4096)) * 4096, 4096);
		n++;
	}
	double t1 = now();
	long c0 = csw();
	double ct0 = cpu_s(RUSAGE_THREAD), cp0 = cpu_s(RUSAGE_SELF);
	double cs0 = server_cpu_s();
	if (name)
		perf_ctl("enable");
	REQUIRE(vm_msync(mach_task_self(), a, span * 4096, VM_SYNC_SYNCHRONOUS) == KERN_SUCCESS);
	double t2 = now();
	last_cpu_thread = (cpu_s(RUSAGE_THREAD) - ct0) * 1e6 / (double)npages;
	last_cpu_proc = (cpu_s(RUSAGE_SELF) - cp0) * 1e6 / (double)npages;
	last_cpu_server = (server_cpu_s() - cs0) * 1e6 / (double)npages;
	if (name)
		perf_ctl("disable");
	last_csw = (double)(csw() - c0) / (double)npages;
	vm_deallocate(mach_task_self(), a, span * 4096);
	if (name) {
		redis_pager_stats_t st;
		redis_pager_get_stats(o, &st);
		if (st.sync_failures || st.pages_dirty)
			fprintf(stderr, "bench_redis: write-back incomplete\n");
		last_batch = st.write_batches ? (double)st.pages_written /
		                                (double)st.write_batches : 0;
		last_msgs = (double)st.data_returns / (double)npages;
		redis_pager_wait_detached(o, 30000);
		redis_pager_destroy(o);
	} else {
		mem_stop(&mp);
	}
	free(touched);
	*write_us = (t1 - t0) * 1e6 / (double)npages;
	return (double)npages / (t2 - t1);
}

static int bench_main(int argc, char **argv)
{
	if (argc > 1)
		npages = strtoul(argv[1], NULL, 10);
	if (argc > 2)
		nruns = atoi(argv[2]);
	/* BENCH_REDIS_ONLY=fault4k|fault64k|writeback: one part (for strace). */
	const char *only = getenv("BENCH_REDIS_ONLY");
	if (npages < 16 || nruns < 1 || nruns > 99) {
		fprintf(stderr, "usage: bench_redis [PAGES>=16] [RUNS 1..99]\n");
		return 2;
	}
	if (!rf_have_redis()) {
		fprintf(stderr, "bench_redis: redis-server not installed\n");
		return 1;
	}
	int s = rf_start_block(1, false);
	REQUIRE(s >= 0);
	port = rf_servers[s].port;
	server_pid = rf_servers[s].pid;
	/* BENCH_REDIS_OPTS: URL options for the pager, e.g. "threads=1". */
	const char *opts = getenv("BENCH_REDIS_OPTS");
	snprintf(url, sizeof url, "redis://127.0.0.1:%d%s%s", port,
	         opts && *opts ? "?" : "", opts && *opts ? opts : "");
	source_size = npages * 4096;
	source = malloc(source_size);
	for (size_t i = 0; i < source_size; i++)
		source[i] = (uint8_t)(i * 131 + (i >> 12));
	redisContext *c = rf_connect(port);
	REQUIRE(c != NULL);
	char name[64];
	snprintf(name, sizeof name, "bench-%d", (int)getpid());
	populate(c, name, npages);

	printf("bench_redis: redis-server on 127.0.0.1:%d (loopback TCP), %zu pages, "
	       "medians of %d runs%s\n", port, npages, nruns,
	       getenv("BENCH_REDIS_PINNED") ? "; PINNED: every thread and "
	       "redis-server on CPU 0" : "; scheduler-placed");
	printf("\n%-10s %12s %12s %12s %12s %8s  aim <= 1.2x\n", "fault", "redis µs",
	       "raw GET µs", "in-proc µs", "floor µs", "ratio");
	vm_size_t clusters[2] = { 4096, 65536 };
	const char *part[2] = { "fault4k", "fault64k" };
	for (int k = 0; k < 2; k++) {
		if (only && strcmp(only, part[k]) != 0)
			continue;
		vm_size_t cl = clusters[k];
		size_t count = source_size / cl;
		double rd[99], rg[99], ip[99], cr[99], ci[99], cp[99];
		double up[99], us[99], gp[99], gs[99], kp[99];
		for (int r = 0; r < nruns; r++) {
			if (!only) {
				ip[r] = inproc_fault(cl, count);
				ci[r] = last_csw;
				kp[r] = last_cpu_proc;
				rg[r] = raw_get(c, name, cl, count);
				gp[r] = last_cpu_proc;
				gs[r] = last_cpu_server;
			} else {
				ip[r] = rg[r] = ci[r] = kp[r] = gp[r] = gs[r] = 0;
			}
			rd[r] = redis_fault(name, cl, count);
			cr[r] = last_csw;
			cp[r] = last_icsw;
			up[r] = last_cpu_proc;
			us[r] = last_cpu_server;
		}
		double mr = median(rd, nruns), mg = median(rg, nruns), mi = median(ip, nruns);
		double ratio = mr / (mg + mi);
		printf("%3zu KiB    %12.1f %12.1f %12.1f %12.1f %7.2fx  %s   (csw/fault %.2f +%.2f preempted, in-proc %.2f)\n",
		       (size_t)cl / 1024, mr, mg, mi, mg + mi, ratio,
		       ratio <= 1.2 ? "met" : "not met", median(cr, nruns), median(cp, nruns),
		       median(ci, nruns));
		printf("%-10s CPU µs/fault: process %.1f + redis-server %.1f; floor: raw GET "
		       "client %.1f + redis-server %.1f, in-proc fault %.1f\n", "",
		       median(up, nruns), median(us, nruns), median(gp, nruns),
		       median(gs, nruns), median(kp, nruns));
	}
	if (only && strcmp(only, "writeback") != 0) {
		redisFree(c);
		free(source);
		return 0;
	}

	printf("\n%-10s %12s %12s %12s %8s  aim >= 0.8x   (write faults: µs/page)\n",
	       "write-back", "msync pg/s", "raw SET pg/s", "in-proc pg/s", "ratio");
	double wb[99], rs[99], wf[99], cw[99], wi[99], pb[99], pm[99], dummy;
	double kt[99], kp[99], rt[99], rp[99], rsv[99], sp[99], ss[99];
	for (int r = 0; r < nruns; r++) {
		char wname[80];
		wi[r] = redis_writeback(NULL, &dummy);
		kt[r] = last_cpu_thread;
		kp[r] = last_cpu_proc;
		snprintf(wname, sizeof wname, "%s-wb%d", name, r);
		wb[r] = redis_writeback(wname, &wf[r]);
		cw[r] = last_csw;
		pb[r] = last_batch;
		pm[r] = last_msgs;
		rt[r] = last_cpu_thread;
		rp[r] = last_cpu_proc;
		rsv[r] = last_cpu_server;
		snprintf(wname, sizeof wname, "%s-raw%d", name, r);
		double p0 = cpu_s(RUSAGE_SELF), s0 = server_cpu_s();
		rs[r] = raw_set(c, wname, npages);
		sp[r] = (cpu_s(RUSAGE_SELF) - p0) * 1e6 / (double)npages;
		ss[r] = (server_cpu_s() - s0) * 1e6 / (double)npages;
	}
	double mw = median(wb, nruns), ms = median(rs, nruns);
	double mi = median(wi, nruns);
	printf("%zu x 4K %12.0f %12.0f %12.0f %7.2fx  %s   (%.1f; csw/page in msync %.2f)\n",
	       npages, mw, ms, mi, mw / ms, mw / ms >= 0.8 ? "met" : "not met",
	       median(wf, nruns), median(cw, nruns));
	/* The kernel's own return path bounds any pager: the best a pager
	 * can do is the slower of it and the store (a serial chain is
	 * slower still). */
	printf("%-10s the pager reaches %.2fx of min(raw SET, in-proc return); "
	       "%.0f pages per SET pipeline, %.2f data_return messages per page\n",
	       "", mw / (ms < mi ? ms : mi), median(pb, nruns), median(pm, nruns));
	printf("%-10s CPU µs/page in msync: its thread %.1f, process %.1f, "
	       "redis-server %.1f (in-proc: %.1f, %.1f; raw SET: client %.1f, "
	       "redis-server %.1f)\n", "", median(rt, nruns), median(rp, nruns),
	       median(rsv, nruns), median(kt, nruns), median(kp, nruns),
	       median(sp, nruns), median(ss, nruns));
	redisFree(c);
	free(source);
	return 0;
}

/* The same run again in a child on CPU 0 alone (redis-server, started by
 * the child, inherits it). */
static int run_pinned(char **argv)
{
	fflush(stdout);
	pid_t pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0) {
		cpu_set_t one;
		CPU_ZERO(&one);
		CPU_SET(0, &one);
		REQUIRE(sched_setaffinity(0, sizeof one, &one) == 0);
		setenv("BENCH_REDIS_PINNED", "1", 1);
		printf("\n");
		fflush(stdout);
		execv("/proc/self/exe", argv);
		_exit(127);
	}
	int status;
	REQUIRE(waitpid(pid, &status, 0) == pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

int main(int argc, char **argv)
{
	int rc = bench_main(argc, argv);
	if (rc != 0 || getenv("BENCH_REDIS_PINNED") || getenv("BENCH_REDIS_NO_PIN"))
		return rc;
	rf_cleanup();   /* the child starts its own redis-server */
	return run_pinned(argv);
}
