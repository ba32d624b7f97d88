package alertmanager_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/rackwatch/rackwatch/agent/contract"
	"github.com/rackwatch/rackwatch/agent/pager/alertmanager"
	"github.com/rackwatch/rackwatch/agent/pager/notify"
)

var t0 = time.Date(2026, 11, 25, 3, 0, 0, 0, time.UTC)

func note(action string) notify.Notification {
	a := contract.Alarm{Gateway: "dc1-row4", Site: "dc1", Key: "offgas-h2/batt-room.offgas/h2", Rule: "offgas-h2",
		Sensor: "batt-room.offgas", Channel: "h2", Severity: contract.Critical, State: contract.Active,
		Value: contract.Float(63.2), Unit: "ppm", Threshold: contract.Float(50), Since: t0, Time: t0, Seq: 17, Episode: 17,
		Message: "batt-room.offgas h2 63.2 ppm, limit 50 ppm",
		Labels:  map[string]string{"room": "battery", "rack-row": "4", "severity": "ignored", "__name__": "x"}}
	n := notify.Notification{Action: action, Key: notify.PageKey(a.Gateway, a.Key, 17), Episode: 17, Alarm: a, StartsAt: t0}
	if action == notify.Resolve {
		n.Alarm.State, n.EndsAt = contract.Cleared, t0.Add(time.Minute)
	}
	return n
}

func TestAlertShape(t *testing.T) {
	now := t0.Add(10 * time.Second)
	a := alertmanager.ToAlert(ptr(note(notify.Trigger)), now, time.Minute)
	want := map[string]string{"alertname": "offgas-h2", "source": "rackwatch", "gateway": "dc1-row4", "site": "dc1",
		"alarm": "offgas-h2/batt-room.offgas/h2", "rule": "offgas-h2", "sensor": "batt-room.offgas", "channel": "h2",
		"severity": "critical", "episode": "17", "room": "battery", "rack_row": "4", "label_severity": "ignored", "label__name__": "x"}
	if len(a.Labels) != len(want) {
		t.Errorf("labels %v", a.Labels)
	}
	for k, v := range want {
		if a.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, a.Labels[k], v)
		}
	}
	if a.Annotations["summary"] != "batt-room.offgas h2 63.2 ppm, limit 50 ppm" || a.Annotations["value"] != "63.2" || a.Annotations["unit"] != "ppm" {
		t.Errorf("annotations %v", a.Annotations)
	}
	if a.StartsAt != "2026-11-25T03:00:00.000Z" || a.EndsAt != "2026-11-25T03:04:10.000Z" {
		t.Errorf("active alert from %s to %s", a.StartsAt, a.EndsAt)
	}
	r := alertmanager.ToAlert(ptr(note(notify.Resolve)), now, time.Minute)
	if r.EndsAt != "2026-11-25T03:01:00.000Z" {
		t.Errorf("resolved alert ends %s", r.EndsAt)
	}
	// A gateway clock ahead of the pager's must not give an alert that ends before it starts.
	ahead := note(notify.Trigger)
	ahead.StartsAt = now.Add(time.Hour)
	if x := alertmanager.ToAlert(&ahead, now, time.Minute); x.EndsAt <= x.StartsAt {
		t.Errorf("alert from %s to %s", x.StartsAt, x.EndsAt)
	}
}

func ptr(n notify.Notification) *notify.Notification { return &n }

// The request is what Alertmanager's API v2 takes (an array of postable alerts, RFC 3339 times, at least
// one label); its answers are classified.
func TestSend(t *testing.T) {
	var got []alertmanager.Alert
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/am/api/v2/alerts" || r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "wrong request", http.StatusNotFound)
			return
		}
		b, _ := io.ReadAll(r.Body)
		var alerts []map[string]any
		if err := json.Unmarshal(b, &alerts); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		for _, a := range alerts {
			for _, k := range []string{"startsAt", "endsAt"} {
				if _, err := time.Parse(time.RFC3339, a[k].(string)); err != nil {
					http.Error(w, err.Error(), http.StatusBadRequest)
					return
				}
			}
		}
		json.Unmarshal(b, &got)
		w.WriteHeader(status)
	}))
	defer srv.Close()
	r := alertmanager.New(srv.URL+"/am/", 5*time.Second, time.Minute)
	if n, err := r.Send(context.Background(), []notify.Notification{note(notify.Trigger), note(notify.Resolve)}); n != 2 || err != nil {
		t.Fatalf("%d %v", n, err)
	}
	if len(got) != 2 || got[0].Labels["episode"] != "17" {
		t.Fatalf("posted %+v", got)
	}
	status = http.StatusBadRequest
	if _, err := r.Send(context.Background(), []notify.Notification{note(notify.Trigger)}); !notify.IsPermanent(err) {
		t.Fatalf("400: %v", err)
	}
	status = http.StatusServiceUnavailable
	if _, err := r.Send(context.Background(), []notify.Notification{note(notify.Trigger)}); err == nil || notify.IsPermanent(err) {
		t.Fatalf("503: %v", err)
	}
}

// Two alarm labels that give the same label name resolve the same way every time (on every replica), or
// the replicas' alerts would differ and page twice.
func TestLabelsDeterministic(t *testing.T) {
	a := note(notify.Trigger).Alarm
	a.Labels = map[string]string{"rack-row": "1", "rack_row": "2", "rack.row": "3"}
	first := alertmanager.Labels(&a, 1)["rack_row"]
	for i := 0; i < 50; i++ {
		if got := alertmanager.Labels(&a, 1)["rack_row"]; got != first || first != "1" {
			t.Fatalf("rack_row = %q, then %q", first, got)
		}
	}
}

func TestLabelName(t *testing.T) {
	for in, want := range map[string]string{"room": "room", "rack-row": "rack_row", "9lives": "_lives", "a.b": "a_b", "": "_", "__x": "label__x", "Ü": "label__"} {
		if got := alertmanager.LabelName(in); got != want {
			t.Errorf("LabelName(%q) = %q, want %q", in, got, want)
		}
	}
}
