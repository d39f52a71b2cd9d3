/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_backup_cron.c - backup-s3's cron parser (plugins/backup-s3/cron.c)
 * on any text: no crash, every refusal explained, and an accepted
 * expression's next run is a whole minute after the time asked (or -1),
 * and the run after it comes later still.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cron.h"

#define CHECK(x)                                                               \
	do {                                                                   \
		if (!(x))                                                      \
			abort();                                               \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1), err[256] = "";
	bk_cron c;

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (bk_cron_parse(s, &c, err, sizeof(err)) != 0) {
		CHECK(err[0]);
		free(s);
		return 0;
	}
	CHECK(c.minute && c.hour && c.dom && c.month && c.dow);
	int64_t t = 1796612400; /* 2026-12-07T03:00:00Z */
	int64_t n = bk_cron_next(&c, t);
	if (n != -1) {
		CHECK(n > t && n % 60 == 0);
		int64_t m = bk_cron_next(&c, n);
		CHECK(m == -1 || m > n);
	}
	free(s);
	return 0;
}
