package pager

import (
	"slices"
	"time"

	"github.com/rackwatch/rackwatch/agent/contract"
	"github.com/rackwatch/rackwatch/agent/pager/notify"
)

// An episode is one active period of one alarm of one gateway: the unit of a page.
type epState uint8

const (
	// epQuiet: seen only as an alarm-state snapshot that was already cleared (history from before the
	// pager followed this gateway). It pages only if a transition of it arrives on …/events later.
	epQuiet epState = iota + 1
	// epOpen: triggered, not resolved.
	epOpen
	// epResolved: triggered and resolved; later messages about it are duplicates.
	epResolved
)

type episode struct {
	N     uint64  `json:"n"`
	State epState `json:"s"`
	// Acked: the acknowledgement was notified.
	Acked    bool      `json:"a,omitempty"`
	StartsAt time.Time `json:"t,omitzero"`
	EndsAt   time.Time `json:"e,omitzero"`
	// Alarm is the latest alarm object of an open episode (Alertmanager re-sends it), and of a resolved
	// one for resolvedKeep after it ended.
	Alarm *contract.Alarm `json:"alarm,omitempty"`
	// Receivers the episode's trigger went to: its acknowledgement and resolve go to the same ones even if
	// the routes changed in between.
	Receivers []string `json:"r,omitempty"`
}

// alarmTrack is what the pager remembers of one alarm: a few recent episodes, and a floor below which
// every episode is over.
type alarmTrack struct {
	Floor uint64     `json:"floor,omitempty"`
	Eps   []*episode `json:"eps"`
}

// gatewayTrack is what the pager remembers of one gateway.
type gatewayTrack struct {
	Site string `json:"site,omitempty"`
	// MaxSeq and MaxSeqTime are the highest transition seen on …/events and its time: a transition with
	// a lower seq but a later time means the gateway started again with a fresh state directory.
	MaxSeq     uint64                 `json:"max_seq,omitempty"`
	MaxSeqTime time.Time              `json:"max_seq_time,omitzero"`
	Alarms     map[string]*alarmTrack `json:"alarms"`
}

const (
	// maxEpisodes bounds the episodes remembered per alarm; older ones fall under the floor.
	maxEpisodes = 8
	// resolvedKeep is how long a resolved page is still re-sent to Alertmanager (as Prometheus does), so
	// that an Alertmanager that restarted in between still learns that it ended.
	resolvedKeep = 15 * time.Minute
)

// book is the pager's knowledge of every gateway's alarms: which episodes it paged, acknowledged and
// resolved. It turns the alarm objects arriving from any broker, in any order and any number of times,
// into exactly one trigger per episode, at most one acknowledgement, and one resolve. It does no I/O.
type book struct {
	gws   map[string]*gatewayTrack
	route func(a *contract.Alarm) []string
	now   func() time.Time
	dirty bool

	duplicates, resets, unrouted, suppressed uint64
}

func newBook(route func(*contract.Alarm) []string, now func() time.Time) *book {
	return &book{gws: map[string]*gatewayTrack{}, route: route, now: now}
}

func (b *book) gateway(id string) *gatewayTrack {
	g := b.gws[id]
	if g == nil {
		g = &gatewayTrack{Alarms: map[string]*alarmTrack{}}
		b.gws[id] = g
	}
	return g
}

func (t *alarmTrack) find(n uint64) *episode {
	for _, e := range t.Eps {
		if e.N == n {
			return e
		}
	}
	return nil
}

// Where an alarm object comes from.
type source uint8

const (
	// fromEvents: …/events, a transition that just happened.
	fromEvents source = iota + 1
	// fromState: an alarm-state topic (retained, or republished after a gateway reconnects), which proves
	// the alarm's current state but not that anything just happened.
	fromState
	// fromPager: the pager's own gateway-health alarm; a transition, but not in the gateway's seq.
	fromPager
)

// observe applies one alarm object and appends the notifications it causes to out.
func (b *book) observe(a *contract.Alarm, src source, out []notify.Notification) []notify.Notification {
	if a.Episode == 0 {
		return out // an alarm that was never raised
	}
	g := b.gateway(a.Gateway)
	if a.Site != "" && g.Site != a.Site {
		g.Site = a.Site
		b.dirty = true
	}
	if src == fromEvents {
		if a.Seq < g.MaxSeq && a.Time.After(g.MaxSeqTime) {
			// A lower seq with a later time is not a late duplicate (those carry their old time): the
			// gateway's seq started again, so everything remembered about its episodes is about another
			// numbering. Forget it, and resolve what was open, or the new episodes would be taken for old.
			b.resets++
			out = b.forget(g, a.Time, out)
			g.MaxSeq = 0
		}
		if a.Seq >= g.MaxSeq {
			g.MaxSeq, g.MaxSeqTime = a.Seq, a.Time
			b.dirty = true
		}
	}
	t := g.Alarms[a.Key]
	if t == nil {
		t = &alarmTrack{}
		g.Alarms[a.Key] = t
	}
	if a.Episode <= t.Floor {
		b.duplicates++
		return out
	}
	if a.Event == contract.EventSuppressed {
		// A change while the alarm is shelved on the gateway (an operator shelved it for maintenance): it
		// pages nobody and resolves nothing. The unshelve (command or expiry) publishes the state again,
		// and that is paged or resolved as usual, once per episode.
		b.suppressed++
		return out
	}
	active := a.State == contract.Active
	e := t.find(a.Episode)
	if e == nil {
		// An episode newer than what is open means the open one ended (its clear was missed).
		for _, o := range t.Eps {
			if o.State == epOpen && o.N < a.Episode {
				out = b.resolve(o, a.Time, out)
			}
		}
		e = &episode{N: a.Episode}
		t.Eps = append(t.Eps, e)
		slices.SortFunc(t.Eps, func(x, y *episode) int { return cmpU(x.N, y.N) })
		b.trim(t)
		b.dirty = true
		if (src == fromState || a.Event == contract.EventUnshelv) && !active {
			// History, or an alarm that rose and went while it was shelved: nothing to page.
			e.State = epQuiet
			return out
		}
		out = b.trigger(e, a, out)
		if !active {
			return b.resolve(e, a.Time, out)
		}
		if a.Acked || a.ShelvedUntil != nil {
			out = b.ack(e, a, out)
		}
		return out
	}
	switch e.State {
	case epResolved:
		b.duplicates++
	case epQuiet:
		if src == fromState {
			b.duplicates++
			return out
		}
		// A transition of an episode known only from a cleared snapshot: it happened while this pager was
		// not listening, and it is over. Page it late, and resolve it at once.
		out = b.trigger(e, a, out)
		out = b.resolve(e, a.Time, out)
	case epOpen:
		if a.Seq >= e.Alarm.Seq {
			e.Alarm = clone(a)
		}
		switch {
		case !active:
			out = b.resolve(e, a.Time, out)
		case (a.Acked || a.ShelvedUntil != nil) && !e.Acked:
			out = b.ack(e, a, out)
		}
	}
	return out
}

// forget resolves every open episode of g and forgets its alarms.
func (b *book) forget(g *gatewayTrack, at time.Time, out []notify.Notification) []notify.Notification {
	for _, t := range g.Alarms {
		for _, e := range t.Eps {
			if e.State == epOpen {
				out = b.resolve(e, at, out)
			}
		}
	}
	g.Alarms = map[string]*alarmTrack{}
	b.dirty = true
	return out
}

// trim keeps at most maxEpisodes per alarm; the oldest episodes that are over go under the floor.
func (b *book) trim(t *alarmTrack) {
	for len(t.Eps) > maxEpisodes {
		i := slices.IndexFunc(t.Eps, func(e *episode) bool { return e.State != epOpen })
		if i < 0 {
			return
		}
		t.Floor = max(t.Floor, t.Eps[i].N)
		t.Eps = slices.Delete(t.Eps, i, i+1)
	}
}

func (b *book) trigger(e *episode, a *contract.Alarm, out []notify.Notification) []notify.Notification {
	e.State, e.Alarm, e.StartsAt = epOpen, clone(a), a.Since
	if a.State != contract.Active || e.StartsAt.IsZero() {
		// Paged late (its raise was missed): it started no later than this transition.
		e.StartsAt = a.Time
	}
	e.Receivers = b.route(a)
	b.dirty = true
	if len(e.Receivers) == 0 {
		b.unrouted++
		return out
	}
	return append(out, b.note(notify.Trigger, e))
}

func (b *book) ack(e *episode, a *contract.Alarm, out []notify.Notification) []notify.Notification {
	e.Acked = true
	b.dirty = true
	if len(e.Receivers) == 0 {
		return out
	}
	return append(out, b.note(notify.Acknowledge, e))
}

func (b *book) resolve(e *episode, at time.Time, out []notify.Notification) []notify.Notification {
	e.State, e.EndsAt = epResolved, at
	if at.Before(e.StartsAt) {
		e.EndsAt = e.StartsAt
	}
	b.dirty = true
	if len(e.Receivers) == 0 {
		return out
	}
	return append(out, b.note(notify.Resolve, e))
}

func (b *book) note(action string, e *episode) notify.Notification {
	n := notify.Notification{Action: action, Key: notify.PageKey(e.Alarm.Gateway, e.Alarm.Key, e.N), Episode: e.N,
		Alarm: *e.Alarm, StartsAt: e.StartsAt, Receivers: e.Receivers, Queued: b.now()}
	if action == notify.Resolve {
		n.EndsAt = e.EndsAt
	}
	return n
}

// replay applies a notification read back from the journal at start: the state it records is at least
// as new as the saved state file.
func (b *book) replay(n *notify.Notification) {
	a := &n.Alarm
	g := b.gateway(a.Gateway)
	t := g.Alarms[a.Key]
	if t == nil {
		t = &alarmTrack{}
		g.Alarms[a.Key] = t
	}
	if n.Episode <= t.Floor {
		return
	}
	e := t.find(n.Episode)
	if e == nil {
		e = &episode{N: n.Episode}
		t.Eps = append(t.Eps, e)
		slices.SortFunc(t.Eps, func(x, y *episode) int { return cmpU(x.N, y.N) })
	}
	e.Alarm, e.StartsAt, e.Receivers = clone(a), n.StartsAt, n.Receivers
	switch n.Action {
	case notify.Trigger:
		if e.State != epResolved {
			e.State = epOpen
		}
	case notify.Acknowledge:
		e.Acked = true
		if e.State != epResolved {
			e.State = epOpen
		}
	case notify.Resolve:
		e.State, e.EndsAt = epResolved, n.EndsAt
	}
	b.trim(t)
	b.dirty = true
}

// open returns the open episode of the alarm, if any.
func (b *book) open(gateway, key string) *episode {
	if g := b.gws[gateway]; g != nil {
		if t := g.Alarms[key]; t != nil {
			for _, e := range t.Eps {
				if e.State == epOpen {
					return e
				}
			}
		}
	}
	return nil
}

// lastEpisode is the highest episode remembered of the alarm (0 when none).
func (b *book) lastEpisode(gateway, key string) uint64 {
	if g := b.gws[gateway]; g != nil {
		if t := g.Alarms[key]; t != nil {
			if n := len(t.Eps); n > 0 {
				return t.Eps[n-1].N
			}
			return t.Floor
		}
	}
	return 0
}

// current lists what Alertmanager should be told again now: the open pages for receiver, and those
// resolved in the last resolvedKeep.
func (b *book) current(receiver string, now time.Time) []notify.Notification {
	var out []notify.Notification
	for _, g := range b.gws {
		for _, t := range g.Alarms {
			for _, e := range t.Eps {
				if e.Alarm == nil || !slices.Contains(e.Receivers, receiver) {
					continue
				}
				switch e.State {
				case epOpen:
					n := b.note(notify.Trigger, e)
					n.Queued = now
					out = append(out, n)
				case epResolved:
					if now.Sub(e.EndsAt) < resolvedKeep {
						n := b.note(notify.Resolve, e)
						n.Queued = now
						out = append(out, n)
					}
				}
			}
		}
	}
	return out
}

// prune drops the alarm objects of pages resolved longer ago than resolvedKeep (the episode numbers stay,
// to recognise duplicates).
func (b *book) prune(now time.Time) {
	for _, g := range b.gws {
		for _, t := range g.Alarms {
			for _, e := range t.Eps {
				if e.State != epOpen && e.Alarm != nil && now.Sub(e.EndsAt) >= resolvedKeep {
					e.Alarm, e.Receivers = nil, nil
					b.dirty = true
				}
			}
		}
	}
}

// openPages counts the open pages, for /metrics.
func (b *book) openPages() (n int) {
	for _, g := range b.gws {
		for _, t := range g.Alarms {
			for _, e := range t.Eps {
				if e.State == epOpen {
					n++
				}
			}
		}
	}
	return n
}

func clone(a *contract.Alarm) *contract.Alarm {
	c := *a
	return &c
}

func cmpU(x, y uint64) int {
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}
