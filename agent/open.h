/*
 * The file of an open session: receiving it into the user's home,
 * hashing it, choosing its handler from the mailcap, and sending it back
 * when the handler changed it.
 */
#ifndef DISPVM_AGENT_OPEN_H
#define DISPVM_AGENT_OPEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

struct session;

struct open_file {
	int fd;            /* file being received or sent back, or -1 */
	char path[300];    /* /home/user/<name> */
	uint64_t size;     /* announced by START */
	uint64_t received; /* FILE_IN bytes written so far */
	uint64_t receive_credit; /* FILE_IN bytes the host may still send */
	XXH3_state_t hash;
	XXH128_hash_t received_hash;
	uint64_t credit;    /* FILE_OUT bytes the host still accepts */
	uint64_t remaining; /* FILE_OUT bytes still to send */
};

/* Create the file for an open session. Returns 0, or a negative errno
 * after failing the session. */
int open_begin(struct session *session);

/* Append FILE_IN data. Returns 0 or -EPROTO. */
int open_receive(struct session *session, const uint8_t *untrusted_data, size_t length);

/* Zero-length FILE_IN: check the size, then start the handler. Returns 0
 * or -EPROTO. */
int open_received_all(struct session *session);

/* After the handler and all its processes exited: hash the file again
 * and, when it changed, send FILE_CHANGED and start sending it. Returns
 * true when FILE_OUT data follows. */
bool open_start_send(struct session *session);

/* Send FILE_OUT within the credit. Returns true once the whole file and
 * its EOF are sent. */
bool open_send_more(struct session *session);

/* Remove the file and close its fd. */
void open_cleanup(struct session *session);

/* Classify content as "text/plain" (no NUL, valid UTF-8, or empty) or
 * "application/octet-stream". `truncated` says whether the file goes on
 * after `length` bytes, where a cut multibyte character is allowed. */
const char *open_classify(const uint8_t *data, size_t length, bool truncated);

#endif
