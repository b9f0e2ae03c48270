/* dispvm.conf: parsing with inih, and the daemon's current settings. */
#include "config.h"

#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define CONFIG_MAX_FILE_SIZE (1024u * 1024u)
#define TEMPLATE_SECTION "template "

/* What the inih callbacks share: the text, the line being read and the
 * first invalid value. */
struct parse_state {
	const char *cursor;
	unsigned line;
	const char *source;
	struct dispvm_config config;
	unsigned error_line;
	char error[DV_ERROR_MAX];
};

static struct dispvm_config current;
static int current_ready;

void config_defaults(struct dispvm_config *config)
{
	memset(config, 0, sizeof(*config));
	snprintf(config->template, sizeof(config->template), "%s", DV_DEFAULT_TEMPLATE);
	config->pool_min_available_mib = CONFIG_DEFAULT_MIN_AVAILABLE_MIB;
}

/* ini_reader over a string that counts lines, so that the handler knows
 * the line of the value it gets. */
static char *read_line(char *out, int size, void *stream)
{
	struct parse_state *state = stream;
	size_t length = 0;

	if (*state->cursor == '\0' || size < 2)
		return NULL;
	while (state->cursor[length] != '\0' && state->cursor[length] != '\n' &&
	       length < (size_t)size - 2)
		length++;
	if (state->cursor[length] == '\n')
		length++;
	memcpy(out, state->cursor, length);
	out[length] = '\0';
	state->cursor += length;
	state->line++;
	return out;
}

/* Record the first invalid value; returns 0, inih's "error" result. */
static int fail(struct parse_state *state, const char *format, ...)
	__attribute__((format(printf, 2, 3)));

static int fail(struct parse_state *state, const char *format, ...)
{
	va_list args;
	int used;

	if (state->error_line != 0)
		return 0;
	state->error_line = state->line;
	used = snprintf(state->error, sizeof(state->error), "%s:%u: ", state->source,
			state->line);
	if (used < 0 || (size_t)used >= sizeof(state->error))
		return 0;
	va_start(args, format);
	vsnprintf(state->error + used, sizeof(state->error) - (size_t)used, format, args);
	va_end(args);
	return 0;
}

static int invalid_value(struct parse_state *state, const char *section, const char *name,
			 const char *value, const char *rule)
{
	return fail(state, "invalid %s '%.64s' in [%.64s]: %s", name, value, section, rule);
}

static int parse_number(const char *value, uint64_t max, uint64_t *out)
{
	char *end;

	if (value[0] < '0' || value[0] > '9')
		return -EINVAL;
	errno = 0;
	unsigned long long number = strtoull(value, &end, 10);

	if (errno != 0 || *end != '\0' || number > max)
		return -EINVAL;
	*out = number;
	return 0;
}

static struct config_template *template_entry(struct dispvm_config *config, const char *name)
{
	for (size_t i = 0; i < config->template_count; i++) {
		if (strcmp(config->templates[i].name, name) == 0)
			return &config->templates[i];
	}
	if (config->template_count == CONFIG_MAX_TEMPLATES)
		return NULL;

	struct config_template *entry = &config->templates[config->template_count++];

	snprintf(entry->name, sizeof(entry->name), "%s", name);
	entry->pool_size = CONFIG_DEFAULT_POOL_SIZE;
	return entry;
}

static int handle_defaults(struct parse_state *state, const char *section, const char *name,
			   const char *value)
{
	uint64_t number;

	if (strcmp(name, "template") == 0) {
		if (!dv_template_name_valid(value))
			return invalid_value(state, section, name, value,
					     "use 1 to 32 of a-z, 0-9, '_' and '-'");
		snprintf(state->config.template, sizeof(state->config.template), "%s", value);
		return 1;
	}
	if (strcmp(name, "pool_min_available_mib") == 0) {
		if (parse_number(value, CONFIG_MAX_MIN_AVAILABLE_MIB, &number) < 0)
			return invalid_value(state, section, name, value,
					     "must be a number of MiB, 0 or more");
		state->config.pool_min_available_mib = number;
		return 1;
	}
	log_warning("%s:%u: ignoring unknown key %s in [%s]", state->source, state->line, name,
		    section);
	return 1;
}

static int handle_template(struct parse_state *state, const char *section, const char *name,
			   const char *value)
{
	const char *template = section + strlen(TEMPLATE_SECTION);
	struct config_template *entry;
	uint64_t number;

	if (!dv_template_name_valid(template))
		return fail(state, "invalid template name in [%.64s]: use 1 to 32 of a-z, 0-9, "
			    "'_' and '-'", section);
	if (strcmp(name, "pool_size") == 0) {
		if (parse_number(value, CONFIG_MAX_POOL_SIZE, &number) < 0)
			return invalid_value(state, section, name, value, "must be 0..16");
		entry = template_entry(&state->config, template);
		if (entry == NULL)
			return fail(state, "too many template sections at [%.64s]: at most %u",
				    section, CONFIG_MAX_TEMPLATES);
		entry->pool_size = (unsigned)number;
		return 1;
	}
	log_warning("%s:%u: ignoring unknown key %s in [%s]", state->source, state->line, name,
		    section);
	return 1;
}

static int handle_value(void *user, const char *section, const char *name, const char *value)
{
	struct parse_state *state = user;

	if (strcmp(section, "defaults") == 0)
		return handle_defaults(state, section, name, value);
	if (strncmp(section, TEMPLATE_SECTION, strlen(TEMPLATE_SECTION)) == 0)
		return handle_template(state, section, name, value);
	log_warning("%s:%u: ignoring %s in unknown section [%s]", state->source, state->line, name,
		    section);
	return 1;
}

int config_parse_string(const char *text, const char *source, struct dispvm_config *out,
			struct dv_error *err)
{
	struct parse_state *state = calloc(1, sizeof(*state));

	if (state == NULL)
		return dv_error_set(err, ENOMEM, "cannot parse %s", source);
	state->cursor = text;
	state->source = source;
	config_defaults(&state->config);

	int line = ini_parse_stream(read_line, state, handle_value, state);
	int ret = 0;

	if (line != 0 && state->error_line == (unsigned)line)
		ret = dv_error_invalid(err, EINVAL, "%s", state->error);
	else if (line != 0)
		ret = dv_error_invalid(err, EINVAL, "%s:%d: malformed line (expected [section] or "
					"key = value)", source, line);
	else
		*out = state->config;
	free(state);
	return ret;
}

int config_parse_file(const char *path, struct dispvm_config *out, struct dv_error *err)
{
	FILE *file = fopen(path, "re");

	if (file == NULL && errno == ENOENT) {
		config_defaults(out);
		return 0;
	}
	if (file == NULL)
		return dv_error_set(err, errno, "cannot open %s", path);

	char *text = calloc(1, CONFIG_MAX_FILE_SIZE + 1);
	size_t length = text != NULL ? fread(text, 1, CONFIG_MAX_FILE_SIZE + 1, file) : 0;
	int ret = 0;

	if (text == NULL)
		ret = dv_error_set(err, ENOMEM, "cannot read %s", path);
	else if (ferror(file))
		ret = dv_error_set(err, EIO, "cannot read %s", path);
	else if (length > CONFIG_MAX_FILE_SIZE)
		ret = dv_error_invalid(err, EFBIG, "%s is larger than %u bytes", path,
				       CONFIG_MAX_FILE_SIZE);
	else if (memchr(text, '\0', length) != NULL)
		ret = dv_error_invalid(err, EINVAL, "%s is not a text file", path);
	if (ret == 0)
		ret = config_parse_string(text, path, out, err);
	free(text);
	fclose(file);
	return ret;
}

unsigned config_pool_size(const struct dispvm_config *config, const char *template)
{
	for (size_t i = 0; i < config->template_count; i++) {
		if (strcmp(config->templates[i].name, template) == 0)
			return config->templates[i].pool_size;
	}
	return CONFIG_DEFAULT_POOL_SIZE;
}

const struct dispvm_config *config_current(void)
{
	if (!current_ready) {
		config_defaults(&current);
		current_ready = 1;
	}
	return &current;
}

int config_reload(void)
{
	struct dispvm_config *parsed = malloc(sizeof(*parsed));
	struct dv_error err = {0};
	char dir[DV_PATH_MAX];
	char path[DV_PATH_MAX];
	int ret = parsed != NULL ? 0 : dv_error_set(&err, ENOMEM, "cannot read the settings");

	config_current();
	if (ret == 0)
		ret = dv_path_dir(DV_DIR_CONFIG, dir, sizeof(dir), &err);
	if (ret == 0)
		ret = dv_path_join(path, sizeof(path), &err, dir, CONFIG_FILE_NAME);
	if (ret == 0)
		ret = config_parse_file(path, parsed, &err);
	if (ret == 0) {
		current = *parsed;
		log_info("settings from %s: default template %s, pool refills while MemAvailable "
			 ">= %llu MiB", path, current.template,
			 (unsigned long long)current.pool_min_available_mib);
	} else {
		log_error("%s; keeping the previous settings", err.message);
	}
	free(parsed);
	return ret;
}
