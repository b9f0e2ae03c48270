#include "inputs.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

static int hash_fd(int fd, const char *path, char hex[65], struct dv_error *err)
{
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned int digest_length = 0;
	char buffer[1 << 16];
	EVP_MD_CTX *context = EVP_MD_CTX_new();
	ssize_t length;
	int ret = 0;

	if (context == NULL || EVP_DigestInit_ex(context, EVP_sha256(), NULL) != 1) {
		ret = dv_error_invalid(err, ENOMEM, "cannot start SHA-256 for %s", path);
		goto out;
	}
	while ((length = read(fd, buffer, sizeof(buffer))) > 0)
		EVP_DigestUpdate(context, buffer, (size_t)length);
	if (length < 0) {
		ret = dv_error_set(err, errno, "cannot read %s", path);
		goto out;
	}
	EVP_DigestFinal_ex(context, digest, &digest_length);
	for (unsigned int i = 0; i < digest_length && i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", digest[i]);
out:
	EVP_MD_CTX_free(context);
	return ret;
}

int input_hash(struct template_input *input, struct dv_error *err)
{
	struct stat st;
	int fd = open(input->path, O_RDONLY | O_CLOEXEC);
	int ret;

	if (fd < 0)
		return dv_error_set(err, errno, "cannot open %s", input->path);
	if (fstat(fd, &st) < 0) {
		ret = dv_error_set(err, errno, "cannot inspect %s", input->path);
		goto out;
	}
	input->size = (uint64_t)st.st_size;
	input->mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
	ret = hash_fd(fd, input->path, input->sha256, err);
out:
	close(fd);
	return ret;
}

bool input_unchanged(const struct template_input *recorded, struct template_input *current)
{
	struct stat st;

	if (strcmp(recorded->name, current->name) != 0 || strcmp(recorded->path, current->path) != 0 ||
	    strcmp(recorded->version, current->version) != 0)
		return false;
	if (stat(current->path, &st) < 0)
		return false;

	int64_t mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;

	if ((uint64_t)st.st_size == recorded->size && mtime_ns == recorded->mtime_ns) {
		strcpy(current->sha256, recorded->sha256);
		current->size = recorded->size;
		current->mtime_ns = recorded->mtime_ns;
		return true;
	}
	if (input_hash(current, NULL) < 0)
		return false;
	return strcmp(current->sha256, recorded->sha256) == 0;
}

static int read_exactly(int fd, void *buffer, size_t size, off_t offset)
{
	ssize_t length = pread(fd, buffer, size, offset);

	if (length < 0)
		return -errno;
	return (size_t)length == size ? 0 : -ENOEXEC;
}

/* 0 when static, -ENOEXEC when not ELF64 or dynamically linked. */
static int check_program_headers(int fd)
{
	Elf64_Ehdr header;
	int ret = read_exactly(fd, &header, sizeof(header), 0);

	if (ret < 0)
		return ret;
	if (memcmp(header.e_ident, ELFMAG, SELFMAG) != 0 || header.e_ident[EI_CLASS] != ELFCLASS64 ||
	    header.e_phentsize != sizeof(Elf64_Phdr) || (header.e_type != ET_EXEC && header.e_type != ET_DYN))
		return -ENOEXEC;
	for (unsigned i = 0; i < header.e_phnum; i++) {
		Elf64_Phdr program;

		ret = read_exactly(fd, &program, sizeof(program),
				   (off_t)(header.e_phoff + (Elf64_Off)i * sizeof(program)));
		if (ret < 0)
			return ret;
		if (program.p_type == PT_INTERP)
			return -ELIBBAD;
	}
	return 0;
}

int elf_check_static(const char *path, const char *what, struct dv_error *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return dv_error_set(err, errno, "cannot open %s %s", what, path);

	int ret = check_program_headers(fd);

	close(fd);
	if (ret == -ENOEXEC)
		return dv_error_invalid(err, ENOEXEC, "%s %s is not a 64-bit ELF executable", what, path);
	if (ret == -ELIBBAD)
		return dv_error_invalid(err, ENOEXEC,
					"%s %s is dynamically linked, but the guest has no shared libraries; link it with -static",
					what, path);
	if (ret < 0)
		return dv_error_set(err, -ret, "cannot read %s %s", what, path);
	return 0;
}

static int copy_path(char *out, size_t size, const char *path, struct dv_error *err)
{
	if ((size_t)snprintf(out, size, "%s", path) >= size)
		return dv_error_invalid(err, ENAMETOOLONG, "path too long: %.64s...", path);
	return 0;
}

/* `relative` beside the folder of /proc/self/exe, when that file exists. */
static bool beside_program(const char *relative, char *out, size_t size)
{
	char exe[DV_PATH_MAX];
	ssize_t length = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	if (length <= 0)
		return false;
	exe[length] = '\0';

	int written = snprintf(out, size, "%s/%s", dirname(exe), relative);

	return written > 0 && (size_t)written < size && access(out, F_OK) == 0;
}

int find_agent(const char *option, char *out, size_t size, struct dv_error *err)
{
	const char *environment = getenv("DISPVM_AGENT");

	if (option != NULL)
		return copy_path(out, size, option, err);
	if (environment != NULL && environment[0] != '\0')
		return copy_path(out, size, environment, err);
	if (beside_program("../agent/dispvm-agent", out, size))
		return 0;
	return copy_path(out, size, DISPVM_LIBEXECDIR "/dispvm-agent", err);
}

int find_mailcap(char *out, size_t size, struct dv_error *err)
{
	const char *data_dir = getenv("DISPVM_DATA_DIR");

	if (data_dir != NULL && data_dir[0] != '\0') {
		if ((size_t)snprintf(out, size, "%s/mailcap", data_dir) >= size)
			return dv_error_invalid(err, ENAMETOOLONG, "DISPVM_DATA_DIR too long");
		return 0;
	}
	if (beside_program("../data/mailcap", out, size))
		return 0;
	return copy_path(out, size, DISPVM_DATADIR "/mailcap", err);
}
