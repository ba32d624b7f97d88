package contract

import (
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"
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

// TestEveryFieldRoundTrips fills every field of Alarm and checks that the JSON carries each one back, so a
// field added to Alarm but forgotten in its wire form fails here.
func TestEveryFieldRoundTrips(t *testing.T) {
	at := time.Date(2026, 11, 25, 1, 2, 3, 4e6, time.UTC)
	var a Alarm
	v := reflect.ValueOf(&a).Elem()
	for i := 0; i < v.NumField(); i++ {
		f := v.Field(i)
		switch f.Interface().(type) {
		case string:
			f.SetString("x" + v.Type().Field(i).Name)
		case bool:
			f.SetBool(true)
		case uint64:
			f.SetUint(uint64(i + 1))
		case *float64:
			f.Set(reflect.ValueOf(Float(float64(i) + 0.5)))
		case time.Time:
			f.Set(reflect.ValueOf(at.Add(time.Duration(i) * time.Second)))
		case *time.Time:
			tt := at.Add(time.Hour)
			f.Set(reflect.ValueOf(&tt))
		case map[string]string:
			f.Set(reflect.ValueOf(map[string]string{"k": "v"}))
		default:
			t.Fatalf("field %s: type %s not covered by this test", v.Type().Field(i).Name, f.Type())
		}
	}
	b, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	var back Alarm
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, back) {
		t.Errorf("round trip lost fields:\n%+v\n%+v\n%s", a, back, b)
	}
}

// An alarm can always be encoded, whatever its fields hold (NaN and infinities, invalid UTF-8, control
// characters, times a broken clock gives): an alarm that cannot be encoded is never published. The JSON is
// valid, decodes again, and carries no non-finite number.
func TestEveryAlarmEncodes(t *testing.T) {
	floats := rapid.SampledFrom([]float64{0, -0.0, 1.5, -40, math.MaxFloat64, -math.MaxFloat64,
		math.SmallestNonzeroFloat64, math.NaN(), math.Inf(1), math.Inf(-1)})
	anyFloat := rapid.OneOf(floats, rapid.Float64())
	ptr := func(rt *rapid.T, name string) *float64 {
		if rapid.Bool().Draw(rt, name+"_nil") {
			return nil
		}
		return Float(anyFloat.Draw(rt, name))
	}
	// Strings: valid UTF-8 of any runes (control characters included), and arbitrary bytes.
	str := rapid.OneOf(rapid.String(), rapid.Map(rapid.SliceOf(rapid.Byte()), func(b []byte) string { return string(b) }))
	tm := rapid.Custom(func(rt *rapid.T) time.Time {
		switch rapid.IntRange(0, 3).Draw(rt, "kind") {
		case 0:
			return time.Time{}
		case 1:
			return time.Unix(0, rapid.Int64().Draw(rt, "ns"))
		case 2:
			return time.Date(rapid.IntRange(-20000, 20000).Draw(rt, "year"), 1, 1, 0, 0, 0, 0, time.UTC)
		}
		return time.Unix(rapid.Int64Range(-1<<40, 1<<40).Draw(rt, "s"), 0).In(time.FixedZone("X", 3600*rapid.IntRange(-14, 14).Draw(rt, "tz")))
	})
	rapid.Check(t, func(rt *rapid.T) {
		a := Alarm{Gateway: str.Draw(rt, "gateway"), Site: str.Draw(rt, "site"), Key: str.Draw(rt, "key"),
			Rule: str.Draw(rt, "rule"), Sensor: str.Draw(rt, "sensor"), Channel: str.Draw(rt, "channel"),
			Severity: str.Draw(rt, "severity"), State: str.Draw(rt, "state"), Acked: rapid.Bool().Draw(rt, "acked"),
			AckedBy: str.Draw(rt, "acked_by"), Value: ptr(rt, "value"), Unit: str.Draw(rt, "unit"),
			Threshold: ptr(rt, "threshold"), Since: tm.Draw(rt, "since"), Time: tm.Draw(rt, "time"),
			Seq: rapid.Uint64().Draw(rt, "seq"), Episode: rapid.Uint64().Draw(rt, "episode"),
			Event: str.Draw(rt, "event"), Message: str.Draw(rt, "message"),
			Labels: rapid.MapOf(str, str).Draw(rt, "labels")}
		if rapid.Bool().Draw(rt, "shelved") {
			u := tm.Draw(rt, "until")
			a.ShelvedUntil = &u
		}
		b, err := json.Marshal(a)
		if err != nil {
			rt.Fatalf("cannot encode %+v: %v", a, err)
		}
		if !json.Valid(b) {
			rt.Fatalf("invalid JSON %s", b)
		}
		var back Alarm
		if err := json.Unmarshal(b, &back); err != nil {
			rt.Fatalf("does not decode: %v\n%s", err, b)
		}
		for _, p := range []*float64{back.Value, back.Threshold} {
			if p != nil && (math.IsNaN(*p) || math.IsInf(*p, 0)) {
				rt.Fatalf("non-finite number in %s", b)
			}
		}
		if back.Seq != a.Seq || back.Episode != a.Episode || back.Acked != a.Acked {
			rt.Fatalf("numbers changed: %s", b)
		}
	})
}
