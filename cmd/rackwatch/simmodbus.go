//go:build !nosim

package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/rackwatch/rackwatch/agent/config"
	"github.com/rackwatch/rackwatch/drivers/modbus"
	"github.com/rackwatch/rackwatch/drivers/modbus/modbussim"
	"github.com/rackwatch/rackwatch/drivers/sim"
)

func init() {
	simCommands["modbus"] = command{"serve a profile's registers (values from a scenario) over Modbus TCP (--listen) or RTU (--rtu DEV|pty)", cmdSimModbus}
}

// cmdSimModbus serves a simulated Modbus device: a profile's register map with values following a
// simulation scenario, over TCP (--listen) or RTU (--rtu DEVICE, or --rtu pty for a new pseudo-terminal).
func cmdSimModbus(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return simModbus(ctx, args, os.Stdout, os.Stderr)
}

func simModbus(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sim modbus", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "", "serve Modbus TCP on HOST:PORT (e.g. 127.0.0.1:5020)")
	rtu := fs.String("rtu", "", "serve Modbus RTU on this serial device or pty slave, or 'pty' to create a pseudo-terminal and print its path")
	baud := fs.Int("baud", modbus.DefaultBaud, "RTU baud rate")
	parity := fs.String("parity", "even", "RTU parity: none, even or odd")
	profile := fs.String("profile", "ups", "register map profile ("+strings.Join(modbus.ProfileNames(""), ", ")+", or one in --profile-dir)")
	profileDir := fs.String("profile-dir", "", "directory of your own profiles (NAME.yaml)")
	units := fs.String("units", "", "comma-separated unit ids that answer (default: every unit)")
	scenario := fs.String("scenario", "steady", "simulation scenario ("+strings.Join(sim.Names(), ", ")+")")
	speed := fs.Float64("speed", 1, "scenario time runs this many times faster than the clock")
	set := fs.String("set", "", "fixed values overriding the scenario: channel=value,channel=value")
	writable := fs.Bool("writable", false, "accept writes of single coils and holding registers (to try modbus outputs); each is printed")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	fail := func(code int, format string, a ...any) int {
		fmt.Fprintf(stderr, "rackwatch sim modbus: "+format+"\n", a...)
		return code
	}
	if (*listen == "") == (*rtu == "") {
		return fail(2, "give exactly one of --listen HOST:PORT or --rtu DEVICE|pty")
	}
	if *speed <= 0 {
		return fail(2, "--speed must be positive")
	}
	prof, err := modbus.LoadProfile(*profile, *profileDir, config.ParseOptions)
	if err != nil {
		return fail(2, "%v", err)
	}
	fixed, err := modbussim.ParseSet(*set)
	if err != nil {
		return fail(2, "%v", err)
	}
	var ids []uint8
	for _, f := range strings.FieldsFunc(*units, func(r rune) bool { return r == ',' }) {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 247 {
			return fail(2, "--units: %q is not a unit id 1..247", f)
		}
		ids = append(ids, uint8(n))
	}
	sc, err := sim.Lookup(*scenario)
	if err != nil {
		return fail(2, "%v", err)
	}
	dev, err := modbussim.NewSim(prof.Registers, modbussim.Values(sc.Value, *speed, fixed), ids...)
	if err != nil {
		return fail(2, "%v", err)
	}
	if *writable {
		dev.AcceptWrites(func(w modbussim.Write) {
			fmt.Fprintf(stdout, "%s write unit %d %s %d (0x%04X) = %d\n", w.At.Format("15:04:05.000"), w.Unit, w.Table, w.Addr, w.Addr, w.Value)
		})
	}
	err = modbussim.Serve(ctx, modbussim.Options{
		Device: dev, Listen: *listen, RTU: *rtu, Baud: *baud, Parity: *parity,
		Log: slog.New(slog.NewTextHandler(stderr, nil)),
		Ready: func(transport, where string) {
			fmt.Fprintln(stdout, where)
			fmt.Fprintf(stderr, "serving profile %s (scenario %s) as Modbus %s on %s; Ctrl-C to stop\n", *profile, *scenario, transport, where)
		},
	})
	if err != nil {
		return fail(1, "%v", err)
	}
	return 0
}
