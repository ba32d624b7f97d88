package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"time"

	"github.com/rackwatch/rackwatch/agent/buildinfo"
	"github.com/rackwatch/rackwatch/agent/config"
	"github.com/rackwatch/rackwatch/agent/contract"
	"github.com/rackwatch/rackwatch/agent/delivery"
	"github.com/rackwatch/rackwatch/agent/httpapi"
	"github.com/rackwatch/rackwatch/agent/promtext"
	"github.com/rackwatch/rackwatch/agent/reading"
)

var started = time.Now()

// OpenMQTT starts the embedded broker when configured and connects the MQTT delivery (journal and fan-out).
func OpenMQTT(ctx context.Context, cfg *config.Config, restored []contract.Alarm, log *slog.Logger) (*Link, error) {
	var stopBroker func() // the embedded broker's (embedded.go: a build may leave it out)
	if addr := cfg.MQTT.EmbeddedBroker; addr != "" {
		real, login, stop, err := startEmbedded(cfg, addr, log)
		if err != nil {
			return nil, err
		}
		stopBroker = stop
		c := *cfg
		c.MQTT.EmbeddedBroker = real // the real port when the config asked for :0
		c.MQTT.EmbeddedLogin = login
		cfg = &c
	}
	d, err := delivery.Open(ctx, cfg, log)
	if err != nil {
		if stopBroker != nil {
			stopBroker()
		}
		return nil, err
	}
	if err := d.Restore(restored); err != nil {
		log.Warn("restoring retained alarm states", "err", err)
	}
	link := &Link{Outbox: d, Inbox: d, Monitor: d, Flush: d.Flush, Close: d.Close, Durable: d.JournalErr}
	if stopBroker != nil {
		link.Broker = cfg.MQTT.EmbeddedBroker
		// Say "offline" while the embedded broker is still up, then stop it.
		link.Close = func(ctx context.Context) error {
			err := d.Close(ctx)
			stopBroker()
			return err
		}
	}
	return link, nil
}

// Health implements httpapi.Source: the delivery's health (brokers, journal) and the alarm state's.
func (a *runner) Health() error {
	a.mu.Lock()
	serr := a.stateErr
	a.mu.Unlock()
	if serr != nil {
		serr = fmt.Errorf("alarm state cannot be saved: %w", serr)
	}
	return errors.Join(a.out.Health(), serr)
}

// WriteMetrics implements httpapi.Source.
func (a *runner) WriteMetrics(w *promtext.Writer) {
	a.mu.Lock()
	nActive := len(a.active)
	sched := a.sched
	cfg := a.plan.Config
	a.mu.Unlock()
	w.Family("rackwatch_build_info", "The running rackwatch: its version, the gateway and the Go that built it.", promtext.Gauge)
	w.Sample("rackwatch_build_info", 1, "version", buildinfo.Version, "gateway", cfg.Gateway.ID, "site", cfg.Gateway.Site,
		"goversion", runtime.Version(), "goarch", runtime.GOARCH)
	w.One("rackwatch_readings_total", "Readings evaluated by the rules.", promtext.Counter, float64(a.stats.readings.Load()))
	w.One("rackwatch_transitions_total", "Alarm transitions produced.", promtext.Counter, float64(a.stats.transitions.Load()))
	a.writeCommandMetrics(w)
	w.One("rackwatch_journal_errors_total", "Transition batches the journal failed to make durable.", promtext.Counter, float64(a.stats.journalErrors.Load()))
	w.One("rackwatch_alarms", "Alarms not back to normal (active, or cleared but unacknowledged).", promtext.Gauge, float64(nActive))
	a.writeObservations(w)
	sched.WriteMetrics(w)
	a.out.WriteMetrics(w)
	a.writeActionMetrics(w)
}

// deliveryState is the part of a Monitor that describes each broker and the journal (the MQTT delivery).
type deliveryState interface {
	Brokers() []delivery.BrokerState
	Journal() delivery.JournalState
}

// Status implements httpapi.Source.
func (a *runner) Status() httpapi.Status {
	now := time.Now()
	a.mu.Lock()
	cfg := a.plan.Config
	a.mu.Unlock()
	st := httpapi.Status{Gateway: cfg.Gateway.ID, Site: cfg.Gateway.Site, Version: buildinfo.Version, Started: started, Now: now}
	st.Outputs, st.Shutdown = a.actionStatus()
	if d, ok := a.out.Monitor.(deliveryState); ok {
		for _, b := range d.Brokers() {
			st.Brokers = append(st.Brokers, httpapi.BrokerRow{Name: b.Name, Connected: b.Connected, Since: b.Since, Error: b.Err,
				Backlog: b.Backlog, Oldest: b.Oldest})
		}
		j := d.Journal()
		st.Journal = &httpapi.JournalRow{Error: j.Err, Bytes: j.Bytes, MaxBytes: j.MaxBytes, Segments: j.Segments}
		if j.Memory > 0 {
			st.Journal.Error += fmt.Sprintf(" (%d transitions held in memory)", j.Memory)
		}
	}
	a.mu.Lock()
	for _, al := range a.active {
		row := httpapi.AlarmRow{Severity: al.Severity, Key: al.Key, State: al.State, Message: al.Message, Since: al.Since,
			Episode: al.Episode, Acked: al.Acked, AckedBy: al.AckedBy}
		if al.ShelvedUntil != nil && al.ShelvedUntil.After(now) {
			row.Shelved, row.ShelvedUntil, row.ShelvedBy = true, *al.ShelvedUntil, al.ShelvedBy
		}
		if al.Value != nil {
			row.Value = a.human(al.Sensor, reading.Channel(al.Channel), al.Unit, *al.Value)
		}
		st.Alarms = append(st.Alarms, row)
	}
	a.timeline.each(func(t *contract.Alarm) {
		st.Timeline = append(st.Timeline, httpapi.EventRow{Time: t.Time, Seq: t.Seq, Event: t.Event, Severity: t.Severity, Key: t.Key, Message: t.Message})
	})
	for sensor, m := range a.last {
		for ch, r := range m {
			row := httpapi.ReadingRow{Sensor: sensor, Channel: string(ch), Quality: r.Quality.String(), Error: r.ErrText()}
			switch {
			case r.At.IsZero():
				row.Quality, row.Error = "bad", "no reading yet"
			case r.Good():
				row.Value = a.human(sensor, ch, "", r.Value)
			}
			if !r.At.IsZero() {
				row.Age = now.Sub(r.At)
			}
			st.Readings = append(st.Readings, row)
		}
	}
	a.mu.Unlock()
	return st
}

// human writes a value as a person reads it: the name of a named state, or the value rounded to the
// channel's resolution with its unit. A value in another unit than the channel's (an alarm's rate per
// minute, a staleness) is rounded as in the alarm object (alarmStep). Called with a.mu held.
func (a *runner) human(sensor string, ch reading.Channel, unit string, v float64) string {
	f := a.formats[sensor][ch]
	if f == nil {
		cf := reading.CanonicalFormat(ch)
		f = &cf
	}
	if unit != "" && unit != f.Unit {
		return (&reading.Format{Unit: unit, Resolution: alarmStep(f, unit)}).Human(v)
	}
	return f.Human(v)
}
