/* notify_server: the demux for notification messages, calling the
 * do_mach_notify_* routines (the application's, or the weak defaults). */
#include <string.h>
#include "ipc_internal.h"

boolean_t notify_server(mach_msg_header_t *in, mach_msg_header_t *out)
{
	if (in == NULL || out == NULL)
		return FALSE;
	mig_reply_error_t *reply = (mig_reply_error_t *)(void *)out;
	reply->Head.msgh_bits = MACH_MSGH_BITS(MACH_MSGH_BITS_REMOTE(in->msgh_bits), 0);
	reply->Head.msgh_size = sizeof *reply;
	reply->Head.msgh_remote_port = in->msgh_remote_port;
	reply->Head.msgh_local_port = MACH_PORT_NULL;
	reply->Head.msgh_id = (mach_msg_id_t)((uint32_t)in->msgh_id + MIG_REPLY_ID_OFFSET);
	reply->NDR = NDR_record;

	mach_port_t port = in->msgh_local_port;
	kern_return_t kr;
	switch (in->msgh_id) {
	case MACH_NOTIFY_PORT_DELETED:
	case MACH_NOTIFY_DEAD_NAME:
	case MACH_NOTIFY_NO_SENDERS: {
		/* All three carry one 32-bit word after the NDR record. */
		const mach_msg_size_t size = sizeof(mach_dead_name_notification_t) -
		                             sizeof(mach_msg_format_0_trailer_t);
		if (in->msgh_size != size || (in->msgh_bits & MACH_MSGH_BITS_COMPLEX)) {
			kr = MIG_BAD_ARGUMENTS;
			break;
		}
		natural_t word;
		memcpy(&word, (const char *)in + offsetof(mach_dead_name_notification_t, not_port),
		       sizeof word);
		if (in->msgh_id == MACH_NOTIFY_PORT_DELETED)
			kr = do_mach_notify_port_deleted(port, word);
		else if (in->msgh_id == MACH_NOTIFY_DEAD_NAME)
			kr = do_mach_notify_dead_name(port, word);
		else
			kr = do_mach_notify_no_senders(port, word);
		break;
	}
	case MACH_NOTIFY_SEND_ONCE:
		if (in->msgh_size != sizeof(mach_msg_header_t)) {
			kr = MIG_BAD_ARGUMENTS;
			break;
		}
		kr = do_mach_notify_send_once(port);
		break;
	case MACH_NOTIFY_PORT_DESTROYED: {
		const mach_port_destroyed_notification_t *n = (const void *)in;
		const mach_msg_size_t size = sizeof(mach_port_destroyed_notification_t) -
		                             sizeof(mach_msg_format_0_trailer_t);
		mach_msg_port_descriptor_t pd;
		if (in->msgh_size != size || !(in->msgh_bits & MACH_MSGH_BITS_COMPLEX) ||
		    n->not_body.msgh_descriptor_count != 1) {
			kr = MIG_BAD_ARGUMENTS;
			break;
		}
		memcpy(&pd, &n->not_port, sizeof pd);
		if (pd.type != MACH_MSG_PORT_DESCRIPTOR ||
		    pd.disposition != MACH_MSG_TYPE_PORT_RECEIVE) {
			kr = MIG_BAD_ARGUMENTS;
			break;
		}
		kr = do_mach_notify_port_destroyed(port, pd.name);
		break;
	}
	default:
		reply->RetCode = MIG_BAD_ID;
		return FALSE;
	}
	reply->RetCode = kr;
	/* Notifications are one-way: there is no reply port to answer. */
	return TRUE;
}
