#include "qemu_output.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "log.h"

void qemu_output_init(struct qemu_output *output)
{
	*output = (struct qemu_output){.fd = -1, .source.fd = -1};
}

/* Log the line in `partial` and keep it as the last line. Bytes outside
 * printable ASCII become '?', because the line goes into JSON replies and
 * QEMU may print bytes that came from the guest. */
static void finish_line(struct qemu_output *output)
{
	char *line = output->partial;
	size_t length = output->partial_length;

	output->partial_length = 0;
	output->dropped_length = 0;
	line[length] = '\0';
	for (size_t i = 0; i < length; i++) {
		if ((unsigned char)line[i] < 0x20 || (unsigned char)line[i] > 0x7e)
			line[i] = '?';
	}
	if (length == 0)
		return;
	memcpy(output->last_line, line, length + 1);
	if (output->logged >= QEMU_OUTPUT_MAX_LOGGED) {
		output->suppressed++;
		return;
	}
	output->logged++;
	log_warning("%s: QEMU: %s", output->vm_name, line);
}

static void add_bytes(struct qemu_output *output, const char *bytes, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		if (bytes[i] == '\n') {
			finish_line(output);
			continue;
		}
		/* One byte stays free for the terminating NUL. */
		if (output->partial_length + 1 < sizeof(output->partial))
			output->partial[output->partial_length++] = bytes[i];
		else
			output->dropped_length++;
	}
}

/* Returns false once the pipe reached its end or failed. */
static bool read_some(struct qemu_output *output)
{
	char chunk[4096];
	ssize_t count = read(output->fd, chunk, sizeof(chunk));

	if (count < 0 && (errno == EAGAIN || errno == EINTR))
		return errno == EINTR;
	if (count < 0)
		log_warning("%s: cannot read QEMU's stderr: %m", output->vm_name);
	if (count <= 0) {
		qemu_output_close(output);
		return false;
	}
	add_bytes(output, chunk, (size_t)count);
	return true;
}

static void output_ready(struct loop_source *source, uint32_t events)
{
	struct qemu_output *output = source->data;

	/* One read per event keeps a chatty QEMU from starving the loop. */
	read_some(output);
}

int qemu_output_open(struct qemu_output *output, const char *vm_name, int *write_fd,
		     struct dv_error *err)
{
	int pipe_fds[2];
	int ret;

	qemu_output_close(output);
	output->vm_name = vm_name;
	output->last_line[0] = '\0';
	output->logged = output->suppressed = 0;
	if (pipe2(pipe_fds, O_CLOEXEC) < 0)
		return dv_error_set(err, errno, "cannot create a pipe for QEMU's stderr");
	if (fcntl(pipe_fds[0], F_SETFL, O_NONBLOCK) < 0) {
		ret = dv_error_set(err, errno, "cannot make QEMU's stderr pipe non-blocking");
		goto fail;
	}
	ret = loop_add(&output->source, pipe_fds[0], EPOLLIN, output_ready, output);
	if (ret < 0) {
		dv_error_set(err, -ret, "cannot watch QEMU's stderr");
		goto fail;
	}
	output->fd = pipe_fds[0];
	*write_fd = pipe_fds[1];
	return 0;
fail:
	close(pipe_fds[1]);
	close(pipe_fds[0]);
	return ret;
}

void qemu_output_drain(struct qemu_output *output)
{
	/* Once QEMU has exited the pipe contains at most its capacity, so this
	 * ends. */
	while (output->fd >= 0 && read_some(output))
		;
}

void qemu_output_close(struct qemu_output *output)
{
	if (output->fd < 0)
		return;
	loop_remove(&output->source);
	close(output->fd);
	output->fd = -1;
	if (output->partial_length > 0)
		finish_line(output);
	if (output->suppressed > 0)
		log_warning("%s: QEMU printed %u more lines on stderr, not logged",
			    output->vm_name, output->suppressed);
	output->suppressed = 0;
}
