package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"time"

	"github.com/rackwatch/rackwatch/agent/broker"
	"github.com/rackwatch/rackwatch/agent/buildinfo"
	"github.com/rackwatch/rackwatch/agent/config"
	"github.com/rackwatch/rackwatch/agent/contract"
	"github.com/rackwatch/rackwatch/agent/delivery"
	"github.com/rackwatch/rackwatch/agent/httpapi"
	"github.com/rackwatch/rackwatch/agent/promtext"
)

var started = time.Now()

// OpenMQTT starts the embedded broker when configured and connects the MQTT delivery (journal and fan-out).
func OpenMQTT(ctx context.Context, cfg *config.Config, restored []contract.Alarm, log *slog.Logger) (*Link, error) {
	var b *broker.Broker
	if addr := cfg.MQTT.EmbeddedBroker; addr != "" {
		var err error
		lim := broker.DefaultLimits
		lim.Reserved = contract.NewTopics(cfg.MQTT.TopicPrefix, cfg.Gateway.ID).Base() + "/"
		lim.OwnClient = "rackwatch-" + cfg.Gateway.ID
		if b, err = broker.StartWith(addr, log, lim); err != nil {
			return nil, err
		}
		c := *cfg
		c.MQTT.EmbeddedBroker = b.Addr() // the real port when the config asked for :0
		cfg = &c
	}
	d, err := delivery.Open(ctx, cfg, log)
	if err != nil {
		if b != nil {
			b.Close()
		}
		return nil, err
	}
	if err := d.Restore(restored); err != nil {
		log.Warn("restoring retained alarm states", "err", err)
	}
	link := &Link{Outbox: d, Inbox: d, Monitor: d, Flush: d.Flush, Close: d.Close, Durable: d.JournalErr}
	if b != nil {
		link.Broker = b.Addr()
		// Say "offline" while the embedded broker is still up, then stop it.
		link.Close = func(ctx context.Context) error {
			err := d.Close(ctx)
			b.Close()
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
	st := a.stats
	nActive := len(a.active)
	a.mu.Unlock()
	w.One("rackwatch_readings_total", "Readings evaluated by the rules.", promtext.Counter, float64(st.readings))
	w.One("rackwatch_transitions_total", "Alarm transitions produced.", promtext.Counter, float64(st.transitions))
	w.One("rackwatch_commands_total", "Operator commands received.", promtext.Counter, float64(st.commands))
	w.One("rackwatch_journal_errors_total", "Transition batches the journal failed to make durable.", promtext.Counter, float64(st.journalErrors))
	w.One("rackwatch_alarms", "Alarms not back to normal (active, or cleared but unacknowledged).", promtext.Gauge, float64(nActive))
	a.sched.WriteMetrics(w)
	a.out.WriteMetrics(w)
	a.writeActionMetrics(w)
}

// Status implements httpapi.Source.
func (a *runner) Status() httpapi.Status {
	cfg := a.plan.Config
	st := httpapi.Status{Gateway: cfg.Gateway.ID, Site: cfg.Gateway.Site, Version: buildinfo.Version, Started: started}
	st.Outputs, st.Shutdown = a.actionStatus()
	now := time.Now()
	a.mu.Lock()
	for _, al := range a.active {
		st.Alarms = append(st.Alarms, httpapi.AlarmRow{Severity: al.Severity, Key: al.Key, State: al.State, Message: al.Message,
			Acked: al.Acked, Shelved: al.ShelvedUntil != nil && al.ShelvedUntil.After(now), Since: al.Since})
	}
	for _, m := range a.last {
		for _, r := range m {
			row := httpapi.ReadingRow{Sensor: r.Sensor, Channel: string(r.Channel), Unit: a.unit(r.Sensor, r.Channel),
				Quality: r.Quality.String(), Error: r.ErrText()}
			if !r.At.IsZero() {
				row.Age = now.Sub(r.At)
				row.Value = strconv.FormatFloat(r.Value, 'f', -1, 64)
			} else {
				row.Error = "no reading yet"
			}
			st.Readings = append(st.Readings, row)
		}
	}
	a.mu.Unlock()
	rank := map[string]int{"critical": 0, "warning": 1, "info": 2}
	sort.Slice(st.Alarms, func(i, j int) bool {
		x, y := st.Alarms[i], st.Alarms[j]
		if rank[x.Severity] != rank[y.Severity] {
			return rank[x.Severity] < rank[y.Severity]
		}
		return x.Key < y.Key
	})
	sort.Slice(st.Readings, func(i, j int) bool {
		x, y := st.Readings[i], st.Readings[j]
		if x.Sensor != y.Sensor {
			return x.Sensor < y.Sensor
		}
		return x.Channel < y.Channel
	})
	return st
}
