/*
 * rwproto: the board side of the rackwatch firmware-bridge protocol (see ../PROTOCOL.md), in portable C99.
 *
 * This core makes no hardware calls. The sketch (or the emulator, or a test) gives it bytes from the host
 * with rw_feed, input values with rw_set_value, and calls rw_poll from its main loop with a millisecond
 * clock; the core answers through the write and set_output callbacks. Everything is static: no malloc,
 * one receive buffer of RW_MAX_FRAME bytes, values in fixed point (thousandths) so 8-bit boards need no
 * floating point.
 */
#ifndef RWPROTO_H
#define RWPROTO_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" { /* the Arduino sketch is C++ */
#endif

#define RW_PROTOCOL_VERSION 1
#define RW_MAX_FRAME 128 /* from '$' to '\n' inclusive */
#ifndef RW_MAX_CHANNELS
#define RW_MAX_CHANNELS 16
#endif
#ifndef RW_MAX_FAILSAFE
#define RW_MAX_FAILSAFE 4
#endif
#define RW_DEFAULT_HB_MS 1000u
#define RW_DEFAULT_EVERY_MS 5000u

/* ---- codec ---- */

typedef enum {
	RW_OK = 0,
	RW_SHORT,       /* need more bytes; consumed is 0 */
	RW_GARBAGE,     /* bytes before a '$' */
	RW_TRUNCATED,   /* a '$' inside a frame */
	RW_TOOLONG,     /* no '\n' within RW_MAX_FRAME bytes */
	RW_BADCRC,
	RW_SYNTAX,
	RW_UNKNOWNTYPE
} rw_status;

typedef enum {
	RW_T_INVALID = 0,
	RW_T_HELLO, RW_T_CH, RW_T_R, RW_T_E, RW_T_HB, RW_T_ALM,
	RW_T_ACK, RW_T_NAK, RW_T_ERR, RW_T_SET, RW_T_OUT, RW_T_FS,
	RW_T_COUNT
} rw_type;

typedef struct {
	uint16_t seq;
	rw_type type;
	const char *args; /* points into the parsed bytes; not NUL-terminated */
	size_t args_len;
} rw_frame;

uint16_t rw_crc16(const uint8_t *p, size_t n);
const char *rw_type_name(rw_type t);
const char *rw_status_name(rw_status s);
/* Parses the frame at the start of b (same contract as the Go ParseFrame): on RW_SHORT *consumed is 0,
 * on anything else skip *consumed bytes before trying again. */
rw_status rw_parse_frame(const uint8_t *b, size_t n, rw_frame *f, size_t *consumed);
/* Encodes "$seq,TYPE[,args]*CRC\r\n" into dst; returns its length, or 0 if it does not fit. */
size_t rw_encode_frame(char *dst, size_t cap, uint16_t seq, rw_type t, const char *args, size_t args_len);
/* Formats a thousandths value as a decimal ("23.45", "-0.5", "1"); returns the length. dst needs 13 bytes. */
size_t rw_format_milli(char *dst, int32_t milli);
/* Parses a decimal ("0.5", "-12", "23.456") into thousandths; returns 0 on success. */
int rw_parse_milli(const char *s, size_t n, int32_t *milli);

/* ---- board ---- */

typedef enum { RW_AI = 0, RW_DI, RW_DO } rw_kind; /* analog in (periodic), digital in (edges at once), output */

typedef struct {
	const char *name; /* rackwatch channel name: temperature, smoke, h2, ... */
	const char *unit; /* C, %RH, hPa, V, A, W, %, s, ppm, ppb, or - for none */
	rw_kind kind;
} rw_channel;

typedef struct {
	const char *board_id; /* at most 32 characters, no ',', '$' or '*': HELLO must fit in one frame */
	const char *firmware; /* likewise, e.g. "1.0.0" */
	const rw_channel *channels;
	uint8_t nchannels;
	void (*write)(void *ctx, const uint8_t *b, size_t n);
	void (*set_output)(void *ctx, uint8_t idx, int32_t milli);
	/* Optional: called for every valid frame from the host, before it is applied (debugging, tests). */
	void (*on_host_frame)(void *ctx, const rw_frame *f);
	void *ctx;
	/* The version announced in HELLO; 0 means RW_PROTOCOL_VERSION (other values only to test hosts). */
	uint8_t protocol_version;
} rw_board_config;

typedef struct {
	uint8_t active, tripped, below, in, out;
	int32_t threshold; /* thousandths */
	uint32_t silence_ms;
} rw_failsafe;

typedef struct {
	uint32_t frames, garbage, truncated, toolong, badcrc, syntax, unknowntype;
} rw_rx_counters;

typedef struct {
	rw_board_config cfg;
	uint16_t seq;
	uint8_t rx[RW_MAX_FRAME];
	size_t rxlen;
	uint8_t rx_discard;
	int32_t value[RW_MAX_CHANNELS];
	uint8_t has_value[RW_MAX_CHANNELS];
	const char *error[RW_MAX_CHANNELS];
	uint32_t hb_ms, every_ms;
	uint32_t boot_ms, last_hb, last_periodic, last_host;
	rw_failsafe fs[RW_MAX_FAILSAFE];
	rw_rx_counters rxc;
} rw_board;

/* Starts the board and announces it (HELLO and the channel list), as after every power-up. */
void rw_init(rw_board *b, const rw_board_config *cfg, uint32_t now_ms);
/* Bytes received from the host. */
void rw_feed(rw_board *b, const uint8_t *data, size_t n, uint32_t now_ms);
/* Call often from the main loop: heartbeats, periodic readings, the fail-safe. */
void rw_poll(rw_board *b, uint32_t now_ms);
/* A new value of an input. A digital input that changes is sent at once; analog ones go out periodically. */
void rw_set_value(rw_board *b, uint8_t idx, int32_t milli, uint32_t now_ms);
/* The input cannot be read (reason: a short token, no commas); cleared by the next rw_set_value. */
void rw_set_error(rw_board *b, uint8_t idx, const char *reason);
/* Configures a fail-safe locally (e.g. compiled-in defaults that hold before any host appears). */
int rw_set_failsafe(rw_board *b, uint8_t in, uint8_t below, int32_t threshold, uint8_t out, uint32_t silence_ms);
/* Sends one frame (used by the core; exposed for the emulator's fault injection). */
void rw_send(rw_board *b, rw_type t, const char *args, size_t len);
/* Sends the readings of all channels that have a value (several R frames if needed). */
void rw_send_readings(rw_board *b);

#ifdef __cplusplus
}
#endif

#endif
