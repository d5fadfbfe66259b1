/* Port names of any value (issue 8, point 1): mach_port_allocate_name and
 * mach_port_insert_right take any name not in use, as OSF kernels did.
 * Pagers name their ports after the addresses of their own per-object
 * structures, so names 16, 32 or 64 bytes apart must all work, many at
 * once, beside the names the kernel picks. */
#include <mach/mach.h>
#include <stdint.h>
#include <stdlib.h>
#include "harness.h"

#include "ipc_rights.h"

#define NAMES 100000u

/* What a pager does: one structure per object, its address the name. */
struct pager_object {
	char bytes[16];
};

/* The names of n objects stride bytes apart in one malloc'ed array
 * (truncated to 32 bits, as a pager's cast does). Names already in use or
 * reserved (NULL, DEAD) are skipped and counted. */
static mach_port_name_t *address_names(void *base, size_t stride, uint32_t n,
        uint32_t *skipped)
{
	mach_port_name_t *names = calloc(n, sizeof *names);
	REQUIRE(names != NULL);
	*skipped = 0;
	for (uint32_t i = 0; i < n; i++) {
		mach_port_name_t name =
		    (mach_port_name_t)((uintptr_t)base + (uintptr_t)i * stride);
		if (!MACH_PORT_VALID(name) || type_of(name) != MACH_PORT_TYPE_NONE) {
			(*skipped)++;
			name = MACH_PORT_NULL;
		}
		names[i] = name;
	}
	return names;
}

static mach_msg_type_number_t name_count(void)
{
	mach_port_name_t *names = NULL;
	mach_port_type_t *types = NULL;
	mach_msg_type_number_t nn = 0, nt = 0;
	CHECK_EQ(mach_port_names(mach_task_self(), &names, &nn, &types, &nt), KERN_SUCCESS);
	if (nn) {
		CHECK_EQ(vm_deallocate(mach_task_self(), (vm_address_t)(uintptr_t)names,
		        nn * sizeof *names), KERN_SUCCESS);
		CHECK_EQ(vm_deallocate(mach_task_self(), (vm_address_t)(uintptr_t)types,
		        nt * sizeof *types), KERN_SUCCESS);
	}
	return nn;
}

/* 100,000 receive rights named by addresses 16 bytes apart: each takes a
 * message, shows in lookups and mach_port_names, and goes away cleanly. */
ATEST(many_address_names)
{
	mach_port_t task = mach_task_self();
	struct pager_object *objs = calloc(NAMES, sizeof *objs);
	REQUIRE(objs != NULL);
	uint32_t skipped;
	mach_port_name_t *names = address_names(objs, sizeof *objs, NAMES, &skipped);
	CHECK(skipped < 4);
	mach_msg_type_number_t before = name_count();

	uint32_t made = 0;
	for (uint32_t i = 0; i < NAMES; i++) {
		if (names[i] == MACH_PORT_NULL)
			continue;
		kern_return_t kr = mach_port_allocate_name(task, MACH_PORT_RIGHT_RECEIVE, names[i]);
		CHECK_EQ(kr, KERN_SUCCESS);
		if (kr != KERN_SUCCESS)
			names[i] = MACH_PORT_NULL;
		else
			made++;
	}
	CHECK_EQ(made, NAMES - skipped);
	CHECK_EQ(name_count(), before + made);

	/* every name denotes its own port: a send right made from it, a
	 * message through it, arriving under that name */
	uint32_t bad_type = 0, bad_send = 0, bad_recv = 0;
	for (uint32_t i = 0; i < NAMES; i++) {
		mach_port_name_t n = names[i];
		if (n == MACH_PORT_NULL)
			continue;
		if (type_of(n) != MACH_PORT_TYPE_RECEIVE)
			bad_type++;
		if (send_small(n, MACH_MSG_TYPE_MAKE_SEND, MACH_PORT_NULL, 0, 7, (int32_t)i,
		        0, 0) != MACH_MSG_SUCCESS)
			bad_send++;
	}
	for (uint32_t i = 0; i < NAMES; i++) {
		mach_port_name_t n = names[i];
		if (n == MACH_PORT_NULL)
			continue;
		rcv_buf_t b;
		if (recv_msg(n, &b, 0) != MACH_MSG_SUCCESS || b.h.msgh_local_port != n ||
		    ((small_msg_t *)&b.h)->payload != (int32_t)i)
			bad_recv++;
	}
	CHECK_EQ(bad_type, 0);
	CHECK_EQ(bad_send, 0);
	CHECK_EQ(bad_recv, 0);

	/* a send right under the same name merges with the receive right */
	for (uint32_t i = 0; i < NAMES; i += 97) {
		if (names[i] == MACH_PORT_NULL)
			continue;
		CHECK_EQ(mach_port_insert_right(task, names[i], names[i],
		        MACH_MSG_TYPE_MAKE_SEND), KERN_SUCCESS);
		CHECK_EQ(type_of(names[i]), MACH_PORT_TYPE_SEND_RECEIVE);
		CHECK_EQ(mach_port_deallocate(task, names[i]), KERN_SUCCESS);
	}

	/* a name in use is refused, whatever its neighbours */
	for (uint32_t i = 0; i < NAMES; i += 1013)
		if (names[i] != MACH_PORT_NULL)
			CHECK_EQ(mach_port_allocate_name(task, MACH_PORT_RIGHT_DEAD_NAME, names[i]),
			         KERN_NAME_EXISTS);

	/* drop every other one, check the rest still work, then drop them */
	for (uint32_t i = 0; i < NAMES; i += 2)
		if (names[i] != MACH_PORT_NULL)
			drop_receive(names[i]);
	uint32_t gone = 0, kept = 0;
	for (uint32_t i = 0; i < NAMES; i++) {
		if (names[i] == MACH_PORT_NULL)
			continue;
		mach_port_type_t t = type_of(names[i]);
		if (i % 2 == 0 && t == MACH_PORT_TYPE_NONE)
			gone++;
		else if (i % 2 == 1 && t == MACH_PORT_TYPE_RECEIVE)
			kept++;
	}
	CHECK_EQ(gone + kept, made);
	for (uint32_t i = 1; i < NAMES; i += 2)
		if (names[i] != MACH_PORT_NULL)
			drop_receive(names[i]);
	CHECK_EQ(name_count(), before);
	free(names);
	free(objs);
}

/* Strides of 32 and 64 bytes, and every kind of right a name can hold. */
ATEST(strides_and_kinds)
{
	mach_port_t task = mach_task_self();
	static const size_t strides[] = { 16, 32, 64 };
	for (size_t s = 0; s < sizeof strides / sizeof strides[0]; s++) {
		enum { N = 64 };
		char *area = malloc(N * strides[s]);
		REQUIRE(area != NULL);
		uint32_t skipped;
		mach_port_name_t *names = address_names(area, strides[s], N, &skipped);
		mach_port_t target = new_port();
		for (uint32_t i = 0; i < N; i++) {
			mach_port_name_t n = names[i];
			if (n == MACH_PORT_NULL)
				continue;
			switch (i % 4) {
			case 0:
				CHECK_EQ(mach_port_allocate_name(task, MACH_PORT_RIGHT_RECEIVE, n),
				         KERN_SUCCESS);
				break;
			case 1:
				CHECK_EQ(mach_port_allocate_name(task, MACH_PORT_RIGHT_PORT_SET, n),
				         KERN_SUCCESS);
				CHECK_EQ(type_of(n), MACH_PORT_TYPE_PORT_SET);
				break;
			case 2:
				CHECK_EQ(mach_port_allocate_name(task, MACH_PORT_RIGHT_DEAD_NAME, n),
				         KERN_SUCCESS);
				CHECK_EQ(type_of(n), MACH_PORT_TYPE_DEAD_NAME);
				break;
			case 3:
				/* a send right to another port under a chosen name */
				CHECK_EQ(mach_port_insert_right(task, n, target,
				        MACH_MSG_TYPE_MAKE_SEND), KERN_RIGHT_EXISTS);
				break;
			}
		}
		/* receive rights join a set named the same way */
		for (uint32_t i = 0; i + 1 < N; i += 4)
			if (names[i] && names[i + 1])
				CHECK_EQ(mach_port_move_member(task, names[i], names[i + 1]),
				         KERN_SUCCESS);
		for (uint32_t i = 0; i + 1 < N; i += 4) {
			if (!names[i] || !names[i + 1])
				continue;
			CHECK_EQ(send_small(names[i], MACH_MSG_TYPE_MAKE_SEND, MACH_PORT_NULL, 0,
			        11, (int32_t)i, 0, 0), MACH_MSG_SUCCESS);
			rcv_buf_t b;
			CHECK_EQ(recv_msg(names[i + 1], &b, RCV_WAIT_MS), MACH_MSG_SUCCESS);
			CHECK_EQ(b.h.msgh_local_port, names[i]);
		}
		for (uint32_t i = 0; i < N; i++)
			if (names[i] != MACH_PORT_NULL && i % 4 != 3)
				CHECK_EQ(mach_port_destroy(task, names[i]), KERN_SUCCESS);
		drop_receive(target);
		free(names);
		free(area);
	}
}

/* insert_right moves receive rights to address names and adds send
 * rights under them; messages sent through each arrive under it; the
 * port's death leaves a dead name with the send right's references, as
 * for any other name. */
ATEST(insert_right_address_names)
{
	mach_port_t task = mach_task_self();
	enum { N = 256 };
	struct pager_object *objs = calloc(N, sizeof *objs);
	REQUIRE(objs != NULL);
	uint32_t skipped;
	mach_port_name_t *names = address_names(objs, sizeof *objs, N, &skipped);
	for (uint32_t i = 0; i < N; i++) {
		mach_port_name_t n = names[i];
		if (n == MACH_PORT_NULL)
			continue;
		mach_port_t p = new_port();
		CHECK_EQ(mach_port_insert_right(task, n, p, MACH_MSG_TYPE_MOVE_RECEIVE),
		         KERN_SUCCESS);
		CHECK_EQ(type_of(p), MACH_PORT_TYPE_NONE);
		CHECK_EQ(type_of(n), MACH_PORT_TYPE_RECEIVE);
		CHECK_EQ(mach_port_insert_right(task, n, n, MACH_MSG_TYPE_MAKE_SEND), KERN_SUCCESS);
		CHECK_EQ(mach_port_insert_right(task, n, n, MACH_MSG_TYPE_MAKE_SEND), KERN_SUCCESS);
		CHECK_EQ(refs_of(n, MACH_PORT_RIGHT_SEND), 2);
	}
	for (uint32_t i = 0; i < N; i++) {
		mach_port_name_t n = names[i];
		if (n == MACH_PORT_NULL)
			continue;
		CHECK_EQ(send_small(n, MACH_MSG_TYPE_COPY_SEND, MACH_PORT_NULL, 0, 5,
		        (int32_t)i, 0, 0), MACH_MSG_SUCCESS);
	}
	for (uint32_t i = 0; i < N; i++) {
		mach_port_name_t n = names[i];
		if (n == MACH_PORT_NULL)
			continue;
		rcv_buf_t b;
		CHECK_EQ(recv_msg(n, &b, RCV_WAIT_MS), MACH_MSG_SUCCESS);
		CHECK_EQ(b.h.msgh_local_port, n);
		CHECK_EQ(((small_msg_t *)&b.h)->payload, (int32_t)i);
	}
	/* the receive rights go: each chosen name is a dead name now */
	for (uint32_t i = 0; i < N; i++)
		if (names[i] != MACH_PORT_NULL)
			drop_receive(names[i]);
	for (uint32_t i = 0; i < N; i++) {
		mach_port_name_t n = names[i];
		if (n == MACH_PORT_NULL)
			continue;
		CHECK_EQ(type_of(n), MACH_PORT_TYPE_DEAD_NAME);
		CHECK_EQ(mach_port_mod_refs(task, n, MACH_PORT_RIGHT_DEAD_NAME, -2), KERN_SUCCESS);
		CHECK_EQ(type_of(n), MACH_PORT_TYPE_NONE);
	}
	free(names);
	free(objs);
}

/* Chosen names that look like the kernel's own (same table slot, other
 * generations) do not disturb the names the kernel picks: every one of a
 * freed slot's 256 names chosen, new ports still get fresh names. */
ATEST(chosen_names_beside_kernel_names)
{
	mach_port_t task = mach_task_self();
	mach_port_t p = new_port();
	/* the same high bits as a kernel-picked name, any low byte */
	mach_port_name_t base = p & ~0xffu;
	mach_port_name_t taken[256];
	uint32_t ntaken = 0;
	for (uint32_t g = 0; g < 256; g++) {
		mach_port_name_t n = base | g;
		if (!MACH_PORT_VALID(n) || type_of(n) != MACH_PORT_TYPE_NONE)
			continue;
		CHECK_EQ(mach_port_allocate_name(task, MACH_PORT_RIGHT_RECEIVE, n), KERN_SUCCESS);
		taken[ntaken++] = n;
	}
	CHECK(ntaken >= 250);
	/* p still works beside them */
	CHECK_EQ(send_small(p, MACH_MSG_TYPE_MAKE_SEND, MACH_PORT_NULL, 0, 3, 0, 0, 0),
	         MACH_MSG_SUCCESS);
	rcv_buf_t b;
	CHECK_EQ(recv_msg(p, &b, RCV_WAIT_MS), MACH_MSG_SUCCESS);
	CHECK_EQ(b.h.msgh_local_port, p);
	/* free p: its slot cannot be reused under any name in use */
	drop_receive(p);
	CHECK_EQ(mach_port_allocate_name(task, MACH_PORT_RIGHT_RECEIVE, p), KERN_SUCCESS);
	taken[ntaken++] = p;
	enum { FRESH = 1000 };
	mach_port_t fresh[FRESH];
	for (uint32_t i = 0; i < FRESH; i++) {
		fresh[i] = new_port();
		for (uint32_t t = 0; t < ntaken; t++)
			CHECK(fresh[i] != taken[t]);
	}
	for (uint32_t t = 0; t < ntaken; t++)
		CHECK_EQ(type_of(taken[t]), MACH_PORT_TYPE_RECEIVE);
	for (uint32_t i = 0; i < FRESH; i++)
		drop_receive(fresh[i]);
	for (uint32_t t = 0; t < ntaken; t++)
		drop_receive(taken[t]);
	/* and a kernel-picked name in use is refused as a chosen one */
	mach_port_t q = new_port();
	CHECK_EQ(mach_port_allocate_name(task, MACH_PORT_RIGHT_RECEIVE, q), KERN_NAME_EXISTS);
	drop_receive(q);
}

/* Rights received in a message are named by the kernel, never with a
 * name a caller chose. */
ATEST(received_rights_avoid_chosen_names)
{
	mach_port_t task = mach_task_self();
	enum { N = 512 };
	struct pager_object *objs = calloc(N, sizeof *objs);
	REQUIRE(objs != NULL);
	uint32_t skipped;
	mach_port_name_t *names = address_names(objs, sizeof *objs, N, &skipped);
	for (uint32_t i = 0; i < N; i++)
		if (names[i] != MACH_PORT_NULL)
			CHECK_EQ(mach_port_allocate_name(task, MACH_PORT_RIGHT_DEAD_NAME, names[i]),
			         KERN_SUCCESS);
	mach_port_t rcv = new_port();
	for (uint32_t i = 0; i < 64; i++) {
		mach_port_t reply = new_port();
		/* the reply right arrives as a send-once right under a new name */
		CHECK_EQ(send_small(rcv, MACH_MSG_TYPE_MAKE_SEND, reply,
		        MACH_MSG_TYPE_MAKE_SEND_ONCE, 1, 0, 0, 0), MACH_MSG_SUCCESS);
		rcv_buf_t b;
		CHECK_EQ(recv_msg(rcv, &b, RCV_WAIT_MS), MACH_MSG_SUCCESS);
		mach_port_name_t got = b.h.msgh_remote_port;
		CHECK(MACH_PORT_VALID(got));
		CHECK_EQ(type_of(got), MACH_PORT_TYPE_SEND_ONCE);
		for (uint32_t k = 0; k < N; k++)
			CHECK(got != names[k]);
		CHECK_EQ(mach_port_deallocate(task, got), KERN_SUCCESS);
		/* the send-once notification */
		CHECK_EQ(recv_msg(reply, &b, RCV_WAIT_MS), MACH_MSG_SUCCESS);
		CHECK_EQ(b.h.msgh_id, MACH_NOTIFY_SEND_ONCE);
		drop_receive(reply);
	}
	drop_receive(rcv);
	for (uint32_t i = 0; i < N; i++)
		if (names[i] != MACH_PORT_NULL)
			CHECK_EQ(mach_port_deallocate(task, names[i]), KERN_SUCCESS);
	free(names);
	free(objs);
}

int main(void)
{
	warm_up();
	RUN(many_address_names);
	RUN(strides_and_kinds);
	RUN(insert_right_address_names);
	RUN(chosen_names_beside_kernel_names);
	RUN(received_rights_avoid_chosen_names);
	return harness_done();
}
