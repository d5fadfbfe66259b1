/* bench_default_pager: the default pager against its floors.
 *
 *   first touch   vm_allocate memory never paged out (a default pager
 *                 registered, under MEMOBJ_RESIDENT_MAX) vs plain
 *                 anonymous mmap; aim <= 1.2x
 *   page-out      vm_allocate 4x the limit, written; time from the first
 *                 write until the pager holds 90% of what is over the
 *                 limit, less the writes' own cost (anonymous first
 *                 touch), per page out, vs pwrite of as many pages
 *   page-in       reading every page back (faults on paged-out pages:
 *                 data_request, pread, data_supply), per page installed
 *                 (host_statistics pageins): the first read also writes
 *                 back the dirty pages it evicts; the second read evicts
 *                 clean ones only, so it is the page-in proper. vs pread
 *                 of as many pages, and vs a raw userfaultfd fault +
 *                 pread + UFFDIO_COPY; aim <= 1.5x the latter (second
 *                 read)
 *
 *   threads       N = 1, 2, 4 application threads faulting paged-out
 *                 pages in: of one vm_allocate region (one internal
 *                 object: each thread its own slice) and of N separate
 *                 regions (one each); time per page-in (host_statistics
 *                 pageins) against one thread, CPU and context switches
 *                 per page-in, and the pager's lock contention (failed
 *                 trylocks, default_pager_get_stats: noise-free), also
 *                 while the N threads write the pages out; aim <= 0.6x
 *                 of one thread per fault with 4 threads on one object
 *
 * Medians of RUNS runs. Usage: bench_default_pager [MiB] (default 64).
 * BENCH_DP_ONLY=threads runs the threads part only. */

#include <mach/mach.h>
#include <memobj/default_pager.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "bench_common.h"

#define RUNS 5
#define PAGE 4096

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static size_t kpage;

static double touch(char *p, size_t size)
{
	double t0 = now();
	for (size_t i = 0; i < size; i += kpage)
		p[i] = (char)i;
	return now() - t0;
}

static volatile uint64_t sink;

static double read_all(const char *p, size_t size)
{
	uint64_t s = 0;
	double t0 = now();
	for (size_t i = 0; i < size; i += kpage)
		s += (unsigned char)p[i];
	sink = s;
	return now() - t0;
}

/* ---- raw userfaultfd floor: fault + pread + UFFDIO_COPY ---- */
struct raw { int uffd, fd; char *region; char *buf; };

static void *raw_main(void *arg)
{
	struct raw *r = arg;
	for (;;) {
		struct uffd_msg m;
		ssize_t n = read(r->uffd, &m, sizeof m);
		if (n != sizeof m) {
			if (n < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			return NULL;
		}
		if (m.event != UFFD_EVENT_PAGEFAULT)
			continue;
		uintptr_t a = m.arg.pagefault.address & ~(uintptr_t)(kpage - 1);
		if (pread(r->fd, r->buf, kpage, (off_t)(a - (uintptr_t)r->region)) < 0)
			return NULL;
		struct uffdio_copy c = { .dst = a, .src = (uintptr_t)r->buf, .len = kpage };
		ioctl(r->uffd, UFFDIO_COPY, &c);
	}
}

static double raw_uffd_pread(int fd, size_t size)
{
	struct raw r = { .fd = fd };
	r.region = mmap(NULL, size, PROT_READ | PROT_WRITE,
	                MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	r.buf = aligned_alloc(kpage, kpage);
	r.uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | UFFD_USER_MODE_ONLY);
	if (r.region == MAP_FAILED || r.uffd < 0)
		die("userfaultfd");
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = { .range = { (uintptr_t)r.region, size },
	                               .mode = UFFDIO_REGISTER_MODE_MISSING };
	if (ioctl(r.uffd, UFFDIO_API, &api) || ioctl(r.uffd, UFFDIO_REGISTER, &reg))
		die("UFFDIO_REGISTER");
	pthread_t t;
	pthread_create(&t, NULL, raw_main, &r);
	double s = read_all(r.region, size);
	pthread_cancel(t);
	pthread_join(t, NULL);
	close(r.uffd);
	munmap(r.region, size);
	free(r.buf);
	return s;
}

/* ---- N application threads faulting pages in ---- */

struct reader {
	pthread_barrier_t *start;
	const char *base;
	size_t size;
};

static void *reader_main(void *arg)
{
	struct reader *r = arg;
	pthread_barrier_wait(r->start);
	read_all(r->base, r->size);
	return NULL;
}

static void *writer_main(void *arg)
{
	struct reader *r = arg;
	pthread_barrier_wait(r->start);
	touch((char *)r->base, r->size);
	return NULL;
}

static natural_t pageins(void)
{
	struct vm_statistics s;
	mach_msg_type_number_t c = HOST_VM_INFO_COUNT;
	host_statistics(mach_host_self(), HOST_VM_INFO, (host_info_t)&s, &c);
	return s.pageins;
}

static double cpu_now(long *csw)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	*csw = ru.ru_nvcsw + ru.ru_nivcsw;
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e-6;
}

struct sample {
	double us, cpu_us, csw, contended, object_contended, overlapped;
	double requests, faults;
};

/* One timed read by n threads: slices [i*size/n, (i+1)*size/n) of the
 * regions (regs[i % nregs] when separate). Every page was paged out and
 * read back once, so the resident pages are clean and the read is
 * page-ins and clean evictions only. */
static struct sample timed_read(char **regs, int nregs, size_t size, int n)
{
	pthread_barrier_t start;
	pthread_barrier_init(&start, NULL, (unsigned)n + 1);
	pthread_t t[8];
	struct reader r[8];
	for (int i = 0; i < n; i++) {
		if (nregs == 1)
			r[i] = (struct reader){ &start, regs[0] + size / (size_t)n * (size_t)i,
			                        size / (size_t)n };
		else
			r[i] = (struct reader){ &start, regs[i], size };
		pthread_create(&t[i], NULL, reader_main, &r[i]);
	}
	default_pager_stats_t s0, s1;
	default_pager_get_stats(&s0);
	natural_t p0 = pageins();
	long c0, c1;
	double cpu0 = cpu_now(&c0);
	double t0 = now();
	pthread_barrier_wait(&start);
	for (int i = 0; i < n; i++)
		pthread_join(t[i], NULL);
	double wall = now() - t0;
	double cpu1 = cpu_now(&c1);
	natural_t p1 = pageins();
	default_pager_get_stats(&s1);
	pthread_barrier_destroy(&start);
	double faults = (double)(p1 - p0);
	if (faults < 1)
		faults = 1;
	double acq = (double)(s1.lock_acquisitions - s0.lock_acquisitions);
	double req = (double)(s1.data_requests - s0.data_requests);
	return (struct sample){
		.us = wall * 1e6 / faults,
		.cpu_us = (cpu1 - cpu0) * 1e6 / faults,
		.csw = (double)(c1 - c0) / faults,
		.contended = acq > 0 ? (double)(s1.lock_contended - s0.lock_contended) / acq : 0,
		.object_contended = (double)(s1.object_contended - s0.object_contended),
		.overlapped = req > 0 ? (double)(s1.requests_overlapped -
		                                 s0.requests_overlapped) / req : 0,
		.requests = req,
		.faults = faults,
	};
}

/* Pages everything out once (n threads writing, as timed_read divides
 * the work) and back in once (so all is clean). The share of lock
 * acquisitions that were contended while the pages went out, and the
 * contended ones of the block allocator, through *alloc. */
static double prepare(char **regs, int nregs, size_t each, int n,
        mach_port_t pager, size_t limit, double *alloc)
{
	default_pager_info_t i0, info;
	default_pager_stats_t s0, s1;
	default_pager_info(pager, &i0);
	default_pager_get_stats(&s0);
	pthread_barrier_t start;
	pthread_barrier_init(&start, NULL, (unsigned)n + 1);
	pthread_t t[8];
	struct reader w[8];
	for (int i = 0; i < n; i++) {
		if (nregs == 1)
			w[i] = (struct reader){ &start, regs[0] + each / (size_t)n * (size_t)i,
			                        each / (size_t)n };
		else
			w[i] = (struct reader){ &start, regs[i], each };
		pthread_create(&t[i], NULL, writer_main, &w[i]);
	}
	double t0 = now();
	pthread_barrier_wait(&start);
	for (int i = 0; i < n; i++)
		pthread_join(t[i], NULL);
	vm_size_t want = (each * (size_t)nregs - limit) * 9 / 10;
	do {
		default_pager_info(pager, &info);
	} while (i0.free_space - info.free_space < want && now() - t0 < 60);
	default_pager_get_stats(&s1);
	pthread_barrier_destroy(&start);
	for (int i = 0; i < nregs; i++)
		read_all(regs[i], each);
	double acq = (double)(s1.lock_acquisitions - s0.lock_acquisitions);
	*alloc = (double)(s1.alloc_contended - s0.alloc_contended);
	return acq > 0 ? (double)(s1.lock_contended - s0.lock_contended) / acq : 0;
}

static void threads_section(mach_port_t pager, size_t size, size_t limit)
{
	static const int ns[] = { 1, 2, 4 };
	enum { NN = 3 };
	struct sample one[NN][RUNS], sep[NN][RUNS];
	double out_cont[2][NN], out_alloc[2][NN];
	for (int layout = 0; layout < 2; layout++) {
		for (int k = 0; k < NN; k++) {
			int n = ns[k];
			int nregs = layout == 0 ? 1 : n;
			size_t each = size / (size_t)nregs;
			char *regs[8];
			for (int i = 0; i < nregs; i++) {
				vm_address_t a = 0;
				if (vm_allocate(mach_task_self(), &a, each, TRUE) != KERN_SUCCESS)
					die("vm_allocate");
				regs[i] = (char *)a;
			}
			out_cont[layout][k] = prepare(regs, nregs, each, n, pager, limit,
			                              &out_alloc[layout][k]);
			for (int r = 0; r < RUNS; r++) {
				/* The same start each run: one sequential read first. */
				for (int i = 0; i < nregs; i++)
					read_all(regs[i], each);
				struct sample smp = timed_read(regs, nregs,
				        layout == 0 ? size : each, n);
				if (layout == 0)
					one[k][r] = smp;
				else
					sep[k][r] = smp;
			}
			for (int i = 0; i < nregs; i++)
				vm_deallocate(mach_task_self(), (vm_address_t)regs[i], each);
		}
	}
	const char *pt = getenv("MEMOBJ_PAGER_THREADS");
	printf("\nthreads: %zu MiB paged out and read back by N threads, per page-in "
	       "(host_statistics pageins), median of %d runs; pager pool %s\n",
	       size >> 20, RUNS, pt ? pt : "default (2 to 4 by the CPUs)");
	printf("%-24s %2s %9s %7s %8s %6s %10s %8s %8s %8s %7s\n", "", "N", "us/fault",
	       "ratio", "cpu us", "csw", "contended", "obj-cont", "overlap",
	       "page-ins", "pg/req");
	double ratio4 = 0;
	for (int layout = 0; layout < 2; layout++)
		for (int k = 0; k < NN; k++) {
			struct sample *v = layout == 0 ? one[k] : sep[k];
			double us[RUNS], cpu[RUNS], csw[RUNS], con[RUNS], oc[RUNS], ov[RUNS];
			double pr[RUNS], pf[RUNS];
			for (int r = 0; r < RUNS; r++) {
				us[r] = v[r].us; cpu[r] = v[r].cpu_us; csw[r] = v[r].csw;
				con[r] = v[r].contended; oc[r] = v[r].object_contended;
				ov[r] = v[r].overlapped;
				pr[r] = v[r].faults / (v[r].requests > 0 ? v[r].requests : 1);
				pf[r] = v[r].faults;
			}
			/* Ratio in the same run: run r of N threads over run r of 1. */
			double rat[RUNS];
			struct sample *base = layout == 0 ? one[0] : sep[0];
			for (int r = 0; r < RUNS; r++)
				rat[r] = v[r].us / base[r].us;
			double ratio = median(rat, RUNS);
			if (layout == 0 && ns[k] == 4)
				ratio4 = ratio;
			printf("%-24s %2d %9.2f %6.2fx %8.2f %6.2f %9.4f%% %8.0f %7.1f%% %8.0f %7.1f\n",
			       layout == 0 ? "one region (one object)" : "separate regions",
			       ns[k], median(us, RUNS), ratio, median(cpu, RUNS),
			       median(csw, RUNS), median(con, RUNS) * 100, median(oc, RUNS),
			       median(ov, RUNS) * 100, median(pf, RUNS), median(pr, RUNS));
		}
	printf("(contended: share of the pager's lock acquisitions that found the lock "
	       "taken; obj-cont: of an object's lock; overlap: data_requests begun "
	       "while another was served; page-ins per run; pages per data_request)\n");
	printf("page-out while N threads write (one pass): contended acquisitions, "
	       "of them the block allocator's\n");
	for (int layout = 0; layout < 2; layout++)
		for (int k = 0; k < NN; k++)
			printf("%-24s %2d %9.4f%% %8.0f\n",
			       layout == 0 ? "one region (one object)" : "separate regions",
			       ns[k], out_cont[layout][k] * 100, out_alloc[layout][k]);
	printf("4 threads vs 1, one object, per fault: %.2fx  (aim <= 0.6x: %s)\n",
	       ratio4, ratio4 <= 0.6 ? "met" : "not met");
}

int main(int argc, char **argv)
{
	size_t mib = argc > 1 ? strtoul(argv[1], NULL, 0) : 64;
	size_t size = mib << 20, limit = size / 4;
	char env[64];
	snprintf(env, sizeof env, "%zu", limit);
	setenv("MEMOBJ_RESIDENT_MAX", env, 1);
	host_page_size(mach_host_self(), &kpage);
	char path[256];
	snprintf(path, sizeof path, "%s/bench_default_pager.%d",
	         getenv("TMPDIR") ? getenv("TMPDIR") : "/var/tmp", (int)getpid());
	mach_port_t pager;
	if (default_pager_start(path, 2 * size, &pager) != KERN_SUCCESS)
		die("default_pager_start");

	/* BENCH_DP_CLUSTER=N: page-in clusters of N kernel pages (the
	 * default pager's registration, re-done with a cluster size). */
	const char *cl = getenv("BENCH_DP_CLUSTER");
	size_t cluster_pages = cl ? strtoul(cl, NULL, 0) : 0;
	if (cluster_pages > 0) {
		mach_port_t dm = pager;
		host_default_memory_manager(mach_host_self(), &dm, cluster_pages * kpage);
		if (MACH_PORT_VALID(dm))
			mach_port_deallocate(mach_task_self(), dm);
	}

	const char *only = getenv("BENCH_DP_ONLY");
	if (only != NULL && strcmp(only, "threads") == 0) {
		threads_section(pager, size, limit);
		unlink(path);
		return 0;
	}

	/* first touch, under the limit */
	size_t ft = limit * 3 / 4;
	double t_vm[RUNS], t_mm[RUNS];
	for (int r = 0; r < RUNS; r++) {
		char *m = mmap(NULL, ft, PROT_READ | PROT_WRITE,
		               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		t_mm[r] = touch(m, ft);
		munmap(m, ft);
		vm_address_t a = 0;
		if (vm_allocate(mach_task_self(), &a, ft, TRUE) != KERN_SUCCESS)
			die("vm_allocate");
		t_vm[r] = touch((char *)a, ft);
		vm_deallocate(mach_task_self(), a, ft);
	}
	double pages_ft = (double)(ft / kpage);
	double vm_us = median(t_vm, RUNS) * 1e6 / pages_ft;
	double mm_us = median(t_mm, RUNS) * 1e6 / pages_ft;

	/* page-out and page-in */
	double t_out[RUNS], t_in[RUNS], n_out[RUNS], n_in[RUNS];
	double t_in2[RUNS], n_in2[RUNS];
	for (int r = 0; r < RUNS; r++) {
		default_pager_info_t i0, info;
		default_pager_info(pager, &i0);
		vm_address_t a = 0;
		if (vm_allocate(mach_task_self(), &a, size, TRUE) != KERN_SUCCESS)
			die("vm_allocate");
		/* Pages go out while the region is written (the pageout thread
		 * converts it as soon as it is over the limit): time the write
		 * and the wait, and take off what the writes alone cost
		 * (anonymous first touch, measured above). */
		double t0 = now();
		touch((char *)a, size);
		vm_size_t want = (size - limit) * 9 / 10;
		do {
			default_pager_info(pager, &info);
		} while ((i0.free_space - info.free_space) < want && now() - t0 < 60);
		t_out[r] = now() - t0;
		n_out[r] = (double)(i0.free_space - info.free_space) / PAGE;
		struct vm_statistics s0, s1;
		mach_msg_type_number_t c0 = HOST_VM_INFO_COUNT, c1 = HOST_VM_INFO_COUNT;
		host_statistics(mach_host_self(), HOST_VM_INFO, (host_info_t)&s0, &c0);
		t_in[r] = read_all((char *)a, size);
		host_statistics(mach_host_self(), HOST_VM_INFO, (host_info_t)&s1, &c1);
		n_in[r] = (double)(s1.pageins - s0.pageins);
		/* Again: every page has been out once and the resident ones are
		 * clean, so this is page-in plus dropping clean pages. */
		c0 = c1 = HOST_VM_INFO_COUNT;
		host_statistics(mach_host_self(), HOST_VM_INFO, (host_info_t)&s0, &c0);
		t_in2[r] = read_all((char *)a, size);
		host_statistics(mach_host_self(), HOST_VM_INFO, (host_info_t)&s1, &c1);
		n_in2[r] = (double)(s1.pageins - s0.pageins);
		vm_deallocate(mach_task_self(), a, size);
		struct timespec ts = { 0, 200 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	double out_pages = median(n_out, RUNS);
	double out_us = (median(t_out, RUNS) * 1e6 -
	                 mm_us * (double)(size / kpage)) / out_pages;
	/* Pages installed from the pager while reading (host_statistics):
	 * the sequential read also evicts pages it reads later. */
	double in_faults = median(n_in, RUNS);
	if (in_faults < 1)
		in_faults = 1;
	double in_us = median(t_in, RUNS) * 1e6 / in_faults;
	double in2_pages = median(n_in2, RUNS);
	double in2_us = median(t_in2, RUNS) * 1e6 / (in2_pages < 1 ? 1 : in2_pages);

	/* floors: pwrite / pread of as many pages, raw uffd + pread */
	char fpath[300];
	snprintf(fpath, sizeof fpath, "%s.floor", path);
	int fd = open(fpath, O_RDWR | O_CREAT | O_TRUNC, 0600);
	char *buf = aligned_alloc(PAGE, kpage);
	memset(buf, 7, kpage);
	size_t nfl = (size_t)in_faults;
	double t_w[RUNS], t_r[RUNS], t_u[RUNS];
	for (int r = 0; r < RUNS; r++) {
		double t0 = now();
		for (size_t i = 0; i < nfl; i++)
			if (pwrite(fd, buf, kpage, (off_t)(i * kpage)) < 0)
				die("pwrite");
		t_w[r] = now() - t0;
		t0 = now();
		for (size_t i = 0; i < nfl; i++)
			if (pread(fd, buf, kpage, (off_t)(i * kpage)) < 0)
				die("pread");
		t_r[r] = now() - t0;
		t_u[r] = raw_uffd_pread(fd, nfl * kpage);
	}
	double w_us = median(t_w, RUNS) * 1e6 / (double)nfl;
	double r_us = median(t_r, RUNS) * 1e6 / (double)nfl;
	double u_us = median(t_u, RUNS) * 1e6 / (double)nfl;
	close(fd);
	unlink(fpath);
	unlink(path);

	double per4k = (double)PAGE / (double)kpage;
	printf("bench_default_pager: %zu MiB, MEMOBJ_RESIDENT_MAX %zu MiB, kernel page %zu, "
	       "median of %d runs, cluster %zu pages (shared machine: noisy)\n", mib, limit >> 20, kpage, RUNS, cluster_pages ? cluster_pages : 1);
	printf("%-44s %10s %10s\n", "", "us/4KiB", "MiB/s");
#define ROW(name, us) printf("%-44s %10.3f %10.1f\n", name, (us) * per4k, \
	                     (double)kpage / (us) / 1.048576)
	ROW("first touch, vm_allocate (never paged)", vm_us);
	ROW("first touch, anonymous mmap (floor)", mm_us);
	ROW("page-out to the default pager", out_us);
	ROW("pwrite of the same pages (floor)", w_us);
	ROW("page-in, first read (evicts dirty pages)", in_us);
	ROW("page-in, second read (clean evictions)", in2_us);
	ROW("pread of the same pages (floor)", r_us);
	ROW("raw userfaultfd fault + pread (floor)", u_us);
	double a1 = vm_us / mm_us, a2 = in2_us / u_us;
	printf("first touch vs mmap:        %.2fx  (aim <= 1.2x: %s)\n", a1,
	       a1 <= 1.2 ? "met" : "not met");
	printf("first-read page-in vs uffd + pread: %.2fx  (no aim: it also writes back)\n",
	       in_us / u_us);
	printf("page-in vs uffd + pread:    %.2fx  (aim <= 1.5x: %s)\n", a2,
	       a2 <= 1.5 ? "met" : "not met");
	printf("page-out vs pwrite:         %.2fx  (no aim)\n", out_us / w_us);
	threads_section(pager, size, limit);
	unlink(path);
	return 0;
}
