package config

import (
	"strings"
	"testing"
	"time"
)

const goodPager = `pager:
  id: pager-a
  state_dir: /var/lib/rackwatch-pager
  http: 127.0.0.1:9109
  brokers:
    - {url: tls://mqtt.site-a.example:8883, ca_file: /etc/rackwatch/ca.pem, username: pager, password_file: /etc/rackwatch/pager.pass}
    - {url: tcp://mqtt.site-b.example:1883}
  topic_prefix: rackwatch
  gateways: {offline_grace: 60s, silent_after: 5m}
receivers:
  - {name: am, alertmanager: {urls: [http://am1.example:9093, http://am2.example:9093]}}
  - {name: pd, pagerduty: {routing_key_file: /etc/rackwatch/pd.key}}
  - {name: hook, webhook: {url: https://hooks.example/rackwatch, secret_file: /etc/rackwatch/hook.secret}}
routes:
  - {match: {severity: critical}, receivers: [am, pd]}
  - {match: {site: dc1}, receivers: [hook]}
`

func TestLoadPagerExample(t *testing.T) {
	cfg, err := ParsePager("pager.yaml", []byte(goodPager))
	if err != nil {
		t.Fatal(err)
	}
	p := cfg.Pager
	if p.ID != "pager-a" || len(p.Brokers) != 2 || p.Gateways.OfflineGrace.D() != time.Minute || p.Gateways.SilentAfter.D() != 5*time.Minute {
		t.Errorf("decoded wrong: %+v", p)
	}
	if p.Brokers[1].KeepAlive.D() != 30*time.Second {
		t.Errorf("broker keepalive default not applied: %v", p.Brokers[1].KeepAlive)
	}
	am := cfg.Receivers[0].Alertmanager
	if am == nil || len(am.Endpoints()) != 2 || am.ResendEvery.D() != DefaultResendEvery || cfg.Receivers[0].Kind() != "alertmanager" {
		t.Errorf("alertmanager receiver: %+v", am)
	}
	if pd := cfg.Receivers[1].PagerDuty; pd == nil || pd.URL != DefaultPagerDutyURL || pd.RoutingKeySecret().File != "/etc/rackwatch/pd.key" {
		t.Errorf("pagerduty receiver: %+v", pd)
	}
	if cfg.Routes[1].Match.Site != "dc1" || cfg.Routes[1].Line != 16 {
		t.Errorf("routes: %+v", cfg.Routes)
	}
	if !IsPager([]byte(goodPager)) || IsPager([]byte(good)) || IsPager([]byte("pager: [")) || IsPager([]byte("- pager")) {
		t.Error("IsPager misjudges a file")
	}
}

func TestPagerDefaults(t *testing.T) {
	cfg, err := ParsePager("p.yaml", []byte("pager: {id: p1, brokers: [{url: tcp://127.0.0.1:1883}]}\nreceivers: [{name: am, alertmanager: {url: http://127.0.0.1:9093}}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Pager.StateDir != DefaultPagerStateDir || cfg.Pager.TopicPrefix != "rackwatch" || cfg.Pager.Gateways.SilentAfter.D() != DefaultSilentAfter ||
		cfg.Pager.Gateways.OfflineGrace.D() != DefaultOfflineGrace || cfg.Journal.MaxSize != DefaultJournalSize {
		t.Errorf("defaults: %+v", cfg.Pager)
	}
	off, err := ParsePager("p.yaml", []byte("pager: {id: p1, brokers: [{url: tcp://127.0.0.1:1883}], gateways: {silent_after: 0}}\nreceivers: [{name: am, alertmanager: {url: http://127.0.0.1:9093}}]\n"))
	if err != nil || off.Pager.Gateways.SilentAfter.D() != 0 {
		t.Fatalf("silent_after: 0 should turn the check off: %v", err)
	}
}

// Every mistake is reported with its file and line, all at once.
func TestPagerErrors(t *testing.T) {
	const bad = `pager:
  id: Pager A
  http: localhost
  brokers:
    - {url: mqtt.example:1883}
    - {url: tcp://user:pw@mqtt.example:1883, password: hunter2, client_id: fixed}
  gateways: {offline_grace: 500ms, silent_after: 2s}
receivers:
  - {name: am, alertmanager: {url: ftp://am.example}}
  - {name: pd, pagerduty: {routing_key: abc}}
  - {name: hook, webhook: {url: https://h.example}}
  - {name: am, webhook: {url: https://h.example, secret_file: /s}, pagerduty: {routing_key_file: /k}}
  - {name: spare, alertmanager: {url: http://am.example:9093}}
routes:
  - {match: {severity: urgent}, receivers: [am, nobody]}
  - {match: {site: "dc[1"}, receivers: [pd, hook]}
  - {receivers: []}
`
	_, err := ParsePager("pager.yaml", []byte(bad))
	if err == nil {
		t.Fatal("bad config accepted")
	}
	got := err.Error()
	for _, want := range []string{
		`pager.yaml:2: pager.id "Pager A": use only`,
		`pager.yaml:2: pager.http "localhost": expected host:port`,
		`pager.yaml:5: pager.brokers: url "mqtt.example:1883": expected tcp://`,
		`pager.yaml:6: pager.brokers: url "tcp://user:pw@mqtt.example:1883" carries credentials`,
		`pager.yaml:6: pager.brokers: password is not written in the config`,
		`pager.yaml:6: pager.brokers: client_id is derived from pager.id`,
		`pager.yaml:7: pager.gateways.offline_grace 500ms: at least 1s`,
		`pager.yaml:7: pager.gateways.silent_after 2s: at least 5s`,
		`pager.yaml:9: receiver "am": alertmanager url "ftp://am.example": expected http://`,
		`pager.yaml:10: receiver "pd": routing_key is not written in the config`,
		`pager.yaml:11: receiver "hook": webhook needs secret_file`,
		`pager.yaml:12: receiver "am" is defined twice (first on line 9)`,
		`pager.yaml:12: receiver "am": set exactly one of alertmanager, pagerduty or webhook`,
		`pager.yaml:13: receiver "spare" is not used by any route`,
		`pager.yaml:15: route: receiver "nobody" is not defined under receivers`,
		`pager.yaml:15: route: match.severity "urgent" matches none of info, warning, critical`,
		`pager.yaml:16: route: match pattern "dc[1" is malformed`,
		`pager.yaml:17: route: receivers is required`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in:\n%s", want, got)
		}
	}
	// Decoding errors: unknown keys, a duration without a unit, a missing file's worth of receivers.
	_, err = ParsePager("pager.yaml", []byte("pager:\n  id: p\n  colour: blue\n  gateways: {silent_after: 2}\n"))
	if got := err.Error(); !strings.Contains(got, `pager.yaml:3: pager: unknown key "colour"`) || !strings.Contains(got, `pager.yaml:4: pager.gateways.silent_after: "2" has no unit`) {
		t.Errorf("decode errors:\n%s", got)
	}
	_, err = ParsePager("pager.yaml", []byte("pager: {id: p}\n"))
	if got := err.Error(); !strings.Contains(got, `pager.yaml:1: pager.brokers: at least one broker`) || !strings.Contains(got, `pager.yaml: receivers: at least one receiver`) {
		t.Errorf("missing sections:\n%s", got)
	}
}

func TestLoadPagerMissingFile(t *testing.T) {
	_, err := LoadPager("/nonexistent/pager.yaml")
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/pager.yaml: cannot read config") {
		t.Fatalf("got %v", err)
	}
}

// FuzzParsePager: a config file is outside input; whatever it holds, loading never panics and either
// returns a config or errors that each name the file.
func FuzzParsePager(f *testing.F) {
	f.Add([]byte(goodPager))
	f.Add([]byte("pager: {id: p}\nroutes: [{match: {labels: {a: '['}}, receivers: [x]}]\n"))
	f.Add([]byte("pager: &a {id: *a}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := ParsePager("f.yaml", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "f.yaml") {
				t.Fatalf("error without the file name: %v", err)
			}
			return
		}
		if cfg.Pager.ID == "" || len(cfg.Receivers) == 0 {
			t.Fatalf("accepted an incomplete config: %+v", cfg)
		}
	})
}
