/* HMAC(K, m) = H((K' ^ opad) || H((K' ^ ipad) || m)), K' = K padded to the
 * block size, or H(K) padded when K is longer than a block. */
#include "hmac_sha256.h"

#include <string.h>

void net_hmac_sha256_init(struct net_hmac_sha256 *ctx, const void *key, size_t key_len)
{
	uint8_t block_key[NET_SHA256_BLOCK_SIZE] = {0};
	uint8_t inner_key_pad[NET_SHA256_BLOCK_SIZE];

	if (key_len > NET_SHA256_BLOCK_SIZE)
		net_sha256(key, key_len, block_key);
	else if (key_len > 0)
		memcpy(block_key, key, key_len);

	for (size_t i = 0; i < NET_SHA256_BLOCK_SIZE; i++) {
		inner_key_pad[i] = block_key[i] ^ 0x36;
		ctx->outer_key_pad[i] = block_key[i] ^ 0x5c;
	}
	net_sha256_init(&ctx->inner);
	net_sha256_update(&ctx->inner, inner_key_pad, sizeof inner_key_pad);
	explicit_bzero(block_key, sizeof block_key);
	explicit_bzero(inner_key_pad, sizeof inner_key_pad);
}

void net_hmac_sha256_update(struct net_hmac_sha256 *ctx, const void *data, size_t len)
{
	net_sha256_update(&ctx->inner, data, len);
}

void net_hmac_sha256_final(struct net_hmac_sha256 *ctx, uint8_t mac[NET_HMAC_SHA256_SIZE])
{
	uint8_t inner_digest[NET_SHA256_DIGEST_SIZE];
	struct net_sha256 outer;

	net_sha256_final(&ctx->inner, inner_digest);
	net_sha256_init(&outer);
	net_sha256_update(&outer, ctx->outer_key_pad, sizeof ctx->outer_key_pad);
	net_sha256_update(&outer, inner_digest, sizeof inner_digest);
	net_sha256_final(&outer, mac);
	explicit_bzero(inner_digest, sizeof inner_digest);
	explicit_bzero(ctx, sizeof *ctx);
}

void net_hmac_sha256(const void *key, size_t key_len, const void *data, size_t len,
                     uint8_t mac[NET_HMAC_SHA256_SIZE])
{
	struct net_hmac_sha256 ctx;
	net_hmac_sha256_init(&ctx, key, key_len);
	net_hmac_sha256_update(&ctx, data, len);
	net_hmac_sha256_final(&ctx, mac);
}

bool net_equal_constant_time(const void *a, const void *b, size_t n)
{
	/* volatile keeps the compiler from turning the loop into an early exit. */
	const volatile uint8_t *x = a, *y = b;
	uint8_t diff = 0;
	for (size_t i = 0; i < n; i++)
		diff |= x[i] ^ y[i];
	return diff == 0;
}
