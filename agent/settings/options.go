package settings

import "fmt"

// Options are the keys of a sensor or bus that belong to its driver. The driver decodes them with Decode,
// as strictly as the rest of the file, and errors keep the lines of the original file. agent/config
// implements it; tests build one from a YAML snippet with agent/config/configtest.
type Options interface {
	// Decode fills v (a pointer to a struct with yaml tags) from the options. Unknown keys and wrong types
	// are returned as Errors with file and line. Fields already set in v are defaults and stay when a key
	// is absent. A field named Line of type int receives the line of its mapping.
	Decode(v any) error
	// Empty reports whether there are no keys.
	Empty() bool
	// File is the file the options came from; Line the line of their mapping.
	File() string
	Line() int
	// KeyLine is the line of key, or Line when the key is absent.
	KeyLine(key string) int
	// Parse reads another document (a device profile the options name) with the same strict rules; file
	// names it in errors.
	Parse(file string, data []byte) (Options, error)
}

// Errorf returns Errors holding one problem located at key in o (at o's mapping when the key is absent).
func Errorf(o Options, key, format string, args ...any) error {
	return Errors{At(o, key, format, args...)}
}

// At is one problem located at key in o.
func At(o Options, key, format string, args ...any) *Error {
	if o == nil {
		return &Error{Msg: fmt.Sprintf(format, args...)}
	}
	return &Error{File: o.File(), Line: o.KeyLine(key), Msg: fmt.Sprintf(format, args...)}
}

// Problems gathers every problem with one sensor's or bus's options, each located at its key, so that a
// driver reports them all in one pass.
type Problems struct {
	opts Options
	errs Errors
}

// NewProblems starts an empty list of problems with o.
func NewProblems(o Options) *Problems { return &Problems{opts: o} }

// Add records a problem located at key (or at the options' mapping when the key is absent).
func (p *Problems) Add(key, format string, args ...any) {
	p.errs = append(p.errs, At(p.opts, key, format, args...))
}

// AddAt records a problem located at a line, for keys nested deeper than the options' own.
func (p *Problems) AddAt(line int, format string, args ...any) {
	file := ""
	if p.opts != nil {
		file = p.opts.File()
	}
	p.errs = append(p.errs, &Error{File: file, Line: line, Msg: fmt.Sprintf(format, args...)})
}

// AddErr records err: its own locations when it is Errors, else at the options' mapping.
func (p *Problems) AddErr(err error) {
	if err == nil {
		return
	}
	file, line := "", 0
	if p.opts != nil {
		file, line = p.opts.File(), p.opts.Line()
	}
	p.errs = append(p.errs, AsErrors(err, file, line)...)
}

// Len is the number of problems so far.
func (p *Problems) Len() int { return len(p.errs) }

// Err is nil when nothing was recorded, else the problems as Errors in line order.
func (p *Problems) Err() error {
	if len(p.errs) == 0 {
		return nil
	}
	p.errs.Sort()
	return p.errs
}
