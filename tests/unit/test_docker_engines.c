/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_docker_engines.c - the pure parts of several engines: the
 * placement's choice (place.c), the usage read from the engine's list of
 * containers, broken answers included, and the container ids that name
 * their engine (engine.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "docker.h"

#define GIB (UINT64_C(1) << 30)
#define MIB_U (UINT64_C(1) << 20)

static dkr_candidate cand(const char *name, double cpus, uint64_t mem,
                          double used_cpus, uint64_t used_mem)
{
	dkr_candidate c = {.name = name,
	                   .up = true,
	                   .image_ok = true,
	                   .cpus = cpus,
	                   .memory = mem};
	c.used.cpus = used_cpus;
	c.used.memory = used_mem;
	return c;
}

/* The most free fraction after placing, the smaller of CPU and memory. */
static void test_pick_most_free(void **state)
{
	char why[512];
	dkr_candidate c[3] = {cand("a", 8, 16 * GIB, 4, 2 * GIB),
	                      cand("b", 4, 16 * GIB, 1, 2 * GIB),
	                      cand("c", 16, 4 * GIB, 0, 3 * GIB)};
	/* a: min(3/8, 13/16) = .375; b: min(2/4, 13/16) = .5; c: memory
	 * .0 after 1 GiB */
	assert_int_equal(dkr_place_pick(c, 3, 1, GIB, why, sizeof(why)), 1);
	/* b full: a */
	c[1].used.cpus = 4;
	assert_int_equal(dkr_place_pick(c, 3, 1, GIB, why, sizeof(why)), 0);
	/* ties go to the first */
	dkr_candidate t[2] = {cand("x", 4, 4 * GIB, 0, 0),
	                      cand("y", 4, 4 * GIB, 0, 0)};
	assert_int_equal(dkr_place_pick(t, 2, 1, GIB, why, sizeof(why)), 0);
	/* fills exactly */
	assert_int_equal(dkr_place_pick(t, 1, 4, 4 * GIB, why, sizeof(why)), 0);
}

static void test_pick_skips(void **state)
{
	char why[512];
	dkr_candidate c[4] = {cand("down", 8, 8 * GIB, 0, 0),
	                      cand("img", 8, 8 * GIB, 0, 0),
	                      cand("cpu", 1, 8 * GIB, 0.5, 0),
	                      cand("mem", 8, GIB, 0, 512 * MIB_U)};
	c[0].up = false;
	c[1].image_ok = false;
	assert_int_equal(dkr_place_pick(c, 4, 1, GIB, why, sizeof(why)), -1);
	assert_string_equal(why, "down: down; img: its images do not allow "
	                         "the image; cpu: not enough free CPUs; mem: "
	                         "not enough free memory");
	/* a why too short is cut, never overrun */
	char small[16];
	assert_int_equal(dkr_place_pick(c, 4, 1, GIB, small, sizeof(small)),
	                 -1);
	assert_int_equal(strlen(small), sizeof(small) - 1);
	/* no engines */
	assert_int_equal(dkr_place_pick(c, 0, 1, GIB, why, sizeof(why)), -1);
	assert_string_equal(why, "");
	/* no capacity limit counts as all free */
	dkr_candidate u = cand("u", 0, 0, 100, 100 * GIB);
	assert_int_equal(dkr_place_pick(&u, 1, 1, GIB, NULL, 0), 0);
}

static void usage_of(const char *json, int rc, double cpus, uint64_t mem,
                     size_t n)
{
	dkr_usage u;
	cJSON *j = cJSON_Parse(json);
	assert_int_equal(dkr_usage_parse(j, &u), rc);
	assert_true(u.cpus > cpus - 0.001 && u.cpus < cpus + 0.001);
	assert_int_equal(u.memory, mem);
	assert_int_equal(u.n, n);
	cJSON_Delete(j);
}

static void test_usage_parse(void **state)
{
	usage_of("[{\"Labels\":{\"io.vibebox.cpus\":\"1.50\","
	         "\"io.vibebox.memory-mib\":\"2048\"}},"
	         "{\"Labels\":{\"io.vibebox.cpus\":\"0.50\","
	         "\"io.vibebox.memory-mib\":\"512\"}}]",
	         VBX_OK, 2.0, 2560 * MIB_U, 2);
	/* an older container without the labels reserves nothing */
	usage_of("[{\"Labels\":{}},{}]", VBX_OK, 0, 0, 2);
	usage_of("[]", VBX_OK, 0, 0, 0);
	/* broken answers */
	usage_of("{}", VBX_EINVAL, 0, 0, 0);
	usage_of("null", VBX_EINVAL, 0, 0, 0);
	usage_of("[1, \"x\", null]", VBX_OK, 0, 0, 0);
	usage_of("[{\"Labels\":{\"io.vibebox.cpus\":\"-3\","
	         "\"io.vibebox.memory-mib\":\"1e999\"}}]",
	         VBX_OK, 0, 0, 1);
	usage_of("[{\"Labels\":{\"io.vibebox.cpus\":\"2x\","
	         "\"io.vibebox.memory-mib\":7}}]",
	         VBX_OK, 0, 0, 1);
	usage_of("[{\"Labels\":{\"io.vibebox.cpus\":\"nan\","
	         "\"io.vibebox.memory-mib\":\"\"}}]",
	         VBX_OK, 0, 0, 1);
	dkr_usage u;
	assert_int_equal(dkr_usage_parse(NULL, &u), VBX_EINVAL);
}

static void test_ids(void **state)
{
	dkr a = {.prefix_ids = true}, b = {.prefix_ids = true};
	dkr *eng[2] = {&a, &b};
	dkr d = {.eng = eng, .n_eng = 2};
	const char *raw;
	char out[VBX_CONTAINER_ID_LEN];
	snprintf(a.name, sizeof(a.name), "node-a");
	snprintf(b.name, sizeof(b.name), "node-b");

	assert_ptr_equal(dkr_route_find(&d, "node-b/abc123", &raw), &b);
	assert_string_equal(raw, "abc123");
	/* no slash: the first engine (created before the list) */
	assert_ptr_equal(dkr_route_find(&d, "abc123", &raw), &a);
	assert_string_equal(raw, "abc123");
	/* an engine no longer configured; a prefix of a name */
	assert_null(dkr_route_find(&d, "node-c/abc", &raw));
	assert_null(dkr_route_find(&d, "node/abc", &raw));
	assert_null(dkr_route_find(&d, "/abc", &raw));

	char full[65];
	memset(full, 'f', 64);
	full[64] = '\0';
	dkr_route_ext_id(&b, full, out);
	assert_int_equal(strlen(out), VBX_CONTAINER_ID_LEN - 1);
	assert_memory_equal(out, "node-b/ffff", 11);
	assert_ptr_equal(dkr_route_find(&d, out, &raw), &b);
	assert_true(strlen(raw) >= 40);
	/* the longest name still leaves 40 digits and more */
	memset(a.name, 'n', DKR_ENGINE_NAME_MAX);
	a.name[DKR_ENGINE_NAME_MAX] = '\0';
	dkr_route_ext_id(&a, full, out);
	assert_true(strlen(strchr(out, '/') + 1) >= 40);
	/* one engine: the id as the engine gives it */
	dkr one = {.prefix_ids = false};
	dkr_route_ext_id(&one, "abc", out);
	assert_string_equal(out, "abc");
	dkr *only[1] = {&one};
	dkr d1 = {.eng = only, .n_eng = 1};
	assert_ptr_equal(dkr_route_find(&d1, "abc", &raw), &one);
}

static void test_state(void **state)
{
	dkr e = {.prefix_ids = true};
	char why[256];
	int64_t since = -1;
	snprintf(e.name, sizeof(e.name), "node-b");
	e.state = dkr_state_new();
	assert_non_null(e.state);
	assert_int_equal(dkr_engine_get(&e, &since, why, sizeof(why)),
	                 DKR_ENGINE_UNKNOWN);
	assert_int_equal(dkr_engine_down(&e, why, sizeof(why)), VBX_OK);
	assert_true(dkr_engine_set(&e, false, "Connection refused"));
	assert_false(dkr_engine_set(&e, false, "Connection refused"));
	assert_int_equal(dkr_engine_get(&e, &since, NULL, 0), DKR_ENGINE_DOWN);
	assert_true(since > 0);
	assert_int_equal(dkr_engine_down(&e, why, sizeof(why)), VBX_EUNAVAIL);
	assert_string_equal(why, "engine node-b unreachable: Connection "
	                         "refused");
	assert_true(dkr_engine_set(&e, true, ""));
	assert_int_equal(dkr_engine_down(&e, why, sizeof(why)), VBX_OK);
	/* one engine: never refused up front */
	e.prefix_ids = false;
	dkr_engine_set(&e, false, "gone");
	assert_int_equal(dkr_engine_down(&e, why, sizeof(why)), VBX_OK);
	/* pending reservations add up and are taken back, never below 0 */
	double cpus;
	uint64_t mem;
	dkr_engine_reserve(&e, 1.5, GIB, true);
	dkr_engine_reserve(&e, 0.5, GIB, true);
	dkr_engine_pending(&e, &cpus, &mem);
	assert_true(cpus > 1.999 && cpus < 2.001);
	assert_int_equal(mem, 2 * GIB);
	dkr_engine_reserve(&e, 1.5, GIB, false);
	dkr_engine_reserve(&e, 9, 9 * GIB, false);
	dkr_engine_pending(&e, &cpus, &mem);
	assert_true(cpus == 0 && mem == 0);
	dkr_state_free(e.state);
	dkr none = {0};
	dkr_engine_reserve(&none, 1, 1, true); /* no state: nothing */
	dkr_engine_pending(&none, &cpus, &mem);
	assert_true(cpus == 0 && mem == 0);
	assert_int_equal(dkr_engine_get(&none, NULL, NULL, 0),
	                 DKR_ENGINE_UNKNOWN);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_pick_most_free),
	        cmocka_unit_test(test_pick_skips),
	        cmocka_unit_test(test_usage_parse),
	        cmocka_unit_test(test_ids),
	        cmocka_unit_test(test_state),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
