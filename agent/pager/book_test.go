package pager

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/rackwatch/rackwatch/agent/contract"
	"github.com/rackwatch/rackwatch/agent/pager/notify"
)

var t0 = time.Date(2026, 11, 25, 3, 0, 0, 0, time.UTC)

func everyone(*contract.Alarm) []string { return []string{"am"} }

func testBook() *book { return newBook(everyone, func() time.Time { return t0 }) }

// tr is a transition of alarm key on gateway gw.
func tr(gw, key string, seq, episode uint64, state, event string) *contract.Alarm {
	return &contract.Alarm{Gateway: gw, Site: "dc1", Key: key, Rule: strings.Split(key, "/")[0], Severity: contract.Critical,
		State: state, Seq: seq, Episode: episode, Event: event, Since: t0.Add(time.Duration(episode) * time.Second),
		Time: t0.Add(time.Duration(seq) * time.Second), Message: fmt.Sprintf("%s %s", key, event)}
}

func raise(seq uint64) *contract.Alarm {
	return tr("gw1", "h2/room/h2", seq, seq, contract.Active, contract.EventRaise)
}

func clearOf(seq, episode uint64) *contract.Alarm {
	return tr("gw1", "h2/room/h2", seq, episode, contract.Cleared, contract.EventClear)
}

func acked(seq, episode uint64) *contract.Alarm {
	a := tr("gw1", "h2/room/h2", seq, episode, contract.Active, contract.EventAck)
	a.Acked, a.AckedBy = true, "ops"
	return a
}

func actions(ns []notify.Notification) string {
	var s []string
	for _, n := range ns {
		s = append(s, n.Action+" "+n.Key)
	}
	return strings.Join(s, ", ")
}

func TestBookOnePagePerEpisode(t *testing.T) {
	b := testBook()
	steps := []struct {
		a    *contract.Alarm
		src  source
		want string
	}{
		{raise(17), fromEvents, "trigger gw1/h2/room/h2/17"},
		{raise(17), fromEvents, ""}, // the same event from the second broker
		{raise(17), fromState, ""},  // and its retained state
		{acked(18, 17), fromEvents, "acknowledge gw1/h2/room/h2/17"},
		{acked(18, 17), fromState, ""},
		{clearOf(19, 17), fromEvents, "resolve gw1/h2/room/h2/17"},
		{clearOf(19, 17), fromEvents, ""},
		{raise(17), fromEvents, ""}, // a late redelivery of the raise after its clear
		{raise(20), fromEvents, "trigger gw1/h2/room/h2/20"},
		{clearOf(21, 20), fromState, "resolve gw1/h2/room/h2/20"},
	}
	for i, s := range steps {
		if got := actions(b.observe(s.a, s.src, nil)); got != s.want {
			t.Errorf("step %d (%s seq %d): got %q, want %q", i, s.a.Event, s.a.Seq, got, s.want)
		}
	}
	if b.openPages() != 0 {
		t.Errorf("%d pages still open", b.openPages())
	}
}

// A pager that starts (or restarts with a persistent session) gets the retained state first and the
// queued events after it: the episode that happened meanwhile still pages once, and is resolved.
func TestBookRetainedBeforeQueuedEvents(t *testing.T) {
	b := testBook()
	if got := actions(b.observe(clearOf(20, 17), fromState, nil)); got != "" {
		t.Fatalf("a cleared retained state paged: %q", got)
	}
	if got := actions(b.observe(raise(17), fromEvents, nil)); got != "trigger gw1/h2/room/h2/17, resolve gw1/h2/room/h2/17" {
		t.Fatalf("queued raise: %q", got)
	}
	if got := actions(b.observe(clearOf(20, 17), fromEvents, nil)); got != "" {
		t.Fatalf("queued clear paged again: %q", got)
	}
}

// History on the brokers (alarms cleared long before the pager started, republished on every gateway
// reconnect) never pages; an alarm active now does.
func TestBookHistoryDoesNotPage(t *testing.T) {
	b := testBook()
	for i := 0; i < 3; i++ {
		if got := actions(b.observe(clearOf(9, 5), fromState, nil)); got != "" {
			t.Fatalf("history paged: %q", got)
		}
	}
	other := tr("gw1", "smoke/room/smoke", 30, 30, contract.Active, contract.EventRaise)
	if got := actions(b.observe(other, fromState, nil)); got != "trigger gw1/smoke/room/smoke/30" {
		t.Fatalf("active retained state: %q", got)
	}
}

// A newer episode means the open one ended even if its clear never arrived (it is resolved first).
func TestBookNewEpisodeResolvesTheOpenOne(t *testing.T) {
	b := testBook()
	b.observe(raise(3), fromEvents, nil)
	if got := actions(b.observe(raise(9), fromEvents, nil)); got != "resolve gw1/h2/room/h2/3, trigger gw1/h2/room/h2/9" {
		t.Fatalf("got %q", got)
	}
	// And an active snapshot of a newer episode does the same.
	if got := actions(b.observe(raise(12), fromState, nil)); got != "resolve gw1/h2/room/h2/9, trigger gw1/h2/room/h2/12" {
		t.Fatalf("got %q", got)
	}
	// A cleared snapshot of a newer episode resolves the open one and pages nothing new.
	if got := actions(b.observe(clearOf(16, 15), fromState, nil)); got != "resolve gw1/h2/room/h2/12" {
		t.Fatalf("got %q", got)
	}
}

func TestBookShelveAcknowledges(t *testing.T) {
	b := testBook()
	b.observe(raise(3), fromEvents, nil)
	sh := tr("gw1", "h2/room/h2", 4, 3, contract.Active, contract.EventShelve)
	until := t0.Add(time.Hour)
	sh.ShelvedUntil = &until
	if got := actions(b.observe(sh, fromEvents, nil)); got != "acknowledge gw1/h2/room/h2/3" {
		t.Fatalf("shelve: %q", got)
	}
	if got := actions(b.observe(acked(5, 3), fromEvents, nil)); got != "" {
		t.Fatalf("second acknowledgement: %q", got)
	}
}

// A gateway that starts again with a fresh state directory numbers its transitions from 1 again; its new
// alarms must page, not be taken for old duplicates.
func TestBookGatewaySeqReset(t *testing.T) {
	b := testBook()
	b.observe(raise(5000), fromEvents, nil)
	b.observe(clearOf(5001, 5000), fromEvents, nil)
	b.observe(raise(5002), fromEvents, nil)
	// A late duplicate (lower seq, its old time) is ignored.
	if got := actions(b.observe(clearOf(5001, 5000), fromEvents, nil)); got != "" || b.resets != 0 {
		t.Fatalf("late duplicate paged: %q", got)
	}
	fresh := raise(3)
	fresh.Time = t0.Add(6000 * time.Second)
	got := actions(b.observe(fresh, fromEvents, nil))
	if got != "resolve gw1/h2/room/h2/5002, trigger gw1/h2/room/h2/3" || b.resets != 1 {
		t.Fatalf("after a reset: %q (resets %d)", got, b.resets)
	}
}

// The pager's own gateway-health alarm has no place in the gateway's seq: it must not make the gateway's
// next transitions look like a reset (its episode is a time in milliseconds, far above any seq).
func TestBookHealthAlarmLeavesSeqAlone(t *testing.T) {
	b := testBook()
	b.observe(raise(5), fromEvents, nil)
	down := healthAlarm("gw1", "dc1", uint64(t0.UnixMilli()), true, "offline", t0, t0.Add(time.Minute))
	down.Seq = down.Episode
	if got := actions(b.observe(&down, fromPager, nil)); !strings.HasPrefix(got, "trigger gw1/gateway/offline/") {
		t.Fatalf("health page: %q", got)
	}
	c := clearOf(6, 5)
	c.Time = t0.Add(2 * time.Minute)
	if got := actions(b.observe(c, fromEvents, nil)); got != "resolve gw1/h2/room/h2/5" || b.resets != 0 {
		t.Fatalf("gateway's clear after a health page: %q (resets %d)", got, b.resets)
	}
}

func TestBookBoundedAndDeduplicatesBelowTheFloor(t *testing.T) {
	b := testBook()
	for ep := uint64(1); ep <= 40; ep += 2 {
		b.observe(raise(ep), fromEvents, nil)
		b.observe(clearOf(ep+1, ep), fromEvents, nil)
	}
	tr := b.gws["gw1"].Alarms["h2/room/h2"]
	if len(tr.Eps) > maxEpisodes || tr.Floor == 0 {
		t.Fatalf("%d episodes kept, floor %d", len(tr.Eps), tr.Floor)
	}
	if got := actions(b.observe(raise(1), fromEvents, nil)); got != "" {
		t.Fatalf("an old episode paged again: %q", got)
	}
}

func TestBookUnrouted(t *testing.T) {
	b := newBook(func(*contract.Alarm) []string { return nil }, time.Now)
	if got := b.observe(raise(1), fromEvents, nil); len(got) != 0 || b.unrouted != 1 || b.openPages() != 1 {
		t.Fatalf("%v unrouted %d open %d", got, b.unrouted, b.openPages())
	}
	if got := b.observe(clearOf(2, 1), fromEvents, nil); len(got) != 0 || b.openPages() != 0 {
		t.Fatalf("%v", got)
	}
}

// Replaying the journaled notifications into an empty book gives it the state it had: a restarted pager
// neither pages an episode again nor forgets to resolve one.
func TestBookReplay(t *testing.T) {
	b := testBook()
	var ns []notify.Notification
	ns = b.observe(raise(1), fromEvents, ns)
	ns = b.observe(clearOf(2, 1), fromEvents, ns)
	ns = b.observe(raise(3), fromEvents, ns)
	ns = b.observe(acked(4, 3), fromEvents, ns)

	r := testBook()
	for i := range ns {
		r.replay(&ns[i])
	}
	if got := actions(r.observe(clearOf(2, 1), fromEvents, nil)); got != "" {
		t.Errorf("replayed book paged a resolved episode: %q", got)
	}
	if got := actions(r.observe(acked(4, 3), fromState, nil)); got != "" {
		t.Errorf("replayed book acknowledged twice: %q", got)
	}
	if got := actions(r.observe(clearOf(5, 3), fromState, nil)); got != "resolve gw1/h2/room/h2/3" {
		t.Errorf("replayed book did not resolve its open page: %q", got)
	}
}

// Property: whatever the order and the duplication of a gateway's transitions across brokers (events
// and retained states), every episode whose raise or clear arrived on …/events is triggered exactly once
// and, once its clear arrived, resolved exactly once; nothing is ever resolved before it was triggered.
func TestBookProperty(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		// The gateway's history: episodes of one alarm, each raised, maybe acknowledged, cleared.
		var hist []*contract.Alarm
		seq := uint64(0)
		nEp := rapid.IntRange(1, 12).Draw(rt, "episodes")
		for i := 0; i < nEp; i++ {
			seq++
			ep := seq
			hist = append(hist, raise(ep))
			if rapid.Bool().Draw(rt, "ack") {
				seq++
				hist = append(hist, acked(seq, ep))
			}
			seq++
			hist = append(hist, clearOf(seq, ep))
		}
		// Each broker delivers the events in order, possibly twice, and the pager's intake interleaves the
		// brokers arbitrarily; retained states (the latest at some moment) arrive at random points.
		type msg struct {
			a   *contract.Alarm
			src source
		}
		var streams [2][]msg
		for bi := range streams {
			for _, a := range hist {
				streams[bi] = append(streams[bi], msg{a, fromEvents})
				if rapid.IntRange(0, 4).Draw(rt, "dup") == 0 {
					streams[bi] = append(streams[bi], msg{a, fromEvents})
				}
				if rapid.IntRange(0, 3).Draw(rt, "state") == 0 {
					streams[bi] = append(streams[bi], msg{a, fromState})
				}
			}
		}
		b := testBook()
		triggers, resolves := map[string]int{}, map[string]int{}
		i0, i1 := 0, 0
		for i0 < len(streams[0]) || i1 < len(streams[1]) {
			var m msg
			if i1 >= len(streams[1]) || (i0 < len(streams[0]) && rapid.Bool().Draw(rt, "which")) {
				m = streams[0][i0]
				i0++
			} else {
				m = streams[1][i1]
				i1++
			}
			for _, n := range b.observe(m.a, m.src, nil) {
				switch n.Action {
				case notify.Trigger:
					triggers[n.Key]++
				case notify.Resolve:
					if triggers[n.Key] == 0 {
						rt.Fatalf("%s resolved before it was triggered", n.Key)
					}
					resolves[n.Key]++
				}
			}
		}
		for _, a := range hist {
			if a.Event != contract.EventRaise {
				continue
			}
			k := notify.PageKey("gw1", a.Key, a.Episode)
			if triggers[k] != 1 || resolves[k] != 1 {
				rt.Fatalf("episode %d: %d triggers, %d resolves", a.Episode, triggers[k], resolves[k])
			}
		}
	})
}

// An alarm that changes while shelved on its gateway publishes suppressed events: they page nobody and
// resolve nothing. The unshelve pages the episode if it is still active (once, whatever came before), and
// pages nothing if it rose and went while shelved; an open page shelved meanwhile is resolved by the
// unshelve of the cleared alarm, not by the suppressed clear.
func TestBookSuppressed(t *testing.T) {
	const k = "h2/room/h2"
	sup := func(seq, episode uint64, state string) *contract.Alarm {
		a := tr("gw1", k, seq, episode, state, contract.EventSuppressed)
		until := t0.Add(time.Hour)
		a.ShelvedUntil, a.ShelvedBy = &until, "bob"
		return a
	}
	unshelve := func(seq, episode uint64, state string) *contract.Alarm {
		return tr("gw1", k, seq, episode, state, contract.EventUnshelv)
	}
	shelve := func(seq, episode uint64, state string) *contract.Alarm {
		a := tr("gw1", k, seq, episode, state, contract.EventShelve)
		until := t0.Add(time.Hour)
		a.ShelvedUntil, a.ShelvedBy = &until, "bob"
		return a
	}
	b := testBook()
	for i, s := range []struct {
		a    *contract.Alarm
		src  source
		want string
	}{
		{sup(5, 5, contract.Active), fromEvents, ""}, // rose while shelved
		{sup(5, 5, contract.Active), fromState, ""},  // its retained state
		{sup(6, 5, contract.Cleared), fromEvents, ""},
		{sup(7, 7, contract.Active), fromEvents, ""}, // rose again
		{unshelve(8, 7, contract.Active), fromEvents, "trigger gw1/h2/room/h2/7"},
		{unshelve(8, 7, contract.Active), fromState, ""},
		{clearOf(9, 7), fromEvents, "resolve gw1/h2/room/h2/7"},
		{sup(11, 11, contract.Active), fromEvents, ""}, // shelved again (seq 10), rose, went, shelve ended
		{sup(12, 11, contract.Cleared), fromEvents, ""},
		{unshelve(13, 11, contract.Cleared), fromEvents, ""},
		{raise(14), fromEvents, "trigger gw1/h2/room/h2/14"}, // paged, then shelved while active
		{shelve(15, 14, contract.Active), fromEvents, "acknowledge gw1/h2/room/h2/14"},
		{sup(16, 14, contract.Cleared), fromEvents, ""}, // went while shelved: the page stays until the unshelve
		{unshelve(17, 14, contract.Cleared), fromEvents, "resolve gw1/h2/room/h2/14"},
	} {
		if got := actions(b.observe(s.a, s.src, nil)); got != s.want {
			t.Errorf("step %d (%s %s seq %d): got %q, want %q", i, s.a.Event, s.a.State, s.a.Seq, got, s.want)
		}
	}
	if suppressedCount(b) != 7 || b.openPages() != 0 {
		t.Fatalf("suppressed %d, open %d", suppressedCount(b), b.openPages())
	}
}

func suppressedCount(b *book) uint64 { return b.suppressed }
