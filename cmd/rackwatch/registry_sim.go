//go:build !nosim

package main

import "github.com/rackwatch/rackwatch/drivers/sim"

func init() {
	families = append(families, family{name: "the simulated sensors", tag: "nosim", register: sim.Register})
}
