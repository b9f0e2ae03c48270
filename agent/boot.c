/* Host name and loopback set-up at boot. */
#include "boot.h"
#include "kmsg.h"

#include <fcntl.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

void bring_up_loopback(void)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0) {
		log_warning("cannot create a socket to bring up lo: %m");
		return;
	}

	struct ifreq request;

	memset(&request, 0, sizeof(request));
	snprintf(request.ifr_name, sizeof(request.ifr_name), "lo");
	if (ioctl(fd, SIOCGIFFLAGS, &request) < 0) {
		log_warning("cannot read the flags of lo: %m");
	} else {
		request.ifr_flags |= IFF_UP;
		if (ioctl(fd, SIOCSIFFLAGS, &request) < 0)
			log_warning("cannot bring up lo: %m");
	}
	close(fd);
}

void unlimit_kmsg(void)
{
	/* The kernel drops /dev/kmsg lines beyond a burst of 10 per 5 s
	 * unless printk_devkmsg is "on"; a printk.devkmsg= on the command
	 * line locks the setting and makes this write fail. */
	int fd = open("/proc/sys/kernel/printk_devkmsg", O_WRONLY | O_CLOEXEC);

	if (fd < 0 || write(fd, "on\n", 3) != 3)
		log_debug("cannot turn off the /dev/kmsg rate limit: %m");
	if (fd >= 0)
		close(fd);
}
