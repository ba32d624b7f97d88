package modbus

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	mb "github.com/simonvetter/modbus"

	"github.com/rackwatch/rackwatch/agent/config"
	"github.com/rackwatch/rackwatch/agent/driver"
)

// fakeUnits is a request handler with hand-written register images per unit, a request counter, and
// faults to inject: an exception per unit or per address, silence, or an answer held back until the
// test releases it (a late answer, in the order the test chooses rather than after a guessed delay).
// Its exported methods serve the external tests too (export_test.go).
type fakeUnits struct {
	mu        sync.Mutex
	holding   map[uint8]map[uint16]uint16
	input     map[uint8]map[uint16]uint16
	coils     map[uint8]map[uint16]bool
	requests  map[uint8]int
	fail      map[uint8]error  // every request to the unit gets this error
	failAddr  map[uint16]error // requests covering this address get this error
	held      map[uint8]chan struct{}
	requested []string // "unit fc addr+n", in order
}

func newFakeUnits() *fakeUnits {
	return &fakeUnits{
		holding: map[uint8]map[uint16]uint16{}, input: map[uint8]map[uint16]uint16{}, coils: map[uint8]map[uint16]bool{},
		requests: map[uint8]int{}, fail: map[uint8]error{}, failAddr: map[uint16]error{}, held: map[uint8]chan struct{}{},
	}
}

// SetRegs sets registers of a unit's holding or input table.
func (f *fakeUnits) SetRegs(unit uint8, t Table, addr uint16, regs ...uint16) {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := f.holding
	if t == Input {
		m = f.input
	}
	if m[unit] == nil {
		m[unit] = map[uint16]uint16{}
	}
	for i, r := range regs {
		m[unit][addr+uint16(i)] = r
	}
}

// SetFail makes every request to unit fail with err (modbussim.ErrNoResponse: silence, over RTU); nil
// ends it.
func (f *fakeUnits) SetFail(unit uint8, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err == nil {
		delete(f.fail, unit)
	} else {
		f.fail[unit] = err
	}
}

// SetFailAddr makes requests covering addr fail with err.
func (f *fakeUnits) SetFailAddr(addr uint16, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failAddr[addr] = err
}

// Hold keeps the answers to unit's requests back until release is called (or the test ends); they go
// out then, late. The server answers one request at a time, so everything after a held request waits
// too, as on a serial line.
func (f *fakeUnits) Hold(t testing.TB, unit uint8) (release func()) {
	ch := make(chan struct{})
	f.mu.Lock()
	f.held[unit] = ch
	f.mu.Unlock()
	var once sync.Once
	release = func() {
		once.Do(func() {
			f.mu.Lock()
			delete(f.held, unit)
			f.mu.Unlock()
			close(ch)
		})
	}
	t.Cleanup(release) // before the server's own cleanup, which waits for the request in hand
	return release
}

// Count returns how many requests unit was sent.
func (f *fakeUnits) Count(unit uint8) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests[unit]
}

// begin records a request and returns the fault to answer with, if any.
func (f *fakeUnits) begin(unit uint8, fc string, addr, n uint16) error {
	f.mu.Lock()
	f.requests[unit]++
	f.requested = append(f.requested, fmt.Sprintf("%d %s %d+%d", unit, fc, addr, n))
	err := f.fail[unit]
	for a, e := range f.failAddr {
		if a >= addr && int(a) < int(addr)+int(n) {
			err = e
		}
	}
	held := f.held[unit]
	f.mu.Unlock()
	if held != nil {
		<-held
	}
	return err
}

func (f *fakeUnits) regs(m map[uint8]map[uint16]uint16, unit uint8, addr, n uint16) []uint16 {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]uint16, n)
	for i := range out {
		out[i] = m[unit][addr+uint16(i)]
	}
	return out
}

func (f *fakeUnits) HandleCoils(r *mb.CoilsRequest) ([]bool, error) {
	if err := f.begin(r.UnitId, "coil", r.Addr, r.Quantity); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]bool, r.Quantity)
	for i := range out {
		out[i] = f.coils[r.UnitId][r.Addr+uint16(i)]
	}
	return out, nil
}

func (f *fakeUnits) HandleDiscreteInputs(r *mb.DiscreteInputsRequest) ([]bool, error) {
	if err := f.begin(r.UnitId, "discrete", r.Addr, r.Quantity); err != nil {
		return nil, err
	}
	return make([]bool, r.Quantity), nil
}

func (f *fakeUnits) HandleHoldingRegisters(r *mb.HoldingRegistersRequest) ([]uint16, error) {
	if err := f.begin(r.UnitId, "holding", r.Addr, r.Quantity); err != nil {
		return nil, err
	}
	return f.regs(f.holding, r.UnitId, r.Addr, r.Quantity), nil
}

func (f *fakeUnits) HandleInputRegisters(r *mb.InputRegistersRequest) ([]uint16, error) {
	if err := f.begin(r.UnitId, "input", r.Addr, r.Quantity); err != nil {
		return nil, err
	}
	return f.regs(f.input, r.UnitId, r.Addr, r.Quantity), nil
}

var quietLog = log.New(io.Discard, "", 0)

// startTCPServer runs the library's Modbus TCP server on a free loopback port. The library cannot report
// the port it bound, so a port is picked by binding :0 first and handed over; a lost race is retried.
func startTCPServer(t testing.TB, h mb.RequestHandler) (addr string, stop func()) {
	t.Helper()
	for try := 0; ; try++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr = l.Addr().String()
		l.Close()
		srv, err := mb.NewServer(&mb.ServerConfiguration{URL: "tcp://" + addr, Timeout: 30 * time.Second, MaxClients: 16, Logger: quietLog}, h)
		if err != nil {
			t.Fatal(err)
		}
		if err := srv.Start(); err != nil {
			if try < 5 {
				continue
			}
			t.Fatal(err)
		}
		var once sync.Once
		stop = func() { once.Do(func() { srv.Stop() }) }
		t.Cleanup(stop)
		return addr, stop
	}
}

// newTestBus opens a bus for a test. A timeout left at zero is a generous one: an answer that is merely
// slow on a loaded machine must not fail a test; tests about timeouts set their own.
func newTestBus(t testing.TB, cfg BusConfig) *Bus {
	t.Helper()
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	b, err := NewBus(cfg, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func testLog(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p[:len(p)-1]))
	return len(p), nil
}

// sensorFromYAML parses a config holding one modbus sensor (and its bus) and returns them.
func sensorFromYAML(t testing.TB, dir, body string) (*config.Config, error) {
	t.Helper()
	path := dir + "/rackwatch.yaml"
	src := "gateway: {id: gw1}\nmqtt: {embedded_broker: 127.0.0.1:1883}\n" + body
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return config.Load(path)
}

// read calls Read once and returns the samples by channel, failing the test on a whole-read error.
func readAll(t testing.TB, d *Device) map[string]driver.Sample {
	t.Helper()
	out, err := d.Read(context.Background(), nil)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	m := map[string]driver.Sample{}
	for _, s := range out {
		m[string(s.Channel)] = s
	}
	return m
}

func intp(v int) *int { return &v }
func f64p(v float64) *float64 {
	return &v
}
