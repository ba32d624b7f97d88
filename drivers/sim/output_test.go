package sim

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rackwatch/rackwatch/agent/config/configtest"
	"github.com/rackwatch/rackwatch/agent/driver"
)

func TestSimOutput(t *testing.T) {
	o, _ := configtest.Output(t, `{id: stop-charge, type: sim, what: BMS charge enable}`)
	ty := OutputType()
	info, err := ty.Check(o)
	if err != nil || info.Describe != "BMS charge enable (simulated)" {
		t.Fatalf("%+v %v", info, err)
	}
	a, err := ty.Open(context.Background(), driver.OutputEnv{Output: o})
	if err != nil {
		t.Fatal(err)
	}
	detail, err := a.Set(context.Background(), true, driver.Cause{})
	if err != nil || detail != "BMS charge enable on, read back on" || !a.(*SimOutput).On() {
		t.Errorf("%q %v", detail, err)
	}

	o, _ = configtest.Output(t, `{id: fan, type: sim, fail: hang}`)
	a, _ = ty.Open(context.Background(), driver.OutputEnv{Output: o})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if _, err := a.Set(ctx, true, driver.Cause{}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("hang: %v", err)
	}

	o, _ = configtest.Output(t, `{id: fan, type: sim, fail: sometimes, delay: 2m}`)
	if _, err := ty.Check(o); err == nil || !strings.Contains(err.Error(), `test.yaml:4: output "fan": fail "sometimes"`) ||
		!strings.Contains(err.Error(), "delay 2m0s") {
		t.Errorf("bad options: %v", err)
	}
}
