/* Name spaces: the entries a space's names denote.
 *
 * Two kinds of name (see struct ipc_space):
 *  - names the kernel picks are index << 8 | generation. Index 0 is never
 *    used (so no name is MACH_PORT_NULL) nor is index 0xffffff (so none is
 *    MACH_PORT_DEAD). The table has two levels, so a space costs only the
 *    chunks its names use. A freed index is reused with the next
 *    generation, so a stale name stays invalid for 255 reuses.
 *  - names a caller picks (mach_port_allocate_name, insert_right, a
 *    right received under a chosen name) may be any valid value; each has
 *    its own entry in a hash table keyed by the whole name, as OSF kept
 *    such names in a splay tree beside its table. Pagers name ports after
 *    their own structures' addresses, so names differing only in their low
 *    bits are the common case: the hash mixes every bit.
 * The kernel never picks a name that is in the hash; a caller's name that
 * is in use either way is refused with KERN_NAME_EXISTS.
 *
 * A reverse hash (port -> entry) finds the entry holding send or receive
 * rights for a port, so that a send right arriving for a port already
 * named in the space reuses that name. Both hashes grow at load 1 and
 * chain through the entries (which never move: pointers stay valid until
 * the name is freed). */
#include <stdlib.h>
#include "ipc_internal.h"

#define HASH_INITIAL 64u

ipc_space_t ipc_space_create(bool is_kernel, uint32_t first_index)
{
	ipc_space_t space = calloc(1, sizeof *space);
	if (space == NULL)
		return NULL;
	space->dir = calloc(IPC_ENTRY_DIR, sizeof *space->dir);
	space->rhash_size = space->nhash_size = HASH_INITIAL;
	space->rhash = calloc(space->rhash_size, sizeof *space->rhash);
	space->nhash = calloc(space->nhash_size, sizeof *space->nhash);
	if (space->dir == NULL || space->rhash == NULL || space->nhash == NULL) {
		free(space->dir);
		free(space->rhash);
		free(space->nhash);
		free(space);
		return NULL;
	}
	space->hwm = space->first = first_index ? first_index : 1;
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

/* Fibonacci hashing (size a power of two): the top bits of the product
 * depend on every bit of the key, and keys in arithmetic progression
 * (names 16 bytes or a page apart) land in distinct buckets. */
static uint32_t mix(uint64_t key, uint32_t size)
{
	return (uint32_t)((key * 0x9e3779b97f4a7c15ull) >> (64 - __builtin_ctz(size)));
}

/* ---- the name hash (chosen names) ---- */

static ipc_entry_t nhash_find(ipc_space_t space, mach_port_name_t name)
{
	if (space->nhash_count == 0)
		return NULL;
	for (ipc_entry_t e = space->nhash[mix(name, space->nhash_size)]; e; e = e->nnext)
		if (e->name == name)
			return e;
	return NULL;
}

static void nhash_grow(ipc_space_t space)
{
	uint32_t old_size = space->nhash_size;
	if (old_size > UINT32_MAX / 2)
		return;
	ipc_entry_t *old = space->nhash;
	ipc_entry_t *table = calloc((size_t)old_size * 2, sizeof *table);
	if (table == NULL)
		return;  /* longer chains, still correct */
	space->nhash = table;
	space->nhash_size = old_size * 2;
	for (uint32_t b = 0; b < old_size; b++) {
		for (ipc_entry_t e = old[b]; e != NULL;) {
			ipc_entry_t next = e->nnext;
			uint32_t h = mix(e->name, space->nhash_size);
			e->nnext = table[h];
			table[h] = e;
			e = next;
		}
	}
	free(old);
}

static void nhash_remove(ipc_space_t space, ipc_entry_t entry)
{
	for (ipc_entry_t *link = &space->nhash[mix(entry->name, space->nhash_size)];
	     *link != NULL; link = &(*link)->nnext) {
		if (*link == entry) {
			*link = entry->nnext;
			space->nhash_count--;
			return;
		}
	}
}

/* ---- lookup ---- */

/* The in-use table entry named name, or NULL. */
static ipc_entry_t table_find(ipc_space_t space, mach_port_name_t name)
{
	uint32_t index = IPC_NAME_INDEX(name);
	if (index == 0 || index > IPC_INDEX_MAX)
		return NULL;
	ipc_entry_t entry = entry_at(space, index);
	if (entry == NULL || entry->type == MACH_PORT_TYPE_NONE || entry->name != name)
		return NULL;
	return entry;
}

ipc_entry_t ipc_entry_lookup_raw(ipc_space_t space, mach_port_name_t name)
{
	if (!MACH_PORT_VALID(name))
		return NULL;
	ipc_entry_t entry = table_find(space, name);
	return entry != NULL ? entry : nhash_find(space, name);
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

/* ---- allocation ---- */

static void entry_init(ipc_entry_t entry)
{
	entry->object = NULL;
	entry->urefs = 0;
	entry->request = NULL;
	entry->next = 0;
	entry->hnext = entry->nnext = NULL;
	entry->pending_urefs = 0;
	entry->pending_receive = entry->pending_sonce = false;
}

/* Gives the free table slot at index a name no chosen name uses: its
 * current generation or a later one. False when all 256 are taken. */
static bool slot_pick_gen(ipc_space_t space, uint32_t index, ipc_entry_t entry)
{
	for (uint32_t tries = 0; tries < 256; tries++) {
		if (nhash_find(space, IPC_NAME(index, entry->gen)) == NULL)
			return true;
		entry->gen = (entry->gen + 1) & 0xffu;
	}
	return false;
}

kern_return_t ipc_entry_alloc(ipc_space_t space, mach_port_name_t *name,
        ipc_entry_t *entryp)
{
	uint32_t index;
	ipc_entry_t entry;
	for (;;) {
		if (space->free_head != 0) {
			index = space->free_head;
			entry = entry_at(space, index);
			space->free_head = entry->next;
		} else {
			if (space->hwm > IPC_INDEX_MAX)
				return KERN_NO_SPACE;
			index = space->hwm;
			entry = entry_slot(space, index);
			if (entry == NULL)
				return KERN_RESOURCE_SHORTAGE;
			space->hwm++;
		}
		/* An index whose every name a caller chose is left out of use
		 * (off the free list); it takes 256 chosen names to do that. */
		if (slot_pick_gen(space, index, entry))
			break;
	}
	entry_init(entry);
	entry->chosen = false;
	entry->name = IPC_NAME(index, entry->gen);
	entry->type = MACH_PORT_TYPE_DEAD_NAME; /* caller sets the real type */
	*name = entry->name;
	*entryp = entry;
	return KERN_SUCCESS;
}

kern_return_t ipc_entry_alloc_name(ipc_space_t space, mach_port_name_t name,
        ipc_entry_t *entryp)
{
	if (!MACH_PORT_VALID(name))
		return KERN_INVALID_VALUE;
	if (ipc_entry_lookup_raw(space, name) != NULL)
		return KERN_NAME_EXISTS;
	ipc_entry_t entry = calloc(1, sizeof *entry);
	if (entry == NULL)
		return KERN_RESOURCE_SHORTAGE;
	if (space->nhash_count >= space->nhash_size)
		nhash_grow(space);
	entry_init(entry);
	entry->chosen = true;
	entry->name = name;
	entry->gen = name & 0xffu;
	entry->type = MACH_PORT_TYPE_DEAD_NAME;
	uint32_t h = mix(name, space->nhash_size);
	entry->nnext = space->nhash[h];
	space->nhash[h] = entry;
	space->nhash_count++;
	*entryp = entry;
	return KERN_SUCCESS;
}

void ipc_entry_free(ipc_space_t space, mach_port_name_t name)
{
	ipc_entry_t entry = table_find(space, name);
	if (entry != NULL) {
		uint32_t index = IPC_NAME_INDEX(name);
		entry_init(entry);
		entry->type = MACH_PORT_TYPE_NONE;
		entry->gen = (entry->gen + 1) & 0xffu;  /* a stale name stays invalid */
		entry->next = space->free_head;
		space->free_head = index;
		return;
	}
	entry = nhash_find(space, name);
	if (entry != NULL) {
		nhash_remove(space, entry);
		free(entry);
	}
}

/* ---- the reverse hash (port -> entry) ---- */

ipc_entry_t ipc_hash_lookup(ipc_space_t space, ipc_port_t port,
        mach_port_name_t *name)
{
	for (ipc_entry_t e = space->rhash[mix((uintptr_t)port, space->rhash_size)];
	     e != NULL; e = e->hnext) {
		if (e->object == port) {
			*name = e->name;
			return e;
		}
	}
	return NULL;
}

static void rhash_grow(ipc_space_t space)
{
	uint32_t old_size = space->rhash_size;
	if (old_size > UINT32_MAX / 2)
		return;
	ipc_entry_t *old = space->rhash;
	ipc_entry_t *table = calloc((size_t)old_size * 2, sizeof *table);
	if (table == NULL)
		return;  /* longer chains, still correct */
	space->rhash = table;
	space->rhash_size = old_size * 2;
	for (uint32_t b = 0; b < old_size; b++) {
		for (ipc_entry_t e = old[b]; e != NULL;) {
			ipc_entry_t next = e->hnext;
			uint32_t h = mix((uintptr_t)e->object, space->rhash_size);
			e->hnext = table[h];
			table[h] = e;
			e = next;
		}
	}
	free(old);
}

void ipc_hash_insert(ipc_space_t space, ipc_port_t port, mach_port_name_t name)
{
	if (space->rhash_count >= space->rhash_size)
		rhash_grow(space);
	ipc_entry_t entry = ipc_entry_lookup_raw(space, name);
	uint32_t h = mix((uintptr_t)port, space->rhash_size);
	entry->hnext = space->rhash[h];
	space->rhash[h] = entry;
	space->rhash_count++;
}

void ipc_hash_remove(ipc_space_t space, ipc_port_t port, mach_port_name_t name)
{
	for (ipc_entry_t *link = &space->rhash[mix((uintptr_t)port, space->rhash_size)];
	     *link != NULL; link = &(*link)->hnext) {
		ipc_entry_t entry = *link;
		if (entry->name == name && entry->object == port) {
			*link = entry->hnext;
			entry->hnext = NULL;
			space->rhash_count--;
			return;
		}
	}
}

/* ---- walking ---- */

void ipc_space_foreach(ipc_space_t space,
        void (*fn)(void *arg, mach_port_name_t name, ipc_entry_t entry), void *arg)
{
	/* Table names lie between the first index and the high-water mark. */
	uint32_t last = space->hwm > 0 ? (space->hwm - 1) / IPC_ENTRY_CHUNK : 0;
	for (uint32_t c = space->first / IPC_ENTRY_CHUNK; c <= last && c < IPC_ENTRY_DIR; c++) {
		struct ipc_entry *chunk = space->dir[c];
		if (chunk == NULL)
			continue;
		for (uint32_t i = 0; i < IPC_ENTRY_CHUNK; i++) {
			if (chunk[i].type == MACH_PORT_TYPE_NONE)
				continue;
			mach_port_name_t name = chunk[i].name;
			fn(arg, name, ipc_entry_lookup(space, name));
		}
	}
	/* fn may turn entries into dead names but never adds or frees one. */
	for (uint32_t b = 0; b < space->nhash_size; b++) {
		for (ipc_entry_t e = space->nhash[b]; e != NULL; e = e->nnext)
			fn(arg, e->name, ipc_entry_lookup(space, e->name));
	}
}
