/* Notifications the net layer asks for, in the net space:
 *  - dead-name, on every local port it exported (net_notify_port): the
 *    port died at home, so every link that names it gets PORT_DEATH;
 *  - no-senders, on each proxy (to the proxy's own companion port, so the
 *    notification says which proxy): nobody here can send to the remote
 *    port any more, so the rights received are given back (REF_RELEASE)
 *    and the proxy goes. A notification older than the latest right made
 *    (its make-send count is behind) is ignored and the request re-armed,
 *    so a send right arriving at the same moment is never lost. */
#include <string.h>

#include "net/net_internal.h"

static void dead_name(mach_port_name_t name, struct net_undo *u)
{
	pthread_mutex_lock(&net_lock);
	struct nport *np = net_nport_find(name);
	if (np != NULL && np->proxy == NULL)
		net_home_died(np, u);
	pthread_mutex_unlock(&net_lock);
	net_undo_dealloc(u, name);   /* the notification's own reference */
}

static void no_senders(mach_port_name_t companion, mach_port_mscount_t mscount,
        struct net_undo *u)
{
	pthread_mutex_lock(&net_lock);
	struct nport *np = net_nport_by_companion(companion);
	if (np != NULL && np->proxy != NULL) {
		if (mscount < np->made) {
			/* Stale: rights were made since; wait for those. */
			net_undo_arm_ns(u, np, np->made);
		} else if (np->forwarding) {
			/* Messages addressed to it may still be on their way from
			 * the new home: release after a PING's round trip. */
			np->ns_seen = np->made;
			if (np->release_ping == 0) {
				np->release_ping = net_new_release_ping();
				net_undo_ping(u, np->proxy->link, np->release_ping);
			}
			net_undo_arm_ns(u, np, np->made + 1);
		} else {
			np->ns_seen = np->made;
			np->hold = false;
			if (np->recv_send != 0)
				net_undo_frame(u, np->proxy->link, np->proxy->origin, np->proxy->id,
				               WIRE_RIGHT_SEND, np->recv_send, false);
			np->recv_send = 0;
			if (np->proxy != NULL && np->sonce_out == 0) {
				net_proxy_check_done(np, u);
			} else {
				/* Send-once rights still out: the proxy stays; the
				 * next right made needs a new request. */
				net_undo_arm_ns(u, np, np->made + 1);
			}
		}
	}
	pthread_mutex_unlock(&net_lock);
}

void net_notify_handler(void *context, mach_msg_header_t *msg, mach_msg_size_t size)
{
	(void)context;
	struct net_undo u = {0};
	if (msg->msgh_id == MACH_NOTIFY_DEAD_NAME &&
	    msg->msgh_local_port == net_notify_port &&
	    size >= offsetof(mach_dead_name_notification_t, trailer)) {
		const mach_dead_name_notification_t *n = (const void *)msg;
		dead_name(n->not_port, &u);
	} else if (msg->msgh_id == MACH_NOTIFY_NO_SENDERS &&
	           msg->msgh_local_port != net_notify_port &&
	           size >= offsetof(mach_no_senders_notification_t, trailer)) {
		const mach_no_senders_notification_t *n = (const void *)msg;
		no_senders(msg->msgh_local_port, n->not_count, &u);
	}
	/* Send-once and port-deleted notifications (requests replaced or
	 * their names gone) need nothing. */
	ipc_mach_msg_destroy(ipc_space_net(), msg);
	net_undo_run(&u);
}
