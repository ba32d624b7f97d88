package pager

import (
	"fmt"
	"time"

	"github.com/rackwatch/rackwatch/agent/contract"
)

// The gateway-health page is an alarm of the pager's own making, kept in the book like any other. Its key
// has two parts, which no gateway alarm key can have, so it never collides with a gateway's rule.
const (
	healthKey  = "gateway/offline"
	healthRule = "gateway-offline"
)

// view is what one broker says about one gateway.
type view struct {
	status     string    // contract.Online, contract.Offline, or "" when unknown
	statusTime time.Time // the status payload's time
	heard      time.Time // when a live (not retained) message from the gateway last arrived
}

type gwHealth struct {
	views []view // per broker
	// notOnline is when the pager first saw the gateway not online on any connected broker; zero while it
	// is online somewhere.
	notOnline time.Time
}

// health judges whether each gateway is alive from what the brokers say: its retained status (and Last
// Will), and whether anything at all arrives from it. It does no I/O and keeps no clock of its own.
type health struct {
	grace, silent time.Duration
	brokers       []brokerLink
	gws           map[string]*gwHealth
}

// brokerLink is the pager's own connection to one broker: a broker it is not connected to says nothing
// about any gateway.
type brokerLink struct {
	up    bool
	since time.Time // when the current connection was made
}

func newHealth(brokers int, grace, silent time.Duration) *health {
	return &health{grace: grace, silent: silent, brokers: make([]brokerLink, brokers), gws: map[string]*gwHealth{}}
}

func (h *health) gw(id string) *gwHealth {
	g := h.gws[id]
	if g == nil {
		g = &gwHealth{views: make([]view, len(h.brokers))}
		h.gws[id] = g
	}
	return g
}

func (h *health) connected(broker int, up bool, at time.Time) {
	h.brokers[broker] = brokerLink{up: up, since: at}
}

// status records a gateway's status on a broker; nil means the retained status was deleted (an operator
// retiring the gateway).
func (h *health) status(broker int, gateway string, s *contract.Status, retained bool, at time.Time) {
	if s == nil {
		if g := h.gws[gateway]; g != nil {
			g.views[broker] = view{}
			for _, v := range g.views {
				if v.status != "" {
					return
				}
			}
			delete(h.gws, gateway)
		}
		return
	}
	g := h.gw(gateway)
	v := &g.views[broker]
	v.status, v.statusTime = s.State, s.At()
	if !retained {
		v.heard = at
	}
}

// heard records a live message from a gateway.
func (h *health) heard(broker int, gateway string, at time.Time) {
	if g := h.gws[gateway]; g != nil {
		g.views[broker].heard = at
		return
	}
	h.gw(gateway).views[broker].heard = at
}

// verdict is the judgement on one gateway.
type verdict struct {
	gateway string
	// known: some connected broker has a status for it (otherwise nothing can be said).
	known bool
	down  bool
	// why says what is wrong, for the page's message.
	why string
	// episode identifies this outage the same way on every replica: the latest status time the brokers
	// hold for the gateway (its connection time, which its Last Will carries too), in milliseconds.
	episode uint64
	since   time.Time
}

// judge returns a verdict for every gateway known at now.
func (h *health) judge(now time.Time) []verdict {
	anyUp := false
	for _, b := range h.brokers {
		anyUp = anyUp || b.up
	}
	out := make([]verdict, 0, len(h.gws))
	for id, g := range h.gws {
		v := verdict{gateway: id}
		if !anyUp {
			out = append(out, v) // the pager hears nothing at all: it cannot judge anyone
			continue
		}
		online, silentAll := false, true
		var latest time.Time
		var lastHeard time.Time
		for i, bv := range g.views {
			b := h.brokers[i]
			if !b.up || bv.status == "" {
				continue
			}
			v.known = true
			if bv.statusTime.After(latest) {
				latest = bv.statusTime
			}
			if bv.status == contract.Online {
				online = true
			}
			ref := bv.heard
			if b.since.After(ref) {
				ref = b.since // the pager was not listening before it connected
			}
			if ref.After(lastHeard) {
				lastHeard = ref
			}
			if h.silent <= 0 || now.Sub(ref) < h.silent {
				silentAll = false
			}
		}
		if !v.known {
			out = append(out, v)
			continue
		}
		if !latest.IsZero() {
			v.episode = uint64(latest.UnixMilli())
		}
		switch {
		case !online:
			if g.notOnline.IsZero() {
				g.notOnline = now
			}
			if now.Sub(g.notOnline) >= h.grace {
				v.down, v.since = true, g.notOnline
				v.why = fmt.Sprintf("offline: its status has said offline since %s (connection lost or shut down); no alarm can arrive from it",
					g.notOnline.UTC().Format(contract.TimeFormat))
			}
		case silentAll:
			g.notOnline = time.Time{}
			v.down, v.since = true, lastHeard
			v.why = fmt.Sprintf("silent: its status says online but nothing has arrived from it for %s (since %s); it may be hung or cut off",
				now.Sub(lastHeard).Truncate(time.Second), lastHeard.UTC().Format(contract.TimeFormat))
		default:
			g.notOnline = time.Time{}
		}
		out = append(out, v)
	}
	return out
}

// healthAlarm is the alarm object of a gateway-health page.
func healthAlarm(gateway, site string, episode uint64, down bool, why string, since, now time.Time) contract.Alarm {
	a := contract.Alarm{Gateway: gateway, Site: site, Key: healthKey, Rule: healthRule, Severity: contract.Critical,
		State: contract.Cleared, Since: since, Time: now, Episode: episode, Event: contract.EventClear,
		Message: "gateway " + gateway + " is back", Labels: map[string]string{}}
	if down {
		a.State, a.Event = contract.Active, contract.EventRaise
		a.Message = "gateway " + gateway + " " + why
	}
	return a
}
