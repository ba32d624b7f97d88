package httpapi

import (
	"html"
	"regexp"
	"strings"
	"testing"
	"time"
)

var (
	tags   = regexp.MustCompile(`<[^>]*>`)
	spaces = regexp.MustCompile(`[ \t]+`)
)

// text is the page as a person reads it: one line per table row or paragraph, cells separated by " | ".
func text(page string) string {
	page = page[strings.Index(page, "<body>"):]
	page = strings.NewReplacer("</td><td", " | <td", "</th><th", " | <th", "<br>", " ").Replace(page)
	page = tags.ReplaceAllString(page, "")
	var out []string
	for _, l := range strings.Split(html.UnescapeString(page), "\n") {
		if l = strings.TrimSpace(spaces.ReplaceAllString(l, " ")); l != "" {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// incident is the battery room's story as the page gets it: the alarms in no particular order (the agent
// keeps them in a map), two brokers of which one is down, a dead device and a failed smoke contact.
func incident() Status {
	at := func(s string) time.Time {
		t, _ := time.Parse(time.RFC3339, "2026-11-25T"+s+"Z")
		return t
	}
	return Status{Gateway: "dc1-b3-battery", Site: "dc1", Version: "1.2.0", Started: at("02:00:00"), Now: at("03:10:00"), Location: time.UTC,
		Alarms: []AlarmRow{
			{Severity: "critical", Key: "smoke/batt-room.smoke/smoke", State: "active", Since: at("03:07:00"), Episode: 7, Value: "DETECTED", Message: "batt-room.smoke smoke DETECTED"},
			{Severity: "critical", Key: "fire-alarm", State: "active", Since: at("03:07:00"), Episode: 8, Message: "Battery room FIRE"},
			{Severity: "warning", Key: "offgas-h2/batt-room.offgas/h2", State: "active", Since: at("03:04:10"), Value: "75.6 ppm", Acked: true, AckedBy: "alice", Message: "h2 75.6 ppm"},
			{Severity: "critical", Key: "pre-runaway", State: "active", Since: at("03:04:50"), Message: "Battery room: cell venting suspected"},
			{Severity: "warning", Key: "offgas-voc/batt-room.offgas/voc", State: "active", Since: at("03:03:40"), Value: "1489 ppb", Message: "voc 1489 ppb"},
			{Severity: "warning", Key: "inlet-warm/r12.inlet/temperature", State: "active", Since: at("03:09:00"), Shelved: true,
				ShelvedUntil: at("05:00:00"), ShelvedBy: "bob", Message: "inlet 28.97 °C"},
		},
		Timeline: []EventRow{
			{Time: at("03:03:40"), Seq: 1, Event: "raise", Severity: "warning", Key: "offgas-voc/batt-room.offgas/voc", Message: "voc 1489 ppb"},
			{Time: at("03:07:00"), Seq: 7, Event: "raise", Severity: "critical", Key: "smoke/batt-room.smoke/smoke", Message: "smoke"},
		},
		Brokers: []BrokerRow{
			{Name: "tls://central-a:8883", Connected: true, Since: at("02:00:01")},
			{Name: "tls://central-b:8883", Since: at("03:02:00"), Error: "dial tcp 10.0.0.2:8883: connection refused", Backlog: 7, Oldest: 6*time.Minute + 20*time.Second},
		},
		Journal: &JournalRow{Bytes: 12800, MaxBytes: 64 << 20, Segments: 1},
		Readings: []ReadingRow{
			{Sensor: "batt-room.smoke", Channel: "smoke", Quality: "bad", Value: "0", Error: "gpio: line 17 busy", Age: time.Second},
			{Sensor: "string1", Channel: "battery_temp", Quality: "good", Value: "68.97", Unit: "°C", Age: 500 * time.Millisecond},
			{Sensor: "ups1", Channel: "charge", Quality: "bad", Error: "nut: dial tcp 127.0.0.1:3493: connection refused (a long error that used to repeat on every channel)", Age: 2 * time.Second},
			{Sensor: "ups1", Channel: "on_battery", Quality: "bad", Error: "nut: dial tcp 127.0.0.1:3493: connection refused (a long error that used to repeat on every channel)", Age: 2 * time.Second},
			{Sensor: "ups1", Channel: "runtime", Quality: "bad", Error: "nut: dial tcp 127.0.0.1:3493: connection refused (a long error that used to repeat on every channel)", Age: 2 * time.Second},
		},
	}
}

func render(st Status) string {
	var b strings.Builder
	writePage(&b, st)
	return b.String()
}

// The order of events is the story: off-gas, then heat, then smoke. The page lists alarms in the order
// they rose, with clock times, whatever their severity.
func TestAlarmsInTheOrderTheyRose(t *testing.T) {
	page := text(render(incident()))
	var order []string
	for _, l := range strings.Split(page, "\n") {
		if strings.HasPrefix(l, "03:") && strings.Contains(l, "ago)") {
			order = append(order, strings.Split(l, " | ")[2])
		}
	}
	// The smoke and the fire alarm it completes rose at the same instant: the smoke came first.
	want := []string{"offgas-voc/batt-room.offgas/voc", "offgas-h2/batt-room.offgas/h2", "pre-runaway", "smoke/batt-room.smoke/smoke", "fire-alarm", "inlet-warm/r12.inlet/temperature"}
	if strings.Join(order, ",") != strings.Join(want, ",") {
		t.Errorf("alarms in this order:\n%s\nwant\n%s\npage:\n%s", strings.Join(order, "\n"), strings.Join(want, "\n"), page)
	}
	for _, line := range []string{
		"03:03:40 (6m20s ago) | warning | offgas-voc/batt-room.offgas/voc | 1489 ppb | active, not acknowledged | voc 1489 ppb",
		"03:04:10 (5m50s ago) | warning | offgas-h2/batt-room.offgas/h2 | 75.6 ppm | active, acknowledged by alice | h2 75.6 ppm",
		"| inlet-warm/r12.inlet/temperature | | active, not acknowledged, shelved until 05:00:00 by bob | inlet 28.97 °C",
		"6 active alarms, 3 critical · 1 of 2 brokers connected, 7 transitions waiting",
		"page at 03:10:00, times in UTC",
	} {
		if !strings.Contains(page, line) {
			t.Errorf("no %q on the page:\n%s", line, page)
		}
	}
}

// A failed reading shows no value (it showed "smoke 0" beside an active smoke alarm), and a dead device
// is one line, not the same long error on every channel.
func TestBadReadingsHaveNoValue(t *testing.T) {
	page := text(render(incident()))
	for _, line := range []string{
		"batt-room.smoke | smoke | — | 1.0s | bad: gpio: line 17 busy",
		"string1 | battery_temp | 68.97 °C | 0.5s | good",
		"ups1 | all 3 channels | — | 2.0s | bad: nut: dial tcp 127.0.0.1:3493: connection refused",
	} {
		if !strings.Contains(page, line) {
			t.Errorf("no %q on the page:\n%s", line, page)
		}
	}
	if n := strings.Count(page, "connection refused (a long error"); n != 1 {
		t.Errorf("the dead UPS's error is on the page %d times", n)
	}
}

// Broker connection and backlog, the first thing to check when alarms do not arrive, and the journal.
func TestDeliveryOnThePage(t *testing.T) {
	page := text(render(incident()))
	for _, line := range []string{
		"tls://central-a:8883 | connected since 02:00:01 (1h09m ago) | 0 |",
		"tls://central-b:8883 | NOT CONNECTED since 03:02:00 (8m00s ago) dial tcp 10.0.0.2:8883: connection refused | 7 | 6m20s",
		"Journal: writing · 12.5 KiB in 1 segment of at most 64.0 MiB",
		"Timeline: the last transitions",
		"03:07:00 | 7 | raise | critical | smoke/batt-room.smoke/smoke | smoke",
	} {
		if !strings.Contains(page, line) {
			t.Errorf("no %q on the page:\n%s", line, page)
		}
	}
	st := incident()
	st.Journal.Error = "write /var/lib/rackwatch/journal/00000001.seg: no space left on device"
	if page := text(render(st)); !strings.Contains(page, "Journal: FAILING: write /var/lib/rackwatch/journal/00000001.seg: no space left on device") ||
		!strings.Contains(page, "journal failing") {
		t.Errorf("a failing journal is not on the page:\n%s", page)
	}
}

// Whatever a sensor's error or an alarm's message says, it cannot inject markup.
func TestPageEscapes(t *testing.T) {
	st := incident()
	st.Alarms[0].Message = `<script>alert(1)</script>`
	st.Readings[0].Error = `"><img src=x>`
	st.Brokers[1].Name = "tcp://<b>"
	page := render(st)
	for _, bad := range []string{"<script>", "<img", "<b>"} {
		if strings.Contains(page, bad) {
			t.Errorf("%q reached the page unescaped", bad)
		}
	}
}

func TestClip(t *testing.T) {
	for s, want := range map[string]string{"short": "short", strings.Repeat("é", 12): strings.Repeat("é", 10) + "…"} {
		if got := clip(s, 10); got != want {
			t.Errorf("clip(%q) = %q", s, got)
		}
	}
}
