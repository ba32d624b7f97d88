package fwbridge

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rackwatch/rackwatch/agent/driver"
	"github.com/rackwatch/rackwatch/agent/settings"
)

// sessionRig drives a Device's frame handling directly, without a line: frames in, samples and host
// frames out.
type sessionRig struct {
	d    *Device
	out  bytes.Buffer
	got  []driver.Sample
	now  time.Time
	seq  uint16
	logs logRecorder
}

func newSessionRig(t testing.TB, o Options) *sessionRig {
	r := &sessionRig{now: time.Now(), logs: newLogRecorder()}
	o.Device, o.Heartbeat = "/dev/null", settings.Duration(time.Second)
	o.applyDefaults()
	r.d = New("b", &o, time.Second, nil, slog.New(r.logs))
	r.d.emit = func(s driver.Sample) { r.got = append(r.got, s) }
	r.d.conn = NewConn(struct {
		io.Reader
		io.Writer
	}{nil, &r.out}, &r.d.counts)
	r.d.write = func(b []byte) error { r.out.Write(b); return nil }
	r.d.tokens, r.d.tokensAt = floodBurst, r.now
	return r
}

// feed hands the device a board frame with the next sequence number.
func (r *sessionRig) feed(t testing.TB, typ Type, args string) {
	t.Helper()
	r.feedSeq(t, r.seq, typ, args)
	r.seq++
}

func (r *sessionRig) feedSeq(t testing.TB, seq uint16, typ Type, args string) {
	t.Helper()
	r.now = r.now.Add(10 * time.Millisecond)
	r.d.mu.Lock()
	err := r.d.handle(Frame{Seq: seq, Type: typ, Args: []byte(args)}, r.now)
	r.d.mu.Unlock()
	if err != nil {
		t.Fatalf("%s %s: %v", typ, args, err)
	}
}

func (r *sessionRig) handshake(t testing.TB, uptime string) {
	r.feed(t, TypeHello, "1,b7,2.0,"+uptime+",2,newfield") // a trailing field from a later minor revision
	r.feed(t, TypeChannel, "0,temperature,F,ai,extra")     // wrong unit for a well-known channel
	r.feed(t, TypeChannel, "1,smoke,-,di")
}

func TestSessionIgnoresTrailingFieldsAndRejectsWrongUnits(t *testing.T) {
	r := newSessionRig(t, Options{})
	r.handshake(t, "100")
	if !r.d.ready {
		t.Fatal("handshake with trailing fields not accepted")
	}
	r.got = nil
	r.feed(t, TypeReading, "0,77,1,1")
	if len(r.got) != 2 || r.got[0].Err == nil || !strings.Contains(r.got[0].Err.Error(), `"F"`) || r.got[1].Err != nil || r.got[1].Value != 1 {
		t.Fatalf("samples %+v: want temperature bad (unit F), smoke=1", r.got)
	}
	if !strings.Contains(r.out.String(), "SET,hb,1000") {
		t.Errorf("host did not configure the board: %q", r.out.String())
	}
}

func TestSessionReplaysAndRestarts(t *testing.T) {
	r := newSessionRig(t, Options{})
	r.handshake(t, "100")
	r.feed(t, TypeHeartbeat, "5000")
	r.got = nil
	r.feedSeq(t, 1, TypeReading, "1,1") // an old frame again
	if len(r.got) != 0 || r.d.counts.Get(KindReplay) != 1 {
		t.Fatalf("replayed frame emitted %v, replays %d", r.got, r.d.counts.Get(KindReplay))
	}
	r.seq += 3 // three frames lost on the line
	r.feed(t, TypeReading, "1,0")
	if len(r.got) != 1 || r.d.counts.Get(KindLost) != 3 {
		t.Fatalf("after a gap: samples %v, lost %d", r.got, r.d.counts.Get(KindLost))
	}
	// A newer frame whose uptime went backwards: the board restarted and its HELLO was lost.
	r.out.Reset()
	r.feed(t, TypeHeartbeat, "40")
	if r.d.resets.Load() != 1 || r.d.ready || !strings.Contains(r.out.String(), ",HELLO,1*") {
		t.Fatalf("restart: resets %d ready %v host sent %q", r.d.resets.Load(), r.d.ready, r.out.String())
	}
	// A restarted board numbers from 0 again; if its HELLO is lost its frames look old. After a run of
	// them the host asks for the handshake rather than dropping the board's frames forever.
	r2 := newSessionRig(t, Options{})
	r2.seq = 30000
	r2.handshake(t, "100")
	r2.out.Reset()
	for i := range replayResync {
		r2.feedSeq(t, uint16(i), TypeReading, "0,1")
	}
	if !strings.Contains(r2.out.String(), ",HELLO,1*") {
		t.Fatalf("no HELLO after %d replays: %q", replayResync, r2.out.String())
	}
	if n := r2.logs.count("kind=replayed"); n != 1 {
		t.Errorf("replays logged %d times, want once", n)
	}
	if got := r2.d.Counters()["replayed"]; got != replayResync {
		t.Errorf("Counters()[replayed] = %d, want %d", got, replayResync)
	}
}

func TestSessionFlood(t *testing.T) {
	r := newSessionRig(t, Options{})
	r.handshake(t, "100")
	r.got = nil
	for range 1000 { // 1000 frames within one instant
		r.d.mu.Lock()
		r.d.handle(Frame{Seq: r.seq, Type: TypeReading, Args: []byte("1,1")}, r.now)
		r.d.mu.Unlock()
		r.seq++
	}
	if n := len(r.got); n > floodBurst || n < floodBurst-10 {
		t.Errorf("%d samples from a burst of 1000 frames, want about %d", n, floodBurst)
	}
	if r.d.counts.Get(KindFlood) < 1000-floodBurst {
		t.Errorf("flood count %d", r.d.counts.Get(KindFlood))
	}
	r.now = r.now.Add(time.Second) // the bucket refills
	r.got = nil
	r.feed(t, TypeReading, "1,0")
	if len(r.got) != 1 {
		t.Error("readings not taken after the flood ended")
	}
}

func BenchmarkHandleReading(b *testing.B) {
	r := newSessionRig(b, Options{})
	r.handshake(b, "100")
	n := 0
	r.d.emit = func(driver.Sample) { n++ }
	args := []byte("0,23.45,1,0")
	b.ReportAllocs()
	for b.Loop() {
		r.now = r.now.Add(10 * time.Millisecond)
		r.d.handle(Frame{Seq: r.seq, Type: TypeReading, Args: args}, r.now)
		r.seq++
	}
	if n == 0 {
		b.Fatal("nothing emitted")
	}
}

// FuzzSession feeds arbitrary bytes through the stream layer into the session: whatever a board sends, the
// host neither panics nor grows without bound.
func FuzzSession(f *testing.F) {
	var transcript []byte
	for i, s := range []string{"HELLO,1,b,1,10,3", "CH,0,temperature,C,ai", "CH,1,smoke,-,di", "CH,2,sounder,-,do",
		"R,0,21.5,1,0,2,0", "HB,1000", "R,1,1", "E,0,nosensor", "ALM,1,1,failsafe", "ACK,3", "NAK,4,RO", "ERR,CRC"} {
		typ, args, _ := strings.Cut(s, ",")
		transcript = AppendFrame(transcript, Frame{Seq: uint16(i), Type: lookupType([]byte(typ)), Args: []byte(args)})
	}
	f.Add(transcript)
	for _, v := range loadVectors(f) {
		f.Add(v.in)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r := newSessionRig(t, Options{Channels: []string{"smoke"}})
		c := NewConn(struct {
			io.Reader
			io.Writer
		}{bytes.NewReader(b), io.Discard}, &r.d.counts)
		for {
			fr, err := c.ReadFrame()
			if err != nil {
				break
			}
			r.now = r.now.Add(time.Millisecond)
			r.d.mu.Lock()
			r.d.handle(fr, r.now)
			r.d.mu.Unlock()
		}
		if len(r.d.chans) > MaxChannels || r.out.Len() > 1<<20 {
			t.Fatalf("state grew: %d channels, %d bytes written", len(r.d.chans), r.out.Len())
		}
	})
}

// stuckPort is a line whose other end stopped reading: writes block until the test ends, reads wait for
// Close.
type stuckPort struct {
	release chan struct{}
	closed  chan struct{}
	once    sync.Once
}

func (p *stuckPort) Read([]byte) (int, error) { <-p.closed; return 0, os.ErrClosed }
func (p *stuckPort) Write(b []byte) (int, error) {
	<-p.release
	return 0, os.ErrClosed
}
func (p *stuckPort) Close() error { p.once.Do(func() { close(p.closed) }); return nil }

// A board that stops reading must not stall the driver: its channels still go stale, the session ends when
// the write queue is full, and Run still returns on cancel. The port is in memory, so the test runs in a
// synctest bubble: the heartbeats that fill the queue and the session's bounded wait for the stuck writer
// take no real time, and a Run that never returned would still fail at waitLimit (of the bubble's clock).
func TestStuckWriterStallsNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		defer close(release) // the stuck writers return when the bubble ends
		o := &Options{Device: "/dev/null", Heartbeat: settings.Duration(100 * time.Millisecond), Channels: []string{"smoke"}}
		o.applyDefaults()
		open := func(string, int) (Port, error) {
			return &stuckPort{release: release, closed: make(chan struct{})}, nil
		}
		d := New("b", o, time.Second, open, slog.New(slog.DiscardHandler))
		s := newSink()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- d.Run(ctx, s.emit) }()
		s.waitFor(t, "smoke stale", badWith("smoke", "heartbeat lost"))
		s.waitFor(t, "smoke bad: line not taking writes", badWith("smoke", "not taking writes"))
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Run returned %v", err)
			}
		case <-time.After(waitLimit):
			t.Fatal("Run stalled on a stuck write")
		}
	})
}

// Readings and bad frames cost no allocation once the first of each kind has been logged.
func TestFrameHandlingDoesNotAllocate(t *testing.T) {
	r := newSessionRig(t, Options{})
	r.handshake(t, "100")
	good := Frame{Type: TypeReading, Args: []byte("1,1,0,21.5")}
	bad := Frame{Type: TypeReading, Args: []byte("1,x,9,1")}
	old := Frame{Seq: 1, Type: TypeReading, Args: []byte("1,0")}
	r.d.emit = func(driver.Sample) {}
	step := func() {
		r.now = r.now.Add(10 * time.Millisecond)
		good.Seq, bad.Seq = r.seq, r.seq+1
		r.seq += 2
		r.d.handle(good, r.now)
		r.d.handle(bad, r.now)
		r.d.handle(old, r.now)
		r.d.replays = 0 // stay below the resync threshold
	}
	step()
	if n := testing.AllocsPerRun(200, step); n != 0 {
		t.Errorf("%v allocations per good, malformed and replayed frame", n)
	}
	if r.d.counts.Get(KindSyntax) == 0 || r.d.counts.Get(KindReplay) == 0 {
		t.Error("bad frames not counted")
	}
}

// A setting whose reply is lost (a collision on a two-wire RS-485 line) is sent again, a few times.
func TestSessionRetriesUnansweredSettings(t *testing.T) {
	r := newSessionRig(t, Options{})
	r.handshake(t, "100")
	sets := func() int { return strings.Count(r.out.String(), ",SET,hb,1000*") }
	if sets() != 1 {
		t.Fatalf("SET hb sent %d times at the handshake", sets())
	}
	for i := range 5 {
		r.now = r.now.Add(settingRetry)
		r.d.mu.Lock()
		r.d.lastFrame = r.now // the board is alive, just not answering
		r.d.mu.Unlock()
		if err := r.d.tick(r.now); err != nil {
			t.Fatal(err)
		}
		if want := min(2+i, settingTries); sets() != want {
			t.Fatalf("after %d retry periods SET hb sent %d times, want %d", i+1, sets(), want)
		}
	}
	if r.logs.count("board never answered a setting") == 0 {
		t.Error("giving up was not logged")
	}
	// An answered setting is not repeated.
	r2 := newSessionRig(t, Options{})
	r2.handshake(t, "100")
	for seq := range r2.d.pending {
		r2.feed(t, TypeAck, strconv.Itoa(int(seq)))
	}
	r2.now = r2.now.Add(settingRetry)
	r2.d.tick(r2.now)
	if n := strings.Count(r2.out.String(), ",SET,hb,"); n != 1 {
		t.Errorf("an acknowledged setting was sent %d times", n)
	}
}

// The same board announcing itself again keeps its channels usable throughout; a changed table is
// learned afresh.
func TestSessionRepeatedHello(t *testing.T) {
	r := newSessionRig(t, Options{})
	r.handshake(t, "100")
	r.feed(t, TypeHello, "1,b7,2.0,150,2") // the answer to the host's HELLO, after the boot announcement
	if !r.d.ready || len(r.d.Stats().Channels) != 2 {
		t.Fatalf("repeated HELLO dropped the channel table: ready %v, %v", r.d.ready, r.d.Stats().Channels)
	}
	r.feed(t, TypeChannel, "0,temperature,F,ai")
	r.got = nil
	r.feed(t, TypeReading, "1,1") // readings keep flowing during the check
	if len(r.got) != 1 || r.got[0].Value != 1 {
		t.Fatalf("reading during the check: %v", r.got)
	}
	r.feed(t, TypeChannel, "1,smoke,-,di")
	if !r.d.ready || r.d.verifying {
		t.Fatal("check not completed")
	}
	// Same id and firmware, but a different table: relearned, not trusted.
	r.feed(t, TypeHello, "1,b7,2.0,200,2")
	r.feed(t, TypeChannel, "0,humidity,%RH,ai")
	if r.d.ready || len(r.d.chans) != 0 {
		t.Fatalf("changed table kept: ready %v chans %d", r.d.ready, len(r.d.chans))
	}
	if !strings.Contains(lastLine(r.out.String()), ",HELLO,1*") {
		t.Fatalf("host did not ask for the handshake again: %q", lastLine(r.out.String()))
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
