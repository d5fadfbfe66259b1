/* Sealing and opening records (net_record.h). */
#include "net_record.h"

#include <errno.h>
#include <sodium.h>
#include <string.h>

_Static_assert(NET_RECORD_TAG == crypto_aead_xchacha20poly1305_ietf_ABYTES, "tag size");
_Static_assert(NET_KEY_SIZE == crypto_aead_xchacha20poly1305_ietf_KEYBYTES, "key size");

static void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* The nonce is the sequence number; each direction of each link has its
 * own key, so a (key, nonce) pair is never used twice. */
static void nonce_of(uint64_t seq, uint8_t nonce[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES])
{
	memset(nonce, 0, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
	for (int i = 0; i < 8; i++)
		nonce[i] = (uint8_t)(seq >> (8 * i));
}

void net_record_seal(struct net_record_key *k, uint8_t *rec, uint32_t len)
{
	uint8_t nonce[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES];
	unsigned long long taglen = NET_RECORD_TAG;
	put_le32(rec, len);
	nonce_of(k->seq++, nonce);
	crypto_aead_xchacha20poly1305_ietf_encrypt_detached(rec + NET_RECORD_HEAD,
	        rec + NET_RECORD_HEAD + len, &taglen, rec + NET_RECORD_HEAD, len,
	        rec, NET_RECORD_HEAD, NULL, nonce, k->key);
}

uint32_t net_record_length(const uint8_t *rec)
{
	uint32_t v = (uint32_t)rec[0] | (uint32_t)rec[1] << 8 | (uint32_t)rec[2] << 16 |
	             (uint32_t)rec[3] << 24;
	return v >= 1 && v <= NET_RECORD_MAX ? v : 0;
}

int net_record_open(struct net_record_key *k, const uint8_t *rec, uint32_t len, uint8_t *out)
{
	uint8_t nonce[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES];
	nonce_of(k->seq, nonce);
	if (crypto_aead_xchacha20poly1305_ietf_decrypt_detached(out, NULL,
	        rec + NET_RECORD_HEAD, len, rec + NET_RECORD_HEAD + len, rec, NET_RECORD_HEAD,
	        nonce, k->key) != 0)
		return -EBADMSG;
	k->seq++;
	return 0;
}
