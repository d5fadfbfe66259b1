/* The DSM pager against netmemory (Forin, Barrera, Young, Rashid, USENIX
 * Winter 1989, Tables 1 and 3). This process is the manager; the kernels
 * are child processes (this program re-executed) with 4, 16 and 64 KiB
 * pages, over a Unix socket, then over TCP from a second network
 * namespace (skipped where namespaces cannot be made). For each path:
 *
 *   raw 4 KiB round trip on the same path (64-byte request, 4 KiB answer)
 *   in-process fault (a kernel in the manager's process, zero-fill)
 *   zero-fill fault; read fault on a page another kernel wrote; read fault
 *   on a page the manager holds (another kernel wrote it, it came back);
 *   write fault on a page another kernel reads; hotspot cycle (two kernels
 *   alternately writing one page: two transfers); messages per fault
 *
 * medians of per-fault times, messages per fault counted by the manager
 * (both directions, every kind), and voluntary context switches per fault
 * of the manager and both kernels (getrusage: thread hand-offs, a figure
 * the machine's load does not change much). Fault measurements read every
 * other 16 KiB page: the manager's read-ahead would hide faults in
 * sequence. Then C = A x B of doubles, 256x256 and 512x512, with 1, 2
 * and 3 kernels (median of 5 runs), and the speedup; each kernel's rows
 * of C are whole 64 KiB blocks (no false sharing at any page size used).
 * Aims, each printed with met / not met: hotspot cycle <= 150 us over the
 * Unix socket; read fault <= 1.3 x (raw round trip + in-process fault);
 * 2-kernel speedup >= 1.8; messages per fault < 5.0 (netmemory).
 *
 * The Unix-socket part runs twice: scheduler-placed, then with every
 * thread of the manager and the kernels pinned to CPU 0 (the software's
 * cost, without the 25-50 us of waking an idle vCPU on this VM), and
 * ends with a summary of both.
 *
 *   bench_dsm [FAULTS] [unix|hot|tcp|matrix]...   (default 400 faults per
 *   measurement, every part; hot: the Unix part's hotspot cycle only) */
#include <mach/mach.h>
#include <memobj/dsm_pager.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_common.h"

#define OBJ_SIZE ((vm_size_t)192 << 20)
#define PAGE 4096
#define REGION ((vm_size_t)4 << 20)     /* one measurement's pages */
#define MM_BASE ((vm_size_t)96 << 20)   /* matrices from here on: the
                                           measurements' regions stay below */
#define HOT_ITER 2000
#define NAME "bench-dsm"
#define TIMEOUT_MS 120000

static int faults = 400;

static double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static size_t mat_bytes(int n)
{
	return ((size_t)n * (size_t)n * sizeof(double) + 65535) & ~(size_t)65535;
}

/* ---- a kernel (child process): commands on stdin, answers on stdout ---- */

static int raw_connect(const char *kind, const char *addr, int port)
{
	int fd;
	if (strcmp(kind, "unix") == 0) {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		snprintf(sa.sun_path, sizeof sa.sun_path, "%s", addr);
		fd = socket(AF_UNIX, SOCK_STREAM, 0);
		if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0)
			return -1;
	} else {
		struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
		inet_pton(AF_INET, addr, &sa.sin_addr);
		fd = socket(AF_INET, SOCK_STREAM, 0);
		if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0)
			return -1;
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	}
	return fd;
}

static double raw_rtt(int fd, int n, double *samples)
{
	uint8_t req[64] = {0}, page[4096];
	for (int i = 0; i < n; i++) {
		double t0 = now_us();
		if (write(fd, req, sizeof req) != (ssize_t)sizeof req)
			return -1;
		size_t got = 0;
		while (got < sizeof page) {
			ssize_t r = read(fd, page + got, sizeof page - got);
			if (r <= 0)
				return -1;
			got += (size_t)r;
		}
		samples[i] = now_us() - t0;
	}
	return median(samples, n);
}

static void matmul_rows(vm_address_t base, vm_offset_t off, int n, int i0, int i1)
{
	const double *a = (const double *)(uintptr_t)(base + off);
	const double *b = (const double *)(uintptr_t)(base + off + mat_bytes(n));
	double *c = (double *)(uintptr_t)(base + off + 2 * mat_bytes(n));
	double row[2048];
	for (int i = i0; i < i1; i++) {
		for (int j = 0; j < n; j++)
			row[j] = 0;
		for (int k = 0; k < n; k++) {
			double x = a[i * n + k];
			const double *bk = b + k * n;
			for (int j = 0; j < n; j++)
				row[j] += x * bk[j];
		}
		memcpy(c + i * n, row, (size_t)n * sizeof(double));
	}
}

/* This thread's time waiting for a CPU, ms (/proc schedstat; 0 without
 * it): a kernel's wall time is its CPU time, this, and its waits for
 * faults. */
static double run_delay_ms(void)
{
	FILE *f = fopen("/proc/thread-self/schedstat", "r");
	unsigned long long cpu = 0, delay = 0;
	if (f != NULL) {
		if (fscanf(f, "%llu %llu", &cpu, &delay) != 2)
			delay = 0;
		fclose(f);
	}
	return (double)delay / 1e6;
}

/* This process's CPU time, us (every thread: the faulting thread, the
 * fault thread, the link's reader). */
static double process_cpu_us(const struct rusage *ru)
{
	return (double)(ru->ru_utime.tv_sec + ru->ru_stime.tv_sec) * 1e6 +
	       (double)(ru->ru_utime.tv_usec + ru->ru_stime.tv_usec);
}

static int kernel_main(const char *address, const char *raw_kind, const char *raw_addr,
        int raw_port)
{
	mach_port_t ns, object;
	vm_address_t base = 0;
	if (memobj_connect(address, &ns) != KERN_SUCCESS ||
	    netname_look_up(ns, "", NAME, &object) != KERN_SUCCESS ||
	    vm_map(mach_task_self(), &base, OBJ_SIZE, 0, TRUE, object, 0, FALSE,
	           VM_PROT_READ | VM_PROT_WRITE, VM_PROT_ALL, VM_INHERIT_NONE) != KERN_SUCCESS) {
		printf("error\n");
		return 1;
	}
	double *samples = calloc(100000, sizeof *samples);
	struct rusage ru;
	printf("mapped\n");
	fflush(stdout);
	char line[256];
	while (fgets(line, sizeof line, stdin) != NULL) {
		char op[16];
		unsigned long off = 0;
		long n = 0, x = 0, y = 0;
		int got = sscanf(line, "%15s %lu %ld %ld %ld", op, &off, &n, &x, &y);
		if (got < 1)
			continue;
		volatile uint8_t *p = (volatile uint8_t *)(uintptr_t)(base + off);
		if (strcmp(op, "w") == 0 || strcmp(op, "wt") == 0 ||
		    strcmp(op, "r") == 0 || strcmp(op, "rt") == 0) {
			bool write = op[0] == 'w';
			long stride = got >= 4 && x > 0 ? x : PAGE;
			for (long i = 0; i < n && i < 100000; i++) {
				double t0 = now_us();
				if (write)
					p[i * stride] = 1;
				else
					(void)p[i * stride];
				samples[i] = now_us() - t0;
			}
			getrusage(RUSAGE_SELF, &ru);
			printf("us %.2f cs %ld cpu %.0f\n", op[1] == 't' ? median(samples, (int)n) : 0.0,
			       ru.ru_nvcsw, process_cpu_us(&ru));
		} else if (strcmp(op, "hot") == 0) {
			/* n iterations, this kernel is x (0 or 1): its turns are
			 * when the count has its parity. */
			_Atomic uint64_t *turn = (_Atomic uint64_t *)(uintptr_t)(base + off);
			double t0 = 0;
			for (long i = 0; i < n; i++) {
				uint64_t want = 2 * (uint64_t)i + (uint64_t)x;
				uint64_t e = want;
				/* Yield while waiting: the other kernel needs a CPU. */
				while (!atomic_compare_exchange_strong(turn, &e, want + 1)) {
					e = want;
					sched_yield();
				}
				if (i == 0)
					t0 = now_us();
			}
			getrusage(RUSAGE_SELF, &ru);
			printf("us %.2f cs %ld cpu %.0f\n", n > 1 ? (now_us() - t0) / (double)(n - 1) : 0.0,
			       ru.ru_nvcsw, process_cpu_us(&ru));
		} else if (strcmp(op, "raw") == 0) {
			int fd = raw_connect(raw_kind, raw_addr, raw_port);
			double us = fd >= 0 ? raw_rtt(fd, (int)n, samples) : -1;
			if (fd >= 0)
				close(fd);
			printf("us %.2f\n", us);
		} else if (strcmp(op, "mm") == 0 || strcmp(op, "ml") == 0) {
			/* mm: on the DSM object; ml: the same code on private
			 * memory filled alike (what this machine gives two
			 * processes without any DSM). Answers the multiplying
			 * thread's CPU time (its share of the work, whatever
			 * else the machine runs) and its wall time. */
			vm_address_t mb = base;
			void *priv = NULL;
			if (op[1] == 'l') {
				size_t mbytes = mat_bytes((int)n);
				priv = calloc(3, mbytes);
				if (priv == NULL) {
					printf("error\n");
					fflush(stdout);
					continue;
				}
				double *a = priv, *b = (double *)((uint8_t *)priv + mbytes);
				for (long i = 0; i < n; i++)
					for (long j = 0; j < n; j++) {
						a[i * n + j] = (double)((i + 2 * j) % 7 - 3);
						b[i * n + j] = (double)((3 * i + j) % 5 - 2);
					}
				mb = (vm_address_t)(uintptr_t)priv;
				off = 0;
			}
			struct timespec c0, c1;
			double d0 = run_delay_ms(), w0 = now_us();
			clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
			matmul_rows(mb, off, (int)n, (int)x, (int)y);
			clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
			double w1 = now_us(), d1 = run_delay_ms();
			free(priv);
			printf("us %.1f wall %.1f delay %.1f\n", (double)(c1.tv_sec - c0.tv_sec) * 1e6 +
			       (double)(c1.tv_nsec - c0.tv_nsec) / 1e3, w1 - w0, (d1 - d0) * 1e3);
		} else if (strcmp(op, "s") == 0) {
			/* give the range back to the manager */
			kern_return_t kr = vm_msync(mach_task_self(), base + off, (vm_size_t)n,
			        VM_SYNC_SYNCHRONOUS | VM_SYNC_INVALIDATE);
			printf("us %d\n", kr == KERN_SUCCESS ? 0 : -1);
		} else if (strcmp(op, "cs") == 0) {
			getrusage(RUSAGE_SELF, &ru);
			printf("us 0 cs %ld cpu %.0f\n", ru.ru_nvcsw, process_cpu_us(&ru));
		} else if (strcmp(op, "exit") == 0) {
			return 0;
		}
		fflush(stdout);
	}
	return 0;
}

/* ---- the manager side ---- */

struct kernel {
	pid_t pid;
	FILE *in;
	int out;
	char buf[1024];
	size_t have;
	long cs;             /* its voluntary context switches, last answer */
	double cpu;          /* its CPU time (us), last answer */
};

static memory_object_t object;

static const char *reply(struct kernel *k)
{
	static char line[1024];
	double deadline = now_us() + TIMEOUT_MS * 1e3;
	for (;;) {
		char *nl = memchr(k->buf, '\n', k->have);
		if (nl != NULL) {
			size_t len = (size_t)(nl - k->buf);
			memcpy(line, k->buf, len);
			line[len] = '\0';
			memmove(k->buf, nl + 1, k->have - len - 1);
			k->have -= len + 1;
			return line;
		}
		int left = (int)((deadline - now_us()) / 1e3);
		struct pollfd pf = { .fd = k->out, .events = POLLIN };
		if (left <= 0 || poll(&pf, 1, left) <= 0)
			return NULL;
		ssize_t got = read(k->out, k->buf + k->have, sizeof k->buf - k->have);
		if (got <= 0)
			return NULL;
		k->have += (size_t)got;
	}
}

static void command(struct kernel *k, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vfprintf(k->in, fmt, ap);
	va_end(ap);
	fputc('\n', k->in);
	fflush(k->in);
}

/* The answer's number ("us X"), or -1. */
static double answer(struct kernel *k)
{
	const char *l = reply(k);
	double v = -1, cpu = -1;
	long cs = 0;
	if (l == NULL || (sscanf(l, "us %lf cs %ld cpu %lf", &v, &cs, &cpu) < 1 &&
	                  strcmp(l, "done") != 0))
		return -1;
	if (cs > 0)
		k->cs = cs;
	if (cpu >= 0)
		k->cpu = cpu;
	return l[0] == 'd' ? 0 : v;
}

static double run(struct kernel *k, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vfprintf(k->in, fmt, ap);
	va_end(ap);
	fputc('\n', k->in);
	fflush(k->in);
	return answer(k);
}

static int start_kernel(struct kernel *k, const char *const *prefix, const char *address,
        const char *raw_kind, const char *raw_addr, int raw_port, vm_size_t page_size)
{
	int to[2], from[2];
	memset(k, 0, sizeof *k);
	if (pipe2(to, O_CLOEXEC) != 0 || pipe2(from, O_CLOEXEC) != 0)
		return -1;
	char self[4096], ps[32], port[16];
	ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
	if (len <= 0)
		return -1;
	self[len] = '\0';
	snprintf(ps, sizeof ps, "MEMOBJ_PAGE_SIZE=%lu", (unsigned long)page_size);
	snprintf(port, sizeof port, "%d", raw_port);
	const char *argv[24];
	int argc = 0;
	for (int i = 0; prefix && prefix[i]; i++)
		argv[argc++] = prefix[i];
	argv[argc++] = "env";
	argv[argc++] = ps;
	argv[argc++] = self;
	argv[argc++] = "--kernel";
	argv[argc++] = address;
	argv[argc++] = raw_kind;
	argv[argc++] = raw_addr;
	argv[argc++] = port;
	argv[argc] = NULL;
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		dup2(to[0], 0);
		dup2(from[1], 1);
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(to[0]);
	close(from[1]);
	k->pid = pid;
	k->in = fdopen(to[1], "w");
	k->out = from[0];
	const char *l = reply(k);
	return l != NULL && strcmp(l, "mapped") == 0 ? 0 : -1;
}

static void stop_kernel(struct kernel *k)
{
	if (k->pid > 0) {
		kill(k->pid, SIGKILL);
		waitpid(k->pid, NULL, 0);
		fclose(k->in);
		close(k->out);
	}
	k->pid = 0;
}

/* Manager counts: faults and messages (every kind, both ways). */
static void totals(uint64_t *nfaults, uint64_t *nmsgs)
{
	dsm_kernel_info_t info[DSM_PAGER_MAX_KERNELS];
	unsigned count = DSM_PAGER_MAX_KERNELS;
	dsm_pager_kernels(object, info, &count);
	*nfaults = *nmsgs = 0;
	for (unsigned i = 0; i < count && i < DSM_PAGER_MAX_KERNELS; i++) {
		*nfaults += info[i].faults;
		for (int j = 0; j < DSM_MSG_KINDS; j++)
			if (j != DSM_MSG_INIT && j != DSM_MSG_CHANGE_ATTRIBUTES &&
			    j != DSM_MSG_TERMINATE)
				*nmsgs += info[i].messages[j];
	}
}

/* One measurement: manager counts (faults, messages) and voluntary
 * context switches of the manager and the two kernels (thread hand-offs:
 * every wake-up of a blocked thread is one, whatever the machine's load). */
struct phase {
	uint64_t f0, m0;
	long cs0, mcs0;
	double cpu0, mcpu0;   /* the kernels' and the manager's CPU time, us */
	struct kernel *a, *b;
};

static double self_cpu_us(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return process_cpu_us(&ru);
}

static long self_cs(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_nvcsw;
}

static double run(struct kernel *k, const char *fmt, ...);

/* Both kernels' context switches, asked now. */
static long kernels_cs(struct kernel *a, struct kernel *b)
{
	if (a)
		run(a, "cs");
	if (b)
		run(b, "cs");
	return (a ? a->cs : 0) + (b ? b->cs : 0);
}

static void phase_start(struct phase *p, struct kernel *a, struct kernel *b)
{
	p->a = a;
	p->b = b;
	p->cs0 = kernels_cs(a, b);
	p->cpu0 = (a ? a->cpu : 0) + (b ? b->cpu : 0);
	p->mcs0 = self_cs();
	p->mcpu0 = self_cpu_us();
	totals(&p->f0, &p->m0);
}

static double phase_msgs(const struct phase *p)
{
	uint64_t f, m;
	totals(&f, &m);
	return f > p->f0 ? (double)(m - p->m0) / (double)(f - p->f0) : 0;
}

/* Context switches per fault, all three processes; *mgr: the manager's. */
static double phase_cs(const struct phase *p, double *mgr)
{
	uint64_t f, m;
	long mcs = self_cs() - p->mcs0;
	totals(&f, &m);
	long cs = kernels_cs(p->a, p->b) - p->cs0 + mcs;
	*mgr = f > p->f0 ? (double)mcs / (double)(f - p->f0) : 0;
	return f > p->f0 ? (double)cs / (double)(f - p->f0) : 0;
}

static void print_phase(const char *label, double us, const struct phase *p)
{
	double mgr, all = phase_cs(p, &mgr);
	printf("  %-40s %8.1f us   %6.2f          %6.1f (manager %.1f)\n", label, us,
	       phase_msgs(p), all, mgr);
}

/* ---- raw server (a thread of this process) ---- */

static void *raw_serve(void *arg)
{
	int ls = (int)(intptr_t)arg;
	for (;;) {
		int fd = accept(ls, NULL, NULL);
		if (fd < 0)
			return NULL;
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		uint8_t req[64], page[4096];
		memset(page, 7, sizeof page);
		for (;;) {
			size_t got = 0;
			while (got < sizeof req) {
				ssize_t r = read(fd, req + got, sizeof req - got);
				if (r <= 0)
					break;
				got += (size_t)r;
			}
			if (got < sizeof req || write(fd, page, sizeof page) != (ssize_t)sizeof page)
				break;
		}
		close(fd);
	}
}

static int raw_listen(const char *kind, const char *addr, int port)
{
	int ls;
	if (strcmp(kind, "unix") == 0) {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		snprintf(sa.sun_path, sizeof sa.sun_path, "%s", addr);
		unlink(addr);
		ls = socket(AF_UNIX, SOCK_STREAM, 0);
		if (bind(ls, (struct sockaddr *)&sa, sizeof sa) != 0)
			return -1;
	} else {
		struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
		inet_pton(AF_INET, addr, &sa.sin_addr);
		ls = socket(AF_INET, SOCK_STREAM, 0);
		int one = 1;
		setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
		if (bind(ls, (struct sockaddr *)&sa, sizeof sa) != 0)
			return -1;
	}
	listen(ls, 4);
	pthread_t t;
	pthread_create(&t, NULL, raw_serve, (void *)(intptr_t)ls);
	pthread_detach(t);
	return 0;
}

/* ---- the measurements ---- */

static vm_address_t here;        /* this process's own mapping (a kernel) */
static double in_process_us;
static vm_offset_t next_region;

/* A fresh region for one measurement (the hotspot's turn must start at
 * 0: a region the matrices used would hold their data). */
static vm_offset_t region(void)
{
	vm_offset_t r = next_region;
	if (r + REGION > MM_BASE) {
		fprintf(stderr, "bench_dsm: out of fresh regions below the matrices\n");
		exit(2);
	}
	next_region += REGION;
	return r;
}

/* The in-process fault: this process's kernel, zero-fill, nobody else
 * (measured beside each path's faults, so that the ratio's parts are
 * taken under the same load). */
static double in_process_fault(void)
{
	double *s = calloc((size_t)faults, sizeof *s);
	volatile uint8_t *p = (volatile uint8_t *)(uintptr_t)(here + region());
	for (int i = 0; i < faults; i++) {
		double t0 = now_us();
		(void)p[(size_t)i * 2 * PAGE];   /* not in sequence: no read-ahead */
		s[i] = now_us() - t0;
	}
	double us = median(s, faults);
	free(s);
	return us;
}


/* One path's figures (for the summary of both placements). */
struct micro_result {
	double raw, inproc, zf, rw, rm, rm4, wr, hot, tpc, mpc, wpc, mwpc, cpu, mcpu;
	double hot4, cpu4;      /* the same between two 4 KiB kernels */
	double cs_zf, cs_rw, cs_rm, cs_rm4, cs_wr;
};

static bool hot_only;   /* "hot": only the hotspot cycle */

static double phase_cs_only(const struct phase *p)
{
	double mgr;
	return phase_cs(p, &mgr);
}

/* Two kernels alternately writing one page: a's turns are even counts,
 * b's odd (compare-and-swap on the page's first word). */
static void hotspot(const char *label, struct kernel *a, struct kernel *b, double raw,
        double *us, struct micro_result *res)
{
	struct phase ph;
	vm_offset_t r = region();
	phase_start(&ph, a, b);
	command(a, "hot %lu %d 0", (unsigned long)r, HOT_ITER);
	command(b, "hot %lu %d 1", (unsigned long)r, HOT_ITER);
	double ha = answer(a), hb = answer(b);
	double hot = ha > hb ? ha : hb;
	/* per cycle (the counts hold whatever the load): a cycle is two
	 * transfers at best; more means a page went and came back before
	 * the thread that faulted for it ran */
	uint64_t f, m;
	totals(&f, &m);
	double mcpu = self_cpu_us() - ph.mcpu0;
	double mgr, cs = phase_cs(&ph, &mgr);
	double kcpu = a->cpu + b->cpu - ph.cpu0;
	double tpc = (double)(f - ph.f0) / HOT_ITER;
	print_phase(label, hot, &ph);
	*us = hot;
	res->tpc = tpc;
	res->mpc = (double)(m - ph.m0) / HOT_ITER;
	res->wpc = cs * tpc;
	res->mwpc = mgr * tpc;
	res->cpu = (mcpu + kcpu) / HOT_ITER;
	res->mcpu = mcpu / HOT_ITER;
	printf("    per cycle: %.2f transfers (2 at best), %.1f messages, %.1f wake-ups "
	       "(manager %.1f); cycle = %.1f raw round trips\n", tpc, res->mpc, res->wpc,
	       res->mwpc, hot / raw);
	printf("    CPU per cycle: %.1f us, all three processes (manager %.1f, kernels %.1f)\n",
	       res->cpu, res->mcpu, kcpu / HOT_ITER);
}

/* m: 4 KiB pages, o: 16 KiB pages, m4 (may be NULL): 4 KiB pages. */
static struct micro_result micro(const char *label, struct kernel *m, struct kernel *o,
        struct kernel *m4, bool unix_path)
{
	struct phase ph;
	struct micro_result res = {0};
	printf("%s (kernel M: 4 KiB pages, kernel O: 16 KiB pages)\n", label);
	double raw = run(m, "raw 0 %d", faults);
	in_process_us = in_process_fault();
	printf("  raw 4 KiB round trip                     %8.1f us\n", raw);
	printf("  in-process fault (kernel in the manager) %8.1f us\n", in_process_us);
	printf("  %-40s %8s      %s  %s\n", "", "median", "messages/fault",
	       "voluntary context switches/fault");

	/* Every other page: the manager answers faults in sequence with
	 * more pages ahead, which would hide the faults. */
	const int stride = 32768, n = faults / 4;
	vm_offset_t r;
	double zf = 0, rw = 0, rm = 0, rm4 = 0, wr = 0, hot;
	res.raw = raw;
	res.inproc = in_process_us;
	if (hot_only)
		goto hot;
	r = region();
	phase_start(&ph, m, o);
	zf = run(m, "wt %lu %d %d", (unsigned long)r, faults, 2 * PAGE);
	res.cs_zf = phase_cs_only(&ph);
	print_phase("zero-fill fault", zf, &ph);

	/* Pages that have been lent before (a page nobody ever had is
	 * zero-filled by data_unavailable, and its recall takes one
	 * message more): M writes them first, then O takes them. */
	r = region();
	run(m, "w %lu %d %d", (unsigned long)r, n, stride);
	run(o, "w %lu %d %d", (unsigned long)r, n, stride);   /* O owns them (16 KiB pages) */
	phase_start(&ph, m, o);
	rw = run(m, "rt %lu %d %d", (unsigned long)r, n, stride);
	res.cs_rw = phase_cs_only(&ph);
	print_phase("read fault, page another kernel wrote", rw, &ph);
	/* O was flushed; M holds read copies: O's read is served by the manager. */
	phase_start(&ph, m, o);
	rm = run(o, "rt %lu %d %d", (unsigned long)r, n, stride);
	res.cs_rm = phase_cs_only(&ph);
	print_phase("read fault, page at the manager", rm, &ph);
	/* The same at 4 KiB pages, the raw round trip's size: O writes,
	 * hands everything back (invalidate), M reads. */
	r = region();
	run(o, "w %lu %d %d", (unsigned long)r, n, stride);
	run(o, "s %lu %d", (unsigned long)r, n * stride);
	phase_start(&ph, m, o);
	rm4 = run(m, "rt %lu %d %d", (unsigned long)r, n, stride);
	res.cs_rm4 = phase_cs_only(&ph);
	print_phase("read fault, page at the manager, 4 KiB", rm4, &ph);

	r = region();
	run(m, "w %lu %d %d", (unsigned long)r, n, stride);   /* lent before, as above */
	run(m, "s %lu %d", (unsigned long)r, n * stride);     /* back to the manager */
	run(o, "r %lu %d %d", (unsigned long)r, n, stride);   /* O: sole holder */
	run(m, "r %lu %d %d", (unsigned long)r, n, stride);   /* M reads: O downgraded */
	phase_start(&ph, m, o);
	wr = run(m, "wt %lu %d %d", (unsigned long)r, n, stride);
	res.cs_wr = phase_cs_only(&ph);
	print_phase("write fault, page another kernel reads", wr, &ph);

hot:
	hotspot("hotspot cycle (2 writers, 1 page)", m, o, raw, &res.hot, &res);
	if (m4 != NULL) {
		struct micro_result same = {0};
		hotspot("hotspot cycle, both kernels 4 KiB pages", m, m4, raw, &res.hot4, &same);
		res.cpu4 = same.cpu;
	}

	res.zf = zf;
	res.rw = rw;
	res.rm = rm;
	res.rm4 = rm4;
	res.wr = wr;
	hot = res.hot;
	if (hot_only)
		return res;
	/* The aim's read: a 4 KiB page, as the raw round trip moves (the
	 * 16 KiB kernel's moves four times the bytes, each sealed). */
	double ratio = rm4 / (raw + in_process_us);
	double ratio_w = rw / (raw + in_process_us);
	printf("  aims:\n");
	printf("    read fault, page at the manager / (raw + in-process)       = %5.2f"
	       "   (aim <= 1.30: %s; 4 KiB pages; 16 KiB: %.2f)\n", ratio,
	       ratio <= 1.30 ? "met" : "not met", rm / (raw + in_process_us));
	printf("    read fault, page another kernel wrote / (raw + in-process) = %5.2f"
	       "   (aim <= 1.30: %s; two round trips: %.2f of 2 x raw + in-process)\n",
	       ratio_w, ratio_w <= 1.30 ? "met" : "not met", rw / (2 * raw + in_process_us));
	if (unix_path)
		printf("    hotspot cycle %.1f us   (aim <= 150 us: %s; netmemory 4.2 ms)\n",
		       hot, hot <= 150 ? "met" : "not met");
	return res;
}

/* ---- placement: scheduler-placed, or every thread on CPU 0 ---- */

static cpu_set_t all_cpus;

/* Scheduler-placed (what a user sees) or every thread on CPU 0 (the
 * software's cost); kernels forked later inherit it. */
static void place(bool pinned)
{
	cpu_set_t one;
	CPU_ZERO(&one);
	CPU_SET(0, &one);
	if (bench_set_affinity(pinned ? &one : &all_cpus) != 0)
		fprintf(stderr, "bench_dsm: a thread could not be %s\n",
		        pinned ? "pinned" : "unpinned");
}

static void summary(const struct micro_result *s, const struct micro_result *p)
{
	printf("unix socket, scheduler-placed against pinned to one CPU (taskset -c 0: the "
	       "software's cost; wake-ups = voluntary context switches of all three processes)\n");
	printf("  %-40s %10s %10s %12s %12s\n", "", "placed us", "pinned us", "wake-ups pl.",
	       "wake-ups pin.");
#define ROW(label, f, c) printf("  %-40s %10.1f %10.1f %12.1f %12.1f\n", label, s->f, p->f, s->c, p->c)
	printf("  %-40s %10.1f %10.1f\n", "raw 4 KiB round trip", s->raw, p->raw);
	printf("  %-40s %10.1f %10.1f\n", "in-process fault", s->inproc, p->inproc);
	if (!hot_only) {
		ROW("zero-fill fault", zf, cs_zf);
		ROW("read fault, page another kernel wrote", rw, cs_rw);
		ROW("read fault, page at the manager", rm, cs_rm);
		ROW("read fault, page at the manager, 4 KiB", rm4, cs_rm4);
		ROW("write fault, page another kernel reads", wr, cs_wr);
	}
	ROW("hotspot cycle", hot, wpc);
	printf("  %-40s %10.1f %10.1f\n", "hotspot cycle, both 4 KiB kernels", s->hot4, p->hot4);
	printf("  %-40s %10.1f %10.1f\n", "  CPU per cycle (all processes)", s->cpu, p->cpu);
	printf("  %-40s %10.1f %10.1f\n", "  CPU per cycle, both 4 KiB kernels", s->cpu4, p->cpu4);
#undef ROW
	printf("  hotspot per cycle: transfers %.2f / %.2f, messages %.1f / %.1f, manager "
	       "wake-ups %.1f / %.1f (placed / pinned)\n", s->tpc, p->tpc, s->mpc, p->mpc,
	       s->mwpc, p->mwpc);
	if (!hot_only)
		printf("  read fault at the manager, 4 KiB / (raw + in-process): %.2f placed, "
		       "%.2f pinned   (aim <= 1.30: %s placed, %s pinned; 16 KiB: %.2f / %.2f)\n",
		       s->rm4 / (s->raw + s->inproc), p->rm4 / (p->raw + p->inproc),
		       s->rm4 / (s->raw + s->inproc) <= 1.30 ? "met" : "not met",
		       p->rm4 / (p->raw + p->inproc) <= 1.30 ? "met" : "not met",
		       s->rm / (s->raw + s->inproc), p->rm / (p->raw + p->inproc));
	printf("  hotspot cycle: %.1f us placed, %.1f us pinned   (aim <= 150 us: %s placed, "
	       "%s pinned; both 4 KiB kernels %.1f / %.1f)\n", s->hot, p->hot,
	       s->hot <= 150 ? "met" : "not met", p->hot <= 150 ? "met" : "not met",
	       s->hot4, p->hot4);
}

static int fill_and_flush(vm_offset_t off, int n)
{
	double *a = (double *)(uintptr_t)(here + off);
	double *b = (double *)(uintptr_t)(here + off + mat_bytes(n));
	for (int i = 0; i < n; i++)
		for (int j = 0; j < n; j++) {
			a[i * n + j] = (double)((i + 2 * j) % 7 - 3);
			b[i * n + j] = (double)((3 * i + j) % 5 - 2);
		}
	/* Back to the manager, so that every run starts from it. */
	return vm_msync(mach_task_self(), here + off, 2 * mat_bytes(n),
	                VM_SYNC_SYNCHRONOUS | VM_SYNC_INVALIDATE) == KERN_SUCCESS ? 0 : -1;
}

static bool check_c(vm_offset_t off, int n)
{
	const double *c = (const double *)(uintptr_t)(here + off + 2 * mat_bytes(n));
	for (int t = 0; t < 16; t++) {
		int i = (t * 37) % n, j = (t * 91 + 5) % n;
		double s = 0;
		for (int k = 0; k < n; k++)
			s += (double)((i + 2 * k) % 7 - 3) * (double)((3 * k + j) % 5 - 2);
		if (c[i * n + j] != s)
			return false;
	}
	return true;
}

static double self_cpu_ms(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

/* One multiply by nk kernels: wall clock (ms) here, the busiest kernel's
 * multiplying-thread CPU time and wall time (ms), the kernels' faults,
 * the manager's CPU time meanwhile (ms). local: each on private memory. */
struct mm_result {
	double wall, cpu, kwall, delay, faults, mgr_cpu;
	bool ok;
};

static struct mm_result mm_run(struct kernel *ks, int nk, int n, vm_offset_t *off, bool local)
{
	struct mm_result r = { .ok = true };
	if (!local) {
		if (*off + 3 * mat_bytes(n) > OBJ_SIZE)
			*off = MM_BASE;
		if (fill_and_flush(*off, n) != 0)
			r.ok = false;
	}
	/* Row blocks in whole 64 KiB pages of C. */
	int rows_per_page = (int)(65536 / ((size_t)n * sizeof(double)));
	if (rows_per_page < 1)
		rows_per_page = 1;
	int blocks = n / rows_per_page;
	uint64_t f0, m0, f1, m1;
	totals(&f0, &m0);
	double cpu0 = self_cpu_ms(), t0 = now_us();
	for (int i = 0; i < nk; i++) {
		int i0 = blocks * i / nk * rows_per_page;
		int i1 = blocks * (i + 1) / nk * rows_per_page;
		command(&ks[i], "%s %lu %d %d %d", local ? "ml" : "mm", (unsigned long)*off, n,
		        i0, i1);
	}
	for (int i = 0; i < nk; i++) {
		const char *l = reply(&ks[i]);
		double cpu = -1, kwall = -1, delay = 0;
		if (l == NULL || sscanf(l, "us %lf wall %lf delay %lf", &cpu, &kwall, &delay) != 3) {
			r.ok = false;
			continue;
		}
		/* the busiest kernel: the one the run waited for */
		if (kwall / 1e3 > r.kwall) {
			r.kwall = kwall / 1e3;
			r.delay = delay / 1e3;
		}
		if (cpu / 1e3 > r.cpu)
			r.cpu = cpu / 1e3;
	}
	r.wall = (now_us() - t0) / 1e3;
	r.mgr_cpu = self_cpu_ms() - cpu0;
	totals(&f1, &m1);
	r.faults = (double)(f1 - f0);
	if (!local) {
		r.ok = r.ok && check_c(*off, n);
		*off += 3 * mat_bytes(n);
	}
	return r;
}

#define MM_ROUNDS 5

/* Messages by kind so far, of the multiplying kernels (16 KiB pages; not
 * this process's kernel, which fills the inputs). */
static void kinds(uint64_t *by)
{
	dsm_kernel_info_t info[DSM_PAGER_MAX_KERNELS];
	unsigned count = DSM_PAGER_MAX_KERNELS;
	dsm_pager_kernels(object, info, &count);
	memset(by, 0, DSM_MSG_KINDS * sizeof *by);
	for (unsigned i = 0; i < count && i < DSM_PAGER_MAX_KERNELS; i++)
		for (int j = 0; j < DSM_MSG_KINDS && info[i].page_size == 16384; j++)
			by[j] += info[i].messages[j];
}

static void matrices(struct kernel *ks, int nk_max)
{
	printf("matrix multiply C = A x B (doubles), over the Unix socket; kernels with 16 KiB "
	       "pages; inputs start at the manager; %d rounds, each runs 1, 2, %d kernels in turn "
	       "(ratios taken within a round, then the median)\n", MM_ROUNDS, nk_max);
	vm_offset_t off = MM_BASE;
	for (int n = 256; n <= 512; n *= 2) {
		struct mm_result d[4][MM_ROUNDS], l[3][MM_ROUNDS];
		bool ok = true;
		uint64_t k0[DSM_MSG_KINDS], k1[DSM_MSG_KINDS];
		kinds(k0);
		for (int rep = 0; rep < MM_ROUNDS; rep++) {
			for (int nk = 1; nk <= nk_max; nk++) {
				d[nk][rep] = mm_run(ks, nk, n, &off, false);
				ok = ok && d[nk][rep].ok;
			}
			for (int nk = 1; nk <= 2; nk++)
				l[nk][rep] = mm_run(ks, nk, n, &off, true);
		}
		/* medians over the rounds of per-round figures */
		double v[MM_ROUNDS];
#define MED(out, expr) do { \
		for (int rep = 0; rep < MM_ROUNDS; rep++) \
			v[rep] = (expr); \
		out = median(v, MM_ROUNDS); \
	} while (0)
		double wall[4], sp[4], lw1, lw2, lsp, cs2, lcs2, cs3 = 0, rel;
		double kw[3], kc[3], kd[3], kf[3], km[3];
		for (int nk = 1; nk <= nk_max; nk++) {
			MED(wall[nk], d[nk][rep].wall);
			MED(sp[nk], d[1][rep].wall / d[nk][rep].wall);
		}
		MED(lw1, l[1][rep].wall);
		MED(lw2, l[2][rep].wall);
		MED(lsp, l[1][rep].wall / l[2][rep].wall);
		MED(cs2, d[1][rep].cpu / d[2][rep].cpu);
		MED(lcs2, l[1][rep].cpu / l[2][rep].cpu);
		if (nk_max >= 3)
			MED(cs3, d[1][rep].cpu / d[3][rep].cpu);
		MED(rel, (d[1][rep].wall / d[2][rep].wall) / (l[1][rep].wall / l[2][rep].wall));
		/* [0]: private memory, 2 processes; [1], [2]: DSM, 1 and 2 kernels */
		for (int i = 0; i < 3; i++) {
			struct mm_result *x = i == 0 ? l[2] : d[i];
			MED(kw[i], x[rep].kwall);
			MED(kc[i], x[rep].cpu);
			MED(kd[i], x[rep].delay);
			MED(kf[i], x[rep].faults);
			MED(km[i], x[rep].mgr_cpu);
		}
#undef MED
		printf("  %dx%d:%s\n", n, n, ok ? "" : " WRONG RESULT");
		printf("    DSM object     ");
		for (int nk = 1; nk <= nk_max; nk++) {
			printf("  %d kernel%s %7.1f ms", nk, nk > 1 ? "s" : " ", wall[nk]);
			if (nk > 1)
				printf(" (speedup %.2f)", sp[nk]);
		}
		printf("\n    private memory  1 process %7.1f ms  2 processes %7.1f ms (speedup %.2f)"
		       "   same code, no DSM: what this machine gives\n", lw1, lw2, lsp);
		printf("    busiest kernel's multiplying-thread CPU time: speedup 2 kernels %.2f "
		       "(private memory %.2f), 3 kernels %.2f\n", cs2, lcs2, cs3);
		printf("    slowest kernel's wall time = CPU + waiting for a CPU + waiting for faults (ms):\n");
		for (int i = 1; i <= 3; i++) {
			int j = i % 3;   /* 1 kernel, 2 kernels, then private memory */
			printf("      %-30s %6.1f = %6.1f + %6.1f + %6.1f", j == 0 ?
			       "private memory, 2 processes" : j == 1 ? "DSM, 1 kernel" : "DSM, 2 kernels",
			       kw[j], kc[j], kd[j], kw[j] - kc[j] - kd[j]);
			if (j > 0)
				printf("   %.0f faults, manager's CPU %.1f", kf[j], km[j]);
			printf("\n");
		}
		kinds(k1);
		printf("    messages per multiply on the DSM object (the kernels', 1-3 kernels "
		       "averaged):");
		for (int j = DSM_MSG_DATA_REQUEST; j < DSM_MSG_KINDS; j++)
			if (k1[j] > k0[j] && j != DSM_MSG_INIT && j != DSM_MSG_CHANGE_ATTRIBUTES)
				printf(" %s %.1f", dsm_msg_kind_name((dsm_msg_kind_t)j),
				       (double)(k1[j] - k0[j]) / (3.0 * MM_ROUNDS));
		printf("\n");
		printf("    aim: 2-kernel speedup %.2f >= 1.80: %s  (DSM / private-memory speedup "
		       "%.2f)\n", sp[2], sp[2] >= 1.8 ? "met" : "not met", rel);
	}
}

static int sh(const char *cmd)
{
	int rc = system(cmd);
	return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

int main(int argc, char **argv)
{
	if (argc == 6 && strcmp(argv[1], "--kernel") == 0)
		return kernel_main(argv[2], argv[3], argv[4], atoi(argv[5]));
	bool want_unix = true, want_tcp = true, want_matrix = true;
	for (int i = 1; i < argc; i++) {
		if (atoi(argv[i]) >= 8)
			/* each measurement's pages stay inside its region */
			faults = atoi(argv[i]) > 512 ? 512 : atoi(argv[i]);
		if (strcmp(argv[i], "hot") == 0) {
			hot_only = true;
			argv[i] = "unix";
		}
		if (strcmp(argv[i], "unix") == 0 || strcmp(argv[i], "tcp") == 0 ||
		    strcmp(argv[i], "matrix") == 0) {
			if (want_unix && want_tcp && want_matrix)
				want_unix = want_tcp = want_matrix = false;
			want_unix |= strcmp(argv[i], "unix") == 0;
			want_tcp |= strcmp(argv[i], "tcp") == 0;
			want_matrix |= strcmp(argv[i], "matrix") == 0;
		}
	}
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	setenv("MEMOBJ_PAGE_SIZE", "4096", 1);
	char dir[] = "/tmp/memobj-bench-dsm-XXXXXX", maddr[128], raddr[128], cmd[1024];
	if (mkdtemp(dir) == NULL)
		return 1;
	snprintf(maddr, sizeof maddr, "unix:%s/m", dir);
	snprintf(raddr, sizeof raddr, "%s/raw", dir);
	if (memobj_listen(maddr) != KERN_SUCCESS || dsm_pager_create(OBJ_SIZE, &object) != KERN_SUCCESS ||
	    netname_check_in(MACH_PORT_NULL, NAME, MACH_PORT_NULL, object) != KERN_SUCCESS ||
	    vm_map(mach_task_self(), &here, OBJ_SIZE, 0, TRUE, object, 0, FALSE,
	           VM_PROT_READ | VM_PROT_WRITE, VM_PROT_ALL, VM_INHERIT_NONE) != KERN_SUCCESS) {
		fprintf(stderr, "bench_dsm: cannot set up the manager\n");
		return 1;
	}
	printf("bench_dsm: medians of %d faults; the machine is shared: figures are noisy\n", faults);

	struct kernel ks[4];
	static const vm_size_t psz[4] = { 4096, 16384, 65536, 4096 };
	raw_listen("unix", raddr, 0);
	sched_getaffinity(0, sizeof all_cpus, &all_cpus);
	struct micro_result placed[2];
	bool up = want_unix;
	for (int pin = 0; pin < 2 && up; pin++) {
		/* the kernels inherit the placement: started after it */
		place(pin == 1);
		for (int i = 0; i < 4 && up; i++)
			up = start_kernel(&ks[i], NULL, maddr, "unix", raddr, 0, psz[i]) == 0;
		if (up)
			placed[pin] = micro(pin ? "unix socket, every thread pinned to CPU 0" :
			                    "unix socket, scheduler-placed", &ks[0], &ks[1], &ks[3],
			                    true);
		else
			printf("unix socket: kernels did not start\n");
		for (int i = 0; i < 4; i++)
			stop_kernel(&ks[i]);
	}
	place(false);
	if (up)
		summary(&placed[0], &placed[1]);
	/* The matrices: kernels alike (16 KiB pages), so that the speedup
	 * measures parallelism, not page sizes. */
	if (want_matrix) {
		up = true;
		for (int i = 0; i < 3 && up; i++)
			up = start_kernel(&ks[i], NULL, maddr, "unix", raddr, 0, 16384) == 0;
		if (up)
			matrices(ks, 3);
		for (int i = 0; i < 3; i++)
			stop_kernel(&ks[i]);
	}

	/* TCP: the kernels in a second namespace, the manager here. */
	char nsn[32];
	int sub = (int)getpid() % 200 + 20;
	snprintf(nsn, sizeof nsn, "mdsmb%d", (int)getpid() % 100000);
	snprintf(cmd, sizeof cmd,
	         "ip netns add %1$s && ip link add %1$sa type veth peer name %1$sb && "
	         "ip link set %1$sb netns %1$s && ip addr add 10.196.%2$d.1/24 dev %1$sa && "
	         "ip link set %1$sa up && ip -n %1$s addr add 10.196.%2$d.2/24 dev %1$sb && "
	         "ip -n %1$s link set %1$sb up && ip -n %1$s link set lo up 2>/dev/null", nsn, sub);
	if (!want_tcp) {
		/* not asked for */
	} else if (sh(cmd) == 0) {
		setenv("MEMOBJ_KEY", "bench key, not secret", 1);
		char taddr[64], host[32];
		snprintf(host, sizeof host, "10.196.%d.1", sub);
		int port = 7600 + (int)getpid() % 300;
		snprintf(taddr, sizeof taddr, "tcp:%s:%d", host, port);
		const char *prefix[] = { "ip", "netns", "exec", nsn, NULL };
		if (memobj_listen(taddr) == KERN_SUCCESS && raw_listen("tcp", host, port + 1) == 0 &&
		    start_kernel(&ks[0], prefix, taddr, "tcp", host, port + 1, 4096) == 0 &&
		    start_kernel(&ks[1], prefix, taddr, "tcp", host, port + 1, 16384) == 0)
			micro("tcp, kernels in another namespace", &ks[0], &ks[1], NULL, false);
		else
			printf("tcp: kernels did not start\n");
		for (int i = 0; i < 2; i++)
			stop_kernel(&ks[i]);
	} else {
		printf("tcp: skipped (cannot make network namespaces: needs root)\n");
	}
	snprintf(cmd, sizeof cmd, "ip netns del %1$s 2>/dev/null; ip link del %1$sa 2>/dev/null", nsn);
	sh(cmd);
	uint64_t f, m;
	totals(&f, &m);
	double mpf = f ? (double)m / (double)f : 0;
	printf("all faults of this run: %.2f messages per fault (%llu faults)"
	       "   (aim < 5.0, netmemory's: %s)\n",
	       mpf, (unsigned long long)f, f && mpf < 5.0 ? "met" : "not met");
	printf("netmemory (1989, Tables 1 and 3): hotspot cycle 4.2 ms; 5.0 messages per fault "
	       "centralized, 4.1 distributed\n");
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	sh(cmd);
	return 0;
}
