package reading

import (
	"math"
	"strconv"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

// The float noise an operator saw on the status page and in payloads: 22.450000000000045 °C.
func TestRoundedValuesCarryNoNoise(t *testing.T) {
	for _, c := range []struct {
		v, step float64
		want    string
	}{
		{22.450000000000045, 0.01, "22.45"},
		{22.450000000000045, 0.1, "22.5"},
		{22.449999, 0.1, "22.4"},
		{0.1 + 0.2, 0.01, "0.3"},
		{25.0625, 0.0625, "25.0625"},
		{25.07, 0.0625, "25.0625"},
		{22.3, 0.5, "22.5"},
		{1799.6, 1, "1800"},
		{234, 10, "230"},
		{-0.004, 0.01, "0"},
		{-12.349, 0.01, "-12.35"},
		{0.30000000000000004, 0, "0.3"},
		{123456789, 0, "123457000"},
		{0.000123456789, 0, "0.000123457"},
		{1e-9, 0, "1e-09"},
		{3e20, 1, "3e+20"},
	} {
		if got := string(AppendRounded(nil, c.v, c.step)); got != c.want {
			t.Errorf("AppendRounded(%v, %v) = %s, want %s", c.v, c.step, got, c.want)
		}
	}
}

func TestDecimals(t *testing.T) {
	for step, want := range map[float64]int{1: 0, 10: 0, 0.5: 1, 0.1: 1, 0.01: 2, 0.25: 2, 0.0625: 4, 0.001: 3, 1.0 / 3: maxDecimals, 0: 0, -1: 0} {
		if got := Decimals(step); got != want {
			t.Errorf("Decimals(%v) = %d, want %d", step, got, want)
		}
	}
}

// Property: whatever the value and the step, the text has no more decimals than the step, reads back as
// the rounded value, and that value is within half a step of the original.
func TestRoundProperties(t *testing.T) {
	steps := []float64{0.001, 0.01, 0.0625, 0.1, 0.25, 0.5, 1, 5, 10}
	rapid.Check(t, func(t *rapid.T) {
		v := rapid.Float64Range(-1e6, 1e6).Draw(t, "v")
		step := rapid.SampledFrom(steps).Draw(t, "step")
		s := string(AppendRounded(nil, v, step))
		r, err := strconv.ParseFloat(s, 64)
		if err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		if r != Round(v, step) {
			t.Fatalf("%q reads back as %v, Round gives %v", s, r, Round(v, step))
		}
		if math.Abs(r-v) > step/2*(1+1e-9)+1e-9 {
			t.Fatalf("Round(%v, %v) = %v: more than half a step away", v, step, r)
		}
		if i := strings.IndexByte(s, '.'); i >= 0 && len(s)-i-1 > Decimals(step) {
			t.Fatalf("AppendRounded(%v, %v) = %q: more decimals than the step", v, step, s)
		}
	})
}

func TestRoundLeavesNonFiniteAlone(t *testing.T) {
	for _, v := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		if r := Round(v, 0.1); !(math.IsNaN(v) && math.IsNaN(r) || r == v) {
			t.Errorf("Round(%v) = %v", v, r)
		}
	}
}

func TestHumanNamesStates(t *testing.T) {
	smoke := CanonicalFormat(Smoke)
	temp := CanonicalFormat(Temperature)
	door := Format{States: BooleanStates("cabinet_door")}
	mode := Format{States: map[int64]string{0: "standby", 2: "charging", 3: "discharging"}}
	for _, c := range []struct {
		f    Format
		v    float64
		want string
	}{
		{smoke, 1, "DETECTED"}, {smoke, 0, "clear"}, {temp, 22.450000000000045, "22.5 °C"},
		{door, 1, "ON"}, {mode, 3, "discharging"}, {mode, 7, "7"}, {mode, 2.5, "2.5"},
		{CanonicalFormat(OnBattery), 1, "ON BATTERY"}, {CanonicalFormat(Charge), 99.6, "100 %"},
	} {
		if got := c.f.Human(c.v); got != c.want {
			t.Errorf("Human(%v) = %q, want %q", c.v, got, c.want)
		}
	}
}

func TestAppendValueDoesNotAllocate(t *testing.T) {
	f := CanonicalFormat(Temperature)
	b := make([]byte, 0, 64)
	if n := testing.AllocsPerRun(100, func() { b = f.AppendHuman(b[:0], 22.450000000000045) }); n != 0 {
		t.Errorf("%v allocations per value", n)
	}
}

func TestResolutionOf(t *testing.T) {
	for step, want := range map[float64]float64{0.1: 0.1, 0.004: 0.004, 0.0625: 0.0625, 0.5: 0.5, 10: 10, 3.3 / 4096: 0.0001,
		0.000125: 0.0001, -0.1: 0.1, 0: 0, 10e-6 / 0.00075: 0.01} {
		if got := ResolutionOf(step); math.Abs(got-want) > want*1e-12 {
			t.Errorf("ResolutionOf(%v) = %v, want %v", step, got, want)
		}
	}
}
