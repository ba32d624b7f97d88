package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/rackwatch/rackwatch/agent/config"
	"github.com/rackwatch/rackwatch/drivers/modbus"
)

// cmdModbus is `rackwatch modbus read`: one request from the command line, for installers checking
// wiring, unit ids and register addresses before writing a register map.
func cmdModbus(args []string) int {
	if len(args) == 0 || args[0] != "read" {
		fmt.Fprintln(os.Stderr, `usage: rackwatch modbus read --bus tcp://HOST:502 | rtu:///dev/ttyUSB0?baud=9600&parity=even
                            [-c CONFIG --bus BUS_ID] --unit 1 --table input --address 30 --count 4 --type int16`)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return modbusRead(ctx, args[1:], os.Stdout, os.Stderr)
}

func modbusRead(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("modbus read", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("c", "", "config file whose bus --bus names (instead of a bus URL)")
	busArg := fs.String("bus", "", "tcp://HOST[:PORT][?timeout=1s], rtu:///dev/ttyUSB0?baud=9600&parity=even&stop_bits=1&timeout=500ms, or a bus id with -c")
	unit := fs.Int("unit", 1, "unit id (slave address), 1..247 on RS-485")
	tableArg := fs.String("table", "holding", "coil, discrete, holding or input")
	addr := fs.Int("address", 0, "first address, 0-based as on the wire (vendor register 30031 is usually input address 30)")
	count := fs.Int("count", 1, "number of values")
	typeArg := fs.String("type", "uint16", "uint16, int16, uint32, int32, float32, uint64 or int64 (registers only)")
	orderArg := fs.String("word-order", "abcd", "abcd, cdab, badc or dcba")
	scale := fs.Float64("scale", 1, "multiply each value by this")
	offset := fs.Float64("offset", 0, "then add this")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	fail := func(code int, format string, a ...any) int {
		fmt.Fprintf(stderr, "rackwatch modbus read: "+format+"\n", a...)
		return code
	}
	table, err := modbus.ParseTable(*tableArg)
	if err != nil {
		return fail(2, "%v", err)
	}
	typ, err := modbus.ParseType(*typeArg)
	if err != nil {
		return fail(2, "%v", err)
	}
	order, err := modbus.ParseWordOrder(*orderArg)
	if err != nil {
		return fail(2, "%v", err)
	}
	if *unit < 0 || *unit > 255 || *addr < 0 || *addr > 65535 || *count < 1 || *count > 2000 {
		return fail(2, "--unit 0..255, --address 0..65535 and --count 1..2000")
	}
	var bc modbus.BusConfig
	switch {
	case *busArg == "":
		return fail(2, "--bus is required")
	case *cfgPath != "":
		cfg, err := config.Load(*cfgPath)
		if err != nil {
			return fail(2, "%v", err)
		}
		b := cfg.BusByID(*busArg)
		if b == nil {
			return fail(2, "%s has no bus %q", *cfgPath, *busArg)
		}
		if bc, err = modbus.BusConfigFromConfig(b.DriverBus(cfg.File)); err != nil {
			return fail(2, "%v", err)
		}
	default:
		if bc, err = modbus.ParseBusURL(*busArg); err != nil {
			return fail(2, "%v", err)
		}
	}
	bus, err := modbus.NewBus(bc, nil)
	if err != nil {
		return fail(2, "%v", err)
	}
	defer bus.Close()
	vals, raws, err := bus.ReadValues(ctx, uint8(*unit), table, uint16(*addr), *count, typ, order)
	if err != nil {
		return fail(1, "%v", err)
	}
	step := typ.Words()
	if table.IsBits() {
		step = 1
	}
	for i, v := range vals {
		a := *addr + i*step
		if table.IsBits() {
			fmt.Fprintf(stdout, "%s %d\t%.10g\n", table, a, v)
			continue
		}
		fmt.Fprintf(stdout, "%s %d\t%s %s\t%.10g\traw 0x%0*x\n", table, a, typ, order, v**scale+*offset, 4*step, raws[i])
	}
	return 0
}
