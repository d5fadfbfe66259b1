/* Page tables: a hash of kernel page index -> page state. */
#include "vm/vm_page.h"
#include "vm/vm_hash.h"
#include "vm/vm_stat.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* The home slot of `index` in a table of mask + 1 slots (a power of two,
 * at least 64: vm_hash wants one bit or more). */
static size_t page_hash(uint64_t index, size_t mask)
{
	return vm_hash(index, (unsigned)__builtin_popcountll(mask));
}

void vm_page_table_init(vm_page_table_t *t)
{
	memset(t, 0, sizeof *t);
}

void vm_page_table_free(vm_page_table_t *t)
{
	for (size_t i = 0; i < t->capacity; i++)
		if (t->used[i])
			free(t->slots[i].more);
	free(t->slots);
	free(t->used);
	memset(t, 0, sizeof *t);
}

vm_page_t *vm_page_lookup(vm_page_table_t *t, uint64_t index)
{
	if (t->count == 0)
		return NULL;
	size_t mask = t->capacity - 1;
	for (size_t i = page_hash(index, mask);; i = (i + 1) & mask) {
		if (!t->used[i])
			return NULL;
		if (t->slots[i].index == index)
			return &t->slots[i];
	}
}

static int table_grow(vm_page_table_t *t)
{
	size_t cap = t->capacity ? t->capacity * 2 : 64;
	vm_page_t *slots = calloc(cap, sizeof *slots);
	uint8_t *used = calloc(cap, 1);
	if (slots == NULL || used == NULL) {
		free(slots);
		free(used);
		return -ENOMEM;
	}
	size_t mask = cap - 1;
	for (size_t i = 0; i < t->capacity; i++) {
		if (!t->used[i])
			continue;
		size_t j = page_hash(t->slots[i].index, mask);
		while (used[j])
			j = (j + 1) & mask;
		slots[j] = t->slots[i];
		used[j] = 1;
	}
	free(t->slots);
	free(t->used);
	t->slots = slots;
	t->used = used;
	t->capacity = cap;
	return 0;
}

vm_page_t *vm_page_insert(vm_page_table_t *t, uint64_t index, uint8_t state)
{
	if ((t->count + 1) * 4 > t->capacity * 3 && table_grow(t) != 0)
		return NULL;
	size_t mask = t->capacity - 1;
	size_t i = page_hash(index, mask);
	while (t->used[i])
		i = (i + 1) & mask;
	memset(&t->slots[i], 0, sizeof t->slots[i]);
	t->slots[i].index = index;
	t->slots[i].state = state;
	t->used[i] = 1;
	t->count++;
	return &t->slots[i];
}

void vm_page_remove(vm_page_table_t *t, uint64_t index)
{
	vm_page_t *p = vm_page_lookup(t, index);
	if (p == NULL)
		return;
	free(p->more);
	size_t mask = t->capacity - 1;
	size_t hole = (size_t)(p - t->slots);
	t->used[hole] = 0;
	t->count--;
	/* Backward shift: pull later members of the probe run into the hole. */
	for (size_t j = (hole + 1) & mask; t->used[j]; j = (j + 1) & mask) {
		size_t home = page_hash(t->slots[j].index, mask);
		int movable = hole <= j ? (home <= hole || home > j)
		                        : (home <= hole && home > j);
		if (movable) {
			t->slots[hole] = t->slots[j];
			t->used[hole] = 1;
			t->used[j] = 0;
			hole = j;
		}
	}
}

int vm_page_add_waiter(vm_page_t *p, pid_t tid, uintptr_t address)
{
	for (uint32_t i = 0; i < p->nwaiters; i++) {
		vm_waiter_t *w = i == 0 ? &p->first : &p->more[i - 1];
		if (w->tid == tid && tid != 0) {
			w->address = address;
			return 0;
		}
	}
	if (p->nwaiters == 0) {
		p->stall_warned = 0;
		p->first = (vm_waiter_t){ tid, address, vm_stat_now() };
		p->nwaiters = 1;
		return 0;
	}
	if (p->nwaiters - 1 == p->more_cap) {
		uint32_t cap = p->more_cap ? p->more_cap * 2 : 4;
		vm_waiter_t *m = realloc(p->more, cap * sizeof *m);
		if (m == NULL)
			return -ENOMEM;
		p->more = m;
		p->more_cap = cap;
	}
	p->more[p->nwaiters - 1] = (vm_waiter_t){ tid, address, vm_stat_now() };
	p->nwaiters++;
	return 0;
}

static int list_reserve(vm_waiter_list_t *l, size_t extra)
{
	if (l->count + extra <= l->cap)
		return 0;
	size_t cap = l->cap ? l->cap : 8;
	while (cap < l->count + extra)
		cap *= 2;
	vm_waiter_t *items = realloc(l->items, cap * sizeof *items);
	if (items == NULL)
		return -ENOMEM;
	l->items = items;
	l->cap = cap;
	return 0;
}

int vm_page_take_waiters(vm_page_t *p, vm_waiter_list_t *out)
{
	if (p->nwaiters == 0)
		return 0;
	if (list_reserve(out, p->nwaiters) != 0)
		return -ENOMEM;
	out->items[out->count++] = p->first;
	for (uint32_t i = 1; i < p->nwaiters; i++)
		out->items[out->count++] = p->more[i - 1];
	p->nwaiters = 0;
	return 0;
}

void vm_waiter_list_free(vm_waiter_list_t *l)
{
	free(l->items);
	memset(l, 0, sizeof *l);
}

void vm_page_foreach(vm_page_table_t *t, void (*fn)(vm_page_t *, void *),
        void *arg)
{
	for (size_t i = 0; i < t->capacity; i++)
		if (t->used[i])
			fn(&t->slots[i], arg);
}
