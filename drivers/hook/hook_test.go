package hook

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rackwatch/rackwatch/agent/config/configtest"
	"github.com/rackwatch/rackwatch/agent/driver"
)

func open(t *testing.T, yaml string) *Hook {
	t.Helper()
	o, _ := configtest.Output(t, yaml)
	ty := OutputType()
	if _, err := ty.Check(o); err != nil {
		t.Fatal(err)
	}
	a, err := ty.Open(context.Background(), driver.OutputEnv{Output: o})
	if err != nil {
		t.Fatal(err)
	}
	return a.(*Hook)
}

func ctx(t *testing.T, d time.Duration) context.Context {
	c, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return c
}

var cause = driver.Cause{By: "rules", Gateway: "gw", Site: "dc1", Alarm: "pre-runaway", Rule: "pre-runaway", Severity: "critical",
	AlarmState: "active", Event: "raise", Message: `Battery room: $(touch /tmp/pwned) "quoted"`, Value: "1.5", Seq: 42, Episode: 42,
	Time: time.Date(2026, 3, 2, 2, 0, 0, 0, time.UTC)}

// TestEnvironment: the hook sees the alarm's fields and a fixed PATH, and nothing of the agent's own
// environment, which may hold a broker password given as password_env.
func TestEnvironment(t *testing.T) {
	t.Setenv("RACKWATCH_MQTT_PASSWORD", "hunter2")
	h := open(t, `{id: notify, type: exec, on: [/usr/bin/env]}`)
	detail, err := h.Set(ctx(t, 10*time.Second), true, cause)
	if err != nil {
		t.Fatalf("%v: %s", err, detail)
	}
	for _, want := range []string{"PATH=" + Path, "RACKWATCH_OUTPUT=notify", "RACKWATCH_STATE=on", "RACKWATCH_ALARM=pre-runaway",
		"RACKWATCH_SEVERITY=critical", "RACKWATCH_SEQ=42", "RACKWATCH_EPISODE=42", "RACKWATCH_VALUE=1.5", "RACKWATCH_BY=rules",
		"RACKWATCH_TIME=2026-03-02T02:00:00.000Z", `RACKWATCH_MESSAGE=Battery room: $(touch /tmp/pwned) "quoted"`} {
		if !strings.Contains(detail, want) {
			t.Errorf("missing %s in\n%s", want, detail)
		}
	}
	if strings.Contains(detail, "hunter2") {
		t.Error("the agent's environment leaked into the hook")
	}
}

// TestNoShell: an alarm field that looks like a command stays data.
func TestNoShell(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(dir, "pwned")
	c := cause
	c.Message = "$(touch " + marker + ")"
	h := open(t, `{id: notify, type: exec, on: [/bin/sh, -c, 'printf %s "$RACKWATCH_MESSAGE"']}`)
	detail, err := h.Set(ctx(t, 10*time.Second), true, c)
	if err != nil || !strings.HasSuffix(detail, ": $(touch "+marker+")") {
		t.Errorf("%q %v", detail, err)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("the message was run as a command")
	}
}

// TestTimeoutKillsTheProcessGroup: a hook that hangs, and the child it started, are killed at the timeout.
func TestTimeoutKillsTheProcessGroup(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	h := open(t, `{id: slow, type: exec, on: [/bin/sh, -c, 'sleep 60 & echo $! > `+pidFile+`; wait']}`)
	start := time.Now()
	_, err := h.Set(ctx(t, 300*time.Millisecond), true, cause)
	if err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("err %v", err)
	}
	if el := time.Since(start); el > 20*time.Second {
		t.Errorf("Set returned after %s", el) // a failure bound, not a measurement
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		st, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil || strings.Contains(string(st), ") Z ") { // gone, or a zombie waiting for init
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the hook's child %d outlived the timeout", pid)
		}
	}
}

func TestRateLimitAndOneRunAtATime(t *testing.T) {
	h := open(t, `{id: notify, type: exec, on: [/bin/true], off: [/bin/true], min_interval: 10s}`)
	now := time.Date(2026, 3, 2, 2, 0, 0, 0, time.UTC)
	h.now = func() time.Time { return now }
	if _, err := h.Set(ctx(t, 10*time.Second), true, cause); err != nil {
		t.Fatal(err)
	}
	now = now.Add(3 * time.Second)
	_, err := h.Set(ctx(t, 10*time.Second), false, cause)
	if !errors.Is(err, ErrRateLimited) || !strings.Contains(err.Error(), "started 3s ago; at most one run every 10s") {
		t.Errorf("second run 3s later: %v", err)
	}
	now = now.Add(7 * time.Second)
	if _, err := h.Set(ctx(t, 10*time.Second), false, cause); err != nil {
		t.Errorf("10s later: %v", err)
	}

	busy := open(t, `{id: busy, type: exec, on: [/bin/sleep, "60"], min_interval: 0s}`)
	c, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { _, err := busy.Set(c, true, cause); done <- err }()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		busy.mu.Lock()
		started := !busy.last.IsZero() // set once the first run holds the hook
		busy.mu.Unlock()
		if started {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the first run never started")
		}
	}
	if _, err := busy.Set(ctx(t, time.Second), true, cause); !errors.Is(err, ErrRunning) {
		t.Errorf("a second run while the first runs: %v", err)
	}
	cancel()
	<-done
}

func TestFailureCarriesTheOutput(t *testing.T) {
	h := open(t, `{id: notify, type: exec, on: [/bin/sh, -c, 'echo "bms: charge contactor did not open" >&2; exit 3']}`)
	detail, err := h.Set(ctx(t, 10*time.Second), true, cause)
	if err == nil || !strings.Contains(err.Error(), "exit status 3") || !strings.Contains(detail, "charge contactor did not open") {
		t.Errorf("%q %v", detail, err)
	}
	if d, err := h.Set(ctx(t, 10*time.Second), false, cause); err != nil || !strings.Contains(d, "no off command") {
		t.Errorf("off without an off command: %q %v", d, err)
	}
}

func TestOutputIsBounded(t *testing.T) {
	out, err := Run(ctx(t, 10*time.Second), []string{"/bin/sh", "-c", "head -c 100000 /dev/zero | tr '\\0' x"}, []string{"PATH=" + Path})
	if err != nil || len(out) > maxOutput+10 || !strings.HasSuffix(out, "…") {
		t.Errorf("%d bytes, %v", len(out), err)
	}
}

func TestOptions(t *testing.T) {
	for _, c := range []struct{ yaml, want string }{
		{`{id: x, type: exec}`, "on is required"},
		{`{id: x, type: exec, on: [bms-ctl, off]}`, "give the program's absolute path"},
		{`{id: x, type: exec, on: "/bin/true off"}`, "expected a list"},
		{`{id: x, type: exec, on: [/bin/true], min_interval: 2h}`, "min_interval 2h0m0s"},
		{`{id: x, type: exec, on: [/bin/true], shell: true}`, `unknown key "shell"`},
	} {
		o, _ := configtest.Output(t, c.yaml)
		if _, err := OutputType().Check(o); err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "test.yaml:4") {
			t.Errorf("%s: %v, want %q", c.yaml, err, c.want)
		}
	}
	o, _ := configtest.Output(t, `{id: x, type: exec, on: [/nonexistent/bms-ctl]}`)
	if _, err := OutputType().Open(context.Background(), driver.OutputEnv{Output: o}); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("missing program: %v", err)
	}
	o, _ = configtest.Output(t, `{id: x, type: exec, on: [/bin/true]}`)
	if info, _ := OutputType().Check(o); !info.OneShot {
		t.Error("no off is one-shot")
	}
}
