/* libFuzzer harness for the C frame parser and the board's receive path (make fuzz; needs clang). */
#include "rwproto.h"

#include <stdlib.h>

static void sink(void *ctx, const uint8_t *b, size_t n) { (void)ctx; (void)b; (void)n; }

static const rw_channel chans[] = {{"temperature", "C", RW_AI}, {"smoke", "-", RW_DI}, {"sounder", "-", RW_DO}};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	rw_frame f;
	size_t used;
	rw_status st = rw_parse_frame(data, size, &f, &used);
	if (used > size || (st != RW_SHORT && used == 0)) abort();
	if (st == RW_OK && f.args && (f.args < (const char *)data || f.args + f.args_len > (const char *)data + size)) abort();
	static rw_board b;
	rw_board_config cfg = {"fz", "1", chans, 3, sink, NULL, NULL, NULL, 0};
	rw_init(&b, &cfg, 0);
	rw_feed(&b, data, size, 1);
	rw_poll(&b, 100000);
	return 0;
}
