/* SPDX-License-Identifier: Apache-2.0 */
/*
 * script.c - Lua scripts run by their SHA1 (EVALSHA), sent whole (EVAL)
 * only when the server does not know them yet (after a restart, a
 * failover or SCRIPT FLUSH): the rate counter runs on many requests, and
 * its text is most of each command.
 */
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#include "rc.h"

int rc_script_init(rc_script *s, const char *text)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	s->text = text;
	if (EVP_Digest(text, strlen(text), md, &n, EVP_sha1(), NULL) != 1 ||
	    n != 20)
		return VBX_ERR;
	for (unsigned int i = 0; i < n; i++)
		snprintf(s->sha + 2 * i, 3, "%02x", md[i]);
	return VBX_OK;
}

int rc_eval(rcache *r, const rc_script *s, redisReply **out, int argc,
            const char **argv, size_t *lens)
{
	/* argv[0] and argv[1] are ours: the command and the script. */
	argv[0] = "EVALSHA";
	lens[0] = 7;
	argv[1] = s->sha;
	lens[1] = 40;
	int rc = rc_command(r, out, argc, argv, lens);
	if (rc != VBX_OK || (*out)->type != REDIS_REPLY_ERROR ||
	    strncmp((*out)->str, "NOSCRIPT", 8) != 0)
		return rc;
	freeReplyObject(*out);
	argv[0] = "EVAL";
	lens[0] = 4;
	argv[1] = s->text;
	lens[1] = strlen(s->text);
	return rc_command(r, out, argc, argv, lens);
}

void rc_warn_reply(rcache *r, const char *what, const char *key,
                   const redisReply *rep)
{
	bool error = rep->type == REDIS_REPLY_ERROR;
	vbx_log_warn(r->self, "redis-cache: %s %s: unexpected reply%s%s", what,
	             key, error ? ": " : "", error ? rep->str : "");
}
