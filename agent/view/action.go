package view

import (
	"strconv"

	"github.com/rackwatch/rackwatch/agent/contract"
)

// Action writes one action event: what the gateway did to an output, and how it went:
//
//	2026-11-25 03:00:01.004  ACTION     stop-charge on for pre-runaway (critical): ok in 2.1ms; coil 4609 …  +4 ms
//
// The trailing figure is the time from the alarm transition to the end of the action.
func (p *Printer) Action(a *contract.Action) {
	p.mu.Lock()
	defer p.mu.Unlock()
	b := p.stamp(p.buf[:0], a.Time)
	b = append(b, "  "...)
	b = p.gateway(b, a.Gateway)
	l, c := "ACTION", bold+cyan
	switch a.Result {
	case contract.ResultFailed:
		l, c = "ACT FAIL", bold+red
	case contract.ResultDryRun:
		l, c = "DRY RUN", cyan
	}
	if a.Output == contract.ShutdownOutput {
		l, c = "SHUTDOWN", bold+red
	}
	b = p.paint(b, c, pad(l, 9))
	b = append(b, "  "...)
	msg := a.Message
	if msg == "" {
		msg = contract.ActionMessage(a)
	}
	b = append(b, msg...)
	if a.AlarmSeq != 0 {
		b = p.paint(b, dim, "  +"+strconv.FormatFloat(float64(a.Latency.Microseconds())/1000, 'f', 1, 64)+" ms")
	}
	p.buf = b
	p.emit(b)
}
