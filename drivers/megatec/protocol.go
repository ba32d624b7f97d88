package megatec

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
)

// Kinds of rejected lines; they are counted separately and each is logged once.
var (
	ErrShort     = errors.New("megatec: short reply")
	ErrMalformed = errors.New("megatec: malformed reply")
	ErrEcho      = errors.New("megatec: the UPS echoed the command (it does not support it)")
	ErrTimeout   = errors.New("megatec: no reply")
)

// Status is one decoded Q1 reply. A field the UPS filled with '@' (it cannot supply it) is NaN-free:
// its Has bit is false instead.
type Status struct {
	InputVoltage, FaultVoltage, OutputVoltage float64
	Load                                      float64 // % of rated output current
	Frequency                                 float64 // Hz
	BatteryVoltage                            float64 // V, per cell on on-line units, total on standby ones
	Temperature                               float64 // °C
	Has                                       uint8   // bit i set: field i above is present (in that order)

	UtilityFail, BatteryLow, BypassBoost, Failed, Standby, Testing, ShutdownActive, BeeperOn bool
}

// Field bits of Status.Has.
const (
	HasInput = 1 << iota
	HasFault
	HasOutput
	HasLoad
	HasFrequency
	HasBattery
	HasTemperature
)

// q1Len is the length of a Q1 reply without its CR: "(MMM.M NNN.N PPP.P QQQ RR.R S.SS TT.T b7..b0".
const q1Len = 46

// ParseQ1 decodes a Q1 reply line (without the trailing CR). It splits on single spaces rather than fixed
// byte offsets: fields are fixed-width in the spec, but the field count, the start byte and the status bits
// are what tell a real reply from noise.
func ParseQ1(line []byte) (Status, error) {
	var s Status
	if bytes.Equal(line, []byte("Q1")) {
		return s, ErrEcho
	}
	if len(line) == 0 || line[0] != '(' {
		return s, fmt.Errorf("%w: Q1 reply does not start with '(': %q", ErrMalformed, clip(line))
	}
	if len(line) > q1Len+8 {
		return s, fmt.Errorf("%w: Q1 reply of %d bytes", ErrMalformed, len(line))
	}
	var fields [8][]byte
	rest := line[1:]
	n := 0
	for n < 8 && len(rest) > 0 {
		i := bytes.IndexByte(rest, ' ')
		if i < 0 {
			fields[n], rest = rest, nil
		} else {
			fields[n], rest = rest[:i], rest[i+1:]
		}
		n++
	}
	if n < 8 {
		return s, fmt.Errorf("%w: Q1 reply has %d of 8 fields: %q", ErrShort, n, clip(line))
	}
	if len(rest) > 0 {
		return s, fmt.Errorf("%w: Q1 reply has more than 8 fields: %q", ErrMalformed, clip(line))
	}
	bits := fields[7]
	if len(bits) < 8 {
		return s, fmt.Errorf("%w: Q1 status has %d of 8 bits: %q", ErrShort, len(bits), clip(line))
	}
	if len(bits) > 8 {
		return s, fmt.Errorf("%w: Q1 status %q", ErrMalformed, clip(bits))
	}
	for _, b := range bits {
		if b != '0' && b != '1' {
			return s, fmt.Errorf("%w: Q1 status %q", ErrMalformed, clip(bits))
		}
	}
	dst := [7]*float64{&s.InputVoltage, &s.FaultVoltage, &s.OutputVoltage, &s.Load, &s.Frequency, &s.BatteryVoltage, &s.Temperature}
	for i := range dst {
		f := fields[i]
		if len(f) == 0 {
			return s, fmt.Errorf("%w: Q1 field %d is empty: %q", ErrMalformed, i+1, clip(line))
		}
		if bytes.IndexByte(f, '@') >= 0 {
			continue // the UPS cannot supply this field
		}
		v, err := parseNumber(f)
		if err != nil {
			return s, fmt.Errorf("%w: Q1 field %d %q is not a number", ErrMalformed, i+1, clip(f))
		}
		*dst[i] = v
		s.Has |= 1 << i
	}
	s.UtilityFail = bits[0] == '1'
	s.BatteryLow = bits[1] == '1'
	s.BypassBoost = bits[2] == '1'
	s.Failed = bits[3] == '1'
	s.Standby = bits[4] == '1'
	s.Testing = bits[5] == '1'
	s.ShutdownActive = bits[6] == '1'
	s.BeeperOn = bits[7] == '1'
	return s, nil
}

// parseNumber accepts the protocol's unsigned decimal fields ("226.0", "014", "2.05") and nothing else, so
// that noise such as "1e3" or "+Inf" is not taken for a reading.
func parseNumber(f []byte) (float64, error) {
	if len(f) > 8 {
		return 0, ErrMalformed
	}
	dot := false
	for _, c := range f {
		switch {
		case c >= '0' && c <= '9':
		case c == '.' && !dot:
			dot = true
		default:
			return 0, ErrMalformed
		}
	}
	if f[0] == '.' && len(f) == 1 {
		return 0, ErrMalformed
	}
	return strconv.ParseFloat(string(f), 64)
}

// Rating is the F reply: "#MMM.M QQQ SS.SS RR.R" — rated voltage, rated current, nominal battery voltage
// and rated frequency.
type Rating struct {
	Voltage, Current, BatteryVoltage, Frequency float64
}

// ParseF decodes an F reply line (without the CR).
func ParseF(line []byte) (Rating, error) {
	var r Rating
	if bytes.Equal(line, []byte("F")) {
		return r, ErrEcho
	}
	if len(line) == 0 || line[0] != '#' {
		return r, fmt.Errorf("%w: F reply does not start with '#': %q", ErrMalformed, clip(line))
	}
	fs := bytes.Fields(line[1:])
	if len(fs) < 4 {
		return r, fmt.Errorf("%w: F reply has %d of 4 fields: %q", ErrShort, len(fs), clip(line))
	}
	if len(fs) > 4 {
		return r, fmt.Errorf("%w: F reply has more than 4 fields: %q", ErrMalformed, clip(line))
	}
	dst := [4]*float64{&r.Voltage, &r.Current, &r.BatteryVoltage, &r.Frequency}
	for i, f := range fs {
		if bytes.IndexByte(f, '@') >= 0 {
			continue
		}
		v, err := parseNumber(f)
		if err != nil {
			return r, fmt.Errorf("%w: F field %d %q is not a number", ErrMalformed, i+1, clip(f))
		}
		*dst[i] = v
	}
	return r, nil
}

// Info is the I reply: "#" + company (15 chars) + " " + model (10) + " " + version (10).
type Info struct {
	Company, Model, Version string
}

// ParseI decodes an I reply line (without the CR). Fields are fixed-width and may contain spaces.
func ParseI(line []byte) (Info, error) {
	if bytes.Equal(line, []byte("I")) {
		return Info{}, ErrEcho
	}
	if len(line) == 0 || line[0] != '#' {
		return Info{}, fmt.Errorf("%w: I reply does not start with '#': %q", ErrMalformed, clip(line))
	}
	if len(line) < 1+15+1+10+1+1 {
		return Info{}, fmt.Errorf("%w: I reply of %d bytes: %q", ErrShort, len(line), clip(line))
	}
	for _, c := range line {
		if c < 0x20 || c > 0x7e {
			return Info{}, fmt.Errorf("%w: I reply has unprintable bytes: %q", ErrMalformed, clip(line))
		}
	}
	b := line[1:]
	field := func(n int) string {
		n = min(n, len(b))
		f := string(bytes.TrimSpace(b[:n]))
		b = b[n:]
		if len(b) > 0 {
			b = b[1:]
		}
		return f
	}
	return Info{Company: field(15), Model: field(10), Version: field(10)}, nil
}

func clip(b []byte) string {
	if len(b) > 60 {
		b = b[:60]
	}
	return string(bytes.ToValidUTF8(b, []byte("?")))
}
