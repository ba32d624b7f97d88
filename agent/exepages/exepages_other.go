//go:build !linux

package exepages

// Trim does nothing outside Linux.
func Trim() error { return nil }
