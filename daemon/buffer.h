/* A growable byte queue: append at the tail, consume from the head. */
#ifndef DISPVMD_BUFFER_H
#define DISPVMD_BUFFER_H

#include <stddef.h>
#include <stdint.h>

struct buffer {
	uint8_t *data;
	size_t head; /* first unconsumed byte */
	size_t tail; /* end of the stored bytes */
	size_t capacity;
};

static inline size_t buffer_length(const struct buffer *buffer)
{
	return buffer->tail - buffer->head;
}

static inline const uint8_t *buffer_bytes(const struct buffer *buffer)
{
	return buffer->data + buffer->head;
}

/* Append `length` bytes. Returns 0 or -ENOMEM. */
int buffer_append(struct buffer *buffer, const void *bytes, size_t length);

void buffer_consume(struct buffer *buffer, size_t length);
void buffer_free(struct buffer *buffer);

#endif
