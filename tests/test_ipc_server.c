/* mach_msg_server / mach_msg_server_once with a MIG-style demux, and
 * mach_msg_destroy. The rule under test (SPEC 2.1, XNU libsyscall
 * mach_msg_server): a routine's KERN_SUCCESS keeps every right the request
 * carried; MIG_NO_REPLY keeps them and sends nothing; any other value
 * destroys the request's rights (not the reply port, which gets the error
 * reply); an unknown id makes demux return FALSE: MIG_BAD_ID goes back where
 * there is a reply port, otherwise the request is destroyed. Rights are
 * watched through no-senders notifications. */
#include <mach/mach.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include "harness.h"

#include "ipc_rights.h"

#define REQ_ID 1000

typedef struct {
	mach_msg_header_t h;
	mach_msg_body_t body;
	mach_msg_port_descriptor_t port;
	mach_msg_ool_descriptor_t ool;
	NDR_record_t ndr;
	kern_return_t ret;     /* what the routine is to return */
} request_t;

/* What the routine saw. */
static struct {
	int calls;
	mach_port_t reply;
	mach_port_t right;
	void *ool;
	mach_msg_size_t ool_size;
} rt;

/* A demux the way MIG writes one: known id -> call the routine, build the
 * reply; unknown id -> MIG_BAD_ID reply, FALSE. */
static boolean_t test_demux(mach_msg_header_t *in, mach_msg_header_t *out)
{
	mig_reply_error_t *r = (mig_reply_error_t *)out;
	r->Head.msgh_bits = MACH_MSGH_BITS(MACH_MSGH_BITS_REMOTE(in->msgh_bits), 0);
	r->Head.msgh_size = sizeof *r;
	r->Head.msgh_remote_port = in->msgh_remote_port;
	r->Head.msgh_local_port = MACH_PORT_NULL;
	r->Head.msgh_voucher_port = MACH_PORT_NULL;
	r->Head.msgh_id = in->msgh_id + MIG_REPLY_ID_OFFSET;
	r->NDR = NDR_record;
	if (in->msgh_id != REQ_ID || in->msgh_size != sizeof(request_t) ||
	    !(in->msgh_bits & MACH_MSGH_BITS_COMPLEX)) {
		r->RetCode = MIG_BAD_ID;
		return FALSE;
	}
	request_t *req = (request_t *)in;
	rt.calls++;
	rt.reply = in->msgh_remote_port;
	rt.right = req->port.name;
	rt.ool = req->ool.address;
	rt.ool_size = req->ool.size;
	r->RetCode = req->ret;
	return TRUE;
}

static int is_mapped(const void *addr, size_t len)
{
	long pg = sysconf(_SC_PAGESIZE);
	uintptr_t a = (uintptr_t)addr & ~(uintptr_t)(pg - 1);
	size_t l = len + ((uintptr_t)addr - a);
	if (msync((void *)a, l, MS_ASYNC) == 0)
		return 1;
	return errno == ENOMEM ? 0 : -1;
}

struct fixture {
	mach_port_t service;  /* the server's port */
	mach_port_t client;   /* the client's reply port */
	mach_port_t w;        /* the port whose send right rides in the request */
	mach_port_t n;        /* no-senders notifications for w arrive here */
	char data[3000];
};

static void fixture_init(struct fixture *f)
{
	memset(f, 0, sizeof *f);
	f->service = new_port();
	f->client = new_port();
	f->w = new_port();
	f->n = new_port();
	mach_port_t prev = 1;
	CHECK_EQ(mach_port_request_notification(mach_task_self(), f->w, MACH_NOTIFY_NO_SENDERS, 1, f->n,
	        MACH_MSG_TYPE_MAKE_SEND_ONCE, &prev), KERN_SUCCESS);
	CHECK_EQ(prev, MACH_PORT_NULL);
	for (size_t i = 0; i < sizeof f->data; i++)
		f->data[i] = (char)(i * 13);
	memset(&rt, 0, sizeof rt);
}

static void fixture_fini(struct fixture *f)
{
	rcv_buf_t b;
	CHECK_EQ(recv_msg(f->client, &b, 0), MACH_RCV_TIMED_OUT);
	CHECK_EQ(recv_msg(f->service, &b, 0), MACH_RCV_TIMED_OUT);
	drop_receive(f->service);
	drop_receive(f->client);
	drop_receive(f->w);
	/* the no-senders request died with w; its send-once right tells n */
	while (recv_msg(f->n, &b, 0) == MACH_MSG_SUCCESS)
		CHECK_EQ(b.h.msgh_id, MACH_NOTIFY_SEND_ONCE);
	drop_receive(f->n);
}

/* Sends a request carrying a send right for f->w and a copy of f->data. */
static void send_request(struct fixture *f, mach_msg_id_t id, kern_return_t ret, boolean_t with_reply)
{
	request_t m;
	memset(&m, 0, sizeof m);
	m.h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_MAKE_SEND, with_reply ? MACH_MSG_TYPE_MAKE_SEND_ONCE : 0) |
	                MACH_MSGH_BITS_COMPLEX;
	m.h.msgh_size = sizeof m;
	m.h.msgh_remote_port = f->service;
	m.h.msgh_local_port = with_reply ? f->client : MACH_PORT_NULL;
	m.h.msgh_id = id;
	m.body.msgh_descriptor_count = 2;
	m.port.name = f->w;
	m.port.disposition = MACH_MSG_TYPE_MAKE_SEND;
	m.port.type = MACH_MSG_PORT_DESCRIPTOR;
	m.ool.address = f->data;
	m.ool.size = sizeof f->data;
	m.ool.copy = MACH_MSG_VIRTUAL_COPY;
	m.ool.deallocate = FALSE;
	m.ool.type = MACH_MSG_OOL_DESCRIPTOR;
	m.ndr = NDR_record;
	m.ret = ret;
	CHECK_EQ(mach_msg(&m.h, MACH_SEND_MSG, sizeof m, 0, MACH_PORT_NULL, 0, MACH_PORT_NULL), MACH_MSG_SUCCESS);
}

/* The client's reply: RetCode, or 1 if none came. */
static kern_return_t client_reply(struct fixture *f, mach_msg_id_t id)
{
	rcv_buf_t b;
	mach_msg_return_t mr = recv_msg(f->client, &b, RCV_WAIT_MS);
	CHECK_EQ(mr, MACH_MSG_SUCCESS);
	if (mr != MACH_MSG_SUCCESS)
		return 1;
	mig_reply_error_t *r = (mig_reply_error_t *)&b.h;
	CHECK_EQ(r->Head.msgh_id, id + MIG_REPLY_ID_OFFSET);
	CHECK_EQ(r->Head.msgh_size, sizeof *r);
	CHECK_EQ(r->Head.msgh_local_port, f->client);
	CHECK_EQ(r->Head.msgh_remote_port, MACH_PORT_NULL);
	return r->RetCode;
}

static void expect_no_senders(struct fixture *f)
{
	rcv_buf_t b;
	CHECK_EQ(recv_msg(f->n, &b, RCV_WAIT_MS), MACH_MSG_SUCCESS);
	CHECK_EQ(b.h.msgh_id, MACH_NOTIFY_NO_SENDERS);
	CHECK_EQ(recv_msg(f->n, &b, 0), MACH_RCV_TIMED_OUT);
	CHECK_EQ(status_of(f->w).mps_srights, FALSE);
	CHECK_EQ(type_of(f->w), MACH_PORT_TYPE_RECEIVE);
}

static void expect_w_kept(struct fixture *f)
{
	rcv_buf_t b;
	CHECK_EQ(recv_msg(f->n, &b, 0), MACH_RCV_TIMED_OUT);
	CHECK_EQ(status_of(f->w).mps_srights, TRUE);
	CHECK_EQ(rt.right, f->w);
	CHECK_EQ(refs_of(f->w, MACH_PORT_RIGHT_SEND), 1);
}

ATEST(success_keeps_rights)
{
	struct fixture f;
	fixture_init(&f);
	send_request(&f, REQ_ID, KERN_SUCCESS, TRUE);
	CHECK_EQ(mach_msg_server_once(test_demux, 4096, f.service, 0), MACH_MSG_SUCCESS);
	CHECK_EQ(rt.calls, 1);
	CHECK_EQ(client_reply(&f, REQ_ID), KERN_SUCCESS);
	expect_w_kept(&f);
	/* the routine owns the memory too */
	CHECK_EQ(rt.ool_size, sizeof f.data);
	CHECK(rt.ool != NULL && memcmp(rt.ool, f.data, sizeof f.data) == 0);
	CHECK_EQ(vm_deallocate(mach_task_self(), (vm_address_t)(uintptr_t)rt.ool, rt.ool_size), KERN_SUCCESS);
	/* the routine lets go of the right: now the last sender is gone */
	CHECK_EQ(mach_port_deallocate(mach_task_self(), rt.right), KERN_SUCCESS);
	expect_no_senders(&f);
	fixture_fini(&f);
}

ATEST(no_reply_keeps_rights_sends_nothing)
{
	struct fixture f;
	fixture_init(&f);
	send_request(&f, REQ_ID, MIG_NO_REPLY, TRUE);
	CHECK_EQ(mach_msg_server_once(test_demux, 4096, f.service, 0), MACH_MSG_SUCCESS);
	CHECK_EQ(rt.calls, 1);
	rcv_buf_t b;
	CHECK_EQ(recv_msg(f.client, &b, 0), MACH_RCV_TIMED_OUT);
	expect_w_kept(&f);
	/* the reply right stays with the routine, which answers later */
	CHECK_EQ(type_of(rt.reply), MACH_PORT_TYPE_SEND_ONCE);
	mig_reply_error_t r;
	memset(&r, 0, sizeof r);
	r.Head.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_MOVE_SEND_ONCE, 0);
	r.Head.msgh_size = sizeof r;
	r.Head.msgh_remote_port = rt.reply;
	r.Head.msgh_id = REQ_ID + MIG_REPLY_ID_OFFSET;
	r.NDR = NDR_record;
	r.RetCode = KERN_SUCCESS;
	CHECK_EQ(mach_msg(&r.Head, MACH_SEND_MSG, sizeof r, 0, MACH_PORT_NULL, 0, MACH_PORT_NULL), MACH_MSG_SUCCESS);
	CHECK_EQ(client_reply(&f, REQ_ID), KERN_SUCCESS);
	CHECK_EQ(vm_deallocate(mach_task_self(), (vm_address_t)(uintptr_t)rt.ool, rt.ool_size), KERN_SUCCESS);
	CHECK_EQ(mach_port_deallocate(mach_task_self(), rt.right), KERN_SUCCESS);
	expect_no_senders(&f);
	fixture_fini(&f);
}

ATEST(error_destroys_rights)
{
	const kern_return_t errors[] = { KERN_FAILURE, KERN_INVALID_ARGUMENT, MIG_BAD_ARGUMENTS };
	for (size_t i = 0; i < sizeof errors / sizeof errors[0]; i++) {
		struct fixture f;
		fixture_init(&f);
		send_request(&f, REQ_ID, errors[i], TRUE);
		CHECK_EQ(mach_msg_server_once(test_demux, 4096, f.service, 0), MACH_MSG_SUCCESS);
		CHECK_EQ(rt.calls, 1);
		/* the error goes back to the client ... */
		CHECK_EQ(client_reply(&f, REQ_ID), errors[i]);
		/* ... and the request's send right and memory are gone */
		expect_no_senders(&f);
		if (rt.ool)
			CHECK_EQ(is_mapped(rt.ool, rt.ool_size), 0);
		fixture_fini(&f);
	}
}

ATEST(unknown_id)
{
	/* with a reply port: MIG_BAD_ID comes back, the request is destroyed */
	struct fixture f;
	fixture_init(&f);
	send_request(&f, 4242, KERN_SUCCESS, TRUE);
	CHECK_EQ(mach_msg_server_once(test_demux, 4096, f.service, 0), MACH_MSG_SUCCESS);
	CHECK_EQ(rt.calls, 0);
	CHECK_EQ(client_reply(&f, 4242), MIG_BAD_ID);
	expect_no_senders(&f);
	fixture_fini(&f);

	/* without one: nothing comes back, the request is destroyed */
	fixture_init(&f);
	send_request(&f, 4243, KERN_SUCCESS, FALSE);
	CHECK_EQ(mach_msg_server_once(test_demux, 4096, f.service, 0), MACH_MSG_SUCCESS);
	CHECK_EQ(rt.calls, 0);
	expect_no_senders(&f);
	fixture_fini(&f);

	/* the library's own demux (notify_server) on a message it doesn't know */
	fixture_init(&f);
	send_request(&f, 4244, KERN_SUCCESS, TRUE);
	CHECK_EQ(mach_msg_server_once(notify_server, 4096, f.service, 0), MACH_MSG_SUCCESS);
	CHECK_EQ(client_reply(&f, 4244), MIG_BAD_ID);
	expect_no_senders(&f);
	fixture_fini(&f);
}

/* Found by fuzz_control_msg: a request id near INT32_MAX made the reply id
 * (id + 100) overflow, undefined behaviour in every server that answers
 * it. The reply id wraps, as MIG's unsigned arithmetic would. */
static mach_msg_id_t wrapped_reply_id(mach_msg_id_t id)
{
	return (mach_msg_id_t)((uint32_t)id + MIG_REPLY_ID_OFFSET);
}

static void expect_bad_id_reply(mach_port_t client, mach_msg_id_t id)
{
	rcv_buf_t b;
	CHECK_EQ(recv_msg(client, &b, RCV_WAIT_MS), MACH_MSG_SUCCESS);
	mig_reply_error_t *r = (mig_reply_error_t *)&b.h;
	CHECK_EQ(r->Head.msgh_id, wrapped_reply_id(id));
	CHECK_EQ(r->RetCode, MIG_BAD_ID);
}

ATEST(reply_id_wraps)
{
	static const mach_msg_id_t ids[] = { INT32_MAX, INT32_MAX - 99, -1, INT32_MIN };
	boolean_t (*const demuxes[])(mach_msg_header_t *, mach_msg_header_t *) = {
		notify_server, memory_object_server, seqnos_memory_object_server,
		memory_object_default_server,
	};
	for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
		for (size_t d = 0; d < sizeof demuxes / sizeof demuxes[0]; d++) {
			struct fixture f;
			fixture_init(&f);
			send_request(&f, ids[i], KERN_SUCCESS, TRUE);
			CHECK_EQ(mach_msg_server_once(demuxes[d], 4096, f.service, 0), MACH_MSG_SUCCESS);
			expect_bad_id_reply(f.client, ids[i]);
			expect_no_senders(&f);
			fixture_fini(&f);
		}
		/* the kernel's special ports answer the same way */
		mach_port_t thread = mach_thread_self();
		mach_port_t targets[] = { mach_task_self(), mach_host_self(), thread };
		for (size_t t = 0; t < sizeof targets / sizeof targets[0]; t++) {
			mach_port_t client = new_port();
			CHECK_EQ(send_small(targets[t], MACH_MSG_TYPE_COPY_SEND, client,
			        MACH_MSG_TYPE_MAKE_SEND_ONCE, ids[i], 0, 0, 0), MACH_MSG_SUCCESS);
			expect_bad_id_reply(client, ids[i]);
			drop_receive(client);
		}
		CHECK_EQ(mach_port_deallocate(mach_task_self(), thread), KERN_SUCCESS);
	}
}

struct server_thread {
	mach_port_t port;
	mach_msg_return_t mr;
	int done;
	pthread_mutex_t mu;
	pthread_cond_t cv;
};

static void *server_main(void *arg)
{
	struct server_thread *st = arg;
	mach_msg_return_t mr = mach_msg_server(test_demux, 4096, st->port, 0);
	pthread_mutex_lock(&st->mu);
	st->mr = mr;
	st->done = 1;
	pthread_cond_signal(&st->cv);
	pthread_mutex_unlock(&st->mu);
	return NULL;
}

ATEST(server_loop_round_trips)
{
	struct fixture f;
	fixture_init(&f);
	struct server_thread st = { .port = f.service, .mr = -1, .done = 0 };
	pthread_mutex_init(&st.mu, NULL);
	pthread_cond_init(&st.cv, NULL);
	pthread_t th;
	REQUIRE(pthread_create(&th, NULL, server_main, &st) == 0);

	/* round trips with mach_msg SEND|RCV; the reply right alternates
	 * between send-once and send */
	for (int i = 0; i < 20; i++) {
		rcv_buf_t b;
		request_t *m = (request_t *)&b.h;
		memset(&b, 0, sizeof b);
		mach_msg_type_name_t rd = (i & 1) ? MACH_MSG_TYPE_MAKE_SEND : MACH_MSG_TYPE_MAKE_SEND_ONCE;
		m->h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_MAKE_SEND, rd) | MACH_MSGH_BITS_COMPLEX;
		m->h.msgh_size = sizeof *m;
		m->h.msgh_remote_port = f.service;
		m->h.msgh_local_port = f.client;
		m->h.msgh_id = REQ_ID;
		m->body.msgh_descriptor_count = 2;
		m->port.name = MACH_PORT_NULL;
		m->port.disposition = MACH_MSG_TYPE_COPY_SEND;
		m->port.type = MACH_MSG_PORT_DESCRIPTOR;
		m->ool.address = NULL;
		m->ool.size = 0;
		m->ool.type = MACH_MSG_OOL_DESCRIPTOR;
		m->ndr = NDR_record;
		m->ret = (i % 3 == 2) ? KERN_FAILURE : KERN_SUCCESS;
		mach_msg_return_t mr = mach_msg(&m->h, MACH_SEND_MSG | MACH_RCV_MSG | MACH_RCV_TIMEOUT, sizeof *m,
		        sizeof b, f.client, RCV_WAIT_MS, MACH_PORT_NULL);
		CHECK_EQ(mr, MACH_MSG_SUCCESS);
		if (mr != MACH_MSG_SUCCESS)
			break;
		mig_reply_error_t *r = (mig_reply_error_t *)&b.h;
		CHECK_EQ(r->Head.msgh_id, REQ_ID + MIG_REPLY_ID_OFFSET);
		CHECK_EQ(r->RetCode, (i % 3 == 2) ? KERN_FAILURE : KERN_SUCCESS);
		CHECK_EQ(MACH_MSGH_BITS_LOCAL(r->Head.msgh_bits),
		         (i & 1) ? MACH_MSG_TYPE_PORT_SEND : MACH_MSG_TYPE_PORT_SEND_ONCE);
		CHECK_EQ(trailer_of(&r->Head)->msgh_seqno, (mach_port_seqno_t)i);
	}
	/* every reply right was used: the client holds no send rights to itself */
	CHECK_EQ(type_of(f.client), MACH_PORT_TYPE_RECEIVE);
	mach_port_status_t cs = status_of(f.client);
	CHECK_EQ(cs.mps_srights, FALSE);
	CHECK_EQ(cs.mps_sorights, 0);

	/* the server returns once its port is gone */
	mach_port_t svc = f.service;
	f.service = new_port();   /* for fixture_fini */
	CHECK_EQ(mach_port_destroy(mach_task_self(), svc), KERN_SUCCESS);
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += RCV_WAIT_MS / 1000;
	pthread_mutex_lock(&st.mu);
	while (!st.done && pthread_cond_timedwait(&st.cv, &st.mu, &until) == 0)
		;
	int done = st.done;
	pthread_mutex_unlock(&st.mu);
	REQUIRE(done);   /* else the server is stuck on a dead port: give up */
	pthread_join(th, NULL);
	CHECK(st.mr == MACH_RCV_PORT_DIED || st.mr == MACH_RCV_INVALID_NAME);
	CHECK_EQ(rt.calls, 20);
	pthread_mutex_destroy(&st.mu);
	pthread_cond_destroy(&st.cv);
	fixture_fini(&f);
}

ATEST(msg_destroy_releases_everything)
{
	mach_port_t task = mach_task_self();
	struct fixture f;
	fixture_init(&f);
	mach_port_t so_port = new_port(), x = new_port(), w2 = new_port(), n2 = new_port();
	mach_port_t prev;
	CHECK_EQ(mach_port_request_notification(task, w2, MACH_NOTIFY_NO_SENDERS, 1, n2,
	        MACH_MSG_TYPE_MAKE_SEND_ONCE, &prev), KERN_SUCCESS);
	struct everything_msg {
		mach_msg_header_t h;
		mach_msg_body_t body;
		mach_msg_port_descriptor_t port;
		mach_msg_port_descriptor_t recv;
		mach_msg_ool_descriptor_t ool;
		mach_msg_ool_ports_descriptor_t ports;
	} m;
	mach_port_t arr[2] = { w2, MACH_PORT_NULL };
	memset(&m, 0, sizeof m);
	m.h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_MAKE_SEND, MACH_MSG_TYPE_MAKE_SEND_ONCE) | MACH_MSGH_BITS_COMPLEX;
	m.h.msgh_size = sizeof m;
	m.h.msgh_remote_port = f.service;
	m.h.msgh_local_port = so_port;
	m.h.msgh_id = 1;
	m.body.msgh_descriptor_count = 4;
	m.port.name = f.w;
	m.port.disposition = MACH_MSG_TYPE_MAKE_SEND;
	m.port.type = MACH_MSG_PORT_DESCRIPTOR;
	m.recv.name = x;
	m.recv.disposition = MACH_MSG_TYPE_MOVE_RECEIVE;
	m.recv.type = MACH_MSG_PORT_DESCRIPTOR;
	m.ool.address = f.data;
	m.ool.size = sizeof f.data;
	m.ool.copy = MACH_MSG_VIRTUAL_COPY;
	m.ool.type = MACH_MSG_OOL_DESCRIPTOR;
	m.ports.address = arr;
	m.ports.count = 2;
	m.ports.disposition = MACH_MSG_TYPE_MAKE_SEND;
	m.ports.copy = MACH_MSG_PHYSICAL_COPY;
	m.ports.type = MACH_MSG_OOL_PORTS_DESCRIPTOR;
	CHECK_EQ(mach_msg(&m.h, MACH_SEND_MSG, sizeof m, 0, MACH_PORT_NULL, 0, MACH_PORT_NULL), MACH_MSG_SUCCESS);

	rcv_buf_t b;
	CHECK_EQ(recv_msg(f.service, &b, RCV_WAIT_MS), MACH_MSG_SUCCESS);
	struct everything_msg *r = (struct everything_msg *)&b.h;
	mach_port_t xr = r->recv.name, so = r->h.msgh_remote_port;
	void *ool = r->ool.address, *ports = r->ports.address;
	CHECK_EQ(type_of(xr), MACH_PORT_TYPE_RECEIVE);
	CHECK_EQ(type_of(so), MACH_PORT_TYPE_SEND_ONCE);
	CHECK(ool != NULL && ports != NULL);
	mach_msg_destroy(&b.h);
	/* send right: gone (no-senders); receive right: gone; send-once: gone
	 * (send-once notification); memory: unmapped */
	expect_no_senders(&f);
	CHECK_EQ(recv_msg(n2, &b, RCV_WAIT_MS), MACH_MSG_SUCCESS);
	CHECK_EQ(b.h.msgh_id, MACH_NOTIFY_NO_SENDERS);
	CHECK_EQ(type_of(xr), MACH_PORT_TYPE_NONE);
	CHECK_EQ(type_of(so), MACH_PORT_TYPE_NONE);
	CHECK_EQ(recv_msg(so_port, &b, RCV_WAIT_MS), MACH_MSG_SUCCESS);
	CHECK_EQ(b.h.msgh_id, MACH_NOTIFY_SEND_ONCE);
	if (ool)
		CHECK_EQ(is_mapped(ool, sizeof f.data), 0);
	if (ports)
		CHECK_EQ(is_mapped(ports, 2 * sizeof(mach_port_t)), 0);
	CHECK_EQ(recv_msg(so_port, &b, 0), MACH_RCV_TIMED_OUT);
	drop_receive(so_port);
	drop_receive(w2);
	while (recv_msg(n2, &b, 0) == MACH_MSG_SUCCESS)
		CHECK_EQ(b.h.msgh_id, MACH_NOTIFY_SEND_ONCE);
	drop_receive(n2);
	fixture_fini(&f);
}

int main(void)
{
	warm_up();
	RUN(success_keeps_rights);
	RUN(no_reply_keeps_rights_sends_nothing);
	RUN(error_destroys_rights);
	RUN(unknown_id);
	RUN(reply_id_wraps);
	RUN(server_loop_round_trips);
	RUN(msg_destroy_releases_everything);
	return harness_done();
}
