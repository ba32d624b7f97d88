package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/rackwatch/rackwatch/agent"
	"github.com/rackwatch/rackwatch/agent/contract"
	"github.com/rackwatch/rackwatch/agent/reading"
	"github.com/rackwatch/rackwatch/agent/rules"
)

func cmdRules(args []string) int {
	if len(args) == 0 || args[0] != "test" {
		fmt.Fprintln(os.Stderr, "usage: rackwatch rules test -c FILE --trace TRACE.csv [--trace …] [--json | --summary] [--expect TIMELINE]")
		return 2
	}
	return rulesTest(args[1:], os.Stdout, os.Stderr)
}

// rulesTest replays recorded traces through a config's rules and prints the alarm timeline, so a rule
// change can be checked against past incidents before it is deployed. With --expect it compares the
// timeline with a reviewed one and exits 1 when they differ; with --summary it prints each trace's first
// warning and first critical instead.
func rulesTest(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("rules test", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("c", "/etc/rackwatch/rackwatch.yaml", "config file whose rules are tested")
	var traces []string
	fs.Func("trace", "trace to replay: CSV with header time,sensor,channel,value[,error]; repeat for several", func(s string) error {
		traces = append(traces, s)
		return nil
	})
	asJSON := fs.Bool("json", false, "print each transition as the MQTT alarm object, one per line")
	summary := fs.Bool("summary", false, "print each trace's first warning and first critical, not the timeline")
	expect := fs.String("expect", "", "compare the output with this file; exit 1 if it differs (one trace)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	switch {
	case len(traces) == 0 || fs.NArg() > 0:
		fmt.Fprintln(stderr, "rackwatch rules test: --trace is required (and takes no other arguments)")
		return 2
	case *expect != "" && len(traces) > 1:
		fmt.Fprintln(stderr, "rackwatch rules test: --expect compares one trace")
		return 2
	case *asJSON && *summary:
		fmt.Fprintln(stderr, "rackwatch rules test: --json and --summary exclude each other")
		return 2
	}
	// The config is checked as `rackwatch check` does, so the engine knows every declared channel and its
	// unit, exactly as on the gateway.
	plan, err := agent.LoadAndCheck(*cfgPath, registry())
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	cfg := plan.Config
	sensors := plan.RuleSensors()
	var all bytes.Buffer
	for _, path := range traces {
		e, err := rules.New(cfg.Rules, rules.Options{Gateway: cfg.Gateway.ID, Site: cfg.Gateway.Site, Sensors: sensors})
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 2
		}
		data, err := os.ReadFile(path)
		if err != nil {
			fmt.Fprintf(stderr, "rackwatch rules test: %v\n", err)
			return 2
		}
		if err := warnCoverage(path, data, sensors, stderr); err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", path, err)
			return 2
		}
		var out bytes.Buffer
		n, tr, err := rules.Replay(e, bytes.NewReader(data), &out, *asJSON || *summary)
		if err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", path, err)
			return 2
		}
		fmt.Fprintf(stderr, "%s: %d readings, %d transitions\n", path, n, tr)
		if *summary {
			line, err := summarize(path, out.Bytes())
			if err != nil {
				fmt.Fprintf(stderr, "%s: %v\n", path, err)
				return 2
			}
			fmt.Fprintln(stdout, line)
			continue
		}
		stdout.Write(out.Bytes())
		all.Write(out.Bytes())
	}
	if *expect != "" {
		want, err := os.ReadFile(*expect)
		if err != nil {
			fmt.Fprintf(stderr, "rackwatch rules test: %v\n", err)
			return 2
		}
		if !bytes.Equal(want, all.Bytes()) {
			fmt.Fprintf(stderr, "%s: the timeline differs from %s:\n%s", traces[0], *expect, rules.DiffLines(string(want), all.String()))
			return 1
		}
		fmt.Fprintf(stderr, "%s: matches %s\n", traces[0], *expect)
	}
	return 0
}

// warnCoverage warns about what the trace and the config do not share: readings of a sensor the config
// does not declare (evaluated without its labels, so label-matched rules miss them) and declared channels
// the trace has no reading of (their alarms cannot be exercised; a staleness rule may fire instead).
func warnCoverage(path string, data []byte, sensors []rules.Sensor, stderr io.Writer) error {
	tr, err := rules.NewTrace(bytes.NewReader(data))
	if err != nil {
		return err
	}
	type key struct {
		sensor string
		ch     reading.Channel
	}
	seen := map[key]bool{}
	seenSensor := map[string]bool{}
	for {
		r, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		seen[key{r.Sensor, r.Channel}] = true
		seenSensor[r.Sensor] = true
	}
	declared := map[string]bool{}
	for _, s := range sensors {
		declared[s.ID] = true
		if !seenSensor[s.ID] {
			fmt.Fprintf(stderr, "%s: warning: config sensor %q has no data in the trace\n", path, s.ID)
			continue
		}
		for _, c := range s.Channels {
			if !seen[key{s.ID, c.Name}] {
				fmt.Fprintf(stderr, "%s: warning: config channel %s/%s has no data in the trace\n", path, s.ID, c.Name)
			}
		}
	}
	var unknown []string
	for s := range seenSensor {
		if !declared[s] {
			unknown = append(unknown, s)
		}
	}
	slices.Sort(unknown)
	for _, s := range unknown {
		fmt.Fprintf(stderr, "%s: warning: trace sensor %q is not in the config (replayed without labels or interval)\n", path, s)
	}
	return nil
}

// summarize finds a replay's first warning and first critical (from its JSON lines).
func summarize(path string, jsonLines []byte) (string, error) {
	first := map[string]*contract.Alarm{}
	for _, line := range bytes.Split(jsonLines, []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var a contract.Alarm
		if err := json.Unmarshal(line, &a); err != nil {
			return "", err
		}
		if a.Event == contract.EventRaise && first[a.Severity] == nil {
			first[a.Severity] = &a
		}
	}
	describe := func(sev string) string {
		a := first[sev]
		if a == nil {
			return "first " + sev + " none"
		}
		return fmt.Sprintf("first %s %s %s", sev, a.Time.UTC().Format(contract.TimeFormat), a.Key)
	}
	return strings.Join([]string{filepath.Base(path) + ":", describe(contract.Warning) + ";", describe(contract.Critical)}, " "), nil
}
