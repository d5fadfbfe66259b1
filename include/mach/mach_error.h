/* Mach error texts (OSF libmach): mach_error_string(3). */
#ifndef MACH_MACH_ERROR_H
#define MACH_MACH_ERROR_H

#include <mach/error.h>

/* The Mach text for a return code, e.g. "(os/kern) invalid argument" for
 * KERN_INVALID_ARGUMENT; "unknown error code" (or another "unknown ..."
 * text) for a value no table knows. The string is static: never free it. */
char *mach_error_string(mach_error_t error_value);
/* The text of the code's system and subsystem, e.g. "(ipc/send)". */
char *mach_error_type(mach_error_t error_value);
/* Prints "STR TEXT" and a newline on stderr (with the type and the value
 * in hexadecimal when the code is unknown). */
void mach_error(const char *str, mach_error_t error_value);

#endif
