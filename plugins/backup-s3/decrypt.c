/* SPDX-License-Identifier: Apache-2.0 */
/*
 * decrypt.c - vibebox-backup-decrypt: decrypt a backup by hand, with only
 * the key file. Needs OpenSSL's libcrypto and nothing of VibeBox.
 *
 *   vibebox-backup-decrypt -k KEYFILE [-o OUT] [IN]
 *
 * The output is the gzip'd dump: pipe it to gunzip, then pg_restore
 * (docs/backup.md). Without -o it goes to stdout as chunks authenticate,
 * so a consumer must check this tool's exit status (set -o pipefail);
 * with -o it goes to OUT.partial, renamed to OUT only when the whole
 * backup authenticated, and removed otherwise.
 */
#include "bkfmt.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage[] =
        "usage: vibebox-backup-decrypt -k KEYFILE [-o OUT] [IN]\n"
        "Decrypt a VibeBox backup (NAME.dump.gz.enc) read from IN or stdin;\n"
        "write the gzip'd dump to OUT (only if it all authenticates) or\n"
        "stdout. Then: gunzip | pg_restore (see docs/backup.md).\n"
        "Exit status: 0 authentic, 1 refused (why on stderr), 2 usage.\n";

static int to_file(void *arg, const void *data, size_t len)
{
	return fwrite(data, 1, len, arg) == len ? 0 : -1;
}

static int decrypt(bk_keyring *keys, FILE *in, const char *in_name, FILE *out)
{
	static unsigned char buf[64 * 1024];
	bk_dec *d = bk_dec_new(keys, to_file, out);
	size_t n;
	int rc = 0;

	if (!d) {
		fprintf(stderr, "vibebox-backup-decrypt: out of memory\n");
		return 1;
	}
	while (rc == 0 && (n = fread(buf, 1, sizeof(buf), in)) > 0)
		rc = bk_dec_write(d, buf, n);
	if (rc == 0 && ferror(in)) {
		fprintf(stderr, "vibebox-backup-decrypt: %s: read failed: %s\n",
		        in_name, strerror(errno));
		bk_dec_free(d);
		return 1;
	}
	if (rc == 0)
		rc = bk_dec_finish(d);
	if (rc == 0 && fflush(out) != 0)
		rc = -1,
		fprintf(stderr, "vibebox-backup-decrypt: write failed\n");
	else if (rc != 0)
		fprintf(stderr, "vibebox-backup-decrypt: %s: refused: %s\n",
		        in_name, bk_dec_error(d));
	bk_dec_free(d);
	return rc == 0 ? 0 : 1;
}

static int run(bk_keyring *keys, const char *in_path, const char *out_path)
{
	const char *in_name = in_path ? in_path : "stdin";
	FILE *in = in_path ? fopen(in_path, "rb") : stdin;
	char tmp[4096];
	FILE *out = stdout;
	int rc;

	if (!in) {
		fprintf(stderr, "vibebox-backup-decrypt: %s: %s\n", in_path,
		        strerror(errno));
		return 1;
	}
	if (out_path) {
		snprintf(tmp, sizeof(tmp), "%s.partial", out_path);
		out = fopen(tmp, "wb");
		if (!out) {
			fprintf(stderr, "vibebox-backup-decrypt: %s: %s\n", tmp,
			        strerror(errno));
			if (in != stdin)
				fclose(in);
			return 1;
		}
	}
	rc = decrypt(keys, in, in_name, out);
	if (in != stdin)
		fclose(in);
	if (out_path) {
		if (fclose(out) != 0 && rc == 0)
			rc = 1, fprintf(stderr,
			                "vibebox-backup-decrypt: %s: "
			                "write failed\n",
			                tmp);
		if (rc == 0 && rename(tmp, out_path) != 0)
			rc = 1,
			fprintf(stderr, "vibebox-backup-decrypt: %s: %s\n",
			        out_path, strerror(errno));
		if (rc != 0)
			unlink(tmp);
	}
	return rc;
}

int main(int argc, char **argv)
{
	const char *key_path = NULL, *out_path = NULL;
	char err[BK_ERR_MAX];
	bk_keyring *keys;
	int opt, rc;

	while ((opt = getopt(argc, argv, "k:o:h")) != -1) {
		switch (opt) {
		case 'k':
			key_path = optarg;
			break;
		case 'o':
			out_path = optarg;
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			fputs(usage, stderr);
			return 2;
		}
	}
	if (!key_path || argc - optind > 1) {
		fputs(usage, stderr);
		return 2;
	}
	if (bk_keyring_load(key_path, &keys, err, sizeof(err)) != 0) {
		fprintf(stderr, "vibebox-backup-decrypt: %s\n", err);
		return 1;
	}
	rc = run(keys, optind < argc ? argv[optind] : NULL, out_path);
	bk_keyring_free(keys);
	return rc;
}
