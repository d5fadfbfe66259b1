/* A remote page fault: the kernel in this process, the pager in another
 * (this program re-executed), over a Unix socket and over TCP between two
 * network namespaces (skipped where they cannot be made). Beside each:
 * a raw socket round trip of one 4 KiB page on the same path (a request
 * of 64 bytes, an answer of 4 KiB), and the in-process fault (pager
 * thread in this process). Every frame of the TCP path is sealed
 * (AES-256-GCM where the CPU has AES-NI, else XChaCha20-Poly1305; set
 * MEMOBJ_NET_AEAD=xchacha20poly1305 to measure the fallback); the Unix
 * link, unkeyed, carries them in clear (MEMOBJ_NET_SEAL_UNIX=1 or a
 * MEMOBJ_KEY seals it too); the raw round trip is never sealed: it is the
 * floor. Also prints what each AEAD costs a 4 KiB record here.
 * Prints, per path, the medians over ROUNDS rounds of µs per fault and
 * of the ratio remote / (raw + local) taken within each round, context
 * switches per remote fault on each node, and the aim with met / not met.
 *
 *   bench_remote [PAGES [ROUNDS]] [unix] [tcp] [--only remote|raw|local]
 *
 * PAGES faults per measurement (default 2000), ROUNDS (default 5); the
 * words pick paths (default both); --only runs one kind of measurement
 * (for strace -c -f or perf on one of them). */
#include <mach/mach.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <poll.h>
#include <sodium.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <dirent.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_common.h"

static size_t pages = 2000;
static int rounds = 5;
static const char *only;               /* NULL, "remote", "raw" or "local" */
static const size_t PAGE = 4096;

static double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

/* ---- the pager (a trivial manager: every request supplied at once) ---- */

kern_return_t memory_object_init(memory_object_t object, memory_object_control_t control,
        vm_size_t page_size)
{
	(void)object;
	(void)page_size;
	memory_object_perf_info_data_t perf = { .cluster_size = 0, .may_cache = FALSE };
	memory_object_change_attributes(control, MEMORY_OBJECT_PERFORMANCE_INFO,
	        (memory_object_info_t)&perf, MEMORY_OBJECT_PERF_INFO_COUNT, MACH_PORT_NULL);
	return KERN_SUCCESS;
}

kern_return_t memory_object_data_request(memory_object_t object,
        memory_object_control_t control, vm_offset_t offset, vm_size_t length,
        vm_prot_t access)
{
	(void)object;
	(void)access;
	static uint8_t buf[1 << 16];
	memset(buf, (int)(offset >> 12) & 0xff, length < sizeof buf ? length : sizeof buf);
	memory_object_data_supply(control, offset, (pointer_t)buf,
	        (mach_msg_type_number_t)length, FALSE, VM_PROT_NONE, FALSE, MACH_PORT_NULL);
	mach_port_deallocate(mach_task_self(), control);
	return KERN_SUCCESS;
}

kern_return_t memory_object_terminate(memory_object_t object, memory_object_control_t control)
{
	(void)object;
	mach_port_destroy(mach_task_self(), control);
	return KERN_SUCCESS;
}

static void *pager_thread(void *arg)
{
	mach_msg_server(memory_object_server, 8192 + 65536, (mach_port_t)(uintptr_t)arg, 0);
	return NULL;
}

static mach_port_t pager_start(void)
{
	mach_port_t obj;
	mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE, &obj);
	mach_port_insert_right(mach_task_self(), obj, obj, MACH_MSG_TYPE_MAKE_SEND);
	pthread_t t;
	pthread_create(&t, NULL, pager_thread, (void *)(uintptr_t)obj);
	pthread_detach(t);
	return obj;
}

/* ---- raw socket: a 64-byte request, a 4 KiB answer ---- */

static void raw_serve(int fd)
{
	uint8_t req[64], page[4096];
	memset(page, 7, sizeof page);
	for (;;) {
		size_t got = 0;
		while (got < sizeof req) {
			ssize_t n = read(fd, req + got, sizeof req - got);
			if (n <= 0)
				return;
			got += (size_t)n;
		}
		if (write(fd, page, sizeof page) != (ssize_t)sizeof page)
			return;
	}
}

static double raw_rtt(int fd)
{
	uint8_t req[64] = {0}, page[4096];
	double t0 = now_us();
	for (size_t i = 0; i < pages; i++) {
		if (write(fd, req, sizeof req) != (ssize_t)sizeof req)
			return -1;
		size_t got = 0;
		while (got < sizeof page) {
			ssize_t n = read(fd, page + got, sizeof page - got);
			if (n <= 0)
				return -1;
			got += (size_t)n;
		}
	}
	return (now_us() - t0) / (double)pages;
}

/* ---- the peer: pager node + raw server ---- */

static int peer(const char *memobj_addr, const char *raw_kind, const char *raw_addr, int port)
{
	if (memobj_listen(memobj_addr) != KERN_SUCCESS)
		return 2;
	mach_port_t obj = pager_start();
	if (netname_check_in(MACH_PORT_NULL, "bench", MACH_PORT_NULL, obj) != KERN_SUCCESS)
		return 3;
	int ls;
	if (strcmp(raw_kind, "unix") == 0) {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		snprintf(sa.sun_path, sizeof sa.sun_path, "%s", raw_addr);
		unlink(raw_addr);
		ls = socket(AF_UNIX, SOCK_STREAM, 0);
		if (bind(ls, (struct sockaddr *)&sa, sizeof sa) != 0)
			return 4;
	} else {
		struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
		inet_pton(AF_INET, raw_addr, &sa.sin_addr);
		ls = socket(AF_INET, SOCK_STREAM, 0);
		int one = 1;
		setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
		if (bind(ls, (struct sockaddr *)&sa, sizeof sa) != 0)
			return 4;
	}
	listen(ls, 1);
	printf("ready\n");
	fflush(stdout);
	int fd = accept(ls, NULL, NULL);
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	raw_serve(fd);
	for (;;)
		pause();
}

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

/* Faults `pages` pages of a fresh mapping of obj, one at a time. */
static double fault_us(mach_port_t obj)
{
	vm_address_t a = 0;
	vm_size_t size = pages * PAGE;
	if (vm_map(mach_task_self(), &a, size, 0, TRUE, obj, 0, FALSE, VM_PROT_READ,
	           VM_PROT_ALL, VM_INHERIT_NONE) != KERN_SUCCESS)
		return -1;
	(void)*(volatile uint8_t *)a;   /* the object is ready after this one */
	double t0 = now_us();
	for (size_t i = 1; i < pages; i++)
		(void)*(volatile uint8_t *)(a + i * PAGE);
	double us = (now_us() - t0) / (double)(pages - 1);
	vm_deallocate(mach_task_self(), a, size);
	return us;
}

static pid_t spawn(const char *const *argv, int *out)
{
	int fds[2];
	if (pipe(fds) != 0)
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		dup2(fds[1], 1);
		close(fds[0]);
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(fds[1]);
	*out = fds[0];
	return pid;
}

static int wait_ready(int fd)
{
	char buf[64];
	struct pollfd p = { .fd = fd, .events = POLLIN };
	if (poll(&p, 1, 20000) <= 0)
		return -1;
	return read(fd, buf, sizeof buf) > 0 ? 0 : -1;
}

/* What every thread of pid has used so far: context switches (voluntary
 * and involuntary) and CPU time in µs (schedstat, ns resolution). */
struct usage {
	long switches;
	long voluntary;                /* of which the thread went to sleep */
	double cpu_us;
};

static int usage_of(pid_t pid, struct usage *u)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
	DIR *d = opendir(path);
	if (d == NULL)
		return -1;
	u->switches = 0;
	u->voluntary = 0;
	u->cpu_us = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		char sp[sizeof path + 300], line[128];
		snprintf(sp, sizeof sp, "%s/%.200s/status", path, e->d_name);
		FILE *f = fopen(sp, "r");
		if (f != NULL) {
			while (fgets(line, sizeof line, f)) {
				long v;
				if (sscanf(line, "voluntary_ctxt_switches: %ld", &v) == 1) {
					u->switches += v;
					u->voluntary += v;
				} else if (sscanf(line, "nonvoluntary_ctxt_switches: %ld", &v) == 1) {
					u->switches += v;
				}
			}
			fclose(f);
		}
		snprintf(sp, sizeof sp, "%s/%.200s/schedstat", path, e->d_name);
		f = fopen(sp, "r");
		if (f != NULL) {
			unsigned long long ns;
			if (fscanf(f, "%llu", &ns) == 1)
				u->cpu_us += (double)ns / 1e3;
			fclose(f);
		}
	}
	closedir(d);
	return 0;
}

/* The links' AEAD: AES-256-GCM where libsodium has it (AES-NI) and
 * MEMOBJ_NET_AEAD does not say otherwise, else XChaCha20-Poly1305
 * (docs/wire.md 3a); both ends of the bench run on this machine. */
static bool links_use_aes(void)
{
	const char *want = getenv("MEMOBJ_NET_AEAD");
	return crypto_aead_aes256gcm_is_available() &&
	       !(want != NULL && strcmp(want, "xchacha20poly1305") == 0);
}

/* CPU µs to seal and open one record of len plaintext bytes as a link
 * does (the 4-byte length as associated data, the sequence number as
 * nonce; AES-256-GCM with its key expanded once, as a link keeps it). */
static double aead_us(size_t len, bool aes)
{
	static uint8_t rec[4 + 65536 + 16], out[65536];
	static crypto_aead_aes256gcm_state st;
	uint8_t key[32];
	uint8_t nonce[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES] = { 0 };
	randombytes_buf(key, sizeof key);
	if (aes)
		crypto_aead_aes256gcm_beforenm(&st, key);
	const int n = 2000;
	struct timespec a, b;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a);
	for (int i = 0; i < n; i++) {
		nonce[0] = (uint8_t)i;
		int bad;
		if (aes) {
			crypto_aead_aes256gcm_encrypt_detached_afternm(rec + 4, rec + 4 + len, NULL,
			        rec + 4, len, rec, 4, NULL, nonce, &st);
			bad = crypto_aead_aes256gcm_decrypt_detached_afternm(out, NULL, rec + 4, len,
			        rec + 4 + len, rec, 4, nonce, &st);
		} else {
			crypto_aead_xchacha20poly1305_ietf_encrypt_detached(rec + 4, rec + 4 + len,
			        NULL, rec + 4, len, rec, 4, NULL, nonce, key);
			bad = crypto_aead_xchacha20poly1305_ietf_decrypt_detached(out, NULL, rec + 4,
			        len, rec + 4 + len, rec, 4, nonce, key);
		}
		if (bad != 0)
			return -1;
	}
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b);
	return ((b.tv_sec - a.tv_sec) * 1e6 + (b.tv_nsec - a.tv_nsec) / 1e3) / n;
}

/* Medians of 5: MB/s to seal + open a 4 KiB record with each AEAD. */
/* Whether this run's unkeyed Unix link seals its frames: a key, or
 * MEMOBJ_NET_SEAL_UNIX=1 (docs/network.md). */
static bool unix_sealed(void)
{
	const char *key = getenv("MEMOBJ_KEY"), *seal = getenv("MEMOBJ_NET_SEAL_UNIX");
	return (key != NULL && key[0] != '\0') || (seal != NULL && strcmp(seal, "1") == 0);
}

static void aead_report(void)
{
	double x[5], g[5];
	for (int i = 0; i < 5; i++) {
		x[i] = aead_us(4096, false);
		g[i] = crypto_aead_aes256gcm_is_available() ? aead_us(4096, true) : 0;
	}
	double xm = median(x, 5), gm = median(g, 5);
	printf("AEAD, seal + open of a 4 KiB record (CPU, median of 5): XChaCha20-Poly1305 "
	       "%.1f us (%.0f MB/s)", xm, 4096 / xm);
	if (gm > 0)
		printf(", AES-256-GCM %.1f us (%.0f MB/s)", gm, 4096 / gm);
	else
		printf(", AES-256-GCM not available here (no AES-NI)");
	printf("; links use %s\n", links_use_aes() ? "AES-256-GCM" : "XChaCha20-Poly1305");
}

/* One round on one path: a fresh peer, the remote fault, the raw round
 * trip, and the in-process fault, all within the same few seconds. */
static int round_once(const char *const *prefix, const char *memobj_addr,
        const char *raw_kind, const char *raw_addr, int port, double *remote, double *raw,
        double *local, double *use)
{
	char self[4096], portstr[16];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	self[n > 0 ? n : 0] = '\0';
	snprintf(portstr, sizeof portstr, "%d", port);
	const char *argv[16];
	int argc = 0;
	for (int i = 0; prefix && prefix[i]; i++)
		argv[argc++] = prefix[i];
	argv[argc++] = self;
	argv[argc++] = "--peer";
	argv[argc++] = memobj_addr;
	argv[argc++] = raw_kind;
	argv[argc++] = raw_addr;
	argv[argc++] = portstr;
	argv[argc] = NULL;
	int out;
	pid_t pid = spawn(argv, &out);
	mach_port_t ns, obj;
	int ok = -1;
	*remote = *raw = *local = 0;
	if (pid > 0 && wait_ready(out) == 0 && memobj_connect(memobj_addr, &ns) == KERN_SUCCESS &&
	    netname_look_up(ns, "", "bench", &obj) == KERN_SUCCESS) {
		ok = 0;
		if (only == NULL || strcmp(only, "remote") == 0) {
			struct usage h0, h1, p0, p1;
			int bad = usage_of(getpid(), &h0) | usage_of(pid, &p0);
			*remote = fault_us(obj);
			bad |= usage_of(pid, &p1) | usage_of(getpid(), &h1);
			/* Per fault: switches here, there; CPU µs here, there. */
			use[0] = bad ? -1 : (double)(h1.switches - h0.switches) / (double)pages;
			use[1] = bad ? -1 : (double)(p1.switches - p0.switches) / (double)pages;
			use[2] = bad ? -1 : (h1.cpu_us - h0.cpu_us) / (double)pages;
			use[3] = bad ? -1 : (p1.cpu_us - p0.cpu_us) / (double)pages;
			use[8] = bad ? -1 : (double)(h1.voluntary - h0.voluntary + p1.voluntary -
			                             p0.voluntary) / (double)pages;
			if (*remote < 0)
				ok = -1;
		}
		if (ok == 0 && (only == NULL || strcmp(only, "raw") == 0)) {
			struct usage h0, h1, p0, p1;
			int fd = raw_connect(raw_kind, raw_addr, port);
			int bad = usage_of(getpid(), &h0) | usage_of(pid, &p0);
			*raw = fd >= 0 ? raw_rtt(fd) : -1;
			bad |= usage_of(pid, &p1) | usage_of(getpid(), &h1);
			if (fd >= 0)
				close(fd);
			if (*raw < 0)
				ok = -1;
			/* Both ends together, per round trip. */
			use[4] = bad ? -1 : (double)(h1.switches - h0.switches + p1.switches -
			                             p0.switches) / (double)pages;
			use[5] = bad ? -1 : (h1.cpu_us - h0.cpu_us + p1.cpu_us - p0.cpu_us) /
			                    (double)pages;
			use[9] = bad ? -1 : (double)(h1.voluntary - h0.voluntary + p1.voluntary -
			                             p0.voluntary) / (double)pages;
		}
		if (ok == 0 && (only == NULL || strcmp(only, "local") == 0)) {
			mach_port_t lobj = pager_start();
			struct usage h0, h1;
			int bad = usage_of(getpid(), &h0);
			*local = fault_us(lobj);
			bad |= usage_of(getpid(), &h1);
			use[6] = bad ? -1 : (double)(h1.switches - h0.switches) / (double)pages;
			use[10] = bad ? -1 : (double)(h1.voluntary - h0.voluntary) / (double)pages;
			use[7] = bad ? -1 : (h1.cpu_us - h0.cpu_us) / (double)pages;
		}
		mach_port_deallocate(mach_task_self(), obj);
		mach_port_deallocate(mach_task_self(), ns);
	}
	if (pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		close(out);
	}
	return ok;
}

static void run(const char *label, const char *const *prefix, const char *memobj_addr,
        const char *raw_kind, const char *raw_addr, int port, bool sealed)
{
	double rem[64], raw[64], loc[64], ratio[64], use[11][64];
	int n = 0;
	for (int i = 0; i < rounds; i++) {
		double u[11] = { 0 };
		if (round_once(prefix, memobj_addr, raw_kind, raw_addr, port, &rem[n], &raw[n],
		        &loc[n], u) != 0) {
			printf("%-22s round %d failed\n", label, i + 1);
			continue;
		}
		ratio[n] = raw[n] + loc[n] > 0 ? rem[n] / (raw[n] + loc[n]) : 0;
		for (int k = 0; k < 11; k++)
			use[k][n] = u[k];
		n++;
	}
	if (n == 0) {
		printf("%-22s failed\n", label);
		return;
	}
	double r = median(ratio, n);
	printf("%-22s remote fault %7.1f us  raw 4K round trip %6.1f us  in-process fault %6.1f us\n"
	       "%-22s per remote fault: context switches %.1f kernel node + %.1f pager node, "
	       "CPU %.1f + %.1f us\n",
	       label, median(rem, n), median(raw, n), median(loc, n), "", median(use[0], n),
	       median(use[1], n), median(use[2], n), median(use[3], n));
	if (only == NULL) {
		printf("%-22s the floor: raw round trip %.1f switches, %.1f us CPU (both ends); "
		       "in-process fault %.1f switches, %.1f us CPU\n", "", median(use[4], n),
		       median(use[5], n), median(use[6], n), median(use[7], n));
		/* Sleeps are what the design decides; preemptions are the load's. */
		printf("%-22s voluntary switches (the threads' sleeps): remote %.1f (both nodes), "
		       "floor %.1f + %.1f\n", "", median(use[8], n), median(use[9], n),
		       median(use[10], n));
	}
	if (only != NULL)
		return;
	if (!sealed) {
		printf("%-22s frames in clear (an unkeyed Unix link): no AEAD on this path\n", "");
		goto aim;
	}
	/* The floor does not encrypt; this is what sealing costs a fault:
	 * a data_request record out, a data_supply record back. */
	double aead = aead_us(132, links_use_aes()) + aead_us(4208, links_use_aes());
	double floor = median(raw, n) + median(loc, n), gap = median(rem, n) - floor;
	char share[64] = "no gap over the floor";
	if (gap > 0)
		snprintf(share, sizeof share, "%.0f%% of the gap over the floor",
		         aead < gap ? 100 * aead / gap : 100.0);
	printf("%-22s AEAD (seal + open, both records) %.1f us per fault: %s; without it "
	       "the ratio would be %.2f\n", "", aead, share, (median(rem, n) - aead) / floor);
aim:
	printf("%-22s remote/(raw+local) = %.2f, median of %d rounds  "
	       "(aim <= 1.20: %s)\n", "", r, n, r <= 1.2 ? "met" : "not met");
}

static int sh(const char *cmd)
{
	int rc = system(cmd);
	return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

int main(int argc, char **argv)
{
	if (argc >= 6 && strcmp(argv[1], "--peer") == 0)
		return peer(argv[2], argv[3], argv[4], atoi(argv[5]));
	bool want_unix = false, want_tcp = false;
	int nums = 0;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "unix") == 0)
			want_unix = true;
		else if (strcmp(argv[i], "tcp") == 0)
			want_tcp = true;
		else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc)
			only = argv[++i];
		else if (atol(argv[i]) > 0 && nums == 0 && ++nums)
			pages = atol(argv[i]) > 1 ? (size_t)atol(argv[i]) : 2;
		else if (atoi(argv[i]) > 0 && nums == 1 && ++nums)
			rounds = atoi(argv[i]) > 64 ? 64 : atoi(argv[i]);
		else {
			fprintf(stderr, "usage: bench_remote [PAGES [ROUNDS]] [unix] [tcp] "
			        "[--only remote|raw|local]\n");
			return 2;
		}
	}
	if (!want_unix && !want_tcp)
		want_unix = want_tcp = true;
	setenv("MEMOBJ_PAGE_SIZE", "4096", 1);
	if (sodium_init() < 0)
		return 1;
	printf("%zu faults per measurement, %d rounds; TCP frames sealed (%s), Unix ones %s, "
	       "raw round trip never\n", pages - 1, rounds,
	       links_use_aes() ? "AES-256-GCM" : "XChaCha20-Poly1305",
	       unix_sealed() ? "sealed too" : "in clear");
	aead_report();

	char dir[] = "/tmp/memobj-bench-XXXXXX", maddr[128], raddr[128], cmd[1024];
	if (want_unix) {
		if (mkdtemp(dir) == NULL)
			return 1;
		snprintf(maddr, sizeof maddr, "unix:%s/memobj", dir);
		snprintf(raddr, sizeof raddr, "%s/raw", dir);
		run("unix socket", NULL, maddr, "unix", raddr, 0, unix_sealed());
		snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
		sh(cmd);
	}
	if (!want_tcp)
		return 0;

	/* TCP between two namespaces (this one and a new one over a veth). */
	char nsn[32];
	snprintf(nsn, sizeof nsn, "mobjb%d", (int)getpid() % 100000);
	snprintf(cmd, sizeof cmd,
	         "ip netns add %1$s && ip link add %1$sa type veth peer name %1$sb && "
	         "ip link set %1$sb netns %1$s && ip addr add 10.198.7.1/24 dev %1$sa && "
	         "ip link set %1$sa up && ip -n %1$s addr add 10.198.7.2/24 dev %1$sb && "
	         "ip -n %1$s link set %1$sb up && ip -n %1$s link set lo up 2>/dev/null", nsn);
	if (sh(cmd) == 0) {
		setenv("MEMOBJ_KEY", "bench key, not secret", 1);
		const char *prefix[] = { "ip", "netns", "exec", nsn, NULL };
		run("tcp, two namespaces", prefix, "tcp:10.198.7.2:7456", "tcp", "10.198.7.2",
		    7457, true);
	} else {
		printf("tcp, two namespaces    skipped: cannot make network namespaces (needs root)\n");
	}
	snprintf(cmd, sizeof cmd, "ip netns del %1$s 2>/dev/null; ip link del %1$sa 2>/dev/null", nsn);
	sh(cmd);
	return 0;
}
