package megatec

import (
	"errors"
	"math"
	"testing"
)

func TestParseQ1(t *testing.T) {
	// The spec's worked example: bypass active and UPS failed on an on-line unit reporting volts per cell.
	s, err := ParseQ1([]byte("(208.4 140.0 208.4 034 59.9 2.05 35.0 00110000"))
	if err != nil {
		t.Fatal(err)
	}
	want := Status{InputVoltage: 208.4, FaultVoltage: 140, OutputVoltage: 208.4, Load: 34, Frequency: 59.9,
		BatteryVoltage: 2.05, Temperature: 35, Has: 0x7f, BypassBoost: true, Failed: true}
	if s != want {
		t.Errorf("got %+v\nwant %+v", s, want)
	}
	// NUT's self-test sample from a standby unit; then a unit on battery, battery low, beeper on.
	s, err = ParseQ1([]byte("(215.0 195.0 230.0 014 49.0 22.7 30.0 00000000"))
	if err != nil || s.BatteryVoltage != 22.7 || s.UtilityFail || s.Standby {
		t.Errorf("%+v %v", s, err)
	}
	s, err = ParseQ1([]byte("(000.0 000.0 229.0 041 50.0 21.9 31.5 11001001"))
	if err != nil || !s.UtilityFail || !s.BatteryLow || !s.Standby || !s.BeeperOn || s.Failed {
		t.Errorf("%+v %v", s, err)
	}
	// A field the UPS cannot supply.
	s, err = ParseQ1([]byte("(230.0 230.0 230.0 010 50.0 27.2 @@.@ 00001001"))
	if err != nil || s.Has&HasTemperature != 0 || s.Has&HasBattery == 0 {
		t.Errorf("%+v %v", s, err)
	}
	for _, tc := range []struct {
		line string
		kind error
	}{
		{"Q1", ErrEcho},
		{"", ErrMalformed},
		{"#230.0 010 048.0 50.0", ErrMalformed},
		{"(230.0 230.0 2", ErrShort},
		{"(230.0 230.0 230.0 010 50.0 27.2 25.0 0000", ErrShort},
		{"(230.0 230.0 230.0 010 50.0 27.2 25.0 000010012", ErrMalformed},
		{"(230.0 230.0 230.0 010 50.0 27.2 25.0 00002001", ErrMalformed},
		{"(230.0 230.0 230.0 010 50.0 27.2 25.0 00001001 x", ErrMalformed},
		{"(230.0  230.0 230.0 010 50.0 27.2 25.0 00001001", ErrMalformed},
		{"(230.0 230.0 1e3 010 50.0 27.2 25.0 00001001", ErrMalformed},
		{"(230.0 230.0 -23.0 010 50.0 27.2 25.0 00001001", ErrMalformed},
		{"(230.0 230.0 230.0 010 50.0 27.2 25.0 00001001(230.0 230.0 230.0 010 50.0 27.2 25.0 00001001", ErrMalformed},
	} {
		if _, err := ParseQ1([]byte(tc.line)); !errors.Is(err, tc.kind) {
			t.Errorf("%q: err %v, want %v", tc.line, err, tc.kind)
		}
	}
}

func TestParseF(t *testing.T) {
	r, err := ParseF([]byte("#220.0 000 024.0 50.0")) // NUT's sample
	if err != nil || r != (Rating{Voltage: 220, Current: 0, BatteryVoltage: 24, Frequency: 50}) {
		t.Errorf("%+v %v", r, err)
	}
	for _, l := range []string{"F", "#220.0 000", "(220.0 000 024.0 50.0", "#220.0 000 024.0 50.0 1", "#220.0 x 024.0 50.0"} {
		if _, err := ParseF([]byte(l)); err == nil {
			t.Errorf("%q accepted", l)
		}
	}
}

func TestParseI(t *testing.T) {
	i, err := ParseI([]byte("#MEGATEC CORP.   UPS-1000KV 2.5       "))
	if err != nil || i != (Info{Company: "MEGATEC CORP.", Model: "UPS-1000KV", Version: "2.5"}) {
		t.Errorf("%+v %v", i, err)
	}
	for _, l := range []string{"I", "#short", "#MEGATEC CORP.   UPS-1000KV \x002.5"} {
		if _, err := ParseI([]byte(l)); err == nil {
			t.Errorf("%q accepted", l)
		}
	}
}

func FuzzParseQ1(f *testing.F) {
	for _, s := range []string{
		"(208.4 140.0 208.4 034 59.9 2.05 35.0 00110000", "(215.0 195.0 230.0 014 49.0 22.7 30.0 00000000",
		"(230.0 230.0 230.0 010 50.0 27.2 @@.@ 00001001", "(230.0 230.0 2", "Q1", "#220.0 000 024.0 50.0", "(",
		"(. . . . . . . 00000000",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		s, err := ParseQ1(line)
		if err != nil {
			if !errors.Is(err, ErrShort) && !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrEcho) {
				t.Fatalf("%q: error of no known kind: %v", line, err)
			}
			return
		}
		for _, v := range []float64{s.InputVoltage, s.FaultVoltage, s.OutputVoltage, s.Load, s.Frequency, s.BatteryVoltage, s.Temperature} {
			if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) || v >= 1e8 {
				t.Fatalf("%q: accepted value %g", line, v)
			}
		}
		if line[0] != '(' {
			t.Fatalf("%q accepted without a start byte", line)
		}
		// Any F-shaped or I-shaped parse of the same bytes must not panic either.
		ParseF(line)
		ParseI(line)
	})
}

// The F (rating) and I (identification) replies come from the UPS too: whatever arrives, the parsers
// return an error or sane values, never a panic.
func FuzzParseRatingAndInfo(f *testing.F) {
	for _, s := range []string{"#220.0 000 024.0 50.0", "#230.0 004 012.0 50.0", "#  ", "F", "I",
		"#MEGATEC         MODEL X    V1.0      ", "#", "#@@@.@ @@@ @@@.@ @@.@"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		if r, err := ParseF(line); err == nil {
			for _, v := range []float64{r.Voltage, r.Current, r.BatteryVoltage, r.Frequency} {
				if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
					t.Fatalf("%q: accepted rating %+v", line, r)
				}
			}
		}
		if in, err := ParseI(line); err == nil && (len(in.Company) > len(line) || len(in.Model) > len(line)) {
			t.Fatalf("%q: identification longer than the line: %+v", line, in)
		}
	})
}
