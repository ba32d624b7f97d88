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
	"github.com/rackwatch/rackwatch/agent/promtext"
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
	// results are command results waiting to be published by this broker's goroutine.
	results chan mqtt.Message

	acked atomic.Uint64 // highest journal id acknowledged by this broker

	mu         sync.Mutex
	client     *mqtt.Client
	catchingUp bool
	lastErr    error
	downSince  time.Time
	upSince    time.Time

	published, connects, failures, shed, readingsOut, resultsLost atomic.Uint64

	// delay is the histogram of transition → broker acknowledgement; age caches the time of the oldest
	// transition the broker has not acknowledged (backlog.go).
	delay *promtext.Buckets
	age   ageCache
	// ha carries Home Assistant discovery work to the broker's goroutine (discovery.go).
	ha haQueue
	// commands: the gateway takes operator commands from this broker (commands: true, the default);
	// ignored and retained count the commands it ignored unread.
	commands          bool
	ignored, retained atomic.Uint64
}

func (d *Delivery) newTarget(b *config.Broker) *target {
	t := &target{d: d, name: b.URL, wake: make(chan struct{}, 1), retryNow: make(chan struct{}, 1), reader: d.j.NewReader(),
		downSince: time.Now(), results: make(chan mqtt.Message, resultsQueue), delay: newDelayBuckets()}
	t.age.reader = d.j.NewReader()
	t.ha.init()
	t.log = d.log.With("broker", b.URL)
	t.ring.init(readingsQueue)
	t.mc, t.setupErr = d.brokerSettings(b)
	if l := d.cfg.MQTT.EmbeddedLogin; l != nil && b.URL == "tcp://"+dialable(d.cfg.MQTT.EmbeddedBroker) {
		// The gateway's own embedded broker takes users: log in with the password made for this run.
		t.mc.Username, t.mc.Password = l.User, l.Password
	}
	t.mc.CleanSession = false
	t.commands = b.CommandsFrom()
	if t.commands {
		t.mc.Subscribe = map[string]byte{}
		for _, a := range []string{contract.Ack, contract.Shelve, contract.Unshelve, contract.OutputTest} {
			t.mc.Subscribe[d.topics.Command(a)] = 1
		}
	}
	// Also on a broker with commands: false: a session kept from when it had them may still deliver some.
	t.mc.OnMessage = func(m mqtt.Received) { d.command(t, m.Topic, m.Payload, m.Retain) }
	d.subscribeDiscovery(t)
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
//
// The backoff starts again from backoffBase after a connection that stayed up past one keepalive, or on
// which the broker acknowledged transitions: it was serving us. A connection that dies at once (another
// client with our client id, a broker that accepts and then drops us) keeps backing off. A new transition
// cuts a long wait short, so that an alarm raised while a flapping broker is away does not sit out the
// backoff.
func (t *target) run(ctx context.Context) {
	var lastLogged string
	rc := reconnect{keepalive: t.stableAfter()}
	for ctx.Err() == nil {
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
			unreachable := mqtt.KindOf(err) == mqtt.Unreachable
			if msg := err.Error(); msg != lastLogged {
				lastLogged = msg
				if unreachable {
					t.log.Warn("broker unreachable; alarms are kept in the journal and retried", "err", err)
				} else {
					t.log.Error("cannot connect to the broker, and retrying will not help: fix the configuration", "err", err)
				}
			}
			if !t.wait(ctx, rc.next(), unreachable) {
				return
			}
			continue
		}
		lastLogged = ""
		connectedAt := time.Now()
		t.connects.Add(1)
		t.log.Info("connected to broker")
		t.mu.Lock()
		t.client, t.catchingUp, t.lastErr, t.upSince = cl, true, nil, connectedAt
		t.mu.Unlock()

		delivered, err := t.serve(ctx, cl)

		t.mu.Lock()
		t.client, t.lastErr, t.downSince = nil, err, time.Now()
		t.mu.Unlock()
		if ctx.Err() != nil {
			t.goOffline(cl)
			return
		}
		t.d.ratelog.Log(t.log, slog.LevelWarn, "lost:"+t.name, "lost the broker; reconnecting", "broker", t.name, "err", err)
		cl.Disconnect(0)
		rc.lost(time.Since(connectedAt), delivered)
		if !t.wait(ctx, rc.next(), true) {
			return
		}
	}
}

// reconnect is a broker's reconnect policy: capped exponential backoff with jitter, started again after a
// connection that worked.
type reconnect struct {
	attempt   int
	keepalive time.Duration
}

// lost notes the loss of a connection that lasted lived, and whether the broker acknowledged transitions on
// it. One that stayed up past one keepalive, or delivered, worked: the backoff starts again.
func (r *reconnect) lost(lived time.Duration, delivered bool) {
	if delivered || lived >= r.keepalive {
		r.attempt = 0
	}
}

// next returns how long to wait before the next attempt, and counts the attempt: backoffBase doubling up to
// backoffMax, each drawn from its upper half (a site's gateways do not reconnect in lockstep).
func (r *reconnect) next() time.Duration {
	d := driver.Backoff(r.attempt, backoffBase, backoffMax)
	r.attempt++
	return d/2 + rand.N(d/2+1)
}

// stableAfter is how long a connection must last to count as working: one keepalive.
func (t *target) stableAfter() time.Duration {
	if t.mc.KeepAlive > 0 {
		return t.mc.KeepAlive
	}
	return 30 * time.Second
}

// wait sleeps out a reconnect delay. A last gasp ends it at once; when alarmsHurry, a new transition cuts
// it to at most about backoffBase. It reports false when ctx ended.
func (t *target) wait(ctx context.Context, delay time.Duration, alarmsHurry bool) bool {
	deadline := time.Now().Add(delay)
	tm := time.NewTimer(delay)
	defer tm.Stop()
	var wake <-chan struct{}
	if alarmsHurry {
		wake = t.wake
	}
	for {
		select {
		case <-ctx.Done():
			return false
		case <-tm.C:
			return true
		case <-t.retryNow:
			return true
		case <-wake:
			wake = nil
			if short := backoffBase/2 + rand.N(backoffBase/2+1); time.Until(deadline) > short {
				tm.Reset(short)
			}
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
	// at is the transition's time (zero for an action event), for the delivery delay.
	at time.Time
}

// serve publishes the online status, then the journal from this broker's cursor on, in order with at most
// maxInFlight records unacknowledged; once the backlog is out, every alarm's current state and every
// channel's current reading, then readings as they come and command results. It returns when the
// connection is lost or ctx ends, and whether the broker acknowledged any transition meanwhile.
func (t *target) serve(ctx context.Context, cl *mqtt.Client) (delivered bool, _ error) {
	// Not waited for: the backlog follows at once, behind it on the same connection.
	status := cl.Publish(mqtt.Message{Topic: t.d.topics.Status(), Payload: statusPayload(contract.Online, time.Now()), QoS: 1, Retain: true})
	statusDone := status.Done()
	// Home Assistant's discovery configs do not wait for the alarm backlog: they only describe entities.
	t.publishDiscovery(cl)
	// Readings queued on an earlier connection are older than the current ones sent below.
	t.ring.reset()
	var (
		q    []inflight
		buf  []journal.Record
		sent = t.acked.Load()
		rbuf []byte
		// caughtUp: the backlog found at connecting has been acknowledged and the current states and
		// readings sent; readings may go from then on.
		caughtUp bool
	)
	for {
		// Fill the window from the journal.
		if len(q) < maxInFlight {
			var err error
			buf, err = t.reader.Read(sent, maxInFlight-len(q), buf[:0])
			if err != nil {
				return delivered, err
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
					f.at = r.Time
				}
				q = append(q, f)
				sent = r.ID
			}
		}
		if !caughtUp && len(q) == 0 {
			t.mu.Lock()
			t.catchingUp = false
			t.mu.Unlock()
			caughtUp = true
			// The backlog is out: make sure the broker holds every alarm's current state, even if it
			// lost its retained messages (a restart without persistence, the in-memory embedded
			// broker after our own restart), and has every channel's current reading (the ones read
			// while it was away were not sent).
			t.d.republish(cl)
			t.publishCurrent(cl, &rbuf)
		}
		// Readings go once no transition waits to be sent: the window has room, so the fill above took
		// every record the journal holds, and any alarm queued beside them is already on the wire ahead
		// of them. They do not wait for the broker to acknowledge those alarms: a broker's PUBACKs can
		// lag by tens of milliseconds (Nagle on its side against our delayed ACKs), and a reading held
		// behind them is that much late.
		if caughtUp && len(q) < maxInFlight {
			for {
				e, ok := t.ring.pop()
				if !ok {
					break
				}
				t.publishReading(cl, &e, &rbuf)
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
			return delivered, ctx.Err()
		case <-cl.Lost():
			return delivered, cl.Err()
		case <-statusDone:
			if err := status.Err(); err != nil {
				return delivered, fmt.Errorf("publish online status: %w", err)
			}
			statusDone = nil
		case m := <-t.results:
			cl.Publish(m)
		case <-t.ha.wake:
			t.serveDiscovery(cl)
		case <-t.wake:
		case <-t.ring.ready:
		case <-done:
			// Acknowledge every leading record whose two publications are complete.
			for len(q) > 0 && isDone(q[0].toks[0]) && isDone(q[0].toks[1]) {
				for _, tk := range q[0].toks {
					if err := tk.Err(); err != nil {
						return delivered, fmt.Errorf("publish: %w", err)
					}
				}
				t.acked.Store(q[0].id)
				t.d.j.Ack(t.name, q[0].id)
				t.published.Add(1)
				if !q[0].at.IsZero() {
					t.delay.Observe(time.Since(q[0].at).Seconds())
				}
				delivered = true
				q = q[1:]
			}
			if len(q) == 0 {
				q = q[:0:0]
			}
		}
	}
}

// publishCurrent sends every channel's current reading, once the backlog is out after connecting.
func (t *target) publishCurrent(cl *mqtt.Client, rbuf *[]byte) {
	if t.d.filter.disabled {
		return
	}
	cur := t.d.filter.current(nil)
	for i := range cur {
		t.publishReading(cl, &cur[i], rbuf)
	}
}

func (t *target) publishReading(cl *mqtt.Client, e *rentry, rbuf *[]byte) {
	*rbuf = e.appendJSON((*rbuf)[:0])
	cl.Publish(mqtt.Message{Topic: e.topic, Payload: append([]byte(nil), *rbuf...), QoS: t.d.filter.qos})
	t.readingsOut.Add(1)
}

func isDone(t mqtt.Token) bool {
	select {
	case <-t.Done():
		return true
	default:
		return false
	}
}
