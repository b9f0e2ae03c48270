/* Encoding and checking of protocol frames, shared by host and agent. */
#include "dispvm-protocol.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void dv_put_u16(uint8_t *out, uint16_t value)
{
	out[0] = (uint8_t)value;
	out[1] = (uint8_t)(value >> 8);
}

void dv_put_u32(uint8_t *out, uint32_t value)
{
	for (int i = 0; i < 4; i++)
		out[i] = (uint8_t)(value >> (8 * i));
}

void dv_put_u64(uint8_t *out, uint64_t value)
{
	for (int i = 0; i < 8; i++)
		out[i] = (uint8_t)(value >> (8 * i));
}

uint16_t dv_get_u16(const uint8_t *in)
{
	return (uint16_t)(in[0] | (in[1] << 8));
}

uint32_t dv_get_u32(const uint8_t *in)
{
	uint32_t value = 0;

	for (int i = 3; i >= 0; i--)
		value = (value << 8) | in[i];
	return value;
}

uint64_t dv_get_u64(const uint8_t *in)
{
	uint64_t value = 0;

	for (int i = 7; i >= 0; i--)
		value = (value << 8) | in[i];
	return value;
}

void dv_header_encode(uint8_t out[DV_HEADER_SIZE], const struct dv_header *header)
{
	dv_put_u16(out, header->type);
	dv_put_u16(out + 2, header->flags);
	dv_put_u32(out + 4, header->channel);
	dv_put_u32(out + 8, header->length);
}

void dv_header_decode(const uint8_t in[DV_HEADER_SIZE], struct dv_header *header)
{
	header->type = dv_get_u16(in);
	header->flags = dv_get_u16(in + 2);
	header->channel = dv_get_u32(in + 4);
	header->length = dv_get_u32(in + 8);
}

/* Direction, and the exact payload size or 0 with the maximum, of a type. */
struct dv_type_rule {
	const char *name;
	enum dv_direction direction; /* 0: both */
	uint32_t exact;              /* nonzero: payload must be this size */
	uint32_t max;
};

static const struct dv_type_rule type_rules[DV_MSG_TYPE_MAX + 1] = {
	[DV_MSG_HELLO] = {"HELLO", DV_TO_HOST, 8, 8},
	[DV_MSG_START] = {"START", DV_TO_GUEST, 0, DV_MAX_PAYLOAD},
	[DV_MSG_STDIN] = {"STDIN", DV_TO_GUEST, 0, DV_MAX_PAYLOAD},
	[DV_MSG_STDOUT] = {"STDOUT", DV_TO_HOST, 0, DV_MAX_PAYLOAD},
	[DV_MSG_STDERR] = {"STDERR", DV_TO_HOST, 0, DV_MAX_PAYLOAD},
	[DV_MSG_FILE_IN] = {"FILE_IN", DV_TO_GUEST, 0, DV_MAX_PAYLOAD},
	[DV_MSG_FILE_OUT] = {"FILE_OUT", DV_TO_HOST, 0, DV_MAX_PAYLOAD},
	[DV_MSG_WINDOW] = {"WINDOW", 0, 8, 8},
	[DV_MSG_SIGNAL] = {"SIGNAL", DV_TO_GUEST, 4, 4},
	[DV_MSG_RESIZE] = {"RESIZE", DV_TO_GUEST, 4, 4},
	[DV_MSG_FILE_CHANGED] = {"FILE_CHANGED", DV_TO_HOST, 8, 8},
	[DV_MSG_EXIT] = {"EXIT", DV_TO_HOST, 0, DV_EXIT_FIXED_SIZE + DV_MAX_EXIT_MESSAGE},
	[DV_MSG_CLOSE] = {"CLOSE", DV_TO_GUEST, 0, 0},
	[DV_MSG_IDENTITY] = {"IDENTITY", DV_TO_GUEST, 0, DV_IDENTITY_FIXED_SIZE + DV_MAX_HOST_NAME},
	[DV_MSG_READY] = {"READY", DV_TO_HOST, 0, 0},
};

/* Types that travel on channel 0, and nothing else does. */
static bool is_control_type(uint16_t type)
{
	return type == DV_MSG_HELLO || type == DV_MSG_IDENTITY || type == DV_MSG_READY;
}

const char *dv_msg_name(uint16_t type)
{
	if (type == 0 || type > DV_MSG_TYPE_MAX)
		return "unknown";
	return type_rules[type].name;
}

bool dv_is_data_type(uint16_t type)
{
	return type >= DV_MSG_STDIN && type <= DV_MSG_FILE_OUT;
}

static int violation(const char **reason, const char *text)
{
	*reason = text;
	return -EPROTO;
}

int dv_header_check(const struct dv_header *header, enum dv_direction direction,
		    const char **reason)
{
	if (header->type == 0 || header->type > DV_MSG_TYPE_MAX)
		return violation(reason, "unknown message type");

	const struct dv_type_rule *rule = &type_rules[header->type];

	if (header->flags != 0)
		return violation(reason, "nonzero header flags");
	if (rule->direction != 0 && rule->direction != direction)
		return violation(reason, "message type sent in the wrong direction");
	if (header->length > rule->max)
		return violation(reason, "payload longer than the limit of its type");
	if (rule->exact != 0 && header->length != rule->exact)
		return violation(reason, "payload size wrong for its type");
	if (header->type == DV_MSG_EXIT && header->length < DV_EXIT_FIXED_SIZE)
		return violation(reason, "EXIT payload too short");
	if (header->type == DV_MSG_IDENTITY && header->length <= DV_IDENTITY_FIXED_SIZE)
		return violation(reason, "IDENTITY payload too short");
	if (is_control_type(header->type) != (header->channel == 0))
		return violation(reason, "channel 0 carries HELLO, IDENTITY and READY only");
	if (header->channel > DV_MAX_CHANNEL)
		return violation(reason, "channel id out of range");
	return 0;
}

bool dv_file_name_valid(const char *name, size_t length)
{
	if (length == 0 || length > 255)
		return false;
	if (memchr(name, '/', length) != NULL || memchr(name, '\0', length) != NULL)
		return false;
	if ((length == 1 && name[0] == '.') || (length == 2 && name[0] == '.' && name[1] == '.'))
		return false;
	return true;
}

/* Cursor over the NUL-terminated strings that follow the fixed part. */
struct string_cursor {
	const uint8_t *next;
	const uint8_t *end;
};

static const char *next_string(struct string_cursor *cursor)
{
	if (cursor->next >= cursor->end)
		return NULL;

	const uint8_t *nul = memchr(cursor->next, '\0', (size_t)(cursor->end - cursor->next));

	if (nul == NULL)
		return NULL;

	const char *string = (const char *)cursor->next;

	cursor->next = nul + 1;
	return string;
}

static int decode_string_array(struct string_cursor *cursor, uint32_t count, char ***out,
			       const char **reason)
{
	/* Each string takes at least its NUL byte, which bounds the count by
	 * the payload size before anything is allocated. */
	if (count > (size_t)(cursor->end - cursor->next))
		return violation(reason, "START string count larger than the payload");

	char **array = calloc((size_t)count + 1, sizeof(*array));

	if (array == NULL) {
		*reason = "out of memory";
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < count; i++) {
		const char *string = next_string(cursor);

		if (string == NULL) {
			free(array);
			return violation(reason, "START strings truncated");
		}
		array[i] = (char *)string;
	}
	*out = array;
	return 0;
}

void dv_start_free(struct dv_start_request *request)
{
	free(request->argv);
	free(request->envp);
	request->argv = NULL;
	request->envp = NULL;
}

static int decode_start_fixed(const uint8_t *payload, size_t length, struct dv_start *fixed,
			      const char **reason)
{
	if (length < DV_START_FIXED_SIZE)
		return violation(reason, "START payload too short");
	fixed->flags = dv_get_u32(payload);
	fixed->rows = dv_get_u16(payload + 4);
	fixed->cols = dv_get_u16(payload + 6);
	fixed->argc = dv_get_u32(payload + 8);
	fixed->envc = dv_get_u32(payload + 12);
	fixed->file_size = dv_get_u64(payload + 16);
	if (fixed->flags & ~DV_START_FLAGS_ALL)
		return violation(reason, "unknown START flags");
	if (fixed->argc == 0 && !(fixed->flags & DV_START_FILE))
		return violation(reason, "START without a command");
	return 0;
}

static int decode_file_strings(struct string_cursor *cursor, struct dv_start_request *request,
			       const char **reason)
{
	request->file_name = next_string(cursor);
	request->app = next_string(cursor);
	if (request->file_name == NULL || request->app == NULL)
		return violation(reason, "START file strings truncated");
	if (!dv_file_name_valid(request->file_name, strlen(request->file_name)))
		return violation(reason, "invalid file name in START");
	return 0;
}

int dv_start_decode(const uint8_t *payload, size_t length, struct dv_start_request *request,
		    const char **reason)
{
	memset(request, 0, sizeof(*request));

	int ret = decode_start_fixed(payload, length, &request->fixed, reason);

	if (ret < 0)
		return ret;

	struct string_cursor cursor = {payload + DV_START_FIXED_SIZE, payload + length};

	ret = decode_string_array(&cursor, request->fixed.argc, &request->argv, reason);
	if (ret == 0)
		ret = decode_string_array(&cursor, request->fixed.envc, &request->envp, reason);
	if (ret == 0) {
		request->cwd = next_string(&cursor);
		if (request->cwd == NULL)
			ret = violation(reason, "START working directory missing");
	}
	if (ret == 0 && (request->fixed.flags & DV_START_FILE))
		ret = decode_file_strings(&cursor, request, reason);
	if (ret == 0 && cursor.next != cursor.end)
		ret = violation(reason, "trailing bytes after START strings");
	if (ret < 0)
		dv_start_free(request);
	return ret;
}

/* Append one string with its NUL; returns the new offset or -E2BIG. */
static long append_string(uint8_t *out, size_t size, long offset, const char *string)
{
	size_t length = strlen(string) + 1;

	if ((size_t)offset + length > size)
		return -E2BIG;
	memcpy(out + offset, string, length);
	return offset + (long)length;
}

static long append_strings(uint8_t *out, size_t size, long offset, const char *const *strings)
{
	for (size_t i = 0; strings != NULL && strings[i] != NULL && offset >= 0; i++)
		offset = append_string(out, size, offset, strings[i]);
	return offset;
}

static uint32_t count_strings(const char *const *strings)
{
	uint32_t count = 0;

	while (strings != NULL && strings[count] != NULL)
		count++;
	return count;
}

long dv_start_encode(uint8_t *out, size_t size, const struct dv_start *fixed,
		     const char *const *argv, const char *const *envp, const char *cwd,
		     const char *file_name, const char *app)
{
	if (size > DV_MAX_PAYLOAD)
		size = DV_MAX_PAYLOAD;
	if (size < DV_START_FIXED_SIZE)
		return -E2BIG;

	dv_put_u32(out, fixed->flags);
	dv_put_u16(out + 4, fixed->rows);
	dv_put_u16(out + 6, fixed->cols);
	dv_put_u32(out + 8, count_strings(argv));
	dv_put_u32(out + 12, count_strings(envp));
	dv_put_u64(out + 16, fixed->file_size);

	long offset = DV_START_FIXED_SIZE;

	offset = append_strings(out, size, offset, argv);
	offset = append_strings(out, size, offset, envp);
	if (offset >= 0)
		offset = append_string(out, size, offset, cwd != NULL ? cwd : "");
	if (offset >= 0 && (fixed->flags & DV_START_FILE)) {
		offset = append_string(out, size, offset, file_name != NULL ? file_name : "");
		if (offset >= 0)
			offset = append_string(out, size, offset, app != NULL ? app : "");
	}
	return offset;
}

bool dv_host_name_valid(const char *name, size_t length)
{
	if (length == 0 || length > DV_MAX_HOST_NAME || name[0] == '-')
		return false;
	for (size_t i = 0; i < length; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
			return false;
	}
	return true;
}

long dv_identity_encode(uint8_t *out, const struct dv_identity *identity, const char *name)
{
	size_t length = strlen(name);

	if (!dv_host_name_valid(name, length))
		return -EINVAL;
	dv_put_u64(out, identity->realtime_ns);
	memcpy(out + 8, identity->entropy, DV_IDENTITY_ENTROPY);
	memcpy(out + DV_IDENTITY_FIXED_SIZE, name, length);
	return (long)(DV_IDENTITY_FIXED_SIZE + length);
}

int dv_identity_decode(const uint8_t *payload, size_t length, struct dv_identity *identity,
		       char *name, const char **reason)
{
	if (length <= DV_IDENTITY_FIXED_SIZE || length > DV_IDENTITY_FIXED_SIZE + DV_MAX_HOST_NAME)
		return violation(reason, "IDENTITY payload size out of range");

	size_t name_length = length - DV_IDENTITY_FIXED_SIZE;
	const char *untrusted_name = (const char *)payload + DV_IDENTITY_FIXED_SIZE;

	if (!dv_host_name_valid(untrusted_name, name_length))
		return violation(reason, "invalid name in IDENTITY");
	identity->realtime_ns = dv_get_u64(payload);
	memcpy(identity->entropy, payload + 8, DV_IDENTITY_ENTROPY);
	memcpy(name, untrusted_name, name_length);
	name[name_length] = '\0';
	return 0;
}
