package main

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rackwatch/rackwatch/agent/mqtt"
)

// TestMain lets a test run the rackwatch command itself: the test binary re-executed with
// RACKWATCH_TEST_MAIN=1 is rackwatch, so signals and exit codes are tested as a user meets them.
func TestMain(m *testing.M) {
	if os.Getenv("RACKWATCH_TEST_MAIN") == "1" {
		os.Exit(mainArgs(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// rackwatchCmd is the rackwatch command (this test binary in its main mode).
func rackwatchCmd(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "RACKWATCH_TEST_MAIN=1", "NO_COLOR=1")
	return cmd
}

// demoConfig is configs/demo.yaml with its broker and status page on ports the system picks.
func demoConfig(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../configs/demo.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(b), "127.0.0.1:1883", "127.0.0.1:0", 1)
	s = strings.Replace(s, "127.0.0.1:9108", "127.0.0.1:0", 1)
	file := filepath.Join(t.TempDir(), "demo.yaml")
	if err := os.WriteFile(file, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

// lines collects a process's output and lets a test wait for a line.
type lines struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	seen chan struct{}
}

func (l *lines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	select {
	case l.seen <- struct{}{}:
	default:
	}
	return len(p), nil
}

func (l *lines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// waitFor waits (generously) until the output contains s.
func (l *lines) waitFor(t *testing.T, s string) {
	t.Helper()
	deadline := time.After(60 * time.Second)
	for !strings.Contains(l.String(), s) {
		select {
		case <-l.seen:
		case <-deadline:
			t.Fatalf("no %q in the output:\n%s", s, l.String())
		}
	}
}

// Ctrl-C is the documented way to stop the demo: it exits 0, after telling what it saw so far; and by
// default it shows alarms, not a stream of readings.
func TestDemoCtrlCExitsZero(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the demo")
	}
	file := demoConfig(t)
	cmd := rackwatchCmd(t, "demo", "-c", file)
	out := &lines{seen: make(chan struct{}, 1)}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	out.waitFor(t, "ONLINE")
	// Readings have reached the broker the demo watches: shown, they would be on the screen by now.
	m := regexp.MustCompile(`at (tcp://127\.0\.0\.1:\d+)`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("the demo does not say where its broker is:\n%s", out)
	}
	got := make(chan struct{}, 1)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cl, err := mqtt.Connect(ctx, mqtt.Config{URL: m[1], ClientID: "demo-test", CleanSession: true,
		Subscribe: map[string]byte{"rackwatch/+/readings/#": 0},
		OnMessage: func(mqtt.Received) {
			select {
			case got <- struct{}{}:
			default:
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		select {
		case <-got:
		case <-ctx.Done():
			t.Fatal("no reading reached the demo's broker")
		}
	}
	cl.Disconnect(0)
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("demo after Ctrl-C: %v (want exit status 0)\n%s", err, out)
	}
	text := out.String()
	if !strings.Contains(text, "Stopped before the end of the story") {
		t.Errorf("no summary after Ctrl-C:\n%s", text)
	}
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		if strings.Contains(sc.Text(), "  reading  ") {
			t.Errorf("readings shown without --readings: %s", sc.Text())
			break
		}
	}
}

// `go run` exits 1 on Ctrl-C whatever the program does, which made `make demo` end with "Error 1": the
// Makefile runs the built binary instead.
func TestMakeDemoRunsTheBinary(t *testing.T) {
	b, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	recipe, in := "", false
	for _, line := range strings.Split(string(b), "\n") {
		switch {
		case strings.HasPrefix(line, "demo:"):
			in = true
		case in && strings.HasPrefix(line, "\t"):
			recipe += line + "\n"
		case in:
			in = false
		}
	}
	if recipe == "" || strings.Contains(recipe, " run ") || !strings.Contains(recipe, "rackwatch demo") {
		t.Errorf("make demo's recipe should run the built binary, not go run:\n%s", recipe)
	}
}
