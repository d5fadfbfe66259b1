/* The kernel's EMMI messages counted by kind (emmi_stat.c), for
 * memobj_statistics: called for every message the kernel sends to a
 * manager or receives on a control port. */
#ifndef MEMOBJ_EMMI_STAT_H
#define MEMOBJ_EMMI_STAT_H
#include <mach/mach.h>

/* A message the kernel sent to a manager (object_user.c). */
void emmi_stat_sent(mach_msg_id_t id);
/* A call that arrived on a control port, size bytes of it (its kind is
 * counted only when a whole header came). */
void emmi_stat_received(const mach_msg_header_t *msg, mach_msg_size_t size);
/* Messages sent and calls received in all (host_statistics reports them
 * as vm_statistics lookups and hits). */
void emmi_stat_totals(natural_t *sent, natural_t *received);

#endif
