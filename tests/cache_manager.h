/* A store-backed memory manager for the cache-control tests (locks,
 * write-back, pageout, msync, attributes): one thread runs mach_msg_server
 * on the object port (which is also the reply port for completions); it
 * supplies from `store`, writes data_return back into it, and logs every
 * message in arrival order. Public API only; waits are bounded. */
#ifndef MEMOBJ_TEST_CACHE_MANAGER_H
#define MEMOBJ_TEST_CACHE_MANAGER_H

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <mach/mach.h>

#define CM_TIMEOUT_S 30

enum cm_kind { CM_INIT = 1, CM_TERMINATE, CM_DATA_REQUEST, CM_DATA_UNLOCK,
               CM_DATA_RETURN, CM_LOCK_COMPLETED, CM_SYNCHRONIZE,
               CM_CHANGE_COMPLETED, CM_SUPPLY_COMPLETED };

struct cm_event {
	enum cm_kind kind;
	vm_offset_t offset;
	vm_size_t length;
	vm_prot_t access;           /* desired access; sync flags */
	boolean_t dirty, kernel_copy;
	memory_object_flavor_t flavor;
};

struct cm;
typedef void (*cm_hook_t)(struct cm *m, const struct cm_event *e);

struct cm {
	mach_port_t object;
	mach_port_t control;            /* from the latest init */
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	uint8_t *store;
	vm_size_t size;
	vm_size_t page_size;
	/* behaviour */
	vm_prot_t supply_lock;          /* lock_value of supplies */
	boolean_t precious;
	boolean_t may_cache;
	vm_size_t cluster;
	int auto_sync;                  /* answer synchronize at once */
	cm_hook_t on_unlock;            /* run in the manager thread */
	cm_hook_t on_sync;
	volatile int flag;              /* free for hooks and tests */
	/* failure modes (kill matrix, stall tests) */
	int no_ready;                   /* never change_attributes */
	kern_return_t init_result;      /* init's answer (KERN_SUCCESS) */
	int silent;                     /* never answer data_request */
	int keep_control;               /* terminate keeps the control port */
	cm_hook_t on_event;             /* every logged event, manager thread */
	struct cm_event *ev;
	int nev, cap;
};

static struct cm *cm_all[8];
static pthread_mutex_t cm_all_lock = PTHREAD_MUTEX_INITIALIZER;

static __attribute__((unused)) struct cm *cm_find(mach_port_t port)
{
	struct cm *m = NULL;
	pthread_mutex_lock(&cm_all_lock);
	for (int i = 0; i < 8; i++)
		if (cm_all[i] && cm_all[i]->object == port)
			m = cm_all[i];
	pthread_mutex_unlock(&cm_all_lock);
	return m;
}

static __attribute__((unused)) void cm_log(struct cm *m, struct cm_event e)
{
	pthread_mutex_lock(&m->lock);
	if (m->nev == m->cap) {
		m->cap = m->cap ? m->cap * 2 : 256;
		m->ev = realloc(m->ev, (size_t)m->cap * sizeof *m->ev);
	}
	m->ev[m->nev++] = e;
	pthread_cond_broadcast(&m->cond);
	pthread_mutex_unlock(&m->lock);
	if (m->on_event)
		m->on_event(m, &e);
}

static __attribute__((unused)) int cm_count(struct cm *m, enum cm_kind kind)
{
	pthread_mutex_lock(&m->lock);
	int n = 0;
	for (int i = 0; i < m->nev; i++)
		n += m->ev[i].kind == kind;
	pthread_mutex_unlock(&m->lock);
	return n;
}

/* Bounded wait for the n-th event of `kind`; its log index, or -1. */
static __attribute__((unused)) int cm_wait(struct cm *m, enum cm_kind kind, int n,
        struct cm_event *out)
{
	struct timespec deadline;
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += CM_TIMEOUT_S;
	pthread_mutex_lock(&m->lock);
	int found = -1;
	for (;;) {
		int seen = 0;
		for (int i = 0; i < m->nev && found < 0; i++)
			if (m->ev[i].kind == kind && ++seen == n)
				found = i;
		if (found >= 0 ||
		    pthread_cond_timedwait(&m->cond, &m->lock, &deadline) == ETIMEDOUT)
			break;
	}
	if (found < 0) {
		int seen = 0;
		for (int i = 0; i < m->nev && found < 0; i++)
			if (m->ev[i].kind == kind && ++seen == n)
				found = i;
	}
	if (found >= 0 && out)
		*out = m->ev[found];
	pthread_mutex_unlock(&m->lock);
	return found;
}

static __attribute__((unused)) uint8_t cm_pattern(vm_offset_t off)
{
	return (uint8_t)((off >> 12) * 13 + (off & 0xfff) * 5 + 3);
}

static kern_return_t cm_supply(struct cm *m, mach_port_t control,
        vm_offset_t offset, vm_size_t length)
{
	if (offset >= m->size)
		return memory_object_data_error(control, offset, length,
		                                KERN_MEMORY_ERROR);
	if (length > m->size - offset)
		length = m->size - offset;
	vm_address_t buf = 0;
	kern_return_t kr = vm_allocate(mach_task_self(), &buf, length, TRUE);
	if (kr != KERN_SUCCESS)
		return kr;
	pthread_mutex_lock(&m->lock);
	memcpy((void *)buf, m->store + offset, length);
	pthread_mutex_unlock(&m->lock);
	return memory_object_data_supply(control, offset, buf,
	        (mach_msg_type_number_t)length, TRUE, m->supply_lock, m->precious,
	        MACH_PORT_NULL);
}

static kern_return_t cm_init(memory_object_t object, mach_port_seqno_t seqno,
        memory_object_control_t control, vm_size_t page_size)
{
	(void)seqno;
	struct cm *m = cm_find(object);
	if (m == NULL)
		return KERN_FAILURE;
	pthread_mutex_lock(&m->lock);
	m->control = control;
	m->page_size = page_size;
	pthread_mutex_unlock(&m->lock);
	cm_log(m, (struct cm_event){ .kind = CM_INIT, .length = page_size });
	if (m->init_result != KERN_SUCCESS)
		return m->init_result;     /* releases the control send right */
	if (m->no_ready)
		return KERN_SUCCESS;
	memory_object_attr_info_data_t attr = {
		.copy_strategy = MEMORY_OBJECT_COPY_DELAY,
		.cluster_size = (memory_object_cluster_size_t)m->cluster,
		.may_cache = m->may_cache,
		.temporary = FALSE,
	};
	memory_object_change_attributes(control, MEMORY_OBJECT_ATTRIBUTE_INFO,
	        (memory_object_info_t)&attr, MEMORY_OBJECT_ATTR_INFO_COUNT,
	        MACH_PORT_NULL);
	return KERN_SUCCESS;
}

static kern_return_t cm_terminate(memory_object_t object, mach_port_seqno_t seqno,
        memory_object_control_t control)
{
	(void)seqno;
	struct cm *m = cm_find(object);
	if (m == NULL)
		return KERN_FAILURE;
	cm_log(m, (struct cm_event){ .kind = CM_TERMINATE });
	if (m->keep_control)
		return KERN_SUCCESS;       /* the receive right stays, unserved */
	mach_port_destroy(mach_task_self(), control);
	pthread_mutex_lock(&m->lock);
	if (m->control == control)
		m->control = MACH_PORT_NULL;
	pthread_mutex_unlock(&m->lock);
	return KERN_SUCCESS;
}

static kern_return_t cm_data_request(memory_object_t object,
        mach_port_seqno_t seqno, memory_object_control_t control,
        vm_offset_t offset, vm_size_t length, vm_prot_t access)
{
	(void)seqno;
	struct cm *m = cm_find(object);
	if (m == NULL)
		return KERN_FAILURE;
	cm_log(m, (struct cm_event){ .kind = CM_DATA_REQUEST, .offset = offset,
	       .length = length, .access = access });
	if (!m->silent)
		cm_supply(m, control, offset, length);
	mach_port_deallocate(mach_task_self(), control);
	return KERN_SUCCESS;
}

static kern_return_t cm_data_unlock(memory_object_t object,
        mach_port_seqno_t seqno, memory_object_control_t control,
        vm_offset_t offset, vm_size_t length, vm_prot_t access)
{
	(void)seqno;
	struct cm *m = cm_find(object);
	if (m == NULL)
		return KERN_FAILURE;
	struct cm_event e = { .kind = CM_DATA_UNLOCK, .offset = offset,
	                      .length = length, .access = access };
	cm_log(m, e);
	if (m->on_unlock)
		m->on_unlock(m, &e);
	mach_port_deallocate(mach_task_self(), control);
	return KERN_SUCCESS;
}

static kern_return_t cm_data_return(memory_object_t object,
        mach_port_seqno_t seqno, memory_object_control_t control,
        vm_offset_t offset, pointer_t data, mach_msg_type_number_t count,
        boolean_t dirty, boolean_t kernel_copy)
{
	(void)seqno;
	struct cm *m = cm_find(object);
	if (m == NULL)
		return KERN_FAILURE;
	pthread_mutex_lock(&m->lock);
	if (offset < m->size && count <= m->size - offset)
		memcpy(m->store + offset, (const void *)data, count);
	pthread_mutex_unlock(&m->lock);
	cm_log(m, (struct cm_event){ .kind = CM_DATA_RETURN, .offset = offset,
	       .length = count, .dirty = dirty, .kernel_copy = kernel_copy });
	vm_deallocate(mach_task_self(), data, count);
	mach_port_deallocate(mach_task_self(), control);
	return KERN_SUCCESS;
}

static kern_return_t cm_lock_completed(mach_port_t reply, mach_port_seqno_t seqno,
        memory_object_control_t control, vm_offset_t offset, vm_size_t length)
{
	(void)seqno;
	struct cm *m = cm_find(reply);
	if (m == NULL)
		return KERN_FAILURE;
	cm_log(m, (struct cm_event){ .kind = CM_LOCK_COMPLETED, .offset = offset,
	       .length = length });
	mach_port_deallocate(mach_task_self(), control);
	return KERN_SUCCESS;
}

static kern_return_t cm_synchronize(memory_object_t object,
        mach_port_seqno_t seqno, memory_object_control_t control,
        vm_offset_t offset, vm_size_t length, vm_sync_t flags)
{
	(void)seqno;
	struct cm *m = cm_find(object);
	if (m == NULL)
		return KERN_FAILURE;
	struct cm_event e = { .kind = CM_SYNCHRONIZE, .offset = offset,
	                      .length = length, .access = (vm_prot_t)flags };
	cm_log(m, e);
	if (m->on_sync)
		m->on_sync(m, &e);
	if (m->auto_sync)
		memory_object_synchronize_completed(control, offset, length);
	mach_port_deallocate(mach_task_self(), control);
	return KERN_SUCCESS;
}

static kern_return_t cm_change_completed(mach_port_t reply,
        mach_port_seqno_t seqno, memory_object_control_t control,
        memory_object_flavor_t flavor)
{
	(void)seqno;
	struct cm *m = cm_find(reply);
	if (m == NULL)
		return KERN_FAILURE;
	cm_log(m, (struct cm_event){ .kind = CM_CHANGE_COMPLETED, .flavor = flavor });
	mach_port_deallocate(mach_task_self(), control);
	return KERN_SUCCESS;
}

static kern_return_t cm_supply_completed(mach_port_t reply,
        mach_port_seqno_t seqno, memory_object_control_t control,
        vm_offset_t offset, vm_size_t length, kern_return_t result,
        vm_offset_t error_offset)
{
	(void)seqno; (void)result; (void)error_offset;
	struct cm *m = cm_find(reply);
	if (m == NULL)
		return KERN_FAILURE;
	cm_log(m, (struct cm_event){ .kind = CM_SUPPLY_COMPLETED,
	       .offset = offset, .length = length });
	mach_port_deallocate(mach_task_self(), control);
	return KERN_SUCCESS;
}

static const memory_object_routines_t cm_routines = {
	.init = cm_init,
	.terminate = cm_terminate,
	.data_request = cm_data_request,
	.data_unlock = cm_data_unlock,
	.data_return = cm_data_return,
	.lock_completed = cm_lock_completed,
	.supply_completed = cm_supply_completed,
	.change_completed = cm_change_completed,
	.synchronize = cm_synchronize,
};

static boolean_t cm_demux(mach_msg_header_t *in, mach_msg_header_t *out)
{
	return memory_object_server_routines(&cm_routines, in, out);
}

static void *cm_thread(void *arg)
{
	struct cm *m = arg;
	mach_msg_server(cm_demux, MEMORY_OBJECT_MSG_SIZE_MAX, m->object, 0);
	return NULL;
}

/* A manager for an object of `size` bytes holding the pattern. Set the
 * behaviour fields before the first vm_map. */
static __attribute__((unused)) struct cm *cm_start(vm_size_t size)
{
	struct cm *m = calloc(1, sizeof *m);
	if (m == NULL)
		return NULL;
	pthread_mutex_init(&m->lock, NULL);
	pthread_cond_init(&m->cond, NULL);
	m->size = size;
	m->store = malloc(size);
	m->auto_sync = 1;
	m->supply_lock = VM_PROT_NONE;
	for (vm_size_t i = 0; i < size; i++)
		m->store[i] = cm_pattern(i);
	if (mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE,
	                       &m->object) != KERN_SUCCESS ||
	    mach_port_insert_right(mach_task_self(), m->object, m->object,
	                           MACH_MSG_TYPE_MAKE_SEND) != KERN_SUCCESS)
		return NULL;
	pthread_mutex_lock(&cm_all_lock);
	for (int i = 0; i < 8; i++)
		if (cm_all[i] == NULL) {
			cm_all[i] = m;
			break;
		}
	pthread_mutex_unlock(&cm_all_lock);
	pthread_create(&m->thread, NULL, cm_thread, m);
	return m;
}

static __attribute__((unused)) void cm_stop(struct cm *m)
{
	mach_port_destroy(mach_task_self(), m->object);
	pthread_join(m->thread, NULL);
	pthread_mutex_lock(&cm_all_lock);
	for (int i = 0; i < 8; i++)
		if (cm_all[i] == m)
			cm_all[i] = NULL;
	pthread_mutex_unlock(&cm_all_lock);
	if (MACH_PORT_VALID(m->control))
		mach_port_deallocate(mach_task_self(), m->control);
	free(m->store);
	free(m->ev);
	pthread_mutex_destroy(&m->lock);
	pthread_cond_destroy(&m->cond);
	free(m);
}

static __attribute__((unused)) vm_address_t cm_map(struct cm *m, boolean_t copy)
{
	vm_address_t addr = 0;
	if (vm_map(mach_task_self(), &addr, m->size, 0, TRUE, m->object, 0, copy,
	           VM_PROT_DEFAULT, VM_PROT_ALL, VM_INHERIT_SHARE) != KERN_SUCCESS)
		return 0;
	return addr;
}

/* The control port of the latest init (bounded wait for it). */
static __attribute__((unused)) mach_port_t cm_control(struct cm *m)
{
	if (cm_wait(m, CM_INIT, 1, NULL) < 0)
		return MACH_PORT_NULL;
	pthread_mutex_lock(&m->lock);
	mach_port_t c = m->control;
	pthread_mutex_unlock(&m->lock);
	return c;
}

static __attribute__((unused)) vm_size_t cm_kernel_page_size(void)
{
	vm_size_t ps = 0;
	host_page_size(mach_host_self(), &ps);
	return ps;
}

#endif
