/* The session table, START, process exits and the end of sessions. */
#include "session.h"
#include "identity.h"
#include "kmsg.h"
#include "port.h"
#include "session-state.h"
#include "spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#define CGROUP_ROOT "/sys/fs/cgroup"

static struct session sessions[MAX_SESSIONS];

static struct session *find_session(uint32_t channel)
{
	for (unsigned i = 0; i < MAX_SESSIONS; i++) {
		if (sessions[i].used && sessions[i].channel == channel)
			return &sessions[i];
	}
	return NULL;
}

static struct session *allocate_session(uint32_t channel)
{
	for (unsigned i = 0; i < MAX_SESSIONS; i++) {
		struct session *session = &sessions[i];

		if (session->used)
			continue;
		memset(session, 0, sizeof(*session));
		session->used = true;
		session->slot = i;
		session->channel = channel;
		session->pid = -1;
		session->file.fd = -1;
		relay_init(session);
		return session;
	}
	return NULL;
}

static void release_session(struct session *session)
{
	relay_close(session);
	if (session->flags & DV_START_FILE)
		open_cleanup(session);
	/* A background process of a run session may still be in the cgroup.
	 * Then the directory stays, and the next session on this channel
	 * reuses it. */
	if (session->cgroup[0] != '\0' && rmdir(session->cgroup) < 0)
		log_debug("channel %u: cgroup %s kept: %m", session->channel, session->cgroup);
	dv_start_free(&session->request);
	free(session->start_payload);
	memset(session, 0, sizeof(*session));
}

static void send_exit(struct session *session, uint32_t kind, int32_t value, const char *message)
{
	port_send(DV_MSG_STDOUT, session->channel, NULL, 0);
	port_send(DV_MSG_STDERR, session->channel, NULL, 0);
	port_send_exit(session->channel, kind, value, message);
	log_info("channel %u: session ended (%s %d)", session->channel,
		 kind == DV_EXIT_SIGNAL ? "signal" : "status", value);
}

void session_fail(struct session *session, const char *message)
{
	log_error("channel %u: %s", session->channel, message);
	send_exit(session, DV_EXIT_FAILED, 125, message);
	release_session(session);
}

static int create_cgroup(struct session *session)
{
	snprintf(session->cgroup, sizeof(session->cgroup), CGROUP_ROOT "/s%u", session->channel);
	if (mkdir(session->cgroup, 0755) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

static void start_relay(struct session *session, const struct spawn_result *result)
{
	session->input.fd = result->stdin_fd;
	session->output[0].fd = result->stdout_fd;
	session->output[1].fd = result->stderr_fd;
	session->output[1].eof = result->stderr_fd < 0;
	relay_watch_output(session, 0);
	relay_watch_output(session, 1);
	if (session->input.closed) {
		close(session->input.fd);
		session->input.fd = -1;
	}
	relay_flush_input(session);
}

int session_spawn(struct session *session, char *const *argv)
{
	char message[DV_MAX_EXIT_MESSAGE];
	int ret = create_cgroup(session);

	if (ret < 0) {
		snprintf(message, sizeof(message), "cannot create cgroup %s: %s", session->cgroup,
			 strerror(-ret));
		session->cgroup[0] = '\0';
		session_fail(session, message);
		return ret;
	}

	const struct dv_start *fixed = &session->request.fixed;
	struct spawn_request request = {
		.argv = argv,
		.extra_env = session->request.envp,
		.cwd = session->request.cwd,
		.cgroup = session->cgroup,
		.tty = (fixed->flags & DV_START_TTY) != 0,
		.rows = fixed->rows,
		.cols = fixed->cols,
	};
	struct spawn_result result;
	struct spawn_failure failure;

	ret = spawn_process(&request, &result, &failure);
	if (ret < 0) {
		/* The failed child, if any, is reaped as an unknown pid. */
		log_info("channel %u: %s", session->channel, failure.message);
		send_exit(session, failure.kind, failure.value, failure.message);
		release_session(session);
		return ret;
	}
	session->pid = result.pid;
	log_info("channel %u: started %s as pid %d", session->channel, argv[0], (int)result.pid);
	start_relay(session, &result);
	return 0;
}

static int start_session(uint32_t channel, const uint8_t *untrusted_payload, size_t length)
{
	if (find_session(channel) != NULL) {
		log_error("protocol violation: START for channel %u, which is in use", channel);
		return -EPROTO;
	}

	struct session *session = allocate_session(channel);

	if (session == NULL) {
		log_error("channel %u: rejected, %d sessions already run", channel, MAX_SESSIONS);
		port_send_exit(channel, DV_EXIT_FAILED, 125, "too many sessions in the guest");
		return 0;
	}
	session->start_payload = malloc(length);
	if (session->start_payload == NULL) {
		session_fail(session, "out of memory for START");
		return 0;
	}
	memcpy(session->start_payload, untrusted_payload, length);

	const char *reason;

	if (dv_start_decode(session->start_payload, length, &session->request, &reason) < 0) {
		log_error("protocol violation: channel %u: %s", channel, reason);
		release_session(session);
		return -EPROTO;
	}
	session->flags = session->request.fixed.flags;
	if (session->flags & DV_START_FILE) {
		session->phase = PHASE_RECEIVE;
		open_begin(session);
	} else {
		session->phase = PHASE_RUNNING;
		session_spawn(session, session->request.argv);
	}
	return 0;
}

static int handle_signal(struct session *session, const uint8_t *untrusted_payload)
{
	uint32_t signo = dv_get_u32(untrusted_payload);

	if (signo < 1 || signo > 64) {
		log_error("protocol violation: channel %u: invalid signal %u", session->channel, signo);
		return -EPROTO;
	}
	/* A signal before the handler of an open session started (the file
	 * is still arriving) ends the session, as it would end the handler. */
	if (session->pid < 0 && session->phase == PHASE_RECEIVE) {
		log_info("channel %u: signal %u before the command started", session->channel,
			 signo);
		send_exit(session, DV_EXIT_SIGNAL, (int32_t)signo, NULL);
		release_session(session);
		return 0;
	}
	/* The command leads its own session, so its pid is its process group. */
	if (session->pid > 0 && kill(-session->pid, (int)signo) < 0 && errno != ESRCH)
		log_warning("channel %u: cannot send signal %u: %m", session->channel, signo);
	return 0;
}

static void handle_resize(struct session *session, const uint8_t *untrusted_payload)
{
	struct winsize size = {
		.ws_row = dv_get_u16(untrusted_payload),
		.ws_col = dv_get_u16(untrusted_payload + 2),
	};
	int master = session->output[0].fd;

	if (!(session->flags & DV_START_TTY) || master < 0)
		return;
	/* The kernel sends SIGWINCH to the pty's foreground process group. */
	if (ioctl(master, TIOCSWINSZ, &size) < 0)
		log_warning("channel %u: cannot resize the pty: %m", session->channel);
}

static void kill_cgroup(struct session *session)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/cgroup.kill", session->cgroup);

	int fd = open(path, O_WRONLY | O_CLOEXEC);

	if (fd < 0 || write(fd, "1", 1) != 1)
		log_warning("channel %u: cannot kill %s: %m", session->channel, session->cgroup);
	if (fd >= 0)
		close(fd);
}

static void handle_close(struct session *session)
{
	log_info("channel %u: closing on request", session->channel);
	session->closing = true;
	if (session->pid < 0) {
		send_exit(session, DV_EXIT_SIGNAL, SIGKILL, NULL);
		release_session(session);
		return;
	}
	kill_cgroup(session);
}

static int handle_file_in(struct session *session, const uint8_t *untrusted_data, size_t length)
{
	if (!(session->flags & DV_START_FILE) || session->phase != PHASE_RECEIVE) {
		log_error("protocol violation: channel %u: FILE_IN outside the file transfer",
			  session->channel);
		return -EPROTO;
	}
	if (length == 0)
		return open_received_all(session);
	return open_receive(session, untrusted_data, length);
}

int session_handle_frame(const struct dv_header *header, const uint8_t *untrusted_payload)
{
	if (header->type == DV_MSG_IDENTITY)
		return identity_handle(untrusted_payload, header->length);
	if (!identity_applied()) {
		log_error("protocol violation: %s before IDENTITY", dv_msg_name(header->type));
		return -EPROTO;
	}
	if (header->type == DV_MSG_START)
		return start_session(header->channel, untrusted_payload, header->length);

	struct session *session = find_session(header->channel);

	/* The host may send frames before it has read this channel's EXIT. */
	if (session == NULL) {
		log_debug("ignoring %s for channel %u without a session", dv_msg_name(header->type),
			  header->channel);
		return 0;
	}
	switch (header->type) {
	case DV_MSG_STDIN:
		return relay_stdin(session, untrusted_payload, header->length);
	case DV_MSG_FILE_IN:
		return handle_file_in(session, untrusted_payload, header->length);
	case DV_MSG_WINDOW:
		return relay_window(session, untrusted_payload);
	case DV_MSG_SIGNAL:
		return handle_signal(session, untrusted_payload);
	case DV_MSG_RESIZE:
		handle_resize(session, untrusted_payload);
		return 0;
	case DV_MSG_CLOSE:
		handle_close(session);
		return 0;
	default:
		log_error("protocol violation: %s sent to the guest", dv_msg_name(header->type));
		return -EPROTO;
	}
}

void session_handle_event(enum watch_kind kind, unsigned slot, uint32_t events)
{
	struct session *session = &sessions[slot];

	if (slot >= MAX_SESSIONS || !session->used)
		return;
	if (kind == WATCH_STDIN)
		relay_flush_input(session);
	else
		relay_read_output(session, (int)(kind - WATCH_STDOUT));
}

void sessions_reap(void)
{
	for (;;) {
		int status;
		pid_t pid = waitpid(-1, &status, WNOHANG);

		if (pid <= 0)
			return;
		for (unsigned i = 0; i < MAX_SESSIONS; i++) {
			struct session *session = &sessions[i];

			if (!session->used || session->pid != pid)
				continue;
			session->exited = true;
			session->status = status;
			session->pty_deadline = now_ms() + PTY_QUIET_MS;
			log_debug("channel %u: pid %d exited", session->channel, (int)pid);
		}
	}
}

/* Whether a process is left in the session's cgroup. */
static bool cgroup_populated(const struct session *session)
{
	char path[128];
	char events[256];

	snprintf(path, sizeof(path), "%s/cgroup.events", session->cgroup);

	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return false;

	ssize_t length = read(fd, events, sizeof(events) - 1);

	close(fd);
	if (length <= 0)
		return false;
	events[length] = '\0';
	return strstr(events, "populated 1") != NULL;
}

static void end_session(struct session *session)
{
	int status = session->status;

	if (WIFSIGNALED(status))
		send_exit(session, DV_EXIT_SIGNAL, WTERMSIG(status), NULL);
	else
		send_exit(session, DV_EXIT_CODE, WEXITSTATUS(status), NULL);
	release_session(session);
}

/* Whether the command and its output are done; with a pty, also returns
 * the time left before a quiet pty counts as EOF. */
static bool running_done(struct session *session, int *timeout)
{
	if (!session->exited)
		return false;
	if ((session->flags & DV_START_TTY) && !session->output[0].eof) {
		relay_read_output(session, 0);
		if (!session->output[0].eof) {
			int64_t left = session->pty_deadline - now_ms();

			if (session->output[0].credit > 0 && (*timeout < 0 || left < *timeout))
				*timeout = left > 0 ? (int)left : 0;
			return false;
		}
	}
	if (!session->output[0].eof || !session->output[1].eof)
		return false;
	/* An open session lasts until every process of its handler exited. */
	return !(session->flags & DV_START_FILE) || !cgroup_populated(session);
}

static void advance_session(struct session *session, int *timeout)
{
	if (session->phase == PHASE_RECEIVE)
		return;
	if (session->phase == PHASE_RUNNING) {
		if (!running_done(session, timeout))
			return;
		if ((session->flags & DV_START_FILE) && !session->closing &&
		    !(session->flags & DV_START_VIEW_ONLY) && open_start_send(session))
			session->phase = PHASE_SEND_FILE;
	}
	if (session->phase == PHASE_SEND_FILE && !session->closing && !open_send_more(session))
		return;
	end_session(session);
}

int sessions_advance(void)
{
	int timeout = -1;

	for (unsigned i = 0; i < MAX_SESSIONS; i++) {
		if (sessions[i].used)
			advance_session(&sessions[i], &timeout);
	}
	return timeout;
}
