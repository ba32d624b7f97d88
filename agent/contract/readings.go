package contract

import (
	"math"
	"time"
	"unicode/utf8"

	"github.com/rackwatch/rackwatch/agent/reading"
)

// Reading qualities in the readings payload.
const (
	Good = "good"
	Bad  = "bad"
)

// Reading is the payload of …/readings/<sensor>/<channel>:
// {"value":…,"unit":…,"quality":"good"|"bad","error":…,"time":…}. A bad reading has a null value and says
// why in error. The value is rounded to the channel's resolution. A channel whose states have names (a
// smoke contact, a Modbus register's `states`) also carries the name of the state: "state":"DETECTED".
type Reading struct {
	Value   *float64 `json:"value"`
	Unit    string   `json:"unit"`
	Quality string   `json:"quality"`
	Error   *string  `json:"error"`
	Time    string   `json:"time"`
	State   *string  `json:"state,omitempty"`
}

// At is the reading's time, or the zero time when it cannot be parsed.
func (r *Reading) At() time.Time {
	t, _ := time.Parse(time.RFC3339Nano, r.Time)
	return t
}

// AppendReadingAs appends the readings payload of a channel written as f says to dst without allocating:
// the value rounded to its resolution and written only for a good, finite reading (anything else is a bad
// reading with a null value), errText only for a bad one, and the state's name when the channel names it.
func AppendReadingAs(dst []byte, value float64, good bool, f *reading.Format, errText string, at time.Time) []byte {
	good = good && !math.IsNaN(value) && !math.IsInf(value, 0)
	dst = append(dst, `{"value":`...)
	if good {
		dst = f.AppendValue(dst, value)
	} else {
		dst = append(dst, "null"...)
	}
	dst = append(dst, `,"unit":`...)
	dst = AppendString(dst, f.Unit)
	if good {
		dst = append(dst, `,"quality":"good","error":null`...)
	} else {
		if errText == "" {
			errText = "not a finite number"
		}
		dst = append(dst, `,"quality":"bad","error":`...)
		dst = AppendString(dst, errText)
	}
	dst = append(dst, `,"time":"`...)
	dst = at.UTC().AppendFormat(dst, TimeFormat)
	dst = append(dst, '"')
	if name, ok := f.State(value); ok && good {
		dst = append(dst, `,"state":`...)
		dst = AppendString(dst, name)
	}
	return append(dst, '}')
}

// AppendString appends s as a JSON string: quotes, backslashes and control characters escaped, invalid
// UTF-8 replaced (strconv.Quote's \x escapes are not JSON).
func AppendString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				dst = append(dst, '\\', c)
			case c < 0x20:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				dst = append(dst, c)
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			dst = append(dst, "\\ufffd"...)
		} else {
			dst = append(dst, s[i:i+n]...)
		}
		i += n
	}
	return append(dst, '"')
}
