/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fakestore.h - an in-memory store for the auth plugin's unit tests: the
 * store hooks the plugin runs, registered by a plugin descriptor of its
 * own ("fake-store", providing "store"). Not thread-safe beyond one lock
 * around every hook; enough for tests.
 */
#ifndef FAKESTORE_H
#define FAKESTORE_H

#include <stdbool.h>

#include <vibebox/vibebox.h>
#include <vibebox/store.h>

extern const vbx_plugin_desc fake_store_desc;

/* Forget every row and come back up. */
void fake_reset(void);

/* Every hook answers VBX_EUNAVAIL while down. */
void fake_set_down(bool down);

/* store_refresh_revoke_user alone answers VBX_EUNAVAIL while set. */
void fake_fail_revoke_user(bool fail);

/* How many audit rows have this action. */
int fake_audit_count(const char *action);

/* The last audit row with this action, or NULL. */
const vbx_audit *fake_audit_last(const char *action);

/* Seed rows. Returns the new id in a static buffer (projects, users). */
const char *fake_user_add(const char *email, bool admin, bool disabled);
void fake_member_add(const char *team_id, const char *user_id,
                     const char *role);
const char *fake_project_add(const char *owner_id, const char *team_id);
/* An environment of the project, with the project's team and owner. */
const char *fake_env_add(const char *project_id);

/* The stored user with this id, for changing it behind the plugin. */
vbx_user *fake_user(const char *id);

#endif
