//go:build nosim

package main

func init() {
	families = append(families, leftOut("the simulated sensors", "nosim", []string{"sim"}, []string{"sim"}))
}
