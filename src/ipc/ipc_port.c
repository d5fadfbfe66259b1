/* Port objects: references, right counts, receivers, death.
 *
 * A port lives while anything refers to it: each entry naming it (one
 * reference whatever its urefs), each right carried in a message, each
 * blocked thread and each notification request. Rights are counted apart
 * (srights, sorights) because no-senders depends on them. */
#include <stdlib.h>
#include "ipc_internal.h"

ipc_port_t ipc_port_alloc(void)
{
	ipc_port_t port = calloc(1, sizeof *port);
	if (port == NULL)
		return NULL;
	port->refs = 1;
	port->active = true;
	port->qlimit = MACH_PORT_QLIMIT_DEFAULT;
	ipc_cond_init(&port->rcv_cond);
	ipc_cond_init(&port->snd_cond);
	return port;
}

void ipc_port_reference(ipc_port_t port)
{
	port->refs++;
}

void ipc_port_release(ipc_port_t port)
{
	if (atomic_fetch_sub(&port->refs, 1) > 1)
		return;
	pthread_cond_destroy(&port->rcv_cond);
	pthread_cond_destroy(&port->snd_cond);
	free(port);
}

ipc_port_t ipc_port_make_send(ipc_port_t port)
{
	port->mscount++;
	port->srights++;
	port->refs++;
	return port;
}

ipc_port_t ipc_port_copy_send(ipc_port_t port)
{
	if (!port->active)
		return IP_DEAD;
	port->srights++;
	port->refs++;
	return port;
}

ipc_port_t ipc_port_make_sonce(ipc_port_t port)
{
	port->sorights++;
	port->refs++;
	return port;
}

void ipc_port_release_send(ipc_port_t port)
{
	if (--port->srights == 0 && port->active && port->nsrequest != IP_NULL &&
	    port->mscount >= port->nssync) {
		ipc_port_t notify = port->nsrequest;
		port->nsrequest = IP_NULL;
		ipc_notify_no_senders(notify, port->mscount);
	}
	ipc_port_release(port);
}

void ipc_port_release_sonce(ipc_port_t port)
{
	port->sorights--;
	ipc_port_release(port);
}

void ipc_port_release_receive(ipc_port_t port)
{
	ipc_port_destroy_receive(port);
	ipc_port_release(port);
}

void ipc_port_set_receiver(ipc_port_t port, ipc_space_t space,
        mach_port_name_t name)
{
	if (port->destination != IP_NULL) {
		ipc_port_t dest = port->destination;
		port->destination = IP_NULL;
		ipc_port_release(dest);
	}
	port->receiver = space;
	port->receiver_name = name;
}

static void wake_receivers(ipc_port_t port)
{
	port->rcv_epoch++;
	if (port->rcv_waiters)
		pthread_cond_broadcast(&port->rcv_cond);
	ipc_mqueue_wake_idle(&port->rcv_idle, true);
}

void ipc_port_clear_receiver(ipc_port_t port)
{
	if (port->pset != NULL)
		ipc_pset_remove(port);
	wake_receivers(port);
	port->receiver = NULL;
	port->receiver_name = MACH_PORT_NULL;
	port->mscount = 0;
	port->seqno = 0;
	port->handler = NULL;
	port->reads_ool_safely = false;
	port->context = NULL;
}

void ipc_port_wake_senders(ipc_port_t port, bool all)
{
	if (port->snd_waiters == 0)
		return;
	if (all)
		pthread_cond_broadcast(&port->snd_cond);
	else
		pthread_cond_signal(&port->snd_cond);
}

bool ipc_port_in_transit_chain(ipc_port_t start, ipc_port_t target)
{
	for (ipc_port_t p = start; p != IP_NULL; p = p->destination) {
		if (p == target)
			return true;
		if (!p->active || p->receiver != NULL)
			return false;
	}
	return false;
}

void ipc_port_dnrequest_cancel(ipc_port_t port, struct ipc_dnrequest *req)
{
	for (struct ipc_dnrequest **link = &port->dnrequests; *link; link = &(*link)->next) {
		if (*link == req) {
			*link = req->next;
			break;
		}
	}
	free(req);
}

/* The receive right is destroyed. With a port-destroyed request the right
 * goes to the requester instead (unless that would put it in a loop). */
void ipc_port_destroy_receive(ipc_port_t port)
{
	ipc_port_t pdrequest = port->pdrequest;
	if (pdrequest != IP_NULL) {
		port->pdrequest = IP_NULL;
		if (port->receiver != NULL)
			ipc_port_clear_receiver(port);
		else
			ipc_port_set_receiver(port, NULL, MACH_PORT_NULL);
		if (pdrequest->active && !ipc_port_in_transit_chain(pdrequest, port)) {
			ipc_notify_port_destroyed(pdrequest, port);
			return;
		}
		ipc_notify_send_once(pdrequest);
	}

	if (port->receiver != NULL)
		ipc_port_clear_receiver(port);
	ipc_port_set_receiver(port, NULL, MACH_PORT_NULL);
	port->active = false;
	ipc_port_wake_senders(port, true);

	/* Queued messages die with the port; deferred to avoid recursion. */
	while (port->head != NULL) {
		ipc_kmsg_t kmsg = port->head;
		port->head = kmsg->next;
		ipc_defer_reap(kmsg);
	}
	port->tail = NULL;
	port->msgcount = 0;

	if (port->nsrequest != IP_NULL) {
		ipc_port_t notify = port->nsrequest;
		port->nsrequest = IP_NULL;
		ipc_notify_send_once(notify);
	}
	/* Every name with a dead-name request becomes a dead name now and
	 * its requester hears of it. */
	while (port->dnrequests != NULL) {
		struct ipc_dnrequest *req = port->dnrequests;
		port->dnrequests = req->next;
		ipc_right_port_died(req);
		free(req);
	}
}
