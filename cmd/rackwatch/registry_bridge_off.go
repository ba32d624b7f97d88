//go:build nobridge

package main

func init() {
	families = append(families, leftOut("the firmware bridge", "nobridge", []string{"bridge"}, []string{"bridge"}))
}
