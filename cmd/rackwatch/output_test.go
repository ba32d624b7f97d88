package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rackwatch/rackwatch/agent"
)

func outputConfig(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	p := filepath.Join(dir, "rackwatch.yaml")
	body := `gateway: {id: gw, state_dir: ` + filepath.Join(dir, "state") + `}
mqtt: {embedded_broker: "127.0.0.1:0"}
sensors:
  - {id: ups1, driver: sim, scenario: steady, every: 1h, channels: [on_battery, low_battery]}
rules:
  - {id: ups-on-battery, match: {channel: on_battery}, state: true}
  - {id: ups-low-battery, match: {channel: low_battery}, state: true, severity: critical}
outputs:
  - {id: sounder, type: sim, what: battery room sounder, role: sounder}
  - {id: ups-off, type: exec, on: [/bin/true]}
actions:
  - {when: {severity: critical}, do: [sounder]}
shutdown:
  when: [ups-low-battery]
  on_battery: [ups-on-battery]
  delay: 30s
  command: [/usr/bin/systemctl, poweroff]
`
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestOutputTestDirect(t *testing.T) {
	cfg := outputConfig(t)
	var out, errb bytes.Buffer
	if rc := outputCmd(context.Background(), []string{"test", "sounder", "-c", cfg, "--for", "10ms"}, registry(), &out, &errb); rc != 0 {
		t.Fatalf("exit %d: %s", rc, errb.String())
	}
	if !strings.Contains(errb.String(), "driving sounder directly") || !strings.Contains(out.String(), "sounder on (test:local") ||
		!strings.Contains(out.String(), "sounder off (test:local") {
		t.Errorf("stdout:\n%s\nstderr:\n%s", out.String(), errb.String())
	}
	out.Reset()
	errb.Reset()
	if rc := outputCmd(context.Background(), []string{"test", "ups-off", "-c", cfg}, registry(), &out, &errb); rc != 1 ||
		!strings.Contains(errb.String(), "cannot take back") {
		t.Errorf("one-shot: exit %d: %s", rc, errb.String())
	}
	if rc := outputCmd(context.Background(), []string{"test", "nope", "-c", cfg}, registry(), &out, &errb); rc != 1 ||
		!strings.Contains(errb.String(), `no such output "nope"`) {
		t.Errorf("unknown: exit %d: %s", rc, errb.String())
	}
	if rc := outputCmd(context.Background(), []string{"test", "sounder", "-c", cfg, "--for", "2m"}, registry(), &out, &errb); rc != 2 {
		t.Errorf("too long: exit %d", rc)
	}
}

// TestOutputTestThroughTheAgent: with the agent running, the test goes through it (its control socket).
func TestOutputTestThroughTheAgent(t *testing.T) {
	cfg := outputConfig(t)
	reg := registry()
	plan, err := agent.LoadAndCheck(cfg, reg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan agent.Ready, 1)
	done := make(chan error, 1)
	go func() {
		done <- agent.Run(ctx, plan, reg, agent.Options{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Ready: func(r agent.Ready) { ready <- r }})
	}()
	select {
	case <-ready:
	case err := <-done:
		t.Fatal(err)
	}
	defer func() { cancel(); <-done }()
	var out, errb bytes.Buffer
	if rc := outputCmd(context.Background(), []string{"test", "sounder", "--for", "10ms", "-c", cfg}, reg, &out, &errb); rc != 0 {
		t.Fatalf("exit %d: %s", rc, errb.String())
	}
	if strings.Contains(errb.String(), "directly") || !strings.Contains(out.String(), "sounder on (test:local") {
		t.Errorf("stdout:\n%s\nstderr:\n%s", out.String(), errb.String())
	}
}

func TestOutputList(t *testing.T) {
	var out, errb bytes.Buffer
	if rc := outputCmd(context.Background(), []string{"list", "-c", outputConfig(t)}, registry(), &out, &errb); rc != 0 {
		t.Fatalf("exit %d: %s", rc, errb.String())
	}
	for _, want := range []string{
		"output sounder (sim) [sounder]: battery room sounder (simulated)",
		"output ups-off (exec): runs /bin/true; one-shot: off does nothing",
		"action: any critical alarm → sounder on while the alarm is active; an acknowledgement silences sounder",
		"shutdown: when ups-low-battery is active while ups-on-battery is active (mains lost), wait 30s (cancelled if ups-on-battery clears: power is back), push the journal to every broker (at most 10s), then run /usr/bin/systemctl poweroff (at most 2m0s)",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("missing %q in\n%s", want, out.String())
		}
	}
}
