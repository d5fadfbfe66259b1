/* Weak defaults for the notification routines notify_server calls: an
 * application defines the ones it handles (classic Mach link-time
 * binding); the rest refuse, so mach_msg_server destroys the message. */
#include <mach/mach.h>

__attribute__((weak)) kern_return_t do_mach_notify_port_deleted(mach_port_t notify,
        mach_port_name_t name)
{
	(void)notify;
	(void)name;
	return KERN_FAILURE;
}

__attribute__((weak)) kern_return_t do_mach_notify_port_destroyed(mach_port_t notify,
        mach_port_t rights)
{
	(void)notify;
	(void)rights;
	return KERN_FAILURE;
}

__attribute__((weak)) kern_return_t do_mach_notify_no_senders(mach_port_t notify,
        mach_port_mscount_t mscount)
{
	(void)notify;
	(void)mscount;
	return KERN_FAILURE;
}

__attribute__((weak)) kern_return_t do_mach_notify_send_once(mach_port_t notify)
{
	(void)notify;
	return KERN_FAILURE;
}

__attribute__((weak)) kern_return_t do_mach_notify_dead_name(mach_port_t notify,
        mach_port_name_t name)
{
	(void)notify;
	(void)name;
	return KERN_FAILURE;
}
