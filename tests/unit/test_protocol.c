/* Unit tests of the protocol codec in protocol/frame.c. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dispvm-protocol.h"

static void header_round_trip(void **state)
{
	const struct dv_header header = {DV_MSG_STDOUT, 0x1234, 0x01020304u, 0xa0b0c0d0u};
	uint8_t bytes[DV_HEADER_SIZE];
	struct dv_header decoded;

	dv_header_encode(bytes, &header);
	dv_header_decode(bytes, &decoded);
	assert_int_equal(decoded.type, header.type);
	assert_int_equal(decoded.flags, header.flags);
	assert_int_equal(decoded.channel, header.channel);
	assert_int_equal(decoded.length, header.length);
}

static void header_little_endian(void **state)
{
	const struct dv_header header = {DV_MSG_EXIT, 0, 0x01020304u, 0x0a0b0c0du};
	const uint8_t expected[DV_HEADER_SIZE] = {12, 0, 0, 0, 4, 3, 2, 1, 0x0d, 0x0c, 0x0b, 0x0a};
	uint8_t bytes[DV_HEADER_SIZE];

	dv_header_encode(bytes, &header);
	assert_memory_equal(bytes, expected, sizeof(expected));
}

static void integer_helpers(void **state)
{
	uint8_t bytes[8];

	dv_put_u16(bytes, 0xfffe);
	assert_int_equal(dv_get_u16(bytes), 0xfffe);
	dv_put_u32(bytes, 0xfffffff0u);
	assert_int_equal(dv_get_u32(bytes), 0xfffffff0u);
	dv_put_u64(bytes, 0x8877665544332211ull);
	assert_true(dv_get_u64(bytes) == 0x8877665544332211ull);
	assert_int_equal(bytes[0], 0x11);
	assert_int_equal(bytes[7], 0x88);
}

/* Run dv_header_check and return its result. A rejection must set *reason. */
static int check(uint16_t type, uint16_t flags, uint32_t channel, uint32_t length,
		 enum dv_direction direction)
{
	const struct dv_header header = {type, flags, channel, length};
	const char *reason = NULL;
	int ret = dv_header_check(&header, direction, &reason);

	if (ret != 0) {
		assert_int_equal(ret, -EPROTO);
		assert_non_null(reason);
	}
	return ret;
}

static void check_unknown_type(void **state)
{
	assert_int_equal(check(0, 0, 1, 0, DV_TO_HOST), -EPROTO);
	assert_int_equal(check(DV_MSG_TYPE_MAX + 1, 0, 1, 0, DV_TO_HOST), -EPROTO);
	assert_int_equal(check(999, 0, 1, 0, DV_TO_HOST), -EPROTO);
	assert_int_equal(check(0xffff, 0, 1, 0, DV_TO_GUEST), -EPROTO);
	assert_string_equal(dv_msg_name(999), "unknown");
	assert_string_equal(dv_msg_name(0), "unknown");
	assert_string_equal(dv_msg_name(DV_MSG_EXIT), "EXIT");
}

static void check_nonzero_flags(void **state)
{
	assert_int_equal(check(DV_MSG_STDOUT, 0, 1, 1, DV_TO_HOST), 0);
	assert_int_equal(check(DV_MSG_STDOUT, 1, 1, 1, DV_TO_HOST), -EPROTO);
	assert_int_equal(check(DV_MSG_STDOUT, 0x8000, 1, 1, DV_TO_HOST), -EPROTO);
}

static void check_direction(void **state)
{
	static const struct {
		uint16_t type;
		uint32_t length;
		enum dv_direction allowed;
	} cases[] = {
		{DV_MSG_START, DV_START_FIXED_SIZE, DV_TO_GUEST},
		{DV_MSG_STDIN, 1, DV_TO_GUEST},
		{DV_MSG_STDOUT, 1, DV_TO_HOST},
		{DV_MSG_STDERR, 1, DV_TO_HOST},
		{DV_MSG_FILE_IN, 1, DV_TO_GUEST},
		{DV_MSG_FILE_OUT, 1, DV_TO_HOST},
		{DV_MSG_SIGNAL, 4, DV_TO_GUEST},
		{DV_MSG_RESIZE, 4, DV_TO_GUEST},
		{DV_MSG_FILE_CHANGED, 8, DV_TO_HOST},
		{DV_MSG_EXIT, 8, DV_TO_HOST},
		{DV_MSG_CLOSE, 0, DV_TO_GUEST},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum dv_direction other =
			cases[i].allowed == DV_TO_HOST ? DV_TO_GUEST : DV_TO_HOST;

		assert_int_equal(check(cases[i].type, 0, 1, cases[i].length, cases[i].allowed), 0);
		assert_int_equal(check(cases[i].type, 0, 1, cases[i].length, other), -EPROTO);
	}
	/* HELLO goes only to the host, WINDOW both ways. */
	assert_int_equal(check(DV_MSG_HELLO, 0, 0, 8, DV_TO_HOST), 0);
	assert_int_equal(check(DV_MSG_HELLO, 0, 0, 8, DV_TO_GUEST), -EPROTO);
	assert_int_equal(check(DV_MSG_WINDOW, 0, 1, 8, DV_TO_HOST), 0);
	assert_int_equal(check(DV_MSG_WINDOW, 0, 1, 8, DV_TO_GUEST), 0);
}

static void check_length_limits(void **state)
{
	for (uint16_t type = DV_MSG_STDIN; type <= DV_MSG_FILE_OUT; type++) {
		enum dv_direction direction =
			(type == DV_MSG_STDIN || type == DV_MSG_FILE_IN) ? DV_TO_GUEST : DV_TO_HOST;

		assert_true(dv_is_data_type(type));
		assert_int_equal(check(type, 0, 1, 0, direction), 0);
		assert_int_equal(check(type, 0, 1, DV_MAX_PAYLOAD, direction), 0);
		assert_int_equal(check(type, 0, 1, DV_MAX_PAYLOAD + 1, direction), -EPROTO);
		assert_int_equal(check(type, 0, 1, 0xfffffff0u, direction), -EPROTO);
		assert_int_equal(check(type, 0, 1, UINT32_MAX, direction), -EPROTO);
	}
	assert_false(dv_is_data_type(DV_MSG_START));
	assert_false(dv_is_data_type(DV_MSG_WINDOW));
	assert_int_equal(check(DV_MSG_START, 0, 1, DV_MAX_PAYLOAD, DV_TO_GUEST), 0);
	assert_int_equal(check(DV_MSG_START, 0, 1, DV_MAX_PAYLOAD + 1, DV_TO_GUEST), -EPROTO);
	assert_int_equal(check(DV_MSG_CLOSE, 0, 1, 1, DV_TO_GUEST), -EPROTO);
}

static void check_exact_sizes(void **state)
{
	static const struct {
		uint16_t type;
		uint32_t channel;
		uint32_t size;
		enum dv_direction direction;
	} cases[] = {
		{DV_MSG_HELLO, 0, 8, DV_TO_HOST},
		{DV_MSG_WINDOW, 1, 8, DV_TO_HOST},
		{DV_MSG_SIGNAL, 1, 4, DV_TO_GUEST},
		{DV_MSG_RESIZE, 1, 4, DV_TO_GUEST},
		{DV_MSG_FILE_CHANGED, 1, 8, DV_TO_HOST},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint16_t type = cases[i].type;
		uint32_t channel = cases[i].channel;
		uint32_t size = cases[i].size;
		enum dv_direction direction = cases[i].direction;

		assert_int_equal(check(type, 0, channel, size, direction), 0);
		assert_int_equal(check(type, 0, channel, 0, direction), -EPROTO);
		assert_int_equal(check(type, 0, channel, size - 1, direction), -EPROTO);
		assert_int_equal(check(type, 0, channel, size + 1, direction), -EPROTO);
		assert_int_equal(check(type, 0, channel, DV_MAX_PAYLOAD, direction), -EPROTO);
	}
}

static void check_exit_sizes(void **state)
{
	uint32_t max = DV_EXIT_FIXED_SIZE + DV_MAX_EXIT_MESSAGE;

	assert_int_equal(check(DV_MSG_EXIT, 0, 1, 0, DV_TO_HOST), -EPROTO);
	assert_int_equal(check(DV_MSG_EXIT, 0, 1, DV_EXIT_FIXED_SIZE - 1, DV_TO_HOST), -EPROTO);
	assert_int_equal(check(DV_MSG_EXIT, 0, 1, DV_EXIT_FIXED_SIZE, DV_TO_HOST), 0);
	assert_int_equal(check(DV_MSG_EXIT, 0, 1, max, DV_TO_HOST), 0);
	assert_int_equal(check(DV_MSG_EXIT, 0, 1, max + 1, DV_TO_HOST), -EPROTO);
}

static void check_channel_zero(void **state)
{
	assert_int_equal(check(DV_MSG_HELLO, 0, 0, 8, DV_TO_HOST), 0);
	assert_int_equal(check(DV_MSG_HELLO, 0, 3, 8, DV_TO_HOST), -EPROTO);
	assert_int_equal(check(DV_MSG_STDOUT, 0, 0, 1, DV_TO_HOST), -EPROTO);
	assert_int_equal(check(DV_MSG_EXIT, 0, 0, 8, DV_TO_HOST), -EPROTO);
	assert_int_equal(check(DV_MSG_WINDOW, 0, 0, 8, DV_TO_GUEST), -EPROTO);
	assert_int_equal(check(DV_MSG_START, 0, 0, DV_START_FIXED_SIZE, DV_TO_GUEST), -EPROTO);
}

static void check_identity_and_ready(void **state)
{
	uint32_t min = DV_IDENTITY_FIXED_SIZE + 1;
	uint32_t max = DV_IDENTITY_FIXED_SIZE + DV_MAX_HOST_NAME;

	/* IDENTITY: host to guest on channel 0, with a name of 1..63 bytes. */
	assert_int_equal(check(DV_MSG_IDENTITY, 0, 0, min, DV_TO_GUEST), 0);
	assert_int_equal(check(DV_MSG_IDENTITY, 0, 0, max, DV_TO_GUEST), 0);
	assert_int_equal(check(DV_MSG_IDENTITY, 0, 0, min - 1, DV_TO_GUEST), -EPROTO);
	assert_int_equal(check(DV_MSG_IDENTITY, 0, 0, max + 1, DV_TO_GUEST), -EPROTO);
	assert_int_equal(check(DV_MSG_IDENTITY, 0, 1, min, DV_TO_GUEST), -EPROTO);
	assert_int_equal(check(DV_MSG_IDENTITY, 0, 0, min, DV_TO_HOST), -EPROTO);
	/* READY: guest to host on channel 0, empty. */
	assert_int_equal(check(DV_MSG_READY, 0, 0, 0, DV_TO_HOST), 0);
	assert_int_equal(check(DV_MSG_READY, 0, 0, 1, DV_TO_HOST), -EPROTO);
	assert_int_equal(check(DV_MSG_READY, 0, 1, 0, DV_TO_HOST), -EPROTO);
	assert_int_equal(check(DV_MSG_READY, 0, 0, 0, DV_TO_GUEST), -EPROTO);
	assert_string_equal(dv_msg_name(DV_MSG_IDENTITY), "IDENTITY");
	assert_string_equal(dv_msg_name(DV_MSG_READY), "READY");
}

static void identity_round_trip(void **state)
{
	struct dv_identity identity = {.realtime_ns = 1796416198123456789ull};
	struct dv_identity decoded;
	uint8_t payload[DV_IDENTITY_FIXED_SIZE + DV_MAX_HOST_NAME];
	char name[DV_MAX_HOST_NAME + 1];
	const char *reason = NULL;

	for (size_t i = 0; i < DV_IDENTITY_ENTROPY; i++)
		identity.entropy[i] = (uint8_t)(i * 7 + 1);

	long length = dv_identity_encode(payload, &identity, "disp42");

	assert_int_equal(length, DV_IDENTITY_FIXED_SIZE + 6);
	assert_int_equal(dv_get_u64(payload), identity.realtime_ns);
	assert_int_equal(dv_identity_decode(payload, (size_t)length, &decoded, name, &reason), 0);
	assert_int_equal(decoded.realtime_ns, identity.realtime_ns);
	assert_memory_equal(decoded.entropy, identity.entropy, DV_IDENTITY_ENTROPY);
	assert_string_equal(name, "disp42");
}

static void identity_invalid(void **state)
{
	struct dv_identity identity = {0};
	uint8_t payload[DV_IDENTITY_FIXED_SIZE + DV_MAX_HOST_NAME + 8] = {0};
	char name[DV_MAX_HOST_NAME + 1];
	const char *reason = NULL;
	char long_name[DV_MAX_HOST_NAME + 2];

	memset(long_name, 'a', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	assert_int_equal(dv_identity_encode(payload, &identity, ""), -EINVAL);
	assert_int_equal(dv_identity_encode(payload, &identity, "Disp1"), -EINVAL);
	assert_int_equal(dv_identity_encode(payload, &identity, "-x"), -EINVAL);
	assert_int_equal(dv_identity_encode(payload, &identity, long_name), -EINVAL);

	/* No name, or a name with bytes a host name must not have. */
	assert_int_equal(dv_identity_decode(payload, DV_IDENTITY_FIXED_SIZE, &identity, name,
					    &reason), -EPROTO);
	memcpy(payload + DV_IDENTITY_FIXED_SIZE, "a/b", 3);
	assert_int_equal(dv_identity_decode(payload, DV_IDENTITY_FIXED_SIZE + 3, &identity, name,
					    &reason), -EPROTO);
	memcpy(payload + DV_IDENTITY_FIXED_SIZE, "a\0b", 3);
	assert_int_equal(dv_identity_decode(payload, DV_IDENTITY_FIXED_SIZE + 3, &identity, name,
					    &reason), -EPROTO);
	assert_non_null(reason);
	assert_true(dv_host_name_valid("disp9999", 8));
	assert_false(dv_host_name_valid("disp 1", 6));
}

static void check_channel_range(void **state)
{
	assert_int_equal(check(DV_MSG_STDOUT, 0, 1, 1, DV_TO_HOST), 0);
	assert_int_equal(check(DV_MSG_STDOUT, 0, DV_MAX_CHANNEL, 1, DV_TO_HOST), 0);
	assert_int_equal(check(DV_MSG_STDOUT, 0, DV_MAX_CHANNEL + 1, 1, DV_TO_HOST), -EPROTO);
	assert_int_equal(check(DV_MSG_STDOUT, 0, UINT32_MAX, 1, DV_TO_HOST), -EPROTO);
	assert_int_equal(check(DV_MSG_HELLO, 0, DV_MAX_CHANNEL + 1, 8, DV_TO_HOST), -EPROTO);
}

static void start_round_trip(void **state)
{
	const char *argv[] = {"sh", "-c", "echo hi", NULL};
	const char *envp[] = {"FOO=bar", "LANG=C.UTF-8", NULL};
	struct dv_start fixed = {DV_START_TTY | DV_START_FILE, 24, 80, 0, 0, 123456789012ull};
	uint8_t payload[DV_MAX_PAYLOAD];
	struct dv_start_request request;
	const char *reason = NULL;

	long length = dv_start_encode(payload, sizeof(payload), &fixed, argv, envp, "/tmp",
				      "notes.txt", "sed -i s/a/b/");

	assert_true(length > (long)DV_START_FIXED_SIZE);
	assert_int_equal(dv_start_decode(payload, (size_t)length, &request, &reason), 0);
	assert_int_equal(request.fixed.flags, fixed.flags);
	assert_int_equal(request.fixed.rows, 24);
	assert_int_equal(request.fixed.cols, 80);
	assert_int_equal(request.fixed.argc, 3);
	assert_int_equal(request.fixed.envc, 2);
	assert_true(request.fixed.file_size == 123456789012ull);
	assert_string_equal(request.argv[0], "sh");
	assert_string_equal(request.argv[1], "-c");
	assert_string_equal(request.argv[2], "echo hi");
	assert_null(request.argv[3]);
	assert_string_equal(request.envp[0], "FOO=bar");
	assert_string_equal(request.envp[1], "LANG=C.UTF-8");
	assert_null(request.envp[2]);
	assert_string_equal(request.cwd, "/tmp");
	assert_string_equal(request.file_name, "notes.txt");
	assert_string_equal(request.app, "sed -i s/a/b/");
	dv_start_free(&request);
	assert_null(request.argv);
	assert_null(request.envp);
}

static void start_run_without_file(void **state)
{
	const char *argv[] = {"true", NULL};
	struct dv_start fixed = {0};
	uint8_t payload[256];
	struct dv_start_request request;
	const char *reason = NULL;

	long length = dv_start_encode(payload, sizeof(payload), &fixed, argv, NULL, NULL,
				      "ignored", "ignored");

	/* The fixed part, "true\0" and the empty cwd "\0". Without FILE no file strings follow. */
	assert_int_equal(length, DV_START_FIXED_SIZE + 5 + 1);
	assert_int_equal(dv_start_decode(payload, (size_t)length, &request, &reason), 0);
	assert_string_equal(request.argv[0], "true");
	assert_null(request.argv[1]);
	assert_non_null(request.envp);
	assert_null(request.envp[0]);
	assert_string_equal(request.cwd, "");
	assert_null(request.file_name);
	assert_null(request.app);
	dv_start_free(&request);
}

static void start_empty_strings(void **state)
{
	const char *argv[] = {"", "", NULL};
	const char *envp[] = {"", NULL};
	struct dv_start fixed = {DV_START_FILE, 0, 0, 0, 0, 0};
	uint8_t payload[256];
	struct dv_start_request request;
	const char *reason = NULL;

	long length = dv_start_encode(payload, sizeof(payload), &fixed, argv, envp, "", "f", "");

	assert_int_equal(length, DV_START_FIXED_SIZE + 3 + 1 + 2 + 1);
	assert_int_equal(dv_start_decode(payload, (size_t)length, &request, &reason), 0);
	assert_string_equal(request.argv[0], "");
	assert_string_equal(request.argv[1], "");
	assert_string_equal(request.envp[0], "");
	assert_string_equal(request.cwd, "");
	assert_string_equal(request.file_name, "f");
	assert_string_equal(request.app, "");
	dv_start_free(&request);
}

static void start_file_without_command(void **state)
{
	struct dv_start fixed = {DV_START_FILE, 0, 0, 0, 0, 5};
	uint8_t payload[256];
	struct dv_start_request request;
	const char *reason = NULL;

	long length = dv_start_encode(payload, sizeof(payload), &fixed, NULL, NULL, "", "a.pdf",
				      "");

	assert_true(length > 0);
	assert_int_equal(dv_start_decode(payload, (size_t)length, &request, &reason), 0);
	assert_int_equal(request.fixed.argc, 0);
	assert_null(request.argv[0]);
	assert_string_equal(request.file_name, "a.pdf");
	dv_start_free(&request);
}

/* Build a START payload by hand: the fixed part, then `tail` verbatim. */
static size_t raw_start(uint8_t *out, uint32_t flags, uint32_t argc, uint32_t envc,
			const void *tail, size_t tail_length)
{
	memset(out, 0, DV_START_FIXED_SIZE);
	dv_put_u32(out, flags);
	dv_put_u32(out + 8, argc);
	dv_put_u32(out + 12, envc);
	memcpy(out + DV_START_FIXED_SIZE, tail, tail_length);
	return DV_START_FIXED_SIZE + tail_length;
}

static int decode_raw(const uint8_t *payload, size_t length)
{
	struct dv_start_request request;
	const char *reason = NULL;
	int ret = dv_start_decode(payload, length, &request, &reason);

	if (ret == 0) {
		dv_start_free(&request);
		return 0;
	}
	assert_int_equal(ret, -EPROTO);
	assert_non_null(reason);
	assert_null(request.argv);
	assert_null(request.envp);
	return ret;
}

static void start_too_short(void **state)
{
	uint8_t payload[DV_START_FIXED_SIZE] = {0};

	assert_int_equal(decode_raw(payload, 0), -EPROTO);
	assert_int_equal(decode_raw(payload, DV_START_FIXED_SIZE - 1), -EPROTO);
	/* the fixed part alone lacks the working directory */
	dv_put_u32(payload + 8, 1);
	assert_int_equal(decode_raw(payload, DV_START_FIXED_SIZE), -EPROTO);
}

static void start_count_too_large(void **state)
{
	uint8_t payload[64];

	/* argc and envc of 2^32-1 in a 30-byte payload: rejected before
	 * allocating (ASan and the allocator would fail on a 32 GiB array). */
	size_t length = raw_start(payload, 0, UINT32_MAX, 0, "a\0b\0\0", 6);

	assert_int_equal(decode_raw(payload, length), -EPROTO);
	length = raw_start(payload, 0, 1, UINT32_MAX, "a\0b\0\0", 6);
	assert_int_equal(decode_raw(payload, length), -EPROTO);
	/* one more string than there are bytes */
	length = raw_start(payload, 0, 7, 0, "a\0b\0\0", 6);
	assert_int_equal(decode_raw(payload, length), -EPROTO);
	/* as many strings as bytes, but then the cwd is missing */
	length = raw_start(payload, 0, 6, 0, "\0\0\0\0\0\0", 6);
	assert_int_equal(decode_raw(payload, length), -EPROTO);
	length = raw_start(payload, 0, 5, 0, "\0\0\0\0\0\0", 6);
	assert_int_equal(decode_raw(payload, length), 0);
}

static void start_truncated_strings(void **state)
{
	uint8_t payload[64];
	size_t length;

	/* last argv string without its NUL */
	length = raw_start(payload, 0, 2, 0, "ab\0cd", 5);
	assert_int_equal(decode_raw(payload, length), -EPROTO);
	/* envp string without its NUL */
	length = raw_start(payload, 0, 1, 1, "ab\0cd", 5);
	assert_int_equal(decode_raw(payload, length), -EPROTO);
	/* cwd without its NUL */
	length = raw_start(payload, 0, 1, 0, "ab\0/tmp", 7);
	assert_int_equal(decode_raw(payload, length), -EPROTO);
	/* file name present, app missing */
	length = raw_start(payload, DV_START_FILE, 1, 0, "ab\0\0f\0", 6);
	assert_int_equal(decode_raw(payload, length), -EPROTO);
	/* app without its NUL */
	length = raw_start(payload, DV_START_FILE, 1, 0, "ab\0\0f\0app", 9);
	assert_int_equal(decode_raw(payload, length), -EPROTO);
	length = raw_start(payload, DV_START_FILE, 1, 0, "ab\0\0f\0app\0", 10);
	assert_int_equal(decode_raw(payload, length), 0);
}

static void start_trailing_bytes(void **state)
{
	uint8_t payload[64];
	size_t length;

	length = raw_start(payload, 0, 1, 0, "ab\0\0", 4);
	assert_int_equal(decode_raw(payload, length), 0);
	length = raw_start(payload, 0, 1, 0, "ab\0\0x", 5);
	assert_int_equal(decode_raw(payload, length), -EPROTO);
	length = raw_start(payload, 0, 1, 0, "ab\0\0\0", 5);
	assert_int_equal(decode_raw(payload, length), -EPROTO);
	length = raw_start(payload, DV_START_FILE, 1, 0, "ab\0\0f\0\0\0", 8);
	assert_int_equal(decode_raw(payload, length), -EPROTO);
}

static void start_unknown_flags(void **state)
{
	uint8_t payload[64];
	size_t length;

	for (uint32_t flag = DV_START_FLAGS_ALL + 1; flag != 0; flag <<= 1) {
		if (flag & DV_START_FLAGS_ALL)
			continue;
		length = raw_start(payload, flag, 1, 0, "ab\0\0", 4);
		assert_int_equal(decode_raw(payload, length), -EPROTO);
	}
	length = raw_start(payload, DV_START_TTY | DV_START_VIEW_ONLY, 1, 0, "ab\0\0", 4);
	assert_int_equal(decode_raw(payload, length), 0);
}

static void start_argc_zero(void **state)
{
	uint8_t payload[64];
	size_t length;

	length = raw_start(payload, 0, 0, 0, "\0", 1);
	assert_int_equal(decode_raw(payload, length), -EPROTO);
	length = raw_start(payload, DV_START_TTY, 0, 1, "A=b\0\0", 5);
	assert_int_equal(decode_raw(payload, length), -EPROTO);
	length = raw_start(payload, DV_START_FILE, 0, 0, "\0f\0\0", 4);
	assert_int_equal(decode_raw(payload, length), 0);
}

static void start_invalid_file_names(void **state)
{
	static const char *const names[] = {"", "/", "a/b", "/etc/passwd", ".", "..", "dir/"};
	uint8_t payload[600];
	char tail[600];
	size_t length;

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		size_t name_length = strlen(names[i]);

		/* argc 0, cwd "", file name, app "" */
		tail[0] = '\0';
		memcpy(tail + 1, names[i], name_length + 1);
		tail[name_length + 2] = '\0';
		length = raw_start(payload, DV_START_FILE, 0, 0, tail, name_length + 3);
		assert_int_equal(decode_raw(payload, length), -EPROTO);
	}

	/* 255 bytes is the limit, 256 is over it */
	tail[0] = '\0';
	memset(tail + 1, 'n', 255);
	tail[256] = '\0';
	tail[257] = '\0';
	length = raw_start(payload, DV_START_FILE, 0, 0, tail, 258);
	assert_int_equal(decode_raw(payload, length), 0);
	memset(tail + 1, 'n', 256);
	tail[257] = '\0';
	tail[258] = '\0';
	length = raw_start(payload, DV_START_FILE, 0, 0, tail, 259);
	assert_int_equal(decode_raw(payload, length), -EPROTO);

	/* names that look odd but are valid */
	static const char *const valid[] = {"...", "-", "--help", " a b ", "a\nb", "\xc3\xa9t\xc3\xa9"};

	for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++)
		assert_true(dv_file_name_valid(valid[i], strlen(valid[i])));
}

static void file_name_rules(void **state)
{
	char name[257];

	assert_false(dv_file_name_valid("", 0));
	assert_false(dv_file_name_valid("/", 1));
	assert_false(dv_file_name_valid(".", 1));
	assert_false(dv_file_name_valid("..", 2));
	assert_false(dv_file_name_valid("a\0b", 3));
	assert_true(dv_file_name_valid(".a", 2));
	assert_true(dv_file_name_valid("..a", 3));
	memset(name, 'x', sizeof(name));
	assert_true(dv_file_name_valid(name, 255));
	assert_false(dv_file_name_valid(name, 256));
}

static void start_encode_too_big(void **state)
{
	const char *argv[] = {"cat", NULL};
	struct dv_start fixed = {0};
	uint8_t small[DV_START_FIXED_SIZE + 5];
	long length;

	/* "cat\0" and "\0" need exactly 5 bytes after the fixed part */
	length = dv_start_encode(small, sizeof(small), &fixed, argv, NULL, "", NULL, NULL);
	assert_int_equal(length, sizeof(small));
	length = dv_start_encode(small, sizeof(small) - 1, &fixed, argv, NULL, "", NULL, NULL);
	assert_int_equal(length, -E2BIG);
	length = dv_start_encode(small, DV_START_FIXED_SIZE - 1, &fixed, argv, NULL, "", NULL,
				 NULL);
	assert_int_equal(length, -E2BIG);
	length = dv_start_encode(small, sizeof(small), &fixed, argv, NULL, "/x", NULL, NULL);
	assert_int_equal(length, -E2BIG);
}

static void start_encode_over_max_payload(void **state)
{
	size_t big_size = 2 * DV_MAX_PAYLOAD;
	uint8_t *out = malloc(big_size);
	char *arg = malloc(DV_MAX_PAYLOAD);
	const char *argv[] = {arg, NULL};
	struct dv_start fixed = {0};

	assert_non_null(out);
	assert_non_null(arg);
	/* a 65535-byte argument fits in the buffer but not in one payload */
	memset(arg, 'a', DV_MAX_PAYLOAD - 1);
	arg[DV_MAX_PAYLOAD - 1] = '\0';
	assert_int_equal(dv_start_encode(out, big_size, &fixed, argv, NULL, "", NULL, NULL),
			 -E2BIG);

	/* the largest argument that fits leaves room for its NUL and the cwd */
	size_t fit = DV_MAX_PAYLOAD - DV_START_FIXED_SIZE - 2;

	arg[fit] = '\0';
	assert_int_equal(dv_start_encode(out, big_size, &fixed, argv, NULL, "", NULL, NULL),
			 DV_MAX_PAYLOAD);
	free(arg);
	free(out);
}

static void start_encode_file_too_big(void **state)
{
	const char *argv[] = {"a", NULL};
	struct dv_start fixed = {DV_START_FILE, 0, 0, 0, 0, 0};
	uint8_t out[DV_START_FIXED_SIZE + 8];

	/* "a\0" "\0" "name\0" leaves no room for the app's NUL */
	assert_int_equal(dv_start_encode(out, sizeof(out), &fixed, argv, NULL, "", "name", ""),
			 -E2BIG);
	assert_int_equal(dv_start_encode(out, sizeof(out), &fixed, argv, NULL, "", "nam", ""),
			 (long)sizeof(out));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(header_round_trip),
		cmocka_unit_test(header_little_endian),
		cmocka_unit_test(integer_helpers),
		cmocka_unit_test(check_unknown_type),
		cmocka_unit_test(check_nonzero_flags),
		cmocka_unit_test(check_direction),
		cmocka_unit_test(check_length_limits),
		cmocka_unit_test(check_exact_sizes),
		cmocka_unit_test(check_exit_sizes),
		cmocka_unit_test(check_channel_zero),
		cmocka_unit_test(check_channel_range),
		cmocka_unit_test(check_identity_and_ready),
		cmocka_unit_test(identity_round_trip),
		cmocka_unit_test(identity_invalid),
		cmocka_unit_test(start_round_trip),
		cmocka_unit_test(start_run_without_file),
		cmocka_unit_test(start_empty_strings),
		cmocka_unit_test(start_file_without_command),
		cmocka_unit_test(start_too_short),
		cmocka_unit_test(start_count_too_large),
		cmocka_unit_test(start_truncated_strings),
		cmocka_unit_test(start_trailing_bytes),
		cmocka_unit_test(start_unknown_flags),
		cmocka_unit_test(start_argc_zero),
		cmocka_unit_test(start_invalid_file_names),
		cmocka_unit_test(file_name_rules),
		cmocka_unit_test(start_encode_too_big),
		cmocka_unit_test(start_encode_over_max_payload),
		cmocka_unit_test(start_encode_file_too_big),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
