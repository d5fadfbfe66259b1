/* mach_msg_server and mach_msg_server_once, as libsyscall's (XNU) with
 * the MIG conventions of SPEC 2.1: the reply buffer comes prefilled as a
 * MIG server would (reply to the request's reply port, id + 100, NDR,
 * RetCode); a demux that returns FALSE answers MIG_BAD_ID. A RetCode of
 * KERN_SUCCESS keeps the request's rights (the routine took them),
 * MIG_NO_REPLY too but sends nothing; any other value destroys them
 * (the reply port excepted: it carries the error reply). */
#include <stdlib.h>
#include <string.h>
#include "ipc_internal.h"

struct server_buffers {
	mach_msg_header_t *request, *reply;
	mach_msg_size_t request_size, reply_size;
};

static bool buffers_init(struct server_buffers *b, mach_msg_size_t max_size)
{
	if (max_size < sizeof(mig_reply_error_t))
		max_size = sizeof(mig_reply_error_t);
	if (max_size > MACH_MSG_SIZE_MAX)
		max_size = MACH_MSG_SIZE_MAX;
	b->request_size = b->reply_size = round_msg(max_size) + MAX_TRAILER_SIZE;
	b->request = malloc(b->request_size);
	b->reply = malloc(b->reply_size);
	if (b->request == NULL || b->reply == NULL) {
		free(b->request);
		free(b->reply);
		return false;
	}
	return true;
}

static void buffers_free(struct server_buffers *b)
{
	free(b->request);
	free(b->reply);
}

/* Receives one request, growing the request buffer with MACH_RCV_LARGE. */
static mach_msg_return_t receive_request(struct server_buffers *b,
        mach_port_t rcv_name, mach_msg_option_t options)
{
	for (;;) {
		mach_msg_return_t mr = mach_msg(b->request, MACH_RCV_MSG | options, 0,
		        b->request_size, rcv_name, MACH_MSG_TIMEOUT_NONE, MACH_PORT_NULL);
		if (mr != MACH_RCV_TOO_LARGE || !(options & MACH_RCV_LARGE))
			return mr;
		mach_msg_size_t need = b->request->msgh_size;
		mach_msg_header_t *bigger = need > b->request_size ? malloc(need) : NULL;
		if (need > b->request_size && bigger == NULL)
			return MACH_RCV_TOO_LARGE;
		if (bigger != NULL) {
			free(b->request);
			b->request = bigger;
			b->request_size = need;
		}
	}
}

/* A reply that could not be sent: give back every right it holds. */
static void destroy_unsent_reply(mach_msg_header_t *reply)
{
	mach_port_t local = reply->msgh_local_port;
	mach_msg_type_name_t local_type = MACH_MSGH_BITS_LOCAL(reply->msgh_bits);
	if (MACH_PORT_VALID(local) && (local_type == MACH_MSG_TYPE_MOVE_SEND ||
	                               local_type == MACH_MSG_TYPE_MOVE_SEND_ONCE))
		(void)mach_port_deallocate(mach_task_self(), local);
	reply->msgh_local_port = MACH_PORT_NULL;
	mach_msg_destroy(reply);
}

/* Dispatches the request in b and sends the reply. Returns a send error
 * other than the ones a server shrugs off (dead or full reply port). */
static mach_msg_return_t serve_one(struct server_buffers *b,
        boolean_t (*demux)(mach_msg_header_t *, mach_msg_header_t *),
        mach_msg_option_t options)
{
	mach_msg_header_t *in = b->request;
	mig_reply_error_t *out = (mig_reply_error_t *)(void *)b->reply;
	memset(out, 0, sizeof *out);
	out->Head.msgh_bits = MACH_MSGH_BITS(MACH_MSGH_BITS_REMOTE(in->msgh_bits), 0);
	out->Head.msgh_size = sizeof *out;
	out->Head.msgh_remote_port = in->msgh_remote_port;
	out->Head.msgh_local_port = MACH_PORT_NULL;
	out->Head.msgh_id = (mach_msg_id_t)((uint32_t)in->msgh_id + MIG_REPLY_ID_OFFSET);
	out->NDR = NDR_record;
	out->RetCode = KERN_SUCCESS;

	if (!demux(in, &out->Head)) {
		/* Unknown id: an error reply where there is a reply port. */
		out->Head.msgh_bits = MACH_MSGH_BITS(MACH_MSGH_BITS_REMOTE(in->msgh_bits), 0);
		out->Head.msgh_size = sizeof *out;
		out->Head.msgh_remote_port = in->msgh_remote_port;
		out->Head.msgh_local_port = MACH_PORT_NULL;
		out->RetCode = MIG_BAD_ID;
	}

	/* A complex reply succeeded: its RetCode word is a descriptor count. */
	kern_return_t ret = (out->Head.msgh_bits & MACH_MSGH_BITS_COMPLEX) ? KERN_SUCCESS
	                                                                   : out->RetCode;
	if (ret == MIG_NO_REPLY) {
		out->Head.msgh_remote_port = MACH_PORT_NULL;
	} else if (ret != KERN_SUCCESS) {
		in->msgh_remote_port = MACH_PORT_NULL;   /* kept for the reply */
		mach_msg_destroy(in);
	}
	if (out->Head.msgh_remote_port == MACH_PORT_NULL) {
		if (out->Head.msgh_bits & MACH_MSGH_BITS_COMPLEX)
			destroy_unsent_reply(&out->Head);
		return MACH_MSG_SUCCESS;
	}

	/* A send-once reply never blocks; a send right might: don't wait. */
	mach_msg_option_t send_opts = MACH_SEND_MSG |
	    (options & ~(MACH_RCV_MSG | MACH_RCV_LARGE | MACH_RCV_TIMEOUT | MACH_RCV_TRAILER_MASK |
	                 (int)0xf0000000));
	if (MACH_MSGH_BITS_REMOTE(out->Head.msgh_bits) != MACH_MSG_TYPE_MOVE_SEND_ONCE)
		send_opts |= MACH_SEND_TIMEOUT;
	mach_msg_return_t mr = mach_msg(&out->Head, send_opts, out->Head.msgh_size, 0,
	        MACH_PORT_NULL, MACH_MSG_TIMEOUT_NONE, MACH_PORT_NULL);
	if (mr == MACH_MSG_SUCCESS)
		return MACH_MSG_SUCCESS;
	destroy_unsent_reply(&out->Head);
	if (mr == MACH_SEND_INVALID_DEST || mr == MACH_SEND_TIMED_OUT ||
	    mr == MACH_SEND_INTERRUPTED)
		return MACH_MSG_SUCCESS;
	return mr;
}

static mach_msg_option_t receive_options(mach_msg_option_t options)
{
	return options & ~(MACH_SEND_MSG | MACH_RCV_MSG | MACH_SEND_TIMEOUT);
}

mach_msg_return_t mach_msg_server_once(
        boolean_t (*demux)(mach_msg_header_t *, mach_msg_header_t *),
        mach_msg_size_t max_size, mach_port_t rcv_name,
        mach_msg_option_t options)
{
	if (demux == NULL)
		return MACH_RCV_INVALID_DATA;
	struct server_buffers b;
	if (!buffers_init(&b, max_size))
		return KERN_RESOURCE_SHORTAGE;
	mach_msg_return_t mr = receive_request(&b, rcv_name, receive_options(options));
	if (mr == MACH_MSG_SUCCESS)
		mr = serve_one(&b, demux, options);
	buffers_free(&b);
	return mr;
}

mach_msg_return_t mach_msg_server(
        boolean_t (*demux)(mach_msg_header_t *, mach_msg_header_t *),
        mach_msg_size_t max_size, mach_port_t rcv_name,
        mach_msg_option_t options)
{
	if (demux == NULL)
		return MACH_RCV_INVALID_DATA;
	struct server_buffers b;
	if (!buffers_init(&b, max_size))
		return KERN_RESOURCE_SHORTAGE;
	mach_msg_return_t mr;
	/* Only a failed receive ends the loop (the port died, ...). */
	while ((mr = receive_request(&b, rcv_name, receive_options(options))) ==
	       MACH_MSG_SUCCESS)
		(void)serve_one(&b, demux, options);
	buffers_free(&b);
	return mr;
}
