package delivery

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rackwatch/rackwatch/internal/peer"

	"github.com/rackwatch/rackwatch/agent/config"
	"github.com/rackwatch/rackwatch/agent/contract"
	"github.com/rackwatch/rackwatch/agent/journal"
	"github.com/rackwatch/rackwatch/agent/journal/faultfs"
	"github.com/rackwatch/rackwatch/agent/mqtt"
	"github.com/rackwatch/rackwatch/agent/reading"
	"github.com/rackwatch/rackwatch/agent/settings"
)

// useFS makes the deliveries opened by the test use fsys for their journal.
func useFS(t *testing.T, fsys journal.FS) {
	old := journalFS
	journalFS = fsys
	t.Cleanup(func() { journalFS = old })
}

// Fault 1: the disk under state_dir fills up. Every transition still reaches the broker, Health names the
// journal, and once space returns the journal catches up by itself: after a restart every transition is
// there, and none is sent twice to a broker that had it.
func TestFullDiskStillDelivers(t *testing.T) {
	ffs := faultfs.New(nil)
	useFS(t, ffs)
	old := checkpointEvery
	checkpointEvery = 20 * time.Millisecond
	defer func() { checkpointEvery = old }()
	b := startEmbedded(t)
	stateDir := t.TempDir()
	cfg := testConfig(t, stateDir, "  embedded_broker: "+b.Addr())
	s := subscribe(t, b.URL(), "watch", true, "rackwatch/gw1/events")
	d, err := Open(context.Background(), cfg, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	waitReady(t, d)
	feed(t, d, 1, 5)
	s.waitFor("5 events", func(ms []mqtt.Received) bool { return len(ms) >= 5 })

	ffs.Fill(0)
	for seq := uint64(6); seq <= 80; seq++ {
		err := d.Transitions([]contract.Alarm{transition(seq, "smoke", "room", "smoke")})
		if !errors.Is(err, journal.ErrNotDurable) {
			t.Fatalf("transition %d on a full disk: %v, want ErrNotDurable", seq, err)
		}
	}
	ms := s.waitFor("80 events with the disk full", func(ms []mqtt.Received) bool { return len(ms) >= 80 })
	checkInOrder(t, eventSeqs(t, ms, "rackwatch/gw1/events"), 80)
	if err := d.Health(); err == nil || !strings.Contains(err.Error(), "no space left on device") {
		t.Fatalf("health with the disk full: %v", err)
	}
	if d.JournalErr() == nil {
		t.Fatal("JournalErr is nil with the disk full")
	}

	ffs.Heal()
	deadline := time.Now().Add(failAfter)
	for d.JournalErr() != nil {
		if time.Now().After(deadline) {
			t.Fatalf("the journal never caught up: %v", d.JournalErr())
		}
		time.Sleep(10 * time.Millisecond)
	}
	waitReady(t, d)
	if err := d.Health(); err != nil {
		t.Fatalf("health after space returned: %v", err)
	}
	feed(t, d, 81, 81)
	closeDelivery(t, d)

	// Restart: what was held in memory is on disk; nothing is sent again to the broker that had it.
	d, err = Open(context.Background(), cfg, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	snap := d.j.Stats()
	if snap.LastID != 81 {
		t.Fatalf("journal after restart holds up to id %d, want 81", snap.LastID)
	}
	feed(t, d, 82, 82)
	ms = s.waitFor("82 events", func(ms []mqtt.Received) bool { return len(ms) >= 82 })
	checkInOrder(t, eventSeqs(t, ms, "rackwatch/gw1/events"), 82)
	closeDelivery(t, d)
}

// stuckBroker accepts MQTT connections, answers CONNECT and SUBSCRIBE, and then never reads again: a
// broker whose host froze, or a proxy whose other side is gone. Its receive buffer is tiny, so the
// client's writes block soon.
type stuckBroker struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func startStuckBroker(t *testing.T) *stuckBroker {
	lc := net.ListenConfig{Control: smallRcvBuf}
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sb := &stuckBroker{ln: ln}
	t.Cleanup(sb.close)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			sb.mu.Lock()
			sb.conns = append(sb.conns, c)
			sb.mu.Unlock()
			go sb.handshake(c)
		}
	}()
	return sb
}

// release makes the stuck broker read (and discard) again, as a broker that recovers: blocked writes
// complete.
func (sb *stuckBroker) release() {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	for _, c := range sb.conns {
		go io.Copy(io.Discard, c)
	}
}

func (sb *stuckBroker) close() {
	sb.ln.Close()
	sb.mu.Lock()
	for _, c := range sb.conns {
		c.Close()
	}
	sb.mu.Unlock()
}

// handshake answers CONNECT with CONNACK and the first SUBSCRIBE with SUBACK, then stops reading.
func (sb *stuckBroker) handshake(c net.Conn) {
	br := bufio.NewReader(c)
	for {
		typ, body, err := readPacket(br)
		if err != nil {
			return
		}
		switch typ >> 4 {
		case 1: // CONNECT
			c.Write([]byte{0x20, 2, 0, 0})
		case 8: // SUBSCRIBE: packet id, then (filter, qos) pairs
			n := 0
			for i := 2; i+2 <= len(body); {
				l := int(binary.BigEndian.Uint16(body[i:]))
				i += 2 + l + 1
				n++
			}
			ack := []byte{0x90, byte(2 + n), body[0], body[1]}
			for ; n > 0; n-- {
				ack = append(ack, 1)
			}
			c.Write(ack)
			return // and never read again
		}
	}
}

func readPacket(br *bufio.Reader) (byte, []byte, error) {
	typ, err := br.ReadByte()
	if err != nil {
		return 0, nil, err
	}
	n, mul := 0, 1
	for {
		b, err := br.ReadByte()
		if err != nil {
			return 0, nil, err
		}
		n += int(b&0x7f) * mul
		if b&0x80 == 0 {
			break
		}
		mul *= 128
	}
	body := make([]byte, n)
	_, err = io.ReadFull(br, body)
	return typ, body, err
}

// Fault 6: a broker that accepts, answers and then never reads. Its connection's writes block (for as
// long as the write timeout, here far longer than the test); the rules loop hands over command results
// and transitions regardless, and they reach the healthy broker.
func TestStuckBrokerDelaysNoOther(t *testing.T) {
	old := writeTimeout
	writeTimeout = time.Hour
	defer func() { writeTimeout = old }()
	healthy := startEmbedded(t)
	stuck := startStuckBroker(t)
	cfg := testConfig(t, t.TempDir(), fmt.Sprintf("  brokers:\n    - {url: \"tcp://%s\"}\n    - {url: \"%s\"}", stuck.ln.Addr(), healthy.URL()))
	s := subscribe(t, healthy.URL(), "watch", true, "rackwatch/gw1/events", "rackwatch/gw1/cmd/result")
	d, err := Open(context.Background(), cfg, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	defer closeDelivery2(d)
	defer stuck.release() // first: a write blocked on the stuck broker would hold up Close for the write timeout
	waitReady(t, d)
	// Fill the stuck connection: alarms of about 200 KiB (each published twice) until the socket
	// buffers on both sides are full and the stuck broker's writer blocks.
	big := strings.Repeat("x", 200<<10)
	for seq := uint64(1); seq <= 60; seq++ {
		a := transition(seq, "r", "s1", "temperature")
		a.Labels = map[string]string{"note": big}
		if err := d.Transitions([]contract.Alarm{a}); err != nil {
			t.Fatal(err)
		}
	}
	s.waitFor("the big alarms at the healthy broker", func(ms []mqtt.Received) bool {
		return len(onTopic(ms, "rackwatch/gw1/events")) >= 60
	})
	// Now what the rules loop does: answer commands and hand over new alarms. None of it may wait on the
	// stuck broker (whose result queue fills up and drops, counted).
	go func() { // as the rules loop would; if it blocks, the wait below fails
		for i := 0; i < resultsQueue; i++ {
			d.Answer(contract.NewResult(contract.Command{Kind: contract.Ack, Alarm: "r/s1/temperature", ID: fmt.Sprint(i)}, nil))
		}
		feed(t, d, 61, 70)
	}()
	ms := s.waitFor("the new alarms and the results at the healthy broker", func(ms []mqtt.Received) bool {
		return len(onTopic(ms, "rackwatch/gw1/events")) >= 70 && len(onTopic(ms, "rackwatch/gw1/cmd/result")) >= resultsQueue
	})
	checkInOrder(t, eventSeqs(t, ms, "rackwatch/gw1/events"), 70)
}

// Fault 9: readings read before a broker connects are published as soon as it does (every channel's
// current reading, not the next heartbeat, here an hour away).
func TestCurrentReadingsAfterConnect(t *testing.T) {
	b := startEmbedded(t)
	gate := startGate(t, b.Addr()) // closed: the gateway cannot reach the broker yet
	s := subscribe(t, b.URL(), "watch", true, "rackwatch/gw1/readings/#")
	cfg := testConfig(t, t.TempDir(), "  brokers: [{url: \"tcp://"+gate.addr()+"\"}]\n  readings: {every: 1h, deadband: 100}")
	d, err := Open(context.Background(), cfg, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	defer closeDelivery2(d)
	now := time.Now()
	for i := 0; i < 3; i++ {
		d.Reading(&reading.Reading{Sensor: "ups1", Channel: reading.BatteryTemp, Value: 25 + float64(i)/100, At: now}, &celsius)
		d.Reading(&reading.Reading{Sensor: "room", Channel: reading.Smoke, Quality: reading.Bad, Err: errors.New("no answer"), At: now}, &smokeFormat)
	}
	gate.open()
	ms := s.waitFor("both channels' current readings", func(ms []mqtt.Received) bool {
		return len(onTopic(ms, "rackwatch/gw1/readings/ups1/battery_temp")) > 0 && len(onTopic(ms, "rackwatch/gw1/readings/room/smoke")) > 0
	})
	if p := string(onTopic(ms, "rackwatch/gw1/readings/ups1/battery_temp")[0].Payload); !strings.Contains(p, `"value":25.02`) {
		t.Errorf("not the latest reading: %s", p)
	}
	if p := string(onTopic(ms, "rackwatch/gw1/readings/room/smoke")[0].Payload); !strings.Contains(p, `"quality":"bad","error":"no answer"`) {
		t.Errorf("the bad reading lost its error: %s", p)
	}
}

// gate is a TCP proxy to a broker that refuses every connection until it is opened.
type gate struct {
	ln     net.Listener
	mu     sync.Mutex
	isOpen bool
}

func startGate(t *testing.T, to string) *gate {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := &gate{ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			g.mu.Lock()
			ok := g.isOpen
			g.mu.Unlock()
			if !ok {
				c.Close()
				continue
			}
			up, err := net.Dial("tcp", to)
			if err != nil {
				c.Close()
				continue
			}
			go func() { io.Copy(up, c); up.Close() }()
			go func() { io.Copy(c, up); c.Close() }()
		}
	}()
	return g
}

func (g *gate) addr() string { return g.ln.Addr().String() }
func (g *gate) open()        { g.mu.Lock(); g.isOpen = true; g.mu.Unlock() }

// Fault 9: with readings.every equal to the poll interval, readings come every `every` give or take a
// little jitter; an unchanged one that comes a hair early is still the heartbeat.
func TestHeartbeatToleratesJitter(t *testing.T) {
	var f filter
	f.init(config.ReadingsPolicy{Every: settings.Duration(10 * time.Second), Deadband: 1}, contract.NewTopics("p", "gw"))
	at := t0
	passed := 0
	for i := 0; i < 100; i++ {
		r := reading.Reading{Sensor: "s", Channel: reading.Temperature, Value: 20, At: at}
		if _, ok := f.pass(&r, &celsius); ok {
			passed++
		}
		// Every 10 s, a few milliseconds early or late.
		at = at.Add(10*time.Second + time.Duration(i%3-1)*3*time.Millisecond)
	}
	if passed != 100 {
		t.Fatalf("%d of 100 unchanged readings published at a 10 s heartbeat and 10 s poll", passed)
	}
}

// Fault 10: a command payload larger than the limit is refused by its size, before anything copies it;
// the refusal is answered, counted, and logged once a minute however many come.
func TestHugeCommandRefusedBeforeCopy(t *testing.T) {
	b := startEmbedded(t)
	cfg := testConfig(t, t.TempDir(), "  embedded_broker: "+b.Addr())
	var logBuf peer.Output
	d, err := Open(context.Background(), cfg, slog.New(slog.NewTextHandler(&logBuf, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer closeDelivery2(d)
	huge := bytes.Repeat([]byte("{"), 64<<20)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := 0; i < 100; i++ {
		d.command(&target{name: "tcp://x", commands: true}, "rackwatch/gw1/cmd/ack", huge, false)
	}
	runtime.ReadMemStats(&after)
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
		t.Fatalf("refusing 100 commands of 64 MiB allocated %d bytes: the payload was copied", grew)
	}
	select {
	case c := <-d.Commands():
		t.Fatalf("an oversized command was passed on: %d bytes", len(c.Payload))
	default:
	}
	if d.cmdsRefused.Load() != 100 {
		t.Fatalf("refused %d, want 100", d.cmdsRefused.Load())
	}
	if n := strings.Count(logBuf.String(), "command refused"); n != 1 {
		t.Fatalf("%d log lines for 100 refused commands, want 1:\n%s", n, logBuf.String())
	}
}

// smallRcvBuf gives a listening socket (and the connections it accepts) the smallest receive buffer.
func smallRcvBuf(network, address string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 1) })
	return cmp.Or(err, serr)
}

// Fault 8: a broker that restarts every few seconds. A connection that carried alarms, or stayed up past
// one keepalive, starts the backoff again; one that dies at once without delivering anything (another
// client with our client id) keeps backing off up to backoffMax.
func TestReconnectPolicy(t *testing.T) {
	within := func(d, lo, hi time.Duration) bool { return d >= lo && d <= hi }
	r := reconnect{keepalive: 30 * time.Second}
	// The broker restarting: attempts fail while it is down, then connections live 2-5 s and deliver.
	for cycle := 0; cycle < 20; cycle++ {
		for i := 0; i < 3; i++ {
			r.next() // connection refused
		}
		r.lost(3*time.Second, true)
		if d := r.next(); !within(d, backoffBase/2, backoffBase) {
			t.Fatalf("cycle %d: after a connection that delivered alarms, the next attempt waits %s", cycle, d)
		}
	}
	// Up past one keepalive, nothing to deliver: also a working connection.
	for i := 0; i < 10; i++ {
		r.next()
	}
	r.lost(31*time.Second, false)
	if d := r.next(); !within(d, backoffBase/2, backoffBase) {
		t.Fatalf("after a connection up for one keepalive, the next attempt waits %s", d)
	}
	// Dropped at once, again and again, nothing delivered: the waits grow to backoffMax.
	var d time.Duration
	for i := 0; i < 20; i++ {
		r.lost(100*time.Millisecond, false)
		d = r.next()
	}
	if !within(d, backoffMax/2, backoffMax) {
		t.Fatalf("a connection dropped at once, 20 times: the wait is %s, want up to %s", d, backoffMax)
	}
}
