//go:build !nosim && !nomegatec

package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/rackwatch/rackwatch/drivers/megatec/megatecsim"
	"github.com/rackwatch/rackwatch/drivers/sim"
)

func init() {
	simCommands["megatec"] = command{"serve an emulated Megatec/Q1 UPS on a pseudo-terminal (--pty), values from a scenario", cmdSimMegatec}
}

// cmdSimMegatec serves an emulated Megatec/Q1 UPS on a pseudo-terminal, for demos and tests: point a
// `driver: megatec` sensor's device at the printed path.
func cmdSimMegatec(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return simMegatec(ctx, args, os.Stdout)
}

// simMegatec serves until ctx is done; the pty path goes to out, one line.
func simMegatec(ctx context.Context, args []string, out io.Writer) int {
	fs := flag.NewFlagSet("sim megatec", flag.ContinueOnError)
	usePTY := fs.Bool("pty", false, "serve on a new pseudo-terminal and print its path (the only transport for now)")
	scenario := fs.String("scenario", "steady", "simulation scenario ("+strings.Join(sim.Names(), ", ")+")")
	speed := fs.Float64("speed", 1, "scenario time runs this many times faster than the clock")
	perCell := fs.Bool("per-cell", false, "behave as an on-line unit that reports volts per cell")
	nominal := fs.Float64("battery-nominal", 48, "nominal battery voltage given in the F reply")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if !*usePTY {
		fmt.Fprintln(os.Stderr, "rackwatch sim megatec: --pty is required")
		return 2
	}
	if *speed <= 0 {
		fmt.Fprintln(os.Stderr, "rackwatch sim megatec: --speed must be positive")
		return 2
	}
	sc, err := sim.Lookup(*scenario)
	if err != nil {
		fmt.Fprintln(os.Stderr, "rackwatch sim megatec:", err)
		return 2
	}
	cfg := megatecsim.Config{Source: sc.Value, Speed: *speed, PerCell: *perCell, BatteryNominal: *nominal}
	err = megatecsim.ServePTY(ctx, cfg, func(path string) {
		fmt.Fprintln(out, path)
		fmt.Fprintf(os.Stderr, "serving a Megatec UPS (scenario %s) on %s; Ctrl-C to stop\n", *scenario, path)
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "rackwatch sim megatec:", err)
		return 1
	}
	return 0
}
