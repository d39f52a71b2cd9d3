/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_platform_singleton.c - a job on one replica at a time
 * (plugins/platform/singleton.c) against a double of the lock provider:
 * cache_lock and cache_unlock registered by the test in the fake host of
 * libvibebox-test, on a clock the test moves. Two vbx__single on the one
 * provider are two replicas.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vibebox/testing.h>

#include "singleton.h"

#define NAME "platform:lifecycle"
#define TTL INT64_C(15000)
#define T0 INT64_C(1700000000000)

/* The provider's state: one lock, as a Redis server would keep it. */
static struct fake {
	char holder[48]; /* owner token of the hold; "" free */
	uint64_t fence;  /* the last fence given */
	int64_t expires; /* the hold lapses then */
	bool down;       /* the server does not answer */
	int64_t now;     /* the clock the test moves */
	int locks, unlocks;
	char last_name[VBX_CACHE_KEY_MAX];
} F;

static bool live(void)
{
	return F.holder[0] && F.now < F.expires;
}

static int fake_lock(void *ud, const char *name, int64_t ttl_ms, vbx_lock *l)
{
	F.locks++;
	snprintf(F.last_name, sizeof(F.last_name), "%s", name);
	if (F.down)
		return VBX_EUNAVAIL;
	if (live() && strcmp(F.holder, l->owner) != 0) {
		memset(l, 0, sizeof(*l));
		return VBX_EEXIST;
	}
	if (!live()) { /* free or lapsed: a new hold */
		F.fence++;
		snprintf(F.holder, sizeof(F.holder), "hold-%llu",
		         (unsigned long long)F.fence);
	}
	F.expires = F.now + ttl_ms;
	*l = (vbx_lock){
	        .version = 1, .fence = F.fence, .expires_ms = F.expires};
	snprintf(l->owner, sizeof(l->owner), "%s", F.holder);
	return VBX_OK;
}

static int fake_unlock(void *ud, const char *name, vbx_lock *l)
{
	F.unlocks++;
	if (F.down)
		return VBX_EUNAVAIL;
	int rc = VBX_ENOTFOUND;
	if (live() && strcmp(F.holder, l->owner) == 0) {
		F.holder[0] = '\0';
		rc = VBX_OK;
	}
	memset(l, 0, sizeof(*l));
	return rc;
}

/* Another replica takes the lock (it lapsed, or was free). */
static void other_takes_it(void)
{
	F.fence++;
	snprintf(F.holder, sizeof(F.holder), "other");
	F.expires = F.now + TTL;
}

typedef struct world {
	vbx_test_host *h;
	vbx__single a, b; /* two replicas */
} world;

/* A host with the provider double (with_provider) or without, and two
 * jobs on it, started. */
static world *world_new(bool with_provider)
{
	world *w = calloc(1, sizeof(*w));
	assert_non_null(w);
	memset(&F, 0, sizeof(F));
	F.now = T0;
	w->h = vbx_test_host_new();
	assert_non_null(w->h);
	vbx_plugin *p = vbx_test_plugin(w->h);
	if (with_provider) {
		assert_int_equal(vbx_hook_cache_lock_register(
		                         p, fake_lock, NULL, VBX_PRIO_MIDDLE),
		                 VBX_OK);
		assert_int_equal(vbx_hook_cache_unlock_register(
		                         p, fake_unlock, NULL, VBX_PRIO_MIDDLE),
		                 VBX_OK);
	}
	assert_int_equal(vbx__single_init(&w->a, p, NAME), VBX_OK);
	assert_int_equal(vbx__single_init(&w->b, p, NAME), VBX_OK);
	assert_int_equal(vbx_test_start(w->h), VBX_OK);
	return w;
}

static int setup_provider(void **state)
{
	*state = world_new(true);
	return 0;
}

static int setup_alone(void **state)
{
	*state = world_new(false);
	return 0;
}

static int teardown(void **state)
{
	world *w = *state;
	vbx_test_host_free(w->h);
	free(w);
	return 0;
}

static vbx__single_role role(vbx__single *s)
{
	return vbx__single_status(s, NULL, NULL);
}

static uint64_t fence_of(vbx__single *s)
{
	uint64_t f;
	vbx__single_status(s, &f, NULL);
	return f;
}

/* No provider (one replica): every turn runs, nothing is asked. */
static void test_alone_runs(void **state)
{
	world *w = *state;
	assert_true(vbx__single_turn(&w->a, TTL, F.now));
	assert_true(vbx__single_turn(&w->b, TTL, F.now));
	assert_int_equal(role(&w->a), VBX__SINGLE_ALONE);
	assert_true(vbx__single_held(&w->a, TTL, F.now + 10 * TTL));
	vbx__single_ran(&w->a);
	vbx__single_ran(&w->a);
	uint64_t runs;
	vbx__single_status(&w->a, NULL, &runs);
	assert_int_equal(runs, 2);
	vbx__single_release(&w->a);
	assert_int_equal(role(&w->a), VBX__SINGLE_NONE);
	assert_int_equal(F.locks + F.unlocks, 0);
	assert_string_equal(vbx__single_role_name(VBX__SINGLE_ALONE), "alone");
}

/* One runner, one standby; renewal at a third of the TTL keeps the
 * fence; a turn before that asks nothing. */
static void test_runner_and_standby(void **state)
{
	world *w = *state;
	assert_true(vbx__single_turn(&w->a, TTL, F.now));
	assert_int_equal(role(&w->a), VBX__SINGLE_RUNNER);
	assert_int_equal(fence_of(&w->a), 1);
	assert_string_equal(F.last_name, NAME);
	assert_false(vbx__single_turn(&w->b, TTL, F.now));
	assert_int_equal(role(&w->b), VBX__SINGLE_STANDBY);
	assert_false(vbx__single_held(&w->b, TTL, F.now));

	int locks = F.locks;
	F.now += TTL / 3 - 1;
	assert_true(vbx__single_turn(&w->a, TTL, F.now));
	assert_true(vbx__single_held(&w->a, TTL, F.now));
	assert_int_equal(F.locks, locks); /* not due yet */
	F.now += 1;
	assert_true(vbx__single_turn(&w->a, TTL, F.now));
	assert_int_equal(F.locks, locks + 1);
	assert_int_equal(F.expires, F.now + TTL);
	assert_int_equal(fence_of(&w->a), 1);
	/* renewed every third: the standby never gets it */
	for (int i = 0; i < 9; i++) {
		F.now += TTL / 3;
		assert_true(vbx__single_turn(&w->a, TTL, F.now));
		assert_false(vbx__single_turn(&w->b, TTL, F.now));
	}
	assert_int_equal(fence_of(&w->a), 1);
}

/* The runner dies (stops renewing): the standby takes over once the
 * hold lapses, with a larger fence. */
static void test_takeover_after_ttl(void **state)
{
	world *w = *state;
	assert_true(vbx__single_turn(&w->a, TTL, F.now));
	assert_false(vbx__single_turn(&w->b, TTL, F.now));
	F.now += TTL - 1;
	assert_false(vbx__single_turn(&w->b, TTL, F.now));
	F.now += 1;
	assert_true(vbx__single_turn(&w->b, TTL, F.now));
	assert_int_equal(role(&w->b), VBX__SINGLE_RUNNER);
	assert_int_equal(fence_of(&w->b), 2);
}

/* A runner paused past its TTL finds another holder: held() says stop,
 * and it stands by. */
static void test_lost_during_a_job(void **state)
{
	world *w = *state;
	assert_true(vbx__single_turn(&w->a, TTL, F.now));
	F.now += TTL + 1;
	other_takes_it();
	assert_false(vbx__single_held(&w->a, TTL, F.now));
	assert_int_equal(role(&w->a), VBX__SINGLE_STANDBY);
	assert_int_equal(fence_of(&w->a), 1); /* the hold it lost */
	assert_false(vbx__single_turn(&w->a, TTL, F.now));
	/* a hold that lapsed with nobody else taking it is taken anew */
	F.now += TTL;
	assert_true(vbx__single_turn(&w->a, TTL, F.now));
	assert_int_equal(fence_of(&w->a), 3);
}

/* A renewal that meets an outage runs the job locally, and keeps the
 * hold: renewed when the server is back before it lapsed. */
static void test_outage_keeps_the_hold(void **state)
{
	world *w = *state;
	assert_true(vbx__single_turn(&w->a, TTL, F.now));
	/* renewal due, but the server went down: the fallback runs */
	F.now += TTL / 2;
	F.down = true;
	assert_true(vbx__single_held(&w->a, TTL, F.now));
	assert_int_equal(role(&w->a), VBX__SINGLE_LOCAL);
	F.down = false;
	/* back before the hold lapsed: renewed, the same fence */
	assert_true(vbx__single_turn(&w->a, TTL, F.now));
	assert_int_equal(role(&w->a), VBX__SINGLE_RUNNER);
	assert_int_equal(fence_of(&w->a), 1);
}

/* The server down: both replicas run (the documented fallback); back,
 * one runs again. */
static void test_unavailable_runs_locally(void **state)
{
	world *w = *state;
	F.down = true;
	assert_true(vbx__single_turn(&w->a, TTL, F.now));
	assert_true(vbx__single_turn(&w->b, TTL, F.now));
	assert_int_equal(role(&w->a), VBX__SINGLE_LOCAL);
	assert_int_equal(role(&w->b), VBX__SINGLE_LOCAL);
	assert_true(vbx__single_held(&w->a, TTL, F.now));
	F.now += 1000;
	F.down = false;
	assert_true(vbx__single_turn(&w->a, TTL, F.now));
	assert_false(vbx__single_turn(&w->b, TTL, F.now));
	assert_int_equal(role(&w->a), VBX__SINGLE_RUNNER);
	assert_int_equal(role(&w->b), VBX__SINGLE_STANDBY);
}

/* Release at stop: the other replica takes over at its next turn, not
 * a TTL later. */
static void test_release_hands_over(void **state)
{
	world *w = *state;
	assert_true(vbx__single_turn(&w->a, TTL, F.now));
	assert_false(vbx__single_turn(&w->b, TTL, F.now));
	vbx__single_release(&w->a);
	assert_int_equal(F.unlocks, 1);
	assert_string_equal(F.holder, "");
	assert_int_equal(role(&w->a), VBX__SINGLE_NONE);
	F.now += 500;
	assert_true(vbx__single_turn(&w->b, TTL, F.now));
	assert_int_equal(fence_of(&w->b), 2);
	/* a standby's release asks nothing */
	vbx__single_release(&w->a);
	assert_int_equal(F.unlocks, 1);
	/* a release while the server is down: the hold lapses by itself */
	F.down = true;
	vbx__single_release(&w->b);
	assert_int_equal(F.unlocks, 2);
	assert_int_equal(role(&w->b), VBX__SINGLE_NONE);
	F.down = false;
	F.now += TTL;
	assert_true(vbx__single_turn(&w->a, TTL, F.now));
	assert_int_equal(fence_of(&w->a), 3);
}

static void test_bad_names(void **state)
{
	world *w = *state;
	vbx__single s;
	char longname[VBX_CACHE_KEY_MAX + 1];
	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	vbx_plugin *p = vbx_test_plugin(w->h);
	assert_int_equal(vbx__single_init(&s, p, ""), VBX_EINVAL);
	assert_int_equal(vbx__single_init(&s, p, NULL), VBX_EINVAL);
	assert_int_equal(vbx__single_init(&s, p, longname), VBX_EINVAL);
	longname[VBX_CACHE_KEY_MAX - 1] = '\0';
	assert_int_equal(vbx__single_init(&s, p, longname), VBX_OK);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_alone_runs, setup_alone,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_runner_and_standby,
	                                        setup_provider, teardown),
	        cmocka_unit_test_setup_teardown(test_takeover_after_ttl,
	                                        setup_provider, teardown),
	        cmocka_unit_test_setup_teardown(test_lost_during_a_job,
	                                        setup_provider, teardown),
	        cmocka_unit_test_setup_teardown(test_outage_keeps_the_hold,
	                                        setup_provider, teardown),
	        cmocka_unit_test_setup_teardown(test_unavailable_runs_locally,
	                                        setup_provider, teardown),
	        cmocka_unit_test_setup_teardown(test_release_hands_over,
	                                        setup_provider, teardown),
	        cmocka_unit_test_setup_teardown(test_bad_names, setup_provider,
	                                        teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
