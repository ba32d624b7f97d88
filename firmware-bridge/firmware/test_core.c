/* test_core.c: unit tests of the protocol core. Reads the shared vectors in ../testdata/frames.txt. */
#include "rwproto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;
#define CHECK(cond, ...) do { if (!(cond)) { failures++; fprintf(stderr, "%s:%d: ", __FILE__, __LINE__); fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); } } while (0)

/* ---- shared vectors ---- */

static size_t unhex(const char *s, size_t n, uint8_t *out)
{
	size_t k = 0;
	for (size_t i = 0; i + 1 < n; i += 2) {
		unsigned v;
		sscanf(s + i, "%2x", &v);
		out[k++] = (uint8_t)v;
	}
	return k;
}

static void test_vectors(const char *path)
{
	FILE *f = fopen(path, "r");
	CHECK(f != NULL, "cannot open %s", path);
	if (!f) return;
	char line[1024];
	int n = 0, lineno = 0;
	while (fgets(line, sizeof line, f)) {
		lineno++;
		line[strcspn(line, "\n")] = 0;
		if (line[0] == 0 || line[0] == '#') continue;
		char *p[6];
		char *s = line;
		int k = 0;
		for (; k < 5; k++) {
			char *sep = strstr(s, " | ");
			if (!sep) break;
			*sep = 0;
			p[k] = s;
			s = sep + 3;
		}
		p[k++] = s;
		CHECK(k == 6, "frames.txt:%d: %d fields", lineno, k);
		if (k != 6) continue;
		uint8_t in[512];
		size_t len = unhex(p[0], strlen(p[0]), in);
		size_t want_used = (size_t)atoi(p[1]);
		rw_frame fr;
		size_t used;
		rw_status st = rw_parse_frame(in, len, &fr, &used);
		n++;
		CHECK(used == want_used, "frames.txt:%d: consumed %zu, want %zu", lineno, used, want_used);
		int ok = !strcmp(p[2], "ok") || !strcmp(p[2], "decode");
		CHECK(!strcmp(rw_status_name(st), ok ? "ok" : p[2]), "frames.txt:%d: result %s, want %s", lineno, rw_status_name(st), p[2]);
		if (strcmp(p[3], "-") != 0)
			CHECK(fr.seq == (uint16_t)atoi(p[3]), "frames.txt:%d: seq %u, want %s", lineno, fr.seq, p[3]);
		if (!ok || st != RW_OK) continue;
		CHECK(!strcmp(rw_type_name(fr.type), p[4]), "frames.txt:%d: type %s, want %s", lineno, rw_type_name(fr.type), p[4]);
		CHECK(fr.args_len == strlen(p[5]) && (fr.args_len == 0 || !memcmp(fr.args, p[5], fr.args_len)),
		      "frames.txt:%d: args %.*s, want %s", lineno, (int)fr.args_len, fr.args ? fr.args : "", p[5]);
		if (!strcmp(p[2], "ok")) {
			char out[RW_MAX_FRAME];
			size_t m = rw_encode_frame(out, sizeof out, fr.seq, fr.type, p[5], strlen(p[5]));
			CHECK(m == len && !memcmp(out, in, len), "frames.txt:%d: encoding differs: %.*s", lineno, (int)m, out);
		}
	}
	fclose(f);
	CHECK(n >= 20, "only %d vectors", n);
	printf("frames.txt: %d vectors\n", n);
}

/* ---- a board wired to a capture buffer ---- */

static char captured[8192];
static size_t cap_len;
static int out_idx = -1;
static int32_t out_val;

static void cap_write(void *ctx, const uint8_t *b, size_t n)
{
	(void)ctx;
	if (cap_len + n < sizeof captured) { memcpy(captured + cap_len, b, n); cap_len += n; captured[cap_len] = 0; }
}
static void cap_out(void *ctx, uint8_t idx, int32_t milli) { (void)ctx; out_idx = idx; out_val = milli; }
static void clear(void) { cap_len = 0; captured[0] = 0; out_idx = -1; }

/* has reports whether a frame with this text between '$N,' and '*' was sent. */
static int has(const char *body)
{
	for (const char *p = captured; (p = strchr(p, '$')) != NULL; p++) {
		const char *c = strchr(p, ',');
		const char *e = strchr(p, '*');
		if (c && e && c < e && (size_t)(e - c - 1) == strlen(body) && !memcmp(c + 1, body, strlen(body))) return 1;
	}
	return 0;
}

static const rw_channel chans[] = {{"temperature", "C", RW_AI}, {"smoke", "-", RW_DI}, {"sounder", "-", RW_DO}};

static void host(rw_board *b, uint16_t seq, rw_type t, const char *args, uint32_t now)
{
	char buf[RW_MAX_FRAME];
	size_t n = rw_encode_frame(buf, sizeof buf, seq, t, args, strlen(args));
	/* feed in two pieces, as a UART delivers it */
	rw_feed(b, (const uint8_t *)buf, n / 2, now);
	rw_feed(b, (const uint8_t *)buf + n / 2, n - n / 2, now);
}

static void test_board(void)
{
	rw_board b;
	rw_board_config cfg = {"b1", "1.2.3", chans, 3, cap_write, cap_out, NULL, NULL, 0};
	clear();
	rw_init(&b, &cfg, 1000);
	CHECK(has("HELLO,1,b1,1.2.3,0,3"), "boot announcement missing: %s", captured);
	CHECK(has("CH,0,temperature,C,ai") && has("CH,1,smoke,-,di") && has("CH,2,sounder,-,do"), "channel list: %s", captured);

	clear();
	host(&b, 0, RW_T_HELLO, "1", 2000);
	CHECK(has("HELLO,1,b1,1.2.3,1000,3") && has("CH,2,sounder,-,do"), "handshake reply: %s", captured);

	clear();
	rw_set_value(&b, 0, 23450, 2000);
	CHECK(cap_len == 0, "an analog value went out before its period: %s", captured);
	rw_set_value(&b, 1, 1000, 2000);
	CHECK(has("R,1,1"), "a digital edge is not sent at once: %s", captured);
	clear();
	rw_set_value(&b, 1, 1000, 2001);
	CHECK(cap_len == 0, "an unchanged digital input was sent again: %s", captured);

	clear();
	rw_poll(&b, 2000 + RW_DEFAULT_HB_MS);
	CHECK(has("HB,2000"), "heartbeat with uptime 2000 ms: %s", captured);
	clear();
	rw_poll(&b, 1000 + RW_DEFAULT_EVERY_MS);
	CHECK(has("R,0,23.45,1,1"), "periodic readings: %s", captured);

	clear();
	host(&b, 1, RW_T_SET, "hb,250", 6000);
	CHECK(has("ACK,1") && b.hb_ms == 250, "SET hb: %s", captured);
	clear();
	host(&b, 2, RW_T_SET, "colour,250", 6000);
	CHECK(has("NAK,2,KEY"), "SET unknown key: %s", captured);
	clear();
	host(&b, 3, RW_T_OUT, "2,1", 6000);
	CHECK(has("ACK,3") && out_idx == 2 && out_val == 1000 && has("R,2,1"), "OUT: %s", captured);
	clear();
	host(&b, 4, RW_T_OUT, "0,1", 6000);
	CHECK(has("NAK,4,RO") && out_idx == -1, "OUT on an input: %s", captured);
	clear();
	host(&b, 5, RW_T_OUT, "9,1", 6000);
	CHECK(has("NAK,5,CH"), "OUT on a missing channel: %s", captured);
	clear();
	host(&b, 6, RW_T_R, "0,1", 6000);
	CHECK(has("NAK,6,TYPE"), "board-only type from the host: %s", captured);

	clear();
	const char bad[] = "$7,HB*0000\r\n";
	rw_feed(&b, (const uint8_t *)bad, sizeof bad - 1, 6000);
	CHECK(has("ERR,CRC") && b.rxc.badcrc == 1, "bad CRC: %s", captured);
	clear();
	const char junk[] = "\x00\xffnoise$8,H";
	rw_feed(&b, (const uint8_t *)junk, sizeof junk - 1, 6000);
	host(&b, 9, RW_T_HB, "", 6000);
	CHECK(b.rxc.garbage == 7 && b.rxc.truncated == 1 && b.rxc.frames == 8, "garbage %u truncated %u frames %u",
	      b.rxc.garbage, b.rxc.truncated, b.rxc.frames);
	char big[400];
	memset(big, 'A', sizeof big);
	big[0] = '$';
	clear();
	rw_feed(&b, (const uint8_t *)big, sizeof big, 6000);
	host(&b, 10, RW_T_SET, "every,1000", 6000);
	CHECK(b.rxc.toolong == 1 && has("ERR,LEN") && has("ACK,10") && b.every_ms == 1000, "oversized frame, then a good one: %s", captured);
}

static void test_failsafe(void)
{
	rw_board b;
	rw_board_config cfg = {"b1", "1", chans, 3, cap_write, cap_out, NULL, NULL, 0};
	rw_init(&b, &cfg, 0);
	clear();
	host(&b, 0, RW_T_FS, "1,A,0.5,2,30000", 100);
	CHECK(has("ACK,0"), "FS accepted: %s", captured);
	clear();
	host(&b, 9, RW_T_FS, "1,A,0.5,2,0", 100);
	CHECK(has("NAK,9,ARG"), "FS with no silence refused: %s", captured);
	clear();
	host(&b, 1, RW_T_FS, "0,A,30,0,30000", 100);
	CHECK(has("NAK,1,RO"), "FS onto an input refused: %s", captured);

	/* The host is alive: the input crossing is the host's business. */
	clear();
	rw_set_value(&b, 1, 1000, 20000);
	rw_poll(&b, 20000);
	CHECK(out_idx == -1 && !has("ALM,1,1,failsafe"), "fail-safe tripped while the host talks: %s", captured);
	rw_set_value(&b, 1, 0, 20001);

	/* Host silent for 30 s (last frame at 100 ms): the board acts alone. */
	host(&b, 2, RW_T_HB, "", 10000);
	rw_poll(&b, 39999);
	clear();
	rw_set_value(&b, 1, 1000, 39999);
	CHECK(out_idx == -1, "tripped before 30 s of silence");
	rw_poll(&b, 40000);
	CHECK(out_idx == 2 && out_val == 1000 && has("ALM,1,1,failsafe") && has("R,2,1"), "fail-safe did not trip: %s", captured);
	clear();
	rw_poll(&b, 41000);
	CHECK(!has("ALM,1,1,failsafe"), "fail-safe alarm repeated");

	/* The host comes back and takes the output over. */
	clear();
	host(&b, 3, RW_T_OUT, "2,0", 42000);
	CHECK(has("ALM,1,0,host") && out_idx == 2 && out_val == 0, "host takeover: %s", captured);

	/* below thresholds, and clearing */
	clear();
	host(&b, 4, RW_T_FS, "0,B,5,2,1000", 50000);
	rw_set_value(&b, 0, 4000, 50000);
	rw_poll(&b, 51000);
	CHECK(has("ALM,0,1,failsafe"), "below threshold: %s", captured);
	clear();
	host(&b, 5, RW_T_FS, "0,OFF", 52000);
	CHECK(has("ACK,5") && has("ALM,0,0,host") && !b.fs[1].active, "FS OFF: %s", captured);
}

static void test_numbers(void)
{
	static const struct { int32_t v; const char *s; } tab[] = {
		{0, "0"}, {1000, "1"}, {23450, "23.45"}, {-500, "-0.5"}, {-1, "-0.001"}, {123456, "123.456"},
		{INT32_MIN, "-2147483.648"}, {INT32_MAX, "2147483.647"}};
	for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++) {
		char buf[16];
		size_t n = rw_format_milli(buf, tab[i].v);
		buf[n] = 0;
		CHECK(!strcmp(buf, tab[i].s), "format %ld = %s, want %s", (long)tab[i].v, buf, tab[i].s);
		int32_t back;
		if (tab[i].v != INT32_MIN)
			CHECK(rw_parse_milli(buf, n, &back) == 0 && back == tab[i].v, "parse %s = %ld", buf, (long)back);
	}
	int32_t v;
	CHECK(rw_parse_milli("0.5", 3, &v) == 0 && v == 500, "0.5");
	CHECK(rw_parse_milli("", 0, &v) != 0 && rw_parse_milli("1e3", 3, &v) != 0 && rw_parse_milli("-", 1, &v) != 0, "bad numbers accepted");
	CHECK(rw_crc16((const uint8_t *)"123456789", 9) == 0x29B1, "CRC check value");
}

/* Random bytes into the board: it must neither crash nor stop understanding a good frame afterwards. */
static void test_noise(void)
{
	rw_board b;
	rw_board_config cfg = {"b1", "1", chans, 3, cap_write, cap_out, NULL, NULL, 0};
	rw_init(&b, &cfg, 0);
	uint32_t x = 12345;
	for (int round = 0; round < 2000; round++) {
		uint8_t buf[97];
		for (size_t i = 0; i < sizeof buf; i++) {
			x = x * 1103515245u + 12345u;
			uint8_t c = (uint8_t)(x >> 16);
			buf[i] = (c & 7) == 0 ? '$' : (c & 7) == 1 ? ',' : (c & 7) == 2 ? '\n' : c;
		}
		clear();
		rw_feed(&b, buf, sizeof buf, (uint32_t)round);
	}
	clear();
	rw_feed(&b, (const uint8_t *)"\n", 1, 3000);
	host(&b, 77, RW_T_SET, "hb,500", 3000);
	CHECK(has("ACK,77") && b.hb_ms == 500, "a good frame after noise: %s", captured);
}

int main(int argc, char **argv)
{
	test_vectors(argc > 1 ? argv[1] : "../testdata/frames.txt");
	test_board();
	test_failsafe();
	test_numbers();
	test_noise();
	if (failures) {
		fprintf(stderr, "%d failures\n", failures);
		return 1;
	}
	printf("ok\n");
	return 0;
}
