package fwbridge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rackwatch/rackwatch/agent/driver"
	"github.com/rackwatch/rackwatch/agent/reading"
	"github.com/rackwatch/rackwatch/agent/settings"
)

// Limits the host applies to a board.
const (
	// MaxChannels is the most channels a board may declare.
	MaxChannels = 64
	// floodRate and floodBurst bound the frames per second taken from one board; beyond that frames are
	// dropped and counted, so a babbling board cannot swamp the agent. A legitimate board batches readings
	// (several per R frame) and stays far below.
	floodRate  = 200
	floodBurst = 200
	// replayResync is how many consecutive old sequence numbers make the host assume the board restarted
	// without its HELLO getting through, and ask for a new handshake.
	replayResync = 8
)

// Device is an opened `bridge` sensor: a driver.Streamer that keeps one board's serial line up.
type Device struct {
	id       string
	o        *Options
	every    time.Duration
	open     Opener
	log      *slog.Logger
	declared []reading.Channel
	counts   Counters

	resets     atomic.Uint64
	hbLost     atomic.Uint64
	opens      atomic.Uint64
	frames     atomic.Uint64
	boardNAKs  atomic.Uint64
	boardErrs  atomic.Uint64
	loggedErrs atomic.Bool

	// mu guards the session state below. emit is called with mu held, which serialises the reader's and
	// the ticker's samples.
	mu   sync.Mutex
	emit func(driver.Sample)
	conn *Conn
	// write queues an encoded frame for the line; nil while no line is open.
	write      func([]byte) error
	boardID    string
	firmware   string
	chans      []chanState
	expect     int
	verifying  bool // a repeated HELLO from the same board: its CH list is checked against chans
	verified   int
	ready      bool
	wasReady   bool
	helloAt    time.Time
	haveSeq    bool
	lastSeq    uint16
	replays    int
	lastFrame  time.Time
	haveUptime bool
	lastUptime uint32
	stale      bool
	tokens     float64
	tokensAt   time.Time
	pending    map[uint16]pendingCmd
	lastDown   string
	hbSent     time.Time
	lastSig    string // board id, firmware and channels last logged as connected
}

// pendingCmd is a host command waiting for the board's ACK or NAK. A command nobody waits for (the
// settings sent after a handshake) has no reply channel; a refusal is logged instead.
type pendingCmd struct {
	reply chan error
	what  string
	sent  time.Time
	// A setting is sent again when its reply does not come: on a two-wire RS-485 line the host's frame
	// can collide with one the board sends at the same moment, and both are lost.
	typ   Type
	args  []byte
	tries int
}

// Timing of replies to host commands.
const (
	replyTimeout = 10 * time.Second // a SetOutput's entry is dropped after this
	settingRetry = time.Second      // an unanswered setting is sent again after this
	settingTries = 3                // times a setting is sent before giving up
)

type chanState struct {
	ch   reading.Channel
	unit string
	kind string // ai, di or do
	bad  error  // set when the board's declaration cannot be used (wrong unit)
}

// New returns a device for the board on o.Device; zero options take their defaults. every is the interval
// the board is asked to send its periodic readings at; open opens the serial line (SerialOpener, or a pty
// in tests).
func New(id string, o *Options, every time.Duration, open Opener, log *slog.Logger) *Device {
	oc := *o // zero fields take their defaults, as in the config
	if oc.Baud == 0 {
		oc.Baud = DefaultBaud
	}
	if oc.Heartbeat == 0 {
		oc.Heartbeat = settings.Duration(DefaultHeartbeat)
	}
	oc.applyDefaults()
	o = &oc
	d := &Device{id: id, o: o, every: every, open: open, log: log.With("device", o.Device),
		pending: map[uint16]pendingCmd{}}
	d.counts.Log = d.log
	for _, ch := range o.Channels {
		d.declared = append(d.declared, reading.Channel(ch))
	}
	return d
}

// Stats are the device's counters, for /metrics and tests.
type Stats struct {
	Frames        uint64 // valid frames taken from the board
	Bad           [numKinds]uint64
	Resets        uint64 // board restarts noticed (uptime went backwards)
	HeartbeatLost uint64 // times the board went silent for stale_after
	Opens         uint64 // successful opens of the device
	BoardNAKs     uint64 // host commands the board refused
	BoardErrs     uint64 // host frames the board could not read
	BoardID       string
	Firmware      string
	Channels      []reading.Channel
}

// Stats returns a snapshot of the counters.
func (d *Device) Stats() Stats {
	s := Stats{Frames: d.frames.Load(), Resets: d.resets.Load(), HeartbeatLost: d.hbLost.Load(),
		Opens: d.opens.Load(), BoardNAKs: d.boardNAKs.Load(), BoardErrs: d.boardErrs.Load()}
	for k := range numKinds {
		s.Bad[k] = d.counts.Get(k)
	}
	d.mu.Lock()
	s.BoardID, s.Firmware = d.boardID, d.firmware
	if d.ready {
		for _, c := range d.chans {
			s.Channels = append(s.Channels, c.ch)
		}
	}
	d.mu.Unlock()
	return s
}

// Close releases nothing: the serial line is opened and closed by Run.
func (d *Device) Close() error { return nil }

// Run keeps the board's line open until ctx is done: it opens the device, performs the handshake, emits
// samples as frames arrive, and when the device fails or disappears it marks the channels bad and reopens
// it with backoff. It returns only ctx's error.
func (d *Device) Run(ctx context.Context, emit func(driver.Sample)) error {
	d.mu.Lock()
	d.emit = emit
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		d.emit = nil
		d.mu.Unlock()
	}()
	fails := 0
	for {
		p, err := d.open(d.o.Device, d.o.Baud)
		if err == nil {
			d.opens.Add(1)
			err = d.session(ctx, p)
			p.Close()
			d.mu.Lock()
			if d.wasReady {
				fails = 0
			}
			d.mu.Unlock()
		} else {
			err = d.ioErr("open", err)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		d.down(err)
		t := time.NewTimer(driver.Backoff(fails, 250*time.Millisecond, 30*time.Second))
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		fails++
	}
}

// down marks every channel bad with the reason the line is down, and logs each new reason once.
func (d *Device) down(err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if msg := err.Error(); msg != d.lastDown {
		d.lastDown = msg
		if errors.Is(err, ErrVersion) {
			d.log.Error("fwbridge: board refused", "err", err)
		} else {
			d.log.Warn("fwbridge: board line down; retrying with backoff", "err", err)
		}
	}
	d.ready, d.verifying = false, false
	d.emitAllBad(err)
}

// emitAllBad marks every known channel (learned or declared) bad with err and the link channel 0.
func (d *Device) emitAllBad(err error) {
	if d.emit == nil {
		return
	}
	done := make(map[reading.Channel]bool, len(d.chans)+len(d.declared))
	for _, c := range d.chans {
		done[c.ch] = true
		d.emit(driver.Sample{Channel: c.ch, Err: err})
	}
	for _, ch := range d.declared {
		if !done[ch] {
			d.emit(driver.Sample{Channel: ch, Err: err})
		}
	}
	d.emit(driver.Sample{Channel: ChannelLink, Value: 0})
}

// ioErr wraps an error of the serial line. An *os.PathError already names the operation and the device.
func (d *Device) ioErr(op string, err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("fwbridge: %w", err)
	}
	return fmt.Errorf("fwbridge: %s %s: %w", op, d.o.Device, err)
}

// errLineClosed is returned by send when no line is open.
var errLineClosed = errors.New("fwbridge: line not open")

// send encodes a frame with the next sequence number and queues it for the line.
func (d *Device) send(t Type, args []byte) (uint16, error) {
	if d.write == nil || d.conn == nil {
		return 0, errLineClosed
	}
	seq, b := d.conn.EncodeNext(t, args)
	return seq, d.write(b)
}

// writeQueue bounds the frames waiting for the line. The host sends a heartbeat per interval and a few
// commands, so a full queue means the line is stuck.
const writeQueue = 32

// session runs one open line until it fails or ctx is done. Writes go through a goroutine of their own: a
// tty whose other end stopped reading blocks write(2) for good once its buffer is full (the port is in
// blocking mode), and that must stall neither the reader, nor the heartbeat, nor shutdown.
func (d *Device) session(ctx context.Context, p Port) error {
	conn := NewConn(p, &d.counts)
	now := time.Now()
	wq := make(chan []byte, writeQueue)
	werr := make(chan error, 1)
	wdone := make(chan struct{})
	go func() {
		defer close(wdone)
		for b := range wq {
			if _, err := p.Write(b); err != nil {
				werr <- d.ioErr("write", err)
				for range wq { // keep draining so senders never block
				}
				return
			}
		}
	}()
	defer func() {
		d.mu.Lock()
		d.write = nil
		d.mu.Unlock()
		close(wq)
		select {
		case <-wdone:
		case <-time.After(2 * time.Second):
			d.log.Warn("fwbridge: a write to the device is stuck; leaving it behind", "device", d.o.Device)
		}
	}()
	d.mu.Lock()
	d.write = func(b []byte) error {
		select {
		case wq <- b:
			return nil
		default:
			return fmt.Errorf("fwbridge: %s is not taking writes (%d frames queued)", d.o.Device, writeQueue)
		}
	}
	d.conn = conn
	d.ready, d.verifying, d.wasReady, d.haveSeq, d.stale, d.replays = false, false, false, false, false, 0
	d.lastFrame, d.tokens, d.tokensAt = now, floodBurst, now
	err := d.requestHello(now)
	d.mu.Unlock()
	if err != nil {
		return err
	}
	readErr := make(chan error, 1)
	go func() { readErr <- d.readLoop(conn) }()
	// Tick faster than the heartbeat when stale_after is short, so staleness is noticed within a quarter
	// of stale_after; the host's own heartbeat still goes out once per heartbeat interval.
	tick := time.NewTicker(min(d.o.Heartbeat.D(), d.o.StaleAfter.D()/4))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			p.Close()
			<-readErr
			return ctx.Err()
		case err := <-readErr:
			return err
		case err := <-werr:
			p.Close()
			<-readErr
			return err
		case now := <-tick.C:
			if err := d.tick(now); err != nil {
				p.Close()
				<-readErr
				return err
			}
		}
	}
}

func (d *Device) readLoop(conn *Conn) error {
	fastEOF := 0
	for {
		t0 := time.Now()
		f, err := conn.ReadFrame()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				return d.ioErr("read", err)
			}
			// tarm/serial reports a read timeout as EOF. An unplugged USB device loses its node; a hung-up
			// line returns EOF at once, again and again.
			if _, serr := os.Stat(d.o.Device); serr != nil {
				return fmt.Errorf("fwbridge: %s disappeared (unplugged?): %w", d.o.Device, serr)
			}
			if time.Since(t0) < readTimeout/8 {
				if fastEOF++; fastEOF > 20 {
					return fmt.Errorf("fwbridge: %s hung up", d.o.Device)
				}
			} else {
				fastEOF = 0
			}
			continue
		}
		fastEOF = 0
		d.mu.Lock()
		err = d.handle(f, time.Now())
		d.mu.Unlock()
		if err != nil {
			return err
		}
	}
}

// tick runs every heartbeat: it tells the board the host is alive, retries an unanswered handshake, and
// notices a board that went silent.
func (d *Device) tick(now time.Time) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if now.Sub(d.hbSent) >= d.o.Heartbeat.D()-d.o.Heartbeat.D()/8 {
		d.hbSent = now
		if _, err := d.send(TypeHeartbeat, nil); err != nil {
			return err
		}
	}
	for seq, p := range d.pending {
		switch {
		case p.reply == nil && now.Sub(p.sent) >= settingRetry:
			delete(d.pending, seq)
			if p.tries >= settingTries {
				d.log.Warn("fwbridge: board never answered a setting", "setting", p.what, "tries", p.tries)
				continue
			}
			if err := d.sendSettingTry(p.typ, p.args, p.what, now, p.tries+1); err != nil {
				return err
			}
		case now.Sub(p.sent) > replyTimeout:
			delete(d.pending, seq) // a waiting SetOutput gives up on its own context
		}
	}
	silent := now.Sub(d.lastFrame)
	if !d.ready && now.Sub(d.helloAt) >= max(time.Second, d.o.Heartbeat.D()) {
		if err := d.requestHello(now); err != nil {
			return err
		}
	}
	if silent >= d.o.StaleAfter.D() && !d.stale {
		d.stale = true
		d.hbLost.Add(1)
		err := fmt.Errorf("fwbridge: board %s silent for %s (heartbeat lost)", d.boardName(), silent.Round(time.Millisecond))
		d.log.Warn("fwbridge: heartbeat lost; channels are stale", "silent", silent.Round(time.Millisecond))
		d.emitAllBad(err)
		// The board may have restarted and its HELLO been lost: ask again.
		d.ready, d.verifying = false, false
		return d.requestHello(now)
	}
	return nil
}

func (d *Device) boardName() string {
	if d.boardID == "" {
		return "on " + d.o.Device
	}
	return strconv.Quote(d.boardID)
}

func (d *Device) requestHello(now time.Time) error {
	d.helloAt = now
	var a [8]byte
	if _, err := d.send(TypeHello, strconv.AppendInt(a[:0], ProtocolVersion, 10)); err != nil {
		return err
	}
	return nil
}

// SetOutput drives one of the board's outputs (a channel of kind do) and waits for the board's ACK.
func (d *Device) SetOutput(ctx context.Context, ch reading.Channel, value float64) error {
	d.mu.Lock()
	i := d.index(ch)
	if !d.ready || i < 0 || d.chans[i].kind != "do" {
		d.mu.Unlock()
		return fmt.Errorf("fwbridge: %s is not an output of the connected board", ch)
	}
	seq, err := d.send(TypeOut, fmt.Appendf(nil, "%d,%s", i, strconv.FormatFloat(value, 'f', -1, 64)))
	if err != nil {
		d.mu.Unlock()
		return err
	}
	reply := make(chan error, 1)
	d.pending[seq] = pendingCmd{reply: reply, what: "output " + string(ch), sent: time.Now()}
	d.mu.Unlock()
	select {
	case err := <-reply:
		return err
	case <-ctx.Done():
		d.mu.Lock()
		delete(d.pending, seq)
		d.mu.Unlock()
		return fmt.Errorf("fwbridge: no reply to OUT: %w", ctx.Err())
	}
}

// Counters implements driver.Counters: the bad input by kind and the link's events, for /metrics
// (rackwatch_driver_events_total{sensor, kind}).
func (d *Device) Counters() map[string]uint64 {
	s := d.Stats()
	m := make(map[string]uint64, int(numKinds)+6)
	for k := range numKinds {
		m[k.String()] = s.Bad[k]
	}
	m["frames"] = s.Frames
	m["board_resets"] = s.Resets
	m["heartbeat_lost"] = s.HeartbeatLost
	m["opens"] = s.Opens
	m["board_nak"] = s.BoardNAKs
	m["board_err"] = s.BoardErrs
	return m
}

var (
	_ driver.Streamer = (*Device)(nil)
	_ driver.Counters = (*Device)(nil)
)
