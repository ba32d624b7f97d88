package i2cbus

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
)

// ErrCRC is wrapped by every CRC mismatch in a chip's answer (Words, and chips that check their own).
var ErrCRC = errors.New("CRC mismatch")

// Problem kinds counted by Tally; they appear in /metrics as rackwatch_driver_events_total{kind}.
const (
	KindBusError  = "bus_error"  // NACK, arbitration lost, adapter error: usually wiring or an unplugged sensor
	KindCRC       = "crc_error"  // garbled answer: noise, too long a bus, too many pull-ups
	KindWrongChip = "wrong_chip" // something else answers at the address
	KindNotReady  = "not_ready"  // warming up or between measurement periods
	KindTimeout   = "timeout"    // the read outlasted the sensor's timeout
	KindInvalid   = "invalid"    // an answer that decodes but cannot be a reading (power-on value, full scale)
	KindReinit    = "reinit"     // the chip was initialised again after a failure
)

var kinds = [...]string{KindBusError, KindCRC, KindWrongChip, KindNotReady, KindTimeout, KindInvalid, KindReinit}

// Tally counts a device's problems by kind and logs the first of each kind, so a flaky sensor shows in
// /metrics without flooding the log. It is safe for concurrent use (reads on the bus goroutine, Counters
// from the HTTP server).
type Tally struct {
	n      [len(kinds)]atomic.Uint64
	logged [len(kinds)]atomic.Bool
}

// Classify names the kind of a read error.
func Classify(err error) string {
	switch {
	case errors.Is(err, ErrNotReady):
		return KindNotReady
	case errors.Is(err, ErrCRC):
		return KindCRC
	case errors.Is(err, ErrWrongChip):
		return KindWrongChip
	case errors.Is(err, context.DeadlineExceeded):
		return KindTimeout
	case errors.Is(err, ErrInvalid):
		return KindInvalid
	}
	return KindBusError
}

// ErrInvalid is wrapped by answers that decode but cannot be a value (a sensor's power-on value).
var ErrInvalid = errors.New("invalid value")

// Add counts one event of kind; the first of each kind is logged at warning level with err.
func (t *Tally) Add(kind string, log *slog.Logger, err error) {
	for i, k := range kinds {
		if k != kind {
			continue
		}
		t.n[i].Add(1)
		if log != nil && err != nil && !t.logged[i].Swap(true) {
			log.Warn("sensor problem (logged once per kind; see rackwatch_driver_events_total)", "kind", kind, "err", err)
		}
		return
	}
}

// Counters implements driver.Counters.
func (t *Tally) Counters() map[string]uint64 {
	m := make(map[string]uint64, len(kinds))
	for i, k := range kinds {
		if v := t.n[i].Load(); v > 0 {
			m[k] = v
		}
	}
	return m
}
