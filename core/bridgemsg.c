/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bridgemsg.c - encode and decode the bridge's message (bridgemsg.h).
 *
 * The decoder walks a cursor over the message and checks each length
 * against what is left before it reads, so no field can point past the
 * end; the encoder applies the same rules, so a replica never sends what
 * another would refuse.
 */
#include "vbx_build.h"

#include <string.h>

#include "bridgemsg.h"

enum field { ORIGIN, NAME, TYPE };

static const size_t field_max[] = {VBX__BRIDGE_ORIGIN_MAX, VBX__BRIDGE_NAME_MAX,
                                   VBX__BRIDGE_TYPE_MAX};

static bool byte_ok(enum field f, unsigned char c, size_t at)
{
	switch (f) {
	case ORIGIN:
		return c > 0x20 && c < 0x7f;
	case NAME:
		return c == '_' || (c >= 'a' && c <= 'z') ||
		       (c >= 'A' && c <= 'Z') ||
		       (at > 0 && c >= '0' && c <= '9');
	case TYPE:
		return c >= 0x20 && c < 0x7f;
	}
	return false;
}

static bool string_ok(enum field f, const unsigned char *s, size_t n)
{
	if (n == 0 || n > field_max[f])
		return false;
	for (size_t i = 0; i < n; i++)
		if (!byte_ok(f, s[i], i))
			return false;
	return true;
}

/* ---- encoding ---- */

static unsigned char *put_string(unsigned char *p, const char *s, size_t n)
{
	*p++ = (unsigned char)n;
	memcpy(p, s, n);
	return p + n;
}

size_t vbx__bridge_encode(const char *origin, const char *name,
                          const char *type, const void *payload, size_t size,
                          unsigned char *buf, size_t len)
{
	if (!origin || !name || !type || !payload || !buf || size == 0 ||
	    size > VBX_EVENT_MAX_PAYLOAD)
		return 0;
	size_t no = strlen(origin), nn = strlen(name), nt = strlen(type);
	if (!string_ok(ORIGIN, (const unsigned char *)origin, no) ||
	    !string_ok(NAME, (const unsigned char *)name, nn) ||
	    !string_ok(TYPE, (const unsigned char *)type, nt))
		return 0;
	size_t total = 4 + 1 + (1 + no) + (1 + nn) + (1 + nt) + 4 + size;
	if (total > len)
		return 0;
	unsigned char *p = buf;
	memcpy(p, VBX__BRIDGE_MAGIC, 4);
	p[4] = VBX__BRIDGE_VERSION;
	p = put_string(p + 5, origin, no);
	p = put_string(p, name, nn);
	p = put_string(p, type, nt);
	uint32_t n32 = (uint32_t)size;
	p[0] = (unsigned char)(n32 >> 24);
	p[1] = (unsigned char)(n32 >> 16);
	p[2] = (unsigned char)(n32 >> 8);
	p[3] = (unsigned char)n32;
	memcpy(p + 4, payload, size);
	return total;
}

/* ---- decoding ---- */

typedef struct cursor {
	const unsigned char *p;
	size_t left;
	const char *why;
} cursor;

static bool take(cursor *c, size_t n, const unsigned char **out,
                 const char *why)
{
	if (n > c->left) {
		c->why = why;
		return false;
	}
	*out = c->p;
	c->p += n;
	c->left -= n;
	return true;
}

/* A length byte, then that many bytes of field f, copied to dst. */
static bool get_string(cursor *c, enum field f, char *dst, const char *what)
{
	const unsigned char *lenp, *s;
	if (!take(c, 1, &lenp, what) || !take(c, *lenp, &s, what))
		return false;
	if (!string_ok(f, s, *lenp)) {
		c->why = what;
		return false;
	}
	memcpy(dst, s, *lenp);
	dst[*lenp] = '\0';
	return true;
}

static bool get_head(cursor *c)
{
	const unsigned char *p;
	if (!take(c, 5, &p, "shorter than its header"))
		return false;
	if (memcmp(p, VBX__BRIDGE_MAGIC, 4) != 0) {
		c->why = "bad magic (not an event bridge message)";
		return false;
	}
	if (p[4] != VBX__BRIDGE_VERSION) {
		c->why = "another format version (this replica reads 1)";
		return false;
	}
	return true;
}

static bool get_payload(cursor *c, vbx__bridge_msg *out)
{
	const unsigned char *p;
	if (!take(c, 4, &p, "truncated before the payload size"))
		return false;
	uint32_t n = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	             (uint32_t)p[2] << 8 | (uint32_t)p[3];
	if (n == 0 || n > VBX_EVENT_MAX_PAYLOAD) {
		c->why = "payload size out of range";
		return false;
	}
	if (!take(c, n, &out->payload, "payload truncated"))
		return false;
	out->payload_size = n;
	if (c->left != 0) {
		c->why = "bytes after the payload";
		return false;
	}
	return true;
}

int vbx__bridge_decode(const void *msg, size_t len, vbx__bridge_msg *out,
                       const char **why)
{
	cursor c = {.p = msg, .left = msg ? len : 0, .why = "no message"};
	bool ok = msg && out && get_head(&c) &&
	          get_string(&c, ORIGIN, out->origin, "bad origin") &&
	          get_string(&c, NAME, out->name, "bad event name") &&
	          get_string(&c, TYPE, out->type, "bad payload type") &&
	          get_payload(&c, out);
	if (ok)
		return VBX_OK;
	if (why)
		*why = c.why;
	return VBX_EINVAL;
}
