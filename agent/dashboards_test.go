package agent

import (
	"context"
	"encoding/json"
	"html"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rackwatch/rackwatch/agent/internal/browsertest"
	"github.com/rackwatch/rackwatch/agent/internal/promtest"
)

// dashboardQueries returns every PromQL expression of the Grafana dashboard, panels and variables.
func dashboardQueries(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("../configs/grafana/rackwatch.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		UID, Title string
		Panels     []json.RawMessage
		Templating struct {
			List []struct {
				Type  string
				Query json.RawMessage
			}
		}
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("the dashboard is not JSON: %v", err)
	}
	if dash.UID == "" || dash.Title == "" {
		t.Error("the dashboard needs a uid and a title")
	}
	var exprs []string
	var walk func(ps []json.RawMessage)
	walk = func(ps []json.RawMessage) {
		for _, raw := range ps {
			var p struct {
				Title      string
				Datasource *struct{ Type, UID string }
				Targets    []struct{ Expr string }
				Panels     []json.RawMessage
			}
			if err := json.Unmarshal(raw, &p); err != nil {
				t.Fatal(err)
			}
			for _, tg := range p.Targets {
				if p.Datasource == nil || p.Datasource.Type != "prometheus" || p.Datasource.UID != "${datasource}" {
					t.Errorf("panel %q: its data source must be the dashboard's Prometheus variable", p.Title)
				}
				exprs = append(exprs, tg.Expr)
			}
			walk(p.Panels)
		}
	}
	walk(dash.Panels)
	for _, v := range dash.Templating.List {
		if v.Type != "query" {
			continue
		}
		var q struct{ Query string }
		if json.Unmarshal(v.Query, &q) == nil && q.Query != "" {
			exprs = append(exprs, q.Query)
		}
	}
	if len(exprs) < 20 {
		t.Fatalf("only %d queries in the dashboard", len(exprs))
	}
	return exprs
}

var metricName = regexp.MustCompile(`\b(?:rackwatch|go|process)_[a-z0-9_]+\b`)

// runDemo runs configs/demo.yaml (its broker and status page on free ports) until the test ends, and
// returns where its status page is and when it started.
func runDemo(t *testing.T) (httpAddr string, start time.Time) {
	t.Helper()
	r, start := runDemoReady(t)
	return r.HTTP, start
}

// runDemoReady is runDemo, returning where its broker is too.
func runDemoReady(t *testing.T) (_ Ready, start time.Time) {
	t.Helper()
	plan, err := LoadAndCheck("../configs/demo.yaml", testRegistry())
	if err != nil {
		t.Fatal(err)
	}
	cfg := plan.Config
	cfg.Gateway.StateDir = filepath.Join(t.TempDir(), "state")
	cfg.Gateway.HTTP, cfg.MQTT.EmbeddedBroker = "127.0.0.1:0", "127.0.0.1:0"
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan Ready, 1)
	done := make(chan error, 1)
	start = time.Now()
	go func() {
		done <- Run(ctx, plan, testRegistry(), Options{Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
			Ready: func(r Ready) { ready <- r }})
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	select {
	case r := <-ready:
		return r, start
	case err := <-done:
		t.Fatalf("the demo did not start: %v", err)
	case <-time.After(time.Minute):
		t.Fatal("the demo did not start")
	}
	return Ready{}, start
}

// Every metric the Grafana dashboard queries exists in the demo's /metrics: a family renamed or dropped
// would leave a panel empty without a word.
func TestDashboardMetricsExist(t *testing.T) {
	exprs := dashboardQueries(t)
	addr, _ := runDemo(t)
	metrics := get(t, "http://"+addr+"/metrics")
	// A family counts from its TYPE line: right after the start no reading has come yet, and
	// rackwatch_reading has no sample until one does.
	have := map[string]bool{}
	for _, l := range strings.Split(metrics, "\n") {
		if rest, ok := strings.CutPrefix(l, "# TYPE "); ok {
			name, typ, _ := strings.Cut(rest, " ")
			have[name] = true
			if typ == "histogram" || typ == "summary" {
				have[name+"_bucket"], have[name+"_sum"], have[name+"_count"] = true, true, true
			}
			continue
		}
		if l == "" || l[0] == '#' {
			continue
		}
		if i := strings.IndexAny(l, "{ "); i > 0 {
			have[l[:i]] = true
		}
	}
	seen := map[string]bool{}
	for _, e := range exprs {
		for _, name := range metricName.FindAllString(e, -1) {
			if !have[name] && !seen[name] {
				t.Errorf("the dashboard queries %s, which /metrics does not have (in %s)", name, e)
			}
			seen[name] = true
		}
	}
	if len(seen) < 10 {
		t.Errorf("the dashboard queries only %d metrics: %v", len(seen), seen)
	}
}

// storyOver is how long after its start the demo's story is told: a minute of scenario at time_scale 10,
// and the delays of its last rules.
const storyOver = 66 * time.Second

// The demo's battery room through a real Prometheus: it scrapes the running agent, its query API gives
// back the readings and the alarms, and every query of the Grafana dashboard runs and the battery room's
// panels have data. Then a real browser renders the status page at the end of the story: the incident in
// the order it happened. (Set RACKWATCH_SCREENSHOT=FILE to keep a screenshot of it.)
func TestDemoThroughPrometheusAndTheBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("plays the demo's minute-long story")
	}
	promtest.Binary(t)
	browsertest.Binary(t)
	exprs := dashboardQueries(t)
	ready, start := runDemoReady(t)
	addr := ready.HTTP
	prom := promtest.Start(t, addr)

	// Home Assistant, pointed at the demo's broker, discovers the battery room.
	const node = "rackwatch_demo-gw"
	classes := map[string]string{
		"homeassistant/sensor/" + node + "/string1__battery_5ftemp/config":         "temperature",
		"homeassistant/sensor/" + node + "/batt-room_2eair__humidity/config":       "humidity",
		"homeassistant/sensor/" + node + "/batt-room_2eoffgas__voc/config":         "volatile_organic_compounds_parts",
		"homeassistant/binary_sensor/" + node + "/batt-room_2esmoke__smoke/config": "smoke",
		"homeassistant/sensor/" + node + "/ups1__charge/config":                    "battery",
		"homeassistant/binary_sensor/" + node + "/alarm__fire-alarm/config":        "problem",
	}
	// Wait for every config checked below, not a count: a snapshot taken while the gateway is still
	// publishing its discovery can hold 30 configs and miss these.
	cs := retainedConfigs(t, nil, "tcp://"+ready.Broker, "demo", func(cs map[string]map[string]any) bool {
		for topic := range classes {
			if cs[topic] == nil {
				return false
			}
		}
		return len(cs) >= 30
	})
	for topic, class := range classes {
		if c := cs[topic]; c == nil || c["device_class"] != class {
			t.Errorf("Home Assistant discovers no %s on %s: %v (have %v)", class, topic, c, keysOf(cs))
		}
	}

	prom.WaitFor(`up{job="rackwatch"}`, func(s []promtest.Sample) bool { return len(s) == 1 && s[0].Value == "1" })
	temps := prom.WaitFor(`rackwatch_reading{channel="battery_temp"}`, func(s []promtest.Sample) bool { return len(s) == 2 })
	for _, s := range temps {
		if s.Metric["unit"] != "°C" || s.Metric["sensor"] != "string1" && s.Metric["sensor"] != "string2" {
			t.Errorf("battery temperature series %v", s.Metric)
		}
	}
	alarms := prom.Query(`rackwatch_alarm_active`)
	if len(alarms) < 10 {
		t.Errorf("%d alarm series before any alarm rose; every alarm should have one", len(alarms))
	}
	// The story: the off-gas warning, then smoke; Prometheus sees each alarm go active.
	prom.WaitFor(`rackwatch_alarm_active{alarm="offgas-voc/batt-room.offgas/voc",severity="warning"} == 1`, func(s []promtest.Sample) bool { return len(s) == 1 })
	prom.WaitFor(`rackwatch_alarm_active{alarm="smoke/batt-room.smoke/smoke",severity="critical"} == 1`, func(s []promtest.Sample) bool { return len(s) == 1 })
	crit := prom.WaitFor(`sum(rackwatch_alarm_active{severity="critical"})`, func(s []promtest.Sample) bool {
		v, _ := strconv.ParseFloat(valueOf(s), 64)
		return v >= 4
	})
	t.Logf("critical alarms active: %s", valueOf(crit))
	if v, _ := strconv.ParseFloat(valueOf(prom.Query(`max(rackwatch_reading{sensor="string1",channel="battery_temp"})`)), 64); v < 60 {
		t.Errorf("string1 at %v °C when the smoke rose", v)
	}

	// Every dashboard query runs; the battery room's and the delivery's panels have data.
	vars := strings.NewReplacer(`$instance`, `.*`, `$room`, `.*`, `$__rate_interval`, `1m`)
	for _, e := range exprs {
		if args, ok := strings.CutPrefix(e, "label_values("); ok {
			// Grafana's variable query, not PromQL: the metric's series carry the label.
			i := strings.LastIndex(args, ",")
			metric, label := vars.Replace(args[:i]), strings.TrimSuffix(args[i+1:], ")")
			s := prom.Query(metric)
			if len(s) == 0 || s[0].Metric[strings.TrimSpace(label)] == "" {
				t.Errorf("the dashboard's variable %s finds nothing: %v", e, s)
			}
			continue
		}
		q := vars.Replace(e)
		s := prom.Query(q)
		for _, must := range []string{`unit="°C"`, `unit="%RH"`, `channel=~"voc|tvoc"`, `channel=~"h2|co"`, `channel="charge"`, `rackwatch_alarm_active{instance=~".*"}`,
			`rackwatch_mqtt_pending_transitions`, `rackwatch_mqtt_delivery_seconds_bucket`} {
			if strings.Contains(q, must) && len(s) == 0 {
				t.Errorf("the dashboard's %s has no data", e)
			}
		}
		// The battery room chosen as the room: its temperatures, the strings' among them, and no hall's.
		if strings.Contains(e, `unit="°C"`) {
			strings1 := 0
			for _, s := range prom.Query(strings.NewReplacer(`$instance`, `.*`, `$room`, `battery-room`).Replace(e)) {
				if s.Metric["label_room"] != "battery-room" {
					t.Errorf("the battery room's temperatures include %v", s.Metric)
				}
				if s.Metric["channel"] == "battery_temp" {
					strings1++
				}
			}
			if strings1 != 2 {
				t.Errorf("the battery room's temperatures show %d battery strings, want 2", strings1)
			}
		}
	}

	// The page at the end of the story, as a browser shows it: the UPS's last alarm raised and the
	// shutdown started (conditions, so that a slow machine only waits longer), and not before the
	// story's nominal end.
	prom.WaitFor(`rackwatch_alarm_active{alarm="ups-low-battery/ups1/low_battery"} == 1`, func(s []promtest.Sample) bool { return len(s) == 1 })
	prom.WaitFor(`rackwatch_shutdown_state == 2`, func(s []promtest.Sample) bool { return len(s) == 1 })
	if d := time.Until(start.Add(storyOver)); d > 0 {
		time.Sleep(d)
	}
	url := "http://" + addr + "/"
	page := pageText(browsertest.DumpDOM(t, url))
	order := []string{"offgas-voc/batt-room.offgas/voc", "pre-runaway", "smoke/batt-room.smoke/smoke", "fire-alarm", "ups-low-battery/ups1/low_battery"}
	alarmsPart := page[:strings.Index(page, "Timeline")]
	last := -1
	for _, key := range order {
		i := strings.Index(alarmsPart, "| "+key+" |")
		if i < 0 || i < last {
			t.Errorf("%s out of the order of events:\n%s", key, alarmsPart)
		}
		last = i
	}
	for _, want := range []string{"active alarms,", "1 of 1 brokers connected", "Journal: writing", "| smoke | DETECTED |",
		"stop-charge | sim | on | on |", "| on_battery | ON BATTERY |"} {
		if !strings.Contains(page, want) {
			t.Errorf("the page shows no %q:\n%s", want, page)
		}
	}
	if file := os.Getenv("RACKWATCH_SCREENSHOT"); file != "" {
		browsertest.Screenshot(t, url, file, 1280, 2900)
	}
}

func valueOf(s []promtest.Sample) string {
	if len(s) == 0 {
		return ""
	}
	return s[0].Value
}

var (
	tagRE   = regexp.MustCompile(`<[^>]*>`)
	spaceRE = regexp.MustCompile(`[ \t]+`)
)

// pageText is a page as a person reads it: a line per row or paragraph, cells separated by " | ".
func pageText(dom string) string {
	if i := strings.Index(dom, "<body"); i >= 0 {
		dom = dom[i:]
	}
	dom = strings.NewReplacer("</td><td", " | <td", "</th><th", " | <th", "<br>", " ").Replace(dom)
	dom = html.UnescapeString(tagRE.ReplaceAllString(dom, ""))
	var lines []string
	for _, l := range strings.Split(dom, "\n") {
		if l = strings.TrimSpace(spaceRE.ReplaceAllString(l, " ")); l != "" {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "\n")
}
