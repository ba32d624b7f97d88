package modbus

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	mb "github.com/simonvetter/modbus"
)

func TestCRC16Vectors(t *testing.T) {
	for _, c := range []struct {
		in   string
		want uint16
	}{{"313233343536373839", 0x4B37}, {"01030000000a", 0xCDC5}, {"0207", 0x1241}} {
		b, _ := hex.DecodeString(c.in)
		if got := CRC16(b); got != c.want {
			t.Errorf("CRC16(%s) = %04x, want %04x", c.in, got, c.want)
		}
	}
	// Sent low byte first: the read-holding request above goes out as 01 03 00 00 00 0A C5 CD.
	got := AppendRTUFrame(nil, RTUFrame{Unit: 1, Function: 3, Data: []byte{0, 0, 0, 0x0A}})
	if want, _ := hex.DecodeString("01030000000ac5cd"); !bytes.Equal(got, want) {
		t.Errorf("frame % x, want % x", got, want)
	}
}

func TestParseRTURequest(t *testing.T) {
	frame, _ := hex.DecodeString("01030000000ac5cd")
	f, n, err := ParseRTURequest(append(frame, 0x01)) // a following byte is left for the next frame
	if err != nil || n != 8 || f.Unit != 1 || f.Function != 3 || !bytes.Equal(f.Data, []byte{0, 0, 0, 0x0A}) {
		t.Fatalf("got %+v, %d, %v", f, n, err)
	}
	if _, _, err := ParseRTURequest(frame[:5]); !errors.Is(err, ErrIncomplete) {
		t.Errorf("short: %v, want incomplete", err)
	}
	bad := append([]byte(nil), frame...)
	bad[7] ^= 0xFF
	if _, _, err := ParseRTURequest(bad); !errors.Is(err, ErrFrameCRC) {
		t.Errorf("corrupt: %v, want CRC mismatch", err)
	}
	if _, _, err := ParseRTURequest([]byte{1, 0x2B, 0, 0}); !errors.Is(err, ErrUnknownFunction) {
		t.Errorf("fc 0x2b: %v, want unknown function", err)
	}
	wr := AppendRTUFrame(nil, RTUFrame{Unit: 9, Function: 0x10, Data: []byte{0, 1, 0, 2, 4, 1, 2, 3, 4}})
	if f, n, err := ParseRTURequest(wr); err != nil || n != len(wr) || f.Unit != 9 {
		t.Errorf("write multiple: %+v, %d, %v", f, n, err)
	}
}

// FuzzParseRTURequest: any bytes either parse into a frame that re-encodes to the same bytes, or fail
// without consuming anything; never a panic or an out-of-range slice.
func FuzzParseRTURequest(f *testing.F) {
	for _, s := range []string{"01030000000ac5cd", "0104100000119c0e", "0f01", "", "01100001000204010203040000"} {
		b, _ := hex.DecodeString(s)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, n, err := ParseRTURequest(b)
		if err != nil {
			if n != 0 {
				t.Fatalf("error %v but consumed %d", err, n)
			}
			return
		}
		if n > len(b) || n > maxRTUFrame+2 {
			t.Fatalf("consumed %d of %d", n, len(b))
		}
		if again := AppendRTUFrame(nil, fr); !bytes.Equal(again, b[:n]) {
			t.Fatalf("re-encoded % x, parsed from % x", again, b[:n])
		}
	})
}

func rtuBus(t *testing.T, path string, timeout time.Duration) *Bus {
	return newTestBus(t, BusConfig{Address: path, Baud: 19200, Parity: "even", Timeout: timeout})
}

// The driver reads over a real serial port path (the slave side of a pty) through the library's RTU
// transport, against this package's RTU server.
func TestRTUOverPty(t *testing.T) {
	f := newFakeUnits()
	f.setRegs(1, Input, 30, 0xFF38, 0x42F6, 0xE979)
	path := startRTUServer(t, &RTUServer{Handler: f})
	dev, err := NewDevice(rtuBus(t, path, time.Second), DeviceConfig{Unit: 1, Registers: []RegSpec{
		{Channel: "battery_temp", Table: "input", Address: intp(30), Type: "int16", Scale: f64p(0.1)},
		{Channel: "f", Table: "input", Address: intp(31), Type: "float32"},
	}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		got := readAll(t, dev)
		if s := got["battery_temp"]; s.Err != nil || s.Value != -20 {
			t.Errorf("battery_temp = %v (%v)", s.Value, s.Err)
		}
		if s := got["f"]; s.Err != nil || float32(s.Value) != float32(123.456) {
			t.Errorf("f = %v (%v)", s.Value, s.Err)
		}
	}
	if n := f.count(1); n != 3 {
		t.Errorf("%d requests for 3 reads of 3 adjacent registers, want 3", n)
	}
}

// A corrupted answer is a bad reading saying so; the line resynchronises and the next poll is good.
func TestRTUBadCRCIsBadReadingThenRecovers(t *testing.T) {
	f := newFakeUnits()
	f.setRegs(1, Holding, 0, 99)
	var corrupt atomic.Bool
	corrupt.Store(true)
	path := startRTUServer(t, &RTUServer{Handler: f, Corrupt: func(b []byte) {
		if corrupt.Swap(false) {
			b[len(b)-1] ^= 0x55
		}
	}})
	dev, err := NewDevice(rtuBus(t, path, 500*time.Millisecond), DeviceConfig{Unit: 1, Every: time.Second, Registers: []RegSpec{{Channel: "v", Table: "holding", Address: intp(0)}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{t: time.Unix(1e9, 0)}
	dev.now = clock.now
	if _, err := dev.Read(context.Background(), nil); !errors.Is(err, mb.ErrBadCRC) {
		t.Fatalf("corrupted answer: err %v, want bad crc", err)
	}
	clock.t = clock.t.Add(time.Second)
	if got := readAll(t, dev); got["v"].Value != 99 {
		t.Fatalf("after the bad frame: %v", got["v"])
	}
}

// Exceptions come back over RTU as the library's errors.
func TestRTUException(t *testing.T) {
	f := newFakeUnits()
	f.failAddr[500] = mb.ErrIllegalDataAddress
	path := startRTUServer(t, &RTUServer{Handler: f})
	_, err := rtuBus(t, path, 500*time.Millisecond).ReadRegisters(1, Holding, 500, 1)
	if !errors.Is(err, mb.ErrIllegalDataAddress) {
		t.Fatalf("err %v, want illegal data address", err)
	}
}

// One unresponsive unit on a shared RS-485 line: the other unit is read at every poll, with the right
// values, while the dead one costs one timeout per backoff step and nothing in between.
func TestDeadUnitDoesNotStallSharedRTUBus(t *testing.T) {
	f := newFakeUnits()
	f.setRegs(1, Holding, 0, 230, 50)
	f.setRegs(1, Holding, 100, 12)
	f.setFail(2, ErrNoResponse) // unit 2 never answers, like a slave with its cable cut
	path := startRTUServer(t, &RTUServer{Handler: f})
	bus := rtuBus(t, path, 100*time.Millisecond)
	specs := []RegSpec{
		{Channel: "voltage", Table: "holding", Address: intp(0)},
		{Channel: "frequency", Table: "holding", Address: intp(1)},
		{Channel: "temperature", Table: "holding", Address: intp(100)},
	}
	good, _ := NewDevice(bus, DeviceConfig{Unit: 1, Every: time.Second, Registers: specs}, nil)
	dead, _ := NewDevice(bus, DeviceConfig{Unit: 2, Every: time.Second, Registers: specs}, nil)
	clock := &fakeClock{t: time.Unix(1e9, 0)}
	good.now, dead.now = clock.now, clock.now

	const polls = 20
	goodReadings, badReadings := 0, 0
	for poll := 0; poll < polls; poll++ {
		// The scheduler reads every sensor of a bus from one goroutine, in turn: the dead one first.
		if _, err := dead.Read(context.Background(), nil); err != nil {
			badReadings++
			if !errors.Is(err, mb.ErrRequestTimedOut) {
				t.Errorf("poll %d: dead unit err %v, want it to carry the timeout", poll, err)
			}
		}
		out, err := good.Read(context.Background(), nil)
		if err != nil {
			t.Fatalf("poll %d: good unit failed: %v", poll, err)
		}
		if out[0].Value != 230 || out[1].Value != 50 || out[2].Value != 12 {
			t.Fatalf("poll %d: good unit read %v", poll, out)
		}
		goodReadings++
		clock.t = clock.t.Add(time.Second)
	}
	if goodReadings != polls || badReadings != polls {
		t.Errorf("good unit: %d readings, dead unit: %d bad readings, want %d each", goodReadings, badReadings, polls)
	}
	// Attempts at polls 0, 1, 3, 7, 15, one request each although the device has two blocks.
	if n := f.count(2); n != 5 {
		t.Errorf("dead unit was sent %d requests in %d polls, want 5", n, polls)
	}
	if n := f.count(1); n != 2*polls {
		t.Errorf("good unit was sent %d requests, want %d", n, 2*polls)
	}
}

// The RTU server drops noise and garbled frames and answers the next good request.
func TestRTUServerResynchronises(t *testing.T) {
	f := newFakeUnits()
	f.setRegs(1, Holding, 0, 77)
	srv := &RTUServer{Handler: f}
	req := AppendRTUFrame(nil, RTUFrame{Unit: 1, Function: 3, Data: []byte{0, 0, 0, 1}})
	broken := append([]byte(nil), req...)
	broken[3] ^= 1
	in := append(append([]byte{0xFF, 0x00, 0x2B}, broken...), req...)
	var out bytes.Buffer
	port := struct {
		io.Reader
		io.Writer
	}{bytes.NewReader(in), &out}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := srv.Serve(ctx, port); err == nil || !strings.Contains(err.Error(), "EOF") {
		t.Fatalf("Serve: %v, want EOF at the end of input", err)
	}
	want := AppendRTUFrame(nil, RTUFrame{Unit: 1, Function: 3, Data: []byte{2, 0, 77}})
	if !bytes.Equal(out.Bytes(), want) {
		t.Errorf("answered % x, want % x", out.Bytes(), want)
	}
	if g := srv.Garbled(); g["bad crc"] == 0 {
		t.Errorf("garbled counts %v, want bad crc counted", g)
	}
}

// A unit that answers after the timeout puts a stray frame on the line. It must never be taken for the
// next unit's answer, and the line must settle instead of shifting every later answer by one.
func TestRTULateAnswerDoesNotShiftOthers(t *testing.T) {
	f := newFakeUnits()
	f.setRegs(1, Holding, 0, 1111)
	f.setRegs(2, Holding, 0, 2222)
	f.delay[2] = 150 * time.Millisecond
	path := startRTUServer(t, &RTUServer{Handler: f})
	bus := rtuBus(t, path, 100*time.Millisecond)
	if _, err := bus.ReadRegisters(2, Holding, 0, 1); !errors.Is(err, mb.ErrRequestTimedOut) {
		t.Fatalf("slow unit: %v, want a timeout", err)
	}
	// Alternate two units so that an answer shifted by one would belong to the wrong unit.
	f.setRegs(3, Holding, 0, 3333)
	var errs int
	for i := 0; i < 8; i++ {
		unit, want := uint8(1), uint16(1111)
		if i%2 == 1 {
			unit, want = 3, 3333
		}
		regs, err := bus.ReadRegisters(unit, Holding, 0, 1)
		if err != nil {
			errs++
			continue
		}
		if regs[0] != want {
			t.Fatalf("read %d of unit %d returned %d: another unit's answer", i, unit, regs[0])
		}
	}
	if errs > 2 {
		t.Errorf("%d of 8 reads failed after one late answer; the line did not settle", errs)
	}
}
