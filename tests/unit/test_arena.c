/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_arena.c - the per-request arena: alignment, growth, big
 * allocations, strings, reset and overflow.
 */
#include "vbx_build.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "arena.h"

/* Huge requests must fail with NULL, also under AddressSanitizer, which
 * otherwise aborts on them. Unused without ASan. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
	return "allocator_may_return_null=1";
}

static void assert_aligned(const void *p)
{
	assert_non_null(p);
	assert_int_equal((uintptr_t)p % VBX__ARENA_ALIGN, 0);
}

static void test_new_and_free(void **state)
{
	vbx__arena *a = vbx__arena_new(0);
	assert_non_null(a);
	assert_int_equal(vbx__arena_chunk_count(a), 1);
	vbx__arena_free(a);
	vbx__arena_free(NULL);
	vbx__arena_reset(NULL);
	assert_int_equal(vbx__arena_chunk_count(NULL), 0);
	assert_null(vbx__arena_alloc(NULL, 8));
}

static void test_alignment(void **state)
{
	vbx__arena *a = vbx__arena_new(256);
	/* Odd sizes would misalign a naive bump allocator. */
	for (size_t n = 0; n < 200; n++) {
		unsigned char *p = vbx__arena_alloc(a, n % 37);
		assert_aligned(p);
		memset(p, 0xab, n % 37);
	}
	vbx__arena_free(a);
}

static void test_distinct_and_intact(void **state)
{
	enum { N = 1000 };
	vbx__arena *a = vbx__arena_new(128);
	unsigned char *ptrs[N];
	size_t sizes[N];

	for (size_t i = 0; i < N; i++) {
		sizes[i] = (i * 7919) % 300;
		ptrs[i] = vbx__arena_alloc(a, sizes[i]);
		assert_aligned(ptrs[i]);
		memset(ptrs[i], (int)(i & 0xff), sizes[i]);
	}
	/* Nothing overlapped: every block still holds its own pattern. */
	for (size_t i = 0; i < N; i++)
		for (size_t j = 0; j < sizes[i]; j++)
			assert_int_equal(ptrs[i][j], i & 0xff);
	/* Zero-sized allocations are distinct pointers too. */
	void *z1 = vbx__arena_alloc(a, 0), *z2 = vbx__arena_alloc(a, 0);
	assert_non_null(z1);
	assert_non_null(z2);
	assert_ptr_not_equal(z1, z2);
	vbx__arena_free(a);
}

static void test_growth_doubles(void **state)
{
	vbx__arena *a = vbx__arena_new(64);
	/* 64 + 128 + 256 + 512 = 960 bytes in four chunks; 16-byte blocks
	 * pack without padding, so 60 of them fit in exactly four chunks. */
	for (int i = 0; i < 60; i++)
		assert_aligned(vbx__arena_alloc(a, 16));
	assert_int_equal(vbx__arena_chunk_count(a), 4);
	assert_aligned(vbx__arena_alloc(a, 16));
	assert_int_equal(vbx__arena_chunk_count(a), 5);
	vbx__arena_free(a);
}

static void test_big_allocation_own_chunk(void **state)
{
	vbx__arena *a = vbx__arena_new(1024);
	unsigned char *small1 = vbx__arena_alloc(a, 16);
	unsigned char *big = vbx__arena_alloc(a, 1 << 20);
	assert_aligned(big);
	memset(big, 0x5a, 1 << 20);
	assert_int_equal(vbx__arena_chunk_count(a), 2);
	/* The big block got its own chunk: small ones still come from the
	 * first chunk, right after the first small one. */
	unsigned char *small2 = vbx__arena_alloc(a, 16);
	assert_ptr_equal(small2, small1 + 16);
	assert_int_equal(vbx__arena_chunk_count(a), 2);
	assert_int_equal(big[(1 << 20) - 1], 0x5a);
	vbx__arena_free(a);
}

static void test_reset_keeps_first_chunk(void **state)
{
	vbx__arena *a = vbx__arena_new(256);
	void *first = vbx__arena_alloc(a, 32);
	for (int i = 0; i < 100; i++)
		assert_non_null(vbx__arena_alloc(a, 100));
	assert_non_null(vbx__arena_alloc(a, 100000));
	assert_true(vbx__arena_chunk_count(a) > 2);

	vbx__arena_reset(a);
	assert_int_equal(vbx__arena_chunk_count(a), 1);
	/* The first chunk is reused from its start. */
	assert_ptr_equal(vbx__arena_alloc(a, 32), first);
	/* And growth starts over from the first size. */
	for (int i = 0; i < 7; i++)
		assert_non_null(vbx__arena_alloc(a, 32));
	assert_int_equal(vbx__arena_chunk_count(a), 1);
	assert_non_null(vbx__arena_alloc(a, 32));
	assert_int_equal(vbx__arena_chunk_count(a), 2);
	vbx__arena_reset(a);
	vbx__arena_reset(a);
	assert_int_equal(vbx__arena_chunk_count(a), 1);
	vbx__arena_free(a);
}

static void test_overflow(void **state)
{
	vbx__arena *a = vbx__arena_new(64);
	assert_null(vbx__arena_alloc(a, SIZE_MAX));
	assert_null(vbx__arena_alloc(a, SIZE_MAX - 8));
	assert_null(vbx__arena_alloc(a, SIZE_MAX / 2));
	/* Below that limit but more than any machine has: malloc says no. */
	assert_null(vbx__arena_alloc(a, (size_t)1 << 62));
	assert_null(vbx__arena_calloc(a, SIZE_MAX / 2, 3));
	assert_null(vbx__arena_memdup(a, "x", SIZE_MAX));
	/* A failed request leaves the arena usable. */
	char *s = vbx__arena_strdup(a, "still here");
	assert_string_equal(s, "still here");
	vbx__arena_free(a);

	assert_null(vbx__arena_new(SIZE_MAX));
	assert_null(vbx__arena_new(SIZE_MAX - 16));
	assert_null(vbx__arena_new((size_t)1 << 62));
}

static void test_strings(void **state)
{
	vbx__arena *a = vbx__arena_new(32);
	assert_null(vbx__arena_strdup(a, NULL));
	assert_null(vbx__arena_strndup(a, NULL, 3));
	assert_string_equal(vbx__arena_strdup(a, ""), "");
	assert_string_equal(vbx__arena_strdup(a, "hello"), "hello");
	assert_string_equal(vbx__arena_strndup(a, "hello", 3), "hel");
	assert_string_equal(vbx__arena_strndup(a, "hi", 10), "hi");
	assert_string_equal(vbx__arena_strndup(a, "hello", 0), "");

	char *m = vbx__arena_memdup(a, "a\0b", 3);
	assert_memory_equal(m, "a\0b", 3);
	assert_int_equal(m[3], '\0');

	char *p = vbx__arena_printf(a, "%s/%d/%05.1f", "team", 42, 3.14159);
	assert_string_equal(p, "team/42/003.1");
	assert_aligned(p);

	/* A long string forces a new chunk mid-format. */
	char big[3000];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	char *q = vbx__arena_printf(a, "<%s>", big);
	assert_int_equal(strlen(q), sizeof(big) + 1);
	assert_int_equal(q[0], '<');
	assert_int_equal(q[sizeof(big)], '>');
	assert_string_equal(vbx__arena_printf(a, "%s", ""), "");

	int *zeros = vbx__arena_calloc(a, 50, sizeof(int));
	for (int i = 0; i < 50; i++)
		assert_int_equal(zeros[i], 0);
	vbx__arena_free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_new_and_free),
	        cmocka_unit_test(test_alignment),
	        cmocka_unit_test(test_distinct_and_intact),
	        cmocka_unit_test(test_growth_doubles),
	        cmocka_unit_test(test_big_allocation_own_chunk),
	        cmocka_unit_test(test_reset_keeps_first_chunk),
	        cmocka_unit_test(test_overflow),
	        cmocka_unit_test(test_strings),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
