/* The savefile key and record (see savefile.h). */
#include "savefile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>
#include <openssl/evp.h>

#define SAVEFILE_FORMAT 1

const char *savefile_state_name(enum savefile_state state)
{
	switch (state) {
	case SAVEFILE_FRESH:
		return "fresh";
	case SAVEFILE_STALE:
		return "stale";
	case SAVEFILE_MISSING:
		break;
	}
	return "missing";
}

/* Hash a field as its length and its bytes, so that no two different
 * lists of fields hash the same bytes. */
static void hash_field(EVP_MD_CTX *context, const void *bytes, size_t length)
{
	uint8_t prefix[8];
	uint64_t value = length;

	for (int i = 0; i < 8; i++)
		prefix[i] = (uint8_t)(value >> (8 * i));
	EVP_DigestUpdate(context, prefix, sizeof(prefix));
	EVP_DigestUpdate(context, bytes, length);
}

static void hash_string(EVP_MD_CTX *context, const char *text)
{
	hash_field(context, text, strlen(text));
}

static void hash_number(EVP_MD_CTX *context, uint64_t number)
{
	char text[32];

	snprintf(text, sizeof(text), "%llu", (unsigned long long)number);
	hash_string(context, text);
}

void savefile_key(const struct savefile_inputs *inputs, char out[65])
{
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned int length = 0;
	EVP_MD_CTX *context = EVP_MD_CTX_new();

	out[0] = '\0';
	if (context == NULL || EVP_DigestInit_ex(context, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(context);
		return;
	}
	hash_string(context, "dispvm savefile 1");
	hash_field(context, inputs->template_json, inputs->template_json_length);
	hash_string(context, inputs->qemu_path);
	hash_number(context, inputs->qemu_size);
	hash_number(context, (uint64_t)inputs->qemu_mtime_ns);
	hash_string(context, inputs->qemu_version);
	hash_number(context, inputs->memory_mib);
	hash_number(context, inputs->machine_count);
	for (size_t i = 0; i < inputs->machine_count; i++)
		hash_string(context, inputs->machine[i]);
	EVP_DigestFinal_ex(context, digest, &length);
	EVP_MD_CTX_free(context);
	for (unsigned int i = 0; i < length && i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", digest[i]);
}

static int read_template_json(const char *dir, char **out, size_t *length, struct dv_error *err)
{
	char path[DV_PATH_MAX];
	struct stat info;

	if (dv_path_join(path, sizeof(path), err, dir, "template.json") < 0)
		return -err->code;

	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return dv_error_set(err, errno, "cannot open %s", path);

	int ret = 0;

	if (fstat(fd, &info) < 0) {
		ret = dv_error_set(err, errno, "cannot inspect %s", path);
	} else if (info.st_size > (off_t)SAVEFILE_MAX_TEMPLATE_JSON) {
		ret = dv_error_invalid(err, EFBIG, "%s is larger than 1 MiB", path);
	} else if ((*out = malloc((size_t)info.st_size + 1)) == NULL) {
		ret = dv_error_set(err, ENOMEM, "cannot read %s", path);
	} else {
		ssize_t got = read(fd, *out, (size_t)info.st_size);

		if (got != (ssize_t)info.st_size) {
			ret = dv_error_set(err, got < 0 ? errno : EIO, "cannot read %s", path);
			free(*out);
			*out = NULL;
		}
		*length = (size_t)info.st_size;
	}
	close(fd);
	return ret;
}

int savefile_compute_key(const struct template_metadata *template, const char *qemu_path,
			 const char *qemu_version, bool kvm, char out[65], struct dv_error *err)
{
	struct machine_args machine;
	struct stat info;
	char *content = NULL;
	size_t length = 0;

	if (stat(qemu_path, &info) < 0)
		return dv_error_set(err, errno, "cannot inspect QEMU %s", qemu_path);

	int ret = read_template_json(template->dir, &content, &length, err);

	if (ret < 0)
		return ret;
	machine_args(template, kvm, template->memory_mib, &machine);

	struct savefile_inputs inputs = {
		.template_json = content, .template_json_length = length,
		.qemu_path = qemu_path, .qemu_size = (uint64_t)info.st_size,
		.qemu_mtime_ns = (int64_t)info.st_mtim.tv_sec * 1000000000 + info.st_mtim.tv_nsec,
		.qemu_version = qemu_version, .memory_mib = template->memory_mib,
		.machine = machine.argv, .machine_count = machine.count,
	};

	savefile_key(&inputs, out);
	free(content);
	return out[0] != '\0' ? 0 : dv_error_invalid(err, EIO, "cannot compute SHA-256");
}

enum savefile_state savefile_check(const struct template_metadata *template,
				   const char *qemu_path, const bool *kvm,
				   struct savefile_record *record)
{
	struct savefile_record local;
	char path[DV_PATH_MAX], key[65];

	if (record == NULL)
		record = &local;
	if (dv_path_join(path, sizeof(path), NULL, template->dir, SAVEFILE_NAME) < 0 ||
	    access(path, R_OK) < 0 || savefile_record_load(template->dir, record, NULL) < 0)
		return SAVEFILE_MISSING;
	if (kvm != NULL && *kvm != record->kvm)
		return SAVEFILE_STALE;
	if (record->memory_mib != template->memory_mib ||
	    savefile_compute_key(template, qemu_path, record->qemu_version, record->kvm, key,
				 NULL) < 0)
		return SAVEFILE_STALE;
	return strcmp(key, record->key) == 0 ? SAVEFILE_FRESH : SAVEFILE_STALE;
}

static bool copy_string(struct json_object *root, const char *name, char *out, size_t size)
{
	struct json_object *member;

	if (!json_object_object_get_ex(root, name, &member) ||
	    !json_object_is_type(member, json_type_string) ||
	    strlen(json_object_get_string(member)) >= size)
		return false;
	snprintf(out, size, "%s", json_object_get_string(member));
	return true;
}

static int64_t get_number(struct json_object *root, const char *name)
{
	struct json_object *member;

	if (!json_object_object_get_ex(root, name, &member))
		return -1;
	return json_object_get_int64(member);
}

int savefile_record_load(const char *dir, struct savefile_record *out, struct dv_error *err)
{
	char path[DV_PATH_MAX], accel[8] = "";

	if (dv_path_join(path, sizeof(path), err, dir, SAVEFILE_RECORD_NAME) < 0)
		return -ENAMETOOLONG;

	struct json_object *root = json_object_from_file(path);

	memset(out, 0, sizeof(*out));
	if (root == NULL)
		return dv_error_invalid(err, ENOENT, "cannot read %s", path);

	bool valid = get_number(root, "format") == SAVEFILE_FORMAT &&
		     copy_string(root, "key", out->key, sizeof(out->key)) &&
		     copy_string(root, "qemu_version", out->qemu_version, sizeof(out->qemu_version)) &&
		     copy_string(root, "accel", accel, sizeof(accel)) &&
		     get_number(root, "memory_mib") > 0;

	if (valid) {
		out->kvm = strcmp(accel, "kvm") == 0;
		out->memory_mib = (unsigned)get_number(root, "memory_mib");
		out->size_bytes = (uint64_t)get_number(root, "size_bytes");
		out->saved_at = (time_t)get_number(root, "saved_at");
		struct json_object *member;

		if (json_object_object_get_ex(root, "save_seconds", &member))
			out->save_seconds = json_object_get_double(member);
	}
	json_object_put(root);
	return valid ? 0 : dv_error_invalid(err, EINVAL, "%s is malformed", path);
}

static struct json_object *record_to_json(const struct savefile_record *record)
{
	struct json_object *root = json_object_new_object();

	json_object_object_add(root, "format", json_object_new_int(SAVEFILE_FORMAT));
	json_object_object_add(root, "key", json_object_new_string(record->key));
	json_object_object_add(root, "qemu_version", json_object_new_string(record->qemu_version));
	json_object_object_add(root, "accel", json_object_new_string(record->kvm ? "kvm" : "tcg"));
	json_object_object_add(root, "memory_mib", json_object_new_int64(record->memory_mib));
	json_object_object_add(root, "size_bytes", json_object_new_int64((int64_t)record->size_bytes));
	json_object_object_add(root, "saved_at", json_object_new_int64(record->saved_at));
	json_object_object_add(root, "save_seconds", json_object_new_double(record->save_seconds));
	return root;
}

int savefile_record_save(const char *dir, const struct savefile_record *record,
			 struct dv_error *err)
{
	char path[DV_PATH_MAX], temporary[DV_PATH_MAX];

	if (dv_path_join(path, sizeof(path), err, dir, SAVEFILE_RECORD_NAME) < 0 ||
	    dv_path_join(temporary, sizeof(temporary), err, dir, SAVEFILE_RECORD_NAME ".tmp") < 0)
		return -ENAMETOOLONG;

	struct json_object *root = record_to_json(record);
	const char *text = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY);
	int ret = 0;
	int fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0) {
		ret = dv_error_set(err, errno, "cannot create %s", temporary);
	} else {
		size_t length = strlen(text);

		if (write(fd, text, length) != (ssize_t)length || write(fd, "\n", 1) != 1 ||
		    fsync(fd) < 0)
			ret = dv_error_set(err, errno, "cannot write %s", temporary);
		close(fd);
		if (ret == 0 && rename(temporary, path) < 0)
			ret = dv_error_set(err, errno, "cannot rename %s to %s", temporary, path);
		if (ret < 0)
			unlink(temporary);
	}
	json_object_put(root);
	return ret;
}
