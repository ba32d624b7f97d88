package delivery

import (
	"fmt"
	"io"
	"strings"
)

// WriteMetrics writes the delivery counters in the Prometheus text format.
func (d *Delivery) WriteMetrics(w io.Writer) {
	last := d.j.LastID()
	type metric struct {
		name, help, typ string
		val             func(t *target) uint64
	}
	ms := []metric{
		{"rackwatch_mqtt_connected", "1 when connected to the broker.", "gauge", func(t *target) uint64 {
			if t.current() != nil {
				return 1
			}
			return 0
		}},
		{"rackwatch_mqtt_pending_transitions", "Journaled alarm transitions the broker has not acknowledged yet.", "gauge", func(t *target) uint64 { return t.pending(last) }},
		{"rackwatch_mqtt_transitions_published_total", "Alarm transitions acknowledged by the broker (retained state and event).", "counter", func(t *target) uint64 { return t.published.Load() }},
		{"rackwatch_mqtt_readings_published_total", "Readings published to the broker.", "counter", func(t *target) uint64 { return t.readingsOut.Load() }},
		{"rackwatch_mqtt_readings_shed_total", "Readings not sent to the broker: queue full, disconnected, or alarm backlog first.", "counter", func(t *target) uint64 { return t.shed.Load() }},
		{"rackwatch_mqtt_connects_total", "Successful connections.", "counter", func(t *target) uint64 { return t.connects.Load() }},
		{"rackwatch_mqtt_connect_failures_total", "Failed connection attempts.", "counter", func(t *target) uint64 { return t.failures.Load() }},
	}
	for _, m := range ms {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", m.name, m.help, m.name, m.typ)
		for _, t := range d.targets {
			fmt.Fprintf(w, "%s{broker=%q} %d\n", m.name, labelValue(t.name), m.val(t))
		}
	}
	st := d.j.Stats()
	for _, g := range []struct {
		name, help, typ string
		v               int64
	}{
		{"rackwatch_journal_bytes", "Bytes of the alarm journal on disk.", "gauge", st.Bytes},
		{"rackwatch_journal_segments", "Segment files of the alarm journal.", "gauge", int64(st.Segments)},
		{"rackwatch_journal_last_id", "Id of the newest journaled transition.", "gauge", int64(st.LastID)},
		{"rackwatch_journal_coalesced_total", "Older transitions of an alarm dropped because the journal reached max_size (the latest state of every alarm is kept).", "counter", int64(st.Coalesced)},
		{"rackwatch_journal_overflow_total", "Appends that left the journal above max_size.", "counter", int64(st.Overflow)},
		{"rackwatch_journal_corrupt_tails_total", "Torn or corrupt journal tails cut off at start.", "counter", int64(st.Corrupt)},
		{"rackwatch_commands_dropped_total", "Commands dropped because the agent did not keep up.", "counter", int64(d.cmdsLost.Load())},
	} {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n%s %d\n", g.name, g.help, g.name, g.typ, g.name, g.v)
	}
}

// labelValue is the broker URL without anything secret or awkward for a label.
func labelValue(s string) string { return strings.ReplaceAll(s, "\n", " ") }
