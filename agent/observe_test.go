package agent

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rackwatch/rackwatch/agent/buildinfo"
	"github.com/rackwatch/rackwatch/agent/contract"
	"github.com/rackwatch/rackwatch/agent/delivery"
	"github.com/rackwatch/rackwatch/agent/httpapi"
	"github.com/rackwatch/rackwatch/agent/promtext"
	"github.com/rackwatch/rackwatch/agent/reading"
	"github.com/rackwatch/rackwatch/agent/store"
)

const incidentConfig = `
gateway: {id: gw, site: lab, state_dir: STATE}
mqtt: {embedded_broker: "127.0.0.1:0"}
sensors:
  - {id: offgas, driver: sim, scenario: battery-runaway, channels: [voc]}
  - {id: string1, driver: sim, scenario: battery-runaway, channels: [battery_temp]}
  - {id: room.smoke, driver: sim, scenario: battery-runaway, channels: [smoke]}
  - {id: room.air, driver: sim, scenario: battery-runaway, channels: [temperature], labels: {room: battery-room, rack-row: "3"}}
rules:
  - {id: offgas, match: {channel: voc}, above: 500, severity: warning}
  - {id: batt-critical, match: {channel: battery_temp}, above: 60, clear: 55, severity: critical}
  - {id: smoke, match: {channel: smoke}, state: true, latch: true, severity: critical}
  - {id: room-heat, match: {channel: temperature}, above: 57, severity: critical}
`

// incident plays the order of a battery fire into a runner, reading by reading: off-gas, then heat, then
// smoke; then the smoke contact's reading fails while its alarm stays latched.
func incident(t *testing.T) (*runner, *fakeOutbox) {
	t.Helper()
	return incidentWith(t, incidentConfig)
}

// incidentWith is incident with another config (incidentConfig and more).
func incidentWith(t *testing.T, config string) (*runner, *fakeOutbox) {
	t.Helper()
	plan := writeConfig(t, config)
	ob := newFakeOutbox()
	a := &runner{log: slog.New(slog.NewTextHandler(io.Discard, nil)), reg: testRegistry(), out: ob.link(),
		statePath: filepath.Join(t.TempDir(), store.File), seqPath: filepath.Join(t.TempDir(), store.SeqFile)}
	if err := a.setPlan(plan, nil); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now().Add(-time.Minute)
	for _, r := range []reading.Reading{
		{Sensor: "room.air", Channel: reading.Temperature, Value: 22.450000000000045, At: t0},
		{Sensor: "offgas", Channel: reading.VOC, Value: 812.3, At: t0},
		{Sensor: "string1", Channel: reading.BatteryTemp, Value: 70.30000000000001, At: t0.Add(10 * time.Second)},
		{Sensor: "room.smoke", Channel: reading.Smoke, Value: 1, At: t0.Add(20 * time.Second)},
		{Sensor: "room.smoke", Channel: reading.Smoke, Quality: reading.Bad, Err: errors.New("gpio: line 17 busy"), At: t0.Add(30 * time.Second)},
	} {
		a.reading(&r)
	}
	return a, ob
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// The status page sorted alarms by severity, so the order of events could not be read; and it showed
// "smoke 0" beside a failed reading while the smoke alarm was active.
func TestStatusPageTellsTheIncidentInOrder(t *testing.T) {
	a, _ := incident(t)
	srv, err := httpapi.Start("127.0.0.1:0", a, a.log)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	page := get(t, "http://"+srv.Addr()+"/")
	alarms := page[strings.Index(page, "<h2>Alarms"):strings.Index(page, "<h2>Timeline")]
	last := -1
	for _, key := range []string{"offgas/offgas/voc", "batt-critical/string1/battery_temp", "smoke/room.smoke/smoke"} {
		i := strings.Index(alarms, `<td class="nw">`+key+"</td>")
		if i < 0 || i < last {
			t.Fatalf("%s is not in its place in the order of events:\n%s", key, alarms)
		}
		last = i
	}
	for _, want := range []string{
		`<td class="num nw">DETECTED</td>`, // the smoke alarm's value, by name
		`<td class="num nw">70.3 °C</td>`,  // the battery's, rounded
		`<td>room.smoke</td><td>smoke</td><td class="num">—</td>`,
		`bad: gpio: line 17 busy`,
		`<td>room.air</td><td>temperature</td><td class="num">22.5 °C</td>`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("no %s on the page:\n%s", want, page)
		}
	}
	if strings.Contains(page, "22.450000000000045") || strings.Contains(page, "70.30000000000001") {
		t.Error("unrounded values on the page")
	}
	tl := page[strings.Index(page, "<h2>Timeline"):]
	if !strings.Contains(tl, "<td>raise</td>") || strings.Index(tl, "offgas/offgas/voc") > strings.Index(tl, "smoke/room.smoke/smoke") {
		t.Errorf("timeline:\n%s", tl)
	}
}

// /metrics had no sensor values and no alarm states: Grafana could not chart a temperature, Prometheus
// could not alert on "any critical". And the alarm objects carried unrounded values.
func TestMetricsCarryReadingsAndAlarms(t *testing.T) {
	a, ob := incident(t)
	var b strings.Builder
	a.WriteMetrics(promtext.New(&b))
	m := b.String()
	for _, want := range []string{
		`rackwatch_reading{sensor="string1",channel="battery_temp",unit="°C"} 70.3`,
		`rackwatch_reading{sensor="room.air",channel="temperature",unit="°C"} 22.5`,
		`rackwatch_reading_good{sensor="room.smoke",channel="smoke"} 0`,
		`rackwatch_reading_good{sensor="offgas",channel="voc"} 1`,
		`rackwatch_alarm_active{alarm="smoke/room.smoke/smoke",rule="smoke",sensor="room.smoke",channel="smoke",severity="critical"} 1`,
		`rackwatch_alarm_active{alarm="room-heat/room.air/temperature",rule="room-heat",sensor="room.air",channel="temperature",severity="critical"} 0`,
		`rackwatch_alarm_acked{alarm="offgas/offgas/voc",rule="offgas",sensor="offgas",channel="voc",severity="warning"} 0`,
		`rackwatch_alarm_shelved{alarm="offgas/offgas/voc",rule="offgas",sensor="offgas",channel="voc",severity="warning"} 0`,
		`rackwatch_build_info{version="` + buildinfo.Version + `",gateway="gw",site="lab",goversion=`,
		// The sensors' config labels, to chart by room.
		`rackwatch_sensor_info{sensor="room.air",driver="sim",label_rack_row="3",label_room="battery-room"} 1`,
		`rackwatch_sensor_info{sensor="offgas",driver="sim"} 1`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("no %s in /metrics:\n%s", want, m)
		}
	}
	if strings.Contains(m, `rackwatch_reading{sensor="room.smoke"`) {
		t.Error("a bad reading has a value in /metrics")
	}
	for _, tr := range ob.snapshot() {
		if tr.Key == "batt-critical/string1/battery_temp" && (tr.Value == nil || *tr.Value != 70.3) {
			t.Errorf("the alarm object's value is not rounded: %v", *tr.Value)
		}
	}
}

// A shelved alarm shows who shelved it and until when; an acknowledged one who acknowledged it: the
// operators whose signed commands did it.
func TestStatusSaysWhoAckedAndShelved(t *testing.T) {
	keys, dir := operatorKeys(t, "alice", "bob")
	a, _ := incidentWith(t, incidentConfig+"operators_dir: "+dir+"\n")
	if err := os.MkdirAll(a.plan.Config.Gateway.StateDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := a.startCommands(); err != nil {
		t.Fatal(err)
	}
	var until time.Time
	for _, c := range []struct{ op, kind, alarm string }{
		{"alice", contract.Ack, "offgas/offgas/voc"},
		{"bob", contract.Shelve, "batt-critical/string1/battery_temp"},
	} {
		a.command(delivery.Inbound{Kind: c.kind, Payload: signed(t, keys[c.op], c.op, "gw", c.kind, c.alarm, func(s *contract.Signed) {
			if s.Until != "" {
				until, _ = time.Parse(contract.TimeFormat, s.Until)
			}
		})})
	}
	st := a.Status()
	for _, al := range st.Alarms {
		switch al.Key {
		case "offgas/offgas/voc":
			if !al.Acked || al.AckedBy != "alice" {
				t.Errorf("acked: %+v", al)
			}
		case "batt-critical/string1/battery_temp":
			if !al.Shelved || al.ShelvedBy != "bob" || !al.ShelvedUntil.Equal(until) {
				t.Errorf("shelved: %+v", al)
			}
		}
	}
}

// An alarm's value is rounded in its own unit: a rate of a channel in the channel's steps, a staleness to
// a tenth of a second, anything else to six significant digits.
func TestAlarmValuesRounded(t *testing.T) {
	tenths := &reading.Format{Unit: "°C", Resolution: 0.1}
	for _, c := range []struct {
		f    *reading.Format
		unit string
		v    float64
		want float64
	}{
		{tenths, "°C", 70.30000000000001, 70.3},
		{tenths, "°C/min", 43.00049999, 43},
		{tenths, "s", 12.3456, 12.3},
		{nil, "ppm", 1.23456789, 1.23457},
	} {
		if got := reading.Round(c.v, alarmStep(c.f, c.unit)); got != c.want {
			t.Errorf("%v %s rounds to %v, want %v", c.v, c.unit, got, c.want)
		}
	}
}

// Config labels become valid Prometheus label names under label_; two that come out the same keep the
// first, so a sample never carries one name twice.
func TestSensorInfoLabels(t *testing.T) {
	got := strings.Join(sensorInfoLabels("r12.inlet", "bme280", map[string]string{"room": "hall3", "rack-id": "r12", "rack_id": "x", "Zone 2": "b"}), ",")
	if want := "sensor,r12.inlet,driver,bme280,label_Zone_2,b,label_rack_id,r12,label_room,hall3"; got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}
