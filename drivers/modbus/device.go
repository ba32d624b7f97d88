package modbus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	mb "github.com/simonvetter/modbus"

	"github.com/rackwatch/rackwatch/agent/driver"
)

// Device is one Modbus unit on a bus, read from its register map. It is a driver.Poller.
type Device struct {
	bus    *Bus
	unit   uint8
	points []point
	blocks []block
	every  time.Duration
	// vals and errs hold one read's per-point results; allocated once so a read allocates nothing of ours.
	vals []float64
	errs []error
	// Backoff state: after consecutive device failures the device is skipped until retryAt.
	fails   int
	retryAt time.Time
	lastErr error
	now     func() time.Time
	log     *slog.Logger
	// counts feed Counters (read from the metrics goroutine, hence atomics).
	counts [numCounts]atomic.Uint64
}

// What Counters reports, by kind.
const (
	countRequests = iota
	countTimeouts
	countBadFrames
	countExceptions
	countSkipped
	numCounts
)

var countNames = [numCounts]string{"requests", "timeouts", "bad_frames", "exceptions", "skipped_backoff"}

// Counters implements driver.Counters: requests sent, and the failures by kind, for /metrics.
func (d *Device) Counters() map[string]uint64 {
	m := make(map[string]uint64, numCounts)
	for i := range d.counts {
		m[countNames[i]] = d.counts[i].Load()
	}
	return m
}

func (d *Device) count(err error) {
	if err == nil {
		return
	}
	var me mb.Error
	switch {
	case errors.Is(err, mb.ErrRequestTimedOut):
		d.counts[countTimeouts].Add(1)
	case errors.Is(err, mb.ErrBadCRC), errors.Is(err, mb.ErrShortFrame), errors.Is(err, mb.ErrProtocolError),
		errors.Is(err, mb.ErrBadUnitId), errors.Is(err, mb.ErrBadTransactionId):
		d.counts[countBadFrames].Add(1)
	case errors.As(err, &me):
		d.counts[countExceptions].Add(1)
	}
}

// maxDeviceBackoff caps how long a failing device is left alone.
const maxDeviceBackoff = 30 * time.Second

// ErrBackoff marks the readings of a device that is skipped after failing; the cause is wrapped too.
var ErrBackoff = errors.New("modbus: device not answering, backing off")

// DeviceConfig describes one device for NewDevice.
type DeviceConfig struct {
	Unit      uint8
	Registers []RegSpec
	// MaxRegisters is the largest request the device accepts (1..125, default 125); Gap is how many
	// unused addresses a merged request may read across (default 0).
	MaxRegisters int
	Gap          int
	// Every is the poll interval; backoff is counted in polls.
	Every time.Duration
}

// NewDevice checks a register map and plans its requests.
func NewDevice(bus *Bus, cfg DeviceConfig, logger *slog.Logger) (*Device, error) {
	var errs []error
	points := make([]point, 0, len(cfg.Registers))
	seen := map[string]bool{}
	for i := range cfg.Registers {
		p, ok := compile(&cfg.Registers[i], func(line int, format string, args ...any) {
			errs = append(errs, fmt.Errorf(format, args...))
		})
		if ok {
			if seen[string(p.ch)] {
				errs = append(errs, fmt.Errorf("channel %q appears twice", p.ch))
			}
			seen[string(p.ch)] = true
			points = append(points, p)
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("modbus: %w", errors.Join(errs...))
	}
	return newDevice(bus, cfg, points, logger)
}

func newDevice(bus *Bus, cfg DeviceConfig, points []point, logger *slog.Logger) (*Device, error) {
	maxRegs := cfg.MaxRegisters
	if maxRegs == 0 {
		maxRegs = maxReadRegisters
	}
	blocks, err := plan(points, maxRegs, cfg.Gap)
	if err != nil {
		return nil, fmt.Errorf("modbus: %w", err)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	every := cfg.Every
	if every <= 0 {
		every = time.Second
	}
	return &Device{
		bus: bus, unit: cfg.Unit, points: points, blocks: blocks, every: every,
		vals: make([]float64, len(points)), errs: make([]error, len(points)),
		now: time.Now, log: logger,
	}, nil
}

// Requests is the number of requests one read of the device sends.
func (d *Device) Requests() int { return len(d.blocks) }

// Read reads every block of the device and appends one sample per register-map entry, in map order.
//
// Failures are sorted by who is at fault. An exception that names the request (illegal address,
// function or value) marks only that block's channels bad: the device is alive and its other blocks are
// still worth reading. Silence, a corrupt answer, "busy" or a gateway that cannot reach the unit mean
// the device as a whole is unavailable: the read stops at once (so a dead unit costs the bus one
// timeout, not one per block), every channel goes bad, and the device backs off: it skips 1, 3, 7 …
// polls (up to 30 s) without touching the wire, so the other units on a shared line keep their rhythm.
func (d *Device) Read(ctx context.Context, out []driver.Sample) ([]driver.Sample, error) {
	start := d.now()
	if start.Before(d.retryAt) {
		d.counts[countSkipped].Add(1)
		return out, fmt.Errorf("%w (unit %d, %d failures, next try in %s): %w",
			ErrBackoff, d.unit, d.fails, d.retryAt.Sub(start).Round(time.Millisecond), d.lastErr)
	}
	for i := range d.blocks {
		b := &d.blocks[i]
		if err := d.timeLeft(ctx); err != nil {
			d.setErr(b, err)
			continue
		}
		d.counts[countRequests].Add(1)
		if b.table.IsBits() {
			bits, err := d.bus.ReadBits(d.unit, b.table, b.addr, b.n)
			d.count(err)
			if err != nil {
				if d.deviceDown(err) {
					return out, d.fail(start, err)
				}
				d.setErr(b, err)
				continue
			}
			for _, pi := range b.points {
				p := &d.points[pi]
				d.vals[pi], d.errs[pi] = p.bitValue(bits[p.addr-b.addr:]), nil
			}
			continue
		}
		regs, err := d.bus.ReadRegisters(d.unit, b.table, b.addr, b.n)
		d.count(err)
		if err != nil {
			if d.deviceDown(err) {
				return out, d.fail(start, err)
			}
			d.setErr(b, err)
			continue
		}
		for _, pi := range b.points {
			p := &d.points[pi]
			d.vals[pi], d.errs[pi] = p.regValue(regs[p.addr-b.addr:])
		}
	}
	if d.fails > 0 {
		d.log.Info("modbus: device answers again", "unit", d.unit, "after_failures", d.fails)
	}
	d.fails, d.lastErr, d.retryAt = 0, nil, time.Time{}
	for i := range d.points {
		out = append(out, driver.Sample{Channel: d.points[i].ch, Value: d.vals[i], Err: d.errs[i]})
	}
	return out, nil
}

// timeLeft stops a read whose context is done. A request in flight cannot be interrupted, but a read
// costs at most its successful requests plus one timeout: the first device-level failure ends it.
func (d *Device) timeLeft(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("modbus: unit %d: read cut short: %w", d.unit, err)
	}
	return nil
}

func (d *Device) setErr(b *block, err error) {
	for _, pi := range b.points {
		d.vals[pi], d.errs[pi] = 0, err
	}
}

// deviceDown reports whether err means the unit as a whole cannot be read right now.
func (d *Device) deviceDown(err error) bool {
	for _, e := range []error{mb.ErrIllegalDataAddress, mb.ErrIllegalFunction, mb.ErrIllegalDataValue} {
		if errors.Is(err, e) {
			return false
		}
	}
	return true
}

// fail records a device failure and schedules the next attempt. Backoff is counted in polls: the
// first failure retries at the next poll (one lost answer is common on RS-485), then 2, 4, 8 … polls
// later. Half a poll of slack keeps a slightly early tick from being skipped.
func (d *Device) fail(start time.Time, err error) error {
	d.fails++
	d.lastErr = err
	wait := driver.Backoff(d.fails-1, d.every, max(maxDeviceBackoff, d.every))
	d.retryAt = start.Add(wait - d.every/2)
	if d.fails == 1 {
		d.log.Warn("modbus: device not answering", "unit", d.unit, "err", err)
	}
	return err
}

// Close does nothing: the bus belongs to the agent, which closes it once every device is done.
func (d *Device) Close() error { return nil }

var (
	_ driver.Poller   = (*Device)(nil)
	_ driver.Counters = (*Device)(nil)
)
