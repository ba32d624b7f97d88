package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rackwatch/rackwatch/agent/broker"
	"github.com/rackwatch/rackwatch/agent/contract"
	"github.com/rackwatch/rackwatch/agent/internal/mosquittotest"
	"github.com/rackwatch/rackwatch/agent/mqtt"
	"github.com/rackwatch/rackwatch/agent/rules"
	"github.com/rackwatch/rackwatch/agent/store"
)

// The files a gateway of the first formats left (alarms.json without format or gateway, journal format 1
// with three transitions no broker acknowledged, written by that code) are read by this one: the backlog
// is delivered, the seq goes on after it, and the state is rewritten in the current format.
func TestUpgradeFromFormat1KeepsBacklog(t *testing.T) {
	b, err := broker.Start("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	rec := subscribeAll(t, b.URL(), "console")
	plan := writeConfig(t, fmt.Sprintf(`
gateway: {id: gw, site: lab, state_dir: STATE}
mqtt: {brokers: [{url: "%s"}], readings: {disabled: true}}
sensors:
  - {id: room.smoke, driver: sim, scenario: battery-runaway, start_at: 8m, every: 20ms, channels: [smoke]}
  - {id: ups1, driver: sim, scenario: battery-runaway, start_at: 8m, every: 20ms, channels: [on_battery]}
rules:
  - {id: smoke, match: {channel: smoke}, above: 0.5, latch: true, severity: critical}
  - {id: on-battery, match: {channel: on_battery}, state: true}
`, b.URL()))
	dir := plan.Config.Gateway.StateDir
	if err := os.CopyFS(dir, os.DirFS("testdata/state-format1")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, plan, testRegistry(), Options{Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	}()
	ms := rec.wait(t, "the old backlog and a new transition", func(ms []mqtt.Received) bool {
		return len(on(ms, "rackwatch/gw/events")) >= 4
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range on(ms, "rackwatch/gw/events") {
		var a contract.Alarm
		json.Unmarshal(m.Payload, &a)
		got = append(got, fmt.Sprintf("%d %s %s", a.Seq, a.Event, a.Key))
	}
	want := []string{"1 raise smoke/room.smoke/smoke", "2 raise warm/room.smoke/temperature", "3 clear warm/room.smoke/temperature",
		"4 raise on-battery/ups1/on_battery"}
	if !slices.Equal(got[:4], want) {
		t.Fatalf("events %q, want %q (the smoke alarm restored active, not raised again)", got, want)
	}
	sv, err := store.Load(filepath.Join(dir, store.File))
	if err != nil || sv.Format != store.FormatVersion || sv.Gateway != "gw" || sv.State.Seq < 4 {
		t.Fatalf("state after the upgrade: %+v %v", sv, err)
	}
}

// mountTmpfs mounts a tmpfs of size bytes on dir for the test, or skips when that is not possible (it
// needs root; CI runs as root, and there the test must run).
func mountTmpfs(t *testing.T, dir string, size int) {
	t.Helper()
	msg := ""
	if os.Geteuid() != 0 {
		msg = "mounting a tmpfs needs root"
	} else if out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d", size), "tmpfs", dir).CombinedOutput(); err != nil {
		msg = fmt.Sprintf("mount -t tmpfs: %v %s", err, out)
	}
	if msg != "" {
		if os.Getenv("RACKWATCH_REQUIRE_INTEGRATION") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
}

// fill writes to path until the file system is full.
func fill(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil && !errors.Is(err, syscall.ENOSPC) {
		t.Fatal(err)
	}
	if f == nil {
		return
	}
	defer f.Close()
	buf := make([]byte, 4096)
	for {
		if _, err := f.Write(buf); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				return
			}
			t.Fatal(err)
		}
	}
}

// consoleAlarms is a persistent-session subscriber that keeps the alarm objects of every event.
type consoleAlarms struct {
	mu  sync.Mutex
	all []contract.Alarm
}

func (c *consoleAlarms) snapshot() []contract.Alarm {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.all)
}

func (c *consoleAlarms) connect(t *testing.T, url string) *mqtt.Client {
	t.Helper()
	cl, err := mqtt.Connect(context.Background(), mqtt.Config{URL: url, ClientID: "storage-console", KeepAlive: 30 * time.Second,
		Subscribe: map[string]byte{"rackwatch/gw/events": 1},
		OnMessage: func(m mqtt.Received) {
			var a contract.Alarm
			if json.Unmarshal(m.Payload, &a) == nil {
				c.mu.Lock()
				c.all = append(c.all, a)
				c.mu.Unlock()
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Disconnect(0) })
	return cl
}

func healthz(addr string) (int, string) {
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// Fault 1, with the real binary, a real Mosquitto and a real full disk: the state_dir is a small tmpfs,
// filled up while the battery-runaway story raises its alarms. The transitions made while it is full
// still reach the broker, the gateway raises its own critical storage alarm, /healthz fails with the
// reason; once space returns the journal catches up by itself, the alarm clears and /healthz is ok. The
// console receives every seq, with no gap, and a restart goes on after the last one.
func TestFullStateDirWithRealBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary, mounts a tmpfs and runs Mosquitto")
	}
	t.Parallel()
	mq := mosquittotest.Start(t, mosquittotest.Options{})
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	os.MkdirAll(state, 0o750)
	mountTmpfs(t, state, 1<<20)
	bin := buildRackwatch(t)
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	httpAddr := l.Addr().String()
	l.Close()
	cfgPath := filepath.Join(dir, "rackwatch.yaml")
	os.WriteFile(cfgPath, []byte(fmt.Sprintf(`
gateway: {id: gw, state_dir: %[1]s, http: "%[2]s"}
mqtt:
  brokers: [{url: "%[3]s"}]
  readings: {disabled: true}
sensors:
  - {id: ups1, driver: sim, scenario: battery-runaway, start_at: 3m, time_scale: 20, every: 50ms, channels: [battery_temp, on_battery, low_battery], labels: {note: "%[4]s"}}
  - {id: room, driver: sim, scenario: battery-runaway, start_at: 3m, time_scale: 20, every: 50ms, channels: [voc, h2, smoke], labels: {note: "%[4]s"}}
rules:
  - {id: offgas-voc, match: {channel: voc}, above: 1000, clear: 500, severity: warning}
  - {id: offgas-h2, match: {channel: h2}, above: 50, clear: 20, severity: critical}
  - {id: batt-hot, match: {channel: battery_temp}, above: 45, clear: 40, severity: critical}
  - {id: smoke, match: {channel: smoke}, above: 0.5, severity: critical}
  - {id: on-battery, match: {channel: on_battery}, state: true}
  - {id: fire, all: [smoke, batt-hot], severity: critical}
`, state, httpAddr, mq.URL, strings.Repeat("x", 3000))), 0o644) // large alarms: a few fill the last page of the journal
	console := &consoleAlarms{}
	console.connect(t, mq.URL)
	storageKey := rules.SystemKey("storage")
	maxSeq := func(skipSystem bool) uint64 {
		var m uint64
		for _, a := range console.snapshot() {
			if !skipSystem || !rules.IsSystemKey(a.Key) {
				m = max(m, a.Seq)
			}
		}
		return m
	}
	has := func(key, event string) bool {
		for _, a := range console.snapshot() {
			if a.Key == key && a.Event == event {
				return true
			}
		}
		return false
	}
	a := startAgent(t, bin, cfgPath)
	defer a.cmd.Process.Kill()
	waitFor(t, "the first alarm", func() bool { return maxSeq(true) >= 1 }, a)

	filler := filepath.Join(state, "filler")
	fill(t, filler)
	if has("smoke/room/smoke", contract.EventRaise) {
		t.Fatal("smoke came before the disk was full: the test would prove nothing")
	}
	waitFor(t, "smoke and fire, raised while the disk is full", func() bool {
		return has("smoke/room/smoke", contract.EventRaise) && has("fire", contract.EventRaise)
	}, a)
	waitFor(t, "the gateway's storage alarm", func() bool { return has(storageKey, contract.EventRaise) }, a)
	waitFor(t, "/healthz failing with the reason", func() bool {
		code, body := healthz(httpAddr)
		return code == 503 && strings.Contains(body, "no space left on device")
	}, a)

	os.Remove(filler)
	waitFor(t, "the storage alarm cleared", func() bool { return has(storageKey, contract.EventClear) }, a)
	waitFor(t, "/healthz ok", func() bool { code, _ := healthz(httpAddr); return code == 200 }, a)
	a.cmd.Process.Signal(syscall.SIGTERM)
	if err := a.cmd.Wait(); err != nil {
		t.Fatalf("agent exit: %v\n%s", err, a.out.String())
	}
	last := maxSeq(false)
	seen := map[uint64]bool{}
	for _, al := range console.snapshot() {
		seen[al.Seq] = true
	}
	for s := uint64(1); s <= last; s++ {
		if !seen[s] {
			t.Fatalf("seq %d never reached the broker (up to %d)", s, last)
		}
	}
	// Everything held in memory went to disk: a restart goes on after the last seq.
	a = startAgent(t, bin, cfgPath)
	waitFor(t, "a transition after the restart", func() bool { return maxSeq(false) > last }, a)
	a.cmd.Process.Signal(syscall.SIGTERM)
	a.cmd.Wait()
	// No seq names two different transitions (a redelivery is the same transition again).
	counts := map[uint64]map[string]bool{}
	for _, al := range console.snapshot() {
		if counts[al.Seq] == nil {
			counts[al.Seq] = map[string]bool{}
		}
		counts[al.Seq][al.Key+"/"+al.Event+"/"+al.Time.String()] = true
	}
	for s, v := range counts {
		if len(v) > 1 {
			t.Fatalf("seq %d names %d different transitions: %v", s, len(v), v)
		}
	}
	if _, err := os.Stat(filepath.Join(state, store.File)); errors.Is(err, fs.ErrNotExist) {
		t.Fatal("alarms.json missing")
	}
	t.Logf("%d transitions, the storage alarm raised and cleared", last)
}
