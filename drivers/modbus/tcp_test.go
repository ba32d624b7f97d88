package modbus

import (
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	mb "github.com/simonvetter/modbus"

	"github.com/rackwatch/rackwatch/agent/driver"
)

// Every type and word order, end to end: hand-computed registers in the server, decoded values out of
// the driver, over the library's TCP client and server.
func TestTCPEveryTypeAndOrder(t *testing.T) {
	f := newFakeUnits()
	addr, _ := startTCPServer(t, f)
	var specs []RegSpec
	for i, c := range decodeCases {
		a := uint16(i * 4)
		f.SetRegs(1, Holding, a, c.regs...)
		specs = append(specs, RegSpec{Channel: fmt.Sprintf("v%d", i), Table: "holding", Address: intp(int(a)), Type: c.typ.String(), WordOrder: c.order.String()})
	}
	dev, err := NewDevice(newTestBus(t, BusConfig{TCP: true, Address: addr}), DeviceConfig{Unit: 1, Registers: specs, Gap: 3}, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := readAll(t, dev)
	for i, c := range decodeCases {
		s := got[fmt.Sprintf("v%d", i)]
		if s.Err != nil {
			t.Errorf("%s: %v", c.name, s.Err)
		} else if math.Abs(s.Value-c.want) > 1e-4 {
			t.Errorf("%s: got %v, want %v", c.name, s.Value, c.want)
		}
	}
	// 28 values over 112 registers with gaps of at most 3: one request.
	if n := f.Count(1); n != 1 {
		t.Errorf("%d requests for one read, want 1 merged request: %v", n, f.requested)
	}
}

func TestScaleOffsetBitsStatesAndReduce(t *testing.T) {
	f := newFakeUnits()
	addr, _ := startTCPServer(t, f)
	f.SetRegs(1, Input, 30, 0xFF38)                     // int16 -200
	f.SetRegs(1, Input, 31, 2981)                       // 0.1 K
	f.SetRegs(1, Holding, 2, 0b1000)                    // status word, bit 3 set
	f.SetRegs(1, Holding, 1024, 3)                      // state "battery"
	f.SetRegs(1, Input, 0x1100, 3301, 3297, 3310, 3288) // cell mV
	f.mu.Lock()
	f.coils[1] = map[uint16]bool{5: true}
	f.mu.Unlock()
	states := map[string]string{"0": "none", "2": "mains", "3": "battery"}
	specs := []RegSpec{
		{Channel: "battery_temp", Table: "input", Address: intp(30), Type: "int16", Scale: f64p(0.1)},
		{Channel: "cell_temp", Table: "input", Address: intp(31), Scale: f64p(0.1), Offset: -273.15},
		{Channel: "on_battery", Table: "holding", Address: intp(2), Bit: intp(3)},
		{Channel: "low_battery", Table: "holding", Address: intp(2), Bit: intp(2)},
		{Channel: "output_source", Table: "holding", Address: intp(1024), States: states},
		{Channel: "source_is_battery", Table: "holding", Address: intp(1024), Equals: []int64{3}},
		{Channel: "cell_voltage_max", Table: "input", Address: intp(0x1100), Count: 4, Reduce: "max", Scale: f64p(0.001)},
		{Channel: "cell_voltage_min", Table: "input", Address: intp(0x1100), Count: 4, Reduce: "min", Scale: f64p(0.001)},
		{Channel: "cell_voltage_spread", Table: "input", Address: intp(0x1100), Count: 4, Reduce: "spread", Scale: f64p(0.001)},
		{Channel: "smoke", Table: "coil", Address: intp(5)},
	}
	dev, err := NewDevice(newTestBus(t, BusConfig{TCP: true, Address: addr}), DeviceConfig{Unit: 1, Registers: specs}, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := readAll(t, dev)
	want := map[string]float64{"battery_temp": -20, "cell_temp": 24.95, "on_battery": 1, "low_battery": 0, "output_source": 3,
		"source_is_battery": 1, "cell_voltage_max": 3.310, "cell_voltage_min": 3.288, "cell_voltage_spread": 0.022, "smoke": 1}
	for ch, w := range want {
		if s := got[ch]; s.Err != nil || math.Abs(s.Value-w) > 1e-9 {
			t.Errorf("%s = %v (err %v), want %v", ch, s.Value, s.Err, w)
		}
	}
	// A device's "no value" marker is a bad reading, not 3276.7 V.
	f.SetRegs(1, Holding, 11000, 0x7FFF, 2306)
	nv, err := NewDevice(newTestBus(t, BusConfig{TCP: true, Address: addr}), DeviceConfig{Unit: 1, Registers: []RegSpec{
		{Channel: "input_voltage", Table: "holding", Address: intp(11000), Scale: f64p(0.1), Invalid: []int64{0x7FFF}},
		{Channel: "output_voltage", Table: "holding", Address: intp(11001), Scale: f64p(0.1), Invalid: []int64{0x7FFF}},
	}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	got = readAll(t, nv)
	if s := got["input_voltage"]; s.Err == nil || !strings.Contains(s.Err.Error(), "no value (raw 0x7fff)") {
		t.Errorf("input_voltage at 0x7FFF: %v, %v", s.Value, s.Err)
	}
	if s := got["output_voltage"]; s.Err != nil || math.Abs(s.Value-230.6) > 1e-9 {
		t.Errorf("output_voltage = %v (%v), want 230.6", s.Value, s.Err)
	}
	// A state the map does not know is a bad reading naming the value, not a silent number.
	f.SetRegs(1, Holding, 1024, 7)
	got = readAll(t, dev)
	if s := got["output_source"]; s.Err == nil || !strings.Contains(s.Err.Error(), "unknown state 7") {
		t.Errorf("output_source with value 7: err %v, want unknown state 7", s.Err)
	}
	if s := got["source_is_battery"]; s.Err != nil || s.Value != 0 {
		t.Errorf("source_is_battery with value 7 = %v (%v), want 0", s.Value, s.Err)
	}
}

// Merged reads: the number and shape of requests on the wire for one read, at several limits.
func TestMergedReadsCountRequests(t *testing.T) {
	specs := []RegSpec{
		{Channel: "a", Table: "holding", Address: intp(0)},
		{Channel: "b", Table: "holding", Address: intp(1)},
		{Channel: "c", Table: "holding", Address: intp(2), Type: "uint32"},
		{Channel: "d", Table: "holding", Address: intp(4), Bit: intp(0)},
		{Channel: "e", Table: "holding", Address: intp(4), Bit: intp(1)},
		{Channel: "f", Table: "holding", Address: intp(10)},
		{Channel: "g", Table: "input", Address: intp(0), Type: "int16"},
		{Channel: "h", Table: "coil", Address: intp(0)},
		{Channel: "i", Table: "coil", Address: intp(1)},
	}
	for _, c := range []struct {
		name    string
		maxRegs int
		gap     int
		want    []string
	}{
		{"adjacent only", 0, 0, []string{"1 coil 0+2", "1 holding 0+5", "1 holding 10+1", "1 input 0+1"}},
		{"across a gap of 5", 0, 5, []string{"1 coil 0+2", "1 holding 0+11", "1 input 0+1"}},
		{"max 3 registers", 3, 0, []string{"1 coil 0+2", "1 holding 0+2", "1 holding 2+3", "1 holding 10+1", "1 input 0+1"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFakeUnits()
			addr, _ := startTCPServer(t, f)
			bus := newTestBus(t, BusConfig{TCP: true, Address: addr})
			dev, err := NewDevice(bus, DeviceConfig{Unit: 1, Registers: specs, MaxRegisters: c.maxRegs, Gap: c.gap}, nil)
			if err != nil {
				t.Fatal(err)
			}
			got := readAll(t, dev)
			if len(got) != len(specs) {
				t.Errorf("%d samples, want %d", len(got), len(specs))
			}
			if !reflect.DeepEqual(f.requested, c.want) {
				t.Errorf("requests %q, want %q", f.requested, c.want)
			}
			if bus.Requests() != uint64(len(c.want)) {
				t.Errorf("bus counted %d requests, want %d", bus.Requests(), len(c.want))
			}
		})
	}
}

// An exception naming the request (illegal address) marks that block's channels bad and keeps the
// device in service; the other blocks still give values and the next poll reads the wire again.
func TestIllegalAddressMarksOnlyItsBlock(t *testing.T) {
	f := newFakeUnits()
	addr, _ := startTCPServer(t, f)
	f.SetRegs(1, Holding, 0, 42)
	f.SetFailAddr(10, mb.ErrIllegalDataAddress)
	dev, err := NewDevice(newTestBus(t, BusConfig{TCP: true, Address: addr}), DeviceConfig{Unit: 1, Registers: []RegSpec{
		{Channel: "good", Table: "holding", Address: intp(0)},
		{Channel: "missing", Table: "holding", Address: intp(10)},
	}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for poll := 0; poll < 3; poll++ {
		got := readAll(t, dev)
		if s := got["good"]; s.Err != nil || s.Value != 42 {
			t.Errorf("poll %d: good = %v (%v), want 42", poll, s.Value, s.Err)
		}
		if s := got["missing"]; !errors.Is(s.Err, mb.ErrIllegalDataAddress) {
			t.Errorf("poll %d: missing err = %v, want illegal data address", poll, s.Err)
		}
	}
	if n := f.Count(1); n != 6 {
		t.Errorf("%d requests over 3 polls, want 6 (no backoff for a config problem)", n)
	}
}

// fakeClock is advanced by hand; the device's backoff reads it instead of the wall clock.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

// A busy device backs off 1, 3, 7 … polls without touching the wire, and recovers by itself.
func TestBusyDeviceBacksOffAndRecovers(t *testing.T) {
	f := newFakeUnits()
	addr, _ := startTCPServer(t, f)
	f.SetRegs(1, Holding, 0, 7)
	f.SetFail(1, mb.ErrServerDeviceBusy)
	dev, err := NewDevice(newTestBus(t, BusConfig{TCP: true, Address: addr}), DeviceConfig{Unit: 1, Every: time.Second, Registers: []RegSpec{
		{Channel: "a", Table: "holding", Address: intp(0)}, {Channel: "b", Table: "holding", Address: intp(20)},
	}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{t: time.Unix(1e9, 0)}
	dev.now = clock.now
	var attempts []int
	for poll := 0; poll < 16; poll++ {
		before := f.Count(1)
		out, err := dev.Read(context.Background(), nil)
		if err == nil || len(out) != 0 {
			t.Fatalf("poll %d: got %d samples, err %v; want a whole-read error", poll, len(out), err)
		}
		if !errors.Is(err, mb.ErrServerDeviceBusy) {
			t.Errorf("poll %d: err %v does not carry the cause (busy)", poll, err)
		}
		switch f.Count(1) - before {
		case 0:
			if !errors.Is(err, ErrBackoff) {
				t.Errorf("poll %d: skipped the wire but err is %v", poll, err)
			}
		case 1:
			attempts = append(attempts, poll)
		default:
			t.Errorf("poll %d: %d requests; a failing device must stop at its first block", poll, f.Count(1)-before)
		}
		clock.t = clock.t.Add(time.Second)
	}
	if want := []int{0, 1, 3, 7, 15}; !reflect.DeepEqual(attempts, want) {
		t.Errorf("wire attempts at polls %v, want %v", attempts, want)
	}
	f.SetFail(1, nil)
	clock.t = clock.t.Add(maxDeviceBackoff)
	got := readAll(t, dev)
	if s := got["a"]; s.Err != nil || s.Value != 7 {
		t.Errorf("after recovery a = %v (%v), want 7", s.Value, s.Err)
	}
	clock.t = clock.t.Add(time.Second)
	readAll(t, dev) // and it stays in service
}

// A unit that answers too late times out as a bad reading; its late answer must never be taken for
// another unit's, and the bus keeps serving the other unit. The late answer is held back until the
// timeout has happened, so no guess about how fast this machine is decides what is late.
func TestTimeoutDoesNotLeakIntoTheNextRequest(t *testing.T) {
	f := newFakeUnits()
	addr, _ := startTCPServer(t, f)
	f.SetRegs(1, Holding, 0, 1111)
	f.SetRegs(2, Holding, 0, 2222)
	release := f.Hold(t, 2)
	bus := newTestBus(t, BusConfig{TCP: true, Address: addr, Timeout: time.Second})
	spec := []RegSpec{{Channel: "v", Table: "holding", Address: intp(0)}}
	d1, _ := NewDevice(bus, DeviceConfig{Unit: 1, Registers: spec}, nil)
	d2, _ := NewDevice(bus, DeviceConfig{Unit: 2, Registers: spec}, nil)
	if _, err := d2.Read(context.Background(), nil); !errors.Is(err, mb.ErrRequestTimedOut) {
		t.Fatalf("slow unit: err %v, want timed out", err)
	}
	release() // the late answer goes out now, ahead of unit 1's
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := d1.Read(context.Background(), nil)
		if err == nil {
			if out[0].Value != 1111 {
				t.Fatalf("unit 1 read %v: another unit's answer leaked in", out[0].Value)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("unit 1 never read after unit 2 timed out: %v", err)
		}
	}
}

// A TCP bus reconnects by itself after the server goes away and comes back.
func TestTCPReconnects(t *testing.T) {
	f := newFakeUnits()
	addr, stop := startTCPServer(t, f)
	f.SetRegs(1, Holding, 0, 5)
	bus := newTestBus(t, BusConfig{TCP: true, Address: addr})
	clock := &fakeClock{t: time.Unix(1e9, 0)}
	bus.now = clock.now
	if _, err := bus.ReadRegisters(1, Holding, 0, 1); err != nil {
		t.Fatal(err)
	}
	stop()
	// The dropped connection is noticed (EOF or reset), then reopening fails while nothing listens.
	for i := 0; i < 3; i++ {
		if _, err := bus.ReadRegisters(1, Holding, 0, 1); err == nil {
			t.Fatalf("read %d with the server stopped succeeded", i)
		}
	}
	srv, err := mb.NewServer(&mb.ServerConfiguration{URL: "tcp://" + addr, Logger: quietLog}, f)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Skipf("port %s taken meanwhile: %v", addr, err)
	}
	defer srv.Stop()
	// Still inside the reconnect backoff: fails fast without dialling.
	if _, err := bus.ReadRegisters(1, Holding, 0, 1); err == nil || !strings.Contains(err.Error(), "not connected") {
		t.Errorf("inside the backoff: err %v, want a fast 'not connected'", err)
	}
	clock.t = clock.t.Add(reopenMax)
	regs, err := bus.ReadRegisters(1, Holding, 0, 1)
	if err != nil || regs[0] != 5 {
		t.Fatalf("after the server came back: %v, %v", regs, err)
	}
}

// BenchmarkTCPRead measures registers read per second over TCP loopback through the whole driver path
// (merge plan, library client, decoding), for a full 125-register request and for one register.
func BenchmarkTCPRead(b *testing.B) {
	for _, n := range []int{1, 8, 125} {
		b.Run(fmt.Sprintf("%dregs", n), func(b *testing.B) {
			f := newFakeUnits()
			addr, _ := startTCPServer(b, f)
			specs := make([]RegSpec, n)
			for i := range specs {
				specs[i] = RegSpec{Channel: fmt.Sprintf("r%d", i), Table: "input", Address: intp(i), Type: "int16", Scale: f64p(0.1)}
			}
			dev, err := NewDevice(newTestBus(b, BusConfig{TCP: true, Address: addr}), DeviceConfig{Unit: 1, Registers: specs}, nil)
			if err != nil {
				b.Fatal(err)
			}
			buf := make([]driver.Sample, 0, n)
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := dev.Read(ctx, buf[:0]); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "regs/s")
		})
	}
}
