/* The kernel's EMMI messages counted by kind (emmi_stat.c), for
 * memobj_statistics: called for every message the kernel sends to a
 * manager or receives on a control port. */
#ifndef MEMOBJ_EMMI_STAT_H
#define MEMOBJ_EMMI_STAT_H
#include <mach/mach.h>

void emmi_stat_count(mach_msg_id_t id);

#endif
