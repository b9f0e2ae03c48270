/* Unit tests of dispvm.conf parsing (daemon/config.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"

static int parse(const char *text, struct dispvm_config *out, struct dv_error *err)
{
	return config_parse_string(text, "test.conf", out, err);
}

static void empty_text_gives_defaults(void **state)
{
	struct dispvm_config config;
	struct dv_error err = {0};

	(void)state;
	assert_int_equal(parse("", &config, &err), 0);
	assert_string_equal(config.template, "minimal");
	assert_int_equal(config.pool_min_available_mib, CONFIG_DEFAULT_MIN_AVAILABLE_MIB);
	assert_int_equal(config.template_count, 0);
	assert_int_equal(config_pool_size(&config, "minimal"), CONFIG_DEFAULT_POOL_SIZE);
}

static void sections_set_values(void **state)
{
	struct dispvm_config config;
	struct dv_error err = {0};
	const char *text = "; a comment\n"
			   "[defaults]\n"
			   "template = work\n"
			   "pool_min_available_mib = 2048\n"
			   "\n"
			   "[template minimal]\n"
			   "pool_size = 0\n"
			   "[template work]\n"
			   "pool_size = 3\n"
			   "[template other]\n"
			   "pool_size = 16\n";

	(void)state;
	assert_int_equal(parse(text, &config, &err), 0);
	assert_string_equal(config.template, "work");
	assert_int_equal(config.pool_min_available_mib, 2048);
	assert_int_equal(config_pool_size(&config, "minimal"), 0);
	assert_int_equal(config_pool_size(&config, "work"), 3);
	assert_int_equal(config_pool_size(&config, "other"), 16);
	assert_int_equal(config_pool_size(&config, "unnamed"), CONFIG_DEFAULT_POOL_SIZE);
}

static void repeated_section_merges(void **state)
{
	struct dispvm_config config;
	struct dv_error err = {0};

	(void)state;
	assert_int_equal(parse("[template a]\npool_size = 2\n[defaults]\n[template a]\n"
			       "pool_size = 5\n", &config, &err), 0);
	assert_int_equal(config.template_count, 1);
	assert_int_equal(config_pool_size(&config, "a"), 5);
}

/* Each bad text must fail, name the line and keep `out` unchanged. */
static void expect_error(const char *text, const char *line, const char *value)
{
	struct dispvm_config config;
	struct dv_error err = {0};

	config_defaults(&config);
	config.pool_min_available_mib = 7;
	assert_int_equal(parse(text, &config, &err), -EINVAL);
	assert_non_null(strstr(err.message, line));
	if (value != NULL)
		assert_non_null(strstr(err.message, value));
	assert_int_equal(config.pool_min_available_mib, 7);
}

static void bad_values_fail(void **state)
{
	(void)state;
	expect_error("[template minimal]\npool_size = 17\n", "test.conf:2:", "'17'");
	expect_error("[template minimal]\npool_size = -1\n", "test.conf:2:", "'-1'");
	expect_error("[template minimal]\npool_size = two\n", "test.conf:2:", "'two'");
	expect_error("[template minimal]\npool_size =\n", "test.conf:2:", "pool_size");
	expect_error("[defaults]\n\npool_min_available_mib = 1x\n", "test.conf:3:", "'1x'");
	expect_error("[defaults]\ntemplate = Bad/Name\n", "test.conf:2:", "'Bad/Name'");
	expect_error("[template ../x]\npool_size = 1\n", "test.conf:2:", "[template ../x]");
	expect_error("[defaults]\nthis line has no equals sign\n", "test.conf:2:", "malformed");
	expect_error("[defaults\n", "test.conf:1:", "malformed");
}

static void first_error_wins(void **state)
{
	struct dispvm_config config;
	struct dv_error err = {0};

	(void)state;
	assert_int_equal(parse("[template a]\npool_size = 99\npool_size = x\n", &config, &err),
			 -EINVAL);
	assert_non_null(strstr(err.message, "test.conf:2:"));
	assert_non_null(strstr(err.message, "'99'"));
}

static void unknown_keys_are_ignored(void **state)
{
	struct dispvm_config config;
	struct dv_error err = {0};

	(void)state;
	assert_int_equal(parse("[defaults]\ncolour = blue\ntemplate = t1\n[somewhere]\nx = 1\n"
			       "[template t1]\nspeed = 3\npool_size = 2\n", &config, &err), 0);
	assert_string_equal(config.template, "t1");
	assert_int_equal(config_pool_size(&config, "t1"), 2);
}

static void missing_file_gives_defaults(void **state)
{
	struct dispvm_config config;
	struct dv_error err = {0};

	(void)state;
	memset(&config, 0xff, sizeof(config));
	assert_int_equal(config_parse_file("/nonexistent/dispvm.conf", &config, &err), 0);
	assert_string_equal(config.template, "minimal");
	assert_int_equal(config.template_count, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(empty_text_gives_defaults),
		cmocka_unit_test(sections_set_values),
		cmocka_unit_test(repeated_section_merges),
		cmocka_unit_test(bad_values_fail),
		cmocka_unit_test(first_error_wins),
		cmocka_unit_test(unknown_keys_are_ignored),
		cmocka_unit_test(missing_file_gives_defaults),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
