/*
 * parsevec: runs the C frame parser over inputs given as hex, one per line on stdin, and prints one line
 * per input: CONSUMED|RESULT|SEQ|TYPE|ARGS-IN-HEX. The Go tests feed it a corpus (the shared vectors and
 * mutations of them) and compare every line with the Go parser: a differential fuzz of the C parser.
 */
#include "rwproto.h"

#include <stdio.h>
#include <string.h>

int main(void)
{
	static char line[8192];
	static uint8_t in[4096];
	while (fgets(line, sizeof line, stdin)) {
		size_t n = 0, len = strcspn(line, "\r\n");
		for (size_t i = 0; i + 1 < len && n < sizeof in; i += 2) {
			unsigned v;
			if (sscanf(line + i, "%2x", &v) != 1) break;
			in[n++] = (uint8_t)v;
		}
		rw_frame f;
		size_t used;
		rw_status st = rw_parse_frame(in, n, &f, &used);
		printf("%zu|%s|%u|%s|", used, rw_status_name(st), f.seq, st == RW_OK ? rw_type_name(f.type) : "");
		for (size_t i = 0; i < f.args_len; i++) printf("%02X", (unsigned char)f.args[i]);
		putchar('\n');
	}
	return 0;
}
