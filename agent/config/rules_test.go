package config

import (
	"strings"
	"testing"
)

const rulesHead = `gateway: {id: gw1}
mqtt: {embedded_broker: "127.0.0.1:1883"}
sensors:
  - {id: ups1, driver: sim}
rules:
`

func TestRuleValidation(t *testing.T) {
	for _, c := range []struct{ rule, want string }{
		{`  - {id: a, match: {channel: t}, above: 27, clear: 26, for: 30s, clear_for: 10s}`, ""},
		{`  - {id: a, match: {channel: t}, rate_above: 2, clear: 1}`, ""},
		{`  - {id: a, match: {channel: t}, rate_below: -2, clear: -1, per: 1h, window: 15m}`, ""},
		{`  - {id: a, match: {channel: t}, stale: 30s, latch: true, severity: critical}`, ""},
		{`  - {id: a, match: {channel: t}, state: false, message: "Mains"}`, ""},
		{`  - {id: a, match: {channel: t}, rate_above: 2, clear: 3}`, "must not be above rate_above 2"},
		{`  - {id: a, match: {channel: t}, rate_below: -2, clear: -3}`, "must not be below rate_below -2"},
		{`  - {id: a, match: {channel: t}, state: true, clear: 1}`, "clear applies only to"},
		{`  - {id: a, match: {channel: t}, above: 1, per: 1m}`, "per and window apply only to rate"},
		{`  - {id: a, match: {channel: t}, stale: 30s, window: 1m}`, "per and window apply only to rate"},
		{`  - {id: a, match: {channel: t}, rate_above: 2, window: 500ms, per: 1s}`, "too short; fit a rate over at least 1s"},
		{`  - {id: a, match: {channel: t}, rate_above: 2, window: 10s, per: 1m}`, "too short to fit a rate per 1m0s"},
		{`  - {id: a, match: {channel: t}, rate_above: 2, window: 48h, per: 1h}`, "longer than 24h0m0s"},
		{`  - {id: a, match: {channel: t}, stale: 100ms}`, "too short (at least 1s)"},
		{`  - {id: a, match: {channel: t}, above: .nan}`, "finite"},
		{`  - {id: a, match: {channel: t}, above: 1, below: 0}`, "above and below together"},
		{`  - {id: a, match: {channel: t}, above: 1, state: true}`, "exactly one of"},
		{`  - {id: a, match: {channel: t}}`, "exactly one of"},
		{`  - {id: a, match: {channel: t}, above: 1, severity: page}`, `severity "page"`},
		{`  - {id: a, all: [b]}`, `refers to rule "b", which is not defined`},
		{"  - {id: a, any: [b]}\n  - {id: b, all: [a]}", "in a loop"},
		{`  - {id: a, above: 1}`, "match is required"},
		{`  - {id: a, match: {sensor: "[a"}, above: 1}`, "malformed"},
		{`  - {id: a, match: {channel: t}, above: 1, flap: true}`, `unknown key "flap"`},
		{`  - {id: rackwatch, match: {channel: t}, above: 1}`, "reserved for the gateway's own alarms"},
	} {
		_, err := Parse("r.yaml", []byte(rulesHead+c.rule+"\n"))
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.rule, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: %v, want %q", c.rule, err, c.want)
		case c.want != "" && !strings.Contains(err.Error(), "r.yaml:"):
			t.Errorf("%s: %v lacks FILE:LINE", c.rule, err)
		}
	}
}

func TestRuleDefaults(t *testing.T) {
	cfg, err := Parse("r.yaml", []byte(rulesHead+"  - {id: a, match: {channel: t}, rate_above: 2}\n  - {id: b, match: {channel: t}, rate_above: 2, per: 1h}\n"))
	if err != nil {
		t.Fatal(err)
	}
	a, b := cfg.Rules[0], cfg.Rules[1]
	if a.Per.String() != "1m0s" || a.Window.String() != "2m0s" || a.Severity != "warning" || b.Window.String() != "2h0m0s" {
		t.Fatalf("defaults: %+v %+v", a, b)
	}
}
