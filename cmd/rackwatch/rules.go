package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/rackwatch/rackwatch/agent/config"
	"github.com/rackwatch/rackwatch/agent/rules"
)

func cmdRules(args []string) int {
	if len(args) == 0 || args[0] != "test" {
		fmt.Fprintln(os.Stderr, "usage: rackwatch rules test -c FILE --trace TRACE.csv [--json] [--expect TIMELINE]")
		return 2
	}
	return rulesTest(args[1:], os.Stdout, os.Stderr)
}

// rulesTest replays a recorded trace through a config's rules and prints the alarm timeline, so a rule
// change can be checked against a past incident before it is deployed. With --expect it compares the
// timeline with a reviewed one and exits 1 when they differ.
func rulesTest(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("rules test", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("c", "/etc/rackwatch/rackwatch.yaml", "config file whose rules are tested")
	tracePath := fs.String("trace", "", "trace to replay: CSV with header time,sensor,channel,value[,error]")
	asJSON := fs.Bool("json", false, "print each transition as the MQTT alarm object, one per line")
	expect := fs.String("expect", "", "compare the output with this file; exit 1 if it differs")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *tracePath == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "rackwatch rules test: --trace is required (and takes no other arguments)")
		return 2
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	e, err := rules.New(cfg.Rules, rules.Options{Gateway: cfg.Gateway.ID, Site: cfg.Gateway.Site, Sensors: cfg.RuleSensors()})
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	f, err := os.Open(*tracePath)
	if err != nil {
		fmt.Fprintf(stderr, "rackwatch rules test: %v\n", err)
		return 2
	}
	defer f.Close()
	var out bytes.Buffer
	n, tr, err := rules.Replay(e, f, &out, *asJSON)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", *tracePath, err)
		return 2
	}
	stdout.Write(out.Bytes())
	fmt.Fprintf(stderr, "%s: %d readings, %d transitions\n", *tracePath, n, tr)
	if *expect != "" {
		want, err := os.ReadFile(*expect)
		if err != nil {
			fmt.Fprintf(stderr, "rackwatch rules test: %v\n", err)
			return 2
		}
		if !bytes.Equal(want, out.Bytes()) {
			fmt.Fprintf(stderr, "%s: the timeline differs from %s:\n%s", *tracePath, *expect, rules.DiffLines(string(want), out.String()))
			return 1
		}
		fmt.Fprintf(stderr, "%s: matches %s\n", *tracePath, *expect)
	}
	return 0
}
