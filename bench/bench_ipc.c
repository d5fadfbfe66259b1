/* bench_ipc: what a Mach message costs inside one process, against the
 * cheapest ways two threads can hand each other a token.
 *
 *   mach one-way, 1 thread   send then receive in the same thread: the
 *                            IPC path alone, no wake-up
 *   mach one-way, 2 threads  one thread streams messages, another receives
 *                            them (queue limit 1024): throughput
 *   mach round trip          client mach_msg(SEND|RCV) with a send-once
 *                            reply right, server replying with SEND|RCV:
 *                            the request/reply cost a pager pays
 *   pipe ping-pong           one byte each way over two pipes
 *   futex ping-pong          FUTEX_WAIT/FUTEX_WAKE on a shared word
 *
 * Each prints µs per operation (one message, or one round trip) and
 * operations per second, then the ratio mach round trip / pipe ping-pong
 * (the aim is <= 1.5x). Every figure is measured for about 0.4 s (bounded
 * iteration counts), so the whole run takes a few seconds. The suite runs
 * twice: threads where the scheduler puts them, then every thread on CPU 0
 * (on a VM a cross-CPU wake-up can cost more than the work measured).
 *
 *   bench_ipc            (no arguments)
 */
#include <mach/mach.h>

#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define MEASURE_SECONDS 0.4
#define MAX_ITERS 5000000L
#define WARMUP_ITERS 2000L
#define ID_WORK 100
#define ID_STOP 101

typedef struct {
	mach_msg_header_t h;
	uint32_t payload[2];     /* 32 bytes in all */
} bench_msg_t;

typedef union {
	bench_msg_t m;
	char bytes[sizeof(bench_msg_t) + MAX_TRAILER_SIZE + 64];
} bench_buf_t;

static int pin_cpu0;       /* put every thread on CPU 0 */

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void die_mr(const char *what, mach_msg_return_t mr)
{
	fprintf(stderr, "bench_ipc: %s failed: 0x%x\n", what, mr);
	exit(1);
}

static void pin_self(void)
{
	if (!pin_cpu0)
		return;
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(0, &set);
	if (pthread_setaffinity_np(pthread_self(), sizeof set, &set) != 0) {
		fprintf(stderr, "bench_ipc: cannot pin to CPU 0\n");
		exit(1);
	}
}

static void start_thread(pthread_t *t, void *(*fn)(void *), void *arg)
{
	if (pthread_create(t, NULL, fn, arg) != 0) {
		fprintf(stderr, "bench_ipc: pthread_create failed\n");
		exit(1);
	}
}

static void report(const char *name, long iters, double secs)
{
	printf("%-28s %10ld %10.3f %12.0f\n", name, iters, secs * 1e6 / (double)iters,
	       (double)iters / secs);
	fflush(stdout);
}

/* Runs step() until MEASURE_SECONDS have passed (checking the clock every
 * 64 steps) or MAX_ITERS; returns the count and the elapsed time. */
static long timed_loop(void (*step)(void *), void *arg, double *secs)
{
	for (long i = 0; i < WARMUP_ITERS; i++)
		step(arg);
	long n = 0;
	double t0 = now(), t;
	do {
		for (int k = 0; k < 64; k++)
			step(arg);
		n += 64;
		t = now();
	} while (t - t0 < MEASURE_SECONDS && n < MAX_ITERS);
	*secs = t - t0;
	return n;
}

static mach_port_t new_port(mach_port_msgcount_t qlimit)
{
	mach_port_t p;
	kern_return_t kr = mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE, &p);
	if (kr != KERN_SUCCESS)
		die_mr("mach_port_allocate", kr);
	kr = mach_port_insert_right(mach_task_self(), p, p, MACH_MSG_TYPE_MAKE_SEND);
	if (kr != KERN_SUCCESS)
		die_mr("mach_port_insert_right", kr);
	mach_port_limits_t lim = { .mpl_qlimit = qlimit };
	kr = mach_port_set_attributes(mach_task_self(), p, MACH_PORT_LIMITS_INFO,
	        (mach_port_info_t)&lim, MACH_PORT_LIMITS_INFO_COUNT);
	if (kr != KERN_SUCCESS)
		die_mr("mach_port_set_attributes", kr);
	return p;
}

static void free_port(mach_port_t p)
{
	(void)mach_port_destroy(mach_task_self(), p);
}

static mach_msg_return_t send_to(mach_port_t dest, mach_msg_id_t id)
{
	bench_msg_t m;
	m.h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0);
	m.h.msgh_size = sizeof m;
	m.h.msgh_remote_port = dest;
	m.h.msgh_local_port = MACH_PORT_NULL;
	m.h.msgh_voucher_port = MACH_PORT_NULL;
	m.h.msgh_id = id;
	m.payload[0] = m.payload[1] = 0;
	return mach_msg(&m.h, MACH_SEND_MSG, sizeof m, 0, MACH_PORT_NULL, MACH_MSG_TIMEOUT_NONE,
	                MACH_PORT_NULL);
}

static mach_msg_return_t receive_from(mach_port_t port, bench_buf_t *b)
{
	return mach_msg(&b->m.h, MACH_RCV_MSG, 0, sizeof *b, port, MACH_MSG_TIMEOUT_NONE,
	                MACH_PORT_NULL);
}

/* ---- mach one-way, one thread ---- */

static void oneway_same_step(void *arg)
{
	mach_port_t p = *(mach_port_t *)arg;
	bench_buf_t b;
	mach_msg_return_t mr = send_to(p, ID_WORK);
	if (mr != MACH_MSG_SUCCESS)
		die_mr("send", mr);
	mr = receive_from(p, &b);
	if (mr != MACH_MSG_SUCCESS)
		die_mr("receive", mr);
}

static void bench_oneway_same_thread(void)
{
	mach_port_t p = new_port(MACH_PORT_QLIMIT_DEFAULT);
	double secs;
	long n = timed_loop(oneway_same_step, &p, &secs);
	report("mach one-way, 1 thread", n, secs);
	free_port(p);
}

/* ---- mach one-way, two threads ---- */

struct stream {
	mach_port_t port;
	long count;
};

static void *stream_sender(void *arg)
{
	struct stream *s = arg;
	pin_self();
	for (long i = 0; i < s->count; i++) {
		mach_msg_return_t mr = send_to(s->port, ID_WORK);
		if (mr != MACH_MSG_SUCCESS)
			die_mr("stream send", mr);
	}
	return NULL;
}

static double stream_run(mach_port_t p, long count)
{
	struct stream s = { .port = p, .count = count };
	pthread_t t;
	bench_buf_t b;
	double t0 = now();
	start_thread(&t, stream_sender, &s);
	for (long i = 0; i < count; i++) {
		mach_msg_return_t mr = receive_from(p, &b);
		if (mr != MACH_MSG_SUCCESS)
			die_mr("stream receive", mr);
	}
	double secs = now() - t0;
	pthread_join(t, NULL);
	return secs;
}

static void bench_oneway_two_threads(void)
{
	mach_port_t p = new_port(MACH_PORT_QLIMIT_LARGE);
	(void)stream_run(p, WARMUP_ITERS);
	/* size the run from a short probe so it lasts about MEASURE_SECONDS */
	long probe = 20000;
	double ps = stream_run(p, probe);
	long n = (long)((double)probe * MEASURE_SECONDS / (ps > 1e-6 ? ps : 1e-6));
	if (n < 1000)
		n = 1000;
	if (n > MAX_ITERS)
		n = MAX_ITERS;
	double secs = stream_run(p, n);
	report("mach one-way, 2 threads", n, secs);
	free_port(p);
}

/* ---- mach round trip ---- */

static void *rpc_server(void *arg)
{
	mach_port_t svc = *(mach_port_t *)arg;
	bench_buf_t b;
	pin_self();
	mach_msg_return_t mr = receive_from(svc, &b);
	for (;;) {
		if (mr != MACH_MSG_SUCCESS)
			die_mr("server receive", mr);
		int stop = b.m.h.msgh_id == ID_STOP;
		/* the reply goes back on the send-once right the request carried */
		b.m.h.msgh_bits = MACH_MSGH_BITS(MACH_MSGH_BITS_REMOTE(b.m.h.msgh_bits), 0);
		b.m.h.msgh_size = sizeof b.m;
		b.m.h.msgh_local_port = MACH_PORT_NULL;
		b.m.h.msgh_id += MIG_REPLY_ID_OFFSET;
		if (stop) {
			mr = mach_msg(&b.m.h, MACH_SEND_MSG, sizeof b.m, 0, MACH_PORT_NULL,
			        MACH_MSG_TIMEOUT_NONE, MACH_PORT_NULL);
			if (mr != MACH_MSG_SUCCESS)
				die_mr("server final reply", mr);
			return NULL;
		}
		mr = mach_msg(&b.m.h, MACH_SEND_MSG | MACH_RCV_MSG, sizeof b.m, sizeof b, svc,
		        MACH_MSG_TIMEOUT_NONE, MACH_PORT_NULL);
	}
}

struct rpc_client {
	mach_port_t svc, reply;
};

static void rpc_call(struct rpc_client *c, mach_msg_id_t id)
{
	bench_buf_t b;
	b.m.h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, MACH_MSG_TYPE_MAKE_SEND_ONCE);
	b.m.h.msgh_size = sizeof b.m;
	b.m.h.msgh_remote_port = c->svc;
	b.m.h.msgh_local_port = c->reply;
	b.m.h.msgh_voucher_port = MACH_PORT_NULL;
	b.m.h.msgh_id = id;
	b.m.payload[0] = b.m.payload[1] = 1;
	mach_msg_return_t mr = mach_msg(&b.m.h, MACH_SEND_MSG | MACH_RCV_MSG, sizeof b.m, sizeof b,
	        c->reply, MACH_MSG_TIMEOUT_NONE, MACH_PORT_NULL);
	if (mr != MACH_MSG_SUCCESS)
		die_mr("client call", mr);
	if (b.m.h.msgh_id != id + MIG_REPLY_ID_OFFSET) {
		fprintf(stderr, "bench_ipc: wrong reply id %d\n", b.m.h.msgh_id);
		exit(1);
	}
}

static void rpc_step(void *arg)
{
	rpc_call(arg, ID_WORK);
}

static double bench_round_trip(void)
{
	struct rpc_client c = { .svc = new_port(MACH_PORT_QLIMIT_DEFAULT),
	                        .reply = new_port(MACH_PORT_QLIMIT_DEFAULT) };
	pthread_t t;
	start_thread(&t, rpc_server, &c.svc);
	double secs;
	long n = timed_loop(rpc_step, &c, &secs);
	rpc_call(&c, ID_STOP);
	pthread_join(t, NULL);
	report("mach round trip (SEND|RCV)", n, secs);
	free_port(c.svc);
	free_port(c.reply);
	return secs * 1e6 / (double)n;
}

/* ---- pipe ping-pong ---- */

struct pipes {
	int to_server[2], to_client[2];
};

static void *pipe_server(void *arg)
{
	struct pipes *p = arg;
	pin_self();
	for (;;) {
		char c;
		if (read(p->to_server[0], &c, 1) != 1)
			break;
		if (write(p->to_client[1], &c, 1) != 1)
			break;
		if (c == 'q')
			break;
	}
	return NULL;
}

static void pipe_roundtrip(struct pipes *p, char c)
{
	char r;
	if (write(p->to_server[1], &c, 1) != 1 || read(p->to_client[0], &r, 1) != 1) {
		fprintf(stderr, "bench_ipc: pipe ping-pong failed: %s\n", strerror(errno));
		exit(1);
	}
}

static void pipe_step(void *arg)
{
	pipe_roundtrip(arg, 'x');
}

static double bench_pipe(void)
{
	struct pipes p;
	if (pipe(p.to_server) != 0 || pipe(p.to_client) != 0) {
		perror("bench_ipc: pipe");
		exit(1);
	}
	pthread_t t;
	start_thread(&t, pipe_server, &p);
	double secs;
	long n = timed_loop(pipe_step, &p, &secs);
	pipe_roundtrip(&p, 'q');
	pthread_join(t, NULL);
	report("pipe ping-pong", n, secs);
	close(p.to_server[0]); close(p.to_server[1]);
	close(p.to_client[0]); close(p.to_client[1]);
	return secs * 1e6 / (double)n;
}

/* ---- futex ping-pong ---- */

/* 0: nothing posted; 1: request posted (client -> server); 2: reply
 * posted (server -> client); 3: stop. Every 1 and 3 is posted with a wake. */
static _Atomic uint32_t futex_word;

static void futex_sleep(uint32_t expected)
{
	syscall(SYS_futex, &futex_word, FUTEX_WAIT_PRIVATE, expected, NULL, NULL, 0);
}

static void futex_post(uint32_t v)
{
	atomic_store_explicit(&futex_word, v, memory_order_release);
	syscall(SYS_futex, &futex_word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

static void *futex_server(void *arg)
{
	(void)arg;
	pin_self();
	for (;;) {
		uint32_t v;
		while ((v = atomic_load_explicit(&futex_word, memory_order_acquire)) == 0 || v == 2)
			futex_sleep(v);
		if (v == 3)
			return NULL;
		futex_post(2);
	}
}

static void futex_step(void *arg)
{
	(void)arg;
	futex_post(1);
	uint32_t v;
	while ((v = atomic_load_explicit(&futex_word, memory_order_acquire)) != 2)
		futex_sleep(v);
	atomic_store_explicit(&futex_word, 0, memory_order_release);
}

static double bench_futex(void)
{
	atomic_store(&futex_word, 0);
	pthread_t t;
	start_thread(&t, futex_server, NULL);
	double secs;
	long n = timed_loop(futex_step, NULL, &secs);
	futex_post(3);
	pthread_join(t, NULL);
	report("futex ping-pong", n, secs);
	return secs * 1e6 / (double)n;
}

static void suite(const char *placement)
{
	printf("\n== threads: %s\n", placement);
	printf("%-28s %10s %10s %12s\n", "test", "iterations", "us/op", "ops/s");
	pin_self();
	bench_oneway_same_thread();
	bench_oneway_two_threads();
	double rt = bench_round_trip();
	double pp = bench_pipe();
	double fx = bench_futex();
	printf("ratio mach round trip / pipe ping-pong:  %.2fx  (aim <= 1.5x) %s\n", rt / pp,
	       rt / pp <= 1.5 ? "ok" : "OVER");
	printf("ratio mach round trip / futex ping-pong: %.2fx\n", rt / fx);
}

int main(int argc, char **argv)
{
	(void)argv;
	if (argc > 1) {
		fprintf(stderr, "usage: bench_ipc\n");
		return 2;
	}
	cpu_set_t all;
	if (sched_getaffinity(0, sizeof all, &all) != 0)
		CPU_ZERO(&all);
	printf("bench_ipc: %zu-byte messages; %.1f s per figure; %ld CPUs online\n",
	       sizeof(bench_msg_t), MEASURE_SECONDS, sysconf(_SC_NPROCESSORS_ONLN));
	suite("scheduler-placed");
	pin_cpu0 = 1;
	suite("all on CPU 0");
	if (CPU_COUNT(&all) > 0)
		(void)sched_setaffinity(0, sizeof all, &all);
	return 0;
}
