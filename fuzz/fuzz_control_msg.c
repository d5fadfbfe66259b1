/* libFuzzer target: arbitrary messages to a control port (the kernel's
 * control-port handler: data_supply, lock_request, change/get_attributes,
 * destroy, ... with any layout) and to a memory object port (the
 * manager's side: memory_object_server / seqnos_ / default server
 * dispatch on whatever arrives).
 *
 * The harness is a manager: it maps one object of its own, answers the
 * init, and feeds each input as one message (fuzz_msg.h) to the control
 * port or to the object port. Whatever the kernel sends back (replies,
 * supply/lock completions, data_return of evicted pages, terminate) is
 * received and dispatched the way mach_msg_server would. When the object
 * is destroyed or terminated the harness maps it again. After each input
 * the name space must be as before: a right gained or lost is a finding. */
#include <mach/mach.h>
#include <stdio.h>

#include "fuzz_msg.h"

#define OBJ_PAGES 32

static mach_port_t object, reply_port;
static mach_port_t control;         /* our send right to the control port */
static vm_address_t base;
static vm_size_t obj_size;
static int need_remap;
static struct fuzz_name_state names_base[64];
static unsigned names_nbase;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Manager routines (strong: the library's weak defaults yield). Rights
 * the kernel sends are released by mach_msg_server's convention: any
 * result but KERN_SUCCESS destroys them. */
kern_return_t memory_object_terminate(memory_object_t memory_object,
        memory_object_control_t memory_control)
{
	(void)memory_object;
	if (memory_control == control)
		need_remap = 1;
	return KERN_FAILURE;
}

/* Maps the object and takes its init: the control port. */
static void map_object(void)
{
	mach_port_t task = mach_task_self();
	if (base != 0) {
		(void)vm_deallocate(task, base, obj_size);
		base = 0;
	}
	if (MACH_PORT_VALID(control)) {
		(void)mach_port_destroy(task, control);
		control = MACH_PORT_NULL;
	}
	fuzz_drain(object);
	fuzz_check(vm_map(task, &base, obj_size, 0, TRUE, object, 0, FALSE,
	        VM_PROT_READ | VM_PROT_WRITE, VM_PROT_ALL, VM_INHERIT_NONE) == KERN_SUCCESS);
	union { mach_msg_header_t h; uint8_t b[1024]; } m;
	for (;;) {
		fuzz_check(mach_msg(&m.h, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof m, object,
		        10000, MACH_PORT_NULL) == MACH_MSG_SUCCESS);
		if (m.h.msgh_id == 2200)   /* memory_object_init */
			break;
		mach_msg_destroy(&m.h);
	}
	const mach_msg_port_descriptor_t *d =
	    (const mach_msg_port_descriptor_t *)(const void *)(m.b + sizeof(mach_msg_base_t));
	control = d->name;
	/* ready: the handshake the kernel waits for */
	memory_object_attr_info_data_t attr = {
		.copy_strategy = MEMORY_OBJECT_COPY_DELAY,
		.cluster_size = (vm_size_t)vm_page_size,
		.may_cache_object = FALSE,
		.temporary = FALSE,
	};
	fuzz_check(memory_object_change_attributes(control, MEMORY_OBJECT_ATTRIBUTE_INFO,
	        (memory_object_info_t)&attr, MEMORY_OBJECT_ATTR_INFO_COUNT,
	        MACH_PORT_NULL) == KERN_SUCCESS);
	need_remap = 0;
}

static void snapshot_names(void)
{
	fuzz_names_take(names_base, &names_nbase, 64, NULL, NULL);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	setenv("MEMOBJ_RESIDENT_MAX", "64k", 1);   /* pageout runs too */
	fuzz_scratch_init();
	mach_port_t task = mach_task_self();
	obj_size = OBJ_PAGES * (vm_size_t)vm_page_size;
	fuzz_check(mach_port_allocate(task, MACH_PORT_RIGHT_RECEIVE, &object) == KERN_SUCCESS);
	fuzz_check(mach_port_insert_right(task, object, object, MACH_MSG_TYPE_MAKE_SEND) == KERN_SUCCESS);
	fuzz_check(mach_port_allocate(task, MACH_PORT_RIGHT_RECEIVE, &reply_port) == KERN_SUCCESS);
	map_object();
	snapshot_names();
	fuzz_replay(LLVMFuzzerTestOneInput);
	return 0;
}

/* What the kernel sent us: replies on the reply port, EMMI messages on
 * the object port, each dispatched as mach_msg_server would. */
static void serve_pending(void)
{
	for (int i = 0; i < 256; i++) {
		if (mach_msg_server_once(memory_object_server, FUZZ_MSG_MAX, object,
		        MACH_RCV_TIMEOUT) != MACH_MSG_SUCCESS)
			break;
	}
	fuzz_drain(reply_port);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static union { mach_msg_header_t h; uint8_t b[FUZZ_MSG_MAX]; } msg;
	struct fuzz_in in = { data, size };
	fuzz_history_note(data, size);
	struct fuzz_rights r = { .keep = { object, reply_port, control }, .nkeep = 3 };
	uint32_t target = fuzz_take(&in, 1);
	fuzz_rights_make(&r);

	mach_port_t dest = control;
	mach_msg_type_name_t dest_disp = MACH_MSG_TYPE_COPY_SEND;
	mach_msg_id_t id_base = 2100;           /* the control calls */
	unsigned id_span = 10;
	if (target & 1) {
		dest = object;                      /* the manager's side */
		dest_disp = MACH_MSG_TYPE_MAKE_SEND;
		id_base = (target & 2) ? 2250 : 2200;
		id_span = 12;
	}
	mach_msg_size_t send_size = fuzz_build(&in, &r, msg.b, sizeof msg.b, dest, dest_disp,
	        id_base, id_span);
	/* a reply right to our reply port now and then, for get_attributes
	 * and the completions */
	if ((target & 4) && MACH_MSGH_BITS_LOCAL(msg.h.msgh_bits) == 0) {
		msg.h.msgh_local_port = reply_port;
		msg.h.msgh_bits |= MACH_MSGH_BITS(0, MACH_MSG_TYPE_MAKE_SEND_ONCE);
	}
	mach_msg_return_t mr = mach_msg(&msg.h, MACH_SEND_MSG | MACH_SEND_TIMEOUT, send_size, 0,
	        MACH_PORT_NULL, 0, MACH_PORT_NULL);
	(void)mr;

	if (target & 1) {
		/* the manager's dispatch on the arbitrary message */
		for (int i = 0; i < 4; i++) {
			boolean_t (*demux)(mach_msg_header_t *, mach_msg_header_t *) =
			    (target & 8) ? seqnos_memory_object_server :
			    (target & 2) ? memory_object_default_server : memory_object_server;
			if (mach_msg_server_once(demux, FUZZ_MSG_MAX, object, MACH_RCV_TIMEOUT) !=
			    MACH_MSG_SUCCESS)
				break;
		}
	}
	serve_pending();
	fuzz_drain(r.victim);
	fuzz_drain(r.sonce_port);
	/* a terminated object: the control names change, map it again */
	fuzz_names_restore(names_base, names_nbase, !need_remap);
	if (need_remap) {
		map_object();
		snapshot_names();
	}
	return 0;
}
