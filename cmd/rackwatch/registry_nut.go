//go:build !nonut

package main

import "github.com/rackwatch/rackwatch/drivers/nut"

func init() {
	families = append(families, family{name: "NUT (upsd)", tag: "nonut", register: nut.Register})
}
