/* Unit tests of daemon/guest.c: the decoder of untrusted guest bytes. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "guest.h"

#define CHANNEL 1u

/* What the callbacks saw. */
struct record {
	int hellos;
	int readies;
	size_t stdout_bytes;
	int stdout_eofs;
	size_t file_bytes;
	uint64_t file_size;
	int windows;
	size_t bytes_by_channel[4]; /* stdout and stderr bytes of channels 0..3 */
	int exits;
	uint32_t exit_channel;
	uint32_t exit_kind;
	int32_t exit_value;
	char exit_message[64];
};

static int on_hello(void *data, uint32_t version, uint32_t max_payload)
{
	struct record *record = data;

	(void)version;
	(void)max_payload;
	record->hellos++;
	return 0;
}

static int on_ready(void *data)
{
	struct record *record = data;

	record->readies++;
	return 0;
}

static int on_output(void *data, uint32_t channel, uint16_t type, const uint8_t *bytes,
		     size_t length)
{
	struct record *record = data;

	(void)bytes;
	if (type != DV_MSG_FILE_OUT && channel < 4)
		record->bytes_by_channel[channel] += length;
	if (type == DV_MSG_FILE_OUT)
		record->file_bytes += length;
	else if (length == 0)
		record->stdout_eofs++;
	else
		record->stdout_bytes += length;
	return 0;
}

static int on_window(void *data, uint32_t channel, uint16_t stream, uint32_t increment)
{
	struct record *record = data;

	(void)channel;
	(void)stream;
	(void)increment;
	record->windows++;
	return 0;
}

static int on_file_changed(void *data, uint32_t channel, uint64_t size)
{
	struct record *record = data;

	(void)channel;
	record->file_size = size;
	return 0;
}

static int on_exit_frame(void *data, uint32_t channel, uint32_t kind, int32_t value,
			 const char *message)
{
	struct record *record = data;

	record->exits++;
	record->exit_channel = channel;
	record->exit_kind = kind;
	record->exit_value = value;
	strncpy(record->exit_message, message, sizeof(record->exit_message) - 1);
	return 0;
}

static const struct guest_callbacks callbacks = {
	.hello = on_hello,
	.ready = on_ready,
	.output = on_output,
	.window = on_window,
	.file_changed = on_file_changed,
	.exit = on_exit_frame,
};

/* A byte stream of frames under construction. */
struct stream {
	uint8_t bytes[300000];
	size_t length;
};

static void add_frame(struct stream *stream, uint16_t type, uint32_t channel,
		      const void *payload, uint32_t length)
{
	struct dv_header header = {.type = type, .channel = channel, .length = length};

	dv_header_encode(stream->bytes + stream->length, &header);
	stream->length += DV_HEADER_SIZE;
	if (length > 0)
		memcpy(stream->bytes + stream->length, payload, length);
	stream->length += length;
}

static void add_hello(struct stream *stream)
{
	uint8_t payload[8];

	dv_put_u32(payload, DV_PROTOCOL_VERSION);
	dv_put_u32(payload + 4, DV_MAX_PAYLOAD);
	add_frame(stream, DV_MSG_HELLO, 0, payload, sizeof(payload));
}

static void add_exit_on(struct stream *stream, uint32_t channel, uint32_t kind, int32_t value,
			const char *message)
{
	uint8_t payload[DV_EXIT_FIXED_SIZE + 64];
	size_t length = strlen(message);

	dv_put_u32(payload, kind);
	dv_put_u32(payload + 4, (uint32_t)value);
	memcpy(payload + DV_EXIT_FIXED_SIZE, message, length);
	add_frame(stream, DV_MSG_EXIT, channel, payload, (uint32_t)(DV_EXIT_FIXED_SIZE + length));
}

static void add_exit(struct stream *stream, uint32_t kind, int32_t value, const char *message)
{
	add_exit_on(stream, CHANNEL, kind, value, message);
}

struct fixture {
	struct guest_decoder decoder;
	struct record record;
	struct stream stream;
};

static int set_up(void **state)
{
	struct fixture *fixture = calloc(1, sizeof(*fixture));

	guest_decoder_init(&fixture->decoder);
	*state = fixture;
	return 0;
}

static int tear_down(void **state)
{
	free(*state);
	return 0;
}

/* Feed HELLO, send IDENTITY, feed READY and start a session with
 * `flags`. */
static void start_session(struct fixture *fixture, uint32_t flags)
{
	struct stream hello = {.length = 0};
	struct stream ready = {.length = 0};
	int readies = fixture->record.readies;

	add_hello(&hello);
	assert_int_equal(guest_decoder_feed(&fixture->decoder, hello.bytes, hello.length,
					    &callbacks, &fixture->record),
			 0);
	guest_decoder_identity_sent(&fixture->decoder);
	add_frame(&ready, DV_MSG_READY, 0, NULL, 0);
	assert_int_equal(guest_decoder_feed(&fixture->decoder, ready.bytes, ready.length,
					    &callbacks, &fixture->record),
			 0);
	assert_int_equal(fixture->record.readies, readies + 1);
	assert_int_equal(guest_decoder_start(&fixture->decoder, CHANNEL, flags), 0);
}

static int feed(struct fixture *fixture)
{
	return guest_decoder_feed(&fixture->decoder, fixture->stream.bytes, fixture->stream.length,
				  &callbacks, &fixture->record);
}

static void decoder_truncated_header(void **state)
{
	struct fixture *fixture = *state;

	add_hello(&fixture->stream);
	/* Half a header is kept until the rest arrives. */
	assert_int_equal(guest_decoder_feed(&fixture->decoder, fixture->stream.bytes, 6,
					    &callbacks, &fixture->record),
			 0);
	assert_int_equal(fixture->record.hellos, 0);
	assert_int_equal(fixture->decoder.used, 6);
}

static void decoder_oversized_length(void **state)
{
	struct fixture *fixture = *state;
	struct dv_header header = {.type = DV_MSG_STDOUT, .channel = CHANNEL,
				   .length = DV_MAX_PAYLOAD + 1};

	start_session(fixture, 0);
	dv_header_encode(fixture->stream.bytes, &header);
	fixture->stream.length = DV_HEADER_SIZE;
	assert_int_equal(feed(fixture), -EPROTO);
	assert_non_null(fixture->decoder.reason);
}

static void decoder_unknown_type(void **state)
{
	struct fixture *fixture = *state;

	start_session(fixture, 0);
	add_frame(&fixture->stream, 99, CHANNEL, NULL, 0);
	assert_int_equal(feed(fixture), -EPROTO);
	assert_int_equal(fixture->decoder.bad_header.type, 99);
}

static void decoder_unknown_channel(void **state)
{
	struct fixture *fixture = *state;

	start_session(fixture, 0);
	add_frame(&fixture->stream, DV_MSG_STDOUT, CHANNEL + 1, "x", 1);
	assert_int_equal(feed(fixture), -EPROTO);
	assert_int_equal(fixture->record.stdout_bytes, 0);
}

static void decoder_frame_before_hello(void **state)
{
	struct fixture *fixture = *state;

	add_frame(&fixture->stream, DV_MSG_STDOUT, CHANNEL, "x", 1);
	assert_int_equal(feed(fixture), -EPROTO);
}

static void decoder_second_hello(void **state)
{
	struct fixture *fixture = *state;

	start_session(fixture, 0);
	add_hello(&fixture->stream);
	assert_int_equal(feed(fixture), -EPROTO);
}

static void decoder_ready_before_identity(void **state)
{
	struct fixture *fixture = *state;

	add_hello(&fixture->stream);
	add_frame(&fixture->stream, DV_MSG_READY, 0, NULL, 0);
	assert_int_equal(feed(fixture), -EPROTO);
	assert_string_equal(fixture->decoder.reason, "READY before IDENTITY");
	assert_int_equal(fixture->record.readies, 0);
}

static void decoder_second_ready(void **state)
{
	struct fixture *fixture = *state;

	start_session(fixture, 0);
	add_frame(&fixture->stream, DV_MSG_READY, 0, NULL, 0);
	assert_int_equal(feed(fixture), -EPROTO);
	assert_string_equal(fixture->decoder.reason, "second READY");
}

static void decoder_ready_with_payload(void **state)
{
	struct fixture *fixture = *state;

	add_hello(&fixture->stream);
	assert_int_equal(feed(fixture), 0);
	guest_decoder_identity_sent(&fixture->decoder);
	fixture->stream.length = 0;
	add_frame(&fixture->stream, DV_MSG_READY, 0, "x", 1);
	assert_int_equal(feed(fixture), -EPROTO);
	assert_int_equal(fixture->record.readies, 0);
}

static void decoder_session_frame_before_ready(void **state)
{
	struct fixture *fixture = *state;

	add_hello(&fixture->stream);
	assert_int_equal(feed(fixture), 0);
	guest_decoder_identity_sent(&fixture->decoder);
	assert_int_equal(guest_decoder_start(&fixture->decoder, CHANNEL, 0), 0);
	fixture->stream.length = 0;
	add_frame(&fixture->stream, DV_MSG_STDOUT, CHANNEL, "x", 1);
	assert_int_equal(feed(fixture), -EPROTO);
	assert_string_equal(fixture->decoder.reason, "session frame before READY");
	assert_int_equal(fixture->record.stdout_bytes, 0);
}

/* READY comes once per VM: an exec channel started after it needs no
 * READY of its own, and a READY after several sessions is a violation. */
static void decoder_ready_once_per_vm(void **state)
{
	struct fixture *fixture = *state;

	start_session(fixture, 0);
	assert_int_equal(guest_decoder_start(&fixture->decoder, 2, 0), 0);
	add_frame(&fixture->stream, DV_MSG_STDOUT, 2, "two", 3);
	assert_int_equal(feed(fixture), 0);
	assert_int_equal(fixture->record.bytes_by_channel[2], 3);

	fixture->stream.length = 0;
	add_frame(&fixture->stream, DV_MSG_READY, 0, NULL, 0);
	assert_int_equal(feed(fixture), -EPROTO);
	assert_string_equal(fixture->decoder.reason, "second READY");
	assert_int_equal(fixture->record.readies, 1);
}

/* A restored guest sent HELLO before it was saved: READY follows
 * IDENTITY directly, and a HELLO is a violation. */
static void decoder_restored(void **state)
{
	struct fixture *fixture = *state;

	guest_decoder_init_restored(&fixture->decoder);
	guest_decoder_identity_sent(&fixture->decoder);
	add_frame(&fixture->stream, DV_MSG_READY, 0, NULL, 0);
	assert_int_equal(feed(fixture), 0);
	assert_int_equal(fixture->record.readies, 1);

	fixture->stream.length = 0;
	add_hello(&fixture->stream);
	assert_int_equal(feed(fixture), -EPROTO);
	assert_int_equal(fixture->record.hellos, 0);
}

static void decoder_data_after_eof(void **state)
{
	struct fixture *fixture = *state;

	start_session(fixture, 0);
	add_frame(&fixture->stream, DV_MSG_STDOUT, CHANNEL, NULL, 0);
	add_frame(&fixture->stream, DV_MSG_STDOUT, CHANNEL, "late", 4);
	assert_int_equal(feed(fixture), -EPROTO);
	assert_int_equal(fixture->record.stdout_eofs, 1);
	assert_int_equal(fixture->record.stdout_bytes, 0);
}

static void decoder_data_beyond_window(void **state)
{
	struct fixture *fixture = *state;
	static uint8_t chunk[DV_MAX_PAYLOAD];

	start_session(fixture, 0);
	for (unsigned i = 0; i < DV_INITIAL_WINDOW / DV_MAX_PAYLOAD; i++)
		add_frame(&fixture->stream, DV_MSG_STDOUT, CHANNEL, chunk, sizeof(chunk));
	assert_int_equal(feed(fixture), 0);
	assert_int_equal(fixture->record.stdout_bytes, DV_INITIAL_WINDOW);

	fixture->stream.length = 0;
	add_frame(&fixture->stream, DV_MSG_STDOUT, CHANNEL, "x", 1);
	assert_int_equal(feed(fixture), -EPROTO);

	/* After a grant the same byte is allowed. */
	guest_decoder_init(&fixture->decoder);
	memset(&fixture->record, 0, sizeof(fixture->record));
	start_session(fixture, 0);
	fixture->decoder.channels[0].streams[DV_MSG_STDOUT].credit = 0;
	guest_decoder_grant(&fixture->decoder, CHANNEL, DV_MSG_STDOUT, 1);
	assert_int_equal(feed(fixture), 0);
	assert_int_equal(fixture->record.stdout_bytes, 1);
}

static void decoder_file_out_size_mismatch(void **state)
{
	struct fixture *fixture = *state;
	uint8_t size[8];

	start_session(fixture, DV_START_FILE);
	dv_put_u64(size, 5);
	add_frame(&fixture->stream, DV_MSG_FILE_CHANGED, CHANNEL, size, sizeof(size));
	add_frame(&fixture->stream, DV_MSG_FILE_OUT, CHANNEL, "abc", 3);
	add_frame(&fixture->stream, DV_MSG_FILE_OUT, CHANNEL, NULL, 0);
	assert_int_equal(feed(fixture), -EPROTO);
	assert_int_equal(fixture->record.file_size, 5);
	assert_int_equal(fixture->record.file_bytes, 3);
}

static void decoder_file_out_too_long(void **state)
{
	struct fixture *fixture = *state;
	uint8_t size[8];

	start_session(fixture, DV_START_FILE);
	dv_put_u64(size, 2);
	add_frame(&fixture->stream, DV_MSG_FILE_CHANGED, CHANNEL, size, sizeof(size));
	add_frame(&fixture->stream, DV_MSG_FILE_OUT, CHANNEL, "abc", 3);
	assert_int_equal(feed(fixture), -EPROTO);
}

static void decoder_file_out_without_announce(void **state)
{
	struct fixture *fixture = *state;

	start_session(fixture, DV_START_FILE);
	add_frame(&fixture->stream, DV_MSG_FILE_OUT, CHANNEL, "abc", 3);
	assert_int_equal(feed(fixture), -EPROTO);
}

static void decoder_window_rules(void **state)
{
	struct fixture *fixture = *state;
	uint8_t payload[8];

	start_session(fixture, 0);
	dv_put_u32(payload, DV_MSG_STDOUT);
	dv_put_u32(payload + 4, 10);
	add_frame(&fixture->stream, DV_MSG_WINDOW, CHANNEL, payload, sizeof(payload));
	assert_int_equal(feed(fixture), -EPROTO);

	guest_decoder_init(&fixture->decoder);
	start_session(fixture, 0);
	fixture->stream.length = 0;
	dv_put_u32(payload, DV_MSG_STDIN);
	dv_put_u32(payload + 4, 0);
	add_frame(&fixture->stream, DV_MSG_WINDOW, CHANNEL, payload, sizeof(payload));
	assert_int_equal(feed(fixture), -EPROTO);

	guest_decoder_init(&fixture->decoder);
	start_session(fixture, 0);
	fixture->stream.length = 0;
	dv_put_u32(payload + 4, GUEST_MAX_CREDIT);
	add_frame(&fixture->stream, DV_MSG_WINDOW, CHANNEL, payload, sizeof(payload));
	assert_int_equal(feed(fixture), -EPROTO);
}

static void decoder_exit_checks(void **state)
{
	struct fixture *fixture = *state;

	start_session(fixture, 0);
	add_exit(&fixture->stream, DV_EXIT_CODE, 256, "");
	assert_int_equal(feed(fixture), -EPROTO);

	guest_decoder_init(&fixture->decoder);
	start_session(fixture, 0);
	fixture->stream.length = 0;
	add_exit(&fixture->stream, 9, 0, "");
	assert_int_equal(feed(fixture), -EPROTO);

	guest_decoder_init(&fixture->decoder);
	start_session(fixture, 0);
	fixture->stream.length = 0;
	add_exit(&fixture->stream, DV_EXIT_NOT_FOUND, 0, "no\x1b[31m \xff\xc3\xa9");
	add_frame(&fixture->stream, DV_MSG_STDOUT, CHANNEL, "x", 1);
	assert_int_equal(feed(fixture), -EPROTO);
	assert_int_equal(fixture->record.exits, 1);
	assert_string_equal(fixture->record.exit_message, "no?[31m ?\xc3\xa9");
}

/* A valid session, fed in two pieces split at every byte offset. */
static void decoder_split_everywhere(void **state)
{
	struct fixture *fixture = *state;
	struct stream *valid = malloc(sizeof(*valid));
	uint8_t size[8];

	valid->length = 0;
	add_hello(valid);
	add_frame(valid, DV_MSG_READY, 0, NULL, 0);
	size_t after_hello = valid->length;

	add_frame(valid, DV_MSG_STDOUT, CHANNEL, "hello\n", 6);
	add_frame(valid, DV_MSG_STDOUT, CHANNEL, NULL, 0);
	dv_put_u64(size, 4);
	add_frame(valid, DV_MSG_FILE_CHANGED, CHANNEL, size, sizeof(size));
	add_frame(valid, DV_MSG_FILE_OUT, CHANNEL, "data", 4);
	add_frame(valid, DV_MSG_FILE_OUT, CHANNEL, NULL, 0);
	add_exit(valid, DV_EXIT_CODE, 3, "done");

	for (size_t split = 0; split <= valid->length; split++) {
		memset(&fixture->record, 0, sizeof(fixture->record));
		guest_decoder_init(&fixture->decoder);
		/* IDENTITY is on its way to the guest when READY arrives. */
		guest_decoder_identity_sent(&fixture->decoder);
		/* The host sends START only after HELLO and READY, so the
		 * session starts once both were fed. A split inside them
		 * also feeds the session frames in one piece. */
		size_t first = split < after_hello ? split : after_hello;
		size_t middle = split > after_hello ? split : after_hello;

		assert_int_equal(guest_decoder_feed(&fixture->decoder, valid->bytes, first,
						    &callbacks, &fixture->record), 0);
		assert_int_equal(guest_decoder_feed(&fixture->decoder, valid->bytes + first,
						    after_hello - first, &callbacks,
						    &fixture->record), 0);
		assert_int_equal(guest_decoder_start(&fixture->decoder, CHANNEL, DV_START_FILE), 0);
		assert_int_equal(guest_decoder_feed(&fixture->decoder, valid->bytes + after_hello,
						    middle - after_hello, &callbacks,
						    &fixture->record), 0);
		assert_int_equal(guest_decoder_feed(&fixture->decoder, valid->bytes + middle,
						    valid->length - middle, &callbacks,
						    &fixture->record), 0);
		assert_int_equal(fixture->record.hellos, 1);
		assert_int_equal(fixture->record.stdout_bytes, 6);
		assert_int_equal(fixture->record.stdout_eofs, 1);
		assert_int_equal(fixture->record.file_bytes, 4);
		assert_int_equal(fixture->record.exits, 1);
		assert_int_equal(fixture->record.exit_value, 3);
		assert_string_equal(fixture->record.exit_message, "done");
	}
	free(valid);
}

/* Frames of two live channels, interleaved, reach the callbacks with
 * their channel, and each channel ends on its own. */
static void decoder_two_channels_interleaved(void **state)
{
	struct fixture *fixture = *state;

	start_session(fixture, 0);
	assert_int_equal(guest_decoder_start(&fixture->decoder, 2, 0), 0);
	assert_int_equal(guest_decoder_live(&fixture->decoder), 2);
	add_frame(&fixture->stream, DV_MSG_STDOUT, 2, "two", 3);
	add_frame(&fixture->stream, DV_MSG_STDOUT, 1, "a", 1);
	add_frame(&fixture->stream, DV_MSG_STDERR, 2, "22", 2);
	add_frame(&fixture->stream, DV_MSG_STDOUT, 1, NULL, 0);
	add_frame(&fixture->stream, DV_MSG_STDOUT, 2, NULL, 0);
	add_exit_on(&fixture->stream, 2, DV_EXIT_CODE, 7, "");
	add_frame(&fixture->stream, DV_MSG_STDERR, 1, "b", 1);
	assert_int_equal(feed(fixture), 0);
	assert_int_equal(fixture->record.bytes_by_channel[1], 2);
	assert_int_equal(fixture->record.bytes_by_channel[2], 5);
	assert_int_equal(fixture->record.exits, 1);
	assert_int_equal(fixture->record.exit_channel, 2);
	assert_int_equal(fixture->record.exit_value, 7);
	assert_int_equal(guest_decoder_live(&fixture->decoder), 1);

	/* Channel 1 is still live; its windows were not touched by 2's. */
	fixture->stream.length = 0;
	add_exit_on(&fixture->stream, 1, DV_EXIT_CODE, 0, "");
	assert_int_equal(feed(fixture), 0);
	assert_int_equal(fixture->record.exit_channel, 1);
	assert_int_equal(guest_decoder_live(&fixture->decoder), 0);
}

/* A third channel the host never started is a violation. */
static void decoder_third_channel_unknown(void **state)
{
	struct fixture *fixture = *state;

	start_session(fixture, 0);
	assert_int_equal(guest_decoder_start(&fixture->decoder, 2, 0), 0);
	add_frame(&fixture->stream, DV_MSG_STDOUT, 2, "ok", 2);
	add_frame(&fixture->stream, DV_MSG_STDOUT, 3, "no", 2);
	assert_int_equal(feed(fixture), -EPROTO);
	assert_int_equal(fixture->decoder.bad_header.channel, 3);
	assert_string_equal(fixture->decoder.reason, "frame on a channel the host did not start");
	assert_int_equal(fixture->record.bytes_by_channel[2], 2);
}

/* A frame on a channel after its EXIT is a violation, even while another
 * channel is live. */
static void decoder_ended_channel(void **state)
{
	struct fixture *fixture = *state;

	start_session(fixture, 0);
	assert_int_equal(guest_decoder_start(&fixture->decoder, 2, 0), 0);
	add_exit_on(&fixture->stream, 1, DV_EXIT_CODE, 0, "");
	add_frame(&fixture->stream, DV_MSG_STDOUT, 2, "ok", 2);
	add_frame(&fixture->stream, DV_MSG_STDOUT, 1, "late", 4);
	assert_int_equal(feed(fixture), -EPROTO);
	assert_int_equal(fixture->decoder.bad_header.channel, 1);
	assert_string_equal(fixture->decoder.reason, "frame after EXIT on its channel");
	assert_int_equal(fixture->record.bytes_by_channel[1], 0);
	assert_int_equal(fixture->record.bytes_by_channel[2], 2);
}

/* Windows are per channel: one channel's credit does not cover another. */
static void decoder_windows_per_channel(void **state)
{
	struct fixture *fixture = *state;
	static uint8_t chunk[DV_MAX_PAYLOAD];

	start_session(fixture, 0);
	assert_int_equal(guest_decoder_start(&fixture->decoder, 2, 0), 0);
	for (unsigned i = 0; i < DV_INITIAL_WINDOW / DV_MAX_PAYLOAD; i++)
		add_frame(&fixture->stream, DV_MSG_STDOUT, 1, chunk, sizeof(chunk));
	add_frame(&fixture->stream, DV_MSG_STDOUT, 2, "x", 1);
	assert_int_equal(feed(fixture), 0);
	fixture->stream.length = 0;
	add_frame(&fixture->stream, DV_MSG_STDOUT, 1, "x", 1);
	assert_int_equal(feed(fixture), -EPROTO);
	assert_string_equal(fixture->decoder.reason, "data beyond the stream's window");
}

/* At most GUEST_MAX_CHANNELS live channels, numbered upwards; a freed
 * slot takes the next number. */
static void decoder_channel_limits(void **state)
{
	struct fixture *fixture = *state;

	start_session(fixture, 0);
	for (uint32_t channel = 2; channel <= GUEST_MAX_CHANNELS; channel++)
		assert_int_equal(guest_decoder_start(&fixture->decoder, channel, 0), 0);
	assert_int_equal(guest_decoder_start(&fixture->decoder, GUEST_MAX_CHANNELS + 1, 0),
			 -ENOSPC);
	assert_int_equal(guest_decoder_start(&fixture->decoder, 1, 0), -EINVAL);
	assert_int_equal(guest_decoder_start(&fixture->decoder, 0, 0), -EINVAL);
	add_exit_on(&fixture->stream, 5, DV_EXIT_CODE, 0, "");
	assert_int_equal(feed(fixture), 0);
	assert_int_equal(guest_decoder_start(&fixture->decoder, GUEST_MAX_CHANNELS + 1, 0), 0);
	assert_int_equal(guest_decoder_credit(&fixture->decoder, 5, DV_MSG_STDIN), 0);
	assert_int_equal(guest_decoder_credit(&fixture->decoder, GUEST_MAX_CHANNELS + 1,
					      DV_MSG_STDIN), DV_INITIAL_WINDOW);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(decoder_truncated_header, set_up, tear_down),
		cmocka_unit_test_setup_teardown(decoder_oversized_length, set_up, tear_down),
		cmocka_unit_test_setup_teardown(decoder_unknown_type, set_up, tear_down),
		cmocka_unit_test_setup_teardown(decoder_unknown_channel, set_up, tear_down),
		cmocka_unit_test_setup_teardown(decoder_frame_before_hello, set_up, tear_down),
		cmocka_unit_test_setup_teardown(decoder_second_hello, set_up, tear_down),
		cmocka_unit_test_setup_teardown(decoder_ready_before_identity, set_up, tear_down),
		cmocka_unit_test_setup_teardown(decoder_second_ready, set_up, tear_down),
		cmocka_unit_test_setup_teardown(decoder_ready_with_payload, set_up, tear_down),
		cmocka_unit_test_setup_teardown(decoder_session_frame_before_ready, set_up, tear_down),
		cmocka_unit_test_setup_teardown(decoder_restored, set_up, tear_down),
		cmocka_unit_test_setup_teardown(decoder_ready_once_per_vm, set_up, tear_down),
		cmocka_unit_test_setup_teardown(decoder_data_after_eof, set_up, tear_down),
		cmocka_unit_test_setup_teardown(decoder_data_beyond_window, set_up, tear_down),
		cmocka_unit_test_setup_teardown(decoder_file_out_size_mismatch, set_up, tear_down),
		cmocka_unit_test_setup_teardown(decoder_file_out_too_long, set_up, tear_down),
		cmocka_unit_test_setup_teardown(decoder_file_out_without_announce, set_up, tear_down),
		cmocka_unit_test_setup_teardown(decoder_window_rules, set_up, tear_down),
		cmocka_unit_test_setup_teardown(decoder_exit_checks, set_up, tear_down),
		cmocka_unit_test_setup_teardown(decoder_split_everywhere, set_up, tear_down),
		cmocka_unit_test_setup_teardown(decoder_two_channels_interleaved, set_up, tear_down),
		cmocka_unit_test_setup_teardown(decoder_third_channel_unknown, set_up, tear_down),
		cmocka_unit_test_setup_teardown(decoder_ended_channel, set_up, tear_down),
		cmocka_unit_test_setup_teardown(decoder_windows_per_channel, set_up, tear_down),
		cmocka_unit_test_setup_teardown(decoder_channel_limits, set_up, tear_down),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
