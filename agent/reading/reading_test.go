package reading

import (
	"errors"
	"math"
	"testing"
)

func TestUnit(t *testing.T) {
	for ch, want := range map[Channel]string{
		Temperature: "°C", Humidity: "%RH", OnBattery: "", "cell_max_temp": "°C", "string_voltage": "V",
		"mystery": "",
	} {
		if got := Unit(ch); got != want {
			t.Errorf("Unit(%q) = %q, want %q", ch, got, want)
		}
	}
}

func TestValidID(t *testing.T) {
	for s, want := range map[string]bool{
		"r12.inlet": true, "ups-1": true, "a_b": true, "": false, "R12": false, "a/b": false, "a+b": false,
		"a#": false, "a b": false,
	} {
		if ValidID(s) != want {
			t.Errorf("ValidID(%q) = %v", s, !want)
		}
	}
}

func TestVetTurnsNonFiniteIntoBad(t *testing.T) {
	for _, v := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		r := Reading{Sensor: "ups1", Channel: BatteryTemp, Value: v}
		if !r.Vet() || r.Good() || !errors.Is(r.Err, ErrNotFinite) || r.Value != 0 {
			t.Errorf("%v: %+v", v, r)
		}
	}
	for _, v := range []float64{0, -40, math.MaxFloat64, math.SmallestNonzeroFloat64} {
		r := Reading{Value: v}
		if r.Vet() || !r.Good() || r.Value != v {
			t.Errorf("%v changed: %+v", v, r)
		}
	}
	bad := Reading{Value: math.NaN(), Quality: Bad, Err: errors.New("timeout")}
	if bad.Vet() || bad.ErrText() != "timeout" {
		t.Errorf("a bad reading keeps its own error: %+v", bad)
	}
	if n := testing.AllocsPerRun(100, func() { r := Reading{Value: math.NaN()}; r.Vet() }); n != 0 {
		t.Errorf("Vet allocates %v times", n)
	}
}
