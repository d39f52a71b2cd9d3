/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_auth_authz.c - every cell of the permission matrix in
 * docs/permissions.md against the authorize hook, plus API-key scopes,
 * broken resources and a store that is down.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <vibebox/testing.h>

#include "fakestore.h"

#define CONF                                                                   \
	"jwt_secret = \"000102030405060708090a0b0c0d0e0f101112131415161718191" \
	"a1b1c1d1e1f\"; argon2_memory = \"64KiB\"; argon2_iterations = 1;"

static vbx_test_host *host;
static vbx_hook *authorize;

/* The cast: one user per role. */
enum who {
	IADMIN,   /* instance admin, member of nothing */
	TADMIN,   /* team admin of the team */
	DEV,      /* developer of the team */
	VIEWER,   /* viewer of the team */
	OUTSIDER, /* a user of no team */
	OWNER,    /* owner of the personal project */
	NWHO
};
static const char *who_names[] = {"instance admin", "team admin", "developer",
                                  "viewer",         "outsider",   "owner"};
static char ids[NWHO][40];
static char team[40], team_project[40], personal_project[40];
static char team_env[40], personal_env[40];

static int setup(void **state)
{
	fake_reset();
	fake_set_down(false);
	host = vbx_test_host_new();
	if (vbx_test_load(host, &fake_store_desc, NULL) ||
	    vbx_test_load(host, vbx_plugin_entry(), CONF) ||
	    vbx_test_start(host))
		fail_msg("%s", vbx_test_errors(host));
	authorize = vbx_hook_authorize_get(vbx_test_plugin(host));
	char email[64];
	for (int i = 0; i < NWHO; i++) {
		snprintf(email, sizeof(email), "u%d@example.com", i);
		snprintf(ids[i], sizeof(ids[i]), "%s",
		         fake_user_add(email, i == IADMIN, false));
	}
	snprintf(team, sizeof(team), "%s",
	         "00000000-0000-4000-9000-00000000000a");
	fake_member_add(team, ids[TADMIN], VBX_ROLE_ADMIN);
	fake_member_add(team, ids[DEV], VBX_ROLE_DEVELOPER);
	fake_member_add(team, ids[VIEWER], VBX_ROLE_VIEWER);
	snprintf(team_project, sizeof(team_project), "%s",
	         fake_project_add(NULL, team));
	snprintf(personal_project, sizeof(personal_project), "%s",
	         fake_project_add(ids[OWNER], NULL));
	snprintf(team_env, sizeof(team_env), "%s", fake_env_add(team_project));
	snprintf(personal_env, sizeof(personal_env), "%s",
	         fake_env_add(personal_project));
	return 0;
}

static int teardown(void **state)
{
	vbx_test_host_free(host);
	host = NULL;
	return 0;
}

static vbx_principal principal(enum who w, unsigned scopes)
{
	vbx_principal p = {.scopes = scopes};
	snprintf(p.user_id, sizeof(p.user_id), "%s", ids[w]);
	snprintf(p.email, sizeof(p.email), "u%d@example.com", (int)w);
	p.flags = w == IADMIN ? VBX_PRINCIPAL_ADMIN : 0;
	return p;
}

#define ALL_SCOPES (VBX_SCOPE_READ | VBX_SCOPE_WRITE | VBX_SCOPE_ADMIN)

static int ask(enum who w, unsigned scopes, const char *action,
               const char *type, const char *id)
{
	vbx_principal p = principal(w, scopes);
	vbx_resource r = {.type = type, .id = id};
	return vbx_hook_authorize_run(authorize, &p, action, &r);
}

/* One row of the matrix: allowed[who] for (type, action). */
typedef struct cell_row {
	const char *type; /* "team", "team-project", "personal-project", ... */
	const char *action;
	bool allowed[NWHO]; /* IADMIN TADMIN DEV VIEWER OUTSIDER OWNER */
} cell_row;

/* The same table as docs/permissions.md. */
static const cell_row matrix[] = {
        /*                                  IA     TA     DEV    VIEW   OUT OWN
         */
        {"instance", "team.create", {true, true, true, true, true, true}},
        {"instance", "project.create", {true, true, true, true, true, true}},
        {"instance", "read", {true, false, false, false, false, false}},
        {"instance", "update", {true, false, false, false, false, false}},
        {"team", "read", {true, true, true, true, false, false}},
        {"team", "update", {true, true, false, false, false, false}},
        {"team", "delete", {true, true, false, false, false, false}},
        {"team", "member.manage", {true, true, false, false, false, false}},
        {"team", "project.create", {true, true, true, false, false, false}},
        {"team",
         "environment.create",
         {true, false, false, false, false, false}},
        {"team-project", "read", {true, true, true, true, false, false}},
        {"team-project", "update", {true, true, false, false, false, false}},
        {"team-project", "delete", {true, true, false, false, false, false}},
        {"team-project",
         "environment.create",
         {true, true, true, false, false, false}},
        {"team-project",
         "member.manage",
         {true, false, false, false, false, false}},
        {"personal-project", "read", {true, false, false, false, false, true}},
        {"personal-project",
         "update",
         {true, false, false, false, false, true}},
        {"personal-project",
         "delete",
         {true, false, false, false, false, true}},
        {"personal-project",
         "environment.create",
         {true, false, false, false, false, true}},
        {"team-env", "read", {true, true, true, true, false, false}},
        {"team-env", "operate", {true, true, true, false, false, false}},
        {"team-env", "exec", {true, true, true, false, false, false}},
        {"team-env", "update", {true, true, false, false, false, false}},
        {"team-env", "delete", {true, true, false, false, false, false}},
        {"team-env", "start", {true, false, false, false, false, false}},
        {"personal-env", "read", {true, false, false, false, false, true}},
        {"personal-env", "operate", {true, false, false, false, false, true}},
        {"personal-env", "exec", {true, false, false, false, false, true}},
        {"personal-env", "update", {true, false, false, false, false, true}},
        {"personal-env", "delete", {true, false, false, false, false, true}},
        {"personal-env",
         "environment.create",
         {true, false, false, false, false, false}},
        {"missing-env", "read", {true, false, false, false, false, false}},
        {"widget", "read", {true, false, false, false, false, false}},
};

static void resource_of(const char *row_type, const char **type,
                        const char **id)
{
	*id = NULL;
	*type = row_type;
	if (strcmp(row_type, "team") == 0)
		*id = team;
	else if (strcmp(row_type, "team-project") == 0)
		*type = "project", *id = team_project;
	else if (strcmp(row_type, "personal-project") == 0)
		*type = "project", *id = personal_project;
	else if (strcmp(row_type, "team-env") == 0)
		*type = "environment", *id = team_env;
	else if (strcmp(row_type, "personal-env") == 0)
		*type = "environment", *id = personal_env;
	else if (strcmp(row_type, "missing-env") == 0)
		*type = "environment",
		*id = "00000000-0000-4000-9000-0000000000ee";
}

static void test_matrix(void **state)
{
	int checked = 0;
	for (size_t i = 0; i < sizeof(matrix) / sizeof(matrix[0]); i++) {
		const char *type, *id;
		resource_of(matrix[i].type, &type, &id);
		for (int w = 0; w < NWHO; w++) {
			int want = matrix[i].allowed[w] ? VBX_OK : VBX_EDENIED;
			int got = ask((enum who)w, ALL_SCOPES, matrix[i].action,
			              type, id);
			if (got != want)
				fail_msg("%s on %s by %s: want %d, got %d",
				         matrix[i].action, matrix[i].type,
				         who_names[w], want, got);
			checked++;
		}
	}
	assert_int_equal(checked,
	                 (int)(sizeof(matrix) / sizeof(matrix[0])) * NWHO);
}

static void test_scopes(void **state)
{
	/* read needs READ; anything else WRITE; user/admin management
	 * ADMIN; even for an instance admin. */
	assert_int_equal(ask(TADMIN, VBX_SCOPE_READ, "read", "team", team),
	                 VBX_OK);
	assert_int_equal(ask(TADMIN, VBX_SCOPE_WRITE, "read", "team", team),
	                 VBX_EDENIED);
	assert_int_equal(ask(TADMIN, VBX_SCOPE_READ, "update", "team", team),
	                 VBX_EDENIED);
	assert_int_equal(ask(TADMIN, VBX_SCOPE_WRITE, "update", "team", team),
	                 VBX_OK);
	assert_int_equal(ask(IADMIN, VBX_SCOPE_READ, "delete", "team", team),
	                 VBX_EDENIED);
	assert_int_equal(
	        ask(IADMIN, VBX_SCOPE_WRITE, "user.update", "instance", NULL),
	        VBX_EDENIED);
	assert_int_equal(
	        ask(IADMIN, VBX_SCOPE_ADMIN, "user.update", "instance", NULL),
	        VBX_OK);
	assert_int_equal(
	        ask(OUTSIDER, ALL_SCOPES, "user.update", "instance", NULL),
	        VBX_EDENIED);
	assert_int_equal(ask(OWNER, 0, "read", "project", personal_project),
	                 VBX_EDENIED);
	assert_int_equal(
	        ask(OWNER, VBX_SCOPE_READ, "read", "environment", personal_env),
	        VBX_OK);
	assert_int_equal(ask(OWNER, VBX_SCOPE_READ, "operate", "environment",
	                     personal_env),
	                 VBX_EDENIED);
	assert_int_equal(ask(OWNER, VBX_SCOPE_WRITE, "operate", "environment",
	                     personal_env),
	                 VBX_OK);
}

static void test_broken_resources(void **state)
{
	vbx_principal p = principal(TADMIN, ALL_SCOPES);
	vbx_resource r = {.type = "team", .id = NULL};
	assert_int_equal(vbx_hook_authorize_run(authorize, &p, "read", &r),
	                 VBX_EDENIED);
	r.id = "not-a-uuid";
	assert_int_equal(vbx_hook_authorize_run(authorize, &p, "read", &r),
	                 VBX_EDENIED);
	r.type = NULL;
	assert_int_equal(vbx_hook_authorize_run(authorize, &p, "read", &r),
	                 VBX_EDENIED);
	r.type = "team";
	r.id = team;
	assert_int_equal(vbx_hook_authorize_run(authorize, NULL, "read", &r),
	                 VBX_EDENIED);
	assert_int_equal(vbx_hook_authorize_run(authorize, &p, "read", NULL),
	                 VBX_EDENIED);
	/* A project or team that does not exist. */
	assert_int_equal(ask(TADMIN, ALL_SCOPES, "read", "project",
	                     "00000000-0000-4000-9000-000000000999"),
	                 VBX_EDENIED);
	assert_int_equal(ask(TADMIN, ALL_SCOPES, "read", "team",
	                     "00000000-0000-4000-9000-000000000999"),
	                 VBX_EDENIED);
	/* An empty principal. */
	vbx_principal none = {.scopes = ALL_SCOPES};
	assert_int_equal(
	        vbx_hook_authorize_run(authorize, &none, "team.create",
	                               &(vbx_resource){"instance", NULL}),
	        VBX_EDENIED);
}

static void test_store_down(void **state)
{
	fake_set_down(true);
	assert_int_equal(ask(TADMIN, ALL_SCOPES, "read", "team", team),
	                 VBX_EUNAVAIL);
	assert_int_equal(
	        ask(OWNER, ALL_SCOPES, "read", "project", personal_project),
	        VBX_EUNAVAIL);
	assert_int_equal(
	        ask(DEV, ALL_SCOPES, "operate", "environment", team_env),
	        VBX_EUNAVAIL);
	/* What needs no lookup still answers. */
	assert_int_equal(ask(IADMIN, ALL_SCOPES, "read", "team", team), VBX_OK);
	assert_int_equal(
	        ask(OUTSIDER, ALL_SCOPES, "team.create", "instance", NULL),
	        VBX_OK);
	fake_set_down(false);
}

static void test_role_change_is_immediate(void **state)
{
	assert_int_equal(
	        ask(VIEWER, ALL_SCOPES, "project.create", "team", team),
	        VBX_EDENIED);
	assert_int_equal(
	        ask(OUTSIDER, ALL_SCOPES, "read", "environment", team_env),
	        VBX_EDENIED);
	fake_member_add(team, ids[OUTSIDER], VBX_ROLE_DEVELOPER);
	assert_int_equal(
	        ask(OUTSIDER, ALL_SCOPES, "project.create", "team", team),
	        VBX_OK);
	assert_int_equal(
	        ask(OUTSIDER, ALL_SCOPES, "operate", "environment", team_env),
	        VBX_OK);
}

/* What the platform passes: the owners of a project or environment, and
 * for a team the caller's membership, all as the handler read them. */
static vbx_resource_row row_of(const char *row_type, enum who w)
{
	static const char *roles[NWHO] = {
	        [TADMIN] = VBX_ROLE_ADMIN,
	        [DEV] = VBX_ROLE_DEVELOPER,
	        [VIEWER] = VBX_ROLE_VIEWER,
	};
	vbx_resource_row row = {.version = 1};
	if (strncmp(row_type, "personal-", 9) == 0)
		snprintf(row.owner_id, sizeof(row.owner_id), "%s", ids[OWNER]);
	else
		snprintf(row.team_id, sizeof(row.team_id), "%s", team);
	if (strcmp(row_type, "team") == 0) {
		row.flags = VBX_ROW_ROLE;
		snprintf(row.role, sizeof(row.role), "%s",
		         roles[w] ? roles[w] : "");
	}
	return row;
}

/* The verdict of one run on the caller's row is the verdict of the two
 * runs that read it, in every cell; and it reads nothing of what the row
 * carries, so it answers with the store down (a team project's membership
 * is still read: that row was not passed). */
static void test_verdict_on_the_row(void **state)
{
	vbx_plugin *self = vbx_test_plugin(host);
	for (int down = 0; down < 2; down++) {
		fake_set_down(down);
		for (size_t i = 0; i < sizeof(matrix) / sizeof(matrix[0]);
		     i++) {
			const char *type, *id, *f1, *f2;
			resource_of(matrix[i].type, &type, &id);
			if (!id || strncmp(matrix[i].type, "missing", 7) == 0 ||
			    strcmp(type, "widget") == 0)
				continue; /* no row to pass */
			bool reads = strncmp(matrix[i].type, "team-", 5) == 0;
			if (down && reads)
				continue;
			vbx_resource res = {type, id};
			for (int w = 0; w < NWHO; w++) {
				vbx_principal p = principal(w, ALL_SCOPES);
				vbx_resource_row row =
				        row_of(matrix[i].type, w);
				fake_set_down(false);
				int want = vbx_authorize_verdict(
				        self, &p, matrix[i].action, &res, &f1);
				fake_set_down(down);
				int got = vbx_authorize_verdict_row(
				        self, &p, matrix[i].action, &res, &row,
				        &f2);
				if (got != want || strcmp(f1, f2) != 0)
					fail_msg("%s on %s by %s (store %s): "
					         "want %d (%s), got %d (%s)",
					         matrix[i].action,
					         matrix[i].type, who_names[w],
					         down ? "down" : "up", want, f1,
					         got, f2);
			}
		}
	}
	fake_set_down(false);
	/* The answers themselves: 403 for a viewer, 404 for an outsider. */
	vbx_principal viewer = principal(VIEWER, ALL_SCOPES);
	vbx_principal outsider = principal(OUTSIDER, ALL_SCOPES);
	vbx_resource res = {"project", team_project};
	vbx_resource_row row = row_of("team-project", VIEWER);
	const char *failed;
	assert_int_equal(vbx_authorize_verdict_row(self, &viewer, "update",
	                                           &res, &row, &failed),
	                 VBX_EDENIED);
	assert_string_equal(failed, "read"); /* it decided 403 over 404 */
	assert_int_equal(vbx_authorize_verdict_row(self, &outsider, "update",
	                                           &res, &row, &failed),
	                 VBX_ENOTFOUND);
	assert_string_equal(failed, "read");
	/* Without a row it reads what it needs, still in one run. */
	assert_int_equal(vbx_authorize_verdict_row(self, &outsider, "update",
	                                           &res, NULL, &failed),
	                 VBX_ENOTFOUND);
	/* A plain run never answers VBX_ENOTFOUND: that is the verdict's. */
	assert_int_equal(
	        vbx_hook_authorize_run(authorize, &outsider, "update", &res),
	        VBX_EDENIED);
	/* Another team's membership says nothing of this team. */
	vbx_resource other = {"team", "00000000-0000-4000-9000-000000000999"};
	row = row_of("team", TADMIN);
	vbx_principal tadmin = principal(TADMIN, ALL_SCOPES);
	assert_int_equal(vbx_authorize_verdict_row(self, &tadmin, "read",
	                                           &other, &row, &failed),
	                 VBX_ENOTFOUND);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_matrix, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_verdict_on_the_row, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_scopes, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_broken_resources, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_store_down, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_role_change_is_immediate,
	                                        setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
