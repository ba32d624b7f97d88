package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	mb "github.com/simonvetter/modbus"

	"github.com/rackwatch/rackwatch/agent/config"
	"github.com/rackwatch/rackwatch/agent/reading"
	"github.com/rackwatch/rackwatch/drivers/modbus"
	"github.com/rackwatch/rackwatch/drivers/sim"
)

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
	fixed, err := parseSet(*set)
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
	start := time.Now()
	var value func(ch reading.Channel) (float64, bool)
	value = func(ch reading.Channel) (float64, bool) {
		if v, ok := fixed[ch]; ok {
			return v, true
		}
		if v, ok := sc.Value(ch, time.Duration(float64(time.Since(start))**speed)); ok {
			return v, true
		}
		return derived(ch, value)
	}
	dev, err := modbus.NewSim(prof.Registers, value, ids...)
	if err != nil {
		return fail(2, "%v", err)
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	if *listen != "" {
		return serveSimTCP(ctx, *listen, dev, *profile, *scenario, stdout, stderr, fail)
	}
	srv := &modbus.RTUServer{Handler: dev, Log: log}
	var port io.ReadWriteCloser
	path := *rtu
	if *rtu == "pty" {
		master, slave, err := modbus.OpenPTY()
		if err != nil {
			return fail(1, "%v", err)
		}
		defer slave.Close() // held open: the master reads EIO once the last slave descriptor closes
		port, path = master, slave.Name()
	} else if port, err = modbus.OpenSerialPort(*rtu, *baud, *parity, 0); err != nil {
		return fail(1, "%v", err)
	}
	defer port.Close()
	fmt.Fprintln(stdout, path)
	fmt.Fprintf(stderr, "serving profile %s (scenario %s) as Modbus RTU on %s; Ctrl-C to stop\n", *profile, *scenario, path)
	if err := srv.Serve(ctx, port); err != nil {
		return fail(1, "%v", err)
	}
	return 0
}

func serveSimTCP(ctx context.Context, addr string, dev *modbus.Sim, profile, scenario string, stdout, stderr io.Writer, fail func(int, string, ...any) int) int {
	// Check the address first: the library's server reports a failed listen without saying why.
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fail(1, "%v", err)
	}
	l.Close()
	srv, err := mb.NewServer(&mb.ServerConfiguration{URL: "tcp://" + addr, MaxClients: 32, Logger: log.New(io.Discard, "", 0)}, dev)
	if err == nil {
		err = srv.Start()
	}
	if err != nil {
		return fail(1, "listen %s: %v", addr, err)
	}
	var once sync.Once
	defer once.Do(func() { srv.Stop() })
	fmt.Fprintln(stdout, addr)
	fmt.Fprintf(stderr, "serving profile %s (scenario %s) as Modbus TCP on %s; Ctrl-C to stop\n", profile, scenario, addr)
	<-ctx.Done()
	return 0
}

// derived gives the channels of the shipped profiles that scenarios do not carry, from those they do,
// so that a simulated UPS or BMS tells one consistent story (a battery that heats up heats its cells).
func derived(ch reading.Channel, get func(reading.Channel) (float64, bool)) (float64, bool) {
	v := func(c reading.Channel, def float64) float64 {
		if x, ok := get(c); ok {
			return x
		}
		return def
	}
	onBattery := v(reading.OnBattery, 0) >= 0.5
	switch ch {
	case "cell_temp_max", "mosfet_temp":
		return v(reading.BatteryTemp, 25) + 0.5, true
	case "cell_temp_min":
		return v(reading.BatteryTemp, 25) - 0.5, true
	case "ambient_temp":
		return v(reading.Temperature, 22.5), true
	case "cell_voltage_max":
		return v(reading.BatteryVoltage, 54.4)/16 + 0.005, true
	case "cell_voltage_min":
		return v(reading.BatteryVoltage, 54.4)/16 - 0.005, true
	case "battery_current":
		if onBattery {
			return -40, true
		}
		return 1.5, true
	case "cycles":
		return 120, true
	case "input_frequency", "output_frequency":
		return 50, true
	case "output_current":
		return v(reading.Load, 35) / 100 * 13, true // a 3 kVA unit at 230 V
	case "online":
		return 1 - v(reading.OnBattery, 0), true
	case "output_source": // Huawei: 2 mains, 3 battery
		if onBattery {
			return 3, true
		}
		return 2, true
	case "battery_state": // Huawei: 3 trickle charging, 5 discharging
		if onBattery {
			return 5, true
		}
		return 3, true
	case "charging":
		return 1 - v(reading.OnBattery, 0), true
	case "discharging":
		return v(reading.OnBattery, 0), true
	case "cell_high_voltage_alarm", "cell_low_voltage_alarm", "charge_high_temp_alarm":
		return 0, true
	case "discharge_high_temp_alarm":
		if v(reading.BatteryTemp, 25) > 55 {
			return 1, true
		}
		return 0, true
	}
	return 0, false
}

// parseSet parses "charge=80,on_battery=1".
func parseSet(s string) (map[reading.Channel]float64, error) {
	out := map[reading.Channel]float64{}
	for _, kv := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' }) {
		k, v, ok := strings.Cut(kv, "=")
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if !ok || err != nil {
			return nil, errors.New("--set: write channel=value, e.g. --set charge=80,on_battery=1")
		}
		out[reading.Channel(strings.TrimSpace(k))] = f
	}
	return out, nil
}
