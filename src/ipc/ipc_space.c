/* Name spaces: the table of entries a space's names denote.
 *
 * A name is index << 8 | generation. Index 0 is never used (so no name is
 * MACH_PORT_NULL) nor is index 0xffffff (so none is MACH_PORT_DEAD). The
 * table has two levels so that mach_port_allocate_name with any name
 * costs one chunk. A reverse hash (port -> index) finds the entry holding
 * send or receive rights for a port, so that a send right arriving for a
 * port already named in the space reuses that name. */
#include <stdlib.h>
#include "ipc_internal.h"

ipc_space_t ipc_space_create(bool is_kernel, uint32_t first_index)
{
	ipc_space_t space = calloc(1, sizeof *space);
	if (space == NULL)
		return NULL;
	space->dir = calloc(IPC_ENTRY_DIR, sizeof *space->dir);
	space->hash_size = 64;
	space->hash = calloc(space->hash_size, sizeof *space->hash);
	if (space->dir == NULL || space->hash == NULL) {
		free(space->dir);
		free(space->hash);
		free(space);
		return NULL;
	}
	space->hwm = first_index ? first_index : 1;
	space->is_kernel = is_kernel;
	return space;
}

static ipc_entry_t entry_at(ipc_space_t space, uint32_t index)
{
	struct ipc_entry *chunk = space->dir[index / IPC_ENTRY_CHUNK];
	return chunk ? &chunk[index % IPC_ENTRY_CHUNK] : NULL;
}

/* The entry slot for index, making its chunk if needed. */
static ipc_entry_t entry_slot(ipc_space_t space, uint32_t index)
{
	struct ipc_entry **chunk = &space->dir[index / IPC_ENTRY_CHUNK];
	if (*chunk == NULL) {
		*chunk = calloc(IPC_ENTRY_CHUNK, sizeof **chunk);
		if (*chunk == NULL)
			return NULL;
	}
	return &(*chunk)[index % IPC_ENTRY_CHUNK];
}

ipc_entry_t ipc_entry_lookup_raw(ipc_space_t space, mach_port_name_t name)
{
	uint32_t index = IPC_NAME_INDEX(name);
	if (index == 0 || index > IPC_INDEX_MAX)
		return NULL;
	ipc_entry_t entry = entry_at(space, index);
	if (entry == NULL || entry->type == MACH_PORT_TYPE_NONE ||
	    entry->gen != (name & 0xffu))
		return NULL;
	return entry;
}

ipc_entry_t ipc_entry_lookup(ipc_space_t space, mach_port_name_t name)
{
	ipc_entry_t entry = ipc_entry_lookup_raw(space, name);
	if (entry == NULL)
		return NULL;
	/* A send or send-once right to a port that died is a dead name now.
	 * (Receive rights never outlive their port.) */
	if ((entry->type & MACH_PORT_TYPE_SEND_RIGHTS) != 0 &&
	    (entry->type & MACH_PORT_TYPE_RECEIVE) == 0) {
		ipc_port_t port = entry->object;
		if (!port->active) {
			mach_port_urefs_t urefs =
			    (entry->type & MACH_PORT_TYPE_SEND) ? entry->urefs : 1;
			if (entry->type & MACH_PORT_TYPE_SEND)
				ipc_hash_remove(space, port, name);
			if (entry->request != NULL) {
				/* Cannot happen: requests fire and go when the port dies. */
				ipc_port_dnrequest_cancel(port, entry->request);
				entry->request = NULL;
			}
			entry->type = MACH_PORT_TYPE_DEAD_NAME;
			entry->urefs = urefs;
			entry->object = NULL;
			ipc_port_release(port);
		}
	}
	return entry;
}

static void entry_init(ipc_entry_t entry)
{
	entry->object = NULL;
	entry->urefs = 0;
	entry->request = NULL;
	entry->next = 0;
	entry->pending_urefs = 0;
	entry->pending_receive = entry->pending_sonce = false;
}

kern_return_t ipc_entry_alloc(ipc_space_t space, mach_port_name_t *name,
        ipc_entry_t *entryp)
{
	uint32_t index;
	ipc_entry_t entry;
	if (space->free_head != 0) {
		index = space->free_head;
		entry = entry_at(space, index);
		space->free_head = entry->next;
	} else {
		/* Skip indexes that mach_port_allocate_name took. */
		for (;;) {
			if (space->hwm > IPC_INDEX_MAX)
				return KERN_NO_SPACE;
			index = space->hwm;
			entry = entry_slot(space, index);
			if (entry == NULL)
				return KERN_RESOURCE_SHORTAGE;
			space->hwm++;
			if (entry->type == MACH_PORT_TYPE_NONE)
				break;
		}
	}
	entry_init(entry);
	entry->type = MACH_PORT_TYPE_DEAD_NAME; /* caller sets the real type */
	*name = IPC_NAME(index, entry->gen);
	*entryp = entry;
	return KERN_SUCCESS;
}

kern_return_t ipc_entry_alloc_name(ipc_space_t space, mach_port_name_t name,
        ipc_entry_t *entryp)
{
	uint32_t index = IPC_NAME_INDEX(name);
	if (!MACH_PORT_VALID(name) || index == 0 || index > IPC_INDEX_MAX)
		return KERN_INVALID_VALUE;
	ipc_entry_t entry = entry_slot(space, index);
	if (entry == NULL)
		return KERN_RESOURCE_SHORTAGE;
	if (entry->type != MACH_PORT_TYPE_NONE)
		return entry->gen == (name & 0xffu) ? KERN_NAME_EXISTS : KERN_NO_SPACE;
	if (index < space->hwm) {
		/* A freed index: take it off the free list. */
		uint32_t *link = &space->free_head;
		while (*link != 0 && *link != index)
			link = &entry_at(space, *link)->next;
		if (*link == index)
			*link = entry->next;
	}
	entry_init(entry);
	entry->gen = name & 0xffu;
	entry->type = MACH_PORT_TYPE_DEAD_NAME;
	*entryp = entry;
	return KERN_SUCCESS;
}

void ipc_entry_free(ipc_space_t space, mach_port_name_t name)
{
	uint32_t index = IPC_NAME_INDEX(name);
	ipc_entry_t entry = entry_at(space, index);
	entry_init(entry);
	entry->type = MACH_PORT_TYPE_NONE;
	entry->gen = (entry->gen + 1) & 0xffu;  /* a stale name stays invalid */
	if (index < space->hwm) {
		entry->next = space->free_head;
		space->free_head = index;
	}
}

static uint32_t hash_of(ipc_space_t space, ipc_port_t port)
{
	uintptr_t v = (uintptr_t)port;
	v ^= v >> 17;
	v *= (uintptr_t)0x9e3779b97f4a7c15ull;
	return (uint32_t)(v >> 32) & (space->hash_size - 1);
}

ipc_entry_t ipc_hash_lookup(ipc_space_t space, ipc_port_t port,
        mach_port_name_t *name)
{
	for (uint32_t index = space->hash[hash_of(space, port)]; index != 0;) {
		ipc_entry_t entry = entry_at(space, index);
		if (entry->object == port) {
			*name = IPC_NAME(index, entry->gen);
			return entry;
		}
		index = entry->next;
	}
	return NULL;
}

static void hash_grow(ipc_space_t space)
{
	uint32_t old_size = space->hash_size;
	uint32_t *old = space->hash;
	uint32_t *table = calloc((size_t)old_size * 2, sizeof *table);
	if (table == NULL)
		return;  /* longer chains, still correct */
	space->hash = table;
	space->hash_size = old_size * 2;
	for (uint32_t b = 0; b < old_size; b++) {
		for (uint32_t index = old[b]; index != 0;) {
			ipc_entry_t entry = entry_at(space, index);
			uint32_t next = entry->next;
			uint32_t h = hash_of(space, entry->object);
			entry->next = table[h];
			table[h] = index;
			index = next;
		}
	}
	free(old);
}

void ipc_hash_insert(ipc_space_t space, ipc_port_t port, mach_port_name_t name)
{
	if (space->hash_count >= space->hash_size)
		hash_grow(space);
	uint32_t index = IPC_NAME_INDEX(name);
	ipc_entry_t entry = entry_at(space, index);
	uint32_t h = hash_of(space, port);
	entry->next = space->hash[h];
	space->hash[h] = index;
	space->hash_count++;
}

void ipc_hash_remove(ipc_space_t space, ipc_port_t port, mach_port_name_t name)
{
	uint32_t index = IPC_NAME_INDEX(name);
	uint32_t *link = &space->hash[hash_of(space, port)];
	while (*link != 0) {
		ipc_entry_t entry = entry_at(space, *link);
		if (*link == index) {
			*link = entry->next;
			entry->next = 0;
			space->hash_count--;
			return;
		}
		link = &entry->next;
	}
}

void ipc_space_foreach(ipc_space_t space,
        void (*fn)(void *arg, mach_port_name_t name, ipc_entry_t entry), void *arg)
{
	for (uint32_t c = 0; c < IPC_ENTRY_DIR; c++) {
		struct ipc_entry *chunk = space->dir[c];
		if (chunk == NULL)
			continue;
		for (uint32_t i = 0; i < IPC_ENTRY_CHUNK; i++) {
			if (chunk[i].type == MACH_PORT_TYPE_NONE)
				continue;
			mach_port_name_t name = IPC_NAME(c * IPC_ENTRY_CHUNK + i, chunk[i].gen);
			ipc_entry_t entry = ipc_entry_lookup(space, name);
			fn(arg, name, entry);
		}
	}
}
