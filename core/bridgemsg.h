/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bridgemsg.h - the message that carries one event between replicas
 * (bridge.c; docs/replicas.md). Binary, integers big-endian:
 *
 *   4  magic "VBXE"
 *   1  format version (1)
 *   1  origin length O (1..64), then O bytes: the sender's replica id
 *   1  name length N (1..127), then N bytes: the event's name
 *   1  type length T (1..255), then T bytes: its payload's C type
 *   4  payload size P (1..VBX_EVENT_MAX_PAYLOAD), then P bytes: the payload
 *
 * and nothing after it. Strings carry no NUL: the origin is printable
 * ASCII without spaces, the name a C identifier, the type printable ASCII
 * ("struct foo" has a space). The decoder reads outside input: it checks
 * every length against what is left and refuses anything else.
 */
#ifndef VBX_BRIDGEMSG_H
#define VBX_BRIDGEMSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <vibebox/hook.h>

#define VBX__BRIDGE_MAGIC "VBXE"
#define VBX__BRIDGE_VERSION 1
#define VBX__BRIDGE_ORIGIN_MAX 64
#define VBX__BRIDGE_NAME_MAX 127
#define VBX__BRIDGE_TYPE_MAX 255
/* The longest message of format 1. */
#define VBX__BRIDGE_MSG_MAX                                                    \
	(4 + 1 + 1 + VBX__BRIDGE_ORIGIN_MAX + 1 + VBX__BRIDGE_NAME_MAX + 1 +   \
	 VBX__BRIDGE_TYPE_MAX + 4 + VBX_EVENT_MAX_PAYLOAD)

/* A decoded message. The strings are copies, NUL-terminated; payload
 * points into the message given to vbx__bridge_decode (borrowed). */
typedef struct vbx__bridge_msg {
	char origin[VBX__BRIDGE_ORIGIN_MAX + 1];
	char name[VBX__BRIDGE_NAME_MAX + 1];
	char type[VBX__BRIDGE_TYPE_MAX + 1];
	const unsigned char *payload;
	size_t payload_size;
} vbx__bridge_msg;

/*
 * Write the message for one event into buf (len bytes). Returns its
 * length, or 0 when an argument is NULL, a string is empty, too long or
 * has a byte its field refuses, size is 0 or over VBX_EVENT_MAX_PAYLOAD,
 * or the message does not fit len (VBX__BRIDGE_MSG_MAX always does).
 * Borrows everything; buf belongs to the caller.
 */
size_t vbx__bridge_encode(const char *origin, const char *name,
                          const char *type, const void *payload, size_t size,
                          unsigned char *buf, size_t len);

/*
 * Read the message msg[0..len) into *out. Returns VBX_OK, or VBX_EINVAL
 * with *why (when why is not NULL) a static text naming the fault: bad
 * magic, another format version, a length past the end or out of range,
 * a refused byte, bytes after the payload. *out is only meaningful on
 * VBX_OK, and its payload then points into msg.
 */
int vbx__bridge_decode(const void *msg, size_t len, vbx__bridge_msg *out,
                       const char **why);

#endif
