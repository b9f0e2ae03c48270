/* QMP over the socketpair passed to QEMU as `-mon chardev=qmp,mode=control`. */
#include "qmp.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"

/* QMP lines are short; a longer one means QEMU is not speaking QMP. */
#define QMP_MAX_LINE (64u * 1024u)

struct qmp_command {
	char *text; /* the line to send, newline included */
	int fd;     /* to pass with it, or -1 */
	qmp_callback callback;
	void *data;
	struct qmp_command *next;
};

static void command_free(struct qmp_command *command)
{
	if (command->fd >= 0)
		close(command->fd);
	free(command->text);
	free(command);
}

/* Write `text` whole, with `pass_fd` attached when it is >= 0. The socket
 * buffer takes these short lines whole, so a partial write means the
 * socket is broken. */
static int qmp_write(int fd, const char *text, int pass_fd)
{
	size_t length = strlen(text);
	struct iovec iov = {.iov_base = (void *)text, .iov_len = length};
	union {
		struct cmsghdr header;
		char space[CMSG_SPACE(sizeof(int))];
	} control;
	struct msghdr message = {.msg_iov = &iov, .msg_iovlen = 1};

	if (pass_fd >= 0) {
		memset(&control, 0, sizeof(control));
		message.msg_control = control.space;
		message.msg_controllen = sizeof(control.space);

		struct cmsghdr *cmsg = CMSG_FIRSTHDR(&message);

		cmsg->cmsg_level = SOL_SOCKET;
		cmsg->cmsg_type = SCM_RIGHTS;
		cmsg->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cmsg), &pass_fd, sizeof(int));
	}

	ssize_t written = sendmsg(fd, &message, MSG_NOSIGNAL);

	if (written < 0)
		return -errno;
	if ((size_t)written != length)
		return -EIO;
	return 0;
}

static void append(struct qmp_command **list, struct qmp_command *command)
{
	while (*list != NULL)
		list = &(*list)->next;
	*list = command;
}

static int send_command(struct qmp *qmp, int fd, struct qmp_command *command)
{
	int ret = qmp_write(fd, command->text, command->fd);

	if (command->fd >= 0) {
		close(command->fd);
		command->fd = -1;
	}
	append(&qmp->sent, command);
	return ret;
}

static void flush_queued(struct qmp *qmp, int fd)
{
	while (qmp->queued != NULL) {
		struct qmp_command *command = qmp->queued;

		qmp->queued = command->next;
		command->next = NULL;

		int ret = send_command(qmp, fd, command);

		if (ret < 0)
			log_warning("%s: cannot send a QMP command: %s", qmp->vm_name,
				    strerror(-ret));
	}
}

/* Hand a reply to the oldest sent command. */
static void complete(struct qmp *qmp, struct json_object *result, const char *error)
{
	struct qmp_command *command = qmp->sent;

	if (command == NULL) {
		log_debug("%s: QMP reply without a command", qmp->vm_name);
		return;
	}
	qmp->sent = command->next;
	if (command->callback != NULL)
		command->callback(command->data, result, error);
	command_free(command);
}

static void handle_message(struct qmp *qmp, int fd, struct json_object *message)
{
	struct json_object *member;

	if (json_object_object_get_ex(message, "QMP", &member)) {
		int ret = qmp_write(fd, "{\"execute\":\"qmp_capabilities\"}\n", -1);

		if (ret < 0)
			log_warning("%s: cannot send qmp_capabilities: %s", qmp->vm_name,
				    strerror(-ret));
		return;
	}
	if (json_object_object_get_ex(message, "event", &member)) {
		log_debug("%s: QMP event %s", qmp->vm_name, json_object_get_string(member));
		return;
	}
	if (!qmp->ready) {
		/* The first reply is the one to qmp_capabilities. */
		log_debug("%s: QMP ready", qmp->vm_name);
		qmp->ready = true;
		flush_queued(qmp, fd);
		return;
	}
	if (json_object_object_get_ex(message, "return", &member)) {
		complete(qmp, member, NULL);
		return;
	}
	if (json_object_object_get_ex(message, "error", &member)) {
		struct json_object *description;
		const char *text = json_object_object_get_ex(member, "desc", &description)
					   ? json_object_get_string(description)
					   : json_object_to_json_string(member);

		log_debug("%s: QMP error: %s", qmp->vm_name, text);
		complete(qmp, NULL, text);
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

static char *format_command(const char *name, struct json_object *arguments)
{
	struct json_object *message = json_object_new_object();
	char *text = NULL;

	json_object_object_add(message, "execute", json_object_new_string(name));
	if (arguments != NULL)
		json_object_object_add(message, "arguments", arguments);
	if (asprintf(&text, "%s\n",
		     json_object_to_json_string_ext(message, JSON_C_TO_STRING_PLAIN)) < 0)
		text = NULL;
	json_object_put(message);
	return text;
}

int qmp_execute(struct qmp *qmp, int fd, const char *command_name, struct json_object *arguments,
		int pass_fd, qmp_callback callback, void *data)
{
	struct qmp_command *command = calloc(1, sizeof(*command));

	if (command == NULL) {
		json_object_put(arguments);
		return -ENOMEM;
	}
	command->fd = -1;
	command->callback = callback;
	command->data = data;
	command->text = format_command(command_name, arguments);
	if (pass_fd >= 0)
		command->fd = fcntl(pass_fd, F_DUPFD_CLOEXEC, 3);
	if (command->text == NULL || (pass_fd >= 0 && command->fd < 0)) {
		int ret = command->text == NULL ? -ENOMEM : -errno;

		command_free(command);
		return ret;
	}
	if (!qmp->ready) {
		append(&qmp->queued, command);
		return 0;
	}
	return send_command(qmp, fd, command);
}

int qmp_quit(struct qmp *qmp, int fd)
{
	/* QEMU rejects commands sent before capabilities negotiation ends. */
	if (!qmp->ready)
		return -EAGAIN;
	qmp->quit_requested = true;
	return qmp_execute(qmp, fd, "quit", NULL, -1, NULL, NULL);
}

static void free_list(struct qmp_command *command)
{
	while (command != NULL) {
		struct qmp_command *next = command->next;

		command_free(command);
		command = next;
	}
}

void qmp_free(struct qmp *qmp)
{
	buffer_free(&qmp->input);
	free_list(qmp->queued);
	free_list(qmp->sent);
	qmp->queued = qmp->sent = NULL;
	qmp->ready = false;
}
