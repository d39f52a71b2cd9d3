/* SPDX-License-Identifier: Apache-2.0 */
/*
 * config.c - the credentials file, ~/.config/vibebox/credentials:
 *
 *   # written by `vibebox login`
 *   server = http://127.0.0.1:3000
 *   email = dev@example.com
 *   access_token = eyJ...
 *   refresh_token = ...
 *
 * It holds secrets, so it is written with mode 0600 in a 0700 directory,
 * replaced atomically (a reader never sees half a file), and refused when
 * another user could read it.
 */
#include "vbx_build.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

#define CREDS_FILE_MAX 65536

typedef struct creds_key {
	const char *name;
	size_t off, size;
} creds_key;

static const creds_key creds_keys[] = {
        {"server", offsetof(cli_creds, server), CLI_URL_MAX},
        {"email", offsetof(cli_creds, email), CLI_EMAIL_MAX},
        {"access_token", offsetof(cli_creds, access), CLI_TOKEN_MAX},
        {"refresh_token", offsetof(cli_creds, refresh), CLI_TOKEN_MAX},
};
#define NKEYS (sizeof(creds_keys) / sizeof(creds_keys[0]))

bool cli_token_ok(const char *s, size_t max)
{
	size_t n = 0;
	for (; s[n]; n++)
		if (s[n] <= 0x20 || s[n] >= 0x7f)
			return false;
	return n > 0 && n < max;
}

static void seterr(char *err, size_t len, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
static void seterr(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
}

static bool is_blank(char ch)
{
	return ch == ' ' || ch == '\t';
}

/* Trim [*s, *e) of blanks on both sides. */
static void trim(const char **s, const char **e)
{
	while (*s < *e && is_blank(**s))
		(*s)++;
	while (*e > *s && is_blank((*e)[-1]))
		(*e)--;
}

static const creds_key *find_key(const char *k, size_t n)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (strlen(creds_keys[i].name) == n &&
		    memcmp(creds_keys[i].name, k, n) == 0)
			return &creds_keys[i];
	return NULL;
}

/* Store one value; tokens and the server may not hold spaces. */
static int set_value(cli_creds *out, const creds_key *k, const char *v,
                     size_t n, unsigned *seen, int line, char *err,
                     size_t errlen)
{
	unsigned bit = 1u << (k - creds_keys);
	char *dst = (char *)out + k->off;
	if (*seen & bit) {
		seterr(err, errlen, "line %d: %s is set twice", line, k->name);
		return -1;
	}
	*seen |= bit;
	if (n >= k->size) {
		seterr(err, errlen, "line %d: the value of %s is too long",
		       line, k->name);
		return -1;
	}
	memcpy(dst, v, n);
	dst[n] = '\0';
	if (strcmp(k->name, "email") != 0 && !cli_token_ok(dst, k->size)) {
		seterr(err, errlen,
		       "line %d: %s has a space or a control "
		       "character",
		       line, k->name);
		return -1;
	}
	return 0;
}

static int parse_line(const char *s, const char *e, cli_creds *out,
                      unsigned *seen, int line, char *err, size_t errlen)
{
	trim(&s, &e);
	if (s == e || *s == '#')
		return 0;
	const char *eq = memchr(s, '=', (size_t)(e - s));
	if (!eq) {
		seterr(err, errlen, "line %d: expected key = value", line);
		return -1;
	}
	const char *ks = s, *ke = eq, *vs = eq + 1, *ve = e;
	trim(&ks, &ke);
	trim(&vs, &ve);
	const creds_key *k = find_key(ks, (size_t)(ke - ks));
	if (!k) /* a newer client's key: keep going */
		return 0;
	return set_value(out, k, vs, (size_t)(ve - vs), seen, line, err,
	                 errlen);
}

static int check_text(const char *text, size_t len, char *err, size_t errlen)
{
	if (len > CREDS_FILE_MAX) {
		seterr(err, errlen, "the file is larger than %d bytes",
		       CREDS_FILE_MAX);
		return -1;
	}
	int line = 1;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)text[i];
		if (ch == '\n')
			line++;
		else if ((ch < 0x20 && ch != '\t' && ch != '\r') ||
		         ch == 0x7f) {
			seterr(err, errlen, "line %d: control character 0x%02x",
			       line, ch);
			return -1;
		}
	}
	return 0;
}

int cli_creds_parse(const char *text, size_t len, cli_creds *out, char *err,
                    size_t errlen)
{
	memset(out, 0, sizeof(*out));
	if (check_text(text, len, err, errlen) < 0)
		return -1;
	unsigned seen = 0;
	const char *p = text, *end = text + len;
	for (int line = 1; p < end; line++) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *e = nl ? nl : end;
		if (e > p && e[-1] == '\r')
			e--;
		if (parse_line(p, e, out, &seen, line, err, errlen) < 0)
			return -1;
		p = nl ? nl + 1 : end;
	}
	if (!out->server[0] || !out->access[0]) {
		seterr(err, errlen, "%s is missing",
		       out->server[0] ? "access_token" : "server");
		return -1;
	}
	return 0;
}

char *cli_creds_format(const cli_creds *c)
{
	char *s = NULL;
	if (asprintf(&s,
	             "# vibebox credentials, written by `vibebox login`.\n"
	             "# Keep this file private (mode 0600).\n"
	             "server = %s\nemail = %s\naccess_token = %s\n"
	             "refresh_token = %s\n",
	             c->server, c->email, c->access, c->refresh) < 0)
		return NULL;
	return s;
}

int cli_creds_path(char *out, size_t len)
{
	const char *xdg = getenv("XDG_CONFIG_HOME");
	const char *home = getenv("HOME");
	int n;
	if (xdg && xdg[0] == '/')
		n = snprintf(out, len, "%s/vibebox/credentials", xdg);
	else if (home && home[0])
		n = snprintf(out, len, "%s/.config/vibebox/credentials", home);
	else {
		cli_err("neither XDG_CONFIG_HOME nor HOME is set: cannot find "
		        "the credentials file");
		return -1;
	}
	if (n < 0 || (size_t)n >= len) {
		cli_err("the credentials path is too long");
		return -1;
	}
	return 0;
}

/* A file only its owner (us) can read, or an explanation why not. */
static int check_private(const char *path, const struct stat *st)
{
	if (!S_ISREG(st->st_mode)) {
		cli_err("%s is not a regular file; remove it and run `vibebox "
		        "login`",
		        path);
		return CLI_EAUTH;
	}
	if (st->st_uid != geteuid()) {
		cli_err("%s belongs to another user (uid %u); refusing to use "
		        "it",
		        path, (unsigned)st->st_uid);
		return CLI_EAUTH;
	}
	if (st->st_mode & 077) {
		cli_err("%s is readable by other users (mode %04o); refusing "
		        "to "
		        "use it. Run `chmod 600 %s` or log in again",
		        path, (unsigned)(st->st_mode & 07777), path);
		return CLI_EAUTH;
	}
	return CLI_OK;
}

static int read_all(int fd, char *buf, size_t cap, size_t *len)
{
	*len = 0;
	for (;;) {
		ssize_t n = read(fd, buf + *len, cap - *len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0 || (*len += (size_t)n) == cap)
			return 0;
	}
}

int cli_creds_load(const char *path, cli_creds *out)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT)
		return 1;
	if (fd < 0) {
		cli_err("cannot open %s: %s", path, strerror(errno));
		return CLI_EAUTH;
	}
	struct stat st;
	int rc = fstat(fd, &st) == 0 ? check_private(path, &st) : CLI_EAUTH;
	char *buf = rc == CLI_OK ? malloc(CREDS_FILE_MAX + 1) : NULL;
	size_t len = 0;
	char err[160];
	if (rc == CLI_OK &&
	    (!buf || read_all(fd, buf, CREDS_FILE_MAX + 1, &len) < 0)) {
		cli_err("cannot read %s: %s", path, strerror(errno));
		rc = CLI_EAUTH;
	}
	if (rc == CLI_OK && cli_creds_parse(buf, len, out, err, sizeof(err))) {
		cli_err("%s: %s; run `vibebox login` to write it again", path,
		        err);
		rc = CLI_EAUTH;
	}
	free(buf);
	close(fd);
	return rc;
}

/* mkdir -p of path's directory; the directories made get mode 0700. */
static int make_parent(const char *path)
{
	char dir[4096];
	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = '\0';
	for (char *p = dir + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(dir, 0700) < 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return mkdir(dir, 0700) < 0 && errno != EEXIST ? -1 : 0;
}

static int write_all(int fd, const char *s, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, s, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		s += n;
		len -= (size_t)n;
	}
	return 0;
}

/* The text into a new 0600 file beside path, then renamed over it. */
static int replace_file(const char *path, const char *text)
{
	char tmp[4200];
	snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path);
	int fd = mkstemp(tmp);
	if (fd < 0)
		return -1;
	int rc = fchmod(fd, 0600) < 0 ||
	                         write_all(fd, text, strlen(text)) < 0 ||
	                         fsync(fd) < 0
	                 ? -1
	                 : 0;
	int saved = errno;
	if (close(fd) < 0 && rc == 0)
		rc = -1, saved = errno;
	if (rc == 0 && rename(tmp, path) < 0)
		rc = -1, saved = errno;
	if (rc < 0)
		unlink(tmp);
	errno = saved;
	return rc;
}

int cli_creds_save(const char *path, const cli_creds *c)
{
	char *text = cli_creds_format(c);
	if (!text) {
		cli_err("out of memory writing %s", path);
		return CLI_ESERVER;
	}
	int rc = make_parent(path) < 0 ? -1 : replace_file(path, text);
	int saved = errno;
	/* the old text held tokens too: do not leave copies around */
	explicit_bzero(text, strlen(text));
	free(text);
	if (rc < 0) {
		cli_err("cannot write %s: %s", path, strerror(saved));
		return CLI_ESERVER;
	}
	return CLI_OK;
}

int cli_creds_remove(const char *path)
{
	if (unlink(path) < 0 && errno != ENOENT) {
		cli_err("cannot remove %s: %s", path, strerror(errno));
		return CLI_ESERVER;
	}
	return CLI_OK;
}

int cli_creds_lock(const char *path)
{
	char lock[4200];
	snprintf(lock, sizeof(lock), "%s.lock", path);
	if (make_parent(path) < 0)
		return -1;
	int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	while (flock(fd, LOCK_EX) < 0) {
		if (errno != EINTR) {
			close(fd);
			return -1;
		}
	}
	return fd;
}

void cli_creds_unlock(int fd)
{
	if (fd >= 0)
		close(fd);
}
