/* `dispvm template build` and `dispvm template ls`. */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <unistd.h>

#include <json-c/json.h>

#include "build.h"
#include "client.h"
#include "error.h"
#include "log.h"
#include "machine.h"
#include "metadata.h"
#include "paths.h"
#include "savefile.h"

int cmd_template(int argc, char *argv[]);

#define EXIT_FAILED 125

static const char template_usage[] =
	"Usage: dispvm template COMMAND [OPTIONS]\n"
	"\n"
	"Build and list the templates that disposable VMs boot.\n"
	"\n"
	"Commands:\n"
	"  build [NAME]   build template NAME (default: minimal)\n"
	"  ls             list the built templates\n"
	"\n"
	"Run 'dispvm template COMMAND --help' for the options of a command.\n";

static const char build_usage[] =
	"Usage: dispvm template build [OPTIONS] [NAME]\n"
	"\n"
	"Build template NAME (default: minimal) from a guest kernel, busybox-static,\n"
	"the guest agent and the mailcap, then have dispvmd (started when needed)\n"
	"boot it once and save the booted guest as the template's savefile, from\n"
	"which new disposables start. Does nothing when none of them changed and\n"
	"the savefile is fresh.\n"
	"\n"
	"Options:\n"
	"  --kernel FILE  guest kernel image; needs --modules\n"
	"  --modules DIR  the kernel's module folder, /lib/modules/VERSION style;\n"
	"                 VERSION is its last component\n"
	"  --agent FILE   guest agent binary (statically linked) to put in the template\n"
	"  --force        rebuild even when no input changed\n"
	"  -h, --help     print this help and exit\n"
	"\n"
	"Without --kernel, the kernel comes from the Debian package\n"
	"linux-image-cloud-amd64 (fetched with apt-get download, never installed),\n"
	"or from the host's /boot and /lib/modules when apt fails.\n"
	"Environment: DISPVM_AGENT (agent binary), DISPVM_DATA_DIR (folder of the\n"
	"mailcap), DISPVM_KERNEL_PACKAGE (kernel package, for tests).\n";

static const char ls_usage[] =
	"Usage: dispvm template ls\n"
	"\n"
	"List the built templates: name, kernel version, size on disk, build time and\n"
	"the state of the savefile: fresh, stale (a template input, QEMU or the\n"
	"machine changed; the next build or start rebuilds it) or missing.\n"
	"\n"
	"Options:\n"
	"  -h, --help  print this help and exit\n";

static int fail(struct dv_error *err)
{
	fprintf(stderr, "dispvm: %s\n", err->message);
	return EXIT_FAILED;
}

/* Print `message` about `value` in the style of cli/args.c:
 * "MESSAGE 'VALUE'; see 'COMMAND --help'". */
static int usage_error(const char *message, const char *value, const char *command)
{
	fprintf(stderr, "dispvm: %s '%s'; see '%s --help'\n", message, value, command);
	return EXIT_FAILED;
}

static bool is_help(const char *arg)
{
	return strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0;
}

/* The savefile state as the CLI can know it: for the accelerator it was
 * saved with. */
static enum savefile_state local_savefile_state(const struct template_metadata *metadata)
{
	char qemu[DV_PATH_MAX];

	if (machine_find_qemu(qemu, sizeof(qemu), NULL) < 0)
		qemu[0] = '\0';
	return savefile_check(metadata, qemu, NULL, NULL);
}

static int request_save(const char *name, struct json_object **reply, struct dv_error *err)
{
	struct json_object *request = json_object_new_object();
	struct line_reader reader;
	int fd = client_connect(err);
	int ret = fd;

	if (fd >= 0 && line_reader_init(&reader) < 0) {
		close(fd);
		ret = fd = dv_error_set(err, ENOMEM, "cannot ask dispvmd for the savefile");
	}
	json_object_object_add(request, "op", json_object_new_string("save"));
	json_object_object_add(request, "template", json_object_new_string(name));
	if (fd >= 0) {
		ret = client_send(fd, request, NULL, 0, err);
		if (ret == 0)
			ret = client_read_line(fd, &reader, reply, err);
		line_reader_free(&reader);
		close(fd);
	}
	json_object_put(request);
	return ret;
}

/* Have dispvmd boot the template once and save it, unless the savefile
 * is fresh. */
static int build_savefile(const char *name, struct dv_error *err)
{
	struct template_metadata metadata;
	struct json_object *reply = NULL;
	struct json_object *member;
	int ret = template_metadata_load(name, &metadata, err);

	if (ret < 0)
		return ret;
	if (local_savefile_state(&metadata) == SAVEFILE_FRESH) {
		fprintf(stderr, "savefile of template %s is up to date\n", name);
		return 0;
	}
	fprintf(stderr, "saving a booted guest of template %s\n", name);
	ret = request_save(name, &reply, err);
	if (ret == 0 && (!json_object_object_get_ex(reply, "ok", &member) ||
			 !json_object_get_boolean(member)))
		ret = dv_error_invalid(err, EIO, "%s",
				       json_object_object_get_ex(reply, "error", &member)
					       ? json_object_get_string(member)
					       : "dispvmd did not save the template");
	if (ret == 0 && json_object_object_get_ex(reply, "seconds", &member))
		fprintf(stderr, "built the savefile of template %s in %.1f s\n", name,
			json_object_get_double(member));
	json_object_put(reply);
	if (ret < 0)
		dv_error_prefix(err, "saving template %s", name);
	return ret;
}

static int template_build_command(int argc, char *argv[])
{
	enum { OPT_KERNEL = 256, OPT_MODULES, OPT_AGENT, OPT_FORCE, OPT_HELP };
	static const struct option options[] = {
		{"kernel", required_argument, NULL, OPT_KERNEL},
		{"modules", required_argument, NULL, OPT_MODULES},
		{"agent", required_argument, NULL, OPT_AGENT},
		{"force", no_argument, NULL, OPT_FORCE},
		{"help", no_argument, NULL, OPT_HELP},
		{NULL, 0, NULL, 0},
	};
	struct template_build_options build = {.name = DV_DEFAULT_TEMPLATE};
	struct dv_error err = {0};
	int option;

	optind = 0;
	opterr = 0;
	while ((option = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		switch (option) {
		case OPT_KERNEL:
			build.kernel_file = optarg;
			break;
		case OPT_MODULES:
			build.modules_dir = optarg;
			break;
		case OPT_AGENT:
			build.agent = optarg;
			break;
		case OPT_FORCE:
			build.force = true;
			break;
		case OPT_HELP:
		case 'h':
			fputs(build_usage, stdout);
			return 0;
		default:
			return usage_error("'template build' got an unknown option or an option "
					   "without its value:", argv[optind - 1],
					   "dispvm template build");
		}
	}
	if (argc - optind > 1)
		return usage_error("'template build' takes at most one NAME but also got",
				   argv[optind + 1], "dispvm template build");
	if (optind < argc)
		build.name = argv[optind];
	if (template_build(&build, &err) < 0 || build_savefile(build.name, &err) < 0)
		return fail(&err);
	return 0;
}

/* Size as `ls -h` prints it: 31M, 4.0K, 512B. */
static void format_size(uint64_t bytes, char *out, size_t size)
{
	static const char units[] = "BKMGT";
	double value = (double)bytes;
	size_t unit = 0;

	while (value >= 1024.0 && unit + 1 < sizeof(units) - 1) {
		value /= 1024.0;
		unit++;
	}
	if (unit > 0 && value < 10.0)
		snprintf(out, size, "%.1f%c", value, units[unit]);
	else
		snprintf(out, size, "%.0f%c", value, units[unit]);
}

static void print_template(const char *templates_dir, const char *name)
{
	struct template_metadata metadata;
	char dir[DV_PATH_MAX], size[16], built[32];
	struct tm local;

	if (dv_path_join(dir, sizeof(dir), NULL, templates_dir, "%s", name) < 0 ||
	    template_metadata_load_dir(dir, &metadata, NULL) < 0) {
		printf("%-16s (incomplete build; run dispvm template build %s)\n", name, name);
		return;
	}
	format_size(metadata.size_bytes, size, sizeof(size));
	localtime_r(&metadata.built_at, &local);
	strftime(built, sizeof(built), "%Y-%m-%d %H:%M", &local);
	printf("%-16s %-24s %6s  %-16s  %s\n", name, metadata.kernel_version, size, built,
	       savefile_state_name(local_savefile_state(&metadata)));
}

static int compare_names(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

/* Only folders with valid template names; NAME.tmp-* and NAME.old-* are
 * builds in progress. */
static int is_template_entry(const struct dirent *entry)
{
	return (entry->d_type == DT_DIR || entry->d_type == DT_UNKNOWN) &&
	       dv_template_name_valid(entry->d_name);
}

static int template_ls_command(int argc, char *argv[])
{
	char data[DV_PATH_MAX], templates_dir[DV_PATH_MAX];
	struct dirent **entries = NULL;
	struct dv_error err = {0};

	if (argc > 1 && is_help(argv[1])) {
		fputs(ls_usage, stdout);
		return 0;
	}
	if (argc > 1)
		return usage_error("'template ls' takes no arguments but got", argv[1],
				   "dispvm template ls");
	if (dv_path_dir(DV_DIR_DATA, data, sizeof(data), &err) < 0 ||
	    dv_path_join(templates_dir, sizeof(templates_dir), &err, data, "templates") < 0)
		return fail(&err);

	int count = scandir(templates_dir, &entries, is_template_entry, compare_names);

	if (count < 0 && errno != ENOENT) {
		dv_error_set(&err, errno, "cannot list %s", templates_dir);
		return fail(&err);
	}
	printf("%-16s %-24s %6s  %-16s  %s\n", "NAME", "KERNEL", "SIZE", "BUILT", "SAVEFILE");
	if (count <= 0)
		fputs("no templates; build one with: dispvm template build\n", stderr);
	for (int i = 0; i < count; i++) {
		print_template(templates_dir, entries[i]->d_name);
		free(entries[i]);
	}
	free(entries);
	return 0;
}

int cmd_template(int argc, char *argv[])
{
	if (argc < 2) {
		fputs("dispvm: 'template' needs a command, build or ls; see 'dispvm template "
		      "--help'\n", stderr);
		return EXIT_FAILED;
	}
	if (is_help(argv[1])) {
		fputs(template_usage, stdout);
		return 0;
	}
	/* The builder logs through common/log.h: print its lines like the
	 * CLI's own messages. */
	dv_log_use_plain_format();
	if (strcmp(argv[1], "build") == 0)
		return template_build_command(argc - 1, argv + 1);
	if (strcmp(argv[1], "ls") == 0)
		return template_ls_command(argc - 1, argv + 1);
	return usage_error("'template' has no command", argv[1], "dispvm template");
}
