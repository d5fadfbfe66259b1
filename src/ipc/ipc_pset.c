/* Port sets: a set's members, and which of them hold messages.
 *
 * A port belongs to at most one set (OSF semantics). The set keeps the
 * members that have messages on a ready list; a receive on the set takes
 * the first message of the first ready member, which then moves to the
 * back, so busy members cannot starve the others. */
#include <stdlib.h>
#include "ipc_internal.h"

ipc_pset_t ipc_pset_alloc(ipc_space_t space, mach_port_name_t name)
{
	ipc_pset_t pset = calloc(1, sizeof *pset);
	if (pset == NULL)
		return NULL;
	pset->refs = 1;
	pset->active = true;
	pset->space = space;
	pset->name = name;
	ipc_cond_init(&pset->cond);
	return pset;
}

void ipc_pset_release(ipc_pset_t pset)
{
	if (atomic_fetch_sub(&pset->refs, 1) > 1)
		return;
	pthread_cond_destroy(&pset->cond);
	free(pset);
}

void ipc_pset_ready(ipc_port_t port)
{
	ipc_pset_t pset = port->pset;
	if (port->on_ready)
		return;
	port->on_ready = true;
	port->ready_next = IP_NULL;
	port->ready_prev = pset->ready_tail;
	if (pset->ready_tail != IP_NULL)
		pset->ready_tail->ready_next = port;
	else
		pset->ready_head = port;
	pset->ready_tail = port;
}

void ipc_pset_unready(ipc_port_t port)
{
	ipc_pset_t pset = port->pset;
	if (!port->on_ready)
		return;
	if (port->ready_prev != IP_NULL)
		port->ready_prev->ready_next = port->ready_next;
	else
		pset->ready_head = port->ready_next;
	if (port->ready_next != IP_NULL)
		port->ready_next->ready_prev = port->ready_prev;
	else
		pset->ready_tail = port->ready_prev;
	port->ready_prev = port->ready_next = IP_NULL;
	port->on_ready = false;
}

void ipc_pset_add(ipc_pset_t pset, ipc_port_t port)
{
	port->pset = pset;
	port->pset_prev = IP_NULL;
	port->pset_next = pset->members;
	if (pset->members != IP_NULL)
		pset->members->pset_prev = port;
	pset->members = port;
	/* Receivers blocked on the port itself learn it changed. */
	port->rcv_epoch++;
	if (port->rcv_waiters)
		pthread_cond_broadcast(&port->rcv_cond);
	ipc_mqueue_wake_idle(&port->rcv_idle, true);
	if (port->head != NULL) {
		ipc_pset_ready(port);
		if (pset->waiters && !ipc_mqueue_wake_idle(&pset->idle, false))
			pthread_cond_signal(&pset->cond);
	}
}

void ipc_pset_remove(ipc_port_t port)
{
	ipc_pset_t pset = port->pset;
	ipc_pset_unready(port);
	if (port->pset_prev != IP_NULL)
		port->pset_prev->pset_next = port->pset_next;
	else
		pset->members = port->pset_next;
	if (port->pset_next != IP_NULL)
		port->pset_next->pset_prev = port->pset_prev;
	port->pset_prev = port->pset_next = IP_NULL;
	port->pset = NULL;
}

void ipc_pset_destroy(ipc_pset_t pset)
{
	while (pset->members != IP_NULL)
		ipc_pset_remove(pset->members);
	pset->active = false;
	if (pset->waiters)
		pthread_cond_broadcast(&pset->cond);
	ipc_mqueue_wake_idle(&pset->idle, true);
}
