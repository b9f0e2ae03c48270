/*
 * Building savefiles: a save VM boots the template to its agent's HELLO,
 * and QEMU migrates the stopped guest into TEMPLATE/savefile.tmp, which
 * is renamed into place once complete, followed by savefile.json.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "control.h"
#include "log.h"
#include "machine.h"
#include "savefile.h"
#include "snapshot.h"
#include "vm.h"

/* Interval of query-migrate polls while QEMU writes the savefile. */
#define SAVE_POLL_MS 20u
#define SAVE_MAX_WAITERS 16
#define SAVE_MAX_FAILED 16

struct save_job {
	char template[33];
	struct vm *vm;
	struct client *waiters[SAVE_MAX_WAITERS];
	size_t waiter_count;
	char path[DV_PATH_MAX];      /* savefile.tmp */
	int fd;                      /* savefile.tmp, until complete */
	struct savefile_record record;
	int64_t created_ms;
	int64_t stopped_ms;
	bool done;
	char error[2 * DV_ERROR_MAX];
	struct save_job *next;
};

/* A background save that failed, and the inputs it failed for, so that
 * starts do not retry a doomed save each time. */
struct failed_save {
	char template[33];
	char key[65];
};

static struct save_job *jobs;
static struct failed_save failed[SAVE_MAX_FAILED];
static size_t failed_next;

static struct save_job *find_job(const char *template)
{
	for (struct save_job *job = jobs; job != NULL; job = job->next) {
		if (strcmp(job->template, template) == 0)
			return job;
	}
	return NULL;
}

static void add_waiter(struct save_job *job, struct client *client)
{
	if (client == NULL)
		return;
	if (job->waiter_count == SAVE_MAX_WAITERS) {
		client_send_error(client, "too many clients wait for the savefile of template %s",
				  job->template);
		return;
	}
	job->waiters[job->waiter_count++] = client;
}

static void save_failed(struct vm *vm, const char *what, const char *error)
{
	struct save_job *job = vm->save;

	snprintf(job->error, sizeof(job->error), "%s: %s", what, error);
	log_error("%s: cannot save template %s: %s", vm->name, job->template, job->error);
	vm_destroy(vm, job->error, NULL);
}

/* The savefile is complete: make it durable, put it in place and record
 * it. */
static int install_savefile(struct save_job *job, struct dv_error *err)
{
	char final[DV_PATH_MAX];
	struct stat info;
	struct timespec now;

	if (fsync(job->fd) < 0 || fstat(job->fd, &info) < 0)
		return dv_error_set(err, errno, "cannot write %s", job->path);
	close(job->fd);
	job->fd = -1;
	snprintf(final, sizeof(final), "%s", job->path);
	*strrchr(final, '.') = '\0';
	if (rename(job->path, final) < 0)
		return dv_error_set(err, errno, "cannot rename %s to %s", job->path, final);
	job->path[0] = '\0';
	clock_gettime(CLOCK_REALTIME, &now);
	job->record.size_bytes = (uint64_t)info.st_size;
	job->record.saved_at = now.tv_sec;
	job->record.save_seconds = (double)(loop_now_ms() - job->stopped_ms) / 1000.0;

	char dir[DV_PATH_MAX];

	snprintf(dir, sizeof(dir), "%s", final);
	*strrchr(dir, '/') = '\0';
	return savefile_record_save(dir, &job->record, err);
}

static void migration_status(void *data, struct json_object *result, const char *error)
{
	struct vm *vm = data;
	struct json_object *status, *description;
	struct dv_error err = {0};

	if (vm->state != VM_STARTING)
		return;
	if (error != NULL || !json_object_object_get_ex(result, "status", &status)) {
		save_failed(vm, "query-migrate", error != NULL ? error : "no status");
		return;
	}

	const char *name = json_object_get_string(status);

	if (strcmp(name, "failed") == 0 || strcmp(name, "cancelled") == 0) {
		save_failed(vm, "QEMU migration failed",
			    json_object_object_get_ex(result, "error-desc", &description)
				    ? json_object_get_string(description)
				    : name);
		return;
	}
	if (strcmp(name, "completed") != 0) {
		if (loop_timer_arm(&vm->poll_timer, SAVE_POLL_MS) < 0)
			save_failed(vm, "polling", "cannot arm a timer");
		return;
	}
	if (install_savefile(vm->save, &err) < 0) {
		save_failed(vm, "installing the savefile", err.message);
		return;
	}
	vm->save->done = true;
	log_info("%s: saved template %s to its savefile (%.1f MiB in %.2f s)", vm->name,
		 vm->save->template, (double)vm->save->record.size_bytes / (1024.0 * 1024.0),
		 vm->save->record.save_seconds);
	vm_destroy(vm, "savefile written", NULL);
}

void save_poll(struct vm *vm)
{
	if (qmp_execute(&vm->qmp, vm->qmp_fd, "query-migrate", NULL, -1, migration_status, vm) < 0)
		save_failed(vm, "query-migrate", "cannot send the command");
}

/* Reply to stop, getfd and migrate: only errors matter. */
static void step_done(void *data, struct json_object *result, const char *error)
{
	struct vm *vm = data;

	(void)result;
	if (vm->state == VM_STARTING && error != NULL)
		save_failed(vm, "QMP command failed", error);
}

static struct json_object *string_arguments(const char *key, const char *value)
{
	struct json_object *arguments = json_object_new_object();

	json_object_object_add(arguments, key, json_object_new_string(value));
	return arguments;
}

/* Stop the guest and migrate it into savefile.tmp. */
static int start_migration(struct vm *vm, struct dv_error *err)
{
	struct save_job *job = vm->save;
	int ret;

	if (dv_path_join(job->path, sizeof(job->path), err, vm->template->dir,
			 SAVEFILE_NAME ".tmp") < 0)
		return -ENAMETOOLONG;
	job->fd = open(job->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (job->fd < 0) {
		ret = dv_error_set(err, errno, "cannot create %s", job->path);
		job->path[0] = '\0';
		return ret;
	}
	job->stopped_ms = loop_now_ms();
	ret = qmp_execute(&vm->qmp, vm->qmp_fd, "stop", NULL, -1, step_done, vm);
	if (ret == 0)
		ret = qmp_execute(&vm->qmp, vm->qmp_fd, "getfd", string_arguments("fdname", "savefile"),
				  job->fd, step_done, vm);
	if (ret == 0)
		ret = qmp_execute(&vm->qmp, vm->qmp_fd, "migrate", string_arguments("uri", "fd:savefile"),
				  -1, step_done, vm);
	if (ret == 0)
		ret = qmp_execute(&vm->qmp, vm->qmp_fd, "query-migrate", NULL, -1, migration_status,
				  vm);
	if (ret < 0)
		return dv_error_set(err, -ret, "cannot send QMP commands");
	return 0;
}

static int version_text(struct json_object *result, char *out, size_t size)
{
	struct json_object *qemu, *package, *major, *minor, *micro;

	if (!json_object_object_get_ex(result, "qemu", &qemu) ||
	    !json_object_object_get_ex(qemu, "major", &major) ||
	    !json_object_object_get_ex(qemu, "minor", &minor) ||
	    !json_object_object_get_ex(qemu, "micro", &micro))
		return -EPROTO;
	snprintf(out, size, "%d.%d.%d %s", json_object_get_int(major), json_object_get_int(minor),
		 json_object_get_int(micro),
		 json_object_object_get_ex(result, "package", &package)
			 ? json_object_get_string(package)
			 : "");
	return 0;
}

static void version_received(void *data, struct json_object *result, const char *error)
{
	struct vm *vm = data;
	struct save_job *job = vm->save;
	struct dv_error err = {0};
	char qemu[DV_PATH_MAX];

	if (vm->state != VM_STARTING)
		return;
	if (error != NULL || version_text(result, job->record.qemu_version,
					  sizeof(job->record.qemu_version)) < 0) {
		save_failed(vm, "query-version", error != NULL ? error : "malformed reply");
		return;
	}
	job->record.kvm = vm->accel == ACCEL_KVM;
	job->record.memory_mib = vm->memory_mib;

	int ret = machine_find_qemu(qemu, sizeof(qemu), &err);

	if (ret == 0)
		ret = savefile_compute_key(vm->template, qemu, job->record.qemu_version,
					   job->record.kvm, job->record.key, &err);
	if (ret == 0)
		ret = start_migration(vm, &err);
	if (ret < 0)
		save_failed(vm, "saving", err.message);
}

void snapshot_save(struct vm *vm)
{
	log_debug("%s: agent up after %.2f s; saving template %s", vm->name,
		  (double)(loop_now_ms() - vm->spawned_ms) / 1000.0, vm->template->name);
	if (qmp_execute(&vm->qmp, vm->qmp_fd, "query-version", NULL, -1, version_received, vm) < 0)
		save_failed(vm, "query-version", "cannot send the command");
}

static void unlink_job(struct save_job *job)
{
	for (struct save_job **link = &jobs; *link != NULL; link = &(*link)->next) {
		if (*link == job) {
			*link = job->next;
			return;
		}
	}
}

/* The key of the inputs without QEMU's version, which a start cannot
 * know without a running QEMU. */
static int inputs_key(const struct vm *vm, bool kvm, char out[65])
{
	char qemu[DV_PATH_MAX];

	if (machine_find_qemu(qemu, sizeof(qemu), NULL) < 0)
		return -ENOENT;
	return savefile_compute_key(vm->template, qemu, "", kvm, out, NULL);
}

static void remember_failure(const struct vm *vm, const struct save_job *job)
{
	struct failed_save *entry = &failed[failed_next++ % SAVE_MAX_FAILED];

	snprintf(entry->template, sizeof(entry->template), "%s", job->template);
	if (inputs_key(vm, vm->accel == ACCEL_KVM, entry->key) < 0)
		entry->key[0] = '\0';
}

static void reply_waiters(struct save_job *job)
{
	double seconds = (double)(loop_now_ms() - job->created_ms) / 1000.0;

	for (size_t i = 0; i < job->waiter_count; i++) {
		if (!job->done) {
			client_send_error(job->waiters[i], "cannot build the savefile of template %s: %s",
					  job->template, job->error);
			continue;
		}

		struct json_object *reply = json_object_new_object();

		json_object_object_add(reply, "ok", json_object_new_boolean(1));
		json_object_object_add(reply, "savefile", json_object_new_string("built"));
		json_object_object_add(reply, "seconds", json_object_new_double(seconds));
		json_object_object_add(reply, "size_bytes",
				       json_object_new_int64((int64_t)job->record.size_bytes));
		client_send(job->waiters[i], reply);
	}
}

void snapshot_vm_freed(struct vm *vm)
{
	struct save_job *job = vm->save;

	if (job == NULL)
		return;
	vm->save = NULL;
	if (!job->done && job->error[0] == '\0')
		snprintf(job->error, sizeof(job->error), "%s",
			 vm->end_cause != NULL ? vm->end_cause : "the save VM ended");
	if (job->fd >= 0)
		close(job->fd);
	if (job->path[0] != '\0')
		unlink(job->path);
	if (!job->done)
		remember_failure(vm, job);
	unlink_job(job);
	reply_waiters(job);
	free(job);
}

/* Start a save VM for `template`; `client` (may be NULL) gets the reply. */
static int start_save(const char *template, struct client *client, struct dv_error *err)
{
	struct save_job *job = find_job(template);

	if (job != NULL) {
		add_waiter(job, client);
		return 0;
	}
	job = calloc(1, sizeof(*job));
	if (job == NULL)
		return dv_error_set(err, ENOMEM, "cannot save template %s", template);
	snprintf(job->template, sizeof(job->template), "%s", template);
	job->fd = -1;
	job->created_ms = loop_now_ms();
	add_waiter(job, client);
	job->next = jobs;
	jobs = job;

	struct vm_request request = {.kind = VM_KIND_SAVE, .start = VM_START_BOOT};
	struct vm_session *session = NULL;
	int ret = vm_create(&request, template, 0, NULL, &session, err);

	if (ret < 0) {
		unlink_job(job);
		free(job);
		return ret;
	}

	struct vm *vm = session->vm;

	vm->save = job;
	job->vm = vm;
	return 0;
}

static bool failed_before(const struct vm *vm, bool kvm)
{
	char key[65];

	if (inputs_key(vm, kvm, key) < 0)
		return false;
	for (size_t i = 0; i < SAVE_MAX_FAILED; i++) {
		if (strcmp(failed[i].template, vm->template->name) == 0 &&
		    strcmp(failed[i].key, key) == 0)
			return true;
	}
	return false;
}

void save_in_background(const struct vm *vm, bool kvm)
{
	struct dv_error err = {0};

	if (find_job(vm->template->name) != NULL || failed_before(vm, kvm))
		return;
	log_info("%s: rebuilding the savefile of template %s in the background", vm->name,
		 vm->template->name);
	if (start_save(vm->template->name, NULL, &err) < 0)
		log_error("cannot rebuild the savefile of template %s: %s", vm->template->name,
			  err.message);
}

static void reply_fresh(struct client *client)
{
	struct json_object *reply = json_object_new_object();

	json_object_object_add(reply, "ok", json_object_new_boolean(1));
	json_object_object_add(reply, "savefile", json_object_new_string("fresh"));
	client_send(client, reply);
}

static bool is_fresh(const struct template_metadata *template)
{
	char qemu[DV_PATH_MAX];
	enum accel accel;

	if (machine_find_qemu(qemu, sizeof(qemu), NULL) < 0 || !accel_known(qemu, &accel))
		return false;

	bool kvm = accel == ACCEL_KVM;

	return savefile_check(template, qemu, &kvm, NULL) == SAVEFILE_FRESH;
}

void snapshot_handle_save(struct client *client, struct json_object *request)
{
	struct json_object *member;
	const char *name = json_object_object_get_ex(request, "template", &member)
				   ? json_object_get_string(member)
				   : DV_DEFAULT_TEMPLATE;
	struct template_metadata *template = calloc(1, sizeof(*template));
	struct dv_error err = {0};
	int ret = template != NULL ? 0 : dv_error_set(&err, ENOMEM, "cannot load template");

	if (ret == 0 && (name == NULL || !dv_template_name_valid(name)))
		ret = dv_error_invalid(&err, EINVAL, "invalid template name %s",
				       name != NULL ? name : "(null)");
	if (ret == 0)
		ret = template_metadata_load(name, template, &err);
	if (ret == 0 && find_job(name) == NULL && is_fresh(template))
		reply_fresh(client);
	else if (ret == 0)
		ret = start_save(name, client, &err);
	if (ret < 0)
		client_send_error(client, "%s", err.message);
	free(template);
}

void snapshot_client_closed(struct client *client)
{
	for (struct save_job *job = jobs; job != NULL; job = job->next) {
		size_t i = 0;

		while (i < job->waiter_count) {
			if (job->waiters[i] == client)
				job->waiters[i] = job->waiters[--job->waiter_count];
			else
				i++;
		}
	}
}
