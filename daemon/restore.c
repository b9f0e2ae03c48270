/* How a VM starts, and restoring a VM from its template's savefile. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "machine.h"
#include "pool.h"
#include "savefile.h"
#include "snapshot.h"
#include "vm.h"

/* Interval of query-status polls while QEMU loads the savefile. */
#define RESTORE_POLL_MS 10u

/*
 * Why `vm` cannot be restored, written into `reason`; NULL-free: returns
 * false when it can. *rebuild says whether a new savefile would help.
 */
static bool restore_blocked(const struct vm *vm, bool accel_decided, char *reason, size_t size,
			    bool *rebuild)
{
	char qemu[DV_PATH_MAX];
	bool kvm = vm->accel == ACCEL_KVM;

	*rebuild = false;
	if (vm->memory_mib != vm->template->memory_mib) {
		snprintf(reason, size,
			 "the VM needs %u MiB and the savefile of template %s holds a %u MiB guest",
			 vm->memory_mib, vm->template->name, vm->template->memory_mib);
		return true;
	}
	if (!accel_decided) {
		snprintf(reason, size, "this VM tests whether KVM works");
		return true;
	}
	if (machine_find_qemu(qemu, sizeof(qemu), NULL) < 0) {
		snprintf(reason, size, "QEMU not found");
		return true;
	}

	enum savefile_state state = savefile_check(vm->template, qemu, &kvm, NULL);

	if (state == SAVEFILE_FRESH)
		return false;
	*rebuild = true;
	snprintf(reason, size, "the savefile of template %s is %s", vm->template->name,
		 savefile_state_name(state));
	return true;
}

int snapshot_choose_start(struct vm *vm, bool accel_decided, struct dv_error *err)
{
	enum vm_start wanted = vm->start_request;
	char reason[256];
	bool rebuild = false;

	vm->start = VM_START_BOOT;
	if (vm->kind == VM_KIND_SAVE || wanted == VM_START_BOOT)
		return 0;
	if (wanted == VM_START_POOL)
		return dv_error_invalid(err, ENOENT,
					"no preloaded disposable of template %s is ready; "
					"use --start auto", vm->template->name);
	if (!restore_blocked(vm, accel_decided, reason, sizeof(reason), &rebuild)) {
		vm->start = VM_START_RESTORE;
		return 0;
	}
	if (rebuild && accel_decided)
		save_in_background(vm, vm->accel == ACCEL_KVM);
	if (wanted == VM_START_RESTORE)
		return dv_error_invalid(err, ENOENT, "cannot restore: %s%s", reason,
					rebuild ? "; run: dispvm template build" : "");
	log_info("%s: booting: %s", vm->name, reason);
	return 0;
}

int snapshot_open(struct vm *vm, struct dv_error *err)
{
	char path[DV_PATH_MAX];

	if (dv_path_join(path, sizeof(path), err, vm->template->dir, SAVEFILE_NAME) < 0)
		return -ENAMETOOLONG;

	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return dv_error_set(err, errno, "cannot open the savefile %s", path);
	return fd;
}

static void fail_restore(struct vm *vm, const char *what, const char *error)
{
	char cause[512];

	snprintf(cause, sizeof(cause), "restoring from the savefile failed: %s: %s", what, error);
	log_error("%s: %s", vm->name, cause);
	vm_destroy(vm, cause, cause);
}

static void resumed(void *data, struct json_object *result, const char *error)
{
	struct vm *vm = data;

	(void)result;
	if (vm->state != VM_STARTING)
		return;
	if (error != NULL) {
		fail_restore(vm, "cont", error);
		return;
	}
	log_debug("%s: restored and resumed after %.2f s", vm->name,
		  (double)(loop_now_ms() - vm->spawned_ms) / 1000.0);
	vm_agent_up(vm);
}

static void status_received(void *data, struct json_object *result, const char *error)
{
	struct vm *vm = data;
	struct json_object *status;

	if (vm->state != VM_STARTING)
		return;
	if (error != NULL || !json_object_object_get_ex(result, "status", &status)) {
		fail_restore(vm, "query-status", error != NULL ? error : "no status");
		return;
	}

	const char *name = json_object_get_string(status);

	if (strcmp(name, "inmigrate") == 0) {
		if (loop_timer_arm(&vm->poll_timer, RESTORE_POLL_MS) < 0)
			fail_restore(vm, "polling", "cannot arm a timer");
		return;
	}
	if (strcmp(name, "paused") != 0) {
		fail_restore(vm, "loading the state", name);
		return;
	}
	if (vm->preloaded) {
		pool_vm_loaded(vm);
		return;
	}
	if (qmp_execute(&vm->qmp, vm->qmp_fd, "cont", NULL, -1, resumed, vm) < 0)
		fail_restore(vm, "cont", "cannot send the command");
}

int snapshot_cont(struct vm *vm, struct dv_error *err)
{
	int ret = qmp_execute(&vm->qmp, vm->qmp_fd, "cont", NULL, -1, resumed, vm);

	if (ret < 0)
		return dv_error_set(err, -ret, "cannot ask QEMU to resume the guest");
	return 0;
}

static int query_status(struct vm *vm)
{
	return qmp_execute(&vm->qmp, vm->qmp_fd, "query-status", NULL, -1, status_received, vm);
}

int snapshot_resume(struct vm *vm, struct dv_error *err)
{
	int ret = query_status(vm);

	if (ret < 0)
		return dv_error_set(err, -ret, "cannot ask QEMU for its state");
	return 0;
}

void snapshot_poll(void *data)
{
	struct vm *vm = data;

	if (vm->state != VM_STARTING)
		return;
	if (vm->kind == VM_KIND_SAVE) {
		save_poll(vm);
		return;
	}
	if (vm->start == VM_START_RESTORE && query_status(vm) < 0)
		fail_restore(vm, "query-status", "cannot send the command");
}
