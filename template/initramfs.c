#include "initramfs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

static bool plan_has(const struct initramfs_plan *plan, const char *path)
{
	for (size_t i = 0; i < plan->count; i++) {
		if (strcmp(plan->entries[i].path, path) == 0)
			return true;
	}
	return false;
}

static struct initramfs_entry *plan_append(struct initramfs_plan *plan, enum initramfs_kind kind,
					   const char *path, const char *source, mode_t mode)
{
	if (plan->count == plan->capacity) {
		size_t capacity = plan->capacity ? 2 * plan->capacity : 512;
		struct initramfs_entry *grown = realloc(plan->entries, capacity * sizeof(*grown));

		if (grown == NULL)
			return NULL;
		plan->entries = grown;
		plan->capacity = capacity;
	}

	struct initramfs_entry *entry = &plan->entries[plan->count];

	memset(entry, 0, sizeof(*entry));
	entry->kind = kind;
	entry->mode = mode;
	entry->path = strdup(path);
	entry->source = source != NULL ? strdup(source) : NULL;
	if (entry->path == NULL || (source != NULL && entry->source == NULL)) {
		free(entry->path);
		free(entry->source);
		return NULL;
	}
	plan->count++;
	return entry;
}

int plan_add_dir(struct initramfs_plan *plan, const char *path, mode_t mode, unsigned uid,
		 unsigned gid)
{
	char parent[1024];

	if ((size_t)snprintf(parent, sizeof(parent), "%s", path) >= sizeof(parent))
		return -ENAMETOOLONG;

	char *slash = strrchr(parent, '/');

	if (slash != NULL) {
		*slash = '\0';
		if (!plan_has(plan, parent) && plan_add_dir(plan, parent, 0755, 0, 0) < 0)
			return -ENOMEM;
	}
	if (plan_has(plan, path))
		return 0;

	struct initramfs_entry *entry = plan_append(plan, ENTRY_DIR, path, NULL, mode);

	if (entry == NULL)
		return -ENOMEM;
	entry->uid = uid;
	entry->gid = gid;
	return 0;
}

/* Add the folder that holds `path`, if it has one. */
static int add_parent(struct initramfs_plan *plan, const char *path)
{
	char parent[1024];

	if ((size_t)snprintf(parent, sizeof(parent), "%s", path) >= sizeof(parent))
		return -ENAMETOOLONG;

	char *slash = strrchr(parent, '/');

	if (slash == NULL)
		return 0;
	*slash = '\0';
	return plan_add_dir(plan, parent, 0755, 0, 0);
}

int plan_add_file(struct initramfs_plan *plan, const char *path, const char *source, mode_t mode,
		  struct dv_error *err)
{
	struct stat st;

	if (stat(source, &st) < 0)
		return dv_error_set(err, errno, "cannot read %s", source);
	if (!S_ISREG(st.st_mode))
		return dv_error_invalid(err, EINVAL, "%s is not a regular file", source);
	if (add_parent(plan, path) < 0 || plan_append(plan, ENTRY_FILE, path, source, mode) == NULL)
		return dv_error_set(err, ENOMEM, "cannot add %s to the initramfs", path);
	plan->data_bytes += (uint64_t)st.st_size;
	return 0;
}

int plan_add_symlink(struct initramfs_plan *plan, const char *path, const char *target)
{
	if (add_parent(plan, path) < 0 || plan_append(plan, ENTRY_SYMLINK, path, target, 0777) == NULL)
		return -ENOMEM;
	return 0;
}

int plan_add_text(struct initramfs_plan *plan, const char *path, const char *text, mode_t mode)
{
	if (add_parent(plan, path) < 0 || plan_append(plan, ENTRY_TEXT, path, text, mode) == NULL)
		return -ENOMEM;
	plan->data_bytes += strlen(text);
	return 0;
}

int plan_add_char_device(struct initramfs_plan *plan, const char *path, mode_t mode,
			 unsigned major, unsigned minor)
{
	struct initramfs_entry *entry;

	if (add_parent(plan, path) < 0)
		return -ENOMEM;
	entry = plan_append(plan, ENTRY_CHAR_DEVICE, path, NULL, mode);
	if (entry == NULL)
		return -ENOMEM;
	entry->device_major = major;
	entry->device_minor = minor;
	return 0;
}

void plan_free(struct initramfs_plan *plan)
{
	for (size_t i = 0; i < plan->count; i++) {
		free(plan->entries[i].path);
		free(plan->entries[i].source);
	}
	free(plan->entries);
	memset(plan, 0, sizeof(*plan));
}

static int copy_file_data(struct archive *archive, const char *source, struct dv_error *err)
{
	char buffer[1 << 16];
	ssize_t length;
	int fd = open(source, O_RDONLY | O_CLOEXEC);
	int ret = 0;

	if (fd < 0)
		return dv_error_set(err, errno, "cannot open %s", source);
	while ((length = read(fd, buffer, sizeof(buffer))) > 0) {
		if (archive_write_data(archive, buffer, (size_t)length) != length) {
			ret = dv_error_invalid(err, EIO, "cannot write %s into the initramfs: %s", source,
					       archive_error_string(archive));
			break;
		}
	}
	if (length < 0)
		ret = dv_error_set(err, errno, "cannot read %s", source);
	close(fd);
	return ret;
}

/* Set the header fields of `entry`; its size for a FILE comes from stat. */
static int fill_header(struct archive_entry *header, const struct initramfs_entry *entry,
		       unsigned inode, struct dv_error *err)
{
	static const mode_t types[] = {
		[ENTRY_DIR] = AE_IFDIR, [ENTRY_FILE] = AE_IFREG, [ENTRY_SYMLINK] = AE_IFLNK,
		[ENTRY_TEXT] = AE_IFREG, [ENTRY_CHAR_DEVICE] = AE_IFCHR,
	};
	struct stat st;

	archive_entry_clear(header);
	archive_entry_set_pathname(header, entry->path);
	archive_entry_set_filetype(header, types[entry->kind]);
	archive_entry_set_perm(header, entry->mode);
	archive_entry_set_uid(header, entry->uid);
	archive_entry_set_gid(header, entry->gid);
	archive_entry_set_mtime(header, 0, 0);
	archive_entry_set_nlink(header, entry->kind == ENTRY_DIR ? 2 : 1);
	archive_entry_set_ino(header, inode);
	archive_entry_set_size(header, 0);
	if (entry->kind == ENTRY_SYMLINK) {
		archive_entry_set_symlink(header, entry->source);
	} else if (entry->kind == ENTRY_TEXT) {
		archive_entry_set_size(header, (la_int64_t)strlen(entry->source));
	} else if (entry->kind == ENTRY_CHAR_DEVICE) {
		archive_entry_set_rdev(header, makedev(entry->device_major, entry->device_minor));
	} else if (entry->kind == ENTRY_FILE) {
		if (stat(entry->source, &st) < 0)
			return dv_error_set(err, errno, "cannot read %s", entry->source);
		archive_entry_set_size(header, st.st_size);
	}
	return 0;
}

static int write_entry(struct archive *archive, struct archive_entry *header,
		       const struct initramfs_entry *entry, unsigned inode, struct dv_error *err)
{
	int ret = fill_header(header, entry, inode, err);

	if (ret < 0)
		return ret;
	if (archive_write_header(archive, header) != ARCHIVE_OK)
		return dv_error_invalid(err, EIO, "cannot write %s into the initramfs: %s", entry->path,
					archive_error_string(archive));
	if (entry->kind == ENTRY_FILE)
		return copy_file_data(archive, entry->source, err);
	if (entry->kind == ENTRY_TEXT &&
	    archive_write_data(archive, entry->source, strlen(entry->source)) != (la_ssize_t)strlen(entry->source))
		return dv_error_invalid(err, EIO, "cannot write %s into the initramfs: %s", entry->path,
					archive_error_string(archive));
	return 0;
}

int initramfs_write(const struct initramfs_plan *plan, const char *path, struct dv_error *err)
{
	struct archive *archive = archive_write_new();
	struct archive_entry *header = archive_entry_new();
	int ret = 0;

	if (archive == NULL || header == NULL) {
		ret = dv_error_set(err, ENOMEM, "cannot start the initramfs %s", path);
		goto out;
	}
	archive_write_set_format_cpio_newc(archive);
	archive_write_add_filter_none(archive);
	/* The kernel reads the archive as a byte stream; no block padding. */
	archive_write_set_bytes_per_block(archive, 0);
	if (archive_write_open_filename(archive, path) != ARCHIVE_OK) {
		ret = dv_error_invalid(err, EIO, "cannot create %s: %s", path, archive_error_string(archive));
		goto out;
	}
	for (size_t i = 0; i < plan->count && ret == 0; i++)
		ret = write_entry(archive, header, &plan->entries[i], (unsigned)i + 1, err);
	if (archive_write_close(archive) != ARCHIVE_OK && ret == 0)
		ret = dv_error_invalid(err, EIO, "cannot finish %s: %s", path, archive_error_string(archive));
out:
	archive_entry_free(header);
	archive_write_free(archive);
	return ret;
}
