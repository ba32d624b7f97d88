package fwbridge

import (
	"bytes"
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

	"github.com/rackwatch/rackwatch/agent/config"
	"github.com/rackwatch/rackwatch/agent/driver"
	"github.com/rackwatch/rackwatch/agent/reading"
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

// New returns a device for the board on o.Device; zero options take their defaults. every is the interval the board is asked to send its
// periodic readings at; open opens the serial line (SerialOpener, or a pty in tests).
func New(id string, o *Options, every time.Duration, open Opener, log *slog.Logger) *Device {
	oc := *o // zero fields take their defaults, as in the config
	if oc.Baud == 0 {
		oc.Baud = DefaultBaud
	}
	if oc.Heartbeat == 0 {
		oc.Heartbeat = config.Duration(DefaultHeartbeat)
	}
	oc.applyDefaults()
	o = &oc
	d := &Device{id: id, o: o, every: every, open: open, log: log.With("sensor", id, "device", o.Device),
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
			err = fmt.Errorf("fwbridge: open %s: %w", d.o.Device, err)
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
				werr <- fmt.Errorf("fwbridge: write %s: %w", d.o.Device, err)
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
				return fmt.Errorf("fwbridge: read %s: %w", d.o.Device, err)
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

// handle applies one valid frame from the board. It returns an error only when the session must end.
func (d *Device) handle(f Frame, now time.Time) error {
	// Rate limit first, so a flooding board costs no more than counting.
	d.tokens = min(floodBurst, d.tokens+now.Sub(d.tokensAt).Seconds()*floodRate)
	d.tokensAt = now
	if d.tokens < 1 {
		d.counts.Add(KindFlood, 1, "board sends more than 200 frames/s", nil)
		d.markAlive(now)
		return nil
	}
	d.tokens--
	if f.Type == TypeHello {
		d.markAlive(now)
		return d.onHello(f, now)
	}
	if d.haveSeq {
		diff := f.Seq - d.lastSeq
		if diff == 0 || diff >= 0x8000 {
			d.counts.Add(KindReplay, 1, "sequence number not newer than the last one", f.Args)
			if d.replays++; d.replays >= replayResync {
				d.haveSeq, d.replays = false, 0
				return d.requestHello(now)
			}
			return nil
		}
		if diff > 1 {
			d.counts.Add(KindLost, uint64(diff-1), "gap in the sequence numbers", nil)
		}
	}
	d.haveSeq, d.lastSeq, d.replays = true, f.Seq, 0
	d.markAlive(now)
	switch f.Type {
	case TypeChannel:
		return d.onChannel(f, now)
	case TypeReading:
		d.onReading(f, now)
	case TypeReadError:
		d.onReadError(f)
	case TypeHeartbeat:
		first, _, _ := NextField(f.Args)
		up, ok := parseUint32(first)
		if !ok {
			d.counts.Add(KindSyntax, 1, "HB without uptime", f.Args)
			return nil
		}
		if d.noteUptime(up) {
			// A newer frame with a smaller uptime: the board restarted and its HELLO did not reach us.
			d.ready, d.verifying = false, false
			return d.requestHello(now)
		}
	case TypeAlarm:
		d.onAlarm(f)
	case TypeAck, TypeNak:
		d.onReply(f)
	case TypeErr:
		d.boardErrs.Add(1)
		if !d.loggedErrs.Swap(true) {
			d.log.Warn("fwbridge: board could not read a frame from the host; further ones are counted", "code", string(f.Args))
		}
	default:
		d.counts.Add(KindSyntax, 1, "host-only frame type from the board: "+f.Type.String(), nil)
	}
	return nil
}

// markAlive records that the line carries frames again; a stale board becomes fresh.
func (d *Device) markAlive(now time.Time) {
	d.frames.Add(1)
	d.lastFrame = now
	if d.stale {
		d.stale = false
		d.log.Info("fwbridge: board heard again")
		if d.ready && d.emit != nil {
			d.emit(driver.Sample{Channel: ChannelLink, Value: 1})
		}
	}
}

// noteUptime records the board's uptime and reports whether it went backwards (a restart). uint32
// milliseconds wrap after 49.7 days; a wrap is not a restart.
func (d *Device) noteUptime(up uint32) bool {
	reset := d.haveUptime && up < d.lastUptime && d.lastUptime-up < 1<<31
	d.haveUptime, d.lastUptime = true, up
	if reset {
		d.resets.Add(1)
		d.log.Warn("fwbridge: board restarted", "board", d.boardID, "uptime_ms", up)
	}
	return reset
}

func (d *Device) onHello(f Frame, now time.Time) error {
	var fields [6][]byte // a sixth field and beyond are later additions, ignored
	n := splitFields(f.Args, fields[:])
	if n < 1 {
		d.counts.Add(KindSyntax, 1, "HELLO without a version", f.Args)
		return nil
	}
	ver, ok := parseUint32(fields[0])
	if !ok {
		d.counts.Add(KindSyntax, 1, "HELLO with a bad version", f.Args)
		return nil
	}
	if ver != ProtocolVersion {
		return fmt.Errorf("fwbridge: %s: the board speaks protocol version %d, this rackwatch speaks version %d; flash firmware for version %d or upgrade rackwatch: %w",
			d.o.Device, ver, ProtocolVersion, ProtocolVersion, ErrVersion)
	}
	up, okUp := parseUint32(fields[3])
	nch, okN := parseUint32(fields[4])
	if n < 5 || !okUp || !okN || nch > MaxChannels || len(fields[1]) == 0 {
		d.counts.Add(KindSyntax, 1, "malformed HELLO", f.Args)
		return nil
	}
	restarted := d.noteUptime(up)
	d.haveSeq, d.lastSeq, d.replays = true, f.Seq, 0
	d.expect, d.verified = int(nch), 0
	// The same running board announcing itself again (it answers the host's HELLO and also announces
	// itself at boot, so this is common): keep the channel table, and readings flowing, while the list that
	// follows is checked against it.
	d.verifying = d.ready && !restarted && d.boardID == string(fields[1]) && d.firmware == string(fields[2]) &&
		int(nch) == len(d.chans)
	if d.verifying {
		if nch == 0 {
			d.verifying = false
			return d.handshakeDone(now)
		}
		return nil
	}
	d.boardID, d.firmware = string(fields[1]), string(fields[2])
	d.chans = d.chans[:0]
	d.ready, d.verifying = false, false
	if nch == 0 {
		return d.handshakeDone(now)
	}
	return nil
}

func (d *Device) onChannel(f Frame, now time.Time) error {
	var fields [5][]byte
	n := splitFields(f.Args, fields[:])
	idx, ok := parseUint32(fields[0])
	if n < 4 || !ok || !validChannel(string(fields[1])) {
		d.counts.Add(KindSyntax, 1, "malformed CH", f.Args)
		return nil
	}
	unit := string(fields[2])
	switch unit {
	case "C":
		unit = "°C"
	case "-":
		unit = ""
	}
	if d.verifying {
		if int(idx) == d.verified && idx < uint32(len(d.chans)) && string(d.chans[idx].ch) == string(fields[1]) &&
			d.chans[idx].unit == unit && d.chans[idx].kind == string(fields[3]) {
			if d.verified++; d.verified == d.expect {
				d.verifying = false
				return d.handshakeDone(now)
			}
			return nil
		}
		// The table changed, or a CH went missing: learn it afresh.
		d.verifying, d.ready = false, false
		d.chans = d.chans[:0]
		return d.requestHello(now)
	}
	if d.ready || int(idx) != len(d.chans) || len(d.chans) >= d.expect {
		// Out of order: the list is incomplete. Start over.
		d.counts.Add(KindSyntax, 1, "CH out of order", f.Args)
		d.ready, d.verifying = false, false
		return d.requestHello(now)
	}
	c := chanState{ch: reading.Channel(fields[1]), unit: unit, kind: string(fields[3])}
	if want := reading.Unit(c.ch); want != "" && want != c.unit {
		c.bad = fmt.Errorf("fwbridge: board declares %s in %q but rackwatch needs %q: fix the firmware's channel table", c.ch, c.unit, want)
	}
	if c.kind != "ai" && c.kind != "di" && c.kind != "do" {
		d.counts.Add(KindSyntax, 1, "CH with an unknown kind", f.Args)
	}
	d.chans = append(d.chans, c)
	if len(d.chans) == d.expect {
		return d.handshakeDone(now)
	}
	return nil
}

func (d *Device) handshakeDone(now time.Time) error {
	names := make([]string, len(d.chans))
	for i, c := range d.chans {
		names[i] = string(c.ch)
	}
	// The board answers the host's HELLO and also announces itself when it boots, so a handshake often
	// comes twice; log it once per session, and again only if the board changed.
	if sig := fmt.Sprint(d.boardID, d.firmware, names); !d.wasReady || sig != d.lastSig {
		d.lastSig = sig
		d.log.Info("fwbridge: board connected", "board", d.boardID, "firmware", d.firmware, "channels", names)
	}
	d.ready, d.wasReady = true, true
	d.lastDown = "" // the next failure is news again
	if d.emit != nil {
		for _, c := range d.chans {
			if c.bad != nil {
				d.emit(driver.Sample{Channel: c.ch, Err: c.bad})
			}
		}
		for _, ch := range d.declared {
			if d.index(ch) < 0 {
				d.emit(driver.Sample{Channel: ch, Err: fmt.Errorf("fwbridge: board %q has no channel %s (it has %v)", d.boardID, ch, names)})
			}
		}
		d.emit(driver.Sample{Channel: ChannelLink, Value: 1})
	}
	// The board forgets its settings when it restarts; send them after every handshake.
	var a [64]byte
	b := strconv.AppendInt(append(a[:0], "hb,"...), d.o.Heartbeat.D().Milliseconds(), 10)
	if err := d.sendSetting(TypeSet, b, "heartbeat", now); err != nil {
		return err
	}
	if d.every > 0 {
		b = strconv.AppendInt(append(a[:0], "every,"...), d.every.Milliseconds(), 10)
		if err := d.sendSetting(TypeSet, b, "every", now); err != nil {
			return err
		}
	}
	for _, fs := range d.o.Failsafe {
		in, out := d.index(reading.Channel(fs.Input)), d.index(reading.Channel(fs.Output))
		if in < 0 || out < 0 {
			d.log.Error("fwbridge: failsafe names a channel the board does not have", "input", fs.Input, "output", fs.Output)
			continue
		}
		dir, thr := "A", 0.0
		if fs.Above != nil {
			thr = *fs.Above
		} else {
			dir, thr = "B", *fs.Below
		}
		b = fmt.Appendf(a[:0], "%d,%s,%s,%d,%d", in, dir, strconv.FormatFloat(thr, 'f', -1, 64), out, fs.After.D().Milliseconds())
		if err := d.sendSetting(TypeFailsafe, b, "failsafe on "+fs.Input, now); err != nil {
			return err
		}
	}
	return nil
}

// sendSetting sends a configuration command nobody waits for; a refusal is logged when the NAK arrives.
func (d *Device) sendSetting(t Type, args []byte, what string, now time.Time) error {
	return d.sendSettingTry(t, bytes.Clone(args), what, now, 1)
}

func (d *Device) sendSettingTry(t Type, args []byte, what string, now time.Time, try int) error {
	seq, err := d.send(t, args)
	if err != nil {
		return err
	}
	d.pending[seq] = pendingCmd{what: what, sent: now, typ: t, args: args, tries: try}
	return nil
}

func (d *Device) index(ch reading.Channel) int {
	for i := range d.chans {
		if d.chans[i].ch == ch {
			return i
		}
	}
	return -1
}

func (d *Device) onReading(f Frame, now time.Time) {
	if !d.ready {
		// Readings before the channel list: ask for it (at most once a heartbeat) and drop them.
		if now.Sub(d.helloAt) >= d.o.Heartbeat.D() {
			d.requestHello(now)
		}
		return
	}
	rest := f.Args
	for {
		fi, r, ok := NextField(rest)
		if !ok {
			return
		}
		fv, r2, ok := NextField(r)
		if !ok {
			d.counts.Add(KindSyntax, 1, "R with an odd number of fields", f.Args)
			return
		}
		rest = r2
		idx, ok := parseUint32(fi)
		if !ok || int(idx) >= len(d.chans) {
			d.counts.Add(KindSyntax, 1, "R names a channel the board did not declare", f.Args)
			continue
		}
		if !isDecimal(fv) {
			d.counts.Add(KindSyntax, 1, "R with a value that is not a number", f.Args)
			continue
		}
		v, err := strconv.ParseFloat(string(fv), 64)
		if err != nil {
			d.counts.Add(KindSyntax, 1, "R with a value out of range", f.Args)
			continue
		}
		c := &d.chans[idx]
		if d.emit != nil {
			if c.bad != nil {
				d.emit(driver.Sample{Channel: c.ch, Err: c.bad})
			} else {
				d.emit(driver.Sample{Channel: c.ch, Value: v})
			}
		}
	}
}

func (d *Device) onReadError(f Frame) {
	fi, reason, ok := NextField(f.Args)
	idx, okIdx := parseUint32(fi)
	if !ok || !okIdx || !d.ready || int(idx) >= len(d.chans) {
		d.counts.Add(KindSyntax, 1, "malformed E", f.Args)
		return
	}
	if d.emit != nil {
		d.emit(driver.Sample{Channel: d.chans[idx].ch, Err: fmt.Errorf("fwbridge: board %q cannot read %s: %s", d.boardID, d.chans[idx].ch, reason)})
	}
}

func (d *Device) onAlarm(f Frame) {
	var fields [4][]byte
	n := splitFields(f.Args, fields[:])
	idx, ok1 := parseUint32(fields[0])
	st, ok2 := parseUint32(fields[1])
	if n < 2 || !ok1 || !ok2 || st > 1 {
		d.counts.Add(KindSyntax, 1, "malformed ALM", f.Args)
		return
	}
	name := string(fields[0])
	if d.ready && int(idx) < len(d.chans) {
		name = string(d.chans[idx].ch)
	}
	if st == 1 {
		d.log.Warn("fwbridge: board fail-safe tripped: the board drives its output itself", "input", name, "text", string(fields[2]))
	} else {
		d.log.Info("fwbridge: board fail-safe released", "input", name, "text", string(fields[2]))
	}
	if d.emit != nil {
		d.emit(driver.Sample{Channel: ChannelFailsafe, Value: float64(st)})
	}
}

func (d *Device) onReply(f Frame) {
	fs, code, _ := NextField(f.Args)
	seq, ok := parseUint32(fs)
	if !ok || seq > 0xFFFF {
		d.counts.Add(KindSyntax, 1, "malformed ACK or NAK", f.Args)
		return
	}
	var err error
	if f.Type == TypeNak {
		d.boardNAKs.Add(1)
		err = fmt.Errorf("fwbridge: board refused command %d: %s", seq, code)
	}
	if p, ok := d.pending[uint16(seq)]; ok {
		delete(d.pending, uint16(seq))
		switch {
		case p.reply != nil:
			p.reply <- err
		case err != nil:
			d.log.Error("fwbridge: board refused a setting", "setting", p.what, "err", err)
		}
	}
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

// splitFields splits args into at most len(dst) fields (the last one keeps any further commas) and
// returns how many there were.
func splitFields(args []byte, dst [][]byte) int {
	n := 0
	rest := args
	for n < len(dst) {
		f, r, ok := NextField(rest)
		if !ok {
			break
		}
		if n == len(dst)-1 {
			f = rest
		}
		dst[n] = f
		n++
		rest = r
	}
	return n
}

// isDecimal reports whether b is a number as PROTOCOL.md allows it: an optional sign, digits, and an
// optional fraction; no exponent, no inf or nan. Checking first also spares ParseFloat's error allocation.
func isDecimal(b []byte) bool {
	if len(b) > 0 && (b[0] == '-' || b[0] == '+') {
		b = b[1:]
	}
	digits, dot := 0, false
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9':
			digits++
		case c == '.' && !dot:
			dot = true
		default:
			return false
		}
	}
	return digits > 0 && len(b) <= 32
}

func parseUint32(b []byte) (uint32, bool) {
	if len(b) == 0 || len(b) > 10 {
		return 0, false
	}
	var v uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + uint64(c-'0')
	}
	if v > 0xFFFFFFFF {
		return 0, false
	}
	return uint32(v), true
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
