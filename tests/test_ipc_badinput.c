/* Bad input to mach_msg: NULL buffers, garbage header bits and
 * dispositions, wrong sizes, descriptor counts that lie, unknown
 * descriptor types, unreadable out-of-line memory, invalid names in
 * descriptors, and a seeded fuzz. Each gets an error code, never a crash,
 * and nothing is delivered. After a failed send the sender still holds its
 * rights (the project's contract; OSF allows a body error to destroy some).
 * Codes: osfmk/man/mach_msg.html RETURN VALUES, XNU ipc_kmsg_get,
 * ipc_kmsg_copyin_header, ipc_kmsg_copyin_body. */
#include <mach/mach.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>
#include "harness.h"
#include "lone_region.h"

#include "ipc_rights.h"

static mach_port_name_t unused_name(void)
{
	mach_port_name_t n = 0x6b6b00;
	while (type_of(n) != MACH_PORT_TYPE_NONE)
		n += 0x100;
	return n;
}

/* An address with nothing mapped behind it (a lone region's, so that no
 * other mmap takes it meanwhile). */
static void *unmapped_page(void)
{
	vm_address_t a = lone_region_allocate(4096);
	REQUIRE(a != 0);
	REQUIRE(vm_deallocate(mach_task_self(), a, 4096) == KERN_SUCCESS);
	return (void *)(uintptr_t)a;
}

static mach_msg_return_t send_raw(void *msg, mach_msg_size_t size)
{
	return mach_msg((mach_msg_header_t *)msg, MACH_SEND_MSG | MACH_SEND_TIMEOUT, size, 0, MACH_PORT_NULL,
	        0, MACH_PORT_NULL);
}

static int is_send_error(mach_msg_return_t mr)
{
	return mr >= MACH_SEND_IN_PROGRESS && mr <= MACH_SEND_INVALID_TRAILER;
}

static void expect_empty(mach_port_t p)
{
	rcv_buf_t b;
	mach_msg_return_t mr = recv_msg(p, &b, 0);
	CHECK_EQ(mr, MACH_RCV_TIMED_OUT);
	if (mr == MACH_MSG_SUCCESS)
		mach_msg_destroy(&b.h);
}

ATEST(null_message)
{
	mach_port_t p = new_port();
	CHECK_EQ(mach_msg(NULL, MACH_SEND_MSG, sizeof(small_msg_t), 0, MACH_PORT_NULL, 0, MACH_PORT_NULL),
	         MACH_SEND_INVALID_DATA);
	CHECK_EQ(send_small(p, MACH_MSG_TYPE_MAKE_SEND, MACH_PORT_NULL, 0, 1, 0, 0, 0), MACH_MSG_SUCCESS);
	CHECK_EQ(mach_msg(NULL, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, 4096, p, 0, MACH_PORT_NULL),
	         MACH_RCV_INVALID_DATA);
	/* the port is still fine */
	rcv_buf_t b;
	mach_msg_return_t mr = recv_msg(p, &b, 0);
	CHECK(mr == MACH_MSG_SUCCESS || mr == MACH_RCV_TIMED_OUT);
	CHECK_EQ(send_small(p, MACH_MSG_TYPE_MAKE_SEND, MACH_PORT_NULL, 0, 2, 0, 0, 0), MACH_MSG_SUCCESS);
	CHECK_EQ(recv_msg(p, &b, RCV_WAIT_MS), MACH_MSG_SUCCESS);
	CHECK_EQ(b.h.msgh_id, 2);
	drop_receive(p);
}

ATEST(garbage_header_bits)
{
	mach_port_t task = mach_task_self();
	mach_port_t p = new_port(), r = new_port();
	CHECK_EQ(mach_port_insert_right(task, p, p, MACH_MSG_TYPE_MAKE_SEND), KERN_SUCCESS);
	struct { mach_msg_bits_t bits; mach_port_t reply; } cases[] = {
		{ MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0) | 0x40000000u, MACH_PORT_NULL },  /* not a user bit */
		{ MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0) | 0x00008000u, MACH_PORT_NULL },
		{ MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0) | 0x00000060u, MACH_PORT_NULL },
		{ MACH_MSGH_BITS(0, 0), MACH_PORT_NULL },                                     /* no dest disposition */
		{ MACH_MSGH_BITS(MACH_MSG_TYPE_MOVE_RECEIVE, 0), MACH_PORT_NULL },
		{ MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_RECEIVE, 0), MACH_PORT_NULL },
		{ MACH_MSGH_BITS(MACH_MSG_TYPE_PORT_NAME, 0), MACH_PORT_NULL },
		{ MACH_MSGH_BITS(MACH_MSG_TYPE_DISPOSE_SEND, 0), MACH_PORT_NULL },
		{ MACH_MSGH_BITS(31, 0), MACH_PORT_NULL },
		{ MACH_MSGH_BITS(1, 0), MACH_PORT_NULL },
		{ MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0), r },                           /* reply name, no disposition */
		{ MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, MACH_MSG_TYPE_MOVE_RECEIVE), r },
		{ MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 31), r },
		{ MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 3), r },
		{ 0xffffffffu, r },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		small_msg_t m;
		memset(&m, 0, sizeof m);
		m.h.msgh_bits = cases[i].bits;
		m.h.msgh_size = sizeof m;
		m.h.msgh_remote_port = p;
		m.h.msgh_local_port = cases[i].reply;
		m.h.msgh_id = (mach_msg_id_t)i;
		mach_msg_return_t mr = send_raw(&m, sizeof m);
		if (mr != MACH_SEND_INVALID_HEADER)
			fprintf(stderr, "  case %zu (bits 0x%x): 0x%x\n", i, cases[i].bits, mr);
		CHECK_EQ(mr, MACH_SEND_INVALID_HEADER);
	}
	expect_empty(p);
	CHECK_EQ(refs_of(p, MACH_PORT_RIGHT_SEND), 1);
	mach_port_status_t st = status_of(r);
	CHECK_EQ(st.mps_sorights, 0);
	CHECK_EQ(st.mps_srights, FALSE);
	CHECK_EQ(st.mps_mscount, 0);
	CHECK_EQ(mach_port_destroy(task, p), KERN_SUCCESS);
	drop_receive(r);
}

ATEST(wrong_sizes)
{
	mach_port_t task = mach_task_self();
	mach_port_t p = new_port();
	CHECK_EQ(mach_port_insert_right(task, p, p, MACH_MSG_TYPE_MAKE_SEND), KERN_SUCCESS);
	/* every buffer exactly as big as the call says, so reading past it is
	 * caught (under ASan) */
	const mach_msg_size_t small_sizes[] = { 0, 1, 4, 8, 20, 23, 25, 26, 30, 35 };
	for (size_t i = 0; i < sizeof small_sizes / sizeof small_sizes[0]; i++) {
		mach_msg_size_t sz = small_sizes[i];
		mach_msg_header_t *h = calloc(1, sz < sizeof *h ? sizeof *h : sz);
		REQUIRE(h);
		h->msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_MOVE_SEND, 0);
		h->msgh_size = sz;
		h->msgh_remote_port = p;
		mach_msg_return_t mr = send_raw(h, sz);
		if (mr != MACH_SEND_MSG_TOO_SMALL)
			fprintf(stderr, "  size %u: 0x%x\n", sz, mr);
		CHECK_EQ(mr, MACH_SEND_MSG_TOO_SMALL);
		free(h);
	}
	/* complex, but no room for the descriptor count */
	mach_msg_header_t h;
	memset(&h, 0, sizeof h);
	h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_MOVE_SEND, 0) | MACH_MSGH_BITS_COMPLEX;
	h.msgh_size = sizeof h;
	h.msgh_remote_port = p;
	CHECK_EQ(send_raw(&h, sizeof h), MACH_SEND_MSG_TOO_SMALL);
	/* too big: refused before the buffer is read */
	small_msg_t m;
	memset(&m, 0, sizeof m);
	m.h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_MOVE_SEND, 0);
	m.h.msgh_remote_port = p;
	const mach_msg_size_t big[] = { MACH_MSG_SIZE_MAX + 4, 0x7ffffffcu, 0xfffffffcu };
	for (size_t i = 0; i < sizeof big / sizeof big[0]; i++) {
		m.h.msgh_size = big[i];
		CHECK_EQ(send_raw(&m, big[i]), MACH_SEND_TOO_LARGE);
	}
	expect_empty(p);
	CHECK_EQ(refs_of(p, MACH_PORT_RIGHT_SEND), 1);

	/* receive limits that can't hold the message */
	CHECK_EQ(send_small(p, MACH_MSG_TYPE_COPY_SEND, MACH_PORT_NULL, 0, 1, 0, 0, 0), MACH_MSG_SUCCESS);
	mach_msg_header_t *tiny = calloc(1, 8);
	REQUIRE(tiny);
	CHECK_EQ(mach_msg(tiny, MACH_RCV_MSG | MACH_RCV_LARGE | MACH_RCV_TIMEOUT, 0, 8, p, 0, MACH_PORT_NULL),
	         MACH_RCV_TOO_LARGE);
	free(tiny);
	rcv_buf_t b;
	CHECK_EQ(mach_msg(&b.h, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, 0, p, 0, MACH_PORT_NULL), MACH_RCV_TOO_LARGE);
	expect_empty(p);   /* without MACH_RCV_LARGE it was destroyed */
	CHECK_EQ(mach_port_destroy(task, p), KERN_SUCCESS);
}

typedef struct {
	mach_msg_header_t h;
	mach_msg_body_t body;
	mach_msg_port_descriptor_t d0;
	mach_msg_port_descriptor_t d1;
	uint32_t tail[4];
} two_desc_msg_t;

/* A message to `dest` (MOVE_SEND) whose first descriptor moves a send
 * right for `w`, and whose second descriptor the caller spoils. */
static void two_desc_init(two_desc_msg_t *m, mach_port_t dest, mach_port_t w)
{
	memset(m, 0, sizeof *m);
	m->h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_MOVE_SEND, 0) | MACH_MSGH_BITS_COMPLEX;
	m->h.msgh_size = sizeof *m;
	m->h.msgh_remote_port = dest;
	m->h.msgh_id = 321;
	m->body.msgh_descriptor_count = 2;
	m->d0.name = w;
	m->d0.disposition = MACH_MSG_TYPE_MOVE_SEND;
	m->d0.type = MACH_MSG_PORT_DESCRIPTOR;
	m->d1.name = MACH_PORT_NULL;
	m->d1.disposition = MACH_MSG_TYPE_COPY_SEND;
	m->d1.type = MACH_MSG_PORT_DESCRIPTOR;
}

struct victims {
	mach_port_t dest, w;
};

static void victims_init(struct victims *v)
{
	mach_port_t task = mach_task_self();
	v->dest = new_port();
	v->w = new_port();
	CHECK_EQ(mach_port_insert_right(task, v->dest, v->dest, MACH_MSG_TYPE_MAKE_SEND), KERN_SUCCESS);
	CHECK_EQ(mach_port_insert_right(task, v->w, v->w, MACH_MSG_TYPE_MAKE_SEND), KERN_SUCCESS);
}

/* After a failed send: nothing delivered, both moved rights still here. */
static void victims_intact(struct victims *v, const char *what)
{
	int ok = refs_of(v->dest, MACH_PORT_RIGHT_SEND) == 1 && refs_of(v->w, MACH_PORT_RIGHT_SEND) == 1;
	if (!ok)
		fprintf(stderr, "  %s: rights lost (dest refs %d, w refs %d)\n", what,
		        (int)refs_of(v->dest, MACH_PORT_RIGHT_SEND), (int)refs_of(v->w, MACH_PORT_RIGHT_SEND));
	CHECK(ok);
	expect_empty(v->dest);
	/* repair, so one loss doesn't cascade into the next case */
	if (refs_of(v->dest, MACH_PORT_RIGHT_SEND) == 0)
		mach_port_insert_right(mach_task_self(), v->dest, v->dest, MACH_MSG_TYPE_MAKE_SEND);
	if (refs_of(v->w, MACH_PORT_RIGHT_SEND) == 0)
		mach_port_insert_right(mach_task_self(), v->w, v->w, MACH_MSG_TYPE_MAKE_SEND);
}

static void victims_fini(struct victims *v)
{
	CHECK_EQ(mach_port_destroy(mach_task_self(), v->dest), KERN_SUCCESS);
	CHECK_EQ(mach_port_destroy(mach_task_self(), v->w), KERN_SUCCESS);
}

ATEST(descriptor_count_lies)
{
	struct victims v;
	victims_init(&v);
	two_desc_msg_t m;
	const mach_msg_size_t counts[] = { 3, 4, 5, 100, 0x10000000u, 0xffffffffu };
	for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
		two_desc_init(&m, v.dest, v.w);
		m.body.msgh_descriptor_count = counts[i];
		/* the message ends right after the two descriptors */
		mach_msg_size_t sz = offsetof(two_desc_msg_t, tail);
		CHECK_EQ(send_raw(&m, sz), MACH_SEND_MSG_TOO_SMALL);
		victims_intact(&v, "descriptor count");
	}
	/* an OOL descriptor cut short by the end of the message */
	struct {
		mach_msg_header_t h;
		mach_msg_body_t body;
		mach_msg_ool_descriptor_t ool;
	} o;
	memset(&o, 0, sizeof o);
	o.h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_MOVE_SEND, 0) | MACH_MSGH_BITS_COMPLEX;
	o.h.msgh_remote_port = v.dest;
	o.body.msgh_descriptor_count = 1;
	o.ool.address = &o;
	o.ool.size = 4;
	o.ool.type = MACH_MSG_OOL_DESCRIPTOR;
	CHECK_EQ(send_raw(&o, sizeof o - 4), MACH_SEND_MSG_TOO_SMALL);
	victims_intact(&v, "short OOL descriptor");
	victims_fini(&v);
}

ATEST(unknown_descriptor_types)
{
	struct victims v;
	victims_init(&v);
	two_desc_msg_t m;
	const unsigned types[] = { 4, 7, 0x7f, 0xff };
	for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
		two_desc_init(&m, v.dest, v.w);
		m.d1.type = types[i];
		CHECK_EQ(send_raw(&m, sizeof m), MACH_SEND_INVALID_TYPE);
		victims_intact(&v, "descriptor type");
	}
	/* OOL copy options a sender may not use */
	struct {
		mach_msg_header_t h;
		mach_msg_body_t body;
		mach_msg_port_descriptor_t d0;
		mach_msg_ool_descriptor_t ool;
	} o;
	char data[64] = "data";
	const unsigned copies[] = { MACH_MSG_ALLOCATE, MACH_MSG_OVERWRITE, 7, 0xff };
	for (size_t i = 0; i < sizeof copies / sizeof copies[0]; i++) {
		memset(&o, 0, sizeof o);
		o.h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_MOVE_SEND, 0) | MACH_MSGH_BITS_COMPLEX;
		o.h.msgh_size = sizeof o;
		o.h.msgh_remote_port = v.dest;
		o.body.msgh_descriptor_count = 2;
		o.d0.name = v.w;
		o.d0.disposition = MACH_MSG_TYPE_MOVE_SEND;
		o.d0.type = MACH_MSG_PORT_DESCRIPTOR;
		o.ool.address = data;
		o.ool.size = sizeof data;
		o.ool.copy = copies[i];
		o.ool.type = MACH_MSG_OOL_DESCRIPTOR;
		CHECK_EQ(send_raw(&o, sizeof o), MACH_SEND_INVALID_TYPE);
		victims_intact(&v, "OOL copy option");
	}
	/* port dispositions that are no dispositions */
	const unsigned disps[] = { 0, MACH_MSG_TYPE_PORT_NAME, MACH_MSG_TYPE_COPY_RECEIVE, 23,
	                           MACH_MSG_TYPE_DISPOSE_SEND, 31, 0xff };
	for (size_t i = 0; i < sizeof disps / sizeof disps[0]; i++) {
		two_desc_init(&m, v.dest, v.w);
		m.d1.name = v.w;
		m.d1.disposition = disps[i];
		mach_msg_return_t mr = send_raw(&m, sizeof m);
		if (mr != MACH_SEND_INVALID_TYPE && mr != MACH_SEND_INVALID_RIGHT)
			fprintf(stderr, "  disposition %u: 0x%x\n", disps[i], mr);
		CHECK(mr == MACH_SEND_INVALID_TYPE || mr == MACH_SEND_INVALID_RIGHT);
		victims_intact(&v, "port disposition");
	}
	victims_fini(&v);
}

ATEST(bad_ool_memory)
{
	struct victims v;
	victims_init(&v);
	long pg = sysconf(_SC_PAGESIZE);
	/* a page readable by no one, and a readable page followed by such a
	 * guard page (mapped PROT_NONE, so nothing else can land there) */
	void *none = mmap(NULL, (size_t)pg, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	REQUIRE(none != MAP_FAILED);
	char *two = mmap(NULL, 2 * (size_t)pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	REQUIRE(two != MAP_FAILED);
	REQUIRE(mprotect(two + pg, (size_t)pg, PROT_NONE) == 0);
	enum { UNMAPPED = 1 };   /* a page freed just before the send */
	struct { void *addr; mach_msg_size_t size; boolean_t may_dealloc; } cases[] = {
		{ (void *)UNMAPPED, 4096, FALSE },
		{ (void *)(UNMAPPED + 100), 10, FALSE },
		{ NULL, 100, TRUE },
		{ none, 4096, TRUE },
		{ two + pg - 96, 200, FALSE },                   /* runs into the guard page */
		{ (void *)(uintptr_t)0xffff800000000000ull, 4096, TRUE },
		{ (void *)(uintptr_t)0xfffffffffffff000ull, 0x2000, TRUE },   /* wraps around */
	};
	struct {
		mach_msg_header_t h;
		mach_msg_body_t body;
		mach_msg_port_descriptor_t d0;
		mach_msg_ool_descriptor_t ool;
	} o;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		for (int dealloc = 0; dealloc < 2; dealloc++) {
			/* deallocate only where nothing of ours can be freed if the
			 * send wrongly went through */
			if (dealloc && !cases[i].may_dealloc)
				continue;
			void *addr = cases[i].addr;
			if ((uintptr_t)addr - UNMAPPED < 4096)
				addr = (char *)unmapped_page() + ((uintptr_t)addr - UNMAPPED);
			memset(&o, 0, sizeof o);
			o.h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_MOVE_SEND, 0) | MACH_MSGH_BITS_COMPLEX;
			o.h.msgh_size = sizeof o;
			o.h.msgh_remote_port = v.dest;
			o.body.msgh_descriptor_count = 2;
			o.d0.name = v.w;
			o.d0.disposition = MACH_MSG_TYPE_MOVE_SEND;
			o.d0.type = MACH_MSG_PORT_DESCRIPTOR;
			o.ool.address = addr;
			o.ool.size = cases[i].size;
			o.ool.deallocate = (boolean_t)dealloc;
			o.ool.copy = MACH_MSG_VIRTUAL_COPY;
			o.ool.type = MACH_MSG_OOL_DESCRIPTOR;
			mach_msg_return_t mr = send_raw(&o, sizeof o);
			if (mr != MACH_SEND_INVALID_MEMORY)
				fprintf(stderr, "  OOL case %zu dealloc %d: 0x%x\n", i, dealloc, mr);
			CHECK_EQ(mr, MACH_SEND_INVALID_MEMORY);
			victims_intact(&v, "OOL memory");
		}
	}
	void *gone = unmapped_page();
	/* an out-of-line port array that can't be read */
	struct {
		mach_msg_header_t h;
		mach_msg_body_t body;
		mach_msg_port_descriptor_t d0;
		mach_msg_ool_ports_descriptor_t ports;
	} op;
	memset(&op, 0, sizeof op);
	op.h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_MOVE_SEND, 0) | MACH_MSGH_BITS_COMPLEX;
	op.h.msgh_size = sizeof op;
	op.h.msgh_remote_port = v.dest;
	op.body.msgh_descriptor_count = 2;
	op.d0.name = v.w;
	op.d0.disposition = MACH_MSG_TYPE_MOVE_SEND;
	op.d0.type = MACH_MSG_PORT_DESCRIPTOR;
	op.ports.address = gone;
	op.ports.count = 4;
	op.ports.disposition = MACH_MSG_TYPE_COPY_SEND;
	op.ports.copy = MACH_MSG_PHYSICAL_COPY;
	op.ports.type = MACH_MSG_OOL_PORTS_DESCRIPTOR;
	CHECK_EQ(send_raw(&op, sizeof op), MACH_SEND_INVALID_MEMORY);
	victims_intact(&v, "OOL ports memory");
	/* the readable page is untouched and still ours */
	CHECK_EQ(((volatile char *)two)[pg - 1], 0);
	munmap(two, 2 * (size_t)pg);
	munmap(none, (size_t)pg);
	victims_fini(&v);
}

ATEST(invalid_names_in_descriptors)
{
	mach_port_t task = mach_task_self();
	struct victims v;
	victims_init(&v);
	mach_port_t recv_only = new_port(), s, d, so;
	mach_msg_type_name_t pp;
	CHECK_EQ(mach_port_allocate(task, MACH_PORT_RIGHT_PORT_SET, &s), KERN_SUCCESS);
	CHECK_EQ(mach_port_allocate(task, MACH_PORT_RIGHT_DEAD_NAME, &d), KERN_SUCCESS);
	CHECK_EQ(mach_port_extract_right(task, recv_only, MACH_MSG_TYPE_MAKE_SEND_ONCE, &so, &pp), KERN_SUCCESS);
	mach_port_name_t unused = unused_name();
	struct { mach_port_t name; mach_msg_type_name_t disp; } cases[] = {
		{ unused, MACH_MSG_TYPE_COPY_SEND },
		{ unused, MACH_MSG_TYPE_MOVE_SEND },
		{ unused, MACH_MSG_TYPE_MAKE_SEND },
		{ unused, MACH_MSG_TYPE_MOVE_RECEIVE },
		{ recv_only, MACH_MSG_TYPE_COPY_SEND },
		{ recv_only, MACH_MSG_TYPE_MOVE_SEND },
		{ recv_only, MACH_MSG_TYPE_MOVE_SEND_ONCE },
		{ so, MACH_MSG_TYPE_MOVE_RECEIVE },
		{ so, MACH_MSG_TYPE_COPY_SEND },
		{ so, MACH_MSG_TYPE_MAKE_SEND },
		{ s, MACH_MSG_TYPE_MAKE_SEND },
		{ s, MACH_MSG_TYPE_MOVE_RECEIVE },
		{ d, MACH_MSG_TYPE_MAKE_SEND },
		{ d, MACH_MSG_TYPE_MOVE_RECEIVE },
	};
	two_desc_msg_t m;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		two_desc_init(&m, v.dest, v.w);
		m.d1.name = cases[i].name;
		m.d1.disposition = cases[i].disp;
		mach_msg_return_t mr = send_raw(&m, sizeof m);
		if (mr != MACH_SEND_INVALID_RIGHT)
			fprintf(stderr, "  descriptor case %zu: 0x%x\n", i, mr);
		CHECK_EQ(mr, MACH_SEND_INVALID_RIGHT);
		victims_intact(&v, "descriptor name");
	}
	/* an out-of-line port array holding a bad name */
	mach_port_t arr[3] = { v.w, unused, MACH_PORT_NULL };
	struct {
		mach_msg_header_t h;
		mach_msg_body_t body;
		mach_msg_ool_ports_descriptor_t ports;
	} op;
	memset(&op, 0, sizeof op);
	op.h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_MOVE_SEND, 0) | MACH_MSGH_BITS_COMPLEX;
	op.h.msgh_size = sizeof op;
	op.h.msgh_remote_port = v.dest;
	op.body.msgh_descriptor_count = 1;
	op.ports.address = arr;
	op.ports.count = 3;
	op.ports.disposition = MACH_MSG_TYPE_MOVE_SEND;
	op.ports.copy = MACH_MSG_PHYSICAL_COPY;
	op.ports.type = MACH_MSG_OOL_PORTS_DESCRIPTOR;
	CHECK_EQ(send_raw(&op, sizeof op), MACH_SEND_INVALID_RIGHT);
	victims_intact(&v, "OOL port name");

	/* nothing was made from the rights named */
	mach_port_status_t st = status_of(recv_only);
	CHECK_EQ(st.mps_sorights, 1);
	CHECK_EQ(st.mps_mscount, 0);
	CHECK_EQ(type_of(so), MACH_PORT_TYPE_SEND_ONCE);
	CHECK_EQ(refs_of(d, MACH_PORT_RIGHT_DEAD_NAME), 1);
	CHECK_EQ(mach_port_deallocate(task, so), KERN_SUCCESS);
	rcv_buf_t b;
	CHECK_EQ(recv_msg(recv_only, &b, RCV_WAIT_MS), MACH_MSG_SUCCESS);
	CHECK_EQ(b.h.msgh_id, MACH_NOTIFY_SEND_ONCE);
	CHECK_EQ(mach_port_destroy(task, s), KERN_SUCCESS);
	CHECK_EQ(mach_port_deallocate(task, d), KERN_SUCCESS);
	drop_receive(recv_only);
	victims_fini(&v);
}

ATEST(failed_send_keeps_every_right)
{
	mach_port_t task = mach_task_self();
	mach_port_t dest = new_port(), reply = new_port(), x = new_port(), w = new_port();
	CHECK_EQ(mach_port_insert_right(task, dest, dest, MACH_MSG_TYPE_MAKE_SEND), KERN_SUCCESS);
	CHECK_EQ(mach_port_insert_right(task, w, w, MACH_MSG_TYPE_MAKE_SEND), KERN_SUCCESS);
	CHECK_EQ(mach_port_set_seqno(task, x, 5), KERN_SUCCESS);
	struct three_desc {
		mach_msg_header_t h;
		mach_msg_body_t body;
		mach_msg_port_descriptor_t recv;
		mach_msg_port_descriptor_t send;
		mach_msg_port_descriptor_t bad;
	} m;
	memset(&m, 0, sizeof m);
	m.h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_MOVE_SEND, MACH_MSG_TYPE_MAKE_SEND_ONCE) | MACH_MSGH_BITS_COMPLEX;
	m.h.msgh_size = sizeof m;
	m.h.msgh_remote_port = dest;
	m.h.msgh_local_port = reply;
	m.body.msgh_descriptor_count = 3;
	m.recv.name = x;
	m.recv.disposition = MACH_MSG_TYPE_MOVE_RECEIVE;
	m.recv.type = MACH_MSG_PORT_DESCRIPTOR;
	m.send.name = w;
	m.send.disposition = MACH_MSG_TYPE_MOVE_SEND;
	m.send.type = MACH_MSG_PORT_DESCRIPTOR;
	m.bad.name = unused_name();
	m.bad.disposition = MACH_MSG_TYPE_COPY_SEND;
	m.bad.type = MACH_MSG_PORT_DESCRIPTOR;
	CHECK_EQ(send_raw(&m, sizeof m), MACH_SEND_INVALID_RIGHT);
	/* everything is where it was */
	CHECK_EQ(refs_of(dest, MACH_PORT_RIGHT_SEND), 1);
	CHECK_EQ(refs_of(w, MACH_PORT_RIGHT_SEND), 1);
	CHECK_EQ(type_of(x), MACH_PORT_TYPE_RECEIVE);
	CHECK_EQ(status_of(x).mps_seqno, 5);
	mach_port_status_t rs = status_of(reply);
	CHECK_EQ(rs.mps_sorights, 0);
	rcv_buf_t b;
	while (recv_msg(reply, &b, 0) == MACH_MSG_SUCCESS)   /* a made-and-destroyed send-once right may say so */
		CHECK_EQ(b.h.msgh_id, MACH_NOTIFY_SEND_ONCE);
	expect_empty(dest);
	/* and the same message, repaired, goes through */
	m.body.msgh_descriptor_count = 2;
	m.h.msgh_size = offsetof(struct three_desc, bad);
	CHECK_EQ(send_raw(&m, offsetof(struct three_desc, bad)), MACH_MSG_SUCCESS);
	CHECK_EQ(type_of(x), MACH_PORT_TYPE_NONE);
	CHECK_EQ(recv_msg(dest, &b, RCV_WAIT_MS), MACH_MSG_SUCCESS);
	mach_msg_destroy(&b.h);
	CHECK_EQ(recv_msg(reply, &b, RCV_WAIT_MS), MACH_MSG_SUCCESS);
	CHECK_EQ(b.h.msgh_id, MACH_NOTIFY_SEND_ONCE);
	CHECK_EQ(mach_port_destroy(task, dest), KERN_SUCCESS);
	drop_receive(reply);
	drop_receive(w);
}

/* A small deterministic generator, so a failure can be replayed. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 11);
}
static uint32_t pick(const uint32_t *v, size_t n) { return v[rnd() % n]; }

ATEST(fuzz)
{
	mach_port_t task = mach_task_self();
	mach_port_t p = new_port();
	CHECK_EQ(mach_port_insert_right(task, p, p, MACH_MSG_TYPE_MAKE_SEND), KERN_SUCCESS);
	CHECK_EQ(mach_port_mod_refs(task, p, MACH_PORT_RIGHT_SEND, 5000), KERN_SUCCESS);
	mach_port_limits_t lim = { .mpl_qlimit = MACH_PORT_QLIMIT_MAX };
	CHECK_EQ(mach_port_set_attributes(task, p, MACH_PORT_LIMITS_INFO, (mach_port_info_t)&lim,
	        MACH_PORT_LIMITS_INFO_COUNT), KERN_SUCCESS);
	void *gone = unmapped_page();
	static char data[8192];
	const uint32_t names[] = { MACH_PORT_NULL, MACH_PORT_DEAD, 0x6c6c00, 0x6c6d00, p, p, 0xffffff00u };
	const uint32_t disps[] = { MACH_MSG_TYPE_COPY_SEND, MACH_MSG_TYPE_MAKE_SEND, MACH_MSG_TYPE_MAKE_SEND_ONCE,
	                           MACH_MSG_TYPE_MOVE_SEND, MACH_MSG_TYPE_MOVE_SEND_ONCE, MACH_MSG_TYPE_MOVE_RECEIVE,
	                           0, 15, 22, 25, 31, 255 };
	const uint32_t hbits[] = { MACH_MSG_TYPE_COPY_SEND, MACH_MSG_TYPE_MAKE_SEND, MACH_MSG_TYPE_MOVE_SEND,
	                           MACH_MSG_TYPE_MAKE_SEND_ONCE, 0, 16, 31 };
	uintptr_t addrs[] = { 0, (uintptr_t)data, (uintptr_t)gone, (uintptr_t)0xffff800000000000ull, 1 };
	int sent = 0, refused = 0, odd = 0;
	for (int iter = 0; iter < 4000; iter++) {
		uint32_t buf[128];
		for (size_t i = 0; i < 128; i++)
			buf[i] = rnd();
		mach_msg_header_t *h = (mach_msg_header_t *)buf;
		h->msgh_bits = MACH_MSGH_BITS(pick(hbits, 7), (rnd() & 3) ? 0 : pick(hbits, 7));
		if (rnd() % 8 == 0)
			h->msgh_bits |= rnd() & ~MACH_MSGH_BITS_COMPLEX;
		if (rnd() & 1)
			h->msgh_bits |= MACH_MSGH_BITS_COMPLEX;
		h->msgh_remote_port = (rnd() % 8) ? p : pick(names, 7);
		h->msgh_local_port = (rnd() & 1) ? MACH_PORT_NULL : pick(names, 7);
		h->msgh_voucher_port = 0;
		/* descriptors: some well-formed, some not */
		uint32_t ndesc = rnd() % 5;
		uint32_t *w = buf + 7;
		for (uint32_t k = 0; k < ndesc && w + 4 <= buf + 128; k++) {
			uint32_t type = (rnd() % 6 == 0) ? (rnd() & 0xff) : rnd() % 3;
			if (type == MACH_MSG_PORT_DESCRIPTOR) {
				mach_msg_port_descriptor_t *pd = (mach_msg_port_descriptor_t *)w;
				memset(pd, 0, sizeof *pd);
				pd->name = pick(names, 7);
				pd->disposition = pick(disps, 12);
				if (pd->name == p && pd->disposition == MACH_MSG_TYPE_MOVE_RECEIVE)
					pd->name = MACH_PORT_NULL;   /* keep p's receive right home */
				pd->type = type;
				w += 3;
			} else if (type == MACH_MSG_OOL_DESCRIPTOR || type == MACH_MSG_OOL_PORTS_DESCRIPTOR) {
				mach_msg_ool_descriptor_t *od = (mach_msg_ool_descriptor_t *)w;
				memset(od, 0, sizeof *od);
				uintptr_t a = addrs[rnd() % 5];
				od->address = (void *)a;
				od->size = (rnd() & 1) ? rnd() % 64 : rnd();
				if (a == (uintptr_t)data && od->size > sizeof data)
					od->size = sizeof data;
				/* never deallocate memory that is, or may become, someone's */
				od->deallocate = (a == (uintptr_t)data || a == (uintptr_t)gone) ? FALSE : (rnd() & 1);
				od->copy = (rnd() % 4) ? MACH_MSG_VIRTUAL_COPY : rnd() & 0xff;
				od->type = type;
				if (type == MACH_MSG_OOL_PORTS_DESCRIPTOR) {
					/* count in place of size: a few names from `data`, which
					 * holds only MACH_PORT_NULL */
					((mach_msg_ool_ports_descriptor_t *)od)->disposition = pick(disps, 12);
					if (a == (uintptr_t)data)
						((mach_msg_ool_ports_descriptor_t *)od)->count = rnd() % 16;
				}
				w += 4;
			} else {
				w[0] = rnd(); w[1] = rnd(); w[2] = (rnd() & 0xffffff) | (type << 24);
				w += 3;
			}
		}
		buf[6] = (rnd() % 8) ? ndesc : rnd();
		mach_msg_size_t size = (mach_msg_size_t)((char *)w - (char *)buf) + 4 * (rnd() % 8);
		if (rnd() % 6 == 0)
			size = rnd() % sizeof buf;
		h->msgh_size = size;
		mach_msg_return_t mr = mach_msg(h, MACH_SEND_MSG | MACH_SEND_TIMEOUT, size, 0, MACH_PORT_NULL, 0,
		        MACH_PORT_NULL);
		if (mr == MACH_MSG_SUCCESS)
			sent++;
		else if (is_send_error(mr))
			refused++;
		else
			odd++, fprintf(stderr, "  fuzz %d: 0x%x\n", iter, mr);
		/* whatever arrived is received and thrown away */
		rcv_buf_t b;
		while (recv_msg(p, &b, 0) == MACH_MSG_SUCCESS)
			mach_msg_destroy(&b.h);
	}
	printf("fuzz: %d sent, %d refused\n", sent, refused);
	CHECK_EQ(odd, 0);
	CHECK(sent > 0 && refused > 0);
	/* data, only ever read, is unchanged (zero) */
	int dirty = 0;
	for (size_t i = 0; i < sizeof data; i++)
		dirty |= data[i];
	CHECK_EQ(dirty, 0);
	CHECK_EQ(type_of(p) & MACH_PORT_TYPE_RECEIVE, MACH_PORT_TYPE_RECEIVE);
	CHECK_EQ(mach_port_destroy(task, p), KERN_SUCCESS);
}

int main(void)
{
	warm_up();
	RUN(null_message);
	RUN(garbage_header_bits);
	RUN(wrong_sizes);
	RUN(descriptor_count_lies);
	RUN(unknown_descriptor_types);
	RUN(bad_ool_memory);
	RUN(invalid_names_in_descriptors);
	RUN(failed_send_keeps_every_right);
	RUN(fuzz);
	return harness_done();
}
