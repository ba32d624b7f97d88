package agent

import (
	"context"
	"crypto/ed25519"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rackwatch/rackwatch/agent/contract"
	"github.com/rackwatch/rackwatch/agent/delivery"
	"github.com/rackwatch/rackwatch/agent/operator"
	"github.com/rackwatch/rackwatch/agent/promtext"
)

// operatorKeys makes key pairs for the named operators in a temporary directory: the private keys by
// name, and the directory (NAME.pub files).
func operatorKeys(t testing.TB, names ...string) (map[string]ed25519.PrivateKey, string) {
	t.Helper()
	dir := t.TempDir()
	keys := map[string]ed25519.PrivateKey{}
	for _, n := range names {
		priv, _, err := operator.NewKeyFiles(dir, n)
		if err != nil {
			t.Fatal(err)
		}
		if keys[n], err = operator.ReadPrivateKey(priv); err != nil {
			t.Fatal(err)
		}
	}
	return keys, dir
}

// signed is a command signed with key as operator op, for gateway gw, at time.Now(); edit may change it
// before it is signed.
func signed(t testing.TB, key ed25519.PrivateKey, op, gw, action, alarm string, edit func(*contract.Signed)) []byte {
	t.Helper()
	s := contract.Signed{Topic: contract.NewTopics("rackwatch", gw).Command(action), Operator: op, Gateway: gw, Action: action,
		Alarm: alarm, Time: time.Now().UTC().Format(contract.TimeFormat), Nonce: contract.NewNonce()}
	if action == contract.Shelve {
		s.Until = time.Now().Add(time.Hour).UTC().Format(contract.TimeFormat)
	}
	if edit != nil {
		edit(&s)
	}
	if err := s.Sign(key); err != nil {
		t.Fatal(err)
	}
	return s.JSON()
}

const operatorsConfig = `
gateway: {id: gw, site: lab, state_dir: STATE}
mqtt: {embedded_broker: "127.0.0.1:0"}
sensors:
  - {id: room.smoke, driver: sim, scenario: battery-runaway, start_at: 8m, every: 20ms, channels: [smoke]}
rules:
  - {id: smoke, match: {channel: smoke}, above: 0.5, latch: true, severity: critical, shelve_max: 0}
operators_dir: KEYS
`

// The attack of the issue, and every kind of command a gateway must refuse, through the agent's loop: an
// anonymous shelve of the smoke alarm changes nothing (smoke is raised when it comes), an operator's
// signed acknowledgement is taken under the operator's verified name, a shelve of a never-shelved alarm
// is refused, a forged, misdirected, stale or replayed command is refused with its reason, and the replay
// is refused after a restart too.
func TestOperatorCommandsThroughTheAgent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		keys, dir := operatorKeys(t, "alice", "mallory")
		plan := writeConfig(t, strings.Replace(operatorsConfig, "KEYS", dir, 1))
		// mallory's key is not the gateway's: drop it from the plan.
		plan2 := *plan
		k, _, err := operator.Load([]operator.Entry{{Name: "alice", File: filepath.Join(dir, "alice.pub")}}, operator.Dir{})
		if err != nil {
			t.Fatal(err)
		}
		plan2.Operators = k
		plan = &plan2

		ob := newFakeOutbox()
		in := &fakeInbox{cmds: make(chan delivery.Inbound)}
		start := func() (stop func()) {
			link := ob.link()
			link.Inbox = in
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() {
				done <- Run(ctx, plan, testRegistry(), Options{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Open: Static(link)})
			}()
			return func() {
				cancel()
				if err := <-done; err != nil {
					t.Fatal(err)
				}
			}
		}
		send := func(action string, payload []byte) contract.Result {
			t.Helper()
			in.cmds <- delivery.Inbound{Kind: action, Payload: payload, Broker: "tcp://central:1883"}
			synctest.Wait()
			in.mu.Lock()
			defer in.mu.Unlock()
			return in.answers[len(in.answers)-1]
		}
		const smoke = "smoke/room.smoke/smoke"
		stop := start()

		// The attack: an anonymous shelve of the smoke alarm, a week long, "by" anyone.
		r := send(contract.Shelve, []byte(`{"alarm":"`+smoke+`","by":"alice","until":"`+time.Now().Add(7*24*time.Hour).UTC().Format(time.RFC3339)+`"}`))
		if r.OK || r.Reason != contract.ReasonUnsigned {
			t.Fatalf("anonymous shelve: %+v", r)
		}
		for !hasEvent(ob.snapshot(), smoke, contract.EventRaise) {
			time.Sleep(time.Second)
		}
		for _, a := range ob.snapshot() {
			if a.ShelvedUntil != nil || a.Event == contract.EventSuppressed {
				t.Fatalf("the anonymous shelve took effect: %+v", a)
			}
		}

		ack := signed(t, keys["alice"], "alice", "gw", contract.Ack, smoke, func(s *contract.Signed) { s.Reason = "crew on site" })
		for _, c := range []struct {
			name, action string
			payload      []byte
			reason       string
		}{
			{"mallory's own key", contract.Ack, signed(t, keys["mallory"], "mallory", "gw", contract.Ack, smoke, nil), contract.ReasonUnknownOperator},
			{"mallory as alice", contract.Ack, signed(t, keys["mallory"], "alice", "gw", contract.Ack, smoke, nil), contract.ReasonBadSignature},
			{"for another gateway", contract.Ack, signed(t, keys["alice"], "alice", "gw2", contract.Ack, smoke, nil), contract.ReasonWrongGateway},
			{"signed an hour ago", contract.Ack, signed(t, keys["alice"], "alice", "gw", contract.Ack, smoke, func(s *contract.Signed) {
				s.Time = time.Now().Add(-time.Hour).UTC().Format(contract.TimeFormat)
			}), contract.ReasonOutsideWindow},
			{"shelve of a never-shelved alarm", contract.Shelve, signed(t, keys["alice"], "alice", "gw", contract.Shelve, smoke, nil), contract.ReasonNotAllowed},
			{"unknown alarm", contract.Unshelve, signed(t, keys["alice"], "alice", "gw", contract.Unshelve, "nope", nil), contract.ReasonUnknownAlarm},
			{"output test without outputs", contract.OutputTest, signed(t, keys["alice"], "alice", "gw", contract.OutputTest, "", func(s *contract.Signed) {
				s.Alarm, s.Output = "", "sounder"
			}), contract.ReasonUnknownOutput},
		} {
			if r := send(c.action, c.payload); r.OK || r.Reason != c.reason || (r.Operator != "" && c.reason != contract.ReasonNotAllowed && c.reason != contract.ReasonUnknownAlarm && c.reason != contract.ReasonUnknownOutput) {
				t.Errorf("%s: %+v, want %s", c.name, r, c.reason)
			}
		}
		for _, a := range ob.snapshot() {
			if a.Acked || a.ShelvedUntil != nil {
				t.Fatalf("a refused command changed the alarm: %+v", a)
			}
		}

		if r := send(contract.Ack, ack); !r.OK || r.Operator != "alice" {
			t.Fatalf("alice's ack: %+v", r)
		}
		var acked *contract.Alarm
		for _, a := range ob.snapshot() {
			if a.Key == smoke && a.Event == contract.EventAck {
				acked = &a
			}
		}
		if acked == nil || acked.AckedBy != "alice" || !strings.Contains(acked.Message, "acknowledged by alice (crew on site)") {
			t.Fatalf("ack transition: %+v", acked)
		}
		if r := send(contract.Ack, ack); r.OK || r.Reason != contract.ReasonReplayed {
			t.Fatalf("replay: %+v", r)
		}
		stop()

		// After a restart the same command is still a replay.
		stop = start()
		if r := send(contract.Ack, ack); r.OK || r.Reason != contract.ReasonReplayed {
			t.Fatalf("replay after a restart: %+v", r)
		}
		stop()
	})
}

func hasEvent(trs []contract.Alarm, key, event string) bool {
	for _, a := range trs {
		if a.Key == key && a.Event == event {
			return true
		}
	}
	return false
}

// The command counters: accepted, refused by reason (every reason shown from the start), and what the
// delivery ignored.
func TestCommandMetrics(t *testing.T) {
	r := &runner{out: newFakeOutbox().link(), cmds: &commands{refused: make([]atomic.Uint64, len(contract.Reasons))}}
	r.cmds.accepted.Add(2)
	r.cmds.refused[1].Add(3) // unsigned
	var b strings.Builder
	w := promtext.New(&b)
	r.writeCommandMetrics(w)
	out := b.String()
	for _, want := range []string{"rackwatch_commands_total 2", `rackwatch_commands_refused_total{reason="unsigned"} 3`,
		`rackwatch_commands_refused_total{reason="replayed"} 0`, "rackwatch_commands_dropped_total 0"} {
		if !strings.Contains(out, want) {
			t.Errorf("metrics lack %q:\n%s", want, out)
		}
	}
}

// A reload takes the operators' keys again: an operator removed from the config is refused at once, one
// added is taken.
func TestOperatorsReload(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		keys, dir := operatorKeys(t, "alice", "bob")
		cfg := strings.Replace(operatorsConfig, "operators_dir: KEYS", "operators: [{name: alice, public_key_file: "+filepath.Join(dir, "alice.pub")+"}]", 1)
		plan := writeConfig(t, cfg)
		ob := newFakeOutbox()
		in := &fakeInbox{cmds: make(chan delivery.Inbound)}
		link := ob.link()
		link.Inbox = in
		reload := make(chan *Plan)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			done <- Run(ctx, plan, testRegistry(), Options{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Open: Static(link), Reload: reload})
		}()
		send := func(key ed25519.PrivateKey, op string) contract.Result {
			in.cmds <- delivery.Inbound{Kind: contract.Ack, Payload: signed(t, key, op, "gw", contract.Ack, "smoke/room.smoke/smoke", nil)}
			synctest.Wait()
			in.mu.Lock()
			defer in.mu.Unlock()
			return in.answers[len(in.answers)-1]
		}
		if r := send(keys["alice"], "alice"); !r.OK {
			t.Fatalf("alice before the reload: %+v", r)
		}
		if r := send(keys["bob"], "bob"); r.Reason != contract.ReasonUnknownOperator {
			t.Fatalf("bob before the reload: %+v", r)
		}
		reload <- writeConfig(t, strings.Replace(operatorsConfig, "operators_dir: KEYS", "operators: [{name: bob, public_key_file: "+filepath.Join(dir, "bob.pub")+"}]", 1))
		synctest.Wait()
		if r := send(keys["alice"], "alice"); r.Reason != contract.ReasonUnknownOperator {
			t.Fatalf("alice after she was removed: %+v", r)
		}
		if r := send(keys["bob"], "bob"); !r.OK {
			t.Fatalf("bob after he was added: %+v", r)
		}
		cancel()
		<-done
	})
}
