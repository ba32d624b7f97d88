package contract

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestActionJSON(t *testing.T) {
	at := time.Date(2026, 11, 25, 1, 2, 3, 456789000, time.FixedZone("KST", 9*3600))
	a := Action{Gateway: "gw", Site: "dc1", ID: "stop-charge/1", Output: "stop-charge", Type: "modbus", State: OutputOn,
		Result: ResultOK, Detail: "coil 4609 = 0, read back 0", Took: 2100 * time.Microsecond, Latency: 3 * time.Millisecond,
		By: ByRules, Alarm: "pre-runaway", Rule: "pre-runaway", Severity: Critical, AlarmSeq: 42, Episode: 42, Time: at}
	a.Message = ActionMessage(&a)
	b, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, want := range []string{`{"kind":"action",`, `"time":"2026-11-24T16:02:03.456Z"`, `"took_ms":2.1`, `"latency_ms":3`,
		`"error":null`, `"state":"on"`, `"alarm_seq":42`,
		`"message":"stop-charge on for pre-runaway (critical): ok in 2.1ms; coil 4609 = 0, read back 0"`} {
		if !strings.Contains(s, want) {
			t.Errorf("missing %s in %s", want, s)
		}
	}
	if !IsActionPayload(b) {
		t.Error("IsActionPayload says no")
	}
	al, act, err := ParseEvent(b)
	if err != nil || al != nil || act == nil {
		t.Fatalf("ParseEvent: %v %v %v", al, act, err)
	}
	if act.Output != "stop-charge" || act.Took != a.Took || act.Latency != a.Latency || !act.Time.Equal(at.Truncate(time.Millisecond)) || act.Message != a.Message {
		t.Errorf("round trip: %+v", act)
	}
}

func TestParseEventTellsAlarmsFromActions(t *testing.T) {
	b, _ := json.Marshal(Alarm{Key: "smoke/r/smoke", Seq: 3, Event: EventRaise})
	al, act, err := ParseEvent(b)
	if err != nil || act != nil || al == nil || al.Seq != 3 {
		t.Fatalf("alarm: %v %v %v", al, act, err)
	}
	if IsActionPayload(b) {
		t.Error("an alarm taken for an action")
	}
	if _, _, err := ParseEvent([]byte(`{"kind":"reading"}`)); err == nil {
		t.Error("an unknown kind was accepted as an action")
	}
	if _, _, err := ParseEvent([]byte(`[`)); err == nil {
		t.Error("garbage accepted")
	}
}

func TestActionKeys(t *testing.T) {
	k := ActionKey("stop-charge")
	if !IsActionKey(k) || ValidKey(k) {
		t.Errorf("action key %q: IsActionKey %v, ValidKey %v", k, IsActionKey(k), ValidKey(k))
	}
	if IsActionKey("smoke/r/smoke") {
		t.Error("an alarm key taken for an action key")
	}
}

func TestActionMessages(t *testing.T) {
	for _, c := range []struct {
		a    Action
		want string
	}{
		{Action{Output: "sounder", State: OutputOn, Result: ResultDryRun, Alarm: "smoke/r/smoke", Severity: Critical},
			"sounder on for smoke/r/smoke (critical): dry run, nothing touched"},
		{Action{Output: "beacon", State: OutputOff, Result: ResultFailed, Error: "board not connected", By: "test:root"},
			"beacon off (test:root): failed: board not connected"},
		{Action{Output: ShutdownOutput, State: ShutdownPending, Result: ResultOK, Detail: "shutting down in 30s unless power returns"},
			"shutdown pending: shutting down in 30s unless power returns"},
		{Action{Output: ShutdownOutput, State: ShutdownCommand, Result: ResultFailed, Error: "exit status 1", Detail: "/usr/bin/systemctl poweroff"},
			"shutdown command failed: exit status 1; /usr/bin/systemctl poweroff"},
	} {
		if got := ActionMessage(&c.a); got != c.want {
			t.Errorf("got  %q\nwant %q", got, c.want)
		}
	}
}

// FuzzParseEvent feeds arbitrary …/events payloads (they come from the network on the central side):
// ParseEvent must not panic and must return exactly one kind of event when it succeeds.
func FuzzParseEvent(f *testing.F) {
	b1, _ := json.Marshal(Action{Output: "x", State: OutputOn, Result: ResultOK, AlarmSeq: 1})
	b2, _ := json.Marshal(Alarm{Key: "a"})
	for _, s := range [][]byte{b1, b2, []byte(`{"kind":null}`), []byte(`{"kind":"action","took_ms":"x"}`), []byte(`null`), []byte(`{`)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		al, act, err := ParseEvent(b)
		if err == nil && (al == nil) == (act == nil) {
			t.Fatalf("ParseEvent(%q) = %v, %v", b, al, act)
		}
	})
}
