/* Bring-up of the guest system before the agent serves the port. */
#ifndef DISPVM_AGENT_BOOT_H
#define DISPVM_AGENT_BOOT_H

/* Mount /dev first, then the other API file systems. Each failure is
 * logged; returns the number of mounts that failed. */
int mount_filesystems(void);

/* Load the modules listed in /etc/dispvm/modules. Returns the number of
 * modules that failed to load. */
int load_modules(void);

/* Let the agent's log lines through the kernel's /dev/kmsg rate limit. */
void unlimit_kmsg(void);

/* Bring the loopback interface up. */
void bring_up_loopback(void);

#endif
