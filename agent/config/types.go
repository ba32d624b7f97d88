package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	yaml "go.yaml.in/yaml/v3"
)

// Duration is a Go duration written as a string ("500ms", "30s", "5m"). A bare number is rejected: "every: 2"
// could mean seconds or milliseconds, and a silent guess would be wrong half the time.
type Duration time.Duration

// D returns the duration as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d Duration) String() string { return time.Duration(d).String() }

func (d *Duration) decodeNode(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode || isNull(n) {
		return fmt.Errorf("expected a duration such as 500ms, 30s or 5m, got %s", describe(n))
	}
	if n.Value == "0" {
		*d = 0
		return nil
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		if _, numErr := strconv.ParseFloat(n.Value, 64); numErr == nil {
			return fmt.Errorf("%q has no unit; write e.g. %ss or %sms", n.Value, n.Value, n.Value)
		}
		return fmt.Errorf("%q is not a duration (write e.g. 500ms, 30s, 5m)", n.Value)
	}
	if v < 0 {
		return fmt.Errorf("%q is negative", n.Value)
	}
	*d = Duration(v)
	return nil
}

// ByteSize is a size in bytes, written as a number or with a unit: 512KiB, 64MiB, 1GiB (also KB, MB, GB
// as powers of 1000).
type ByteSize int64

func (b *ByteSize) decodeNode(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode || isNull(n) {
		return fmt.Errorf("expected a size such as 64MiB, got %s", describe(n))
	}
	v, err := ParseByteSize(n.Value)
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
	if err != nil || v < 0 {
		return 0, fmt.Errorf("%q is not a size (write e.g. 64MiB or 512KiB)", s)
	}
	return v * mult, nil
}

// Options holds the keys of a sensor or bus that belong to its driver. The driver decodes them with Decode,
// as strictly as the rest of the file, and the line numbers stay those of the original file.
type Options struct {
	node *yaml.Node
	file string
}

// Decode fills v (a pointer to a struct with yaml tags) from the options. Unknown keys and wrong types are
// returned as Errors with file and line. Fields already set in v are defaults and stay when a key is absent.
func (o Options) Decode(v any) error {
	c := &collector{file: o.file}
	if o.node == nil {
		return nil
	}
	c.decode(o.node, reflectValue(v), "")
	if len(c.errs) > 0 {
		return c.errs
	}
	return nil
}

// Empty reports whether there are no driver-specific keys.
func (o Options) Empty() bool { return o.node == nil || len(o.node.Content) == 0 }

// Line is the line of the mapping the options came from.
func (o Options) Line() int {
	if o.node == nil {
		return 0
	}
	return o.node.Line
}

// File is the name of the file the options came from.
func (o Options) File() string { return o.file }

// Errorf returns an Error located at the options' mapping, or at the given key if it is present.
func (o Options) Errorf(key, format string, args ...any) error {
	line := o.Line()
	if o.node != nil {
		for i := 0; i+1 < len(o.node.Content); i += 2 {
			if o.node.Content[i].Value == key {
				line = o.node.Content[i].Line
			}
		}
	}
	return Errors{{File: o.file, Line: line, Msg: fmt.Sprintf(format, args...)}}
}

// AsErrors turns err into Errors located at the given line when it is not already one.
func AsErrors(err error, file string, line int) Errors {
	var es Errors
	if errors.As(err, &es) {
		return es
	}
	var e *Error
	if errors.As(err, &e) {
		return Errors{e}
	}
	return Errors{{File: file, Line: line, Msg: err.Error()}}
}

// Problems gathers every problem with one sensor's or bus's options, each located at its key, so that a
// driver reports them all in one pass, as Load does for the rest of the file.
type Problems struct {
	opts Options
	errs Errors
}

// Problems starts an empty list of problems with these options.
func (o Options) Problems() *Problems { return &Problems{opts: o} }

// Add records a problem located at key (or at the options' mapping when the key is absent).
func (p *Problems) Add(key, format string, args ...any) {
	p.errs = append(p.errs, p.opts.Errorf(key, format, args...).(Errors)...)
}

// AddAt records a problem located at a line, for keys nested deeper than the options' own.
func (p *Problems) AddAt(line int, format string, args ...any) {
	p.errs = append(p.errs, &Error{File: p.opts.file, Line: line, Msg: fmt.Sprintf(format, args...)})
}

// Err is nil when nothing was recorded, else the problems as Errors in line order.
func (p *Problems) Err() error {
	if len(p.errs) == 0 {
		return nil
	}
	p.errs.Sort()
	return p.errs
}
