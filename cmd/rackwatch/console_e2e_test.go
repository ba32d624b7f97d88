package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rackwatch/rackwatch/agent"
	"github.com/rackwatch/rackwatch/agent/brokerauth"
	"github.com/rackwatch/rackwatch/agent/contract"
	"github.com/rackwatch/rackwatch/agent/mqtt"
	"github.com/rackwatch/rackwatch/agent/operator"
)

// runAgent runs a gateway from config body (STATE and KEYS replaced) until the test ends and returns the
// embedded broker's URL and the HTTP address.
func runAgent(t *testing.T, body string) (brokerURL, httpAddr string) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "gw.yaml")
	body = strings.ReplaceAll(body, "STATE", filepath.Join(dir, "state"))
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	reg := registry()
	plan, err := agent.LoadAndCheck(path, reg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan agent.Ready, 1)
	done := make(chan error, 1)
	go func() {
		done <- agent.Run(ctx, plan, reg, agent.Options{Log: quietLog(), Ready: func(r agent.Ready) { ready <- r }})
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	select {
	case r := <-ready:
		// Ready comes when the agent runs; its own client may still be connecting to the embedded broker,
		// and a command published before it subscribes reaches nobody. Wait until it is connected.
		deadline := time.Now().Add(time.Minute) // a failure timeout, not a measurement
		for !gatewayConnected(r.HTTP) {
			if time.Now().After(deadline) {
				t.Fatal("the gateway never connected to its embedded broker")
			}
			time.Sleep(10 * time.Millisecond)
		}
		return "tcp://" + r.Broker, r.HTTP
	case err := <-done:
		t.Fatal(err)
	case <-time.After(time.Minute):
		t.Fatal("the agent did not start")
	}
	return "", ""
}

// gatewayConnected reports whether the gateway at httpAddr says, in /metrics, that it is connected to a
// broker (and so subscribed to its commands there).
func gatewayConnected(httpAddr string) bool {
	resp, err := http.Get("http://" + httpAddr + "/metrics")
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, "rackwatch_mqtt_connected{") && strings.HasSuffix(line, " 1") {
			return true
		}
	}
	return false
}

const consoleGateway = `
gateway: {id: gw, site: lab, state_dir: STATE, http: "127.0.0.1:0"}
mqtt: {embedded_broker: "127.0.0.1:0"}
sensors:
  - {id: room.smoke, driver: sim, scenario: steady, every: 100ms, channels: [smoke]}
  - {id: r1.inlet, driver: sim, scenario: steady, every: 100ms, channels: [temperature]}
rules:
  - {id: smoke, match: {channel: smoke}, above: 0.5, latch: true, severity: critical, shelve_max: 0}
  - {id: warm, match: {channel: temperature}, above: 60, shelve_max: 2h}
operators:
  - {name: alice, public_key_file: KEYS/alice.pub}
`

// The console against a running gateway and its embedded broker: exit 0 when the gateway accepts, 1 when
// it refuses (and why), 2 on a usage error; the anonymous shelve of the issue is refused as unsigned; the
// refusals are counted in /metrics.
func TestConsoleAgainstTheGateway(t *testing.T) {
	keys := t.TempDir()
	for _, n := range []string{"alice", "mallory"} {
		if _, _, err := operator.NewKeyFiles(keys, n); err != nil {
			t.Fatal(err)
		}
	}
	url, httpAddr := runAgent(t, strings.ReplaceAll(consoleGateway, "KEYS", keys))
	alice, mallory := filepath.Join(keys, "alice.key"), filepath.Join(keys, "mallory.key")
	console := func(action string, args ...string) (int, string) {
		var out bytes.Buffer
		code := consoleCmd(context.Background(), action, args, &out, &out, time.Now)
		return code, out.String()
	}
	base := []string{"-b", url, "--gateway", "gw"}
	for _, c := range []struct {
		name, action string
		args         []string
		code         int
		want         string
	}{
		{"ack", contract.Ack, append(base, "--key", alice, "smoke/room.smoke/smoke", "--reason", "drill"), 0, "accepted by gw (operator alice)"},
		{"shelve within shelve_max", contract.Shelve, append(base, "--key", alice, "warm/r1.inlet/temperature", "--until", "1h"), 0, "accepted"},
		{"unshelve", contract.Unshelve, append(base, "--key", alice, "warm/r1.inlet/temperature"), 0, "accepted"},
		{"shelve of smoke", contract.Shelve, append(base, "--key", alice, "smoke/room.smoke/smoke", "--until", "1h"), 1, "refused by gw (not_allowed)"},
		{"shelve beyond shelve_max", contract.Shelve, append(base, "--key", alice, "warm/r1.inlet/temperature", "--until", "3h"), 1, "allows at most 2h (shelve_max)"},
		{"unknown operator", contract.Ack, append(base, "--key", mallory, "smoke/room.smoke/smoke"), 1, "refused by gw (unknown_operator)"},
		{"mallory signing as alice", contract.Ack, append(base, "--key", mallory, "--operator", "alice", "smoke/room.smoke/smoke"), 1, "(bad_signature)"},
		{"unknown alarm", contract.Ack, append(base, "--key", alice, "smoke/room.smoke/smokes"), 1, "(unknown_alarm)"},
		{"output test, no outputs", contract.OutputTest, append(base, "--key", alice, "sounder"), 1, "(unknown_output)"},
		{"usage", contract.Shelve, append(base, "--key", alice, "warm/r1.inlet/temperature"), 2, "--until DURATION is required"},
	} {
		if code, out := console(c.action, c.args...); code != c.code || !strings.Contains(out, c.want) {
			t.Errorf("%s: exit %d, want %d with %q:\n%s", c.name, code, c.code, c.want, out)
		}
	}

	// The attack: an anonymous shelve of the smoke alarm, as mosquitto_pub would send it.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	results := make(chan contract.Result, 4)
	cl, err := mqtt.Connect(ctx, mqtt.Config{URL: url, ClientID: "attacker", CleanSession: true, Subscribe: map[string]byte{"rackwatch/gw/cmd/result": 1},
		OnMessage: func(m mqtt.Received) {
			if r, err := contract.ParseResult(m.Payload); err == nil {
				results <- r
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Disconnect(0)
	cl.PublishWait(ctx, mqtt.Message{Topic: "rackwatch/gw/cmd/shelve", QoS: 1,
		Payload: []byte(`{"alarm":"smoke/room.smoke/smoke","by":"alice","until":"` + time.Now().Add(7*24*time.Hour).UTC().Format(time.RFC3339) + `"}`)})
	select {
	case r := <-results:
		if r.OK || r.Reason != contract.ReasonUnsigned || r.Operator != "" {
			t.Fatalf("anonymous shelve: %+v", r)
		}
	case <-ctx.Done():
		t.Fatal("no answer to the anonymous shelve")
	}

	resp, err := http.Get("http://" + httpAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"rackwatch_commands_total 3", `rackwatch_commands_refused_total{reason="unsigned"} 1`,
		`rackwatch_commands_refused_total{reason="not_allowed"} 2`, `rackwatch_commands_refused_total{reason="unknown_operator"} 1`,
		`rackwatch_commands_refused_total{reason="bad_signature"} 1`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

// With users on the embedded broker, the console logs in like any client: without the password it cannot
// connect (exit 1), with it the command goes through; and the gateway's own connection works with the
// password it made for itself.
func TestConsoleWithBrokerUsers(t *testing.T) {
	keys := t.TempDir()
	if _, _, err := operator.NewKeyFiles(keys, "alice"); err != nil {
		t.Fatal(err)
	}
	line, _ := brokerauth.Hash("console", []byte("ops-pass"))
	users := filepath.Join(keys, "broker-users")
	os.WriteFile(users, []byte(line+"\n"), 0o600)
	os.WriteFile(filepath.Join(keys, "console.pass"), []byte("ops-pass\n"), 0o600)
	cfg := strings.ReplaceAll(consoleGateway, "KEYS", keys)
	cfg = strings.Replace(cfg, `mqtt: {embedded_broker: "127.0.0.1:0"}`,
		`mqtt: {embedded_broker: "127.0.0.1:0", embedded_broker_auth: {password_file: `+users+`, operators: [console]}}`, 1)
	url, _ := runAgent(t, cfg)
	var out bytes.Buffer
	args := []string{"-b", url, "--gateway", "gw", "--key", filepath.Join(keys, "alice.key"), "--timeout", "5s", "smoke/room.smoke/smoke"}
	if code := consoleCmd(context.Background(), contract.Ack, args, &out, &out, time.Now); code != 1 || !strings.Contains(out.String(), "connect") {
		t.Fatalf("without a login: exit %d\n%s", code, out.String())
	}
	out.Reset()
	args = append(args, "--username", "console", "--password-file", filepath.Join(keys, "console.pass"))
	if code := consoleCmd(context.Background(), contract.Ack, args, &out, &out, time.Now); code != 0 {
		t.Fatalf("with the console's login: exit %d\n%s", code, out.String())
	}
}

// An operator's output test over MQTT drives the same test as the local socket: the output goes on and
// off, the action events name the operator, and the console exits 0 once the output is back off.
func TestConsoleOutputTest(t *testing.T) {
	keys := t.TempDir()
	if _, _, err := operator.NewKeyFiles(keys, "alice"); err != nil {
		t.Fatal(err)
	}
	cfg := strings.ReplaceAll(consoleGateway, "KEYS", keys) + `outputs:
  - {id: sounder, type: sim, what: battery room sounder, role: sounder}
`
	url, _ := runAgent(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	events := make(chan contract.Action, 8)
	cl, err := mqtt.Connect(ctx, mqtt.Config{URL: url, ClientID: "watch", CleanSession: true, Subscribe: map[string]byte{"rackwatch/gw/events": 1},
		OnMessage: func(m mqtt.Received) {
			if _, ev, err := contract.ParseEvent(m.Payload); err == nil && ev != nil {
				events <- *ev
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Disconnect(0)
	var out bytes.Buffer
	code := outputCmd(ctx, []string{"test", "sounder", "-b", url, "--gateway", "gw", "--key", filepath.Join(keys, "alice.key"), "--for", "200ms"},
		registry(), &out, &out)
	if code != 0 || !strings.Contains(out.String(), "output-test sounder: accepted by gw (operator alice)") {
		t.Fatalf("exit %d\n%s", code, out.String())
	}
	for _, want := range []string{contract.OutputOn, contract.OutputOff} {
		select {
		case ev := <-events:
			if ev.Output != "sounder" || ev.State != want || ev.By != "test:operator:alice" {
				t.Fatalf("action event %+v, want sounder %s by test:operator:alice", ev, want)
			}
		case <-ctx.Done():
			t.Fatalf("no %s event", want)
		}
	}
}
