package modbussim_test

import (
	"context"
	"errors"
	"math"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	mb "github.com/simonvetter/modbus"

	"github.com/rackwatch/rackwatch/agent/config"
	"github.com/rackwatch/rackwatch/agent/reading"
	"github.com/rackwatch/rackwatch/drivers/modbus"
	"github.com/rackwatch/rackwatch/drivers/modbus/modbussim"
)

// serve runs modbussim.Serve in the background and returns where it serves, once it does.
func serve(t *testing.T, o modbussim.Options) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	where := make(chan string, 1)
	o.Ready = func(_, w string) { where <- w }
	done := make(chan error, 1)
	go func() { done <- modbussim.Serve(ctx, o) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	select {
	case w := <-where:
		return w
	case err := <-done:
		t.Fatalf("Serve: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("Serve never started")
	}
	return ""
}

// serveTCP serves dev on a free loopback port. The library cannot report the port it bound, so a port
// is picked by binding :0 first and handed over; a lost race is retried.
func serveTCP(t *testing.T, dev *modbussim.Sim) string {
	t.Helper()
	for try := 0; ; try++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		ctx, cancel := context.WithCancel(context.Background())
		ready := make(chan struct{})
		done := make(chan error, 1)
		go func() {
			done <- modbussim.Serve(ctx, modbussim.Options{Device: dev, Listen: addr, Ready: func(string, string) { close(ready) }})
		}()
		select {
		case <-ready:
			var once sync.Once
			t.Cleanup(func() { once.Do(func() { cancel(); <-done }) })
			return addr
		case err := <-done:
			cancel()
			if try < 5 {
				continue
			}
			t.Fatal(err)
		}
	}
}

func newBus(t *testing.T, cfg modbus.BusConfig) *modbus.Bus {
	t.Helper()
	cfg.Timeout = 5 * time.Second // generous: slow is not wrong
	b, err := modbus.NewBus(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// Every shipped profile loads, names its source, and reads back through a simulated device exactly
// the values the simulation put in: the profile, the simulator and the decoder agree.
func TestShippedProfilesRoundTrip(t *testing.T) {
	for _, name := range modbus.ProfileNames("") {
		t.Run(name, func(t *testing.T) {
			prof, err := modbus.LoadProfile(name, "", config.ParseOptions)
			if err != nil {
				t.Fatal(err)
			}
			want, values := profileValues(t, prof.Registers)
			dev, err := modbussim.NewSim(prof.Registers, func(ch reading.Channel) (float64, bool) { v, ok := values[ch]; return v, ok })
			if err != nil {
				t.Fatal(err)
			}
			addr := serveTCP(t, dev)
			d, err := modbus.NewDevice(newBus(t, modbus.BusConfig{TCP: true, Address: addr}), modbus.DeviceConfig{Unit: 1, Registers: prof.Registers, MaxRegisters: prof.MaxRegisters, Gap: prof.Gap}, nil)
			if err != nil {
				t.Fatal(err)
			}
			out, err := d.Read(context.Background(), nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range out {
				if s.Err != nil || math.Abs(s.Value-want[s.Channel]) > 1e-9 {
					t.Errorf("%s = %v (%v), want %v", s.Channel, s.Value, s.Err, want[s.Channel])
				}
			}
			t.Logf("%s: %d channels in %d requests", name, len(out), dev.Requests(1))
		})
	}
}

// profileValues picks a value for every channel that its registers can hold exactly, and the value
// each channel must read back.
func profileValues(t *testing.T, specs []modbus.RegSpec) (want, values map[reading.Channel]float64) {
	want, values = map[reading.Channel]float64{}, map[reading.Channel]float64{}
	byAddr := map[int]float64{}                        // what a states register was set to
	maxV, minV := map[int]float64{}, map[int]float64{} // per reduced array
	for i, s := range specs {
		if _, ok := modbus.CompilePoint(&specs[i], func(line int, format string, args ...any) {
			t.Errorf("line %d: "+format, append([]any{line}, args...)...)
		}); !ok {
			continue
		}
		ch, addr := reading.Channel(s.Channel), *s.Address
		scale := 1.0
		if s.Scale != nil {
			scale = *s.Scale
		}
		switch {
		case len(s.Equals) > 0:
			// Left to the states channel sharing the register.
		case s.Table == "coil" || s.Table == "discrete" || s.Bit != nil:
			values[ch], want[ch] = float64(i%2), float64(i%2)
		case len(s.States) > 0:
			var k int64 = math.MaxInt64
			for key := range s.States {
				n, _ := strconv.ParseInt(key, 0, 64)
				k = min(k, n)
			}
			values[ch], want[ch], byAddr[addr] = float64(k), float64(k), float64(k)
		default:
			raw := float64(100 + i)
			switch s.Reduce {
			case "max":
				raw = 300
			case "min":
				raw = 200
			}
			v := raw*scale + s.Offset
			values[ch], want[ch] = v, v
			switch s.Reduce {
			case "max":
				maxV[addr] = v
			case "min":
				minV[addr] = v
			}
		}
	}
	for _, s := range specs {
		ch := reading.Channel(s.Channel)
		if len(s.Equals) > 0 {
			want[ch] = 0
			for _, e := range s.Equals {
				if float64(e) == byAddr[*s.Address] {
					want[ch] = 1
				}
			}
		}
		if s.Reduce == "spread" {
			delete(values, ch)
			want[ch] = maxV[*s.Address] - minV[*s.Address]
		}
	}
	return want, values
}

// Fixed values win over the scenario, the scenario over derived channels; derived channels follow the
// values they come from.
func TestValues(t *testing.T) {
	src := func(ch reading.Channel, _ time.Duration) (float64, bool) {
		v, ok := map[reading.Channel]float64{reading.BatteryTemp: 40, reading.Charge: 90}[ch]
		return v, ok
	}
	value := modbussim.Values(src, 1, map[reading.Channel]float64{reading.Charge: 55, reading.OnBattery: 1})
	for ch, want := range map[reading.Channel]float64{
		reading.Charge: 55, reading.BatteryTemp: 40, "cell_temp_max": 40.5, "cell_temp_min": 39.5,
		"output_source": 3, "battery_current": -40, "online": 0,
	} {
		if v, ok := value(ch); !ok || v != want {
			t.Errorf("%s = %v, %v; want %v", ch, v, ok, want)
		}
	}
	if _, ok := value("no_such_channel"); ok {
		t.Error("a channel nobody simulates has a value")
	}
}

func TestParseSet(t *testing.T) {
	got, err := modbussim.ParseSet(" charge = 80 ,on_battery=1,")
	if err != nil || len(got) != 2 || got[reading.Charge] != 80 || got[reading.OnBattery] != 1 {
		t.Errorf("got %v, %v", got, err)
	}
	for _, bad := range []string{"charge", "charge=high", "=,"} {
		if _, err := modbussim.ParseSet(bad); err == nil || !strings.Contains(err.Error(), "--set") {
			t.Errorf("%q: err %v", bad, err)
		}
	}
}

// Serve over RTU on a new pseudo-terminal: the driver reads the units that answer; the others stay
// silent, as absent units do.
func TestServeRTUOnPTY(t *testing.T) {
	scale := 0.1
	dev, err := modbussim.NewSim([]modbus.RegSpec{{Channel: "charge", Table: "input", Address: new(int), Scale: &scale}},
		modbussim.Values(nil, 1, map[reading.Channel]float64{reading.Charge: 87.5}), 3)
	if err != nil {
		t.Fatal(err)
	}
	path := serve(t, modbussim.Options{Device: dev, RTU: "pty"})
	regs, err := newBus(t, modbus.BusConfig{Address: path}).ReadRegisters(3, modbus.Input, 0, 1)
	if err != nil || regs[0] != 875 {
		t.Errorf("unit 3: %v, %v; want 875", regs, err)
	}
	// A unit that is not there never answers, however long the bus waits: a short timeout will do.
	absent, err := modbus.NewBus(modbus.BusConfig{Address: path, Timeout: 100 * time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer absent.Close()
	if _, err := absent.ReadRegisters(4, modbus.Input, 0, 1); !errors.Is(err, mb.ErrRequestTimedOut) {
		t.Errorf("unit 4: %v, want a timeout", err)
	}
	if n := dev.Requests(4); n != 1 {
		t.Errorf("unit 4 was sent %d requests, want 1", n)
	}
}
