/* Rights held under names: giving them up into messages (copyin), naming
 * the rights a space receives (copyout), user references, dead names and
 * dead-name requests. Mach 3 / OSF semantics: one entry per (space, port)
 * for send and receive rights; each send-once right its own entry; dead
 * names keep the user references the send right had. */
#include <stdlib.h>
#include "ipc_internal.h"

mach_msg_type_name_t ipc_copyin_type(mach_msg_type_name_t msgt)
{
	switch (msgt) {
	case MACH_MSG_TYPE_MOVE_RECEIVE:
		return MACH_MSG_TYPE_PORT_RECEIVE;
	case MACH_MSG_TYPE_MOVE_SEND:
	case MACH_MSG_TYPE_COPY_SEND:
	case MACH_MSG_TYPE_MAKE_SEND:
		return MACH_MSG_TYPE_PORT_SEND;
	case MACH_MSG_TYPE_MOVE_SEND_ONCE:
	case MACH_MSG_TYPE_MAKE_SEND_ONCE:
		return MACH_MSG_TYPE_PORT_SEND_ONCE;
	default:
		return 0;
	}
}

bool ipc_msgt_valid_send(mach_msg_type_name_t msgt)
{
	return MACH_MSG_TYPE_PORT_ANY_SEND(msgt);
}

bool ipc_msgt_valid(mach_msg_type_name_t msgt)
{
	return MACH_MSG_TYPE_PORT_ANY(msgt);
}

/* Takes the dead-name request off an entry; returns its send-once right. */
static ipc_port_t entry_request_cancel(ipc_entry_t entry)
{
	struct ipc_dnrequest *req = entry->request;
	if (req == NULL)
		return IP_NULL;
	ipc_port_t notify = req->notify;
	entry->request = NULL;
	ipc_port_dnrequest_cancel(entry->object, req);
	return notify;
}

/* The entry gives up the last port right it holds: the name goes away.
 * Call with the entry's type intact. A dead-name request on it becomes a
 * port-deleted notification. The entry's port reference passes to the
 * caller. */
static void entry_drop(ipc_space_t space, mach_port_name_t name, ipc_entry_t entry)
{
	ipc_port_t notify = IP_NULL;
	if (entry->type & (MACH_PORT_TYPE_SEND | MACH_PORT_TYPE_RECEIVE))
		ipc_hash_remove(space, entry->object, name);
	if (entry->type & MACH_PORT_TYPE_PORT_RIGHTS)
		notify = entry_request_cancel(entry);
	ipc_entry_free(space, name);
	if (notify != IP_NULL)
		ipc_notify_port_deleted(notify, name);
}

kern_return_t ipc_right_copyin_check(ipc_space_t space, mach_port_name_t name,
        mach_msg_type_name_t msgt, bool deadok, ipc_entry_t *entryp)
{
	*entryp = NULL;
	if (!ipc_msgt_valid(msgt))
		return KERN_INVALID_VALUE;
	if (!MACH_PORT_VALID(name))
		return deadok ? KERN_SUCCESS : KERN_INVALID_NAME;
	ipc_entry_t e = ipc_entry_lookup(space, name);
	if (e == NULL)
		return KERN_INVALID_NAME;

	if (e->type & MACH_PORT_TYPE_DEAD_NAME) {
		if (!deadok)
			return KERN_INVALID_CAPABILITY;
		switch (msgt) {
		case MACH_MSG_TYPE_COPY_SEND:
			break;
		case MACH_MSG_TYPE_MOVE_SEND:
		case MACH_MSG_TYPE_MOVE_SEND_ONCE:
			if (e->urefs <= e->pending_urefs)
				return KERN_INVALID_RIGHT;
			e->pending_urefs++;
			break;
		default:
			return KERN_INVALID_RIGHT;
		}
		*entryp = e;
		return KERN_SUCCESS;
	}

	switch (msgt) {
	case MACH_MSG_TYPE_MOVE_RECEIVE:
		if (!(e->type & MACH_PORT_TYPE_RECEIVE) || e->pending_receive)
			return KERN_INVALID_RIGHT;
		e->pending_receive = true;
		((ipc_port_t)e->object)->moving = true;
		break;
	case MACH_MSG_TYPE_MAKE_SEND:
	case MACH_MSG_TYPE_MAKE_SEND_ONCE:
		if (!(e->type & MACH_PORT_TYPE_RECEIVE) || e->pending_receive)
			return KERN_INVALID_RIGHT;
		break;
	case MACH_MSG_TYPE_COPY_SEND:
		/* Copies are taken before moves, so only the right must exist. */
		if (!(e->type & MACH_PORT_TYPE_SEND))
			return KERN_INVALID_RIGHT;
		break;
	case MACH_MSG_TYPE_MOVE_SEND:
		if (!(e->type & MACH_PORT_TYPE_SEND) || e->urefs <= e->pending_urefs)
			return KERN_INVALID_RIGHT;
		e->pending_urefs++;
		break;
	case MACH_MSG_TYPE_MOVE_SEND_ONCE:
		if (!(e->type & MACH_PORT_TYPE_SEND_ONCE) || e->pending_sonce)
			return KERN_INVALID_RIGHT;
		e->pending_sonce = true;
		break;
	}
	*entryp = e;
	return KERN_SUCCESS;
}

void ipc_right_copyin_unreserve(ipc_entry_t entry)
{
	if (entry == NULL)
		return;
	if (entry->pending_receive)
		((ipc_port_t)entry->object)->moving = false;
	entry->pending_urefs = 0;
	entry->pending_receive = false;
	entry->pending_sonce = false;
}

ipc_port_t ipc_right_copyin(ipc_space_t space, mach_port_name_t name,
        mach_msg_type_name_t msgt)
{
	if (!MACH_PORT_VALID(name))
		return name == MACH_PORT_DEAD ? IP_DEAD : IP_NULL;
	ipc_entry_t e = ipc_entry_lookup(space, name);

	if (e->type & MACH_PORT_TYPE_DEAD_NAME) {
		if (msgt != MACH_MSG_TYPE_COPY_SEND && --e->urefs == 0)
			ipc_entry_free(space, name);
		return IP_DEAD;
	}

	ipc_port_t port = e->object;
	switch (msgt) {
	case MACH_MSG_TYPE_MAKE_SEND:
		return ipc_port_make_send(port);
	case MACH_MSG_TYPE_MAKE_SEND_ONCE:
		return ipc_port_make_sonce(port);
	case MACH_MSG_TYPE_COPY_SEND:
		return ipc_port_copy_send(port);
	case MACH_MSG_TYPE_MOVE_SEND:
		if (--e->urefs > 0)
			return ipc_port_copy_send(port);
		/* The entry's send right itself goes into the message. */
		if (e->type & MACH_PORT_TYPE_RECEIVE) {
			e->type &= ~MACH_PORT_TYPE_SEND;
			ipc_port_reference(port);  /* the entry keeps its own */
			return port;
		}
		entry_drop(space, name, e);
		return port;
	case MACH_MSG_TYPE_MOVE_SEND_ONCE:
		entry_drop(space, name, e);
		return port;
	case MACH_MSG_TYPE_MOVE_RECEIVE:
		ipc_port_clear_receiver(port);
		if (e->type & MACH_PORT_TYPE_SEND) {
			e->type &= ~MACH_PORT_TYPE_RECEIVE;
			ipc_port_reference(port);
			return port;
		}
		entry_drop(space, name, e);
		return port;
	}
	return IP_NULL;
}

mach_port_name_t ipc_right_copyout(ipc_space_t space, ipc_port_t port,
        mach_msg_type_name_t type)
{
	mach_port_name_t name;
	ipc_entry_t e;
	if (port == IP_NULL)
		return MACH_PORT_NULL;
	if (port == IP_DEAD)
		return MACH_PORT_DEAD;

	switch (type) {
	case MACH_MSG_TYPE_PORT_SEND:
		if (!port->active) {
			ipc_port_release_send(port);
			return MACH_PORT_DEAD;
		}
		e = ipc_hash_lookup(space, port, &name);
		if (e != NULL) {
			if (e->type & MACH_PORT_TYPE_SEND) {
				/* Two send rights under one name: one right, urefs+1,
				 * pegged at the maximum rather than failing. */
				if (e->urefs < MACH_PORT_UREFS_MAX)
					e->urefs++;
				port->srights--;
			} else {
				e->type |= MACH_PORT_TYPE_SEND;
				e->urefs = 1;
			}
			ipc_port_release(port);  /* the entry holds one already */
			return name;
		}
		if (ipc_entry_alloc(space, &name, &e) != KERN_SUCCESS) {
			ipc_port_release_send(port);
			return MACH_PORT_DEAD;
		}
		e->type = MACH_PORT_TYPE_SEND;
		e->urefs = 1;
		e->object = port;
		ipc_hash_insert(space, port, name);
		return name;

	case MACH_MSG_TYPE_PORT_SEND_ONCE:
		if (!port->active) {
			ipc_port_release_sonce(port);
			return MACH_PORT_DEAD;
		}
		if (ipc_entry_alloc(space, &name, &e) != KERN_SUCCESS) {
			ipc_port_release_sonce(port);
			return MACH_PORT_DEAD;
		}
		e->type = MACH_PORT_TYPE_SEND_ONCE;
		e->urefs = 1;
		e->object = port;
		return name;

	case MACH_MSG_TYPE_PORT_RECEIVE:
		e = ipc_hash_lookup(space, port, &name);
		if (e != NULL) {
			e->type |= MACH_PORT_TYPE_RECEIVE;
			ipc_port_release(port);
		} else {
			if (ipc_entry_alloc(space, &name, &e) != KERN_SUCCESS) {
				ipc_port_release_receive(port);
				return MACH_PORT_DEAD;
			}
			e->type = MACH_PORT_TYPE_RECEIVE;
			e->urefs = 0;
			e->object = port;
			ipc_hash_insert(space, port, name);
		}
		ipc_port_set_receiver(port, space, name);
		return name;
	}
	return MACH_PORT_NULL;
}

void ipc_right_copyout_name(ipc_space_t space, ipc_port_t port,
        mach_msg_type_name_t type, mach_port_name_t name)
{
	mach_port_name_t existing_name;
	ipc_entry_t e;
	if (type != MACH_MSG_TYPE_PORT_SEND_ONCE && port->active &&
	    ipc_hash_lookup(space, port, &existing_name) != NULL) {
		(void)ipc_right_copyout(space, port, type);  /* merges by name */
		return;
	}
	if (ipc_entry_alloc_name(space, name, &e) != KERN_SUCCESS) {
		ipc_right_destroy_port(port, type);
		return;
	}
	if (!port->active) {
		/* A right to a port that died on the way is a dead name. */
		e->type = MACH_PORT_TYPE_DEAD_NAME;
		e->urefs = 1;
		if (type == MACH_MSG_TYPE_PORT_SEND)
			ipc_port_release_send(port);
		else
			ipc_port_release_sonce(port);
		return;
	}
	e->object = port;
	switch (type) {
	case MACH_MSG_TYPE_PORT_SEND:
		e->type = MACH_PORT_TYPE_SEND;
		e->urefs = 1;
		ipc_hash_insert(space, port, name);
		break;
	case MACH_MSG_TYPE_PORT_SEND_ONCE:
		e->type = MACH_PORT_TYPE_SEND_ONCE;
		e->urefs = 1;
		break;
	case MACH_MSG_TYPE_PORT_RECEIVE:
		e->type = MACH_PORT_TYPE_RECEIVE;
		ipc_hash_insert(space, port, name);
		ipc_port_set_receiver(port, space, name);
		break;
	}
}

void ipc_right_destroy_port(ipc_port_t port, mach_msg_type_name_t type)
{
	if (!IP_VALID(port))
		return;
	switch (type) {
	case MACH_MSG_TYPE_PORT_SEND:
		ipc_port_release_send(port);
		break;
	case MACH_MSG_TYPE_PORT_SEND_ONCE:
		ipc_notify_send_once(port);
		break;
	case MACH_MSG_TYPE_PORT_RECEIVE:
		ipc_port_release_receive(port);
		break;
	}
}

/* The entry's last send uref goes: keeps the entry if it still has the
 * receive right. */
static void entry_release_send(ipc_space_t space, mach_port_name_t name,
        ipc_entry_t e)
{
	ipc_port_t port = e->object;
	if (e->type & MACH_PORT_TYPE_RECEIVE) {
		e->type &= ~MACH_PORT_TYPE_SEND;
		e->urefs = 0;
		ipc_port_reference(port);   /* release_send drops one */
	} else {
		entry_drop(space, name, e);
	}
	ipc_port_release_send(port);
}

static void entry_release_sonce(ipc_space_t space, mach_port_name_t name,
        ipc_entry_t e)
{
	ipc_port_t port = e->object;
	entry_drop(space, name, e);
	ipc_notify_send_once(port);
}

/* Destroys the receive right named by e (the entry may keep send rights). */
static void entry_release_receive(ipc_space_t space, mach_port_name_t name,
        ipc_entry_t e)
{
	ipc_port_t port = e->object;
	if (e->type & MACH_PORT_TYPE_SEND) {
		e->type &= ~MACH_PORT_TYPE_RECEIVE;
		ipc_port_reference(port);  /* the entry keeps its reference */
	} else {
		entry_drop(space, name, e);
	}
	ipc_port_clear_receiver(port);
	ipc_port_release_receive(port);
}

kern_return_t ipc_right_dealloc(ipc_space_t space, mach_port_name_t name)
{
	ipc_entry_t e = ipc_entry_lookup(space, name);
	if (e == NULL)
		return KERN_INVALID_NAME;
	if (e->type & MACH_PORT_TYPE_DEAD_NAME) {
		if (--e->urefs == 0)
			ipc_entry_free(space, name);
		return KERN_SUCCESS;
	}
	if (e->type & MACH_PORT_TYPE_SEND_ONCE) {
		entry_release_sonce(space, name, e);
		return KERN_SUCCESS;
	}
	if (e->type & MACH_PORT_TYPE_SEND) {
		if (--e->urefs == 0)
			entry_release_send(space, name, e);
		return KERN_SUCCESS;
	}
	return KERN_INVALID_RIGHT;
}

static kern_return_t delta_urefs(mach_port_urefs_t urefs, mach_port_delta_t delta)
{
	if (MACH_PORT_UREFS_UNDERFLOW(urefs, delta))
		return KERN_INVALID_VALUE;
	if (MACH_PORT_UREFS_OVERFLOW(urefs, delta))
		return KERN_UREFS_OVERFLOW;
	return KERN_SUCCESS;
}

kern_return_t ipc_right_delta(ipc_space_t space, mach_port_name_t name,
        mach_port_right_t right, mach_port_delta_t delta)
{
	ipc_entry_t e = ipc_entry_lookup(space, name);
	kern_return_t kr;
	if (e == NULL)
		return KERN_INVALID_NAME;

	switch (right) {
	case MACH_PORT_RIGHT_RECEIVE:
		if (!(e->type & MACH_PORT_TYPE_RECEIVE))
			return KERN_INVALID_RIGHT;
		if (delta == 0)
			return KERN_SUCCESS;
		if (delta != -1)
			return KERN_INVALID_VALUE;
		entry_release_receive(space, name, e);
		return KERN_SUCCESS;

	case MACH_PORT_RIGHT_PORT_SET: {
		if (!(e->type & MACH_PORT_TYPE_PORT_SET))
			return KERN_INVALID_RIGHT;
		if (delta == 0)
			return KERN_SUCCESS;
		if (delta != -1)
			return KERN_INVALID_VALUE;
		ipc_pset_t pset = e->object;
		ipc_entry_free(space, name);
		ipc_pset_destroy(pset);
		ipc_pset_release(pset);
		return KERN_SUCCESS;
	}

	case MACH_PORT_RIGHT_DEAD_NAME:
		if (!(e->type & MACH_PORT_TYPE_DEAD_NAME))
			return KERN_INVALID_RIGHT;
		if ((kr = delta_urefs(e->urefs, delta)) != KERN_SUCCESS)
			return kr;
		e->urefs += (mach_port_urefs_t)delta;
		if (e->urefs == 0)
			ipc_entry_free(space, name);
		return KERN_SUCCESS;

	case MACH_PORT_RIGHT_SEND_ONCE:
		if (!(e->type & MACH_PORT_TYPE_SEND_ONCE))
			return KERN_INVALID_RIGHT;
		if (delta == 0)
			return KERN_SUCCESS;
		if (delta != -1)
			return KERN_INVALID_VALUE;
		entry_release_sonce(space, name, e);
		return KERN_SUCCESS;

	case MACH_PORT_RIGHT_SEND:
		if (!(e->type & MACH_PORT_TYPE_SEND))
			return KERN_INVALID_RIGHT;
		if ((kr = delta_urefs(e->urefs, delta)) != KERN_SUCCESS)
			return kr;
		e->urefs += (mach_port_urefs_t)delta;
		if (e->urefs == 0) {
			e->urefs = 1;  /* entry_release_send expects the right */
			entry_release_send(space, name, e);
		}
		return KERN_SUCCESS;
	}
	return KERN_INVALID_VALUE;
}

kern_return_t ipc_right_destroy(ipc_space_t space, mach_port_name_t name)
{
	ipc_entry_t e = ipc_entry_lookup(space, name);
	if (e == NULL)
		return KERN_INVALID_NAME;
	mach_port_type_t type = e->type;

	if (type & MACH_PORT_TYPE_PORT_SET) {
		ipc_pset_t pset = e->object;
		ipc_entry_free(space, name);
		ipc_pset_destroy(pset);
		ipc_pset_release(pset);
		return KERN_SUCCESS;
	}
	if (type & MACH_PORT_TYPE_DEAD_NAME) {
		ipc_entry_free(space, name);
		return KERN_SUCCESS;
	}

	ipc_port_t port = e->object;
	/* The name goes first (port-deleted for a request on it), then each
	 * right the entry held, using the entry's one reference last. */
	entry_drop(space, name, e);
	if (type & MACH_PORT_TYPE_SEND_ONCE) {
		ipc_notify_send_once(port);
		return KERN_SUCCESS;
	}
	if ((type & MACH_PORT_TYPE_SEND) && (type & MACH_PORT_TYPE_RECEIVE))
		ipc_port_reference(port);
	if (type & MACH_PORT_TYPE_SEND)
		ipc_port_release_send(port);
	if (type & MACH_PORT_TYPE_RECEIVE) {
		ipc_port_clear_receiver(port);
		ipc_port_release_receive(port);
	}
	return KERN_SUCCESS;
}

kern_return_t ipc_right_info(ipc_space_t space, mach_port_name_t name,
        mach_port_type_t *type, mach_port_urefs_t *urefs)
{
	ipc_entry_t e = ipc_entry_lookup(space, name);
	if (e == NULL)
		return KERN_INVALID_NAME;
	*type = e->type | (e->request != NULL ? MACH_PORT_TYPE_DNREQUEST : 0);
	*urefs = e->urefs;
	return KERN_SUCCESS;
}

ipc_port_t ipc_port_lookup_receive(ipc_space_t space, mach_port_name_t name,
        kern_return_t *kr)
{
	ipc_entry_t e = ipc_entry_lookup(space, name);
	if (e == NULL) {
		*kr = KERN_INVALID_NAME;
		return IP_NULL;
	}
	if (!(e->type & MACH_PORT_TYPE_RECEIVE)) {
		*kr = KERN_INVALID_RIGHT;
		return IP_NULL;
	}
	*kr = KERN_SUCCESS;
	return e->object;
}

kern_return_t ipc_right_dnrequest(ipc_space_t space, mach_port_name_t name,
        bool immediate, ipc_port_t notify, ipc_port_t *previous)
{
	ipc_entry_t e = ipc_entry_lookup(space, name);
	*previous = IP_NULL;
	if (e == NULL)
		return KERN_INVALID_NAME;
	if (notify == IP_NULL && e->request == NULL)
		return KERN_SUCCESS;

	if (e->type & MACH_PORT_TYPE_PORT_RIGHTS) {
		struct ipc_dnrequest *req = NULL;
		if (notify != IP_NULL) {
			req = malloc(sizeof *req);
			if (req == NULL)
				return KERN_RESOURCE_SHORTAGE;
		}
		ipc_port_t port = e->object;
		*previous = entry_request_cancel(e);
		if (req != NULL) {
			req->space = space;
			req->name = name;
			req->notify = notify;
			req->next = port->dnrequests;
			port->dnrequests = req;
			e->request = req;
		}
		return KERN_SUCCESS;
	}
	if ((e->type & MACH_PORT_TYPE_DEAD_NAME) && immediate && notify != IP_NULL) {
		if (e->urefs >= MACH_PORT_UREFS_MAX)
			return KERN_UREFS_OVERFLOW;
		e->urefs++;   /* the notification's reference, as at death */
		ipc_notify_dead_name(notify, name);
		return KERN_SUCCESS;
	}
	return (e->type & MACH_PORT_TYPE_DEAD_NAME) ? KERN_INVALID_ARGUMENT
	                                            : KERN_INVALID_RIGHT;
}

void ipc_right_port_died(struct ipc_dnrequest *req)
{
	ipc_entry_t e = ipc_entry_lookup_raw(req->space, req->name);
	if (e != NULL && e->request == req) {
		ipc_port_t port = e->object;
		mach_port_urefs_t urefs = (e->type & MACH_PORT_TYPE_SEND) ? e->urefs : 1;
		if (e->type & MACH_PORT_TYPE_SEND)
			ipc_hash_remove(req->space, port, req->name);
		e->request = NULL;
		e->type = MACH_PORT_TYPE_DEAD_NAME;
		e->object = NULL;
		/* One more reference for the notification (Mach semantics). */
		e->urefs = urefs < MACH_PORT_UREFS_MAX ? urefs + 1 : urefs;
		ipc_port_release(port);
	}
	ipc_notify_dead_name(req->notify, req->name);
}
