/* SPDX-License-Identifier: Apache-2.0 */
/*
 * reqparse.c - the request heads the metrics listener accepts: HTTP/1.0
 * or 1.1, a request line and header lines ended by CRLF (a bare LF is
 * accepted too), and nothing else. It is outside input, parsed in place
 * with bounds on every step; the few headers the listener needs are
 * picked out, the rest skipped.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mx.h"

/* The end of the head: the offset after its blank line, or 0. */
static size_t head_end(const char *buf, size_t len)
{
	for (size_t i = 0; i + 1 < len; i++) {
		if (buf[i] != '\n')
			continue;
		if (buf[i + 1] == '\n')
			return i + 2;
		if (buf[i + 1] == '\r' && i + 2 < len && buf[i + 2] == '\n')
			return i + 3;
	}
	return 0;
}

/* Cut the line starting at *p (ends before end) and move *p past it. */
static char *next_line(char **p, char *end)
{
	char *line = *p, *nl = memchr(line, '\n', (size_t)(end - line));

	if (!nl)
		return NULL;
	*nl = '\0';
	if (nl > line && nl[-1] == '\r')
		nl[-1] = '\0';
	*p = nl + 1;
	return line;
}

static bool token_chars(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!isupper((unsigned char)*s))
			return false;
	return true;
}

/* "METHOD SP target SP HTTP/1.x" */
static int request_line(char *line, mx_req *out)
{
	char *sp1 = strchr(line, ' '), *sp2;

	if (!sp1)
		return -1;
	*sp1 = '\0';
	sp2 = strchr(sp1 + 1, ' ');
	if (!sp2 || strchr(sp2 + 1, ' '))
		return -1;
	*sp2 = '\0';
	if (!token_chars(line) || sp1[1] != '/')
		return -1;
	if (!strcmp(sp2 + 1, "HTTP/1.1"))
		out->keep_alive = true;
	else if (strcmp(sp2 + 1, "HTTP/1.0"))
		return -1;
	out->method = line;
	out->path = sp1 + 1;
	sp1[1 + strcspn(sp1 + 1, "?")] = '\0';
	for (const char *c = out->path; *c; c++)
		if ((unsigned char)*c <= ' ' || *c == 0x7f)
			return -1;
	return 0;
}

static char *trimmed(char *v)
{
	while (*v == ' ' || *v == '\t')
		v++;
	size_t n = strlen(v);
	while (n && (v[n - 1] == ' ' || v[n - 1] == '\t'))
		v[--n] = '\0';
	return v;
}

static int header_line(char *line, mx_req *out)
{
	char *colon = strchr(line, ':');

	if (!colon || colon == line)
		return -1;
	for (char *c = line; c < colon; c++)
		if (!isgraph((unsigned char)*c))
			return -1;
	*colon = '\0';
	char *v = trimmed(colon + 1);
	for (const char *c = v; *c; c++)
		if ((unsigned char)*c < ' ' && *c != '\t')
			return -1;
	if (!strcasecmp(line, "accept"))
		out->accept = v;
	else if (!strcasecmp(line, "authorization"))
		out->authorization = v;
	else if (!strcasecmp(line, "connection") && !strcasecmp(v, "close"))
		out->keep_alive = false;
	else if (!strcasecmp(line, "transfer-encoding"))
		out->has_body = true;
	else if (!strcasecmp(line, "content-length") && strcmp(v, "0"))
		out->has_body = true;
	return 0;
}

long mx_req_parse(char *buf, size_t len, mx_req *out)
{
	size_t end = head_end(buf, len < MX_REQ_MAX ? len : MX_REQ_MAX);
	char *p = buf, *line;

	*out = (mx_req){0};
	if (!end)
		return len >= MX_REQ_MAX ? -1 : 0;
	if (memchr(buf, '\0', end))
		return -1;
	line = next_line(&p, buf + end);
	if (!line || request_line(line, out))
		return -1;
	while ((line = next_line(&p, buf + end)) && *line)
		if (header_line(line, out))
			return -1;
	return (long)end;
}
