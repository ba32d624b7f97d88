package view

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rackwatch/rackwatch/agent/contract"
	"github.com/rackwatch/rackwatch/agent/reading"
)

func TestLines(t *testing.T) {
	var sb strings.Builder
	p := &Printer{W: &sb, Loc: time.UTC}
	at := time.Date(2026, 11, 25, 3, 0, 1, 0, time.UTC)
	p.Alarm(&contract.Alarm{Gateway: "gw1", Key: "smoke/batt-room.smoke/smoke", Severity: contract.Critical, State: contract.Active,
		Event: contract.EventRaise, Time: at, Seq: 12, Message: "Smoke detected in the battery room (batt-room.smoke)"})
	p.Alarm(&contract.Alarm{Gateway: "gw1", Key: "inlet-warm/r12.inlet/temperature", Severity: contract.Warning, State: contract.Cleared,
		Event: contract.EventClear, Time: at, Seq: 13, Message: "Inlet of r12 back to 25.1 °C"})
	v, e := 24.25, "i2c: no ACK from 0x76"
	p.Reading("gw1", "r12.inlet", "temperature", &contract.Reading{Value: &v, Unit: "°C", Quality: "good", Time: "2026-11-25T03:00:01.000Z"})
	p.Reading("gw1", "r12.inlet", "humidity", &contract.Reading{Unit: "%RH", Quality: "bad", Error: &e, Time: "2026-11-25T03:00:01.000Z"})
	p.Status("gw1", &contract.Status{State: "offline", Version: "1.0", Time: "2026-11-25T03:00:01.000Z"})
	want := `2026-11-25 03:00:01.000  CRITICAL   smoke/batt-room.smoke/smoke  Smoke detected in the battery room (batt-room.smoke)  #12
2026-11-25 03:00:01.000  CLEARED    inlet-warm/r12.inlet/temperature  Inlet of r12 back to 25.1 °C  #13
2026-11-25 03:00:01.000  reading    r12.inlet/temperature = 24.25 °C
2026-11-25 03:00:01.000  reading    r12.inlet/humidity BAD: i2c: no ACK from 0x76
2026-11-25 03:00:01.000  OFFLINE    gateway gw1 is offline (rackwatch 1.0)
`
	if sb.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", sb.String(), want)
	}
}

func TestColourOnlyWhenAsked(t *testing.T) {
	var plain, col strings.Builder
	a := &contract.Alarm{Key: "k", Severity: contract.Critical, State: contract.Active, Event: contract.EventRaise, Message: "m"}
	(&Printer{W: &plain}).Alarm(a)
	(&Printer{W: &col, Color: true}).Alarm(a)
	if strings.Contains(plain.String(), "\x1b[") {
		t.Fatalf("escape codes without colour: %q", plain.String())
	}
	if !strings.Contains(col.String(), "\x1b[1m\x1b[31mCRITICAL") {
		t.Fatalf("critical not red and bold: %q", col.String())
	}
}

func TestMessageDispatch(t *testing.T) {
	var sb strings.Builder
	p := &Printer{W: &sb, Loc: time.UTC}
	ev := `{"gateway":"gw1","alarm":"smoke/s/smoke","rule":"smoke","severity":"critical","state":"active","event":"raise","time":"2026-11-25T03:00:01.000Z","seq":3,"message":"Smoke!"}`
	cases := []struct {
		topic, payload string
		retained, ok   bool
		want           string
	}{
		{"rackwatch/gw1/events", ev, false, true, "CRITICAL   smoke/s/smoke  Smoke!  #3"},
		{"rackwatch/gw1/alarms/smoke/s/smoke", ev, false, true, ""}, // live state: shown via events
		{"rackwatch/gw1/alarms/smoke/s/smoke", ev, true, true, "CRITICAL   smoke/s/smoke  Smoke!  #3"},
		{"rackwatch/gw1/readings/s/temperature", `{"value":21.5,"unit":"°C","quality":"good","error":null,"time":"2026-11-25T03:00:01.000Z"}`, false, true, "s/temperature = 21.5 °C"},
		{"rackwatch/gw1/status", `{"state":"online","version":"dev","time":"2026-11-25T03:00:01.000Z"}`, true, true, "ONLINE     gateway gw1 is online"},
		{"rackwatch/gw1/events", `{"seq":`, false, false, ""},
		{"other/gw1/events", ev, false, false, ""},
	}
	for _, c := range cases {
		sb.Reset()
		if ok := p.Message("rackwatch", c.topic, []byte(c.payload), c.retained); ok != c.ok {
			t.Errorf("%s: ok = %v", c.topic, ok)
		}
		if !strings.Contains(sb.String(), c.want) || c.want == "" && sb.Len() > 0 {
			t.Errorf("%s retained=%v: printed %q, want %q", c.topic, c.retained, sb.String(), c.want)
		}
	}
}

// FuzzMessage: tail renders whatever any client published under the prefix; it must never panic.
func FuzzMessage(f *testing.F) {
	f.Add("rackwatch/gw1/events", []byte(`{"alarm":"a","seq":1,"time":"2026-11-25T03:00:01.000Z","shelved_until":"x"}`), false)
	f.Add("rackwatch/gw1/readings/s/temperature", []byte(`{"value":1e400,"quality":"good"}`), false)
	f.Add("rackwatch/gw1/readings/s", []byte(`{}`), false)
	f.Add("rackwatch/gw1/alarms/x", []byte(`{"state":"active","labels":null}`), true)
	f.Add("rackwatch/gw1/status", []byte(`{"state":7}`), true)
	f.Add("rackwatch//", []byte(``), false)
	f.Fuzz(func(t *testing.T, topic string, payload []byte, retained bool) {
		var sb strings.Builder
		(&Printer{W: &sb, Color: true}).Message("rackwatch", topic, payload, retained)
	})
}

func TestFromReading(t *testing.T) {
	var sb strings.Builder
	p := &Printer{W: &sb, Loc: time.UTC}
	at := time.Date(2026, 11, 25, 3, 0, 1, 0, time.UTC)
	pct := reading.CanonicalFormat(reading.Charge)
	p.Reading("", "ups1", "charge", FromReading(&reading.Reading{Sensor: "ups1", Channel: "charge", Value: 87.00000000000001, At: at}, &pct))
	p.Reading("", "ups1", "charge", FromReading(&reading.Reading{Quality: reading.Bad, Err: errors.New("nut: timeout"), At: at}, &pct))
	want := "2026-11-25 03:00:01.000  reading    ups1/charge = 87 %\n2026-11-25 03:00:01.000  reading    ups1/charge BAD: nut: timeout\n"
	if sb.String() != want {
		t.Fatalf("got %q", sb.String())
	}
}

// Booleans and enumerated states are shown by name: the name the gateway sent, or the usual name of a
// well-known boolean channel from a gateway that sends none ("smoke = 0" was all an operator saw).
func TestStatesShownByName(t *testing.T) {
	var sb strings.Builder
	p := &Printer{W: &sb, Loc: time.UTC}
	for _, c := range []struct{ channel, payload, want string }{
		{"smoke", `{"value":1,"unit":"","quality":"good","error":null,"time":"2026-11-25T03:00:01.000Z","state":"DETECTED"}`, "batt-room.x/smoke = DETECTED"},
		{"smoke", `{"value":0,"unit":"","quality":"good","error":null,"time":"2026-11-25T03:00:01.000Z"}`, "batt-room.x/smoke = clear"},
		{"on_battery", `{"value":1,"unit":"","quality":"good","error":null,"time":"2026-11-25T03:00:01.000Z"}`, "batt-room.x/on_battery = ON BATTERY"},
		{"mode", `{"value":3,"unit":"","quality":"good","error":null,"time":"2026-11-25T03:00:01.000Z","state":"discharging"}`, "batt-room.x/mode = discharging"},
		{"mode", `{"value":3,"unit":"","quality":"good","error":null,"time":"2026-11-25T03:00:01.000Z"}`, "batt-room.x/mode = 3"},
	} {
		sb.Reset()
		if !p.Message("rackwatch", "rackwatch/gw1/readings/batt-room.x/"+c.channel, []byte(c.payload), false) || !strings.Contains(sb.String(), c.want) {
			t.Errorf("%s: printed %q, want %q", c.payload, sb.String(), c.want)
		}
	}
}
