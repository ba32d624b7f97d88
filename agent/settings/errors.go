package settings

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Error is one problem in a config file, located by line.
type Error struct {
	File string
	Line int
	Msg  string
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

// Errors is every problem found in one file, in line order. Loading returns all of them at once so that an
// engineer fixes a file in one pass rather than one error per run.
type Errors []*Error

func (es Errors) Error() string {
	var b strings.Builder
	for i, e := range es {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// Sort orders the errors by file and line, keeping the order of errors on the same line.
func (es Errors) Sort() {
	sort.SliceStable(es, func(i, j int) bool {
		if es[i].File != es[j].File {
			return es[i].File < es[j].File
		}
		return es[i].Line < es[j].Line
	})
}

// Add appends a problem at file:line.
func (es *Errors) Add(file string, line int, format string, args ...any) {
	*es = append(*es, &Error{File: file, Line: line, Msg: fmt.Sprintf(format, args...)})
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

// IsConfigError reports whether err is a problem in a config file (as opposed to an I/O failure).
func IsConfigError(err error) bool {
	var es Errors
	var e *Error
	return errors.As(err, &es) || errors.As(err, &e)
}
