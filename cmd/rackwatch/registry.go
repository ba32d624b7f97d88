package main

import (
	"github.com/rackwatch/rackwatch/agent/driver"
	"github.com/rackwatch/rackwatch/drivers/megatec"
	"github.com/rackwatch/rackwatch/drivers/nut"
	"github.com/rackwatch/rackwatch/drivers/sim"
	"github.com/rackwatch/rackwatch/drivers/snmp"
)

// registry lists every driver and bus type compiled into the binary. It is filled here, explicitly, rather
// than by init-time side effects, so tests can build their own.
func registry() *driver.Registry {
	r := driver.NewRegistry()
	sim.Register(r)
	nut.Register(r)
	megatec.Register(r)
	snmp.Register(r)
	return r
}
