/*
 * The console's ring buffer: a fixed block that always holds the newest
 * bytes, so reading the console's recent past costs no disk and no bound
 * on how long the container has run (LXC's lxc.console.buffer.size).
 */
#include "ringbuf.h"

#include <stdlib.h>
#include <string.h>

int ringbuf_init(struct ringbuf *rb, size_t size)
{
	*rb = (struct ringbuf){0};
	rb->data = malloc(size);
	if (!rb->data)
		return -1;
	rb->size = size;
	return 0;
}

void ringbuf_write(struct ringbuf *rb, const char *buf, size_t n)
{
	if (rb->size == 0 || n == 0)
		return;
	if (n >= rb->size) {
		/* Only the last SIZE bytes can stay. */
		memcpy(rb->data, buf + (n - rb->size), rb->size);
		rb->start = 0;
		rb->len = rb->size;
		return;
	}
	size_t end = (rb->start + rb->len) % rb->size;
	size_t first = rb->size - end < n ? rb->size - end : n;
	memcpy(rb->data + end, buf, first);
	memcpy(rb->data, buf + first, n - first);
	if (rb->len + n > rb->size) {
		size_t drop = rb->len + n - rb->size;
		rb->start = (rb->start + drop) % rb->size;
		rb->len = rb->size;
	} else {
		rb->len += n;
	}
}

size_t ringbuf_copy(const struct ringbuf *rb, char *out)
{
	if (rb->len == 0)
		return 0;
	size_t first = rb->size - rb->start < rb->len ? rb->size - rb->start : rb->len;
	memcpy(out, rb->data + rb->start, first);
	memcpy(out + first, rb->data, rb->len - first);
	return rb->len;
}

void ringbuf_clear(struct ringbuf *rb)
{
	rb->start = rb->len = 0;
}

void ringbuf_free(struct ringbuf *rb)
{
	free(rb->data);
	*rb = (struct ringbuf){0};
}
