/* boolean_t as OSF and XNU define it on x86-64: an int. */
#ifndef MACH_BOOLEAN_H
#define MACH_BOOLEAN_H

typedef int boolean_t;
#ifndef TRUE
#define TRUE  1
#endif
#ifndef FALSE
#define FALSE 0
#endif

#endif
