package pager

import (
	"strings"
	"testing"
	"time"

	"github.com/rackwatch/rackwatch/agent/contract"
)

func status(state string, at time.Time) *contract.Status {
	return &contract.Status{State: state, Version: "1", Time: at.UTC().Format(contract.TimeFormat)}
}

func verdictOf(h *health, gw string, now time.Time) verdict {
	for _, v := range h.judge(now) {
		if v.gateway == gw {
			return v
		}
	}
	return verdict{}
}

func TestHealthOfflineAfterGrace(t *testing.T) {
	h := newHealth(1, time.Minute, 5*time.Minute)
	h.connected(0, true, t0)
	h.status(0, "gw1", status(contract.Online, t0), false, t0)
	if v := verdictOf(h, "gw1", t0.Add(time.Second)); !v.known || v.down {
		t.Fatalf("online gateway: %+v", v)
	}
	// Its Last Will: offline, carrying the time its connection was made.
	h.status(0, "gw1", status(contract.Offline, t0), false, t0.Add(10*time.Second))
	if v := verdictOf(h, "gw1", t0.Add(11*time.Second)); v.down {
		t.Fatalf("down before the grace: %+v", v)
	}
	v := verdictOf(h, "gw1", t0.Add(71*time.Second))
	if !v.down || !strings.HasPrefix(v.why, "offline") || v.episode != uint64(t0.UnixMilli()) || !v.since.Equal(t0.Add(11*time.Second)) {
		t.Fatalf("after the grace: %+v", v)
	}
	// Back: a new online status.
	h.status(0, "gw1", status(contract.Online, t0.Add(2*time.Minute)), false, t0.Add(2*time.Minute))
	if v := verdictOf(h, "gw1", t0.Add(2*time.Minute)); v.down {
		t.Fatalf("back online but down: %+v", v)
	}
}

// A gateway that lost one of its brokers is not dead: it still delivers through the other.
func TestHealthOneBrokerEnough(t *testing.T) {
	h := newHealth(2, time.Second, 0)
	h.connected(0, true, t0)
	h.connected(1, true, t0)
	h.status(0, "gw1", status(contract.Offline, t0), false, t0)
	h.status(1, "gw1", status(contract.Online, t0), false, t0)
	if v := verdictOf(h, "gw1", t0.Add(time.Hour)); v.down {
		t.Fatalf("online on one broker but down: %+v", v)
	}
	// The pager losing broker 1 does not make the gateway dead there: broker 1 says nothing now, and
	// broker 0 alone says offline.
	h.connected(1, false, t0.Add(time.Minute))
	verdictOf(h, "gw1", t0.Add(time.Minute)) // the pager judges every second
	if v := verdictOf(h, "gw1", t0.Add(time.Hour)); !v.down {
		t.Fatalf("offline on the only followed broker: %+v", v)
	}
}

// A pager that follows no broker hears nothing, and judges nobody.
func TestHealthNoJudgementWhenDeaf(t *testing.T) {
	h := newHealth(1, time.Second, time.Minute)
	h.connected(0, true, t0)
	h.status(0, "gw1", status(contract.Online, t0), false, t0)
	h.connected(0, false, t0.Add(time.Second))
	if v := verdictOf(h, "gw1", t0.Add(time.Hour)); v.known || v.down {
		t.Fatalf("judged while deaf: %+v", v)
	}
}

func TestHealthSilent(t *testing.T) {
	h := newHealth(1, time.Minute, 5*time.Minute)
	h.connected(0, true, t0)
	// A retained online status is not a sign of life: the gateway may have died without a Will yet.
	h.status(0, "gw1", status(contract.Online, t0.Add(-time.Hour)), true, t0)
	if v := verdictOf(h, "gw1", t0.Add(4*time.Minute)); v.down {
		t.Fatalf("silent before silent_after since the pager connected: %+v", v)
	}
	v := verdictOf(h, "gw1", t0.Add(5*time.Minute))
	if !v.down || !strings.HasPrefix(v.why, "silent") {
		t.Fatalf("silent gateway: %+v", v)
	}
	h.heard(0, "gw1", t0.Add(6*time.Minute))
	if v := verdictOf(h, "gw1", t0.Add(6*time.Minute)); v.down {
		t.Fatalf("heard again but down: %+v", v)
	}
	// silent_after 0 turns the check off.
	off := newHealth(1, time.Minute, 0)
	off.connected(0, true, t0)
	off.status(0, "gw1", status(contract.Online, t0), true, t0)
	if v := verdictOf(off, "gw1", t0.Add(24*time.Hour)); v.down {
		t.Fatalf("silence checked with silent_after 0: %+v", v)
	}
}

// Deleting a gateway's retained status (retiring it) forgets it: no page for a gateway that is gone on
// purpose.
func TestHealthRetired(t *testing.T) {
	h := newHealth(1, time.Second, 0)
	h.connected(0, true, t0)
	h.status(0, "gw1", status(contract.Offline, t0), true, t0)
	h.status(0, "gw1", nil, false, t0)
	if len(h.judge(t0.Add(time.Hour))) != 0 {
		t.Fatal("a retired gateway is still judged")
	}
}

// Two replicas that see the same statuses name an outage with the same episode, so Alertmanager and
// PagerDuty deduplicate their pages.
func TestHealthEpisodeAgreesAcrossReplicas(t *testing.T) {
	var eps []uint64
	for r := 0; r < 2; r++ {
		h := newHealth(2, time.Minute, 0)
		start := t0.Add(time.Duration(r) * 7 * time.Second) // replicas started at different moments
		h.connected(0, true, start)
		h.connected(1, true, start)
		h.status(0, "gw1", status(contract.Offline, t0.Add(-3*time.Second)), true, start)
		h.status(1, "gw1", status(contract.Offline, t0.Add(-2*time.Second)), true, start)
		verdictOf(h, "gw1", start)
		v := verdictOf(h, "gw1", start.Add(2*time.Minute))
		if !v.down {
			t.Fatalf("replica %d: %+v", r, v)
		}
		eps = append(eps, v.episode)
	}
	if eps[0] != eps[1] || eps[0] != uint64(t0.Add(-2*time.Second).UnixMilli()) {
		t.Fatalf("episodes %v", eps)
	}
}
