#include "session.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client.h"
#include "dispvm-protocol.h"
#include "paths.h"
#include "tty.h"

void session_init(struct session *session)
{
	*session = (struct session){.control_fd = -1};
	for (size_t i = 0; i < SESSION_MAX_PAIRS; i++)
		session->local[i] = session->remote[i] = -1;
}

int session_create_pairs(struct session *session, size_t count, struct dv_error *err)
{
	for (size_t i = 0; i < count; i++) {
		int pair[2];

		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0)
			return dv_error_set(err, errno, "cannot create a socketpair");
		session->local[i] = pair[0];
		session->remote[i] = pair[1];
		session->pair_count = i + 1;
		if (fcntl(pair[0], F_SETFL, O_NONBLOCK) < 0)
			return dv_error_set(err, errno, "cannot make a socket nonblocking");
	}
	return 0;
}

void session_fill_request(const struct session *session, struct json_object *request,
			  const char *template_name)
{
	unsigned rows;
	unsigned cols;

	if (template_name != NULL)
		json_object_object_add(request, "template", json_object_new_string(template_name));
	json_object_object_add(request, "tty", json_object_new_boolean(session->tty));
	if (session->tty) {
		tty_window_size(&rows, &cols);
		json_object_object_add(request, "rows", json_object_new_int((int)rows));
		json_object_object_add(request, "cols", json_object_new_int((int)cols));
	}
}

static void close_remote(struct session *session)
{
	for (size_t i = 0; i < session->pair_count; i++) {
		if (session->remote[i] >= 0)
			close(session->remote[i]);
		session->remote[i] = -1;
	}
}

int session_start(struct session *session, struct json_object *request, struct dv_error *err)
{
	int r;

	session->control_fd = client_connect(err);
	if (session->control_fd < 0)
		return session->control_fd;
	r = client_send(session->control_fd, request, session->remote, session->pair_count, err);
	/* dispvmd holds its own copies now; ours would hide the end of file
	 * of each stream. */
	close_remote(session);
	return r;
}

void session_add_stdio(struct session *session, struct relay *relay)
{
	struct relay_stream in = {
		.name = "standard input", .role = RELAY_INPUT, .limit = UINT64_MAX,
		.src = STDIN_FILENO, .dst = session->local[SESSION_STDIN],
		.hangup_ends = session->tty && isatty(STDIN_FILENO),
	};
	struct relay_stream out = {
		.name = "standard output", .role = RELAY_OUTPUT, .limit = UINT64_MAX,
		.src = session->local[SESSION_STDOUT], .dst = STDOUT_FILENO, .is_stdout = true,
	};
	struct relay_stream error = {
		.name = "standard error", .role = RELAY_OUTPUT, .limit = UINT64_MAX,
		.src = session->local[SESSION_STDERR], .dst = STDERR_FILENO,
	};

	relay->control_fd = session->control_fd;
	relay->tty = session->tty;
	relay_add(relay, &in);
	relay_add(relay, &out);
	relay_add(relay, &error);
}

int session_relay(struct session *session, struct relay *relay, struct dv_error *err)
{
	int r;

	if (session->tty && (r = tty_enter_raw()) < 0)
		return dv_error_set(err, -r, "cannot put the terminal in raw mode");
	r = relay_run(relay, err);
	tty_restore();
	return r;
}

int session_report(const struct relay *relay, int r, const struct dv_error *err)
{
	char log_path[DV_PATH_MAX];

	tty_restore();
	if (r == -ECONNRESET) {
		client_log_path(log_path, sizeof(log_path));
		fprintf(stderr, "dispvm: lost connection to dispvmd; see %s\n", log_path);
		return 125;
	}
	if (r < 0) {
		fprintf(stderr, "dispvm: %s\n", err->message);
		return 125;
	}
	if (relay->error[0] != '\0')
		fprintf(stderr, "dispvm: %s\n", relay->error);
	if (relay->failed)
		return 125;
	return relay->status >= 0 && relay->status <= 255 ? relay->status : 125;
}

void session_close(struct session *session)
{
	close_remote(session);
	for (size_t i = 0; i < session->pair_count; i++) {
		if (session->local[i] >= 0)
			close(session->local[i]);
		session->local[i] = -1;
	}
	if (session->control_fd >= 0)
		close(session->control_fd);
	session->control_fd = -1;
}

int session_check_start_size(const char *const *argv, const char *const *envp,
			     const char *file_name, const char *app, struct dv_error *err)
{
	struct dv_start fixed = {0};
	uint8_t *buffer = malloc(DV_MAX_PAYLOAD);
	long length;

	if (buffer == NULL)
		return dv_error_set(err, ENOMEM, "cannot check the size of the request");
	for (const char *const *a = argv; a != NULL && *a != NULL; a++)
		fixed.argc++;
	for (const char *const *e = envp; e != NULL && *e != NULL; e++)
		fixed.envc++;
	if (file_name != NULL)
		fixed.flags |= DV_START_FILE;
	length = dv_start_encode(buffer, DV_MAX_PAYLOAD, &fixed, argv, envp, "", file_name,
				 app != NULL ? app : "");
	free(buffer);
	if (length < 0)
		return dv_error_invalid(err, E2BIG,
					"the command, its arguments and -e entries take more than the %u KiB a VM accepts; shorten them or pass data on stdin",
					DV_MAX_PAYLOAD / 1024);
	return 0;
}
