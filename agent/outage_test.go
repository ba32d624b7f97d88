package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rackwatch/rackwatch/internal/peer"

	"github.com/rackwatch/rackwatch/agent/contract"
	"github.com/rackwatch/rackwatch/agent/internal/mosquittotest"
	"github.com/rackwatch/rackwatch/agent/mqtt"
	"github.com/rackwatch/rackwatch/agent/store"
)

// opsConsole is a persistent-session subscriber, as a central alarm console would be: it reconnects
// with the same client id and gets what the broker queued for it meanwhile.
type opsConsole struct {
	mu   sync.Mutex
	seqs []uint64
	url  string
	cl   *mqtt.Client
}

func (o *opsConsole) connect(t *testing.T) {
	t.Helper()
	var err error
	deadline := time.Now().Add(30 * time.Second) // a failure timeout, not a measurement
	for time.Now().Before(deadline) {
		o.cl, err = mqtt.Connect(context.Background(), mqtt.Config{URL: o.url, ClientID: "ops-console", CleanSession: false,
			KeepAlive: 30 * time.Second, Subscribe: map[string]byte{"rackwatch/gw/events": 1},
			OnMessage: func(m mqtt.Received) {
				var a contract.Alarm
				if json.Unmarshal(m.Payload, &a) == nil {
					o.mu.Lock()
					o.seqs = append(o.seqs, a.Seq)
					o.mu.Unlock()
				}
			}})
		if err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("console cannot connect: %v", err)
}

func (o *opsConsole) deliveries() int { o.mu.Lock(); defer o.mu.Unlock(); return len(o.seqs) }

// distinct returns the seqs in the order first received, without the duplicates at-least-once allows.
func (o *opsConsole) distinct() []uint64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	seen := map[uint64]bool{}
	var out []uint64
	for _, s := range o.seqs {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// buildRackwatch builds the binary; RACKWATCH_TEST_BIN names one to use instead (to run these tests
// against another version, e.g. to see that they fail without a fix).
func buildRackwatch(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("RACKWATCH_TEST_BIN"); bin != "" {
		return bin
	}
	bin := filepath.Join(t.TempDir(), "rackwatch")
	cmd := exec.Command("go", "build", "-o", bin, "../cmd/rackwatch")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

type agentProc struct {
	cmd *exec.Cmd
	out peer.Output
}

func startAgent(t *testing.T, bin, cfg string) *agentProc {
	t.Helper()
	p := &agentProc{cmd: exec.Command(bin, "run", "-c", cfg)}
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return p
}

// The delivery guarantee end to end, with real processes: the battery-runaway story raises alarms while
// the broker is down, the agent is killed with SIGKILL in the middle of the outage and started again,
// then the broker comes back. The console must receive every transition, in seq order, with no gap.
//
// Each step waits for what it needs (alarms delivered, transitions journaled during the outage, the
// restarted agent journaling more, the agent reconnected) rather than for fixed times, so the test is
// as quick as the machine allows and still holds when the machine is busy.
func TestOutageAndKill9WithRealProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs Mosquitto")
	}
	t.Parallel() // its own processes, broker and state: it overlaps the package's other tests
	mq := mosquittotest.Start(t, mosquittotest.Options{})
	bin := buildRackwatch(t)
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "rackwatch.yaml")
	// The story starts at minute 3 and plays a minute per second: the first alarms (solvent off-gas, the
	// warm battery) come within a second, then hydrogen, the hot battery, smoke and fire. Every run of the agent restarts it, so
	// alarms clear and raise again after the restart: more transitions, all of which must arrive.
	os.WriteFile(cfgPath, []byte(fmt.Sprintf(`
gateway: {id: gw, state_dir: %s, log_level: debug}
mqtt:
  brokers: [{url: "%s", keepalive: 2s}]
  readings: {disabled: true}
sensors:
  - {id: ups1, driver: sim, scenario: battery-runaway, start_at: 3m, time_scale: 60, every: 50ms, channels: [battery_temp, on_battery, low_battery]}
  - {id: room, driver: sim, scenario: battery-runaway, start_at: 3m, time_scale: 60, every: 50ms, channels: [voc, h2, smoke]}
rules:
  - {id: offgas-voc, match: {channel: voc}, above: 1000, clear: 500, severity: warning}
  - {id: offgas-h2, match: {channel: h2}, above: 50, clear: 20, severity: critical}
  - {id: batt-warm, match: {channel: battery_temp}, above: 30, clear: 28, severity: warning}
  - {id: batt-hot, match: {channel: battery_temp}, above: 45, clear: 40, severity: critical}
  - {id: smoke, match: {channel: smoke}, above: 0.5, severity: critical}
  - {id: on-battery, match: {channel: on_battery}, state: true}
  - {id: fire, all: [smoke, batt-hot], severity: critical}
`, filepath.Join(dir, "state"), mq.URL)), 0o644)

	console := &opsConsole{url: mq.URL}
	console.connect(t)

	a := startAgent(t, bin, cfgPath)
	waitFor(t, "the first alarms", func() bool { return len(console.distinct()) >= 2 }, a)

	mq.Stop() // the central site goes dark
	atStop := stateSeq(t, dir)
	// The story goes on with nowhere to send its alarms: the journal holds them.
	waitFor(t, "a transition during the outage", func() bool { return stateSeq(t, dir) > atStop }, a)
	if err := a.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	a.cmd.Wait()
	seqBeforeKill := stateSeq(t, dir)
	delivered := len(console.distinct())

	a = startAgent(t, bin, cfgPath) // back up, broker still down: the journal holds what it raises
	waitFor(t, "a transition after the restart", func() bool { return stateSeq(t, dir) > seqBeforeKill }, a)
	mq.Start()
	console.connect(t)
	waitFor(t, "the restarted agent delivering", func() bool { return len(console.distinct()) > delivered }, a)
	a.cmd.Process.Signal(syscall.SIGTERM) // the last gasp delivers what is left before exiting
	if err := a.cmd.Wait(); err != nil {
		t.Fatalf("agent exit: %v\n%s", err, a.out.String())
	}
	last := stateSeq(t, dir)
	if last <= seqBeforeKill || seqBeforeKill < 3 {
		t.Fatalf("seq %d before the kill, %d at the end: the outage saw too few transitions to test anything", seqBeforeKill, last)
	}
	waitFor(t, fmt.Sprintf("all %d transitions", last), func() bool { return len(console.distinct()) >= int(last) }, a)
	got := console.distinct()
	for i, s := range got {
		if s != uint64(i+1) {
			t.Fatalf("console received seqs %v: want 1..%d in order with no gap", got, last)
		}
	}
	t.Logf("%d transitions (%d before the kill), %d deliveries including duplicates", last, seqBeforeKill, console.deliveries())
}

func stateSeq(t *testing.T, dir string) uint64 {
	t.Helper()
	st, err := store.Load(filepath.Join(dir, "state", store.File))
	if err != nil {
		t.Fatal(err)
	}
	return st.State.Seq
}

func waitFor(t *testing.T, what string, cond func() bool, a *agentProc) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second) // a failure timeout, not a measurement
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never saw %s; agent log:\n%s", what, tail(a.out.String(), 4000))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return strings.TrimSpace(s)
}
