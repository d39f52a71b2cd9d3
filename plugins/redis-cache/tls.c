/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tls.c - rediss://: an OpenSSL client context (TLS 1.2 or later, the
 * server's certificate verified by default against tls_ca_file or the
 * system's roots, an optional client certificate) and the handshake on a
 * non-blocking socket.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rc.h"

struct rc_tls {
	SSL_CTX *ctx;
	bool verify;
	char *server_name; /* NULL: the host of the address */
};

static void ssl_reason(const char *what, char *err, size_t errlen)
{
	unsigned long e = ERR_get_error();
	char buf[200] = "";

	if (e)
		ERR_error_string_n(e, buf, sizeof(buf));
	snprintf(err, errlen, "%s%s%s", what, buf[0] ? ": " : "", buf);
	ERR_clear_error();
}

static int load_files(SSL_CTX *ctx, const rc_settings *s, char *err,
                      size_t errlen)
{
	if (s->tls_ca_file &&
	    SSL_CTX_load_verify_locations(ctx, s->tls_ca_file, NULL) != 1) {
		ssl_reason("cannot load tls_ca_file", err, errlen);
		return VBX_EINVAL;
	}
	if (!s->tls_ca_file && SSL_CTX_set_default_verify_paths(ctx) != 1) {
		ssl_reason("cannot load the system's CA certificates", err,
		           errlen);
		return VBX_EINVAL;
	}
	if (s->tls_cert_file &&
	    (SSL_CTX_use_certificate_chain_file(ctx, s->tls_cert_file) != 1 ||
	     SSL_CTX_use_PrivateKey_file(ctx, s->tls_key_file,
	                                 SSL_FILETYPE_PEM) != 1 ||
	     SSL_CTX_check_private_key(ctx) != 1)) {
		ssl_reason("cannot load tls_cert_file/tls_key_file", err,
		           errlen);
		return VBX_EINVAL;
	}
	return VBX_OK;
}

struct rc_tls *rc_tls_new(const rc_settings *s, char *err, size_t errlen)
{
	struct rc_tls *t = calloc(1, sizeof(*t));

	if (!t || !(t->ctx = SSL_CTX_new(TLS_client_method()))) {
		snprintf(err, errlen, "cannot make a TLS context");
		free(t);
		return NULL;
	}
	SSL_CTX_set_min_proto_version(t->ctx, TLS1_2_VERSION);
	t->verify = s->tls_verify;
	SSL_CTX_set_verify(t->ctx,
	                   t->verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
	if (load_files(t->ctx, s, err, errlen) != VBX_OK ||
	    (s->tls_server_name &&
	     !(t->server_name = strdup(s->tls_server_name)))) {
		rc_tls_free(t);
		return NULL;
	}
	return t;
}

void rc_tls_free(struct rc_tls *t)
{
	if (!t)
		return;
	SSL_CTX_free(t->ctx);
	free(t->server_name);
	free(t);
}

/* The name the certificate must carry: a host name, or an IP address. */
static int expect_name(SSL *ssl, const char *name)
{
	unsigned char ip[16];
	bool is_ip = inet_pton(AF_INET, name, ip) == 1 ||
	             inet_pton(AF_INET6, name, ip) == 1;

	if (!is_ip && SSL_set_tlsext_host_name(ssl, name) != 1)
		return VBX_EINVAL;
	if (is_ip)
		return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl),
		                                     name) == 1
		               ? VBX_OK
		               : VBX_EINVAL;
	return SSL_set1_host(ssl, name) == 1 ? VBX_OK : VBX_EINVAL;
}

SSL *rc_tls_handshake(struct rc_tls *t, int fd, const char *host,
                      int64_t deadline, char *err, size_t errlen)
{
	SSL *ssl = SSL_new(t->ctx);
	const char *name = t->server_name ? t->server_name : host;

	if (!ssl || SSL_set_fd(ssl, fd) != 1 ||
	    (name[0] && expect_name(ssl, name) != VBX_OK)) {
		ssl_reason("cannot set up TLS", err, errlen);
		SSL_free(ssl);
		return NULL;
	}
	for (;;) {
		int n = SSL_connect(ssl);
		if (n == 1)
			return ssl;
		int e = SSL_get_error(ssl, n);
		short want = e == SSL_ERROR_WANT_READ    ? POLLIN
		             : e == SSL_ERROR_WANT_WRITE ? POLLOUT
		                                         : 0;
		if (!want) {
			long v = SSL_get_verify_result(ssl);
			if (v != X509_V_OK)
				snprintf(err, errlen,
				         "TLS handshake: certificate: %s",
				         X509_verify_cert_error_string(v));
			else
				ssl_reason("TLS handshake", err, errlen);
			break;
		}
		if (rc_wait_fd(fd, want, deadline) != VBX_OK) {
			snprintf(err, errlen, "TLS handshake timed out");
			break;
		}
	}
	ERR_clear_error();
	SSL_free(ssl);
	return NULL;
}
