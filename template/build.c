#include "build.h"
#include "savefile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "initramfs.h"
#include "inputs.h"
#include "kernel.h"
#include "metadata.h"
#include "modules.h"
#include "paths.h"
#include "run.h"

struct build {
	const struct template_build_options *options;
	char agent[DV_PATH_MAX];
	char mailcap[DV_PATH_MAX];
	char templates_dir[DV_PATH_MAX];
	char final_dir[DV_PATH_MAX];
	char work_dir[DV_PATH_MAX]; /* NAME.tmp-XXXXXX, owned until renamed */
	struct kernel_source kernel;
	struct module_list modules;
	struct template_metadata metadata;
	struct timespec started;
};

static int check_options(const struct template_build_options *options, struct dv_error *err)
{
	if (!dv_template_name_valid(options->name))
		return dv_error_invalid(err, EINVAL,
					"invalid template name \"%s\": use 1 to 32 of a-z, 0-9, '-' and '_', starting with a letter or digit",
					options->name);
	if ((options->kernel_file == NULL) != (options->modules_dir == NULL))
		return dv_error_invalid(err, EINVAL,
					"--kernel and --modules go together: pass the kernel image and its /lib/modules/VERSION folder");
	return 0;
}

/* Find and check the agent, busybox and the mailcap. */
static int find_files(struct build *build, struct dv_error *err)
{
	int ret = find_agent(build->options->agent, build->agent, sizeof(build->agent), err);

	if (ret < 0)
		return ret;
	ret = elf_check_static(build->agent, "guest agent", err);
	if (ret < 0)
		return ret;
	ret = elf_check_static(TEMPLATE_BUSYBOX, "busybox", err);
	if (ret < 0) {
		dv_error_prefix(err, "install busybox-static");
		return ret;
	}
	ret = find_mailcap(build->mailcap, sizeof(build->mailcap), err);
	if (ret < 0)
		return ret;
	if (access(build->mailcap, R_OK) < 0)
		return dv_error_invalid(err, errno, "cannot read the mailcap %s: %s; set DISPVM_DATA_DIR to the folder that holds it",
					build->mailcap, strerror(errno));
	return 0;
}

static void add_input(struct template_metadata *metadata, const char *name, const char *path)
{
	struct template_input *input = &metadata->inputs[metadata->input_count++];

	memset(input, 0, sizeof(*input));
	snprintf(input->name, sizeof(input->name), "%s", name);
	snprintf(input->path, sizeof(input->path), "%s", path);
}

/* The inputs of this build, without hashes, in the order they are recorded. */
static void list_inputs(struct build *build)
{
	struct template_metadata *metadata = &build->metadata;

	metadata->input_count = 0;
	for (unsigned i = 0; i < build->kernel.input_count; i++)
		metadata->inputs[metadata->input_count++] = build->kernel.inputs[i];
	add_input(metadata, "agent", build->agent);
	add_input(metadata, "busybox", TEMPLATE_BUSYBOX);
	add_input(metadata, "mailcap", build->mailcap);
}

static bool is_up_to_date(struct build *build)
{
	struct template_metadata recorded;

	if (template_metadata_load_dir(build->final_dir, &recorded, NULL) < 0)
		return false;
	if (strcmp(recorded.kernel_source, build->kernel.kind) != 0 ||
	    recorded.input_count != build->metadata.input_count)
		return false;
	for (unsigned i = 0; i < recorded.input_count; i++) {
		if (!input_unchanged(&recorded.inputs[i], &build->metadata.inputs[i]))
			return false;
	}
	return access(recorded.kernel, R_OK) == 0 && access(recorded.initramfs, R_OK) == 0;
}

static int hash_inputs(struct template_metadata *metadata, struct dv_error *err)
{
	for (unsigned i = 0; i < metadata->input_count; i++) {
		if (metadata->inputs[i].sha256[0] != '\0')
			continue;

		int ret = input_hash(&metadata->inputs[i], err);

		if (ret < 0)
			return ret;
	}
	return 0;
}

/* Read a whole text file into a new NUL-terminated buffer. */
static int read_text(const char *path, char **out, struct dv_error *err)
{
	FILE *file = fopen(path, "re");
	char *text = NULL;
	size_t length = 0;

	if (file == NULL)
		return dv_error_set(err, errno, "cannot open %s", path);

	ssize_t got = getdelim(&text, &length, '\0', file);
	bool failed = ferror(file) != 0;
	int saved = errno;

	fclose(file);
	if (!failed && got < 0 && text == NULL)
		text = strdup("");
	else if (!failed && got < 0)
		text[0] = '\0';
	if (failed || text == NULL) {
		free(text);
		return dv_error_set(err, failed ? saved : ENOMEM, "cannot read %s", path);
	}
	*out = text;
	return 0;
}

static int resolve_modules(struct build *build, struct dv_error *err)
{
	char path[DV_PATH_MAX];
	char *dep_text = NULL, *builtin_text = NULL;
	int ret;

	build_progress("resolving modules");
	ret = dv_path_join(path, sizeof(path), err, build->kernel.modules_dir, "modules.dep");
	if (ret == 0)
		ret = read_text(path, &dep_text, err);
	if (ret < 0)
		goto out;
	/* modules.builtin is optional: a kernel may build nothing in. */
	ret = dv_path_join(path, sizeof(path), err, build->kernel.modules_dir, "modules.builtin");
	if (ret == 0 && access(path, F_OK) == 0)
		ret = read_text(path, &builtin_text, err);
	if (ret < 0)
		goto out;
	ret = modules_resolve(dep_text, builtin_text, template_guest_modules, &build->modules, err);
	if (ret < 0)
		dv_error_prefix(err, "kernel %s", build->kernel.version);
out:
	free(builtin_text);
	free(dep_text);
	return ret;
}

static int copy_file(const char *source, const char *target, struct dv_error *err)
{
	char buffer[1 << 16];
	ssize_t length;
	int in = open(source, O_RDONLY | O_CLOEXEC);
	int out = -1;
	int ret = 0;

	if (in < 0)
		return dv_error_set(err, errno, "cannot open %s", source);
	out = open(target, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (out < 0) {
		ret = dv_error_set(err, errno, "cannot create %s", target);
		goto out;
	}
	while ((length = read(in, buffer, sizeof(buffer))) > 0) {
		if (write(out, buffer, (size_t)length) != length) {
			ret = dv_error_set(err, errno ? errno : EIO, "cannot write %s", target);
			goto out;
		}
	}
	if (length < 0)
		ret = dv_error_set(err, errno, "cannot read %s", source);
out:
	if (out >= 0)
		close(out);
	close(in);
	return ret;
}

static const char *const empty_dirs[] = {
	"tmp", "proc", "sys", "dev", "run", "etc", "usr/bin", "usr/sbin", "sbin", "bin", NULL,
};

#define PASSWD_TEXT "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home/user:/bin/sh\n"
#define GROUP_TEXT "root:x:0:\nuser:x:1000:\n"

/* One symlink to /bin/busybox per applet in `busybox --list-full`. */
static int plan_busybox(struct initramfs_plan *plan, struct dv_error *err)
{
	static char applets[1 << 16];
	const char *argv[] = {TEMPLATE_BUSYBOX, "--list-full", NULL};
	char *save = NULL;
	int ret = run_program(argv, NULL, applets, sizeof(applets), err);

	if (ret < 0)
		return ret;
	ret = plan_add_file(plan, "bin/busybox", TEMPLATE_BUSYBOX, 0755, err);
	for (char *line = strtok_r(applets, "\n", &save); ret == 0 && line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		if (line[0] == '/' || strstr(line, "..") != NULL || strcmp(line, "bin/busybox") == 0)
			continue;
		if (plan_add_symlink(plan, line, "/bin/busybox") < 0)
			ret = dv_error_set(err, ENOMEM, "cannot add %s to the initramfs", line);
	}
	return ret;
}

static int plan_modules(struct build *build, struct initramfs_plan *plan, struct dv_error *err)
{
	char list[TEMPLATE_MAX_MODULES * 257] = "";
	char source[DV_PATH_MAX], target[DV_PATH_MAX];
	int ret = 0;

	for (unsigned i = 0; i < build->modules.count && ret == 0; i++) {
		const char *module = build->modules.paths[i];

		ret = dv_path_join(source, sizeof(source), err, build->kernel.modules_dir, "%s", module);
		if (ret == 0)
			ret = dv_path_join(target, sizeof(target), err, "lib/modules", "%s/%s",
					   build->kernel.version, module);
		if (ret == 0)
			ret = plan_add_file(plan, target, source, 0644, err);
		strcat(list, module);
		strcat(list, "\n");
	}
	if (ret == 0 && plan_add_text(plan, "etc/dispvm/modules", list, 0644) < 0)
		ret = dv_error_set(err, ENOMEM, "cannot add the module list to the initramfs");
	return ret;
}

static int plan_root(struct build *build, struct initramfs_plan *plan, struct dv_error *err)
{
	int ret = 0;

	for (size_t i = 0; empty_dirs[i] != NULL && ret == 0; i++)
		ret = plan_add_dir(plan, empty_dirs[i], 0755, 0, 0);
	if (ret == 0)
		ret = plan_add_dir(plan, "root", 0700, 0, 0);
	if (ret == 0)
		ret = plan_add_dir(plan, "home/user", 0700, 1000, 1000);
	/* The kernel opens /dev/console for PID 1 before any devtmpfs exists. */
	if (ret == 0)
		ret = plan_add_char_device(plan, "dev/console", 0600, 5, 1);
	if (ret == 0)
		ret = plan_add_text(plan, "etc/passwd", PASSWD_TEXT, 0644);
	if (ret == 0)
		ret = plan_add_text(plan, "etc/group", GROUP_TEXT, 0644);
	if (ret == 0)
		ret = plan_add_symlink(plan, "init", "/sbin/dispvm-agent");
	if (ret < 0)
		return dv_error_set(err, -ret, "cannot plan the initramfs");
	ret = plan_add_file(plan, "sbin/dispvm-agent", build->agent, 0755, err);
	if (ret == 0)
		ret = plan_add_file(plan, "etc/dispvm/mailcap", build->mailcap, 0644, err);
	if (ret == 0)
		ret = plan_busybox(plan, err);
	if (ret == 0)
		ret = plan_modules(build, plan, err);
	return ret;
}

static int pack_initramfs(struct build *build, const char *path, struct dv_error *err)
{
	struct initramfs_plan plan = {0};
	int ret = plan_root(build, &plan, err);

	if (ret == 0) {
		build_progress("packing initramfs (%zu files, %.1f MiB)", plan.count,
			       (double)plan.data_bytes / (1024.0 * 1024.0));
		ret = initramfs_write(&plan, path, err);
	}
	plan_free(&plan);
	return ret;
}

static uint64_t file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
}

/* Write vmlinuz, initramfs.img and, last, template.json into the work folder. */
static int fill_work_dir(struct build *build, struct dv_error *err)
{
	struct template_metadata *metadata = &build->metadata;
	int ret;

	snprintf(metadata->name, sizeof(metadata->name), "%s", build->options->name);
	snprintf(metadata->dir, sizeof(metadata->dir), "%s", build->work_dir);
	ret = dv_path_join(metadata->kernel, sizeof(metadata->kernel), err, build->work_dir, "vmlinuz");
	if (ret == 0)
		ret = dv_path_join(metadata->initramfs, sizeof(metadata->initramfs), err, build->work_dir,
				   "initramfs.img");
	if (ret == 0)
		ret = copy_file(build->kernel.vmlinuz, metadata->kernel, err);
	if (ret == 0)
		ret = pack_initramfs(build, metadata->initramfs, err);
	if (ret < 0)
		return ret;

	snprintf(metadata->kernel_version, sizeof(metadata->kernel_version), "%s", build->kernel.version);
	snprintf(metadata->kernel_source, sizeof(metadata->kernel_source), "%s", build->kernel.kind);
	snprintf(metadata->cmdline, sizeof(metadata->cmdline), "%s", TEMPLATE_CMDLINE);
	metadata->built_at = time(NULL);
	metadata->memory_mib = TEMPLATE_MEMORY_MIB;
	metadata->size_bytes = file_size(metadata->kernel) + file_size(metadata->initramfs);
	metadata->module_count = build->modules.count;
	memcpy(metadata->modules, build->modules.paths, sizeof(metadata->modules));
	return template_metadata_save(metadata, err);
}

/* Keep the old template's savefile, if any, in the new folder: its record
 * no longer matches the new template.json, so it shows as stale until
 * dispvmd saves a new one, instead of as missing. */
static void carry_savefile(struct build *build)
{
	static const char *const names[] = {SAVEFILE_NAME, SAVEFILE_RECORD_NAME};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char from[DV_PATH_MAX], to[DV_PATH_MAX];

		if (dv_path_join(from, sizeof(from), NULL, build->final_dir, "%s", names[i]) == 0 &&
		    dv_path_join(to, sizeof(to), NULL, build->work_dir, "%s", names[i]) == 0)
			(void)link(from, to);
	}
}

/* Move the finished work folder to NAME, replacing an older template. */
static int install_work_dir(struct build *build, struct dv_error *err)
{
	char old[DV_PATH_MAX];
	bool had_old = false;

	carry_savefile(build);

	if (dv_path_join(old, sizeof(old), err, build->templates_dir, "%s.old-%ld", build->options->name,
			 (long)getpid()) < 0)
		return -err->code;
	if (rename(build->final_dir, old) == 0)
		had_old = true;
	else if (errno != ENOENT)
		return dv_error_set(err, errno, "cannot move the old template %s aside", build->final_dir);
	if (rename(build->work_dir, build->final_dir) < 0) {
		int ret = dv_error_set(err, errno, "cannot rename %s to %s", build->work_dir, build->final_dir);

		if (had_old)
			rename(old, build->final_dir);
		return ret;
	}
	build->work_dir[0] = '\0';
	if (had_old)
		remove_tree(old);
	return 0;
}

/* Set final_dir to the template's folder and templates_dir to its parent. */
static int find_template_dir(struct build *build, struct dv_error *err)
{
	int ret = dv_path_template(build->options->name, build->final_dir, sizeof(build->final_dir), err);

	if (ret < 0)
		return ret;
	snprintf(build->templates_dir, sizeof(build->templates_dir), "%s", build->final_dir);
	*strrchr(build->templates_dir, '/') = '\0';
	return 0;
}

static int make_work_dir(struct build *build, struct dv_error *err)
{
	int ret = dv_dir_ensure_private(build->templates_dir, err);
	if (ret < 0)
		return ret;
	if (dv_path_join(build->work_dir, sizeof(build->work_dir), err, build->templates_dir, "%s.tmp-XXXXXX",
			 build->options->name) < 0)
		return -err->code;
	if (mkdtemp(build->work_dir) == NULL) {
		ret = dv_error_set(err, errno, "cannot create %s", build->work_dir);
		build->work_dir[0] = '\0';
		return ret;
	}
	chmod(build->work_dir, 0755);
	return 0;
}

static double seconds_since(const struct timespec *start)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

static int run_build(struct build *build, struct dv_error *err)
{
	const struct template_build_options *options = build->options;
	int ret = kernel_select(&build->kernel, options->kernel_file, options->modules_dir, err);

	if (ret < 0)
		return ret;
	list_inputs(build);
	if (!options->force && is_up_to_date(build)) {
		build_progress("template %s is up to date", options->name);
		return 0;
	}
	ret = kernel_prepare(&build->kernel, err);
	if (ret < 0)
		return ret;
	list_inputs(build);
	ret = hash_inputs(&build->metadata, err);
	if (ret == 0)
		ret = resolve_modules(build, err);
	if (ret == 0)
		ret = make_work_dir(build, err);
	if (ret == 0)
		ret = fill_work_dir(build, err);
	if (ret == 0)
		ret = install_work_dir(build, err);
	if (ret == 0)
		build_progress("built template %s in %.1f s", options->name, seconds_since(&build->started));
	return ret;
}

int template_build(const struct template_build_options *options, struct dv_error *err)
{
	struct build *build = calloc(1, sizeof(*build));
	int ret;

	if (build == NULL)
		return dv_error_set(err, ENOMEM, "cannot build template %s", options->name);
	build->options = options;
	clock_gettime(CLOCK_MONOTONIC, &build->started);
	ret = check_options(options, err);
	if (ret == 0)
		ret = find_template_dir(build, err);
	if (ret == 0)
		ret = find_files(build, err);
	if (ret == 0)
		ret = run_build(build, err);

	if (build->work_dir[0] != '\0')
		remove_tree(build->work_dir);
	kernel_cleanup(&build->kernel);
	free(build);
	if (ret < 0)
		dv_error_prefix(err, "building template %s", options->name);
	return ret;
}
