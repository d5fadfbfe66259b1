/* The VM's one hash (the object table, the page tables): Fibonacci
 * hashing, the key times 2^64 divided by the golden ratio, whose top bits
 * are well mixed even for keys that differ only in their low bits (page
 * indices, port names). */
#ifndef MEMOBJ_VM_HASH_H
#define MEMOBJ_VM_HASH_H

#include <stddef.h>
#include <stdint.h>

#define VM_HASH_MULTIPLIER 0x9e3779b97f4a7c15ull

/* The top `bits` bits of the product (1 <= bits <= 63): a bucket of a
 * table of 2^bits. */
static inline size_t vm_hash(uint64_t key, unsigned bits)
{
	return (size_t)((key * VM_HASH_MULTIPLIER) >> (64 - bits));
}

#endif
