/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_docker_firewall.c - docker-runtime's firewall.c, the pure parts:
 * the bridge name the block_host rules match (an interface name fits in
 * 15 characters) and the chain's rules as `iptables -S` prints them. The
 * rules at work are tests/integration/test_block_host.py's.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "docker.h"

static void test_bridge_name_of_a_uuid(void **state)
{
	char br[DKR_BRIDGE_NAME_LEN];
	(void)state;
	assert_int_equal(
	        dkr_bridge_name("7c9e6679-7425-40de-944b-e07fc1f90ae7", br),
	        VBX_OK);
	assert_string_equal(br, "vbx-7c9e6679742");
	assert_int_equal(strlen(br), 15);
	/* The dashes do not count: 11 hex digits across the first one. */
	assert_int_equal(dkr_bridge_name("01234567-89ab", br), VBX_OK);
	assert_string_equal(br, "vbx-0123456789a");
}

static void test_bridge_name_refuses_what_is_no_id(void **state)
{
	char br[DKR_BRIDGE_NAME_LEN];
	(void)state;
	const char *bad[] = {"",
	                     "7c9e",
	                     "7c9e6679-74",
	                     "7c9e6679-74z5-40de",
	                     "../../../../etc",
	                     "7C9E6679-7425-40DE-944B",
	                     "7c9e 6679 7425 40de"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		assert_int_equal(dkr_bridge_name(bad[i], br), VBX_EINVAL);
		assert_true(strlen(br) < DKR_BRIDGE_NAME_LEN);
	}
}

static void test_expected_rules(void **state)
{
	char out[1024];
	(void)state;
	size_t n = dkr_fw_expected(out, sizeof(out));
	assert_int_equal(n, strlen(out));
	assert_string_equal(
	        out, "-N VIBEBOX-HOST\n"
	             "-A VIBEBOX-HOST -m conntrack --ctstate "
	             "RELATED,ESTABLISHED -j RETURN\n"
	             "-A VIBEBOX-HOST -p udp -m udp --dport 53 -j RETURN\n"
	             "-A VIBEBOX-HOST -p tcp -m tcp --dport 53 -j RETURN\n"
	             "-A VIBEBOX-HOST -j REJECT --reject-with "
	             "icmp-port-unreachable\n");
	/* Too small a buffer: cut, terminated, never overrun. */
	char small[20];
	memset(small, 'x', sizeof(small));
	assert_true(dkr_fw_expected(small, sizeof(small)) >= sizeof(small));
	assert_int_equal(strlen(small), sizeof(small) - 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_bridge_name_of_a_uuid),
	        cmocka_unit_test(test_bridge_name_refuses_what_is_no_id),
	        cmocka_unit_test(test_expected_rules),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
