/* SPDX-License-Identifier: Apache-2.0 */
/*
 * oneshot.c - run the backup_run_now hook once for `vibeboxd
 * --backup-now` (oneshot.h).
 */
#include <stdio.h>

#include <vibebox/backup.h>

#include "oneshot.h"

static vbx_hook *run_now;

void vbx__oneshot_register(vbx_plugin *core)
{
	run_now = vbx_hook_backup_run_now_get(core);
}

int vbx__oneshot_backup(void)
{
	char name[VBX_BACKUP_NAME_LEN] = "", err[VBX_BACKUP_ERR_LEN] = "";

	if (!run_now || run_now->count == 0) {
		fprintf(stderr, "vibeboxd: --backup-now: no plugin provides "
		                "backups: add backup-s3 to `plugins` in the "
		                "config file\n");
		return 1;
	}
	int rc = vbx_hook_backup_run_now_run(run_now, name, err);
	if (rc == VBX_OK) {
		printf("%s\n", name);
		return 0;
	}
	fprintf(stderr, "vibeboxd: --backup-now: backup %s failed: %s\n",
	        name[0] ? name : "(none)",
	        err[0] ? err : "no reason given (see the log)");
	return 1;
}
