package fwbridge

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/rackwatch/rackwatch/agent/driver"
	"github.com/rackwatch/rackwatch/agent/settings"
)

// waitLimit bounds every wait in these tests. It is a failure timeout, not a measurement: the tests assert
// on what arrives, and a healthy run waits milliseconds.
const waitLimit = 30 * time.Second

// built holds the C programs compiled so far in this test run: every rig runs the same emulator, so it is
// compiled once, not once per test.
var built struct {
	sync.Mutex
	dir  string
	bins map[string]string
}

// TestMain removes the compiled C programs after the tests.
func TestMain(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

// buildC compiles firmware C sources with gcc, once per test run, and returns the program. Without gcc
// the test is skipped, unless RACKWATCH_REQUIRE_INTEGRATION=1, where that is a failure.
func buildC(t testing.TB, name string, srcs ...string) string {
	t.Helper()
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		if os.Getenv("RACKWATCH_REQUIRE_INTEGRATION") == "1" {
			t.Fatal("gcc not found (apt-get install gcc) and RACKWATCH_REQUIRE_INTEGRATION=1")
		}
		t.Skip("gcc not found: apt-get install gcc")
	}
	built.Lock()
	defer built.Unlock()
	if bin, ok := built.bins[name]; ok {
		return bin
	}
	if built.dir == "" {
		if built.dir, err = os.MkdirTemp("", "fwbridge-test-"); err != nil {
			t.Fatal(err)
		}
		built.bins = map[string]string{}
	}
	out := filepath.Join(built.dir, name)
	args := []string{"-std=c99", "-Wall", "-Wextra", "-Werror", "-O1", "-o", out}
	for _, s := range srcs {
		p := filepath.Join("firmware", s)
		// Opening the sources tells go test's cache that the result depends on them (gcc reads them in
		// another process, which the cache cannot see).
		if _, err := os.ReadFile(p); err != nil {
			t.Fatal(err)
		}
		args = append(args, p)
	}
	if _, err := os.ReadFile(filepath.Join("firmware", "rwproto.h")); err != nil {
		t.Fatal(err)
	}
	if b, err := exec.Command(gcc, args...).CombinedOutput(); err != nil {
		t.Fatalf("gcc %s: %v\n%s", name, err, b)
	}
	built.bins[name] = out
	return out
}

// emu is one run of the C emulator on a pty. The host side opens the pty's slave through a symlink, the way
// a udev rule names a board, so unplugging and plugging in another board keeps the path.
type emu struct {
	t      testing.TB
	cmd    *exec.Cmd
	ptmx   *os.File
	tty    *os.File
	ctl    io.WriteCloser
	link   string
	mu     sync.Mutex
	events []string // everything the emulator reported, in order
	used   []bool   // events already consumed by a wait
	cond   *sync.Cond
	done   chan struct{}
}

func startEmu(t testing.TB, bin, link string, args ...string) *emu {
	t.Helper()
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Fatalf("pty: %v", err)
	}
	ctlR, ctlW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	e := &emu{t: t, ptmx: ptmx, tty: tty, ctl: ctlW, link: link, done: make(chan struct{})}
	e.cond = sync.NewCond(&e.mu)
	e.cmd = exec.Command(bin, args...)
	e.cmd.Stdin, e.cmd.Stdout, e.cmd.Stderr = ptmx, ptmx, errW
	e.cmd.ExtraFiles = []*os.File{ctlR}
	if err := e.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ctlR.Close()
	errW.Close()
	go func() {
		defer close(e.done)
		sc := bufio.NewScanner(errR)
		for sc.Scan() {
			e.mu.Lock()
			e.events = append(e.events, sc.Text())
			e.used = append(e.used, false)
			e.cond.Broadcast()
			e.mu.Unlock()
		}
	}()
	e.waitEvent("ready")
	os.Remove(link)
	if err := os.Symlink(tty.Name(), link); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.unplug)
	return e
}

// send gives the emulator one command (see emulator.c).
func (e *emu) send(cmd string) {
	e.t.Helper()
	if _, err := fmt.Fprintln(e.ctl, cmd); err != nil {
		e.t.Fatalf("emulator command %q: %v", cmd, err)
	}
}

// waitEvent waits for an emulator event line starting with prefix that has not been consumed yet.
func (e *emu) waitEvent(prefix string) string { e.t.Helper(); return e.waitEventSince(0, prefix) }

// mark returns a position in the event log, for waitEventSince.
func (e *emu) mark() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.events)
}

// waitEventSince waits for an unconsumed event starting with prefix that the emulator reported after mark,
// and consumes it.
func (e *emu) waitEventSince(mark int, prefix string) string {
	e.t.Helper()
	deadline := time.Now().Add(waitLimit)
	timer := time.AfterFunc(waitLimit, func() { e.mu.Lock(); e.cond.Broadcast(); e.mu.Unlock() })
	defer timer.Stop()
	e.mu.Lock()
	defer e.mu.Unlock()
	for {
		for i := mark; i < len(e.events); i++ {
			if !e.used[i] && strings.HasPrefix(e.events[i], prefix) {
				e.used[i] = true
				return e.events[i]
			}
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("emulator never reported %q; it reported %q", prefix, e.events)
		}
		e.cond.Wait()
	}
}

// countEvents counts unconsumed events starting with prefix.
func (e *emu) countEvents(prefix string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for i, ev := range e.events {
		if !e.used[i] && strings.HasPrefix(ev, prefix) {
			n++
		}
	}
	return n
}

// unplug ends the emulator and removes its device link, like pulling the USB cable.
func (e *emu) unplug() {
	if e.cmd.Process == nil || e.cmd.ProcessState != nil {
		return
	}
	e.cmd.Process.Kill()
	e.cmd.Wait()
	e.ctl.Close()
	os.Remove(e.link)
	e.ptmx.Close()
	e.tty.Close()
	<-e.done
}

// sink collects what the driver emits.
type sink struct {
	ch chan driver.Sample
}

func newSink() *sink { return &sink{ch: make(chan driver.Sample, 1<<16)} }

func (s *sink) emit(x driver.Sample) {
	select {
	case s.ch <- x:
	default:
		panic("test sink full")
	}
}

// waitFor returns the first sample that satisfies ok, discarding the others.
func (s *sink) waitFor(t testing.TB, what string, ok func(driver.Sample) bool) driver.Sample {
	t.Helper()
	timeout := time.After(waitLimit)
	for {
		select {
		case x := <-s.ch:
			if ok(x) {
				return x
			}
		case <-timeout:
			t.Fatalf("no sample: %s", what)
		}
	}
}

func value(ch string, v float64) func(driver.Sample) bool {
	return func(x driver.Sample) bool { return string(x.Channel) == ch && x.Err == nil && x.Value == v }
}

func badWith(ch, text string) func(driver.Sample) bool {
	return func(x driver.Sample) bool {
		return string(x.Channel) == ch && x.Err != nil && strings.Contains(x.Err.Error(), text)
	}
}

// logRecorder is a slog.Handler that keeps the messages, to check that bad input is logged once per kind.
type logRecorder struct {
	mu   *sync.Mutex
	recs *[]string
}

func newLogRecorder() logRecorder { return logRecorder{mu: &sync.Mutex{}, recs: &[]string{}} }

func (h logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (h logRecorder) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool { fmt.Fprintf(&b, " %s=%v", a.Key, a.Value); return true })
	h.mu.Lock()
	*h.recs = append(*h.recs, b.String())
	h.mu.Unlock()
	return nil
}
func (h logRecorder) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h logRecorder) WithGroup(string) slog.Handler      { return h }

func (h logRecorder) count(substr string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, r := range *h.recs {
		if strings.Contains(r, substr) {
			n++
		}
	}
	return n
}

// rig is a host device running against an emulator.
type rig struct {
	t      testing.TB
	dir    string
	bin    string
	emu    *emu
	dev    *Device
	sink   *sink
	logs   logRecorder
	cancel context.CancelFunc
	runErr chan error
}

func newRig(t testing.TB, o Options, every time.Duration, emuArgs ...string) *rig {
	t.Helper()
	dir := t.TempDir()
	r := &rig{t: t, dir: dir, bin: buildC(t, "emulator", "emulator.c", "rwproto.c"), sink: newSink(), logs: newLogRecorder()}
	o.Device = filepath.Join(dir, "ttyACM0")
	if o.Baud == 0 {
		o.Baud = DefaultBaud
	}
	if o.Heartbeat == 0 {
		o.Heartbeat = settings.Duration(200 * time.Millisecond)
	}
	o.applyDefaults()
	r.emu = startEmu(t, r.bin, o.Device, emuArgs...)
	r.dev = New("board1", &o, every, SerialOpener, slog.New(r.logs))
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	r.runErr = make(chan error, 1)
	go func() { r.runErr <- r.dev.Run(ctx, r.sink.emit) }()
	t.Cleanup(r.stop)
	return r
}

// stop cancels Run and checks that it returns promptly with ctx's error.
func (r *rig) stop() {
	r.cancel()
	select {
	case err := <-r.runErr:
		if err != context.Canceled {
			r.t.Errorf("Run returned %v, want context.Canceled", err)
		}
		r.runErr <- err
	case <-time.After(waitLimit):
		r.t.Fatal("Run did not return after cancel")
	}
}

func (r *rig) waitLink(v float64) {
	r.t.Helper()
	r.sink.waitFor(r.t, fmt.Sprintf("link=%v", v), value("link", v))
}
