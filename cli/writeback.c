#include "writeback.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#define HIDDEN_SUFFIX ".dispvm-XXXXXX"
#define MAX_CONFLICT_NUMBER 1000

int hash_stream_init(struct hash_stream *hash)
{
	hash->length = 0;
	hash->context = EVP_MD_CTX_new();
	if (hash->context == NULL || EVP_DigestInit_ex(hash->context, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(hash->context);
		hash->context = NULL;
		return -ENOMEM;
	}
	return 0;
}

void hash_stream_update(void *hash, const void *data, size_t length)
{
	struct hash_stream *stream = hash;

	EVP_DigestUpdate(stream->context, data, length);
	stream->length += length;
}

void hash_stream_final(struct hash_stream *hash, unsigned char out[WRITEBACK_HASH_SIZE])
{
	unsigned int length = WRITEBACK_HASH_SIZE;

	if (hash->context == NULL) {
		memset(out, 0, WRITEBACK_HASH_SIZE);
		return;
	}
	EVP_DigestFinal_ex(hash->context, out, &length);
	EVP_MD_CTX_free(hash->context);
	hash->context = NULL;
}

/* Shorten `text` to at most `max` bytes without splitting a UTF-8
 * sequence. */
static size_t utf8_prefix(const char *text, size_t max)
{
	size_t length = strlen(text);

	if (length <= max)
		return length;
	while (max > 0 && ((unsigned char)text[max] & 0xc0) == 0x80)
		max--;
	return max;
}

/* Fill the Xs at the end of `name` with random letters and digits. */
static void randomize(char *name)
{
	static const char alphabet[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
	size_t length = strlen(name);
	unsigned char random[6] = {0};

	if (getrandom(random, sizeof(random), 0) != sizeof(random))
		for (size_t i = 0; i < sizeof(random); i++)
			random[i] = (unsigned char)(rand() + (int)i);
	for (size_t i = 0; i < 6; i++)
		name[length - 6 + i] = alphabet[random[i] % (sizeof(alphabet) - 1)];
}

/* A fresh hidden name ".BASE.dispvm-XXXXXX" that fits NAME_MAX. */
static void hidden_name(const char *base, char *out)
{
	size_t room = NAME_MAX - 1 - strlen(HIDDEN_SUFFIX);

	snprintf(out, NAME_MAX + 1, ".%.*s" HIDDEN_SUFFIX, (int)utf8_prefix(base, room), base);
	randomize(out);
}

/* Create the temporary file under a hidden name, as mkostemp does but
 * relative to the directory descriptor. */
static int create_named_temp(struct writeback *writeback)
{
	for (int attempt = 0; attempt < 100; attempt++) {
		hidden_name(writeback->base, writeback->temp_name);
		int fd = openat(writeback->dir_fd, writeback->temp_name,
				O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd >= 0)
			return fd;
		if (errno != EEXIST)
			break;
	}
	int saved = errno;
	writeback->temp_name[0] = '\0';
	return -saved;
}

static int open_dir(struct writeback *writeback, const char *path, struct dv_error *err)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');

	if (slash == NULL || strlen(slash + 1) > NAME_MAX)
		return dv_error_invalid(err, EINVAL, "invalid path '%s'", path);
	snprintf(writeback->path, sizeof(writeback->path), "%s", path);
	snprintf(writeback->base, sizeof(writeback->base), "%s", slash + 1);
	snprintf(dir, sizeof(dir), "%.*s", slash == path ? 1 : (int)(slash - path), path);
	writeback->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (writeback->dir_fd < 0)
		return dv_error_set(err, errno, "cannot open the directory %s", dir);
	return 0;
}

int writeback_create(struct writeback *writeback, const char *path, struct dv_error *err)
{
	int r;

	*writeback = (struct writeback){.dir_fd = -1, .fd = -1};
	if ((r = open_dir(writeback, path, err)) < 0)
		return r;
	if (hash_stream_init(&writeback->hash) < 0) {
		r = dv_error_set(err, ENOMEM, "cannot start SHA-256");
		goto fail;
	}
	writeback->fd = openat(writeback->dir_fd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	writeback->unnamed = writeback->fd >= 0;
	if (writeback->fd < 0)
		writeback->fd = create_named_temp(writeback);
	if (writeback->fd < 0) {
		r = dv_error_set(err, -writeback->fd, "cannot create a temporary file beside %s", path);
		goto fail;
	}
	return 0;

fail:
	writeback_discard(writeback);
	return r;
}

void writeback_discard(struct writeback *writeback)
{
	if (writeback->temp_name[0] != '\0' && writeback->dir_fd >= 0)
		unlinkat(writeback->dir_fd, writeback->temp_name, 0);
	writeback->temp_name[0] = '\0';
	if (writeback->fd >= 0)
		close(writeback->fd);
	writeback->fd = -1;
	if (writeback->dir_fd >= 0)
		close(writeback->dir_fd);
	writeback->dir_fd = -1;
	if (writeback->hash.context != NULL)
		EVP_MD_CTX_free(writeback->hash.context);
	writeback->hash.context = NULL;
}

void writeback_conflict_name(const char *base, const char *vm_name, unsigned number, char *out,
			     size_t size)
{
	const char *dot = strrchr(base, '.');
	char tag[96];
	size_t stem_length;

	/* A dot that starts the name (".bashrc") marks no extension. */
	if (dot == NULL || dot == base)
		dot = base + strlen(base);
	if (number > 1)
		snprintf(tag, sizeof(tag), " (edited in %s) %u", vm_name, number);
	else
		snprintf(tag, sizeof(tag), " (edited in %s)", vm_name);

	stem_length = (size_t)(dot - base);
	size_t fixed = strlen(tag) + strlen(dot);
	if (stem_length + fixed > NAME_MAX)
		stem_length = fixed < NAME_MAX ? NAME_MAX - fixed : 0;
	char stem[NAME_MAX + 1];
	snprintf(stem, sizeof(stem), "%.*s", (int)(dot - base), base);
	stem_length = utf8_prefix(stem, stem_length);
	snprintf(out, size, "%.*s%s%s", (int)stem_length, base, tag, dot);
}

/* Give the temporary file the name `name` in its directory. Fails with
 * -EEXIST rather than replace an existing file. */
static int link_temp_as(struct writeback *writeback, const char *name)
{
	char proc_path[64];
	int r;

	if (!writeback->unnamed) {
		r = linkat(writeback->dir_fd, writeback->temp_name, writeback->dir_fd, name, 0);
	} else {
		snprintf(proc_path, sizeof(proc_path), "/proc/self/fd/%d", writeback->fd);
		r = linkat(AT_FDCWD, proc_path, writeback->dir_fd, name, AT_SYMLINK_FOLLOW);
	}
	return r < 0 ? -errno : 0;
}

static bool same_time(struct timespec a, struct timespec b)
{
	return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

static int hash_file(const char *path, unsigned char out[WRITEBACK_HASH_SIZE])
{
	struct hash_stream hash;
	char buffer[65536];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);

	if (fd < 0)
		return -errno;
	if (hash_stream_init(&hash) < 0) {
		close(fd);
		return -ENOMEM;
	}
	while ((n = read(fd, buffer, sizeof(buffer))) > 0)
		hash_stream_update(&hash, buffer, (size_t)n);
	int saved = n < 0 ? errno : 0;
	hash_stream_final(&hash, out);
	close(fd);
	return -saved;
}

/* Whether the target is no longer what the CLI sent: another inode, size,
 * modification or change time, or other bytes. */
static bool original_changed(const struct writeback *writeback, const struct file_record *original)
{
	unsigned char now[WRITEBACK_HASH_SIZE];
	struct stat st;

	if (stat(writeback->path, &st) < 0)
		return true;
	if (st.st_dev != original->st.st_dev || st.st_ino != original->st.st_ino ||
	    st.st_size != original->st.st_size || !same_time(st.st_mtim, original->st.st_mtim) ||
	    !same_time(st.st_ctim, original->st.st_ctim))
		return true;
	if (hash_file(writeback->path, now) < 0)
		return true;
	return memcmp(now, original->sha256, WRITEBACK_HASH_SIZE) != 0;
}

static int save_conflict(struct writeback *writeback, const char *vm_name, char *saved_path,
			 size_t saved_size, struct dv_error *err)
{
	char name[NAME_MAX * 2];
	int r = -EEXIST;

	for (unsigned number = 1; number <= MAX_CONFLICT_NUMBER && r == -EEXIST; number++) {
		writeback_conflict_name(writeback->base, vm_name, number, name, sizeof(name));
		r = link_temp_as(writeback, name);
	}
	if (r < 0)
		return dv_error_set(err, -r, "cannot save the edited copy of %s as %s", writeback->path, name);
	snprintf(saved_path, saved_size, "%.*s/%s", (int)(strlen(writeback->path) - strlen(writeback->base) - 1),
		 writeback->path, name);
	return 0;
}

/* Replace the target atomically: rename a named copy over it. */
static int replace_original(struct writeback *writeback, struct dv_error *err)
{
	int r = 0;

	if (writeback->unnamed) {
		for (int attempt = 0; attempt < 100; attempt++) {
			hidden_name(writeback->base, writeback->temp_name);
			r = link_temp_as(writeback, writeback->temp_name);
			if (r != -EEXIST)
				break;
		}
		if (r < 0) {
			writeback->temp_name[0] = '\0';
			return dv_error_set(err, -r, "cannot link the edited copy of %s", writeback->path);
		}
	}
	if (renameat(writeback->dir_fd, writeback->temp_name, writeback->dir_fd, writeback->base) < 0)
		return dv_error_set(err, errno, "cannot replace %s", writeback->path);
	writeback->temp_name[0] = '\0';
	return 0;
}

/* Decide between unchanged, replace and conflict and carry it out. */
static int commit_received(struct writeback *writeback, const struct file_record *original,
			   const char *vm_name, enum writeback_result *result, char *saved_path,
			   size_t saved_size, struct dv_error *err)
{
	unsigned char received[WRITEBACK_HASH_SIZE];

	hash_stream_final(&writeback->hash, received);
	if ((off_t)writeback->hash.length == original->st.st_size &&
	    memcmp(received, original->sha256, WRITEBACK_HASH_SIZE) == 0) {
		*result = WRITEBACK_UNCHANGED;
		return 0;
	}
	/* Keep the owner where we may (root, or a group we belong to); an
	 * ordinary user's file is theirs already. Set it before the mode,
	 * because chown clears the set-id bits. */
	if (fchown(writeback->fd, original->st.st_uid, original->st.st_gid) < 0 && errno != EPERM)
		return dv_error_set(err, errno, "cannot set the owner of the edited copy of %s", writeback->path);
	if (fchmod(writeback->fd, original->st.st_mode & 07777) < 0)
		return dv_error_set(err, errno, "cannot set the mode of the edited copy of %s", writeback->path);
	if (fsync(writeback->fd) < 0)
		return dv_error_set(err, errno, "cannot write the edited copy of %s", writeback->path);

	int r;
	/* NOTE: a host write between this check and the rename is lost, since
	 * nothing locks the target; the window is one stat, hash and rename. */
	if (original_changed(writeback, original)) {
		*result = WRITEBACK_CONFLICT;
		r = save_conflict(writeback, vm_name, saved_path, saved_size, err);
	} else {
		*result = WRITEBACK_REPLACED;
		r = replace_original(writeback, err);
	}
	if (r == 0 && fsync(writeback->dir_fd) < 0)
		r = dv_error_set(err, errno, "cannot sync the directory of %s", writeback->path);
	return r;
}

int writeback_commit(struct writeback *writeback, const struct file_record *original,
		     const char *vm_name, enum writeback_result *result, char *saved_path,
		     size_t saved_size, struct dv_error *err)
{
	int r = commit_received(writeback, original, vm_name, result, saved_path, saved_size, err);

	writeback_discard(writeback);
	return r;
}
