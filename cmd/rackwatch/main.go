// Command rackwatch is the rackwatch agent and its tools. Each subcommand is thin: it parses flags and calls
// the packages under agent/ and drivers/.
package main

import (
	"fmt"
	"os"
	"sort"

	// Unmaps the executable's pages that the package inits before it touched, early, so that they and the
	// pages the rest touch are not resident at once (agent/exepages).
	_ "github.com/rackwatch/rackwatch/agent/exepages/atstart"
)

type command struct {
	summary string
	run     func(args []string) int
}

// commands lists every subcommand; each lives in its own file. Those a build can leave out (demo, pager,
// sim) add themselves from their files, which carry the build tags.
var commands = map[string]command{
	"run":      {"run the agent (-c config)", cmdRun},
	"ack":      {"acknowledge an alarm as an operator: ack -b URL --gateway ID --key FILE ALARM", cmdAck},
	"shelve":   {"shelve an alarm for maintenance: shelve -b URL --gateway ID --key FILE ALARM --until 2h", cmdShelve},
	"unshelve": {"end a shelve: unshelve -b URL --gateway ID --key FILE ALARM", cmdUnshelve},
	"key":      {"operator keys (key new NAME) and the embedded broker's users (key password FILE USER)", cmdKey},
	"check":    {"validate a config file (exit 2 on errors, each as FILE:LINE: message)", cmdCheck},
	"journal":  {"inspect the alarm journal: what each broker has not acknowledged yet", cmdJournal},
	"modbus":   {"one-shot Modbus read for checking wiring: modbus read --bus URL --unit 1 --table input --address 30", cmdModbus},
	"output":   {"test an output (a sounder test: output test NAME -c FILE) or list what the outputs and actions do", cmdOutput},
	"rules":    {"replay a recorded trace through the rules: rules test -c FILE --trace TRACE.csv", cmdRules},
	"scan":     {"probe an I2C bus (or the kernel 1-Wire bus) and print config lines for the sensors found", cmdScan},
	"tail":     {"print gateway status, alarms (and readings) from any MQTT broker as they arrive", cmdTail},
	"version":  {"print the version", cmdVersion},
}

func main() {
	os.Exit(mainArgs(os.Args[1:]))
}

func mainArgs(args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage()
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(os.Stderr, "rackwatch: unknown command %q\n\n", args[0])
		usage()
		return 2
	}
	return c.run(args[1:])
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: rackwatch COMMAND [flags]\n\ncommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(os.Stderr, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(os.Stderr, "\nrun 'rackwatch COMMAND -h' for a command's flags")
}
