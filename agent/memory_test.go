package agent

import (
	"strings"
	"testing"
)

// The agent's default memory budget follows the config's size: a gateway with more channels, brokers,
// an embedded broker or the HTTP endpoints gets a larger soft limit; gateway.memory_limit replaces the
// derived limit, and GOMEMLIMIT and GOGC from the environment win over both.
func TestMemoryBudgetFollowsConfig(t *testing.T) {
	small := writePlan(t, testRegistry(), `gateway: {id: gw, state_dir: STATE}
mqtt:
  brokers: [{url: "tcp://127.0.0.1:1883"}]
sensors:
  - {id: s1, driver: sim, scenario: steady}
rules:
  - {id: hot, match: {sensor: s1}, above: 40, severity: warning}
`)
	big := writePlan(t, testRegistry(), `gateway: {id: gw, state_dir: STATE, http: "127.0.0.1:0"}
mqtt:
  brokers: [{url: "tcp://127.0.0.1:1883"}, {url: "tcp://127.0.0.1:1884"}]
  embedded_broker: "127.0.0.1:0"
sensors:
  - {id: s1, driver: sim, scenario: steady}
  - {id: s2, driver: sim, scenario: steady}
  - {id: s3, driver: sim, scenario: steady}
rules:
  - {id: hot, match: {sensor: "s*"}, above: 40, severity: warning}
`)
	noEnv := func(string) string { return "" }
	s, b := memoryBudget(small, noEnv), memoryBudget(big, noEnv)
	if s.Limit <= 0 || b.Limit <= s.Limit {
		t.Errorf("soft limits: small config %d, bigger config %d; want both set, the bigger one larger", s.Limit, b.Limit)
	}
	if s.GCPercent != DefaultGCPercent {
		t.Errorf("GC percent %d, want the default %d", s.GCPercent, DefaultGCPercent)
	}
	for _, want := range []string{"brokers × 1 MiB", "embedded broker", "HTTP", "GOGC 50"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("the budget says %q, without %q", b, want)
		}
	}

	small.Config.Gateway.MemoryLimit = 24 << 20
	if m := memoryBudget(small, noEnv); m.Limit != 24<<20 || !strings.Contains(m.String(), "24MiB (gateway.memory_limit)") {
		t.Errorf("with memory_limit 24MiB: %+v, %s", m, m)
	}
	env := map[string]string{"GOMEMLIMIT": "30MiB", "GOGC": "100"}
	m := memoryBudget(small, func(k string) string { return env[k] })
	if m.Limit != 0 || m.GCPercent != 0 {
		t.Errorf("with GOMEMLIMIT and GOGC set the agent still sets limit %d, GC %d", m.Limit, m.GCPercent)
	}
	if !strings.Contains(m.String(), "GOMEMLIMIT=30MiB from the environment") || !strings.Contains(m.String(), "GOGC from the environment") {
		t.Errorf("the budget does not say the environment set it: %s", m)
	}
}
