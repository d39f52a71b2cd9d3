/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cron.h - the `schedule` of backup-s3: a cron expression of 5 fields,
 * in UTC:
 *
 *     minute (0-59)  hour (0-23)  day of month (1-31)  month (1-12)
 *     day of week (0-7, 0 and 7 are Sunday)
 *
 * Each field is a comma-separated list of items: N, A-B, or "*" (the
 * whole range), each optionally followed by "/S" (every S-th value from
 * the start; N/S runs from N to the field's end). As in Vixie cron, when both
 * the day of month and the day of week are restricted (neither starts with
 * "*"), a day matches if either does. Names (jan, mon) and the "@daily"
 * forms are not accepted: the error says so.
 */
#ifndef BK_CRON_H
#define BK_CRON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct bk_cron {
	uint64_t minute; /* bit i: minute i */
	uint32_t hour;
	uint32_t dom;   /* bit i: day i (1..31) */
	uint16_t month; /* bit i: month i (1..12) */
	uint8_t dow;    /* bit i: day i (0..6, Sunday 0) */
	bool dom_star, dow_star;
} bk_cron;

/*
 * Parse s into *c. Returns 0, or -1 with err naming the field and what is
 * wrong with it.
 */
int bk_cron_parse(const char *s, bk_cron *c, char *err, size_t err_len);

/*
 * The first minute strictly after `after` (Unix seconds) that c matches,
 * in Unix seconds; -1 if none within 8 years ("0 0 30 2 *" never comes)
 * or `after` is not between year 0 and 9999.
 */
int64_t bk_cron_next(const bk_cron *c, int64_t after);

#endif
