/* KVM probe result and its cache in CACHE/accel.json. */
#include "accel.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "log.h"
#include "paths.h"

static bool probe_running;

const char *accel_name(enum accel accel)
{
	return accel == ACCEL_KVM ? "kvm" : "tcg";
}

/* The facts a cached result depends on. */
static struct json_object *cache_key(const char *qemu_path)
{
	struct utsname host;
	struct stat qemu;
	struct json_object *key = json_object_new_object();

	if (key == NULL)
		return NULL;
	if (uname(&host) < 0 || stat(qemu_path, &qemu) < 0) {
		json_object_put(key);
		return NULL;
	}
	json_object_object_add(key, "kernel_release", json_object_new_string(host.release));
	json_object_object_add(key, "qemu_path", json_object_new_string(qemu_path));
	json_object_object_add(key, "qemu_size", json_object_new_int64(qemu.st_size));
	json_object_object_add(key, "qemu_mtime", json_object_new_int64(qemu.st_mtime));
	json_object_object_add(key, "kvm_device", json_object_new_boolean(access("/dev/kvm", F_OK) == 0));
	return key;
}

static int cache_path(char *out, size_t size)
{
	char dir[DV_PATH_MAX];
	int ret = dv_path_dir(DV_DIR_CACHE, dir, sizeof(dir), NULL);

	if (ret == 0)
		ret = dv_dir_ensure_private(dir, NULL);
	if (ret == 0)
		ret = dv_path_join(out, size, NULL, dir, "accel.json");
	return ret;
}

/* Returns 1 with *out set when the cache contains a result for this key. */
static int cache_lookup(const char *qemu_path, enum accel *out)
{
	char path[DV_PATH_MAX];
	struct json_object *key = cache_key(qemu_path);
	struct json_object *cached = NULL;
	struct json_object *cached_key, *accel;
	int found = 0;

	if (key == NULL || cache_path(path, sizeof(path)) < 0)
		goto out;
	cached = json_object_from_file(path);
	if (cached == NULL || !json_object_object_get_ex(cached, "key", &cached_key) ||
	    !json_object_object_get_ex(cached, "accel", &accel))
		goto out;
	if (!json_object_equal(key, cached_key))
		goto out;
	*out = strcmp(json_object_get_string(accel), "kvm") == 0 ? ACCEL_KVM : ACCEL_TCG;
	found = 1;
out:
	json_object_put(cached);
	json_object_put(key);
	return found;
}

static void cache_store(const char *qemu_path, enum accel accel, const char *reason)
{
	char path[DV_PATH_MAX];
	char temporary[DV_PATH_MAX + 8];
	struct json_object *key = cache_key(qemu_path);
	struct json_object *entry = json_object_new_object();

	if (key == NULL || entry == NULL || cache_path(path, sizeof(path)) < 0) {
		log_warning("cannot store the accelerator probe result");
		json_object_put(key);
		json_object_put(entry);
		return;
	}
	json_object_object_add(entry, "key", key);
	json_object_object_add(entry, "accel", json_object_new_string(accel_name(accel)));
	if (reason != NULL)
		json_object_object_add(entry, "kvm_failure", json_object_new_string(reason));
	snprintf(temporary, sizeof(temporary), "%s.tmp", path);
	if (json_object_to_file_ext(temporary, entry, JSON_C_TO_STRING_PRETTY) < 0 ||
	    rename(temporary, path) < 0)
		log_warning("cannot write %s: %s", path, json_util_get_last_err());
	json_object_put(entry);
}

bool accel_known(const char *qemu_path, enum accel *out)
{
	const char *forced = getenv("DISPVM_ACCEL");

	if (forced != NULL && (strcmp(forced, "kvm") == 0 || strcmp(forced, "tcg") == 0)) {
		*out = strcmp(forced, "kvm") == 0 ? ACCEL_KVM : ACCEL_TCG;
		return true;
	}
	if (access("/dev/kvm", R_OK | W_OK) < 0) {
		*out = ACCEL_TCG;
		return true;
	}
	return cache_lookup(qemu_path, out) == 1;
}

enum accel_decision accel_decide(const char *qemu_path, enum accel *out)
{
	const char *forced = getenv("DISPVM_ACCEL");

	if (forced != NULL && (strcmp(forced, "kvm") == 0 || strcmp(forced, "tcg") == 0)) {
		*out = strcmp(forced, "kvm") == 0 ? ACCEL_KVM : ACCEL_TCG;
		return ACCEL_DECIDED;
	}

	int kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);

	if (kvm_fd < 0) {
		log_debug("cannot open /dev/kvm (%m); using TCG");
		*out = ACCEL_TCG;
		return ACCEL_DECIDED;
	}
	close(kvm_fd);
	if (cache_lookup(qemu_path, out))
		return ACCEL_DECIDED;
	if (probe_running)
		return ACCEL_WAIT;
	probe_running = true;
	*out = ACCEL_KVM;
	return ACCEL_PROBE;
}

void accel_probe_finished(const char *qemu_path, bool kvm_works, const char *reason)
{
	probe_running = false;
	if (kvm_works)
		log_info("KVM runs guests here; using KVM");
	else
		log_warning("KVM cannot run guests here (%s); using TCG", reason);
	cache_store(qemu_path, kvm_works ? ACCEL_KVM : ACCEL_TCG, kvm_works ? NULL : reason);
}

void accel_probe_abandoned(void)
{
	probe_running = false;
}
