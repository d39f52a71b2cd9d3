/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_docker_json.c - the docker-runtime plugin's parsers of what the
 * engine and the config say: inspect, stats, list and ports JSON into
 * structs, the pull stream's error object, RFC 3339 times and endpoints.
 * Every input goes to every parser; checks that the results stay in
 * their bounds.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "docker.h"

/* plugin.c's, which images.c's image check falls back on; not linked in
 * here, and no parser reaches it. */
dkr *dkr_self;

static int each_port(void *ctx, const vbx_env_port *p)
{
	if (p->port < 1 || p->port > 65535 || p->host_port < 1 ||
	    p->host_port > 65535 || strlen(p->protocol) != 3)
		abort();
	return ++*(int *)ctx > 3; /* stop after a few, as a caller may */
}

static void check_state(const vbx_container_state *s)
{
	if (strnlen(s->id, sizeof(s->id)) == sizeof(s->id) ||
	    strnlen(s->env_id, sizeof(s->env_id)) == sizeof(s->env_id) ||
	    strnlen(s->status, sizeof(s->status)) == sizeof(s->status) ||
	    strnlen(s->error, sizeof(s->error)) == sizeof(s->error) ||
	    s->started_at < 0 || s->finished_at < 0)
		abort();
}

static void json_parsers(const cJSON *j)
{
	vbx_container_state st;
	vbx_container_stats sample;
	int n = 0;
	if (dkr_parse_inspect(j, &st) == VBX_OK)
		check_state(&st);
	dkr_parse_ports(j, each_port, &n);
	if (dkr_parse_stats(j, &sample) == VBX_OK &&
	    (sample.cpu_percent < 0 || sample.at < 0))
		abort();
	if (dkr_parse_list_item(j, &st) == VBX_OK)
		check_state(&st);
	const cJSON *it, *arr = cJSON_IsArray(j) ? j : NULL;
	cJSON_ArrayForEach(it, arr)
	{
		if (dkr_parse_list_item(it, &st) == VBX_OK)
			check_state(&st);
	}
}

static void string_parsers(const char *s)
{
	int64_t ms;
	char *path, *url, err[256], msg[64];
	if (dkr_time_parse(s, &ms) == VBX_OK && ms < 0)
		abort();
	for (int tls = 0; tls < 2; tls++) {
		if (dkr_endpoint_parse(s, tls, &path, &url, err, sizeof(err)) ==
		            VBX_OK &&
		    (!url || (path && path[0] != '/')))
			abort();
		free(path);
		free(url);
	}
	dkr_pull_error(s, strlen(s), msg, sizeof(msg));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	string_parsers(s);
	cJSON *j = cJSON_ParseWithLength(s, size);
	if (j)
		json_parsers(j);
	cJSON_Delete(j);
	free(s);
	return 0;
}
