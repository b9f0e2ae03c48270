/*
 * libFuzzer target for the daemon's guest-channel decoder, the code that
 * parses every byte a guest sends. Run it with `make fuzz`.
 *
 * Input layout: byte 0 picks the START flags of the session the host
 * started, byte 1 seeds how the rest is cut into reads, and the rest is
 * what the guest sends. Between reads the host grants credit the way the
 * relay does, so window accounting is exercised too.
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

static int accept_output(void *data, uint16_t type, const uint8_t *bytes, size_t length)
{
	/* Touch every byte so the sanitizer sees reads past the payload. */
	volatile uint8_t sink = 0;

	for (size_t i = 0; i < length; i++)
		sink ^= bytes[i];
	(void)sink;
	return 0;
}

static int accept_window(void *data, uint16_t stream, uint32_t increment)
{
	return 0;
}

static int accept_file_changed(void *data, uint64_t size)
{
	return 0;
}

static int accept_exit(void *data, uint32_t kind, int32_t value, const char *message)
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
	if (size < 2)
		return 0;

	uint32_t flags = data[0] & DV_START_FLAGS_ALL;
	uint32_t cut_seed = data[1] | 1u;

	guest_decoder_init(&decoder);
	guest_decoder_start(&decoder, 1, flags);
	data += 2;
	size -= 2;

	while (size > 0) {
		size_t chunk = 1 + (cut_seed % 4099);

		if (chunk > size)
			chunk = size;
		if (guest_decoder_feed(&decoder, data, chunk, &callbacks, NULL) < 0)
			break;
		guest_decoder_grant(&decoder, DV_MSG_STDOUT, (uint32_t)chunk);
		data += chunk;
		size -= chunk;
		cut_seed = cut_seed * 1103515245u + 12345u;
	}
	return 0;
}
