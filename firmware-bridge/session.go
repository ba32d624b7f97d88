package fwbridge

// This file is the host's side of a conversation with one board: every valid frame goes through handle,
// which keeps the sequence, the handshake and the channel table, and turns readings into samples.

import (
	"bytes"
	"fmt"
	"strconv"
	"time"

	"github.com/rackwatch/rackwatch/agent/driver"
	"github.com/rackwatch/rackwatch/agent/reading"
)

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
