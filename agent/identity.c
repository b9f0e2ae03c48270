/* Applying IDENTITY (see identity.h). */
#include "identity.h"
#include "kmsg.h"
#include "port.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/random.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

static bool applied;

bool identity_applied(void)
{
	return applied;
}

static void set_host_name(const char *name)
{
	if (sethostname(name, strlen(name)) < 0)
		log_error("cannot set host name to %s: %m", name);
}

static void set_clock(uint64_t realtime_ns)
{
	struct timespec now = {
		.tv_sec = (time_t)(realtime_ns / 1000000000u),
		.tv_nsec = (long)(realtime_ns % 1000000000u),
	};

	if (clock_settime(CLOCK_REALTIME, &now) < 0)
		log_error("cannot set the clock: %m");
}

/* Add the bytes to the kernel's pool, credited as entropy, and make the
 * kernel's generator reseed from the pool now, so that no two guests of
 * one savefile read the same random bytes. */
static void add_entropy(const uint8_t *bytes, size_t length)
{
	struct {
		struct rand_pool_info info;
		uint8_t buffer[DV_IDENTITY_ENTROPY];
	} request;
	int fd = open("/dev/urandom", O_RDWR | O_CLOEXEC);

	if (fd < 0) {
		log_error("cannot open /dev/urandom: %m");
		return;
	}
	request.info.entropy_count = (int)(length * 8);
	request.info.buf_size = (int)length;
	memcpy(request.buffer, bytes, length);
	if (ioctl(fd, RNDADDENTROPY, &request) < 0)
		log_error("cannot add entropy to the kernel pool: %m");
	if (ioctl(fd, RNDRESEEDCRNG) < 0)
		log_error("cannot reseed the kernel's random generator: %m");
	explicit_bzero(&request, sizeof(request));
	close(fd);
}

int identity_handle(const uint8_t *untrusted_payload, size_t length)
{
	struct dv_identity identity;
	char name[DV_MAX_HOST_NAME + 1];
	const char *reason = NULL;

	if (applied) {
		log_error("protocol violation: second IDENTITY");
		return -EPROTO;
	}
	if (dv_identity_decode(untrusted_payload, length, &identity, name, &reason) < 0) {
		log_error("protocol violation: %s", reason);
		return -EPROTO;
	}
	set_clock(identity.realtime_ns);
	add_entropy(identity.entropy, sizeof(identity.entropy));
	explicit_bzero(&identity, sizeof(identity));
	set_host_name(name);
	applied = true;
	log_info("identity applied: host name %s", name);
	return port_send(DV_MSG_READY, 0, NULL, 0);
}
