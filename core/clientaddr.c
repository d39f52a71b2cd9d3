/* SPDX-License-Identifier: Apache-2.0 */
/*
 * clientaddr.c - whom a request or a WebSocket upgrade comes from, for
 * everything that reads its client address: authentication's
 * per-address limits, the audit log, the access log,
 * vbx_req_client_addr() and vbx_ws_client_addr().
 *
 * The peer is the socket's, or the client that a PROXY protocol header
 * named on a proxy_protocol listener (proxyguard.c). When that peer is in
 * server.trusted_proxies, the client is what its X-Forwarded-For says
 * (cidr.c chooses); from any other peer the header is ignored. The list
 * is read from the config in effect at each request, so a reload
 * (SIGHUP) applies to the next request, on connections already open too.
 */
#include "vbx_build.h"

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "daemon.h"
#include "proxyguard.h"
#include "server.h"

/* The longest X-Forwarded-For read: a token's limit in server.c. */
#define XFF_MAX 8192

void vbx__conn_peer(struct lws *wsi, vbx__conn_addr *out)
{
	int fd = lws_get_socket_fd(wsi);
	const vbx__ipaddr *proxied = vbx__proxyguard_client(fd);
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	memset(out, 0, sizeof(*out));
	if (fd >= 0 && getpeername(fd, (struct sockaddr *)&ss, &sl) == 0)
		vbx__ip_from_sockaddr((struct sockaddr *)&ss, &out->socket);
	out->from = proxied ? *proxied : out->socket;
}

/* The config in effect: the last one loaded (a reload replaces it),
 * else the server's (the fake host of libvibebox-test has no daemon). */
static const vbx__conf *in_effect(struct lws *wsi)
{
	const vbx__conf *c = vbx__conf_current();
	if (!c) {
		const vbx__server *s = lws_context_user(lws_get_context(wsi));
		c = s ? s->conf : NULL;
	}
	return c;
}

/* The client the X-Forwarded-For of wsi's request names; false when it
 * has none or it is not a list of addresses. */
static bool forwarded_for(struct lws *wsi, const vbx__conf *c, const char *peer,
                          vbx__ipaddr *out)
{
	/* a header lws knows: the raw head's check (rawhead.c) refused a
	 * request with two lines of it, so this is the one list */
	int n = lws_hdr_total_length(wsi, WSI_TOKEN_X_FORWARDED_FOR);
	if (n <= 0 || n >= XFF_MAX)
		return false;
	char *v = malloc((size_t)n + 1);
	vbx__ipaddr chosen;
	bool ok = v &&
	          lws_hdr_copy(wsi, v, n + 1, WSI_TOKEN_X_FORWARDED_FOR) >= 0 &&
	          vbx__xff_client(v, c->trusted, c->ntrusted, &chosen);
	if (ok)
		*out = chosen;
	if (v && !ok)
		vbx__debug("X-Forwarded-For from trusted proxy %s ignored: "
		           "not a comma-separated list of IP addresses",
		           peer);
	free(v);
	return ok;
}

void vbx__client_of(struct lws *wsi, const vbx__conn_addr *peer, char *client,
                    char *peer_text)
{
	const vbx__conf *c = in_effect(wsi);
	vbx__ipaddr who = peer->from;
	if (c && peer->from.family &&
	    vbx__cidr_match(c->trusted, c->ntrusted, &peer->from)) {
		char from[VBX__ADDR_TEXT];
		vbx__ip_format(&peer->from, from, sizeof(from));
		forwarded_for(wsi, c, from, &who);
	}
	vbx__ip_format(&peer->socket, peer_text, VBX__ADDR_TEXT);
	/* Without a proxy the client is the peer: formatted once. */
	if (who.family == peer->socket.family &&
	    memcmp(who.a, peer->socket.a, sizeof(who.a)) == 0)
		memcpy(client, peer_text, strlen(peer_text) + 1);
	else
		vbx__ip_format(&who, client, VBX__ADDR_TEXT);
}
