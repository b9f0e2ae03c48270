/* The file of an open session (see open.h). */
#include "open.h"
#include "kmsg.h"
#include "mailcap.h"
#include "port.h"
#include "privileges.h"
#include "session-state.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAILCAP_PATH "/etc/dispvm/mailcap"
#define MAILCAP_MAX_SIZE (1024 * 1024)
/* Bytes of the file that decide whether it is text. */
#define CLASSIFY_SIZE 65536

int open_begin(struct session *session)
{
	struct open_file *file = &session->file;
	char message[DV_MAX_EXIT_MESSAGE];

	file->size = session->request.fixed.file_size;
	file->credit = DV_INITIAL_WINDOW;
	file->receive_credit = DV_INITIAL_WINDOW;
	XXH3_128bits_reset(&file->hash);
	snprintf(file->path, sizeof(file->path), USER_HOME "/%s", session->request.file_name);

	/* O_EXCL and O_NOFOLLOW: never write through a name the user made. */
	file->fd = open(file->path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (file->fd < 0) {
		snprintf(message, sizeof(message), "cannot create %s: %m", file->path);
		file->path[0] = '\0';
		session_fail(session, message);
		return -EIO;
	}
	if (fchown(file->fd, USER_UID, USER_GID) < 0) {
		snprintf(message, sizeof(message), "cannot give %s to the user: %m", file->path);
		session_fail(session, message);
		return -EIO;
	}
	log_info("channel %u: receiving %s (%llu bytes)", session->channel, file->path,
		 (unsigned long long)file->size);
	return 0;
}

int open_receive(struct session *session, const uint8_t *untrusted_data, size_t length)
{
	struct open_file *file = &session->file;

	if (length > file->size - file->received) {
		log_error("protocol violation: channel %u: FILE_IN beyond the announced %llu bytes",
			  session->channel, (unsigned long long)file->size);
		return -EPROTO;
	}
	if (length > file->receive_credit) {
		log_error("protocol violation: channel %u: FILE_IN of %zu bytes beyond the window",
			  session->channel, length);
		return -EPROTO;
	}
	/* The write is synchronous, so the credit goes back at once. */
	for (size_t done = 0; done < length;) {
		ssize_t written = write(file->fd, untrusted_data + done, length - done);

		if (written < 0 && errno == EINTR)
			continue;
		if (written < 0) {
			char message[DV_MAX_EXIT_MESSAGE];

			snprintf(message, sizeof(message), "cannot write %s: %m", file->path);
			session_fail(session, message);
			return 0;
		}
		done += (size_t)written;
	}
	XXH3_128bits_update(&file->hash, untrusted_data, length);
	file->received += length;
	port_send_window(session->channel, DV_MSG_FILE_IN, (uint32_t)length);
	return 0;
}

/* Length of the valid UTF-8 sequence at `data`, or 0 when it is invalid;
 * -1 when it is cut off by the end of `data`. */
static int utf8_sequence_length(const uint8_t *data, size_t available)
{
	uint8_t lead = data[0];
	int length;
	uint8_t second_min = 0x80, second_max = 0xbf;

	if (lead < 0x80)
		return 1;
	if (lead >= 0xc2 && lead <= 0xdf) {
		length = 2;
	} else if (lead >= 0xe0 && lead <= 0xef) {
		length = 3;
		if (lead == 0xe0)
			second_min = 0xa0; /* overlong */
		if (lead == 0xed)
			second_max = 0x9f; /* UTF-16 surrogates */
	} else if (lead >= 0xf0 && lead <= 0xf4) {
		length = 4;
		if (lead == 0xf0)
			second_min = 0x90; /* overlong */
		if (lead == 0xf4)
			second_max = 0x8f; /* beyond U+10FFFF */
	} else {
		return 0;
	}
	for (int i = 1; i < length; i++) {
		if ((size_t)i >= available)
			return -1;

		uint8_t min = i == 1 ? second_min : 0x80;
		uint8_t max = i == 1 ? second_max : 0xbf;

		if (data[i] < min || data[i] > max)
			return 0;
	}
	return length;
}

const char *open_classify(const uint8_t *data, size_t length, bool truncated)
{
	static const char *const binary = "application/octet-stream";

	if (memchr(data, '\0', length) != NULL)
		return binary;
	for (size_t offset = 0; offset < length;) {
		int sequence = utf8_sequence_length(data + offset, length - offset);

		if (sequence == -1 && truncated)
			break;
		if (sequence <= 0)
			return binary;
		offset += (size_t)sequence;
	}
	return "text/plain";
}

/* Read the mailcap and return a malloc'ed handler command for the file,
 * or NULL with `message` set. */
static char *mailcap_command(struct open_file *file, char *message, size_t size)
{
	static uint8_t head[CLASSIFY_SIZE];
	ssize_t head_length = pread(file->fd, head, sizeof(head), 0);

	if (head_length < 0) {
		snprintf(message, size, "cannot read %s: %m", file->path);
		return NULL;
	}

	const char *mime_type = open_classify(head, (size_t)head_length, file->size > sizeof(head));
	char *text = malloc(MAILCAP_MAX_SIZE);
	int fd = open(MAILCAP_PATH, O_RDONLY | O_CLOEXEC);
	ssize_t text_length = text != NULL && fd >= 0 ? read(fd, text, MAILCAP_MAX_SIZE) : -1;
	int read_error = text == NULL ? ENOMEM : errno;

	if (fd >= 0)
		close(fd);

	struct mailcap mailcap = {NULL, 0};
	const char *entry = NULL;

	if (text_length >= 0 && mailcap_parse(text, (size_t)text_length, &mailcap, NULL) == 0)
		entry = mailcap_lookup(&mailcap, mime_type);
	free(text);

	char *command = entry != NULL ? mailcap_build_command(entry, file->path) : NULL;

	if (text_length < 0)
		snprintf(message, size, "cannot read " MAILCAP_PATH ": %s", strerror(read_error));
	else if (entry == NULL)
		snprintf(message, size, "no entry for %s in " MAILCAP_PATH, mime_type);
	else if (command == NULL)
		snprintf(message, size, "out of memory for the handler command");
	mailcap_free(&mailcap);
	return command;
}

static char *handler_command(struct session *session, char *message, size_t size)
{
	const char *app = session->request.app;

	if (app != NULL && app[0] != '\0') {
		/* "%s" in an app is not a placeholder: append the path. */
		char *quoted = mailcap_quote(session->file.path);
		char *command = NULL;

		if (quoted != NULL && asprintf(&command, "%s %s", app, quoted) < 0)
			command = NULL;
		free(quoted);
		if (command == NULL)
			snprintf(message, size, "out of memory for the handler command");
		return command;
	}
	return mailcap_command(&session->file, message, size);
}

int open_received_all(struct session *session)
{
	struct open_file *file = &session->file;
	char message[DV_MAX_EXIT_MESSAGE];

	if (file->received != file->size) {
		log_error("protocol violation: channel %u: FILE_IN ended after %llu of %llu bytes",
			  session->channel, (unsigned long long)file->received,
			  (unsigned long long)file->size);
		return -EPROTO;
	}
	file->received_hash = XXH3_128bits_digest(&file->hash);
	if ((session->flags & DV_START_VIEW_ONLY) && fchmod(file->fd, 0400) < 0) {
		snprintf(message, sizeof(message), "cannot make %s read-only: %m", file->path);
		session_fail(session, message);
		return 0;
	}

	char *command = handler_command(session, message, sizeof(message));

	close(file->fd);
	file->fd = -1;
	if (command == NULL) {
		session_fail(session, message);
		return 0;
	}

	char *argv[] = {"/bin/sh", "-c", command, NULL};

	session->phase = PHASE_RUNNING;
	log_info("channel %u: opening %s with: %s", session->channel, file->path, command);
	session_spawn(session, argv);
	free(command);
	return 0;
}

/* Hash the file at `path` into *digest. Returns false when it is gone or
 * no longer a regular file, which counts as unchanged. */
static bool hash_file(const char *path, int *fd_out, uint64_t *size, XXH128_hash_t *digest)
{
	static uint8_t buffer[DV_MAX_PAYLOAD];
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	struct stat st;
	XXH3_state_t state;

	if (fd < 0)
		return false;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return false;
	}
	XXH3_128bits_reset(&state);
	*size = 0;
	for (;;) {
		ssize_t length = read(fd, buffer, sizeof(buffer));

		if (length < 0 && errno == EINTR)
			continue;
		if (length < 0) {
			log_warning("cannot read %s, treating it as unchanged: %m", path);
			close(fd);
			return false;
		}
		if (length == 0)
			break;
		XXH3_128bits_update(&state, buffer, (size_t)length);
		*size += (uint64_t)length;
	}
	*digest = XXH3_128bits_digest(&state);
	*fd_out = fd;
	return true;
}

bool open_start_send(struct session *session)
{
	struct open_file *file = &session->file;
	XXH128_hash_t digest;
	uint64_t size;
	int fd;

	if (!hash_file(file->path, &fd, &size, &digest))
		return false;
	if (XXH128_isEqual(digest, file->received_hash)) {
		close(fd);
		log_info("channel %u: %s unchanged", session->channel, file->path);
		return false;
	}
	if (lseek(fd, 0, SEEK_SET) < 0) {
		log_error("channel %u: cannot rewind %s: %m", session->channel, file->path);
		close(fd);
		return false;
	}

	uint8_t payload[8];

	dv_put_u64(payload, size);
	port_send(DV_MSG_FILE_CHANGED, session->channel, payload, sizeof(payload));
	file->fd = fd;
	file->remaining = size;
	log_info("channel %u: %s changed, sending %llu bytes", session->channel, file->path,
		 (unsigned long long)size);
	return true;
}

bool open_send_more(struct session *session)
{
	static uint8_t buffer[DV_MAX_PAYLOAD];
	struct open_file *file = &session->file;

	/* No process is left in the session, but one of another session may
	 * still shrink the file. Then the stream ends short of the size that
	 * FILE_CHANGED announced. The host rejects such a stream as a protocol
	 * violation, which is better than sending made-up bytes. */
	while (file->remaining > 0 && file->credit > 0) {
		size_t wanted = sizeof(buffer);

		if (wanted > file->remaining)
			wanted = (size_t)file->remaining;
		if (wanted > file->credit)
			wanted = (size_t)file->credit;

		ssize_t length = read(file->fd, buffer, wanted);

		if (length < 0 && errno == EINTR)
			continue;
		if (length <= 0) {
			log_error("channel %u: %s shrank while it was sent, %llu bytes short",
				  session->channel, file->path, (unsigned long long)file->remaining);
			file->remaining = 0;
			break;
		}
		port_send(DV_MSG_FILE_OUT, session->channel, buffer, (size_t)length);
		file->remaining -= (uint64_t)length;
		file->credit -= (uint64_t)length;
	}
	if (file->remaining > 0)
		return false;
	port_send(DV_MSG_FILE_OUT, session->channel, NULL, 0);
	return true;
}

void open_cleanup(struct session *session)
{
	struct open_file *file = &session->file;

	if (file->fd >= 0)
		close(file->fd);
	file->fd = -1;
	if (file->path[0] != '\0' && unlink(file->path) < 0 && errno != ENOENT)
		log_warning("channel %u: cannot remove %s: %m", session->channel, file->path);
	file->path[0] = '\0';
}
