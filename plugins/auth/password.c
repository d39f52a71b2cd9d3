/* SPDX-License-Identifier: Apache-2.0 */
/*
 * password.c - Argon2id password hashes (RFC 9106) in the PHC string
 * format (phc.c), so that each hash carries its own parameters and old
 * hashes keep verifying after the configured parameters change.
 *
 * Memory. Each hash needs argon2_memory (19 MiB by default) for a few
 * milliseconds. Left to malloc, that block lands in the calling worker's
 * malloc arena, and glibc keeps it there after free (its mmap threshold
 * rises to the size of the freed block, so the next one comes from the
 * arena's heap): 16 concurrent logins left an idle daemon at 170 MB. So
 * the work area comes from mmap and goes back with munmap as soon as the
 * hash is done (Argon2's allocate_cbk and free_cbk), and at most
 * hash_concurrency hashes run at once: the peak is hash_concurrency x
 * argon2_memory, and the daemon returns to its idle size afterwards.
 */
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>

#include <argon2.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "auth.h"

#define SALT_LEN 16
#define HASH_LEN 32

/* ---- at most `limit` hashes at once; the others wait in turn ---- */

static struct {
	pthread_mutex_t lock;
	pthread_cond_t freed;
	unsigned limit; /* 0: no bound */
	unsigned running;
	unsigned peak; /* the most that ran at once */
	/* tickets: waiters go in the order they came (FIFO), so a burst of
	 * logins cannot starve one of them */
	unsigned long next, serving;
} gate = {
        .lock = PTHREAD_MUTEX_INITIALIZER,
        .freed = PTHREAD_COND_INITIALIZER,
};

void auth_password_concurrency(unsigned n)
{
	pthread_mutex_lock(&gate.lock);
	gate.limit = n;
	pthread_mutex_unlock(&gate.lock);
	pthread_cond_broadcast(&gate.freed); /* a raise lets waiters in */
}

unsigned auth_password_peak(void)
{
	pthread_mutex_lock(&gate.lock);
	unsigned n = gate.peak;
	pthread_mutex_unlock(&gate.lock);
	return n;
}

static void gate_enter(void)
{
	pthread_mutex_lock(&gate.lock);
	unsigned long me = gate.next++;
	while (gate.limit && (me != gate.serving || gate.running >= gate.limit))
		pthread_cond_wait(&gate.freed, &gate.lock);
	gate.serving++;
	if (++gate.running > gate.peak)
		gate.peak = gate.running;
	pthread_mutex_unlock(&gate.lock);
	/* the next in line may start too when a slot is free */
	pthread_cond_broadcast(&gate.freed);
}

static void gate_leave(void)
{
	pthread_mutex_lock(&gate.lock);
	gate.running--;
	pthread_mutex_unlock(&gate.lock);
	pthread_cond_broadcast(&gate.freed);
}

/* ---- the work area: mmap'd, so that it never enters malloc's arenas ---- */

static int area_alloc(uint8_t **memory, size_t bytes)
{
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
	               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		*memory = NULL;
		return ARGON2_MEMORY_ALLOCATION_ERROR;
	}
	*memory = p;
	return ARGON2_OK;
}

static void area_free(uint8_t *memory, size_t bytes)
{
	/* Argon2 wipes the area before it calls this. */
	if (memory)
		munmap(memory, bytes);
}

/* Argon2id of pw with h's parameters and salt into out (h->hash_len). */
static int compute(const auth_phc *h, const char *pw, uint8_t *out)
{
	argon2_context ctx = {
	        .out = out,
	        .outlen = (uint32_t)h->hash_len,
	        .pwd = (uint8_t *)pw,
	        .pwdlen = (uint32_t)strlen(pw),
	        .salt = (uint8_t *)h->salt,
	        .saltlen = (uint32_t)h->salt_len,
	        .t_cost = h->t,
	        .m_cost = h->m_kib,
	        .lanes = h->p,
	        .threads = h->p,
	        .version = h->version,
	        .allocate_cbk = area_alloc,
	        .free_cbk = area_free,
	        .flags = ARGON2_DEFAULT_FLAGS,
	};
	gate_enter();
	int rc = argon2_ctx(&ctx, Argon2_id);
	gate_leave();
	return rc;
}

int auth_password_hash(const auth_argon2 *a, const char *pw, char *out)
{
	auth_phc h = {.version = AUTH_PHC_VERSION,
	              .m_kib = a->m_kib,
	              .t = a->t,
	              .p = a->p,
	              .salt_len = SALT_LEN,
	              .hash_len = HASH_LEN};

	if (RAND_bytes(h.salt, SALT_LEN) != 1)
		return VBX_ERR;
	int rc = compute(&h, pw, h.hash) == ARGON2_OK
	                 ? auth_phc_encode(&h, out, AUTH_HASH_MAX)
	                 : VBX_ERR;
	OPENSSL_cleanse(h.hash, sizeof(h.hash));
	return rc == VBX_OK ? VBX_OK : VBX_ERR;
}

int auth_password_verify(const char *encoded, const char *pw)
{
	auth_phc h;
	uint8_t got[AUTH_PHC_HASH_MAX];

	if (auth_phc_decode(encoded, &h) != VBX_OK)
		return VBX_EUNAUTH;
	int rc = compute(&h, pw, got);
	/* compared in constant time */
	bool same =
	        rc == ARGON2_OK && CRYPTO_memcmp(got, h.hash, h.hash_len) == 0;
	OPENSSL_cleanse(got, sizeof(got));
	return same ? VBX_OK : VBX_EUNAUTH;
}
