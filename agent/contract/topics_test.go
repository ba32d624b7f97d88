package contract

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rackwatch/rackwatch/agent/reading"
)

func TestTopicsRoundTrip(t *testing.T) {
	tp := NewTopics("rackwatch", "dc1-row4")
	for _, c := range []struct {
		topic string
		want  Parsed
	}{
		{tp.Status(), Parsed{Gateway: "dc1-row4", Kind: KindStatus}},
		{tp.Events(), Parsed{Gateway: "dc1-row4", Kind: KindEvents}},
		{tp.Alarm("smoke/batt-room.smoke/smoke"), Parsed{Gateway: "dc1-row4", Kind: KindAlarm, Alarm: "smoke/batt-room.smoke/smoke"}},
		{tp.Alarm("fire-suspected"), Parsed{Gateway: "dc1-row4", Kind: KindAlarm, Alarm: "fire-suspected"}},
		{tp.Reading("ups1", "on_battery"), Parsed{Gateway: "dc1-row4", Kind: KindReading, Sensor: "ups1", Channel: "on_battery"}},
		{tp.Command(Ack), Parsed{Gateway: "dc1-row4", Kind: KindCommand, Command: Ack}},
		{tp.Result(), Parsed{Gateway: "dc1-row4", Kind: KindCommand, Command: CommandResult}},
	} {
		got, ok := ParseTopic("rackwatch", c.topic)
		if !ok || got != c.want {
			t.Errorf("ParseTopic(%q) = %+v %v, want %+v", c.topic, got, ok, c.want)
		}
	}
	for _, bad := range []string{"rackwatch", "rackwatch/gw", "other/gw/status", "rackwatch/gw/status/x",
		"rackwatch/gw/alarms/a/b", "rackwatch/gw/readings/s", "rackwatch/gw/cmd", "rackwatch/gw/nonsense", "rackwatch//status"} {
		if p, ok := ParseTopic("rackwatch", bad); ok {
			t.Errorf("ParseTopic(%q) accepted: %+v", bad, p)
		}
	}
}

// TestReadmeTopicTable holds the README's table of topics against Table: the same topics, QoS and retain
// flags, in the same order. A new topic is documented, or this fails.
func TestReadmeTopicTable(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, sec, ok := strings.Cut(string(b), "## MQTT topics and payloads")
	if !ok {
		t.Fatal("README has no MQTT topics section")
	}
	var got []TopicSpec
	for _, line := range strings.Split(sec, "\n") {
		if !strings.HasPrefix(line, "| `…/") {
			if len(got) > 0 && !strings.HasPrefix(line, "|") {
				break
			}
			continue
		}
		cells := strings.Split(line, "|")
		if len(cells) < 4 {
			t.Fatalf("short row: %s", line)
		}
		qos, retain, _ := strings.Cut(strings.TrimSpace(cells[2]), ",")
		qos = strings.Trim(strings.Fields(qos)[0], "`")
		rt := strings.TrimSpace(retain)
		for _, topic := range strings.Split(cells[1], ",") {
			topic = strings.TrimSpace(topic)
			if topic == "" || strings.HasPrefix(topic, "(") {
				continue
			}
			topic, _, _ = strings.Cut(topic, " (")
			topic = strings.Trim(topic, "`")
			got = append(got, TopicSpec{Pattern: topic, QoS: qos, Retain: strings.HasPrefix(rt, "retained")})
		}
	}
	if len(got) != len(Table) {
		t.Fatalf("README lists %d topics, the contract %d:\n%+v\n%+v", len(got), len(Table), got, Table)
	}
	for i := range got {
		if got[i] != Table[i] {
			t.Errorf("README row %d: %+v, contract: %+v", i, got[i], Table[i])
		}
	}
}

func TestAppendReadingIsJSON(t *testing.T) {
	at := time.Date(2026, 11, 25, 1, 2, 3, 456e6, time.UTC)
	for _, c := range []struct {
		v    float64
		good bool
		unit string
		err  string
		want string
	}{
		{22.5, true, "°C", "", `{"value":22.5,"unit":"°C","quality":"good","error":null,"time":"2026-11-25T01:02:03.456Z"}`},
		{0, false, "%RH", "i2c: nack", `{"value":null,"unit":"%RH","quality":"bad","error":"i2c: nack","time":"2026-11-25T01:02:03.456Z"}`},
		{math.NaN(), true, "V", "", `{"value":null,"unit":"V","quality":"bad","error":"not a finite number","time":"2026-11-25T01:02:03.456Z"}`},
		{math.Inf(1), true, "", "", `{"value":null,"unit":"","quality":"bad","error":"not a finite number","time":"2026-11-25T01:02:03.456Z"}`},
	} {
		got := string(AppendReadingAs(nil, c.v, c.good, &reading.Format{Unit: c.unit, Resolution: 0.1}, c.err, at))
		if got != c.want {
			t.Errorf("got  %s\nwant %s", got, c.want)
		}
	}
}

// The payload carries the value rounded to the channel's resolution (22.450000000000045 was published as
// it was) and the name of a named state.
func TestAppendReadingAsRoundsAndNames(t *testing.T) {
	at := time.Date(2026, 11, 25, 1, 2, 3, 456e6, time.UTC)
	temp := reading.Format{Unit: "°C", Resolution: 0.01}
	smoke := reading.CanonicalFormat(reading.Smoke)
	for _, c := range []struct {
		f    *reading.Format
		v    float64
		good bool
		want string
	}{
		{&temp, 22.450000000000045, true, `{"value":22.45,"unit":"°C","quality":"good","error":null,"time":"2026-11-25T01:02:03.456Z"}`},
		{&smoke, 1, true, `{"value":1,"unit":"","quality":"good","error":null,"time":"2026-11-25T01:02:03.456Z","state":"DETECTED"}`},
		{&smoke, 0, false, `{"value":null,"unit":"","quality":"bad","error":"gpio: line busy","time":"2026-11-25T01:02:03.456Z"}`},
	} {
		errText := ""
		if !c.good {
			errText = "gpio: line busy"
		}
		if got := string(AppendReadingAs(nil, c.v, c.good, c.f, errText, at)); got != c.want {
			t.Errorf("got  %s\nwant %s", got, c.want)
		}
	}
}

// FuzzAppendReadingAs: any value, resolution and error text gives valid JSON whose value is the rounded
// one and whose state is named only for a good reading.
func FuzzAppendReadingAs(f *testing.F) {
	f.Add(22.450000000000045, 0.01, true, "")
	f.Add(1.0, 1.0, true, "")
	f.Add(0.0, 0.0, false, "serial: \x00\xff\"\\ timeout\n")
	f.Fuzz(func(t *testing.T, v, res float64, good bool, errText string) {
		fm := reading.Format{Unit: "°C", Resolution: res, States: map[int64]string{1: "ON \"x\""}}
		b := AppendReadingAs(nil, v, good, &fm, errText, time.Unix(0, 0))
		var r Reading
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatalf("%q: %v", b, err)
		}
		finite := !math.IsNaN(v) && !math.IsInf(v, 0)
		if (r.Quality == Good) != (good && finite) || (r.Value != nil) != (good && finite) || (r.Value != nil && *r.Value != fm.Round(v)) {
			t.Fatalf("%v %v -> %s", v, good, b)
		}
		if (r.State != nil) != (good && finite && v == 1) {
			t.Fatalf("state of %v %v: %s", v, good, b)
		}
	})
}
