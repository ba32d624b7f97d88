package settings

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Duration is a Go duration written as a string ("500ms", "30s", "5m"). A bare number is rejected:
// "every: 2" could mean seconds or milliseconds, and a silent guess would be wrong half the time.
type Duration time.Duration

// D returns the duration as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d Duration) String() string { return time.Duration(d).String() }

// UnmarshalText parses a duration such as 500ms, 30s or 5m; "0" is accepted without a unit.
func (d *Duration) UnmarshalText(b []byte) error {
	s := string(b)
	if s == "0" {
		*d = 0
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		if _, numErr := strconv.ParseFloat(s, 64); numErr == nil {
			return fmt.Errorf("%q has no unit; write e.g. %ss or %sms", s, s, s)
		}
		return fmt.Errorf("%q is not a duration (write e.g. 500ms, 30s, 5m)", s)
	}
	if v < 0 {
		return fmt.Errorf("%q is negative", s)
	}
	*d = Duration(v)
	return nil
}

// ByteSize is a size in bytes, written as a number or with a unit: 512KiB, 64MiB, 1GiB (also KB, MB, GB
// as powers of 1000).
type ByteSize int64

// UnmarshalText parses a size (see ParseByteSize).
func (b *ByteSize) UnmarshalText(t []byte) error {
	v, err := ParseByteSize(string(t))
	if err != nil {
		return err
	}
	*b = ByteSize(v)
	return nil
}

// ParseByteSize parses "64MiB", "512KiB", "1GB" or a plain number of bytes.
func ParseByteSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}} {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.mult
			break
		}
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < 0 || v > (1<<62)/mult {
		return 0, fmt.Errorf("%q is not a size (write e.g. 64MiB or 512KiB)", s)
	}
	return v * mult, nil
}
