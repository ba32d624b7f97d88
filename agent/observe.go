package agent

import (
	"net"
	"sort"
	"strings"
	"time"

	"github.com/rackwatch/rackwatch/agent/buildinfo"
	"github.com/rackwatch/rackwatch/agent/contract"
	"github.com/rackwatch/rackwatch/agent/homeassistant"
	"github.com/rackwatch/rackwatch/agent/promtext"
	"github.com/rackwatch/rackwatch/agent/reading"
)

// What the agent shows of itself besides MQTT: values written to each channel's resolution, every
// alarm's state and every channel's last reading in /metrics, the last transitions for the status page,
// and Home Assistant discovery.

// format is how a channel's values are written: as its driver declared, or for a channel learned at run
// time, as its name suggests. Called on the loop only.
func (a *runner) format(sensor string, ch reading.Channel) *reading.Format {
	if f := a.formats[sensor][ch]; f != nil {
		return f
	}
	f := reading.CanonicalFormat(ch)
	a.mu.Lock()
	m := a.formats[sensor]
	if m == nil {
		m = map[reading.Channel]*reading.Format{}
		a.formats[sensor] = m
	}
	m[ch] = &f
	a.mu.Unlock()
	return &f
}

// round writes an alarm's value and threshold to its channel's resolution, as the contract promises (see
// alarmStep). The pointers are replaced, not written through: the engine keeps its own.
func (a *runner) round(t *contract.Alarm) {
	step := alarmStep(a.formats[t.Sensor][reading.Channel(t.Channel)], t.Unit)
	if t.Value != nil {
		t.Value = contract.Float(reading.Round(*t.Value, step))
	}
	if t.Threshold != nil {
		t.Threshold = contract.Float(reading.Round(*t.Threshold, step))
	}
}

// alarmStep is the resolution of an alarm's value in unit, for a channel written as f: the channel's own
// in its unit and in a rate of it (°C/min: a tenth of a degree per minute for a sensor that resolves
// tenths), a tenth of a second for a staleness, six significant digits for anything else.
func alarmStep(f *reading.Format, unit string) float64 {
	switch {
	case f != nil && (unit == f.Unit || f.Unit != "" && strings.HasPrefix(unit, f.Unit+"/")):
		return f.Resolution
	case unit == "s":
		return 0.1
	}
	return 0
}

// timelineLen is how many transitions the status page's timeline keeps.
const timelineLen = 40

// timeline keeps the last transitions, oldest first, in a fixed ring.
type timeline struct {
	buf  [timelineLen]contract.Alarm
	next int
	n    int
}

func (tl *timeline) add(t *contract.Alarm) {
	a := *t
	a.Labels = nil // the page shows none: do not keep the maps alive
	tl.buf[tl.next] = a
	tl.next = (tl.next + 1) % timelineLen
	tl.n = min(tl.n+1, timelineLen)
}

// each calls fn on the kept transitions, oldest first.
func (tl *timeline) each(fn func(a *contract.Alarm)) {
	start := (tl.next - tl.n + timelineLen) % timelineLen
	for i := 0; i < tl.n; i++ {
		fn(&tl.buf[(start+i)%timelineLen])
	}
}

// discoverer is the part of a Link that publishes Home Assistant discovery configs (the MQTT delivery).
type discoverer interface {
	Discover(d *homeassistant.Discovery)
}

// discover hands the delivery the Home Assistant discovery configs of the current plan: every sensor
// channel and every alarm. Called at start and after a reload, on the loop.
func (a *runner) discover() {
	cfg := a.opened // the gateway and mqtt sections as the delivery runs them (a reload cannot change them)
	ha := cfg.MQTT.HomeAssistant
	d, ok := a.out.Outbox.(discoverer)
	if ha == nil || !ok {
		return
	}
	gw := homeassistant.Gateway{ID: cfg.Gateway.ID, Version: buildinfo.Version, TopicPrefix: cfg.MQTT.TopicPrefix,
		DiscoveryPrefix: ha.DiscoveryPrefix, Readings: !cfg.MQTT.Readings.Disabled, ReadingsQoS: cfg.MQTT.Readings.QoS,
		ExpireAfter: 3 * cfg.MQTT.Readings.Every.D(), URL: statusURL(cfg.Gateway.HTTP)}
	var chs []homeassistant.Channel
	for i := range a.plan.Config.Sensors {
		id := a.plan.Config.Sensors[i].ID
		for _, ci := range a.plan.Channels[id] {
			chs = append(chs, homeassistant.Channel{Sensor: id, Channel: ci.Channel, Format: *a.format(id, ci.Channel)})
		}
	}
	var alarms []homeassistant.Alarm
	for _, al := range a.engine.Alarms(nil) {
		alarms = append(alarms, homeassistant.Alarm{Key: al.Key, Rule: al.Rule, Severity: al.Severity})
	}
	sort.Slice(alarms, func(i, j int) bool { return alarms[i].Key < alarms[j].Key })
	d.Discover(homeassistant.New(gw, chs, alarms))
}

// statusURL is the status page's address as another machine can open it, or "" when it listens on
// loopback or on every address (its name is not known here).
func statusURL(addr string) string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		return ""
	}
	if ip := net.ParseIP(host); ip != nil && (ip.IsLoopback() || ip.IsUnspecified()) {
		return ""
	}
	if host == "localhost" {
		return ""
	}
	return "http://" + addr + "/"
}

// writeObservations writes every channel's last reading and every alarm's state.
func (a *runner) writeObservations(w *promtext.Writer) {
	type chanRow struct {
		sensor, channel, unit string
		value                 float64
		good                  bool
	}
	a.mu.Lock()
	rows := make([]chanRow, 0, 64)
	for sensor, m := range a.last {
		for ch, r := range m {
			if ch == "" {
				continue
			}
			row := chanRow{sensor: sensor, channel: string(ch), good: r.Good() && !r.At.IsZero()}
			if f := a.formats[sensor][ch]; f != nil {
				row.unit = f.Unit
				row.value = f.Round(r.Value)
			} else {
				row.unit, row.value = reading.Unit(ch), reading.Round(r.Value, 0)
			}
			rows = append(rows, row)
		}
	}
	alarms := make([]contract.Alarm, 0, len(a.alarms))
	now := time.Now()
	for _, al := range a.alarms {
		alarms = append(alarms, al)
	}
	sensors := a.plan.Config.Sensors // replaced, never changed, by a reload
	a.mu.Unlock()
	sort.Slice(rows, func(i, j int) bool {
		if rows[i].sensor != rows[j].sensor {
			return rows[i].sensor < rows[j].sensor
		}
		return rows[i].channel < rows[j].channel
	})
	w.Family("rackwatch_reading", "The last good reading of each sensor channel, rounded to its resolution; none while the channel's last reading is bad.", promtext.Gauge)
	for _, r := range rows {
		if r.good {
			w.Sample("rackwatch_reading", r.value, "sensor", r.sensor, "channel", r.channel, "unit", r.unit)
		}
	}
	w.Family("rackwatch_reading_good", "1 when the channel's last reading was good, 0 when it failed or none came yet.", promtext.Gauge)
	for _, r := range rows {
		w.Sample("rackwatch_reading_good", b2f(r.good), "sensor", r.sensor, "channel", r.channel)
	}
	// The sensors' config labels (room, rack, …), for joins: "temperatures by room" is
	// rackwatch_reading * on(instance, sensor) group_left(label_room) rackwatch_sensor_info.
	w.Family("rackwatch_sensor_info", "1 for each configured sensor, with its driver and its config labels as label_<name>.", promtext.Gauge)
	for i := range sensors {
		s := &sensors[i]
		w.Sample("rackwatch_sensor_info", 1, sensorInfoLabels(s.ID, s.Driver, s.Labels)...)
	}
	sort.Slice(alarms, func(i, j int) bool { return alarms[i].Key < alarms[j].Key })
	for _, f := range []struct {
		name, help string
		v          func(al *contract.Alarm) bool
	}{
		{"rackwatch_alarm_active", "1 while the alarm's condition is active, for every alarm the rules can raise.", func(al *contract.Alarm) bool { return al.State == contract.Active }},
		{"rackwatch_alarm_acked", "1 when the alarm is acknowledged (or normal), 0 while it waits for an acknowledgement.", func(al *contract.Alarm) bool { return al.Acked }},
		{"rackwatch_alarm_shelved", "1 while the alarm is shelved.", func(al *contract.Alarm) bool {
			return al.ShelvedUntil != nil && al.ShelvedUntil.After(now)
		}},
	} {
		w.Family(f.name, f.help, promtext.Gauge)
		for i := range alarms {
			al := &alarms[i]
			w.Sample(f.name, b2f(f.v(al)), "alarm", al.Key, "rule", al.Rule, "sensor", al.Sensor, "channel", al.Channel, "severity", al.Severity)
		}
	}
}

// sensorInfoLabels are rackwatch_sensor_info's labels: the sensor, its driver, and each config label as
// label_<name> (the kube-state-metrics convention: no config label can clash with sensor or instance),
// the name made a valid Prometheus label name; of two that come out the same, the first in order wins.
func sensorInfoLabels(id, driver string, labels map[string]string) []string {
	out := []string{"sensor", id, "driver", driver}
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	seen := map[string]bool{}
	for _, k := range keys {
		name := "label_" + strings.Map(func(r rune) rune {
			if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' {
				return r
			}
			return '_'
		}, k)
		if !seen[name] {
			seen[name] = true
			out = append(out, name, labels[k])
		}
	}
	return out
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
