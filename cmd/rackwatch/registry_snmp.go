//go:build !nosnmp

package main

import "github.com/rackwatch/rackwatch/drivers/snmp"

func init() {
	families = append(families, family{name: "SNMP", tag: "nosnmp", register: snmp.Register})
}
