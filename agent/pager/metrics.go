package pager

import (
	"errors"
	"fmt"
	"sort"

	"github.com/rackwatch/rackwatch/agent/buildinfo"
	"github.com/rackwatch/rackwatch/agent/httpapi"
	"github.com/rackwatch/rackwatch/agent/promtext"
)

// Health is nil when the replica can page: at least one broker followed and the outbox writable. A
// receiver that fails does not fail /healthz (the other receivers still page; its own metrics say so),
// but its last error is named when something else fails.
func (s *Service) Health() error {
	var errs []error
	anyUp := false
	for _, l := range s.links {
		if l.up.Load() {
			anyUp = true
		} else if err := l.health(); err != nil {
			errs = append(errs, fmt.Errorf("broker %s: %w", l.url, err))
		}
	}
	if !anyUp {
		if len(errs) == 0 {
			errs = append(errs, errors.New("not connected to any broker yet"))
		}
		return errors.Join(errs...)
	}
	s.mu.Lock()
	jerr := s.journalErr
	s.mu.Unlock()
	if jerr != nil {
		return fmt.Errorf("outbox journal: %w", jerr)
	}
	return nil
}

// Status is the status page: the open pages.
func (s *Service) Status() httpapi.Status {
	st := httpapi.Status{Gateway: "pager " + s.cfg.Pager.ID, Version: buildinfo.Version, Started: s.started}
	s.mu.Lock()
	for _, g := range s.book.gws {
		for _, t := range g.Alarms {
			for _, e := range t.Eps {
				if e.State != epOpen || e.Alarm == nil {
					continue
				}
				a := e.Alarm
				st.Alarms = append(st.Alarms, httpapi.AlarmRow{Severity: a.Severity, Key: a.Gateway + " " + a.Key + " #" + fmt.Sprint(e.N),
					State: a.State, Message: a.Message, Acked: e.Acked, Shelved: a.ShelvedUntil != nil, Since: e.StartsAt})
			}
		}
	}
	s.mu.Unlock()
	sort.Slice(st.Alarms, func(i, j int) bool { return st.Alarms[i].Since.Before(st.Alarms[j].Since) })
	return st
}

// WriteMetrics writes the pager's counters.
func (s *Service) WriteMetrics(w *promtext.Writer) {
	w.Family("rackwatch_pager_broker_connected", "1 when this replica follows the broker.", promtext.Gauge)
	for _, l := range s.links {
		v := 0.0
		if l.up.Load() {
			v = 1
		}
		w.Sample("rackwatch_pager_broker_connected", v, "broker", l.url)
	}
	w.Family("rackwatch_pager_broker_messages_total", "Messages received from gateways on the broker.", promtext.Counter)
	for _, l := range s.links {
		w.Sample("rackwatch_pager_broker_messages_total", float64(l.messages.Load()), "broker", l.url)
	}
	w.Family("rackwatch_pager_broker_connect_failures_total", "Failed connection attempts.", promtext.Counter)
	for _, l := range s.links {
		w.Sample("rackwatch_pager_broker_connect_failures_total", float64(l.failures.Load()), "broker", l.url)
	}

	s.mu.Lock()
	open := s.book.openPages()
	dups, resets, unrouted, suppressed := s.book.duplicates, s.book.resets, s.book.unrouted, s.book.suppressed
	var up, down int
	for id := range s.health.gws {
		if s.book.open(id, healthKey) != nil {
			down++
		} else {
			up++
		}
	}
	s.mu.Unlock()
	w.One("rackwatch_pager_pages_open", "Pages triggered and not resolved (alarm episodes and dead gateways).", promtext.Gauge, float64(open))
	w.Family("rackwatch_pager_gateways", "Gateways seen on the brokers, by whether a gateway-offline page is open for them.", promtext.Gauge)
	w.Sample("rackwatch_pager_gateways", float64(up), "state", "up")
	w.Sample("rackwatch_pager_gateways", float64(down), "state", "down")
	w.One("rackwatch_pager_messages_total", "Status, alarm, event and reading messages handled.", promtext.Counter, float64(s.received.get()))
	w.One("rackwatch_pager_messages_invalid_total", "Messages ignored because they are not the rackwatch contract (oversized, malformed, inconsistent).", promtext.Counter, float64(s.invalid.get()))
	w.One("rackwatch_pager_duplicates_total", "Alarm messages about episodes already handled (other brokers, redeliveries, retained states).", promtext.Counter, float64(dups))
	w.One("rackwatch_pager_gateway_resets_total", "Gateways whose seq started again (a fresh state directory).", promtext.Counter, float64(resets))
	w.One("rackwatch_pager_unrouted_total", "Alarm episodes no route sent anywhere.", promtext.Counter, float64(unrouted))
	w.One("rackwatch_pager_suppressed_total", "Alarm changes received while the alarm was shelved on its gateway (paged at the unshelve, if still active).", promtext.Counter, float64(suppressed))
	w.One("rackwatch_pager_notifications_queued_total", "Notifications written to the outbox journal.", promtext.Counter, float64(s.queued.get()))
	w.One("rackwatch_pager_outbox_append_failures_total", "Failed writes of the outbox journal.", promtext.Counter, float64(s.appendFailures.get()))

	last := s.j.LastID()
	type tm struct {
		name, help, typ string
		val             func(t *target) float64
	}
	for _, m := range []tm{
		{"rackwatch_pager_receiver_up", "1 when the last call to the receiver succeeded.", promtext.Gauge, func(t *target) float64 { return b2f(t.up.Load()) }},
		{"rackwatch_pager_receiver_last_success_timestamp_seconds", "When a call to the receiver last succeeded (0: never).", promtext.Gauge, func(t *target) float64 { return float64(t.lastOK.Load()) }},
		{"rackwatch_pager_receiver_pending", "Outbox records the receiver has not been through yet (an upper bound: not all are for it).", promtext.Gauge, func(t *target) float64 {
			if a := t.acked.Load(); a < last {
				return float64(last - a)
			}
			return 0
		}},
		{"rackwatch_pager_receiver_failures_total", "Failed calls to the receiver.", promtext.Counter, func(t *target) float64 { return float64(t.failures.Load()) }},
		{"rackwatch_pager_receiver_retries_total", "Calls retried after a temporary failure (429, 5xx, network).", promtext.Counter, func(t *target) float64 { return float64(t.retries.Load()) }},
		{"rackwatch_pager_receiver_resends_total", "Periodic re-sends of the current pages (Alertmanager).", promtext.Counter, func(t *target) float64 { return float64(t.resends.Load()) }},
		{"rackwatch_pager_receiver_resend_failures_total", "Failed periodic re-sends (Alertmanager).", promtext.Counter, func(t *target) float64 { return float64(t.resendFailures.Load()) }},
	} {
		w.Family(m.name, m.help, m.typ)
		for _, t := range s.tgts {
			w.Sample(m.name, m.val(t), "receiver", t.receiver, "endpoint", t.endpoint)
		}
	}
	w.Family("rackwatch_pager_notifications_sent_total", "Notifications the receiver accepted, by action.", promtext.Counter)
	for _, t := range s.tgts {
		for i, a := range []string{"trigger", "acknowledge", "resolve"} {
			w.Sample("rackwatch_pager_notifications_sent_total", float64(t.sent[i].Load()), "receiver", t.receiver, "endpoint", t.endpoint, "action", a)
		}
	}
	w.Family("rackwatch_pager_notifications_dropped_total", "Notifications given up: refused by the receiver (a configuration error) or undeliverable for a day.", promtext.Counter)
	for _, t := range s.tgts {
		w.Sample("rackwatch_pager_notifications_dropped_total", float64(t.rejected.Load()), "receiver", t.receiver, "endpoint", t.endpoint, "reason", "rejected")
		w.Sample("rackwatch_pager_notifications_dropped_total", float64(t.expired.Load()), "receiver", t.receiver, "endpoint", t.endpoint, "reason", "expired")
	}
	st := s.j.Stats()
	w.One("rackwatch_pager_outbox_bytes", "Bytes of the outbox journal on disk.", promtext.Gauge, float64(st.Bytes))
	w.One("rackwatch_pager_outbox_coalesced_total", "Older changes of a page dropped because the outbox reached max_size.", promtext.Counter, float64(st.Coalesced))
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
