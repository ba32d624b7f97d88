package modbus

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	mb "github.com/simonvetter/modbus"

	"github.com/rackwatch/rackwatch/agent/driver"
	"github.com/rackwatch/rackwatch/agent/settings"
)

// Bus type names in the config.
const (
	BusRTU = "modbus-rtu"
	BusTCP = "modbus-tcp"
)

// Defaults for the bus keys. RTU follows the serial-line spec (19200 baud, 8E1); the timeout is short so
// that a dead unit costs the other units on the line little, yet long enough for a full 125-register
// answer (255 bytes) at 9600 baud (about 290 ms) plus the device's own turnaround.
const (
	DefaultBaud       = 19200
	DefaultRTUTimeout = 500 * time.Millisecond
	DefaultTCPTimeout = time.Second
	DefaultTCPPort    = "502"
)

// BusConfig is everything needed to open a bus. Zero fields take the defaults above.
type BusConfig struct {
	// TCP is true for Modbus TCP, false for RTU.
	TCP bool
	// Address is host:port for TCP, the serial device path for RTU.
	Address  string
	Baud     int
	Parity   string // none, even, odd
	StopBits int
	Timeout  time.Duration
}

// WithDefaults returns c with its zero fields set to the defaults: for RTU 19200 baud, even parity and
// one stop bit (two without parity, so that every character stays 11 bits long, as the serial-line spec
// asks) and DefaultRTUTimeout; for TCP DefaultTCPTimeout and port 502.
func (c BusConfig) WithDefaults() BusConfig {
	d := c
	if d.TCP {
		if d.Timeout == 0 {
			d.Timeout = DefaultTCPTimeout
		}
		if _, _, err := net.SplitHostPort(d.Address); err != nil && d.Address != "" {
			d.Address = net.JoinHostPort(d.Address, DefaultTCPPort)
		}
		return d
	}
	if d.Baud == 0 {
		d.Baud = DefaultBaud
	}
	if d.Parity == "" {
		d.Parity = "even"
	}
	if d.StopBits == 0 {
		// The serial-line spec keeps every character 11 bits long: no parity means two stop bits.
		d.StopBits = 1
		if d.Parity == "none" {
			d.StopBits = 2
		}
	}
	if d.Timeout == 0 {
		d.Timeout = DefaultRTUTimeout
	}
	return d
}

// String names the bus in errors and logs: "tcp 10.0.0.20:502" or "rtu /dev/ttyUSB0 9600 8E1".
func (c *BusConfig) String() string {
	if c.TCP {
		return "tcp " + c.Address
	}
	return fmt.Sprintf("rtu %s %d 8%c%d", c.Address, c.Baud, strings.ToUpper(c.Parity)[0], c.StopBits)
}

func (c *BusConfig) validate() error {
	var problems []string
	if c.Address == "" {
		if c.TCP {
			problems = append(problems, "address is required (host:port, e.g. 10.0.0.20:502)")
		} else {
			problems = append(problems, "device is required (e.g. /dev/ttyUSB0 or /dev/serial/by-id/...)")
		}
	}
	if !c.TCP {
		switch c.Baud {
		case 0, 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400:
		default:
			problems = append(problems, fmt.Sprintf("baud %d: use 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200 or 230400", c.Baud))
		}
		switch c.Parity {
		case "", "none", "even", "odd":
		default:
			problems = append(problems, fmt.Sprintf("parity %q: use none, even or odd", c.Parity))
		}
		if c.StopBits != 0 && c.StopBits != 1 && c.StopBits != 2 {
			problems = append(problems, fmt.Sprintf("stop_bits %d: use 1 or 2", c.StopBits))
		}
	}
	if c.Timeout < 0 || c.Timeout > 10*time.Second {
		problems = append(problems, fmt.Sprintf("timeout %s: use up to 10s (a long timeout lets one dead unit hold the whole bus)", c.Timeout))
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

// rtuOptions and tcpOptions are the config keys of the two bus types.
type rtuOptions struct {
	Device   string            `yaml:"device"`
	Baud     int               `yaml:"baud"`
	Parity   string            `yaml:"parity"`
	StopBits int               `yaml:"stop_bits"`
	Timeout  settings.Duration `yaml:"timeout"`
}

type tcpOptions struct {
	Address string            `yaml:"address"`
	Timeout settings.Duration `yaml:"timeout"`
}

// BusConfigFromConfig decodes a configured bus of type modbus-rtu or modbus-tcp.
func BusConfigFromConfig(b *driver.Bus) (BusConfig, error) {
	var bc BusConfig
	var key string
	switch b.Type {
	case BusRTU:
		var o rtuOptions
		if err := b.Options.Decode(&o); err != nil {
			return bc, err
		}
		bc = BusConfig{Address: o.Device, Baud: o.Baud, Parity: o.Parity, StopBits: o.StopBits, Timeout: o.Timeout.D()}
		key = "device"
	case BusTCP:
		var o tcpOptions
		if err := b.Options.Decode(&o); err != nil {
			return bc, err
		}
		bc = BusConfig{TCP: true, Address: o.Address, Timeout: o.Timeout.D()}
		key = "address"
	default:
		return bc, fmt.Errorf("modbus: bus %q has type %q, not %s or %s", b.ID, b.Type, BusRTU, BusTCP)
	}
	if err := bc.validate(); err != nil {
		return bc, settings.Errorf(b.Options, key, "bus %q: %v", b.ID, err)
	}
	return bc.WithDefaults(), nil
}

// ParseBusURL parses the command line's bus form: tcp://host[:port][?timeout=1s] or
// rtu:///dev/ttyUSB0?baud=9600&parity=even&stop_bits=1&timeout=500ms.
func ParseBusURL(s string) (BusConfig, error) {
	u, err := url.Parse(s)
	if err != nil {
		return BusConfig{}, fmt.Errorf("modbus: bus %q: %w", s, err)
	}
	var bc BusConfig
	q := u.Query()
	switch u.Scheme {
	case "tcp":
		bc = BusConfig{TCP: true, Address: u.Host}
	case "rtu":
		bc = BusConfig{Address: u.Path}
		if u.Host != "" { // rtu://dev/ttyUSB0 lost its leading slash to the host part
			bc.Address = "/" + u.Host + u.Path
		}
		for key, dst := range map[string]*int{"baud": &bc.Baud, "stop_bits": &bc.StopBits} {
			if v := q.Get(key); v != "" {
				if *dst, err = strconv.Atoi(v); err != nil {
					return bc, fmt.Errorf("modbus: bus %q: %s %q is not a number", s, key, v)
				}
			}
		}
		bc.Parity = q.Get("parity")
	default:
		return bc, fmt.Errorf("modbus: bus %q: use tcp://HOST:PORT or rtu:///dev/ttyUSB0?baud=9600&parity=even", s)
	}
	if v := q.Get("timeout"); v != "" {
		if bc.Timeout, err = time.ParseDuration(v); err != nil {
			return bc, fmt.Errorf("modbus: bus %q: timeout %q: %w", s, v, err)
		}
	}
	for key := range q {
		switch key {
		case "timeout", "baud", "parity", "stop_bits":
		default:
			return bc, fmt.Errorf("modbus: bus %q: unknown parameter %q (known: baud, parity, stop_bits, timeout)", s, key)
		}
	}
	if err := bc.validate(); err != nil {
		return bc, fmt.Errorf("modbus: bus %q: %v", s, err)
	}
	return bc.WithDefaults(), nil
}

// Bus is one Modbus line (a serial port or a TCP connection to a device or gateway) shared by every
// device on it. The agent reads all sensors of a bus from one goroutine; the mutex makes the pair
// "select unit id, send request" atomic for other users too (the CLI, tests). The connection is opened
// on first use and reopened after I/O errors, with backoff, so an adapter plugged in late or a gateway
// that reboots recovers without a restart.
type Bus struct {
	mu     sync.Mutex
	cfg    BusConfig
	name   string
	client *mb.ModbusClient
	// Reconnect state: after a failed open, requests fail fast until retryAt.
	openFails int
	retryAt   time.Time
	openErr   error
	// timeouts counts consecutive TCP timeouts; a connection that only times out is assumed half-open.
	timeouts int
	// requests counts requests put on the wire, for tests and self-monitoring.
	requests uint64
	now      func() time.Time
	log      *slog.Logger
	libLog   *log.Logger
}

// Reconnect backoff bounds.
const (
	reopenBase = time.Second
	reopenMax  = 30 * time.Second
	// tcpStaleAfter consecutive timeouts drop a TCP connection: a gateway that rebooted without a RST
	// leaves a socket that never answers again.
	tcpStaleAfter = 2
)

// NewBus returns a bus; it connects on first use.
func NewBus(cfg BusConfig, logger *slog.Logger) (*Bus, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("modbus: %v", err)
	}
	cfg = cfg.WithDefaults()
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	b := &Bus{cfg: cfg, name: cfg.String(), now: time.Now, log: logger.With("bus", cfg.String())}
	// The library writes its own diagnostics to stdout unless given a logger; route them to debug.
	b.libLog = log.New(libWriter{b.log}, "", 0)
	return b, nil
}

// Config returns the bus's settings with defaults applied.
func (b *Bus) Config() BusConfig { return b.cfg }

// Requests returns how many requests were sent on the wire so far.
func (b *Bus) Requests() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.requests
}

type libWriter struct{ log *slog.Logger }

func (w libWriter) Write(p []byte) (int, error) {
	w.log.Debug("modbus library", "msg", strings.TrimSpace(string(p)))
	return len(p), nil
}

// connect returns the open client, opening it if needed. Called with mu held.
func (b *Bus) connect() (*mb.ModbusClient, error) {
	if b.client != nil {
		return b.client, nil
	}
	now := b.now()
	if now.Before(b.retryAt) {
		return nil, fmt.Errorf("modbus: %s not connected (retry in %s): %w", b.name, b.retryAt.Sub(now).Round(100*time.Millisecond), b.openErr)
	}
	c, err := b.open()
	if err != nil {
		b.openFails++
		b.retryAt = now.Add(driver.Backoff(b.openFails-1, reopenBase, reopenMax))
		b.openErr = err
		if b.openFails == 1 {
			b.log.Warn("modbus: cannot open bus", "err", err)
		}
		return nil, fmt.Errorf("modbus: %s: %w", b.name, err)
	}
	if b.openFails > 0 {
		b.log.Info("modbus: bus open again", "after_failures", b.openFails)
	}
	b.openFails, b.openErr, b.client, b.timeouts = 0, nil, c, 0
	return c, nil
}

func (b *Bus) open() (*mb.ModbusClient, error) {
	cc := &mb.ClientConfiguration{Timeout: b.cfg.Timeout, Logger: b.libLog}
	if b.cfg.TCP {
		cc.URL = "tcp://" + b.cfg.Address
	} else {
		cc.URL = "rtu://" + b.cfg.Address
		cc.Speed = uint(b.cfg.Baud)
		cc.DataBits = 8
		cc.StopBits = uint(b.cfg.StopBits)
		switch b.cfg.Parity {
		case "none":
			cc.Parity = mb.PARITY_NONE
		case "odd":
			cc.Parity = mb.PARITY_ODD
		default:
			cc.Parity = mb.PARITY_EVEN
		}
	}
	c, err := mb.NewClient(cc)
	if err != nil {
		return nil, err
	}
	if err := c.Open(); err != nil {
		return nil, OpenHint(err)
	}
	return c, nil
}

// OpenHint adds what an installer should check to the common failures of opening a bus (a serial port's
// permissions, an adapter that is not plugged in, nothing listening at a TCP address).
func OpenHint(err error) error {
	switch {
	case errors.Is(err, syscall.EACCES) || errors.Is(err, os.ErrPermission):
		return fmt.Errorf("%w (add the user running rackwatch to the dialout group)", err)
	case errors.Is(err, syscall.ENOENT):
		return fmt.Errorf("%w (is the USB adapter plugged in? see ls -l /dev/serial/by-id/)", err)
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("%w (nothing listens there: check the address and the device's Modbus TCP setting)", err)
	}
	return err
}

// drop closes a connection that can no longer be trusted; the next request reopens it.
func (b *Bus) drop(reason error) {
	if b.client == nil {
		return
	}
	b.log.Info("modbus: reconnecting", "reason", reason)
	_ = b.client.Close()
	b.client = nil
}

// ReadRegisters reads n holding or input registers of one unit, starting at addr.
func (b *Bus) ReadRegisters(unit uint8, t Table, addr, n uint16) ([]uint16, error) {
	if t != Holding && t != Input {
		return nil, fmt.Errorf("modbus: ReadRegisters needs the holding or input table, not %s", t)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	c, err := b.connect()
	if err != nil {
		return nil, err
	}
	regType := mb.HOLDING_REGISTER
	if t == Input {
		regType = mb.INPUT_REGISTER
	}
	_ = c.SetUnitId(unit)
	b.requests++
	regs, err := c.ReadRegisters(addr, n, regType)
	return regs, b.result(err, unit, t, addr, n)
}

// ReadBits reads n coils or discrete inputs of one unit, starting at addr.
func (b *Bus) ReadBits(unit uint8, t Table, addr, n uint16) ([]bool, error) {
	if !t.IsBits() {
		return nil, fmt.Errorf("modbus: ReadBits needs the coil or discrete table, not %s", t)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	c, err := b.connect()
	if err != nil {
		return nil, err
	}
	_ = c.SetUnitId(unit)
	b.requests++
	var bits []bool
	if t == Coil {
		bits, err = c.ReadCoils(addr, n)
	} else {
		bits, err = c.ReadDiscreteInputs(addr, n)
	}
	return bits, b.result(err, unit, t, addr, n)
}

// result classifies a request's error (called with mu held): Modbus-level answers keep the connection;
// anything else is an I/O failure that makes the connection suspect.
func (b *Bus) result(err error, unit uint8, t Table, addr, n uint16) error {
	if err == nil {
		b.timeouts = 0
		return nil
	}
	var me mb.Error
	switch {
	case errors.Is(err, mb.ErrRequestTimedOut):
		b.timeouts++
		if b.cfg.TCP && b.timeouts >= tcpStaleAfter {
			b.drop(err)
		}
	case errors.As(err, &me):
		b.timeouts = 0
		switch {
		case b.cfg.TCP && (me == mb.ErrProtocolError || me == mb.ErrShortFrame):
			b.drop(err) // a TCP stream out of step cannot be resynchronised
		case !b.cfg.TCP && me == mb.ErrBadUnitId:
			// A whole frame from another unit: most likely a late answer to a request that timed out,
			// with this request's answer still to come. Reopening drains the line so that it cannot
			// shift every later answer by one.
			b.drop(err)
		}
	default:
		b.drop(err)
	}
	return fmt.Errorf("modbus: %s unit %d %s %d+%d: %w", b.name, unit, t, addr, n, err)
}

// Close closes the connection. The bus may be used again afterwards; it reconnects.
func (b *Bus) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.client == nil {
		return nil
	}
	err := b.client.Close()
	b.client = nil
	return err
}

// ReadValues is a one-shot read for the command line: count values of type t (or bits) from addr.
func (b *Bus) ReadValues(ctx context.Context, unit uint8, t Table, addr uint16, count int, typ Type, order WordOrder) ([]float64, []uint64, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	if t.IsBits() {
		bits, err := b.ReadBits(unit, t, addr, uint16(count))
		if err != nil {
			return nil, nil, err
		}
		vals, raws := make([]float64, len(bits)), make([]uint64, len(bits))
		for i, v := range bits {
			if v {
				vals[i], raws[i] = 1, 1
			}
		}
		return vals, raws, nil
	}
	w := typ.Words()
	if count*w > maxReadRegisters {
		return nil, nil, fmt.Errorf("modbus: %d × %s is %d registers, more than the %d one request may read", count, typ, count*w, maxReadRegisters)
	}
	regs, err := b.ReadRegisters(unit, t, addr, uint16(count*w))
	if err != nil {
		return nil, nil, err
	}
	vals, raws := make([]float64, count), make([]uint64, count)
	for i := range vals {
		raws[i], _ = Raw(regs[i*w:], typ, order)
		vals[i] = Value(raws[i], typ)
	}
	return vals, raws, nil
}

var _ io.Closer = (*Bus)(nil)
