/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_backup_s3xml.c - backup-s3's XML reader (plugins/backup-s3/
 * s3xml.c) on any bytes, as an S3 server's answer: no crash, every
 * refusal explained, every listed object a NUL-terminated key and a size
 * that is not negative, and a truncated page always has its token.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "s3.h"

#define CHECK(x)                                                               \
	do {                                                                   \
		if (!(x))                                                      \
			abort();                                               \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int check(void *arg, const s3_object *o)
{
	(void)arg;
	CHECK(memchr(o->key, '\0', sizeof(o->key)));
	CHECK(o->key[0]);
	CHECK(o->size >= 0);
	CHECK(memchr(o->last_modified, '\0', sizeof(o->last_modified)));
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char token[128], err[S3_ERR_MAX] = "", out[32];
	const char *xml = (const char *)data;
	size_t pos = 0;
	int truncated;

	int rc = s3_xml_list(xml, size, check, NULL, &truncated, token,
	                     sizeof(token), err, sizeof(err));
	CHECK(rc == 0 || rc == -1);
	if (rc == 0 && truncated)
		CHECK(token[0] && memchr(token, '\0', sizeof(token)));
	if (rc == -1)
		CHECK(err[0]);
	while ((rc = s3_xml_text(xml, size, &pos, "Key", out, sizeof(out))) !=
	       1) {
		CHECK(pos <= size);
		if (rc == -1)
			break;
		CHECK(strlen(out) < sizeof(out));
	}
	return 0;
}
