package receivertest

import (
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rackwatch/rackwatch/agent/pager/alertmanager"
)

// Alertmanager is POST /api/v2/alerts keeping alerts as Alertmanager does: identified by their labels, an
// alert is firing while its endsAt is in the future and resolved once it has passed, and the latest post
// wins. It counts how often each alert started firing, and how often it fired again after being resolved
// (which in a real Alertmanager notifies the on-call a second time).
type Alertmanager struct {
	*server

	mu     sync.Mutex
	alerts map[string]*AMAlert
}

// AMAlert is one alert as the fake keeps it.
type AMAlert struct {
	Labels  map[string]string
	Firing  bool
	Fired   int // times it went to firing
	Refired int // times it went to firing after it had been resolved
	// Resolved: it has been resolved at least once.
	Resolved bool
}

// NewAlertmanager serves the fake on a loopback port.
func NewAlertmanager(t testing.TB) *Alertmanager {
	a := &Alertmanager{alerts: map[string]*AMAlert{}}
	a.server = newServer(t, http.HandlerFunc(a.post))
	return a
}

func fingerprint(l map[string]string) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(l)) {
		b.WriteString(k + "=" + l[k] + ",")
	}
	return b.String()
}

func (a *Alertmanager) post(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/api/v2/alerts" {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	body, _ := io.ReadAll(r.Body)
	var alerts []alertmanager.Alert
	if err := json.Unmarshal(body, &alerts); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	now := time.Now()
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, al := range alerts {
		if len(al.Labels) == 0 {
			http.Error(w, "at least one label pair required", http.StatusBadRequest)
			return
		}
		end, err := time.Parse(time.RFC3339Nano, al.EndsAt)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		fp := fingerprint(al.Labels)
		st := a.alerts[fp]
		if st == nil {
			st = &AMAlert{Labels: al.Labels}
			a.alerts[fp] = st
		}
		firing := end.After(now)
		if firing && !st.Firing {
			st.Fired++
			if st.Resolved {
				st.Refired++
			}
		}
		st.Resolved = st.Resolved || !firing
		st.Firing = firing
	}
	w.WriteHeader(http.StatusOK)
}

// Alerts is a copy of the alerts, keyed by the episode label (gateway/alarm/episode).
func (a *Alertmanager) Alerts() map[string]AMAlert {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := map[string]AMAlert{}
	for _, s := range a.alerts {
		out[s.Labels["gateway"]+"/"+s.Labels["alarm"]+"/"+s.Labels["episode"]] = *s
	}
	return out
}
