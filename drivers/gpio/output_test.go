package gpio

import (
	"context"
	"strings"
	"testing"

	pgpio "periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"

	"github.com/rackwatch/rackwatch/agent/config/configtest"
	"github.com/rackwatch/rackwatch/agent/driver"
)

func openOutput(t *testing.T, yaml string, pin pgpio.PinIO) driver.Actuator {
	t.Helper()
	o, _ := configtest.Output(t, yaml)
	ty := OutputType(func(name string) pgpio.PinIO {
		if name == "GPIO22" {
			return pin
		}
		return nil
	})
	if _, err := ty.Check(o); err != nil {
		t.Fatal(err)
	}
	a, err := ty.Open(context.Background(), driver.OutputEnv{Output: o})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

// TestOutputLevels drives a gpiotest pin through each combination of active level and fail-safe
// polarity: opening puts the line at its off level at once, and on/off give the level the wiring needs.
func TestOutputLevels(t *testing.T) {
	for _, c := range []struct {
		opts     string
		off, on  pgpio.Level
		onDetail string
	}{
		{"", pgpio.Low, pgpio.High, "GPIO22 high (relay energized), read back high"},
		{", active: low", pgpio.High, pgpio.Low, "GPIO22 low (relay energized), read back low"},
		// Fail-safe: energized while normal, so a dead gateway (line released, relay dropped) reads as on.
		{", energized: normal", pgpio.High, pgpio.Low, "GPIO22 low (relay released), read back low"},
		{", active: low, energized: normal", pgpio.Low, pgpio.High, "GPIO22 high (relay released), read back high"},
	} {
		pin := &gpiotest.Pin{N: "GPIO22", Num: 22, L: !c.off}
		a := openOutput(t, "{id: sounder, type: gpio, pin: GPIO22"+c.opts+"}", pin)
		if pin.L != c.off {
			t.Errorf("%q: after open the line is %v, want the off level %v", c.opts, pin.L, c.off)
		}
		detail, err := a.Set(context.Background(), true, driver.Cause{})
		if err != nil || pin.L != c.on || detail != c.onDetail {
			t.Errorf("%q: on: line %v detail %q err %v; want %v %q", c.opts, pin.L, detail, err, c.on, c.onDetail)
		}
		if _, err := a.Set(context.Background(), false, driver.Cause{}); err != nil || pin.L != c.off {
			t.Errorf("%q: off: line %v err %v", c.opts, pin.L, err)
		}
	}
}

// stuckPin reads a fixed level whatever it is driven to: a line shorted, or held by another driver.
type stuckPin struct {
	gpiotest.Pin
	level pgpio.Level
}

func (p *stuckPin) Read() pgpio.Level { return p.level }

func TestOutputReadBackMismatch(t *testing.T) {
	pin := &stuckPin{Pin: gpiotest.Pin{N: "GPIO22"}, level: pgpio.Low}
	a := openOutput(t, "{id: beacon, type: gpio, pin: GPIO22}", pin)
	detail, err := a.Set(context.Background(), true, driver.Cause{})
	if err == nil || !strings.Contains(err.Error(), "driven high but reads low") || !strings.Contains(detail, "read back low") {
		t.Errorf("%q %v", detail, err)
	}
}

func TestOutputOptionsErrors(t *testing.T) {
	ty := OutputType(func(string) pgpio.PinIO { return nil })
	o, _ := configtest.Output(t, "{id: x, type: gpio, active: middle, energized: always}")
	_, err := ty.Check(o)
	for _, want := range []string{`test.yaml:4: output "x": pin is required`, `active must be high or low`, `energized must be active`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in %v", want, err)
		}
	}
	o, _ = configtest.Output(t, "{id: x, type: gpio, pin: GPIO99}")
	if _, err := ty.Open(context.Background(), driver.OutputEnv{Output: o}); err == nil || !strings.Contains(err.Error(), `no GPIO line named "GPIO99"`) {
		t.Errorf("unknown line: %v", err)
	}
	o, _ = configtest.Output(t, "{id: x, type: gpio, pin: GPIO22, energized: normal}")
	if info, _ := ty.Check(o); !strings.Contains(info.Describe, "fail-safe") {
		t.Errorf("describe %q", info.Describe)
	}
}
