package receivertest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"

	"github.com/rackwatch/rackwatch/agent/pager/pagerduty"
)

// PagerDuty is an Events API v2 endpoint (POST /v2/enqueue) that keeps alerts as PagerDuty does: a
// trigger opens an alert unless one with its dedup_key is open; acknowledge and resolve apply to the open
// alert with that key and are dropped otherwise; once resolved, a trigger with the same key opens a new
// alert.
type PagerDuty struct {
	*server
	// Key is the routing key it accepts (32 characters, as PagerDuty's are).
	Key string

	mu     sync.Mutex
	events []pagerduty.Event
	alerts map[string]*Alert
}

// Alert is one PagerDuty alert as the fake keeps it.
type Alert struct {
	DedupKey string
	Status   string // triggered, acknowledged, resolved
	// Opened counts the alerts opened under this key: more than one for one page is a double page.
	Opened  int
	Summary string
}

// NewPagerDuty serves the fake on a loopback port.
func NewPagerDuty(t testing.TB) *PagerDuty {
	p := &PagerDuty{Key: "0123456789abcdef0123456789abcdef", alerts: map[string]*Alert{}}
	p.server = newServer(t, http.HandlerFunc(p.enqueue))
	return p
}

// EnqueueURL is the events endpoint.
func (p *PagerDuty) EnqueueURL() string { return p.URL() + "/v2/enqueue" }

func (p *PagerDuty) enqueue(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if r.Method != http.MethodPost || r.URL.Path != "/v2/enqueue" {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	var e pagerduty.Event
	body, _ := io.ReadAll(io.LimitReader(r.Body, 512<<10))
	invalid := func(msg string) {
		w.WriteHeader(http.StatusBadRequest)
		json.NewEncoder(w).Encode(pagerduty.Response{Status: "invalid event", Message: "Event object is invalid", Errors: []string{msg}})
	}
	if err := json.Unmarshal(body, &e); err != nil {
		invalid("Invalid JSON: " + err.Error())
		return
	}
	switch {
	case len(e.RoutingKey) != 32:
		invalid("Length of 'routing_key' is incorrect (should be 32 characters)")
		return
	case e.RoutingKey != p.Key:
		invalid("'routing_key' is not valid for any integration")
		return
	case e.EventAction != "trigger" && e.EventAction != "acknowledge" && e.EventAction != "resolve":
		invalid("'event_action' is invalid (must be one of the following: 'trigger', 'acknowledge' or 'resolve')")
		return
	case len(e.DedupKey) > 255:
		invalid("'dedup_key' is too long")
		return
	case e.EventAction != "trigger" && e.DedupKey == "":
		invalid("'dedup_key' is missing")
		return
	}
	if e.EventAction == "trigger" {
		pl := e.Payload
		switch {
		case pl == nil:
			invalid("'payload' is missing or blank")
			return
		case pl.Summary == "" || len(pl.Summary) > 1024:
			invalid("'payload.summary' is missing or too long")
			return
		case pl.Source == "":
			invalid("'payload.source' is missing or blank")
			return
		case pl.Severity != "critical" && pl.Severity != "error" && pl.Severity != "warning" && pl.Severity != "info":
			invalid("'payload.severity' is invalid")
			return
		}
	}
	p.mu.Lock()
	p.events = append(p.events, e)
	a := p.alerts[e.DedupKey]
	switch e.EventAction {
	case "trigger":
		if a == nil {
			a = &Alert{DedupKey: e.DedupKey}
			p.alerts[e.DedupKey] = a
		}
		if a.Opened == 0 || a.Status == "resolved" {
			a.Opened++
			a.Status = "triggered"
		}
		a.Summary = e.Payload.Summary
	case "acknowledge":
		if a != nil && a.Status == "triggered" {
			a.Status = "acknowledged"
		}
	case "resolve":
		if a != nil && a.Status != "resolved" {
			a.Status = "resolved"
		}
	}
	p.mu.Unlock()
	w.WriteHeader(http.StatusAccepted)
	fmt.Fprintf(w, `{"status":"success","message":"Event processed","dedup_key":%q}`, e.DedupKey)
}

// Events are the events accepted, in order.
func (p *PagerDuty) Events() []pagerduty.Event {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]pagerduty.Event(nil), p.events...)
}

// Alerts is a copy of the alerts by dedup key.
func (p *PagerDuty) Alerts() map[string]Alert {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[string]Alert{}
	for k, a := range p.alerts {
		out[k] = *a
	}
	return out
}
