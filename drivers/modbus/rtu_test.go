package modbus_test

import (
	"context"
	"errors"
	"os"
	"sync/atomic"
	"testing"
	"time"

	mb "github.com/simonvetter/modbus"
	"golang.org/x/sys/unix"

	"github.com/rackwatch/rackwatch/drivers/modbus"
	"github.com/rackwatch/rackwatch/drivers/modbus/modbussim"
)

// The RTU tests run the driver against modbussim's RTU server over a pty. They wait for what must happen
// with generous timeouts and hold late answers back until the test releases them, so that a loaded
// machine makes them slower, never wrong; where an outcome does depend on the machine keeping up (a live
// unit answering within the bus timeout), they count over many polls with room to spare.

// rtuLine is a simulated RS-485 line: modbussim's RTU server on the master side of a pty, whose slave
// the driver opens by its path like a USB serial adapter (through the library's goburrow/serial port).
//
// A real serial port discards what it received but nobody read when the last program closes it, and the
// driver counts on that: after a stray frame it reconnects to drop whatever else is still on its way. A
// pty keeps such bytes for the next program; the library's own discard on opening reads for only half a
// millisecond, which a busy machine can miss. So settle does what the port's close would have done.
type rtuLine struct {
	path    string
	slave   *os.File      // held open here: the master reads EIO once the last slave descriptor closes
	idle    *unix.Termios // the slave's settings while no program has it open
	answers atomic.Int64  // frames the server has put on the line
}

func startRTU(t *testing.T, srv *modbussim.RTUServer) *rtuLine {
	t.Helper()
	master, slave, err := modbussim.OpenPTY()
	if err != nil {
		t.Skipf("no pty available: %v", err)
	}
	l := &rtuLine{path: slave.Name(), slave: slave}
	// Raw while no program has the port open, as a serial line is: no echo back to the server and no
	// control characters (a frame's 0x03 must not act as ^C).
	fd := int(slave.Fd())
	tio, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	tio.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	tio.Oflag &^= unix.OPOST
	tio.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	tio.Cflag &^= unix.CSIZE | unix.PARENB
	tio.Cflag |= unix.CS8
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, tio); err != nil {
		t.Fatal(err)
	}
	if l.idle, err = unix.IoctlGetTermios(fd, unix.TCGETS); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ctx, countingPort{master, &l.answers}); err != nil && !errors.Is(err, os.ErrClosed) {
			t.Logf("rtu server: %v", err)
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		master.Close()
		slave.Close()
	})
	return l
}

// countingPort counts the frames the server writes.
type countingPort struct {
	*os.File
	n *atomic.Int64
}

func (p countingPort) Write(b []byte) (int, error) {
	n, err := p.File.Write(b)
	p.n.Add(1)
	return n, err
}

// settle waits until the server has put answers frames on the line in all (one per request it answers),
// then, if no program has the port open, discards what the line holds unread, as closing a real serial
// port does. Between settles the order of events on the line is the test's, not the scheduler's.
func (l *rtuLine) settle(t *testing.T, answers int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for l.answers.Load() < int64(answers) {
		if time.Now().After(deadline) {
			t.Fatalf("the server put %d answers on the line, want %d", l.answers.Load(), answers)
		}
		time.Sleep(time.Millisecond)
	}
	fd := int(l.slave.Fd())
	now, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	if *now == *l.idle {
		if err := unix.IoctlSetInt(fd, unix.TCFLSH, unix.TCIFLUSH); err != nil {
			t.Fatal(err)
		}
	}
}

func rtuBus(t *testing.T, path string, timeout time.Duration) *modbus.Bus {
	return modbus.NewTestBus(t, modbus.BusConfig{Address: path, Baud: 19200, Parity: "even", Timeout: timeout})
}

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

// The driver reads over a real serial port path (the slave side of a pty) through the library's RTU
// transport, against modbussim's RTU server.
func TestRTUOverPty(t *testing.T) {
	f := modbus.NewFakeUnits()
	f.SetRegs(1, modbus.Input, 30, 0xFF38, 0x42F6, 0xE979)
	line := startRTU(t, &modbussim.RTUServer{Handler: f})
	dev, err := modbus.NewDevice(rtuBus(t, line.path, 5*time.Second), modbus.DeviceConfig{Unit: 1, Registers: []modbus.RegSpec{
		{Channel: "battery_temp", Table: "input", Address: modbus.IntP(30), Type: "int16", Scale: modbus.F64P(0.1)},
		{Channel: "f", Table: "input", Address: modbus.IntP(31), Type: "float32"},
	}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		got := modbus.ReadAll(t, dev)
		if s := got["battery_temp"]; s.Err != nil || s.Value != -20 {
			t.Errorf("battery_temp = %v (%v)", s.Value, s.Err)
		}
		if s := got["f"]; s.Err != nil || float32(s.Value) != float32(123.456) {
			t.Errorf("f = %v (%v)", s.Value, s.Err)
		}
	}
	if n := f.Count(1); n != 3 {
		t.Errorf("%d requests for 3 reads of 3 adjacent registers, want 3", n)
	}
}

// A corrupted answer is a bad reading saying so; the line resynchronises and the next poll is good.
func TestRTUBadCRCIsBadReadingThenRecovers(t *testing.T) {
	f := modbus.NewFakeUnits()
	f.SetRegs(1, modbus.Holding, 0, 99)
	var corrupt atomic.Bool
	corrupt.Store(true)
	line := startRTU(t, &modbussim.RTUServer{Handler: f, Corrupt: func(b []byte) {
		if corrupt.Swap(false) {
			b[len(b)-1] ^= 0x55
		}
	}})
	dev, err := modbus.NewDevice(rtuBus(t, line.path, 5*time.Second), modbus.DeviceConfig{Unit: 1, Every: time.Second, Registers: []modbus.RegSpec{{Channel: "v", Table: "holding", Address: modbus.IntP(0)}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{t: time.Unix(1e9, 0)}
	modbus.SetClock(dev, clock.now)
	if _, err := dev.Read(context.Background(), nil); !errors.Is(err, mb.ErrBadCRC) {
		t.Fatalf("corrupted answer: err %v, want bad crc", err)
	}
	clock.t = clock.t.Add(time.Second)
	if got := modbus.ReadAll(t, dev); got["v"].Value != 99 {
		t.Fatalf("after the bad frame: %v", got["v"])
	}
}

// Exceptions come back over RTU as the library's errors.
func TestRTUException(t *testing.T) {
	f := modbus.NewFakeUnits()
	f.SetFailAddr(500, mb.ErrIllegalDataAddress)
	line := startRTU(t, &modbussim.RTUServer{Handler: f})
	_, err := rtuBus(t, line.path, 5*time.Second).ReadRegisters(1, modbus.Holding, 500, 1)
	if !errors.Is(err, mb.ErrIllegalDataAddress) {
		t.Fatalf("err %v, want illegal data address", err)
	}
}

// One unresponsive unit on a shared RS-485 line: the other unit is read at every poll, with the right
// values, while the dead one costs one timeout per backoff step and nothing in between.
//
// The device's clock is a fake one, so which polls the dead unit spends on the wire does not depend on
// how long its timeouts take. The bus timeout is generous, because it is also how long the live unit may
// take to answer on a busy machine; the live unit's readings are counted with room for a few missed ones,
// the dead unit's wire attempts exactly.
func TestDeadUnitDoesNotStallSharedRTUBus(t *testing.T) {
	f := modbus.NewFakeUnits()
	f.SetRegs(1, modbus.Holding, 0, 230, 50)
	f.SetRegs(1, modbus.Holding, 100, 12)
	f.SetFail(2, modbussim.ErrNoResponse) // unit 2 never answers, like a slave with its cable cut
	line := startRTU(t, &modbussim.RTUServer{Handler: f})
	bus := rtuBus(t, line.path, time.Second)
	specs := []modbus.RegSpec{
		{Channel: "voltage", Table: "holding", Address: modbus.IntP(0)},
		{Channel: "frequency", Table: "holding", Address: modbus.IntP(1)},
		{Channel: "temperature", Table: "holding", Address: modbus.IntP(100)},
	}
	good, _ := modbus.NewDevice(bus, modbus.DeviceConfig{Unit: 1, Every: time.Second, Registers: specs}, nil)
	dead, _ := modbus.NewDevice(bus, modbus.DeviceConfig{Unit: 2, Every: time.Second, Registers: specs}, nil)
	clock := &fakeClock{t: time.Unix(1e9, 0)}
	modbus.SetClock(good, clock.now)
	modbus.SetClock(dead, clock.now)

	const polls = 12
	goodReadings, deadBad, deadTimeouts := 0, 0, 0
	for poll := 0; poll < polls; poll++ {
		// The scheduler reads every sensor of a bus from one goroutine, in turn: the dead one first.
		if _, err := dead.Read(context.Background(), nil); err != nil {
			deadBad++
			if errors.Is(err, mb.ErrRequestTimedOut) {
				deadTimeouts++
			} else {
				t.Logf("poll %d: dead unit: %v", poll, err)
			}
		}
		out, err := good.Read(context.Background(), nil)
		switch {
		case err != nil:
			t.Logf("poll %d: live unit: %v", poll, err)
		case out[0].Value != 230 || out[1].Value != 50 || out[2].Value != 12:
			t.Fatalf("poll %d: live unit read %v", poll, out)
		default:
			goodReadings++
		}
		line.settle(t, f.Count(1))
		clock.t = clock.t.Add(time.Second)
	}
	if deadBad != polls {
		t.Errorf("dead unit: %d bad readings in %d polls, want one per poll", deadBad, polls)
	}
	if deadTimeouts < polls-2 {
		t.Errorf("dead unit: only %d of its %d bad readings carry the timeout", deadTimeouts, deadBad)
	}
	// Attempts at polls 0, 1, 3, 7, one request each although the device has two blocks.
	if n := f.Count(2); n != 4 {
		t.Errorf("dead unit was sent %d requests in %d polls, want 4", n, polls)
	}
	if goodReadings < polls-2 {
		t.Errorf("live unit: %d good readings in %d polls; the dead unit stalls the line", goodReadings, polls)
	}
	if n := f.Count(1); n > 2*polls {
		t.Errorf("live unit was sent %d requests, more than its 2 blocks × %d polls", n, polls)
	}
}

// A unit that answers after the timeout puts a stray frame on the line. It must never be taken for the
// next unit's answer, and the line must settle instead of shifting every later answer by one.
func TestRTULateAnswerDoesNotShiftOthers(t *testing.T) {
	f := modbus.NewFakeUnits()
	f.SetRegs(1, modbus.Holding, 0, 1111)
	f.SetRegs(2, modbus.Holding, 0, 2222)
	f.SetRegs(3, modbus.Holding, 0, 3333)
	line := startRTU(t, &modbussim.RTUServer{Handler: f})
	bus := rtuBus(t, line.path, time.Second)
	requests := func() int { return f.Count(1) + f.Count(2) + f.Count(3) }
	// Unit 2 answers only once the bus has given up on it.
	release := f.Hold(t, 2)
	if _, err := bus.ReadRegisters(2, modbus.Holding, 0, 1); !errors.Is(err, mb.ErrRequestTimedOut) {
		t.Fatalf("slow unit: %v, want a timeout", err)
	}
	release()
	line.settle(t, requests()) // the late answer is on the line, unread
	// Alternate two units so that an answer shifted by one would belong to the wrong unit.
	var errs int
	for i := 0; i < 8; i++ {
		unit, want := uint8(1), uint16(1111)
		if i%2 == 1 {
			unit, want = 3, 3333
		}
		regs, err := bus.ReadRegisters(unit, modbus.Holding, 0, 1)
		switch {
		case err != nil:
			errs++
			t.Logf("read %d of unit %d: %v", i, unit, err)
		case regs[0] != want:
			t.Fatalf("read %d of unit %d returned %d: another unit's answer", i, unit, regs[0])
		}
		line.settle(t, requests())
	}
	// The stray frame costs the read it is taken by (then the bus reconnects); a line that shifted every
	// later answer by one would fail all 8.
	if errs > 2 {
		t.Errorf("%d of 8 reads failed after one late answer; the line did not settle", errs)
	}
}
