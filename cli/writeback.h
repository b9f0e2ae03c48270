/*
 * Bringing an edited file back from a disposable VM. The copy streams into
 * a temporary file in the target's directory. It then replaces the target
 * atomically, or is saved beside it under a new name when the target
 * changed on the host meanwhile, so the target is never half-written.
 */
#ifndef DISPVM_CLI_WRITEBACK_H
#define DISPVM_CLI_WRITEBACK_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include <openssl/evp.h>

#include "error.h"

#define WRITEBACK_HASH_SIZE 32 /* SHA-256 */

/* Identity (stat) and SHA-256 of the target as the CLI sent it. */
struct file_record {
	struct stat st;
	unsigned char sha256[WRITEBACK_HASH_SIZE];
};

/* A running SHA-256, fed through the relay's on_data hook. */
struct hash_stream {
	EVP_MD_CTX *context;
	uint64_t length;
};

int hash_stream_init(struct hash_stream *hash);
void hash_stream_update(void *hash, const void *data, size_t length);
void hash_stream_final(struct hash_stream *hash, unsigned char out[WRITEBACK_HASH_SIZE]);

enum writeback_result {
	WRITEBACK_UNCHANGED, /* same bytes: the target was left alone */
	WRITEBACK_REPLACED,  /* the target now has the edited bytes */
	WRITEBACK_CONFLICT,  /* the target changed on the host: saved beside it */
};

struct writeback {
	int dir_fd;
	int fd; /* the temporary file, -1 once committed or discarded */
	char path[PATH_MAX];	     /* the target, resolved */
	char base[NAME_MAX + 1];     /* its base name */
	bool unnamed;		     /* opened with O_TMPFILE, so it has no name yet */
	char temp_name[NAME_MAX + 1]; /* its name in dir_fd while it has one, else empty */
	struct hash_stream hash;     /* of the bytes written to fd */
};

/* Create the temporary file beside `path` (an absolute, resolved path). */
int writeback_create(struct writeback *writeback, const char *path, struct dv_error *err);

/*
 * Put the received copy in place. `original` is what was sent. For
 * WRITEBACK_CONFLICT the new file's path goes to `saved_path`. The
 * temporary file is gone afterwards, on success and on failure.
 */
int writeback_commit(struct writeback *writeback, const struct file_record *original,
		     const char *vm_name, enum writeback_result *result, char *saved_path,
		     size_t saved_size, struct dv_error *err);

/* Remove the temporary file and close everything; safe to repeat. */
void writeback_discard(struct writeback *writeback);

/* Build the name for a conflicting copy: "STEM (edited in VM)EXT", with
 * " N" before EXT for N > 1, shortened to fit NAME_MAX. Exposed for tests. */
void writeback_conflict_name(const char *base, const char *vm_name, unsigned number, char *out,
			     size_t size);

#endif
