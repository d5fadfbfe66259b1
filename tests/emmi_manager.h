/* A scripted memory manager for the VM/EMMI tests: one thread per object
 * runs mach_msg_server with memory_object_server_routines, records every
 * message it gets (with its seqno) and answers data_request as told.
 * Public API only. Waits are bounded (condition variables with a deadline;
 * tests also arm alarm()) so a bug fails rather than hangs. */
#ifndef MEMOBJ_TEST_EMMI_MANAGER_H
#define MEMOBJ_TEST_EMMI_MANAGER_H

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <mach/mach.h>

#define MGR_TIMEOUT_S 20

enum mgr_kind { EV_INIT = 1, EV_TERMINATE, EV_DATA_REQUEST,
                EV_SUPPLY_COMPLETED, EV_CHANGE_COMPLETED };
enum mgr_reply { REPLY_NONE, REPLY_SUPPLY, REPLY_UNAVAILABLE, REPLY_ERROR };

struct mgr_event {
	enum mgr_kind kind;
	mach_port_seqno_t seqno;
	mach_port_t control;
	vm_size_t page_size;
	vm_offset_t offset;
	vm_size_t length;
	vm_prot_t access;
	kern_return_t result;
	vm_offset_t error_offset;
	memory_object_flavor_t flavor;
};

struct mgr {
	mach_port_t object;             /* receive + send right */
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct mgr_event ev[512];
	int nev;
	mach_port_t control;            /* from the latest init */
	int ready_on_init;              /* change_attributes from init */
	vm_size_t cluster;              /* 0: one page */
	enum mgr_reply reply;
	int errors_left;                /* REPLY_ERROR: then REPLY_SUPPLY */
	mach_msg_return_t server_result;
};

#define MGR_MAX 8
static struct mgr *mgr_all[MGR_MAX];
static pthread_mutex_t mgr_all_lock = PTHREAD_MUTEX_INITIALIZER;

static __attribute__((unused)) struct mgr *mgr_find(mach_port_t object)
{
	struct mgr *m = NULL;
	pthread_mutex_lock(&mgr_all_lock);
	for (int i = 0; i < MGR_MAX; i++)
		if (mgr_all[i] && mgr_all[i]->object == object)
			m = mgr_all[i];
	pthread_mutex_unlock(&mgr_all_lock);
	return m;
}

/* The byte pattern of object offset `off`. */
static inline uint8_t pattern_byte(vm_offset_t off)
{
	return (uint8_t)((off >> 12) * 31 + (off & 0xfff) * 7 + 1);
}

static __attribute__((unused)) void mgr_record(struct mgr *m, struct mgr_event e)
{
	pthread_mutex_lock(&m->lock);
	if (m->nev < (int)(sizeof m->ev / sizeof m->ev[0]))
		m->ev[m->nev++] = e;
	pthread_cond_broadcast(&m->cond);
	pthread_mutex_unlock(&m->lock);
}

/* Supplies [offset, offset+length) with the pattern (pages deallocated). */
static __attribute__((unused)) kern_return_t mgr_supply(mach_port_t control, vm_offset_t offset,
        vm_size_t length, mach_port_t reply)
{
	vm_address_t buf = 0;
	kern_return_t kr = vm_allocate(mach_task_self(), &buf, length, TRUE);
	if (kr != KERN_SUCCESS)
		return kr;
	for (vm_size_t i = 0; i < length; i++)
		((uint8_t *)buf)[i] = pattern_byte(offset + i);
	return memory_object_data_supply(control, offset, buf,
	        (mach_msg_type_number_t)length, TRUE, VM_PROT_NONE, FALSE, reply);
}

static __attribute__((unused)) kern_return_t mgr_make_ready(struct mgr *m, mach_port_t control)
{
	memory_object_perf_info_data_t perf = {
		.cluster_size = (memory_object_cluster_size_t)m->cluster,
		.may_cache = FALSE,
	};
	return memory_object_change_attributes(control,
	        MEMORY_OBJECT_PERFORMANCE_INFO, (memory_object_info_t)&perf,
	        MEMORY_OBJECT_PERF_INFO_COUNT, m->object);
}

static __attribute__((unused)) kern_return_t mgr_init(memory_object_t object, mach_port_seqno_t seqno,
        memory_object_control_t control, vm_size_t page_size)
{
	struct mgr *m = mgr_find(object);
	if (m == NULL)
		return KERN_FAILURE;
	pthread_mutex_lock(&m->lock);
	m->control = control;
	pthread_mutex_unlock(&m->lock);
	mgr_record(m, (struct mgr_event){ .kind = EV_INIT, .seqno = seqno,
	           .control = control, .page_size = page_size });
	if (m->ready_on_init)
		mgr_make_ready(m, control);
	return KERN_SUCCESS;      /* keeps this send right */
}

static __attribute__((unused)) kern_return_t mgr_terminate(memory_object_t object,
        mach_port_seqno_t seqno, memory_object_control_t control)
{
	struct mgr *m = mgr_find(object);
	if (m == NULL)
		return KERN_FAILURE;
	mach_port_type_t type = 0;
	mach_port_type(mach_task_self(), control, &type);
	/* The receive right (and our send rights under that name) go, before
	 * the test hears of the terminate and looks at the name. */
	mach_port_destroy(mach_task_self(), control);
	mgr_record(m, (struct mgr_event){ .kind = EV_TERMINATE, .seqno = seqno,
	           .control = control, .access = (vm_prot_t)type });
	return KERN_SUCCESS;
}

static __attribute__((unused)) kern_return_t mgr_data_request(memory_object_t object,
        mach_port_seqno_t seqno, memory_object_control_t control,
        vm_offset_t offset, vm_size_t length, vm_prot_t access)
{
	struct mgr *m = mgr_find(object);
	if (m == NULL)
		return KERN_FAILURE;
	mgr_record(m, (struct mgr_event){ .kind = EV_DATA_REQUEST, .seqno = seqno,
	           .control = control, .offset = offset, .length = length,
	           .access = access });
	enum mgr_reply reply = m->reply;
	if (reply == REPLY_ERROR && m->errors_left-- <= 0)
		reply = REPLY_SUPPLY;
	switch (reply) {
	case REPLY_SUPPLY:
		mgr_supply(control, offset, length, MACH_PORT_NULL);
		break;
	case REPLY_UNAVAILABLE:
		memory_object_data_unavailable(control, offset, length);
		break;
	case REPLY_ERROR:
		memory_object_data_error(control, offset, length, KERN_MEMORY_ERROR);
		break;
	case REPLY_NONE:
		break;
	}
	/* Each message brought a user reference; init's is kept. */
	mach_port_deallocate(mach_task_self(), control);
	return KERN_SUCCESS;
}

static __attribute__((unused)) kern_return_t mgr_supply_completed(mach_port_t reply,
        mach_port_seqno_t seqno, memory_object_control_t control,
        vm_offset_t offset, vm_size_t length, kern_return_t result,
        vm_offset_t error_offset)
{
	struct mgr *m = mgr_find(reply);
	if (m == NULL)
		return KERN_FAILURE;
	mgr_record(m, (struct mgr_event){ .kind = EV_SUPPLY_COMPLETED,
	           .seqno = seqno, .control = control, .offset = offset,
	           .length = length, .result = result,
	           .error_offset = error_offset });
	mach_port_deallocate(mach_task_self(), control);
	return KERN_SUCCESS;
}

static __attribute__((unused)) kern_return_t mgr_change_completed(mach_port_t reply,
        mach_port_seqno_t seqno, memory_object_control_t control,
        memory_object_flavor_t flavor)
{
	struct mgr *m = mgr_find(reply);
	if (m == NULL)
		return KERN_FAILURE;
	mgr_record(m, (struct mgr_event){ .kind = EV_CHANGE_COMPLETED,
	           .seqno = seqno, .control = control, .flavor = flavor });
	mach_port_deallocate(mach_task_self(), control);
	return KERN_SUCCESS;
}

static const memory_object_routines_t mgr_routines = {
	.init = mgr_init,
	.terminate = mgr_terminate,
	.data_request = mgr_data_request,
	.supply_completed = mgr_supply_completed,
	.change_completed = mgr_change_completed,
};

static __attribute__((unused)) boolean_t mgr_demux(mach_msg_header_t *in, mach_msg_header_t *out)
{
	return memory_object_server_routines(&mgr_routines, in, out);
}

static __attribute__((unused)) void *mgr_thread(void *arg)
{
	struct mgr *m = arg;
	m->server_result = mach_msg_server(mgr_demux, MEMORY_OBJECT_MSG_SIZE_MAX,
	                                   m->object, 0);
	return NULL;
}

/* A new object port and its manager thread. */
static __attribute__((unused)) struct mgr *mgr_start(int ready_on_init, vm_size_t cluster,
        enum mgr_reply reply)
{
	struct mgr *m = calloc(1, sizeof *m);
	if (m == NULL)
		return NULL;
	pthread_mutex_init(&m->lock, NULL);
	pthread_cond_init(&m->cond, NULL);
	m->ready_on_init = ready_on_init;
	m->cluster = cluster;
	m->reply = reply;
	if (mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE,
	                       &m->object) != KERN_SUCCESS ||
	    mach_port_insert_right(mach_task_self(), m->object, m->object,
	                           MACH_MSG_TYPE_MAKE_SEND) != KERN_SUCCESS) {
		free(m);
		return NULL;
	}
	pthread_mutex_lock(&mgr_all_lock);
	for (int i = 0; i < MGR_MAX; i++)
		if (mgr_all[i] == NULL) {
			mgr_all[i] = m;
			break;
		}
	pthread_mutex_unlock(&mgr_all_lock);
	pthread_create(&m->thread, NULL, mgr_thread, m);
	return m;
}

/* Destroys the object port (its server loop ends) and frees the manager. */
static __attribute__((unused)) void mgr_stop(struct mgr *m)
{
	mach_port_destroy(mach_task_self(), m->object);
	pthread_join(m->thread, NULL);
	pthread_mutex_lock(&mgr_all_lock);
	for (int i = 0; i < MGR_MAX; i++)
		if (mgr_all[i] == m)
			mgr_all[i] = NULL;
	pthread_mutex_unlock(&mgr_all_lock);
	if (MACH_PORT_VALID(m->control))
		mach_port_deallocate(mach_task_self(), m->control);
	pthread_mutex_destroy(&m->lock);
	pthread_cond_destroy(&m->cond);
	free(m);
}

static __attribute__((unused)) int mgr_count_locked(struct mgr *m, enum mgr_kind kind)
{
	int n = 0;
	for (int i = 0; i < m->nev; i++)
		n += m->ev[i].kind == kind;
	return n;
}

static __attribute__((unused)) int mgr_count(struct mgr *m, enum mgr_kind kind)
{
	pthread_mutex_lock(&m->lock);
	int n = mgr_count_locked(m, kind);
	pthread_mutex_unlock(&m->lock);
	return n;
}

/* Waits (bounded) until at least n events of `kind` arrived; copies the
 * n-th into *out. */
static __attribute__((unused)) int mgr_wait(struct mgr *m, enum mgr_kind kind, int n,
        struct mgr_event *out)
{
	struct timespec deadline;
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += MGR_TIMEOUT_S;
	pthread_mutex_lock(&m->lock);
	int ok = 1;
	while (mgr_count_locked(m, kind) < n) {
		if (pthread_cond_timedwait(&m->cond, &m->lock, &deadline) == ETIMEDOUT) {
			ok = mgr_count_locked(m, kind) >= n;
			break;
		}
	}
	if (ok && out) {
		int seen = 0;
		for (int i = 0; i < m->nev; i++)
			if (m->ev[i].kind == kind && ++seen == n) {
				*out = m->ev[i];
				break;
			}
	}
	pthread_mutex_unlock(&m->lock);
	return ok;
}

static __attribute__((unused)) vm_statistics_data_t vm_stats(void)
{
	vm_statistics_data_t s;
	memset(&s, 0, sizeof s);
	mach_msg_type_number_t count = HOST_VM_INFO_COUNT;
	host_statistics(mach_host_self(), HOST_VM_INFO, (host_info_t)&s, &count);
	return s;
}

/* Bounded wait until the kernel has taken `target` faults in all. */
static __attribute__((unused)) int wait_faults(unsigned target)
{
	struct timespec start, now;
	clock_gettime(CLOCK_MONOTONIC, &start);
	while (vm_stats().faults < target) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - start.tv_sec > MGR_TIMEOUT_S)
			return 0;
		sched_yield();
	}
	return 1;
}

static __attribute__((unused)) vm_size_t kernel_page_size(void)
{
	vm_size_t ps = 0;
	host_page_size(mach_host_self(), &ps);
	return ps;
}

#endif
