package pager

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rackwatch/rackwatch/agent/contract"
)

func TestParseAlarm(t *testing.T) {
	good, _ := json.Marshal(raise(17))
	if a, err := parseAlarm("gw1", "h2/room/h2", good); err != nil || a.Episode != 17 {
		t.Fatalf("good alarm: %v %v", a, err)
	}
	if a, err := parseAlarm("gw1", "", good); err != nil || a == nil {
		t.Fatalf("good event: %v", err)
	}
	if a, err := parseAlarm("gw1", "h2/room/h2", nil); a != nil || err != nil {
		t.Fatalf("deleted retained state: %v %v", a, err)
	}
	mut := func(f func(a *contract.Alarm)) []byte {
		a := raise(17)
		f(a)
		b, _ := json.Marshal(a)
		return b
	}
	for name, c := range map[string]struct {
		gw, key string
		payload []byte
	}{
		"other gateway":     {"gw2", "", good},
		"other alarm":       {"gw1", "smoke/room/smoke", good},
		"bad key":           {"gw1", "", mut(func(a *contract.Alarm) { a.Key = "h2/room" })},
		"bad state":         {"gw1", "", mut(func(a *contract.Alarm) { a.State = "burning" })},
		"bad severity":      {"gw1", "", mut(func(a *contract.Alarm) { a.Severity = "apocalyptic" })},
		"episode after seq": {"gw1", "", mut(func(a *contract.Alarm) { a.Episode = a.Seq + 1 })},
		"huge message":      {"gw1", "", mut(func(a *contract.Alarm) { a.Message = strings.Repeat("x", maxText+1) })},
		"too many labels": {"gw1", "", mut(func(a *contract.Alarm) {
			a.Labels = map[string]string{}
			for i := 0; i <= maxLabels; i++ {
				a.Labels[strings.Repeat("k", i+1)] = "v"
			}
		})},
		"not json":  {"gw1", "", []byte("{")},
		"oversized": {"gw1", "", make([]byte, maxAlarmPayload+1)},
	} {
		if _, err := parseAlarm(c.gw, c.key, c.payload); !errors.Is(err, errInvalid) {
			t.Errorf("%s: accepted (%v)", name, err)
		}
	}
}

func TestParseStatus(t *testing.T) {
	if s, err := parseStatus(contract.StatusJSON(contract.Offline, "1", t0)); err != nil || s.State != contract.Offline || !s.At().Equal(t0) {
		t.Fatalf("%+v %v", s, err)
	}
	if s, err := parseStatus(nil); s != nil || err != nil {
		t.Fatal("deleted status")
	}
	for _, p := range []string{`{"state":"zombie"}`, `[`, strings.Repeat(" ", maxStatusPayload+1)} {
		if _, err := parseStatus([]byte(p)); !errors.Is(err, errInvalid) {
			t.Errorf("%q accepted", p)
		}
	}
}

// FuzzParseAlarm: payloads come from the network (any client that may publish on the brokers). Parsing
// never panics, and what it accepts is fit for the book: the right gateway and key, a known state and
// severity, bounded fields.
func FuzzParseAlarm(f *testing.F) {
	good, _ := json.Marshal(raise(17))
	f.Add(good, true)
	f.Add([]byte(`{"gateway":"gw1","alarm":"a","state":"active","severity":"info","seq":1,"episode":1}`), false)
	f.Add([]byte(`{"gateway":"gw1","alarm":"a","since":"x"}`), false)
	f.Add([]byte(`null`), true)
	f.Fuzz(func(t *testing.T, payload []byte, event bool) {
		key := "h2/room/h2"
		if event {
			key = ""
		}
		a, err := parseAlarm("gw1", key, payload)
		if err != nil || a == nil {
			return
		}
		if a.Gateway != "gw1" || !contract.ValidKey(a.Key) || (key != "" && a.Key != key) || a.Episode > a.Seq ||
			(a.State != contract.Active && a.State != contract.Cleared) || len(a.Labels) > maxLabels {
			t.Fatalf("accepted %+v", a)
		}
		b := testBook()
		b.observe(a, fromEvents, nil) // and the book takes it without trouble
	})
}

func FuzzParseStatus(f *testing.F) {
	f.Add(contract.StatusJSON(contract.Online, "1", t0))
	f.Add([]byte(`{"state":"offline","time":"garbage"}`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		s, err := parseStatus(payload)
		if err == nil && s != nil && s.State != contract.Online && s.State != contract.Offline {
			t.Fatalf("accepted %+v", s)
		}
	})
}

// A damaged pages.json never stops the pager: it is moved aside and the pager starts from the journal
// and the brokers.
func TestDamagedStateFile(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(statePath(dir), []byte(`{"version":1,"gateways":{"gw1":`), 0o600)
	gws, wm, problem := loadState(dir)
	if problem == nil || len(gws) != 0 || wm != 0 {
		t.Fatalf("damaged file: %v %v %v", gws, wm, problem)
	}
	aside, _ := filepath.Glob(statePath(dir) + ".damaged-*")
	if len(aside) != 1 {
		t.Fatalf("not moved aside: %v", aside)
	}
	b := testBook()
	b.observe(raise(3), fromEvents, nil)
	data, _ := json.Marshal(stateFile{Version: stateVersion, Watermark: 9, Gateways: b.gws})
	if err := saveState(dir, data); err != nil {
		t.Fatal(err)
	}
	gws, wm, problem = loadState(dir)
	if problem != nil || wm != 9 || gws["gw1"].Alarms["h2/room/h2"].Eps[0].State != epOpen {
		t.Fatalf("round trip: %v %v", wm, problem)
	}
}
