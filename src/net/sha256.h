/* SHA-256 (FIPS 180-4), small and portable: the hash under the link
 * handshake's HMAC. Not for bulk data; no hardware acceleration. */
#ifndef MEMOBJ_NET_SHA256_H
#define MEMOBJ_NET_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define NET_SHA256_DIGEST_SIZE 32
#define NET_SHA256_BLOCK_SIZE  64

struct net_sha256 {
	uint32_t state[8];
	uint64_t total_bytes;               /* message length so far */
	uint8_t  block[NET_SHA256_BLOCK_SIZE];
	size_t   block_used;                /* bytes waiting in block */
};

void net_sha256_init(struct net_sha256 *ctx);
void net_sha256_update(struct net_sha256 *ctx, const void *data, size_t len);
/* Writes the digest and wipes the context. */
void net_sha256_final(struct net_sha256 *ctx, uint8_t digest[NET_SHA256_DIGEST_SIZE]);

/* One-shot convenience. */
void net_sha256(const void *data, size_t len, uint8_t digest[NET_SHA256_DIGEST_SIZE]);

#endif
