/* Finding, reading and writing the virtio-serial port (see port.h). */
#include "port.h"
#include "kmsg.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PORTS_DIR "/sys/class/virtio-ports"
#define RETRY_INTERVAL_MS 50

/* Bytes queued for the host: data[start..end). */
struct output_queue {
	uint8_t *data;
	size_t start;
	size_t end;
	size_t capacity;
};

static int port_fd = -1;
static struct output_queue output;
static uint8_t input[DV_HEADER_SIZE + DV_MAX_PAYLOAD];
static size_t input_length;

static bool port_name_matches(const char *entry)
{
	char path[512];
	char name[sizeof(DV_PORT_NAME) + 1];

	snprintf(path, sizeof(path), PORTS_DIR "/%s/name", entry);

	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return false;

	ssize_t length = read(fd, name, sizeof(name));

	close(fd);
	if (length <= 0)
		return false;
	if (name[length - 1] == '\n')
		length--;
	return (size_t)length == strlen(DV_PORT_NAME) &&
	       memcmp(name, DV_PORT_NAME, (size_t)length) == 0;
}

/* Returns the open port fd, -ENOENT while it is missing, or another
 * negative errno. */
static int try_open_port(void)
{
	DIR *dir = opendir(PORTS_DIR);

	if (dir == NULL)
		return -ENOENT;

	int ret = -ENOENT;

	for (struct dirent *entry = readdir(dir); entry != NULL; entry = readdir(dir)) {
		if (entry->d_name[0] == '.' || !port_name_matches(entry->d_name))
			continue;

		char device[300];

		snprintf(device, sizeof(device), "/dev/%s", entry->d_name);
		ret = open(device, O_RDWR | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
		if (ret < 0) {
			ret = -errno;
			log_error("cannot open %s: %s", device, strerror(-ret));
		}
		break;
	}
	closedir(dir);
	return ret;
}

int port_open(int timeout_ms)
{
	struct timespec interval = {0, RETRY_INTERVAL_MS * 1000000L};
	int ret = -ENOENT;

	/* The device node shows up a moment after virtio_console loads. */
	for (int waited = 0; waited <= timeout_ms; waited += RETRY_INTERVAL_MS) {
		ret = try_open_port();
		if (ret != -ENOENT)
			break;
		nanosleep(&interval, NULL);
	}
	if (ret >= 0)
		port_fd = ret;
	return ret;
}

static int reserve(size_t length)
{
	if (output.start > 0 && output.start == output.end)
		output.start = output.end = 0;
	if (output.end + length <= output.capacity)
		return 0;

	/* Move the unsent bytes to the front before growing. */
	memmove(output.data, output.data + output.start, output.end - output.start);
	output.end -= output.start;
	output.start = 0;
	if (output.end + length <= output.capacity)
		return 0;

	size_t capacity = output.capacity > 0 ? output.capacity : 65536;

	while (capacity < output.end + length)
		capacity *= 2;

	uint8_t *data = realloc(output.data, capacity);

	if (data == NULL)
		return -ENOMEM;
	output.data = data;
	output.capacity = capacity;
	return 0;
}

int port_send(uint16_t type, uint32_t channel, const void *payload, size_t length)
{
	int ret = reserve(DV_HEADER_SIZE + length);

	if (ret < 0) {
		log_error("cannot queue a %s frame of %zu bytes: out of memory", dv_msg_name(type),
			  length);
		return ret;
	}

	struct dv_header header = {.type = type, .channel = channel, .length = (uint32_t)length};

	dv_header_encode(output.data + output.end, &header);
	if (length > 0)
		memcpy(output.data + output.end + DV_HEADER_SIZE, payload, length);
	output.end += DV_HEADER_SIZE + length;
	return 0;
}

int port_send_window(uint32_t channel, uint16_t stream, uint32_t increment)
{
	uint8_t payload[8];

	dv_put_u32(payload, stream);
	dv_put_u32(payload + 4, increment);
	return port_send(DV_MSG_WINDOW, channel, payload, sizeof(payload));
}

int port_send_exit(uint32_t channel, uint32_t kind, int32_t value, const char *message)
{
	uint8_t payload[DV_EXIT_FIXED_SIZE + DV_MAX_EXIT_MESSAGE];
	size_t message_length = message != NULL ? strlen(message) : 0;

	if (message_length > DV_MAX_EXIT_MESSAGE)
		message_length = DV_MAX_EXIT_MESSAGE;
	dv_put_u32(payload, kind);
	dv_put_u32(payload + 4, (uint32_t)value);
	if (message_length > 0)
		memcpy(payload + DV_EXIT_FIXED_SIZE, message, message_length);
	return port_send(DV_MSG_EXIT, channel, payload, DV_EXIT_FIXED_SIZE + message_length);
}

int port_flush(void)
{
	while (output.start < output.end) {
		ssize_t written = write(port_fd, output.data + output.start, output.end - output.start);

		if (written < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return 0;
			return -errno;
		}
		output.start += (size_t)written;
	}
	return 0;
}

bool port_output_pending(void)
{
	return output.start < output.end;
}

/* Pass every complete frame at the front of `input` to the handler and
 * keep the incomplete rest. */
static int dispatch_frames(port_frame_handler handler)
{
	size_t offset = 0;
	int ret = 0;

	while (ret == 0 && input_length - offset >= DV_HEADER_SIZE) {
		struct dv_header header;
		const char *reason;

		dv_header_decode(input + offset, &header);
		if (dv_header_check(&header, DV_TO_GUEST, &reason) < 0) {
			log_error("protocol violation from the host: %s (type %u, channel %u, length %u)",
				  reason, header.type, header.channel, header.length);
			return -EPROTO;
		}
		if (input_length - offset < DV_HEADER_SIZE + header.length)
			break;
		ret = handler(&header, input + offset + DV_HEADER_SIZE);
		offset += DV_HEADER_SIZE + header.length;
	}
	memmove(input, input + offset, input_length - offset);
	input_length -= offset;
	return ret;
}

int port_receive(port_frame_handler handler)
{
	for (;;) {
		ssize_t length = read(port_fd, input + input_length, sizeof(input) - input_length);

		if (length < 0 && errno == EINTR)
			continue;
		if (length < 0 && errno == EAGAIN)
			return 0;
		if (length < 0)
			return -errno;
		if (length == 0)
			return -EPIPE;
		input_length += (size_t)length;

		int ret = dispatch_frames(handler);

		if (ret < 0)
			return ret;
	}
}
