package contract

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestJSONRoundTrip(t *testing.T) {
	since := time.Date(2026, 11, 25, 1, 2, 3, 456789000, time.FixedZone("KST", 9*3600))
	until := since.Add(time.Hour)
	a := Alarm{Gateway: "gw", Site: "dc1", Key: "smoke/room/smoke", Rule: "smoke", Sensor: "room", Channel: "smoke",
		Severity: Critical, State: Active, ShelvedUntil: &until, Value: Float(1), Unit: "", Threshold: Float(0.5),
		Since: since, Time: since, Seq: 42, Event: EventRaise, Message: "smoke in room", Labels: map[string]string{"rack": "r1"}}
	b, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, want := range []string{`"since":"2026-11-24T16:02:03.456Z"`, `"alarm":"smoke/room/smoke"`, `"seq":42`, `"acked":false`,
		`"shelved_until":"2026-11-24T17:02:03.456Z"`} {
		if !strings.Contains(s, want) {
			t.Errorf("missing %s in %s", want, s)
		}
	}
	var back Alarm
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Seq != 42 || !back.Since.Equal(since.Truncate(time.Millisecond)) || back.ShelvedUntil == nil || *back.Value != 1 {
		t.Errorf("round trip lost data: %+v", back)
	}
}

func TestNullFields(t *testing.T) {
	b, _ := json.Marshal(Alarm{Key: "x"})
	for _, want := range []string{`"shelved_until":null`, `"value":null`, `"threshold":null`, `"labels":{}`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("missing %s in %s", want, b)
		}
	}
}
