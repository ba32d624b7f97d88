//go:build nonut

package main

func init() {
	families = append(families, leftOut("NUT (upsd)", "nonut", []string{"nut"}, []string{"nut"}))
}
