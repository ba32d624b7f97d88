package pager

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rackwatch/rackwatch/agent/journal"
	"github.com/rackwatch/rackwatch/agent/pager/notify"
)

// Delivery policy; variables so that tests can shrink them.
var (
	retryBase = time.Second
	retryMax  = time.Minute
	// giveUpAfter bounds how long a notification is retried: one that could not be delivered for a day
	// is dropped and counted (rackwatch_pager_notifications_dropped_total{reason="expired"}).
	giveUpAfter = 24 * time.Hour
	// idleCheck is how often a target looks at the journal without being woken.
	idleCheck = 5 * time.Second
	readBatch = 64
)

// stateCursor is the journal cursor that holds records not yet reflected in the saved state file.
const stateCursor = "state"

// target is one receiver endpoint with its own cursor in the outbox journal: a receiver that is down only
// delays itself. An Alertmanager receiver with several URLs has one target per URL.
type target struct {
	name     string // the journal cursor's name: unique per endpoint
	receiver string // the receiver's name in the config (what routes name)
	kind     string
	endpoint string
	rcv      notify.Receiver
	// resend > 0: the receiver keeps state (Alertmanager) and is sent the current pages that often.
	resend  time.Duration
	current func(receiver string) []notify.Notification // the book's view, for resends
	// settle maps a notification to what the receiver should be told now (for Alertmanager: a page that
	// has been resolved since is sent resolved, so a backlog never re-fires an alert).
	settle func(n *notify.Notification)

	j      *journal.Journal
	reader *journal.Reader
	log    *slog.Logger
	wake   chan struct{}
	sendMu sync.Mutex // one request at a time: a resend never overtakes the journal

	sent                                          [3]atomic.Uint64 // trigger, acknowledge, resolve
	failures, retries, rejected, expired, resends atomic.Uint64
	resendFailures                                atomic.Uint64
	up                                            atomic.Bool
	lastOK                                        atomic.Int64 // unix seconds
	acked                                         atomic.Uint64
	mu                                            sync.Mutex
	lastErr                                       error
}

func actionIndex(a string) int {
	switch a {
	case notify.Trigger:
		return 0
	case notify.Acknowledge:
		return 1
	}
	return 2
}

func (t *target) poke() {
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

func (t *target) setErr(err error) {
	t.mu.Lock()
	t.lastErr = err
	t.mu.Unlock()
	t.up.Store(err == nil)
	if err == nil {
		t.lastOK.Store(time.Now().Unix())
	}
}

func (t *target) err() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.lastErr
}

// run delivers the journal's notifications for this receiver, in order, until ctx ends.
func (t *target) run(ctx context.Context) {
	if t.resend > 0 {
		go t.resender(ctx)
	}
	var buf []journal.Record
	attempt := 0
	for ctx.Err() == nil {
		cur, _ := t.j.Cursor(t.name)
		t.acked.Store(cur)
		recs, err := t.reader.Read(cur, readBatch, buf[:0])
		buf = recs
		if err != nil {
			t.log.Error("cannot read the outbox journal", "err", err)
			sleep(ctx, time.Second, nil)
			continue
		}
		if len(recs) == 0 {
			sleep(ctx, idleCheck, t.wake)
			continue
		}
		ns, ids := t.mine(recs)
		if len(ns) == 0 {
			t.j.Ack(t.name, recs[len(recs)-1].ID)
			continue
		}
		t.sendMu.Lock()
		n, err := t.rcv.Send(ctx, ns)
		t.sendMu.Unlock()
		for i := 0; i < n; i++ {
			t.sent[actionIndex(ns[i].Action)].Add(1)
		}
		if err == nil {
			t.setErr(nil)
			attempt = 0
			t.j.Ack(t.name, recs[len(recs)-1].ID)
			continue
		}
		if ctx.Err() != nil {
			return
		}
		if n > 0 {
			t.j.Ack(t.name, ids[n]-1) // everything before the one that failed
		}
		t.failures.Add(1)
		t.setErr(err)
		if notify.IsPermanent(err) {
			// Retrying cannot help (a wrong routing key, a malformed request): say so loudly, count it, and
			// go on with the next notification rather than block every later page behind it.
			t.rejected.Add(1)
			t.log.Error("receiver refused a notification; dropping it: check this receiver's configuration",
				"page", ns[n].Key, "action", ns[n].Action, "err", err)
			t.j.Ack(t.name, ids[n])
			attempt = 0
			continue
		}
		t.retries.Add(1)
		delay := backoff(attempt, retryBase, retryMax)
		delay = delay/2 + rand.N(delay/2+1)
		if ra := notify.RetryAfter(err); ra > delay {
			delay = ra
		}
		if attempt == 0 || attempt%10 == 0 {
			t.log.Warn("receiver unreachable or busy; retrying", "page", ns[n].Key, "attempt", attempt+1, "retry_in", delay.Round(time.Millisecond), "err", err)
		}
		attempt++
		sleep(ctx, delay, nil)
	}
}

// mine decodes the records addressed to this target's receiver, dropping (and counting) those that
// waited longer than giveUpAfter; ids are the records' ids.
func (t *target) mine(recs []journal.Record) (ns []notify.Notification, ids []uint64) {
	now := time.Now()
	for i := range recs {
		var n notify.Notification
		if err := json.Unmarshal(recs[i].Data, &n); err != nil {
			t.log.Error("skipping an unreadable outbox record", "id", recs[i].ID, "err", err)
			continue
		}
		if !n.For(t.receiver) {
			continue
		}
		if now.Sub(n.Queued) > giveUpAfter {
			t.expired.Add(1)
			t.log.Error("giving up on a notification that could not be delivered", "page", n.Key, "action", n.Action, "queued", n.Queued)
			continue
		}
		if t.settle != nil {
			t.settle(&n)
		}
		ns = append(ns, n)
		ids = append(ids, recs[i].ID)
	}
	return ns, ids
}

// resender sends the current pages every t.resend, as Alertmanager expects of its clients.
func (t *target) resender(ctx context.Context) {
	tick := time.NewTicker(t.resend)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		t.sendMu.Lock()
		ns := t.current(t.receiver)
		var err error
		for len(ns) > 0 && err == nil {
			chunk := ns[:min(len(ns), 1000)]
			_, err = t.rcv.Send(ctx, chunk)
			ns = ns[len(chunk):]
		}
		t.sendMu.Unlock()
		if err != nil {
			t.resendFailures.Add(1)
			t.setErr(err)
			continue
		}
		t.resends.Add(1)
	}
}

// sleep waits d, or until wake fires or ctx ends.
func sleep(ctx context.Context, d time.Duration, wake <-chan struct{}) {
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
	case <-tm.C:
	case <-wake:
	}
}

// backoff doubles from base up to max for the n-th retry (n from 0).
func backoff(n int, base, max time.Duration) time.Duration {
	d := base
	for i := 0; i < n && d < max; i++ {
		d *= 2
	}
	return min(d, max)
}

// records turns notifications into journal records, keyed by page (under pressure the journal keeps the
// latest change of each page).
func records(ns []notify.Notification) ([]journal.Record, error) {
	recs := make([]journal.Record, 0, len(ns))
	var errs []error
	for i := range ns {
		b, err := json.Marshal(&ns[i])
		if err != nil {
			errs = append(errs, err)
			continue
		}
		recs = append(recs, journal.Record{Time: ns[i].Queued, Key: ns[i].Key, Data: b})
	}
	return recs, errors.Join(errs...)
}
