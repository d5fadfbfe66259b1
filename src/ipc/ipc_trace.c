/* The message trace hook (ipc_kernel.h): one pointer, NULL when tracing is
 * off, so the cost on the message path is one load and one predictable
 * branch. The IPC layer knows nothing of what the messages mean; a client
 * (the EMMI layer's decoder, src/emmi/emmi_trace.c) registers a function
 * that does. */
#include "ipc/ipc_kernel.h"

ipc_trace_hook_t ipc_trace_hook_fn;

void ipc_trace_register(ipc_trace_hook_t hook)
{
	__atomic_store_n(&ipc_trace_hook_fn, hook, __ATOMIC_RELEASE);
}
