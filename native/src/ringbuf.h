/* The console's ring buffer (lxc.console.buffer.size): the last SIZE bytes
 * the console showed, kept in the monitor's memory. */
#ifndef LXT_RINGBUF_H
#define LXT_RINGBUF_H

#include <stddef.h>

struct ringbuf {
	char *data;
	size_t size;  /* capacity; 0: no buffer */
	size_t start; /* offset of the oldest byte */
	size_t len;   /* bytes held, <= size */
};

/* Allocates SIZE bytes (> 0); < 0 with errno on failure. */
int ringbuf_init(struct ringbuf *rb, size_t size);
/* Appends N bytes, dropping the oldest past the capacity. No-op without a buffer. */
void ringbuf_write(struct ringbuf *rb, const char *buf, size_t n);
/* Copies the bytes held, oldest first, into OUT (room for rb->len bytes); returns the count. */
size_t ringbuf_copy(const struct ringbuf *rb, char *out);
void ringbuf_clear(struct ringbuf *rb);
void ringbuf_free(struct ringbuf *rb);

#endif
