package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"os/user"
	"strings"
	"syscall"
	"time"

	"github.com/rackwatch/rackwatch/agent"
	"github.com/rackwatch/rackwatch/agent/contract"
	"github.com/rackwatch/rackwatch/agent/driver"
	"github.com/rackwatch/rackwatch/agent/outputs"
)

// cmdOutput is `rackwatch output test NAME` (a sounder test) and `rackwatch output list`.
func cmdOutput(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return outputCmd(ctx, args, registry(), os.Stdout, os.Stderr)
}

func outputCmd(ctx context.Context, args []string, reg *driver.Registry, stdout, stderr io.Writer) int {
	usage := func() int {
		fmt.Fprintln(stderr, `usage: rackwatch output test NAME [-c FILE] [--for 5s] [--state-dir DIR]
       rackwatch output test NAME -b URL --gateway ID --key FILE [--for 5s]   (remotely, as an operator)
       rackwatch output list [-c FILE]

test switches the output on for a few seconds and back off: through the running agent (over the unix
socket in its state_dir, so the test is journaled and published as action events), or, when no agent runs,
directly. It refuses an output the actions hold on, and one-shot outputs (no off).`)
		return 2
	}
	if len(args) == 0 {
		return usage()
	}
	sub, args := args[0], args[1:]
	if sub == "test" && hasBrokerFlag(args) {
		// Through a broker, as an operator's signed command (console.go).
		return consoleCmd(ctx, contract.OutputTest, args, stdout, stderr, time.Now)
	}
	fs := flag.NewFlagSet("output "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("c", defaultConfig, "config file")
	dur := fs.Duration("for", 5*time.Second, "how long the output stays on (at most 1m)")
	stateDir := fs.String("state-dir", "", "the running agent's state directory (default: the config's state_dir)")
	// Flags may come before or after the output's name.
	var name string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if name == "" && fs.NArg() > 0 {
		name = fs.Arg(0)
	}
	plan, err := agent.LoadAndCheck(*cfgPath, reg)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	switch sub {
	case "list":
		for _, l := range plan.DescribeActions() {
			fmt.Fprintln(stdout, l)
		}
		if len(plan.Outputs) == 0 {
			fmt.Fprintf(stdout, "%s: no outputs\n", plan.Config.File)
		}
		return 0
	case "test":
	default:
		return usage()
	}
	if name == "" {
		return usage()
	}
	if *dur <= 0 || *dur > outputs.MaxTest {
		fmt.Fprintf(stderr, "rackwatch output test: --for %s: use more than 0 and at most %s\n", *dur, outputs.MaxTest)
		return 2
	}
	if *stateDir != "" {
		plan.Config.Gateway.StateDir = *stateDir
	}
	sock := outputs.SocketPath(plan.Config.Gateway.StateDir)
	tctx, cancel := context.WithTimeout(ctx, *dur+time.Minute)
	defer cancel()
	fmt.Fprintf(stdout, "testing %s for %s\n", name, *dur)
	evs, err := outputs.TestThroughAgent(tctx, sock, name, *dur)
	if errors.Is(err, outputs.ErrNoAgent) {
		fmt.Fprintf(stderr, "no agent answers on %s: driving %s directly (the test is not journaled or published)\n", sock, name)
		evs, err = testDirect(tctx, plan, reg, name, *dur, stderr)
	}
	for i := range evs {
		fmt.Fprintln(stdout, evs[i].Message)
	}
	if err != nil {
		fmt.Fprintf(stderr, "rackwatch output test: %v\n", err)
		return 1
	}
	return 0
}

// testDirect runs the test without an agent: the output is opened here (with the sensor whose device it
// drives, for a bridge board's output), switched on and off, and closed.
func testDirect(ctx context.Context, plan *agent.Plan, reg *driver.Registry, name string, d time.Duration, stderr io.Writer) ([]contract.Action, error) {
	var spec *outputs.Spec
	for i := range plan.Outputs {
		if plan.Outputs[i].Output.ID == name {
			spec = &plan.Outputs[i]
		}
	}
	if spec == nil {
		return nil, fmt.Errorf("%w %q in %s", outputs.ErrUnknownOutput, name, plan.Config.File)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if id := spec.Output.Sensor; id != "" {
		// A board's output goes over the line its sensor owns: open that sensor here and keep it running.
		for _, s := range plan.Sensors {
			if s.ID != id {
				continue
			}
			dev, err := reg.Driver(s.Driver).Open(ctx, driver.Env{Sensor: s, Log: log})
			if err != nil {
				return nil, fmt.Errorf("sensor %s: %w", id, err)
			}
			defer dev.Close()
			if st, ok := dev.(driver.Streamer); ok {
				sctx, stop := context.WithCancel(ctx)
				defer stop()
				go st.Run(sctx, func(driver.Sample) {})
			}
		}
	}
	b := outputs.Start([]outputs.Spec{*spec}, outputs.Options{Gateway: plan.Config.Gateway.ID, Site: plan.Config.Gateway.Site, Log: log})
	defer b.Close()
	who := "local"
	if u, err := user.Current(); err == nil {
		who = "local:" + u.Username
	}
	// A board needs its handshake before it takes an OUT: try again for a little while.
	deadline := time.Now().Add(15 * time.Second)
	for {
		evs, err := b.Test(ctx, name, d, who)
		if err == nil || spec.Output.Sensor == "" || time.Now().After(deadline) || ctx.Err() != nil || len(evs) > 1 {
			return evs, err
		}
		select {
		case <-ctx.Done():
			return evs, ctx.Err()
		case <-time.After(time.Second):
		}
	}
}
