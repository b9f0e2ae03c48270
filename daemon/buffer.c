#include "buffer.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int buffer_append(struct buffer *buffer, const void *bytes, size_t length)
{
	if (length == 0)
		return 0;
	if (buffer->head > 0 && buffer->tail + length > buffer->capacity) {
		memmove(buffer->data, buffer->data + buffer->head, buffer_length(buffer));
		buffer->tail -= buffer->head;
		buffer->head = 0;
	}
	if (buffer->tail + length > buffer->capacity) {
		size_t capacity = buffer->capacity ? buffer->capacity : 4096;

		while (capacity < buffer->tail + length)
			capacity *= 2;

		uint8_t *data = realloc(buffer->data, capacity);

		if (data == NULL)
			return -ENOMEM;
		buffer->data = data;
		buffer->capacity = capacity;
	}
	memcpy(buffer->data + buffer->tail, bytes, length);
	buffer->tail += length;
	return 0;
}

void buffer_consume(struct buffer *buffer, size_t length)
{
	buffer->head += length;
	if (buffer->head >= buffer->tail)
		buffer->head = buffer->tail = 0;
}

void buffer_free(struct buffer *buffer)
{
	free(buffer->data);
	buffer->data = NULL;
	buffer->head = buffer->tail = buffer->capacity = 0;
}
