/* Unit tests of the guest agent's mailcap parser and matcher. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mailcap.h"

static void parse_text(const char *text, struct mailcap *mailcap, size_t *skipped)
{
	assert_int_equal(mailcap_parse(text, strlen(text), mailcap, skipped), 0);
}

static void test_first_match_wins(void **state)
{
	struct mailcap mailcap;

	parse_text("text/plain; first %s\ntext/plain; second %s\n", &mailcap, NULL);
	assert_int_equal(mailcap.count, 2);
	assert_string_equal(mailcap_lookup(&mailcap, "text/plain"), "first %s");
	mailcap_free(&mailcap);
}

static void test_wildcards(void **state)
{
	struct mailcap mailcap;

	parse_text("text/*; view-text %s\nimage/png; view-png\n*/*; hexdump -C %s | less\n",
		   &mailcap, NULL);
	assert_string_equal(mailcap_lookup(&mailcap, "text/plain"), "view-text %s");
	assert_string_equal(mailcap_lookup(&mailcap, "TEXT/HTML"), "view-text %s");
	assert_string_equal(mailcap_lookup(&mailcap, "image/png"), "view-png");
	assert_string_equal(mailcap_lookup(&mailcap, "image/jpeg"), "hexdump -C %s | less");
	assert_string_equal(mailcap_lookup(&mailcap, "application/octet-stream"),
			    "hexdump -C %s | less");
	mailcap_free(&mailcap);
}

static void test_no_match(void **state)
{
	struct mailcap mailcap;

	parse_text("text/plain; vi %s\n", &mailcap, NULL);
	assert_null(mailcap_lookup(&mailcap, "application/pdf"));
	assert_null(mailcap_lookup(&mailcap, "no-slash"));
	mailcap_free(&mailcap);
}

static void test_comments_and_blank_lines(void **state)
{
	struct mailcap mailcap;
	size_t skipped;

	parse_text("# a comment; with/semicolon\n\n   \n\t# indented comment\n"
		   "text/plain; vi %s\n\n",
		   &mailcap, &skipped);
	assert_int_equal(mailcap.count, 1);
	assert_int_equal(skipped, 0);
	assert_string_equal(mailcap.entries[0].type, "text");
	assert_string_equal(mailcap.entries[0].subtype, "plain");
	assert_string_equal(mailcap.entries[0].command, "vi %s");
	mailcap_free(&mailcap);
}

static void test_malformed_lines_skipped(void **state)
{
	struct mailcap mailcap;
	size_t skipped;

	parse_text("no semicolon here\n"
		   "textplain; no slash\n"
		   "/plain; empty type\n"
		   "text/; empty subtype\n"
		   "text/plain;   \n"
		   "te xt/plain; space in type\n"
		   "text/pl*in; star inside a subtype\n"
		   "image/png; good %s\n",
		   &mailcap, &skipped);
	assert_int_equal(skipped, 7);
	assert_int_equal(mailcap.count, 1);
	assert_string_equal(mailcap_lookup(&mailcap, "image/png"), "good %s");
	assert_null(mailcap_lookup(&mailcap, "text/plain"));
	mailcap_free(&mailcap);
}

static void test_flags_field_ignored(void **state)
{
	struct mailcap mailcap;

	parse_text("text/plain; less %s; needsterminal\n", &mailcap, NULL);
	assert_string_equal(mailcap_lookup(&mailcap, "text/plain"), "less %s");
	mailcap_free(&mailcap);
}

static void test_last_line_without_newline(void **state)
{
	struct mailcap mailcap;

	parse_text("text/plain; vi %s", &mailcap, NULL);
	assert_int_equal(mailcap.count, 1);
	assert_string_equal(mailcap_lookup(&mailcap, "text/plain"), "vi %s");
	mailcap_free(&mailcap);
}

static void test_quote_plain_path(void **state)
{
	char *quoted = mailcap_quote("/home/user/a.txt");

	assert_string_equal(quoted, "'/home/user/a.txt'");
	free(quoted);
}

static void test_build_quotes_quote_and_spaces(void **state)
{
	char *command = mailcap_build_command("vi %s", "/home/user/it's my file.txt");

	assert_string_equal(command, "vi '/home/user/it'\\''s my file.txt'");
	free(command);
}

static void test_build_repeated_placeholder(void **state)
{
	char *command = mailcap_build_command("cp %s %s.bak", "/a b");

	assert_string_equal(command, "cp '/a b' '/a b'.bak");
	free(command);
}

static void test_build_without_placeholder(void **state)
{
	char *command = mailcap_build_command("echo added >>", "/home/user/x y");

	assert_string_equal(command, "echo added >> '/home/user/x y'");
	free(command);
}

static void test_build_percent_escape(void **state)
{
	char *command = mailcap_build_command("printf 100%% %s", "/f");

	assert_string_equal(command, "printf 100% '/f'");
	free(command);
}

static void test_shipped_mailcap(void **state)
{
	static const char shipped[] = "text/*; vi %s\n*/*; hexdump -C %s | less\n";
	struct mailcap mailcap;

	parse_text(shipped, &mailcap, NULL);
	assert_string_equal(mailcap_lookup(&mailcap, "text/plain"), "vi %s");
	assert_string_equal(mailcap_lookup(&mailcap, "application/octet-stream"),
			    "hexdump -C %s | less");
	mailcap_free(&mailcap);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_first_match_wins),
		cmocka_unit_test(test_wildcards),
		cmocka_unit_test(test_no_match),
		cmocka_unit_test(test_comments_and_blank_lines),
		cmocka_unit_test(test_malformed_lines_skipped),
		cmocka_unit_test(test_flags_field_ignored),
		cmocka_unit_test(test_last_line_without_newline),
		cmocka_unit_test(test_quote_plain_path),
		cmocka_unit_test(test_build_quotes_quote_and_spaces),
		cmocka_unit_test(test_build_repeated_placeholder),
		cmocka_unit_test(test_build_without_placeholder),
		cmocka_unit_test(test_build_percent_escape),
		cmocka_unit_test(test_shipped_mailcap),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
