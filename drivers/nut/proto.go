package nut

import (
	"bytes"
	"errors"
	"fmt"
)

// ErrSyntax is a reply line that does not follow the protocol. The connection is dropped after one,
// because the client can no longer tell where the reply it waits for begins.
var ErrSyntax = errors.New("nut: malformed reply")

// ServerError is an `ERR CODE [extra]` reply from upsd.
type ServerError struct {
	Code  string
	Extra string
}

func (e *ServerError) Error() string {
	msg := "nut: upsd replied ERR " + e.Code
	if e.Extra != "" {
		msg += " " + e.Extra
	}
	if why := errMeaning[e.Code]; why != "" {
		msg += " (" + why + ")"
	}
	return msg
}

// errMeaning turns the codes an operator is most likely to meet into something they can act on.
var errMeaning = map[string]string{
	"UNKNOWN-UPS":            "no UPS of that name on this upsd; see `upsc -l HOST`",
	"ACCESS-DENIED":          "upsd refuses this client; check LISTEN and the user in upsd.users",
	"DATA-STALE":             "upsd has had no fresh data from the UPS driver; check the driver and its cable",
	"DRIVER-NOT-CONNECTED":   "the UPS driver is not running or not connected to upsd",
	"INVALID-PASSWORD":       "wrong password for this user in upsd.users",
	"INVALID-USERNAME":       "no such user in upsd.users",
	"FEATURE-NOT-CONFIGURED": "upsd has no certificate, so STARTTLS is not available",
	"FEATURE-NOT-SUPPORTED":  "upsd was built without TLS support",
	"VAR-NOT-SUPPORTED":      "the UPS does not report this variable",
	"CMD-NOT-SUPPORTED":      "the UPS's driver does not offer this instant command",
	"INSTCMD-FAILED":         "the driver tried the command and the UPS refused it",
	"UNKNOWN-COMMAND":        "upsd does not know this command",
}

// lineKind is what a reply line to LIST VAR is.
type lineKind uint8

const (
	lineVar lineKind = iota
	lineBegin
	lineEnd
	lineErr
)

// parseListLine classifies one line (without its trailing newline) of a `LIST VAR <ups>` reply. For a VAR
// line it returns the variable's name and its unquoted value; both alias line unless the value contained
// escapes, in which case the value is written into scratch. err is a *ServerError for ERR lines and wraps
// ErrSyntax for anything else that is not part of the protocol.
func parseListLine(line, ups, scratch []byte) (kind lineKind, name, value []byte, err error) {
	word, rest := cut(line)
	switch string(word) {
	case "VAR":
		u, rest := cut(rest)
		if !bytes.Equal(u, ups) {
			return 0, nil, nil, fmt.Errorf("%w: VAR line for UPS %q while listing %q", ErrSyntax, u, ups)
		}
		name, rest = cut(rest)
		if len(name) == 0 {
			return 0, nil, nil, fmt.Errorf("%w: VAR line without a variable name", ErrSyntax)
		}
		value, rest, err = unquote(rest, scratch)
		if err != nil {
			return 0, nil, nil, err
		}
		if len(bytes.TrimSpace(rest)) != 0 {
			return 0, nil, nil, fmt.Errorf("%w: text after the value of %s", ErrSyntax, name)
		}
		return lineVar, name, value, nil
	case "BEGIN", "END":
		list, rest := cut(rest)
		v, rest := cut(rest)
		u, rest := cut(rest)
		if string(list) != "LIST" || string(v) != "VAR" || !bytes.Equal(u, ups) || len(rest) != 0 {
			return 0, nil, nil, fmt.Errorf("%w: unexpected %q", ErrSyntax, printable(line))
		}
		if word[0] == 'B' {
			return lineBegin, nil, nil, nil
		}
		return lineEnd, nil, nil, nil
	case "ERR":
		return lineErr, nil, nil, parseErr(rest)
	}
	return 0, nil, nil, fmt.Errorf("%w: unexpected %q", ErrSyntax, printable(line))
}

// parseErr builds the error of an ERR line from the text after "ERR ".
func parseErr(rest []byte) error {
	code, extra := cut(rest)
	if len(code) == 0 {
		return fmt.Errorf("%w: ERR without a code", ErrSyntax)
	}
	return &ServerError{Code: string(code), Extra: string(bytes.TrimSpace(extra))}
}

// cut splits off the first space-separated word.
func cut(b []byte) (word, rest []byte) {
	b = bytes.TrimLeft(b, " ")
	i := bytes.IndexByte(b, ' ')
	if i < 0 {
		return b, nil
	}
	return b[:i], b[i+1:]
}

// unquote reads a double-quoted value with \" and \\ escapes from the start of b. NUT always quotes VAR
// values; a bare word is accepted too, as some old servers sent one.
func unquote(b, scratch []byte) (value, rest []byte, err error) {
	b = bytes.TrimLeft(b, " ")
	if len(b) == 0 {
		return nil, nil, fmt.Errorf("%w: missing value", ErrSyntax)
	}
	if b[0] != '"' {
		v, r := cut(b)
		return v, r, nil
	}
	b = b[1:]
	// Fast path: no escapes, the value aliases the line.
	end := bytes.IndexByte(b, '"')
	if end < 0 {
		return nil, nil, fmt.Errorf("%w: unterminated quoted value", ErrSyntax)
	}
	if bytes.IndexByte(b[:end], '\\') < 0 {
		return b[:end], b[end+1:], nil
	}
	out := scratch[:0]
	for i := 0; i < len(b); i++ {
		switch c := b[i]; c {
		case '\\':
			if i+1 >= len(b) {
				return nil, nil, fmt.Errorf("%w: unterminated quoted value", ErrSyntax)
			}
			i++
			out = append(out, b[i])
		case '"':
			return out, b[i+1:], nil
		default:
			out = append(out, c)
		}
	}
	return nil, nil, fmt.Errorf("%w: unterminated quoted value", ErrSyntax)
}

// printable limits what of a bad line goes into an error (and so into logs and MQTT).
func printable(b []byte) string {
	const max = 80
	if len(b) > max {
		b = b[:max]
	}
	return string(bytes.ToValidUTF8(b, []byte("?")))
}

// statusFlags are the ups.status tokens the driver turns into channels. Unknown tokens are ignored, as the
// protocol asks of clients.
type statusFlags struct {
	onBattery, lowBattery, replace, overload, alarm, wait, test bool
}

func parseStatus(v []byte) statusFlags {
	var f statusFlags
	for len(v) > 0 {
		var tok []byte
		tok, v = cut(v)
		switch string(tok) {
		case "OB":
			f.onBattery = true
		case "LB":
			f.lowBattery = true
		case "RB":
			f.replace = true
		case "OVER":
			f.overload = true
		case "CAL", "TEST":
			// Runtime calibration or a battery test: on battery on purpose.
			f.test = true
		case "ALARM":
			f.alarm = true
		case "WAIT":
			f.wait = true
		}
	}
	return f
}
