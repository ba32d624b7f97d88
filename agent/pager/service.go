package pager

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/rackwatch/rackwatch/agent/config"
	"github.com/rackwatch/rackwatch/agent/contract"
	"github.com/rackwatch/rackwatch/agent/httpapi"
	"github.com/rackwatch/rackwatch/agent/journal"
	"github.com/rackwatch/rackwatch/agent/mqtt"
	"github.com/rackwatch/rackwatch/agent/pager/alertmanager"
	"github.com/rackwatch/rackwatch/agent/pager/notify"
	"github.com/rackwatch/rackwatch/agent/pager/pagerduty"
	"github.com/rackwatch/rackwatch/agent/pager/webhook"
	"github.com/rackwatch/rackwatch/agent/settings"
)

// Tunables; variables so that tests can shrink them.
var (
	tickEvery = time.Second
	saveEvery = 30 * time.Second
	// catchUpQuiet and catchUpMax say when a replica that just started has caught up with the brokers:
	// once every broker was connected (or catchUpMax passed) and nothing arrived for catchUpQuiet (the
	// retained states and the events queued in its session are in).
	catchUpQuiet = 500 * time.Millisecond
	catchUpMax   = 10 * time.Second
	inQueue      = 8192
	maxBatch     = 512
)

// Options are what the caller provides besides the config.
type Options struct {
	Log *slog.Logger
	// Started, if set, is called once the HTTP endpoint (if any) listens and the brokers are being
	// followed.
	Started func()
}

// Service is one pager replica.
type Service struct {
	cfg    *config.PagerConfig
	opt    Options
	log    *slog.Logger
	links  []*link
	tgts   []*target
	router *router

	in   chan inbound
	done chan struct{}
	// caughtUp is closed once the replica has caught up with the brokers after starting. Alertmanager
	// targets wait for it: an alert re-sent from a stale view would fire again in Alertmanager after
	// another replica resolved it.
	caughtUp chan struct{}

	mu     sync.Mutex // guards book and health (the core goroutine writes, resenders and /metrics read)
	book   *book
	health *health

	j          *journal.Journal
	journalErr error
	started    time.Time

	invalid, received, stale, queued, appendFailures counter
}

// New checks everything the config alone cannot (secrets, TLS files) and prepares the replica; Run starts
// it. Problems are settings.Errors with FILE:LINE, as for the config itself.
func New(cfg *config.PagerConfig, opt Options) (*Service, error) {
	log := opt.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Service{cfg: cfg, opt: opt, log: log, router: newRouter(cfg), in: make(chan inbound, inQueue), done: make(chan struct{}), caughtUp: make(chan struct{})}
	var errs settings.Errors
	for i := range cfg.Pager.Brokers {
		b := &cfg.Pager.Brokers[i]
		mc, err := brokerSettings(b, cfg.Pager.ID)
		if err != nil {
			errs.Add(cfg.File, b.Line, "pager.brokers: %s: %v", b.URL, err)
			continue
		}
		s.links = append(s.links, &link{i: i, url: b.URL, mc: mc})
	}
	for i := range cfg.Receivers {
		r := &cfg.Receivers[i]
		ts, err := receiverTargets(r)
		if err != nil {
			errs.Add(cfg.File, r.Line, "receiver %q: %v", r.Name, err)
			continue
		}
		s.tgts = append(s.tgts, ts...)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	s.book = newBook(s.router.receivers, time.Now)
	s.health = newHealth(len(s.links), cfg.Pager.Gateways.OfflineGrace.D(), cfg.Pager.Gateways.SilentAfter.D())
	for _, t := range s.tgts {
		t.log = log.With("receiver", t.receiver, "endpoint", t.endpoint)
		t.wake = make(chan struct{}, 1)
		t.current = s.current
		if t.resend > 0 {
			t.settle = s.settle
			t.ready = s.caughtUp
		}
		if t.kind == "pagerduty" {
			t.hold = resolveHold
		}
	}
	return s, nil
}

// Check is what `rackwatch check` runs on a pager config: it reads the secrets and TLS files the pager
// will need, without connecting anywhere.
func Check(cfg *config.PagerConfig) error {
	_, err := New(cfg, Options{})
	return err
}

// ClientID is the MQTT client id of a pager replica: persistent sessions are per replica.
func ClientID(pagerID string) string { return "rackwatch-pager-" + pagerID }

func brokerSettings(b *config.Broker, pagerID string) (mqtt.Config, error) {
	mc := mqtt.Config{URL: b.URL, ClientID: ClientID(pagerID), Username: b.Username, KeepAlive: b.KeepAlive.D(),
		// A persistent session: the broker keeps the events that arrive while this replica restarts.
		CleanSession: false}
	err := mc.Credentials(b.CAFile, b.CertFile, b.KeyFile, b.ServerName, b.PasswordSecret())
	return mc, err
}

func receiverTargets(r *config.Receiver) ([]*target, error) {
	switch {
	case r.Alertmanager != nil:
		a := r.Alertmanager
		var out []*target
		for _, u := range a.Endpoints() {
			rc := alertmanager.New(u, a.Timeout.D(), a.ResendEvery.D())
			out = append(out, &target{name: r.Name + " " + u, receiver: r.Name, kind: "alertmanager", endpoint: u, rcv: rc, resend: a.ResendEvery.D()})
		}
		return out, nil
	case r.PagerDuty != nil:
		p := r.PagerDuty
		key, err := p.RoutingKeySecret().Read()
		if err != nil {
			return nil, fmt.Errorf("routing key: %w", err)
		}
		if key == "" {
			return nil, errors.New("routing key is empty")
		}
		return []*target{{name: r.Name, receiver: r.Name, kind: "pagerduty", endpoint: p.URL, rcv: pagerduty.New(p.URL, key, p.Timeout.D())}}, nil
	case r.Webhook != nil:
		w := r.Webhook
		secret, err := w.SigningSecret().Read()
		if err != nil {
			return nil, fmt.Errorf("secret: %w", err)
		}
		if len(secret) < 16 {
			return nil, errors.New("the signing secret is shorter than 16 bytes; generate one with `head -c 32 /dev/urandom | base64`")
		}
		return []*target{{name: r.Name, receiver: r.Name, kind: "webhook", endpoint: w.URL, rcv: webhook.New(w.URL, []byte(secret), w.Timeout.D())}}, nil
	}
	return nil, errors.New("no receiver kind")
}

// JournalDir is where the outbox journal lives inside the pager's state directory.
func JournalDir(stateDir string) string { return filepath.Join(stateDir, "outbox") }

// Run follows the brokers and delivers pages until ctx ends. It returns an error only when it cannot
// start (the state directory, the journal, the HTTP address).
func (s *Service) Run(ctx context.Context) error {
	s.started = time.Now()
	dir := s.cfg.Pager.StateDir
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("pager: state_dir: %w", err)
	}
	j, err := journal.Open(JournalDir(dir), journal.Options{MaxSize: int64(s.cfg.Journal.MaxSize), Log: s.log.With("component", "outbox")})
	if err != nil {
		return fmt.Errorf("pager: %w", err)
	}
	s.j = j
	defer j.Close()
	names := []string{stateCursor}
	for _, t := range s.tgts {
		names = append(names, t.name)
	}
	j.SetBrokers(names)
	if err := s.restore(); err != nil {
		return err
	}

	var srv *httpapi.Server
	if s.cfg.Pager.HTTP != "" {
		srv, err = httpapi.Start(s.cfg.Pager.HTTP, s, s.log)
		if err != nil {
			return fmt.Errorf("pager: %w", err)
		}
	}

	rctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, t := range s.tgts {
		t.j, t.reader = j, j.NewReader()
		wg.Add(1)
		go func() { defer wg.Done(); t.run(rctx) }()
	}
	for _, l := range s.links {
		wg.Add(1)
		go func() { defer wg.Done(); s.follow(rctx, l) }()
	}
	s.log.Info("pager started", "id", s.cfg.Pager.ID, "brokers", len(s.links), "receivers", len(s.tgts))
	if cb := s.opt.Started; cb != nil {
		cb()
	}
	s.core(rctx)
	close(s.done)
	cancel()
	wg.Wait()
	s.save()
	if err := j.Checkpoint(); err != nil {
		s.log.Warn("cannot save the outbox cursors", "err", err)
	}
	if srv != nil {
		srv.Close()
	}
	return nil
}

// restore loads the saved book and replays the outbox records written after it.
func (s *Service) restore() error {
	gws, watermark, problem := loadState(s.cfg.Pager.StateDir)
	if problem != nil {
		s.log.Error(problem.Error())
	}
	s.book.gws = gws
	for _, g := range gws {
		for _, t := range g.Alarms {
			t.Eps = compact(t.Eps)
		}
	}
	r := s.j.NewReader()
	after, n := watermark, 0
	for {
		recs, err := r.Read(after, 256, nil)
		if err != nil {
			return fmt.Errorf("pager: replaying the outbox: %w", err)
		}
		if len(recs) == 0 {
			break
		}
		for i := range recs {
			var note notify.Notification
			if json.Unmarshal(recs[i].Data, &note) == nil {
				s.book.replay(&note)
				n++
			}
		}
		after = recs[len(recs)-1].ID
	}
	if n > 0 {
		s.log.Info("restored pages from the outbox journal", "records", n)
	}
	return nil
}

func compact(eps []*episode) []*episode {
	out := eps[:0]
	for _, e := range eps {
		if e != nil {
			out = append(out, e)
		}
	}
	return out
}

// inbound is one thing that happened on a broker connection, for the core goroutine.
type inbound struct {
	broker   int
	kind     string // contract.KindStatus, KindAlarm, KindEvents, KindReading; or "up"/"down" for the link
	gateway  string
	alarm    string
	retained bool
	payload  []byte
	at       time.Time
}

// core is the one goroutine that owns the book: it applies what arrives, journals the notifications
// (durably, before any receiver sees them), and judges gateway health.
func (s *Service) core(ctx context.Context) {
	tick := time.NewTicker(tickEvery)
	defer tick.Stop()
	lastSave := time.Now()
	start, lastIn := time.Now(), time.Now()
	seenUp := make([]bool, len(s.links))
	caught := false
	batch := make([]inbound, 0, maxBatch)
	var pending []notify.Notification
	for {
		batch = batch[:0]
		select {
		case <-ctx.Done():
			return
		case m := <-s.in:
			batch = append(batch, m)
		drain:
			for len(batch) < maxBatch {
				select {
				case m := <-s.in:
					batch = append(batch, m)
				default:
					break drain
				}
			}
		case now := <-tick.C:
			if !caught {
				all := true
				for _, up := range seenUp {
					all = all && up
				}
				if (all || now.Sub(start) >= catchUpMax) && now.Sub(lastIn) >= catchUpQuiet {
					caught = true
					close(s.caughtUp)
					s.log.Debug("caught up with the brokers")
				}
			}
			s.mu.Lock()
			pending = s.judge(now, pending)
			s.book.prune(now)
			s.mu.Unlock()
			if now.Sub(lastSave) >= saveEvery {
				s.save()
				lastSave = now
			}
		}
		if len(batch) > 0 {
			lastIn = time.Now()
			for i := range batch {
				if batch[i].kind == "up" {
					seenUp[batch[i].broker] = true
				}
			}
			s.mu.Lock()
			for i := range batch {
				pending = s.apply(&batch[i], pending)
			}
			s.mu.Unlock()
		}
		if len(pending) > 0 {
			pending = s.enqueue(pending)
		}
	}
}

// enqueue journals notifications and wakes the receivers. On a journal failure they are kept (bounded)
// and tried again at the next tick; /healthz fails meanwhile.
func (s *Service) enqueue(ns []notify.Notification) []notify.Notification {
	recs, err := records(ns)
	if err != nil {
		s.log.Error("cannot encode a notification", "err", err)
	}
	if err := s.j.Append(recs); err != nil {
		s.appendFailures.add(1)
		s.mu.Lock()
		first := s.journalErr == nil
		s.journalErr = err
		s.mu.Unlock()
		if first {
			s.log.Error("cannot write the outbox journal; pages wait in memory until it can", "err", err)
		}
		const maxPending = 10000
		if len(ns) > maxPending {
			s.log.Error("dropping the oldest pending notifications", "dropped", len(ns)-maxPending)
			ns = ns[len(ns)-maxPending:]
		}
		return ns
	}
	s.mu.Lock()
	s.journalErr = nil
	s.mu.Unlock()
	s.queued.add(uint64(len(recs)))
	for i := range ns {
		n := &ns[i]
		s.log.Info("page", "action", n.Action, "page", n.Key, "severity", n.Alarm.Severity, "receivers", n.Receivers, "message", n.Alarm.Message)
	}
	for _, t := range s.tgts {
		t.poke()
	}
	return ns[:0]
}

// apply handles one inbound message. Called with mu held.
func (s *Service) apply(m *inbound, out []notify.Notification) []notify.Notification {
	switch m.kind {
	case "up":
		s.health.connected(m.broker, true, m.at)
		return out
	case "down":
		s.health.connected(m.broker, false, m.at)
		return out
	}
	s.received.add(1)
	if !m.retained {
		s.health.heard(m.broker, m.gateway, m.at)
	}
	switch m.kind {
	case contract.KindStatus:
		st, err := parseStatus(m.payload)
		if err != nil {
			s.invalid.add(1)
			s.log.Debug("ignoring a message", "gateway", m.gateway, "err", err)
			return out
		}
		s.health.status(m.broker, m.gateway, st, m.retained, m.at)
	case contract.KindAlarm, contract.KindEvents:
		if m.kind == contract.KindEvents && contract.IsActionPayload(m.payload) {
			// What the gateway did about an alarm (a relay, a shutdown step): its alarm pages, not this.
			return out
		}
		key := m.alarm
		a, err := parseAlarm(m.gateway, key, m.payload)
		if err != nil {
			s.invalid.add(1)
			s.log.Debug("ignoring a message", "gateway", m.gateway, "err", err)
			return out
		}
		if a == nil {
			return out
		}
		src := fromState
		if m.kind == contract.KindEvents {
			src = fromEvents
		}
		return s.book.observe(a, src, out)
	}
	return out
}

// judge turns the health verdicts into gateway pages. Called with mu held.
func (s *Service) judge(now time.Time, out []notify.Notification) []notify.Notification {
	for _, v := range s.health.judge(now) {
		if !v.known {
			continue
		}
		open := s.book.open(v.gateway, healthKey)
		site := ""
		if g := s.book.gws[v.gateway]; g != nil {
			site = g.Site
		}
		switch {
		case v.down && open == nil:
			ep := v.episode
			if last := s.book.lastEpisode(v.gateway, healthKey); ep <= last {
				ep = last + 1
			}
			a := healthAlarm(v.gateway, site, ep, true, v.why, v.since, now)
			a.Seq = ep
			out = s.book.observe(&a, fromPager, out)
			s.log.Warn("gateway down", "gateway", v.gateway, "why", v.why)
		case !v.down && open != nil:
			a := healthAlarm(v.gateway, site, open.N, false, "", now, now)
			a.Seq = open.N
			out = s.book.observe(&a, fromPager, out)
			s.log.Info("gateway back", "gateway", v.gateway)
		}
	}
	return out
}

// settle makes a notification for a stateful receiver say what is true now: a page resolved since the
// notification was queued is sent resolved.
func (s *Service) settle(n *notify.Notification) {
	if n.Action == notify.Resolve {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.book.gws[n.Alarm.Gateway]
	if g == nil {
		return
	}
	t := g.Alarms[n.Alarm.Key]
	if t == nil {
		return
	}
	if e := t.find(n.Episode); (e != nil && e.State == epResolved) || (e == nil && n.Episode <= t.Floor) {
		n.Action = notify.Resolve
		if e != nil && !e.EndsAt.IsZero() {
			n.EndsAt = e.EndsAt
		} else {
			n.EndsAt = n.Alarm.Time
		}
	}
}

// current is the book's view for a resend.
func (s *Service) current(receiver string) []notify.Notification {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.book.current(receiver, time.Now())
}

// save writes the book when it changed, then lets the journal drop what the file now reflects.
func (s *Service) save() {
	s.mu.Lock()
	if !s.book.dirty {
		s.mu.Unlock()
		return
	}
	// Every notification journaled so far is reflected in the book (the book changes first).
	watermark := s.j.LastID()
	b, err := json.Marshal(stateFile{Version: stateVersion, Watermark: watermark, Saved: time.Now().UTC(), Gateways: s.book.gws})
	s.book.dirty = false
	s.mu.Unlock()
	if err == nil {
		err = saveState(s.cfg.Pager.StateDir, b)
	}
	if err != nil {
		s.log.Error("cannot save the pages' state; the outbox journal keeps what is needed meanwhile", "err", err)
		s.mu.Lock()
		s.book.dirty = true
		s.mu.Unlock()
		return
	}
	s.j.Ack(stateCursor, watermark)
	if err := s.j.Checkpoint(); err != nil {
		s.log.Warn("cannot save the outbox cursors", "err", err)
	}
}
