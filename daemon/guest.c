/*
 * Decoder of the guest channel. Every byte here comes from the guest and
 * is untrusted: frame headers are checked with dv_header_check before the
 * payload is read, and each frame is checked against the session state
 * before it reaches a callback.
 */
#include "guest.h"

#include <errno.h>
#include <string.h>

void guest_decoder_init(struct guest_decoder *decoder)
{
	memset(decoder, 0, sizeof(*decoder));
}

void guest_decoder_init_restored(struct guest_decoder *decoder)
{
	guest_decoder_init(decoder);
	decoder->hello_seen = true;
}

void guest_decoder_identity_sent(struct guest_decoder *decoder)
{
	decoder->identity_sent = true;
}

/* Slot of live `channel`, or -1. */
static int channel_slot(const struct guest_decoder *decoder, uint32_t channel)
{
	if (channel == 0)
		return -1;
	for (unsigned i = 0; i < GUEST_MAX_CHANNELS; i++) {
		if (decoder->channels[i].id == channel)
			return (int)i;
	}
	return -1;
}

static struct guest_channel *find_channel(struct guest_decoder *decoder, uint32_t channel)
{
	int slot = channel_slot(decoder, channel);

	return slot < 0 ? NULL : &decoder->channels[slot];
}

int guest_decoder_start(struct guest_decoder *decoder, uint32_t channel, uint32_t flags)
{
	if (channel == 0 || channel > DV_MAX_CHANNEL || channel <= decoder->highest_started)
		return -EINVAL;

	struct guest_channel *slot = NULL;

	for (unsigned i = 0; slot == NULL && i < GUEST_MAX_CHANNELS; i++) {
		if (decoder->channels[i].id == 0)
			slot = &decoder->channels[i];
	}
	if (slot == NULL)
		return -ENOSPC;
	memset(slot, 0, sizeof(*slot));
	slot->id = channel;
	slot->start_flags = flags;
	for (int type = DV_MSG_STDIN; type <= DV_MSG_FILE_OUT; type++)
		slot->streams[type].credit = DV_INITIAL_WINDOW;
	decoder->highest_started = channel;
	return 0;
}

unsigned guest_decoder_live(const struct guest_decoder *decoder)
{
	unsigned count = 0;

	for (unsigned i = 0; i < GUEST_MAX_CHANNELS; i++)
		count += decoder->channels[i].id != 0;
	return count;
}

void guest_decoder_grant(struct guest_decoder *decoder, uint32_t channel, uint16_t stream,
			 uint32_t increment)
{
	struct guest_channel *state = find_channel(decoder, channel);

	if (state != NULL && dv_is_data_type(stream))
		state->streams[stream].credit += increment;
}

uint64_t guest_decoder_credit(const struct guest_decoder *decoder, uint32_t channel,
			      uint16_t stream)
{
	int slot = channel_slot(decoder, channel);

	if (slot < 0 || !dv_is_data_type(stream))
		return 0;

	const struct guest_stream *state = &decoder->channels[slot].streams[stream];

	return state->ended ? 0 : state->credit;
}

void guest_decoder_sent(struct guest_decoder *decoder, uint32_t channel, uint16_t stream,
			size_t length)
{
	struct guest_channel *state = find_channel(decoder, channel);

	if (state == NULL || !dv_is_data_type(stream))
		return;
	if (length == 0) {
		state->streams[stream].ended = true;
		return;
	}
	uint64_t *credit = &state->streams[stream].credit;

	*credit = length <= *credit ? *credit - length : 0;
}

static int violation(struct guest_decoder *decoder, const struct dv_header *header,
		     const char *reason)
{
	decoder->reason = reason;
	decoder->bad_header = *header;
	return -EPROTO;
}

/* Length of the UTF-8 sequence starting at `bytes`, or 0 if invalid. */
static size_t utf8_sequence_length(const uint8_t *bytes, size_t available)
{
	uint8_t lead = bytes[0];
	size_t length;
	uint32_t code;

	if (lead >= 0xc2 && lead <= 0xdf) {
		length = 2;
		code = lead & 0x1f;
	} else if (lead >= 0xe0 && lead <= 0xef) {
		length = 3;
		code = lead & 0x0f;
	} else if (lead >= 0xf0 && lead <= 0xf4) {
		length = 4;
		code = lead & 0x07;
	} else {
		return 0;
	}
	if (length > available)
		return 0;
	for (size_t i = 1; i < length; i++) {
		if ((bytes[i] & 0xc0) != 0x80)
			return 0;
		code = (code << 6) | (bytes[i] & 0x3f);
	}
	/* Reject overlong forms, UTF-16 surrogates and code points past
	 * U+10FFFF, and the C1 control characters U+0080..U+009F. */
	if ((length == 3 && code < 0x800) || (length == 4 && code < 0x10000))
		return 0;
	if ((code >= 0xd800 && code <= 0xdfff) || code > 0x10ffff || code < 0xa0)
		return 0;
	return length;
}

void guest_sanitize_text(const uint8_t *untrusted_text, size_t length, char *out, size_t size)
{
	size_t in = 0;
	size_t used = 0;

	while (in < length && used + 5 <= size) {
		uint8_t byte = untrusted_text[in];

		if (byte >= 0x20 && byte < 0x7f) {
			out[used++] = (char)byte;
			in++;
			continue;
		}

		size_t sequence = byte >= 0x80 ? utf8_sequence_length(untrusted_text + in,
								       length - in)
					       : 0;

		if (sequence == 0) {
			out[used++] = '?';
			in++;
			continue;
		}
		memcpy(out + used, untrusted_text + in, sequence);
		used += sequence;
		in += sequence;
	}
	if (size > 0)
		out[used < size ? used : size - 1] = '\0';
}

/* Find the live channel of a session frame, or report the violation. */
static int check_session_frame(struct guest_decoder *decoder, const struct dv_header *header,
			       struct guest_channel **out)
{
	if (!decoder->hello_seen)
		return violation(decoder, header, "frame before HELLO");
	if (!decoder->ready_seen)
		return violation(decoder, header, "session frame before READY");
	*out = find_channel(decoder, header->channel);
	if (*out != NULL)
		return 0;
	if (header->channel != 0 && header->channel <= decoder->highest_started)
		return violation(decoder, header, "frame after EXIT on its channel");
	return violation(decoder, header, "frame on a channel the host did not start");
}

static int handle_hello(struct guest_decoder *decoder, const struct dv_header *header,
			const uint8_t *untrusted_payload, const struct guest_callbacks *callbacks,
			void *data)
{
	if (decoder->hello_seen)
		return violation(decoder, header, "second HELLO");

	uint32_t version = dv_get_u32(untrusted_payload);
	uint32_t max_payload = dv_get_u32(untrusted_payload + 4);

	if (version != DV_PROTOCOL_VERSION)
		return violation(decoder, header, "unsupported protocol version in HELLO");
	decoder->hello_seen = true;
	return callbacks->hello(data, version, max_payload);
}

static int handle_ready(struct guest_decoder *decoder, const struct dv_header *header,
			const struct guest_callbacks *callbacks, void *data)
{
	if (!decoder->identity_sent)
		return violation(decoder, header, "READY before IDENTITY");
	if (decoder->ready_seen)
		return violation(decoder, header, "second READY");
	decoder->ready_seen = true;
	return callbacks->ready(data);
}

/* One checked frame of a live channel, on its way to a callback. */
struct session_frame {
	const struct dv_header *header;
	const uint8_t *untrusted_payload;
	struct guest_channel *channel;
	const struct guest_callbacks *callbacks;
	void *data;
};

static int check_file_out(struct guest_decoder *decoder, const struct session_frame *frame)
{
	struct guest_channel *channel = frame->channel;
	const struct dv_header *header = frame->header;

	if (!channel->file_announced)
		return violation(decoder, header, "FILE_OUT before FILE_CHANGED");
	if (header->length > channel->file_remaining)
		return violation(decoder, header, "FILE_OUT longer than FILE_CHANGED announced");
	if (header->length == 0 && channel->file_remaining != 0)
		return violation(decoder, header, "FILE_OUT shorter than FILE_CHANGED announced");
	channel->file_remaining -= header->length;
	return 0;
}

static int handle_output(struct guest_decoder *decoder, const struct session_frame *frame)
{
	const struct dv_header *header = frame->header;
	struct guest_stream *stream = &frame->channel->streams[header->type];
	int ret;

	if (stream->ended)
		return violation(decoder, header, "data after EOF of its stream");
	if (header->length > stream->credit)
		return violation(decoder, header, "data beyond the stream's window");
	if (header->type == DV_MSG_FILE_OUT) {
		ret = check_file_out(decoder, frame);
		if (ret < 0)
			return ret;
	}
	stream->credit -= header->length;
	if (header->length == 0)
		stream->ended = true;
	/* The payload is checked: its length fits the window, and its bytes
	 * are opaque data that the host only copies. */
	return frame->callbacks->output(frame->data, header->channel, header->type,
					frame->untrusted_payload, header->length);
}

static int handle_window(struct guest_decoder *decoder, const struct session_frame *frame)
{
	const struct dv_header *header = frame->header;
	uint32_t stream = dv_get_u32(frame->untrusted_payload);
	uint32_t increment = dv_get_u32(frame->untrusted_payload + 4);
	struct guest_stream *state;

	if (stream != DV_MSG_STDIN && stream != DV_MSG_FILE_IN)
		return violation(decoder, header, "WINDOW for a stream the guest does not receive");
	if (increment == 0)
		return violation(decoder, header, "WINDOW with zero increment");
	state = &frame->channel->streams[stream];
	if (state->credit + increment > GUEST_MAX_CREDIT)
		return violation(decoder, header, "WINDOW credit above the limit");
	state->credit += increment;
	return frame->callbacks->window(frame->data, header->channel, (uint16_t)stream,
					increment);
}

static int handle_file_changed(struct guest_decoder *decoder, const struct session_frame *frame)
{
	const struct dv_header *header = frame->header;
	struct guest_channel *channel = frame->channel;
	uint64_t size = dv_get_u64(frame->untrusted_payload);

	if (!(channel->start_flags & DV_START_FILE))
		return violation(decoder, header, "FILE_CHANGED in a session without a file");
	if (channel->start_flags & DV_START_VIEW_ONLY)
		return violation(decoder, header, "FILE_CHANGED in a view-only session");
	if (channel->file_announced)
		return violation(decoder, header, "second FILE_CHANGED");
	channel->file_announced = true;
	channel->file_remaining = size;
	return frame->callbacks->file_changed(frame->data, header->channel, size);
}

static int handle_exit(struct guest_decoder *decoder, const struct session_frame *frame)
{
	const struct dv_header *header = frame->header;
	struct guest_channel *channel = frame->channel;
	uint32_t kind = dv_get_u32(frame->untrusted_payload);
	int32_t value = (int32_t)dv_get_u32(frame->untrusted_payload + 4);
	char message[DV_MAX_EXIT_MESSAGE * 2 + 1];

	if (kind < DV_EXIT_CODE || kind > DV_EXIT_FAILED)
		return violation(decoder, header, "unknown EXIT kind");
	if (kind == DV_EXIT_CODE && (value < 0 || value > 255))
		return violation(decoder, header, "EXIT status out of range 0..255");
	if (kind == DV_EXIT_SIGNAL && (value < 1 || value > 64))
		return violation(decoder, header, "EXIT signal out of range 1..64");
	if (channel->file_announced && channel->file_remaining != 0)
		return violation(decoder, header, "EXIT before the whole FILE_OUT");
	/* EXIT ends the channel: its slot is free for the next session. */
	memset(channel, 0, sizeof(*channel));
	guest_sanitize_text(frame->untrusted_payload + DV_EXIT_FIXED_SIZE,
			    header->length - DV_EXIT_FIXED_SIZE, message, sizeof(message));
	return frame->callbacks->exit(frame->data, header->channel, kind, value, message);
}

static int dispatch(struct guest_decoder *decoder, const struct dv_header *header,
		    const uint8_t *untrusted_payload, const struct guest_callbacks *callbacks,
		    void *data)
{
	struct session_frame frame = {
		.header = header, .untrusted_payload = untrusted_payload,
		.callbacks = callbacks, .data = data,
	};

	if (header->type == DV_MSG_HELLO)
		return handle_hello(decoder, header, untrusted_payload, callbacks, data);
	if (header->type == DV_MSG_READY)
		return handle_ready(decoder, header, callbacks, data);

	int ret = check_session_frame(decoder, header, &frame.channel);

	if (ret < 0)
		return ret;
	switch (header->type) {
	case DV_MSG_STDOUT:
	case DV_MSG_STDERR:
	case DV_MSG_FILE_OUT:
		return handle_output(decoder, &frame);
	case DV_MSG_WINDOW:
		return handle_window(decoder, &frame);
	case DV_MSG_FILE_CHANGED:
		return handle_file_changed(decoder, &frame);
	case DV_MSG_EXIT:
		return handle_exit(decoder, &frame);
	default:
		return violation(decoder, header, "message type not handled by the host");
	}
}

/* Check the header once its last byte arrived, before reading the payload. */
static int check_header(struct guest_decoder *decoder, struct dv_header *header)
{
	const char *reason = NULL;

	dv_header_decode(decoder->buffer, header);
	if (dv_header_check(header, DV_TO_HOST, &reason) < 0)
		return violation(decoder, header, reason);
	return 0;
}

int guest_decoder_feed(struct guest_decoder *decoder, const uint8_t *untrusted_bytes,
		       size_t length, const struct guest_callbacks *callbacks, void *data)
{
	struct dv_header header;
	size_t offset = 0;

	while (offset < length) {
		size_t need = DV_HEADER_SIZE;

		if (decoder->used >= DV_HEADER_SIZE) {
			dv_header_decode(decoder->buffer, &header);
			need = DV_HEADER_SIZE + header.length;
		}

		size_t take = need - decoder->used;

		if (take > length - offset)
			take = length - offset;
		memcpy(decoder->buffer + decoder->used, untrusted_bytes + offset, take);
		decoder->used += take;
		offset += take;

		if (decoder->used == DV_HEADER_SIZE) {
			int ret = check_header(decoder, &header);

			if (ret < 0)
				return ret;
			if (header.length > 0)
				continue;
		} else if (decoder->used < need) {
			continue;
		}

		dv_header_decode(decoder->buffer, &header);
		decoder->used = 0;

		int ret = dispatch(decoder, &header, decoder->buffer + DV_HEADER_SIZE, callbacks,
				   data);

		if (ret < 0)
			return ret;
	}
	return 0;
}
