package view

import (
	"encoding/json"
	"sync"
	"sync/atomic"

	"github.com/rackwatch/rackwatch/agent/contract"
)

// Message renders one MQTT message of the rackwatch contract received under prefix. Retained alarm
// states (sent by the broker when subscribing) are shown as the current state; live alarm-state topics are
// skipped because the same transition also arrives on …/events. It reports false for a topic or payload
// it does not understand.
func (p *Printer) Message(prefix, topic string, payload []byte, retained bool) bool {
	t, ok := contract.ParseTopic(prefix, topic)
	if !ok {
		return false
	}
	switch t.Kind {
	case contract.KindStatus:
		var s contract.Status
		if json.Unmarshal(payload, &s) != nil {
			return false
		}
		p.Status(t.Gateway, &s)
	case contract.KindEvents:
		a, act, err := contract.ParseEvent(payload)
		switch {
		case err != nil:
			return false
		case act != nil:
			p.Action(act)
		default:
			p.Alarm(a)
		}
	case contract.KindAlarm:
		if !retained || len(payload) == 0 {
			return true
		}
		var a contract.Alarm
		if json.Unmarshal(payload, &a) != nil {
			return false
		}
		if a.State == contract.Active { // current problems only: cleared alarms are history
			p.Alarm(&a)
		}
	case contract.KindReading:
		var r contract.Reading
		if json.Unmarshal(payload, &r) != nil {
			return false
		}
		p.Reading(t.Gateway, t.Sensor, t.Channel, &r)
	case contract.KindCommand:
		p.Note("%s: command %s %s", t.Gateway, t.Command, payload)
	default:
		return false
	}
	return true
}

// Async returns a handler that queues messages (up to n) and renders them with Message on a goroutine of
// its own, so that a slow terminal never holds up the MQTT client that calls it; when the queue is full,
// messages are skipped and the next line says how many. stop ends the goroutine after the queue is empty.
func (p *Printer) Async(prefix string, n int) (handle func(topic string, payload []byte, retained bool), stop func()) {
	type msg struct {
		topic    string
		payload  []byte
		retained bool
	}
	q := make(chan msg, n)
	done := make(chan struct{})
	var dropped atomic.Uint64
	go func() {
		defer close(done)
		for m := range q {
			if k := dropped.Swap(0); k > 0 {
				p.Note("%d messages skipped: the terminal is slower than the broker", k)
			}
			if !p.Message(prefix, m.topic, m.payload, m.retained) {
				p.Note("unexpected message on %s: %.200s", m.topic, m.payload)
			}
		}
	}()
	var once sync.Once
	handle = func(topic string, payload []byte, retained bool) {
		select {
		case q <- msg{topic, append([]byte(nil), payload...), retained}:
		default:
			dropped.Add(1)
		}
	}
	stop = func() {
		once.Do(func() { close(q) })
		<-done
	}
	return handle, stop
}
