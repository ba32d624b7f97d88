/* rwproto.c: the board side of the rackwatch firmware-bridge protocol. See rwproto.h and ../PROTOCOL.md. */
#include "rwproto.h"

#include <string.h>

static const char *const type_names[RW_T_COUNT] = {
	"", "HELLO", "CH", "R", "E", "HB", "ALM", "ACK", "NAK", "ERR", "SET", "OUT", "FS"};

const char *rw_type_name(rw_type t) { return (t > RW_T_INVALID && t < RW_T_COUNT) ? type_names[t] : "?"; }

const char *rw_status_name(rw_status s)
{
	static const char *const names[] = {"ok", "SHORT", "GARBAGE", "TRUNCATED", "TOOLONG", "BADCRC", "SYNTAX", "UNKNOWNTYPE"};
	return (unsigned)s < sizeof names / sizeof names[0] ? names[s] : "?";
}

/* CRC-16/CCITT-FALSE: polynomial 0x1021, init 0xFFFF, no reflection, no final XOR. */
uint16_t rw_crc16(const uint8_t *p, size_t n)
{
	uint16_t crc = 0xFFFF;
	while (n--) {
		crc ^= (uint16_t)(*p++) << 8;
		for (int i = 0; i < 8; i++)
			crc = (crc & 0x8000) ? (uint16_t)((crc << 1) ^ 0x1021) : (uint16_t)(crc << 1);
	}
	return crc;
}

static int hexval(uint8_t c)
{
	if (c >= '0' && c <= '9') return c - '0';
	if (c >= 'A' && c <= 'F') return c - 'A' + 10;
	if (c >= 'a' && c <= 'f') return c - 'a' + 10;
	return -1;
}

static rw_type lookup_type(const uint8_t *s, size_t n)
{
	for (int t = 1; t < RW_T_COUNT; t++)
		if (strlen(type_names[t]) == n && memcmp(type_names[t], s, n) == 0) return (rw_type)t;
	return RW_T_INVALID;
}

rw_status rw_parse_frame(const uint8_t *b, size_t n, rw_frame *f, size_t *consumed)
{
	memset(f, 0, sizeof *f);
	*consumed = 0;
	if (n == 0) return RW_SHORT;
	if (b[0] != '$') {
		const uint8_t *p = memchr(b, '$', n);
		*consumed = p ? (size_t)(p - b) : n;
		return RW_GARBAGE;
	}
	size_t limit = n < RW_MAX_FRAME ? n : RW_MAX_FRAME, end = 0;
	int found = 0;
	for (size_t j = 1; j < limit; j++) {
		if (b[j] == '\n') { end = j; found = 1; break; }
		if (b[j] == '$') { *consumed = j; return RW_TRUNCATED; }
	}
	if (!found) {
		if (n < RW_MAX_FRAME) return RW_SHORT;
		*consumed = RW_MAX_FRAME;
		return RW_TOOLONG;
	}
	*consumed = end + 1;
	const uint8_t *body = b + 1;
	size_t len = end - 1;
	if (len > 0 && body[len - 1] == '\r') len--;
	if (len < 5 || body[len - 5] != '*') return RW_SYNTAX;
	uint16_t want = 0;
	for (size_t i = len - 4; i < len; i++) {
		int v = hexval(body[i]);
		if (v < 0) return RW_SYNTAX;
		want = (uint16_t)(want << 4 | v);
	}
	len -= 5;
	if (rw_crc16(body, len) != want) return RW_BADCRC;
	for (size_t i = 0; i < len; i++)
		if (body[i] < 0x20 || body[i] > 0x7E || body[i] == '*') return RW_SYNTAX;
	size_t i = 0;
	uint32_t seq = 0;
	while (i < len && body[i] >= '0' && body[i] <= '9') {
		seq = seq * 10 + (uint32_t)(body[i] - '0');
		i++;
		if (i > 5 || seq > 0xFFFF) return RW_SYNTAX;
	}
	if (i == 0 || i >= len || body[i] != ',') return RW_SYNTAX;
	i++;
	size_t t0 = i;
	while (i < len && body[i] >= 'A' && body[i] <= 'Z') i++;
	if (i == t0 || i - t0 > 8 || (i < len && body[i] != ',')) return RW_SYNTAX;
	f->seq = (uint16_t)seq;
	f->type = lookup_type(body + t0, i - t0);
	if (i < len) {
		f->args = (const char *)body + i + 1;
		f->args_len = len - i - 1;
	}
	if (f->type == RW_T_INVALID) {
		f->args = NULL;
		f->args_len = 0;
		return RW_UNKNOWNTYPE;
	}
	return RW_OK;
}

static size_t put_uint(char *dst, uint32_t v)
{
	char tmp[10];
	size_t n = 0, k = 0;
	do { tmp[n++] = (char)('0' + v % 10); v /= 10; } while (v);
	while (n) dst[k++] = tmp[--n];
	return k;
}

size_t rw_encode_frame(char *dst, size_t cap, uint16_t seq, rw_type t, const char *args, size_t args_len)
{
	static const char hex[] = "0123456789ABCDEF";
	const char *name = rw_type_name(t);
	size_t nl = strlen(name);
	char buf[RW_MAX_FRAME];
	size_t n = 0;
	buf[n++] = '$';
	n += put_uint(buf + n, seq);
	buf[n++] = ',';
	if (n + nl + 1 + args_len + 7 > RW_MAX_FRAME) return 0;
	memcpy(buf + n, name, nl);
	n += nl;
	if (args_len) {
		buf[n++] = ',';
		memcpy(buf + n, args, args_len);
		n += args_len;
	}
	uint16_t crc = rw_crc16((const uint8_t *)buf + 1, n - 1);
	buf[n++] = '*';
	buf[n++] = hex[crc >> 12];
	buf[n++] = hex[(crc >> 8) & 15];
	buf[n++] = hex[(crc >> 4) & 15];
	buf[n++] = hex[crc & 15];
	buf[n++] = '\r';
	buf[n++] = '\n';
	if (n > cap) return 0;
	memcpy(dst, buf, n);
	return n;
}

size_t rw_format_milli(char *dst, int32_t milli)
{
	size_t n = 0;
	uint32_t v;
	if (milli < 0) {
		dst[n++] = '-';
		v = (uint32_t)(-(milli + 1)) + 1u;
	} else {
		v = (uint32_t)milli;
	}
	n += put_uint(dst + n, v / 1000);
	uint32_t frac = v % 1000;
	if (frac) {
		dst[n++] = '.';
		dst[n++] = (char)('0' + frac / 100);
		frac %= 100;
		if (frac) {
			dst[n++] = (char)('0' + frac / 10);
			if (frac % 10) dst[n++] = (char)('0' + frac % 10);
		}
	}
	return n;
}

int rw_parse_milli(const char *s, size_t n, int32_t *milli)
{
	size_t i = 0;
	int neg = 0, digits = 0;
	int64_t v = 0;
	if (i < n && (s[i] == '-' || s[i] == '+')) neg = s[i++] == '-';
	for (; i < n && s[i] >= '0' && s[i] <= '9'; i++, digits++) {
		v = v * 10 + (s[i] - '0');
		if (v > 2147483) return -1;
	}
	v *= 1000;
	if (i < n && s[i] == '.') {
		int32_t scale = 100;
		for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++, digits++) {
			v += (s[i] - '0') * scale; /* digits past thousandths are dropped */
			scale /= 10;
		}
	}
	if (i != n || digits == 0 || v > INT32_MAX) return -1;
	*milli = (int32_t)(neg ? -v : v);
	return 0;
}

/* ---- board ---- */

void rw_send(rw_board *b, rw_type t, const char *args, size_t len)
{
	char out[RW_MAX_FRAME];
	size_t n = rw_encode_frame(out, sizeof out, b->seq, t, args, len);
	if (!n) return;
	b->seq++;
	b->cfg.write(b->cfg.ctx, (const uint8_t *)out, n);
}

/* A small append-only text builder over a fixed buffer. */
typedef struct {
	char s[RW_MAX_FRAME];
	size_t n;
} rw_buf;

static void bs(rw_buf *w, const char *s)
{
	size_t l = strlen(s);
	if (w->n + l < sizeof w->s) { memcpy(w->s + w->n, s, l); w->n += l; }
}
static void bu(rw_buf *w, uint32_t v)
{
	if (w->n + 10 < sizeof w->s) w->n += put_uint(w->s + w->n, v);
}
static void bm(rw_buf *w, int32_t milli)
{
	if (w->n + 13 < sizeof w->s) w->n += rw_format_milli(w->s + w->n, milli);
}

static void announce(rw_board *b, uint32_t now)
{
	static const char *const kinds[] = {"ai", "di", "do"};
	rw_buf w = {{0}, 0};
	bu(&w, b->cfg.protocol_version ? b->cfg.protocol_version : RW_PROTOCOL_VERSION); bs(&w, ","); bs(&w, b->cfg.board_id); bs(&w, ",");
	bs(&w, b->cfg.firmware); bs(&w, ","); bu(&w, now - b->boot_ms); bs(&w, ","); bu(&w, b->cfg.nchannels);
	rw_send(b, RW_T_HELLO, w.s, w.n);
	for (uint8_t i = 0; i < b->cfg.nchannels; i++) {
		const rw_channel *c = &b->cfg.channels[i];
		w.n = 0;
		bu(&w, i); bs(&w, ","); bs(&w, c->name); bs(&w, ","); bs(&w, c->unit); bs(&w, ","); bs(&w, kinds[c->kind]);
		rw_send(b, RW_T_CH, w.s, w.n);
	}
}

void rw_init(rw_board *b, const rw_board_config *cfg, uint32_t now_ms)
{
	memset(b, 0, sizeof *b);
	b->cfg = *cfg;
	if (b->cfg.nchannels > RW_MAX_CHANNELS) b->cfg.nchannels = RW_MAX_CHANNELS;
	b->hb_ms = RW_DEFAULT_HB_MS;
	b->every_ms = RW_DEFAULT_EVERY_MS;
	b->boot_ms = b->last_hb = b->last_periodic = b->last_host = now_ms;
	announce(b, now_ms);
}

void rw_send_readings(rw_board *b)
{
	rw_buf w = {{0}, 0};
	for (uint8_t i = 0; i < b->cfg.nchannels; i++) {
		if (b->error[i]) {
			rw_buf e = {{0}, 0};
			bu(&e, i); bs(&e, ","); bs(&e, b->error[i]);
			rw_send(b, RW_T_E, e.s, e.n);
			continue;
		}
		if (!b->has_value[i]) continue;
		if (w.n > RW_MAX_FRAME - 40) { /* room for "$65535,R," + the pair + CRC and CR LF */
			rw_send(b, RW_T_R, w.s, w.n);
			w.n = 0;
		}
		if (w.n) bs(&w, ",");
		bu(&w, i); bs(&w, ","); bm(&w, b->value[i]);
	}
	if (w.n) rw_send(b, RW_T_R, w.s, w.n);
}

static void send_one(rw_board *b, uint8_t idx)
{
	rw_buf w = {{0}, 0};
	bu(&w, idx); bs(&w, ","); bm(&w, b->value[idx]);
	rw_send(b, RW_T_R, w.s, w.n);
}

static void drive(rw_board *b, uint8_t idx, int32_t milli)
{
	b->value[idx] = milli;
	b->has_value[idx] = 1;
	if (b->cfg.set_output) b->cfg.set_output(b->cfg.ctx, idx, milli);
	send_one(b, idx);
}

static void alarm(rw_board *b, uint8_t in, int on, const char *text)
{
	rw_buf w = {{0}, 0};
	bu(&w, in); bs(&w, on ? ",1," : ",0,"); bs(&w, text);
	rw_send(b, RW_T_ALM, w.s, w.n);
}

/* The fail-safe: with the host silent for silence_ms and the input past its threshold, drive the output
 * on. It stays on until the host takes over (OUT to that output, or FS cleared). */
static void check_failsafe(rw_board *b, uint32_t now)
{
	for (int i = 0; i < RW_MAX_FAILSAFE; i++) {
		rw_failsafe *fs = &b->fs[i];
		if (!fs->active || fs->tripped || !b->has_value[fs->in] || b->error[fs->in]) continue;
		int32_t v = b->value[fs->in];
		int crossed = fs->below ? v < fs->threshold : v > fs->threshold;
		if (crossed && (uint32_t)(now - b->last_host) >= fs->silence_ms) {
			fs->tripped = 1;
			drive(b, fs->out, 1000);
			alarm(b, fs->in, 1, "failsafe");
		}
	}
}

static void release_failsafes(rw_board *b, uint8_t out_or_in, int by_output)
{
	for (int i = 0; i < RW_MAX_FAILSAFE; i++) {
		rw_failsafe *fs = &b->fs[i];
		if (fs->active && fs->tripped && (by_output ? fs->out : fs->in) == out_or_in) {
			fs->tripped = 0;
			alarm(b, fs->in, 0, "host");
		}
	}
}

int rw_set_failsafe(rw_board *b, uint8_t in, uint8_t below, int32_t threshold, uint8_t out, uint32_t silence_ms)
{
	if (in >= b->cfg.nchannels || out >= b->cfg.nchannels || b->cfg.channels[out].kind != RW_DO ||
	    b->cfg.channels[in].kind == RW_DO)
		return -1;
	int slot = -1;
	for (int i = 0; i < RW_MAX_FAILSAFE; i++) {
		if (b->fs[i].active && b->fs[i].in == in) { slot = i; break; }
		if (!b->fs[i].active && slot < 0) slot = i;
	}
	if (slot < 0) return -2;
	rw_failsafe *fs = &b->fs[slot];
	uint8_t tripped = fs->active && fs->in == in ? fs->tripped : 0;
	fs->active = 1; fs->tripped = tripped; fs->below = below; fs->in = in; fs->out = out;
	fs->threshold = threshold; fs->silence_ms = silence_ms;
	return 0;
}

void rw_set_value(rw_board *b, uint8_t idx, int32_t milli, uint32_t now_ms)
{
	if (idx >= b->cfg.nchannels) return;
	int changed = !b->has_value[idx] || b->value[idx] != milli || b->error[idx];
	b->value[idx] = milli;
	b->has_value[idx] = 1;
	b->error[idx] = NULL;
	if (changed && b->cfg.channels[idx].kind == RW_DI) send_one(b, idx); /* an edge goes out at once */
	check_failsafe(b, now_ms);
}

void rw_set_error(rw_board *b, uint8_t idx, const char *reason)
{
	if (idx < b->cfg.nchannels) b->error[idx] = reason;
}

void rw_poll(rw_board *b, uint32_t now)
{
	if ((uint32_t)(now - b->last_hb) >= b->hb_ms) {
		b->last_hb = now;
		rw_buf w = {{0}, 0};
		bu(&w, now - b->boot_ms);
		rw_send(b, RW_T_HB, w.s, w.n);
	}
	if ((uint32_t)(now - b->last_periodic) >= b->every_ms) {
		b->last_periodic = now;
		rw_send_readings(b);
	}
	check_failsafe(b, now);
}

/* Splits args into up to max fields; returns the count. */
static int fields(const char *a, size_t n, const char **f, size_t *fl, int max)
{
	int k = 0;
	if (!a) return 0;
	size_t s = 0;
	for (size_t i = 0; i <= n && k < max; i++) {
		if (i == n || a[i] == ',') {
			f[k] = a + s; fl[k] = i - s; k++;
			s = i + 1;
		}
	}
	return k;
}

static int parse_u32(const char *s, size_t n, uint32_t *v)
{
	uint64_t x = 0;
	if (n == 0 || n > 10) return -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9') return -1;
		x = x * 10 + (uint64_t)(s[i] - '0');
	}
	if (x > 0xFFFFFFFFu) return -1;
	*v = (uint32_t)x;
	return 0;
}

static void reply(rw_board *b, uint16_t seq, const char *nak)
{
	rw_buf w = {{0}, 0};
	bu(&w, seq);
	if (nak) { bs(&w, ","); bs(&w, nak); }
	rw_send(b, nak ? RW_T_NAK : RW_T_ACK, w.s, w.n);
}

static void handle(rw_board *b, const rw_frame *f, uint32_t now)
{
	const char *a[8];
	size_t al[8];
	int n = fields(f->args, f->args_len, a, al, 8);
	uint32_t x, y, ms;
	int32_t milli;
	b->last_host = now; /* any valid frame proves the host is alive */
	switch (f->type) {
	case RW_T_HELLO:
		announce(b, now);
		return;
	case RW_T_HB:
		return;
	case RW_T_SET:
		if (n < 2 || parse_u32(a[1], al[1], &ms) || ms < 100 || ms > 3600000u) { reply(b, f->seq, "ARG"); return; }
		if (al[0] == 2 && !memcmp(a[0], "hb", 2)) b->hb_ms = ms;
		else if (al[0] == 5 && !memcmp(a[0], "every", 5)) b->every_ms = ms;
		else { reply(b, f->seq, "KEY"); return; }
		reply(b, f->seq, NULL);
		return;
	case RW_T_OUT:
		if (n < 2 || parse_u32(a[0], al[0], &x) || rw_parse_milli(a[1], al[1], &milli)) { reply(b, f->seq, "ARG"); return; }
		if (x >= b->cfg.nchannels) { reply(b, f->seq, "CH"); return; }
		if (b->cfg.channels[x].kind != RW_DO) { reply(b, f->seq, "RO"); return; }
		reply(b, f->seq, NULL);
		release_failsafes(b, (uint8_t)x, 1);
		drive(b, (uint8_t)x, milli);
		return;
	case RW_T_FS:
		if (n >= 2 && parse_u32(a[0], al[0], &x) == 0 && al[1] == 3 && !memcmp(a[1], "OFF", 3)) {
			if (x >= b->cfg.nchannels) { reply(b, f->seq, "CH"); return; }
			release_failsafes(b, (uint8_t)x, 0);
			for (int i = 0; i < RW_MAX_FAILSAFE; i++)
				if (b->fs[i].active && b->fs[i].in == x) b->fs[i].active = 0;
			reply(b, f->seq, NULL);
			return;
		}
		if (n < 5 || parse_u32(a[0], al[0], &x) || al[1] != 1 || (a[1][0] != 'A' && a[1][0] != 'B') ||
		    rw_parse_milli(a[2], al[2], &milli) || parse_u32(a[3], al[3], &y) || parse_u32(a[4], al[4], &ms) ||
		    ms < 100 || ms > 86400000u) {
			reply(b, f->seq, "ARG");
			return;
		}
		if (x >= b->cfg.nchannels || y >= b->cfg.nchannels) { reply(b, f->seq, "CH"); return; }
		if (rw_set_failsafe(b, (uint8_t)x, a[1][0] == 'B', milli, (uint8_t)y, ms)) { reply(b, f->seq, "RO"); return; }
		reply(b, f->seq, NULL);
		return;
	default: /* board-to-host types are not commands */
		reply(b, f->seq, "TYPE");
		return;
	}
}

static void error_reply(rw_board *b, const char *code)
{
	rw_send(b, RW_T_ERR, code, strlen(code));
}

void rw_feed(rw_board *b, const uint8_t *data, size_t n, uint32_t now)
{
	while (n > 0) {
		size_t room = sizeof b->rx - b->rxlen, k = n < room ? n : room;
		memcpy(b->rx + b->rxlen, data, k);
		b->rxlen += k;
		data += k;
		n -= k;
		for (;;) {
			if (b->rx_discard) {
				const uint8_t *p = memchr(b->rx, '$', b->rxlen);
				if (!p) { b->rxlen = 0; break; }
				b->rx_discard = 0;
				memmove(b->rx, p, b->rxlen - (size_t)(p - b->rx));
				b->rxlen -= (size_t)(p - b->rx);
			}
			rw_frame f;
			size_t used;
			rw_status st = rw_parse_frame(b->rx, b->rxlen, &f, &used);
			if (st == RW_SHORT) break;
			switch (st) {
			case RW_OK:
				b->rxc.frames++;
				if (b->cfg.on_host_frame) b->cfg.on_host_frame(b->cfg.ctx, &f);
				handle(b, &f, now);
				break;
			case RW_GARBAGE: b->rxc.garbage += (uint32_t)used; break;
			case RW_TRUNCATED: b->rxc.truncated++; break;
			case RW_TOOLONG: b->rxc.toolong++; b->rx_discard = 1; error_reply(b, "LEN"); break;
			case RW_BADCRC: b->rxc.badcrc++; error_reply(b, "CRC"); break;
			case RW_SYNTAX: b->rxc.syntax++; error_reply(b, "SYNTAX"); break;
			case RW_UNKNOWNTYPE: b->rxc.unknowntype++; reply(b, f.seq, "TYPE"); break;
			default: break;
			}
			memmove(b->rx, b->rx + used, b->rxlen - used);
			b->rxlen -= used;
		}
	}
}
