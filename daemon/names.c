/* Allocation of VM names; pure code without I/O except getrandom. */
#include "names.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

/* Random tries before falling back to a scan, which keeps picks spread out
 * while the pool is nearly empty and bounded when it is nearly full. */
#define NAMES_RANDOM_TRIES 64

static uint32_t system_random(void *data)
{
	uint32_t value = 0;

	(void)data;
	if (getrandom(&value, sizeof(value), 0) != sizeof(value))
		value = 0;
	return value;
}

void names_init(struct name_pool *pool, names_random_fn random, void *random_data)
{
	memset(pool, 0, sizeof(*pool));
	pool->random = random != NULL ? random : system_random;
	pool->random_data = random_data;
}

static bool is_recent(const struct name_pool *pool, unsigned number)
{
	for (size_t i = 0; i < pool->recent_count; i++) {
		if (pool->recent[i] == number)
			return true;
	}
	return false;
}

static bool is_candidate(const struct name_pool *pool, unsigned number, bool avoid_recent)
{
	if (pool->live[number])
		return false;
	return !avoid_recent || !is_recent(pool, number);
}

static unsigned draw(struct name_pool *pool)
{
	return pool->random(pool->random_data) % NAMES_MAX + 1;
}

/* Scan all numbers once, starting at a random one. Returns 0 if none fit. */
static unsigned scan(struct name_pool *pool, bool avoid_recent)
{
	unsigned start = draw(pool);

	for (unsigned i = 0; i < NAMES_MAX; i++) {
		unsigned number = (start - 1 + i) % NAMES_MAX + 1;

		if (is_candidate(pool, number, avoid_recent))
			return number;
	}
	return 0;
}

static unsigned pick(struct name_pool *pool)
{
	for (int i = 0; i < NAMES_RANDOM_TRIES; i++) {
		unsigned number = draw(pool);

		if (is_candidate(pool, number, true))
			return number;
	}

	unsigned number = scan(pool, true);

	/* Only when every free name was released recently does one of them
	 * come back. */
	if (number == 0)
		number = scan(pool, false);
	return number;
}

int names_acquire(struct name_pool *pool, char *out, size_t size)
{
	unsigned number = pick(pool);

	if (number == 0)
		return -ENOSPC;
	pool->live[number] = true;
	snprintf(out, size, "disp%u", number);
	return (int)number;
}

void names_release(struct name_pool *pool, unsigned number)
{
	if (number == 0 || number > NAMES_MAX || !pool->live[number])
		return;
	pool->live[number] = false;
	pool->recent[pool->recent_next] = (uint16_t)number;
	pool->recent_next = (pool->recent_next + 1) % NAMES_RECENT;
	if (pool->recent_count < NAMES_RECENT)
		pool->recent_count++;
}

int names_parse(const char *name)
{
	if (strncmp(name, "disp", 4) != 0)
		return -EINVAL;

	const char *digits = name + 4;
	size_t length = strlen(digits);

	if (length == 0 || length > 4 || digits[0] == '0')
		return -EINVAL;

	unsigned number = 0;

	for (size_t i = 0; i < length; i++) {
		if (digits[i] < '0' || digits[i] > '9')
			return -EINVAL;
		number = number * 10 + (unsigned)(digits[i] - '0');
	}
	return (int)number;
}
