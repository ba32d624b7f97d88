package delivery

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rackwatch/rackwatch/agent/config"
	"github.com/rackwatch/rackwatch/agent/contract"
	"github.com/rackwatch/rackwatch/agent/driver"
	"github.com/rackwatch/rackwatch/agent/journal"
	"github.com/rackwatch/rackwatch/agent/mqtt"
)

// target is one broker: its connection loop, cursor, readings queue and counters.
type target struct {
	d        *Delivery
	name     string // the broker URL; also the journal cursor's name
	log      *slog.Logger
	mc       mqtt.Config
	setupErr error
	reader   *journal.Reader
	wake     chan struct{}
	retryNow chan struct{} // cuts a reconnect backoff short (the last gasp)
	ring     ring

	acked atomic.Uint64 // highest journal id acknowledged by this broker

	mu         sync.Mutex
	client     *mqtt.Client
	catchingUp bool
	lastErr    error
	downSince  time.Time

	published, connects, failures, shed, readingsOut atomic.Uint64
}

func (d *Delivery) newTarget(b *config.Broker) *target {
	t := &target{d: d, name: b.URL, wake: make(chan struct{}, 1), retryNow: make(chan struct{}, 1), reader: d.j.NewReader(), downSince: time.Now()}
	t.log = d.log.With("broker", b.URL)
	t.ring.init(readingsQueue)
	t.mc, t.setupErr = d.brokerSettings(b)
	t.mc.CleanSession = false
	t.mc.Subscribe = map[string]byte{d.topics.Command(contract.Ack): 1, d.topics.Command(contract.Shelve): 1}
	t.mc.OnMessage = func(m mqtt.Received) { d.command(t.name, m.Topic, m.Payload, m.Retain) }
	if t.setupErr != nil {
		t.lastErr = t.setupErr
	}
	return t
}

func (t *target) cursor() uint64 { c, _ := t.d.j.Cursor(t.name); return c }

// hurry makes a target waiting out a reconnect backoff try again now.
func (t *target) hurry() {
	select {
	case t.retryNow <- struct{}{}:
	default:
	}
}

func (t *target) poke() {
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

func (t *target) current() *mqtt.Client {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.client
}

// pending is how many journal records this broker has not acknowledged (an upper bound once older
// records were coalesced).
func (t *target) pending(last uint64) uint64 {
	if a := t.acked.Load(); a < last {
		return last - a
	}
	return 0
}

func (t *target) health() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.client != nil {
		return nil
	}
	if t.lastErr == nil {
		return fmt.Errorf("broker %s: connecting", t.name)
	}
	return fmt.Errorf("broker %s: not connected since %s: %w", t.name, t.downSince.UTC().Format(time.RFC3339), t.lastErr)
}

// run connects, serves and reconnects with capped exponential backoff and jitter until ctx ends.
func (t *target) run(ctx context.Context) {
	var lastLogged string
	for attempt := 0; ctx.Err() == nil; {
		mc := t.mc
		mc.Will = &mqtt.Message{Topic: t.d.topics.Status(), Payload: statusPayload(contract.Offline, time.Now()), QoS: 1, Retain: true}
		cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		cl, err := mqtt.Connect(cctx, mc)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			t.failures.Add(1)
			t.mu.Lock()
			t.lastErr = err
			t.mu.Unlock()
			// Say it once per distinct failure, not once per retry; a configuration problem is an error
			// because retrying will not fix it.
			if msg := err.Error(); msg != lastLogged {
				lastLogged = msg
				if mqtt.KindOf(err) == mqtt.Unreachable {
					t.log.Warn("broker unreachable; alarms are kept in the journal and retried", "err", err)
				} else {
					t.log.Error("cannot connect to the broker, and retrying will not help: fix the configuration", "err", err)
				}
			}
			delay := driver.Backoff(attempt, backoffBase, backoffMax)
			delay = delay/2 + rand.N(delay/2+1) // jitter: a site's gateways do not reconnect in lockstep
			attempt++
			select {
			case <-ctx.Done():
				return
			case <-time.After(delay):
			case <-t.retryNow:
			}
			continue
		}
		lastLogged = ""
		connectedAt := time.Now()
		t.connects.Add(1)
		t.log.Info("connected to broker")
		t.mu.Lock()
		t.client, t.catchingUp, t.lastErr = cl, true, nil
		t.mu.Unlock()

		err = t.serve(ctx, cl)

		t.mu.Lock()
		t.client, t.lastErr, t.downSince = nil, err, time.Now()
		t.mu.Unlock()
		if ctx.Err() != nil {
			t.goOffline(cl)
			return
		}
		t.log.Warn("lost the broker; reconnecting", "err", err)
		cl.Disconnect(0)
		// A connection that dies at once (another client with our client id, a broker that accepts and
		// then drops us) must not turn into a tight reconnect loop: keep backing off until one lasts.
		if time.Since(connectedAt) > stableAfter {
			attempt = 0
			continue
		}
		delay := driver.Backoff(attempt, backoffBase, backoffMax)
		attempt++
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay/2 + rand.N(delay/2+1)):
		case <-t.retryNow:
		}
	}
}

// goOffline publishes the retained offline status and disconnects cleanly.
func (t *target) goOffline(cl *mqtt.Client) {
	ctx, cancel := context.WithTimeout(context.Background(), offlineTimeout)
	defer cancel()
	err := cl.PublishWait(ctx, mqtt.Message{Topic: t.d.topics.Status(), Payload: statusPayload(contract.Offline, time.Now()), QoS: 1, Retain: true})
	if err != nil {
		t.log.Warn("could not publish offline status", "err", err)
	}
	cl.Disconnect(250 * time.Millisecond)
}

type inflight struct {
	id   uint64
	toks [2]mqtt.Token
}

// serve publishes the online status, then the journal from this broker's cursor on, in order with at most
// maxInFlight records unacknowledged, then readings whenever there is no backlog. It returns when the
// connection is lost or ctx ends.
func (t *target) serve(ctx context.Context, cl *mqtt.Client) error {
	if err := cl.PublishWait(ctx, mqtt.Message{Topic: t.d.topics.Status(), Payload: statusPayload(contract.Online, time.Now()), QoS: 1, Retain: true}); err != nil {
		return fmt.Errorf("publish online status: %w", err)
	}
	var (
		q    []inflight
		buf  []journal.Record
		sent = t.acked.Load()
		rbuf []byte
	)
	for {
		// Fill the window from the journal.
		if len(q) < maxInFlight {
			var err error
			buf, err = t.reader.Read(sent, maxInFlight-len(q), buf[:0])
			if err != nil {
				return err
			}
			for i := range buf {
				r := &buf[i]
				f := inflight{id: r.ID}
				if contract.IsActionKey(r.Key) {
					// An action event (actions.go): …/events only.
					f.toks[0] = cl.Publish(mqtt.Message{Topic: t.d.topics.Events(), Payload: r.Data, QoS: 1})
					f.toks[1] = f.toks[0]
				} else {
					f.toks[0] = cl.Publish(mqtt.Message{Topic: t.d.topics.Alarm(r.Key), Payload: r.Data, QoS: 1, Retain: true})
					f.toks[1] = cl.Publish(mqtt.Message{Topic: t.d.topics.Events(), Payload: r.Data, QoS: 1})
				}
				q = append(q, f)
				sent = r.ID
			}
		}
		if len(q) == 0 {
			t.mu.Lock()
			first := t.catchingUp
			t.catchingUp = false
			t.mu.Unlock()
			if first {
				// The backlog is out: make sure the broker holds every alarm's current state, even if it
				// lost its retained messages (a restart without persistence, the in-memory embedded
				// broker after our own restart).
				t.d.republish(cl)
			}
			// No backlog: readings may go.
			for {
				e, ok := t.ring.pop()
				if !ok {
					break
				}
				rbuf = e.appendJSON(rbuf[:0])
				cl.Publish(mqtt.Message{Topic: e.topic, Payload: append([]byte(nil), rbuf...), QoS: t.d.filter.qos})
				t.readingsOut.Add(1)
			}
		}
		var done <-chan struct{}
		if len(q) > 0 {
			done = q[0].toks[0].Done()
			select {
			case <-done:
				done = q[0].toks[1].Done()
			default:
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-cl.Lost():
			return cl.Err()
		case <-t.wake:
		case <-t.ring.ready:
		case <-done:
			// Acknowledge every leading record whose two publications are complete.
			for len(q) > 0 && isDone(q[0].toks[0]) && isDone(q[0].toks[1]) {
				for _, tk := range q[0].toks {
					if err := tk.Err(); err != nil {
						return fmt.Errorf("publish: %w", err)
					}
				}
				t.acked.Store(q[0].id)
				t.d.j.Ack(t.name, q[0].id)
				t.published.Add(1)
				q = q[1:]
			}
			if len(q) == 0 {
				q = q[:0:0]
			}
		}
	}
}

func isDone(t mqtt.Token) bool {
	select {
	case <-t.Done():
		return true
	default:
		return false
	}
}
