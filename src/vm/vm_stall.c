/* No silent hangs (MEMOBJ_STALL_WARN): a watchdog thread looks a few
 * times per period at every thread waiting on a manager — on a page
 * being paged in (or held until the object is ready), on a page whose
 * lock withholds its access, in vm_msync — and prints one line on stderr
 * for each wait older than the limit, naming the object port (the task's
 * name for it), the offset and what the kernel waits for. Each wait is
 * reported once. The lines are written after every lock is dropped. */
#include "vm/vm_stall.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "os/os_signal.h"
#include "vm/vm_kernel.h"
#include "vm/vm_msync.h"
#include "vm/vm_object.h"
#include "vm/vm_stat.h"

struct stall_scan {
	uint64_t now;                   /* vm_stat_now(), as waits are stamped */
	uint32_t limit;                 /* ms */
	struct vm_object *obj;
	char *text;
	size_t len, cap;
};

static void say(struct stall_scan *s, uint32_t age, vm_offset_t offset,
        const char *what)
{
	char line[512];
	int n = snprintf(line, sizeof line,
	        "memobj: stalled %" PRIu32 ".%01" PRIu32 " s on memory object port "
	        "0x%x, offset 0x%" PRIx64 ": %s\n", age / 1000, age % 1000 / 100,
	        (unsigned)s->obj->object_name, (uint64_t)offset, what);
	if (n <= 0)
		return;
	size_t len = (size_t)n < sizeof line ? (size_t)n : sizeof line - 1;
	if (s->len + len + 1 > s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 1024;
		while (cap < s->len + len + 1)
			cap *= 2;
		char *t = realloc(s->text, cap);
		if (t == NULL)
			return;
		s->text = t;
		s->cap = cap;
	}
	memcpy(s->text + s->len, line, len);
	s->len += len;
	s->text[s->len] = '\0';
}

/* Milliseconds since `since`; 0 for a wait that began after `now` was
 * read (it is young). */
static uint32_t wait_age_ms(const struct stall_scan *s, uint64_t since)
{
	if (since >= s->now)
		return 0;
	uint64_t ms = (s->now - since) / 1000000u;
	return ms > UINT32_MAX ? UINT32_MAX : (uint32_t)ms;
}

static void scan_page(vm_page_t *p, void *arg)
{
	struct stall_scan *s = arg;
	if (p->nwaiters == 0 || p->stall_warned)
		return;
	uint32_t age = wait_age_ms(s, p->first.since);
	if (age < s->limit)
		return;
	p->stall_warned = 1;
	const char *what;
	if (p->state != VM_PAGE_REQUESTED)
		what = "data_unlock unanswered (the page's lock withholds the "
		       "access; no lock_request lifted it)";
	else if (!s->obj->ready)
		what = "the object is not ready: its manager never called "
		       "memory_object_change_attributes (did memory_object_init "
		       "fail?)";
	else
		what = "data_request unanswered";
	say(s, age, p->index << vm_kernel()->page_shift, what);
}

static void scan_object(struct vm_object *obj, void *arg)
{
	struct stall_scan *s = arg;
	s->obj = obj;
	pthread_mutex_lock(&obj->lock);
	if (!obj->dead && !obj->terminated) {
		vm_page_foreach(&obj->pages, scan_page, s);
		for (struct vm_sync_waiter *w = obj->sync_waiters; w; w = w->next) {
			uint32_t age = wait_age_ms(s, w->since);
			if (w->done || w->stall_warned || age < s->limit)
				continue;
			w->stall_warned = true;
			say(s, age, w->offset, "memory_object_synchronize unanswered "
			    "(vm_msync waits for synchronize_completed)");
		}
	}
	pthread_mutex_unlock(&obj->lock);
}

void *vm_stall_thread(void *arg)
{
	struct vm_kernel *k = arg;
	os_signal_block_all();
	/* A wait is seen within a quarter of the limit past it (at most a
	 * second late). */
	uint32_t period = k->stall_warn_ms / 4;
	if (period > 1000)
		period = 1000;
	if (period < 20)
		period = 20;
	struct timespec ts = { period / 1000, (long)(period % 1000) * 1000000L };
	struct stall_scan s = { .limit = k->stall_warn_ms };
	for (;;) {
		nanosleep(&ts, NULL);
		s.now = vm_stat_now();
		s.len = 0;
		vm_object_foreach(scan_object, &s);
		if (s.len > 0) {
			fputs(s.text, stderr);
			fflush(stderr);
		}
	}
	return NULL;
}
