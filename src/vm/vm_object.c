/* vm_object lifecycle: the object table, creation on first map (init),
 * mapping records, termination on last unmap, reference counts. */
#include "vm/vm_object.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "emmi/control_port.h"
#include "emmi/object_notify.h"
#include "emmi/object_user.h"
#include "ipc/ipc_kernel.h"
#include "vm/vm_cache.h"
#include "vm/vm_hash.h"
#include "vm/vm_internal.h"
#include "vm/vm_kernel.h"
#include "vm/vm_msync.h"
#include "vm/vm_pagein.h"
#include "vm/vm_return.h"

/* The object table: live objects by kernel-space object name and by id.
 * Its lock also orders init and terminate of one object's lifetimes. */
#define TABLE_BITS 12             /* tens of thousands of objects */
#define TABLE_BUCKETS (1u << TABLE_BITS)
static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static struct vm_object *by_name[TABLE_BUCKETS];
static struct vm_object *by_id[TABLE_BUCKETS];
static uint64_t next_id = 1;

static size_t bucket(uint64_t key)
{
	return vm_hash(key, TABLE_BITS);
}

static struct vm_object *table_find_name(mach_port_name_t name)
{
	for (struct vm_object *o = by_name[bucket(name)]; o; o = o->next_by_name)
		if (o->object_k == name)
			return o;
	return NULL;
}

static struct vm_object *table_find_id(uint64_t id)
{
	for (struct vm_object *o = by_id[bucket(id)]; o; o = o->next_by_id)
		if (o->id == id)
			return o;
	return NULL;
}

static void table_insert(struct vm_object *obj)
{
	size_t b = bucket(obj->object_k);
	obj->next_by_name = by_name[b];
	by_name[b] = obj;
	b = bucket(obj->id);
	obj->next_by_id = by_id[b];
	by_id[b] = obj;
}

static void table_remove(struct vm_object *obj)
{
	struct vm_object **pp;
	for (pp = &by_name[bucket(obj->object_k)]; *pp; pp = &(*pp)->next_by_name)
		if (*pp == obj) {
			*pp = obj->next_by_name;
			break;
		}
	for (pp = &by_id[bucket(obj->id)]; *pp; pp = &(*pp)->next_by_id)
		if (*pp == obj) {
			*pp = obj->next_by_id;
			break;
		}
}

void vm_object_ref(struct vm_object *obj)
{
	atomic_fetch_add_explicit(&obj->refs, 1, memory_order_relaxed);
}

void vm_object_release(struct vm_object *obj)
{
	if (atomic_fetch_sub_explicit(&obj->refs, 1, memory_order_acq_rel) != 1)
		return;
	if (obj->internal)
		vm_internal_release(obj);
	atomic_fetch_sub(&vm_kernel()->active, obj->resident);
	vm_cache_close(&obj->cache, obj->memfd_size);
	vm_page_table_free(&obj->pages);
	free(obj->maps);
	free(obj->pending);
	free(obj->internal_sent);
	pthread_mutex_destroy(&obj->lock);
	pthread_mutex_destroy(&obj->send_lock);
	pthread_cond_destroy(&obj->sync_cond);
	free(obj);
}

struct vm_object *vm_object_lookup_id(uint64_t id)
{
	pthread_mutex_lock(&table_lock);
	struct vm_object *obj = table_find_id(id);
	if (obj)
		vm_object_ref(obj);
	pthread_mutex_unlock(&table_lock);
	return obj;
}

struct vm_object *vm_object_lookup_name(mach_port_name_t object_k)
{
	pthread_mutex_lock(&table_lock);
	struct vm_object *obj = table_find_name(object_k);
	if (obj)
		vm_object_ref(obj);
	pthread_mutex_unlock(&table_lock);
	return obj;
}

/* A new object for the kernel-space send right object_k (table locked):
 * memfd cache, control port with its kobject handler, dead-name watch. */
static struct vm_object *object_create(mach_port_name_t object_k)
{
	VM_ASSERT_LOCKED(&table_lock);
	struct vm_kernel *k = vm_kernel();
	struct vm_object *obj = calloc(1, sizeof *obj);
	if (obj == NULL)
		return NULL;
	atomic_init(&obj->refs, 1);          /* the table's */
	pthread_mutex_init(&obj->lock, NULL);
	pthread_mutex_init(&obj->send_lock, NULL);
	pthread_cond_init(&obj->sync_cond, NULL);
	vm_page_table_init(&obj->pages);
	obj->id = next_id++;
	obj->object_k = object_k;
	obj->cluster_size = k->page_size;
	obj->copy_strategy = MEMORY_OBJECT_COPY_DELAY;
	obj->cache.fd = -1;
	int err = vm_cache_open(&obj->cache, 0);
	if (err != 0) {
		vm_cache_report_limit("vm_map", err);
		goto fail;
	}
	if (emmi_control_port_allocate(obj->id, &obj->control_k) != KERN_SUCCESS)
		goto fail;
	/* Without the watch a dead manager would only be noticed at the next
	 * send; carry on, the object still works. */
	(void)emmi_watch_object(object_k);
	return obj;
fail:
	obj->control_k = MACH_PORT_NULL;
	vm_object_release(obj);
	return NULL;
}

int vm_object_mapping_add(struct vm_object *obj, uintptr_t start,
        vm_offset_t offset, vm_size_t size, bool copy)
{
	pthread_mutex_lock(&obj->lock);
	if (obj->nmaps == obj->maps_cap) {
		size_t cap = obj->maps_cap ? obj->maps_cap * 2 : 4;
		struct vm_object_mapping *m = realloc(obj->maps, cap * sizeof *m);
		if (m == NULL) {
			pthread_mutex_unlock(&obj->lock);
			return -ENOMEM;
		}
		obj->maps = m;
		obj->maps_cap = cap;
	}
	obj->maps[obj->nmaps++] =
		(struct vm_object_mapping){ start, offset, size, copy, false, false };
	pthread_mutex_unlock(&obj->lock);
	return 0;
}

bool vm_object_offset_mapped(struct vm_object *obj, vm_offset_t offset)
{
	VM_ASSERT_LOCKED(&obj->lock);
	for (size_t i = 0; i < obj->nmaps; i++)
		if (offset >= obj->maps[i].offset &&
		    offset - obj->maps[i].offset < obj->maps[i].size)
			return true;
	return false;
}

struct vm_object *vm_object_enter_mapping(mach_port_name_t object,
        uintptr_t start, vm_offset_t offset, vm_size_t size, bool copy,
        kern_return_t *kr)
{
	struct vm_kernel *k = vm_kernel();
	mach_port_name_t object_k;
	pthread_mutex_lock(&table_lock);
	if (ipc_right_transfer(ipc_space_task(), object, MACH_MSG_TYPE_COPY_SEND,
	                       ipc_space_kernel(), &object_k) != KERN_SUCCESS) {
		pthread_mutex_unlock(&table_lock);
		*kr = KERN_INVALID_OBJECT;
		return NULL;
	}
	struct vm_object *obj = table_find_name(object_k);
	bool created = false;
	if (obj != NULL) {
		/* The kernel keeps one user reference per object. */
		ipc_port_deallocate(ipc_space_kernel(), object_k);
	} else {
		obj = object_create(object_k);
		if (obj == NULL) {
			ipc_port_deallocate(ipc_space_kernel(), object_k);
			pthread_mutex_unlock(&table_lock);
			*kr = KERN_RESOURCE_SHORTAGE;
			return NULL;
		}
		obj->object_name = object;
		table_insert(obj);
		created = true;
	}
	vm_object_ref(obj);                  /* the caller's */
	pthread_mutex_lock(&obj->lock);
	int err = 0;
	if (offset + size > obj->memfd_size) {
		err = vm_cache_grow(&obj->cache, offset + size, created);
		if (err == 0)
			obj->memfd_size = offset + size;
		else
			vm_cache_report_limit("vm_map", err);
	}
	pthread_mutex_unlock(&obj->lock);
	if (err == 0)
		err = vm_object_mapping_add(obj, start, offset, size, copy);
	if (created) {
		/* Queued, not waited for: the object gets ready on the
		 * manager's first change_attributes (SPEC 3.1). */
		pthread_mutex_lock(&obj->send_lock);
		if (emmi_send_init(obj->object_k, obj->control_k, k->page_size)
		    != MACH_MSG_SUCCESS)
			obj->dead = true;
		pthread_mutex_unlock(&obj->send_lock);
	}
	pthread_mutex_unlock(&table_lock);
	if (err != 0) {
		vm_object_maybe_terminate(obj);
		vm_object_release(obj);
		*kr = KERN_RESOURCE_SHORTAGE;
		return NULL;
	}
	*kr = KERN_SUCCESS;
	return obj;
}

struct vm_object *vm_object_create_internal(mach_port_name_t object_k,
        uintptr_t start, vm_size_t size, vm_size_t cluster_size)
{
	struct vm_kernel *k = vm_kernel();
	uint64_t pages = size >> k->page_shift;
	uint8_t *sent = calloc((size_t)((pages + 7) / 8), 1);
	if (sent == NULL)
		return NULL;
	pthread_mutex_lock(&table_lock);
	struct vm_object *obj = object_create(object_k);
	if (obj == NULL) {
		pthread_mutex_unlock(&table_lock);
		free(sent);
		return NULL;
	}
	obj->internal = true;
	obj->internal_sent = sent;
	obj->internal_pages = pages;
	obj->ready = true;               /* memory_object_create: no handshake */
	obj->temporary = true;
	obj->may_cache = false;
	obj->copy_strategy = MEMORY_OBJECT_COPY_NONE;
	if (cluster_size >= k->page_size)
		obj->cluster_size = cluster_size;
	if (vm_cache_grow(&obj->cache, size, true) != 0 ||
	    vm_object_mapping_add(obj, start, 0, size, false) != 0) {
		/* Not in the table yet: object_k stays the caller's. */
		emmi_unwatch_object(object_k);
		ipc_port_destroy(ipc_space_kernel(), obj->control_k);
		obj->control_k = MACH_PORT_NULL;
		pthread_mutex_unlock(&table_lock);
		vm_object_release(obj);
		return NULL;
	}
	obj->memfd_size = size;
	table_insert(obj);
	vm_object_ref(obj);                  /* the caller's */
	pthread_mutex_unlock(&table_lock);
	return obj;
}

static int index_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

struct collect_returns {
	uint64_t *indices;
	size_t count, cap;
	bool failed;
};

static void collect_returnable(vm_page_t *p, void *arg)
{
	struct collect_returns *c = arg;
	if (p->state != VM_PAGE_RESIDENT ||
	    !(p->dirty || p->precious || !vm_kernel()->wp))
		return;
	if (c->count == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 64;
		uint64_t *idx = realloc(c->indices, cap * sizeof *idx);
		if (idx == NULL) {
			c->failed = true;
			return;
		}
		c->indices = idx;
		c->cap = cap;
	}
	c->indices[c->count++] = p->index;
}

/* Reads every dirty or precious page into the batch, in runs of
 * neighbours alike (obj locked). No data is lost at terminate (SPEC 4). */
static void collect_all_returns(struct vm_object *obj,
        struct vm_return_batch *batch)
{
	VM_ASSERT_LOCKED(&obj->lock);
	struct collect_returns c = { 0 };
	vm_page_foreach(&obj->pages, collect_returnable, &c);
	if (c.count > 0)
		qsort(c.indices, c.count, sizeof c.indices[0], index_cmp);
	size_t run = 0;
	for (size_t i = 0; i <= c.count; i++) {
		bool dirty = false, extend = false;
		if (i < c.count) {
			vm_page_t *p = vm_page_lookup(&obj->pages, c.indices[i]);
			dirty = p->dirty || !vm_kernel()->wp;
			if (run > 0) {
				vm_page_t *q = vm_page_lookup(&obj->pages, c.indices[i - 1]);
				extend = c.indices[i] == c.indices[i - 1] + 1 &&
				         dirty == (q->dirty || !vm_kernel()->wp);
			}
		}
		if (run > 0 && !extend) {
			uint64_t first = c.indices[i - run];
			vm_page_t *p = vm_page_lookup(&obj->pages, first);
			vm_return_collect(obj, first, run,
			                  p->dirty || !vm_kernel()->wp, batch);
			run = 0;
		}
		if (i < c.count)
			run++;
	}
	free(c.indices);
}

struct waiters_and_indices {
	vm_waiter_list_t *waiters;
};

static void take_all_waiters(vm_page_t *p, void *arg)
{
	vm_page_take_waiters(p, ((struct waiters_and_indices *)arg)->waiters);
}

/* Leaves the table and hands the rights to the manager (table locked):
 * dirty and precious pages go back first, unless the object is temporary
 * or destroyed. Threads still waiting retry and take SIGBUS. */
static void object_terminate(struct vm_object *obj)
{
	VM_ASSERT_LOCKED(&table_lock);
	struct vm_return_batch batch = { 0 };
	vm_waiter_list_t waiters = { 0 };
	struct waiters_and_indices wi = { &waiters };
	table_remove(obj);
	pthread_mutex_lock(&obj->lock);
	obj->terminated = true;
	if (!obj->temporary && !obj->destroyed && !obj->dead)
		collect_all_returns(obj, &batch);
	vm_page_foreach(&obj->pages, take_all_waiters, &wi);
	vm_sync_requests_end_all(obj, KERN_SUCCESS);
	pthread_mutex_unlock(&obj->lock);
	emmi_unwatch_object(obj->object_k);
	pthread_mutex_lock(&obj->send_lock);
	vm_return_send(obj, &batch, false);
	/* Safe to drop: a terminate that cannot be sent destroys both rights
	 * (object_user.h), and the manager it was for is gone. */
	(void)emmi_send_terminate(obj->object_k, obj->control_k);
	pthread_mutex_unlock(&obj->send_lock);
	vm_object_release_waiters(&waiters, KERN_SUCCESS);
	vm_waiter_list_free(&waiters);
	vm_object_release(obj);              /* the table's */
}

void vm_object_destroy(struct vm_object *obj, kern_return_t reason)
{
	(void)reason;    /* Mach passes it on to other kernels; one here */
	struct vm_kernel *k = vm_kernel();
	pthread_mutex_lock(&table_lock);
	pthread_mutex_lock(&obj->lock);
	if (obj->terminated) {
		pthread_mutex_unlock(&obj->lock);
		pthread_mutex_unlock(&table_lock);
		return;
	}
	obj->destroyed = true;
	/* Drop every page unreturned; the hole punch unmaps them from every
	 * view, so the next access faults and finds the object gone. */
	vm_waiter_list_t waiters = { 0 };
	struct waiters_and_indices wi = { &waiters };
	vm_page_foreach(&obj->pages, take_all_waiters, &wi);
	vm_page_table_free(&obj->pages);
	vm_page_table_init(&obj->pages);
	if (obj->memfd_size > 0)
		vm_cache_punch(&obj->cache, 0, obj->memfd_size);
	atomic_fetch_sub(&k->active, obj->resident);
	obj->resident = 0;
	obj->npending = 0;
	pthread_mutex_unlock(&obj->lock);
	object_terminate(obj);
	pthread_mutex_unlock(&table_lock);
	vm_object_release_waiters(&waiters, KERN_SUCCESS);
	vm_waiter_list_free(&waiters);
}

void vm_object_cache_trim(struct vm_object *obj)
{
	pthread_mutex_lock(&table_lock);
	pthread_mutex_lock(&obj->lock);
	bool terminate = obj->nmaps == 0 && obj->resident == 0 &&
	                 !obj->terminated;
	pthread_mutex_unlock(&obj->lock);
	if (terminate)
		object_terminate(obj);
	pthread_mutex_unlock(&table_lock);
}

void vm_object_mapping_remove(struct vm_object *obj, uintptr_t start)
{
	pthread_mutex_lock(&obj->lock);
	for (size_t i = 0; i < obj->nmaps; i++)
		if (obj->maps[i].start == start) {
			obj->maps[i] = obj->maps[--obj->nmaps];
			break;
		}
	bool last = obj->nmaps == 0;
	pthread_mutex_unlock(&obj->lock);
	if (last)
		vm_object_maybe_terminate(obj);
}

void vm_object_foreach(void (*fn)(struct vm_object *, void *), void *arg)
{
	pthread_mutex_lock(&table_lock);
	for (size_t b = 0; b < TABLE_BUCKETS; b++)
		for (struct vm_object *o = by_id[b]; o; o = o->next_by_id)
			fn(o, arg);
	pthread_mutex_unlock(&table_lock);
}

void vm_object_maybe_terminate(struct vm_object *obj)
{
	pthread_mutex_lock(&table_lock);
	pthread_mutex_lock(&obj->lock);
	/* A vm_map may have come in between; cached objects stay. */
	bool terminate = obj->nmaps == 0 && !obj->terminated &&
	                 (!obj->may_cache || obj->dead);
	pthread_mutex_unlock(&obj->lock);
	if (terminate)
		object_terminate(obj);
	pthread_mutex_unlock(&table_lock);
}

size_t vm_object_snapshot(struct vm_object ***out)
{
	size_t n = 0, cap = 16;
	struct vm_object **objs = malloc(cap * sizeof *objs);
	pthread_mutex_lock(&table_lock);
	for (size_t b = 0; objs != NULL && b < TABLE_BUCKETS; b++)
		for (struct vm_object *o = by_id[b]; o != NULL; o = o->next_by_id) {
			if (n == cap) {
				struct vm_object **more = realloc(objs, 2 * cap * sizeof *objs);
				if (more == NULL)
					break;
				objs = more;
				cap *= 2;
			}
			vm_object_ref(o);
			objs[n++] = o;
		}
	pthread_mutex_unlock(&table_lock);
	*out = objs;
	return n;
}
