/*
 * The host-guest protocol of dispvm: the one definition shared by the
 * daemon (host side) and the guest agent.
 *
 * Transport: one virtio-serial port named DV_PORT_NAME. The byte stream
 * carries frames. Each frame is a 12-byte header followed by `length`
 * payload bytes. All integers are little-endian.
 *
 * Channels multiplex sessions over the port. Channel 0 is the control
 * channel and carries only HELLO, IDENTITY and READY. The host picks the id
 * of every other channel when it sends START and the channel ends when the
 * guest sends EXIT.
 *
 * Start of a guest: the agent sends HELLO once it is up. The host answers
 * with IDENTITY (the VM's name, the wall-clock time and fresh entropy); the
 * agent applies it before anything else runs and replies with READY; only then
 * may the host send START. A guest restored from a savefile sent its HELLO
 * before the state was saved, so on that path the host sends IDENTITY
 * right after the guest resumes, and both paths go on alike.
 *
 * Flow control: every data stream (STDIN, STDOUT, STDERR, FILE_IN,
 * FILE_OUT) of a channel has a credit window, counted in payload bytes and
 * starting at DV_INITIAL_WINDOW. A sender may have at most that many bytes
 * unacknowledged; the receiver grants more with WINDOW once it has passed
 * bytes on. The host destroys a guest that sends past its window, so the
 * host never buffers more than DV_INITIAL_WINDOW bytes per guest stream.
 *
 * A data frame with length 0 ends its stream (EOF). Data after EOF is a
 * protocol violation.
 *
 * The host treats every byte from the guest as untrusted. On any violation
 * (bad length, unknown type, wrong direction, unknown channel, data past
 * the window or after EOF, malformed payload) it drops the connection and
 * destroys that VM.
 *
 * Version history:
 *   1  first version.
 *   2  IDENTITY and READY: the host gives every guest its name, clock and
 *      entropy before the first START (guests restored from one savefile
 *      start identical). The host name no longer comes from the kernel
 *      command line.
 */
#ifndef DISPVM_PROTOCOL_H
#define DISPVM_PROTOCOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DV_PROTOCOL_VERSION 2

/* Name of the virtio-serial port; the agent finds it under
 * /sys/class/virtio-ports/. */
#define DV_PORT_NAME "org.dispvm.agent.0"

#define DV_HEADER_SIZE 12u
/* Largest payload of any frame. Bigger lengths are a violation. */
#define DV_MAX_PAYLOAD 65536u
/* Credit of every data stream when its channel starts, in bytes. */
#define DV_INITIAL_WINDOW (256u * 1024u)
/* Largest EXIT message text, in bytes. */
#define DV_MAX_EXIT_MESSAGE 1024u
/* Highest channel id the host allocates. */
#define DV_MAX_CHANNEL 0xffffu

enum dv_direction {
	DV_TO_GUEST = 1, /* host -> guest */
	DV_TO_HOST = 2,  /* guest -> host */
};

/*
 * Message types. For each: direction, channel and payload layout, and the
 * payload size limit.
 */
enum dv_msg_type {
	/* guest -> host, channel 0, payload struct dv_hello (exactly 8 bytes).
	 * Sent once when the agent is ready to serve. */
	DV_MSG_HELLO = 1,
	/* host -> guest, channel N > 0 not in use, payload struct dv_start
	 * followed by strings (see below), at most DV_MAX_PAYLOAD. */
	DV_MSG_START = 2,
	/* host -> guest, data for the command's standard input, 0..MAX. */
	DV_MSG_STDIN = 3,
	/* guest -> host, data from the command's standard output (or from the
	 * pty when the session has one), 0..MAX. */
	DV_MSG_STDOUT = 4,
	/* guest -> host, data from the command's standard error, 0..MAX. */
	DV_MSG_STDERR = 5,
	/* host -> guest, content of the file of an open session, 0..MAX. The
	 * stream carries exactly dv_start.file_size bytes, then EOF. */
	DV_MSG_FILE_IN = 6,
	/* guest -> host, the edited file, 0..MAX; only after FILE_CHANGED and
	 * carrying exactly the size it announced, then EOF. */
	DV_MSG_FILE_OUT = 7,
	/* both directions, payload struct dv_window (exactly 8 bytes): grants
	 * more credit for one data stream of the channel. */
	DV_MSG_WINDOW = 8,
	/* host -> guest, payload struct dv_signal (exactly 4 bytes): deliver
	 * a signal to the session's command. */
	DV_MSG_SIGNAL = 9,
	/* host -> guest, payload struct dv_winsize (exactly 4 bytes). */
	DV_MSG_RESIZE = 10,
	/* guest -> host, payload struct dv_file_changed (exactly 8 bytes):
	 * the file of an open session changed and FILE_OUT follows. */
	DV_MSG_FILE_CHANGED = 11,
	/* guest -> host, payload struct dv_exit followed by an optional
	 * message (UTF-8, not NUL-terminated, at most DV_MAX_EXIT_MESSAGE
	 * bytes). Last frame of a channel. */
	DV_MSG_EXIT = 12,
	/* host -> guest, no payload: end the session now, killing its
	 * processes. The guest still replies with EXIT. */
	DV_MSG_CLOSE = 13,
	/* host -> guest, channel 0, payload struct dv_identity followed by
	 * the VM name (1..DV_MAX_HOST_NAME bytes of [a-z0-9-], no NUL).
	 * Sent once, after HELLO (or after a restore), before any START. */
	DV_MSG_IDENTITY = 14,
	/* guest -> host, channel 0, no payload: the agent applied IDENTITY
	 * and accepts START. Sent once, only after IDENTITY. */
	DV_MSG_READY = 15,
};
#define DV_MSG_TYPE_MAX DV_MSG_READY

struct dv_hello {
	uint32_t version;     /* DV_PROTOCOL_VERSION of the agent */
	uint32_t max_payload; /* largest payload the agent accepts */
};

/* Flags of struct dv_start. */
#define DV_START_TTY 0x1u	/* run under a pty; STDERR is unused */
#define DV_START_FILE 0x2u	/* open session: FILE_IN follows */
#define DV_START_VIEW_ONLY 0x4u /* guest copy read-only, never sent back */
#define DV_START_FLAGS_ALL 0x7u

/*
 * START payload: this fixed part, then NUL-terminated strings in order:
 *   argc strings   the command and its arguments (argc may be 0 only with
 *                  DV_START_FILE, where the template's handler is used);
 *   envc strings   NAME=VALUE entries added to the default environment;
 *   cwd            working directory, empty for the user's home;
 *   with DV_START_FILE only:
 *     file name    base name in /home/user: 1..255 bytes, no '/';
 *     app          shell command to open it with, empty for the template's
 *                  mailcap entry; the quoted path is appended to it.
 * Nothing may follow the last string.
 */
struct dv_start {
	uint32_t flags;
	uint16_t rows; /* pty size, with DV_START_TTY */
	uint16_t cols;
	uint32_t argc;
	uint32_t envc;
	uint64_t file_size; /* with DV_START_FILE */
};
#define DV_START_FIXED_SIZE 24u

/* Bytes of entropy in IDENTITY. */
#define DV_IDENTITY_ENTROPY 64u
/* Longest VM name in IDENTITY; the guest's host name. */
#define DV_MAX_HOST_NAME 63u

/*
 * IDENTITY payload: this fixed part, then the name. The agent sets the
 * host name, sets CLOCK_REALTIME to `realtime_ns`, adds `entropy` to the
 * kernel's pool (credited) and forces a reseed of the kernel's random
 * generator.
 */
struct dv_identity {
	uint64_t realtime_ns; /* host CLOCK_REALTIME when sent, ns since the epoch */
	uint8_t entropy[DV_IDENTITY_ENTROPY];
};
#define DV_IDENTITY_FIXED_SIZE (8u + DV_IDENTITY_ENTROPY)

struct dv_window {
	uint32_t stream;    /* DV_MSG_STDIN .. DV_MSG_FILE_OUT */
	uint32_t increment; /* bytes, > 0 */
};

struct dv_signal {
	uint32_t signo; /* 1..64 */
};

struct dv_winsize {
	uint16_t rows;
	uint16_t cols;
};

struct dv_file_changed {
	uint64_t size; /* bytes of FILE_OUT that follow */
};

enum dv_exit_kind {
	DV_EXIT_CODE = 1,     /* value: exit status 0..255 */
	DV_EXIT_SIGNAL = 2,   /* value: signal number 1..64 */
	DV_EXIT_NOT_FOUND = 3, /* command not found (127) */
	DV_EXIT_NOT_EXECUTABLE = 4, /* command found but not executable (126) */
	DV_EXIT_FAILED = 5,   /* the agent failed to start the session */
};

struct dv_exit {
	uint32_t kind;
	int32_t value;
};
#define DV_EXIT_FIXED_SIZE 8u

struct dv_header {
	uint16_t type;
	uint16_t flags; /* 0 in version 1; anything else is a violation */
	uint32_t channel;
	uint32_t length;
};

/* Little-endian helpers for payloads. */
void dv_put_u16(uint8_t *out, uint16_t value);
void dv_put_u32(uint8_t *out, uint32_t value);
void dv_put_u64(uint8_t *out, uint64_t value);
uint16_t dv_get_u16(const uint8_t *in);
uint32_t dv_get_u32(const uint8_t *in);
uint64_t dv_get_u64(const uint8_t *in);

void dv_header_encode(uint8_t out[DV_HEADER_SIZE], const struct dv_header *header);
void dv_header_decode(const uint8_t in[DV_HEADER_SIZE], struct dv_header *header);

/*
 * Check a decoded header against the rules that need no session state:
 * known type, flags 0, length within the type's limit, channel 0 exactly
 * for HELLO, and `direction` allowed for the type. Returns 0 or -EPROTO and
 * sets *reason to a static string naming the violation.
 */
int dv_header_check(const struct dv_header *header, enum dv_direction direction,
		    const char **reason);

/* True for STDIN, STDOUT, STDERR, FILE_IN and FILE_OUT. */
bool dv_is_data_type(uint16_t type);

/* Name of a message type for logs, "unknown" for others. */
const char *dv_msg_name(uint16_t type);

/*
 * Decoded START. The string pointers point into the payload buffer, which
 * must outlive this struct. `argv` and `envp` are arrays allocated by
 * dv_start_decode, NULL-terminated, freed with dv_start_free.
 */
struct dv_start_request {
	struct dv_start fixed;
	char **argv;
	char **envp;
	const char *cwd;
	const char *file_name; /* NULL unless DV_START_FILE */
	const char *app;       /* NULL unless DV_START_FILE */
};

/* Parse a START payload. Returns 0 or -EPROTO with *reason set. */
int dv_start_decode(const uint8_t *payload, size_t length, struct dv_start_request *request,
		    const char **reason);
void dv_start_free(struct dv_start_request *request);

/*
 * Encode a START payload into `out` (capacity `size`). Returns the payload
 * length, or -E2BIG when it does not fit in `size` or DV_MAX_PAYLOAD.
 */
long dv_start_encode(uint8_t *out, size_t size, const struct dv_start *fixed,
		     const char *const *argv, const char *const *envp, const char *cwd,
		     const char *file_name, const char *app);

/*
 * Encode an IDENTITY payload into `out`, which has room for at least
 * DV_IDENTITY_FIXED_SIZE + DV_MAX_HOST_NAME bytes. Returns the payload
 * length, or -EINVAL when `name` is not a valid host name.
 */
long dv_identity_encode(uint8_t *out, const struct dv_identity *identity, const char *name);

/*
 * Parse an IDENTITY payload. `name` receives the NUL-terminated name and
 * holds DV_MAX_HOST_NAME + 1 bytes. Returns 0 or -EPROTO with *reason set.
 */
int dv_identity_decode(const uint8_t *payload, size_t length, struct dv_identity *identity,
		       char *name, const char **reason);

/* Check a host name as IDENTITY carries it: 1..DV_MAX_HOST_NAME bytes of
 * [a-z0-9-], not starting with '-'. */
bool dv_host_name_valid(const char *name, size_t length);

/* Check a file base name as START carries it: 1..255 bytes, no '/', not
 * "." or "..". */
bool dv_file_name_valid(const char *name, size_t length);

#endif
