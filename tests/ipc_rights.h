#ifndef MEMOBJ_TEST_IPC_RIGHTS_H
#define MEMOBJ_TEST_IPC_RIGHTS_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <mach/mach.h>
#include "harness.h"

/* Rights accounting for the IPC tests.
 * ATEST(name) is a TEST whose body runs between two snapshots of the task's
 * name space (names, types, send/dead-name user references): a test that
 * leaves a name behind, or takes one away, fails. */
struct name_entry {
	mach_port_name_t name;
	mach_port_type_t type;
	mach_port_urefs_t srefs, drefs;
};
struct names_snap {
	struct name_entry *e;
	mach_msg_type_number_t n;
};

static __attribute__((unused)) int name_entry_cmp(const void *a, const void *b)
{
	const struct name_entry *x = a, *y = b;
	return x->name < y->name ? -1 : x->name > y->name;
}

static __attribute__((unused)) void snap_take(struct names_snap *s)
{
	mach_port_name_t *names = NULL;
	mach_port_type_t *types = NULL;
	mach_msg_type_number_t nn = 0, nt = 0;
	kern_return_t kr = mach_port_names(mach_task_self(), &names, &nn, &types, &nt);
	REQUIRE(kr == KERN_SUCCESS);
	REQUIRE(nn == nt);
	s->n = nn;
	s->e = calloc(nn + 1, sizeof *s->e);
	REQUIRE(s->e != NULL);
	for (mach_msg_type_number_t i = 0; i < nn; i++) {
		s->e[i].name = names[i];
		s->e[i].type = types[i];
		if (types[i] & MACH_PORT_TYPE_SEND)
			(void)mach_port_get_refs(mach_task_self(), names[i],
			        MACH_PORT_RIGHT_SEND, &s->e[i].srefs);
		if (types[i] & MACH_PORT_TYPE_DEAD_NAME)
			(void)mach_port_get_refs(mach_task_self(), names[i],
			        MACH_PORT_RIGHT_DEAD_NAME, &s->e[i].drefs);
	}
	qsort(s->e, nn, sizeof *s->e, name_entry_cmp);
	if (nn) {
		CHECK_EQ(vm_deallocate(mach_task_self(), (vm_address_t)(uintptr_t)names,
		        nn * sizeof *names), KERN_SUCCESS);
		CHECK_EQ(vm_deallocate(mach_task_self(), (vm_address_t)(uintptr_t)types,
		        nt * sizeof *types), KERN_SUCCESS);
	}
}

static __attribute__((unused)) void snap_check(struct names_snap *before, const char *test)
{
	struct names_snap after;
	snap_take(&after);
	mach_msg_type_number_t i = 0, j = 0;
	int diffs = 0;
	while (i < before->n || j < after.n) {
		const struct name_entry *b = i < before->n ? &before->e[i] : NULL;
		const struct name_entry *a = j < after.n ? &after.e[j] : NULL;
		if (b && (!a || b->name < a->name)) {
			fprintf(stderr, "%s: name 0x%x (type 0x%x) disappeared\n", test, b->name, b->type);
			i++; diffs++;
		} else if (a && (!b || a->name < b->name)) {
			fprintf(stderr, "%s: name 0x%x (type 0x%x, srefs %u, drefs %u) left behind\n",
			        test, a->name, a->type, a->srefs, a->drefs);
			j++; diffs++;
		} else {
			if (a->type != b->type || a->srefs != b->srefs || a->drefs != b->drefs) {
				fprintf(stderr, "%s: name 0x%x changed: type 0x%x->0x%x srefs %u->%u drefs %u->%u\n",
				        test, a->name, b->type, a->type, b->srefs, a->srefs, b->drefs, a->drefs);
				diffs++;
			}
			i++; j++;
		}
	}
	CHECK_EQ(diffs, 0);
	free(after.e);
	free(before->e);
}

#define ATEST(name) \
	static void name##_body(void); \
	TEST(name) { \
		struct names_snap snap_; \
		snap_take(&snap_); \
		name##_body(); \
		snap_check(&snap_, #name); \
	} \
	static void name##_body(void)

/* Receive buffer big enough for every message these tests send. */
typedef union {
	mach_msg_header_t h;
	char bytes[8192];
	uint64_t align_;
} rcv_buf_t;

#define RCV_WAIT_MS 10000u   /* a receive that should succeed */

static __attribute__((unused)) mach_msg_seqno_trailer_t *trailer_of(mach_msg_header_t *h)
{
	return (mach_msg_seqno_trailer_t *)((char *)h + round_msg(h->msgh_size));
}

static __attribute__((unused)) mach_msg_return_t recv_msg(mach_port_t port, rcv_buf_t *b, mach_msg_timeout_t ms)
{
	memset(b, 0, sizeof *b);
	return mach_msg(&b->h, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof *b, port,
	                ms, MACH_PORT_NULL);
}

/* Allocates a fresh receive right. */
static __attribute__((unused)) mach_port_t new_port(void)
{
	mach_port_t p = MACH_PORT_NULL;
	kern_return_t kr = mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE, &p);
	REQUIRE(kr == KERN_SUCCESS);
	REQUIRE(MACH_PORT_VALID(p));
	return p;
}

/* Releases a receive right (and nothing else under its name). */
static __attribute__((unused)) void drop_receive(mach_port_t p)
{
	CHECK_EQ(mach_port_mod_refs(mach_task_self(), p, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
}

static __attribute__((unused)) mach_port_type_t type_of(mach_port_t name)
{
	mach_port_type_t t = 0;
	if (mach_port_type(mach_task_self(), name, &t) != KERN_SUCCESS)
		return MACH_PORT_TYPE_NONE;
	return t;
}

static __attribute__((unused)) mach_port_urefs_t refs_of(mach_port_t name, mach_port_right_t right)
{
	mach_port_urefs_t r = 0;
	if (mach_port_get_refs(mach_task_self(), name, right, &r) != KERN_SUCCESS)
		return (mach_port_urefs_t)-1;
	return r;
}

static __attribute__((unused)) mach_port_status_t status_of(mach_port_t name)
{
	mach_port_status_t st;
	memset(&st, 0xa5, sizeof st);
	mach_msg_type_number_t cnt = MACH_PORT_RECEIVE_STATUS_COUNT;
	CHECK_EQ(mach_port_get_attributes(mach_task_self(), name, MACH_PORT_RECEIVE_STATUS,
	        (mach_port_info_t)&st, &cnt), KERN_SUCCESS);
	return st;
}

/* Header-only or small inline message. */
typedef struct {
	mach_msg_header_t h;
	int32_t payload;
} small_msg_t;

static __attribute__((unused)) mach_msg_return_t send_small(mach_port_t dest, mach_msg_type_name_t dest_disp,
        mach_port_t reply, mach_msg_type_name_t reply_disp, mach_msg_id_t id,
        int32_t payload, mach_msg_option_t extra, mach_msg_timeout_t ms)
{
	small_msg_t m;
	memset(&m, 0, sizeof m);
	m.h.msgh_bits = MACH_MSGH_BITS(dest_disp, reply_disp);
	m.h.msgh_size = sizeof m;
	m.h.msgh_remote_port = dest;
	m.h.msgh_local_port = reply;
	m.h.msgh_id = id;
	m.payload = payload;
	return mach_msg(&m.h, MACH_SEND_MSG | extra, sizeof m, 0, MACH_PORT_NULL, ms,
	                MACH_PORT_NULL);
}

/* Touches the public API once so any lazily made names exist before the
 * first snapshot. */
static __attribute__((unused)) void warm_up(void)
{
	(void)mach_task_self();
	(void)mach_host_self();
	struct names_snap s;
	snap_take(&s);
	free(s.e);
}

#endif
