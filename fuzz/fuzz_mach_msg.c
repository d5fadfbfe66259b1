/* libFuzzer target: mach_msg copyin and copyout on arbitrary headers,
 * descriptors and bodies (fuzz_msg.h builds them, with names drawn from
 * live rights, NULL, DEAD, stale and random names, and out-of-line
 * addresses inside, past or outside a scratch region), sent to a port the
 * harness holds, with or without a combined receive (any size, trailer
 * and RCV_LARGE options). Everything queued is then received and
 * destroyed, every name the input made is destroyed, and the names the
 * harness keeps must be exactly as before: a right lost, gained or
 * miscounted is a finding, as is any crash, leak or UB. */
#include <mach/mach.h>

#include "fuzz_msg.h"

static mach_port_t dest, other;
static struct fuzz_name_state names_base[64];
static unsigned names_nbase;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_scratch_init();
	mach_port_t task = mach_task_self();
	fuzz_check(mach_port_allocate(task, MACH_PORT_RIGHT_RECEIVE, &dest) == KERN_SUCCESS);
	fuzz_check(mach_port_allocate(task, MACH_PORT_RIGHT_RECEIVE, &other) == KERN_SUCCESS);
	fuzz_check(mach_port_insert_right(task, other, other, MACH_MSG_TYPE_MAKE_SEND) == KERN_SUCCESS);
	fuzz_names_take(names_base, &names_nbase, 64, NULL, NULL);
	fuzz_replay(LLVMFuzzerTestOneInput);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static union { mach_msg_header_t h; uint8_t b[FUZZ_MSG_MAX]; } msg;
	struct fuzz_in in = { data, size };
	fuzz_history_note(data, size);
	struct fuzz_rights r = { .keep = { dest, other }, .nkeep = 2 };
	uint32_t mode = fuzz_take(&in, 1);
	uint32_t dest_sel = fuzz_take(&in, 1);
	fuzz_rights_make(&r);

	/* the destination: mostly our port, sometimes any name */
	mach_msg_type_name_t dest_disp = (mode & 1) ? fuzz_take(&in, 1) % 32
	                                            : MACH_MSG_TYPE_MAKE_SEND;
	mach_port_t to = (mode & 2) ? fuzz_name(&r, dest_sel, &dest_disp) : dest;
	if (to == dest && dest_disp == MACH_MSG_TYPE_MOVE_RECEIVE)
		to = r.victim;
	mach_msg_size_t send_size = fuzz_build(&in, &r, msg.b, sizeof msg.b, to, dest_disp,
	        (mach_msg_id_t)0, 1000);
	if (mode & 4)   /* a send size that disagrees with msgh_size */
		send_size = (mach_msg_size_t)((send_size + (mode >> 5) * 4) % (sizeof msg.b + 1));

	mach_msg_option_t opts = MACH_SEND_MSG | MACH_SEND_TIMEOUT;
	mach_msg_size_t rcv_size = 0;
	if (mode & 8) {
		opts |= MACH_RCV_MSG | MACH_RCV_TIMEOUT;
		if (mode & 16)
			opts |= MACH_RCV_LARGE;
		opts |= MACH_RCV_TRAILER_TYPE(0) | MACH_RCV_TRAILER_ELEMENTS((mode >> 5) & 7);
		rcv_size = (mach_msg_size_t)(((mode >> 5) + 1) * 256u);
		if (rcv_size > sizeof msg.b)
			rcv_size = sizeof msg.b;
	}
	mach_msg_return_t mr = mach_msg(&msg.h, opts, send_size, rcv_size,
	        (mode & 8) ? dest : MACH_PORT_NULL, 0, MACH_PORT_NULL);
	if (mr == MACH_MSG_SUCCESS && (opts & MACH_RCV_MSG))
		mach_msg_destroy(&msg.h);

	fuzz_drain(dest);
	fuzz_drain(other);
	fuzz_drain(r.victim);
	fuzz_drain(r.sonce_port);
	fuzz_names_restore(names_base, names_nbase, 1);
	return 0;
}
