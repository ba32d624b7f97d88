package operator

import (
	"crypto/ed25519"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rackwatch/rackwatch/agent/contract"
)

type fixture struct {
	t     testing.TB
	state string
	keys  map[string]ed25519.PrivateKey
	ring  *Keyring
	v     *Verifier
	now   time.Time
}

func newFixture(t testing.TB) *fixture {
	f := &fixture{t: t, state: t.TempDir(), keys: map[string]ed25519.PrivateKey{},
		now: time.Date(2026, 3, 2, 2, 0, 0, 0, time.UTC)}
	dir := t.TempDir()
	var entries []Entry
	for _, n := range []string{"alice", "bob"} {
		priv, pub, err := NewKeyFiles(dir, n)
		if err != nil {
			t.Fatal(err)
		}
		f.keys[n], _ = ReadPrivateKey(priv)
		entries = append(entries, Entry{Name: n, File: pub})
	}
	mpriv, _, _ := NewKeyFiles(dir, "mallory") // a key the gateway does not list
	f.keys["mallory"], _ = ReadPrivateKey(mpriv)
	ring, _, err := Load(entries, Dir{})
	if err != nil {
		t.Fatal(err)
	}
	f.ring = ring
	f.reopen()
	return f
}

// reopen is a restart: the verifier is built again from the nonce store on disk.
func (f *fixture) reopen() {
	n, note, err := OpenNonces(filepath.Join(f.state, NoncesFile), f.now.Add(-time.Hour))
	if err != nil || note != "" {
		f.t.Fatal(err, note)
	}
	f.v = &Verifier{Topics: contract.NewTopics("rackwatch", "gw1"), Gateway: "gw1", Keys: f.ring, Nonces: n}
}

func (f *fixture) cmd(signer, operator, action string, edit func(*contract.Signed)) []byte {
	s := contract.Signed{Topic: f.v.Topics.Command(action), Operator: operator, Gateway: "gw1", Action: action,
		Alarm: "smoke/batt-room.smoke/smoke", Time: f.now.Format(contract.TimeFormat), Nonce: contract.NewNonce()}
	if action == contract.Shelve {
		s.Until = f.now.Add(time.Hour).Format(contract.TimeFormat)
	}
	if edit != nil {
		edit(&s)
	}
	if err := s.Sign(f.keys[signer]); err != nil {
		f.t.Fatal(err)
	}
	return s.JSON()
}

// Every kind of command that is not an operator's is refused with its reason; an operator's is taken, by
// that operator's name, once.
func TestVerify(t *testing.T) {
	f := newFixture(t)
	ok := f.cmd("alice", "alice", contract.Shelve, func(s *contract.Signed) { s.Reason = "probe swap" })
	c, err := f.v.Verify(contract.Shelve, ok, f.now.Add(30*time.Second))
	if err != nil {
		t.Fatalf("alice's shelve refused: %v", err)
	}
	if c.By != "alice" || c.Kind != contract.Shelve || c.Reason != "probe swap" || !c.Until.Equal(f.now.Add(time.Hour)) {
		t.Fatalf("%+v", c)
	}

	for _, tc := range []struct {
		name, action string
		payload      []byte
		at           time.Time
		reason, msg  string
	}{
		{"anonymous shelve of the smoke alarm", contract.Shelve,
			[]byte(`{"alarm":"smoke/batt-room.smoke/smoke","by":"alice","until":"2026-03-09T00:00:00Z"}`), f.now, contract.ReasonUnsigned, "must be signed"},
		{"anonymous ack", contract.Ack, []byte(`{"alarm":"smoke/batt-room.smoke/smoke","by":"ops"}`), f.now, contract.ReasonUnsigned, "must be signed"},
		{"garbage", contract.Ack, []byte(`{"v":1`), f.now, contract.ReasonBadCommand, "bad command"},
		{"unknown key", contract.Ack, f.cmd("mallory", "mallory", contract.Ack, nil), f.now, contract.ReasonUnknownOperator, "operator mallory is not listed"},
		{"claims to be alice", contract.Ack, f.cmd("mallory", "alice", contract.Ack, nil), f.now, contract.ReasonBadSignature, "not operator alice's"},
		{"bob's key as alice", contract.Ack, f.cmd("bob", "alice", contract.Ack, nil), f.now, contract.ReasonBadSignature, "not operator alice's"},
		{"another gateway", contract.Ack, f.cmd("alice", "alice", contract.Ack, func(s *contract.Signed) {
			s.Gateway, s.Topic = "gw2", contract.NewTopics("rackwatch", "gw2").Command(contract.Ack)
		}), f.now, contract.ReasonWrongGateway, "signed for gateway gw2"},
		{"another gateway's topic, this gateway's id", contract.Ack, f.cmd("alice", "alice", contract.Ack, func(s *contract.Signed) {
			s.Topic = contract.NewTopics("rackwatch", "gw2").Command(contract.Ack)
		}), f.now, contract.ReasonBadSignature, "topic rackwatch/gw1/cmd/ack"},
		{"signed for ack, sent as unshelve", contract.Unshelve, []byte(strings.Replace(string(f.cmd("alice", "alice", contract.Ack, nil)), `"action":"ack"`, `"action":"unshelve"`, 1)),
			f.now, contract.ReasonBadSignature, "not operator alice's"},
		{"too old", contract.Ack, f.cmd("alice", "alice", contract.Ack, nil), f.now.Add(6 * time.Minute), contract.ReasonOutsideWindow, "6m0s behind"},
		{"from the future", contract.Ack, f.cmd("alice", "alice", contract.Ack, nil), f.now.Add(-6 * time.Minute), contract.ReasonOutsideWindow, "6m0s ahead"},
		{"replayed", contract.Shelve, ok, f.now.Add(time.Minute), contract.ReasonReplayed, "taken before"},
	} {
		c, err := f.v.Verify(tc.action, tc.payload, tc.at)
		if contract.ReasonOf(err) != tc.reason || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: %v (reason %q), want %s with %q", tc.name, err, contract.ReasonOf(err), tc.reason, tc.msg)
			continue
		}
		if c.By != "" {
			t.Errorf("%s: refused, yet by %q", tc.name, c.By)
		}
		if r := contract.NewResult(c, err); r.OK || r.Reason != tc.reason || r.Command != tc.action {
			t.Errorf("%s: result %+v", tc.name, r)
		}
	}

	// Replayed after a restart: the nonce store is on disk.
	f.reopen()
	if _, err := f.v.Verify(contract.Shelve, ok, f.now.Add(2*time.Minute)); contract.ReasonOf(err) != contract.ReasonReplayed {
		t.Fatalf("replay after restart: %v", err)
	}
	// A fresh command after the restart is taken.
	if _, err := f.v.Verify(contract.Ack, f.cmd("bob", "bob", contract.Ack, nil), f.now.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}

	// No operators at all: refused, and the refusal says how to add one.
	empty, _, _ := Load(nil, Dir{})
	f.v.Keys = empty
	_, err = f.v.Verify(contract.Ack, f.cmd("alice", "alice", contract.Ack, nil), f.now)
	if contract.ReasonOf(err) != contract.ReasonNoOperators || !strings.Contains(err.Error(), "rackwatch key new NAME") {
		t.Fatalf("no operators: %v", err)
	}
}

// The store is bounded: a flood of valid commands forgets the oldest nonces and raises the floor, so a
// forgotten nonce cannot be replayed. A lost or damaged store refuses every command signed before the start.
func TestNoncesBoundAndFloor(t *testing.T) {
	f := newFixture(t)
	f.v.Nonces.max = 4
	first := f.cmd("alice", "alice", contract.Ack, nil)
	if _, err := f.v.Verify(contract.Ack, first, f.now); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 4; i++ {
		p := f.cmd("alice", "alice", contract.Ack, func(s *contract.Signed) {
			s.Time = f.now.Add(time.Duration(i) * time.Second).Format(contract.TimeFormat)
		})
		if _, err := f.v.Verify(contract.Ack, p, f.now.Add(5*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	if n := f.v.Nonces.Len(); n != 4 {
		t.Fatalf("%d nonces kept, bound 4", n)
	}
	if _, err := f.v.Verify(contract.Ack, first, f.now.Add(6*time.Second)); contract.ReasonOf(err) != contract.ReasonOutsideWindow {
		t.Fatalf("the forgotten first command replayed: %v", err)
	}
	// The window grew over a restart: commands forgotten under the old window stay refused.
	old := f.cmd("bob", "bob", contract.Ack, func(s *contract.Signed) { s.Time = f.now.Add(10 * time.Second).Format(contract.TimeFormat) })
	if _, err := f.v.Verify(contract.Ack, old, f.now.Add(10*time.Second)); err != nil {
		t.Fatal(err)
	}
	f.v.Nonces.max = MaxNonces
	later := f.now.Add(10 * time.Minute)
	if _, err := f.v.Verify(contract.Ack, f.cmd("bob", "bob", contract.Ack, func(s *contract.Signed) { s.Time = later.Format(contract.TimeFormat) }), later); err != nil {
		t.Fatal(err) // forgets the commands older than the window
	}
	f.reopen()
	f.v.Window = time.Hour
	if _, err := f.v.Verify(contract.Ack, old, later); contract.ReasonOf(err) == "" {
		t.Fatal("a command forgotten under a 5m window was taken once the window was 1h")
	}

	// A damaged store is moved aside; commands signed before the start are refused, later ones taken.
	path := filepath.Join(f.state, NoncesFile)
	os.WriteFile(path, []byte("{garbage"), 0o600)
	start := f.now.Add(20 * time.Minute)
	n, note, err := OpenNonces(path, start)
	if err != nil || !strings.Contains(note, "damaged") {
		t.Fatalf("%v %q", err, note)
	}
	if _, err := os.Stat(path + ".damaged"); err != nil {
		t.Fatal(err)
	}
	f.v.Nonces, f.v.Window = n, DefaultWindow
	before := f.cmd("alice", "alice", contract.Ack, func(s *contract.Signed) { s.Time = start.Add(-time.Second).Format(contract.TimeFormat) })
	if _, err := f.v.Verify(contract.Ack, before, start); contract.ReasonOf(err) != contract.ReasonOutsideWindow || !strings.Contains(err.Error(), "sign it again") {
		t.Fatalf("signed before a start with a damaged store: %v", err)
	}
	after := f.cmd("alice", "alice", contract.Ack, func(s *contract.Signed) { s.Time = start.Add(time.Second).Format(contract.TimeFormat) })
	if _, err := f.v.Verify(contract.Ack, after, start.Add(2*time.Second)); err != nil {
		t.Fatal(err)
	}
}

// A nonce that cannot be made durable refuses the command: after a restart it could be replayed.
func TestNoncesNotDurable(t *testing.T) {
	f := newFixture(t)
	os.RemoveAll(f.state) // (root writes into a read-only directory; nobody writes into a missing one)
	_, err := f.v.Verify(contract.Ack, f.cmd("alice", "alice", contract.Ack, nil), f.now)
	if contract.ReasonOf(err) != contract.ReasonFailed || !strings.Contains(err.Error(), "not carried out") {
		t.Fatalf("%v", err)
	}
}
