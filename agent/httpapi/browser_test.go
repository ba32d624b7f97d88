package httpapi

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/rackwatch/rackwatch/agent/internal/browsertest"
	"github.com/rackwatch/rackwatch/agent/promtext"
)

// staticSource serves one fixed status.
type staticSource struct{ st Status }

func (s staticSource) Health() error                 { return nil }
func (s staticSource) WriteMetrics(*promtext.Writer) {}
func (s staticSource) Status() Status                { return s.st }

// A real browser builds the page an operator sees: the incident in order, the brokers, the dead device
// on one line, no value beside a failed reading.
func TestPageInChromium(t *testing.T) {
	srv, err := Start("127.0.0.1:0", staticSource{incident()}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	page := text(browsertest.DumpDOM(t, "http://"+srv.Addr()+"/"))
	want := []string{
		"6 active alarms, 3 critical · 1 of 2 brokers connected, 7 transitions waiting",
		"03:03:40 (6m20s ago) | warning | offgas-voc/batt-room.offgas/voc",
		"03:04:50 (5m10s ago) | critical | pre-runaway",
		"03:07:00 (3m00s ago) | critical | smoke/batt-room.smoke/smoke | DETECTED | active, not acknowledged",
		"tls://central-b:8883 | NOT CONNECTED since 03:02:00",
		"batt-room.smoke | smoke | — | 1.0s | bad: gpio: line 17 busy",
		"ups1 | all 3 channels | — |",
	}
	last := -1
	for _, w := range want[1:4] {
		i := strings.Index(page, w)
		if i < last {
			t.Errorf("%q is out of order", w)
		}
		last = i
	}
	for _, w := range want {
		if !strings.Contains(page, w) {
			t.Errorf("the browser shows no %q:\n%s", w, page)
		}
	}
}
