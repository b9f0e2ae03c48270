/* Clients of the control socket (docs/api.md). */
#include "control.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "api.h"
#include "log.h"
#include "relay.h"
#include "vm.h"

static struct loop_source listen_source = {.fd = -1};
static struct client *clients;

int control_listen(const char *path, int *out_fd, struct dv_error *err)
{
	struct sockaddr_un address = {.sun_family = AF_UNIX};

	if (strlen(path) >= sizeof(address.sun_path))
		return dv_error_invalid(err, ENAMETOOLONG, "socket path too long: %s", path);
	strcpy(address.sun_path, path);

	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return dv_error_set(err, errno, "cannot create socket");

	/* The umask makes bind create the socket with mode 0600 at once. */
	mode_t old_umask = umask(0177);
	int ret = bind(fd, (struct sockaddr *)&address, sizeof(address));

	umask(old_umask);
	if (ret < 0) {
		ret = dv_error_set(err, errno, "cannot bind %s", path);
		close(fd);
		return ret;
	}
	if (listen(fd, 64) < 0) {
		ret = dv_error_set(err, errno, "cannot listen on %s", path);
		close(fd);
		return ret;
	}
	*out_fd = fd;
	return 0;
}

static void close_fds(int *fds, size_t count)
{
	for (size_t i = 0; i < count; i++)
		close(fds[i]);
}

static void client_close(struct client *client)
{
	struct vm_session *session = client->session;

	api_client_closed(client);
	client->session = NULL;
	if (session != NULL)
		relay_client_left(session);
	for (struct client **link = &clients; *link != NULL; link = &(*link)->next) {
		if (*link == client) {
			*link = client->next;
			break;
		}
	}
	loop_remove(&client->source);
	close(client->fd);
	close_fds(client->fds, client->fd_count);
	buffer_free(&client->input);
	buffer_free(&client->output);
	free(client);
}

static void update_events(struct client *client)
{
	uint32_t events = client->closing ? 0 : EPOLLIN;

	if (buffer_length(&client->output) > 0)
		events |= EPOLLOUT;
	loop_modify(&client->source, events);
}

/* Write queued output. Returns false when the client was closed. */
static bool flush_output(struct client *client)
{
	while (buffer_length(&client->output) > 0) {
		ssize_t written = send(client->fd, buffer_bytes(&client->output),
				       buffer_length(&client->output), MSG_NOSIGNAL);

		if (written < 0 && errno == EAGAIN)
			break;
		if (written < 0) {
			log_debug("cannot write to client: %m");
			client_close(client);
			return false;
		}
		buffer_consume(&client->output, (size_t)written);
	}
	if (client->closing && buffer_length(&client->output) == 0) {
		client_close(client);
		return false;
	}
	update_events(client);
	return true;
}

void client_send(struct client *client, struct json_object *message)
{
	const char *text = json_object_to_json_string_ext(message, JSON_C_TO_STRING_PLAIN);

	if (buffer_append(&client->output, text, strlen(text)) < 0 ||
	    buffer_append(&client->output, "\n", 1) < 0)
		log_error("cannot queue a reply to a client: out of memory");
	json_object_put(message);
	update_events(client);
}

void client_send_error(struct client *client, const char *format, ...)
{
	char text[DV_ERROR_MAX];
	va_list args;

	va_start(args, format);
	vsnprintf(text, sizeof(text), format, args);
	va_end(args);

	struct json_object *reply = json_object_new_object();

	json_object_object_add(reply, "ok", json_object_new_boolean(0));
	json_object_object_add(reply, "error", json_object_new_string(text));
	client_send(client, reply);
}

void client_finish(struct client *client)
{
	if (client->session != NULL)
		client->session->client = NULL;
	client->session = NULL;
	client->closing = true;
	update_events(client);
}

static void keep_fds(struct client *client, struct msghdr *message)
{
	for (struct cmsghdr *cmsg = CMSG_FIRSTHDR(message); cmsg != NULL;
	     cmsg = CMSG_NXTHDR(message, cmsg)) {
		if (cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS)
			continue;

		size_t count = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		int *fds = (int *)CMSG_DATA(cmsg);

		for (size_t i = 0; i < count; i++) {
			if (client->fd_count < CONTROL_MAX_FDS)
				client->fds[client->fd_count++] = fds[i];
			else
				close(fds[i]);
		}
	}
}

/* Read what is there. Returns 1 on data, 0 on EOF, a negative errno value
 * on error, -EAGAIN when nothing is there. */
static int receive(struct client *client)
{
	char chunk[65536];
	union {
		char space[CMSG_SPACE(sizeof(int) * CONTROL_MAX_FDS)];
		struct cmsghdr align;
	} control;
	struct iovec iov = {.iov_base = chunk, .iov_len = sizeof(chunk)};
	struct msghdr message = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = control.space, .msg_controllen = sizeof(control.space),
	};
	ssize_t count = recvmsg(client->fd, &message, MSG_CMSG_CLOEXEC);

	if (count < 0)
		return -errno;
	keep_fds(client, &message);
	if (message.msg_flags & MSG_CTRUNC)
		log_warning("client sent more than %d fds; closed the extra ones", CONTROL_MAX_FDS);
	if (count == 0)
		return 0;
	if (buffer_append(&client->input, chunk, (size_t)count) < 0)
		return -ENOMEM;
	return 1;
}

/* Parse one request line: a JSON object in valid UTF-8, followed by
 * nothing but spaces, tabs or a '\r'. Returns NULL otherwise. */
static struct json_object *parse_line(const char *line, size_t length)
{
	struct json_tokener *tokener = json_tokener_new();
	struct json_object *request = NULL;

	if (tokener == NULL)
		return NULL;
	json_tokener_set_flags(tokener, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	request = json_tokener_parse_ex(tokener, line, (int)length);
	if (request != NULL) {
		size_t end = json_tokener_get_parse_end(tokener);

		if (strspn(line + end, " \t\r") != length - end) {
			json_object_put(request);
			request = NULL;
		}
	}
	json_tokener_free(tokener);
	return request;
}

static void dispatch_line(struct client *client, const char *line, size_t length)
{
	struct json_object *request = parse_line(line, length);
	int fds[CONTROL_MAX_FDS];
	size_t fd_count = client->fd_count;

	/* The fds came with the first byte of this line.
	 * NOTE: a client that sends a second request with fds before the
	 * first line is complete would have them attached to the first. */
	memcpy(fds, client->fds, sizeof(int) * fd_count);
	client->fd_count = 0;
	if (request == NULL || !json_object_is_type(request, json_type_object)) {
		close_fds(fds, fd_count);
		client_send_error(client, "invalid request: need one JSON object in UTF-8 on one "
				  "line, ended by a newline; see docs/api.md");
	} else {
		api_handle(client, request, fds, fd_count);
	}
	json_object_put(request);
}

/* Handle complete lines. Returns false when the client was closed. */
static bool handle_lines(struct client *client)
{
	while (!client->closing) {
		const char *start = (const char *)buffer_bytes(&client->input);
		size_t length = buffer_length(&client->input);
		const char *newline = memchr(start, '\n', length);

		if (newline == NULL) {
			if (length < CONTROL_MAX_LINE)
				return true;
			client_send_error(client, "request longer than %u bytes", CONTROL_MAX_LINE);
			client_finish(client);
			return true;
		}

		size_t line_length = (size_t)(newline - start);
		/* A copy, not strndup: a NUL inside the line must reach the
		 * parser, which rejects it. */
		char *line = malloc(line_length + 1);

		if (line != NULL) {
			memcpy(line, start, line_length);
			line[line_length] = '\0';
		}
		buffer_consume(&client->input, line_length + 1);
		if (line == NULL) {
			client_close(client);
			return false;
		}
		dispatch_line(client, line, line_length);
		free(line);
	}
	return true;
}

static void client_ready(struct loop_source *source, uint32_t events)
{
	struct client *client = source->data;

	if (events & EPOLLOUT) {
		if (!flush_output(client))
			return;
	}
	if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR)) || client->closing)
		return;

	int ret = receive(client);

	if (ret == -EAGAIN)
		return;
	if (ret <= 0) {
		if (ret < 0)
			log_debug("client connection failed: %s", strerror(-ret));
		client_close(client);
		return;
	}
	if (handle_lines(client))
		flush_output(client);
}

static bool peer_is_us(int fd)
{
	struct ucred peer;
	socklen_t length = sizeof(peer);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &length) < 0) {
		log_warning("cannot read the peer credentials of a client: %m");
		return false;
	}
	if (peer.uid != getuid()) {
		char reply[160];
		int reply_length = snprintf(reply, sizeof(reply),
				      "{\"ok\": false, \"error\": \"this dispvmd serves uid %u, not "
				      "uid %u; each user runs their own dispvmd\"}\n",
				      (unsigned)getuid(), (unsigned)peer.uid);

		/* One best-effort line on the fresh socket, so the client can
		 * say why; the buffer of a new connection has room for it. */
		if (send(fd, reply, (size_t)reply_length, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
			log_debug("cannot send the uid error to uid %u: %m", (unsigned)peer.uid);
		log_warning("closed a connection from uid %u (pid %d): not our uid",
			    (unsigned)peer.uid, (int)peer.pid);
		return false;
	}
	return true;
}

static void accept_client(struct loop_source *source, uint32_t events)
{
	int fd = accept4(source->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	(void)events;
	if (fd < 0) {
		if (errno != EAGAIN && errno != EINTR)
			log_warning("cannot accept a client: %m");
		return;
	}
	if (!peer_is_us(fd)) {
		close(fd);
		return;
	}

	struct client *client = calloc(1, sizeof(*client));

	if (client == NULL || loop_add(&client->source, fd, EPOLLIN, client_ready, client) < 0) {
		log_error("cannot serve a client: %m");
		free(client);
		close(fd);
		return;
	}
	client->fd = fd;
	client->next = clients;
	clients = client;
}

int control_start(int listen_fd, struct dv_error *err)
{
	int ret = loop_add(&listen_source, listen_fd, EPOLLIN, accept_client, NULL);

	if (ret < 0)
		return dv_error_set(err, -ret, "cannot watch the control socket");
	return 0;
}

void control_stop(void)
{
	if (listen_source.fd >= 0) {
		loop_remove(&listen_source);
		close(listen_source.fd);
		listen_source.fd = -1;
	}
}
