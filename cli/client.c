#include "client.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "paths.h"

#define DAEMON_START_TIMEOUT_MS 10000
#define DAEMON_POLL_INTERVAL_MS 50

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

void client_log_path(char *out, size_t size)
{
	char state[DV_PATH_MAX];

	/* NOTE: docs/api.md does not name the daemon log; this assumes
	 * STATE/dispvmd.log, where the CLI also sends a started daemon's
	 * standard error. */
	if (dv_path_dir(DV_DIR_STATE, state, sizeof(state), NULL) < 0 ||
	    dv_path_join(out, size, NULL, state, "dispvmd.log") < 0)
		snprintf(out, size, "the dispvmd log");
}

/* Connect once. Returns the descriptor or a negative errno value. */
static int try_connect(const char *path)
{
	struct sockaddr_un address = {.sun_family = AF_UNIX};
	int fd;

	if (strlen(path) >= sizeof(address.sun_path))
		return -ENAMETOOLONG;
	strcpy(address.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&address, sizeof(address)) < 0) {
		int saved = errno;

		close(fd);
		return -saved;
	}
	return fd;
}

/* Find dispvmd: $DISPVM_DAEMON, the build tree next to this binary, or the
 * directory of this binary. */
static int daemon_path(char *out, size_t size)
{
	const char *configured = getenv("DISPVM_DAEMON");
	char self[PATH_MAX];
	ssize_t length;

	if (configured != NULL && configured[0] != '\0') {
		snprintf(out, size, "%s", configured);
		return 0;
	}
	length = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (length < 0)
		return -errno;
	self[length] = '\0';
	*strrchr(self, '/') = '\0';

	if (snprintf(out, size, "%.*s/../daemon/dispvmd", PATH_MAX - 32, self) >= 0 &&
	    access(out, X_OK) == 0)
		return 0;
	snprintf(out, size, "%.*s/dispvmd", PATH_MAX - 32, self);
	return 0;
}

/* In the child: detach standard streams (the daemon outlives us and must
 * not hold our stdout open) and exec the daemon. */
static void exec_daemon(const char *path, const char *log_path)
{
	int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	int log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);

	if (null_fd >= 0) {
		dup2(null_fd, STDIN_FILENO);
		dup2(null_fd, STDOUT_FILENO);
	}
	dup2(log_fd >= 0 ? log_fd : null_fd, STDERR_FILENO);
	signal(SIGPIPE, SIG_DFL);
	execl(path, path, (char *)NULL);
	dprintf(STDERR_FILENO, "dispvm: cannot execute %s: %s\n", path, strerror(errno));
	_exit(127);
}

static int spawn_daemon(const char *log_path, pid_t *pid, struct dv_error *err)
{
	char path[PATH_MAX];
	char state[DV_PATH_MAX];
	int r;

	if ((r = daemon_path(path, sizeof(path))) < 0)
		return dv_error_set(err, -r, "cannot find dispvmd");
	if (access(path, X_OK) < 0)
		return dv_error_set(err, errno, "cannot execute %s", path);
	/* The log directory may not exist before the first daemon runs. */
	if (dv_path_dir(DV_DIR_STATE, state, sizeof(state), NULL) == 0)
		dv_dir_ensure_private(state, NULL);

	*pid = fork();
	if (*pid < 0)
		return dv_error_set(err, errno, "cannot fork to start %s", path);
	if (*pid == 0)
		exec_daemon(path, log_path);
	return 0;
}

/*
 * Start dispvmd and connect once it exits 0 (its socket then accepts). A
 * daemon that exits 1 lost a race to another CLI's daemon, so connecting
 * is retried, and the daemon started again while no daemon serves, until the
 * deadline.
 */
static int start_and_connect(const char *socket_path, struct dv_error *err)
{
	char log_path[DV_PATH_MAX];
	long deadline = now_ms() + DAEMON_START_TIMEOUT_MS;
	int status = -1;
	pid_t pid = 0;
	int fd = -ECONNREFUSED;
	int r;

	client_log_path(log_path, sizeof(log_path));
	if ((r = spawn_daemon(log_path, &pid, err)) < 0)
		goto fail;

	while (now_ms() < deadline) {
		if (pid > 0 && waitpid(pid, &status, WNOHANG) == pid)
			pid = 0;
		if (pid == 0) {
			if (!WIFEXITED(status) || (WEXITSTATUS(status) != 0 && WEXITSTATUS(status) != 1)) {
				r = dv_error_invalid(err, EIO, "dispvmd exited with status %d",
						     WIFEXITED(status) ? WEXITSTATUS(status)
								       : 128 + WTERMSIG(status));
				goto fail;
			}
			fd = try_connect(socket_path);
			if (fd >= 0)
				return fd;
			/* The daemon that won the race may have been stopping:
			 * with no daemon serving, start another one. */
			if (WEXITSTATUS(status) == 1 && (r = spawn_daemon(log_path, &pid, err)) < 0)
				goto fail;
		}
		sleep_ms(DAEMON_POLL_INTERVAL_MS);
	}
	r = pid > 0 ? dv_error_invalid(err, ETIMEDOUT, "timed out after %d s waiting for its socket",
				       DAEMON_START_TIMEOUT_MS / 1000)
		    : dv_error_set(err, -fd, "cannot connect to %s", socket_path);
fail:
	dv_error_prefix(err, "cannot start dispvmd");
	size_t used = strlen(err->message);
	snprintf(err->message + used, sizeof(err->message) - used, "; see %s", log_path);
	return r;
}

int client_connect(struct dv_error *err)
{
	char socket_path[DV_PATH_MAX];
	int fd;
	int r;

	if ((r = dv_path_control_socket(socket_path, sizeof(socket_path), err)) < 0)
		return r;
	fd = try_connect(socket_path);
	if (fd >= 0)
		return fd;
	if (fd != -ENOENT && fd != -ECONNREFUSED)
		return dv_error_set(err, -fd, "cannot connect to %s", socket_path);
	return start_and_connect(socket_path, err);
}

/* Send all of `data`, the first chunk carrying `fds`. */
static int send_all(int fd, const char *data, size_t length, const int *fds, size_t fd_count)
{
	char control[CMSG_SPACE(sizeof(int) * 8)] = {0};
	size_t sent = 0;

	if (fd_count > 8)
		return -EINVAL;
	while (sent < length) {
		struct iovec iov = {(char *)data + sent, length - sent};
		struct msghdr message = {.msg_iov = &iov, .msg_iovlen = 1};

		if (sent == 0 && fd_count > 0) {
			message.msg_control = control;
			message.msg_controllen = CMSG_SPACE(sizeof(int) * fd_count);
			struct cmsghdr *header = CMSG_FIRSTHDR(&message);
			header->cmsg_level = SOL_SOCKET;
			header->cmsg_type = SCM_RIGHTS;
			header->cmsg_len = CMSG_LEN(sizeof(int) * fd_count);
			memcpy(CMSG_DATA(header), fds, sizeof(int) * fd_count);
		}
		ssize_t n = sendmsg(fd, &message, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				sleep_ms(1);
				continue;
			}
			return -errno;
		}
		sent += (size_t)n;
	}
	return 0;
}

/* After dispvmd closed the connection: copy the error of the reply line it
 * sent before closing, such as a connection from another user, into `err`.
 * Returns false when it sent none. */
static bool read_refusal(int fd, struct dv_error *err)
{
	char reply[1024];
	ssize_t n = recv(fd, reply, sizeof(reply) - 1, MSG_DONTWAIT);
	struct json_object *object;
	struct json_object *error;
	bool found = false;

	if (n <= 0)
		return false;
	reply[n] = '\0';
	object = json_tokener_parse(reply);
	if (object != NULL && json_object_object_get_ex(object, "error", &error) &&
	    json_object_is_type(error, json_type_string)) {
		dv_error_invalid(err, EPERM, "%s", json_object_get_string(error));
		found = true;
	}
	json_object_put(object);
	return found;
}

int client_send(int fd, struct json_object *request, const int *fds, size_t fd_count,
		struct dv_error *err)
{
	const char *text = json_object_to_json_string_ext(request, JSON_C_TO_STRING_PLAIN);
	size_t length = strlen(text);
	char *line;
	int r;

	if (length + 1 > CLIENT_MAX_LINE)
		return dv_error_invalid(err, E2BIG, "the request is %zu bytes, more than the %u the daemon accepts; shorten it",
					length + 1, CLIENT_MAX_LINE);
	line = malloc(length + 1);
	if (line == NULL)
		return dv_error_set(err, ENOMEM, "cannot send the request");
	memcpy(line, text, length);
	line[length] = '\n';
	r = send_all(fd, line, length + 1, fds, fd_count);
	free(line);
	if ((r == -EPIPE || r == -ECONNRESET) && read_refusal(fd, err))
		return -EPERM;
	if (r < 0)
		return dv_error_set(err, -r, "cannot send the request to dispvmd");
	return 0;
}

int line_reader_init(struct line_reader *reader)
{
	*reader = (struct line_reader){0};
	reader->buffer = malloc(CLIENT_MAX_LINE);
	return reader->buffer == NULL ? -ENOMEM : 0;
}

void line_reader_free(struct line_reader *reader)
{
	free(reader->buffer);
	reader->buffer = NULL;
}

long line_reader_fill(struct line_reader *reader, int fd)
{
	ssize_t n;

	if (reader->length == CLIENT_MAX_LINE)
		return -EMSGSIZE;
	do
		n = read(fd, reader->buffer + reader->length, CLIENT_MAX_LINE - reader->length);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (n == 0)
		reader->eof = true;
	reader->length += (size_t)n;
	return n;
}

int line_reader_next(struct line_reader *reader, struct json_object **object,
		     struct dv_error *err)
{
	char *newline = memchr(reader->buffer, '\n', reader->length);
	size_t line_length;

	*object = NULL;
	if (newline == NULL) {
		if (reader->length == CLIENT_MAX_LINE)
			return dv_error_invalid(err, EPROTO, "dispvmd sent a line longer than %u bytes",
						CLIENT_MAX_LINE);
		return 0;
	}
	*newline = '\0';
	line_length = (size_t)(newline - reader->buffer);
	*object = json_tokener_parse(reader->buffer);
	memmove(reader->buffer, newline + 1, reader->length - line_length - 1);
	reader->length -= line_length + 1;
	if (*object == NULL || !json_object_is_type(*object, json_type_object)) {
		json_object_put(*object);
		*object = NULL;
		return dv_error_invalid(err, EPROTO, "dispvmd sent a line that is not a JSON object");
	}
	return 1;
}

int client_read_line(int fd, struct line_reader *reader, struct json_object **object,
		     struct dv_error *err)
{
	for (;;) {
		int r = line_reader_next(reader, object, err);

		if (r != 0)
			return r;
		if (reader->eof)
			return dv_error_invalid(err, ECONNRESET, "dispvmd closed the connection");
		long n = line_reader_fill(reader, fd);
		if (n < 0)
			return dv_error_set(err, (int)-n, "cannot read from dispvmd");
	}
}
