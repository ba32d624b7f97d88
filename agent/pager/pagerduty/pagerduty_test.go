package pagerduty_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rackwatch/rackwatch/agent/contract"
	"github.com/rackwatch/rackwatch/agent/pager/internal/receivertest"
	"github.com/rackwatch/rackwatch/agent/pager/notify"
	"github.com/rackwatch/rackwatch/agent/pager/pagerduty"
)

var t0 = time.Date(2026, 11, 25, 3, 0, 0, 0, time.UTC)

func note(action string) notify.Notification {
	a := contract.Alarm{Gateway: "dc1-row4", Site: "dc1", Key: "offgas-h2/batt-room.offgas/h2", Rule: "offgas-h2",
		Sensor: "batt-room.offgas", Channel: "h2", Severity: contract.Critical, State: contract.Active,
		Value: contract.Float(63.2), Unit: "ppm", Threshold: contract.Float(50), Since: t0, Time: t0, Seq: 17, Episode: 17,
		Event: contract.EventRaise, Message: "batt-room.offgas h2 63.2 ppm, limit 50 ppm", Labels: map[string]string{"room": "battery"}}
	n := notify.Notification{Action: action, Key: notify.PageKey(a.Gateway, a.Key, 17), Episode: 17, Alarm: a, StartsAt: t0, Receivers: []string{"pd"}}
	if action == notify.Resolve {
		n.Alarm.State, n.EndsAt = contract.Cleared, t0.Add(time.Minute)
	}
	return n
}

func TestTriggerAcknowledgeResolve(t *testing.T) {
	pd := receivertest.NewPagerDuty(t)
	r := pagerduty.New(pd.EnqueueURL(), pd.Key, 5*time.Second)
	ns := []notify.Notification{note(notify.Trigger), note(notify.Acknowledge), note(notify.Resolve)}
	if n, err := r.Send(context.Background(), ns); n != 3 || err != nil {
		t.Fatalf("sent %d: %v", n, err)
	}
	ev := pd.Events()
	if len(ev) != 3 || ev[0].EventAction != "trigger" || ev[1].EventAction != "acknowledge" || ev[2].EventAction != "resolve" {
		t.Fatalf("events: %+v", ev)
	}
	key := "rackwatch/dc1-row4/offgas-h2/batt-room.offgas/h2/17"
	for _, e := range ev {
		if e.DedupKey != key {
			t.Errorf("dedup_key %q, want %q", e.DedupKey, key)
		}
	}
	p := ev[0].Payload
	if p.Source != "dc1-row4" || p.Severity != "critical" || p.Group != "dc1" || p.Class != "offgas-h2" || p.Component != "batt-room.offgas" ||
		p.Timestamp != "2026-11-25T03:00:00.000Z" || !strings.Contains(p.Summary, "h2 63.2 ppm") || p.CustomDetails.Episode != 17 || p.CustomDetails.Labels["room"] != "battery" {
		t.Errorf("trigger payload: %+v", p)
	}
	if a := pd.Alerts()[key]; a.Status != "resolved" || a.Opened != 1 {
		t.Errorf("alert: %+v", a)
	}
}

// 429 and 5xx are temporary (with the delay PagerDuty asked for), a refused event is permanent, and a
// PagerDuty that cannot be reached is temporary.
func TestFailuresAreClassified(t *testing.T) {
	pd := receivertest.NewPagerDuty(t)
	r := pagerduty.New(pd.EnqueueURL(), pd.Key, 5*time.Second)
	ctx := context.Background()

	pd.Script(receivertest.Reply{Status: 429, RetryAfter: "7", Body: `{"status":"throttle event","message":"Requests for this service are arriving too quickly."}`})
	n, err := r.Send(ctx, []notify.Notification{note(notify.Trigger)})
	if n != 0 || err == nil || notify.IsPermanent(err) || notify.RetryAfter(err) != 7*time.Second {
		t.Fatalf("429: %d %v (retry after %v)", n, err, notify.RetryAfter(err))
	}
	pd.Script(receivertest.Reply{Status: 502})
	if _, err := r.Send(ctx, []notify.Notification{note(notify.Trigger)}); err == nil || notify.IsPermanent(err) {
		t.Fatalf("502: %v", err)
	}

	wrong := pagerduty.New(pd.EnqueueURL(), "short", 5*time.Second)
	_, err = wrong.Send(ctx, []notify.Notification{note(notify.Trigger)})
	var ne *notify.Error
	if !errors.As(err, &ne) || !ne.Permanent || ne.Status != 400 || !strings.Contains(err.Error(), "routing_key") {
		t.Fatalf("400: %v", err)
	}

	pd.Stop()
	if _, err := r.Send(ctx, []notify.Notification{note(notify.Trigger)}); err == nil || notify.IsPermanent(err) {
		t.Fatalf("down: %v", err)
	}
	pd.Start()
	// A batch stops at the first failure and says how many went.
	pd.Script(receivertest.Reply{Status: 202, Body: `{"status":"success"}`}, receivertest.Reply{Status: 500})
	if n, err := r.Send(ctx, []notify.Notification{note(notify.Trigger), note(notify.Acknowledge), note(notify.Resolve)}); n != 1 || err == nil {
		t.Fatalf("partial batch: %d %v", n, err)
	}
}

func TestDedupKeyBounded(t *testing.T) {
	long := strings.Repeat("g", 200) + "/" + strings.Repeat("a", 100) + "/1"
	k := pagerduty.DedupKey(long)
	if len(k) > 255 || k != pagerduty.DedupKey(long) || k == pagerduty.DedupKey(long+"0") {
		t.Fatalf("dedup key %q", k)
	}
	if pagerduty.Severity("fatal") != "error" || pagerduty.Severity(contract.Warning) != "warning" {
		t.Fatal("severity mapping")
	}
}
