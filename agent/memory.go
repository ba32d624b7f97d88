package agent

import (
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// The memory the agent keeps by default. The Go runtime's own defaults (GOGC=100 and no limit) let the
// heap grow to at least 4 MiB before it is collected, whatever the agent holds: on the 64-register job the
// live heap is about 1 MiB and the heap is four times that. A gateway's live heap follows from its config
// (readings and rule state per channel, a connection and its queues per broker), so the defaults do too.
const (
	// DefaultGCPercent is the GOGC the agent runs with unless GOGC is set: the heap may grow to 1.5 times
	// what is live (and at least 2 MiB, the runtime's minimum scaled the same way) before it is
	// collected. A collection of this heap costs about a millisecond of CPU; at the 64-register job's
	// allocation rate it runs every few seconds.
	DefaultGCPercent = 50

	memBase       = 8 << 20   // runtime, stacks, the rules engine, the journal's memory queue (1 MiB), TLS
	memPerChannel = 16 << 10  // a reading's way through: last value, deadband filter, rule state, queues
	memPerBroker  = 1 << 20   // a connection: buffers, its readings queue, in-flight alarms
	memEmbedded   = 4 << 20   // the embedded broker: its clients, sessions and retained messages
	memHTTP       = 512 << 10 // the HTTP endpoints: a few connections at once, the status page
)

// MemoryBudget is the soft memory limit and GC setting the agent runs with, and why.
type MemoryBudget struct {
	Limit     int64  // bytes, for debug.SetMemoryLimit; 0: left to GOMEMLIMIT
	GCPercent int    // for debug.SetGCPercent; 0: left to GOGC
	From      string // where the limit comes from, for `rackwatch check` and the log
}

// Memory is the plan's memory budget. The soft limit is gateway.memory_limit when set, else derived from
// the config's size; the environment's GOMEMLIMIT and GOGC, when set, win over both (the Go runtime has
// applied them already).
func (p *Plan) Memory() MemoryBudget {
	return memoryBudget(p, os.Getenv)
}

func memoryBudget(p *Plan, getenv func(string) string) MemoryBudget {
	cfg := p.Config
	var m MemoryBudget
	switch {
	case getenv("GOMEMLIMIT") != "":
		m.From = "GOMEMLIMIT=" + getenv("GOMEMLIMIT") + " from the environment"
	case cfg.Gateway.MemoryLimit > 0:
		m.Limit = int64(cfg.Gateway.MemoryLimit)
		m.From = "gateway.memory_limit"
	default:
		channels := 0
		for _, s := range p.Sensors {
			if chs, ok := p.Channels[s.ID]; ok && chs != nil {
				channels += len(chs)
			} else {
				channels += 8 // learned at run time: assume a device's worth
			}
		}
		brokers := len(cfg.MQTT.Brokers)
		m.Limit = memBase + int64(channels)*memPerChannel + int64(brokers)*memPerBroker
		m.From = fmt.Sprintf("8 MiB + %d channels × 16 KiB + %d brokers × 1 MiB", channels, brokers)
		if cfg.MQTT.EmbeddedBroker != "" {
			m.Limit += memEmbedded
			m.From += " + 4 MiB embedded broker"
		}
		if cfg.Gateway.HTTP != "" {
			m.Limit += memHTTP
			m.From += " + 512 KiB HTTP"
		}
	}
	if getenv("GOGC") == "" {
		m.GCPercent = DefaultGCPercent
	}
	return m
}

// String says what the budget is, for `rackwatch check` and the start-up log.
func (m MemoryBudget) String() string {
	limit := "as GOMEMLIMIT"
	if m.Limit > 0 {
		limit = mib(m.Limit)
	}
	gc := "GOGC from the environment"
	if m.GCPercent > 0 {
		gc = fmt.Sprintf("GOGC %d", m.GCPercent)
	}
	return fmt.Sprintf("soft memory limit %s (%s), %s", limit, m.From, gc)
}

// Apply hands the budget to the Go runtime, for the whole process: `rackwatch run` calls it before Run
// (a test binary running many agents at once keeps its own settings).
func (m MemoryBudget) Apply(log *slog.Logger) {
	if m.Limit > 0 {
		debug.SetMemoryLimit(m.Limit)
	}
	if m.GCPercent > 0 {
		debug.SetGCPercent(m.GCPercent)
	}
	log.Info("memory", "budget", m.String())
}

// mib writes a size in MiB, as the config would.
func mib(n int64) string {
	s := strconv.FormatFloat(float64(n)/(1<<20), 'f', 2, 64)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	return s + "MiB"
}
