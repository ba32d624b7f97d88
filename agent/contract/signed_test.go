package contract

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

var testKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))

func signedShelve(t testing.TB) Signed {
	s := Signed{Topic: NewTopics("rackwatch", "gw1").Command(Shelve), Operator: "alice", Gateway: "gw1", Action: Shelve,
		Alarm: "batt-hot/string1/battery_temp", Until: "2026-03-02T10:00:00.000Z", Reason: "probe swap",
		Time: "2026-03-02T02:00:00.000Z", Nonce: "AAAAAAAAAAAAAAAAAAAAAA", ID: "c-1"}
	if err := s.Sign(testKey); err != nil {
		t.Fatal(err)
	}
	return s
}

// A signed command survives the wire, verifies with its key only, and any change to what it says or to
// where it travels breaks the signature.
func TestSignedRoundTrip(t *testing.T) {
	s := signedShelve(t)
	got, err := ParseSigned(s.Topic, s.JSON())
	if err != nil {
		t.Fatalf("%v\n%s", err, s.JSON())
	}
	if !got.Verify(testKey.Public().(ed25519.PublicKey)) {
		t.Fatal("a correctly signed command does not verify")
	}
	other := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{8}, ed25519.SeedSize))
	if got.Verify(other.Public().(ed25519.PublicKey)) {
		t.Fatal("verifies with another key")
	}
	c := got.Command()
	if c.Kind != Shelve || c.By != "alice" || c.Alarm != s.Alarm || !c.Until.Equal(time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)) ||
		c.Reason != "probe swap" || c.Nonce != s.Nonce || c.ID != "c-1" {
		t.Fatalf("command %+v", c)
	}
	if !got.When().Equal(time.Date(2026, 3, 2, 2, 0, 0, 0, time.UTC)) {
		t.Fatalf("time %v", got.When())
	}
	pub := testKey.Public().(ed25519.PublicKey)
	for name, tamper := range map[string]func(*Signed){
		"another gateway's topic": func(s *Signed) { s.Topic = NewTopics("rackwatch", "gw2").Command(Shelve) },
		"another prefix":          func(s *Signed) { s.Topic = NewTopics("other", "gw1").Command(Shelve) },
		"operator":                func(s *Signed) { s.Operator = "mallory" },
		"gateway":                 func(s *Signed) { s.Gateway = "gw2" },
		"alarm":                   func(s *Signed) { s.Alarm = "smoke/batt-room.smoke/smoke" },
		"until":                   func(s *Signed) { s.Until = "2026-03-09T10:00:00.000Z" },
		"reason":                  func(s *Signed) { s.Reason = "" },
		"time":                    func(s *Signed) { s.Time = "2026-03-03T02:00:00.000Z" },
		"nonce":                   func(s *Signed) { s.Nonce = "BAAAAAAAAAAAAAAAAAAAAA" },
		"id":                      func(s *Signed) { s.ID = "c-2" },
	} {
		x := got
		tamper(&x)
		if x.Verify(pub) {
			t.Errorf("%s changed, still verifies", name)
		}
	}
	// Moved to the ack topic: the action no longer matches the topic.
	if _, err := ParseSigned(NewTopics("rackwatch", "gw1").Command(Ack), s.JSON()); ReasonOf(err) != ReasonBadCommand {
		t.Fatalf("shelve on the ack topic: %v", err)
	}
}

// The canonical encoding is what docs/security.md shows; other implementations sign exactly this.
func TestSignedMessageGolden(t *testing.T) {
	s := signedShelve(t)
	msg, err := s.SignedMessage()
	if err != nil {
		t.Fatal(err)
	}
	want := "rackwatch-command-v1\ntopic=rackwatch/gw1/cmd/shelve\noperator=alice\ngateway=gw1\naction=shelve\n" +
		"alarm=batt-hot/string1/battery_temp\nuntil=2026-03-02T10:00:00.000Z\noutput=\nfor=\nreason=probe swap\n" +
		"time=2026-03-02T02:00:00.000Z\nnonce=AAAAAAAAAAAAAAAAAAAAAA\nid=c-1\n"
	if string(msg) != want {
		t.Fatalf("signed message:\n%q\nwant\n%q", msg, want)
	}
	var m map[string]any
	if err := json.Unmarshal(s.JSON(), &m); err != nil || m["v"] != 1.0 || m["operator"] != "alice" || m["output"] != nil {
		t.Fatalf("%s %v", s.JSON(), err)
	}
}

func TestParseSignedRefusals(t *testing.T) {
	base := signedShelve(t)
	topic := base.Topic
	mod := func(f func(m map[string]any)) string {
		var m map[string]any
		json.Unmarshal(base.JSON(), &m)
		f(m)
		b, _ := json.Marshal(m)
		return string(b)
	}
	for _, c := range []struct {
		name, topic, payload, reason, msg string
	}{
		{"old anonymous shelve", topic, `{"alarm":"smoke/batt-room.smoke/smoke","by":"anyone","until":"2026-03-09T00:00:00Z"}`, ReasonUnsigned, "must be signed"},
		{"old anonymous ack", NewTopics("rackwatch", "gw1").Command(Ack), `{"alarm":"smoke","by":"x"}`, ReasonUnsigned, "must be signed"},
		{"not JSON", topic, `{`, ReasonBadCommand, "not the expected JSON"},
		{"empty", topic, ``, ReasonBadCommand, "not the expected JSON"},
		{"trailing", topic, string(base.JSON()) + "{}", ReasonBadCommand, "trailing"},
		{"too large", topic, strings.Repeat(" ", MaxCommandSize+1), ReasonBadCommand, "too large"},
		{"unknown action", "rackwatch/gw1/cmd/silence", string(base.JSON()), ReasonBadCommand, "unknown command"},
		{"unknown field", topic, mod(func(m map[string]any) { m["extra"] = 1 }), ReasonBadCommand, "unknown field"},
		{"by in a signed one", topic, mod(func(m map[string]any) { m["by"] = "root" }), ReasonBadCommand, "\"by\" is not a field"},
		{"version", topic, mod(func(m map[string]any) { m["v"] = 2 }), ReasonBadCommand, "\"v\" must be 1"},
		{"operator", topic, mod(func(m map[string]any) { m["operator"] = "al ice" }), ReasonBadCommand, "\"operator\""},
		{"gateway", topic, mod(func(m map[string]any) { m["gateway"] = "GW/1" }), ReasonBadCommand, "\"gateway\""},
		{"nonce short", topic, mod(func(m map[string]any) { m["nonce"] = "abc" }), ReasonBadCommand, "\"nonce\""},
		{"reason control", topic, mod(func(m map[string]any) { m["reason"] = "a\nb" }), ReasonBadCommand, "\"reason\""},
		{"reason long", topic, mod(func(m map[string]any) { m["reason"] = strings.Repeat("x", 201) }), ReasonBadCommand, "\"reason\""},
		{"time", topic, mod(func(m map[string]any) { m["time"] = "yesterday" }), ReasonBadCommand, "\"time\""},
		{"until missing", topic, mod(func(m map[string]any) { delete(m, "until") }), ReasonBadCommand, "\"until\" is required"},
		{"until bad", topic, mod(func(m map[string]any) { m["until"] = "later" }), ReasonBadCommand, "\"until\""},
		{"alarm", topic, mod(func(m map[string]any) { m["alarm"] = "a/+/b" }), ReasonBadCommand, "\"alarm\""},
		{"output on shelve", topic, mod(func(m map[string]any) { m["output"] = "sounder" }), ReasonBadCommand, "output-test"},
		{"key in another case", topic, strings.Replace(string(base.JSON()), `"operator"`, `"Operator"`, 1), ReasonBadCommand, "unknown field"},
		{"key twice", topic, strings.Replace(string(base.JSON()), `"operator":"alice"`, `"operator":"alice","operator":"mallory"`, 1), ReasonBadCommand, "twice"},
		{"until zero", topic, mod(func(m map[string]any) { m["until"] = "0001-01-01T00:00:00Z" }), ReasonBadCommand, "\"until\""},
		{"sig not base64", topic, mod(func(m map[string]any) { m["sig"] = "!!" }), ReasonBadCommand, "\"sig\""},
		{"sig short", topic, mod(func(m map[string]any) { m["sig"] = "AAAA" }), ReasonBadCommand, "\"sig\""},
	} {
		s, err := ParseSigned(c.topic, []byte(c.payload))
		if ReasonOf(err) != c.reason || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: err %v (reason %q), want %s with %q", c.name, err, ReasonOf(err), c.reason, c.msg)
			continue
		}
		r := NewResult(s.Unverified(), err)
		if r.OK || r.Reason != c.reason || r.Operator != "" {
			t.Errorf("%s: result %+v", c.name, r)
		}
	}
}

func TestSignedOutputTest(t *testing.T) {
	s := Signed{Topic: NewTopics("rackwatch", "gw1").Command(OutputTest), Operator: "alice", Gateway: "gw1", Action: OutputTest,
		Output: "sounder", For: "5s", Time: "2026-03-02T02:00:00Z", Nonce: NewNonce()}
	if err := s.Sign(testKey); err != nil {
		t.Fatal(err)
	}
	got, err := ParseSigned(s.Topic, s.JSON())
	if err != nil || !got.Verify(testKey.Public().(ed25519.PublicKey)) {
		t.Fatalf("%v", err)
	}
	if c := got.Command(); c.Output != "sounder" || c.For != 5*time.Second || c.Alarm != "" {
		t.Fatalf("%+v", c)
	}
	s.For = "2h"
	if err := s.Sign(testKey); err == nil {
		t.Fatal("a two-hour output test was signed")
	}
	s.For, s.Alarm = "", "smoke"
	if err := s.Sign(testKey); err == nil {
		t.Fatal("an output test naming an alarm was signed")
	}
}

func TestResultReasons(t *testing.T) {
	c := Command{Kind: Ack, Alarm: "smoke", By: "alice", Nonce: "n"}
	for err, want := range map[error]string{
		nil: "", Refuse(ReasonReplayed, "x"): ReasonReplayed, ErrUnknownAlarm: ReasonUnknownAlarm,
		errors.New("disk"): ReasonFailed, ErrNotAllowed: ReasonNotAllowed,
	} {
		r := NewResult(c, err)
		if r.Reason != want || r.OK != (err == nil) {
			t.Errorf("%v: %+v", err, r)
		}
		back, perr := ParseResult(r.JSON())
		if perr != nil || back != r {
			t.Errorf("round trip %+v -> %+v %v", r, back, perr)
		}
	}
}

// FuzzParseSigned feeds arbitrary payloads and topics (they come from the network): ParseSigned must not
// panic; whatever it accepts has well-formed fields, encodes back to a payload that parses to the same
// command, and does not verify with a key that did not sign it.
func FuzzParseSigned(f *testing.F) {
	s := signedShelve(f)
	f.Add(s.Topic, s.JSON())
	a := Signed{Topic: "rackwatch/gw1/cmd/ack", Operator: "bob", Gateway: "gw1", Action: Ack, Alarm: "smoke",
		Time: "2026-03-02T02:00:00Z", Nonce: "0123456789abcdef"}
	a.Sign(testKey)
	f.Add(a.Topic, a.JSON())
	for _, p := range []string{`{"alarm":"smoke","by":"x"}`, `{}`, `null`, `[`, "\xff", `{"v":1,"sig":""}`} {
		f.Add("rackwatch/gw1/cmd/ack", []byte(p))
	}
	other := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, ed25519.SeedSize)).Public().(ed25519.PublicKey)
	f.Fuzz(func(t *testing.T, topic string, payload []byte) {
		if topic == "" {
			return
		}
		got, err := ParseSigned(topic, payload)
		if err != nil {
			var r *Refusal
			if !errors.As(err, &r) || (r.Reason != ReasonBadCommand && r.Reason != ReasonUnsigned) {
				t.Fatalf("error is not a bad_command/unsigned refusal: %v", err)
			}
			_ = NewResult(got.Unverified(), err).JSON()
			return
		}
		if !ValidOperator(got.Operator) || !IsAction(got.Action) || len(got.Sig) != ed25519.SignatureSize ||
			(got.Action != OutputTest && !ValidKey(got.Alarm)) || (got.Action == Shelve && got.Command().Until.IsZero()) {
			t.Fatalf("accepted %q as %+v", payload, got)
		}
		again, err := ParseSigned(topic, got.JSON())
		if err != nil {
			t.Fatalf("re-encoded command refused: %v\n%s", err, got.JSON())
		}
		m1, _ := got.SignedMessage()
		m2, _ := again.SignedMessage()
		if !bytes.Equal(m1, m2) || !bytes.Equal(got.Sig, again.Sig) {
			t.Fatalf("re-encoding changed the command:\n%q\n%q", m1, m2)
		}
		if got.Verify(other) {
			t.Fatalf("a command verified with a key that never signed anything: %q", payload)
		}
	})
}
