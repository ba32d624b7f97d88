package pagerduty

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"time"
	"unicode/utf8"

	"github.com/rackwatch/rackwatch/agent/contract"
	"github.com/rackwatch/rackwatch/agent/pager/notify"
)

// Event is the body of a request to the Events API v2.
type Event struct {
	RoutingKey  string   `json:"routing_key"`
	EventAction string   `json:"event_action"`
	DedupKey    string   `json:"dedup_key"`
	Payload     *Payload `json:"payload,omitempty"`
	Client      string   `json:"client,omitempty"`
}

// Payload describes a triggered alert.
type Payload struct {
	Summary       string         `json:"summary"`
	Source        string         `json:"source"`
	Severity      string         `json:"severity"`
	Timestamp     string         `json:"timestamp,omitempty"`
	Component     string         `json:"component,omitempty"`
	Group         string         `json:"group,omitempty"`
	Class         string         `json:"class,omitempty"`
	CustomDetails contract.Alarm `json:"custom_details"`
}

// Response is PagerDuty's answer: {"status":"success","message":"Event processed","dedup_key":"…"}, or
// {"status":"invalid event","message":"Event object is invalid","errors":["…"]}.
type Response struct {
	Status   string   `json:"status"`
	Message  string   `json:"message"`
	DedupKey string   `json:"dedup_key"`
	Errors   []string `json:"errors"`
}

// Receiver sends events with one routing key.
type Receiver struct {
	url, key string
	client   *http.Client
}

// New returns a receiver posting to url (the enqueue endpoint) with the integration's routing key.
func New(url, routingKey string, timeout time.Duration) *Receiver {
	return &Receiver{url: url, key: routingKey, client: &http.Client{Timeout: timeout}}
}

// Send sends the notifications one event at a time, in order, and stops at the first failure.
func (r *Receiver) Send(ctx context.Context, ns []notify.Notification) (int, error) {
	for i := range ns {
		body, err := json.Marshal(ToEvent(&ns[i], r.key))
		if err != nil {
			return i, &notify.Error{Permanent: true, Err: err}
		}
		if _, err := notify.Post(ctx, r.client, r.url, body, nil); err != nil {
			return i, err
		}
	}
	return len(ns), nil
}

// DedupKey names the PagerDuty alert of a page: "rackwatch/<gateway>/<alarm>/<episode>", or a digest of it
// when that is longer than PagerDuty's 255 characters.
func DedupKey(pageKey string) string {
	k := "rackwatch/" + pageKey
	if len(k) <= 255 {
		return k
	}
	sum := sha256.Sum256([]byte(pageKey))
	return "rackwatch/sha256:" + hex.EncodeToString(sum[:])
}

// Severity maps an alarm's severity to PagerDuty's (critical, error, warning, info).
func Severity(s string) string {
	switch s {
	case contract.Critical, contract.Warning, contract.Info:
		return s
	}
	return "error"
}

// ToEvent is the event for a notification.
func ToEvent(n *notify.Notification, routingKey string) Event {
	e := Event{RoutingKey: routingKey, DedupKey: DedupKey(n.Key)}
	switch n.Action {
	case notify.Acknowledge:
		e.EventAction = "acknowledge"
		return e
	case notify.Resolve:
		e.EventAction = "resolve"
		return e
	}
	a := n.Alarm
	e.EventAction, e.Client = "trigger", "rackwatch"
	e.Payload = &Payload{
		Summary:       truncate(a.Gateway+": "+a.Message, 1024),
		Source:        a.Gateway,
		Severity:      Severity(a.Severity),
		Component:     a.Sensor,
		Group:         a.Site,
		Class:         a.Rule,
		CustomDetails: a,
	}
	if e.Payload.Component == "" {
		e.Payload.Component = a.Key
	}
	if !n.StartsAt.IsZero() {
		e.Payload.Timestamp = n.StartsAt.UTC().Format(contract.TimeFormat)
	}
	return e
}

// truncate cuts s to at most n bytes without splitting a character.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}
