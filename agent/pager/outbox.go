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
	// resolveHold delays a resolve to PagerDuty this long after the clear. Another replica's trigger for
	// the same episode then lands on the open alert (PagerDuty deduplicates it) instead of opening a new
	// one after the resolve, which would page twice.
	resolveHold = 5 * time.Second
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
	// ready, when set, is closed once the target may start sending (the replica caught up).
	ready <-chan struct{}
	// hold is how long a resolve waits after its trigger was sent (resolveHold for PagerDuty).
	hold time.Duration
	// done holds the records above the cursor already handled (sent past a held resolve), so they are
	// not sent again; triggered when this target sent each page's trigger. Only run's goroutine uses them.
	done      map[uint64]bool
	triggered map[string]time.Time

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

// run delivers the journal's notifications for this receiver, in order for each page, until ctx ends.
func (t *target) run(ctx context.Context) {
	if t.ready != nil {
		select {
		case <-t.ready:
		case <-ctx.Done():
			return
		}
	}
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
		ns, ids, wait := t.due(recs, time.Now())
		if len(ns) == 0 {
			t.advance(recs)
			if wait > 0 {
				sleep(ctx, wait, t.wake)
			}
			continue
		}
		t.sendMu.Lock()
		n, err := t.rcv.Send(ctx, ns)
		t.sendMu.Unlock()
		for i := 0; i < n; i++ {
			t.sent[actionIndex(ns[i].Action)].Add(1)
			t.markDone(&ns[i], ids[i])
		}
		if err == nil {
			t.setErr(nil)
			attempt = 0
			t.advance(recs)
			continue
		}
		if ctx.Err() != nil {
			return
		}
		t.advance(recs)
		t.failures.Add(1)
		t.setErr(err)
		if notify.IsPermanent(err) {
			// Retrying cannot help (a wrong routing key, a malformed request): say so loudly, count it, and
			// go on with the next notification rather than block every later page behind it.
			t.rejected.Add(1)
			t.log.Error("receiver refused a notification; dropping it: check this receiver's configuration",
				"page", ns[n].Key, "action", ns[n].Action, "err", err)
			t.markDone(nil, ids[n])
			t.advance(recs)
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

// due picks the notifications of recs to send now, in order: those for this receiver, not sent yet, and
// not behind a resolve of the same page that is still held. wait is how long until the first held one is
// due (0 when none is held). Records that are not for this receiver are marked done.
func (t *target) due(recs []journal.Record, now time.Time) (ns []notify.Notification, ids []uint64, wait time.Duration) {
	all, allIDs := t.mine(recs)
	mine := make(map[uint64]bool, len(allIDs))
	for _, id := range allIDs {
		mine[id] = true
	}
	for i := range recs {
		if !mine[recs[i].ID] {
			t.markDone(nil, recs[i].ID)
		}
	}
	var blocked map[string]bool
	for i := range all {
		n := &all[i]
		if t.done[allIDs[i]] || blocked[n.Key] {
			continue
		}
		if n.Action == notify.Resolve && t.hold > 0 {
			from := n.Queued
			if at, ok := t.triggered[n.Key]; ok && at.After(from) {
				from = at
			}
			if w := from.Add(t.hold).Sub(now); w > 0 {
				if blocked == nil {
					blocked = map[string]bool{}
				}
				blocked[n.Key] = true
				if wait == 0 || w < wait {
					wait = w
				}
				continue
			}
		}
		ns = append(ns, *n)
		ids = append(ids, allIDs[i])
	}
	return ns, ids, wait
}

// markDone records that record id needs no more sending; n, when not nil, is what was sent.
func (t *target) markDone(n *notify.Notification, id uint64) {
	if t.done == nil {
		t.done = map[uint64]bool{}
		t.triggered = map[string]time.Time{}
	}
	t.done[id] = true
	if n == nil {
		return
	}
	switch n.Action {
	case notify.Trigger:
		t.triggered[n.Key] = time.Now()
	case notify.Resolve:
		delete(t.triggered, n.Key)
	}
}

// advance moves the cursor over the leading records that are done, and forgets them.
func (t *target) advance(recs []journal.Record) {
	var last uint64
	for i := range recs {
		if !t.done[recs[i].ID] {
			break
		}
		last = recs[i].ID
	}
	if last == 0 {
		return
	}
	t.j.Ack(t.name, last)
	for id := range t.done {
		if id <= last {
			delete(t.done, id)
		}
	}
	if len(t.triggered) > 10000 {
		clear(t.triggered) // only a hint for the resolve hold: never let it grow without bound
	}
}

// mine decodes the records addressed to this target's receiver, dropping (and counting) those that
// waited longer than giveUpAfter; ids are the records' ids.
func (t *target) mine(recs []journal.Record) (ns []notify.Notification, ids []uint64) {
	now := time.Now()
	for i := range recs {
		if t.done[recs[i].ID] {
			ns = append(ns, notify.Notification{})
			ids = append(ids, recs[i].ID)
			continue // handled already (sent while a resolve before it was held)
		}
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
