/*
 * libFuzzer target for the daemon's guest-channel decoder, the code that
 * parses every byte a guest sends. Run it with `make fuzz`.
 *
 * Input layout: byte 0 picks the START flags of the sessions the host
 * started, byte 1 seeds how the rest is cut into reads, byte 2 how many
 * channels (1..3) are started before the first read, and the rest is what
 * the guest sends. Between reads the host grants credit on one channel
 * the way the relay does, and now and then starts one more channel the
 * way an exec does, so window accounting and the channel table are
 * exercised too.
 */
#include <stddef.h>
#include <stdint.h>

#include "dispvm-protocol.h"
#include "guest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct guest_decoder decoder;

/* The host answers HELLO with IDENTITY, after which READY is allowed. */
static int accept_hello(void *data, uint32_t version, uint32_t max_payload)
{
	guest_decoder_identity_sent(&decoder);
	return 0;
}

static int accept_ready(void *data)
{
	return 0;
}

static int accept_output(void *data, uint32_t channel, uint16_t type, const uint8_t *bytes,
			 size_t length)
{
	/* Touch every byte so the sanitizer sees reads past the payload. */
	volatile uint8_t sink = 0;

	for (size_t i = 0; i < length; i++)
		sink ^= bytes[i];
	(void)sink;
	return 0;
}

static int accept_window(void *data, uint32_t channel, uint16_t stream, uint32_t increment)
{
	return 0;
}

static int accept_file_changed(void *data, uint32_t channel, uint64_t size)
{
	return 0;
}

static int accept_exit(void *data, uint32_t channel, uint32_t kind, int32_t value,
		       const char *message)
{
	volatile size_t length = 0;

	while (message[length] != '\0')
		length++;
	return 0;
}

static const struct guest_callbacks callbacks = {
	.hello = accept_hello,
	.ready = accept_ready,
	.output = accept_output,
	.window = accept_window,
	.file_changed = accept_file_changed,
	.exit = accept_exit,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 3)
		return 0;

	uint32_t flags = data[0] & DV_START_FLAGS_ALL;
	uint32_t cut_seed = data[1] | 1u;
	uint32_t channels = 1 + data[2] % 3;

	guest_decoder_init(&decoder);
	for (uint32_t channel = 1; channel <= channels; channel++)
		guest_decoder_start(&decoder, channel, flags);
	data += 3;
	size -= 3;

	while (size > 0) {
		size_t chunk = 1 + (cut_seed % 4099);

		if (chunk > size)
			chunk = size;
		if (guest_decoder_feed(&decoder, data, chunk, &callbacks, NULL) < 0)
			break;
		guest_decoder_grant(&decoder, 1 + (cut_seed >> 16) % channels, DV_MSG_STDOUT,
				    (uint32_t)chunk);
		if ((cut_seed >> 8) % 5 == 0 && guest_decoder_start(&decoder, channels + 1, 0) == 0)
			channels++;
		data += chunk;
		size -= chunk;
		cut_seed = cut_seed * 1103515245u + 12345u;
	}
	return 0;
}
