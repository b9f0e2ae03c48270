/*
 * A guest agent that breaks the protocol on purpose, for the e2e tests.
 *
 * It boots like the real agent (PID 1: mounts, modules, the port), sends
 * HELLO, answers IDENTITY with READY and waits for START. argv[0] of START names the attack. The one
 * attack that must happen before HELLO (bad-hello) is chosen by
 * `dispvm.attack=bad-hello` on the kernel command line, which a test adds to
 * the template's "cmdline". After an attack the agent waits for the host to
 * destroy the VM, except for tiny-frames, which is legal and ends with EXIT 0.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "dispvm-protocol.h"

#define TINY_FRAME_COUNT 1000000u

static int port_fd = -1;
static uint32_t stdout_credit = DV_INITIAL_WINDOW;

static void log_message(const char *text)
{
	fprintf(stderr, "hostile-agent: %s\n", text);
}

/* Stop the guest: PID 1 must never return. */
static void __attribute__((noreturn)) power_off(void)
{
	sync();
	reboot(RB_POWER_OFF);
	for (;;)
		pause();
}

static void __attribute__((noreturn)) wait_for_destruction(void)
{
	log_message("attack sent, waiting for the host to destroy the VM");
	for (;;)
		pause();
}

static int write_full(const void *buffer, size_t length)
{
	const uint8_t *bytes = buffer;

	while (length > 0) {
		ssize_t written = write(port_fd, bytes, length);

		if (written < 0 && errno == EINTR)
			continue;
		if (written <= 0)
			return -1;
		bytes += written;
		length -= (size_t)written;
	}
	return 0;
}

static int read_full(void *buffer, size_t length)
{
	uint8_t *bytes = buffer;

	while (length > 0) {
		ssize_t got = read(port_fd, bytes, length);

		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return -1;
		bytes += got;
		length -= (size_t)got;
	}
	return 0;
}

/* Send a header with any fields, then `length` payload bytes (may differ
 * from header_length, which is the point of some attacks). */
static int send_raw(uint16_t type, uint32_t channel, uint32_t header_length,
		    const void *payload, size_t length)
{
	const struct dv_header header = {type, 0, channel, header_length};
	uint8_t bytes[DV_HEADER_SIZE];

	dv_header_encode(bytes, &header);
	if (write_full(bytes, sizeof(bytes)) < 0)
		return -1;
	return length > 0 ? write_full(payload, length) : 0;
}

static int send_frame(uint16_t type, uint32_t channel, const void *payload, size_t length)
{
	return send_raw(type, channel, (uint32_t)length, payload, length);
}

static int send_hello(uint32_t channel)
{
	uint8_t payload[8];

	dv_put_u32(payload, DV_PROTOCOL_VERSION);
	dv_put_u32(payload + 4, DV_MAX_PAYLOAD);
	return send_frame(DV_MSG_HELLO, channel, payload, sizeof(payload));
}

static int send_exit_zero(uint32_t channel)
{
	uint8_t payload[DV_EXIT_FIXED_SIZE];

	dv_put_u32(payload, DV_EXIT_CODE);
	dv_put_u32(payload + 4, 0);
	return send_frame(DV_MSG_EXIT, channel, payload, sizeof(payload));
}

/* Read one frame into `payload` (DV_MAX_PAYLOAD bytes). Adds WINDOW credit
 * for STDOUT as a side effect. */
static int read_frame(struct dv_header *header, uint8_t *payload)
{
	uint8_t bytes[DV_HEADER_SIZE];

	if (read_full(bytes, sizeof(bytes)) < 0)
		return -1;
	dv_header_decode(bytes, header);
	if (header->length > DV_MAX_PAYLOAD)
		return -1;
	if (read_full(payload, header->length) < 0)
		return -1;
	if (header->type == DV_MSG_WINDOW && header->length == 8 &&
	    dv_get_u32(payload) == DV_MSG_STDOUT)
		stdout_credit += dv_get_u32(payload + 4);
	return 0;
}

static int wait_for_stdout_credit(void)
{
	static uint8_t payload[DV_MAX_PAYLOAD];
	struct dv_header header;

	while (stdout_credit == 0) {
		if (read_frame(&header, payload) < 0)
			return -1;
	}
	return 0;
}

/*
 * Send `count` one-byte STDOUT frames, batched into large writes. With
 * `honour_window` the agent stops when its credit runs out and reads WINDOW
 * frames before going on. Without it the agent floods.
 */
static int send_tiny_frames(uint32_t channel, uint32_t count, bool honour_window)
{
	enum { BATCH = 4096 };
	static uint8_t batch[BATCH * (DV_HEADER_SIZE + 1)];
	const struct dv_header header = {DV_MSG_STDOUT, 0, channel, 1};

	for (size_t i = 0; i < BATCH; i++) {
		dv_header_encode(batch + i * (DV_HEADER_SIZE + 1), &header);
		batch[i * (DV_HEADER_SIZE + 1) + DV_HEADER_SIZE] = 'x';
	}
	while (count > 0) {
		uint32_t frames = count < BATCH ? count : BATCH;

		if (honour_window) {
			if (wait_for_stdout_credit() < 0)
				return -1;
			if (frames > stdout_credit)
				frames = stdout_credit;
			stdout_credit -= frames;
		}
		if (write_full(batch, frames * (size_t)(DV_HEADER_SIZE + 1)) < 0)
			return -1;
		count -= frames;
	}
	return 0;
}

/* Send more STDOUT than the initial window in full frames, never reading. */
static int send_window_overrun(uint32_t channel)
{
	static uint8_t payload[DV_MAX_PAYLOAD];
	uint64_t total = 64ull * DV_INITIAL_WINDOW;

	memset(payload, 'o', sizeof(payload));
	for (uint64_t sent = 0; sent < total; sent += sizeof(payload)) {
		if (send_frame(DV_MSG_STDOUT, channel, payload, sizeof(payload)) < 0)
			return -1;
	}
	return 0;
}

static void run_attack(const char *attack, uint32_t channel)
{
	static const uint8_t ten[10] = "0123456789";
	int ret = 0;

	if (strcmp(attack, "truncated-frame") == 0) {
		ret = send_raw(DV_MSG_STDOUT, channel, 100, ten, sizeof(ten));
		close(port_fd);
		port_fd = -1;
		log_message("port closed after a truncated frame, powering off in 3 s");
		sleep(3);
		power_off();
	} else if (strcmp(attack, "oversized-length") == 0) {
		ret = send_raw(DV_MSG_STDOUT, channel, 0xfffffff0u, ten, sizeof(ten));
	} else if (strcmp(attack, "unknown-type") == 0) {
		ret = send_raw(999, channel, 0, NULL, 0);
	} else if (strcmp(attack, "unknown-channel") == 0) {
		ret = send_frame(DV_MSG_STDOUT, 4242, "a", 1);
	} else if (strcmp(attack, "data-after-eof") == 0) {
		ret = send_frame(DV_MSG_STDOUT, channel, "a", 1);
		if (ret == 0)
			ret = send_frame(DV_MSG_STDOUT, channel, NULL, 0);
		if (ret == 0)
			ret = send_frame(DV_MSG_STDOUT, channel, "b", 1);
	} else if (strcmp(attack, "window-overrun") == 0) {
		ret = send_window_overrun(channel);
	} else if (strcmp(attack, "tiny-frames-flood") == 0) {
		ret = send_tiny_frames(channel, TINY_FRAME_COUNT, false);
	} else if (strcmp(attack, "tiny-frames") == 0) {
		ret = send_tiny_frames(channel, TINY_FRAME_COUNT, true);
		if (ret == 0)
			ret = send_frame(DV_MSG_STDOUT, channel, NULL, 0);
		if (ret == 0)
			ret = send_frame(DV_MSG_STDERR, channel, NULL, 0);
		if (ret == 0)
			ret = send_exit_zero(channel);
		log_message(ret == 0 ? "tiny-frames sent, exit 0" : "tiny-frames failed");
		for (;;)
			pause();
	} else {
		log_message("unknown attack name in START argv[0]");
	}
	if (ret < 0)
		log_message("writing to the port failed");
	wait_for_destruction();
}

static void mount_or_warn(const char *source, const char *target, const char *type)
{
	mkdir(target, 0755);
	if (mount(source, target, type, 0, NULL) < 0 && errno != EBUSY)
		fprintf(stderr, "hostile-agent: mount %s: %s\n", target, strerror(errno));
}

static void load_modules(void)
{
	struct utsname name;
	char line[512];
	char path[1024];
	FILE *list = fopen("/etc/dispvm/modules", "re");

	if (list == NULL || uname(&name) < 0)
		return;
	while (fgets(line, sizeof(line), list) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		if (line[0] == '\0')
			continue;
		snprintf(path, sizeof(path), "/lib/modules/%s/%s", name.release, line);

		int fd = open(path, O_RDONLY | O_CLOEXEC);

		if (fd < 0 || (syscall(SYS_finit_module, fd, "", 0) < 0 && errno != EEXIST))
			fprintf(stderr, "hostile-agent: module %s: %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
	}
	fclose(list);
}

/* Open the agent's virtio-serial port, retrying while the driver binds. */
static int open_port(void)
{
	char path[512];
	char name[128];

	for (int attempt = 0; attempt < 200; attempt++) {
		DIR *dir = opendir("/sys/class/virtio-ports");
		struct dirent *entry;

		while (dir != NULL && (entry = readdir(dir)) != NULL) {
			snprintf(path, sizeof(path), "/sys/class/virtio-ports/%s/name", entry->d_name);

			FILE *file = fopen(path, "re");

			if (file == NULL)
				continue;
			if (fgets(name, sizeof(name), file) != NULL) {
				name[strcspn(name, "\n")] = '\0';
				if (strcmp(name, DV_PORT_NAME) == 0) {
					snprintf(path, sizeof(path), "/dev/%s", entry->d_name);
					fclose(file);
					closedir(dir);
					return open(path, O_RDWR | O_CLOEXEC);
				}
			}
			fclose(file);
		}
		if (dir != NULL)
			closedir(dir);
		usleep(50000);
	}
	errno = ENOENT;
	return -1;
}

static bool cmdline_has(const char *word)
{
	char cmdline[4096] = "";
	int fd = open("/proc/cmdline", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return false;

	ssize_t got = read(fd, cmdline, sizeof(cmdline) - 1);

	close(fd);
	if (got <= 0)
		return false;
	cmdline[got] = '\0';
	return strstr(cmdline, word) != NULL;
}

/* Wait for START and return its channel, with argv[0] copied to `attack`. */
static int wait_for_start(char *attack, size_t size, uint32_t *channel)
{
	static uint8_t payload[DV_MAX_PAYLOAD];
	struct dv_header header;
	struct dv_start_request request;
	const char *reason = NULL;

	/* The host sends IDENTITY first and START only after READY. */
	do {
		if (read_frame(&header, payload) < 0)
			return -1;
		if (header.type == DV_MSG_IDENTITY && send_frame(DV_MSG_READY, 0, NULL, 0) < 0)
			return -1;
	} while (header.type != DV_MSG_START);
	if (dv_start_decode(payload, header.length, &request, &reason) < 0) {
		fprintf(stderr, "hostile-agent: invalid START: %s\n", reason);
		return -1;
	}
	snprintf(attack, size, "%s", request.argv[0] != NULL ? request.argv[0] : "");
	dv_start_free(&request);
	*channel = header.channel;
	return 0;
}

int main(void)
{
	char attack[64];
	uint32_t channel = 0;

	mount_or_warn("proc", "/proc", "proc");
	mount_or_warn("sysfs", "/sys", "sysfs");
	mount_or_warn("devtmpfs", "/dev", "devtmpfs");
	load_modules();
	port_fd = open_port();
	if (port_fd < 0) {
		log_message("port " DV_PORT_NAME " not found");
		power_off();
	}
	if (cmdline_has("dispvm.attack=bad-hello")) {
		log_message("sending HELLO on channel 3");
		send_hello(3);
		wait_for_destruction();
	}
	if (send_hello(0) < 0 || wait_for_start(attack, sizeof(attack), &channel) < 0) {
		log_message("no START from the host");
		power_off();
	}
	run_attack(attack, channel);
	power_off();
}
