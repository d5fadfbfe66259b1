/* HMAC-SHA256 (RFC 2104 / FIPS 198-1), and a constant-time comparison for
 * checking MACs without leaking where they differ. */
#ifndef MEMOBJ_NET_HMAC_SHA256_H
#define MEMOBJ_NET_HMAC_SHA256_H

#include <stdbool.h>
#include "sha256.h"

#define NET_HMAC_SHA256_SIZE NET_SHA256_DIGEST_SIZE

struct net_hmac_sha256 {
	struct net_sha256 inner;
	uint8_t outer_key_pad[NET_SHA256_BLOCK_SIZE];  /* key ^ 0x5c, kept for final */
};

void net_hmac_sha256_init(struct net_hmac_sha256 *ctx, const void *key, size_t key_len);
void net_hmac_sha256_update(struct net_hmac_sha256 *ctx, const void *data, size_t len);
/* Writes the MAC and wipes the context (it holds key material). */
void net_hmac_sha256_final(struct net_hmac_sha256 *ctx, uint8_t mac[NET_HMAC_SHA256_SIZE]);

void net_hmac_sha256(const void *key, size_t key_len, const void *data, size_t len,
                     uint8_t mac[NET_HMAC_SHA256_SIZE]);

/* True when the n bytes are equal; time depends only on n. */
bool net_equal_constant_time(const void *a, const void *b, size_t n);

#endif
