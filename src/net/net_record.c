/* Sealing and opening records (net_record.h). */
#include "net_record.h"

#include <errno.h>
#include <string.h>

_Static_assert(NET_RECORD_TAG == crypto_aead_xchacha20poly1305_ietf_ABYTES, "tag size");
_Static_assert(NET_RECORD_TAG == crypto_aead_aes256gcm_ABYTES, "tag size");
_Static_assert(NET_KEY_SIZE == crypto_aead_xchacha20poly1305_ietf_KEYBYTES, "key size");
_Static_assert(NET_KEY_SIZE == crypto_aead_aes256gcm_KEYBYTES, "key size");
/* A record is far below either construction's per-message limit. */
_Static_assert(NET_RECORD_MAX < crypto_aead_aes256gcm_MESSAGEBYTES_MAX, "record size");

/* The largest nonce of the two (XChaCha20: 24 bytes; GCM: 12). */
#define NONCE_MAX crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
_Static_assert(crypto_aead_aes256gcm_NPUBBYTES <= NONCE_MAX, "nonce size");

int net_record_key_init(struct net_record_key *k, const uint8_t key[NET_KEY_SIZE],
                        enum net_aead aead)
{
	memset(k, 0, sizeof *k);
	if (aead == NET_AEAD_AES256GCM) {
		if (net_crypto_init() != 0 || !crypto_aead_aes256gcm_is_available())
			return -ENOTSUP;
		crypto_aead_aes256gcm_beforenm(&k->aes, key);
	} else if (aead != NET_AEAD_XCHACHA20POLY1305 && aead != NET_AEAD_NONE) {
		return -EINVAL;
	}
	memcpy(k->key, key, NET_KEY_SIZE);
	k->aead = (uint8_t)aead;
	return 0;
}

void net_record_key_clear(struct net_record_key *k)
{
	sodium_memzero(k, sizeof *k);
}

static void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* The nonce is the sequence number, zero-padded to the construction's
 * nonce size; each direction of each link has its own key, so a (key,
 * nonce) pair is never used twice, and the counter never wraps (2^64
 * records). */
static void nonce_of(uint64_t seq, uint8_t nonce[NONCE_MAX])
{
	memset(nonce, 0, NONCE_MAX);
	for (int i = 0; i < 8; i++)
		nonce[i] = (uint8_t)(seq >> (8 * i));
}

void net_record_seal(struct net_record_key *k, uint8_t *rec, uint32_t len)
{
	uint8_t nonce[NONCE_MAX];
	unsigned long long taglen = NET_RECORD_TAG;
	uint8_t *text = rec + NET_RECORD_HEAD;
	put_le32(rec, len);
	if (k->aead == NET_AEAD_NONE) {
		k->seq++;
		return;
	}
	nonce_of(k->seq++, nonce);
	if (k->aead == NET_AEAD_AES256GCM)
		crypto_aead_aes256gcm_encrypt_detached_afternm(text, text + len, &taglen, text, len,
		        rec, NET_RECORD_HEAD, NULL, nonce, &k->aes);
	else
		crypto_aead_xchacha20poly1305_ietf_encrypt_detached(text, text + len, &taglen, text,
		        len, rec, NET_RECORD_HEAD, NULL, nonce, k->key);
}

uint32_t net_record_length(const uint8_t *rec)
{
	uint32_t v = (uint32_t)rec[0] | (uint32_t)rec[1] << 8 | (uint32_t)rec[2] << 16 |
	             (uint32_t)rec[3] << 24;
	return v >= 1 && v <= NET_RECORD_MAX ? v : 0;
}

int net_record_open(struct net_record_key *k, const uint8_t *rec, uint32_t len, uint8_t *out)
{
	uint8_t nonce[NONCE_MAX];
	const uint8_t *text = rec + NET_RECORD_HEAD;
	int rc;
	if (k->aead == NET_AEAD_NONE) {
		memcpy(out, text, len);
		k->seq++;
		return 0;
	}
	nonce_of(k->seq, nonce);
	if (k->aead == NET_AEAD_AES256GCM) {
		rc = crypto_aead_aes256gcm_decrypt_detached_afternm(out, NULL, text, len, text + len,
		        rec, NET_RECORD_HEAD, nonce, &k->aes);
	} else {
		rc = crypto_aead_xchacha20poly1305_ietf_decrypt_detached(out, NULL, text, len,
		        text + len, rec, NET_RECORD_HEAD, nonce, k->key);
	}
	if (rc != 0)
		return -EBADMSG;
	k->seq++;
	return 0;
}
