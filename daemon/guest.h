/*
 * Host side decoder of the guest channel: the only code in dispvmd that
 * parses bytes from a guest. It checks every frame against the protocol
 * (protocol/dispvm-protocol.h) and the session state, and hands checked
 * values to callbacks. It does no I/O, so unit tests and fuzz targets feed
 * it bytes directly.
 */
#ifndef DISPVMD_GUEST_H
#define DISPVMD_GUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dispvm-protocol.h"

/* Cap on the credit a guest may grant for one host->guest stream, so a
 * WINDOW flood cannot overflow the counter. */
#define GUEST_MAX_CREDIT (64u * 1024u * 1024u)

/* Sessions one VM may run at once, and so channels the decoder tracks. */
#define GUEST_MAX_CHANNELS 16u

/* Callbacks get checked values only; `channel` is a live channel the host
 * started. A callback returns 0 to go on or a negative errno value to stop
 * guest_decoder_feed, which returns it. */
struct guest_callbacks {
	int (*hello)(void *data, uint32_t version, uint32_t max_payload);
	/* The agent applied IDENTITY and accepts START. */
	int (*ready)(void *data);
	/* `type` is DV_MSG_STDOUT, DV_MSG_STDERR or DV_MSG_FILE_OUT; length 0
	 * is the end of that stream. */
	int (*output)(void *data, uint32_t channel, uint16_t type, const uint8_t *bytes,
		      size_t length);
	/* Credit was added to DV_MSG_STDIN or DV_MSG_FILE_IN. */
	int (*window)(void *data, uint32_t channel, uint16_t stream, uint32_t increment);
	int (*file_changed)(void *data, uint32_t channel, uint64_t size);
	/* `message` is sanitised text, NUL-terminated, possibly empty. The
	 * channel has ended when this runs. */
	int (*exit)(void *data, uint32_t channel, uint32_t kind, int32_t value,
		    const char *message);
};

/* Per-stream state of one channel. */
struct guest_stream {
	uint64_t credit; /* bytes the sender may still send */
	bool ended;      /* EOF seen (guest->host) or sent (host->guest) */
};

/* A live channel: started by the host, no EXIT yet. */
struct guest_channel {
	uint32_t id;          /* 0: the slot is free */
	uint32_t start_flags; /* DV_START_* */
	struct guest_stream streams[DV_MSG_FILE_OUT + 1]; /* indexed by type */
	bool file_announced;
	uint64_t file_remaining; /* FILE_OUT bytes still expected */
};

struct guest_decoder {
	uint8_t buffer[DV_HEADER_SIZE + DV_MAX_PAYLOAD];
	size_t used;
	bool hello_seen;
	bool identity_sent; /* the host sent IDENTITY */
	bool ready_seen;
	/* The host numbers channels upwards from 1 and never reuses one, so
	 * a channel at or below this that is not live has ended. */
	uint32_t highest_started;
	struct guest_channel channels[GUEST_MAX_CHANNELS];
	/* Description of the last violation and the frame that caused it. */
	const char *reason;
	struct dv_header bad_header;
};

void guest_decoder_init(struct guest_decoder *decoder);

/* Like guest_decoder_init for a guest restored from a savefile, whose
 * HELLO was sent before its state was saved: another HELLO is a
 * violation. */
void guest_decoder_init_restored(struct guest_decoder *decoder);

/* Record that the host sent IDENTITY, after which one READY may come. */
void guest_decoder_identity_sent(struct guest_decoder *decoder);

/* Record that the host sends START for `channel` with `flags`. `channel`
 * must be above every channel started before. Returns 0, or -ENOSPC when
 * GUEST_MAX_CHANNELS channels are live, or -EINVAL for a channel number
 * that is not new. */
int guest_decoder_start(struct guest_decoder *decoder, uint32_t channel, uint32_t flags);

/* Channels started and not yet ended. */
unsigned guest_decoder_live(const struct guest_decoder *decoder);

/* Grant the guest `increment` more bytes on a guest->host stream of a live
 * channel; a no-op for a channel that is not live. */
void guest_decoder_grant(struct guest_decoder *decoder, uint32_t channel, uint16_t stream,
			 uint32_t increment);

/* Bytes the host may still send on a host->guest stream of `channel` now;
 * 0 when the channel is not live. */
uint64_t guest_decoder_credit(const struct guest_decoder *decoder, uint32_t channel,
			      uint16_t stream);

/* Record that the host sent `length` bytes (0: EOF) on a host->guest
 * stream of `channel`. The caller must stay within guest_decoder_credit. */
void guest_decoder_sent(struct guest_decoder *decoder, uint32_t channel, uint16_t stream,
			size_t length);

/*
 * Consume untrusted bytes from the guest, calling a callback for each
 * complete frame. Returns 0 when all bytes were taken, -EPROTO on a
 * protocol violation (decoder->reason and decoder->bad_header describe it),
 * or the negative value a callback returned. After an error the decoder
 * must not be fed again.
 */
int guest_decoder_feed(struct guest_decoder *decoder, const uint8_t *untrusted_bytes,
		       size_t length, const struct guest_callbacks *callbacks, void *data);

/* Copy `length` bytes of untrusted text into `out` as printable UTF-8,
 * replacing control characters and invalid sequences with '?'. */
void guest_sanitize_text(const uint8_t *untrusted_text, size_t length, char *out,
			 size_t size);

#endif
