//go:build !nosim

package main

import (
	"fmt"
	"os"
	"sort"
)

func init() {
	commands["sim"] = command{"serve a simulated device (modbus, megatec, ...) for demos and tests", cmdSim}
}

// simCommands are the simulated devices `rackwatch sim KIND` can serve, for demos and tests; each adds
// itself from its file.
var simCommands = map[string]command{}

func cmdSim(args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintln(os.Stderr, "usage: rackwatch sim KIND [flags]\n\nkinds:")
		names := make([]string, 0, len(simCommands))
		for n := range simCommands {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			fmt.Fprintf(os.Stderr, "  %-10s %s\n", n, simCommands[n].summary)
		}
		return 2
	}
	c, ok := simCommands[args[0]]
	if !ok {
		fmt.Fprintf(os.Stderr, "rackwatch sim: unknown kind %q\n", args[0])
		return 2
	}
	return c.run(args[1:])
}
