package megatecsim

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sync"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"

	"github.com/rackwatch/rackwatch/agent/reading"
)

// Source gives a channel's value at scenario time t; ok is false for a channel it does not simulate.
// A simulation scenario's Value method has this shape.
type Source func(ch reading.Channel, t time.Duration) (v float64, ok bool)

// Config describes the emulated UPS.
type Config struct {
	Source Source
	// Elapsed returns the scenario time; nil means wall-clock time since New, Speed times faster.
	Elapsed func() time.Duration
	// Speed makes scenario time run this many times faster than the clock (when Elapsed is nil); zero
	// means 1.
	Speed float64
	// BatteryNominal is the nominal pack voltage the F reply gives (default 48).
	BatteryNominal float64
	// RatedVoltage is the rated output voltage of the F reply (default 230).
	RatedVoltage float64
	// PerCell makes it an on-line unit: Q1 carries volts per 2 V cell and status bit 3 is 0.
	PerCell bool
}

// Emulator is one emulated UPS. Its methods are safe for concurrent use.
type Emulator struct {
	cfg Config

	mu       sync.Mutex
	inject   [][]byte
	mute     int
	cut      []int
	commands map[string]int
}

// New returns an emulator; defaults fill unset Config fields.
func New(cfg Config) *Emulator {
	if cfg.BatteryNominal == 0 {
		cfg.BatteryNominal = 48
	}
	if cfg.RatedVoltage == 0 {
		cfg.RatedVoltage = 230
	}
	if cfg.Elapsed == nil {
		start, speed := time.Now(), cfg.Speed
		if speed == 0 {
			speed = 1
		}
		cfg.Elapsed = func() time.Duration { return time.Duration(float64(time.Since(start)) * speed) }
	}
	return &Emulator{cfg: cfg, commands: map[string]int{}}
}

// Inject queues raw bytes that go on the wire just before the next reply (garbage, a cut-off line, an
// echo). Each call's bytes go before one reply, in order.
func (e *Emulator) Inject(b []byte) {
	e.mu.Lock()
	e.inject = append(e.inject, append([]byte(nil), b...))
	e.mu.Unlock()
}

// Truncate cuts the next reply after n bytes, without its CR, as a glitch on the line would.
func (e *Emulator) Truncate(n int) {
	e.mu.Lock()
	e.cut = append(e.cut, n)
	e.mu.Unlock()
}

// Mute makes the emulator ignore the next n commands.
func (e *Emulator) Mute(n int) {
	e.mu.Lock()
	e.mute += n
	e.mu.Unlock()
}

// Commands returns how often each command was received.
func (e *Emulator) Commands() map[string]int {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make(map[string]int, len(e.commands))
	for k, v := range e.commands {
		out[k] = v
	}
	return out
}

// Serve answers commands read from rw until reading fails (the port is closed); that error is returned,
// or nil for io.EOF.
func (e *Emulator) Serve(rw io.ReadWriter) error {
	buf := make([]byte, 64)
	var cmd []byte
	for {
		n, err := rw.Read(buf)
		for _, b := range buf[:n] {
			if b != '\r' {
				if len(cmd) < 32 {
					cmd = append(cmd, b)
				}
				continue
			}
			if out := e.handle(string(bytes.TrimSpace(cmd))); out != nil {
				if _, werr := rw.Write(out); werr != nil {
					return werr
				}
			}
			cmd = cmd[:0]
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}

func (e *Emulator) handle(cmd string) []byte {
	e.mu.Lock()
	e.commands[cmd]++
	if e.mute > 0 {
		e.mute--
		e.mu.Unlock()
		return nil
	}
	var out []byte
	if len(e.inject) > 0 {
		out = append(out, e.inject[0]...)
		e.inject = e.inject[1:]
	}
	cut := -1
	if len(e.cut) > 0 {
		cut, e.cut = e.cut[0], e.cut[1:]
	}
	e.mu.Unlock()
	r := e.Reply(cmd, e.cfg.Elapsed())
	if cut >= 0 && cut < len(r) {
		r = r[:cut]
	}
	return append(out, r...)
}

// Reply is the UPS's answer to cmd at scenario time t, with its CR.
func (e *Emulator) Reply(cmd string, t time.Duration) []byte {
	switch cmd {
	case "Q1":
		return []byte(e.q1(t) + "\r")
	case "F":
		return fmt.Appendf(nil, "#%05.1f %03d %05.1f %04.1f\r", e.cfg.RatedVoltage, 10, e.cfg.BatteryNominal, 50.0)
	case "I":
		return fmt.Appendf(nil, "#%-15s %-10s %-10s\r", "RACKWATCH SIM", "MEGATEC", "1.0")
	}
	// A real unit echoes what it does not understand (megatec.txt, "Invalid Command").
	return []byte(cmd + "\r")
}

var defaults = map[reading.Channel]float64{
	reading.InputVoltage: 230, reading.OutputVoltage: 230, reading.Load: 35, reading.BatteryVoltage: 54.4,
	reading.BatteryTemp: 25,
}

func (e *Emulator) value(ch reading.Channel, t time.Duration) float64 {
	if e.cfg.Source != nil {
		if v, ok := e.cfg.Source(ch, t); ok {
			return v
		}
	}
	return defaults[ch]
}

// q1 formats a Q1 reply: "(MMM.M NNN.N PPP.P QQQ RR.R S.SS TT.T b7b6b5b4b3b2b1b0".
func (e *Emulator) q1(t time.Duration) string {
	in := max(0, e.value(reading.InputVoltage, t))
	outV := max(0, e.value(reading.OutputVoltage, t))
	load := max(0, math.Round(e.value(reading.Load, t)))
	batt := max(0, e.value(reading.BatteryVoltage, t))
	temp := e.value(reading.BatteryTemp, t)
	var battField string
	if e.cfg.PerCell {
		battField = fmt.Sprintf("%4.2f", batt/(e.cfg.BatteryNominal/2))
	} else {
		battField = fmt.Sprintf("%04.1f", batt)
	}
	bit := func(ch reading.Channel) byte {
		if e.value(ch, t) >= 0.5 {
			return '1'
		}
		return '0'
	}
	standby := byte('1')
	if e.cfg.PerCell {
		standby = '0'
	}
	bits := []byte{bit(reading.OnBattery), bit(reading.LowBattery), '0', bit(reading.Fault), standby, bit(reading.SelfTest), '0', '1'}
	return fmt.Sprintf("(%05.1f %05.1f %05.1f %03.0f %04.1f %s %04.1f %s", in, in, outV, load, 50.0, battField, temp, bits)
}

// PTY is a pseudo-terminal pair in raw mode: the emulator serves Master and a driver opens Path (the
// slave) as if it were a serial port. The slave stays open here too, so the master does not see a hang-up
// between a driver closing the port and opening it again.
type PTY struct {
	Master *os.File
	Path   string
	tty    *os.File
}

// OpenPTY allocates a pseudo-terminal pair.
func OpenPTY() (*PTY, error) {
	ptmx, tty, err := pty.Open()
	if err != nil {
		return nil, fmt.Errorf("megatecsim: open pty: %w", err)
	}
	// pty.Open's master is a blocking *os.File, whose pending Read a Close does not end while a driver
	// holds the slave; serve a non-blocking duplicate instead, so that Close always ends Serve.
	fd, err := unix.Dup(int(ptmx.Fd()))
	ptmx.Close()
	if err == nil {
		if err = unix.SetNonblock(fd, true); err != nil {
			unix.Close(fd)
		}
	}
	if err != nil {
		tty.Close()
		return nil, fmt.Errorf("megatecsim: pty master: %w", err)
	}
	m := os.NewFile(uintptr(fd), "/dev/ptmx")
	if err := makeRaw(tty); err != nil {
		m.Close()
		tty.Close()
		return nil, err
	}
	return &PTY{Master: m, Path: tty.Name(), tty: tty}, nil
}

// makeRaw turns off echo, line editing and CR/LF translation, as a serial line to a UPS has none.
func makeRaw(f *os.File) error {
	fd := int(f.Fd())
	t, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return fmt.Errorf("megatecsim: get termios: %w", err)
	}
	t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	t.Oflag &^= unix.OPOST
	t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	t.Cflag &^= unix.CSIZE | unix.PARENB
	t.Cflag |= unix.CS8
	t.Cc[unix.VMIN], t.Cc[unix.VTIME] = 1, 0
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, t); err != nil {
		return fmt.Errorf("megatecsim: set termios: %w", err)
	}
	return nil
}

// Close closes both ends; Serve on Master then returns.
func (p *PTY) Close() error {
	err := p.Master.Close()
	if e := p.tty.Close(); err == nil {
		err = e
	}
	return err
}

// ServePTY serves an emulated UPS on a new pseudo-terminal until ctx is done (then it returns nil) or
// serving fails. ready, if set, is called with the path a driver opens (the slave) once the UPS answers
// there.
func ServePTY(ctx context.Context, cfg Config, ready func(path string)) error {
	p, err := OpenPTY()
	if err != nil {
		return err
	}
	defer p.Close()
	emu := New(cfg)
	errc := make(chan error, 1)
	go func() { errc <- emu.Serve(p.Master) }()
	if ready != nil {
		ready(p.Path)
	}
	select {
	case <-ctx.Done():
		p.Close()
		<-errc
		return nil
	case err := <-errc:
		if err == nil {
			err = fmt.Errorf("megatecsim: %s: the line closed", p.Path)
		}
		return err
	}
}
