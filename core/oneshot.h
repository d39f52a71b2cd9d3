/* SPDX-License-Identifier: Apache-2.0 */
/*
 * oneshot.h - `vibeboxd --backup-now -c FILE`: start the plugins without
 * the HTTP server, run the backup_run_now hook (vibebox/backup.h) once,
 * stop, and exit with its status: for a Kubernetes CronJob. The core
 * knows nothing of backups: whichever plugin provides the hook
 * (backup-s3) does the work.
 */
#ifndef VBX_ONESHOT_H
#define VBX_ONESHOT_H

#include <vibebox/plugin.h>

/* Take the hook's handle; call from core_init, before plugins load. */
void vbx__oneshot_register(vbx_plugin *core);

/* Run backup_run_now once, print its outcome (stdout: the object's name;
 * stderr: the reason of a failure). Returns the process's exit status:
 * 0 done, 1 failed or no provider. */
int vbx__oneshot_backup(void);

#endif
