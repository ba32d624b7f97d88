package pager

import (
	"context"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rackwatch/rackwatch/agent/contract"
	"github.com/rackwatch/rackwatch/agent/mqtt"
)

// link is the pager's connection to one broker.
type link struct {
	i   int
	url string
	mc  mqtt.Config

	up                           atomic.Bool
	connects, failures, messages atomic.Uint64
	mu                           sync.Mutex
	lastErr                      error
	downSince                    time.Time
}

func (l *link) health() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lastErr
}

// counter is a metric counter.
type counter struct{ v atomic.Uint64 }

func (c *counter) add(n uint64) { c.v.Add(n) }
func (c *counter) get() uint64  { return c.v.Load() }

// follow keeps a persistent session with one broker until ctx ends, subscribed to every gateway's
// status, alarm states and events (and readings, only to know that a gateway is alive, when silent_after
// is set), and hands what arrives to the core goroutine in arrival order.
func (s *Service) follow(ctx context.Context, l *link) {
	prefix := s.cfg.Pager.TopicPrefix
	sub := contract.Filters(prefix, "+", s.cfg.Pager.Gateways.SilentAfter.D() > 0)
	var lastLogged string
	for attempt := 0; ctx.Err() == nil; {
		mc := l.mc
		mc.Subscribe = sub
		var announce sync.Once
		up := func() {
			announce.Do(func() { s.push(inbound{broker: l.i, kind: "up", at: time.Now()}) })
		}
		mc.OnMessage = func(m mqtt.Received) {
			up()
			p, ok := contract.ParseTopic(prefix, m.Topic)
			if !ok {
				return
			}
			in := inbound{broker: l.i, kind: p.Kind, gateway: p.Gateway, alarm: p.Alarm, retained: m.Retain, at: time.Now()}
			switch p.Kind {
			case contract.KindStatus, contract.KindAlarm, contract.KindEvents:
				in.payload = append([]byte(nil), m.Payload...) // paho's buffer is only ours during the call
			case contract.KindReading:
			default:
				return // commands and results: not the pager's business
			}
			l.messages.Add(1)
			s.push(in)
		}
		cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		cl, err := mqtt.Connect(cctx, mc)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			l.failures.Add(1)
			l.mu.Lock()
			l.lastErr = err
			l.mu.Unlock()
			if msg := err.Error(); msg != lastLogged {
				lastLogged = msg
				if mqtt.KindOf(err) == mqtt.Unreachable {
					s.log.Warn("broker unreachable; retrying", "broker", l.url, "err", err)
				} else {
					s.log.Error("cannot connect to the broker, and retrying will not help: fix the configuration", "broker", l.url, "err", err)
				}
			}
			d := backoff(attempt, time.Second, 30*time.Second)
			attempt++
			sleep(ctx, d/2+rand.N(d/2+1), nil)
			continue
		}
		up()
		attempt, lastLogged = 0, ""
		l.connects.Add(1)
		l.up.Store(true)
		l.mu.Lock()
		l.lastErr = nil
		l.mu.Unlock()
		s.log.Info("following gateways on broker", "broker", l.url)
		select {
		case <-ctx.Done():
			cl.Disconnect(100 * time.Millisecond)
		case <-cl.Lost():
			s.log.Warn("connection to broker lost; reconnecting", "broker", l.url, "err", cl.Err())
			l.mu.Lock()
			l.lastErr = cl.Err()
			l.mu.Unlock()
		}
		l.up.Store(false)
		l.mu.Lock()
		l.downSince = time.Now()
		l.mu.Unlock()
		s.push(inbound{broker: l.i, kind: "down", at: time.Now()})
	}
}

// push hands a message to the core goroutine. When the core is behind, it waits: the broker then holds
// the messages (QoS 1), which is better than dropping a page.
func (s *Service) push(m inbound) {
	select {
	case s.in <- m:
	case <-s.done:
	}
}
