#include "paths.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct xdg_rule {
	const char *variable;
	const char *home_fallback; /* relative to $HOME */
};

static const struct xdg_rule xdg_rules[] = {
	[DV_DIR_RUNTIME] = {"XDG_RUNTIME_DIR", NULL},
	[DV_DIR_DATA] = {"XDG_DATA_HOME", ".local/share"},
	[DV_DIR_CACHE] = {"XDG_CACHE_HOME", ".cache"},
	[DV_DIR_STATE] = {"XDG_STATE_HOME", ".local/state"},
	[DV_DIR_CONFIG] = {"XDG_CONFIG_HOME", ".config"},
};

static int format_path(char *out, size_t size, struct dv_error *err, const char *format, ...)
	__attribute__((format(printf, 4, 5)));

static int format_path(char *out, size_t size, struct dv_error *err, const char *format, ...)
{
	va_list args;

	va_start(args, format);
	int length = vsnprintf(out, size, format, args);
	va_end(args);
	if (length < 0 || (size_t)length >= size)
		return dv_error_invalid(err, ENAMETOOLONG, "path too long: %.64s...", out);
	return 0;
}

static int runtime_fallback(char *out, size_t size, struct dv_error *err)
{
	char user_dir[64];
	struct stat st;

	snprintf(user_dir, sizeof(user_dir), "/run/user/%u", (unsigned)getuid());
	if (stat(user_dir, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == getuid())
		return format_path(out, size, err, "%s/dispvm", user_dir);
	return format_path(out, size, err, "/tmp/dispvm-%u", (unsigned)getuid());
}

int dv_path_dir(enum dv_dir_kind kind, char *out, size_t size, struct dv_error *err)
{
	const struct xdg_rule *rule = &xdg_rules[kind];
	const char *base = getenv(rule->variable);

	/* The XDG rules say to ignore relative paths. */
	if (base != NULL && base[0] == '/')
		return format_path(out, size, err, "%s/dispvm", base);
	if (kind == DV_DIR_RUNTIME)
		return runtime_fallback(out, size, err);

	const char *home = getenv("HOME");

	if (home == NULL || home[0] != '/')
		return dv_error_invalid(err, ENOENT, "neither %s nor HOME is set to an absolute path; set one of them",
					rule->variable);
	return format_path(out, size, err, "%s/%s/dispvm", home, rule->home_fallback);
}

int dv_path_join(char *out, size_t size, struct dv_error *err, const char *dir,
		 const char *format, ...)
{
	char relative[DV_PATH_MAX];
	va_list args;

	va_start(args, format);
	int length = vsnprintf(relative, sizeof(relative), format, args);
	va_end(args);
	if (length < 0 || (size_t)length >= sizeof(relative))
		return dv_error_invalid(err, ENAMETOOLONG, "path too long under %s", dir);
	return format_path(out, size, err, "%s/%s", dir, relative);
}

int dv_path_control_socket(char *out, size_t size, struct dv_error *err)
{
	char runtime[DV_PATH_MAX];
	int ret = dv_path_dir(DV_DIR_RUNTIME, runtime, sizeof(runtime), err);

	if (ret < 0)
		return ret;
	return dv_path_join(out, size, err, runtime, "control.sock");
}

int dv_path_template(const char *name, char *out, size_t size, struct dv_error *err)
{
	char data[DV_PATH_MAX];
	int ret = dv_path_dir(DV_DIR_DATA, data, sizeof(data), err);

	if (ret < 0)
		return ret;
	return dv_path_join(out, size, err, data, "templates/%s", name);
}

static int make_parents(char *path, struct dv_error *err)
{
	for (char *slash = strchr(path + 1, '/'); slash != NULL; slash = strchr(slash + 1, '/')) {
		*slash = '\0';
		int ret = mkdir(path, 0700);
		int saved = errno;

		*slash = '/';
		if (ret < 0 && saved != EEXIST)
			return dv_error_set(err, saved, "cannot create directory %.*s",
					    (int)(slash - path), path);
	}
	return 0;
}

int dv_dir_ensure_private(const char *path, struct dv_error *err)
{
	char copy[DV_PATH_MAX];
	struct stat st;

	if (format_path(copy, sizeof(copy), err, "%s", path) < 0)
		return -ENAMETOOLONG;
	if (make_parents(copy, err) < 0)
		return -err->code;
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return dv_error_set(err, errno, "cannot create directory %s", path);
	if (lstat(path, &st) < 0)
		return dv_error_set(err, errno, "cannot inspect %s", path);
	if (!S_ISDIR(st.st_mode))
		return dv_error_invalid(err, ENOTDIR, "%s is not a directory; remove it and try again", path);
	if (st.st_uid != getuid())
		return dv_error_invalid(err, EPERM, "%s belongs to uid %u, not to you; remove it or set XDG_RUNTIME_DIR",
					path, (unsigned)st.st_uid);
	if ((st.st_mode & 077) != 0 && chmod(path, 0700) < 0)
		return dv_error_set(err, errno, "cannot make %s private", path);
	return 0;
}

bool dv_template_name_valid(const char *name)
{
	size_t length = strlen(name);

	if (length == 0 || length > 32)
		return false;
	for (size_t i = 0; i < length; i++) {
		char c = name[i];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');

		if (!alnum && (i == 0 || (c != '-' && c != '_')))
			return false;
	}
	return true;
}
