/*
 * emulator: the reference firmware core on a host, for tests and for trying the bridge without hardware.
 *
 * The serial line is stdin/stdout (give it the master side of a pty; the host side opens the slave as if it
 * were /dev/ttyACM0), or, with -pty LINK, a pty of its own whose slave is linked at LINK; commands are then
 * read from stdin, so you can type them:
 *
 *   build/emulator -pty /tmp/ttyBOARD        and in a rackwatch config: device: /tmp/ttyBOARD
 * The board has four channels: 0 temperature (C, analog), 1 smoke (digital), 2 h2 (ppm,
 * analog), 3 sounder (output). Commands come from a scenario file (-s FILE) and, line by line, from file
 * descriptor 3 when it is open (a pipe from a test):
 *
 *   set IDX VALUE    new input value (decimal); a digital input that changes is sent at once
 *   error IDX WHY    the input cannot be read
 *   sleep MS         wait (scenario files)
 *   report           send all readings now (as the periodic report does)
 *   reset            restart the board: sequence and uptime start again, HELLO is sent; the inputs keep
 *                    their values (the world does not reset with the board)
 *   version N        announce protocol version N from now on (then reset to see it)
 *   silence, resume  stop and restart everything the board sends (a hung board)
 *   garbage, badcrc, truncated, oversize, replay, flood N    send bad input
 *   quit
 *
 * It reports on stderr, one line each: "ready", "host TYPE ARGS" for each host frame, "out IDX MILLI" when
 * an output is driven, "failsafe IDX" when the fail-safe trips.
 */
#define _DEFAULT_SOURCE
#define _XOPEN_SOURCE 600
#include "rwproto.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

static const rw_channel channels[] = {
	{"temperature", "C", RW_AI},
	{"smoke", "-", RW_DI},
	{"h2", "ppm", RW_AI},
	{"sounder", "-", RW_DO},
};

static rw_board board;
static rw_board_config cfg;
static int silent;
static int line_in = 0, line_out = 1;
static const char *pty_link; /* removed at exit, like a device node when the board is unplugged */

static void remove_link(void)
{
	if (pty_link) unlink(pty_link);
}
static uint8_t last[RW_MAX_FRAME];
static size_t last_len;

static uint32_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint32_t)((uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u);
}

static void raw_write(const uint8_t *b, size_t n)
{
	while (n > 0) {
		ssize_t w = write(line_out, b, n);
		if (w < 0) {
			if (errno == EINTR) continue;
			/* The line is full: wait a little for the host to read, as a UART's FIFO drains; if nobody
			 * reads at all (unplugged host), drop the rest as a UART would. */
			struct pollfd p = {line_out, POLLOUT, 0};
			if (errno == EAGAIN && poll(&p, 1, 100) > 0) continue;
			return;
		}
		b += w;
		n -= (size_t)w;
	}
}

static void line_write(void *ctx, const uint8_t *b, size_t n)
{
	(void)ctx;
	if (silent) return;
	if (n <= sizeof last) { memcpy(last, b, n); last_len = n; }
	raw_write(b, n);
}

static void set_output(void *ctx, uint8_t idx, int32_t milli)
{
	(void)ctx;
	fprintf(stderr, "out %u %ld\n", idx, (long)milli);
}

static void on_host_frame(void *ctx, const rw_frame *f)
{
	(void)ctx;
	fprintf(stderr, "host %s %.*s\n", rw_type_name(f->type), (int)f->args_len, f->args ? f->args : "");
}

static int command(char *line, uint32_t *sleep_until)
{
	char *cmd = strtok(line, " \t\r\n");
	if (!cmd || cmd[0] == '#') return 0;
	char *a1 = strtok(NULL, " \t\r\n"), *a2 = strtok(NULL, "\r\n");
	uint32_t now = now_ms();
	if (!strcmp(cmd, "set") && a1 && a2) {
		int32_t milli;
		if (rw_parse_milli(a2, strlen(a2), &milli) == 0) rw_set_value(&board, (uint8_t)atoi(a1), milli, now);
	} else if (!strcmp(cmd, "error") && a1 && a2) {
		static char why[RW_MAX_CHANNELS][32];
		int i = atoi(a1) % RW_MAX_CHANNELS;
		snprintf(why[i], sizeof why[i], "%s", a2);
		rw_set_error(&board, (uint8_t)i, why[i]);
	} else if (!strcmp(cmd, "sleep") && a1) {
		*sleep_until = now + (uint32_t)atoi(a1);
	} else if (!strcmp(cmd, "report")) {
		rw_send_readings(&board);
	} else if (!strcmp(cmd, "reset")) {
		rw_board old = board;
		rw_init(&board, &cfg, now);
		for (uint8_t i = 0; i < cfg.nchannels; i++) {
			if (channels[i].kind == RW_DO) continue; /* outputs power up off */
			if (old.has_value[i]) rw_set_value(&board, i, old.value[i], now);
			if (old.error[i]) rw_set_error(&board, i, old.error[i]);
		}
	} else if (!strcmp(cmd, "version") && a1) {
		cfg.protocol_version = (uint8_t)atoi(a1);
	} else if (!strcmp(cmd, "silence")) {
		silent = 1;
	} else if (!strcmp(cmd, "resume")) {
		silent = 0;
	} else if (!strcmp(cmd, "garbage")) {
		static const uint8_t g[] = "boot: v1.0 \x00\xff\x13 noise\r\n";
		raw_write(g, sizeof g - 1);
	} else if (!strcmp(cmd, "badcrc")) {
		static const uint8_t g[] = "$60000,R,0,99*0000\r\n";
		raw_write(g, sizeof g - 1);
	} else if (!strcmp(cmd, "truncated")) {
		static const uint8_t g[] = "$60001,R,0,9";
		raw_write(g, sizeof g - 1);
	} else if (!strcmp(cmd, "oversize")) {
		uint8_t g[300];
		memset(g, 'A', sizeof g);
		g[0] = '$';
		g[sizeof g - 2] = '\r';
		g[sizeof g - 1] = '\n';
		raw_write(g, sizeof g);
	} else if (!strcmp(cmd, "replay")) {
		raw_write(last, last_len);
	} else if (!strcmp(cmd, "flood") && a1) {
		for (int i = atoi(a1); i > 0; i--) rw_send_readings(&board);
	} else if (!strcmp(cmd, "quit")) {
		return -1;
	} else {
		fprintf(stderr, "unknown command %s\n", cmd);
	}
	fflush(stderr);
	return 0;
}

int main(int argc, char **argv)
{
	const char *scenario = NULL, *link = NULL;
	const char *id = "emu-1";
	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "-s")) scenario = argv[i + 1];
		else if (!strcmp(argv[i], "-id")) id = argv[i + 1];
		else if (!strcmp(argv[i], "-pty")) link = argv[i + 1];
	}
	int ctl = fcntl(3, F_GETFD) == -1 ? -1 : 3;
	if (link) {
		int m = posix_openpt(O_RDWR | O_NOCTTY);
		if (m < 0 || grantpt(m) || unlockpt(m)) { perror("pty"); return 2; }
		const char *slave = ptsname(m);
		/* Hold the slave open so the line stays up while no host has it open. */
		if (!slave || open(slave, O_RDWR | O_NOCTTY) < 0) { perror("pty slave"); return 2; }
		unlink(link);
		if (symlink(slave, link)) { perror(link); return 2; }
		pty_link = link;
		atexit(remove_link);
		fprintf(stderr, "line: %s -> %s; type commands here\n", link, slave);
		line_in = line_out = m;
		ctl = 0;
	}
	struct termios t;
	if (tcgetattr(line_in, &t) == 0) { /* a pty: raw, so the line discipline neither echoes nor edits */
		cfmakeraw(&t);
		tcsetattr(line_in, TCSANOW, &t);
	}
	fcntl(line_out, F_SETFL, fcntl(line_out, F_GETFL) | O_NONBLOCK);
	setvbuf(stderr, NULL, _IOLBF, 0);
	cfg.board_id = id;
	cfg.firmware = "1.0.0-emu";
	cfg.channels = channels;
	cfg.nchannels = sizeof channels / sizeof channels[0];
	cfg.write = line_write;
	cfg.set_output = set_output;
	cfg.on_host_frame = on_host_frame;
	rw_init(&board, &cfg, now_ms());
	for (uint8_t i = 0; i < cfg.nchannels; i++) rw_set_value(&board, i, i == 0 ? 21500 : 0, now_ms());
	FILE *sc = scenario ? fopen(scenario, "r") : NULL;
	if (scenario && !sc) { perror(scenario); return 2; }
	char ctlbuf[512];
	size_t ctllen = 0;
	uint32_t sleep_until = 0;
	uint8_t tripped[RW_MAX_FAILSAFE] = {0};
	fprintf(stderr, "ready\n");
	for (;;) {
		struct pollfd p[2] = {{line_in, POLLIN, 0}, {ctl, POLLIN, 0}};
		int np = ctl >= 0 ? 2 : 1;
		if (poll(p, (nfds_t)np, 5) < 0 && errno != EINTR) return 1;
		uint32_t now = now_ms();
		if (p[0].revents & POLLIN) {
			uint8_t buf[256];
			ssize_t n = read(line_in, buf, sizeof buf);
			if (n > 0) rw_feed(&board, buf, (size_t)n, now);
		}
		if (p[0].revents & (POLLERR | POLLNVAL)) return 0;
		if (np == 2 && (p[1].revents & (POLLIN | POLLHUP))) {
			ssize_t n = read(ctl, ctlbuf + ctllen, sizeof ctlbuf - 1 - ctllen);
			if (n <= 0) { ctl = -1; continue; }
			ctllen += (size_t)n;
			char *nl;
			while ((nl = memchr(ctlbuf, '\n', ctllen)) != NULL) {
				*nl = 0;
				if (command(ctlbuf, &sleep_until) < 0) return 0;
				size_t used = (size_t)(nl - ctlbuf) + 1;
				memmove(ctlbuf, ctlbuf + used, ctllen - used);
				ctllen -= used;
			}
			if (ctllen == sizeof ctlbuf - 1) ctllen = 0;
		}
		if (sc && (int32_t)(now - sleep_until) >= 0) {
			char line[256];
			if (fgets(line, sizeof line, sc)) {
				if (command(line, &sleep_until) < 0) return 0;
			} else {
				fclose(sc);
				sc = NULL;
			}
		}
		rw_poll(&board, now);
		for (int i = 0; i < RW_MAX_FAILSAFE; i++) {
			if (board.fs[i].tripped && !tripped[i]) fprintf(stderr, "failsafe %u\n", board.fs[i].in);
			tripped[i] = board.fs[i].tripped;
		}
	}
}
