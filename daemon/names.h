/*
 * VM names: "dispN" with N drawn at random from 1..NAMES_MAX. A name is
 * unique among live VMs and, while any other number is free, not one of
 * the last NAMES_RECENT released names, so a log line about an old VM is
 * not mistaken for a new one.
 */
#ifndef DISPVMD_NAMES_H
#define DISPVMD_NAMES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NAMES_MAX 9999u
#define NAMES_RECENT 1000u
/* "disp" + 4 digits + NUL, with room to spare. */
#define NAMES_BUFFER_SIZE 16u

/* Source of random numbers, so tests can make picks repeatable. */
typedef uint32_t (*names_random_fn)(void *data);

struct name_pool {
	bool live[NAMES_MAX + 1];
	uint16_t recent[NAMES_RECENT]; /* ring of released numbers */
	size_t recent_count;
	size_t recent_next;
	names_random_fn random;
	void *random_data;
};

/* Initialise an empty pool. `random` NULL means getrandom(2). */
void names_init(struct name_pool *pool, names_random_fn random, void *random_data);

/* Pick a free number, mark it live and write "dispN" into `out`.
 * Returns the number, or -ENOSPC when all NAMES_MAX names are live. */
int names_acquire(struct name_pool *pool, char *out, size_t size);

/* Mark a live number free and remember it as recently released. */
void names_release(struct name_pool *pool, unsigned number);

/* Parse "dispN" with N in 1..NAMES_MAX and no leading zero. Returns N or
 * -EINVAL. */
int names_parse(const char *name);

#endif
