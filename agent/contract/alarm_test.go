package contract

import (
	"encoding/json"
	"reflect"
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
