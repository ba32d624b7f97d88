//go:build !nobridge

package main

import fwbridge "github.com/rackwatch/rackwatch/firmware-bridge"

func init() {
	families = append(families, family{name: "the firmware bridge", tag: "nobridge", register: fwbridge.Register})
}
