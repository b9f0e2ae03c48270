/* QMP over the socketpair passed to QEMU as `-mon chardev=qmp,mode=control`. */
#include "qmp.h"

#include <errno.h>
#include <json-c/json.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

/* QMP lines are short; a longer one means QEMU is not speaking QMP. */
#define QMP_MAX_LINE (64u * 1024u)

static int qmp_write(int fd, const char *text)
{
	size_t length = strlen(text);
	/* The socket buffer takes these short commands whole, so a partial
	 * write means the socket is broken. */
	ssize_t written = write(fd, text, length);

	if (written < 0)
		return -errno;
	if ((size_t)written != length)
		return -EIO;
	return 0;
}

static void handle_message(struct qmp *qmp, int fd, struct json_object *message)
{
	struct json_object *member;

	if (json_object_object_get_ex(message, "QMP", &member)) {
		int ret = qmp_write(fd, "{\"execute\":\"qmp_capabilities\"}\n");

		if (ret < 0)
			log_warning("%s: cannot send qmp_capabilities: %s", qmp->vm_name,
				    strerror(-ret));
		return;
	}
	if (json_object_object_get_ex(message, "return", &member)) {
		if (!qmp->ready)
			log_debug("%s: QMP ready", qmp->vm_name);
		qmp->ready = true;
		return;
	}
	if (json_object_object_get_ex(message, "event", &member)) {
		log_debug("%s: QMP event %s", qmp->vm_name, json_object_get_string(member));
		return;
	}
	if (json_object_object_get_ex(message, "error", &member)) {
		log_warning("%s: QMP error: %s", qmp->vm_name,
			    json_object_to_json_string(member));
	}
}

static int handle_lines(struct qmp *qmp, int fd)
{
	for (;;) {
		const uint8_t *start = buffer_bytes(&qmp->input);
		size_t length = buffer_length(&qmp->input);
		const uint8_t *newline = memchr(start, '\n', length);

		if (newline == NULL)
			return length > QMP_MAX_LINE ? -EPROTO : 0;

		size_t line_length = (size_t)(newline - start);
		struct json_tokener *tokener = json_tokener_new();

		if (tokener == NULL)
			return -ENOMEM;

		struct json_object *message =
			json_tokener_parse_ex(tokener, (const char *)start, (int)line_length);

		json_tokener_free(tokener);
		buffer_consume(&qmp->input, line_length + 1);
		if (message == NULL || !json_object_is_type(message, json_type_object)) {
			log_warning("%s: QMP sent a line that is not a JSON object", qmp->vm_name);
		} else {
			handle_message(qmp, fd, message);
		}
		json_object_put(message);
	}
}

int qmp_read(struct qmp *qmp, int fd)
{
	uint8_t chunk[4096];
	ssize_t count = read(fd, chunk, sizeof(chunk));

	if (count < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -errno;
	if (count == 0)
		return -EPIPE;
	if (buffer_append(&qmp->input, chunk, (size_t)count) < 0)
		return -ENOMEM;
	return handle_lines(qmp, fd);
}

int qmp_quit(struct qmp *qmp, int fd)
{
	/* QEMU rejects commands sent before capabilities negotiation ends. */
	if (!qmp->ready)
		return -EAGAIN;
	qmp->quit_requested = true;
	return qmp_write(fd, "{\"execute\":\"quit\"}\n");
}

void qmp_free(struct qmp *qmp)
{
	buffer_free(&qmp->input);
}
