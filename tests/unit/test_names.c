/* Unit tests of daemon/names.c: VM name allocation. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "names.h"

/* Deterministic random source: a linear congruential generator. */
static uint32_t test_random(void *data)
{
	uint32_t *state = data;

	*state = *state * 1664525u + 1013904223u;
	return *state >> 8;
}

/* A random source stuck on one value, to force collisions. */
static uint32_t constant_random(void *data)
{
	return *(uint32_t *)data;
}

static void names_format(void **state)
{
	struct name_pool *pool = malloc(sizeof(*pool));
	uint32_t seed = 1;
	char name[NAMES_BUFFER_SIZE];

	(void)state;
	names_init(pool, test_random, &seed);
	for (int i = 0; i < 100; i++) {
		int number = names_acquire(pool, name, sizeof(name));

		assert_in_range(number, 1, NAMES_MAX);
		assert_int_equal(strncmp(name, "disp", 4), 0);
		assert_int_equal(names_parse(name), number);
	}
	assert_int_equal(names_parse("disp0"), -EINVAL);
	assert_int_equal(names_parse("disp012"), -EINVAL);
	assert_int_equal(names_parse("disp10000"), -EINVAL);
	assert_int_equal(names_parse("vm12"), -EINVAL);
	assert_int_equal(names_parse("disp"), -EINVAL);
	assert_int_equal(names_parse("disp9999"), 9999);
	free(pool);
}

static void names_unique_among_live(void **state)
{
	struct name_pool *pool = malloc(sizeof(*pool));
	bool *seen = calloc(NAMES_MAX + 1, sizeof(bool));
	uint32_t value = 42;
	char name[NAMES_BUFFER_SIZE];

	(void)state;
	/* A constant random source makes every pick collide after the first. */
	names_init(pool, constant_random, &value);
	for (int i = 0; i < 500; i++) {
		int number = names_acquire(pool, name, sizeof(name));

		assert_true(number > 0);
		assert_false(seen[number]);
		seen[number] = true;
	}
	free(seen);
	free(pool);
}

static void names_recent_not_reused(void **state)
{
	struct name_pool *pool = malloc(sizeof(*pool));
	uint32_t value = 7;
	char name[NAMES_BUFFER_SIZE];
	int released[NAMES_RECENT];

	(void)state;
	names_init(pool, constant_random, &value);
	for (unsigned i = 0; i < NAMES_RECENT; i++) {
		released[i] = names_acquire(pool, name, sizeof(name));
		names_release(pool, (unsigned)released[i]);
	}
	/* All of these were released recently, so new picks avoid them. */
	for (unsigned i = 0; i < 100; i++) {
		int number = names_acquire(pool, name, sizeof(name));

		for (unsigned j = 0; j < NAMES_RECENT; j++)
			assert_int_not_equal(number, released[j]);
	}
	free(pool);
}

static void names_exhaustion(void **state)
{
	struct name_pool *pool = malloc(sizeof(*pool));
	uint32_t seed = 3;
	char name[NAMES_BUFFER_SIZE];

	(void)state;
	names_init(pool, test_random, &seed);
	for (unsigned i = 0; i < NAMES_MAX; i++)
		assert_true(names_acquire(pool, name, sizeof(name)) > 0);
	assert_int_equal(names_acquire(pool, name, sizeof(name)), -ENOSPC);

	/* A released name comes back when it is the only free one. */
	names_release(pool, 1234);
	assert_int_equal(names_acquire(pool, name, sizeof(name)), 1234);
	assert_string_equal(name, "disp1234");
	free(pool);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(names_format),
		cmocka_unit_test(names_unique_among_live),
		cmocka_unit_test(names_recent_not_reused),
		cmocka_unit_test(names_exhaustion),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
