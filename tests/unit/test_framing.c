/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_framing.c - how a request body is framed from its head: the
 * Content-Length and Transfer-Encoding parsers and every refusal of
 * vbx__framing_check() (smuggling shapes, 411 for chunked bodies); and
 * the other direction: a plugin's answer cannot break the response's
 * framing with a line break in a header or a bad status.
 */
#include "vbx_build.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "framing.h"
#include "request.h"

static void test_content_length(void **state)
{
	uint64_t v = 99;
	(void)state;
	assert_true(vbx__content_length_parse("0", &v) && v == 0);
	assert_true(vbx__content_length_parse("42", &v) && v == 42);
	assert_true(vbx__content_length_parse(" 7\t", &v) && v == 7);
	assert_true(vbx__content_length_parse("9999999999999999999", &v) &&
	            v == UINT64_C(9999999999999999999));
	v = 99;
	const char *bad[] = {"",
	                     " ",
	                     "-1",
	                     "+1",
	                     "1,1",
	                     "1 1",
	                     "0x10",
	                     "1e3",
	                     "12a",
	                     "٣",
	                     "\t-0",
	                     "18446744073709551616",
	                     "00000000000000000000"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		assert_false(vbx__content_length_parse(bad[i], &v));
		assert_int_equal(v, 99);
	}
	assert_false(vbx__content_length_parse(NULL, &v));
}

static void test_te_ends_chunked(void **state)
{
	(void)state;
	assert_true(vbx__te_ends_chunked("chunked"));
	assert_true(vbx__te_ends_chunked("Chunked "));
	assert_true(vbx__te_ends_chunked("gzip, chunked"));
	assert_true(vbx__te_ends_chunked("gzip,chunked"));
	assert_false(vbx__te_ends_chunked("chunked, gzip"));
	assert_false(vbx__te_ends_chunked("xchunked"));
	assert_false(vbx__te_ends_chunked("chunked;x=1"));
	assert_false(vbx__te_ends_chunked("identity"));
	assert_false(vbx__te_ends_chunked(""));
	assert_false(vbx__te_ends_chunked(NULL));
}

static int check(const char *method, const char *cl, const char *te,
                 const char *dup, vbx__framing *f)
{
	vbx__head h = {.method = method,
	               .content_length = cl,
	               .transfer_encoding = te,
	               .duplicate = dup};
	return vbx__framing_check(&h, f);
}

static void test_refusals(void **state)
{
	vbx__framing f;
	(void)state;
	/* smuggling: two framings, or a framing we do not read */
	assert_int_equal(check("POST", "4", "chunked", NULL, &f), 400);
	assert_true(f.close_after && f.message);
	assert_int_equal(check("GET", "0", "chunked", NULL, &f), 400);
	assert_int_equal(check("POST", NULL, "chunked", NULL, &f), 411);
	assert_true(f.close_after);
	assert_int_equal(check("GET", NULL, "chunked", NULL, &f), 411);
	assert_int_equal(check("POST", NULL, "chunked, gzip", NULL, &f), 400);
	assert_int_equal(check("POST", NULL, "", NULL, &f), 400);
	assert_int_equal(check("POST", "2", NULL, "Content-Length", &f), 400);
	assert_int_equal(check("GET", NULL, NULL, "Host", &f), 400);
	assert_true(f.close_after);
	vbx__head spaced = {.method = "POST", .space_before_colon = true};
	assert_int_equal(vbx__framing_check(&spaced, &f), 400);
	assert_true(f.close_after);
	assert_int_equal(check("POST", "-1", NULL, NULL, &f), 400);
	assert_int_equal(check("POST", "2, 2", NULL, NULL, &f), 400);
	assert_false(f.has_length);
}

static void test_accepted(void **state)
{
	vbx__framing f;
	(void)state;
	assert_int_equal(check("POST", "12", NULL, NULL, &f), 0);
	assert_true(f.has_length && f.length == 12 && !f.close_after);
	assert_int_equal(check("GET", NULL, NULL, NULL, &f), 0);
	assert_true(!f.has_length && !f.close_after);
	assert_int_equal(check("DELETE", NULL, NULL, NULL, &f), 0);
	assert_false(f.close_after);
	/* no length on a body method: no body, but the connection closes */
	assert_int_equal(check("POST", NULL, NULL, NULL, &f), 0);
	assert_true(f.close_after && !f.has_length);
	assert_int_equal(check("PATCH", NULL, NULL, NULL, &f), 0);
	assert_true(f.close_after);
}

static void test_response_headers_stay_headers(void **state)
{
	(void)state;
	vbx_request *r = vbx__request_new(NULL);
	assert_non_null(r);
	assert_int_equal(
	        vbx__resp_body(r, 200, "text/plain\r\nX-Evil: 1", "x", 1),
	        VBX_EINVAL);
	assert_int_equal(vbx__resp_body(r, 200, "text/plain\nX: 1", "x", 1),
	                 VBX_EINVAL);
	assert_int_equal(vbx__resp_body(r, 99, "text/plain", "x", 1),
	                 VBX_EINVAL);
	assert_int_equal(vbx__resp_body(r, 600, "text/plain", "x", 1),
	                 VBX_EINVAL);
	assert_int_equal(vbx__resp_header(r, "X-A", "v\r\nSet-Cookie: a=b"),
	                 VBX_EINVAL);
	assert_int_equal(r->status, 0);
	assert_int_equal(r->nresp_headers, 0);
	assert_int_equal(vbx__resp_body(r, 200, "text/plain", "x", 1), VBX_OK);
	assert_string_equal(r->content_type, "text/plain");
	vbx__request_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_content_length),
	        cmocka_unit_test(test_te_ends_chunked),
	        cmocka_unit_test(test_refusals),
	        cmocka_unit_test(test_accepted),
	        cmocka_unit_test(test_response_headers_stay_headers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
