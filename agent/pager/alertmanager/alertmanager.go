package alertmanager

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rackwatch/rackwatch/agent/contract"
	"github.com/rackwatch/rackwatch/agent/pager/notify"
)

// Alert is one element of the body of POST /api/v2/alerts (the API's postableAlert).
type Alert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     string            `json:"startsAt,omitempty"`
	EndsAt       string            `json:"endsAt,omitempty"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
}

// Receiver posts alerts to one Alertmanager.
type Receiver struct {
	url    string
	client *http.Client
	resend time.Duration
	now    func() time.Time
}

// New returns a receiver for the Alertmanager at base (its web address, e.g. http://127.0.0.1:9093, with
// any route prefix). resend is how often the pager re-sends active alerts.
func New(base string, timeout, resend time.Duration) *Receiver {
	return &Receiver{url: strings.TrimRight(base, "/") + "/api/v2/alerts", client: &http.Client{Timeout: timeout}, resend: resend, now: time.Now}
}

// ResendEvery is how often active alerts are to be sent again.
func (r *Receiver) ResendEvery() time.Duration { return r.resend }

// URL is the endpoint alerts are posted to.
func (r *Receiver) URL() string { return r.url }

// Send posts every notification in one request: all of them are delivered, or none.
func (r *Receiver) Send(ctx context.Context, ns []notify.Notification) (int, error) {
	if len(ns) == 0 {
		return 0, nil
	}
	now := r.now()
	alerts := make([]Alert, len(ns))
	for i := range ns {
		alerts[i] = ToAlert(&ns[i], now, r.resend)
	}
	body, err := json.Marshal(alerts)
	if err != nil {
		return 0, &notify.Error{Permanent: true, Err: err}
	}
	if _, err := notify.Post(ctx, r.client, r.url, body, nil); err != nil {
		return 0, err
	}
	return len(ns), nil
}

// timeFormat is RFC 3339 with milliseconds, which Alertmanager parses.
const timeFormat = "2006-01-02T15:04:05.000Z07:00"

// ToAlert is the Alertmanager alert for a notification at now. An active page ends 4 resend intervals
// ahead (as Prometheus does), so that Alertmanager resolves it by itself if every pager stops; a resolved
// one ends when its alarm cleared.
func ToAlert(n *notify.Notification, now time.Time, resend time.Duration) Alert {
	a := &n.Alarm
	start := n.StartsAt
	if start.IsZero() {
		start = a.Since
	}
	var end time.Time
	if n.Action == notify.Resolve {
		end = n.EndsAt
		if end.IsZero() {
			end = a.Time
		}
	} else {
		// A gateway clock ahead of ours must not make the alert end before it starts (Alertmanager
		// refuses such an alert).
		end = now
		if start.After(end) {
			end = start
		}
		end = end.Add(4 * resend)
	}
	if end.Before(start) {
		end = start
	}
	return Alert{
		Labels:      Labels(a, n.Episode),
		Annotations: annotations(a),
		StartsAt:    start.UTC().Format(timeFormat),
		EndsAt:      end.UTC().Format(timeFormat),
	}
}

// reserved are the label names the pager sets itself; an alarm label with one of these names is sent as
// label_<name>.
var reserved = map[string]bool{"alertname": true, "source": true, "gateway": true, "site": true, "alarm": true,
	"rule": true, "sensor": true, "channel": true, "severity": true, "episode": true}

// Labels identify the alert: the same alarm episode gives the same labels on every replica.
func Labels(a *contract.Alarm, episode uint64) map[string]string {
	l := make(map[string]string, 10+len(a.Labels))
	put := func(k, v string) {
		if v != "" {
			l[k] = v
		}
	}
	put("alertname", a.Rule)
	put("source", "rackwatch")
	put("gateway", a.Gateway)
	put("site", a.Site)
	put("alarm", a.Key)
	put("rule", a.Rule)
	put("sensor", a.Sensor)
	put("channel", a.Channel)
	put("severity", a.Severity)
	put("episode", strconv.FormatUint(episode, 10))
	// In key order, so that two keys that give the same name resolve the same way on every replica.
	for _, k := range slices.Sorted(maps.Keys(a.Labels)) {
		v := a.Labels[k]
		name := LabelName(k)
		if reserved[name] {
			name = "label_" + name
		}
		if _, taken := l[name]; !taken {
			put(name, v)
		}
	}
	return l
}

// LabelName turns an alarm label's key into a Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*): other
// characters become '_'.
func LabelName(k string) string {
	b := []byte(k)
	for i, c := range b {
		ok := c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (i > 0 && c >= '0' && c <= '9')
		if !ok {
			b[i] = '_'
		}
	}
	if len(b) == 0 {
		return "_"
	}
	if strings.HasPrefix(string(b), "__") {
		return "label" + string(b) // names starting with __ are reserved for Prometheus's internal use
	}
	return string(b)
}

func annotations(a *contract.Alarm) map[string]string {
	an := map[string]string{"summary": a.Message, "state": a.State, "seq": strconv.FormatUint(a.Seq, 10)}
	if a.Value != nil {
		an["value"] = strconv.FormatFloat(*a.Value, 'g', -1, 64)
	}
	if a.Threshold != nil {
		an["threshold"] = strconv.FormatFloat(*a.Threshold, 'g', -1, 64)
	}
	if a.Unit != "" {
		an["unit"] = a.Unit
	}
	if a.Acked {
		an["acked"] = "true"
		if a.AckedBy != "" {
			an["acked_by"] = a.AckedBy
		}
	}
	if a.ShelvedUntil != nil {
		an["shelved_until"] = a.ShelvedUntil.UTC().Format(contract.TimeFormat)
	}
	if !a.Since.IsZero() {
		an["since"] = a.Since.UTC().Format(contract.TimeFormat)
	}
	return an
}
