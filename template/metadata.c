#include "metadata.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#define TEMPLATE_FORMAT 1

/* Copy string member `key` of `object` into `out`; false when it is missing,
 * not a string or too long. */
static bool get_string(json_object *object, const char *key, char *out, size_t size)
{
	json_object *value;

	if (!json_object_object_get_ex(object, key, &value) || !json_object_is_type(value, json_type_string))
		return false;

	const char *text = json_object_get_string(value);

	if (strlen(text) >= size)
		return false;
	strcpy(out, text);
	return true;
}

static bool get_uint64(json_object *object, const char *key, uint64_t *out)
{
	json_object *value;

	if (!json_object_object_get_ex(object, key, &value) || !json_object_is_type(value, json_type_int))
		return false;
	*out = json_object_get_uint64(value);
	return true;
}

static bool parse_time(const char *text, time_t *out)
{
	struct tm tm = {0};
	const char *end = strptime(text, "%Y-%m-%dT%H:%M:%SZ", &tm);

	if (end == NULL || *end != '\0')
		return false;
	*out = timegm(&tm);
	return true;
}

/* Join folder and file name; false when the name leaves the folder. */
static bool join_in_dir(const char *dir, const char *file, char *out, size_t size)
{
	if (file[0] == '\0' || strchr(file, '/') != NULL || strcmp(file, "..") == 0)
		return false;

	int length = snprintf(out, size, "%s/%s", dir, file);

	return length > 0 && (size_t)length < size;
}

static bool parse_modules(json_object *root, struct template_metadata *out)
{
	json_object *array;

	if (!json_object_object_get_ex(root, "modules", &array) || !json_object_is_type(array, json_type_array))
		return false;
	if (json_object_array_length(array) > TEMPLATE_MAX_MODULES)
		return false;
	out->module_count = (unsigned)json_object_array_length(array);
	for (unsigned i = 0; i < out->module_count; i++) {
		json_object *item = json_object_array_get_idx(array, i);

		if (!json_object_is_type(item, json_type_string) ||
		    strlen(json_object_get_string(item)) >= sizeof(out->modules[i]))
			return false;
		strcpy(out->modules[i], json_object_get_string(item));
	}
	return true;
}

static bool parse_input(json_object *item, struct template_input *input)
{
	uint64_t mtime = 0;

	memset(input, 0, sizeof(*input));
	if (!get_string(item, "name", input->name, sizeof(input->name)) ||
	    !get_string(item, "path", input->path, sizeof(input->path)) ||
	    !get_string(item, "sha256", input->sha256, sizeof(input->sha256)))
		return false;
	get_string(item, "version", input->version, sizeof(input->version));
	get_uint64(item, "size", &input->size);
	get_uint64(item, "mtime_ns", &mtime);
	input->mtime_ns = (int64_t)mtime;
	return true;
}

static bool parse_inputs(json_object *root, struct template_metadata *out)
{
	json_object *array;

	if (!json_object_object_get_ex(root, "inputs", &array) || !json_object_is_type(array, json_type_array))
		return false;
	if (json_object_array_length(array) > TEMPLATE_MAX_INPUTS)
		return false;
	out->input_count = (unsigned)json_object_array_length(array);
	for (unsigned i = 0; i < out->input_count; i++) {
		if (!parse_input(json_object_array_get_idx(array, i), &out->inputs[i]))
			return false;
	}
	return true;
}

/* Fill `out` from the parsed document; the name of the first invalid or
 * missing member goes into `bad`. */
static bool parse_root(json_object *root, struct template_metadata *out, const char **bad)
{
	char built_at[32], kernel[256], initramfs[256];
	uint64_t format = 0, memory = 0;

	*bad = "format";
	if (!get_uint64(root, "format", &format) || format != TEMPLATE_FORMAT)
		return false;
	*bad = "name";
	if (!get_string(root, "name", out->name, sizeof(out->name)) || !dv_template_name_valid(out->name))
		return false;
	*bad = "built_at";
	if (!get_string(root, "built_at", built_at, sizeof(built_at)) || !parse_time(built_at, &out->built_at))
		return false;
	*bad = "kernel";
	if (!get_string(root, "kernel", kernel, sizeof(kernel)) ||
	    !join_in_dir(out->dir, kernel, out->kernel, sizeof(out->kernel)))
		return false;
	*bad = "initramfs";
	if (!get_string(root, "initramfs", initramfs, sizeof(initramfs)) ||
	    !join_in_dir(out->dir, initramfs, out->initramfs, sizeof(out->initramfs)))
		return false;
	*bad = "kernel_version, kernel_source or cmdline";
	if (!get_string(root, "kernel_version", out->kernel_version, sizeof(out->kernel_version)) ||
	    !get_string(root, "kernel_source", out->kernel_source, sizeof(out->kernel_source)) ||
	    !get_string(root, "cmdline", out->cmdline, sizeof(out->cmdline)))
		return false;
	*bad = "memory_mib or size_bytes";
	if (!get_uint64(root, "memory_mib", &memory) || memory == 0 || memory > 1u << 20 ||
	    !get_uint64(root, "size_bytes", &out->size_bytes))
		return false;
	out->memory_mib = (unsigned)memory;
	*bad = "modules";
	if (!parse_modules(root, out))
		return false;
	*bad = "inputs";
	return parse_inputs(root, out);
}

int template_metadata_load_dir(const char *dir, struct template_metadata *out, struct dv_error *err)
{
	char path[DV_PATH_MAX];
	const char *bad = NULL;

	memset(out, 0, sizeof(*out));
	if (snprintf(out->dir, sizeof(out->dir), "%s", dir) >= (int)sizeof(out->dir) ||
	    dv_path_join(path, sizeof(path), err, dir, "template.json") < 0)
		return dv_error_invalid(err, ENAMETOOLONG, "template folder path too long: %.64s...", dir);
	if (access(path, F_OK) < 0)
		return dv_error_set(err, errno, "cannot read %s", path);

	json_object *root = json_object_from_file(path);

	if (root == NULL)
		return dv_error_invalid(err, EINVAL, "%s is not valid JSON: %s; rebuild the template",
					path, json_util_get_last_err());

	bool valid = json_object_is_type(root, json_type_object) && parse_root(root, out, &bad);

	json_object_put(root);
	if (!valid)
		return dv_error_invalid(err, EINVAL, "%s: missing or invalid %s; rebuild the template",
					path, bad != NULL ? bad : "top-level object");
	return 0;
}

int template_metadata_load(const char *name, struct template_metadata *out, struct dv_error *err)
{
	char dir[DV_PATH_MAX];
	int ret;

	if (!dv_template_name_valid(name))
		return dv_error_invalid(err, EINVAL,
					"invalid template name \"%s\": use 1 to 32 of a-z, 0-9, '-' and '_', starting with a letter or digit",
					name);
	ret = dv_path_template(name, dir, sizeof(dir), err);
	if (ret < 0)
		return ret;
	ret = template_metadata_load_dir(dir, out, err);
	if (ret == -ENOENT)
		return dv_error_invalid(err, ENOENT, "template %s is not built; build it with: dispvm template build %s",
					name, name);
	return ret;
}

static const char *base_name(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash != NULL ? slash + 1 : path;
}

static json_object *build_inputs(const struct template_metadata *metadata)
{
	json_object *array = json_object_new_array();

	for (unsigned i = 0; i < metadata->input_count; i++) {
		const struct template_input *input = &metadata->inputs[i];
		json_object *item = json_object_new_object();

		json_object_object_add(item, "name", json_object_new_string(input->name));
		json_object_object_add(item, "path", json_object_new_string(input->path));
		if (input->version[0] != '\0')
			json_object_object_add(item, "version", json_object_new_string(input->version));
		json_object_object_add(item, "sha256", json_object_new_string(input->sha256));
		json_object_object_add(item, "size", json_object_new_uint64(input->size));
		json_object_object_add(item, "mtime_ns", json_object_new_int64(input->mtime_ns));
		json_object_array_add(array, item);
	}
	return array;
}

static json_object *build_root(const struct template_metadata *metadata)
{
	json_object *root = json_object_new_object();
	json_object *modules = json_object_new_array();
	char built_at[32];
	struct tm tm;

	gmtime_r(&metadata->built_at, &tm);
	strftime(built_at, sizeof(built_at), "%Y-%m-%dT%H:%M:%SZ", &tm);
	for (unsigned i = 0; i < metadata->module_count; i++)
		json_object_array_add(modules, json_object_new_string(metadata->modules[i]));

	json_object_object_add(root, "format", json_object_new_int(TEMPLATE_FORMAT));
	json_object_object_add(root, "name", json_object_new_string(metadata->name));
	json_object_object_add(root, "built_at", json_object_new_string(built_at));
	json_object_object_add(root, "kernel_version", json_object_new_string(metadata->kernel_version));
	json_object_object_add(root, "kernel_source", json_object_new_string(metadata->kernel_source));
	json_object_object_add(root, "kernel", json_object_new_string(base_name(metadata->kernel)));
	json_object_object_add(root, "initramfs", json_object_new_string(base_name(metadata->initramfs)));
	json_object_object_add(root, "cmdline", json_object_new_string(metadata->cmdline));
	json_object_object_add(root, "memory_mib", json_object_new_int64(metadata->memory_mib));
	json_object_object_add(root, "size_bytes", json_object_new_uint64(metadata->size_bytes));
	json_object_object_add(root, "modules", modules);
	json_object_object_add(root, "inputs", build_inputs(metadata));
	return root;
}

static int write_all(int fd, const char *text, size_t length)
{
	while (length > 0) {
		ssize_t written = write(fd, text, length);

		if (written < 0 && errno == EINTR)
			continue;
		if (written < 0)
			return -errno;
		text += written;
		length -= (size_t)written;
	}
	return 0;
}

int template_metadata_save(const struct template_metadata *metadata, struct dv_error *err)
{
	char path[DV_PATH_MAX], temporary[DV_PATH_MAX];
	json_object *root = build_root(metadata);
	const char *text = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
	int fd = -1;
	int ret;

	ret = dv_path_join(path, sizeof(path), err, metadata->dir, "template.json");
	if (ret < 0)
		goto out;
	ret = dv_path_join(temporary, sizeof(temporary), err, metadata->dir, "template.json.tmp");
	if (ret < 0)
		goto out;
	fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		ret = dv_error_set(err, errno, "cannot create %s", temporary);
		goto out;
	}
	ret = write_all(fd, text, strlen(text));
	if (ret == 0)
		ret = write_all(fd, "\n", 1);
	if (ret == 0 && fsync(fd) < 0)
		ret = -errno;
	if (ret < 0) {
		ret = dv_error_set(err, -ret, "cannot write %s", temporary);
		unlink(temporary);
		goto out;
	}
	if (rename(temporary, path) < 0) {
		ret = dv_error_set(err, errno, "cannot rename %s to %s", temporary, path);
		unlink(temporary);
	}
out:
	if (fd >= 0)
		close(fd);
	json_object_put(root);
	return ret;
}
