/* The guest-shaping QEMU arguments and the QEMU binary (see machine.h). */
#include "machine.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dispvm-protocol.h"

#define QEMU_DEFAULT_BINARY "qemu-system-x86_64"

void machine_args(const struct template_metadata *template, bool kvm, unsigned memory_mib,
		  struct machine_args *out)
{
	snprintf(out->memory, sizeof(out->memory), "%u", memory_mib);

	/* The kernel command line holds nothing per VM: the guest learns its
	 * name from IDENTITY, so one savefile serves every VM. */
	const char *args[] = {
		"-nodefaults", "-no-user-config", "-machine", "q35",
		"-accel", kvm ? "kvm" : "tcg", "-cpu", kvm ? "host" : "max",
		"-m", out->memory, "-smp", "1", "-vga", "none", "-no-reboot",
		"-serial", "chardev:" MACHINE_CONSOLE_CHARDEV,
		"-kernel", template->kernel, "-initrd", template->initramfs,
		"-append", template->cmdline,
		"-device", "virtio-rng-pci", "-device", "virtio-serial-pci",
		"-device", "virtserialport,chardev=" MACHINE_AGENT_CHARDEV ",name=" DV_PORT_NAME,
	};

	out->count = 0;
	for (size_t i = 0; i < sizeof(args) / sizeof(args[0]) && out->count < MACHINE_MAX_ARGS; i++)
		out->argv[out->count++] = args[i];
	out->argv[out->count] = NULL;
}

static bool is_executable_file(const char *path)
{
	struct stat info;

	return stat(path, &info) == 0 && S_ISREG(info.st_mode) && access(path, X_OK) == 0;
}

int machine_find_qemu(char *out, size_t size, struct dv_error *err)
{
	const char *configured = getenv("DISPVM_QEMU");

	if (configured != NULL && configured[0] != '\0') {
		if (!is_executable_file(configured))
			return dv_error_invalid(err, ENOENT,
						"QEMU not found: %s (from DISPVM_QEMU)", configured);
		snprintf(out, size, "%s", configured);
		return 0;
	}

	const char *path = getenv("PATH");
	char *copy = strdup(path != NULL ? path : "/usr/local/bin:/usr/bin:/bin");
	char *save = NULL;

	if (copy == NULL)
		return dv_error_set(err, ENOMEM, "cannot search PATH");
	for (char *dir = strtok_r(copy, ":", &save); dir != NULL; dir = strtok_r(NULL, ":", &save)) {
		snprintf(out, size, "%s/%s", dir, QEMU_DEFAULT_BINARY);
		if (is_executable_file(out)) {
			free(copy);
			return 0;
		}
	}
	free(copy);
	return dv_error_invalid(err, ENOENT,
				"QEMU not found: %s; install the qemu-system-x86 package",
				QEMU_DEFAULT_BINARY);
}
