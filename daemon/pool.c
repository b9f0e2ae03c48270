/* The pool of preloaded disposables: filling, retiring, taking. */
#include "pool.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "config.h"
#include "log.h"
#include "machine.h"
#include "savefile.h"
#include "snapshot.h"
#include "vm.h"

/* How often the pool checks its savefiles, sizes and the host's memory. */
#define POOL_CHECK_MS 1000u
/* Delay of a check asked for by pool_kick. */
#define POOL_KICK_MS 20u

static struct loop_timer pool_timer;
static bool pool_stopped;
static bool memory_low; /* refills stopped for MemAvailable */

static bool is_member(const struct vm *vm)
{
	return vm->preloaded && vm->state != VM_STOPPING;
}

static bool is_loading(void)
{
	for (struct vm *vm = vm_first(); vm != NULL; vm = vm->next) {
		if (is_member(vm) && !vm->pool_ready)
			return true;
	}
	return false;
}

/* The host's MemAvailable in MiB, or -1 when /proc/meminfo lacks the line. */
static int64_t mem_available_mib(void)
{
	FILE *meminfo = fopen("/proc/meminfo", "re");
	char line[128];
	int64_t result = -1;
	unsigned long long kib;

	if (meminfo == NULL)
		return -1;
	while (fgets(line, sizeof(line), meminfo) != NULL) {
		if (sscanf(line, "MemAvailable: %llu kB", &kib) == 1) {
			result = (int64_t)(kib / 1024u);
			break;
		}
	}
	fclose(meminfo);
	return result;
}

/* May the pool start one more VM? Logs once when the result changes. */
static bool memory_allows_refill(void)
{
	uint64_t threshold = config_current()->pool_min_available_mib;
	int64_t available = mem_available_mib();
	bool low = available >= 0 && (uint64_t)available < threshold;

	if (low && !memory_low)
		log_warning("pool: not refilling: MemAvailable is %" PRId64 " MiB, below "
			    "pool_min_available_mib %" PRIu64 " MiB of dispvm.conf",
			    available, threshold);
	else if (!low && memory_low)
		log_info("pool: refilling again: MemAvailable is %" PRId64 " MiB, at least "
			 "pool_min_available_mib %" PRIu64 " MiB", available, threshold);
	memory_low = low;
	return !low;
}

/*
 * What identifies the fresh savefile of `name`: its key, save time and
 * file, so that a rebuilt savefile differs even with an unchanged key.
 * Returns false when the template cannot be restored now.
 */
static bool savefile_identity(const char *name, char *out, size_t size)
{
	struct template_metadata template = {0};
	struct savefile_record record;
	struct dv_error err = {0};
	char qemu[DV_PATH_MAX];
	char path[DV_PATH_MAX];
	enum accel accel;
	struct stat status;

	if (machine_find_qemu(qemu, sizeof(qemu), NULL) < 0 || !accel_known(qemu, &accel) ||
	    template_metadata_load(name, &template, &err) < 0)
		return false;

	bool kvm = accel == ACCEL_KVM;

	if (savefile_check(&template, qemu, &kvm, &record) != SAVEFILE_FRESH ||
	    dv_path_join(path, sizeof(path), NULL, template.dir, SAVEFILE_NAME) < 0 ||
	    stat(path, &status) < 0)
		return false;
	snprintf(out, size, "%s/%lld/%llu/%lld.%09ld", record.key, (long long)record.saved_at,
		 (unsigned long long)status.st_ino, (long long)status.st_mtim.tv_sec,
		 status.st_mtim.tv_nsec);
	return true;
}

/* Destroy the first member that must go; returns false when none must. */
static bool retire_one(const char *template, const char *identity, unsigned keep)
{
	unsigned count = 0;

	for (struct vm *vm = vm_first(); vm != NULL; vm = vm->next) {
		if (!is_member(vm) || strcmp(vm->template->name, template) != 0)
			continue;
		if (identity == NULL || strcmp(vm->savefile_id, identity) != 0) {
			vm_destroy(vm, "its template's savefile changed", NULL);
			return true;
		}
		if (++count > keep) {
			vm_destroy(vm, "the pool shrank", NULL);
			return true;
		}
	}
	return false;
}

static unsigned member_count(const char *template)
{
	unsigned count = 0;

	for (struct vm *vm = vm_first(); vm != NULL; vm = vm->next) {
		if (is_member(vm) && strcmp(vm->template->name, template) == 0)
			count++;
	}
	return count;
}

/* Bring the pool of `template` to `size` members; starts at most one. */
static void maintain(const char *template, unsigned size, bool *loading)
{
	char identity[256];
	bool fresh = savefile_identity(template, identity, sizeof(identity));
	struct dv_error err = {0};

	while (retire_one(template, fresh ? identity : NULL, size))
		;
	if (!fresh || *loading || member_count(template) >= size || !memory_allows_refill())
		return;
	if (vm_preload(template, identity, &err) < 0) {
		log_error("pool: cannot preload a VM of template %s: %s", template, err.message);
		return;
	}
	*loading = true;
}

/* Destroy members of templates that have no pool any more. */
static void retire_unpooled(void)
{
	const struct dispvm_config *config = config_current();
	bool again = true;

	while (again) {
		again = false;
		for (struct vm *vm = vm_first(); vm != NULL; vm = vm->next) {
			const char *name = vm->template->name;

			if (is_member(vm) && strcmp(name, config->template) != 0 &&
			    config_pool_size(config, name) == 0) {
				vm_destroy(vm, "the pool shrank", NULL);
				again = true;
				break;
			}
		}
	}
}

static void pool_check(void *data)
{
	const struct dispvm_config *config = config_current();
	bool loading = is_loading();

	(void)data;
	if (pool_stopped)
		return;
	retire_unpooled();
	maintain(config->template, config_pool_size(config, config->template), &loading);
	for (size_t i = 0; i < config->template_count; i++) {
		const struct config_template *entry = &config->templates[i];

		if (strcmp(entry->name, config->template) != 0)
			maintain(entry->name, entry->pool_size, &loading);
	}
	if (!pool_stopped)
		loop_timer_arm(&pool_timer, POOL_CHECK_MS);
}

int pool_init(struct dv_error *err)
{
	int ret = loop_timer_init(&pool_timer, pool_check, NULL);

	if (ret < 0)
		return dv_error_set(err, -ret, "cannot create the pool's timer");
	pool_kick();
	return 0;
}

void pool_kick(void)
{
	if (!pool_stopped && pool_timer.source.fd >= 0)
		loop_timer_arm(&pool_timer, POOL_KICK_MS);
}

void pool_stop(void)
{
	pool_stopped = true;
	loop_timer_free(&pool_timer);
}

void pool_vm_loaded(struct vm *vm)
{
	loop_timer_arm(&vm->timer, 0);
	vm->pool_ready = true;
	log_info("%s: preloaded (template %s, %u MiB, paused after %.2f s)", vm->name,
		 vm->template->name, vm->memory_mib,
		 (double)(loop_now_ms() - vm->spawned_ms) / 1000.0);
	pool_kick();
}

static struct vm *ready_member(const char *template)
{
	for (struct vm *vm = vm_first(); vm != NULL; vm = vm->next) {
		if (is_member(vm) && vm->pool_ready && strcmp(vm->template->name, template) == 0)
			return vm;
	}
	return NULL;
}

int pool_take(struct vm_request *request, const char *template_name, unsigned memory_mib,
	      struct client *client, struct vm_session **out, struct dv_error *err)
{
	bool demanded = request->start == VM_START_POOL;
	struct vm *vm;

	if (request->start != VM_START_AUTO && !demanded)
		return 0;
	vm = ready_member(template_name);
	if (vm == NULL && !demanded)
		return 0;
	if (vm == NULL) {
		vm_request_free(request);
		return dv_error_invalid(err, ENOENT,
					"no preloaded disposable of template %s is ready; "
					"use --start auto", template_name);
	}

	unsigned memory = memory_mib != 0 ? memory_mib : vm_default_memory(vm->template, request);

	if (memory != vm->memory_mib && !demanded)
		return 0;
	if (memory != vm->memory_mib) {
		vm_request_free(request);
		return dv_error_invalid(err, EINVAL,
					"cannot use the pool: the VM needs %u MiB and the "
					"preloaded disposables of template %s have %u MiB",
					memory, template_name, vm->memory_mib);
	}

	int ret = vm_take(vm, request, client, out, err);

	return ret < 0 ? ret : 1;
}
