/* Placeholder until the IPC demo lands. */
#include <stdio.h>
int main(void) { puts("memobj"); return 0; }
