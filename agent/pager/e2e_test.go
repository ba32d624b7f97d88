package pager

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rackwatch/rackwatch/agent/broker"
	"github.com/rackwatch/rackwatch/agent/config"
	"github.com/rackwatch/rackwatch/agent/contract"
	"github.com/rackwatch/rackwatch/agent/mqtt"
	"github.com/rackwatch/rackwatch/agent/pager/alertmanager"
	"github.com/rackwatch/rackwatch/agent/pager/internal/receivertest"
	"github.com/rackwatch/rackwatch/agent/pager/notify"
	"github.com/rackwatch/rackwatch/agent/settings"
)

// failAfter bounds every wait: a failure timeout for a busy machine, never a measurement.
const failAfter = time.Minute

func TestMain(m *testing.M) {
	retryBase, retryMax = 20*time.Millisecond, 300*time.Millisecond
	tickEvery, saveEvery, idleCheck = 50*time.Millisecond, 200*time.Millisecond, 200*time.Millisecond
	resolveHold = time.Second
	catchUpQuiet = 100 * time.Millisecond
	os.Exit(m.Run())
}

func testLog(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(failAfter)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// rig is a pager's surroundings: a broker, a fake PagerDuty, a fake webhook, and the files of a config.
type rig struct {
	t      *testing.T
	broker *broker.Broker
	pd     *receivertest.PagerDuty
	hook   *receivertest.Webhook
	dir    string
}

func newRig(t *testing.T) *rig {
	b, err := broker.Start("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	r := &rig{t: t, broker: b, pd: receivertest.NewPagerDuty(t), hook: receivertest.NewWebhook(t, "a-shared-secret-of-32-bytes....."), dir: t.TempDir()}
	os.WriteFile(filepath.Join(r.dir, "pd.key"), []byte(r.pd.Key+"\n"), 0o600)
	os.WriteFile(filepath.Join(r.dir, "hook.secret"), r.hook.Secret, 0o600)
	return r
}

// config is a pager config for replica id, with extra YAML appended under pager.gateways.
func (r *rig) config(id string) *config.PagerConfig {
	r.t.Helper()
	y := fmt.Sprintf(`pager:
  id: %s
  state_dir: %s
  brokers: [{url: %s, keepalive: 5s}]
  gateways: {offline_grace: 1s, silent_after: 0}
receivers:
  - {name: pd, pagerduty: {routing_key_file: %s, url: %s}}
  - {name: hook, webhook: {url: %s, secret_file: %s}}
`, id, filepath.Join(r.dir, id), r.broker.URL(), filepath.Join(r.dir, "pd.key"), r.pd.EnqueueURL(), r.hook.URL(), filepath.Join(r.dir, "hook.secret"))
	cfg, err := config.ParsePager("pager.yaml", []byte(y))
	if err != nil {
		r.t.Fatal(err)
	}
	return cfg
}

// start runs a pager replica until the returned stop is called (or the test ends).
func (r *rig) start(id string) (svc *Service, stop func()) {
	r.t.Helper()
	svc, err := New(r.config(id), Options{Log: testLog(r.t)})
	if err != nil {
		r.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				r.t.Errorf("pager %s: %v", id, err)
			}
		})
	}
	r.t.Cleanup(stop)
	waitFor(r.t, "the pager to follow the broker", func() bool { return svc.Health() == nil })
	return svc, stop
}

// gateway publishes what a gateway would: its status, and every transition on …/events and as the
// alarm's retained state.
type gateway struct {
	t   *testing.T
	cl  *mqtt.Client
	tp  contract.Topics
	id  string
	seq uint64
}

func (r *rig) gateway(id string) *gateway {
	cl, err := mqtt.Connect(context.Background(), mqtt.Config{URL: r.broker.URL(), ClientID: "gw-" + id, CleanSession: true, KeepAlive: 30 * time.Second})
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() { cl.Disconnect(0) })
	return &gateway{t: r.t, cl: cl, tp: contract.NewTopics("rackwatch", id), id: id}
}

func (g *gateway) pub(topic string, payload []byte, retain bool) {
	g.t.Helper()
	if err := g.cl.PublishWait(context.Background(), mqtt.Message{Topic: topic, Payload: payload, QoS: 1, Retain: retain}); err != nil {
		g.t.Fatal(err)
	}
}

func (g *gateway) status(state string) {
	g.pub(g.tp.Status(), contract.StatusJSON(state, "test", time.Now()), true)
}

// transition publishes the next transition of alarm key; episode 0 opens a new episode.
func (g *gateway) transition(key, event, state string, episode uint64, acked bool) uint64 {
	g.seq++
	if episode == 0 {
		episode = g.seq
	}
	a := contract.Alarm{Gateway: g.id, Site: "dc1", Key: key, Rule: strings.Split(key, "/")[0], Severity: contract.Critical,
		State: state, Acked: acked, Since: time.Now(), Time: time.Now(), Seq: g.seq, Episode: episode, Event: event,
		Message: key + " " + event}
	if acked {
		a.AckedBy = "ops"
	}
	b, _ := json.Marshal(a)
	g.pub(g.tp.Events(), b, false)
	g.pub(g.tp.Alarm(key), b, true)
	return episode
}

func (g *gateway) raise(key string) uint64 {
	return g.transition(key, contract.EventRaise, contract.Active, 0, false)
}
func (g *gateway) ack(key string, ep uint64) {
	g.transition(key, contract.EventAck, contract.Active, ep, true)
}
func (g *gateway) clear(key string, ep uint64) {
	g.transition(key, contract.EventClear, contract.Cleared, ep, false)
}

func pdActions(pd *receivertest.PagerDuty) string {
	var s []string
	for _, e := range pd.Events() {
		s = append(s, e.EventAction+" "+strings.TrimPrefix(e.DedupKey, "rackwatch/"))
	}
	return strings.Join(s, ", ")
}

func hookActions(h *receivertest.Webhook) string {
	var s []string
	for _, b := range h.Bodies() {
		s = append(s, b.Action+" "+b.Key)
	}
	return strings.Join(s, ", ")
}

// An alarm episode becomes one PagerDuty alert, acknowledged and resolved with the gateway's alarm, and
// the same changes reach the webhook, signed. PagerDuty throttling (429) delays a notification, and a
// webhook that is down for a while delays only itself.
func TestPagesReachPagerDutyAndWebhook(t *testing.T) {
	r := newRig(t)
	svc, _ := r.start("p1")
	gw := r.gateway("gw1")
	gw.status(contract.Online)

	ep := gw.raise("h2/room/h2")
	key := notify.PageKey("gw1", "h2/room/h2", ep)
	waitFor(t, "the trigger at PagerDuty and the webhook", func() bool {
		return pdActions(r.pd) == "trigger "+key && hookActions(r.hook) == "trigger "+key
	})

	r.pd.Script(receivertest.Reply{Status: 429, RetryAfter: "1", Body: `{"status":"throttle event"}`}, receivertest.Reply{Status: 503})
	gw.ack("h2/room/h2", ep)
	waitFor(t, "the acknowledgement after PagerDuty's 429 and 503", func() bool {
		return pdActions(r.pd) == "trigger "+key+", acknowledge "+key
	})

	r.hook.Stop()
	gw.clear("h2/room/h2", ep)
	waitFor(t, "the resolve at PagerDuty while the webhook is down", func() bool {
		return strings.HasSuffix(pdActions(r.pd), "resolve "+key)
	})
	r.hook.Start()
	waitFor(t, "the webhook's backlog", func() bool {
		return hookActions(r.hook) == "trigger "+key+", acknowledge "+key+", resolve "+key
	})
	if a := r.pd.Alerts()["rackwatch/"+key]; a.Opened != 1 || a.Status != "resolved" {
		t.Errorf("PagerDuty alert: %+v", a)
	}
	var retries uint64
	for _, tg := range svc.tgts {
		retries += tg.retries.Load()
	}
	if retries < 2 {
		t.Errorf("retries counted: %d", retries)
	}
}

// A restart of the pager loses nothing: the notification the webhook could not take before it is sent
// after, the clear that arrived while the pager was down resolves its page, and PagerDuty gets no second
// trigger.
func TestRestartLosesNothing(t *testing.T) {
	r := newRig(t)
	_, stop := r.start("p1")
	gw := r.gateway("gw1")
	gw.status(contract.Online)
	r.hook.Stop()
	ep := gw.raise("smoke/room/smoke")
	key := notify.PageKey("gw1", "smoke/room/smoke", ep)
	waitFor(t, "the trigger at PagerDuty", func() bool { return pdActions(r.pd) == "trigger "+key })
	stop()

	gw.clear("smoke/room/smoke", ep) // queued by the broker in the pager's persistent session
	r.hook.Start()
	r.start("p1")
	waitFor(t, "the resolve at PagerDuty", func() bool { return pdActions(r.pd) == "trigger "+key+", resolve "+key })
	waitFor(t, "the webhook's trigger and resolve", func() bool {
		return hookActions(r.hook) == "trigger "+key+", resolve "+key
	})
	if a := r.pd.Alerts()["rackwatch/"+key]; a.Opened != 1 {
		t.Errorf("PagerDuty alert opened %d times", a.Opened)
	}
}

// Two replicas on the same broker page once per episode: PagerDuty deduplicates their triggers by key.
func TestTwoReplicasOnePage(t *testing.T) {
	r := newRig(t)
	r.start("p1")
	r.start("p2")
	gw := r.gateway("gw1")
	gw.status(contract.Online)
	var keys []string
	for i := 0; i < 3; i++ {
		ep := gw.raise("h2/room/h2")
		gw.clear("h2/room/h2", ep)
		keys = append(keys, "rackwatch/"+notify.PageKey("gw1", "h2/room/h2", ep))
	}
	waitFor(t, "every episode resolved", func() bool {
		al := r.pd.Alerts()
		for _, k := range keys {
			if al[k].Status != "resolved" {
				return false
			}
		}
		return true
	})
	waitFor(t, "both replicas' events", func() bool { return len(r.pd.Events()) == 12 })
	for k, a := range r.pd.Alerts() {
		// Each replica holds its resolve for a moment, so the other's trigger lands on the open alert
		// rather than opening a second one after the first resolve.
		if a.Opened != 1 {
			t.Errorf("%s opened %d times", k, a.Opened)
		}
	}
}

// A gateway whose status says offline for the grace gets a page of its own, resolved when it is back.
func TestGatewayOfflinePages(t *testing.T) {
	r := newRig(t)
	r.start("p1")
	gw := r.gateway("gw9")
	gw.status(contract.Online)
	time.Sleep(100 * time.Millisecond)
	gw.status(contract.Offline)
	waitFor(t, "a gateway-offline page", func() bool {
		ev := r.pd.Events()
		return len(ev) == 1 && ev[0].EventAction == "trigger" && strings.HasPrefix(ev[0].DedupKey, "rackwatch/gw9/gateway/offline/") &&
			ev[0].Payload.Severity == "critical" && strings.Contains(ev[0].Payload.Summary, "gateway gw9 offline")
	})
	gw.status(contract.Online)
	waitFor(t, "the gateway-offline page resolved", func() bool {
		ev := r.pd.Events()
		return len(ev) == 2 && ev[1].EventAction == "resolve" && ev[1].DedupKey == ev[0].DedupKey
	})
}

// A notification the receiver refuses (400: a configuration error) is dropped and counted; it does not
// block the pages after it.
func TestRefusedNotificationDoesNotBlock(t *testing.T) {
	r := newRig(t)
	svc, _ := r.start("p1")
	gw := r.gateway("gw1")
	r.pd.Script(receivertest.Reply{Status: 400, Body: `{"status":"invalid event","message":"Event object is invalid","errors":["'payload.summary' is missing or blank"]}`})
	gw.raise("a/b/c")
	ep := gw.raise("d/e/f")
	waitFor(t, "the second trigger", func() bool { return pdActions(r.pd) == "trigger "+notify.PageKey("gw1", "d/e/f", ep) })
	var rejected uint64
	for _, tg := range svc.tgts {
		rejected += tg.rejected.Load()
	}
	if rejected != 1 {
		t.Errorf("rejected %d", rejected)
	}
}

// A replica that restarts with notifications still in its outbox must not send Alertmanager an alert as
// firing when the alarm cleared while it was down and another replica already resolved it there: that
// would fire the alert again (Alertmanager keeps the latest post) and page a second time. It first catches
// up with the brokers, then sends what is true now.
func TestRestartDoesNotRefireInAlertmanager(t *testing.T) {
	r := newRig(t)
	am := receivertest.NewAlertmanager(t)
	cfg := func() *config.PagerConfig {
		c := r.config("p1")
		c.Receivers = []config.Receiver{{Name: "am", Alertmanager: &config.AlertmanagerReceiver{URL: am.URL(),
			ResendEvery: settings.Duration(time.Second), Timeout: settings.Duration(5 * time.Second)}}}
		return c
	}
	run := func() (stop func()) {
		svc, err := New(cfg(), Options{Log: testLog(t)})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { svc.Run(ctx); close(done) }()
		waitFor(t, "the pager to follow the broker", func() bool { return svc.Health() == nil })
		return func() { cancel(); <-done }
	}
	gw := r.gateway("gw1")
	gw.status(contract.Online)
	stop := run()
	am.Stop() // Alertmanager unreachable: the trigger stays in the outbox
	ep := gw.raise("h2/room/h2")
	key := notify.PageKey("gw1", "h2/room/h2", ep)
	time.Sleep(300 * time.Millisecond)
	stop()

	gw.clear("h2/room/h2", ep) // while the replica is down; queued in its session
	am.Start()
	// The other replica resolved it in Alertmanager (it had paged it).
	other := notify.Notification{Action: notify.Resolve, Key: key, Episode: ep, StartsAt: time.Now().Add(-time.Second), EndsAt: time.Now(),
		Alarm: contract.Alarm{Gateway: "gw1", Site: "dc1", Key: "h2/room/h2", Rule: "h2", Severity: contract.Critical, State: contract.Cleared}}
	if _, err := alertmanager.New(am.URL(), time.Second, time.Second).Send(context.Background(), []notify.Notification{other}); err != nil {
		t.Fatal(err)
	}
	run()
	waitFor(t, "the restarted replica to tell Alertmanager", func() bool { return am.Calls() >= 3 })
	time.Sleep(1500 * time.Millisecond) // a resend interval
	if a := am.Alerts()[key]; a.Refired != 0 || a.Firing {
		t.Fatalf("the restarted replica fired a resolved alert again: %+v", a)
	}
}

// A gateway's action events (a relay switched, a shutdown step) share …/events with alarm transitions:
// they page nothing and are not counted as malformed.
func TestActionEventsPageNothing(t *testing.T) {
	r := newRig(t)
	svc, _ := r.start("p1")
	gw := r.gateway("gw1")
	gw.status(contract.Online)
	ep := gw.raise("pre-runaway")
	key := notify.PageKey("gw1", "pre-runaway", ep)
	act := contract.Action{Gateway: "gw1", Site: "dc1", ID: "stop-charge/1", Output: "stop-charge", Type: "modbus",
		State: "on", Result: "ok", By: "rules", Alarm: "pre-runaway", Rule: "pre-runaway", Severity: contract.Critical,
		AlarmSeq: ep, Episode: ep, Time: time.Now(), Message: "stop-charge on for pre-runaway"}
	b, err := json.Marshal(act)
	if err != nil {
		t.Fatal(err)
	}
	gw.pub(gw.tp.Events(), b, false)
	gw.clear("pre-runaway", ep)
	waitFor(t, "the page and its resolve", func() bool {
		return pdActions(r.pd) == "trigger "+key+", resolve "+key
	})
	if n := svc.invalid.get(); n != 0 {
		t.Errorf("%d messages counted as invalid; an action event is not malformed", n)
	}
}
