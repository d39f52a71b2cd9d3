/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_backup_s3xml.c - the little XML reader of backup-s3's S3 client
 * (s3xml.c): element text with entities, ListObjectsV2 pages, and broken
 * answers refused with a reason.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "s3.h"

static int text(const char *xml, const char *tag, char *out, size_t len)
{
	size_t pos = 0;

	return s3_xml_text(xml, strlen(xml), &pos, tag, out, len);
}

static void test_text(void **state)
{
	char out[64];
	(void)state;

	assert_int_equal(text("<a><UploadId>x-1_2</UploadId></a>", "UploadId",
	                      out, sizeof(out)),
	                 0);
	assert_string_equal(out, "x-1_2");
	assert_int_equal(text("<K>a&amp;b&lt;&gt;&quot;&apos;&#65;&#x42;</K>",
	                      "K", out, sizeof(out)),
	                 0);
	assert_string_equal(out, "a&b<>\"'AB");
	assert_int_equal(text("<K></K>", "K", out, sizeof(out)), 0);
	assert_string_equal(out, "");
	/* absent, unclosed, bad entities, nested markup, too long */
	assert_int_equal(text("<a>x</a>", "K", out, sizeof(out)), 1);
	assert_int_equal(text("<K>abc", "K", out, sizeof(out)), -1);
	assert_int_equal(text("<K>a&bogus;</K>", "K", out, sizeof(out)), -1);
	assert_int_equal(text("<K>a&amp</K>", "K", out, sizeof(out)), -1);
	assert_int_equal(text("<K>&#0;</K>", "K", out, sizeof(out)), -1);
	assert_int_equal(text("<K>&#200;</K>", "K", out, sizeof(out)), -1);
	assert_int_equal(text("<K>&#x;</K>", "K", out, sizeof(out)), -1);
	assert_int_equal(
	        text("<K>&#99999999999999999999;</K>", "K", out, sizeof(out)),
	        -1);
	assert_int_equal(text("<K>a<b/></K>", "K", out, sizeof(out)), -1);
	assert_int_equal(text("<K>abcdef</K>", "K", out, 4), -1);
}

struct seen {
	int n;
	char keys[4][S3_KEY_MAX];
	int64_t sizes[4];
};

static int collect(void *arg, const s3_object *o)
{
	struct seen *s = arg;

	if (s->n == 4)
		return 7;
	snprintf(s->keys[s->n], sizeof(s->keys[0]), "%s", o->key);
	s->sizes[s->n++] = o->size;
	return 0;
}

static int list(const char *xml, struct seen *s, int *truncated, char *token,
                char *err)
{
	memset(s, 0, sizeof(*s));
	return s3_xml_list(xml, strlen(xml), collect, s, truncated, token, 64,
	                   err, S3_ERR_MAX);
}

static void test_list(void **state)
{
	char token[64], err[S3_ERR_MAX];
	struct seen s;
	int truncated;
	(void)state;

	assert_int_equal(
	        list("<ListBucketResult><IsTruncated>true</IsTruncated>"
	             "<Contents><Key>db/a.enc</Key><LastModified>2026-12-07T03:"
	             "00:01.000Z</LastModified><Size>10</Size></Contents>"
	             "<Contents><Key>db/b&amp;.enc</Key><Size>0</Size>"
	             "</Contents><NextContinuationToken>t/+=</"
	             "NextContinuationToken></ListBucketResult>",
	             &s, &truncated, token, err),
	        0);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.keys[0], "db/a.enc");
	assert_string_equal(s.keys[1], "db/b&.enc");
	assert_int_equal(s.sizes[0], 10);
	assert_int_equal(truncated, 1);
	assert_string_equal(token, "t/+=");
	assert_int_equal(list("<ListBucketResult><KeyCount>0</KeyCount>"
	                      "<IsTruncated>false</IsTruncated>"
	                      "</ListBucketResult>",
	                      &s, &truncated, token, err),
	                 0);
	assert_int_equal(s.n, 0);
	assert_int_equal(truncated, 0);
	/* the callback's value stops the list */
	assert_int_equal(list("<Contents><Key>1</Key><Size>1</Size></Contents>"
	                      "<Contents><Key>2</Key><Size>1</Size></Contents>"
	                      "<Contents><Key>3</Key><Size>1</Size></Contents>"
	                      "<Contents><Key>4</Key><Size>1</Size></Contents>"
	                      "<Contents><Key>5</Key><Size>1</Size></Contents>",
	                      &s, &truncated, token, err),
	                 7);
}

static void expect_broken(const char *xml, const char *why)
{
	char token[64], err[S3_ERR_MAX] = "";
	struct seen s;
	int truncated;

	assert_int_equal(list(xml, &s, &truncated, token, err), -1);
	if (!strstr(err, why))
		fail_msg("%s: got \"%s\", want \"%s\"", xml, err, why);
}

static void test_list_broken(void **state)
{
	(void)state;
	expect_broken("<Contents><Key>a</Key><Size>1</Size>", "not closed");
	expect_broken("<Contents><Size>1</Size></Contents>", "valid <Key>");
	expect_broken("<Contents><Key></Key><Size>1</Size></Contents>",
	              "valid <Key>");
	expect_broken("<Contents><Key>a</Key></Contents>",
	              "a: no valid <Size>");
	expect_broken("<Contents><Key>a</Key><Size>-1</Size></Contents>",
	              "no valid <Size>");
	expect_broken("<Contents><Key>a</Key><Size>12x</Size></Contents>",
	              "no valid <Size>");
	expect_broken("<Contents><Key>a</Key><Size>1</Size><LastModified>x"
	              "</Contents>",
	              "bad <LastModified>");
	expect_broken("<IsTruncated>true</IsTruncated>",
	              "no valid <NextContinuationToken>");
	expect_broken("<IsTruncated>true</IsTruncated><NextContinuationToken>"
	              "</NextContinuationToken>",
	              "no valid <NextContinuationToken>");
}

static void test_key_ok(void **state)
{
	char long_key[S3_KEY_MAX + 1];
	(void)state;

	assert_true(s3_key_ok("db/20261207T030000Z.dump.gz.enc"));
	assert_false(s3_key_ok(""));
	assert_false(s3_key_ok("/db/x"));
	assert_false(s3_key_ok("db/2026-12-07T03:00:00Z"));
	assert_false(s3_key_ok("db/a b"));
	assert_false(s3_key_ok("db/x?y"));
	memset(long_key, 'a', S3_KEY_MAX);
	long_key[S3_KEY_MAX] = '\0';
	assert_false(s3_key_ok(long_key));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_text),
	        cmocka_unit_test(test_list),
	        cmocka_unit_test(test_list_broken),
	        cmocka_unit_test(test_key_ok),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
