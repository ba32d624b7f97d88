package delivery

import (
	"time"

	"github.com/rackwatch/rackwatch/agent/promtext"
)

// WriteMetrics writes the delivery counters in the Prometheus text format.
func (d *Delivery) WriteMetrics(w *promtext.Writer) {
	last := d.j.LastID()
	type metric struct {
		name, help, typ string
		val             func(t *target) uint64
	}
	ms := []metric{
		{"rackwatch_mqtt_connected", "1 when connected to the broker.", promtext.Gauge, func(t *target) uint64 {
			if t.current() != nil {
				return 1
			}
			return 0
		}},
		{"rackwatch_mqtt_pending_transitions", "Journaled alarm transitions the broker has not acknowledged yet.", promtext.Gauge, func(t *target) uint64 { return t.pending(last) }},
		{"rackwatch_mqtt_transitions_published_total", "Alarm transitions acknowledged by the broker (retained state and event).", promtext.Counter, func(t *target) uint64 { return t.published.Load() }},
		{"rackwatch_mqtt_readings_published_total", "Readings published to the broker.", promtext.Counter, func(t *target) uint64 { return t.readingsOut.Load() }},
		{"rackwatch_mqtt_readings_shed_total", "Readings not sent to the broker: queue full, disconnected, or alarm backlog first.", promtext.Counter, func(t *target) uint64 { return t.shed.Load() }},
		{"rackwatch_mqtt_connects_total", "Successful connections.", promtext.Counter, func(t *target) uint64 { return t.connects.Load() }},
		{"rackwatch_mqtt_connect_failures_total", "Failed connection attempts.", promtext.Counter, func(t *target) uint64 { return t.failures.Load() }},
		{"rackwatch_mqtt_results_dropped_total", "Command results not sent to the broker because its queue was full.", promtext.Counter, func(t *target) uint64 { return t.resultsLost.Load() }},
	}
	for _, m := range ms {
		w.Family(m.name, m.help, m.typ)
		for _, t := range d.targets {
			w.Sample(m.name, float64(m.val(t)), "broker", t.name)
		}
	}
	now := time.Now()
	w.Family("rackwatch_mqtt_oldest_pending_seconds", "How long the oldest transition the broker has not acknowledged has waited (0 with no backlog).", promtext.Gauge)
	for _, t := range d.targets {
		w.Sample("rackwatch_mqtt_oldest_pending_seconds", t.oldestPending(now).Seconds(), "broker", t.name)
	}
	w.Family("rackwatch_mqtt_delivery_seconds", "From an alarm transition to the broker's acknowledgement of it (QoS 1), after any outage.", promtext.Histogram)
	for _, t := range d.targets {
		w.Histogram("rackwatch_mqtt_delivery_seconds", t.delay, "broker", t.name)
	}
	st := d.j.Stats()
	for _, g := range []struct {
		name, help, typ string
		v               int64
	}{
		{"rackwatch_journal_bytes", "Bytes of the alarm journal on disk.", promtext.Gauge, st.Bytes},
		{"rackwatch_journal_segments", "Segment files of the alarm journal.", promtext.Gauge, int64(st.Segments)},
		{"rackwatch_journal_last_id", "Id of the newest journaled transition.", promtext.Gauge, int64(st.LastID)},
		{"rackwatch_journal_coalesced_total", "Older transitions of an alarm dropped because the journal reached max_size (the latest state of every alarm is kept).", promtext.Counter, int64(st.Coalesced)},
		{"rackwatch_journal_overflow_total", "Appends that left the journal above max_size.", promtext.Counter, int64(st.Overflow)},
		{"rackwatch_journal_corrupt_tails_total", "Torn or corrupt journal tails cut off at start.", promtext.Counter, int64(st.Corrupt)},
		{"rackwatch_journal_damaged_total", "Damaged records skipped inside journal segments at start (each one lost).", promtext.Counter, int64(st.Damaged)},
		{"rackwatch_journal_write_errors_total", "Journal writes, fsyncs and retries that failed.", promtext.Counter, int64(st.WriteErrors)},
		{"rackwatch_journal_memory_transitions", "Transitions held in memory because the journal cannot write to disk (delivered from there).", promtext.Gauge, int64(st.Memory)},
		{"rackwatch_journal_writable", "1 when the journal writes to disk, 0 while it cannot (transitions are then held in memory).", promtext.Gauge, b2i(d.j.Err() == nil)},
	} {
		w.One(g.name, g.help, g.typ, float64(g.v))
	}
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}
