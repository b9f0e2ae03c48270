/* Unit tests of the savefile key (template/savefile.c): every input counts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "savefile.h"

static const char *const machine[] = {"-machine", "q35", "-accel", "tcg", "-m", "256"};

static struct savefile_inputs base_inputs(void)
{
	static const char template_json[] = "{\"format\": 1, \"name\": \"minimal\"}";
	struct savefile_inputs inputs = {
		.template_json = template_json,
		.template_json_length = sizeof(template_json) - 1,
		.qemu_path = "/usr/bin/qemu-system-x86_64",
		.qemu_size = 19000000,
		.qemu_mtime_ns = 1700000000123456789,
		.qemu_version = "7.2.22 Debian 1:7.2+dfsg-7+deb12u18+b3",
		.memory_mib = 256,
		.machine = machine,
		.machine_count = sizeof(machine) / sizeof(machine[0]),
	};

	return inputs;
}

static void key_is_hex_and_stable(void **state)
{
	struct savefile_inputs inputs = base_inputs();
	char first[65], second[65];

	savefile_key(&inputs, first);
	savefile_key(&inputs, second);
	assert_int_equal(strlen(first), 64);
	assert_int_equal(strspn(first, "0123456789abcdef"), 64);
	assert_string_equal(first, second);
}

static void assert_key_differs(const struct savefile_inputs *changed)
{
	struct savefile_inputs inputs = base_inputs();
	char base[65], other[65];

	savefile_key(&inputs, base);
	savefile_key(changed, other);
	assert_string_not_equal(base, other);
}

static void every_input_counts(void **state)
{
	static const char other_json[] = "{\"format\": 1, \"name\": \"minimal\" }";
	static const char *const kvm[] = {"-machine", "q35", "-accel", "kvm", "-m", "256"};
	struct savefile_inputs inputs;

	inputs = base_inputs();
	inputs.template_json = other_json;
	inputs.template_json_length = sizeof(other_json) - 1;
	assert_key_differs(&inputs);
	inputs = base_inputs();
	inputs.qemu_path = "/usr/local/bin/qemu-system-x86_64";
	assert_key_differs(&inputs);
	inputs = base_inputs();
	inputs.qemu_size++;
	assert_key_differs(&inputs);
	inputs = base_inputs();
	inputs.qemu_mtime_ns++;
	assert_key_differs(&inputs);
	inputs = base_inputs();
	inputs.qemu_version = "8.0.0";
	assert_key_differs(&inputs);
	inputs = base_inputs();
	inputs.memory_mib = 512;
	assert_key_differs(&inputs);
	inputs = base_inputs();
	inputs.machine = kvm;
	assert_key_differs(&inputs);
	inputs = base_inputs();
	inputs.machine_count--;
	assert_key_differs(&inputs);
}

/* Fields are length-prefixed, so moving bytes from one argument to the
 * next changes the key. */
static void argument_boundaries_count(void **state)
{
	static const char *const joined[] = {"-machine", "q35", "-accel", "tcg", "-m256", ""};
	struct savefile_inputs inputs = base_inputs();

	inputs.machine = joined;
	assert_key_differs(&inputs);
}

static void state_names(void **state)
{
	assert_string_equal(savefile_state_name(SAVEFILE_FRESH), "fresh");
	assert_string_equal(savefile_state_name(SAVEFILE_STALE), "stale");
	assert_string_equal(savefile_state_name(SAVEFILE_MISSING), "missing");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(key_is_hex_and_stable),
		cmocka_unit_test(every_input_counts),
		cmocka_unit_test(argument_boundaries_count),
		cmocka_unit_test(state_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
