/* The console ring buffer: wrap-around, overflow, a write bigger than the buffer. */
#include "unit.h"

#include "../src/ringbuf.h"

static const char *held(const struct ringbuf *rb)
{
	static char out[64];
	size_t n = ringbuf_copy(rb, out);
	out[n] = '\0';
	return out;
}

void test_ringbuf(void)
{
	struct ringbuf rb;

	CHECK(ringbuf_init(&rb, 8) == 0);
	CHECK_STR(held(&rb), "");
	ringbuf_write(&rb, "abc", 3);
	CHECK_STR(held(&rb), "abc");
	ringbuf_write(&rb, "defgh", 5);
	CHECK_STR(held(&rb), "abcdefgh");
	/* Full: the oldest go first, across the end of the block. */
	ringbuf_write(&rb, "ij", 2);
	CHECK_STR(held(&rb), "cdefghij");
	ringbuf_write(&rb, "klmno", 5);
	CHECK_STR(held(&rb), "hijklmno");
	/* A write longer than the buffer keeps its own last bytes. */
	ringbuf_write(&rb, "0123456789", 10);
	CHECK_STR(held(&rb), "23456789");
	ringbuf_write(&rb, "", 0);
	CHECK_STR(held(&rb), "23456789");
	ringbuf_clear(&rb);
	CHECK_STR(held(&rb), "");
	ringbuf_write(&rb, "x", 1);
	CHECK_STR(held(&rb), "x");
	ringbuf_free(&rb);
	/* No buffer: writes are dropped. */
	struct ringbuf none = {0};
	ringbuf_write(&none, "abc", 3);
	CHECK(none.len == 0);
}
