#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "args.h"
#include "commands.h"
#include "session.h"
#include "tty.h"
#include "writeback.h"

static const char open_usage[] =
	"Usage: dispvm open [OPTION]... [--] FILE\n"
	"Open a copy of FILE in a new disposable VM. When the application there\n"
	"changes it, the edited copy replaces FILE; when FILE changed on the host\n"
	"meanwhile, the edited copy is saved beside it instead.\n"
	"\n"
	"  --template NAME  start from the template NAME (default: the daemon's,\n"
	"                   set in dispvm.conf, else minimal)\n"
	"  --view-only      give the VM a read-only copy; nothing comes back\n"
	"  --app COMMAND    open FILE with the shell command COMMAND, FILE's quoted\n"
	"                   path appended (default: the template's mailcap entry)\n"
	"  --start HOW      auto (default): a preloaded VM from the pool, else restore\n"
	"                   the template's savefile, else boot; pool, restore or boot\n"
	"                   demand one way\n"
	"  -h, --help       print this help and exit\n"
	"\n"
	"Guest memory is the template's when FILE takes at most a quarter of it, else\n"
	"the template's plus twice the size of FILE; a VM with more memory than the\n"
	"template's boots instead of being restored.\n"
	"The exit status is the application's, or 125 when dispvm failed.\n";

/* The file being opened, as sent. */
struct target {
	char path[PATH_MAX]; /* resolved */
	int fd;
	struct file_record record;
	struct hash_stream hash;
	bool view_only;
	char copy_name[PATH_MAX + 32]; /* "the edited copy of FILE", for messages */
};

static const char *file_type_name(mode_t mode)
{
	if (S_ISDIR(mode))
		return "a directory";
	if (S_ISCHR(mode))
		return "a character device";
	if (S_ISBLK(mode))
		return "a block device";
	if (S_ISFIFO(mode))
		return "a FIFO";
	if (S_ISSOCK(mode))
		return "a socket";
	return "not a regular file";
}

/* Resolve and open `file`, which must be a regular file. */
static int open_target(const char *file, struct target *target, struct dv_error *err)
{
	struct stat st;

	if (realpath(file, target->path) == NULL) {
		if (errno == ENOENT)
			return dv_error_invalid(err, ENOENT, "%s does not exist; give the path of an existing file", file);
		return dv_error_set(err, errno, "cannot resolve %s", file);
	}
	if (stat(target->path, &st) < 0)
		return dv_error_set(err, errno, "cannot stat %s", file);
	if (!S_ISREG(st.st_mode))
		return dv_error_invalid(err, EINVAL, "%s is %s, not a regular file; give a regular file", file,
					file_type_name(st.st_mode));
	/* O_NONBLOCK keeps the open from blocking when a FIFO replaced the file
	 * after the stat; the fstat below rejects it. */
	target->fd = open(target->path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (target->fd < 0)
		return dv_error_set(err, errno, "cannot open %s", file);
	if (fstat(target->fd, &target->record.st) < 0)
		return dv_error_set(err, errno, "cannot stat %s", file);
	if (!S_ISREG(target->record.st.st_mode) || target->record.st.st_ino != st.st_ino)
		return dv_error_invalid(err, EAGAIN, "%s changed while it was being opened; try again", file);
	if (fcntl(target->fd, F_SETFL, 0) < 0)
		return dv_error_set(err, errno, "cannot open %s", file);
	return 0;
}

/* The user can replace the target when both it and its directory (for the
 * temporary file) are writable. */
/* Print why FILE must open view-only and return false, or return true
 * when the file and its directory are writable. The edited copy replaces
 * the file by a rename, so the directory must be writable too. */
static bool target_writable(const struct target *target, const char *file)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(target->path, '/');

	snprintf(dir, sizeof(dir), "%.*s", slash == target->path ? 1 : (int)(slash - target->path),
		 target->path);
	if (access(target->path, W_OK) < 0) {
		fprintf(stderr, "dispvm: %s is not writable (%s); opening it view-only\n", file,
			strerror(errno));
		return false;
	}
	if (access(dir, W_OK) < 0) {
		fprintf(stderr, "dispvm: the directory %s is not writable (%s), so an edited %s "
			"cannot replace the original; opening it view-only\n", dir, strerror(errno),
			file);
		return false;
	}
	return true;
}

static struct json_object *build_request(const struct open_options *options,
					 const struct target *target, const struct session *session)
{
	struct json_object *request = json_object_new_object();

	json_object_object_add(request, "op", json_object_new_string("open"));
	json_object_object_add(request, "file_name", json_object_new_string(strrchr(target->path, '/') + 1));
	json_object_object_add(request, "file_size", json_object_new_int64(target->record.st.st_size));
	json_object_object_add(request, "view_only", json_object_new_boolean(target->view_only));
	if (options->app != NULL)
		json_object_object_add(request, "app", json_object_new_string(options->app));
	if (options->start != NULL)
		json_object_object_add(request, "start", json_object_new_string(options->start));
	session_fill_request(session, request, options->template_name);
	return request;
}

static void add_file_streams(struct session *session, struct relay *relay, struct target *target,
			     struct writeback *writeback)
{
	struct relay_stream file_in = {
		.name = "the file", .role = RELAY_INPUT, .src = target->fd,
		.dst = session->local[SESSION_FILE_IN], .exact = true,
		.limit = (uint64_t)target->record.st.st_size,
		.on_data = hash_stream_update, .context = &target->hash,
	};
	struct relay_stream file_out = {
		.name = target->copy_name, .role = RELAY_OUTPUT, .limit = UINT64_MAX,
		.src = session->local[SESSION_FILE_OUT], .dst = -1, .discard = true,
	};

	if (!target->view_only) {
		file_out.dst = writeback->fd;
		file_out.discard = false;
		file_out.on_data = hash_stream_update;
		file_out.context = &writeback->hash;
	}
	relay_add(relay, &file_in);
	relay_add(relay, &file_out);
}

/* Put the edited copy in place if one came back whole. Returns 0 or 125. */
static int bring_back(const struct relay *relay, struct target *target,
		      struct writeback *writeback, const char *file)
{
	enum writeback_result result;
	char saved_path[PATH_MAX + NAME_MAX];
	struct dv_error err = {0};

	if (target->view_only || !relay->file_changed)
		return 0;
	if (writeback->hash.length != relay->file_changed_size) {
		fprintf(stderr, "dispvm: the edited copy of %s arrived incomplete (%llu of %llu bytes); %s is unchanged\n",
			file, (unsigned long long)writeback->hash.length,
			(unsigned long long)relay->file_changed_size, file);
		return 125;
	}
	hash_stream_final(&target->hash, target->record.sha256);
	if (writeback_commit(writeback, &target->record, relay->vm_name, &result, saved_path,
			     sizeof(saved_path), &err) < 0) {
		fprintf(stderr, "dispvm: %s; %s is unchanged\n", err.message, file);
		return 125;
	}
	if (result == WRITEBACK_CONFLICT)
		fprintf(stderr, "dispvm: %s changed on the host while %s had it; saved the edited copy as %s\n",
			file, relay->vm_name, saved_path);
	return 0;
}

static int open_session(const struct open_options *options, struct target *target,
			struct writeback *writeback)
{
	struct session session;
	struct relay relay = {0};
	struct json_object *request = NULL;
	struct dv_error err = {0};
	int status;
	int r;

	session_init(&session);
	session.tty = tty_both_terminals();
	if ((r = session_create_pairs(&session, 5, &err)) < 0)
		goto out;
	request = build_request(options, target, &session);
	if ((r = session_start(&session, request, &err)) < 0)
		goto out;
	session_add_stdio(&session, &relay);
	add_file_streams(&session, &relay, target, writeback);
	r = session_relay(&session, &relay, &err);
out:
	status = session_report(&relay, r, &err);
	if (r == 0 && !relay.failed && bring_back(&relay, target, writeback, options->file) != 0)
		status = 125;
	json_object_put(request);
	session_close(&session);
	return status;
}

/* Open the target, decide view-only and create the temporary file. */
static int prepare(const struct open_options *options, struct target *target,
		   struct writeback *writeback, struct dv_error *err)
{
	const char *base;
	int r;

	if ((r = open_target(options->file, target, err)) < 0)
		return r;
	base = strrchr(target->path, '/') + 1;
	if ((r = session_check_start_size(NULL, NULL, base, options->app, err)) < 0)
		return r;
	if (hash_stream_init(&target->hash) < 0)
		return dv_error_set(err, ENOMEM, "cannot start SHA-256");
	snprintf(target->copy_name, sizeof(target->copy_name), "the edited copy of %s", options->file);
	target->view_only = options->view_only;
	if (!target->view_only && !target_writable(target, options->file))
		target->view_only = true;
	if (!target->view_only)
		return writeback_create(writeback, target->path, err);
	return 0;
}

int cmd_open(int argc, char *argv[])
{
	struct open_options options;
	struct target target = {.fd = -1};
	struct writeback writeback = {.dir_fd = -1, .fd = -1};
	struct dv_error err = {0};
	int status;

	if (args_parse_open(argc, argv, &options, &err) < 0)
		return cmd_fail(err.message);
	if (options.help) {
		fputs(open_usage, stdout);
		return 0;
	}
	if (prepare(&options, &target, &writeback, &err) < 0)
		status = cmd_fail(err.message);
	else
		status = open_session(&options, &target, &writeback);

	writeback_discard(&writeback);
	hash_stream_final(&target.hash, target.record.sha256);
	if (target.fd >= 0)
		close(target.fd);
	return status;
}
