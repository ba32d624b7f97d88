package view

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/rackwatch/rackwatch/agent/contract"
)

func TestActionEventsAreShown(t *testing.T) {
	var b strings.Builder
	p := &Printer{W: &b, Loc: time.UTC}
	ev := contract.Action{Gateway: "gw", Output: "stop-charge", State: contract.OutputOn, Result: contract.ResultOK,
		Alarm: "pre-runaway", Severity: contract.Critical, AlarmSeq: 9, Took: 2 * time.Millisecond, Latency: 3500 * time.Microsecond,
		Detail: "coil 4609 (0x1201) on unit 1 of bus bms = 0, read back 0", Time: time.Date(2026, 11, 25, 3, 0, 1, 4e6, time.UTC)}
	ev.Message = contract.ActionMessage(&ev)
	payload, _ := json.Marshal(ev)
	if !p.Message("rackwatch", "rackwatch/gw/events", payload, false) {
		t.Fatal("action event not understood")
	}
	want := "2026-11-25 03:00:01.004  ACTION     stop-charge on for pre-runaway (critical): ok in 2ms; coil 4609 (0x1201) on unit 1 of bus bms = 0, read back 0  +3.5 ms\n"
	if b.String() != want {
		t.Errorf("got  %q\nwant %q", b.String(), want)
	}
	// An alarm on the same topic is still an alarm.
	b.Reset()
	al, _ := json.Marshal(contract.Alarm{Gateway: "gw", Key: "smoke/s/smoke", Severity: contract.Critical, State: contract.Active,
		Event: contract.EventRaise, Seq: 3, Message: "smoke", Time: ev.Time})
	if !p.Message("rackwatch", "rackwatch/gw/events", al, false) || !strings.Contains(b.String(), "CRITICAL   smoke/s/smoke  smoke  #3") {
		t.Errorf("alarm: %q", b.String())
	}
}
